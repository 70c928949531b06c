//! The configuration tree's engine (`winrm/config`, over the live store: [`crate::live`]).
//! It follows RootSDDL, as Windows' own configuration does.

use std::sync::Arc;

use wsman_proto::Request;
use wsman_providers::config::{ConfigProvider, StoreBackend};

use super::TransferEngine;
use crate::catalog::Family;
use crate::engine::Access;
use crate::enumeration::EnumerationStore;
use crate::settings::ServiceSettings;

/// The engine of the configuration tree over `provider`.
pub fn engine(
    provider: ConfigProvider<StoreBackend>,
    enumerations: &Arc<EnumerationStore>,
) -> TransferEngine {
    TransferEngine::new(Family::Config, provider, enumerations).with_access(access)
}

/// RootSDDL grants the operation's right.
pub fn access(_request: &Request, _settings: &ServiceSettings) -> Access {
    Access::Service
}
