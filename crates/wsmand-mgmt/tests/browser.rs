//! The console in a real browser: Debian's `chromium`, driven by `playwright-core` from
//! `tests/browser/` (`console.mjs`), against the real `wsmand-mgmt` with its PAM helper and a
//! manager user, two real `wsmand` daemons as its fleet (one managing the units of a real
//! systemd booted in its own namespaces), a third host answering with recorded Windows responses
//! (`windows-replay.mjs`), a `sleep` this test starts to be terminated, and a second console
//! that denies 127.0.0.1.
//!
//! The browser script asks this harness, over its stdin and stdout, for what it compares the
//! pages with: `systemctl is-active` and `systemctl is-enabled` run inside the booted system,
//! and whether the test's own child has exited. The expected operating system comes from `/etc/os-release` and `uname`.
//!
//! Runs only with `WSMAN_TEST_BROWSER=1` (the browser stage of `scripts/test.sh`, after
//! `npm ci --ignore-scripts` in `tests/browser/`); otherwise it prints why it is skipped.
//! Screenshots go to `target/browser-artifacts/` (the path is printed).

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use wsman_test::systemd::BootedSystemd;
use wsman_test::{free_port, ConfigDir, Daemon, SERVICE_ACCOUNT, SERVICE_PASSWORD};

mod common;
use common::browser::{
    artifacts_dir, browser_wanted, docs_images_dir, repo_root, run_script, start_windows_replay,
    Reaped,
};
use common::{
    add_manager, console_log, os_release_pretty_name, start_console, start_daemon,
    write_host_password,
};

const MANAGER: &str = "browser-admin";
const MANAGER_PASSWORD: &str = "Browser-Pass-4-Console!";
/// The unit the browser stops and starts inside the booted systemd.
const UNIT: &str = "wsman-browser-probe.service";
const PROBE: &str = "[Unit]\nDescription=wsmand browser test probe\n\n[Service]\nUser=nobody\n\
                     ExecStart=/bin/sleep 100000\n\n[Install]\nWantedBy=multi-user.target\n";

/// The user the console serves as once started as root (its default `--run-as`).
const SERVING_USER: &str = "wsmand-mgmt";

/// A running `wsmand-mgmt`, killed when dropped.
struct Console {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Console {
    /// The console with `hosts` (name, wsmand port) and `extra` lines in mgmt.toml.
    fn start(hosts: &[(&str, u16)], extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let port = free_port();
        let mut toml = format!(
            "EnableRemoteManagement = false\nPort = {port}\nBindAddresses = [\"*\"]\n\
             Certificate = \"auto\"\nCredentials = \"os+manager\"\nUnspecifiedClients = \"Allow\"\n\
             AllowedClients = []\nRequestLog = \"journal\"\nSessionIdleMinutes = 15\n\
             SessionLifetimeHours = 8\n{extra}\n"
        );
        if !extra.contains("SampleIntervalSeconds") {
            toml.push_str("SampleIntervalSeconds = 2\n");
        }
        if !extra.contains("DeniedClients") {
            toml.push_str("DeniedClients = []\n");
        }
        let password_file = write_host_password(dir.path());
        for (name, daemon_port) in hosts {
            toml.push_str(&format!(
                "\n[[Host]]\nName = \"{name}\"\nUrl = \"http://127.0.0.1:{daemon_port}/wsman\"\n\
                 Username = \"{SERVICE_ACCOUNT}\"\nPasswordFile = \"{}\"\nAllowUnencrypted = true\n",
                password_file.display()
            ));
        }
        // Deny by default: the manager's role allows everything on every host.
        toml.push_str(&format!(
            "\n[[Role]]\nName = \"admins\"\nMembers = [\"{MANAGER}\"]\n[[Role.Rule]]\n\
             Effect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
             Actions = [\"read\", \"change\", \"shell\", \"manage\"]\n"
        ));
        std::fs::write(dir.path().join("mgmt.toml"), toml).expect("write mgmt.toml");
        // The manager pages write mgmt.toml as the serving user: the directory is theirs, as
        // docs/management-service.md says to do for editing from the page, and so is the
        // hosts' password file (root reads nothing at start that this user could change).
        if nix::unistd::Uid::effective().is_root() {
            let status = Command::new("chown")
                .arg(SERVING_USER)
                .arg(dir.path())
                .arg(&password_file)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown {SERVING_USER}");
        }
        add_manager(dir.path(), MANAGER, MANAGER_PASSWORD);
        // A console denying 127.0.0.1 accepts and closes: the port is open all the same.
        let (child, port) = start_console(dir.path(), port);
        Self { child, port, dir }
    }

    fn log(&self) -> String {
        console_log(self.dir.path())
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

fn start_host(env: &[(&str, &str)]) -> (ConfigDir, Daemon, u16) {
    start_host_as(env, "root")
}

/// A wsmand host whose service account runs as `user`.
fn start_host_as(env: &[(&str, &str)], user: &str) -> (ConfigDir, Daemon, u16) {
    start_daemon((&|_| {}, env), user, &[])
}

fn kernel_release() -> String {
    let output = Command::new("uname").arg("-r").output().expect("uname");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Answer one question of the browser script (a line after `ASK `) on its stdin.
fn answer(
    question: &str,
    systemd: &BootedSystemd,
    mut victim: Option<&mut Child>,
    to: &mut ChildStdin,
) {
    let reply = if let Some(unit) = question.strip_prefix("is-active ") {
        systemd
            .exec(&["systemctl", "is-active", unit])
            .stdout
            .trim()
            .to_owned()
    } else if let Some(unit) = question.strip_prefix("is-enabled ") {
        systemd
            .exec(&["systemctl", "is-enabled", unit])
            .stdout
            .trim()
            .to_owned()
    } else if question == "failed-units" {
        // The failed services' names, as Win32_Service names them (no `.service`), in order.
        let listed = systemd
            .exec_ok(&[
                "systemctl",
                "list-units",
                "--state=failed",
                "--type=service",
                "--no-legend",
                "--plain",
            ])
            .stdout;
        let mut names: Vec<&str> = listed
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .map(|unit| unit.trim_end_matches(".service"))
            .collect();
        names.sort_unstable();
        names.join(" ")
    } else if question == "log-entry" {
        // A new entry in the booted system's journal (markup in it: the page must show it as
        // text); the browser looks for exactly this message in the live stream.
        let message = format!("browser live <b>{}</b> entry", std::process::id());
        systemd.exec_ok(&[
            "logger",
            "-t",
            "console-browser",
            "-p",
            "user.err",
            &message,
        ]);
        message
    } else if let (Some(victim), "victim-state") = (victim.as_deref_mut(), question) {
        // At once, without waiting: whether the child this test started still runs.
        match victim.try_wait() {
            Ok(None) => "running".to_owned(),
            Ok(Some(status)) => format!("exited {status}"),
            Err(error) => format!("unknown: {error}"),
        }
    } else if let (Some(victim), "victim-exited") = (victim, question) {
        // Waits (bounded) for the child this test started: gone means reaped here.
        match wsman_test::process::wait_until(victim, Duration::from_secs(20)) {
            Some(status) => format!("exited {status}"),
            None => "running".to_owned(),
        }
    } else {
        format!("unknown question {question:?}")
    };
    writeln!(to, "{reply}").expect("answer the browser script");
    to.flush().expect("flush");
}

/// What both browser runs drive: a booted systemd with the probe unit running, the console
/// with four hosts (this machine's wsmand, one managing the booted systemd and reading its
/// journal, one whose shells run as the PAM test user, the Windows replay) and a second
/// console that denies 127.0.0.1. Fields are kept for their `Drop`s.
struct Fleet {
    systemd: BootedSystemd,
    _hosts: Vec<(ConfigDir, Daemon, u16)>,
    _windows: Reaped,
    fixtures: PathBuf,
    console: Console,
    denying: Console,
    /// Released last, once everything above has stopped.
    _turn: MutexGuard<'static, ()>,
}

static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The [`Fleet`] and this run's turn, or `None` (printed why) when the test is not to run here.
fn start_fleet() -> Option<Fleet> {
    if !browser_wanted() {
        return None;
    }
    // One run at a time: each boots a system and drives a browser.
    let turn = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let systemd = BootedSystemd::boot()?;
    // In the vendor directory, as a package installs it: masking (the page's disable) links
    // /etc/systemd/system/UNIT to /dev/null, which systemd refuses over a unit file there.
    systemd.write_file(&format!("/usr/lib/systemd/system/{UNIT}"), PROBE);
    systemd.exec_ok(&["systemctl", "daemon-reload"]);
    systemd.exec_ok(&["systemctl", "start", UNIT]);
    let bus = systemd.bus_address();
    let local = start_host(&[]);
    // Its journal is the booted system's too: the events page's live stream reads it.
    let journal = systemd
        .root()
        .join("var/log/journal")
        .to_str()
        .expect("UTF-8")
        .to_owned();
    let managing = start_host(&[
        ("DBUS_SYSTEM_BUS_ADDRESS", bus.as_str()),
        ("WSMAND_JOURNAL_DIRECTORY", journal.as_str()),
    ]);
    // The terminal's host runs its shells as the PAM test user: a root login shell reads
    // root's profile, which on a build machine may run tools that leave lock files behind
    // when the shell is ended early.
    let shell_user = std::env::var("WSMAN_TEST_PAM_USER").unwrap_or_else(|_| "nobody".into());
    let shell = start_host_as(&[], &shell_user);
    let fixtures = repo_root().join("crates/wsman-proto/tests/fixtures/windows");
    let (windows, windows_port) = start_windows_replay(&fixtures);
    let console = Console::start(
        &[
            ("local", local.2),
            ("systemd", managing.2),
            ("windows", windows_port),
            ("shell", shell.2),
        ],
        "",
    );
    let denying = Console::start(&[("local", local.2)], "DeniedClients = [\"127.0.0.1\"]");
    let fleet = Fleet {
        systemd,
        _hosts: vec![local, managing, shell],
        _windows: windows,
        fixtures,
        console,
        denying,
        _turn: turn,
    };
    Some(fleet)
}

#[test]
fn the_console_in_chromium() {
    let Some(fleet) = start_fleet() else {
        return;
    };
    let Fleet {
        systemd,
        fixtures,
        console,
        denying,
        _hosts: hosts,
        ..
    } = &fleet;
    let mut victim = Reaped(
        Command::new("sleep")
            .arg("100000")
            .spawn()
            .expect("start the process to terminate"),
    );

    // A console that samples once an hour: its host page has one sample all along (the
    // first is taken at its start).
    let one_sample = Console::start(&[("local", hosts[0].2)], "SampleIntervalSeconds = 3600");

    let artifacts = artifacts_dir("console");
    let env = [
        ("ONE_SAMPLE_URL", one_sample.url()),
        ("CONSOLE_URL", console.url()),
        ("DENIED_URL", denying.url()),
        ("MANAGER_USER", MANAGER.to_owned()),
        ("MANAGER_PASSWORD", MANAGER_PASSWORD.to_owned()),
        ("ARTIFACTS", artifacts.display().to_string()),
        ("LOCAL_HOST", "local".to_owned()),
        ("SYSTEMD_HOST", "systemd".to_owned()),
        ("WINDOWS_HOST", "windows".to_owned()),
        ("SHELL_HOST", "shell".to_owned()),
        ("WINDOWS_FIXTURES", fixtures.display().to_string()),
        ("EXPECT_OS", os_release_pretty_name()),
        ("EXPECT_KERNEL", kernel_release()),
        ("UNIT", UNIT.to_owned()),
        ("VICTIM_PID", victim.0.id().to_string()),
        // What the manager pages add as a host: this machine's wsmand again, under a new name.
        (
            "LOCAL_URL",
            format!("http://127.0.0.1:{}/wsman", hosts[0].2),
        ),
        ("HOST_USER", SERVICE_ACCOUNT.to_owned()),
        ("HOST_PASSWORD", SERVICE_PASSWORD.to_owned()),
    ];
    let status = run_script("console.mjs", &env, |question, to| {
        answer(question, systemd, Some(&mut victim.0), to);
    });
    drop(victim);
    assert!(
        status.success(),
        "the browser run failed ({status}); console log:\n{}",
        console.log()
    );
    // The refused browser connection is in the denying console's log, with the address.
    let log = denying.log();
    assert!(
        log.contains("connection refused before TLS") && log.contains("127.0.0.1"),
        "{log}"
    );
    // And the unit the browser started again is running.
    assert_eq!(
        systemd
            .exec(&["systemctl", "is-active", UNIT])
            .stdout
            .trim(),
        "active"
    );
}

/// Every console page through axe-core (from npm, `tests/browser/a11y.mjs`) at 1280 and 390
/// pixels wide, light and dark: no serious or critical violation, nothing wider than a phone's
/// screen, every action reachable by keyboard with a visible focus. It also takes the
/// screenshots the docs show: into `docs/images/` with `WSMAN_DOCS_SCREENSHOTS=1`, else
/// beside the others in `target/browser-artifacts/`.
#[test]
fn every_console_page_passes_axe_at_desktop_and_phone_widths() {
    let Some(fleet) = start_fleet() else {
        return;
    };
    let artifacts = artifacts_dir("a11y");
    let docs_images = docs_images_dir(&artifacts);
    let env = [
        ("CONSOLE_URL", fleet.console.url()),
        ("MANAGER_USER", MANAGER.to_owned()),
        ("MANAGER_PASSWORD", MANAGER_PASSWORD.to_owned()),
        ("ARTIFACTS", artifacts.display().to_string()),
        ("DOCS_IMAGES", docs_images.display().to_string()),
        ("LOCAL_HOST", "local".to_owned()),
        ("SYSTEMD_HOST", "systemd".to_owned()),
        ("WINDOWS_HOST", "windows".to_owned()),
        ("SHELL_HOST", "shell".to_owned()),
        ("UNIT", UNIT.to_owned()),
    ];
    let status = run_script("a11y.mjs", &env, |question, to| {
        answer(question, &fleet.systemd, None, to);
    });
    assert!(
        status.success(),
        "the accessibility run failed ({status}); console log:\n{}",
        fleet.console.log()
    );
}
