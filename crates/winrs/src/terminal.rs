//! `-pty`: the local terminal for an interactive remote command. Raw mode while the command
//! runs (every key goes to the remote terminal as typed, which gives it its meaning: Ctrl+C
//! there is the remote foreground job's interrupt), restored when the guard is dropped, which
//! every way out of the run does (its end, an error, SIGTERM or SIGHUP, a panic's unwinding).

use std::io::IsTerminal;

use rustix::termios::{tcgetattr, tcgetwinsize, tcsetattr, OptionalActions, Termios};
use wsman_client::shell::Terminal;

use crate::failure::Failure;

/// The terminal type sent when `TERM` is unset or not a terminfo name.
const FALLBACK_TERM: &str = "xterm";

/// The local terminal as the server should reproduce it: `TERM` and the window size. A usage
/// error when stdin or stdout is not a terminal (there is nothing to reproduce).
pub(crate) fn describe_local() -> Result<Terminal, Failure> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(crate::args::usage("-pty needs a terminal on stdin and stdout").into());
    }
    let term = std::env::var("TERM")
        .ok()
        .filter(|term| wsman_client::shell::is_terminal_type(term))
        .unwrap_or_else(|| FALLBACK_TERM.to_owned());
    let (rows, columns) = window_size();
    Ok(Terminal::new(term, rows, columns))
}

/// The local window's rows and columns (24x80 when the terminal does not say).
pub(crate) fn window_size() -> (u16, u16) {
    match tcgetwinsize(std::io::stdout()) {
        Ok(size) if size.ws_row > 0 && size.ws_col > 0 => (size.ws_row, size.ws_col),
        _ => (24, 80),
    }
}

/// The local terminal in raw mode; the saved mode comes back on drop.
pub(crate) struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub(crate) fn enter() -> Result<Self, Failure> {
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin)
            .map_err(|e| Failure::local(format!("cannot read the terminal's mode: {e}")))?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(&stdin, OptionalActions::Flush, &raw)
            .map_err(|e| Failure::local(format!("cannot put the terminal in raw mode: {e}")))?;
        Ok(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // Output already queued is written first (Drain), then the saved mode is back.
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Drain, &self.saved);
    }
}
