//! The live configuration: the config store behind a lock, the server built on it, and the
//! loop that applies changes without a restart.
//!
//! Changes come from four places and take the same path ([`Server::apply`]): the files
//! changed on disk (checked every second, a few `stat` calls), a local `winrm` that wrote
//! them and asks on the control socket ([`crate::control`]) for them to apply before it
//! returns, SIGHUP (forwarded by the daemon
//! as a reload request; it also reads the Kerberos keytab and `kerberos.toml` again:
//! [`Server::reload_kerberos`], and every engine its own configuration:
//! [`Server::reload_engines`], so the collector follows `subscriptions/`), and remote
//! Put/Create/Delete through the config provider, whose change is published before its answer
//! is sent (the next request sees it; listeners are reconciled right after). A reload that fails is logged and the configuration in force is
//! kept.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use wsman_config::{Config, ConfigError, ConfigStore, Listener};
use wsman_providers::config::{ConfigProvider, StoreBackend};

use crate::auth::basic::CredentialVerifier;
use crate::catalog::Catalog;
use crate::control::{ApplyRequest, ControlSocket};
use crate::engines::shells::ShellService;
use crate::engines::Services;
use crate::server::{ListenerTable, Server, ServerParts};
use crate::settings::ServiceSettings;
use crate::system::settings_from_config;
use crate::workers::ConnectionWorkers;

/// How often the config files are checked for changes.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long connections get to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The service with its live configuration.
pub struct LiveService {
    server: Arc<Server>,
    store: Arc<Mutex<ConfigStore>>,
    default_product_version: String,
    /// Served from the start, so that it is there once the listeners are; its requests
    /// wait for [`Self::run`].
    control: Option<ControlSocket>,
    apply_requests: mpsc::Receiver<ApplyRequest>,
}

/// A live service being built: its store, its settings and what the engines share exist, so
/// that the daemon can make every engine for the catalog it builds; [`Starting::start`] then serves that catalog.
pub struct Starting {
    config_dir: PathBuf,
    store: Arc<Mutex<ConfigStore>>,
    settings: ServiceSettings,
    default_product_version: String,
    host_name: String,
    table: Arc<ListenerTable>,
    /// The server does not exist yet when its config provider is made.
    server_cell: Arc<OnceLock<Weak<Server>>>,
    written_tx: mpsc::UnboundedSender<Arc<Config>>,
    written: mpsc::UnboundedReceiver<Arc<Config>>,
    control: Option<ControlSocket>,
    apply_requests: mpsc::Receiver<ApplyRequest>,
    /// Made on first ask ([`Self::services`]).
    services: Option<Services>,
    /// Where the listeners serve their connections ([`Self::serve_connections_on`]).
    connection_workers: Option<Arc<ConnectionWorkers>>,
}

impl LiveService {
    /// The service over `store`, to be started with the catalog the daemon builds.
    /// `host_name` names self-signed certificates of HTTPS listeners created remotely.
    pub fn prepare(
        store: ConfigStore,
        default_product_version: String,
        host_name: String,
    ) -> Starting {
        let config_dir: PathBuf = store.dir().to_owned();
        let (control, apply_requests) = control_socket(&config_dir);
        let settings = settings_from_config(store.config(), &default_product_version);
        let (written_tx, written) = mpsc::unbounded_channel::<Arc<Config>>();
        Starting {
            config_dir,
            store: Arc::new(Mutex::new(store)),
            settings,
            default_product_version,
            host_name,
            table: Arc::new(ListenerTable::default()),
            server_cell: Arc::new(OnceLock::new()),
            written_tx,
            written,
            control,
            apply_requests,
            services: None,
            connection_workers: None,
        }
    }
}

impl Starting {
    /// The configuration tree's provider over the store: remote writes are published before
    /// their answer is sent.
    pub fn config_provider(&self) -> ConfigProvider<StoreBackend> {
        let listening_table = Arc::clone(&self.table);
        let publish_to = Arc::clone(&self.server_cell);
        let publish_version = self.default_product_version.clone();
        let written_tx = self.written_tx.clone();
        let backend = StoreBackend::new(
            Arc::clone(&self.store),
            Arc::new(move |l: &Listener| {
                listening_table.listening_on(&l.address.to_string(), l.transport)
            }),
            Arc::new(move |config: Arc<Config>| {
                // Published here, before the write's answer is sent; the listeners (which
                // bind sockets) are reconciled by the task `start` spawns.
                if let Some(server) = publish_to.get().and_then(Weak::upgrade) {
                    server.publish(settings_from_config(&config, &publish_version));
                }
                let _ = written_tx.send(config);
            }),
            self.host_name.clone(),
        );
        ConfigProvider::new(backend)
    }

    /// Serve the listeners' connections on `workers`, each whole on one of their threads,
    /// instead of on the runtime that runs the service.
    pub fn serve_connections_on(&mut self, workers: Arc<ConnectionWorkers>) {
        self.connection_workers = Some(workers);
    }

    /// What the engines share, made once before them: the enumeration contexts, and the
    /// WinRS shells under the configured limits (`None` when they could not start, logged).
    pub fn services(&mut self) -> Services {
        let settings = &self.settings;
        self.services
            .get_or_insert_with(|| Services {
                enumerations: Arc::default(),
                shells: match ShellService::start(settings.winrs.clone()) {
                    Ok(shells) => {
                        shells.powershell().set_pwsh(settings.pwsh.clone());
                        Some(shells)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "WinRS shells are not available");
                        None
                    }
                },
            })
            .clone()
    }

    /// Start the server over `catalog` (built by the daemon with every engine).
    pub async fn start(
        mut self,
        catalog: Catalog,
        verifier: Arc<CredentialVerifier>,
    ) -> LiveService {
        let services = self.services();
        let server = Server::start(ServerParts {
            config_dir: self.config_dir,
            settings: self.settings,
            verifier,
            catalog,
            listener_table: self.table,
            services,
            connection_workers: self.connection_workers,
        })
        .await;
        let _ = self.server_cell.set(Arc::downgrade(&server));
        // Remote writes are published before their answer (above); their listeners are
        // reconciled here, whether or not `run` drives the file checks.
        // (Published again here: a write answered before `server_cell` was set is not lost.)
        let applier = Arc::clone(&server);
        let version = self.default_product_version.clone();
        let mut written = self.written;
        tokio::spawn(async move {
            while let Some(config) = written.recv().await {
                tracing::info!("configuration changed by a remote request: applying");
                if config.listeners.is_empty() {
                    tracing::warn!("no listener is left: the service cannot be reached remotely until one is created locally (winrm create ... --config-dir)");
                }
                applier.apply(settings_from_config(&config, &version)).await;
            }
        });
        LiveService {
            server,
            store: self.store,
            default_product_version: self.default_product_version,
            control: self.control,
            apply_requests: self.apply_requests,
        }
    }
}

impl LiveService {
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

    /// Apply the files as they are now (a local `winrm` asked on the control socket): `Err`
    /// with the reason when they do not load, even if they failed before.
    pub async fn apply_files_now(&self) -> Result<(), ConfigError> {
        let snapshot = {
            let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
            if !store.reload_now()? {
                return Ok(());
            }
            store.snapshot()
        };
        self.apply(&snapshot).await;
        tracing::info!("configuration reloaded (asked on the control socket)");
        Ok(())
    }

    async fn apply(&self, config: &Config) {
        let settings = settings_from_config(config, &self.default_product_version);
        self.server.apply(settings).await;
    }

    /// Serve until `shutdown` resolves. `reload_requests` carries SIGHUP; `notify` receives
    /// the systemd states (`RELOADING=1`, `READY=1`, `STOPPING=1`).
    pub async fn run(
        mut self,
        mut reload_requests: mpsc::Receiver<()>,
        shutdown: impl Future<Output = ()>,
        notify: &(dyn Fn(&str) + Send + Sync),
    ) {
        let mut tick = tokio::time::interval(CHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Answered here, between two file checks, so an answer never leaves while a check
        // that read the same files is still applying them.
        let control = self.control.take();
        let mut apply_requests = std::mem::replace(&mut self.apply_requests, mpsc::channel(1).1);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => self.reload_logged(false).await,
                Some(reply) = apply_requests.recv() => {
                    let outcome = self.apply_files_now().await.map_err(|e| {
                        tracing::error!(error = %e, "configuration not applied on request; keeping the one in force");
                        wsman_config::control::Refused(e.to_string())
                    });
                    let _ = reply.send(outcome);
                }
                Some(()) = reload_requests.recv() => {
                    notify("RELOADING=1");
                    self.refresh_groups().await;
                    self.server.reload_kerberos().await;
                    self.server.reload_engines().await;
                    self.reload_logged(true).await;
                    notify("READY=1");
                }
            }
        }
        drop(control);
        notify("STOPPING=1");
        tracing::info!("shutting down");
        self.server.shutdown().await;
        self.server.drain(SHUTDOWN_GRACE).await;
    }

    /// Look the WMI users, remote users and event readers groups up again (SIGHUP): a group
    /// created since the start counts from this reload, as the reload's other changes do. A
    /// lookup that fails is logged and the gid in force kept.
    async fn refresh_groups(&self) {
        let looked_up = tokio::task::spawn_blocking(|| {
            [
                wsman_config::WMI_USERS_GROUP,
                wsman_config::REMOTE_USERS_GROUP,
                wsman_config::EVENT_READERS_GROUP,
            ]
            .map(|group| {
                wsman_os::group_id(group)
                    .map_err(|error| tracing::warn!(group, %error, "group not looked up again; keeping its gid in force"))
                    .ok()
            })
        })
        .await;
        let Ok([wmi, remote, readers]) = looked_up else {
            return;
        };
        let changed = {
            let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
            let before = store.snapshot();
            if let Some(gid) = wmi {
                store.set_wmi_users_gid(gid);
            }
            if let Some(gid) = remote {
                store.set_remote_users_gid(gid);
            }
            if let Some(gid) = readers {
                store.set_event_readers_gid(gid);
            }
            let after = store.snapshot();
            let gids = |c: &Config| {
                let s = &c.security;
                (s.wmi_users_gid, s.remote_users_gid, s.event_readers_gid)
            };
            (gids(&before) != gids(&after)).then_some(after)
        };
        if let Some(config) = changed {
            self.apply(&config).await;
            tracing::info!(
                wmi_users_gid = ?config.security.wmi_users_gid,
                remote_users_gid = ?config.security.remote_users_gid,
                event_readers_gid = ?config.security.event_readers_gid,
                "the WMI users, remote users and event readers groups looked up again"
            );
        }
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

/// Serve the control socket of the config dir; `None` (logged) when it cannot be.
fn control_socket(dir: &std::path::Path) -> (Option<ControlSocket>, mpsc::Receiver<ApplyRequest>) {
    let (tx, rx) = mpsc::channel(16);
    match crate::control::serve(dir, tx) {
        Ok(socket) => (Some(socket), rx),
        Err(e) => {
            tracing::warn!(error = %e, "no control socket: a local winrm cannot wait for its changes to apply");
            (None, rx)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use wsman_proto::xml::Limits;

    use super::*;
    use crate::auth::NoSystemUsers;
    use crate::engine::Exchange;
    use crate::engines::transfer::config::ConfigEngine;

    /// A CA certificate installed as `DIR/certs/THUMB.crt`: its thumbprint.
    fn install_issuer(dir: &std::path::Path) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let thumbprint = wsman_config::certs::thumbprint_of_der(ca.der());
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::write(certs.join(format!("{thumbprint}.crt")), ca.pem()).unwrap();
        thumbprint
    }

    fn create_mapping(issuer: &str) -> Arc<wsman_proto::Request> {
        let xml = format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
             xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
             xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header>\
             <a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</a:Action>\
             <a:MessageID>uuid:1</a:MessageID>\
             <w:ResourceURI>{uri}</w:ResourceURI><w:SelectorSet>\
             <w:Selector Name=\"Issuer\">{issuer}</w:Selector>\
             <w:Selector Name=\"Subject\">*@example</w:Selector>\
             <w:Selector Name=\"URI\">*</w:Selector></w:SelectorSet></s:Header><s:Body>\
             <cfg:CertMapping xmlns:cfg=\"{uri}\"><cfg:UserName>root</cfg:UserName>\
             <cfg:Enabled>true</cfg:Enabled></cfg:CertMapping></s:Body></s:Envelope>",
            uri = wsman_config::CERTMAPPING_URI
        );
        Arc::new(wsman_proto::parse_request(&xml, &Limits::default()).unwrap())
    }

    /// The answer to a remote write leaves only once the next request sees the change: a
    /// certificate mapping created remotely authenticates the very next request, even when
    /// every async worker is busy (here the only one is held while the Create runs).
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_remote_write_applies_before_its_answer() {
        let dir = tempfile::tempdir().unwrap();
        let issuer = install_issuer(dir.path());
        let store = ConfigStore::open(dir.path()).unwrap();
        let verifier = Arc::new(CredentialVerifier::with_system(
            dir.path(),
            Box::new(NoSystemUsers),
        ));
        let mut starting = LiveService::prepare(store, "OS: test".to_owned(), "host".to_owned());
        let services = starting.services();
        let config = ConfigEngine::new(starting.config_provider(), &services);
        let mut catalog = Catalog::new();
        catalog.insert(config);
        let service = starting.start(catalog, verifier).await;
        assert!(service.server().settings().cert_mappings.is_empty());

        // Hold the one worker: whatever the write hands to another task waits.
        let (held_tx, held) = mpsc::channel();
        let holder = tokio::spawn(async move {
            held_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(1500));
        });
        held.recv().unwrap();
        let settings = service.server().settings();
        let exchange = Exchange {
            settings: &settings,
            address: "http://host:5985/wsman",
        };
        let (request, caller) = (create_mapping(&issuer), wsman_providers::Caller::default());
        let arrival = crate::catalog::Arrival {
            endpoint: &crate::catalog::Endpoint::WsMan,
            caller: &caller,
            proof: None,
            wire_length: 0,
        };
        let catalog = service.server().catalog();
        let routed = catalog.route(arrival.endpoint, &request, &settings);
        let created = routed.serve(request, exchange, arrival).await;
        assert!(created.is_ok(), "{:?}", created.err());
        let mappings = service.server().settings().cert_mappings.clone();
        assert_eq!(
            mappings.len(),
            1,
            "the Create was answered before its mapping applied"
        );
        assert_eq!(mappings[0].issuer, issuer);
        holder.await.unwrap();
    }
}
