//! A new shell's options checked and completed before anything starts: stream names, the
//! environment, the terminal and the working directory. Windows' defaults fill what is left out.

use crate::error::ShellError;
use crate::types::ShellOptions;

/// Windows' default streams where the request names none; each name a non-empty word, each
/// variable a name without `=` or NUL, a terminal a terminfo name, a directory absolute.
pub(super) fn normalize_options(mut options: ShellOptions) -> Result<ShellOptions, ShellError> {
    if options.input_streams.is_empty() {
        options.input_streams = vec!["stdin".to_owned()];
    }
    if options.output_streams.is_empty() {
        options.output_streams = vec!["stdout".to_owned(), "stderr".to_owned()];
    }
    let streams = options.input_streams.iter().chain(&options.output_streams);
    if streams
        .clone()
        .any(|name| name.is_empty() || name.contains(char::is_whitespace))
    {
        return Err(ShellError::InvalidOption {
            reason: "stream names must be non-empty words",
        });
    }
    for (name, value) in &options.environment {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            return Err(ShellError::InvalidEnvironment { name: name.clone() });
        }
    }
    if let Some(terminal) = &options.terminal {
        check_terminal(terminal)?;
    }
    if let Some(directory) = &options.working_directory {
        if !directory.is_absolute() {
            return Err(ShellError::WorkingDirectory {
                path: directory.clone(),
            });
        }
    }
    Ok(options)
}

/// The longest `TERM` accepted (terminfo names are short; ncurses allows 128 bytes of path).
const MAX_TERM_BYTES: usize = 64;

/// A terminal type is a terminfo name (letters, digits, `-`, `.`, `+`, `_`), never a path, and
/// a window has at least one row and column.
fn check_terminal(terminal: &crate::types::TerminalOptions) -> Result<(), ShellError> {
    let term = &terminal.term;
    let name_ok = !term.is_empty()
        && term.len() <= MAX_TERM_BYTES
        && term
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.+_".contains(&b));
    if !name_ok {
        return Err(ShellError::InvalidOption {
            reason: "the terminal type must be a terminfo name",
        });
    }
    if terminal.window.rows == 0 || terminal.window.columns == 0 {
        return Err(ShellError::InvalidOption {
            reason: "the terminal window must have at least one row and one column",
        });
    }
    Ok(())
}
