//! Seeing a fleet: which forwarders stopped sending, per subscription, cheaply at tens of
//! thousands of forwarders.
//!
//! A forwarder with nothing to send still sends a heartbeat once per interval, so one that
//! has sent neither an event nor a heartbeat for several intervals has stopped, frozen or been
//! cut off: the "hosts that stopped sending" an operator must see. How many intervals is
//! `silent_after_heartbeats` in `[clients]` of `DIR/collector.toml` (default
//! [`DEFAULT_SILENT_AFTER`]):
//!
//! ```toml
//! [clients]
//! silent_after_heartbeats = 3
//! ```
//!
//! Why in memory ([`LastSeen`]): the metrics are scraped every few seconds, and counting
//! forwarders by state from the bookmark store would read every row of it each time. The
//! collector reads the store once per subscription at start (and when a reload adds one),
//! then keeps each forwarder's last event and heartbeat as its deliveries are stored. A store
//! shared by several collectors is read again at most once per [`SHARED_RESYNC`], since a
//! forwarder may be heard by another node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use wsman_events::Timestamp;

use crate::store::{ClientState, Liveness};

pub use crate::store::config::{DEFAULT_SILENT_AFTER, MAX_SILENT_AFTER};
/// How often a collector sharing its store with others reads every forwarder's times again.
pub const SHARED_RESYNC: Duration = Duration::from_secs(60);

/// The last time anything was heard of a forwarder: its last event or heartbeat.
pub fn last_seen(
    last_event: Option<Timestamp>,
    last_heartbeat: Option<Timestamp>,
) -> Option<Timestamp> {
    last_event.max(last_heartbeat)
}

/// Whether a forwarder last heard of at `seen` is silent at `now`: nothing for more than
/// `after` heartbeat intervals (never heard of counts as silent).
pub fn is_silent(seen: Option<Timestamp>, heartbeat: Duration, after: u32, now: Timestamp) -> bool {
    seen.is_none_or(|seen| now.saturating_duration_since(seen) > heartbeat.saturating_mul(after))
}

/// One forwarder's times, as [`ClientState`] without its name.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    event: Option<Timestamp>,
    heartbeat: Option<Timestamp>,
}

/// The forwarders of one subscription by state at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Indexed as [`Liveness::ALL`].
    pub by_state: [u64; 3],
    /// Silent for more than the configured number of intervals.
    pub silent: u64,
}

/// Each forwarder's last event and heartbeat per subscription, in memory.
#[derive(Debug, Default)]
pub struct LastSeen {
    known: Mutex<Known>,
}

#[derive(Debug, Default)]
struct Known {
    /// Subscription -> forwarder -> its times.
    subscriptions: HashMap<String, HashMap<String, Seen>>,
    /// The subscriptions read from the store at least once.
    seeded: std::collections::HashSet<String>,
}

impl LastSeen {
    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with(&self, subscription: &str, client: &str, f: impl FnOnce(&mut Seen)) {
        let mut known = self.lock();
        let subscriptions = &mut known.subscriptions;
        if !subscriptions.contains_key(subscription) {
            subscriptions.insert(subscription.to_owned(), HashMap::new());
        }
        let Some(clients) = subscriptions.get_mut(subscription) else {
            return;
        };
        match clients.get_mut(client) {
            Some(seen) => f(seen),
            None => f(clients.entry(client.to_owned()).or_default()),
        }
    }

    /// Whether `subscription` was read from the store ([`Self::seed`]).
    pub fn seeded(&self, subscription: &str) -> bool {
        self.lock().seeded.contains(subscription)
    }

    /// Take the stored times of `subscription`'s forwarders, keeping the later of each.
    pub fn seed(&self, subscription: &str, clients: &[ClientState]) {
        let mut all = self.lock();
        all.seeded.insert(subscription.to_owned());
        let known = all
            .subscriptions
            .entry(subscription.to_owned())
            .or_default();
        for client in clients {
            let seen = known.entry(client.client.clone()).or_default();
            seen.event = seen.event.max(client.last_event);
            seen.heartbeat = seen.heartbeat.max(client.last_heartbeat);
        }
    }

    /// Forget the subscriptions `keep` refuses (removed from the configuration).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut known = self.lock();
        known.subscriptions.retain(|name, _| keep(name));
        known.seeded.retain(|name| keep(name));
    }

    /// `client` sent a heartbeat to `subscription` at `at` (stored).
    pub fn heartbeat(&self, subscription: &str, client: &str, at: Timestamp) {
        self.with(subscription, client, |seen| {
            seen.heartbeat = seen.heartbeat.max(Some(at));
        });
    }

    /// `client` delivered a batch to `subscription` at `at` (stored).
    pub fn event(&self, subscription: &str, client: &str, at: Timestamp) {
        self.with(subscription, client, |seen| {
            seen.event = seen.event.max(Some(at));
        });
    }

    /// `subscription`'s forwarders by state at `now`, for its `heartbeat` interval, silent
    /// after `after` intervals.
    pub fn census(
        &self,
        subscription: &str,
        heartbeat: Duration,
        after: u32,
        now: Timestamp,
    ) -> Census {
        let known = self.lock();
        let mut census = Census::default();
        for seen in known
            .subscriptions
            .get(subscription)
            .into_iter()
            .flat_map(HashMap::values)
        {
            let state = liveness(seen.event, seen.heartbeat, heartbeat, now);
            if let Some(slot) = Liveness::ALL.iter().position(|s| *s == state) {
                census.by_state[slot] += 1;
            }
            if is_silent(last_seen(seen.event, seen.heartbeat), heartbeat, after, now) {
                census.silent += 1;
            }
        }
        census
    }
}

/// Active, alive or dead: [`ClientState::liveness`] of these times.
fn liveness(
    event: Option<Timestamp>,
    heartbeat_at: Option<Timestamp>,
    heartbeat: Duration,
    now: Timestamp,
) -> Liveness {
    ClientState {
        client: String::new(),
        last_event: event,
        last_heartbeat: heartbeat_at,
    }
    .liveness(heartbeat, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_micros(seconds * 1_000_000)
    }

    #[test]
    fn a_forwarder_that_stops_becomes_silent_after_the_configured_intervals() {
        let seen = LastSeen::default();
        let heartbeat = Duration::from_secs(60);
        seen.seed(
            "wef",
            &[ClientState {
                client: "stored".into(),
                last_event: Some(at(1000)),
                last_heartbeat: None,
            }],
        );
        seen.heartbeat("wef", "keeps-going", at(1000));
        seen.heartbeat("wef", "stops", at(1000));
        assert_eq!(seen.census("wef", heartbeat, 3, at(1180)).silent, 0);
        seen.heartbeat("wef", "keeps-going", at(1150));
        seen.event("wef", "keeps-going", at(1170));
        // 181 s after its last heartbeat: more than three intervals.
        let census = seen.census("wef", heartbeat, 3, at(1181));
        assert_eq!(census.silent, 2, "'stops' and 'stored'");
        assert_eq!(census.by_state, [1, 0, 2]);
        assert_eq!(seen.census("wef", heartbeat, 4, at(1181)).silent, 0);
        assert_eq!(
            seen.census("other", heartbeat, 3, at(1181)),
            Census::default()
        );
    }

    #[test]
    fn seeding_again_keeps_the_later_time() {
        let seen = LastSeen::default();
        seen.heartbeat("wef", "a", at(2000));
        seen.seed(
            "wef",
            &[ClientState {
                client: "a".into(),
                last_event: None,
                last_heartbeat: Some(at(1000)),
            }],
        );
        assert_eq!(
            seen.census("wef", Duration::from_secs(60), 3, at(2100))
                .silent,
            0
        );
        assert!(seen.seeded("wef"));
        seen.retain(|name| name != "wef");
        assert!(!seen.seeded("wef"));
        assert_eq!(
            seen.census("wef", Duration::from_secs(60), 3, at(2100)),
            Census::default()
        );
    }

    #[test]
    fn silent_after_is_read_from_collector_toml_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = crate::store::config::silent_after;
        assert_eq!(config(dir.path()).expect("no file"), DEFAULT_SILENT_AFTER);
        let file = dir.path().join("collector.toml");
        std::fs::write(&file, "[clients]\nsilent_after_heartbeats = 5\n").expect("write");
        assert_eq!(config(dir.path()).expect("5"), 5);
        for bad in ["0", "1001", "-1", "\"3\""] {
            std::fs::write(
                &file,
                format!("[clients]\nsilent_after_heartbeats = {bad}\n"),
            )
            .expect("write");
            assert!(config(dir.path()).is_err(), "{bad}");
            let backend = crate::store::config::load(dir.path(), &dir.path().join("db"));
            assert!(backend.is_err(), "{bad}: the backend's load refuses it too");
        }
        std::fs::write(&file, "[clients]\nsilent_after = 3\n").expect("write");
        assert!(config(dir.path()).is_err(), "an unknown key");
    }
}
