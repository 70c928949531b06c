//! `winrs`: run a command on a WinRM host (wsmand or Windows) with Windows' winrs syntax,
//! connected to this terminal. See `winrs -?` (help.rs, over the
//! table in switches.rs) for switches and exit codes; `winrs --generate man` writes winrs(1).
#![forbid(unsafe_code)]

mod args;
mod failure;
mod fanout;
mod help;
mod powershell;
mod session;
mod stdin;
mod switches;
mod terminal;

use std::io::IsTerminal;
use std::process::ExitCode;

use wsman_cli::machine::config_dir;
use wsman_cli::targets::{self, Remote};
use wsman_cli::{AuthChoice, CliError};
use wsman_client::{Client, ClientOptions};

use args::{Invocation, Parsed};
use failure::{describe, exit_status, Failure, EXIT_INTERRUPTED, EXIT_USAGE};
use session::Ending;

/// `-r:` when none is given, as on Windows.
const DEFAULT_REMOTE: &str = "localhost";

fn client_options(inv: &Invocation) -> Result<ClientOptions, Failure> {
    let c = &inv.switches.connection;
    let wants_password =
        c.username.is_some() && c.password.is_none() && c.auth != Some(AuthChoice::None);
    if wants_password && !std::io::stdin().is_terminal() {
        return Err(args::usage(
            "-p: is required when stdin is not a terminal (stdin goes to the remote command)",
        )
        .into());
    }
    let user_agent = concat!("wsmand-winrs/", env!("CARGO_PKG_VERSION"));
    let settings = wsman_cli::machine::client_settings(&config_dir(None))?;
    c.client_options(user_agent, &settings, wsman_cli::read_password)
        .map_err(|e| match e {
            CliError::Usage(u) => Failure::Usage(u),
            other => Failure::local(other.to_string()),
        })
}

/// The hosts of a fan-out run, or `None` for the one host of a plain run (`-r:HOST` without
/// `-output:`, exactly as before fan-out existed).
fn fan_out_hosts(inv: &Invocation) -> Result<Option<Vec<String>>, Failure> {
    let remote = remote(inv);
    let groups = targets::read_groups(&config_dir(None))?;
    Ok(match targets::resolve(remote, &groups)? {
        Remote::Many(hosts) => Some(hosts),
        Remote::Single(host) => inv.switches.fan_out.output.map(|_| vec![host]),
        _ => None,
    })
}

/// How a run ended: one command's ending, or the exit code of a fan-out.
enum Finish {
    One(Ending),
    Many(u8),
}

/// `-r:` as given, or the default host.
fn remote(inv: &Invocation) -> &str {
    inv.switches
        .connection
        .remote
        .as_deref()
        .unwrap_or(DEFAULT_REMOTE)
}

fn run(inv: Invocation) -> Result<Finish, Failure> {
    let hosts = fan_out_hosts(&inv)?;
    let options = client_options(&inv)?;
    let (shell, d) = (&inv.switches.shell, &inv.switches.detached);
    let endpoint = match &hosts {
        Some(_) => None,
        None => Some(inv.switches.connection.endpoint(remote(&inv))?),
    };
    // One host: a current-thread runtime (no worker threads to start, no wake-ups handed
    // between threads; stdin is read on the blocking pool either way). A fan-out seals and
    // parses for many hosts at once: two workers.
    let runtime = match hosts {
        Some(_) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .map_err(|e| Failure::local(format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(async {
        match (hosts, endpoint) {
            (Some(_), _) if d.list || d.detach || d.attach.is_some() => {
                Err(Failure::local("-detach, -attach: and -list take one host"))
            }
            (Some(_), _) if shell.pty => Err(Failure::local("-pty takes one host")),
            (Some(_), _) if shell.powershell => Err(Failure::local("-ps takes one host")),
            (Some(hosts), _) => fanout::run(&inv, hosts, options).await.map(Finish::Many),
            (None, Some(endpoint)) => {
                let client = Client::new(endpoint, options)?;
                let ending = if d.list {
                    session::list(&client).await
                } else if let Some(shell_id) = &d.attach {
                    session::attach(&client, shell_id).await
                } else if shell.powershell {
                    let script = powershell::script(&inv.command, &inv.arguments);
                    powershell::run(&client, &script).await
                } else if d.detach {
                    let idle = d.idle_timeout_ms.map(std::time::Duration::from_millis);
                    session::detach(&client, shell, &inv.command, &inv.arguments, idle).await
                } else {
                    session::run(&client, shell, &inv.command, &inv.arguments).await
                };
                ending.map(Finish::One)
            }
            (None, None) => Err(Failure::local("no host to run on")),
        }
    });
    // The stdin reader may be blocked in a read that never returns (a terminal nobody types
    // into): do not wait for it.
    runtime.shutdown_background();
    result
}

fn main() -> ExitCode {
    let argv = wsman_cli::arguments();
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
        Ok(Parsed::Completion(shell)) => {
            print!("{}", help::completion(shell));
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(i)) => *i,
        Err(u) => {
            eprint!("{}", describe(&Failure::Usage(u)));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(invocation) {
        Ok(Finish::Many(code)) => ExitCode::from(code),
        Ok(Finish::One(Ending::Exited(code))) => ExitCode::from(exit_status(code)),
        Ok(Finish::One(Ending::Interrupted)) => ExitCode::from(EXIT_INTERRUPTED),
        Ok(Finish::One(Ending::Stopped { signal })) => {
            ExitCode::from(exit_status(128 + i64::from(signal)))
        }
        Err(f) => {
            eprint!("{}", describe(&f));
            ExitCode::from(f.exit_code(failure::TOOL))
        }
    }
}
