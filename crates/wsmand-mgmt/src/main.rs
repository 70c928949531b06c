//! `wsmand-mgmt`: the management service's process. It reads everything it needs while it
//! still may (settings, manager users, certificate, the host passwords the serving user
//! cannot change), binds its port, then drops to an unprivileged user before it serves a
//! single connection, and reads the other host passwords as that user. Before dropping, it
//! starts the privileged PAM helper (`pam-helper`, the same executable) on a socket pair.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use wsman_config::mgmt::{self, ClientRules, MgmtSettings, RequestLog};
use wsmand_mgmt::http::AppState;
use wsmand_mgmt::{hosts, login, pam_helper, password_files, server, sessions, tls};

/// The wsmand management service and its web console (HTTPS, port 8172 by default)
///
/// Settings: DIR/mgmt.toml, changed with `wsmand mgmt set` while the service is stopped.
#[derive(Debug, Parser)]
#[command(name = "wsmand-mgmt", version)]
struct Cli {
    /// Directory holding mgmt.toml, mgmt-users.toml and mgmt-certs/.
    #[arg(long, env = "WSMAND_CONFIG_DIR", default_value = "/etc/wsmand")]
    config_dir: PathBuf,
    /// The unprivileged user the service serves as, once started (when started as root): its
    /// own system user, which the package creates, so nothing else runs with its identity.
    #[arg(long, default_value = "wsmand-mgmt")]
    run_as: String,
    /// Print wsmand-mgmt(8) in roff, or a completion script for a shell, and exit (packaging).
    #[arg(long, value_enum, value_name = "WHAT", hide = true)]
    generate: Option<Generate>,
    #[command(subcommand)]
    helper: Option<Helper>,
}

/// The privileged helper the service starts for itself; not for interactive use.
#[derive(Debug, clap::Subcommand)]
enum Helper {
    /// Answer password checks on stdin (a socket from the service) until it closes.
    #[command(hide = true)]
    PamHelper {
        /// The PAM service (`/etc/pam.d/NAME`).
        #[arg(long)]
        pam_service: String,
        /// Only members of this group are accepted; empty: nobody.
        #[arg(long)]
        login_group: String,
    },
}

/// What `--generate` prints: written from this command line's own definition, as wsmand's,
/// so the man page and the completions say what `--help` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Generate {
    Man,
    Bash,
    Zsh,
    Fish,
}

/// The text `--generate what` prints.
fn generated(what: Generate) -> std::io::Result<Vec<u8>> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let mut command = Cli::command();
    let mut out = Vec::new();
    let shell = match what {
        // Section 8: a system administration daemon.
        Generate::Man => {
            clap_mangen::Man::new(command)
                .section("8")
                .render(&mut out)?;
            return Ok(out);
        }
        Generate::Bash => Shell::Bash,
        Generate::Zsh => Shell::Zsh,
        Generate::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut command, "wsmand-mgmt", &mut out);
    Ok(out)
}

fn init_logging() {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("WSMAND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journald = std::env::var_os("JOURNAL_STREAM")
        .is_some()
        .then(tracing_journald::layer)
        .and_then(Result::ok);
    let registry = tracing_subscriber::registry().with(filter);
    match journald {
        Some(layer) => registry.with(layer).init(),
        None => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init(),
    }
}

/// Becomes `user` (its groups, group and user id) when running as root; a no-op otherwise.
fn drop_privileges(user: &str) -> anyhow::Result<()> {
    use nix::unistd::{setgid, setgroups, setuid, Uid, User};
    if !Uid::effective().is_root() {
        return Ok(());
    }
    let account = User::from_name(user)?.with_context(|| format!("no user {user:?} to run as"))?;
    anyhow::ensure!(
        !account.uid.is_root(),
        "--run-as must name an unprivileged user"
    );
    setgroups(&[account.gid])?;
    setgid(account.gid)?;
    setuid(account.uid)?;
    anyhow::ensure!(
        nix::unistd::setuid(Uid::from_raw(0)).is_err(),
        "root could be regained"
    );
    tracing::info!(
        user,
        uid = account.uid.as_raw(),
        "serving as an unprivileged user"
    );
    Ok(())
}

/// The user the service will serve as, when it runs as root now (and so will drop to it).
fn serving_user(user: &str) -> anyhow::Result<Option<password_files::ServingUser>> {
    if !nix::unistd::Uid::effective().is_root() {
        return Ok(None);
    }
    let account = nix::unistd::User::from_name(user)?
        .with_context(|| format!("no user {user:?} to run as"))?;
    Ok(Some(password_files::ServingUser {
        uid: account.uid.as_raw(),
        gid: account.gid.as_raw(),
    }))
}

/// Creates the request log directory (mode 0750) and, when running as root, gives it to the
/// serving user, who writes the files after the privileges are dropped.
fn prepare_log_directory(
    dir: &std::path::Path,
    user: &str,
) -> anyhow::Result<wsmand_mgmt::request_log::RequestLogDir> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .with_context(|| format!("create {}", dir.display()))?;
    if nix::unistd::Uid::effective().is_root() {
        let account = nix::unistd::User::from_name(user)?
            .with_context(|| format!("no user {user:?} to run as"))?;
        // Not through a link: root gives away only the directory it created or found.
        std::os::unix::fs::lchown(dir, Some(account.uid.as_raw()), Some(account.gid.as_raw()))
            .with_context(|| format!("chown {}", dir.display()))?;
    }
    Ok(wsmand_mgmt::request_log::RequestLogDir::new(dir))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(_run_lock) = mgmt::take_run_lock(&cli.config_dir)
        .with_context(|| format!("lock {}", cli.config_dir.display()))?
    else {
        anyhow::bail!(
            "a management service already runs on {}",
            cli.config_dir.display()
        );
    };
    let settings = MgmtSettings::load(&cli.config_dir)?;
    let rules = ClientRules::from_settings(&settings)?;
    let managers = mgmt::manager_users(&cli.config_dir)?;
    let certificate = tls::load(&settings, &cli.config_dir)?;
    println!(
        "certificate {} SHA-256 fingerprint {}",
        certificate.source.display(),
        certificate.fingerprint
    );
    tracing::info!(fingerprint = %certificate.fingerprint, source = %certificate.source.display(), "certificate");
    // Only what the serving user cannot change is read as root; the fleet is made once the
    // privileges are dropped, reading every other password file as that user.
    let all_hosts: Vec<_> = settings.all_hosts().cloned().collect();
    let preloaded = match serving_user(&cli.run_as)? {
        Some(serving) => password_files::read_as_root(&cli.config_dir, serving, &all_hosts)?,
        None => password_files::Preloaded::default(),
    };
    let samples = Arc::new(wsmand_mgmt::samples::Samples::new(
        all_hosts.iter().map(|h| h.name.as_str()),
        Duration::from_secs(u64::from(settings.sample_interval_seconds)),
    ));
    let (helper, helper_socket) =
        pam_helper::spawn(&settings.pam_service, &settings.os_login_group)
            .context("start the PAM helper")?;
    tracing::info!(pid = helper.id(), "started the PAM helper");
    let listeners = server::bind(&settings)?;
    let request_log_dir = settings
        .request_log_directory
        .as_deref()
        .map(|dir| prepare_log_directory(dir, &cli.run_as))
        .transpose()?;
    drop_privileges(&cli.run_as)?;
    let fleet = hosts::Fleet::start(&all_hosts, &preloaded)?;
    drop(all_hosts);
    drop(preloaded);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let _context = runtime.enter();
    let os_accounts = pam_helper::HelperClient::new(helper_socket)?;
    // Read as the serving user, who writes it. A directory it may not write (root's, 0700)
    // costs the saved views only, said here once.
    let event_views = wsmand_mgmt::event_views::EventViews::load(&cli.config_dir)?;
    if let Some(why) = event_views.unsaved() {
        tracing::warn!(reason = why, "the Events page's views cannot be saved or deleted: saving one is refused until the service's user may write its configuration directory");
    }
    // The helper is reaped by whoever inherits it; it exits when this process's socket closes.
    drop(helper);
    let state = Arc::new(AppState {
        sessions: Arc::new(sessions::Sessions::new(
            Duration::from_secs(u64::from(settings.session_idle_minutes) * 60),
            Duration::from_secs(u64::from(settings.session_lifetime_hours) * 3600),
        )),
        login: login::Login::new(
            settings.credentials,
            managers,
            Some(os_accounts),
            &settings.os_login_group,
        ),
        live: wsmand_mgmt::manage::Live::new(settings.clone(), fleet, cli.config_dir.clone()),
        request_log: settings.request_log == RequestLog::Journal,
        request_log_dir,
        audit: Arc::default(),
        terminals: Arc::default(),
        event_streams: Arc::new(wsmand_mgmt::socket_slots::Terminals::for_event_streams()),
        samples,
        jobs: Arc::default(),
        event_views: Arc::new(event_views),
        updates: Arc::new(wsmand_mgmt::updates::UpdateStates::load(&cli.config_dir)),
    });
    let sampled = Arc::clone(&state);
    runtime.spawn(async move { wsmand_mgmt::samples::run(&sampled.live, &sampled.samples).await });
    runtime.block_on(server::run(listeners, certificate.config, rules, state))
}

/// The helper's process: its stdin is the socket from the service.
fn run_helper(pam_service: &str, login_group: &str) -> anyhow::Result<()> {
    use std::os::fd::AsFd as _;
    let socket = std::io::stdin().as_fd().try_clone_to_owned()?;
    pam_helper::serve(
        std::os::unix::net::UnixStream::from(socket),
        pam_service,
        login_group,
    )
}

fn main() -> std::process::ExitCode {
    // Every login hashes with argon2id (~19 MiB): without a pinned mmap threshold glibc keeps
    // each freed hash buffer resident in a per-thread arena (see wsman_os::allocator).
    let large_buffers_returned = wsman_os::allocator::return_large_buffers_to_the_system();
    let cli = Cli::parse();
    if let Some(what) = cli.generate {
        use std::io::Write as _;
        return match generated(what).and_then(|text| std::io::stdout().write_all(&text)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("wsmand-mgmt: cannot write --generate {what:?}: {error}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    init_logging();
    if !large_buffers_returned {
        tracing::warn!(
            "the C library refused the mmap threshold: freed login buffers may stay resident"
        );
    }
    let result = match cli.helper {
        Some(Helper::PamHelper {
            pam_service,
            login_group,
        }) => run_helper(&pam_service, &login_group),
        None => run(cli),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("wsmand-mgmt: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_and_completions_come_from_the_command_line() {
        use clap::CommandFactory;
        let text = |what| String::from_utf8(generated(what).expect("generate")).expect("UTF-8");
        let man = text(Generate::Man);
        assert!(man.contains(".TH wsmand-mgmt 8"), "{man}");
        let longs: Vec<String> = Cli::command()
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect();
        assert!(longs.contains(&"config-dir".to_owned()), "{longs:?}");
        for long in &longs {
            assert!(
                man.contains(&long.replace('-', "\\-")),
                "man lacks --{long}"
            );
            for shell in [Generate::Bash, Generate::Zsh, Generate::Fish] {
                assert!(
                    text(shell).contains(long.as_str()),
                    "{shell:?} lacks --{long}"
                );
            }
        }
    }
}
