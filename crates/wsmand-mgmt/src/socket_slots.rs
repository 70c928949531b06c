//! The registry that bounds the console's sockets: one per (session, host), a cap per session
//! and one for the service, each freed when its [`Slot`] drops, all of a session's ended at
//! logout. The terminals have one and the events page's live streams another; both relays
//! (`terminal`, `event_stream`) and the upgrade (`http::upgrade`) reserve through it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Most terminals one session may have open (one per host).
pub const MAX_TERMINALS_PER_SESSION: usize = 4;
/// Most terminals the service has open (each holds a socket and a remote shell).
pub const MAX_TERMINALS: usize = 64;
/// Why a terminal could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The session already has a terminal on this host.
    AlreadyOpen,
    /// The session or the service has as many terminals as allowed.
    TooMany,
}

#[derive(Default)]
struct Registry {
    /// session id -> host -> the terminal's end switch.
    by_session: HashMap<String, HashMap<String, watch::Sender<bool>>>,
    open: usize,
}

/// The open terminals, by session and host. The events page's live streams are bounded by a
/// registry of this type too (one per session and host, the same caps).
#[derive(Default)]
pub struct Terminals {
    registry: Mutex<Registry>,
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
        if hosts.remove(&self.host).is_some() {
            registry.open -= 1;
        }
        if hosts.is_empty() {
            registry.by_session.remove(&self.session_id);
        }
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

    /// Reserves the terminal of `session_id` on `host`, before the upgrade is answered.
    pub fn reserve(self: &Arc<Self>, session_id: &str, host: &str) -> Result<Slot, Refusal> {
        let mut guard = self.lock();
        let registry = &mut *guard;
        let open = registry.open;
        let hosts = registry
            .by_session
            .entry(session_id.to_owned())
            .or_default();
        if hosts.contains_key(host) {
            return Err(Refusal::AlreadyOpen);
        }
        if hosts.len() >= MAX_TERMINALS_PER_SESSION || open >= MAX_TERMINALS {
            if hosts.is_empty() {
                registry.by_session.remove(session_id);
            }
            return Err(Refusal::TooMany);
        }
        let (end, ended) = watch::channel(false);
        hosts.insert(host.to_owned(), end);
        registry.open += 1;
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
            for end in hosts.values() {
                let _ = end.send(true);
            }
            hosts.len()
        })
    }

    /// Terminals open now.
    pub fn open(&self) -> usize {
        self.lock().open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_terminal_per_session_and_host_and_a_cap_per_session() {
        let terminals = Arc::new(Terminals::default());
        let first = terminals.reserve("s1", "a").expect("first");
        assert_eq!(
            terminals.reserve("s1", "a").err(),
            Some(Refusal::AlreadyOpen)
        );
        let others: Vec<Slot> = (1..MAX_TERMINALS_PER_SESSION)
            .map(|n| terminals.reserve("s1", &format!("h{n}")).expect("slot"))
            .collect();
        assert_eq!(terminals.reserve("s1", "z").err(), Some(Refusal::TooMany));
        // Another session is not affected.
        let other_session = terminals.reserve("s2", "a").expect("s2");
        assert_eq!(terminals.open(), MAX_TERMINALS_PER_SESSION + 1);
        assert_eq!(terminals.end_session("s1"), MAX_TERMINALS_PER_SESSION);
        assert!(*first.ended.borrow());
        assert!(!*other_session.ended.borrow());
        drop(first);
        drop(others);
        assert_eq!(terminals.open(), 1);
        assert!(terminals.reserve("s1", "a").is_ok());
    }

    #[test]
    fn the_service_wide_cap_holds() {
        let terminals = Arc::new(Terminals::default());
        let slots: Vec<Slot> = (0..MAX_TERMINALS)
            .map(|n| terminals.reserve(&format!("s{n}"), "a").expect("slot"))
            .collect();
        assert_eq!(terminals.reserve("late", "a").err(), Some(Refusal::TooMany));
        assert_eq!(terminals.lock().by_session.len(), MAX_TERMINALS);
        drop(slots);
        assert_eq!(terminals.open(), 0);
        assert!(terminals.lock().by_session.is_empty());
    }
}
