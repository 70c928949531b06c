//! wsmand as an operator runs it: under systemd, as the unit in `dist/`, inside a real systemd
//! booted as PID 1 of its own namespaces over the cached Debian root (see
//! `wsman_test::systemd`). It shares the host's network, so the host's `winrs` reaches it on
//! 127.0.0.1.
//!
//! - the audit records of a real `winrs` command in that system's journal, selected with
//!   `journalctl WSMAN_AUDIT=1` and checked field by field in journalctl's JSON output.
//!
//! The Debian package's test, in the same booted system, is `package.rs`.
//!
//! Skipped with a printed reason where the machine cannot boot systemd; `scripts/test.sh` as
//! root sets `WSMAN_TEST_REQUIRE_SYSTEMD=1` so CI runs them.

#[path = "operator/booted.rs"]
mod booted;

use booted::{configure, start_and_wait, winrs_as, ACCOUNT, PASSWORD};
use wsman_test::binaries;
use wsman_test::free_port;
use wsman_test::process::Finished;
use wsman_test::systemd::BootedSystemd;

/// The host's `winrs` as the service account.
fn winrs(port: u16, args: &[&str]) -> Finished {
    winrs_as(port, ACCOUNT, PASSWORD, args)
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
