//! wsmand as an operator runs it: under systemd, as the unit in `dist/`, inside a real systemd
//! booted as PID 1 of its own namespaces over the cached Debian root (see
//! `wsman_test::systemd`). It shares the host's network, so the host's `winrs` reaches it on
//! 127.0.0.1.
//!
//! - the audit records of a real `winrs` command in that system's journal, selected with
//!   `journalctl WSMAN_AUDIT=1` and checked field by field in journalctl's JSON output.
//!
//! - the Debian package of `scripts/deb.sh` (from the debug binaries, stripped) installed
//!   with `dpkg -i` in that system: the unit starts, the `wsmand-admins` group exists, the man
//!   pages and completions are in place, wsmand answers Identify, a Linux account's command
//!   runs inside a session of the package's PAM file (pam_unix's lines in the journal); `dpkg -r` leaves the
//!   configuration, `dpkg -P` removes it, and the group stays.
//!
//! Skipped with a printed reason where the machine cannot boot systemd; `scripts/test.sh` as
//! root sets `WSMAN_TEST_REQUIRE_SYSTEMD=1` so CI runs them.

use std::process::Command;
use std::time::{Duration, Instant};

use wsman_test::process::{self, Finished};
use wsman_test::systemd::BootedSystemd;
use wsman_test::{binaries, free_port, ConfigDir};

const ACCOUNT: &str = "auditsvc";
const PASSWORD: &str = "Audit-Svc-Pass1";

/// Write `/etc/wsmand/config.toml` inside: one HTTP listener on 127.0.0.1:`port`, Basic over
/// HTTP (loopback test only), and the service account `ACCOUNT` acting as root, added with
/// `wsmand` (at `wsmand_path` inside).
fn configure(systemd: &BootedSystemd, wsmand_path: &str, port: u16) {
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
fn start_and_wait(systemd: &BootedSystemd, unit: &str, port: u16) {
    systemd.exec_ok(&["systemctl", "start", unit]);
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

/// A Linux account the package test creates inside the booted system.
const PAM_USER: &str = "pamuser";
const PAM_PASSWORD: &str = "Pam-User-Pass1";

/// The host's `winrs` (Basic over HTTP, its client settings in a temporary dir) against
/// 127.0.0.1:`port`, with `args` (switches, then the command) after the connection's.
fn winrs(port: u16, args: &[&str]) -> Finished {
    winrs_as(port, ACCOUNT, PASSWORD, args)
}

/// [`winrs`] as `user` with `password`.
fn winrs_as(port: u16, user: &str, password: &str, args: &[&str]) -> Finished {
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

#[test]
fn audit_records_are_journal_fields() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let port = free_port();
    let inside = systemd.root().join("usr/local/bin/wsmand");
    std::fs::copy(binaries::wsmand(), &inside)
        .unwrap_or_else(|e| panic!("copy wsmand into {}: {e}", inside.display()));
    configure(&systemd, "/usr/local/bin/wsmand", port);
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/wsmand.service"),
    )
    .expect("read dist/wsmand.service");
    systemd.write_file("/etc/systemd/system/wsmand.service", &unit);
    systemd.exec_ok(&["systemctl", "daemon-reload"]);
    start_and_wait(&systemd, "wsmand.service", port);

    let finished = winrs(port, &["echo audited; exit 3"]);
    assert_eq!(finished.code(), 3, "{}", finished.describe());
    assert_eq!(finished.stdout.trim(), "audited", "{}", finished.describe());
    // A detached shell, taken up again: its disconnect and reconnect are audited too.
    let detached = winrs(port, &["-detach", "echo later"]);
    assert_eq!(detached.code(), 0, "{}", detached.describe());
    let shell_id = detached.stdout.trim().to_owned();
    let attached = winrs(port, &[&format!("-attach:{shell_id}")]);
    assert_eq!(attached.stdout.trim(), "later", "{}", attached.describe());

    let printed = systemd.journal_until(&["WSMAN_AUDIT=1", "-o", "json"], |text| {
        text.matches("shell_ended").count() == 2 && text.contains("shell_reconnected")
    });
    let records: Vec<serde_json::Value> = printed
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let event = |name: &str| {
        records
            .iter()
            .find(|r| r["WSMAN_EVENT"] == name)
            .unwrap_or_else(|| panic!("no {name} record in:\n{printed}"))
    };
    for name in [
        "shell_created",
        "command_started",
        "command_ended",
        "shell_ended",
        "shell_disconnected",
        "shell_reconnected",
    ] {
        let record = event(name);
        assert_eq!(record["WSMAN_AUDIT"], "1", "{record}");
        assert_eq!(record["WSMAN_USER"], ACCOUNT, "{record}");
        assert_eq!(record["WSMAN_REMOTE_ADDRESS"], "127.0.0.1", "{record}");
        assert_eq!(record["_SYSTEMD_UNIT"], "wsmand.service", "{record}");
        assert!(record["MESSAGE"].is_string(), "{record}");
    }
    let started = event("command_started");
    assert_eq!(started["WSMAN_COMMAND_LINE"], "echo audited; exit 3");
    let ended = event("command_ended");
    assert_eq!(ended["WSMAN_COMMAND_LINE"], "echo audited; exit 3");
    assert_eq!(ended["WSMAN_EXIT_CODE"], "3", "{ended}");
    assert!(
        ended["WSMAN_DURATION_MS"]
            .as_str()
            .is_some_and(|ms| ms.parse::<u64>().is_ok()),
        "{ended}"
    );
    assert_eq!(ended["WSMAN_SHELL_ID"], started["WSMAN_SHELL_ID"]);
    assert_eq!(ended["WSMAN_COMMAND_ID"], started["WSMAN_COMMAND_ID"]);
    for name in ["shell_disconnected", "shell_reconnected"] {
        assert_eq!(
            event(name)["WSMAN_SHELL_ID"],
            shell_id.as_str(),
            "{printed}"
        );
    }
    // A match on a field selects exactly the records that have it.
    let by_exit = systemd.journal_until(
        &["WSMAN_AUDIT=1", "WSMAN_EXIT_CODE=3", "-o", "json"],
        |text| !text.is_empty(),
    );
    assert_eq!(by_exit.lines().count(), 1, "{by_exit}");
    // Nothing else of the daemon's log carries the audit field.
    let all = systemd.journal_until(&["-u", "wsmand.service", "-o", "json"], |t| {
        t.contains("listener ready")
    });
    let audit_lines = all
        .lines()
        .filter(|l| l.contains("\"WSMAN_AUDIT\""))
        .count();
    assert_eq!(audit_lines, records.len(), "{all}");
}

#[test]
fn the_package_installs_serves_and_purges() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let started = Instant::now();
    let out = tempfile::tempdir().expect("a directory for the package");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut build = Command::new("bash");
    build
        .arg(repo.join("scripts/deb.sh"))
        .args(["--no-build", "--no-compress", "--output"])
        .arg(out.path())
        .current_dir(&repo);
    let built = process::run(&mut build, None, Duration::from_secs(300));
    assert_eq!(built.code(), 0, "{}", built.describe());
    let deb = std::path::PathBuf::from(built.stdout.trim());
    let inside = systemd.root().join("tmp/wsmand.deb");
    std::fs::copy(&deb, &inside).unwrap_or_else(|e| panic!("copy {}: {e}", deb.display()));
    systemd.exec_ok(&["dpkg", "-i", "/tmp/wsmand.deb"]);

    installed_files_are_in_place(&systemd);
    the_console_runs_as_its_own_user(&systemd);
    let port = the_daemon_answers_identify(&systemd);
    commands_run_in_a_pam_session(&systemd, port);
    remove_and_purge_keep_what_they_should(&systemd);
    eprintln!("package test took {:?}", started.elapsed());
}

/// Installed: group, unit enabled and running (no listener yet), pages and completions.
fn installed_files_are_in_place(systemd: &BootedSystemd) {
    systemd.exec_ok(&["getent", "group", "wsmand-admins"]);
    assert_eq!(
        systemd.unit_property("wsmand.service", "UnitFileState"),
        "enabled"
    );
    for path in [
        "/usr/bin/wsmand",
        "/usr/bin/winrm",
        "/usr/bin/winrs",
        "/usr/bin/wevtutil",
        "/usr/lib/wsmand/wsmand-session",
        "/etc/pam.d/wsmand",
        "/usr/share/man/man8/wsmand.8.gz",
        "/usr/share/man/man1/winrm.1.gz",
        "/usr/share/man/man1/winrs.1.gz",
        "/usr/share/bash-completion/completions/winrm",
        "/usr/share/zsh/vendor-completions/_winrs",
        "/usr/share/fish/vendor_completions.d/wsmand.fish",
    ] {
        systemd.exec_ok(&["test", "-s", path]);
    }
    let man = systemd.exec_ok(&["sh", "-c", "zcat /usr/share/man/man8/wsmand.8.gz"]);
    assert!(man.stdout.contains(".TH wsmand 8"), "{}", man.describe());
    assert!(
        man.stdout.contains("metrics\\-address"),
        "{}",
        man.describe()
    );
    let file = systemd.exec_ok(&["sh", "-c", "LC_ALL=C od -An -c -N4 /usr/bin/wsmand"]);
    assert!(file.stdout.contains("E   L   F"), "{}", file.describe());
}

/// The management service: installed disabled, run as its own system user, made at install.
fn the_console_runs_as_its_own_user(systemd: &BootedSystemd) {
    let account = systemd.exec_ok(&["getent", "passwd", "wsmand-mgmt"]);
    assert!(
        account.stdout.trim_end().ends_with(":/usr/sbin/nologin"),
        "{}",
        account.describe()
    );
    assert_eq!(
        systemd.unit_property("wsmand-mgmt.service", "UnitFileState"),
        "disabled"
    );
    let mgmt_port = free_port();
    let mgmt_dir = systemd.root().join("etc/wsmand");
    std::fs::create_dir_all(&mgmt_dir).expect("/etc/wsmand");
    std::fs::write(
        mgmt_dir.join("mgmt.toml"),
        format!(
            "EnableRemoteManagement = false\nPort = {mgmt_port}\nBindAddresses = [\"*\"]\n\
             Certificate = \"auto\"\nCredentials = \"os\"\nUnspecifiedClients = \"Allow\"\n\
             AllowedClients = []\nDeniedClients = []\nRequestLog = \"journal\"\n\
             SessionIdleMinutes = 15\nSessionLifetimeHours = 8\n"
        ),
    )
    .expect("write mgmt.toml");
    start_and_wait(systemd, "wsmand-mgmt.service", mgmt_port);
    let main_pid = systemd.unit_property("wsmand-mgmt.service", "MainPID");
    let owner = systemd.exec_ok(&["stat", "-c", "%U", &format!("/proc/{main_pid}")]);
    assert_eq!(owner.stdout.trim(), "wsmand-mgmt", "{}", owner.describe());
    systemd.exec_ok(&["systemctl", "stop", "wsmand-mgmt.service"]);
}

/// Configured and restarted, the daemon answers Identify on the host's loopback; its port.
fn the_daemon_answers_identify(systemd: &BootedSystemd) -> u16 {
    // Configured and restarted, it answers Identify on the host's loopback.
    let port = free_port();
    configure(systemd, "/usr/bin/wsmand", port);
    systemd.exec_ok(&["systemctl", "restart", "wsmand.service"]);
    start_and_wait(systemd, "wsmand.service", port);
    let client = ConfigDir::new();
    client.write();
    let mut identify = Command::new(binaries::winrm());
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
    let answered = process::run(&mut identify, None, Duration::from_secs(60));
    answered.assert_printed("IdentifyResponse");
    assert_eq!(
        systemd.unit_property("wsmand.service", "ActiveState"),
        "active"
    );
    port
}

/// A Linux account's command runs in a session of the package's PAM file, opened by its helper.
fn commands_run_in_a_pam_session(systemd: &BootedSystemd, port: u16) {
    // A Linux account's command runs inside a session of the package's PAM file, opened by
    // the packaged helper: pam_unix's session lines in the journal, the helper its parent.
    systemd.exec_ok(&["useradd", "--create-home", PAM_USER]);
    systemd.exec_ok(&[
        "sh",
        "-c",
        &format!("echo '{PAM_USER}:{PAM_PASSWORD}' | chpasswd"),
    ]);
    let ran = winrs_as(
        port,
        PAM_USER,
        PAM_PASSWORD,
        &["cat /proc/$PPID/comm; id -un"],
    );
    assert_eq!(ran.code(), 0, "{}", ran.describe());
    assert_eq!(
        ran.stdout,
        format!("wsmand-session\n{PAM_USER}\n"),
        "{}",
        ran.describe()
    );
    let opened = format!("pam_unix(wsmand:session): session opened for user {PAM_USER}");
    let closed = format!("pam_unix(wsmand:session): session closed for user {PAM_USER}");
    let journal =
        systemd.journal_until(&[], |text| text.contains(&opened) && text.contains(&closed));
    assert_eq!(
        (
            journal.matches(&opened).count(),
            journal.matches(&closed).count()
        ),
        (1, 1),
        "{journal}"
    );
}

/// Removed: binaries and unit gone, configuration kept; purged: configuration gone, group kept.
fn remove_and_purge_keep_what_they_should(systemd: &BootedSystemd) {
    // Removed: binaries and unit gone, configuration and group kept.
    systemd.exec_ok(&["dpkg", "-r", "wsmand"]);
    assert_eq!(
        systemd.unit_property("wsmand.service", "ActiveState"),
        "inactive"
    );
    for gone in ["/usr/bin/wsmand", "/lib/systemd/system/wsmand.service"] {
        assert!(
            !systemd.exec(&["test", "-e", gone]).status.success(),
            "{gone} left after remove"
        );
    }
    for kept in [
        "/etc/wsmand/config.toml",
        "/etc/wsmand/accounts.toml",
        "/etc/pam.d/wsmand",
    ] {
        systemd.exec_ok(&["test", "-e", kept]);
    }
    // Purged: configuration gone, the group (an administrator's) kept.
    systemd.exec_ok(&["dpkg", "-P", "wsmand"]);
    for gone in ["/etc/wsmand", "/etc/pam.d/wsmand", "/var/lib/wsmand"] {
        assert!(
            !systemd.exec(&["test", "-e", gone]).status.success(),
            "{gone} left after purge"
        );
    }
    systemd.exec_ok(&["getent", "group", "wsmand-admins"]);
}
