//! The event store as a subscription names it (`type = "store"`, no settings: the store is
//! the collector's, `[store]` of `collector.toml`). No output is started for it: a delivery
//! makes the batch's records and hands them to the claim's commit (the collector's `delivery`), which
//! writes them in the bookmark's transaction (its `store::events`).

use std::sync::Arc;

use serde::Deserialize;

use super::{OutputSettingError, OutputType, StartEnv, Started};
use crate::output_policy::{OutputsPolicy, PolicyError};

/// `[[outputs]] type = "store"`: nothing to set.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {}

impl OutputType for StoreConfig {
    const KIND: &'static str = "store";
    type Pool = ();
    type StartError = std::convert::Infallible;

    /// The searched fields are read in one pass over each event's text
    /// (the collector's `StoreRecord::of`): no tree.
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

    /// Nothing to start: the claim's commit writes the events.
    fn start(&self, _: &Arc<()>, _: &StartEnv<'_>) -> Result<Started, Self::StartError> {
        Ok(None)
    }
}
