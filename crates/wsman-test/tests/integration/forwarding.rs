//! Windows Event Forwarding from a Linux host: a real wsmand as the forwarder, reading the
//! journal of a real systemd booted in its own namespaces, and a real wsmand as the collector
//! (a subscription file, the file output) on loopback, Basic with a service account.
//!
//! Entries logged in the namespace with `logger` (a unique tag) must reach the collector's file
//! in order, with the record ids journald gave them (read back with `journalctl -o export`),
//! gap-free, across a collector killed mid-stream and restarted, and a forwarder restarted
//! mid-stream, and a journal vacuumed past the forwarder's cursor while it was stopped (the
//! lost records are named by an event of their own). The first event is Windows' EventID 111,
//! sent once (the collector has a bookmark afterwards).

use std::path::Path;
use std::time::{Duration, Instant};

use wsman_test::systemd::BootedSystemd;
use wsman_test::{free_port, ConfigDir, Daemon, Fixture, ListenerSpec};
use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

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

#[test]
fn journal_events_reach_the_collector_in_order_across_restarts_of_either_side() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let journal = systemd.root().join("var/log/journal");
    let state = tempfile::tempdir().expect("tempdir");
    let output = state.path().join("out");
    let database = state.path().join("wec.sqlite");
    let tag = format!("wef-{}", std::process::id());

    // The collector: one subscription selecting the tag, delivered in batches of at most 4.
    let subscription = format!(
        "query = '<QueryList><Query Id=\"0\"><Select Path=\"Application\">*[System[Provider[@Name=\"{tag}\"]]]</Select></Query></QueryList>'\nmax_items = 4\nmax_latency_seconds = 1\nheartbeat_seconds = 60\nread_existing_events = true\n[[outputs]]\ntype = \"file\"\npath = \"{}/{{client}}.xml\"\nformat = \"raw\"\n",
        output.display()
    );
    let collector_env = [(
        "WSMAND_WEC_DATABASE",
        database.to_str().expect("utf-8 path"),
    )];
    let mut collector = Fixture::http_with_env(
        |config| {
            config.write_raw("subscriptions/linux.toml", &subscription);
        },
        &collector_env,
    );
    let file = output.join(format!("{SERVICE_ACCOUNT}.xml"));

    // Entries logged before the forwarder starts: the subscription reads existing events.
    log_entries(&systemd, &tag, 0..6);
    journal_records(&systemd, &tag, 6);

    // The forwarder.
    let forwarder_port = free_port();
    let mut forwarder_config = ConfigDir::new();
    forwarder_config.listener(ListenerSpec::http(forwarder_port));
    forwarder_config.write();
    let password = state.path().join("password");
    std::fs::write(&password, format!("{SERVICE_PASSWORD}\n")).expect("password file");
    forwarder_config.write_raw(
        "forwarding.toml",
        &format!(
            "computer = \"{SERVICE_ACCOUNT}.forwarder.test\"\nstate_directory = \"{}\"\nmax_retry_interval_seconds = 1\n\n[[collector]]\nserver = \"Server=http://127.0.0.1:{}/wsman/SubscriptionManager/WEC,Refresh=2\"\nauthentication = \"basic\"\nusername = \"{SERVICE_ACCOUNT}\"\npassword_file = \"{}\"\nallow_unencrypted = true\n",
            state.path().join("cursors").display(),
            collector.port,
            password.display()
        ),
    );
    let forwarder_env = [(
        "WSMAND_JOURNAL_DIRECTORY",
        journal.to_str().expect("utf-8 path"),
    )];
    let mut forwarder =
        Daemon::start_with_env(&forwarder_config, &[forwarder_port], &forwarder_env);
    let logs = |forwarder: &Daemon, collector: &Fixture| {
        format!(
            "file:\n{}\nforwarder:\n{}\ncollector:\n{}",
            std::fs::read_to_string(&file).unwrap_or_default(),
            forwarder.stderr(),
            collector.daemon.stderr()
        )
    };
    wait_for(
        "the existing entries at the collector",
        || collected(&file, &tag).len() >= 6,
        || logs(&forwarder, &collector),
    );

    // Fault 1: the collector is killed mid-stream and comes back.
    log_entries(&systemd, &tag, 6..10);
    collector.daemon.stop();
    log_entries(&systemd, &tag, 10..16);
    collector.daemon = Daemon::start_with_env(&collector.config, &[collector.port], &collector_env);
    wait_for(
        "the entries logged while the collector was down",
        || collected(&file, &tag).len() >= 16,
        || logs(&forwarder, &collector),
    );

    // Fault 2: the forwarder is restarted mid-stream; it resumes from its cursor.
    log_entries(&systemd, &tag, 16..20);
    forwarder.stop();
    log_entries(&systemd, &tag, 20..26);
    forwarder = Daemon::start_with_env(&forwarder_config, &[forwarder_port], &forwarder_env);
    wait_for(
        "the entries logged while the forwarder was down",
        || collected(&file, &tag).len() >= 26,
        || logs(&forwarder, &collector),
    );

    let mut expected = journal_records(&systemd, &tag, 26);
    assert_eq!(expected.len(), 26, "journald kept every entry");

    // Fault 3: with the forwarder stopped, the journal is vacuumed past its cursor: every
    // entry it held goes. After the restart, the first event names the records lost.
    forwarder.stop();
    log_entries(&systemd, &tag, 26..28);
    std::thread::sleep(Duration::from_millis(1100));
    systemd.exec_ok(&["journalctl", "--rotate", "--vacuum-time=1s"]);
    log_entries(&systemd, &tag, 28..32);
    let after_vacuum = journal_records(&systemd, &tag, 4);
    assert_eq!(
        after_vacuum.len(),
        4,
        "the vacuum removed the earlier entries"
    );
    forwarder = Daemon::start_with_env(&forwarder_config, &[forwarder_port], &forwarder_env);
    wait_for(
        "the entries logged after the vacuum",
        || collected(&file, &tag).len() >= 30,
        || logs(&forwarder, &collector),
    );
    let oldest = journal_records_of(&systemd, &[])[0];
    let delivered_before = *expected.last().expect("entries");
    expected.extend(after_vacuum);

    // Duplicates are at most one batch (4) per fault; the collector writes each record once.
    let at_collector = collected(&file, &tag);
    let mut unique = at_collector.clone();
    unique.dedup();
    assert!(
        at_collector.len() - unique.len() <= 3 * 4,
        "{at_collector:?}"
    );
    assert_eq!(
        unique, expected,
        "in journal order, gap-free but for the vacuumed entries"
    );
    let written_now = std::fs::read_to_string(&file).expect("the output file");
    let lost: Vec<&str> = written_now
        .lines()
        .filter(|l| l.contains("wsmand-forwarder") && l.contains("<EventID>112</EventID>"))
        .collect();
    assert_eq!(lost.len(), 1, "{written_now}");
    assert!(
        lost[0].contains(&format!(
            "<Data Name='FirstLostRecordId'>{}</Data>",
            delivered_before + 1
        )) && lost[0].contains(&format!(
            "<Data Name='LastLostRecordId'>{}</Data>",
            oldest - 1
        )),
        "records {} to {}: {}",
        delivered_before + 1,
        oldest - 1,
        lost[0]
    );

    let written = std::fs::read_to_string(&file).expect("the output file");
    let bookmark_events = written
        .lines()
        .filter(|l| {
            l.contains("Microsoft-Windows-EventForwarder") && l.contains("<EventID>111</EventID>")
        })
        .count();
    assert_eq!(
        bookmark_events, 1,
        "EventID 111 once, before the first event:\n{written}"
    );
    assert!(
        written
            .lines()
            .next()
            .is_some_and(|l| l.contains("SubscriptionBookmarkEvent")),
        "{written}"
    );
    assert!(written.contains(&format!(
        "<Computer>{SERVICE_ACCOUNT}.forwarder.test</Computer>"
    )));
    let forwarder_log = forwarder.stderr();
    assert!(!forwarder_log.contains(SERVICE_PASSWORD));
    assert!(forwarder.is_running() && collector.daemon.is_running());
}
