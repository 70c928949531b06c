//! A running `wsmand --config-dir DIR`, killed when dropped.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config_dir::ConfigDir;
use crate::process::{self, Finished};

/// How long a daemon may take to open its listeners. Generous: CI machines are slow.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A spawned daemon. Its stderr goes to a file so that a chatty daemon can never block on a
/// full pipe, and so tests can read the log at any time.
pub struct Daemon {
    child: Child,
    log_dir: tempfile::TempDir,
}

impl Daemon {
    /// Spawn `wsmand --config-dir DIR` and wait until every port in `ports` accepts TCP
    /// connections. Panics (with the daemon's stderr) if it exits or does not open them in time.
    pub fn start(config: &ConfigDir, ports: &[u16]) -> Self {
        let mut daemon = Self::spawn(config);
        for &port in ports {
            daemon.wait_for_port(port);
        }
        daemon
    }

    /// [`Daemon::start`] with extra environment variables for the daemon only (e.g. its own
    /// `KRB5_CONFIG`), on top of the test process's environment.
    pub fn start_with_env(config: &ConfigDir, ports: &[u16], env: &[(&str, &str)]) -> Self {
        let mut daemon = Self::spawn_with_env(config, env);
        for &port in ports {
            daemon.wait_for_port(port);
        }
        daemon
    }

    /// Spawn without waiting for anything.
    pub fn spawn(config: &ConfigDir) -> Self {
        Self::spawn_with_env(config, &[])
    }

    fn spawn_with_env(config: &ConfigDir, env: &[(&str, &str)]) -> Self {
        let log_dir = crate::scratch_dir("wsmand-log-", "the daemon's logs");
        let stderr = File::create(log_dir.path().join("stderr.log")).expect("create stderr log");
        let stdout = File::create(log_dir.path().join("stdout.log")).expect("create stdout log");
        let child = Command::new(crate::binaries::wsmand())
            .arg("--config-dir")
            .arg(config.path())
            .env_remove("WSMAND_CONFIG_DIR")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn wsmand");
        Self { child, log_dir }
    }

    /// Run the daemon on `config` expecting it to exit by itself (e.g. a corrupted config).
    pub fn run_to_exit(config: &ConfigDir, deadline: Duration) -> Finished {
        let mut command = Command::new(crate::binaries::wsmand());
        command
            .arg("--config-dir")
            .arg(config.path())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM");
        process::run(&mut command, None, deadline)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    pub fn stderr_path(&self) -> PathBuf {
        self.log_dir.path().join("stderr.log")
    }

    /// Wait until this daemon listens on `port` (bounded): its own "listening" line for the
    /// port, and 127.0.0.1:`port` accepting. Why the line: another test's server can take the
    /// port between `free_port` and this daemon's bind; it accepts too, while this daemon has
    /// exited on its bind error, and the test would talk to the other server.
    pub fn wait_for_port(&mut self, port: u16) {
        let stderr = self.stderr_path();
        self.wait_until(&format!("its listener on port {port}"), || {
            let log = std::fs::read_to_string(&stderr).unwrap_or_default();
            listens_on(&log, port) && port_accepts(port)
        });
    }

    /// Wait until 127.0.0.1:`port` refuses connections (a listener was removed), bounded.
    pub fn wait_for_port_closed(&mut self, port: u16) {
        self.wait_until(&format!("port {port} to close"), || !port_accepts(port));
    }

    /// Poll `condition` until it holds; panic with the daemon's stderr if the daemon exits or
    /// the deadline passes.
    pub fn wait_until(&mut self, what: &str, mut condition: impl FnMut() -> bool) {
        let start = Instant::now();
        loop {
            if condition() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "wsmand exited ({status}) while waiting for {what}\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            if start.elapsed() > START_DEADLINE {
                panic!(
                    "timed out waiting for {what}\n--- wsmand stderr ---\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Wait until the daemon's stderr holds `text` (bounded, as [`Daemon::wait_until`]).
    pub fn wait_for_log(&mut self, text: &str) {
        let stderr = self.stderr_path();
        self.wait_until(&format!("{text:?} in the log"), || {
            std::fs::read_to_string(&stderr)
                .unwrap_or_default()
                .contains(text)
        });
    }

    /// SIGHUP: the daemon reads its configuration again.
    pub fn hang_up(&self) {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("kill -HUP");
        assert!(status.success(), "kill -HUP {}", self.pid());
    }

    /// SIGHUP, then wait until the daemon's log says `what` once more than before.
    pub fn reload_until(&mut self, what: &str) {
        let count = |log: &str| log.matches(what).count();
        let before = count(&self.stderr());
        self.hang_up();
        let stderr = self.stderr_path();
        self.wait_until(what, || {
            count(&std::fs::read_to_string(&stderr).unwrap_or_default()) > before
        });
    }

    /// Stop the daemon (SIGKILL) and reap it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- wsmand stderr ---\n{}", self.stderr());
        }
    }
}

/// True when a TCP connection to 127.0.0.1:`port` succeeds.
/// Whether a daemon's log says it bound a listener on `port`: the server's "listening" line
/// for a WS-Management listener, "metrics endpoint ready" for the metrics endpoint's.
fn listens_on(log: &str, port: u16) -> bool {
    let suffix = format!(":{port}");
    log.lines()
        .filter_map(|line| {
            line.split(" listening address=")
                .nth(1)
                .or_else(|| line.split(" metrics endpoint ready address=").nth(1))
        })
        .filter_map(|rest| rest.split_whitespace().next())
        .any(|address| address.ends_with(&suffix))
}

pub(crate) fn port_accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::listens_on;

    /// Lines as wsmand writes them: only a line of a bind on the port itself counts.
    #[test]
    fn only_the_daemons_own_listening_line_for_the_port_counts() {
        let log = "2026-11-27T09:47:42.350356Z  INFO wsman_server::server: listening address=127.0.0.1:43561 transport=\"HTTP\" path=/wsman\n\
                   2026-11-27T09:47:42.350521Z  INFO wsmand: listener ready address=IP:127.0.0.1 transport=\"HTTP\" socket=127.0.0.1:40241\n";
        assert!(listens_on(log, 43561));
        let metrics = "2026-11-27T10:32:06.696739Z  INFO wsmand: metrics endpoint ready address=127.0.0.1:44885\n";
        assert!(listens_on(metrics, 44885), "the metrics endpoint's line");
        assert!(!listens_on(log, 40241), "listener ready is not the bind");
        assert!(
            !listens_on(log, 3561),
            "a port that is only the end of another"
        );
        assert!(!listens_on("", 43561));
    }
}
