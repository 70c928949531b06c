//! systemd readiness notification (`sd_notify` protocol) without libsystemd: one datagram to
//! `$NOTIFY_SOCKET` (a path, or an abstract socket name written with a leading `@`).

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Send `state` (e.g. `READY=1`) if the service manager asked for notifications. Failures are
/// logged and otherwise ignored: a missing notification must not stop the service.
pub(crate) fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&target, state) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

fn send(target: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    let bytes = target.as_bytes();
    let address = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(std::path::Path::new(target))?,
    };
    socket.send_to_addr(state.as_bytes(), &address)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap_or_else(|e| panic!("{e}"));
        send(path.as_os_str(), "READY=1").unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        let name = format!("wsmand-notify-test-{}", std::process::id());
        let address =
            SocketAddr::from_abstract_name(name.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let receiver = UnixDatagram::bind_addr(&address).unwrap_or_else(|e| panic!("{e}"));
        send(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&buf[..n], b"STOPPING=1");
    }
}
