//! After a local write (`winrm set|create|delete --config-dir DIR`): ask the daemon serving DIR
//! to apply the files now and wait for it, so that the change holds when `winrm` returns, as
//! Windows' `winrm` (which goes through the service) does. Protocol:
//! [`wsman_config::control`]; the daemon's side: wsman-server's `control`.

use std::io::{self, Write as _};
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use wsman_config::control;

/// How long `winrm` waits for the daemon's answer. Applying is quick (a listener to bind at
/// most); past this the daemon is stuck, and the change still applies at its next check.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// What the daemon serving a directory said.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The files as they were when it was asked are in force.
    Applied,
    /// It could not load them and keeps the configuration in force; its reason.
    Refused(String),
    /// No daemon serves this directory (no socket, or nobody listens on it).
    NoDaemon,
    /// A daemon was reached but gave no usable answer in time.
    NoAnswer(io::Error),
}

/// Ask the daemon serving `dir` to apply its files now; wait at most about `timeout`.
pub(crate) fn request_apply(dir: &Path, timeout: Duration) -> Outcome {
    let path = control::socket_path(dir);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_socket() => {}
        _ => return Outcome::NoDaemon,
    }
    let mut stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        // Left by a daemon that died: nobody listens.
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Outcome::NoDaemon,
        Err(e) => return Outcome::NoAnswer(e),
    };
    let answer = (|| {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.write_all(format!("{}\n", control::APPLY).as_bytes())?;
        control::read_line(&mut stream)
    })();
    match answer.map(|line| control::parse_answer(&line)) {
        Ok(Some(Ok(()))) => Outcome::Applied,
        Ok(Some(Err(reason))) => Outcome::Refused(reason.0),
        Ok(None) => Outcome::NoAnswer(io::Error::new(
            io::ErrorKind::InvalidData,
            "an answer that is neither applied nor refused",
        )),
        Err(e) => Outcome::NoAnswer(e),
    }
}

/// The note printed (stderr) when the change could not be confirmed; `None` when it was.
pub(crate) fn note(dir: &Path, outcome: &Outcome) -> Option<String> {
    let dir = dir.display();
    match outcome {
        Outcome::Applied | Outcome::Refused(_) => None,
        Outcome::NoDaemon => Some(format!(
            "winrm: no wsmand is running for {dir}: the change applies when it starts or reloads.\n"
        )),
        Outcome::NoAnswer(e) => Some(format!(
            "winrm: wsmand serving {dir} did not confirm the change ({e}): it applies at its next reload (systemctl reload wsmand).\n"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_socket_a_dead_socket_and_a_file_are_no_daemon() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let timeout = Duration::from_secs(1);
        assert!(matches!(
            request_apply(dir.path(), timeout),
            Outcome::NoDaemon
        ));
        // Bound, then closed: the file stays and nobody listens, as after a crash.
        drop(
            std::os::unix::net::UnixListener::bind(control::socket_path(dir.path()))
                .unwrap_or_else(|e| panic!("{e}")),
        );
        assert!(matches!(
            request_apply(dir.path(), timeout),
            Outcome::NoDaemon
        ));
        let other = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(control::socket_path(other.path()), "x").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            request_apply(other.path(), timeout),
            Outcome::NoDaemon
        ));
        let note = note(dir.path(), &Outcome::NoDaemon).unwrap_or_default();
        assert!(note.contains("applies when it starts"), "{note}");
    }
}
