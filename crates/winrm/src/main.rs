//! `winrm`: Windows Remote Management command line with winrm.cmd's syntax, for wsmand and
//! Windows hosts. See `winrm help`; `winrm --generate man` writes winrm(1).
//!
//! Exit codes (also in `winrm help`):
//! - 0: success
//! - 1: WS-Management fault or other operation error
//! - 2: usage error
//! - 3: authentication failure (HTTP 401)
//! - 4: connection, TLS or HTTP error
//! - 5: the client configuration refuses the request (e.g. unencrypted traffic)
//! - 6, 7: with `-r:` of several hosts, some or all of them failed
#![forbid(unsafe_code)]

mod args;
mod backend;
mod commands;
mod configsddl;
mod confirm;
mod failure;
mod fanout;
mod firewall;
mod help;
mod prompt;
mod quickconfig;
mod render;
mod switches;
mod syntax;

use std::process::ExitCode;

use failure::{describe, Failure, TOOL};
use wsman_cli::failure::Why;

fn main() -> ExitCode {
    let argv = wsman_cli::arguments();
    if argv.is_empty() {
        eprint!("{}", help::topic(None).unwrap_or_default());
        return ExitCode::from(TOOL.exit_code(Why::Usage));
    }
    let invocation = match args::parse(argv) {
        Ok(i) => i,
        Err(u) => {
            eprint!("{}", describe(&Failure::Usage(u)));
            return ExitCode::from(TOOL.exit_code(Why::Usage));
        }
    };
    let mut stdout = std::io::stdout();
    match commands::run(invocation, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprint!("{}", describe(&f));
            ExitCode::from(f.exit_code(TOOL))
        }
    }
}
