//! The `winrm/config` provider: Get/Put on the containers, Enumerate/Get/Put/Create/Delete on
//! listeners, delegated to the config tree's operations ([`ConfigBackend`]).
//!
//! Why a backend trait: the cfg XML mapping, validation and atomic writes live in
//! `wsman-config`; this provider only routes by URI and operation, and tells the owner of the
//! live configuration when a write succeeded (so listeners are reconciled at once).

use std::sync::{Arc, Mutex, MutexGuard};

use wsman_config::{Config, ConfigStore, Listener};
use wsman_proto::envelope::SelectorSet;
use wsman_proto::xml::Element;
use wsman_proto::{ns, Fault};

use crate::{Body, Context, Created, Filter, Item, Provider};

/// The config tree operations, by resource URI. Implemented over `wsman_config`'s store.
pub trait ConfigBackend: Send + Sync + 'static {
    /// The representation of a container or listener.
    fn get(&self, resource_uri: &str, selectors: &SelectorSet) -> Result<String, Fault>;
    /// Apply a (partial or whole) representation; returns the updated representation.
    fn put(
        &self,
        resource_uri: &str,
        selectors: &SelectorSet,
        body: Option<&Element>,
    ) -> Result<String, Fault>;
    /// Create an instance (listener); returns its key selectors.
    fn create(
        &self,
        resource_uri: &str,
        selectors: &SelectorSet,
        body: Option<&Element>,
    ) -> Result<Vec<(String, String)>, Fault>;
    fn delete(&self, resource_uri: &str, selectors: &SelectorSet) -> Result<(), Fault>;
    /// Every instance of an enumerable resource.
    fn enumerate(&self, resource_uri: &str) -> Result<Vec<Instance>, Fault>;
}

/// One instance of an enumerable config resource: its XML and key selectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub xml: String,
    pub selectors: Vec<(String, String)>,
}

/// Routes `http://schemas.microsoft.com/wbem/wsman/1/config[/...]` to a [`ConfigBackend`].
pub struct ConfigProvider<B> {
    backend: B,
}

impl<B: ConfigBackend> ConfigProvider<B> {
    pub fn new(backend: B) -> Self {
        Self { backend }
    }
}

/// Whether `uri` is the config root or below it (case-insensitive after the root, reference
/// §6.1: clients send `Listener`, `Service/certmapping`).
pub fn is_config_uri(uri: &str) -> bool {
    let root = ns::CONFIG;
    uri.len() >= root.len()
        && uri.is_char_boundary(root.len())
        && uri[..root.len()].eq_ignore_ascii_case(root)
        && (uri.len() == root.len() || uri[root.len()..].starts_with('/'))
}

impl<B: ConfigBackend> Provider for ConfigProvider<B> {
    fn handles(&self, resource_uri: &str) -> bool {
        is_config_uri(resource_uri)
    }

    fn get(&self, ctx: &Context<'_>) -> Result<Body, Fault> {
        self.backend
            .get(ctx.resource_uri(), &ctx.request.selectors)
            .map(Body::Xml)
    }

    fn put(&self, ctx: &Context<'_>) -> Result<Body, Fault> {
        self.backend
            .put(
                ctx.resource_uri(),
                &ctx.request.selectors,
                ctx.request.body.as_ref(),
            )
            .map(Body::Xml)
    }

    fn create(&self, ctx: &Context<'_>) -> Result<Created, Fault> {
        let selectors = self.backend.create(
            ctx.resource_uri(),
            &ctx.request.selectors,
            ctx.request.body.as_ref(),
        )?;
        Ok(Created {
            resource_uri: ctx.resource_uri().to_owned(),
            selectors,
        })
    }

    fn delete(&self, ctx: &Context<'_>) -> Result<(), Fault> {
        self.backend
            .delete(ctx.resource_uri(), &ctx.request.selectors)
    }

    fn enumerate(&self, ctx: &Context<'_>, _filter: Option<&Filter>) -> Result<Vec<Item>, Fault> {
        let uri = ctx.resource_uri();
        Ok(self
            .backend
            .enumerate(uri)?
            .into_iter()
            .map(|instance| Item::Xml {
                xml: instance.xml,
                resource_uri: uri.to_owned(),
                selectors: instance.selectors,
            })
            .collect())
    }
}

/// ListeningOn of a listener: the addresses the server really bound for it.
pub type ListeningOn = Arc<dyn Fn(&Listener) -> Vec<String> + Send + Sync>;
/// Called after every successful write with the new effective configuration, so the owner
/// of the live configuration applies it at once (listeners are reconciled).
pub type OnChange = Arc<dyn Fn(Arc<Config>) + Send + Sync>;

/// [`ConfigBackend`] over the shared [`ConfigStore`] (the daemon's live configuration).
pub struct StoreBackend {
    store: Arc<Mutex<ConfigStore>>,
    listening_on: ListeningOn,
    on_change: OnChange,
    /// Host name for self-signed certificates of HTTPS listeners created without one.
    host_name: String,
}

impl StoreBackend {
    pub fn new(
        store: Arc<Mutex<ConfigStore>>,
        listening_on: ListeningOn,
        on_change: OnChange,
        host_name: impl Into<String>,
    ) -> Self {
        Self {
            store,
            listening_on,
            on_change,
            host_name: host_name.into(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConfigStore> {
        // The store only replaces its state after a successful write, so a panic elsewhere
        // while the lock was held leaves it consistent.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands the new configuration on while the store is still locked, so that two writes
    /// are applied in the order they were made.
    fn changed(&self, store: MutexGuard<'_, ConfigStore>) {
        (self.on_change)(store.snapshot());
        drop(store);
    }
}

impl ConfigBackend for StoreBackend {
    fn get(&self, resource_uri: &str, selectors: &SelectorSet) -> Result<String, Fault> {
        let listening_on = &*self.listening_on;
        self.lock()
            .get_with_listening_on(resource_uri, selectors, listening_on)
    }

    fn put(
        &self,
        resource_uri: &str,
        selectors: &SelectorSet,
        body: Option<&Element>,
    ) -> Result<String, Fault> {
        let mut store = self.lock();
        let out = store.put(resource_uri, selectors, body)?;
        self.changed(store);
        Ok(out)
    }

    fn create(
        &self,
        resource_uri: &str,
        selectors: &SelectorSet,
        body: Option<&Element>,
    ) -> Result<Vec<(String, String)>, Fault> {
        let mut store = self.lock();
        let out = store.create(resource_uri, selectors, body, &self.host_name)?;
        self.changed(store);
        Ok(out)
    }

    fn delete(&self, resource_uri: &str, selectors: &SelectorSet) -> Result<(), Fault> {
        let mut store = self.lock();
        store.delete(resource_uri, selectors)?;
        self.changed(store);
        Ok(())
    }

    fn enumerate(&self, resource_uri: &str) -> Result<Vec<Instance>, Fault> {
        let listening_on = &*self.listening_on;
        Ok(self
            .lock()
            .enumerate(resource_uri, listening_on)?
            .into_iter()
            .map(|item| Instance {
                xml: item.xml,
                selectors: item.selectors,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_uris() {
        assert!(is_config_uri(
            "http://schemas.microsoft.com/wbem/wsman/1/config"
        ));
        assert!(is_config_uri(
            "http://schemas.microsoft.com/wbem/wsman/1/config/Listener"
        ));
        assert!(is_config_uri(
            "HTTP://schemas.microsoft.com/wbem/wsman/1/CONFIG/service/auth"
        ));
        assert!(!is_config_uri(
            "http://schemas.microsoft.com/wbem/wsman/1/configx"
        ));
        assert!(!is_config_uri(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
        ));
        assert!(!is_config_uri(
            "http://schemas.microsoft.com/wbem/wsman/1/con"
        ));
    }
}
