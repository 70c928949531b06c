//! Windows Event Forwarding from this host (source-initiated subscriptions): `forwarding.toml`
//! names the collectors as the Group Policy value does, and for each one a task enumerates its
//! subscription manager every Refresh and starts, restarts (new Version) and stops the
//! subscriptions it offers. Each runs as a push `Events` subscription
//! ([`wsman_eventsource::forward`]) delivering over `wsman-client`, authenticated to the
//! collector as configured. Off when the file is absent. SIGHUP reads the file again; the
//! collector is sent `SubscriptionEnd` when wsmand stops or drops it from the file, never when
//! the collector itself withdraws a subscription (Windows does not either).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use wsman_client::tls::ClientCertificate;
use wsman_client::{Auth, Client, ClientOptions, Credentials, Endpoint, Resource, Scheme};
use wsman_events::delivery::EndStatus;
use wsman_events::offer::{OfferPages, SUBSCRIPTION_RESOURCE};
use wsman_events::subscribe::{AuthenticationProfile, EndpointReference};
use wsman_eventsource::forward::{Forwarder, Forwarding};
use wsman_eventsource::push::{Connector, DeliveryError, Subscriber};
use wsman_proto::ns::action;

use crate::delivery::HttpSubscriber;

mod computer_name;

/// The file, in the config dir.
pub(crate) const FILE: &str = "forwarding.toml";
/// Default directory of the forwarding cursors.
const DEFAULT_STATE_DIRECTORY: &str = "/var/lib/wsmand/forwarding";
/// Largest answer read from a subscription manager.
const MAX_ENUMERATE_RESPONSE: usize = 4 * 1024 * 1024;
/// Largest `forwarding.toml` and password file read.
const MAX_FILE: u64 = 256 * 1024;
/// Windows' default Refresh of the policy value, in seconds.
const DEFAULT_REFRESH: u64 = 60;

use wsman_proto::ns::secprofile::{
    HTTPS_BASIC as PROFILE_BASIC_HTTPS, HTTPS_MUTUAL as PROFILE_MUTUAL,
    HTTP_BASIC as PROFILE_BASIC_HTTP,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    computer: Option<String>,
    state_directory: Option<PathBuf>,
    max_retry_interval_seconds: Option<u64>,
    #[serde(default)]
    collector: Vec<CollectorFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectorFile {
    server: String,
    authentication: String,
    username: Option<String>,
    password_file: Option<PathBuf>,
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    allow_unencrypted: bool,
}

/// How the forwarder authenticates to a collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CollectorAuth {
    Basic {
        user: String,
        password_file: PathBuf,
    },
    Certificate {
        certificate: PathBuf,
        key: PathBuf,
    },
    /// SPNEGO Kerberos with the process's credentials: the credential cache (`KRB5CCNAME`), or
    /// with MIT libkrb5 the host keytab named by `KRB5_CLIENT_KTNAME`.
    Kerberos,
}

/// One collector of `forwarding.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CollectorConfig {
    /// The subscription manager's URL (`Server=`).
    pub server: String,
    pub refresh: Duration,
    /// `IssuerCA=`: SHA-1 thumbprint (lower-case hex) of the CA of our client certificate.
    pub issuer_ca: Option<String>,
    pub auth: CollectorAuth,
    pub ca_file: Option<PathBuf>,
    pub allow_unencrypted: bool,
}

/// `forwarding.toml`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ForwardingConfig {
    pub computer: Option<String>,
    pub state_directory: PathBuf,
    pub max_retry_interval: Option<Duration>,
    pub collectors: Vec<CollectorConfig>,
}

/// `DIR/forwarding.toml`, `None` when absent (forwarding off).
pub(crate) fn load(config_dir: &Path) -> anyhow::Result<Option<ForwardingConfig>> {
    let path = config_dir.join(FILE);
    let text = match read_bounded(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    parse(&text)
        .with_context(|| format!("{} refused", path.display()))
        .map(Some)
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_FILE), &mut text)?;
    Ok(text)
}

/// The checked configuration of `text`.
pub(crate) fn parse(text: &str) -> anyhow::Result<ForwardingConfig> {
    let file: FileConfig = toml::from_str(text)?;
    if file.collector.is_empty() {
        bail!("no [[collector]]: name at least one subscription manager");
    }
    if let Some(computer) = &file.computer {
        if computer.is_empty() || computer.len() > 255 || computer.contains(char::is_whitespace) {
            bail!("computer {computer:?} is not a host name");
        }
    }
    let collectors = file
        .collector
        .into_iter()
        .enumerate()
        .map(|(i, c)| collector(c).with_context(|| format!("[[collector]] number {}", i + 1)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ForwardingConfig {
        computer: file.computer,
        state_directory: file
            .state_directory
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIRECTORY)),
        max_retry_interval: file
            .max_retry_interval_seconds
            .map(|s| Duration::from_secs(s.max(1))),
        collectors,
    })
}

fn collector(file: CollectorFile) -> anyhow::Result<CollectorConfig> {
    let (server, refresh, issuer_ca) = parse_policy_value(&file.server)?;
    let endpoint = Endpoint::parse(&server, false).context("Server")?;
    let https = endpoint.scheme == Scheme::Https;
    let auth = match file.authentication.to_ascii_lowercase().as_str() {
        "basic" => {
            let (Some(user), Some(password_file)) = (file.username, file.password_file) else {
                bail!("authentication = \"basic\" needs username and password_file");
            };
            if !https && !file.allow_unencrypted {
                bail!("Basic over http:// sends the password in clear: use an https:// Server (or allow_unencrypted = true on a trusted network)");
            }
            CollectorAuth::Basic {
                user,
                password_file,
            }
        }
        "certificate" => {
            let (Some(certificate), Some(key)) = (file.certificate, file.key) else {
                bail!("authentication = \"certificate\" needs certificate and key (PEM files)");
            };
            if !https {
                bail!("a client certificate needs an https:// Server");
            }
            CollectorAuth::Certificate { certificate, key }
        }
        "kerberos" => CollectorAuth::Kerberos,
        other => bail!("unknown authentication {other:?} (basic, certificate or kerberos)"),
    };
    Ok(CollectorConfig {
        server,
        refresh,
        issuer_ca,
        auth,
        ca_file: file.ca_file,
        allow_unencrypted: file.allow_unencrypted,
    })
}

/// `Server=URL,Refresh=SECONDS,IssuerCA=THUMBPRINT`, as the Group Policy value writes it (a
/// bare URL is taken as `Server=`).
pub(crate) fn parse_policy_value(
    value: &str,
) -> anyhow::Result<(String, Duration, Option<String>)> {
    let mut server = None;
    let mut refresh = DEFAULT_REFRESH;
    let mut issuer = None;
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, setting) = part.split_once('=').unwrap_or(("Server", part));
        match name.trim().to_ascii_lowercase().as_str() {
            "server" => server = Some(setting.trim().to_owned()),
            "refresh" => {
                refresh = setting
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| (1..=86_400).contains(s))
                    .with_context(|| {
                        format!("Refresh={setting} is not a number of seconds from 1 to 86400")
                    })?;
            }
            "issuerca" => {
                let thumbprint: String = setting
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
                    .to_ascii_lowercase();
                if thumbprint.len() != 40 || !thumbprint.chars().all(|c| c.is_ascii_hexdigit()) {
                    bail!("IssuerCA={setting} is not a SHA-1 thumbprint (40 hex digits)");
                }
                issuer = Some(thumbprint);
            }
            other => bail!("unknown setting {other:?} in {value:?} (Server, Refresh, IssuerCA)"),
        }
    }
    let server = server.with_context(|| format!("no Server= in {value:?}"))?;
    Ok((server, Duration::from_secs(refresh), issuer))
}

/// The client options of a collector (the password read now, never logged).
fn client_options(config: &CollectorConfig) -> anyhow::Result<ClientOptions> {
    let mut options = ClientOptions::default();
    options.max_response_bytes = MAX_ENUMERATE_RESPONSE;
    options.allow_unencrypted = config.allow_unencrypted;
    options.connect_timeout = Some(Duration::from_secs(30));
    options.tls.ca_file = config.ca_file.clone();
    match &config.auth {
        CollectorAuth::Basic {
            user,
            password_file,
        } => {
            let password = read_bounded(password_file)
                .with_context(|| format!("cannot read {}", password_file.display()))?;
            let password = password.trim_end_matches(['\r', '\n']);
            options.auth = Auth::Basic(Credentials::new(user.clone(), password));
        }
        CollectorAuth::Kerberos => {
            options.auth = Auth::Kerberos(
                wsman_client::KerberosAuth::from_ccache()
                    .with_scheme(wsman_client::KerberosScheme::Negotiate),
            );
        }
        CollectorAuth::Certificate { certificate, key } => {
            options.auth = Auth::Certificate;
            options.tls.client_certificate = Some(ClientCertificate::from_files(certificate, key));
        }
    }
    Ok(options)
}

/// Opens the collector's delivery addresses with the configured authentication, when the
/// subscription's policy accepts it and the address is on the configured collector's host.
struct CollectorConnector {
    /// The collector's client (a fork of the refresh task's): each subscription's client is
    /// made from it, sharing its TLS configuration instead of building one each.
    client: Client,
    issuer_ca: Option<String>,
    /// The host of the configured `Server=`: the only one the forwarder's credentials go to.
    /// A collector names the delivery addresses (NotifyTo, EndTo), so without this one that
    /// was compromised or spoofed could have the forwarder send its Basic password, or prove
    /// itself, to any host.
    collector_host: String,
}

#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("the collector's policy accepts none of our authentication ({0})")]
    Policy(String),
    #[error("the collector at {collector} names a delivery address on another host, {to}: the forwarder's credentials go only to the collector's host")]
    OtherHost { collector: String, to: String },
    #[error(transparent)]
    Client(#[from] wsman_client::ClientError),
}

impl Connector for CollectorConnector {
    fn connect(
        &self,
        to: &EndpointReference,
        authentication: &[AuthenticationProfile],
    ) -> Result<Box<dyn Subscriber>, DeliveryError> {
        let auth = &self.client.options().auth;
        let ours = match auth {
            Auth::Certificate => "client certificate",
            Auth::Kerberos(_) => "Kerberos",
            _ => "Basic",
        };
        let accepted = authentication.is_empty()
            || authentication.iter().any(|p| match auth {
                Auth::Certificate => {
                    p.profile == PROFILE_MUTUAL
                        && (p.issuer_thumbprints.is_empty()
                            || self.issuer_ca.as_ref().is_some_and(|ours| {
                                p.issuer_thumbprints
                                    .iter()
                                    .any(|t| t.eq_ignore_ascii_case(ours))
                            }))
                }
                Auth::Kerberos(_) => p.profile.ends_with("/spnego-kerberos"),
                _ => p.profile == PROFILE_BASIC_HTTPS || p.profile == PROFILE_BASIC_HTTP,
            });
        if !accepted {
            return Err(ConnectError::Policy(ours.to_owned()).into());
        }
        let endpoint = Endpoint::parse(&to.address, false).map_err(ConnectError::from)?;
        if !endpoint.host.eq_ignore_ascii_case(&self.collector_host) {
            return Err(ConnectError::OtherHost {
                collector: self.collector_host.clone(),
                to: endpoint.host,
            }
            .into());
        }
        let client = self
            .client
            .for_endpoint(endpoint)
            .map_err(ConnectError::from)?;
        Ok(Box::new(HttpSubscriber::new(client)))
    }
}

/// The forwarder of a running daemon: a supervisor task that owns one refresh task per
/// collector. SIGHUP (through a [`Reloader`]) reads `forwarding.toml` again: collectors
/// added are started, removed ones stopped with `SubscriptionEnd`, changed ones restarted (from
/// their cursors); a file that does not check is logged and the running configuration kept.
/// Shutdown ends every forwarded subscription with `SubscriptionEnd` (SourceShuttingDown).
pub(crate) struct ForwarderHandle {
    commands: tokio::sync::mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

enum Command {
    Reload,
    Shutdown,
}

/// Asks the forwarder to read `forwarding.toml` again (the SIGHUP task holds one).
#[derive(Clone)]
pub(crate) struct Reloader(tokio::sync::mpsc::Sender<Command>);

impl Reloader {
    /// A reload already waiting covers this one.
    pub(crate) fn reload(&self) {
        let _ = self.0.try_send(Command::Reload);
    }
}

/// Longest wait at shutdown for the collectors' tasks to send their SubscriptionEnds.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(20);

impl ForwarderHandle {
    /// Start with `config` (the file as read at start; `None`: absent, forwarding off until a
    /// reload finds it).
    pub(crate) fn start(
        config_dir: &Path,
        config: Option<ForwardingConfig>,
        journal: wsman_journal::Journal,
        mapping: wsman_events::Mapping,
    ) -> anyhow::Result<ForwarderHandle> {
        let mut supervisor = Supervisor {
            config_dir: config_dir.to_owned(),
            journal,
            mapping,
            config: None,
            collectors: Vec::new(),
        };
        if let Some(config) = config {
            supervisor.apply(config)?;
        }
        let (commands, mut received) = tokio::sync::mpsc::channel(4);
        let task = tokio::spawn(async move {
            while let Some(Command::Reload) = received.recv().await {
                supervisor.reload().await;
            }
            supervisor
                .stop_all(Some(EndStatus::SourceShuttingDown))
                .await;
        });
        Ok(ForwarderHandle { commands, task })
    }

    pub(crate) fn reloader(&self) -> Reloader {
        Reloader(self.commands.clone())
    }

    /// End every forwarded subscription with `SubscriptionEnd` and wait (bounded) for it.
    pub(crate) async fn shutdown(self) {
        let ForwarderHandle { commands, task } = self;
        let _ = commands.send(Command::Shutdown).await;
        if tokio::time::timeout(SHUTDOWN_WAIT, task).await.is_err() {
            tracing::warn!("forwarding did not stop in time");
        }
    }
}

/// One collector's refresh task.
struct CollectorTask {
    config: CollectorConfig,
    stop: tokio::sync::watch::Sender<Option<EndStatus>>,
    task: tokio::task::JoinHandle<()>,
}

impl CollectorTask {
    /// Stop its refresh loop and its subscriptions, telling the collector when `end` is given.
    async fn stop(self, end: Option<EndStatus>) {
        let _ = self.stop.send(end);
        if tokio::time::timeout(SHUTDOWN_WAIT, self.task)
            .await
            .is_err()
        {
            tracing::warn!(collector = %self.config.server, "a collector's forwarding did not stop in time");
        }
    }
}

struct Supervisor {
    config_dir: PathBuf,
    journal: wsman_journal::Journal,
    /// The daemon's mapping (its Computer before `forwarding.toml` names one).
    mapping: wsman_events::Mapping,
    config: Option<ForwardingConfig>,
    collectors: Vec<CollectorTask>,
}

impl Supervisor {
    async fn reload(&mut self) {
        let loaded = match load(&self.config_dir) {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "forwarding.toml not reloaded: the forwarder keeps its running configuration");
                return;
            }
        };
        if loaded == self.config {
            tracing::info!("forwarding.toml reloaded: unchanged");
            return;
        }
        // Settings shared by every collector changed: each restarts (from its cursors).
        let shared_changed = match (&loaded, &self.config) {
            (Some(new), Some(old)) => {
                (&new.computer, &new.state_directory, new.max_retry_interval)
                    != (&old.computer, &old.state_directory, old.max_retry_interval)
            }
            _ => false,
        };
        let wanted: Vec<CollectorConfig> = loaded
            .as_ref()
            .map(|c| c.collectors.clone())
            .unwrap_or_default();
        let mut kept = Vec::new();
        for running in std::mem::take(&mut self.collectors) {
            if wanted.contains(&running.config) && !shared_changed {
                kept.push(running);
            } else if wanted.iter().any(|c| c.server == running.config.server) {
                tracing::info!(collector = %running.config.server, "forwarding.toml reloaded: collector changed, restarting it");
                running.stop(None).await;
            } else {
                tracing::info!(collector = %running.config.server, "forwarding.toml reloaded: collector removed, its subscriptions end");
                running.stop(Some(EndStatus::SourceCancelling)).await;
            }
        }
        self.collectors = kept;
        self.config = None;
        let Some(config) = loaded else {
            tracing::info!("forwarding.toml removed: forwarding off");
            return;
        };
        let running: Vec<CollectorConfig> =
            self.collectors.iter().map(|c| c.config.clone()).collect();
        let mut to_start = config.clone();
        to_start.collectors.retain(|c| !running.contains(c));
        match self.spawn(to_start) {
            Ok(started) => {
                tracing::info!(
                    collectors = config.collectors.len(),
                    started = started.len(),
                    "forwarding.toml reloaded"
                );
                self.collectors.extend(started);
                self.config = Some(config);
            }
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "forwarding.toml reloaded, but a collector cannot start");
                // What runs is kept; the next reload tries the rest again.
                let mut partial = config;
                let running: Vec<CollectorConfig> =
                    self.collectors.iter().map(|c| c.config.clone()).collect();
                partial.collectors.retain(|c| running.contains(c));
                self.config = Some(partial);
            }
        }
    }

    /// Start what `config` names (at daemon start: an error stops the daemon).
    fn apply(&mut self, config: ForwardingConfig) -> anyhow::Result<()> {
        let started = self.spawn(config.clone())?;
        self.collectors = started;
        self.config = Some(config);
        Ok(())
    }

    /// One refresh task for each collector of `config`; none when one cannot start.
    fn spawn(&self, config: ForwardingConfig) -> anyhow::Result<Vec<CollectorTask>> {
        let mut mapping = self.mapping.clone();
        if let Some(computer) = &config.computer {
            mapping.computer = computer.clone();
        }
        for warning in computer_name::warnings(&config, &mapping.computer) {
            tracing::warn!("{warning}");
        }
        let forwarder = Arc::new(Forwarder {
            journal: self.journal.clone(),
            program: PathBuf::from("journalctl"),
            mapping,
            state_directory: config.state_directory.clone(),
            max_retry_interval: config.max_retry_interval,
        });
        let mut prepared = Vec::new();
        for collector in config.collectors {
            let options = client_options(&collector)
                .with_context(|| format!("collector {}", collector.server))?;
            let endpoint = Endpoint::parse(&collector.server, false)?;
            let collector_host = endpoint.host.clone();
            let client = Client::new(endpoint, options)?;
            let connector = CollectorConnector {
                client: client.fork()?,
                issuer_ca: collector.issuer_ca.clone(),
                collector_host,
            };
            prepared.push((collector, client, connector));
        }
        Ok(prepared
            .into_iter()
            .map(|(collector, client, connector)| {
                let (stop, stopped) = tokio::sync::watch::channel(None);
                let task = tokio::spawn(refresh_loop(
                    forwarder.clone(),
                    collector.clone(),
                    client,
                    connector,
                    stopped,
                ));
                CollectorTask {
                    config: collector,
                    stop,
                    task,
                }
            })
            .collect())
    }

    async fn stop_all(&mut self, end: Option<EndStatus>) {
        let mut stopping = tokio::task::JoinSet::new();
        for collector in std::mem::take(&mut self.collectors) {
            stopping.spawn(collector.stop(end));
        }
        while stopping.join_next().await.is_some() {}
    }
}

/// Every Refresh: enumerate, then start what is new or changed or stopped, and stop what is
/// no longer offered. A collector that cannot be reached keeps what runs (its deliveries
/// retry on their own) and is asked again at the next Refresh. Told to stop, it stops its
/// subscriptions, with `SubscriptionEnd` when the value sent says so.
async fn refresh_loop(
    forwarder: Arc<Forwarder>,
    collector: CollectorConfig,
    client: Client,
    connector: CollectorConnector,
    mut stopped: tokio::sync::watch::Receiver<Option<EndStatus>>,
) {
    let mut running: HashMap<String, Forwarding> = HashMap::new();
    loop {
        tokio::select! {
            _ = refresh(&forwarder, &collector, &client, &connector, &mut running) => {}
            _ = stopped.changed() => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(collector.refresh) => {}
            _ = stopped.changed() => break,
        }
    }
    let end = *stopped.borrow();
    let mut stopping = tokio::task::JoinSet::new();
    for forwarding in running.into_values() {
        stopping.spawn(forwarding.stop(end));
    }
    while stopping.join_next().await.is_some() {}
}

/// One refresh of a collector's subscriptions.
async fn refresh(
    forwarder: &Forwarder,
    collector: &CollectorConfig,
    client: &Client,
    connector: &CollectorConnector,
    running: &mut HashMap<String, Forwarding>,
) {
    match enumerate(client, &forwarder.mapping.computer).await {
        Ok(OfferPages { offers, errors, .. }) => {
            for error in errors {
                tracing::warn!(collector = %collector.server, %error, "a subscription offered by the collector was refused");
            }
            let offered: HashMap<String, _> = offers.into_iter().map(|o| (o.key(), o)).collect();
            let withdrawn: Vec<String> = running
                .keys()
                .filter(|key| !offered.contains_key(*key))
                .cloned()
                .collect();
            for key in withdrawn {
                if let Some(forwarding) = running.remove(&key) {
                    tracing::info!(collector = %collector.server, subscription = %key, version = %forwarding.version, "subscription withdrawn by the collector: stopped");
                    // As Windows: the collector withdrew it, so it is not told.
                    forwarding.stop(None).await;
                }
            }
            for (key, offer) in &offered {
                let current = running
                    .get(key)
                    .is_some_and(|f| f.version == offer.version && f.is_running());
                if current {
                    continue;
                }
                // A changed or stopped subscription: the old task has ended before the new
                // one reads the cursor, so the cursor file has one writer.
                if let Some(old) = running.remove(key) {
                    old.stop(None).await;
                }
                match forwarder.start(&collector.server, offer, connector).await {
                    Ok(forwarding) => {
                        running.insert(key.clone(), forwarding);
                    }
                    Err(error) => {
                        tracing::warn!(collector = %collector.server, subscription = %key, %error, "the offered subscription cannot be forwarded");
                    }
                }
            }
        }
        Err(error) => {
            tracing::warn!(collector = %collector.server, error = %format!("{error:#}"), "the collector's subscription manager cannot be enumerated; trying again at the next refresh");
        }
    }
}

/// The subscriptions the collector offers: its Enumerate answer, then a Pull of each further
/// page while it gives a context (it pages an answer larger than our MaxEnvelopeSize).
async fn enumerate(client: &Client, machine_id: &str) -> anyhow::Result<OfferPages> {
    let mut pages = OfferPages::default();
    let (mut header, mut body) = enumerate_request(client, machine_id);
    loop {
        let (bytes, content_type) = enumerate_wire(&header, &body);
        let page = client
            .deliver(bytes, content_type, None, &header.message_id)
            .await?
            .body
            .context("the subscription manager's answer has an empty body")?;
        let Some(context) = pages.read(&page) else {
            return Ok(pages);
        };
        (header, body) = pull_request(client, machine_id, &context);
    }
}

/// The Enumerate as a Windows forwarder puts it on the wire: UTF-16LE with a byte-order mark,
/// `charset=UTF-16` (openwec's `doc/protocol.md` records it; OpenWEC reads this message as
/// UTF-16 only, and Windows' collector and ours read both).
fn enumerate_wire(
    header: &wsman_proto::request::RequestHeader,
    body: &str,
) -> (Vec<u8>, &'static str) {
    wsman_events::delivery::encode(&wsman_proto::request::envelope(header, body), true)
}

/// The Enumerate of a subscription manager in the shape a Windows forwarder sends it: its
/// header set in its order (`m:MachineID` after the resource, `p:OperationID` and
/// `p:SequenceId`), `w:OptimizeEnumeration` with `w:MaxElements` 32000.
fn enumerate_request(
    client: &Client,
    machine_id: &str,
) -> (wsman_proto::request::RequestHeader, String) {
    let mut header =
        client.request_header(action::ENUMERATE, &Resource::new(SUBSCRIPTION_RESOURCE));
    header.machine_id = Some(machine_id.to_owned());
    header.operation_id = Some(wsman_proto::response::new_message_id());
    let body = wsman_client::enumerate::enumerate_body(&wsman_client::EnumerateOptions::default());
    (header, body)
}

/// The Pull of the subscription manager's next page: the Enumerate's header set with the Pull
/// action, and as many items as the Enumerate asked for.
fn pull_request(
    client: &Client,
    machine_id: &str,
    context: &str,
) -> (wsman_proto::request::RequestHeader, String) {
    let mut header = client.request_header(action::PULL, &Resource::new(SUBSCRIPTION_RESOURCE));
    header.machine_id = Some(machine_id.to_owned());
    header.operation_id = Some(wsman_proto::response::new_message_id());
    let body =
        wsman_client::enumerate::pull_body(context, &wsman_client::EnumerateOptions::default());
    (header, body)
}

#[cfg(test)]
mod tests;
