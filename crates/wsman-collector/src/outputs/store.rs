//! The event store as an output (`type = "store"`, no settings: the store is the collector's,
//! `[store]` of `collector.toml`). It prepares a batch's records and leaves them for the
//! bookmark's commit, which writes them in its transaction ([`crate::store::events`]): `write`
//! returning `Ok` means the records are ready, not stored, and the delivery is acknowledged
//! only after that commit is durable.

use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use wsman_events::Timestamp;

use super::{Batch, Output, OutputError, OutputSettingError, OutputType, Pool, StartEnv};
use crate::output_policy::{OutputsPolicy, PolicyError};
use crate::store::events::{EventStore, StoreRecord};

/// `[[outputs]] type = "store"`: nothing to set.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {}

/// The collector's event store, handed over when the collector opens its bookmarks
/// ([`StorePool::attach`]): in SQLite or PostgreSQL, as the bookmarks are.
#[derive(Default)]
pub struct StorePool {
    events: OnceLock<Arc<EventStore>>,
}

impl StorePool {
    /// The store the outputs of this collector write to (the first one attached stays).
    pub fn attach(&self, events: Arc<EventStore>) {
        let _ = self.events.set(events);
    }
}

impl Pool for StorePool {}

/// Why a store output did not start.
#[derive(Debug, thiserror::Error)]
pub enum StoreStartError {
    #[error("the event store is not open (it is opened with the bookmark store)")]
    NoStore,
}

impl OutputType for StoreConfig {
    const KIND: &'static str = "store";
    type Pool = StorePool;
    type StartError = StoreStartError;

    /// The searched fields are read in one pass over each event's text
    /// ([`StoreRecord::of`]): no tree.
    fn needs_tree(&self) -> bool {
        false
    }

    fn check(&self) -> Result<(), OutputSettingError> {
        Ok(())
    }

    /// The node's own store, bounded by its own retention: nothing a stored subscription can
    /// point elsewhere.
    fn admit(&self, _: &OutputsPolicy) -> Result<(), PolicyError> {
        Ok(())
    }

    fn summary(&self) -> String {
        "event store".into()
    }

    fn describe(&self, subscription: &str) -> String {
        format!("event store output of {subscription}")
    }

    fn start(
        &self,
        pool: &Arc<StorePool>,
        _: &StartEnv<'_>,
    ) -> Result<Arc<dyn Output>, StoreStartError> {
        let events = pool.events.get().ok_or(StoreStartError::NoStore)?;
        Ok(Arc::new(StoreOutput::new(Arc::clone(events))))
    }
}

/// The output of one subscription into the collector's event store.
pub struct StoreOutput {
    events: Arc<EventStore>,
}

impl StoreOutput {
    pub fn new(events: Arc<EventStore>) -> StoreOutput {
        StoreOutput { events }
    }
}

impl Output for StoreOutput {
    fn describe(&self) -> String {
        "event store".into()
    }

    fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        let received = Timestamp::parse_system_time(batch.received)
            .unwrap_or_else(|| Timestamp::from_system_time(std::time::SystemTime::now()));
        let records = batch
            .events
            .iter()
            .map(|event| StoreRecord::of(event, batch.subscription, received))
            .collect::<Vec<_>>();
        self.events.admit(batch.client, &records)?;
        self.events.stash(batch.client, batch.subscription, records);
        Ok(())
    }
}
