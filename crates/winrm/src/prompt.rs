//! Reading a password that was not given with -p: without echo from a terminal, else one line
//! from standard input (for scripts: `printf '%s\n' "$PW" | winrm ... -u:admin`).

use std::io::{BufRead, IsTerminal, Read, Write};

use nix::sys::termios::{self, LocalFlags, SetArg};

use crate::failure::Failure;

/// Longest password line accepted from standard input.
const MAX_LINE: usize = 4096;

fn read_line() -> Result<String, Failure> {
    let mut line = String::new();
    let stdin = std::io::stdin();
    let mut handle = stdin.lock().take(MAX_LINE as u64 + 1);
    handle
        .read_line(&mut line)
        .map_err(|e| Failure::operation(format!("cannot read the password: {e}")))?;
    if line.len() > MAX_LINE {
        return Err(Failure::operation("the password line is too long"));
    }
    while line.ends_with(['\n', '\r']) {
        line.pop();
    }
    Ok(line)
}

/// Echo off for the lifetime of the guard; restored on drop (also on errors).
struct EchoOff {
    saved: termios::Termios,
}

impl EchoOff {
    fn new() -> Option<Self> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
        Some(Self { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// The password for `user`.
pub(crate) fn password_for(user: &str) -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        eprint!("Enter the password for '{user}': ");
        let _ = std::io::stderr().flush();
        let guard = EchoOff::new();
        let line = read_line();
        if guard.is_none() {
            eprintln!();
        }
        drop(guard);
        line
    } else {
        read_line()
    }
}
