//! The configuration tree's engine (`winrm/config`, over the live store: [`crate::live`]).
//! It follows RootSDDL, as Windows' own configuration does.

use wsman_providers::Provider;

use super::TransferEngine;
use crate::engine::{Call, EndpointKind, Engine, Family, Key, ReplyFuture, Target};
use crate::engines::Services;

/// The configuration tree's engine: the transfer engine over the tree's provider, with
/// RootSDDL's access (the default).
pub struct ConfigEngine(TransferEngine);

impl ConfigEngine {
    /// The engine over `provider` (the tree, or a test's), with the shared enumerations.
    pub fn new(provider: impl Provider, services: &Services) -> Self {
        Self(TransferEngine::new(provider, services, None))
    }
}

impl Engine for ConfigEngine {
    fn keys(&self) -> Vec<Key> {
        vec![(EndpointKind::WsMan, Target::Family(Family::Config))]
    }

    fn handle<'a>(&'a self, call: Call<'a>) -> ReplyFuture<'a> {
        Box::pin(self.0.serve(call))
    }
}
