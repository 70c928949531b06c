//! The real `wevtutil` binary against a real journal (journald of a systemd booted as PID 1 of
//! its own namespaces), every printed value checked against what journalctl says.

use std::process::Command;
use std::time::Duration;

use wsman_proto::xml;
use wsman_test::process::{run, Finished};
use wsman_test::systemd::BootedSystemd;

fn wevtutil(args: &[&str]) -> Finished {
    run(
        Command::new(env!("CARGO_BIN_EXE_wevtutil")).args(args),
        None,
        Duration::from_secs(60),
    )
}

#[test]
fn queries_the_journal_as_windows_logs() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    // An authentication line (Security), a service line (System) and a user program's line.
    systemd.exec_ok(&[
        "logger",
        "-p",
        "authpriv.warning",
        "-t",
        "sshd",
        "Failed password for bob",
    ]);
    systemd.write_file(
        "/etc/systemd/system/wsman-wevt.service",
        "[Service]\nType=oneshot\nSyslogIdentifier=wsman-wevt\nExecStart=/bin/echo service says hi\n",
    );
    systemd.exec_ok(&["systemctl", "daemon-reload"]);
    systemd.exec_ok(&["systemctl", "start", "wsman-wevt.service"]);
    systemd.journal_until(&["-t", "wsman-wevt", "-o", "cat"], |out| {
        out.contains("service says hi")
    });
    let dir = systemd.root().join("var/log/journal");
    let dir = dir.to_str().unwrap();
    let journal = format!("/j:{dir}");

    // Security: the sshd line, as a Windows event with the journal's values.
    let security = wevtutil(&[
        "qe",
        "Security",
        &journal,
        "/q:*[System[Provider[@Name='sshd']]]",
    ]);
    assert!(security.status.success(), "{}", security.describe());
    let lines: Vec<&str> = security.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", security.stdout);
    let event = xml::parse(lines[0], &xml::Limits::default()).expect("event XML");
    let truth = systemd.exec_ok(&["journalctl", "-t", "sshd", "-o", "export", "--no-pager"]);
    let cursor = truth
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("__CURSOR="))
        .unwrap();
    let seqnum = cursor
        .split(';')
        .find_map(|p| p.strip_prefix("i="))
        .map(|hex| u64::from_str_radix(hex, 16).unwrap())
        .unwrap();
    let system = event.elements().next().unwrap();
    let text_of = |name: &str| {
        system
            .elements()
            .find(|e| e.name == name)
            .map(|e| e.text())
            .unwrap_or_default()
    };
    assert_eq!(text_of("EventRecordID"), seqnum.to_string());
    assert_eq!(text_of("Level"), "3", "warning");
    assert_eq!(text_of("Channel"), "Security");

    // System holds the service's line, not the sshd one; text format, newest first.
    let system_log = wevtutil(&[
        "qe",
        "System",
        &journal,
        "/f:text",
        "/rd:true",
        "/q:*[System[Provider[@Name='wsman-wevt']]]",
    ]);
    assert!(system_log.status.success(), "{}", system_log.describe());
    assert!(system_log
        .stdout
        .starts_with("Event[0]:\n  Log Name: System\n  Source: wsman-wevt\n"));
    assert!(system_log.stdout.contains("service says hi"));
    assert!(system_log
        .stdout
        .contains("  User: S-1-22-1-0\n  User Name: root\n"));
    assert!(!system_log.stdout.contains("Failed password"));

    // Count and element: /c:2 /e:Events over every entry gives one well-formed document.
    let two = wevtutil(&["qe", dir, "/lf:true", "/c:2", "/e:Events"]);
    assert!(two.status.success(), "{}", two.describe());
    let document = xml::parse(&two.stdout, &xml::Limits::default()).expect("one document");
    assert_eq!(document.name, "Events");
    assert_eq!(document.elements().count(), 2);

    // Failures: an unknown log, a bad query, a journal that is not there.
    let journal = journal.as_str();
    for (args, code, says) in [
        (vec!["qe", "Setup", journal], 1, "could not be found"),
        (
            vec!["qe", "System", journal, "/q:*[System[count(x)]]"],
            1,
            "count() is not supported",
        ),
        (
            vec!["qe", "System", "/j:/nonexistent/journal"],
            1,
            "failed to read the journal",
        ),
        (vec!["qe", "System", "/c:many"], 2, ""),
    ] {
        let failed = wevtutil(&args);
        assert_eq!(failed.code(), code, "{args:?}");
        assert!(failed.stderr.contains(says), "{args:?}: {}", failed.stderr);
    }
}
