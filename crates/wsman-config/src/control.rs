//! The daemon's control socket, `.control.sock` in the runtime directory of DIR
//! ([`crate::runtime::dir`]: `/run/wsmand` for `/etc/wsmand`): after a local `winrm --config-dir DIR`
//! wrote the files, it asks the daemon serving DIR to apply them now and waits for the answer,
//! so that the change holds when `winrm` returns, as Windows' `winrm` (which goes through the
//! service) does. One request line, one answer line: `apply` → `applied` or `refused REASON`.
//! The daemon side is in wsman-server, the client in winrm; this is the protocol they share
//! (no socket here: this crate does file I/O only).

use std::io::{self, BufRead as _, BufReader};
use std::path::{Path, PathBuf};

/// The socket's name inside the runtime directory.
pub const SOCKET_FILE: &str = ".control.sock";
/// The one request: apply the files as they are on disk now.
pub const APPLY: &str = "apply";
/// The answer when the files on disk are in force.
pub const APPLIED: &str = "applied";
/// The answer's first word when they could not be loaded (the reason follows).
pub const REFUSED: &str = "refused";
/// The longest line either side reads: bounded before it is buffered.
pub const MAX_LINE: usize = 4096;

/// Where the daemon serving the configuration directory `dir` listens.
pub fn socket_path(dir: &Path) -> PathBuf {
    crate::runtime::dir(dir).join(SOCKET_FILE)
}

/// One line of at most [`MAX_LINE`] bytes, without its newline.
pub fn read_line(stream: impl io::Read) -> io::Result<String> {
    let mut line = String::new();
    BufReader::new(stream.take(MAX_LINE as u64)).read_line(&mut line)?;
    if !line.ends_with('\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the line ended early or was too long",
        ));
    }
    line.pop();
    Ok(line)
}

/// Why the daemon did not apply the files (one line, as it sends it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The daemon's answer: `Ok(())` applied, `Err` refused.
pub type Answer = Result<(), Refused>;

/// The answer line as an [`Answer`]; `None` for anything else.
pub fn parse_answer(line: &str) -> Option<Answer> {
    if line == APPLIED {
        return Some(Ok(()));
    }
    match line.split_once(' ') {
        Some((REFUSED, reason)) => Some(Err(Refused(reason.to_owned()))),
        _ if line == REFUSED => Some(Err(Refused(String::new()))),
        _ => None,
    }
}

/// The answer line for a result (a reason on one line).
pub fn answer_line(result: &Answer) -> String {
    match result {
        Ok(()) => format!("{APPLIED}\n"),
        Err(Refused(reason)) => {
            let reason: String = reason
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MAX_LINE / 2)
                .collect();
            format!("{REFUSED} {reason}\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_back() {
        assert_eq!(parse_answer(answer_line(&Ok(())).trim_end()), Some(Ok(())));
        let line = answer_line(&Err(Refused("config.toml:2: wrong\ntype".to_owned())));
        assert_eq!(line, "refused config.toml:2: wrong type\n");
        assert_eq!(
            parse_answer(line.trim_end()),
            Some(Err(Refused("config.toml:2: wrong type".to_owned())))
        );
        assert_eq!(parse_answer("maybe"), None);
    }

    #[test]
    fn lines_are_bounded() {
        assert_eq!(
            read_line(&b"apply\nmore"[..]).ok().as_deref(),
            Some("apply")
        );
        assert!(read_line(&b"apply"[..]).is_err());
        assert!(read_line(&vec![b'a'; MAX_LINE + 10][..]).is_err());
    }
}
