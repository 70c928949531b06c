//! The store a collector commits to: bookmarks per (forwarder, subscription), durable and
//! monotonic, the events of the subscriptions that keep them ([`events`]) and, shared, the
//! subscriptions themselves; one folder per backend holds all three.
//!
//! Why a trait: one collector keeps its bookmarks in an embedded SQLite file ([`SqliteStore`],
//! the default, nothing to run beside it), while several collectors behind one name share a
//! PostgreSQL database ([`PostgresStore`]) so that a forwarder moving from one to another
//! resumes where it was. Both merge the same way: one upsert per log that keeps the larger
//! record id, so no order of batches, and no two collectors writing the same (forwarder,
//! subscription) at once, moves a position backwards. The backend is chosen in
//! `DIR/collector.toml` ([`config`]).

pub mod config;
pub mod events;
mod group;
pub(crate) mod postgres;
mod sqlite;

use std::sync::Arc;

use wsman_events::{BookmarkList, Timestamp};

pub use config::{Backend, PostgresSettings};
use events::{EventStore, StoreRecord};
pub use postgres::{check_subscription, Change, PostgresStore, PutError, StoredSubscription};
pub use sqlite::SqliteStore;

/// Why the store failed. Every variant is answered 503 by the collector (nothing is
/// acknowledged), so the forwarder resends.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite database refused.
    #[error("bookmark store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL server refused or the connection broke.
    #[error("bookmark store (PostgreSQL): {0}")]
    Postgres(String),
    /// No connection could be had in time (the database is down or every pooled connection is
    /// busy).
    #[error("bookmark store unavailable: {0}")]
    Unavailable(String),
    /// The database's file could not be made private (0600, created or tightened).
    #[error("bookmark store: its database file: {0}")]
    File(#[from] std::io::Error),
}

/// What the collector knows of one forwarder in one subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientState {
    pub client: String,
    pub last_event: Option<Timestamp>,
    pub last_heartbeat: Option<Timestamp>,
}

/// A forwarder's latest refused delivery in one subscription, and why: what `wsmand wec
/// clients` and `wsmand wec doctor` name, since the forwarder itself may be a host nobody
/// watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedDelivery {
    pub client: String,
    pub at: Timestamp,
    pub reason: String,
}

/// Longest reason kept of a refusal (it quotes what the forwarder sent).
pub const MAX_REFUSAL_REASON: usize = 512;

/// How far back a forwarder's noted time may be moved by a later commit: out-of-order commits
/// (concurrent groups, another node) are seconds apart, so a time more than this behind the
/// stored one means the wall clock was stepped back, and the new time is kept (the statements
/// spell it in microseconds: 300,000,000).
pub const CLOCK_STEP: std::time::Duration = std::time::Duration::from_secs(300);

/// Longest slack a heartbeat may arrive late by and still count (see [`heartbeat_window`]).
pub const MAX_HEARTBEAT_SLACK: std::time::Duration = std::time::Duration::from_secs(60);

/// How a forwarder is doing, as `wecutil` and OpenWEC's CLI classify it: by the subscription's
/// heartbeat interval, the longest a live forwarder stays silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Liveness {
    /// An event within one heartbeat interval.
    Active,
    /// No event, but a heartbeat within [`heartbeat_window`].
    Alive,
    /// Silent for longer: stopped, frozen, cut off.
    Dead,
}

impl Liveness {
    /// Every state, in the order they are shown.
    pub const ALL: [Liveness; 3] = [Liveness::Active, Liveness::Alive, Liveness::Dead];

    /// The word `wsmand wec clients` prints and the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Active => "active",
            Liveness::Alive => "alive",
            Liveness::Dead => "dead",
        }
    }
}

/// How long after its last message a forwarder still counts as alive: the heartbeat interval
/// (a forwarder with nothing to send sends a heartbeat once per interval) plus half of it, at
/// most [`MAX_HEARTBEAT_SLACK`], for the heartbeat's own way. OpenWEC uses the interval alone,
/// which calls a healthy forwarder dead in the moment before its on-time heartbeat arrives.
pub fn heartbeat_window(heartbeat: std::time::Duration) -> std::time::Duration {
    heartbeat + (heartbeat / 2).min(MAX_HEARTBEAT_SLACK)
}

impl ClientState {
    /// Active, alive or dead at `now` for a subscription with this heartbeat interval. One
    /// function, so the CLI and the metrics agree.
    pub fn liveness(&self, heartbeat: std::time::Duration, now: Timestamp) -> Liveness {
        let within = |t: Option<Timestamp>, d: std::time::Duration| {
            t.is_some_and(|t| now.saturating_duration_since(t) <= d)
        };
        let window = heartbeat_window(heartbeat);
        if within(self.last_event, heartbeat) {
            Liveness::Active
        } else if within(self.last_heartbeat, window) || within(self.last_event, window) {
            Liveness::Alive
        } else {
            Liveness::Dead
        }
    }
}

/// Where forwarders have got to. Blocking: the collector calls it from its blocking pool, and
/// every method is durable when it returns `Ok`.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The stored bookmark of `client` in `subscription`, if any.
    fn load(&self, client: &str, subscription: &str) -> Result<Option<BookmarkList>, StoreError>;

    /// Merge `delivered` into the stored bookmark (each log keeps the further position; a log
    /// not stored yet starts at its own position) and note the time of the batch; returns the
    /// bookmark as stored.
    fn merge(
        &self,
        client: &str,
        subscription: &str,
        delivered: &BookmarkList,
        at: Timestamp,
    ) -> Result<BookmarkList, StoreError>;

    /// [`Store::merge`] without the bookmark as stored, and with the batch's `records` for
    /// the event store in the same transaction: what a claim's commit needs (the delivery
    /// acknowledges once both are durable and reads nothing back). Durable when it returns
    /// `Ok`.
    fn merge_unread(
        &self,
        pair: (&str, &str),
        delivered: &BookmarkList,
        at: Timestamp,
        records: Vec<StoreRecord>,
    ) -> Result<(), StoreError>;

    /// Note a heartbeat of `client` in `subscription`.
    fn heartbeat(&self, client: &str, subscription: &str, at: Timestamp) -> Result<(), StoreError>;

    /// Every forwarder of `subscription` with its last event and heartbeat, by name.
    fn clients(&self, subscription: &str) -> Result<Vec<ClientState>, StoreError>;

    /// Note that a delivery of `client` in `subscription` was refused at `at`, and why; the
    /// latest is kept (the collector notes at most one per forwarder, kind of refusal and
    /// minute, so a forwarder resending cannot flood the store).
    fn refused(
        &self,
        client: &str,
        subscription: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The latest refused delivery of each forwarder of `subscription`, by name.
    fn refusals(&self, subscription: &str) -> Result<Vec<RefusedDelivery>, StoreError>;

    /// Forget `client` in `subscription` (an operator resetting a forwarder); whether it was
    /// known.
    fn forget(&self, client: &str, subscription: &str) -> Result<bool, StoreError>;

    /// Hold `client`'s bookmark in `subscription` for one delivery: the stored bookmark now,
    /// and a [`Claim::commit`] that cannot be beaten to it by another collector. A delivery
    /// writes its events to the outputs only once it has the claim, so one refused by the
    /// store (a claim not had in time) has written nothing. The default reads, then merges:
    /// enough for a store only one collector uses (its deliveries of one forwarder are already
    /// one at a time).
    fn claim<'a>(&'a self, client: &str, subscription: &str) -> Result<Claim<'a>, StoreError> {
        Claim::load_then_merge(self, client, subscription)
    }

    /// The event store in this store's database, once opened: where a subscription with a
    /// `store` output keeps its events, written by [`Claim::commit`].
    fn events(&self) -> Option<&Arc<EventStore>>;
}

/// One delivery's hold on a forwarder's bookmark ([`Store::claim`]); dropped without
/// [`Claim::commit`], nothing is stored (neither bookmark nor events) and the hold ends.
pub struct Claim<'a> {
    stored: Option<BookmarkList>,
    commit: Box<CommitClaim<'a>>,
}

/// What ends a claim: the store's merge of what was delivered and the insert of its records,
/// one transaction, durable when it returns `Ok` (see [`Store::merge_unread`]).
type CommitClaim<'a> =
    dyn FnOnce(&BookmarkList, Timestamp, Vec<StoreRecord>) -> Result<(), StoreError> + 'a;

impl<'a> Claim<'a> {
    /// The default claim: no hold, a merge into `store` at the end.
    fn load_then_merge<S: Store + ?Sized>(
        store: &'a S,
        client: &str,
        subscription: &str,
    ) -> Result<Claim<'a>, StoreError> {
        let (client, subscription) = (client.to_owned(), subscription.to_owned());
        Ok(Claim {
            stored: store.load(&client, &subscription)?,
            commit: Box::new(move |delivered, at, records| {
                store.merge_unread((&client, &subscription), delivered, at, records)
            }),
        })
    }

    /// The bookmark stored when the claim was taken.
    pub fn stored(&self) -> Option<&BookmarkList> {
        self.stored.as_ref()
    }

    /// Merge `reached` as [`Store::merge`] does and write `records` (the batch's events for
    /// the event store; none when its subscription keeps none) in the same transaction,
    /// ending the claim; both durable when it returns `Ok`, neither when it fails.
    pub fn commit(
        self,
        reached: &BookmarkList,
        at: Timestamp,
        records: Vec<StoreRecord>,
    ) -> Result<(), StoreError> {
        (self.commit)(reached, at, records)
    }
}

/// Open the store `backend` names: the SQLite file (created), or a pool to PostgreSQL with
/// its schema created or brought up to date.
pub fn open(backend: &Backend) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match backend {
        Backend::Sqlite { path } => Arc::new(SqliteStore::open(path)?),
        Backend::Postgres(settings) => Arc::new(PostgresStore::open(settings)?),
    })
}

/// A bookmark list from stored (log, record id) rows; `None` when there are none.
fn list_from_rows<S: AsRef<str>>(rows: impl IntoIterator<Item = (S, i64)>) -> Option<BookmarkList> {
    let mut list = BookmarkList::new();
    let mut any = false;
    for (channel, record) in rows {
        list.advance(channel.as_ref(), u64::try_from(record).unwrap_or(0));
        any = true;
    }
    any.then_some(list)
}

/// The tables [`Store::forget`] deletes a forwarder's rows from, and whether a row
/// there makes it known (a refusal alone does not).
const FORGET: [(&str, bool); 3] = [("refusal", false), ("bookmark", true), ("client", true)];

/// A record id as the databases store it (signed 64-bit); ids beyond are kept at the maximum.
fn stored_record(record: u64) -> i64 {
    i64::try_from(record).unwrap_or(i64::MAX)
}
