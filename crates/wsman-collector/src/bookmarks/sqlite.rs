//! The default bookmark store: one SQLite file.
//!
//! Why SQLite with one row per (forwarder, subscription, log): the merge is a single upsert
//! that keeps the larger record id (`max()`), atomic and race-free across threads and processes
//! sharing the file, and a crash leaves either the old or the new position, never a torn one
//! (WAL journal, `synchronous=FULL`: a merge has reached the disk when it returns).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use wsman_events::{BookmarkList, Timestamp};

use super::{list_from_rows, stored_record, BookmarkStore, ClientState, StoreError};

/// The store, one SQLite database.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Mutex<Connection>,
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
";

impl SqliteStore {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.execute_batch(SCHEMA)?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done change: every change is one
        // SQLite transaction.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl BookmarkStore for SqliteStore {
    /// The stored bookmark of `client` in `subscription`, if any.
    fn load(&self, client: &str, subscription: &str) -> Result<Option<BookmarkList>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(
            "SELECT channel, record_id FROM bookmark WHERE client = ?1 AND subscription = ?2 ORDER BY channel",
        )?;
        let rows = statement.query_map(params![client, subscription], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        let rows = rows.collect::<Result<Vec<_>, _>>()?;
        Ok(list_from_rows(rows))
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
        {
            let mut connection = self.connection();
            let transaction = connection.transaction()?;
            {
                let mut upsert = transaction.prepare_cached(
                    "INSERT INTO bookmark (client, subscription, channel, record_id) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (client, subscription, channel)
                     DO UPDATE SET record_id = max(record_id, excluded.record_id)",
                )?;
                for (channel, record) in delivered.positions() {
                    let record = stored_record(record);
                    upsert.execute(params![client, subscription, channel, record])?;
                }
                transaction.execute(
                    "INSERT INTO client (client, subscription, last_event) VALUES (?1, ?2, ?3)
                     ON CONFLICT (client, subscription)
                     DO UPDATE SET last_event = max(coalesce(last_event, 0), excluded.last_event)",
                    params![client, subscription, at.unix_micros()],
                )?;
            }
            transaction.commit()?;
        }
        Ok(self.load(client, subscription)?.unwrap_or_default())
    }

    /// Note a heartbeat of `client` in `subscription`.
    fn heartbeat(&self, client: &str, subscription: &str, at: Timestamp) -> Result<(), StoreError> {
        self.connection().execute(
            "INSERT INTO client (client, subscription, last_heartbeat) VALUES (?1, ?2, ?3)
             ON CONFLICT (client, subscription)
             DO UPDATE SET last_heartbeat = max(coalesce(last_heartbeat, 0), excluded.last_heartbeat)",
            params![client, subscription, at.unix_micros()],
        )?;
        Ok(())
    }

    /// Every forwarder of `subscription` with its last event and heartbeat, by name.
    fn clients(&self, subscription: &str) -> Result<Vec<ClientState>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(
            "SELECT client, last_event, last_heartbeat FROM client WHERE subscription = ?1 ORDER BY client",
        )?;
        let rows = statement.query_map(params![subscription], |row| {
            Ok(ClientState {
                client: row.get(0)?,
                last_event: row
                    .get::<_, Option<i64>>(1)?
                    .map(Timestamp::from_unix_micros),
                last_heartbeat: row
                    .get::<_, Option<i64>>(2)?
                    .map(Timestamp::from_unix_micros),
            })
        })?;
        rows.collect::<Result<_, _>>().map_err(StoreError::from)
    }

    /// Forget `client` in `subscription` (an operator resetting a forwarder).
    fn forget(&self, client: &str, subscription: &str) -> Result<bool, StoreError> {
        let connection = self.connection();
        let removed = connection.execute(
            "DELETE FROM bookmark WHERE client = ?1 AND subscription = ?2",
            params![client, subscription],
        )?;
        let known = connection
            .query_row(
                "DELETE FROM client WHERE client = ?1 AND subscription = ?2 RETURNING client",
                params![client, subscription],
                |row| row.get::<_, String>(0),
            )
            .optional()?;
        Ok(removed > 0 || known.is_some())
    }
}
