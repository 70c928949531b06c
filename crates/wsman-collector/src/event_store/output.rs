//! The store as an output (`type = "store"`): it prepares a batch's records and leaves them
//! for the bookmark's commit, which writes them in its transaction ([`super`]). `write`
//! returning `Ok` means the records are ready, not stored: the delivery is acknowledged only
//! after the bookmark's commit, which stores them, is durable.

use std::sync::Arc;

use wsman_events::Timestamp;

use super::{EventStore, StoreRecord};
use crate::outputs::{Batch, Output, OutputError};

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
            .collect();
        self.events.stash(batch.client, batch.subscription, records);
        Ok(())
    }
}
