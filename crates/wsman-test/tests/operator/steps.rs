//! What the package tests (`package.rs` for the .deb, `rpm_install.rs` for the rpms) share: a
//! run of steps inside a booted systemd whose failures are collected, each named by its step,
//! and the host's `winrm identify` reaching the installed daemon.

use std::time::{Duration, Instant};

use super::booted::{ACCOUNT, PASSWORD};
use wsman_test::process::{self, Finished};
use wsman_test::systemd::BootedSystemd;
use wsman_test::{binaries, ConfigDir};

/// The groups the packages create, and their system user's.
pub(crate) const GROUPS: [&str; 5] = [
    "wsmand-admins",
    "wsmand-wmi-users",
    "wsmand-remote-users",
    "wsmand-event-readers",
    "wsmand-mgmt",
];

/// The failures of the steps so far, each named by its step.
pub(crate) struct Steps<'a> {
    pub(crate) systemd: &'a BootedSystemd,
    step: &'static str,
    /// What `begin` prints before a step's name (`package`, `rpm`).
    label: &'static str,
    pub(crate) failures: Vec<String>,
}

impl<'a> Steps<'a> {
    pub(crate) fn new(systemd: &'a BootedSystemd, label: &'static str) -> Self {
        Steps {
            systemd,
            step: "",
            label,
            failures: Vec::new(),
        }
    }

    pub(crate) fn begin(&mut self, step: &'static str) {
        eprintln!("{} step: {step}", self.label);
        self.step = step;
    }

    pub(crate) fn check(&mut self, ok: bool, what: impl std::fmt::Display) {
        if !ok {
            let failure = format!("[{}] {what}", self.step);
            eprintln!("FAILED: {failure}");
            self.failures.push(failure);
        }
    }

    pub(crate) fn equal(&mut self, what: &str, got: &str, want: &str) {
        self.check(got == want, format!("{what}: {got:?}, not {want:?}"));
    }

    /// Run `argv` inside; a failure when it does not exit 0.
    pub(crate) fn run(&mut self, argv: &[&str]) -> Finished {
        let finished = self.systemd.exec(argv);
        let ok = finished.status.success();
        self.check(ok, format!("{argv:?} failed: {}", finished.describe()));
        finished
    }

    pub(crate) fn property(&self, unit: &str, property: &str) -> String {
        self.systemd.unit_property(unit, property)
    }

    pub(crate) fn exists(&self, path: &str) -> bool {
        self.systemd.exec(&["test", "-e", path]).status.success()
    }

    /// The daemon answers Identify on 127.0.0.1:`port` within 30 s.
    pub(crate) fn answers_identify(&mut self, port: u16) {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < Duration::from_secs(30) {
            let answered = identify(port);
            if answered.code() == 0 && answered.stdout.contains("IdentifyResponse") {
                return;
            }
            last = Some(answered);
            std::thread::sleep(Duration::from_millis(200));
        }
        let journal = self
            .systemd
            .exec(&["journalctl", "-u", "wsmand", "-n", "30", "--no-pager"]);
        let client = last.map(|f| f.describe()).unwrap_or_default();
        self.check(
            false,
            format!(
                "no Identify answer on {port}: {client}\n{}",
                journal.describe()
            ),
        );
    }

    /// Nothing answers on 127.0.0.1:`port`.
    pub(crate) fn refuses(&mut self, port: u16) {
        let connected = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        self.check(!connected, format!("something still listens on {port}"));
    }
}

/// The host's `winrm identify` against 127.0.0.1:`port` as the service account.
fn identify(port: u16) -> Finished {
    let client = ConfigDir::new();
    client.write();
    let mut identify = std::process::Command::new(binaries::winrm());
    identify
        .args([
            "identify",
            &format!("-r:http://127.0.0.1:{port}/wsman"),
            &format!("-u:{ACCOUNT}"),
            &format!("-p:{PASSWORD}"),
            "-a:Basic",
            "-unencrypted",
        ])
        .env("WSMAND_CONFIG_DIR", client.path());
    process::run(&mut identify, None, Duration::from_secs(60))
}
