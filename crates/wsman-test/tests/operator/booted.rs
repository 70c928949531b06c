//! What the tests of wsmand under a booted systemd share (`operator.rs`, `package.rs`):
//! the configuration they give it, starting a unit and waiting for its port, and the host's
//! clients against it.

use std::process::Command;
use std::time::{Duration, Instant};

use wsman_test::process::{self, Finished};
use wsman_test::systemd::BootedSystemd;
use wsman_test::{binaries, ConfigDir};

/// The service account the tests' clients sign in as.
pub(crate) const ACCOUNT: &str = "auditsvc";
pub(crate) const PASSWORD: &str = "Audit-Svc-Pass1";

/// Write `/etc/wsmand/config.toml` inside: one HTTP listener on 127.0.0.1:`port`, Basic over
/// HTTP (loopback test only), and the service account `ACCOUNT` acting as root, added with
/// `wsmand` (at `wsmand_path` inside).
pub(crate) fn configure(systemd: &BootedSystemd, wsmand_path: &str, port: u16) {
    systemd.exec_ok(&["mkdir", "-p", "/etc/wsmand"]);
    systemd.write_file(
        "/etc/wsmand/config.toml",
        &format!(
            "[Config.Service]\nAllowUnencrypted = true\n\n[Config.Service.Auth]\nBasic = true\n\n\
             [[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTP\"\nPort = {port}\n"
        ),
    );
    let add = format!(
        "printf '%s\\n' '{PASSWORD}' | {wsmand_path} --config-dir /etc/wsmand account add {ACCOUNT} --password-stdin --run-as root"
    );
    systemd.exec_ok(&["sh", "-c", &add]);
}

/// Start `unit` and wait for its port on the host's loopback.
pub(crate) fn start_and_wait(systemd: &BootedSystemd, unit: &str, port: u16) {
    systemd.exec_ok(&["systemctl", "start", unit]);
    wait_for_port(systemd, unit, port);
}

/// Wait until something listens on 127.0.0.1:`port` (`unit`'s journal in the failure).
pub(crate) fn wait_for_port(systemd: &BootedSystemd, unit: &str, port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{unit} does not listen on {port}: {}",
            systemd
                .exec(&["journalctl", "-u", unit, "--no-pager"])
                .describe()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The host's `winrs` as `user` with `password` (Basic over HTTP, its client settings in a
/// temporary dir) against 127.0.0.1:`port`, with `args` (switches, then the command) after
/// the connection's.
pub(crate) fn winrs_as(port: u16, user: &str, password: &str, args: &[&str]) -> Finished {
    let client = ConfigDir::new();
    client.write();
    let mut winrs = Command::new(binaries::path("winrs"));
    winrs
        .args([
            &format!("-r:http://127.0.0.1:{port}/wsman"),
            &format!("-u:{user}"),
            &format!("-p:{password}"),
            "-a:Basic",
            "-unencrypted",
        ])
        .args(args)
        .env("WSMAND_CONFIG_DIR", client.path());
    process::run(&mut winrs, None, Duration::from_secs(60))
}
