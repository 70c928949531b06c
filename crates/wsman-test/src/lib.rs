//! Test harness for wsmand: everything the integration tests need to drive the real daemon and
//! the real `winrm` CLI as an operator would, over loopback.
//!
//! What it owns:
//! - [`Fixture`]: the usual setup in one value (config dir + service account + HTTP listener on
//!   a free port + running daemon), with helpers to post requests and run `winrm -r:`;
//! - [`binaries`]: locating the built `wsmand` and `winrm` executables;
//! - [`ConfigDir`]: a temporary config dir in the shared layout (`config.toml`, `accounts.toml`
//!   via `wsmand account add`, `certs/THUMB.{crt,key}`, `policy.d/`);
//! - [`Daemon`]: a spawned `wsmand --config-dir DIR` with its stderr captured to a file,
//!   waited for until its port accepts, killed when dropped (no leaked processes);
//! - [`http`]: raw HTTP/1.1 over `TcpStream` (for inputs curl cannot produce: lying
//!   Content-Length, stalled headers) and a curl wrapper;
//! - [`soap`]: request envelopes and reading faults out of responses;
//! - [`xmlnorm`]: an XML normaliser for golden comparisons;
//! - [`shape`]: an answer's structure, values aside, for differential tests against recorded
//!   Windows answers;
//! - [`process`]: running a command with a deadline, so no test can hang.
//! - [`ecma321`]: an SLDC writer from the standard's symbol table, independent of ours, for
//!   bodies framed as other encoders frame them (padding after End of Record);
//! - [`line_receiver`]: a TCP line receiver in the test process, the far end of the
//!   collector's TCP output, that can be killed mid-stream and started again on its port;
//! - [`kdc`]: a throwaway MIT Kerberos realm on 127.0.0.1 (`scripts/kdc.sh`), stopped on drop.
//! - [`postgres`]: a throwaway PostgreSQL server on 127.0.0.1 (initdb, pg_ctl), stopped on drop.
//! - [`client_certs`]: throwaway CAs and client certificates for the certificate profile.
//! - [`journal`]: journal directories made from export-format text by
//!   `systemd-journal-remote`, for deterministic event tests;
//! - [`ipmi`]: a real BMC, OpenIPMI's `ipmi_sim` on a free 127.0.0.1 UDP port with sensors
//!   and a SEL, and `ipmitool` against it; killed on drop.
//! - [`syslog_receivers`]: rsyslog and syslog-ng as child processes on 127.0.0.1 with their own
//!   configuration, the far end of the collector's syslog output; killed on drop.
//! - [`systemd`]: a real systemd booted as PID 1 of its own namespaces inside the cached
//!   debootstrap root (`scripts/sysroot.sh`), for service and journal tests; killed on drop.
//! - [`packagekit`]: a real packagekitd with a test backend (dummy, test_fail) and polkitd on a
//!   D-Bus system bus of their own, in a mount namespace of their own; killed on drop.
//!
//! What it refuses to do: talk to anything but 127.0.0.1, or assert on timing.
#![forbid(unsafe_code)]

pub mod binaries;
pub mod client_certs;
mod config_dir;
mod daemon;
pub mod ecma321;
mod fixture;
pub mod http;
pub mod ipmi;
pub mod journal;
pub mod kdc;
pub mod line_receiver;
pub mod packagekit;
pub mod postgres;
pub mod process;
pub mod shape;
pub mod soap;
pub mod syslog_receivers;
pub mod systemd;
pub mod tmpfs;
pub mod xmlnorm;

pub use config_dir::{ConfigDir, ListenerSpec, SERVICE_ACCOUNT, SERVICE_PASSWORD};
pub use daemon::Daemon;
pub use fixture::{winrm_basic, winrm_basic_as, winrs_basic_as, Fixture};

use std::net::TcpListener;

/// A test cannot run here for `reason`: it is skipped (the reason printed), unless the
/// environment variable `require` is `1` (the suite's own run, where everything it needs was
/// installed), and then the test fails.
pub fn skipped(require: &str, reason: impl std::fmt::Display) {
    if std::env::var_os(require).is_some_and(|v| v == "1") {
        panic!("{require}=1 but {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// The daemon's environment that keeps the collector's bookmarks and event store in the SQLite
/// database `database`.
pub fn wec_database_env(database: &std::path::Path) -> [(&'static str, &str); 1] {
    [(
        "WSMAND_WEC_DATABASE",
        database.to_str().expect("UTF-8 database path"),
    )]
}

/// Calls `attempt` every 50 ms until it gives a value, for at most `within`; past that, panics
/// with what `missing` says (called then only).
pub fn poll<T>(
    within: std::time::Duration,
    mut attempt: impl FnMut() -> Option<T>,
    missing: impl FnOnce() -> String,
) -> T {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = attempt() {
            return value;
        }
        if std::time::Instant::now() >= deadline {
            panic!("{}", missing());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A new temporary directory named `prefix…`, removed when dropped; `purpose` says in the
/// panic what it was for when it cannot be made.
pub fn scratch_dir(prefix: &str, purpose: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap_or_else(|e| panic!("create a temporary directory for {purpose}: {e}"))
}

/// A port that was free on 127.0.0.1 a moment ago: bind port 0, read the port, drop the socket.
///
/// Never the same port twice in one test process: the kernel may hand a port just released
/// to the next bind of port 0, and the tests of one binary run side by side, so two of them
/// could be given one port and the second server's bind fail. There is still a small window
/// in which another process (or an outgoing connection's local port) takes it: the console's
/// harness starts again on another port then (`wsmand-mgmt`'s `tests/common`).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // A port given before stays bound until the loop ends, so the next bind gets another.
    let mut held = Vec::new();
    loop {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
        held.push(listener);
    }
}

/// The switches of our CLIs (`winrm`, `winrs`) that reach the daemon listening on `port` as
/// the service account, with Basic over plain HTTP.
pub fn basic_http_switches(port: u16) -> [String; 5] {
    [
        format!("-r:http://127.0.0.1:{port}/wsman"),
        format!("-u:{SERVICE_ACCOUNT}"),
        format!("-p:{SERVICE_PASSWORD}"),
        "-a:Basic".to_owned(),
        "-unencrypted".to_owned(),
    ]
}

/// The real PAM test user and password from `WSMAN_TEST_PAM_USER` / `WSMAN_TEST_PAM_PASSWORD`
/// (set by `scripts/test.sh`), or `None` with the reason printed, so the caller can skip.
pub fn pam_credentials() -> Option<(String, String)> {
    match (
        std::env::var("WSMAN_TEST_PAM_USER"),
        std::env::var("WSMAN_TEST_PAM_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) if !user.is_empty() => Some((user, password)),
        _ => {
            eprintln!(
                "skipped: WSMAN_TEST_PAM_USER / WSMAN_TEST_PAM_PASSWORD not set (scripts/test.sh sets them when run as root)"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    /// A thousand ports asked in a row are a thousand ports: without the record of those
    /// given, the kernel hands a just-released port out again well within a thousand binds.
    #[test]
    fn free_port_never_gives_a_port_twice() {
        let mut ports: Vec<u16> = (0..1000).map(|_| super::free_port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 1000);
    }
}
