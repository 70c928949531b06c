//! The wsmand daemon: command line, logging, systemd notification and signals around
//! [`wsman_server::LiveService`].
//!
//! `wsmand [--config-dir DIR]` serves in the foreground; `wsmand check-config` validates the
//! configuration; `wsmand account ...` manages the service's own accounts.
#![forbid(unsafe_code)]

mod account;
mod audit_file;
mod catalog;
mod delivery;
mod event_log;
mod forwarder;
mod journal_log;
mod mgmt;
mod notify;
mod push_file;
mod wec;

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use journal_log::JournalLayer;
use tokio::sync::mpsc;
use wsman_config::ConfigStore;
use wsman_server::workers::ConnectionWorkers;
use wsman_server::{CredentialVerifier, LiveService};

/// Default configuration directory.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/wsmand";
/// Default bookmark database of the collector.
pub const DEFAULT_WEC_DATABASE: &str = "/var/lib/wsmand/wec.sqlite";

/// WS-Management (WinRM) service for Linux.
#[derive(Debug, Parser)]
#[command(name = "wsmand", version)]
struct Cli {
    /// Directory holding config.toml, policy.d/, accounts.toml and certs/.
    #[arg(long, env = "WSMAND_CONFIG_DIR", default_value = DEFAULT_CONFIG_DIR, global = true)]
    config_dir: PathBuf,
    /// The journal the event logs are read from: a directory of journal files (as
    /// `journalctl --directory` reads); the host's journal when absent.
    #[arg(long, env = "WSMAND_JOURNAL_DIRECTORY", global = true)]
    journal_directory: Option<PathBuf>,
    /// Log filter (e.g. `info`, `debug`, `wsman_server=trace`); RUST_LOG wins when set.
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// Serve Prometheus metrics at http://ADDRESS/metrics (e.g. 127.0.0.1:9101); wins over
    /// `[Metrics] Address` of config.toml. Off unless one of them is set.
    #[arg(long, env = "WSMAND_METRICS_ADDRESS", value_name = "ADDRESS")]
    metrics_address: Option<std::net::SocketAddr>,
    /// Accept a metrics address other hosts can reach (the endpoint has no authentication).
    #[arg(long)]
    metrics_allow_remote: bool,
    /// Also append the audit records (shell and command start and end) to FILE as JSON
    /// lines; for hosts without a journal (under systemd they are in the journal:
    /// `journalctl WSMAN_AUDIT=1`).
    #[arg(long, env = "WSMAND_AUDIT_FILE", value_name = "FILE")]
    audit_file: Option<PathBuf>,
    /// The collector's bookmark database (SQLite): where each forwarder has got to. The
    /// collector is served when DIR/subscriptions exists.
    #[arg(long, env = "WSMAND_WEC_DATABASE", value_name = "FILE", default_value = DEFAULT_WEC_DATABASE, global = true)]
    wec_database: PathBuf,
    /// The PAM service (`/etc/pam.d/NAME`) that checks Linux accounts' passwords and opens
    /// their commands' sessions.
    #[arg(long, env = "WSMAND_PAM_SERVICE", value_name = "NAME", default_value = wsman_os::DEFAULT_PAM_SERVICE)]
    pam_service: String,
    /// Run each command of a Linux account inside a PAM session of that service
    /// (pam_limits, pam_env, pam_systemd, as a login): `auto` when its file has `session`
    /// lines, `on` always (the start fails without the `wsmand-session` helper), `off` never.
    #[arg(
        long,
        env = "WSMAND_PAM_SESSIONS",
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    pam_sessions: PamSessions,
    /// Print wsmand(8) in roff, or a completion script for a shell, and exit (packaging).
    #[arg(long, value_enum, value_name = "WHAT", hide = true)]
    generate: Option<Generate>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// When commands get a PAM session (`--pam-sessions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum PamSessions {
    /// When the PAM service's file has a session stack.
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

/// The session helper the shells use, as `--pam-sessions` asks: `Ok(None)` for none.
fn session_helper(
    service: &str,
    when: PamSessions,
) -> anyhow::Result<Option<wsman_os::process::SessionHelper>> {
    let wanted = match when {
        PamSessions::Off => false,
        PamSessions::On => true,
        PamSessions::Auto => wsman_os::pam::stack::has_session_stack(service),
    };
    if !wanted {
        tracing::info!(service, "commands run without a PAM session");
        return Ok(None);
    }
    if !wsman_os::process::daemon_is_root() {
        tracing::info!("commands run without a PAM session: the daemon is not root");
        return Ok(None);
    }
    let daemon = std::env::current_exe().context("cannot find the daemon's executable")?;
    match wsman_os::process::session::find_helper(&daemon) {
        Some(path) => {
            tracing::info!(service, helper = %path.display(), "commands run inside a PAM session");
            Ok(Some(wsman_os::process::SessionHelper {
                path,
                service: service.to_owned(),
            }))
        }
        None if when == PamSessions::On => anyhow::bail!(
            "--pam-sessions=on, but the {} helper is neither beside {} nor in /usr/lib/wsmand",
            wsman_os::process::session::HELPER_NAME,
            daemon.display()
        ),
        None => {
            tracing::warn!(
                service,
                "the PAM service has a session stack, but the {} helper is missing: commands run without a PAM session",
                wsman_os::process::session::HELPER_NAME
            );
            Ok(None)
        }
    }
}

/// What `--generate` prints: written from this command line's own definition, so the man
/// page and the completions say what `--help` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Generate {
    Man,
    Bash,
    Zsh,
    Fish,
}

/// The text `--generate what` prints.
fn generated(what: Generate) -> anyhow::Result<Vec<u8>> {
    use clap::CommandFactory;
    let mut command = Cli::command();
    let mut out = Vec::new();
    match what {
        Generate::Man => {
            // Section 8: a system administration daemon.
            clap_mangen::Man::new(command)
                .section("8")
                .render(&mut out)
                .context("cannot render the man page")?;
        }
        Generate::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut command, "wsmand", &mut out)
        }
        Generate::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut command, "wsmand", &mut out)
        }
        Generate::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut command, "wsmand", &mut out)
        }
    }
    Ok(out)
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Manage the service's own accounts (DIR/accounts.toml).
    Account {
        #[command(subcommand)]
        command: account::AccountCommand,
    },
    /// The management service on port 8172 (wsmand-mgmt): settings with WMSVC's names,
    /// startup type, start/stop, manager users (DIR/mgmt.toml, DIR/mgmt-users.toml).
    Mgmt {
        #[command(subcommand)]
        command: mgmt::MgmtCommand,
    },
    /// Check the configuration and exit (non-zero when it is unusable).
    CheckConfig,
    /// The Windows Event Collector: its subscriptions (DIR/subscriptions/*.toml) and the
    /// forwarders that deliver to them.
    Wec {
        #[command(subcommand)]
        command: wec::WecCommand,
    },
}

/// Process entry point: parse arguments, run, map errors to an exit code.
pub fn main_entry() -> ExitCode {
    let cli = Cli::parse();
    if let Some(what) = cli.generate {
        return report(generated(what).and_then(|text| {
            use std::io::Write;
            std::io::stdout()
                .write_all(&text)
                .context("cannot write to stdout")
        }));
    }
    match cli.command {
        Some(Command::Account { command }) => report(account::run(command, &cli.config_dir)),
        Some(Command::Mgmt { command }) => report(mgmt::run(command, &cli.config_dir)),
        Some(Command::CheckConfig) => report(check_config(&cli.config_dir)),
        Some(Command::Wec { command }) => {
            report(wec::run(command, &cli.config_dir, &cli.wec_database))
        }
        None => {
            if let Err(e) = init_logging(cli.log_level.as_deref(), cli.audit_file.as_deref()) {
                return report(Err(e));
            }
            let metrics = MetricsSwitches {
                address: cli.metrics_address,
                allow_remote: cli.metrics_allow_remote,
            };
            let pam = PamSwitches {
                service: cli.pam_service,
                sessions: cli.pam_sessions,
            };
            report(run_daemon_blocking(
                &cli.config_dir,
                cli.journal_directory.as_deref(),
                metrics,
                &cli.wec_database,
                &pam,
            ))
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsmand: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to journald under systemd (JOURNAL_STREAM is set), each message followed by its
/// fields as `key=value` ([`journal_log`]), else to stderr, filtered by `level`. The audit records of the shell engine ([`wsman_server::AUDIT_TARGET`]) are
/// written whatever the level: to the journal with their fields prefixed `WSMAN_` (match
/// fields: `journalctl WSMAN_AUDIT=1 WSMAN_USER=alice`), and to `audit_file` as JSON lines
/// when one is given.
fn init_logging(level: Option<&str>, audit_file: Option<&Path>) -> anyhow::Result<()> {
    use tracing_subscriber::filter::{filter_fn, FilterExt};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = || {
        EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(level.unwrap_or("info")))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let is_audit = |meta: &tracing::Metadata<'_>| meta.target() == wsman_server::AUDIT_TARGET;
    let audit_file = audit_file
        .map(|path| {
            audit_file::AuditFile::open(path)
                .with_context(|| format!("cannot open the audit file {}", path.display()))
        })
        .transpose()?;
    let registry = tracing_subscriber::registry().with(audit_file);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let (Ok(general), Ok(audit)) = (JournalLayer::general(), JournalLayer::audit()) {
            let _ = registry
                .with(general.with_filter(filter().and(filter_fn(move |meta| !is_audit(meta)))))
                .with(audit.with_filter(filter_fn(is_audit)))
                .try_init();
            return Ok(());
        }
    }
    let _ = registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(filter().or(filter_fn(is_audit))),
        )
        .try_init();
    Ok(())
}

/// Create DIR (0755) when missing: a fresh install starts with no configuration.
pub fn ensure_config_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(())
}

/// Open the configuration; the error names the file and line. The WMI users, remote users and
/// event readers groups are looked up here (the WMI and PowerShell plug-ins' and the event
/// store's default descriptors admit them), so a group created later counts from the next start
/// or reload (SIGHUP).
pub fn open_config(dir: &Path) -> anyhow::Result<ConfigStore> {
    let mut store =
        ConfigStore::open(dir).map_err(|e| anyhow::anyhow!("configuration refused: {e}"))?;
    match wsman_os::group_id(wsman_config::WMI_USERS_GROUP) {
        Ok(gid) => store.set_wmi_users_gid(gid),
        Err(error) => tracing::warn!(
            %error,
            "the WMI users group could not be looked up: the WMI plug-in's default admits only what RootSDDL admits"
        ),
    }
    match wsman_os::group_id(wsman_config::REMOTE_USERS_GROUP) {
        Ok(gid) => store.set_remote_users_gid(gid),
        Err(error) => tracing::warn!(
            %error,
            "the remote users group could not be looked up: the PowerShell plug-in's default admits administrators only"
        ),
    }
    match wsman_os::group_id(wsman_config::EVENT_READERS_GROUP) {
        Ok(gid) => store.set_event_readers_gid(gid),
        Err(error) => tracing::warn!(
            %error,
            "the event readers group could not be looked up: the event store's default admits administrators only"
        ),
    }
    Ok(store)
}

fn check_config(dir: &Path) -> anyhow::Result<()> {
    let store = open_config(dir)?;
    let config = store.config();
    let mut problems = 0;
    for listener in config.active_listeners() {
        if listener.transport == wsman_config::Transport::Https {
            if let Err(e) = wsman_server::tls::acceptor(dir, &listener.certificate_thumbprint) {
                eprintln!(
                    "listener {} {}:{}: {e}",
                    listener.transport, listener.address, listener.port
                );
                problems += 1;
            }
        }
    }
    if problems > 0 {
        anyhow::bail!("{problems} listener(s) cannot start");
    }
    if let Some(forwarding) = forwarder::load(dir)? {
        println!(
            "{}: forwarding to {} collector(s)",
            dir.join(forwarder::FILE).display(),
            forwarding.collectors.len()
        );
    }
    push_file::load(dir)?;
    check_subscriptions(dir)?;
    println!(
        "{}: configuration OK ({} listener(s) active)",
        dir.display(),
        config.active_listeners().len()
    );
    Ok(())
}

/// The collector's subscriptions, when `DIR/subscriptions` exists: every file must parse and
/// every output must start (a Kafka property librdkafka refuses is named here, not at the
/// first batch). The producers made here are dropped at once.
fn check_subscriptions(dir: &Path) -> anyhow::Result<()> {
    let subscriptions_dir = dir.join("subscriptions");
    if !subscriptions_dir.is_dir() {
        return Ok(());
    }
    let set = wsman_collector::subscriptions::load_dir(&subscriptions_dir);
    let mut problems: Vec<String> = set.errors.iter().map(ToString::to_string).collect();
    let bindings = wsman_collector::store::config::secret_bindings(dir)?;
    problems.extend(
        wsman_collector::subscription_outputs::Outputs::with_secrets(dir.join("secrets"), bindings)
            .with_group_lookup(|name| wsman_os::group_id(name).map_err(std::io::Error::other))
            .configure(&set),
    );
    for problem in &problems {
        eprintln!("{problem}");
    }
    if !problems.is_empty() {
        anyhow::bail!("{} collector problem(s)", problems.len());
    }
    println!(
        "{}: {} subscription(s)",
        subscriptions_dir.display(),
        set.subscriptions.len()
    );
    Ok(())
}

/// The metrics switches of the command line, which win over `[Metrics]` of config.toml.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsSwitches {
    pub address: Option<std::net::SocketAddr>,
    pub allow_remote: bool,
}

impl MetricsSwitches {
    /// Where to serve metrics, if anywhere, and whether a remote address is allowed.
    fn resolve(self, config: &wsman_config::MetricsConfig) -> Option<(std::net::SocketAddr, bool)> {
        let address = self.address.or(config.address)?;
        Some((address, self.allow_remote || config.allow_remote))
    }
}

/// The PAM switches of the command line.
struct PamSwitches {
    service: String,
    sessions: PamSessions,
}

fn run_daemon_blocking(
    dir: &Path,
    journal_directory: Option<&Path>,
    metrics: MetricsSwitches,
    wec_database: &Path,
    pam: &PamSwitches,
) -> anyhow::Result<()> {
    if !wsman_os::allocator::return_large_buffers_to_the_system() {
        tracing::warn!("could not pin the allocator's mmap threshold: password checks may leave memory resident");
    }
    ensure_config_dir(dir)?;
    let store = open_config(dir)?;
    let verifier = Arc::new(
        CredentialVerifier::new(dir, &pam.service).context("cannot set up PAM authentication")?,
    );
    let sessions = session_helper(&pam.service, pam.sessions)?;
    let workers = connection_workers(
        std::env::var("TOKIO_WORKER_THREADS").ok().as_deref(),
        std::thread::available_parallelism().map_or(1, usize::from),
    );
    tracing::debug!(workers, "connection workers");
    let (connection_workers, worker_threads) =
        ConnectionWorkers::start(workers, "wsmand", BLOCKING_WORK_AT_EXIT)
            .context("cannot start the connection workers")?;
    // Everything but the connections: accept loops, signals, the collector's and the
    // forwarder's tasks, the idle release. One thread is enough for them.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let journal = match journal_directory {
        Some(directory) => wsman_journal::Journal::Directory(directory.to_owned()),
        None => wsman_journal::Journal::System,
    };
    let served = runtime.block_on(run_daemon(
        store,
        verifier,
        journal,
        metrics,
        wec_database,
        sessions,
        Some(connection_workers),
    ));
    // Dropping a runtime waits without end for its blocking pool; a task still in there once
    // serving has ended (a journal wait, a PAM conversation, a stuck D-Bus call) must not hold
    // the stop past what systemd or a Ctrl+C expects. The workers' runtimes wait as long, at
    // the same time as this one.
    std::thread::scope(|scope| {
        scope.spawn(|| worker_threads.stop());
        runtime.shutdown_timeout(BLOCKING_WORK_AT_EXIT);
    });
    served
}

/// How long no connection may be open, after some were, before the daemon gives back what
/// serving them made resident (`release_resident_memory`; 5 to 10 s after the last closed).
/// Long enough that a client reconnecting at once keeps its code resident; short enough that
/// an idle daemon is idle in memory too.
const IDLE_RELEASE_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// Drops the clean file pages this process has mapped (the next use of one is a minor fault
/// from the page cache) and trims the allocator's free heap tops (`what`: when, for the log).
async fn release_resident_memory(what: &'static str) {
    let released = tokio::task::spawn_blocking(|| {
        let released = wsman_os::memory::release_clean_file_pages();
        wsman_os::allocator::trim_free_memory();
        released
    })
    .await;
    match released {
        Ok(Ok(released)) => {
            tracing::debug!(
                mappings = released.mappings,
                bytes = released.bytes,
                "{what} file pages released"
            );
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "{what} file pages not released"),
        Err(e) => tracing::debug!(error = %e, "{what} file pages not released"),
    }
}

/// How long the stop waits for blocking work still running after serving has ended.
const BLOCKING_WORK_AT_EXIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Connection workers: one per core, at least one; `TOKIO_WORKER_THREADS` (a positive number)
/// overrides, as it sets the async workers of any Tokio program.
///
/// Each worker is a thread with its own current-thread runtime that serves whole the
/// connections given to it ([`ConnectionWorkers`]): a command's pump and the Receive that reads
/// its output run on the thread of their connection, so streaming output wakes no other thread,
/// while connections are spread over every core. With one multi-thread runtime the choice was
/// between one worker on 2 cores (Identify at 32 connections held to one core, 0.69-0.75x a bare
/// hyper responder) and two (0.84x, but a command's output a quarter to a third slower: the
/// runtime woke the second worker for each answer's socket events); docs/benchmarks-history.md,
/// "the async workers on two cores" and "tenth pass: a connection served whole by one thread".
/// The commands of the shells and the blocking work (PAM, password hashing, handshakes) run
/// on other threads and share the cores with the workers, as they did with the async workers.
fn connection_workers(configured: Option<&str>, cores: usize) -> usize {
    match configured.and_then(|value| value.trim().parse::<usize>().ok()) {
        Some(workers) if workers > 0 => workers,
        _ => cores.max(1),
    }
}

/// Instances of the benchmark class: `WSMAND_BENCH_SYNTHETIC_INSTANCES`, default 100,000.
/// The host as an event source over `journal`, bounded by Service/MaxSubscriptions and
/// MaxSubscriptionsPerUser (read at start), its events mapped by `mapping`.
fn event_source(
    config: &wsman_config::Config,
    certs_dir: std::path::PathBuf,
    journal: wsman_journal::Journal,
    mapping: wsman_events::Mapping,
    credential_subscribers: wsman_eventsource::CredentialSubscribers,
) -> Arc<wsman_eventsource::EventSource> {
    let limits = wsman_eventsource::Limits {
        max_total: config.service.max_subscriptions as usize,
        max_per_user: config.service.max_subscriptions_per_user as usize,
        ..wsman_eventsource::Limits::default()
    };
    Arc::new(
        wsman_eventsource::EventSource::new(journal, mapping, limits)
            .with_connector(Arc::new(delivery::HttpConnector::new(certs_dir)))
            .with_credential_subscribers(credential_subscribers),
    )
}

/// The metrics endpoint's listener, bound before the service starts so that a wrong address
/// stops the daemon at once; `None` when no address is configured.
async fn bind_metrics(
    metrics: MetricsSwitches,
    config: &wsman_config::MetricsConfig,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    Ok(match metrics.resolve(config) {
        Some((address, allow_remote)) => Some(
            wsman_server::metrics::endpoint::bind(address, allow_remote)
                .await
                .context("metrics endpoint")?,
        ),
        None => None,
    })
}

/// Memory given back once the service is up, then whenever it goes idle.
async fn release_memory_after_start(server: Arc<wsman_server::Server>) {
    // The start faulted in code and read-only data no request runs again (command line,
    // configuration, certificates, libraries' initialisers): they leave the resident set here
    // and what requests use comes back on first use, from the page cache.
    release_resident_memory("start-up").await;
    // The same once the service goes idle after serving: the code the requests ran, and the
    // heap their password checks grew, leave the resident set until the next request.
    tokio::spawn(async move {
        loop {
            server.gone_idle(IDLE_RELEASE_AFTER).await;
            release_resident_memory("idle").await;
        }
    });
}

/// Serve until SIGTERM or SIGINT; SIGHUP re-reads the configuration. The listeners hand their
/// connections to `connection_workers` when given, else serve them on this runtime.
pub async fn run_daemon(
    store: ConfigStore,
    verifier: Arc<CredentialVerifier>,
    journal: wsman_journal::Journal,
    metrics: MetricsSwitches,
    wec_database: &Path,
    sessions: Option<wsman_os::process::SessionHelper>,
    connection_workers: Option<Arc<ConnectionWorkers>>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let host_name = wsman_os::host_name().unwrap_or_else(|_| "localhost".to_owned());
    tracing::info!(config_dir = %store.dir().display(), "starting");
    let config_dir = store.dir().to_owned();
    // One mapping for the event source and Win32_NTLogEvent, so both show an entry alike.
    let mapping = wsman_events::Mapping {
        computer: host_name.clone(),
        ..wsman_events::Mapping::default()
    };
    let event_log = Arc::new(event_log::JournalEventLog::new(
        journal.clone(),
        mapping.clone(),
        tokio::runtime::Handle::current(),
    ));
    // Forwarding to collectors (forwarding.toml): a file that does not check stops the start.
    let forwarding = forwarder::ForwarderHandle::start(
        &config_dir,
        forwarder::load(&config_dir)?,
        journal.clone(),
        mapping.clone(),
    )?;
    // Who push subscriptions may have the daemon authenticate to (push.toml): checked at start.
    let credential_subscribers = push_file::load(&config_dir)?;
    let events = event_source(
        store.config(),
        store.certs_dir(),
        journal,
        mapping,
        credential_subscribers,
    );
    let metrics_listener = bind_metrics(metrics, &store.config().metrics).await?;
    // Subscriptions end when they expire even if nobody pulls; the task stops with the source.
    let _expiry = wsman_server::engines::eventing::spawn_expiry(&events);
    // The collector, served while DIR/subscriptions exists (a host that collects nothing
    // keeps no database); SIGHUP starts or stops it.
    let wec_database = wec_database.to_owned();
    let collector = tokio::task::spawn_blocking(move || {
        wsman_server::collector::engine::Collector::start(&config_dir, &wec_database)
    })
    .await
    .context("collector start")??;
    let bmc_dir = store.dir().to_owned();
    let mut starting =
        LiveService::prepare(store, wsman_server::default_product_version(), host_name);
    let engines = catalog::Engines {
        event_log,
        events,
        collector,
    };
    let (catalog, hardware) = catalog::build(&bmc_dir, &mut starting, engines);
    if let Some(workers) = connection_workers {
        starting.serve_connections_on(workers);
    }
    let service = starting.start(catalog, verifier).await;
    if let Some(shells) = service.server().shells() {
        shells.manager().set_login_sessions(sessions);
    }
    let _metrics_task = metrics_listener.map(|listener| {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, "metrics endpoint ready");
        }
        let server = Arc::clone(service.server());
        wsman_server::metrics::endpoint::spawn(listener, Arc::new(move || server.metrics_text()))
    });
    for (address, transport, socket) in service.server().listener_table().sockets() {
        tracing::info!(%address, transport = transport.as_str(), %socket, "listener ready");
    }
    notify::notify("READY=1");
    release_memory_after_start(Arc::clone(service.server())).await;
    let (reload_tx, reload_rx) = mpsc::channel(4);
    // SIGHUP reads forwarding.toml and bmc.toml again too.
    let forwarding_reloader = forwarding.reloader();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let _ = reload_tx.try_send(());
            forwarding_reloader.reload();
            let (hardware, dir) = (Arc::clone(&hardware), bmc_dir.clone());
            tokio::task::spawn_blocking(move || hardware.set_bmc(catalog::bmc(&dir)));
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    service.run(reload_rx, shutdown, &notify::notify).await;
    // The forwarded subscriptions end with SubscriptionEnd to their collectors.
    forwarding.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn one_connection_worker_per_core_unless_configured() {
        assert_eq!(connection_workers(None, 0), 1);
        assert_eq!(connection_workers(None, 1), 1);
        assert_eq!(connection_workers(None, 2), 2);
        assert_eq!(connection_workers(None, 8), 8);
        assert_eq!(connection_workers(Some("4"), 2), 4);
        assert_eq!(connection_workers(Some(" 1 "), 8), 1);
        // Nonsense is ignored rather than fatal, as Tokio would refuse it.
        assert_eq!(connection_workers(Some("0"), 4), 4);
        assert_eq!(connection_workers(Some("many"), 4), 4);
    }

    #[test]
    fn a_corrupted_config_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("config.toml"),
            "[Config]\nMaxEnvelopeSizekb = \"lots\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let message = match open_config(dir.path()) {
            Ok(_) => panic!("a corrupted config was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(message.contains("config.toml:2"), "{message}");
        assert!(check_config(dir.path()).is_err());
    }

    #[test]
    fn the_config_dir_is_created_0755() {
        let parent = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = parent.path().join("a/b");
        ensure_config_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        let mode = std::fs::metadata(&dir)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o755);
        // an empty directory is a valid configuration with no listener
        assert!(check_config(&dir).is_ok());
    }

    #[test]
    fn man_page_and_completions_come_from_the_command_line() {
        use clap::CommandFactory;
        let man =
            String::from_utf8(generated(Generate::Man).unwrap_or_default()).unwrap_or_default();
        assert!(
            man.starts_with(".ie") || man.contains(".TH wsmand 8"),
            "{man}"
        );
        assert!(man.contains(".TH wsmand 8"), "{man}");
        // Every visible long option of --help is in the man page and every completion script.
        let command = Cli::command();
        let longs: Vec<String> = command
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect();
        assert!(longs.contains(&"metrics-address".to_owned()), "{longs:?}");
        for shell in [Generate::Bash, Generate::Zsh, Generate::Fish] {
            let script =
                String::from_utf8(generated(shell).unwrap_or_default()).unwrap_or_default();
            for long in &longs {
                assert!(script.contains(long.as_str()), "{shell:?} lacks --{long}");
            }
            assert!(script.contains("check-config"), "{shell:?}");
        }
        for long in &longs {
            assert!(
                man.contains(&long.replace('-', "\\-")),
                "man page lacks --{long}"
            );
        }
    }

    #[test]
    fn command_line() {
        let cli = Cli::try_parse_from(["wsmand", "--config-dir", "/tmp/x", "check-config"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.config_dir, PathBuf::from("/tmp/x"));
        assert!(matches!(cli.command, Some(Command::CheckConfig)));
        let cli = Cli::try_parse_from(["wsmand", "account", "list", "--config-dir", "/tmp/y"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.config_dir, PathBuf::from("/tmp/y"));
        assert!(Cli::try_parse_from(["wsmand", "bogus"]).is_err());
    }
}
