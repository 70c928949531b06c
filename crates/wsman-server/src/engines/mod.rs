//! The engines, one wing: each engine's adapter ([`crate::engine::Engine`]: the keys it
//! serves, the access its requests need from the live settings, its answer) and its
//! implementation, side by side: the transfer engine over one provider ([`transfer`], for the
//! configuration tree and the CIM classes), the WinRS and PowerShell shells ([`shells`]),
//! WS-Eventing on the event logs ([`eventing`]) and the collector's adapter ([`collector`]).
//! What they share to answer: enumeration [`paging`]; each answers a typed
//! [`crate::engine::Answer`], whose envelope [`crate::render`] writes. Each
//! engine is one type made by its `new` from the [`Services`] they share, which are made
//! first; the daemon binary builds the catalog from them in one function.

use std::sync::Arc;

use wsman_providers::Launcher;

use crate::enumeration::EnumerationStore;
use shells::ShellService;

pub mod collector;
pub mod event_store;
pub mod eventing;
pub mod paging;
pub mod shells;
pub mod transfer;

#[cfg(test)]
mod tests;

/// What the engines share, made once before them ([`crate::live::Starting::services`]) and
/// handed to each engine's `new`; the server keeps them for their limits and census.
#[derive(Clone, Default)]
pub struct Services {
    /// The enumeration contexts of every engine's Enumerate and Pull (bounded per user and in
    /// all, whichever engine opened them).
    pub enumerations: Arc<EnumerationStore>,
    /// The WinRS shells, when they started: what the shell engine serves, and how CIM methods
    /// start programs.
    pub shells: Option<ShellService>,
}

impl Services {
    /// How methods start programs (the shells' spawn); `None`: they cannot.
    pub fn launcher(&self) -> Option<Arc<dyn Launcher>> {
        let shells = self.shells.clone()?;
        Some(Arc::new(shells))
    }
}
