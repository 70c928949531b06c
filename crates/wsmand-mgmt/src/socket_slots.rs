//! The registry that bounds the console's sockets: one per (session, host), a cap per session,
//! per user (one principal, across their sessions: a share of the service's, and of one
//! host's, so one account cannot take every slot nor every event subscription of a host's
//! account), for the event streams one per host across users (the host account's
//! subscriptions are one pool, whoever holds them) and one for the service, each freed when its [`Slot`] drops, all of a session's
//! ended at logout, and those a changed policy no longer allows ended by [`Terminals::end_where`]. The terminals have one and the events page's live streams another; both relays
//! (`terminal`, `event_stream`) and the upgrade (`http::upgrade`) reserve through it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Notify};
use wsman_principal::OwnerKey;

/// Most terminals one session may have open (one per host).
pub const MAX_TERMINALS_PER_SESSION: usize = 4;
/// Most terminals the service has open (each holds a socket and a remote shell).
pub const MAX_TERMINALS: usize = 64;
/// Most of one kind one user may have open across their sessions (an eighth of the service's).
pub const MAX_PER_USER: usize = 8;
/// Most of one kind one user may have open on one host (a live stream holds one of the host
/// account's event subscriptions, of which a wsmand host allows 10).
pub const MAX_PER_USER_ON_HOST: usize = 2;
/// Most live streams of all users together on one host: they all hold subscriptions of the
/// one host account, of which a wsmand host allows 10; two are left for the account's other
/// uses (a page's own subscription, an operator's tools), so the console never takes them all.
pub const MAX_STREAMS_ON_HOST: usize = 8;
/// Why a terminal could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The session already has a terminal on this host.
    AlreadyOpen,
    /// The session or the service has as many terminals as allowed.
    TooMany,
}

/// Who holds a slot and what the delegation rules allowed them: kept to end the slot when a
/// changed policy no longer allows it.
#[derive(Clone, Debug)]
pub struct Grant {
    /// Who holds it: the logged-in principal.
    pub owner: OwnerKey,
    /// An OS user's groups at login.
    pub groups: Vec<String>,
    /// The resource the rules allowed.
    pub resource: String,
    /// The action they allowed.
    pub action: wsman_config::mgmt::Action,
}

struct Entry {
    end: watch::Sender<bool>,
    grant: Grant,
}

#[derive(Default)]
struct Registry {
    /// session id -> host -> the terminal's end switch and grant.
    by_session: HashMap<String, HashMap<String, Entry>>,
    /// owner -> how many open.
    by_user: HashMap<OwnerKey, usize>,
    /// (owner, host) -> how many open.
    by_user_host: HashMap<(OwnerKey, String), usize>,
    /// host -> how many open, whoever holds them.
    by_host: HashMap<String, usize>,
    open: usize,
}

/// Takes one from a count, removing it at zero.
fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: K) {
    if let std::collections::hash_map::Entry::Occupied(mut count) = counts.entry(key) {
        *count.get_mut() -= 1;
        if *count.get() == 0 {
            count.remove();
        }
    }
}

/// The open terminals, by session and host. The events page's live streams are bounded by a
/// registry of this type too (one per session and host, the same caps, and
/// [`MAX_PER_USER_ON_HOST`]: [`Terminals::for_event_streams`]).
#[derive(Default)]
pub struct Terminals {
    registry: Mutex<Registry>,
    /// Most of one user on one host; `None`: only the other caps.
    per_user_on_host: Option<usize>,
    /// Most of all users together on one host; `None`: only the other caps.
    per_host: Option<usize>,
    /// Told each time a slot is freed: a reservation taking over the session's own older
    /// one waits for it.
    released: Notify,
}

/// A reserved place for one terminal: freed when dropped.
pub struct Slot {
    terminals: Arc<Terminals>,
    session_id: String,
    host: String,
    ended: watch::Receiver<bool>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = self.terminals.lock();
        let registry = &mut *guard;
        let Some(hosts) = registry.by_session.get_mut(&self.session_id) else {
            return;
        };
        if let Some(entry) = hosts.remove(&self.host) {
            registry.open -= 1;
            let owner = entry.grant.owner;
            release(
                &mut registry.by_user_host,
                (owner.clone(), self.host.clone()),
            );
            release(&mut registry.by_host, self.host.clone());
            release(&mut registry.by_user, owner);
        }
        if hosts.is_empty() {
            registry.by_session.remove(&self.session_id);
        }
        drop(guard);
        self.terminals.released.notify_waiters();
    }
}

impl Slot {
    /// Changes to `true` when the session's terminals (and event streams) are told to end.
    pub fn ended(&self) -> watch::Receiver<bool> {
        self.ended.clone()
    }
}

impl Terminals {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live streams' registry: each holds one of the host account's event
    /// subscriptions, so one user has at most [`MAX_PER_USER_ON_HOST`] on a host, and all
    /// users together [`MAX_STREAMS_ON_HOST`].
    pub fn for_event_streams() -> Self {
        Self {
            registry: Mutex::default(),
            per_user_on_host: Some(MAX_PER_USER_ON_HOST),
            per_host: Some(MAX_STREAMS_ON_HOST),
            released: Notify::new(),
        }
    }

    /// [`Terminals::reserve`], but the session's own open one on `host` is told to end and
    /// its place taken once it is freed (at most `within`; then [`Refusal::AlreadyOpen`]):
    /// a reloaded events page replaces the stream of the page it left, which the browser
    /// closes only as the new page opens its own.
    pub async fn reserve_taking_over(
        self: &Arc<Self>,
        session_id: &str,
        host: &str,
        grant: Grant,
        within: std::time::Duration,
    ) -> Result<Slot, Refusal> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before the older one is told to end, so its freeing is not missed.
            released.as_mut().enable();
            match self.reserve(session_id, host, grant.clone()) {
                Err(Refusal::AlreadyOpen) => {}
                other => return other,
            }
            if let Some(entry) = self
                .lock()
                .by_session
                .get(session_id)
                .and_then(|hosts| hosts.get(host))
            {
                let _ = entry.end.send(true);
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return Err(Refusal::AlreadyOpen);
            }
        }
    }

    /// Reserves the terminal of `session_id` on `host` for `grant`'s holder, before the
    /// upgrade is answered.
    pub fn reserve(
        self: &Arc<Self>,
        session_id: &str,
        host: &str,
        grant: Grant,
    ) -> Result<Slot, Refusal> {
        let mut guard = self.lock();
        let registry = &mut *guard;
        let user_key = grant.owner.clone();
        let user_host_key = (grant.owner.clone(), host.to_owned());
        let of_user = registry.by_user.get(&user_key).copied().unwrap_or(0);
        let of_user_here = registry
            .by_user_host
            .get(&user_host_key)
            .copied()
            .unwrap_or(0);
        let on_host = registry.by_host.get(host).copied().unwrap_or(0);
        let open = registry.open;
        let hosts = registry
            .by_session
            .entry(session_id.to_owned())
            .or_default();
        if hosts.contains_key(host) {
            return Err(Refusal::AlreadyOpen);
        }
        if hosts.len() >= MAX_TERMINALS_PER_SESSION
            || of_user >= MAX_PER_USER
            || self
                .per_user_on_host
                .is_some_and(|most| of_user_here >= most)
            || self.per_host.is_some_and(|most| on_host >= most)
            || open >= MAX_TERMINALS
        {
            if hosts.is_empty() {
                registry.by_session.remove(session_id);
            }
            return Err(Refusal::TooMany);
        }
        let (end, ended) = watch::channel(false);
        hosts.insert(host.to_owned(), Entry { end, grant });
        registry.open += 1;
        *registry.by_user.entry(user_key).or_default() += 1;
        *registry.by_user_host.entry(user_host_key).or_default() += 1;
        *registry.by_host.entry(host.to_owned()).or_default() += 1;
        Ok(Slot {
            terminals: Arc::clone(self),
            session_id: session_id.to_owned(),
            host: host.to_owned(),
            ended,
        })
    }

    /// Ends every terminal of a session (logout); returns how many were told to end.
    pub fn end_session(&self, session_id: &str) -> usize {
        let registry = self.lock();
        registry.by_session.get(session_id).map_or(0, |hosts| {
            for entry in hosts.values() {
                let _ = entry.end.send(true);
            }
            hosts.len()
        })
    }

    /// Ends every open one on a host for which `ended(host, grant)` holds (a changed policy
    /// no longer allowing it); returns how many were told to end.
    pub fn end_where(&self, ended: impl Fn(&str, &Grant) -> bool) -> usize {
        let registry = self.lock();
        let mut count = 0;
        for (host, entry) in registry.by_session.values().flatten() {
            if ended(host, &entry.grant) {
                let _ = entry.end.send(true);
                count += 1;
            }
        }
        count
    }

    /// Terminals open now.
    pub fn open(&self) -> usize {
        self.lock().open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(user: &str, kind: &str) -> Grant {
        let principal = match kind {
            "os" => wsman_principal::Principal::linux_user(user),
            _ => crate::sessions::manager_account(user),
        };
        Grant {
            owner: principal.owner_key(),
            groups: Vec::new(),
            resource: "r".into(),
            action: wsman_config::mgmt::Action::Shell,
        }
    }

    impl Terminals {
        /// A slot of the user named like the session (one session per user).
        fn take(self: &Arc<Self>, session_id: &str, host: &str) -> Result<Slot, Refusal> {
            self.reserve(session_id, host, grant(session_id, "manager"))
        }
    }

    /// A reloaded events page: the session's new stream on a host tells the older one to
    /// end and takes its place once it is freed; one never freed leaves the new one refused.
    #[tokio::test]
    async fn a_reservation_taking_over_ends_the_sessions_older_one_and_waits_for_it() {
        let streams = Arc::new(Terminals::for_event_streams());
        let first = streams.take("s", "h").expect("first");
        let mut ended = first.ended();
        let taking = tokio::spawn({
            let streams = Arc::clone(&streams);
            async move {
                let within = std::time::Duration::from_secs(60);
                let slot = streams.reserve_taking_over("s", "h", grant("s", "manager"), within);
                slot.await.map(|_| ())
            }
        });
        ended.changed().await.expect("told");
        assert!(*ended.borrow(), "the older stream is told to end");
        assert!(!taking.is_finished(), "nor taken before it is freed");
        drop(first);
        assert_eq!(taking.await.expect("joined"), Ok(()));
        // An older one that is never freed: refused once the wait is over.
        let _held = streams.take("t", "h").expect("held");
        let within = std::time::Duration::from_millis(50);
        let refused = streams.reserve_taking_over("t", "h", grant("t", "manager"), within);
        assert_eq!(refused.await.err(), Some(Refusal::AlreadyOpen));
    }

    #[test]
    fn one_user_gets_a_share_of_the_slots_and_of_each_host() {
        let terminals = Arc::new(Terminals::for_event_streams());
        let on = |session: &str, host: &str, user: &str, kind| {
            terminals.reserve(session, host, grant(user, kind))
        };
        // Two on one host, from two sessions of one user; the third refused.
        let _a = on("s1", "h", "alice", "manager").expect("first");
        let _b = on("s2", "h", "alice", "manager").expect("second");
        assert_eq!(
            on("s3", "h", "alice", "manager").err(),
            Some(Refusal::TooMany)
        );
        // The OS user of the same name is another user.
        let _c = on("s3", "h", "alice", "os").expect("another user");
        // Across hosts and sessions: MAX_PER_USER in all.
        let mut held = Vec::new();
        for n in 0..MAX_PER_USER - 2 {
            held.push(on(&format!("t{n}"), &format!("x{n}"), "alice", "manager").expect("slot"));
        }
        assert_eq!(
            on("late", "y", "alice", "manager").err(),
            Some(Refusal::TooMany)
        );
        drop(held.pop());
        assert!(on("late", "y", "alice", "manager").is_ok());
    }

    #[test]
    fn the_users_together_never_hold_every_subscription_of_a_host_account() {
        let streams = Arc::new(Terminals::for_event_streams());
        // Users of two streams each on host h, each within their own share, until refused:
        // the host account's 10 subscriptions are never all the console's.
        let mut held = Vec::new();
        let mut refused = None;
        for n in 0..10 {
            let (session, user) = (format!("s{n}"), format!("user{}", n / 2));
            match streams.reserve(&session, "h", grant(&user, "manager")) {
                Ok(slot) => held.push(slot),
                Err(refusal) => {
                    refused = Some((held.len(), refusal));
                    break;
                }
            }
        }
        assert_eq!(refused, Some((8, Refusal::TooMany)), "held {}", held.len());
        // A user with none on h is refused there, served on another host.
        assert!(streams.reserve("new", "h", grant("fresh", "os")).is_err());
        let elsewhere = streams.reserve("new", "g", grant("fresh", "os"));
        assert!(elsewhere.is_ok());
        // One ends: its place on h is free again, for anyone.
        drop(held.pop());
        assert!(streams.reserve("new2", "h", grant("fresh", "os")).is_ok());
        // Terminals have no such cap (each holds a shell, not a subscription).
        let terminals = Arc::new(Terminals::default());
        let many: Vec<Slot> = (0..10)
            .map(|n| terminals.reserve(&format!("s{n}"), "h", grant(&format!("u{n}"), "manager")))
            .collect::<Result<_, _>>()
            .expect("ten terminals on one host");
        assert_eq!(many.len(), 10);
    }

    #[test]
    fn a_changed_policy_ends_what_it_no_longer_allows() {
        let terminals = Arc::new(Terminals::default());
        let kept = terminals.take("s1", "a").expect("a");
        let ended = terminals.take("s2", "b").expect("b");
        assert_eq!(
            terminals
                .end_where(|host, grant| host == "b" && grant.owner.principal().name() == "s2"),
            1
        );
        assert!(*ended.ended().borrow());
        assert!(!*kept.ended().borrow());
    }

    #[test]
    fn one_terminal_per_session_and_host_and_a_cap_per_session() {
        let terminals = Arc::new(Terminals::default());
        let first = terminals.take("s1", "a").expect("first");
        assert_eq!(terminals.take("s1", "a").err(), Some(Refusal::AlreadyOpen));
        let others: Vec<Slot> = (1..MAX_TERMINALS_PER_SESSION)
            .map(|n| terminals.take("s1", &format!("h{n}")).expect("slot"))
            .collect();
        assert_eq!(terminals.take("s1", "z").err(), Some(Refusal::TooMany));
        // Another session is not affected.
        let other_session = terminals.take("s2", "a").expect("s2");
        assert_eq!(terminals.open(), MAX_TERMINALS_PER_SESSION + 1);
        assert_eq!(terminals.end_session("s1"), MAX_TERMINALS_PER_SESSION);
        assert!(*first.ended.borrow());
        assert!(!*other_session.ended.borrow());
        drop(first);
        drop(others);
        assert_eq!(terminals.open(), 1);
        assert!(terminals.take("s1", "a").is_ok());
    }

    #[test]
    fn the_service_wide_cap_holds() {
        let terminals = Arc::new(Terminals::default());
        let slots: Vec<Slot> = (0..MAX_TERMINALS)
            .map(|n| terminals.take(&format!("s{n}"), "a").expect("slot"))
            .collect();
        assert_eq!(terminals.take("late", "a").err(), Some(Refusal::TooMany));
        assert_eq!(terminals.lock().by_session.len(), MAX_TERMINALS);
        drop(slots);
        assert_eq!(terminals.open(), 0);
        assert!(terminals.lock().by_session.is_empty());
    }
}
