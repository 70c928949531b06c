//! Windows Event Forwarding from a Linux host: a real wsmand as the forwarder, reading the
//! journal of a real systemd booted in its own namespaces, and a real wsmand as the collector
//! (a subscription file, the file output) on loopback, Basic with a service account.
//!
//! Entries logged in the namespace with `logger` (a unique tag) must reach the collector's file
//! in order, with the record ids journald gave them (read back with `journalctl -o export`),
//! gap-free, across a collector killed mid-stream and restarted, and a forwarder restarted
//! mid-stream, and a journal vacuumed past the forwarder's cursor while it was stopped (the
//! lost records are named by an event of their own). The first event is Windows' EventID 111,
//! sent once (the collector has a bookmark afterwards). A forwarder frozen with SIGSTOP past
//! its heartbeats is reported dead and resumes gap-free; what it puts on the wire is held to
//! the transcribed messages of a Windows forwarder (header set and order, SLDC, UTF-16).
//!
//! By concern: [`journal`] (delivery across restarts and freezes, the journal's reads),
//! [`collectors`] (what collectors offer and answer, their changes and SIGHUP, paged answers),
//! [`authentication`] (client certificates, Kerberos), [`windows_shape`] (what goes on the
//! wire against a Windows forwarder's messages).

mod authentication;
mod collectors;
mod journal;
mod windows_shape;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wsman_test::systemd::BootedSystemd;
use wsman_test::{free_port, ConfigDir, Daemon, Fixture, ListenerSpec};
use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

/// What every forwarding test starts from: a booted systemd and its journal, a scratch
/// directory for the collector's output and bookmark database, and a tag of the test's own.
struct Scene {
    systemd: BootedSystemd,
    journal: PathBuf,
    state: tempfile::TempDir,
    output: PathBuf,
    database: PathBuf,
    tag: String,
}

impl Scene {
    /// `None` (reason printed) where systemd cannot boot here.
    fn boot(tag: &str) -> Option<Scene> {
        let systemd = BootedSystemd::boot()?;
        let journal = systemd.root().join("var/log/journal");
        let state = tempfile::tempdir().expect("tempdir");
        let output = state.path().join("out");
        let database = state.path().join("wec.sqlite");
        Some(Scene {
            systemd,
            journal,
            state,
            output,
            database,
            tag: format!("{tag}-{}", std::process::id()),
        })
    }
}

/// A collector subscription selecting the entries tagged `tag`, with `delivery` settings
/// (TOML lines), written as raw XML to `file` under `output`.
fn subscription(tag: &str, output: &Path, delivery: &str, file: &str) -> String {
    format!(
        "query = '<QueryList><Query Id=\"0\"><Select Path=\"Application\">*[System[Provider[@Name=\"{tag}\"]]]</Select></Query></QueryList>'\n{delivery}[[outputs]]\ntype = \"file\"\npath = \"{}/{file}\"\nformat = \"raw\"\n",
        output.display()
    )
}

/// The journal's sequence numbers of the entries tagged `tag`, in order: `__SEQNUM` where
/// journalctl prints it, else the `i=` (hex) part of the cursor, which is the same number.
fn journal_records(systemd: &BootedSystemd, tag: &str, count: usize) -> Vec<u64> {
    let export = systemd.journal_until(&["-t", tag, "-o", "export"], |out| {
        out.lines().filter(|l| l.starts_with("__CURSOR=")).count() >= count
    });
    seqnums(&export)
}

/// The sequence numbers of every entry `journalctl ARGS` prints.
fn journal_records_of(systemd: &BootedSystemd, args: &[&str]) -> Vec<u64> {
    let mut argv = vec!["-o", "export"];
    argv.extend_from_slice(args);
    seqnums(&systemd.journal_until(&argv, |out| out.contains("__CURSOR=")))
}

fn seqnums(export: &str) -> Vec<u64> {
    let seqnums: Vec<u64> = export
        .lines()
        .filter_map(|l| l.strip_prefix("__SEQNUM="))
        .map(|n| n.parse().expect("a sequence number"))
        .collect();
    if !seqnums.is_empty() {
        return seqnums;
    }
    export
        .lines()
        .filter_map(|l| l.strip_prefix("__CURSOR="))
        .filter_map(|c| c.split(';').find_map(|p| p.strip_prefix("i=")))
        .map(|hex| u64::from_str_radix(hex, 16).expect("a hex sequence number"))
        .collect()
}

/// EventRecordIDs of the events of `provider` in the collector's raw file, in file order.
fn collected(file: &Path, provider: &str) -> Vec<u64> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.contains(&format!("Name='{provider}'")) || l.contains(&format!("Name=\"{provider}\""))
        })
        .filter_map(|l| {
            l.split("<EventRecordID>")
                .nth(1)?
                .split('<')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn log_entries(systemd: &BootedSystemd, tag: &str, range: std::ops::Range<usize>) {
    for n in range {
        systemd.exec_ok(&[
            "logger",
            "-t",
            tag,
            "-p",
            "user.warning",
            &format!("forwarded entry {n}"),
        ]);
    }
}

/// SIGHUP: the collector reads its subscriptions again.
fn hang_up(daemon: &Daemon) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

/// SIGTERM: the daemon's orderly stop (Daemon::stop kills outright).
fn terminate(daemon: &mut Daemon) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &daemon.pid().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    while daemon.is_running() {
        assert!(Instant::now() < deadline, "wsmand did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A forwarding wsmand over an empty journal directory (under `state`, which also keeps its
/// cursors), enumerating `manager` (a subscription manager URL) with Basic as `user` over
/// plain HTTP: for tests of what it sends and reads, not of what the journal holds.
fn forwarder_over_an_empty_journal(
    state: &Path,
    computer: &str,
    manager: &str,
    user: &str,
    password: &str,
) -> Daemon {
    let journal = state.join("journal");
    std::fs::create_dir(&journal).expect("an empty journal directory");
    let password_file = state.join("password");
    std::fs::write(&password_file, format!("{password}\n")).expect("password file");
    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    config.write_raw(
        "forwarding.toml",
        &format!(
            "computer = \"{computer}\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server={manager},Refresh=60\"\nauthentication = \"basic\"\nusername = \"{user}\"\npassword_file = \"{}\"\nallow_unencrypted = true\n",
            state.join("cursors").display(),
            password_file.display()
        ),
    );
    let env = [("WSMAND_JOURNAL_DIRECTORY", journal.to_str().expect("utf-8"))];
    Daemon::start_with_env(&config, &[port], &env)
}
