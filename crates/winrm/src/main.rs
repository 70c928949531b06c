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

use failure::{describe, Failure, EXIT_OK, EXIT_USAGE};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if argv.is_empty() {
        eprint!("{}", help::topic(None).unwrap_or_default());
        return ExitCode::from(EXIT_USAGE);
    }
    let invocation = match args::parse(argv) {
        Ok(i) => i,
        Err(u) => {
            eprint!("{}", describe(&Failure::Usage(u)));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut stdout = std::io::stdout();
    match commands::run(invocation, &mut stdout) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(f) => {
            eprint!("{}", describe(&f));
            ExitCode::from(f.exit_code())
        }
    }
}
