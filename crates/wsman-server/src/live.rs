//! The live configuration: the config store behind a lock, the server built on it, and the
//! loop that applies changes without a restart.
//!
//! Changes come from three places and take the same path ([`Server::apply`]): the files
//! changed on disk (checked every second, a few `stat` calls), SIGHUP (forwarded by the daemon
//! as a reload request), and remote Put/Create/Delete through the config provider. A reload
//! that fails is logged and the configuration in force is kept.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use wsman_config::{Config, ConfigError, ConfigStore, Listener};
use wsman_providers::config::{ConfigProvider, StoreBackend};
use wsman_providers::Registry;

use crate::auth::CredentialVerifier;
use crate::server::{ListenerTable, Server, ServerParts};
use crate::system::settings_from_config;

/// How often the config files are checked for changes.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long connections get to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The service with its live configuration.
pub struct LiveService {
    server: Arc<Server>,
    store: Arc<Mutex<ConfigStore>>,
    default_product_version: String,
}

impl LiveService {
    /// Add the configuration provider over `store` to `registry` (the daemon's other
    /// providers) and start the server with its configuration. `host_name` names self-signed
    /// certificates of HTTPS listeners created remotely.
    pub async fn start(
        mut registry: Registry,
        store: ConfigStore,
        verifier: Arc<CredentialVerifier>,
        default_product_version: String,
        host_name: String,
    ) -> Self {
        let config_dir: PathBuf = store.dir().to_owned();
        let settings = settings_from_config(store.config(), &default_product_version);
        let store = Arc::new(Mutex::new(store));
        let table = Arc::new(ListenerTable::default());
        let (written_tx, mut written) = mpsc::unbounded_channel::<Arc<Config>>();
        let listening_table = Arc::clone(&table);
        let backend = StoreBackend::new(
            Arc::clone(&store),
            Arc::new(move |l: &Listener| {
                listening_table.listening_on(&l.address.to_string(), l.transport)
            }),
            Arc::new(move |config: Arc<Config>| {
                let _ = written_tx.send(config);
            }),
            host_name,
        );
        registry.register(wsman_proto::ns::CONFIG, ConfigProvider::new(backend));
        let server = Server::start(ServerParts {
            config_dir,
            settings,
            verifier,
            registry,
            listener_table: table,
        })
        .await;
        // Remote writes apply at once, whether or not `run` drives the file checks.
        let applier = Arc::clone(&server);
        let version = default_product_version.clone();
        tokio::spawn(async move {
            while let Some(config) = written.recv().await {
                tracing::info!("configuration changed by a remote request: applying");
                if config.listeners.is_empty() {
                    tracing::warn!("no listener is left: the service cannot be reached remotely until one is created locally (winrm create ... --config-dir)");
                }
                applier.apply(settings_from_config(&config, &version)).await;
            }
        });
        Self {
            server,
            store,
            default_product_version,
        }
    }

    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }

    /// Re-read the files if they changed and apply them. `Ok(true)` when applied.
    pub async fn check_files(&self) -> Result<bool, ConfigError> {
        let snapshot = {
            let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
            if !store.reload_if_changed()? {
                return Ok(false);
            }
            store.snapshot()
        };
        self.apply(&snapshot).await;
        Ok(true)
    }

    async fn apply(&self, config: &Config) {
        let settings = settings_from_config(config, &self.default_product_version);
        self.server.apply(settings).await;
    }

    /// Serve until `shutdown` resolves. `reload_requests` carries SIGHUP; `notify` receives
    /// the systemd states (`RELOADING=1`, `READY=1`, `STOPPING=1`).
    pub async fn run(
        self,
        mut reload_requests: mpsc::Receiver<()>,
        shutdown: impl Future<Output = ()>,
        notify: &(dyn Fn(&str) + Send + Sync),
    ) {
        let mut tick = tokio::time::interval(CHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => self.reload_logged(false).await,
                Some(()) = reload_requests.recv() => {
                    notify("RELOADING=1");
                    self.reload_logged(true).await;
                    notify("READY=1");
                }
            }
        }
        notify("STOPPING=1");
        tracing::info!("shutting down");
        self.server.shutdown().await;
        self.server.drain(SHUTDOWN_GRACE).await;
    }

    async fn reload_logged(&self, requested: bool) {
        match self.check_files().await {
            Ok(true) => tracing::info!("configuration reloaded"),
            Ok(false) if requested => tracing::info!("reload requested: configuration unchanged"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "configuration not reloaded; keeping the one in force")
            }
        }
    }
}
