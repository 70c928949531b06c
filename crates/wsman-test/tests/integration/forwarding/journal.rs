//! Journal entries reach the collector in order and gap-free across restarts of either side,
//! a journal vacuumed under a stopped or a running forwarder (the records lost named by a
//! notice) and a forwarder frozen past its heartbeats; the daemon reads the journal through its own zstd
//! contexts.

use super::*;

#[test]
fn journal_events_reach_the_collector_in_order_across_restarts_of_either_side() {
    let Some(scene) = Scene::boot("wef") else {
        return;
    };

    // The collector: one subscription selecting the tag, delivered in batches of at most 4.
    let subscription = subscription(&scene.tag, &scene.output, "max_items = 4\nmax_latency_seconds = 1\nheartbeat_seconds = 60\nread_existing_events = true\n", "{client}.xml");
    let mut collector = scene.collector(&subscription, &[], |_| {});
    let file = scene.output.join(format!("{SERVICE_ACCOUNT}.xml"));

    // Entries logged before the forwarder starts: the subscription reads existing events.
    log_entries(&scene.systemd, &scene.tag, 0..6);
    journal_records(&scene.systemd, &scene.tag, 6);

    // The forwarder.
    let (forwarder_config, forwarder_port) = basic_forwarder(&scene, collector.port);
    let forwarder_env = scene.forwarder_env();
    let mut forwarder =
        Daemon::start_with_env(&forwarder_config, &[forwarder_port], &forwarder_env);
    let logs = |forwarder: &Daemon, collector: &Fixture| progress(&file, forwarder, collector);
    wait_for(
        "the existing entries at the collector",
        || collected(&file, &scene.tag).len() >= 6,
        || logs(&forwarder, &collector),
    );

    // Fault 1: the collector is killed mid-stream and comes back. The log of each collector
    // instance is kept: it counts the events the forwarder sent again.
    log_entries(&scene.systemd, &scene.tag, 6..10);
    collector.daemon.stop();
    let mut earlier_collector_logs = collector.daemon.stderr();
    log_entries(&scene.systemd, &scene.tag, 10..16);
    collector.daemon =
        Daemon::start_with_env(&collector.config, &[collector.port], &scene.collector_env());
    wait_for(
        "the entries logged while the collector was down",
        || collected(&file, &scene.tag).len() >= 16,
        || logs(&forwarder, &collector),
    );

    // Fault 2: the forwarder is restarted mid-stream; it resumes from its cursor.
    log_entries(&scene.systemd, &scene.tag, 16..20);
    forwarder.stop();
    log_entries(&scene.systemd, &scene.tag, 20..26);
    forwarder = Daemon::start_with_env(&forwarder_config, &[forwarder_port], &forwarder_env);
    wait_for(
        "the entries logged while the forwarder was down",
        || collected(&file, &scene.tag).len() >= 26,
        || logs(&forwarder, &collector),
    );

    let mut expected = journal_records(&scene.systemd, &scene.tag, 26);
    assert_eq!(expected.len(), 26, "journald kept every entry");

    // Fault 3: with the forwarder stopped, the journal is vacuumed past its cursor: every
    // entry it held goes. After the restart, the first event names the records lost.
    forwarder.stop();
    log_entries(&scene.systemd, &scene.tag, 26..28);
    std::thread::sleep(Duration::from_millis(1100));
    scene
        .systemd
        .exec_ok(&["journalctl", "--rotate", "--vacuum-time=1s"]);
    log_entries(&scene.systemd, &scene.tag, 28..32);
    let after_vacuum = journal_records(&scene.systemd, &scene.tag, 4);
    assert_eq!(
        after_vacuum.len(),
        4,
        "the vacuum removed the earlier entries"
    );
    forwarder = Daemon::start_with_env(&forwarder_config, &[forwarder_port], &forwarder_env);
    wait_for(
        "the entries logged after the vacuum",
        || collected(&file, &scene.tag).len() >= 30,
        || logs(&forwarder, &collector),
    );
    let oldest = journal_records_of(&scene.systemd, &[])[0];
    let delivered_before = *expected.last().expect("entries");
    expected.extend(after_vacuum);

    earlier_collector_logs.push_str(&collector.daemon.stderr());
    assert_written_once_in_journal_order(&file, &scene.tag, &expected, &earlier_collector_logs);
    assert_forwarder_events_written(&file, delivered_before, oldest);
    let forwarder_log = forwarder.stderr();
    assert!(!forwarder_log.contains(SERVICE_PASSWORD));
    assert!(forwarder.is_running() && collector.daemon.is_running());
}

/// The collector wrote each record once, in journal order and gap-free but for the vacuumed
/// entries; what the forwarder sent again is what the collector logged as already stored: at
/// most one batch (4) per fault.
fn assert_written_once_in_journal_order(
    file: &Path,
    tag: &str,
    expected: &[u64],
    collector_logs: &str,
) {
    let at_collector = collected(file, tag);
    let mut unique = at_collector.clone();
    unique.dedup();
    assert_eq!(unique, at_collector, "written once each");
    let sent_again = events_sent_again(collector_logs);
    assert!(sent_again <= 3 * 4, "{collector_logs}");
    assert_eq!(
        unique, *expected,
        "in journal order, gap-free but for the vacuumed entries"
    );
}

/// The forwarder's own events in the output: one EventID 112 naming the records the vacuum
/// lost, one EventID 111 (the bookmark event) first, and the forwarder's Computer.
fn assert_forwarder_events_written(file: &Path, delivered_before: u64, oldest: u64) {
    let written_now = std::fs::read_to_string(file).expect("the output file");
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

    let written = std::fs::read_to_string(file).expect("the output file");
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
}

/// The daemon exports its stand-ins for libzstd's context functions, so that libsystemd's
/// journal reads bind to them (`wsman_os::zstd_contexts`); `readelf` reads the binary's
/// dynamic symbol table.
#[test]
fn the_daemon_exports_the_zstd_context_functions_libsystemd_binds_to() {
    let output = std::process::Command::new("readelf")
        .args(["--dyn-syms", "--wide"])
        .arg(wsman_test::binaries::wsmand())
        .output()
        .expect("readelf (binutils)");
    assert!(output.status.success());
    let table = String::from_utf8_lossy(&output.stdout);
    for symbol in ["ZSTD_createDCtx", "ZSTD_freeDCtx"] {
        let line = table
            .lines()
            .find(|l| l.split_whitespace().last() == Some(symbol))
            .unwrap_or_else(|| panic!("{symbol} not in the dynamic symbol table"));
        assert!(
            line.contains(" FUNC ") && line.contains(" GLOBAL ") && !line.contains(" UND "),
            "{symbol} is not defined by the daemon: {line}"
        );
    }
}

/// What a waiting test shows when it times out: the collector's file and both logs.
fn progress(file: &Path, forwarder: &Daemon, collector: &Fixture) -> String {
    format!(
        "file:\n{}\nforwarder:\n{}\ncollector:\n{}",
        std::fs::read_to_string(file).unwrap_or_default(),
        forwarder.stderr(),
        collector.daemon.stderr()
    )
}

/// The events a forwarder sent again that the collector had already stored, from its log.
fn events_sent_again(collector_logs: &str) -> usize {
    collector_logs
        .lines()
        .filter(|l| l.contains("events already stored were not written again"))
        .filter_map(|l| {
            l.split("already_stored=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum()
}

/// The forwarder of these tests: Basic as the service account to the collector on
/// `collector_port` over plain HTTP, refreshing every 2 s and retrying every second.
fn basic_forwarder(scene: &Scene, collector_port: u16) -> (ConfigDir, u16) {
    forwarder_config(&format!(
        "computer = \"{SERVICE_ACCOUNT}.forwarder.test\"\nstate_directory = \"{}\"\nmax_retry_interval_seconds = 1\n\n[[collector]]\nserver = \"Server=http://127.0.0.1:{collector_port}/wsman/SubscriptionManager/WEC,Refresh=2\"\nauthentication = \"basic\"\nusername = \"{SERVICE_ACCOUNT}\"\npassword_file = \"{}\"\nallow_unencrypted = true\n",
        scene.cursors().display(),
        scene.password_file().display()
    ))
}

/// `wsmand wec clients NAME` on the collector: each forwarder's state, by name.
fn client_states(collector: &Fixture, database: &Path, name: &str) -> Vec<(String, String)> {
    let cli = std::process::Command::new(wsman_test::binaries::wsmand())
        .arg("--config-dir")
        .arg(collector.config.path())
        .arg("--wec-database")
        .arg(database)
        .args(["wec", "clients", name])
        .output()
        .expect("wsmand wec clients");
    let out = String::from_utf8_lossy(&cli.stdout).into_owned();
    assert!(cli.status.success(), "{out}");
    out.lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_owned(), words.last()?.to_owned()))
        })
        .collect()
}

/// The fault "freeze the forwarder past Heartbeats": a real forwarding wsmand stopped with
/// SIGSTOP for longer than its subscription's heartbeat interval. The collector calls it dead
/// by the heartbeat rule (`wsmand wec clients`), not active as an event in the last 15
/// minutes would have; after SIGCONT it resumes, and the record ids at the collector are the
/// journal's, in order and gap-free, with at most one batch sent twice.
#[test]
fn a_forwarder_frozen_past_its_heartbeats_is_dead_and_resumes_gap_free() {
    let Some(scene) = Scene::boot("wef-freeze") else {
        return;
    };
    // Heartbeats every 3 s: alive within 4.5 s of the last message, dead after.
    let subscription = subscription(
        &scene.tag,
        &scene.output,
        "max_items = 4\nmax_latency_seconds = 1\nheartbeat_seconds = 3\nread_existing_events = true\n",
        "{client}.xml",
    );
    let collector = scene.collector(&subscription, &[], |_| {});
    let file = scene.output.join(format!("{SERVICE_ACCOUNT}.xml"));
    log_entries(&scene.systemd, &scene.tag, 0..4);

    let (forwarder_config, forwarder_port) = basic_forwarder(&scene, collector.port);
    let forwarder_env = scene.forwarder_env();
    let mut forwarder =
        Daemon::start_with_env(&forwarder_config, &[forwarder_port], &forwarder_env);
    let logs = |forwarder: &Daemon| progress(&file, forwarder, &collector);
    wait_for(
        "the first entries at the collector",
        || collected(&file, &scene.tag).len() >= 4,
        || logs(&forwarder),
    );
    let state_of = || {
        client_states(&collector, &scene.database, "linux")
            .into_iter()
            .find(|(client, _)| client == SERVICE_ACCOUNT)
            .map(|(_, state)| state)
            .unwrap_or_default()
    };
    // Idle but heartbeating: alive once the events are older than one interval.
    wait_for(
        "the idle forwarder alive by its heartbeats",
        || state_of() == "alive",
        || logs(&forwarder),
    );

    // Frozen: no heartbeat comes; the collector calls it dead. Entries logged meanwhile wait.
    let pid = forwarder.pid().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {name} {pid}");
    };
    signal("-STOP");
    log_entries(&scene.systemd, &scene.tag, 4..10);
    let frozen_at = collected(&file, &scene.tag).len();
    wait_for(
        "the frozen forwarder dead by the heartbeat rule",
        || state_of() == "dead",
        || logs(&forwarder),
    );
    assert_eq!(
        collected(&file, &scene.tag).len(),
        frozen_at,
        "nothing delivered while frozen"
    );

    // Thawed: it resumes, and is active again with its next batch.
    signal("-CONT");
    wait_for(
        "the entries logged while the forwarder was frozen",
        || collected(&file, &scene.tag).len() >= 10,
        || logs(&forwarder),
    );
    wait_for(
        "the thawed forwarder active",
        || state_of() == "active",
        || logs(&forwarder),
    );
    let expected = journal_records(&scene.systemd, &scene.tag, 10);
    let at_collector = collected(&file, &scene.tag);
    assert_eq!(
        at_collector, expected,
        "in journal order, gap-free, once each"
    );
    let sent_again = events_sent_again(&collector.daemon.stderr());
    assert!(
        sent_again <= 4,
        "at most one batch twice: {}",
        logs(&forwarder)
    );
    assert!(forwarder.is_running());
}

/// The fault "the journal rotated away under a forwarder that is forwarding": the forwarder is
/// behind (SIGSTOP) while entries are logged, the journal is rotated and vacuumed past them
/// (`journalctl --rotate --vacuum-time=1s`, as journald's own limits would), and it goes on
/// (SIGCONT) without a restart. Each entry it had not delivered is either at the collector
/// (read from the file it still held open) or inside the record range of an EventID 112 notice:
/// never gone without a word. What comes after the vacuum arrives, once each, in order. The
/// notice names no record the collector got, comes before the entries after the gap, and the
/// forwarder logs it (docs/reliability.md).
#[test]
fn a_journal_vacuumed_under_a_running_forwarder_loses_nothing_without_a_notice() {
    let Some(scene) = Scene::boot("wef-vacuum") else {
        return;
    };
    let subscription = subscription(
        &scene.tag,
        &scene.output,
        "max_items = 4\nmax_latency_seconds = 1\nheartbeat_seconds = 60\nread_existing_events = true\n",
        "{client}.xml",
    );
    let mut collector = scene.collector(&subscription, &[], |_| {});
    let file = scene.output.join(format!("{SERVICE_ACCOUNT}.xml"));
    log_entries(&scene.systemd, &scene.tag, 0..4);
    let (forwarder_config, forwarder_port) = basic_forwarder(&scene, collector.port);
    let mut forwarder =
        Daemon::start_with_env(&forwarder_config, &[forwarder_port], &scene.forwarder_env());
    let logs = |forwarder: &Daemon| progress(&file, forwarder, &collector);
    wait_for(
        "the first entries at the collector",
        || collected(&file, &scene.tag).len() >= 4,
        || logs(&forwarder),
    );

    let pid = forwarder.pid().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {name} {pid}");
    };
    signal("-STOP");
    log_entries(&scene.systemd, &scene.tag, 4..10);
    let behind: Vec<u64> = journal_records(&scene.systemd, &scene.tag, 10)[4..].to_vec();
    std::thread::sleep(Duration::from_millis(1100));
    scene
        .systemd
        .exec_ok(&["journalctl", "--rotate", "--vacuum-time=1s"]);
    log_entries(&scene.systemd, &scene.tag, 10..14);
    let after_vacuum = journal_records(&scene.systemd, &scene.tag, 4);
    assert_eq!(
        after_vacuum.len(),
        4,
        "the vacuum removed the earlier entries"
    );
    signal("-CONT");
    wait_for(
        "the entries logged after the vacuum",
        || {
            let at = collected(&file, &scene.tag);
            after_vacuum.iter().all(|r| at.contains(r))
        },
        || logs(&forwarder),
    );

    let at_collector = collected(&file, &scene.tag);
    let mut unique = at_collector.clone();
    unique.dedup();
    assert_eq!(
        unique,
        at_collector,
        "written once each: {}",
        logs(&forwarder)
    );
    let written = std::fs::read_to_string(&file).expect("the output file");
    let notices: Vec<(u64, u64)> = written
        .lines()
        .filter(|l| l.contains("<EventID>112</EventID>"))
        .map(|l| {
            (
                lost_bound(l, "FirstLostRecordId"),
                lost_bound(l, "LastLostRecordId"),
            )
        })
        .collect();
    let silent: Vec<u64> = behind
        .iter()
        .copied()
        .filter(|r| !at_collector.contains(r))
        .filter(|r| !notices.iter().any(|(first, last)| first <= r && r <= last))
        .collect();
    assert!(
        silent.is_empty(),
        "records {silent:?} of {behind:?} neither delivered nor named by a notice {notices:?}: {}",
        logs(&forwarder)
    );
    assert_lost_notice(&written, &notices, &after_vacuum, &forwarder.stderr());
    assert!(forwarder.is_running() && collector.daemon.is_running());
}

/// The running forwarder's notice: there is one, its range holds no record the collector got
/// (whatever the provider), it is written before the first entry logged after the vacuum, and
/// the forwarder's log names the same range.
fn assert_lost_notice(written: &str, notices: &[(u64, u64)], after: &[u64], log: &str) {
    assert!(!notices.is_empty(), "no EventID 112:\n{written}\n{log}");
    let all_records: Vec<u64> = written
        .lines()
        .filter_map(|l| {
            l.split("<EventRecordID>")
                .nth(1)?
                .split('<')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    for (first, last) in notices {
        assert!(first <= last, "{first}..{last}");
        let inside: Vec<&u64> = all_records
            .iter()
            .filter(|r| (first..=last).contains(r))
            .collect();
        assert!(
            inside.is_empty(),
            "the notice {first}..{last} names delivered records {inside:?}:\n{written}"
        );
        let line = log
            .lines()
            .find(|l| {
                l.contains("journal entries were removed before they were forwarded")
                    && l.contains(&format!("first={first}"))
            })
            .unwrap_or_else(|| panic!("no log line for {first}..{last}:\n{log}"));
        assert!(
            line.contains("WARN") && line.contains(&format!("last={last}")),
            "{line}"
        );
    }
    let lines: Vec<&str> = written.lines().collect();
    let notice_at = lines
        .iter()
        .position(|l| l.contains("<EventID>112</EventID>"))
        .expect("a notice");
    let first_after = after[0];
    let after_at = lines
        .iter()
        .position(|l| l.contains(&format!("<EventRecordID>{first_after}</EventRecordID>")))
        .expect("the first entry after the vacuum");
    assert!(
        notice_at < after_at,
        "the notice comes before the entries after the gap:\n{written}"
    );
}

fn lost_bound(line: &str, name: &str) -> u64 {
    line.split(&format!("<Data Name='{name}'>"))
        .nth(1)
        .and_then(|r| r.split('<').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// No false notice: journald numbers the user journals' entries from the same counter as the
/// system journal's, so a reader that did not read them would see a jump in the record ids at
/// each one and name records as lost that were only elsewhere. Entries of an unprivileged uid
/// (its own `user-UID.journal`) logged between the system's, under a running forwarder: each
/// reaches the collector once, in order, and there is no EventID 112 and no lost-records line.
#[test]
fn entries_of_a_user_journal_between_the_systems_are_no_gap() {
    let Some(scene) = Scene::boot("wef-userjournal") else {
        return;
    };
    let subscription = subscription(
        &scene.tag,
        &scene.output,
        "max_items = 4\nmax_latency_seconds = 1\nheartbeat_seconds = 60\nread_existing_events = true\n",
        "{client}.xml",
    );
    let mut collector = scene.collector(&subscription, &[], |_| {});
    let file = scene.output.join(format!("{SERVICE_ACCOUNT}.xml"));
    let log_as_user = |n: usize| {
        let message = format!("forwarded entry of a user {n}");
        scene.systemd.exec_ok(&[
            "setpriv",
            "--reuid=4242",
            "--regid=4242",
            "--clear-groups",
            "logger",
            "-t",
            &scene.tag,
            &message,
        ]);
    };
    // The user journal is there before the forwarder starts: a file created while the reader
    // reads is another matter (docs/reliability.md, "What these tests found").
    log_entries(&scene.systemd, &scene.tag, 0..2);
    log_as_user(1);
    let (forwarder_config, forwarder_port) = basic_forwarder(&scene, collector.port);
    let mut forwarder =
        Daemon::start_with_env(&forwarder_config, &[forwarder_port], &scene.forwarder_env());
    let logs = |forwarder: &Daemon| progress(&file, forwarder, &collector);
    wait_for(
        "the first entries at the collector",
        || collected(&file, &scene.tag).len() >= 3,
        || logs(&forwarder),
    );
    for n in 2..8 {
        log_entries(&scene.systemd, &scene.tag, n..n + 1);
        log_as_user(n);
    }
    let records = journal_records(&scene.systemd, &scene.tag, 15);
    assert_eq!(records.len(), 15, "{records:?}");
    let user_files = scene
        .systemd
        .exec(&["sh", "-c", "ls /var/log/journal/*/user-4242*.journal"]);
    assert!(
        user_files.status.success(),
        "the user's entries are in a user journal of their own: {}",
        user_files.describe()
    );
    wait_for(
        "every entry, the user's too",
        || collected(&file, &scene.tag).len() >= records.len(),
        || logs(&forwarder),
    );
    assert_eq!(collected(&file, &scene.tag), records, "once each, in order");
    let written = std::fs::read_to_string(&file).expect("the output file");
    assert!(!written.contains("<EventID>112</EventID>"), "{written}");
    assert!(
        !forwarder
            .stderr()
            .contains("journal entries were removed before they were forwarded"),
        "{}",
        logs(&forwarder)
    );
    assert!(forwarder.is_running() && collector.daemon.is_running());
}
