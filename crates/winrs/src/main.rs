//! `winrs`: run a command on a WinRM host (wsmand or Windows) with Windows' winrs syntax,
//! connected to this terminal. See `winrs -?` (help.rs, over the
//! table in switches.rs) for switches and exit codes; `winrs --generate man` writes winrs(1).
#![forbid(unsafe_code)]

mod args;
mod failure;
mod help;
mod session;
mod switches;

use std::io::IsTerminal;
use std::process::ExitCode;

use wsman_cli::{AuthChoice, CliError, ClientSettings};
use wsman_client::{Client, ClientOptions, Endpoint};

use args::{Invocation, Parsed};
use failure::{describe, exit_status, Failure, EXIT_INTERRUPTED, EXIT_USAGE};
use session::Ending;

/// `-r:` when none is given, as on Windows.
const DEFAULT_REMOTE: &str = "localhost";

fn client_settings(inv: &Invocation) -> Result<(Endpoint, ClientOptions), Failure> {
    let c = &inv.connection;
    let wants_password =
        c.username.is_some() && c.password.is_none() && c.auth != Some(AuthChoice::None);
    if wants_password && !std::io::stdin().is_terminal() {
        return Err(args::usage(
            "-p: is required when stdin is not a terminal (stdin goes to the remote command)",
        )
        .into());
    }
    let user_agent = concat!("wsmand-winrs/", env!("CARGO_PKG_VERSION"));
    let settings = machine_client_settings()?;
    let options = c
        .client_options(user_agent, &settings, wsman_cli::read_password)
        .map_err(|e| match e {
            CliError::Usage(u) => Failure::Usage(u.into()),
            other => Failure::local(other.to_string()),
        })?;
    let endpoint = c.endpoint(c.remote.as_deref().unwrap_or(DEFAULT_REMOTE))?;
    Ok((endpoint, options))
}

/// This machine's WinRM client settings (`winrm/config/client` in `WSMAND_CONFIG_DIR`, else
/// `/etc/wsmand`, as `winrm` reads them; Windows' defaults when there is no config.toml).
fn machine_client_settings() -> Result<ClientSettings, Failure> {
    let dir = match std::env::var_os("WSMAND_CONFIG_DIR") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => std::path::PathBuf::from("/etc/wsmand"),
    };
    let store = wsman_config::ConfigStore::open(&dir).map_err(|e| {
        Failure::local(format!(
            "cannot read the WinRM client configuration in {}: {e}",
            dir.display()
        ))
    })?;
    let client = &store.config().client;
    let mut settings = ClientSettings::default();
    settings.allow_unencrypted = client.allow_unencrypted;
    settings.trusted_hosts = client.trusted_hosts.clone();
    settings.certs_dir = Some(store.certs_dir());
    Ok(settings)
}

fn run(inv: Invocation) -> Result<Ending, Failure> {
    let (endpoint, options) = client_settings(&inv)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::local(format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(async {
        let client = Client::new(endpoint, options)?;
        let d = &inv.detached;
        if d.list {
            session::list(&client).await
        } else if let Some(shell_id) = &d.attach {
            session::attach(&client, shell_id).await
        } else if d.detach {
            let idle = d.idle_timeout_ms.map(std::time::Duration::from_millis);
            session::detach(&client, &inv.shell, &inv.command, &inv.arguments, idle).await
        } else {
            session::run(&client, &inv.shell, &inv.command, &inv.arguments).await
        }
    });
    // The stdin reader may be blocked in a read that never returns (a terminal nobody types
    // into): do not wait for it.
    runtime.shutdown_background();
    result
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if argv.is_empty() {
        eprint!("{}", help::help());
        return ExitCode::from(EXIT_USAGE);
    }
    let invocation = match args::parse(argv) {
        Ok(Parsed::Help) => {
            print!("{}", help::help());
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Man) => {
            print!("{}", help::man_page());
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(i)) => *i,
        Err(u) => {
            eprint!("{}", describe(&Failure::Usage(u)));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(invocation) {
        Ok(Ending::Exited(code)) => ExitCode::from(exit_status(code)),
        Ok(Ending::Interrupted) => ExitCode::from(EXIT_INTERRUPTED),
        Ok(Ending::Stopped { signal }) => ExitCode::from(exit_status(128 + i64::from(signal))),
        Err(f) => {
            eprint!("{}", describe(&f));
            ExitCode::from(f.exit_code())
        }
    }
}
