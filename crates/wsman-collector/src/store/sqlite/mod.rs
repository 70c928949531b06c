//! The default bookmark store: one SQLite file.
//!
//! Why SQLite with one row per (forwarder, subscription, log): the merge is a single upsert
//! that keeps the larger record id (`max()`), atomic and race-free across threads and processes
//! sharing the file, and a crash leaves either the old or the new position, never a torn one
//! (WAL journal, `synchronous=FULL`: a merge has reached the disk when it returns).
//!
//! Why group commit: every merge must be on disk before its batch is acknowledged, and one
//! fsync per merge, one after another under the writer's lock, made concurrent deliveries
//! queue behind each other's fsyncs (the tail of the time to Ack). A merge joins the group
//! that is waiting; the first of them commits the whole group in one transaction, one fsync,
//! and every member returns only once that commit is durable: the same guarantee, fewer
//! fsyncs. Reads go through a connection of their own, so they never wait behind a commit;
//! a delivery's claim is answered from the rows this process last committed when the writer
//! is free to confirm that no other process wrote the file since ([`known`]).

pub(crate) mod bound;
pub(crate) mod events;
mod known;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rusqlite::{params, Connection};
use wsman_events::{BookmarkList, Timestamp};

use super::group::GroupCommit;
use super::{
    list_from_rows, stored_record, ClientState, RefusedDelivery, Store, StoreError,
    MAX_REFUSAL_REASON,
};
use crate::store::events::{record::cut, EventStore, StoreRecord};
use known::Known;

/// The most writes one group commit carries; the rest wait for the next.
const MAX_GROUP: usize = 256;

/// Statements the writer keeps prepared (see [`SqliteStore::open`]).
const WRITER_STATEMENTS: usize = 32;

/// What one write returns: the bookmark as stored, for a merge.
type Outcome = Result<Option<BookmarkList>, StoreError>;

/// The store, one SQLite database.
#[derive(Debug)]
pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// The rows last read or committed through the writer (taken after the writer's lock).
    known: Mutex<Known>,
    group: GroupCommit<Change, Outcome>,
    /// Transactions committed (each one fsync), for the count of writes per commit.
    commits: AtomicU64,
    /// The event store in this file, when a subscription keeps events: a claim's commit
    /// writes the records its delivery handed over ([`crate::store::events`]).
    events: OnceLock<Arc<EventStore>>,
}

#[derive(Debug)]
enum Change {
    Merge {
        client: String,
        subscription: String,
        positions: Vec<(String, i64)>,
        at: i64,
        /// Whether the bookmark as stored is read back after the commit: for
        /// [`Store::merge`], which returns it, not for a claim's commit.
        read_back: bool,
        /// The batch's events for the event store, in the same transaction.
        records: Vec<StoreRecord>,
    },
    Heartbeat {
        client: String,
        subscription: String,
        at: i64,
    },
}

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE TABLE IF NOT EXISTS bookmark (
        client TEXT NOT NULL,
        subscription TEXT NOT NULL,
        channel TEXT NOT NULL,
        record_id INTEGER NOT NULL,
        PRIMARY KEY (client, subscription, channel)
    );
    CREATE TABLE IF NOT EXISTS client (
        client TEXT NOT NULL,
        subscription TEXT NOT NULL,
        last_event INTEGER,
        last_heartbeat INTEGER,
        PRIMARY KEY (client, subscription)
    );
    CREATE TABLE IF NOT EXISTS refusal (
        client TEXT NOT NULL,
        subscription TEXT NOT NULL,
        at INTEGER NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (client, subscription)
    );
";

const LOAD: &str = "SELECT channel, record_id FROM bookmark WHERE client = ?1 AND subscription = ?2 ORDER BY channel";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave a half-done change: every change is one
    // SQLite transaction.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn load_on(
    connection: &Connection,
    client: &str,
    subscription: &str,
) -> Result<Option<BookmarkList>, StoreError> {
    Ok(list_from_rows(rows_on(connection, client, subscription)?))
}

/// The pair's rows, (log, record id) by log.
fn rows_on(
    connection: &Connection,
    client: &str,
    subscription: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut statement = connection.prepare_cached(LOAD)?;
    let rows = statement.query_map(params![client, subscription], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The writer's `PRAGMA data_version`: it changes when another connection (another process)
/// has committed, never for the writer's own commits ([`known`]).
fn data_version(writer: &Connection) -> Result<i64, rusqlite::Error> {
    writer
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |row| row.get(0))
}

fn apply(connection: &Connection, change: &Change) -> Result<(), rusqlite::Error> {
    match change {
        Change::Merge {
            client,
            subscription,
            positions,
            at,
            ..
        } => {
            let mut upsert = connection.prepare_cached(
                "INSERT INTO bookmark (client, subscription, channel, record_id) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (client, subscription, channel)
                 DO UPDATE SET record_id = max(record_id, excluded.record_id)",
            )?;
            for (channel, record) in positions {
                upsert.execute(params![client, subscription, channel, record])?;
            }
            note_time(connection, NOTE_EVENT, client, subscription, *at)?;
        }
        Change::Heartbeat {
            client,
            subscription,
            at,
        } => {
            note_time(connection, NOTE_HEARTBEAT, client, subscription, *at)?;
        }
    }
    Ok(())
}

/// The upsert of [`note_time`] for a batch's time (`last_event`), never moving it back by
/// less than [`super::CLOCK_STEP`] (commits arriving out of order); further back, the wall
/// clock was stepped back and the new time is taken, or a forwarder that stops after the step
/// would count as active until the clock caught up (an hour for a step of an hour).
const NOTE_EVENT: &str = "INSERT INTO client (client, subscription, last_event) VALUES (?1, ?2, ?3)
     ON CONFLICT (client, subscription)
     DO UPDATE SET last_event = CASE WHEN excluded.last_event < last_event - 300000000
         THEN excluded.last_event ELSE max(coalesce(last_event, 0), excluded.last_event) END";
/// The upsert of [`note_time`] for a heartbeat's time (`last_heartbeat`), as [`NOTE_EVENT`].
const NOTE_HEARTBEAT: &str =
    "INSERT INTO client (client, subscription, last_heartbeat) VALUES (?1, ?2, ?3)
     ON CONFLICT (client, subscription)
     DO UPDATE SET last_heartbeat = CASE WHEN excluded.last_heartbeat < last_heartbeat - 300000000
         THEN excluded.last_heartbeat ELSE max(coalesce(last_heartbeat, 0), excluded.last_heartbeat) END";

/// Note `at` in the client's row with `upsert` ([`NOTE_EVENT`], [`NOTE_HEARTBEAT`]). Why
/// constants: the statement was formatted anew for every write of every delivery only to be
/// found again in the statement cache.
fn note_time(
    connection: &Connection,
    upsert: &str,
    client: &str,
    subscription: &str,
    at: i64,
) -> Result<(), rusqlite::Error> {
    connection
        .prepare_cached(upsert)?
        .execute(params![client, subscription, at])?;
    Ok(())
}

/// The merge of `delivered` into the bookmark of `client` in `subscription`, at `at`.
fn merge_change(
    (client, subscription): (&str, &str),
    delivered: &BookmarkList,
    at: Timestamp,
    read_back: bool,
    records: Vec<StoreRecord>,
) -> Change {
    Change::Merge {
        client: client.to_owned(),
        subscription: subscription.to_owned(),
        records,
        positions: delivered
            .positions()
            .map(|(channel, record)| (channel.to_owned(), stored_record(record)))
            .collect(),
        at: at.unix_micros(),
        read_back,
    }
}

/// Run `body` in one transaction on `connection` and commit it; on an error (or a panic) it is
/// rolled back, as rusqlite's `Transaction` does. Why not that: it prepares `BEGIN` and
/// `COMMIT` anew for every transaction, two parses per commit; these are cached statements.
fn in_transaction(
    connection: &Connection,
    body: impl FnOnce(&Connection) -> Result<(), rusqlite::Error>,
) -> Result<(), rusqlite::Error> {
    /// Rolls back what is still open when dropped: after a failed statement or `COMMIT`, or a
    /// panic, so the writer never keeps a transaction open into the next group.
    struct RollBack<'c>(&'c Connection);
    impl Drop for RollBack<'_> {
        fn drop(&mut self) {
            if !self.0.is_autocommit() {
                if let Err(error) = self.0.execute_batch("ROLLBACK") {
                    tracing::error!(%error, "bookmark store: rollback failed");
                }
            }
        }
    }
    connection.prepare_cached("BEGIN")?.execute([])?;
    let _open = RollBack(connection);
    body(connection)?;
    connection.prepare_cached("COMMIT")?.execute([])?;
    Ok(())
}

/// The mode of the database and its `-wal` and `-shm` files: the bookmarks and the event store
/// (every forwarder's events, Security included) are the service's alone.
pub(crate) const DATABASE_MODE: u32 = 0o600;

/// The SQLite database at `path` created [`DATABASE_MODE`] (empty: SQLite makes it a database,
/// and gives its `-wal` and `-shm` the database's mode), and an existing one, its `-wal` or its
/// `-shm` more open than that tightened, with a warning naming the file and the mode it had.
/// Why tightened and not refused: files an earlier version made 0644 would otherwise stop the
/// collector after an upgrade, while the chmod ends the exposure at once.
pub(crate) fn private_database(path: &Path) -> std::io::Result<()> {
    match wsman_safe::file_modes::create_new(path, DATABASE_MODE, None) {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => return Err(error),
        _ => {}
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        if let Some(was) = wsman_safe::file_modes::tighten_path(file, DATABASE_MODE)? {
            tracing::warn!(
                file = %file.display(),
                was = format!("{was:o}"),
                now = format!("{DATABASE_MODE:o}"),
                "collector database file was readable by others: tightened"
            );
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Transactions committed since the store was opened: with group commit, fewer than the
    /// merges and heartbeats written when deliveries arrive together.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Open (or create) the database at `path`, its files private (0600, made or tightened).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        private_database(path)?;
        let writer = Connection::open(path)?;
        writer.busy_timeout(std::time::Duration::from_secs(10))?;
        writer.execute_batch(SCHEMA)?;
        // The writer's statements, cached: a commit's (`BEGIN`, the upserts, `COMMIT`), a
        // claim's (`LOAD`, `PRAGMA data_version`) and the event store's (a few per partition)
        // come near rusqlite's default of 16, past which each would be parsed again.
        writer.set_prepared_statement_cache_capacity(WRITER_STATEMENTS);
        let reader = Connection::open(path)?;
        reader.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            known: Mutex::default(),
            group: GroupCommit::new(MAX_GROUP),
            commits: AtomicU64::new(0),
            events: OnceLock::new(),
        })
    }

    /// The event store in this file (opened once; the same for every later call).
    pub fn events(
        &self,
        path: &Path,
        settings: crate::store::events::StoreSettings,
    ) -> Result<Arc<EventStore>, StoreError> {
        if let Some(events) = self.events.get() {
            return Ok(Arc::clone(events));
        }
        let events = Arc::new(EventStore::open(path, settings)?);
        let events = Arc::clone(self.events.get_or_init(|| events));
        events.tune_writer(&lock(&self.writer))?;
        Ok(events)
    }

    /// The rows of `sql` about `subscription` (its `?1`), each made a `T` by `of`.
    fn of_subscription<T>(
        &self,
        sql: &str,
        subscription: &str,
        of: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let connection = lock(&self.reader);
        let mut statement = connection.prepare_cached(sql)?;
        let rows = statement.query_map(params![subscription], of)?;
        rows.collect::<Result<_, _>>().map_err(StoreError::from)
    }

    /// Add `change` to the waiting group and return once a commit that holds it is durable
    /// (or failed).
    ///
    /// The event store's upkeep after a commit (retention, the WAL's checkpoint) runs once
    /// the group's members have their outcomes: no Ack waits for it, while the next group
    /// still does (it holds the writer).
    fn write(&self, change: Change) -> Outcome {
        let committed_at = std::cell::Cell::new(None);
        self.group.submit_then(
            change,
            |changes| self.commit(changes, &committed_at),
            || self.upkeep(committed_at.take()),
        )
    }

    /// After a commit at `committed` (none: it failed), the event store's retention, then
    /// the checkpoint that takes its pages with the commit's.
    fn upkeep(&self, committed: Option<Timestamp>) {
        let (Some(now), Some(events)) = (committed, self.events.get()) else {
            return;
        };
        let mut connection = lock(&self.writer);
        if let Err(error) = events.retain_after_commit(&mut connection, now) {
            tracing::error!(%error, "event store: retention failed");
        }
        if let Err(error) = events.committed(&connection) {
            tracing::warn!(%error, "event store: checkpoint failed");
        }
    }

    /// One transaction for `changes`, then each one's outcome: the bookmark as stored for a
    /// merge. A failed commit fails every member (none is acknowledged). A commit that found
    /// no room (`SQLITE_FULL`: the event store's bound, or the file system) runs the event
    /// store's retention and is tried once more; it stays failed if there is still none.
    /// `committed_at` is set to the commit's time when it succeeded ([`SqliteStore::upkeep`]).
    fn commit(
        &self,
        changes: &[&Change],
        committed_at: &std::cell::Cell<Option<Timestamp>>,
    ) -> Vec<Outcome> {
        let mut connection = lock(&self.writer);
        let events = self.events.get();
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let records: Vec<&StoreRecord> = changes
            .iter()
            .flat_map(|change| match change {
                Change::Merge { records, .. } => records.iter(),
                Change::Heartbeat { .. } => [].iter(),
            })
            .collect();
        let transaction = |transaction: &Connection| {
            for change in changes {
                apply(transaction, change)?;
            }
            // Inserted together: one read and one update of the id counter per commit.
            if let Some(events) = events {
                events.insert(transaction, &records, now)?;
            }
            Ok(())
        };
        let mut committed = in_transaction(&connection, transaction);
        if let (Err(error), Some(events)) = (&committed, events) {
            if crate::store::events::is_full(error) {
                committed = self.make_room_and_retry(&mut connection, events, now, transaction);
            }
        }
        if let (Err(_), Some(events)) = (&committed, events) {
            events.rolled_back();
        }
        if committed.is_ok() {
            committed_at.set(Some(now));
            self.commits.fetch_add(1, Ordering::Relaxed);
            let mut known = lock(&self.known);
            for change in changes {
                if let Change::Merge {
                    client,
                    subscription,
                    positions,
                    ..
                } = change
                {
                    known.merged(client, subscription, positions);
                }
            }
        }
        changes
            .iter()
            .map(|change| match (&committed, change) {
                (Err(e), _) => Err(StoreError::Unavailable(format!("commit failed: {e}"))),
                (Ok(()), Change::Heartbeat { .. }) => Ok(None),
                (
                    Ok(()),
                    Change::Merge {
                        client,
                        subscription,
                        read_back: true,
                        ..
                    },
                ) => load_on(&connection, client, subscription),
                (Ok(()), Change::Merge { .. }) => Ok(None),
            })
            .collect()
    }
}

impl SqliteStore {
    /// The commit found no room: retention on the writer's connection (at least the oldest
    /// partition, with a bound), then the same transaction once more.
    fn make_room_and_retry(
        &self,
        connection: &mut Connection,
        events: &EventStore,
        now: Timestamp,
        transaction: impl FnOnce(&Connection) -> Result<(), rusqlite::Error>,
    ) -> Result<(), rusqlite::Error> {
        // Retention logs what it dropped; a commit that still fails is answered 503, and that
        // is logged (rate-limited) where the delivery is answered.
        if let Err(error) = events.make_room(connection, now) {
            tracing::error!(%error, "event store: retention failed");
        }
        in_transaction(connection, transaction)
    }
}

impl Store for SqliteStore {
    fn events(&self) -> Option<&Arc<EventStore>> {
        self.events.get()
    }

    /// The stored bookmark of `client` in `subscription`, if any: from the rows known to the
    /// writer when it is free and no other process wrote the file since (read through it,
    /// whose page cache its own commits keep, when not known yet); through the reader while a
    /// commit holds the writer, so a read never waits behind one.
    fn load(&self, client: &str, subscription: &str) -> Result<Option<BookmarkList>, StoreError> {
        let writer = match self.writer.try_lock() {
            Ok(writer) => writer,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                return load_on(&lock(&self.reader), client, subscription);
            }
        };
        let version = data_version(&writer)?;
        let mut known = lock(&self.known);
        known.validate(version);
        if let Some(rows) = known.get(client, subscription) {
            return Ok(list_from_rows(rows.iter().map(|(c, r)| (c.as_str(), *r))));
        }
        let rows = rows_on(&writer, client, subscription)?;
        let list = list_from_rows(rows.iter().map(|(c, r)| (c.as_str(), *r)));
        known.insert(client, subscription, rows);
        Ok(list)
    }

    /// Merge `delivered` into the stored bookmark (each log keeps the further position) and
    /// note the time of the batch; returns the bookmark as stored. Durable when it returns.
    fn merge(
        &self,
        client: &str,
        subscription: &str,
        delivered: &BookmarkList,
        at: Timestamp,
    ) -> Result<BookmarkList, StoreError> {
        let change = merge_change((client, subscription), delivered, at, true, Vec::new());
        Ok(self.write(change)?.unwrap_or_default())
    }

    /// The merge without reading the bookmark back (one query less per delivery), its
    /// records inserted with the group's in the commit's transaction.
    fn merge_unread(
        &self,
        pair: (&str, &str),
        delivered: &BookmarkList,
        at: Timestamp,
        records: Vec<StoreRecord>,
    ) -> Result<(), StoreError> {
        self.write(merge_change(pair, delivered, at, false, records))
            .map(drop)
    }

    /// Note a heartbeat of `client` in `subscription`.
    fn heartbeat(&self, client: &str, subscription: &str, at: Timestamp) -> Result<(), StoreError> {
        self.write(Change::Heartbeat {
            client: client.to_owned(),
            subscription: subscription.to_owned(),
            at: at.unix_micros(),
        })
        .map(|_| ())
    }

    /// Every forwarder of `subscription` with its last event and heartbeat, by name.
    fn clients(&self, subscription: &str) -> Result<Vec<ClientState>, StoreError> {
        let sql = "SELECT client, last_event, last_heartbeat FROM client
            WHERE subscription = ?1 ORDER BY client";
        self.of_subscription(sql, subscription, |row| {
            Ok(ClientState {
                client: row.get(0)?,
                last_event: row
                    .get::<_, Option<i64>>(1)?
                    .map(Timestamp::from_unix_micros),
                last_heartbeat: row
                    .get::<_, Option<i64>>(2)?
                    .map(Timestamp::from_unix_micros),
            })
        })
    }

    fn refused(
        &self,
        client: &str,
        subscription: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        lock(&self.writer).execute(
            "INSERT INTO refusal (client, subscription, at, reason) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (client, subscription) DO UPDATE SET at = excluded.at, reason = excluded.reason",
            params![client, subscription, at.unix_micros(), cut(reason, MAX_REFUSAL_REASON)],
        )?;
        Ok(())
    }

    fn refusals(&self, subscription: &str) -> Result<Vec<RefusedDelivery>, StoreError> {
        let sql = "SELECT client, at, reason FROM refusal WHERE subscription = ?1 ORDER BY client";
        self.of_subscription(sql, subscription, |row| {
            Ok(RefusedDelivery {
                client: row.get(0)?,
                at: Timestamp::from_unix_micros(row.get(1)?),
                reason: row.get(2)?,
            })
        })
    }

    /// Forget `client` in `subscription` (an operator resetting a forwarder).
    fn forget(&self, client: &str, subscription: &str) -> Result<bool, StoreError> {
        let connection = lock(&self.writer);
        lock(&self.known).forget(client, subscription);
        let mut known = false;
        for (table, knows) in super::FORGET {
            let sql = format!("DELETE FROM {table} WHERE client = ?1 AND subscription = ?2");
            known |= connection.execute(&sql, params![client, subscription])? > 0 && knows;
        }
        Ok(known)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;

    /// Merges that arrive while a commit is under way share the next one: 1 + 63 merges, two
    /// commits, and each merge returns only once its bookmark is in the file (read back
    /// through a store opened anew on it). The first commit is held by taking the writer
    /// connection, so the grouping does not depend on timing.
    #[test]
    fn merges_waiting_behind_a_commit_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wec.sqlite");
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        let at = Timestamp::from_unix_micros(1_000_000);
        let merge = |i: u32| {
            let (store, i) = (Arc::clone(&store), u64::from(i));
            std::thread::spawn(move || {
                let mut list = BookmarkList::new();
                list.advance("Security", 100 + i);
                let stored = store.merge(&format!("fwd{i}"), "s", &list, at).unwrap();
                assert_eq!(
                    stored.positions().collect::<Vec<_>>(),
                    vec![("Security", 100 + i)]
                );
            })
        };
        let writer = lock(&store.writer);
        store.group.hold_then_group(63, merge, || drop(writer));
        assert_eq!(store.commits(), 2, "64 merges in two commits");
        let reopened = SqliteStore::open(&path).unwrap();
        for i in 0..64 {
            let list = reopened.load(&format!("fwd{i}"), "s").unwrap().unwrap();
            assert_eq!(
                list.positions().collect::<Vec<_>>(),
                vec![("Security", 100 + i)]
            );
        }
    }

    /// The statements the writer connection ran while it was traced.
    static WRITTEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    /// Held by a test while it traces, so two tests' statements never mix in [`WRITTEN`].
    static TRACING: Mutex<()> = Mutex::new(());

    fn note_statement(event: rusqlite::trace::TraceEvent<'_>) {
        if let rusqlite::trace::TraceEvent::Stmt(_, sql) = event {
            lock(&WRITTEN).push(sql.to_owned());
        }
    }

    /// What `body` returns, and the statements the writer of `store` ran meanwhile (one
    /// traced section at a time: see [`TRACING`]).
    fn traced<T>(store: &SqliteStore, body: impl FnOnce() -> T) -> (T, Vec<String>) {
        let _tracing = lock(&TRACING);
        lock(&store.writer).trace_v2(
            rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
            Some(note_statement),
        );
        let value = body();
        lock(&store.writer).trace_v2(rusqlite::trace::TraceEventCodes::empty(), None);
        (value, std::mem::take(&mut *lock(&WRITTEN)))
    }

    /// A claim's commit writes the merge and reads nothing back (the delivery uses nothing
    /// of it): the writer runs `BEGIN`, the upsert per log, the client's time and `COMMIT`,
    /// no `SELECT`. The merge is in the file when the commit returns; `merge` itself still
    /// returns the bookmark as stored.
    #[test]
    fn a_claims_commit_reads_nothing_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wec.sqlite");
        let store = SqliteStore::open(&path).unwrap();
        let at = Timestamp::from_unix_micros(1_000_000);
        let mut list = BookmarkList::new();
        list.advance("Security", 7);
        list.advance("System", 3);
        let claim = store.claim("fwd", "s").unwrap();
        assert!(claim.stored().is_none());
        let ((), ran) = traced(&store, || claim.commit(&list, at, Vec::new()).unwrap());
        assert_eq!(ran.first().map(String::as_str), Some("BEGIN"), "{ran:#?}");
        assert_eq!(ran.last().map(String::as_str), Some("COMMIT"), "{ran:#?}");
        assert_eq!(
            ran.len(),
            5,
            "BEGIN, two upserts, the time, COMMIT: {ran:#?}"
        );
        assert!(
            !ran.iter().any(|sql| sql.trim_start().starts_with("SELECT")),
            "{ran:#?}"
        );
        let reopened = SqliteStore::open(&path).unwrap();
        let stored = reopened.load("fwd", "s").unwrap().unwrap();
        assert_eq!(
            stored.positions().collect::<Vec<_>>(),
            vec![("Security", 7), ("System", 3)]
        );
        let mut further = BookmarkList::new();
        further.advance("System", 9);
        let merged = store.merge("fwd", "s", &further, at).unwrap();
        assert_eq!(
            merged.positions().collect::<Vec<_>>(),
            vec![("Security", 7), ("System", 9)]
        );
    }

    /// A claim after this process's own commits is answered from the rows it committed,
    /// without reading them again (the writer runs only `PRAGMA data_version`), and equals
    /// what the file holds; after another process writes the file, the next claim reads it.
    #[test]
    fn claims_use_the_known_rows_until_another_process_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wec.sqlite");
        let store = SqliteStore::open(&path).unwrap();
        let at = Timestamp::from_unix_micros(1_000_000);
        let list = |pairs: &[(&str, u64)]| pairs.iter().copied().collect::<BookmarkList>();
        let positions = |l: Option<BookmarkList>| {
            l.map(|l| {
                l.positions()
                    .map(|(c, r)| (c.to_owned(), r))
                    .collect::<Vec<_>>()
            })
        };
        let claim = store.claim("fwd", "s").unwrap();
        claim
            .commit(&list(&[("System", 3)]), at, Vec::new())
            .unwrap();
        store
            .claim("fwd", "s")
            .unwrap()
            .commit(&list(&[("Security", 7), ("System", 2)]), at, Vec::new())
            .unwrap();
        let (claim, ran) = traced(&store, || store.claim("fwd", "s").unwrap());
        assert_eq!(ran, vec!["PRAGMA data_version".to_owned()]);
        let fresh = SqliteStore::open(&path).unwrap();
        let in_file = positions(load_on(&lock(&fresh.reader), "fwd", "s").unwrap());
        assert_eq!(positions(claim.stored().cloned()), in_file);
        assert_eq!(
            in_file,
            Some(vec![("Security".to_owned(), 7), ("System".to_owned(), 3)])
        );
        assert_eq!(
            format!("{:?}", claim.stored()),
            format!("{:?}", load_on(&lock(&fresh.reader), "fwd", "s").unwrap()),
            "the same list, its current log included"
        );
        drop(claim);

        let other = Connection::open(&path).unwrap();
        other
            .execute(
                "UPDATE bookmark SET record_id = 1 WHERE channel = 'Security'",
                [],
            )
            .unwrap();
        assert_eq!(
            positions(store.load("fwd", "s").unwrap()),
            Some(vec![("Security".to_owned(), 1), ("System".to_owned(), 3)]),
            "another process's write is seen"
        );
        assert!(store.forget("fwd", "s").unwrap());
        assert_eq!(store.load("fwd", "s").unwrap().map(|_| ()), None);
    }

    /// What a failed or panicking transaction wrote is rolled back and the connection left
    /// with no transaction open, so the next commit goes through (`BEGIN` inside an open
    /// transaction would fail every group after).
    #[test]
    fn a_failed_transaction_is_rolled_back_and_the_next_commits() {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t (v INTEGER)")
            .unwrap();
        let insert = |c: &Connection, v: i64| c.execute("INSERT INTO t VALUES (?1)", [v]).map(drop);
        let failed = in_transaction(&connection, |c| {
            insert(c, 1)?;
            c.execute_batch("INSERT INTO missing VALUES (1)")
        });
        assert!(failed.is_err());
        assert!(connection.is_autocommit());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            in_transaction(&connection, |c| {
                insert(c, 2)?;
                panic!("a commit that panics");
            })
        }));
        assert!(panicked.is_err());
        assert!(connection.is_autocommit());
        in_transaction(&connection, |c| insert(c, 3)).unwrap();
        let values: Vec<i64> = connection
            .prepare("SELECT v FROM t")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(values, vec![3]);
    }
}
