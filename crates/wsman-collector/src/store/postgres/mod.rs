//! Bookmarks in PostgreSQL, shared by several collectors.
//!
//! Why these choices:
//! - the merge is one `INSERT .. ON CONFLICT DO UPDATE SET record_id = GREATEST(..)` per
//!   batch: PostgreSQL locks each conflicting row and evaluates `GREATEST` against its newest
//!   committed version, so two collectors merging the same (forwarder, subscription) at once
//!   both end at the larger position, never the smaller; the logs of a batch are upserted in
//!   one sorted order, so two such merges cannot deadlock;
//! - the schema is created or migrated at start under a transaction-scoped advisory lock, so
//!   collectors starting together do not race on `CREATE TABLE`;
//! - a bounded pool of connections on a small runtime of the store's own: callers are the
//!   collector's blocking threads, and a call that waits longer than the statement timeout
//!   for a connection, a connect or an answer fails (503, the forwarder resends) instead of
//!   holding a delivery; a connection that broke is dropped and the next call connects anew,
//!   so a restarted database is used again without a restart of the collector;
//! - the time limits are PostgreSQL's own, set on every session at connect
//!   (`statement_timeout`, `lock_timeout` at half of it, `idle_in_transaction_session_timeout`):
//!   a statement waiting on a row another collector holds fails in the server, which drops the
//!   wait, instead of only in our timer while the server keeps it queued; and the transaction
//!   of a collector that froze (SIGSTOP, a stalled VM) holding a forwarder's rows is ended by
//!   the server, so the other collectors are not held by it for longer than that;
//! - a connection goes back to the pool only after a call that succeeded: one whose statement
//!   failed or timed out (possibly still busy in the server) is closed, never lent again.

mod database;
pub(crate) mod events;
mod subscriptions;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

pub use subscriptions::{check as check_subscription, Change, PutError, StoredSubscription};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Transaction};
use wsman_events::{BookmarkList, Timestamp};

use super::group::GroupCommit;
use super::{
    list_from_rows, stored_record, Claim, ClientState, PostgresSettings, Store, StoreError,
};
use crate::store::events::{record::cut, EventStore, StoreRecord};
use events::Pending;
use wsman_outputs::tls::{client_config, TlsClientFiles};

/// The schema version this build writes; older ones are migrated at start.
/// 2: the subscriptions ([`subscriptions::SCHEMA`]).
const SCHEMA_VERSION: i32 = 2;
/// Arbitrary constant for the advisory lock taken while the schema is created.
const SCHEMA_LOCK: i64 = 0x7773_6d61_6e64_7765; // "wsmandwe"

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS wec_schema (version INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS wec_bookmark (
        client TEXT NOT NULL,
        subscription TEXT NOT NULL,
        channel TEXT NOT NULL,
        record_id BIGINT NOT NULL,
        PRIMARY KEY (client, subscription, channel)
    );
    CREATE TABLE IF NOT EXISTS wec_client (
        client TEXT NOT NULL,
        subscription TEXT NOT NULL,
        last_event BIGINT,
        last_heartbeat BIGINT,
        PRIMARY KEY (client, subscription)
    );
    CREATE INDEX IF NOT EXISTS wec_client_by_subscription ON wec_client (subscription, client);
    CREATE TABLE IF NOT EXISTS wec_refusal (
        client TEXT NOT NULL,
        subscription TEXT NOT NULL,
        at BIGINT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (client, subscription)
    );
";

const MERGE: &str = "
    INSERT INTO wec_bookmark (client, subscription, channel, record_id)
    SELECT $1, $2, channel, record_id
    FROM unnest($3::text[], $4::bigint[]) AS delivered(channel, record_id)
    ORDER BY channel
    ON CONFLICT (client, subscription, channel)
    DO UPDATE SET record_id = GREATEST(wec_bookmark.record_id, EXCLUDED.record_id)";

/// As SQLite's: never back by less than [`super::CLOCK_STEP`], the new time past it.
const NOTE_EVENT: &str = "
    INSERT INTO wec_client (client, subscription, last_event) VALUES ($1, $2, $3)
    ON CONFLICT (client, subscription)
    DO UPDATE SET last_event = CASE WHEN EXCLUDED.last_event < wec_client.last_event - 300000000
        THEN EXCLUDED.last_event ELSE GREATEST(wec_client.last_event, EXCLUDED.last_event) END";

/// The heartbeats of a group in one statement: the latest of each forwarder (one statement may
/// not update a row twice), in one order (two nodes' groups cannot deadlock).
const NOTE_HEARTBEATS: &str = "
    INSERT INTO wec_client (client, subscription, last_heartbeat)
    SELECT client, subscription, max(at)
    FROM unnest($1::text[], $2::text[], $3::bigint[]) AS beat(client, subscription, at)
    GROUP BY client, subscription
    ORDER BY client, subscription
    ON CONFLICT (client, subscription)
    DO UPDATE SET last_heartbeat = CASE
        WHEN EXCLUDED.last_heartbeat < wec_client.last_heartbeat - 300000000
        THEN EXCLUDED.last_heartbeat
        ELSE GREATEST(wec_client.last_heartbeat, EXCLUDED.last_heartbeat) END";

/// The most heartbeats one commit carries.
const MAX_HEARTBEAT_GROUP: usize = 1024;

/// One heartbeat waiting for its group's commit.
#[derive(Debug)]
struct Beat {
    client: String,
    subscription: String,
    at: i64,
}

const LOAD: &str = "SELECT channel, record_id FROM wec_bookmark
    WHERE client = $1 AND subscription = $2 ORDER BY channel";

/// A delivery's hold on one (forwarder, subscription), for its transaction: a lock of its own
/// (the forwarder may have no row yet), waited for at most `lock_timeout`.
const CLAIM: &str = "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))";

/// The store over a bounded pool of connections to one database.
pub struct PostgresStore {
    pool: Arc<Pool>,
    /// Heartbeats are committed in groups: a fleet's heartbeats are as many writes as its
    /// batches, and one commit (one WAL flush) each queued them for the pool's connections.
    heartbeats: GroupCommit<Beat, Result<(), StoreError>>,
    heartbeat_commits: AtomicU64,
    /// The event store in this database, when a subscription writes to it: a claim's commit
    /// writes the events its delivery left there ([`crate::store::events`]).
    events: OnceLock<Arc<EventStore>>,
    /// Taken out only by `Drop`, which shuts it down without blocking (the store may be
    /// dropped on an async thread).
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.pool.settings.describe())
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub(crate) struct Pool {
    settings: PostgresSettings,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    idle: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
}

/// A connection lent out; back to the pool on drop only once [`Pooled::reuse`] said the call
/// succeeded (else closed: it may still be busy in the server).
pub(crate) struct Pooled {
    client: Option<Client>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
    reusable: bool,
}

impl Pooled {
    /// The call on this connection succeeded: it may serve the next one.
    pub(crate) fn reuse(mut self) {
        self.reusable = true;
    }
}

impl std::ops::Deref for Pooled {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until drop")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let reusable = self.reusable;
        if let Some(client) = self.client.take().filter(|c| reusable && !c.is_closed()) {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(client);
        }
    }
}

/// The startup options of every session: `existing` (from the connection string) and the
/// time limits PostgreSQL enforces itself, in milliseconds.
fn session_options(existing: Option<&str>, statement_timeout: std::time::Duration) -> String {
    let statement = statement_timeout.as_millis().max(1);
    let lock = (statement / 2).max(1);
    let limits = format!(
        "-c statement_timeout={statement} -c lock_timeout={lock} -c idle_in_transaction_session_timeout={statement}"
    );
    match existing.map(str::trim).filter(|o| !o.is_empty()) {
        Some(existing) => format!("{existing} {limits}"),
        None => limits,
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        // The `Display` of a server error is its message only; with the source (the server's
        // detail, or the I/O error) it says why. Neither carries the password.
        let mut text = error.to_string();
        if let Some(db) = error.as_db_error() {
            text = format!("{} ({})", db.message(), db.code().code());
        } else if let Some(source) = std::error::Error::source(&error) {
            text = format!("{text}: {source}");
        }
        StoreError::Postgres(text)
    }
}

impl Pool {
    pub(crate) async fn get(self: &Arc<Self>) -> Result<Pooled, StoreError> {
        let wait = self.settings.acquire_timeout;
        let permit = tokio::time::timeout(wait, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "no free connection to {} within {} s",
                    self.settings.describe(),
                    wait.as_secs()
                ))
            })?
            .map_err(|_| StoreError::Unavailable("pool closed".to_owned()))?;
        let idle = std::iter::from_fn(|| self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop())
            .find(|client| !client.is_closed());
        let client = match idle {
            Some(client) => client,
            None => self.connect().await?,
        };
        Ok(Pooled {
            client: Some(client),
            pool: Arc::clone(self),
            _permit: permit,
            reusable: false,
        })
    }

    async fn connect(&self) -> Result<Client, StoreError> {
        let unavailable = |why: String| {
            StoreError::Unavailable(format!(
                "cannot connect to {}: {why}",
                self.settings.describe()
            ))
        };
        let config = &self.settings.connection;
        let connecting = async {
            match &self.tls {
                Some(tls) => connect_with(config, tls.clone()).await,
                None => connect_with(config, tokio_postgres::NoTls).await,
            }
        };
        match tokio::time::timeout(self.settings.connect_timeout, connecting).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(unavailable(e.to_string())),
            Err(_) => Err(unavailable(format!(
                "no answer within {} s",
                self.settings.connect_timeout.as_secs()
            ))),
        }
    }

    /// `work` on a connection of the pool, outside a transaction; the connection serves again
    /// only if it succeeded.
    pub(crate) async fn with<T>(
        self: &Arc<Self>,
        work: impl AsyncFnOnce(&Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        let connection = self.get().await?;
        let value = work(&connection).await?;
        connection.reuse();
        Ok(value)
    }

    /// `work` in a transaction on a connection of the pool, committed when it succeeded and
    /// `keep` holds of its outcome; else rolled back (a change found not to apply leaves
    /// nothing) and the connection closed.
    pub(crate) async fn transaction<T>(
        self: &Arc<Self>,
        keep: impl FnOnce(&T) -> bool,
        work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut connection = self.get().await?;
        let transaction = connection.transaction().await?;
        let value = work(&transaction).await?;
        if keep(&value) {
            transaction.commit().await?;
            connection.reuse();
        }
        Ok(value)
    }
}

/// Create `schemas` under the advisory lock, so that collectors starting together do not race
/// on `CREATE TABLE`.
async fn create_schema(transaction: &Transaction<'_>, schemas: &[&str]) -> Result<(), StoreError> {
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await?;
    for schema in schemas {
        transaction.batch_execute(schema).await?;
    }
    Ok(())
}

/// Record this build's schema version, or refuse a newer one, or migrate an older one.
async fn migrate(transaction: &Transaction<'_>) -> Result<(), StoreError> {
    let version: Option<i32> = transaction
        .query_opt("SELECT max(version) FROM wec_schema", &[])
        .await?
        .and_then(|row| row.get(0));
    let statement = match version {
        None => "INSERT INTO wec_schema (version) VALUES ($1)",
        Some(v) if v > SCHEMA_VERSION => {
            return Err(StoreError::Postgres(format!(
                "the database's schema is version {v}, newer than this collector's \
                 {SCHEMA_VERSION}: upgrade wsmand"
            )));
        }
        // Migrations from older versions go here, one step each. 1 to 2: the subscriptions'
        // tables, created with the rest.
        Some(v) if v < SCHEMA_VERSION => "UPDATE wec_schema SET version = $1",
        Some(_) => return Ok(()),
    };
    transaction.execute(statement, &[&SCHEMA_VERSION]).await?;
    Ok(())
}

/// A client of `config` over `tls`, its connection run until it ends (the client then sees it
/// closed and the pool drops it).
async fn connect_with<T>(config: &tokio_postgres::Config, tls: T) -> Result<Client, StoreError>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "bookmark store: PostgreSQL connection closed");
        }
    });
    Ok(client)
}

impl PostgresStore {
    /// Connect once (so a wrong setting stops the start with its reason) and create or
    /// migrate the schema.
    pub fn open(settings: &PostgresSettings) -> Result<PostgresStore, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wec-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("runtime: {e}")))?;
        let mut connection = settings.connection.clone();
        let options = session_options(connection.get_options(), settings.statement_timeout);
        connection.options(&options);
        let tls = if settings.tls {
            connection.ssl_mode(tokio_postgres::config::SslMode::Require);
            let files = TlsClientFiles {
                ca_file: settings
                    .ca_file
                    .as_deref()
                    .map(|path| path.to_string_lossy().into_owned()),
                ..TlsClientFiles::default()
            };
            let config =
                client_config(&files).map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Some(tokio_postgres_rustls::MakeRustlsConnect::new(config))
        } else {
            connection.ssl_mode(tokio_postgres::config::SslMode::Disable);
            None
        };
        let pool = Arc::new(Pool {
            settings: PostgresSettings {
                connection,
                ..settings.clone()
            },
            tls,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(settings.pool_size)),
        });
        let store = PostgresStore {
            pool,
            heartbeats: GroupCommit::new(MAX_HEARTBEAT_GROUP),
            heartbeat_commits: AtomicU64::new(0),
            events: OnceLock::new(),
            runtime: Some(runtime),
        };
        store.run(|pool| async move {
            let work = async |transaction: &Transaction<'_>| {
                create_schema(transaction, &[SCHEMA, subscriptions::SCHEMA]).await?;
                migrate(transaction).await
            };
            pool.transaction(|_| true, work).await
        })?;
        tracing::info!(database = %store.pool.settings.describe(), pool = store.pool.settings.pool_size, "collector bookmarks in PostgreSQL");
        Ok(store)
    }

    /// The rows of `sql` about `subscription` (its `$1`), each made a `T` by `of`.
    fn of_subscription<T: Send + 'static>(
        &self,
        sql: &'static str,
        subscription: &str,
        of: fn(&tokio_postgres::Row) -> T,
    ) -> Result<Vec<T>, StoreError> {
        let subscription = subscription.to_owned();
        self.run(|pool| async move {
            let rows = pool.with(async |c| c.query(sql, &[&subscription]).await);
            Ok(rows.await?.iter().map(of).collect())
        })
    }

    /// Run `work` on the store's runtime and wait for it ([`Database::run`]).
    fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Pool>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.database()?.run(work)
    }
}

impl PostgresStore {
    /// Heartbeat statements committed since the store was opened: with group commit, fewer
    /// than the heartbeats noted when forwarders send them together.
    pub fn heartbeat_commits(&self) -> u64 {
        self.heartbeat_commits.load(Ordering::Relaxed)
    }

    /// One group's heartbeats in one statement (its own transaction, one WAL flush); every
    /// member is told how it went.
    fn note_heartbeats(&self, beats: &[&Beat]) -> Vec<Result<(), StoreError>> {
        let clients: Vec<String> = beats.iter().map(|b| b.client.clone()).collect();
        let subscriptions: Vec<String> = beats.iter().map(|b| b.subscription.clone()).collect();
        let times: Vec<i64> = beats.iter().map(|b| b.at).collect();
        let written = self.run(|pool| async move {
            let params: [&(dyn ToSql + Sync); 3] = [&clients, &subscriptions, &times];
            pool.with(async |c| c.execute(NOTE_HEARTBEATS, &params).await)
                .await?;
            Ok(())
        });
        if written.is_ok() {
            self.heartbeat_commits.fetch_add(1, Ordering::Relaxed);
        }
        beats
            .iter()
            .map(|_| match &written {
                Ok(()) => Ok(()),
                Err(error) => Err(StoreError::Unavailable(format!(
                    "heartbeats not stored: {error}"
                ))),
            })
            .collect()
    }
}

impl PostgresStore {
    /// The merge that ends a claim: in the transaction ([`CLAIM`]) `connection` holds open
    /// since the claim (dropped uncommitted, the connection is closed and the server rolls
    /// back).
    fn commit_claim(
        &self,
        connection: Pooled,
        (client, subscription): (String, String),
        (delivered, at): (&BookmarkList, Timestamp),
        records: Vec<StoreRecord>,
    ) -> Result<BookmarkList, StoreError> {
        let delivered = rows_of(delivered);
        let at = at.unix_micros();
        let pending = self.pending(records);
        let retain = pending
            .as_ref()
            .filter(|p| p.retain)
            .map(|p| p.settings.clone());
        let stored = self.run(|_| async move {
            let stored = merge_statements(
                &*connection,
                &client,
                &subscription,
                delivered,
                at,
                pending.as_ref(),
            )
            .await?;
            connection.batch_execute("COMMIT").await?;
            connection.reuse();
            Ok(stored)
        })?;
        if let Some(settings) = retain {
            self.retain_in_background(settings);
        }
        Ok(stored)
    }

    /// A merge in a transaction of its own, with `records` for the event store in it.
    fn merge_with(
        &self,
        (client, subscription): (&str, &str),
        delivered: &BookmarkList,
        at: Timestamp,
        records: Vec<StoreRecord>,
    ) -> Result<BookmarkList, StoreError> {
        let (client, subscription) = (client.to_owned(), subscription.to_owned());
        let (delivered, at) = (rows_of(delivered), at.unix_micros());
        let pending = self.pending(records);
        self.run(|pool| async move {
            let work = async |transaction: &Transaction<'_>| {
                let (client, subscription, events) = (&client, &subscription, pending.as_ref());
                merge_statements(transaction, client, subscription, delivered, at, events).await
            };
            pool.transaction(|_| true, work).await
        })
    }
}

/// A merge's statements, in the transaction `connection` has open: the upsert, the time of
/// the batch, the events its delivery left for the event store, and the bookmark as it now
/// stands.
async fn merge_statements(
    connection: &impl tokio_postgres::GenericClient,
    client: &str,
    subscription: &str,
    (channels, records): (Vec<String>, Vec<i64>),
    at: i64,
    events: Option<&Pending>,
) -> Result<BookmarkList, StoreError> {
    connection
        .execute(MERGE, &[&client, &subscription, &channels, &records])
        .await?;
    connection
        .execute(NOTE_EVENT, &[&client, &subscription, &at])
        .await?;
    if let Some(events) = events {
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        events::insert(connection, events, now).await?;
    }
    let rows = connection.query(LOAD, &[&client, &subscription]).await?;
    Ok(list_of(&rows).unwrap_or_default())
}

/// The bookmark of [`LOAD`]'s rows.
fn list_of(rows: &[tokio_postgres::Row]) -> Option<BookmarkList> {
    list_from_rows(
        rows.iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1))),
    )
}

/// A bookmark list as the two arrays [`MERGE`] takes.
fn rows_of(delivered: &BookmarkList) -> (Vec<String>, Vec<i64>) {
    delivered
        .positions()
        .map(|(channel, record)| (channel.to_owned(), stored_record(record)))
        .unzip()
}

impl Store for PostgresStore {
    fn claim<'a>(&'a self, client: &str, subscription: &str) -> Result<Claim<'a>, StoreError> {
        let (owned_client, owned_subscription) = (client.to_owned(), subscription.to_owned());
        let (connection, stored) = self.run(|pool| async move {
            let connection = pool.get().await?;
            connection.batch_execute("BEGIN").await?;
            connection
                .execute(CLAIM, &[&owned_client, &owned_subscription])
                .await?;
            let rows = connection
                .query(LOAD, &[&owned_client, &owned_subscription])
                .await?;
            let stored = list_of(&rows);
            Ok((connection, stored))
        })?;
        let pair = (client.to_owned(), subscription.to_owned());
        Ok(Claim {
            stored,
            commit: Box::new(move |delivered, at, records| {
                self.commit_claim(connection, pair, (delivered, at), records)
                    .map(drop)
            }),
        })
    }

    fn load(&self, client: &str, subscription: &str) -> Result<Option<BookmarkList>, StoreError> {
        let (client, subscription) = (client.to_owned(), subscription.to_owned());
        self.run(|pool| async move {
            let rows = pool
                .with(async |c| c.query(LOAD, &[&client, &subscription]).await)
                .await?;
            Ok(list_of(&rows))
        })
    }

    fn merge(
        &self,
        client: &str,
        subscription: &str,
        delivered: &BookmarkList,
        at: Timestamp,
    ) -> Result<BookmarkList, StoreError> {
        self.merge_with((client, subscription), delivered, at, Vec::new())
    }

    fn merge_unread(
        &self,
        pair: (&str, &str),
        delivered: &BookmarkList,
        at: Timestamp,
        records: Vec<StoreRecord>,
    ) -> Result<(), StoreError> {
        self.merge_with(pair, delivered, at, records).map(drop)
    }

    fn events(&self) -> Option<&Arc<EventStore>> {
        self.events.get()
    }

    fn heartbeat(&self, client: &str, subscription: &str, at: Timestamp) -> Result<(), StoreError> {
        let (client, subscription) = (client.to_owned(), subscription.to_owned());
        let beat = Beat {
            client,
            subscription,
            at: at.unix_micros(),
        };
        self.heartbeats
            .submit(beat, |beats| self.note_heartbeats(beats))
    }

    fn clients(&self, subscription: &str) -> Result<Vec<ClientState>, StoreError> {
        let sql = "SELECT client, last_event, last_heartbeat FROM wec_client
            WHERE subscription = $1 ORDER BY client";
        self.of_subscription(sql, subscription, |row| ClientState {
            client: row.get(0),
            last_event: row
                .get::<_, Option<i64>>(1)
                .map(Timestamp::from_unix_micros),
            last_heartbeat: row
                .get::<_, Option<i64>>(2)
                .map(Timestamp::from_unix_micros),
        })
    }

    fn refused(
        &self,
        client: &str,
        subscription: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let (client, subscription) = (client.to_owned(), subscription.to_owned());
        let (reason, at) = (
            cut(reason, super::MAX_REFUSAL_REASON).to_owned(),
            at.unix_micros(),
        );
        self.run(|pool| async move {
            let sql = "INSERT INTO wec_refusal (client, subscription, at, reason)
                VALUES ($1, $2, $3, $4) ON CONFLICT (client, subscription)
                DO UPDATE SET at = EXCLUDED.at, reason = EXCLUDED.reason";
            let params: [&(dyn ToSql + Sync); 4] = [&client, &subscription, &at, &reason];
            pool.with(async |c| c.execute(sql, &params).await).await?;
            Ok(())
        })
    }

    fn refusals(&self, subscription: &str) -> Result<Vec<super::RefusedDelivery>, StoreError> {
        let sql =
            "SELECT client, at, reason FROM wec_refusal WHERE subscription = $1 ORDER BY client";
        self.of_subscription(sql, subscription, |row| super::RefusedDelivery {
            client: row.get(0),
            at: Timestamp::from_unix_micros(row.get(1)),
            reason: row.get(2),
        })
    }

    fn forget(&self, client: &str, subscription: &str) -> Result<bool, StoreError> {
        let (client, subscription) = (client.to_owned(), subscription.to_owned());
        self.run(|pool| async move {
            let work = async |transaction: &Transaction<'_>| {
                let mut known = false;
                for (table, knows) in super::FORGET {
                    let sql =
                        format!("DELETE FROM wec_{table} WHERE client = $1 AND subscription = $2");
                    let removed = transaction.execute(&sql, &[&client, &subscription]).await?;
                    known |= knows && removed > 0;
                }
                Ok(known)
            };
            pool.transaction(|_| true, work).await
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::{config, Backend};
    use wsman_test::postgres::Postgres;

    /// A store of one connection on a real server.
    fn store_of_one_connection(server: &Postgres, dir: &std::path::Path) -> PostgresStore {
        server.write_collector_toml(dir, "pool_size = 1\nstatement_timeout_seconds = 20\n");
        match config::load(dir, &dir.join("unused.sqlite")).unwrap() {
            Backend::Postgres(settings) => PostgresStore::open(&settings).unwrap(),
            Backend::Sqlite { .. } => unreachable!("the file names PostgreSQL"),
        }
    }

    /// Heartbeats that arrive while one is being written share the next statement: 1 + 63
    /// heartbeats of 32 forwarders (two of most in one group), two commits, and each
    /// forwarder's latest time stored. The first write is held by a claim on the pool's only
    /// connection, so the grouping does not depend on timing.
    #[test]
    fn heartbeats_waiting_behind_a_write_share_the_next_one() {
        let Some(server) = Postgres::start() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store_of_one_connection(&server, dir.path()));
        let beat = |i: u32| {
            let (store, i) = (Arc::clone(&store), i64::from(i));
            std::thread::spawn(move || {
                let at = Timestamp::from_unix_micros(1_000_000 + i);
                store
                    .heartbeat(&format!("fwd{}", i % 32), "wef", at)
                    .unwrap();
            })
        };
        let claim = store.claim("holder", "wef").unwrap();
        store.heartbeats.hold_then_group(63, beat, || drop(claim));
        assert_eq!(store.heartbeat_commits(), 2, "64 heartbeats in two commits");
        let clients = store.clients("wef").unwrap();
        assert_eq!(clients.len(), 32);
        for state in clients {
            let n: i64 = state.client.trim_start_matches("fwd").parse().unwrap();
            assert_eq!(
                state.last_heartbeat,
                Some(Timestamp::from_unix_micros(1_000_000 + n + 32)),
                "{}: the later of its two heartbeats",
                state.client
            );
            assert_eq!(state.last_event, None);
        }
    }
}
