//! What an operator reads in `journalctl -u wsmand`, inside a real systemd booted as PID 1 of
//! its own namespaces over the cached Debian root (see `wsman_test::systemd`), wsmand run as the
//! unit in `dist/`:
//!
//! - the plain lines (`-o short`) of a failed login, a listener start and a refused reload each
//!   say who, where and why in their text, not only in journal fields a plain reader never sees;
//! - pam_unix's failure line names the client (`rhost=127.0.0.1`): PAM got `PAM_RHOST`;
//! - the password of the failed login is nowhere in the journal, in no field;
//! - a group made after the start (`wsmand-remote-users`) is looked up again at a reload;
//! - the runtime files (the control socket, the writers' locks) are under `/run/wsmand`, not
//!   among the configuration in `/etc/wsmand`.
//!
//! Skipped with a printed reason where the machine cannot boot systemd; `scripts/test.sh` as
//! root sets `WSMAN_TEST_REQUIRE_SYSTEMD=1` so CI runs it.

#[path = "operator/booted.rs"]
#[allow(dead_code)] // this binary uses the clients and the port wait, not the account set-up
mod booted;

use wsman_test::systemd::BootedSystemd;
use wsman_test::{binaries, free_port};

/// A Linux account made inside the booted system; its login is refused with `WRONG_PASSWORD`.
const USER: &str = "journaluser";
const PASSWORD: &str = "Journal-User-Pass1";
const WRONG_PASSWORD: &str = "Not-The-Password-7";

/// The config: one HTTP listener on 127.0.0.1:`port`, Basic over HTTP (loopback test only).
fn config(port: u16) -> String {
    format!(
        "[Config.Service]\nAllowUnencrypted = true\n\n[Config.Service.Auth]\nBasic = true\n\n\
         [[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTP\"\nPort = {port}\n"
    )
}

/// A booted systemd (`None` where it cannot boot here) with wsmand, its unit and its PAM file
/// (the repository's) installed inside and a Linux account made; the unit started and
/// listening on the port returned.
fn booted_with_wsmand() -> Option<(BootedSystemd, u16)> {
    let systemd = BootedSystemd::boot()?;
    let port = free_port();
    let inside = systemd.root().join("usr/local/bin/wsmand");
    std::fs::copy(binaries::wsmand(), &inside)
        .unwrap_or_else(|e| panic!("copy wsmand into {}: {e}", inside.display()));
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |path: &str| {
        std::fs::read_to_string(repo.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
    };
    systemd.write_file(
        "/etc/systemd/system/wsmand.service",
        &read("dist/wsmand.service"),
    );
    systemd.write_file("/etc/pam.d/wsmand", &read("dist/wsmand.pam"));
    systemd.exec_ok(&["mkdir", "-p", "/etc/wsmand"]);
    systemd.write_file("/etc/wsmand/config.toml", &config(port));
    systemd.exec_ok(&["useradd", "--create-home", USER]);
    systemd.exec_ok(&["sh", "-c", &format!("echo '{USER}:{PASSWORD}' | chpasswd")]);
    systemd.exec_ok(&["systemctl", "daemon-reload"]);
    booted::start_and_wait(&systemd, "wsmand.service", port);
    Some((systemd, port))
}

/// The one line of `journal` holding every one of `parts`; panics with the journal otherwise.
fn line_with<'a>(journal: &'a str, parts: &[&str]) -> &'a str {
    journal
        .lines()
        .find(|line| parts.iter().all(|part| line.contains(part)))
        .unwrap_or_else(|| panic!("no line with all of {parts:?} in:\n{journal}"))
}

#[test]
fn the_plain_journal_says_who_where_and_why() {
    let Some((systemd, port)) = booted_with_wsmand() else {
        return;
    };

    // A failed login of a Linux account: the daemon's line and pam_unix's.
    let refused = booted::winrs_as(port, USER, WRONG_PASSWORD, &["echo never"]);
    assert_ne!(refused.code(), 0, "{}", refused.describe());
    let failed = "401: authentication failed";
    let pam_failed = "pam_unix(wsmand:auth): authentication failure";
    let short = &["-u", "wsmand", "-o", "short"];
    let journal = systemd.journal_until(short, |text| {
        text.contains(failed) && text.contains(pam_failed)
    });
    let login = line_with(&journal, &[failed]);
    let pam = line_with(&journal, &[pam_failed]);
    // The listener's start (its message first on the line): its address and port, its transport.
    let listening = line_with(&journal, &[": listening"]);
    let mut missing = Vec::new();
    let mut expect = |line: &str, facts: &[&str]| {
        eprintln!("{line}");
        let absent = facts.iter().filter(|fact| !line.contains(**fact));
        missing.extend(absent.map(|fact| format!("{fact:?} not in: {line}")));
    };
    let user = format!("user={USER}");
    let port_text = format!("address=127.0.0.1:{port}");
    expect(
        login,
        &[
            &user,
            "remote=127.0.0.1:",
            "scheme=Basic",
            "pam_authenticate failed",
            "PAM_AUTH_ERR",
        ],
    );
    expect(pam, &["rhost=127.0.0.1 ", &user]);
    expect(listening, &[&port_text, "transport=HTTP"]);

    // A group made after the start counts from the next reload: looked up again.
    systemd.exec_ok(&["groupadd", "--gid", "4242", "wsmand-remote-users"]);
    systemd.exec_ok(&["systemctl", "reload", "wsmand"]);
    let looked_up = "groups looked up again";
    let journal = systemd.journal_until(short, |text| text.contains(looked_up));
    expect(
        line_with(&journal, &[looked_up]),
        &["remote_users_gid=Some(4242)"],
    );

    // A reload refused: the file and the error.
    systemd.write_file(
        "/etc/wsmand/config.toml",
        &format!("{}[Config.Service\n", config(port)),
    );
    systemd.exec_ok(&["systemctl", "reload", "wsmand"]);
    let not_reloaded = "configuration not reloaded";
    let journal = systemd.journal_until(short, |text| text.contains(not_reloaded));
    let reload = line_with(&journal, &[not_reloaded]);
    expect(
        reload,
        &[
            "error=\"/etc/wsmand/config.toml:",
            "invalid table header",
            "keeping the one in force",
        ],
    );
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    // Still serving with the configuration in force.
    assert_eq!(
        systemd.unit_property("wsmand.service", "ActiveState"),
        "active"
    );

    // The refused password is in no line and no field.
    let everything = systemd.journal_until(&["-o", "export"], |text| text.contains(not_reloaded));
    assert!(
        !everything.contains(WRONG_PASSWORD),
        "the password reached the journal"
    );
}

#[test]
fn runtime_files_are_under_run() {
    let Some((systemd, port)) = booted_with_wsmand() else {
        return;
    };
    // A service account added by hand while the daemon runs takes the accounts' lock.
    systemd.exec_ok(&[
        "sh",
        "-c",
        "printf '%s\\n' 'Svc-Pass-1234' | /usr/local/bin/wsmand --config-dir /etc/wsmand \
         account add runtimesvc --password-stdin --run-as root",
    ]);
    systemd.exec_ok(&["test", "-S", "/run/wsmand/.control.sock"]);
    systemd.exec_ok(&["test", "-f", "/run/wsmand/accounts.toml.lock"]);
    let listed = systemd.exec_ok(&["ls", "-A", "/etc/wsmand"]);
    let runtime_files: Vec<&str> = listed
        .stdout
        .split_whitespace()
        .filter(|name| name.ends_with(".sock") || name.ends_with(".lock"))
        .collect();
    assert!(runtime_files.is_empty(), "{}", listed.describe());
    // The daemon still sees an account added while it runs: the Basic login works.
    let ran = booted::winrs_as(port, "runtimesvc", "Svc-Pass-1234", &["echo served"]);
    assert_eq!(ran.stdout.trim(), "served", "{}", ran.describe());
    // A restart keeps the directory (and the lock files a local writer may hold open).
    systemd.exec_ok(&["systemctl", "restart", "wsmand"]);
    systemd.exec_ok(&["test", "-f", "/run/wsmand/accounts.toml.lock"]);
}
