//! The control socket `.control.sock` in the runtime directory of DIR (`/run/wsmand` for
//! `/etc/wsmand`, [`wsman_config::runtime`]; protocol in [`wsman_config::control`]): a local
//! `winrm --config-dir DIR` that wrote the files asks the daemon to apply them now and waits
//! for the answer, instead of returning before the once-a-second check has seen them.
//!
//! The daemon runs as root and the directory may be the operator's: the socket is made only in a
//! directory that no other user can write (so nobody else can have put a link or a file where
//! it goes), an existing file there is removed only when it is a socket nobody listens on (a
//! daemon that died), and only root or the daemon's own user may ask. Each request is a line
//! read with a bound on its size and its time.

use std::io;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use wsman_config::control::{self, Answer, Refused};

/// How long a client gets to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One request to apply the files: the run loop answers on it.
pub type ApplyRequest = oneshot::Sender<Answer>;

/// The socket while it is served; the file is removed on drop if it is still ours.
pub struct ControlSocket {
    path: PathBuf,
    inode: u64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && m.ino() == self.inode);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Why the socket is not served (logged; the files are still checked every second).
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{dir} can be written by other users than the daemon's")]
    DirOpen { dir: PathBuf },
    #[error("{path} exists and is not a socket")]
    NotASocket { path: PathBuf },
    #[error("another daemon serves {path}")]
    InUse { path: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Serve the control socket of the configuration directory `dir`; each request arrives on
/// `requests`.
pub fn serve(
    dir: &Path,
    requests: mpsc::Sender<ApplyRequest>,
) -> Result<ControlSocket, ControlError> {
    let path = control::socket_path(dir);
    let io_error = |source| ControlError::Io {
        path: path.clone(),
        source,
    };
    let owner = wsman_os::process::daemon_uid();
    let runtime = wsman_config::runtime::ensure_dir(dir).map_err(io_error)?;
    let meta = std::fs::metadata(&runtime).map_err(io_error)?;
    if (meta.uid() != owner && meta.uid() != 0) || meta.mode() & 0o022 != 0 {
        return Err(ControlError::DirOpen { dir: runtime });
    }
    match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.file_type().is_socket() => return Err(ControlError::NotASocket { path }),
        Ok(_) => match std::os::unix::net::UnixStream::connect(&path) {
            Ok(_) => return Err(ControlError::InUse { path }),
            // Left by a daemon that died: nobody listens.
            Err(_) => std::fs::remove_file(&path).map_err(io_error)?,
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(e)),
    }
    let listener = UnixListener::bind(&path).map_err(io_error)?;
    let inode = std::fs::symlink_metadata(&path).map_err(io_error)?.ino();
    let task = tokio::spawn(accept(listener, requests, owner));
    Ok(ControlSocket { path, inode, task })
}

async fn accept(listener: UnixListener, requests: mpsc::Sender<ApplyRequest>, owner: u32) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "control socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let allowed = stream
            .peer_cred()
            .is_ok_and(|c| c.uid() == 0 || c.uid() == owner);
        if !allowed {
            tracing::warn!("control socket: a request from another user refused");
            continue;
        }
        tokio::spawn(answer(stream, requests.clone()));
    }
}

async fn answer(mut stream: UnixStream, requests: mpsc::Sender<ApplyRequest>) {
    let line = match tokio::time::timeout(REQUEST_TIMEOUT, read_line(&mut stream)).await {
        Ok(Ok(line)) => line,
        _ => return,
    };
    let outcome = if line == control::APPLY {
        let (reply, answered) = oneshot::channel();
        match requests.send(reply).await {
            Ok(()) => answered
                .await
                .unwrap_or_else(|_| Err(Refused("the daemon is stopping".to_owned()))),
            Err(_) => Err(Refused("the daemon is stopping".to_owned())),
        }
    } else {
        Err(Refused("unknown request".to_owned()))
    };
    let _ = stream
        .write_all(control::answer_line(&outcome).as_bytes())
        .await;
}

/// The request line, read up to its newline (the client then waits for the answer), at most
/// [`control::MAX_LINE`] bytes.
async fn read_line(stream: &mut UnixStream) -> io::Result<String> {
    let mut line = Vec::with_capacity(16);
    let mut chunk = [0u8; 256];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        line.extend_from_slice(&chunk[..n]);
        if let Some(end) = line.iter().position(|&b| b == b'\n') {
            line.truncate(end);
            return String::from_utf8(line).map_err(|_| io::ErrorKind::InvalidData.into());
        }
        if line.len() > control::MAX_LINE {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
}
