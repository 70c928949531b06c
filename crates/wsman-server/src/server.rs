//! The running service: settings publication and live listener reconciliation.
//!
//! [`Server::apply`] publishes a new settings snapshot (seen by the next request on every
//! connection) and reconciles listeners: bindings that did not change keep running with their
//! connections untouched; removed or changed ones stop accepting and their connections finish
//! the request in flight; new ones are bound. What is really bound is kept in a
//! [`ListenerTable`] for `ListeningOn`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::addresses;
use crate::auth::basic::CredentialVerifier;
use crate::auth::services::AuthServices;
use crate::catalog::Catalog;
use crate::connection::Shared;
use crate::connection_limit::OpenFileLimit;
use crate::engines::shells::ShellService;
use crate::engines::Services;
use crate::listener::{accept_loop, ListenerRuntime};
use crate::settings::{Listener, ServiceSettings, Transport};
use crate::tls;
use crate::workers::ConnectionWorkers;
use tokio::net::TcpListener;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use wsman_front::slots::ConnectionSlots;
use wsman_front::tls::ServedCertificate;

/// One socket a configured listener wants, with everything that shapes how it serves.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Binding {
    socket: SocketAddr,
    transport: Transport,
    path: String,
    thumbprint: String,
    /// The configured Address (the listener's key with the transport).
    address: String,
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    bound: SocketAddr,
}

/// What is bound right now, per configured listener (Address, Transport).
#[derive(Default)]
pub struct ListenerTable {
    bound: RwLock<Vec<(String, Transport, SocketAddr)>>,
}

impl ListenerTable {
    /// The IP addresses a listener (Address, Transport) is really listening on.
    pub fn listening_on(&self, address: &str, transport: Transport) -> Vec<String> {
        let bound = self.bound.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<String> = Vec::new();
        for (_, _, socket) in bound
            .iter()
            .filter(|(a, t, _)| *t == transport && a.eq_ignore_ascii_case(address))
        {
            let ip = socket.ip();
            if ip.is_unspecified() {
                // `*`: report the host's addresses of that family, as Windows does.
                out.extend(
                    addresses::local_addresses()
                        .into_iter()
                        .filter(|l| l.is_ipv4() == ip.is_ipv4())
                        .map(|l| l.to_string()),
                );
            } else {
                out.push(ip.to_string());
            }
        }
        out.dedup();
        out
    }

    /// Every bound socket (tests and the startup log use it).
    pub fn sockets(&self) -> Vec<(String, Transport, SocketAddr)> {
        self.bound.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, entries: Vec<(String, Transport, SocketAddr)>) {
        *self.bound.write().unwrap_or_else(|p| p.into_inner()) = entries;
    }
}

/// Everything the server is built from.
pub struct ServerParts {
    /// DIR: certificates are read from `DIR/certs`.
    pub config_dir: PathBuf,
    pub settings: ServiceSettings,
    pub verifier: Arc<CredentialVerifier>,
    /// Every engine the service serves.
    pub catalog: Catalog,
    /// What the engines share: the enumeration contexts (counted) and the WinRS shells, when
    /// they started (their limits follow the settings).
    pub services: Services,
    /// Shared with the config provider, which reports ListeningOn from it.
    pub listener_table: Arc<ListenerTable>,
    /// Where the listeners serve their connections (`None`: on the runtime of their accept
    /// loops).
    pub connection_workers: Option<Arc<ConnectionWorkers>>,
}

/// The running service.
pub struct Server {
    config_dir: PathBuf,
    settings_tx: watch::Sender<Arc<ServiceSettings>>,
    shared: Arc<Shared>,
    slots: Arc<ConnectionSlots>,
    open_files: OpenFileLimit,
    table: Arc<ListenerTable>,
    running: Mutex<HashMap<Binding, Running>>,
    /// What the engines share (the shells' limits follow the settings).
    services: Services,
    connection_workers: Option<Arc<ConnectionWorkers>>,
}

impl Server {
    /// Publish the settings and bind the configured listeners. Listeners that cannot be bound
    /// are logged and skipped (the others still serve).
    pub async fn start(parts: ServerParts) -> Arc<Self> {
        let (catalog, services) = (parts.catalog, parts.services);
        // Blocking (reads the keytab), once at start.
        let kerberos = crate::auth::kerberos::KerberosService::load(&parts.config_dir);
        let mut settings = parts.settings;
        settings.kerberos_keytab = kerberos.is_some();
        crate::connection_limit::raise_open_file_limit();
        let slots = Arc::new(ConnectionSlots::default());
        let open_files = OpenFileLimit::default();
        open_files.check(&slots, settings.max_connections);
        let (settings_tx, settings_rx) = watch::channel(Arc::new(settings));
        let shared = Arc::new(Shared {
            settings: settings_rx,
            catalog: Arc::new(catalog),
            auth: Arc::new(AuthServices::new(
                parts.config_dir.clone(),
                parts.verifier,
                kerberos,
            )),
            metrics: Arc::new(crate::metrics::Metrics::default()),
            identify: crate::identify::IdentifyCache::default(),
        });
        let server = Arc::new(Self {
            config_dir: parts.config_dir,
            settings_tx,
            shared,
            slots,
            open_files,
            table: parts.listener_table,
            running: Mutex::new(HashMap::new()),
            services,
            connection_workers: parts.connection_workers,
        });
        server.reconcile().await;
        server
    }

    /// The current settings snapshot.
    pub fn settings(&self) -> Arc<ServiceSettings> {
        Arc::clone(&self.settings_tx.borrow())
    }

    /// What is bound.
    pub fn listener_table(&self) -> &Arc<ListenerTable> {
        &self.table
    }

    /// Returns once the service served connections and then had none open for `quiet`
    /// ([`ConnectionSlots::gone_idle`]).
    pub async fn gone_idle(&self, quiet: std::time::Duration) {
        self.slots.gone_idle(quiet).await;
    }

    /// Open connections across all listeners.
    pub fn open_connections(&self) -> usize {
        self.slots.open_connections()
    }

    /// Apply new settings live: [`Self::publish`], then reconcile the listeners.
    pub async fn apply(&self, settings: ServiceSettings) {
        self.publish(settings);
        self.reconcile().await;
    }

    /// Publish new settings: every request that starts from now on sees them (mappings,
    /// authentication switches, limits). Synchronous, so that the answer to a remote write
    /// leaves only after its change applies; listeners follow in [`Self::reconcile`].
    pub fn publish(&self, mut settings: ServiceSettings) {
        settings.kerberos_keytab = self.shared.auth.kerberos().is_some();
        if let Some(shells) = &self.services.shells {
            shells.set_limits(settings.winrs.clone());
            shells.powershell().set_pwsh(settings.pwsh.clone());
        }
        self.open_files.check(&self.slots, settings.max_connections);
        self.settings_tx.send_replace(Arc::new(settings));
    }

    /// Stop every listener (connections finish their request in flight and close), then
    /// end every shell and its processes.
    pub async fn shutdown(&self) {
        // First, so that requests waiting on an outside system (a Kafka broker) are answered
        // before the listeners wait for them.
        let catalog = Arc::clone(&self.shared.catalog);
        let _ = tokio::task::spawn_blocking(move || catalog.shutdown()).await;
        let mut running = self.running.lock().await;
        for (_, r) in running.drain() {
            let _ = r.stop.send(true);
            let _ = r.task.await;
        }
        self.table.set(Vec::new());
        if let Some(shells) = &self.services.shells {
            shells.manager().shutdown().await;
        }
    }

    /// Every engine reads its own configuration again (SIGHUP): the collector starts, stops
    /// or reads its subscriptions and reopens its output files.
    pub async fn reload_engines(&self) {
        let catalog = Arc::clone(&self.shared.catalog);
        let _ = tokio::task::spawn_blocking(move || catalog.reload()).await;
    }

    /// Read `DIR/krb5.keytab` and `DIR/kerberos.toml` again (SIGHUP): new handshakes use
    /// what they say; handshakes under way and established contexts keep theirs. A file
    /// that is wrong is refused with the reason logged and the acceptor in force is kept.
    pub async fn reload_kerberos(&self) {
        let config_dir = self.config_dir.clone();
        let read = tokio::task::spawn_blocking(move || {
            crate::auth::kerberos::KerberosService::read(&config_dir)
        })
        .await
        .unwrap_or_else(|e| Err(e.into()));
        match read {
            Ok(kerberos) => {
                let on = kerberos.is_some();
                self.shared.auth.set_kerberos(kerberos);
                // Kerberos' challenges and security profiles follow the keytab.
                self.publish((*self.settings()).clone());
                tracing::info!(kerberos = on, "Kerberos configuration reloaded");
            }
            Err(reason) => {
                let keytab = self.config_dir.join(crate::auth::kerberos::KEYTAB_FILE);
                tracing::error!(keytab = %keytab.display(), %reason, "Kerberos configuration not reloaded; keeping the one in force");
            }
        }
    }

    /// The metrics text ([`crate::metrics`]): what the pipeline recorded and the gauges as
    /// they are now.
    pub fn metrics_text(&self) -> String {
        let settings = self.settings();
        let throttle = self
            .shared
            .auth
            .login_throttle
            .state(&settings.access.throttle);
        let (shells, commands) = self
            .shells()
            .map_or((0, 0), |shells| shells.manager().census());
        let gauges = crate::metrics::Gauges {
            open_connections: self.open_connections(),
            shells,
            commands,
            enumeration_contexts: self.services.enumerations.len(),
            failed_login_addresses: throttle.addresses,
            delayed_login_addresses: throttle.delayed,
            authentications: self.shared.auth.login_throttle.results(),
        };
        let mut text = self.shared.metrics.render(&gauges);
        text.push_str(&self.shared.catalog.metrics_text());
        text
    }

    /// The catalog every request is dispatched through.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.shared.catalog
    }

    /// The WinRS shell subsystem, when it could be started.
    pub fn shells(&self) -> Option<&ShellService> {
        self.services.shells.as_ref()
    }

    /// Wait until no connection is open, at most `limit`.
    pub async fn drain(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.open_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Bind the listeners the settings in force want and stop the others.
    pub async fn reconcile(&self) {
        let settings = self.settings();
        let wanted = self.wanted_bindings(&settings);
        let mut running = self.running.lock().await;
        let stale: Vec<Binding> = running
            .keys()
            .filter(|b| !wanted.contains(b))
            .cloned()
            .collect();
        for binding in stale {
            if let Some(r) = running.remove(&binding) {
                let _ = r.stop.send(true);
                let _ = r.task.await;
                tracing::info!(address = %binding.socket, transport = binding.transport.as_str(), "listener stopped");
            }
        }
        for binding in wanted {
            if running.contains_key(&binding) {
                continue;
            }
            match self.bind(&binding) {
                Ok(r) => {
                    tracing::info!(address = %r.bound, transport = binding.transport.as_str(), path = %binding.path, "listening");
                    running.insert(binding, r);
                }
                Err(e) => {
                    tracing::error!(address = %binding.socket, transport = binding.transport.as_str(), error = %e, "cannot start listener");
                }
            }
        }
        let mut table: Vec<(String, Transport, SocketAddr)> = running
            .iter()
            .map(|(b, r)| (b.address.clone(), b.transport, r.bound))
            .collect();
        table.sort_by_key(|entry| (entry.1, entry.2));
        self.table.set(table);
        if running.is_empty() {
            tracing::warn!("no listener: run 'winrm quickconfig'");
        }
    }

    fn wanted_bindings(&self, settings: &ServiceSettings) -> Vec<Binding> {
        let mut out: Vec<Binding> = Vec::new();
        for listener in settings.effective_listeners() {
            for socket in addresses::resolve(&listener.address, listener.port) {
                let b = binding(&listener, socket);
                if !out.iter().any(|o| o.socket == b.socket) {
                    out.push(b);
                } else {
                    tracing::warn!(address = %socket, "two listeners want the same socket; keeping the first");
                }
            }
        }
        out
    }

    fn bind(&self, binding: &Binding) -> Result<Running, BindError> {
        let certificate = match binding.transport {
            Transport::Http => None,
            Transport::Https => Some(tls::certificate(
                &self.config_dir,
                &binding.thumbprint,
                Some(Arc::new(
                    crate::auth::certificate::ClientCertificateRequest::new(
                        self.shared.settings.clone(),
                    ),
                )),
            )?),
        };
        let listener = bind_socket(binding.socket)?;
        let bound = listener.local_addr().map_err(BindError::Io)?;
        let leaf = certificate.as_ref().map(|c| c.leaf.as_ref());
        let runtime = Arc::new(ListenerRuntime {
            shared: Arc::clone(&self.shared),
            slots: Arc::clone(&self.slots),
            transport: binding.transport,
            path: Arc::from(binding.path.as_str()),
            tls: certificate.as_ref().map(ServedCertificate::acceptor),
            channel_binding: leaf.and_then(wsman_auth::channel_binding::ntlm_channel_bindings),
            end_point_binding: leaf
                .and_then(wsman_auth::channel_binding::tls_server_end_point)
                .map(Arc::from),
            workers: self.connection_workers.clone(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, runtime, stop_rx));
        Ok(Running { stop, task, bound })
    }
}

fn binding(listener: &Listener, socket: SocketAddr) -> Binding {
    let prefix = listener.url_prefix.trim_matches('/');
    Binding {
        socket,
        transport: listener.transport,
        path: format!("/{prefix}"),
        thumbprint: if listener.transport == Transport::Https {
            listener.certificate_thumbprint.trim().to_ascii_uppercase()
        } else {
            String::new()
        },
        address: listener.address.to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
enum BindError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
}

/// Bind through the front door, with room for a fleet's reconnections in the backlog.
fn bind_socket(socket: SocketAddr) -> Result<TcpListener, BindError> {
    wsman_front::accept::bind(socket, 1024)
        .and_then(TcpListener::from_std)
        .map_err(BindError::Io)
}
