//! The console in a real browser: Debian's `chromium`, driven by `playwright-core` from
//! `tests/browser/` (`console.mjs`), against the real `wsmand-mgmt` with its PAM helper and a
//! manager user, two real `wsmand` daemons as its fleet (one managing the units of a real
//! systemd booted in its own namespaces), a third host answering with recorded Windows responses
//! (`windows-replay.mjs`), a `sleep` this test starts to be terminated, and a second console
//! that denies 127.0.0.1.
//!
//! The browser script asks this harness, over its stdin and stdout, for what it compares the
//! pages with: `systemctl is-active` run inside the booted system, and whether the test's own
//! child has exited. The expected operating system comes from `/etc/os-release` and `uname`.
//!
//! Runs only with `WSMAN_TEST_BROWSER=1` (the browser stage of `scripts/test.sh`, after
//! `npm ci --ignore-scripts` in `tests/browser/`); otherwise it prints why it is skipped.
//! Screenshots go to `target/browser-artifacts/` (the path is printed).

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use wsman_test::systemd::BootedSystemd;
use wsman_test::{free_port, ConfigDir, Daemon, SERVICE_ACCOUNT};

mod common;
use common::{
    add_manager, console_log, os_release_pretty_name, spawn_console, start_daemon,
    wait_for_console, write_host_password,
};

const MANAGER: &str = "browser-admin";
const MANAGER_PASSWORD: &str = "Browser-Pass-4-Console!";
/// The unit the browser stops and starts inside the booted systemd.
const UNIT: &str = "wsman-browser-probe.service";
const PROBE: &str = "[Unit]\nDescription=wsmand browser test probe\n\n[Service]\nUser=nobody\n\
                     ExecStart=/bin/sleep 100000\n\n[Install]\nWantedBy=multi-user.target\n";
/// How long the whole browser run may take before the test fails.
const RUN_DEADLINE: Duration = Duration::from_secs(600);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Why this machine cannot run the browser test, if it cannot.
fn missing_tools() -> Option<String> {
    let suite = repo_root().join("tests/browser");
    if !Path::new("/usr/bin/chromium").is_file() {
        return Some("no /usr/bin/chromium (apt-get install chromium)".to_owned());
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node (apt-get install nodejs)".to_owned());
    }
    if !suite
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return Some(format!(
            "no playwright-core: run npm ci --ignore-scripts in {}",
            suite.display()
        ));
    }
    None
}

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
             Actions = [\"read\", \"change\", \"shell\"]\n"
        ));
        std::fs::write(dir.path().join("mgmt.toml"), toml).expect("write mgmt.toml");
        add_manager(dir.path(), MANAGER, MANAGER_PASSWORD);
        let child = spawn_console(dir.path());
        let mut console = Self { child, port, dir };
        // A console denying 127.0.0.1 accepts and closes: the port is open all the same.
        wait_for_console(&mut console.child, port, console.dir.path());
        console
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

/// `tests/browser/windows-replay.mjs`: a host answering with recorded Windows responses; its
/// port. It ends when the returned child (its stdin) is dropped.
fn start_windows_replay(fixtures: &Path) -> (Reaped, u16) {
    let mut child = Command::new("node")
        .arg(repo_root().join("tests/browser/windows-replay.mjs"))
        .arg(fixtures)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the Windows replay");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("read the replay's port");
    let port = first
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the replay printed {first:?}"));
    (Reaped(child), port)
}

/// Answer one question of the browser script (a line after `ASK `) on its stdin.
/// A child process killed and reaped when dropped, so a failing test leaves none behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn answer(question: &str, systemd: &BootedSystemd, victim: &mut Child, to: &mut ChildStdin) {
    let reply = if let Some(unit) = question.strip_prefix("is-active ") {
        systemd
            .exec(&["systemctl", "is-active", unit])
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
    } else if question == "victim-state" {
        // At once, without waiting: whether the child this test started still runs.
        match victim.try_wait() {
            Ok(None) => "running".to_owned(),
            Ok(Some(status)) => format!("exited {status}"),
            Err(error) => format!("unknown: {error}"),
        }
    } else if question == "victim-exited" {
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

#[test]
fn the_console_in_chromium() {
    if std::env::var("WSMAN_TEST_BROWSER").as_deref() != Ok("1") {
        eprintln!("skipped: set WSMAN_TEST_BROWSER=1 (the browser stage of scripts/test.sh)");
        return;
    }
    if let Some(reason) = missing_tools() {
        panic!("WSMAN_TEST_BROWSER=1 but {reason}");
    }
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    systemd.write_file(&format!("/etc/systemd/system/{UNIT}"), PROBE);
    systemd.exec_ok(&["systemctl", "daemon-reload"]);
    systemd.exec_ok(&["systemctl", "start", UNIT]);
    let bus = systemd.bus_address();
    let (_local_config, _local, local_port) = start_host(&[]);
    // Its journal is the booted system's too: the events page's live stream reads it.
    let journal = systemd
        .root()
        .join("var/log/journal")
        .to_str()
        .expect("UTF-8")
        .to_owned();
    let (_systemd_config, _managing, systemd_port) = start_host(&[
        ("DBUS_SYSTEM_BUS_ADDRESS", bus.as_str()),
        ("WSMAND_JOURNAL_DIRECTORY", journal.as_str()),
    ]);
    // The terminal's host runs its shells as the PAM test user: a root login shell reads
    // root's profile, which on a build machine may run tools that leave lock files behind
    // when the shell is ended early.
    let shell_user = std::env::var("WSMAN_TEST_PAM_USER").unwrap_or_else(|_| "nobody".into());
    let (_shell_config, _shell, shell_port) = start_host_as(&[], &shell_user);
    let fixtures = repo_root().join("crates/wsman-proto/tests/fixtures/windows");
    let (_windows, windows_port) = start_windows_replay(&fixtures);
    let console = Console::start(
        &[
            ("local", local_port),
            ("systemd", systemd_port),
            ("windows", windows_port),
            ("shell", shell_port),
        ],
        "",
    );
    let denying = Console::start(&[("local", local_port)], "DeniedClients = [\"127.0.0.1\"]");
    let mut victim = Reaped(
        Command::new("sleep")
            .arg("100000")
            .spawn()
            .expect("start the process to terminate"),
    );

    let artifacts = repo_root().join("target/browser-artifacts");
    // Only this run's screenshots.
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("create the artefacts directory");
    let artifacts = artifacts.canonicalize().expect("artefacts path");
    eprintln!("screenshots: {}", artifacts.display());
    let suite = repo_root().join("tests/browser");
    let mut node = Command::new("node")
        .arg(suite.join("console.mjs"))
        .current_dir(&suite)
        .env("CONSOLE_URL", console.url())
        .env("DENIED_URL", denying.url())
        .env("MANAGER_USER", MANAGER)
        .env("MANAGER_PASSWORD", MANAGER_PASSWORD)
        .env("ARTIFACTS", &artifacts)
        .env("LOCAL_HOST", "local")
        .env("SYSTEMD_HOST", "systemd")
        .env("WINDOWS_HOST", "windows")
        .env("SHELL_HOST", "shell")
        .env("WINDOWS_FIXTURES", &fixtures)
        .env("EXPECT_OS", os_release_pretty_name())
        .env("EXPECT_KERNEL", kernel_release())
        .env("UNIT", UNIT)
        .env("VICTIM_PID", victim.0.id().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run node");
    let mut to_node = node.stdin.take().expect("stdin");
    let from_node = BufReader::new(node.stdout.take().expect("stdout"));
    let started = Instant::now();
    let watchdog_pid = node.id();
    // The script's own steps have deadlines; this one ends a hung browser run.
    let watchdog = std::thread::spawn(move || {
        while started.elapsed() < RUN_DEADLINE {
            std::thread::sleep(Duration::from_millis(200));
            if !Path::new(&format!("/proc/{watchdog_pid}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill")
            .args(["-KILL", &watchdog_pid.to_string()])
            .status();
    });
    for line in from_node.lines() {
        let line = line.expect("read the browser script's output");
        match line.strip_prefix("ASK ") {
            Some(question) => answer(question, &systemd, &mut victim.0, &mut to_node),
            None => println!("{line}"),
        }
    }
    drop(to_node);
    let status = node.wait().expect("wait for node");
    let _ = watchdog.join();
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
