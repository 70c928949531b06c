//! The event store's side of the PostgreSQL bookmark store: its tables, created once, and
//! the pool its searches run on (the bookmark store's own, so one pool bounds both).

use std::sync::Arc;

use super::{create_schema, Pool, PostgresStore};
use crate::store::StoreError;
use wsman_events::Timestamp;

use super::events::{retain_as_of, Connections, DatabaseError, Param, Pending};
use crate::store::events::{EventStore, StoreRecord, StoreSettings};

impl PostgresStore {
    /// The pool and the runtime it runs on.
    pub(super) fn database(&self) -> Result<Database, StoreError> {
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::Unavailable("store closed".to_owned()));
        };
        Ok(Database {
            pool: Arc::clone(&self.pool),
            handle: runtime.handle().clone(),
        })
    }

    /// The event store in this database (its tables created once; the same for every later
    /// call). Every collector sharing the database writes and searches the one store.
    pub fn events(&self, settings: StoreSettings) -> Result<Arc<EventStore>, StoreError> {
        if let Some(events) = self.events.get() {
            return Ok(Arc::clone(events));
        }
        let database = self.database()?;
        database.run(|pool| async move {
            let schema = [super::events::SCHEMA];
            pool.transaction(|_| true, async |t| create_schema(t, &schema).await)
                .await
        })?;
        let events = Arc::new(EventStore::postgres(Arc::new(database), settings));
        Ok(Arc::clone(self.events.get_or_init(|| events)))
    }

    /// Retention of the event store on a connection of its own, not waited for: the commit
    /// after which it is due is answered at once, and a partition's `DROP` waiting for a search
    /// holds no delivery. A failure is logged (the next one runs a minute later).
    pub(super) fn retain_in_background(&self, settings: StoreSettings) {
        let Ok(database) = self.database() else {
            return;
        };
        let timeout = database.pool.settings.statement_timeout;
        let pool = Arc::clone(&database.pool);
        database.handle.spawn(async move {
            let work = pool.with(async |c| {
                let now = Timestamp::from_system_time(std::time::SystemTime::now());
                retain_as_of(c, now, &settings).await
            });
            match tokio::time::timeout(timeout, work).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::error!(%error, "event store: retention failed"),
                Err(_) => tracing::error!("event store: retention did not end in time"),
            }
        });
    }

    /// What a commit writes to the event store (`records`), if there is one.
    pub(super) fn pending(&self, records: Vec<StoreRecord>) -> Option<Pending> {
        let events = self.events.get()?;
        Some(Pending {
            records,
            settings: events.settings().clone(),
            retain: events.retention_due(),
        })
    }
}

/// A pool with the runtime its connections are driven on: what the event store's searches
/// run on (the bookmark store's own, so one pool bounds both).
#[derive(Clone)]
pub(super) struct Database {
    pool: Arc<Pool>,
    handle: tokio::runtime::Handle,
}

impl Database {
    /// Run `work` on the store's runtime and wait for it, bounded by the statement timeout.
    /// Waiting through a std channel (not the runtime's `block_on`) works from any thread,
    /// an async worker of the daemon's runtime included.
    pub(crate) fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Pool>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let timeout = self.pool.settings.statement_timeout;
        let future = work(Arc::clone(&self.pool));
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let result = match tokio::time::timeout(timeout, future).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::Unavailable(format!(
                    "no answer from the database within {} s",
                    timeout.as_secs()
                ))),
            };
            let _ = sender.send(result);
        });
        receiver
            .recv()
            .unwrap_or_else(|_| Err(StoreError::Unavailable("store task ended".to_owned())))
    }
}

impl Connections for Database {
    fn query(
        &self,
        sql: String,
        params: Vec<Param>,
    ) -> Result<Vec<tokio_postgres::Row>, DatabaseError> {
        self.run(|pool| async move {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            pool.with(async |c| c.query(&sql, &refs).await).await
        })
        .map_err(DatabaseError::from)
    }

    fn retain(&self, now: Timestamp, settings: StoreSettings) -> Result<Vec<i64>, DatabaseError> {
        self.run(|pool| async move {
            pool.with(async |c| retain_as_of(c, now, &settings).await)
                .await
        })
        .map_err(DatabaseError::from)
    }
}
