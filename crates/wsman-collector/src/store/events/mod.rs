//! The event store: the events of the subscriptions that keep them (a `store` output), kept
//! searchable (`docs/event-search.md`) in the bookmarks' own database.
//!
//! Why in the bookmarks' database, written in the bookmark's transaction: a batch's events and
//! the bookmark past them are then one commit, so a collector killed at any point has either
//! both or neither, and the batch the forwarder sends again (its acknowledgement never came)
//! is stored once: the bookmark the claim reads leaves out what was stored. The delivery
//! ([`crate::delivery`]) therefore makes a batch's records ([`EventStore::admit`]) and hands
//! them to the claim's commit ([`super::Claim::commit`]), which writes them in the
//! bookmark's transaction; a delivery refused before its commit has written none.
//!
//! Two backends behind the one query API, as the bookmarks have: SQLite (a table per
//! partition, FTS5) and PostgreSQL (one table range-partitioned by arrival, a GIN index of
//! the words), the latter one store for every collector sharing the database.

pub(crate) mod common;
pub mod filter;
pub mod record;
pub mod share;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use wsman_events::Timestamp;

use crate::ingest::ReceivedEvent;

use super::postgres::events as postgres;
use super::sqlite::{bound, events as sqlite};

pub use bound::is_full;
pub(crate) use common::log_dropped;
pub use common::{Bucket, EventRow, Position, StoreQueryError, StoreSettings};
pub use filter::{FilterError, Search};
pub use record::StoreRecord;
pub use share::{OverShare, ShareSettings};

/// How often, at most, retention runs after a commit.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// The store of one collector: in its SQLite bookmark file, or in the PostgreSQL database
/// its bookmarks are in.
pub struct EventStore {
    settings: StoreSettings,
    backend: Backend,
    last_retention: Mutex<Option<Instant>>,
    /// Each forwarder's share of what is stored.
    shares: share::Shares,
}

enum Backend {
    Sqlite {
        /// Searches' own connection: a search never waits behind a commit (WAL).
        reader: Mutex<Connection>,
        /// Partitions known to exist (their tables are created once).
        known: Mutex<BTreeSet<i64>>,
        /// The file's checkpoints, off the commit path.
        checkpointer: Option<sqlite::Checkpointer>,
        /// The bound on disk, when `max_bytes` is set.
        bound: Option<bound::DiskBound>,
    },
    /// The bookmark store's pool: its commits insert, its searches read.
    Postgres(Arc<dyn postgres::Connections>),
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl EventStore {
    /// The store in the SQLite file at `path` (the bookmarks' file; its tables created).
    pub fn open(path: &Path, settings: StoreSettings) -> Result<EventStore, rusqlite::Error> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(10))?;
        connection.execute_batch("PRAGMA journal_mode = WAL;")?;
        connection.execute_batch(sqlite::SCHEMA)?;
        sqlite::upgrade(&connection, &settings)?;
        let known = sqlite::partitions(&connection)?.into_iter().collect();
        let bound = bound::DiskBound::of(path, settings.max_bytes);
        let checkpoints = Connection::open(path)?;
        if let Some(bound) = &bound {
            bound.tune(&connection)?;
            bound.tune(&checkpoints)?;
        }
        // Without its thread (none could start), the writer checkpoints as SQLite does.
        let checkpointer = sqlite::Checkpointer::start(checkpoints)
            .inspect_err(|error| tracing::warn!(%error, "event store: no checkpoint thread"))
            .ok();
        Ok(EventStore::with(
            settings,
            Backend::Sqlite {
                reader: Mutex::new(connection),
                known: Mutex::new(known),
                checkpointer,
                bound,
            },
        ))
    }

    /// Set up the connection the bookmark store commits on, once the store shares its file:
    /// its checkpoints are the store's ([`EventStore::committed`]).
    pub fn tune_writer(&self, writer: &Connection) -> rusqlite::Result<()> {
        match &self.backend {
            Backend::Sqlite {
                checkpointer,
                bound,
                ..
            } => {
                sqlite::tune_writer(writer, checkpointer.is_some())?;
                bound.as_ref().map_or(Ok(()), |bound| bound.tune(writer))
            }
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// A transaction committed on `writer`: the WAL's checkpoint is asked for (and run here
    /// when the WAL outgrew its bound, the store's on disk or the checkpointer's).
    pub fn committed(&self, writer: &Connection) -> rusqlite::Result<()> {
        let Backend::Sqlite {
            checkpointer,
            bound,
            ..
        } = &self.backend
        else {
            return Ok(());
        };
        let over = bound.as_ref().is_some_and(bound::DiskBound::wal_over);
        match checkpointer {
            Some(checkpointer) => checkpointer.after_commit(writer, over),
            None if over => sqlite::checkpoint(writer).map(drop),
            None => Ok(()),
        }
    }

    /// The store in the PostgreSQL database of `database` (its tables already created:
    /// [`crate::store::PostgresStore::events`]).
    pub(crate) fn postgres(
        database: Arc<dyn postgres::Connections>,
        settings: StoreSettings,
    ) -> EventStore {
        EventStore::with(settings, Backend::Postgres(database))
    }

    fn with(settings: StoreSettings, backend: Backend) -> EventStore {
        EventStore {
            shares: share::Shares::new(settings.share()),
            settings,
            backend,
            last_retention: Mutex::new(None),
        }
    }

    pub fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    /// The records of `client`'s `events` in `subscription`, arrived at `received`, taken
    /// from its share of the store, or why not (logged, rate-limited per forwarder): a batch
    /// over it is answered 503 and resent later.
    pub fn admit(
        &self,
        (client, subscription): (&str, &str),
        events: &[&ReceivedEvent],
        received: Timestamp,
    ) -> Result<Vec<StoreRecord>, OverShare> {
        let of = |event: &&ReceivedEvent| StoreRecord::of(event, subscription, received);
        let records: Vec<StoreRecord> = events.iter().map(of).collect();
        let bytes = records.iter().map(|r| r.xml.len() + r.words.len()).sum();
        self.shares.take(client, records.len(), bytes)?;
        Ok(records)
    }

    /// The partitions known to exist, in SQLite.
    fn known(&self) -> Option<&Mutex<BTreeSet<i64>>> {
        match &self.backend {
            Backend::Sqlite { known, .. } => Some(known),
            Backend::Postgres(_) => None,
        }
    }

    /// Write `records`, arrived at `now`, in the caller's transaction on the bookmarks' file.
    pub fn insert(
        &self,
        transaction: &Connection,
        records: &[&StoreRecord],
        now: Timestamp,
    ) -> rusqlite::Result<()> {
        let Some(known) = self.known() else {
            return Ok(());
        };
        let mut known = lock(known);
        let result = sqlite::insert(transaction, records, now, &self.settings, &mut known);
        if result.is_err() {
            // The transaction is rolled back, and with it any partition it created.
            known.clear();
        }
        result
    }

    /// The caller's transaction failed to commit: partitions it made are gone again.
    pub fn rolled_back(&self) {
        if let Some(known) = self.known() {
            lock(known).clear();
        }
    }

    /// Whether retention is due after a commit (at most once per minute; noted as run).
    pub(crate) fn retention_due(&self) -> bool {
        let mut last = lock(&self.last_retention);
        if last.is_some_and(|at| at.elapsed() < RETENTION_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// Retention on the writer's connection after a commit: by age at most once per minute,
    /// by size whenever the store is over its bound's retention size (a check of the file's
    /// header and the WAL's size); the partitions dropped.
    pub fn retain_after_commit(
        &self,
        connection: &mut Connection,
        now: Timestamp,
    ) -> rusqlite::Result<Vec<i64>> {
        let over = match self.bound() {
            Some(bound) => bound.over_retention(connection)?,
            None => false,
        };
        if !over && !self.retention_due() {
            return Ok(Vec::new());
        }
        self.retain(connection, now)
    }

    /// Retention now on `connection` to the SQLite file (the partitions dropped).
    pub fn retain(
        &self,
        connection: &mut Connection,
        now: Timestamp,
    ) -> rusqlite::Result<Vec<i64>> {
        let more = self
            .bound()
            .map_or(sqlite::Retain::Aged, sqlite::Retain::Over);
        self.retain_by(connection, now, more)
    }

    /// A commit on `connection` failed for want of room (`SQLITE_FULL`: the file's bound or
    /// a full file system): retention by age and size, and at least the oldest partition
    /// dropped, so that trying the commit once more can succeed. The partitions dropped
    /// (none without a bound, or without partitions).
    pub fn make_room(
        &self,
        connection: &mut Connection,
        now: Timestamp,
    ) -> rusqlite::Result<Vec<i64>> {
        self.rolled_back();
        let more = self
            .bound()
            .map_or(sqlite::Retain::Aged, sqlite::Retain::Room);
        self.retain_by(connection, now, more)
    }

    fn retain_by(
        &self,
        connection: &mut Connection,
        now: Timestamp,
        more: sqlite::Retain<'_>,
    ) -> rusqlite::Result<Vec<i64>> {
        let Some(known) = self.known() else {
            return Ok(Vec::new());
        };
        let mut known = lock(known);
        let dropped = sqlite::retain(connection, now, &self.settings, &mut known, more)?;
        log_dropped(&dropped);
        Ok(dropped)
    }

    /// The SQLite store's bound on disk, if it has one.
    fn bound(&self) -> Option<&bound::DiskBound> {
        match &self.backend {
            Backend::Sqlite { bound, .. } => bound.as_ref(),
            Backend::Postgres(_) => None,
        }
    }

    /// Retention as of `now`, whatever the backend (the partitions dropped, by period).
    pub fn retain_at(&self, now: Timestamp) -> Result<Vec<i64>, StoreQueryError> {
        match &self.backend {
            Backend::Sqlite { reader, .. } => Ok(self.retain(&mut lock(reader), now)?),
            Backend::Postgres(database) => database
                .retain(now, self.settings.clone())
                .map_err(StoreQueryError::Database),
        }
    }

    /// Up to `limit` results of `search` from `position`.
    pub fn page(
        &self,
        search: &Search,
        position: Position,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreQueryError> {
        match &self.backend {
            Backend::Sqlite { reader, .. } => {
                Ok(sqlite::page(&lock(reader), search, position, limit)?)
            }
            Backend::Postgres(database) => {
                postgres::page(database.as_ref(), search, position, limit)
            }
        }
    }

    /// The event `id` as its forwarder sent it.
    pub fn event_xml(&self, id: i64) -> Result<Option<String>, StoreQueryError> {
        match &self.backend {
            Backend::Sqlite { reader, .. } => Ok(sqlite::event_xml(&lock(reader), id)?),
            Backend::Postgres(database) => postgres::event_xml(database.as_ref(), id),
        }
    }

    /// The newest stored event's id (0 when none).
    pub fn cursor(&self) -> Result<i64, StoreQueryError> {
        match &self.backend {
            Backend::Sqlite { reader, .. } => Ok(sqlite::cursor(&lock(reader))?),
            Backend::Postgres(database) => postgres::cursor(database.as_ref()),
        }
    }

    /// The matches of `search` per bucket of time, oldest first.
    pub fn histogram(&self, search: &Search) -> Result<Vec<Bucket>, StoreQueryError> {
        match &self.backend {
            Backend::Sqlite { reader, .. } => sqlite::histogram(&lock(reader), search),
            Backend::Postgres(database) => postgres::histogram(database.as_ref(), search),
        }
    }
}
