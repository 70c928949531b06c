//! The host as a WS-Eventing event source (collector-initiated subscriptions): the journal's
//! Windows event logs, subscribed to, pulled from, and unsubscribed from.
//!
//! Subscriptions are owned by the user who made them (only that user may pull or end them),
//! bounded in number per user and in total, and ended by the source when they expire. What a
//! subscriber may read follows Windows: the Security log, and `Linux/Journal` which holds every
//! entry, are for administrators; others read Application and System. Every read goes through
//! one [`Feed`] per subscription, whose journal cursor moves past what was delivered, so a pull
//! never delivers an event twice nor skips one.
//!
//! The server routes the protocol to this engine; this crate knows no envelopes beyond the
//! eventing core's typed requests.
#![forbid(unsafe_code)]

pub mod cursor;
pub mod forward;
pub mod push;
mod push_credentials;

pub use push_credentials::CredentialSubscribers;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Mutex};
use wsman_events::journal::{APPLICATION, LINUX_JOURNAL, SECURITY, SYSTEM};
use wsman_events::subscribe::{Expires, StartAt};
use wsman_events::{BookmarkList, DeliveryMode, Mapping, SubscribeRequest, Timestamp};
use wsman_journal::feed::{Feed, Position, SelectedEvent, Selection};
use wsman_journal::Journal;
use wsman_work::{Ahead, MAKE_AHEAD_TIME};

/// The logs this source has.
pub const LOGS: [&str; 4] = [APPLICATION, LINUX_JOURNAL, SECURITY, SYSTEM];

/// Bounds of the source (`winrm/config/service` settings in the daemon).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Subscriptions alive at once, all users together.
    pub max_total: usize,
    /// Subscriptions alive at once per user.
    pub max_per_user: usize,
    /// Most events one pull returns, whatever the subscriber asks.
    pub max_pull_items: usize,
    /// Most journal entries one pull reads looking for selected events.
    pub max_pull_scan: usize,
    /// Lifetime of a subscription that asks for none, and the most one may ask for.
    pub max_lifetime: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total: 100,
            max_per_user: 10,
            max_pull_items: 1000,
            max_pull_scan: 100_000,
            max_lifetime: Duration::from_secs(24 * 3600),
        }
    }
}

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The Linux user the request runs as (which logs it may read), or the account name when
    /// it runs as none; for logs.
    pub user: String,
    /// Who asks: subscriptions are owned and counted per principal, so that a Kerberos user
    /// and a service account of the same name (or run as the same Linux user) share none.
    pub owner: wsman_principal::OwnerKey,
    pub administrator: bool,
    /// That user's uid, when the request runs as a Linux user (root's subscriptions may
    /// have the daemon authenticate anywhere: [`CredentialSubscribers`]).
    pub uid: Option<u32>,
}

/// Why the source refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// `w:AccessDenied`: a log the caller may not read, or another user's subscription.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// `w:QuotaLimit`: too many subscriptions.
    #[error("{0}")]
    TooManySubscriptions(String),
    /// `e:DeliveryModeRequestedUnavailable`: this source does not deliver that way yet.
    #[error("delivery mode {0} is not available from this source")]
    DeliveryModeUnavailable(&'static str),
    /// `w:UnsupportedFeature`: the subscriber's address or authentication cannot be used.
    #[error("the subscriber cannot be reached as asked: {0}")]
    Subscriber(#[source] push::DeliveryError),
    /// `w:InvalidParameter`-style refusal of a log this source does not have.
    #[error("the channel {0:?} could not be found")]
    UnknownChannel(String),
    /// `e:InvalidExpirationTime`: an expiry already past.
    #[error("the subscription would already have expired")]
    AlreadyExpired,
    /// `w:EncodingLimit`: the next event alone is larger than the pull may carry; it stays
    /// first in line for a pull that allows more.
    #[error("the next event takes {0} bytes, more than the pull allows")]
    EventTooLarge(usize),
    /// `n:InvalidEnumerationContext` / `e:UnableToRenew`: no such (live) subscription.
    #[error("no such subscription")]
    UnknownSubscription,
    /// `e:UnableToRenew`: Windows does not renew subscriptions; neither does this source.
    #[error("subscriptions cannot be renewed; subscribe again")]
    UnableToRenew,
    /// `w:TimedOut`: the pull's query reached its deadline before it selected an event.
    #[error("the pull ran past its OperationTimeout")]
    TimedOut,
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] wsman_journal::Error),
}

/// What a successful Subscribe answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribed {
    pub id: String,
    pub expires: Timestamp,
}

/// What one pull delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pulled {
    pub events: Vec<SelectedEvent>,
    /// The bookmark after these events, when the subscriber asked for bookmarks.
    pub bookmark: Option<BookmarkList>,
}

struct Subscription {
    owner: wsman_principal::OwnerKey,
    expires: Timestamp,
    send_bookmarks: bool,
    bookmark: BookmarkList,
    delivery: Delivery,
    /// A Pull subscription's next events being read while its subscriber reads the last
    /// ones: ends with the subscription (Release, Unsubscribe, expiry).
    read_ahead: Option<Ahead<()>>,
}

/// How a subscription's events leave.
enum Delivery {
    /// The subscriber pulls. Held while a pull reads, so two pulls never interleave.
    Pull(Arc<Mutex<Reading>>),
    /// A task pushes ([`push`]); it stops when this sender is dropped with the subscription.
    Push(#[allow(dead_code)] watch::Sender<()>),
}

/// A subscription's reader and the events it read that a pull could not carry yet, or read
/// ahead of the next pull (they go first next time, in order, so a small envelope or a
/// smaller MaxElements never loses an event).
struct Reading {
    feed: Feed,
    pending: VecDeque<SelectedEvent>,
}

impl Reading {
    /// Up to `max_elements` events whose XML together takes at most `max_bytes`, the waiting
    /// ones first, then read after them (waiting up to `wait` when none is waiting).
    async fn take(
        &mut self,
        max_elements: usize,
        max_bytes: usize,
        max_scan: usize,
        wait: Duration,
        deadline: Option<Instant>,
    ) -> Result<Vec<SelectedEvent>, SourceError> {
        let Reading { feed, pending } = self;
        if pending.len() < max_elements {
            // Wait for new entries only when nothing is waiting to be delivered.
            let wait = pending.is_empty().then_some(wait);
            let read = feed
                .next_batch_by(max_elements - pending.len(), max_scan, wait, deadline)
                .await;
            match read {
                Ok(read) => pending.extend(read),
                // Out of time with events waiting: those are delivered.
                Err(wsman_journal::Error::TimedOut) if !pending.is_empty() => {}
                Err(wsman_journal::Error::TimedOut) => return Err(SourceError::TimedOut),
                Err(error) => return Err(error.into()),
            }
        }
        let mut events = Vec::new();
        let mut bytes = 0usize;
        while events.len() < max_elements {
            let Some(next) = pending.front() else {
                break;
            };
            if bytes.saturating_add(next.xml.len()) > max_bytes {
                if events.is_empty() {
                    return Err(SourceError::EventTooLarge(next.xml.len()));
                }
                break;
            }
            bytes += next.xml.len();
            events.extend(pending.pop_front());
        }
        Ok(events)
    }

    /// Read the next `max_elements` events (less what is waiting) into `pending`, what is in
    /// the journal now, without waiting for more, for at most [`MAKE_AHEAD_TIME`]: the next
    /// pull's read, made while the subscriber reads this pull's answer (a pull of 500 events
    /// spent most of its time reading them while the client sat idle, then the client parsed
    /// them while the server sat idle). One batch at most, the size of the last pull's; the
    /// bookmark moves only as a pull hands events out.
    fn ahead(
        reading: &Arc<Mutex<Reading>>,
        max_elements: usize,
        max_scan: usize,
    ) -> Option<Ahead<()>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let reading = Arc::clone(reading);
        Some(Ahead::spawn_on(&runtime, async move {
            let until = Instant::now() + MAKE_AHEAD_TIME;
            let mut reading = reading.lock().await;
            let Reading { feed, pending } = &mut *reading;
            if pending.len() >= max_elements {
                return;
            }
            // Stopped with nothing, or failed: the next pull reads from the same position
            // and meets the error itself.
            let read = feed
                .next_batch_by(max_elements - pending.len(), max_scan, None, Some(until))
                .await;
            if let Ok(read) = read {
                pending.extend(read);
            }
        }))
    }
}

/// The event source.
pub struct EventSource {
    journal: Journal,
    mapping: Mapping,
    limits: Limits,
    /// Shared with the push tasks, which advance their subscription's bookmark.
    subscriptions: Arc<std::sync::Mutex<HashMap<String, Subscription>>>,
    connector: Option<Arc<dyn push::Connector>>,
    credential_subscribers: CredentialSubscribers,
}

impl EventSource {
    pub fn new(journal: Journal, mapping: Mapping, limits: Limits) -> EventSource {
        EventSource {
            journal,
            mapping,
            limits,
            subscriptions: Arc::new(std::sync::Mutex::new(HashMap::new())),
            connector: None,
            credential_subscribers: CredentialSubscribers::default(),
        }
    }

    /// Deliver push subscriptions (`Events`, `PushWithAck`, `Push`) through `connector`;
    /// without one only Pull is offered.
    pub fn with_connector(mut self, connector: Arc<dyn push::Connector>) -> EventSource {
        self.connector = Some(connector);
        self
    }

    /// The hosts a push subscription not made as root may have the daemon authenticate to
    /// (none by default).
    pub fn with_credential_subscribers(mut self, hosts: CredentialSubscribers) -> EventSource {
        self.credential_subscribers = hosts;
        self
    }

    /// Live subscriptions, all users.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Subscribe `caller` with `request`, under the id `id` (the server makes it unique).
    pub async fn subscribe(
        &self,
        caller: &Caller,
        request: &SubscribeRequest,
        id: String,
        now: Timestamp,
    ) -> Result<Subscribed, SourceError> {
        let push = request.mode != DeliveryMode::Pull;
        let connector = match (&self.connector, push) {
            (_, false) => None,
            (None, true) => return Err(SourceError::DeliveryModeUnavailable(request.mode.uri())),
            // The source would send requests wherever NotifyTo points: administrators only.
            (Some(_), true) if !caller.administrator => {
                return Err(SourceError::AccessDenied(
                    "push delivery is for administrators; others pull".to_owned(),
                ))
            }
            (Some(connector), true) => Some(connector),
        };
        if connector.is_some() {
            self.check_credentials(caller, request)?;
        }
        let readable = readable_logs(caller, request)?;
        let expires = match request.expires {
            None => now.saturating_add(self.limits.max_lifetime),
            Some(Expires::After(d)) => now.saturating_add(d.min(self.limits.max_lifetime)),
            Some(Expires::At(at)) => at.min(now.saturating_add(self.limits.max_lifetime)),
        };
        if expires <= now {
            return Err(SourceError::AlreadyExpired);
        }
        self.expire(now);
        self.check_room(caller)?;
        let position = match &request.start_at {
            Some(StartAt::Earliest) => Position::Oldest,
            // After the bookmark: from the lowest position it names, so no log misses an
            // event (a log further on may see some again: at least once).
            Some(StartAt::After(list)) => match list.positions().map(|(_, r)| r).min() {
                Some(record) => Position::AfterRecord {
                    record,
                    scanned: None,
                },
                None => Position::Oldest,
            },
            None if request.read_existing_events => Position::Oldest,
            None => Feed::end_position(&self.journal).await?,
        };
        let mut bookmark = BookmarkList::new();
        if let Some(StartAt::After(list)) = &request.start_at {
            bookmark.merge(list);
        }
        let feed = Feed {
            journal: self.journal.clone(),
            program: PathBuf::from("journalctl"),
            position,
            selection: selection(request, readable, &self.mapping),
            owner: caller.owner.to_string(),
        };
        let delivery = match connector {
            None => Delivery::Pull(Arc::new(Mutex::new(Reading {
                feed,
                pending: VecDeque::new(),
            }))),
            Some(connector) => {
                self.start_push(connector.as_ref(), request, &id, feed, &bookmark)?
            }
        };
        let mut subscriptions = self.lock();
        // Checked again: another subscribe may have taken the last place meanwhile.
        if subscriptions.len() >= self.limits.max_total
            || subscriptions
                .values()
                .filter(|s| s.owner.is(&caller.owner))
                .count()
                >= self.limits.max_per_user
        {
            return Err(SourceError::TooManySubscriptions(
                "the subscription limit was reached".to_owned(),
            ));
        }
        subscriptions.insert(
            id.clone(),
            Subscription {
                owner: caller.owner.clone(),
                expires,
                send_bookmarks: request.send_bookmarks,
                bookmark,
                delivery,
                read_ahead: None,
            },
        );
        tracing::info!(subscription = %id, user = %caller.user, "event subscription created");
        Ok(Subscribed { id, expires })
    }

    /// Refuse a new subscription when the source, or `caller`, has its maximum of them.
    fn check_room(&self, caller: &Caller) -> Result<(), SourceError> {
        let subscriptions = self.lock();
        if subscriptions.len() >= self.limits.max_total {
            return Err(SourceError::TooManySubscriptions(format!(
                "the source has its maximum of {} subscriptions",
                self.limits.max_total
            )));
        }
        let mine = subscriptions
            .values()
            .filter(|s| s.owner.is(&caller.owner))
            .count();
        if mine >= self.limits.max_per_user {
            return Err(SourceError::TooManySubscriptions(format!(
                "{} has its maximum of {} subscriptions",
                caller.user, self.limits.max_per_user
            )));
        }
        Ok(())
    }

    /// Refuse a push subscription whose policy names an authentication profile (the daemon
    /// would prove itself with its own credentials) to a NotifyTo or EndTo host the operator
    /// did not list, unless it is made as uid 0: decided before anything is opened or sent.
    fn check_credentials(
        &self,
        caller: &Caller,
        request: &SubscribeRequest,
    ) -> Result<(), SourceError> {
        if request.authentication.is_empty() || caller.uid == Some(0) {
            return Ok(());
        }
        let addresses = request.notify_to.iter().chain(&request.end_to);
        for to in addresses {
            if !self.credential_subscribers.names(&to.address) {
                return Err(SourceError::AccessDenied(format!(
                    "user {} asked for push delivery with the daemon's credentials to {}, a host push.toml's credential_subscribers does not list (only root may name any)",
                    caller.user, to.address
                )));
            }
        }
        Ok(())
    }

    /// Open the subscriber and start the task that pushes to it. The task ends when the
    /// returned sender is dropped (the subscription removed), or ends the subscription itself
    /// when deliveries fail.
    fn start_push(
        &self,
        connector: &dyn push::Connector,
        request: &SubscribeRequest,
        id: &str,
        feed: Feed,
        bookmark: &BookmarkList,
    ) -> Result<Delivery, SourceError> {
        let Some(mut plan) = push::Plan::of(request, id, &self.mapping.computer) else {
            return Err(SourceError::DeliveryModeUnavailable(request.mode.uri()));
        };
        plan.bookmark = bookmark.clone();
        let subscriber = connector
            .connect(&plan.notify_to, &request.authentication)
            .map_err(SourceError::Subscriber)?;
        let end_to = match &plan.end_to {
            Some(end_to) => match connector.connect(end_to, &request.authentication) {
                Ok(end_to) => Some(end_to),
                Err(error) => {
                    tracing::info!(subscription = %id, %error, "EndTo cannot be reached: no SubscriptionEnd will be sent");
                    None
                }
            },
            None => None,
        };
        let (ended_sender, ended) = watch::channel(());
        let advance = Arc::downgrade(&self.subscriptions);
        let end = Arc::downgrade(&self.subscriptions);
        let (advance_id, end_id) = (id.to_owned(), id.to_owned());
        let link = push::Link {
            ended,
            delivered: Box::new(move |events| {
                let Some(subscriptions) = advance.upgrade() else {
                    return;
                };
                let mut subscriptions = subscriptions.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(subscription) = subscriptions.get_mut(&advance_id) {
                    for event in events.iter().filter(|e| !e.channel.is_empty()) {
                        subscription
                            .bookmark
                            .advance(&event.channel, event.record_id);
                    }
                }
            }),
            end: Box::new(move || {
                if let Some(subscriptions) = end.upgrade() {
                    let mut subscriptions = subscriptions.lock().unwrap_or_else(|p| p.into_inner());
                    subscriptions.remove(&end_id);
                }
            }),
            lost: None,
        };
        tokio::spawn(push::run(plan, feed, subscriber, end_to, link));
        Ok(Delivery::Push(ended_sender))
    }

    /// Up to `max_elements` events of the subscription; waits up to `wait` when none is there.
    pub async fn pull(
        &self,
        caller: &Caller,
        id: &str,
        max_elements: usize,
        wait: Duration,
        now: Timestamp,
    ) -> Result<Pulled, SourceError> {
        self.pull_within(caller, id, max_elements, usize::MAX, wait, now, None)
            .await
    }

    /// [`EventSource::pull`] whose events' XML together takes at most `max_bytes` (what the
    /// response envelope has room for). Events read but not carried are delivered first by
    /// the next pull; an event larger than `max_bytes` on its own is refused with
    /// [`SourceError::EventTooLarge`] and stays first in line. The subscription's query runs off
    /// the async workers and stops at `deadline` (the request's OperationTimeout): with nothing
    /// to deliver by then, [`SourceError::TimedOut`], and the next pull resumes where it stopped.
    #[allow(clippy::too_many_arguments)]
    pub async fn pull_within(
        &self,
        caller: &Caller,
        id: &str,
        max_elements: usize,
        max_bytes: usize,
        wait: Duration,
        now: Timestamp,
        deadline: Option<Instant>,
    ) -> Result<Pulled, SourceError> {
        self.expire(now);
        let reading = {
            let subscriptions = self.lock();
            match &self.owned(&subscriptions, caller, id)?.delivery {
                Delivery::Pull(reading) => reading.clone(),
                // Its events are pushed: there is no enumeration to pull from.
                Delivery::Push(_) => return Err(SourceError::UnknownSubscription),
            }
        };
        let max_elements = max_elements.clamp(1, self.limits.max_pull_items);
        let max_scan = self.limits.max_pull_scan;
        let mut guard = reading.lock().await;
        let events = guard
            .take(max_elements, max_bytes, max_scan, wait, deadline)
            .await?;
        let mut subscriptions = self.lock();
        let Some(subscription) = subscriptions.get_mut(id) else {
            // Ended while this pull read: what was read is still delivered.
            return Ok(Pulled {
                events,
                bookmark: None,
            });
        };
        for event in &events {
            subscription
                .bookmark
                .advance(&event.channel, event.record_id);
        }
        let bookmark = subscription
            .send_bookmarks
            .then(|| subscription.bookmark.clone());
        if !events.is_empty() {
            // Replaced while this pull holds the reading: the read ahead it replaces has
            // either ended or not started (it waits for the reading), so its end loses nothing.
            subscription.read_ahead = Reading::ahead(&reading, max_elements, max_scan);
        }
        drop(subscriptions);
        drop(guard);
        Ok(Pulled { events, bookmark })
    }

    /// The longest bookmark a pull of the caller's `id` can carry (none if it asked for none),
    /// to size a pull before it reads: every log it names or may read at the widest record id.
    pub fn widest_bookmark(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Option<BookmarkList>, SourceError> {
        let subscriptions = self.lock();
        let s = self.owned(&subscriptions, caller, id)?;
        let logs = s.bookmark.positions().map(|(log, _)| log).chain(LOGS);
        Ok(s.send_bookmarks
            .then(|| logs.map(|log| (log, u64::MAX)).collect()))
    }

    /// End the caller's subscription.
    pub fn unsubscribe(&self, caller: &Caller, id: &str) -> Result<(), SourceError> {
        let removed = {
            let mut subscriptions = self.lock();
            self.owned(&subscriptions, caller, id)?;
            subscriptions.remove(id)
        };
        tracing::info!(subscription = %id, user = %caller.user, "event subscription ended");
        drop_off_the_async_worker(removed);
        Ok(())
    }

    /// When the caller's subscription expires (GetStatus).
    pub fn expires(
        &self,
        caller: &Caller,
        id: &str,
        now: Timestamp,
    ) -> Result<Timestamp, SourceError> {
        self.expire(now);
        let subscriptions = self.lock();
        Ok(self.owned(&subscriptions, caller, id)?.expires)
    }

    /// Renew: refused as Windows refuses it (MS-WSMV: subscribers subscribe again).
    pub fn renew(&self, caller: &Caller, id: &str) -> Result<(), SourceError> {
        let subscriptions = self.lock();
        self.owned(&subscriptions, caller, id)?;
        Err(SourceError::UnableToRenew)
    }

    /// End every subscription past its expiry; returns their ids.
    pub fn expire(&self, now: Timestamp) -> Vec<String> {
        let mut subscriptions = self.lock();
        let expired: Vec<String> = subscriptions
            .iter()
            .filter(|(_, s)| s.expires <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let mut gone = Vec::with_capacity(expired.len());
        for id in &expired {
            gone.extend(subscriptions.remove(id));
            tracing::info!(subscription = %id, "event subscription expired");
        }
        drop(subscriptions);
        drop_off_the_async_worker(gone);
        expired
    }

    fn owned<'a>(
        &self,
        subscriptions: &'a HashMap<String, Subscription>,
        caller: &Caller,
        id: &str,
    ) -> Result<&'a Subscription, SourceError> {
        let subscription = subscriptions
            .get(id)
            .ok_or(SourceError::UnknownSubscription)?;
        if !subscription.owner.is(&caller.owner) {
            return Err(SourceError::AccessDenied(
                "the subscription belongs to another user".to_owned(),
            ));
        }
        Ok(subscription)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Subscription>> {
        // A panic while holding the lock leaves a map that is still consistent (every change is
        // one insert or remove), so the poison is ignored.
        self.subscriptions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The logs `caller` may read (every log for administrators, Application and System for the
/// others); a query naming an unknown log (unless the subscriber asked to ignore those) or
/// a log the caller may not read is refused.
fn readable_logs(caller: &Caller, request: &SubscribeRequest) -> Result<Vec<String>, SourceError> {
    let readable: Vec<String> = if caller.administrator {
        LOGS.iter().map(|l| (*l).to_owned()).collect()
    } else {
        vec![APPLICATION.to_owned(), SYSTEM.to_owned()]
    };
    if let Some(query) = &request.filter {
        for channel in query.channels() {
            let known = LOGS.iter().any(|l| l.eq_ignore_ascii_case(&channel));
            if !known {
                if request.ignore_channel_error {
                    continue;
                }
                return Err(SourceError::UnknownChannel(channel));
            }
            if !readable.iter().any(|l| l.eq_ignore_ascii_case(&channel)) {
                return Err(SourceError::AccessDenied(format!(
                    "the {channel} log is readable by administrators only"
                )));
            }
        }
    }
    Ok(readable)
}

/// What a subscription selects: `request`'s query and content format over `logs` (the ones
/// its subscriber may read), rendered with `mapping`.
pub(crate) fn selection(
    request: &SubscribeRequest,
    logs: Vec<String>,
    mapping: &Mapping,
) -> Selection {
    Selection {
        query: request.filter.clone(),
        logs,
        format: request.content_format,
        mapping: mapping.clone(),
    }
}

/// Drops `value` on a blocking thread when called inside a runtime. A subscription holds its
/// query's tree and the events read ahead: freeing them took milliseconds of the async worker,
/// which moves every other client's bytes (and, before, inside the subscriptions' lock).
fn drop_off_the_async_worker<T: Send + 'static>(value: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || drop(value))),
        Err(_) => drop(value),
    }
}

#[cfg(test)]
mod tests;
