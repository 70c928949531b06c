//! Slow faults under a fleet (issue 71): `fleet-load` (benches/fleet-load) forwarders, each with
//! its own client certificate, deliver batches that wait for their Ack while the test breaks
//! one real part the collector depends on, holds it broken until the collector has answered
//! 503, and mends it without restarting the collector:
//!
//! - the file system under the event store, or under a file output, full (a tmpfs the test
//!   mounts as root; skipped, saying why, otherwise);
//! - PostgreSQL, holding the bookmarks and the store, stopped and started again;
//! - the RELP receiver (rsyslog) of a syslog output killed and started again;
//! - the collector's wall clock stepped back an hour (libfaketime, Debian's `libfaketime`,
//!   preloaded into the collector alone: a time namespace moves only the monotonic clocks).
//!
//! Each time every forwarder finishes, every acknowledged event is stored, and the store (a
//! batch's events are written in its bookmark's transaction) or the single output holds none
//! twice; the RELP receiver may hold the window in flight when it died twice (docs/collector.md)
//! and nothing else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use wsman_test::postgres::Postgres;
use wsman_test::syslog_receivers::{rsyslog_relp, Receiver};
use wsman_test::{free_port, wec_database_env, ConfigDir, Daemon};

use crate::collector_fleet::{
    field, finish_all_acked, fleet_load, forwarders_losing_none, map_fleet_ca, scratch, stored,
};
use crate::tmpfs::Tmpfs;

/// Forwarders of each run; each sends one batch every 2 s or so ([`fleet_load`]'s rate).
const FORWARDERS: usize = 30;
const BATCHES: u64 = 12;
const PER_BATCH: u64 = 10;
/// Hang guard for every wait.
const GUARD: Duration = Duration::from_secs(300);
/// The most error lines a run may log: each cause is logged once per subscription and minute
/// (the run is shorter), whatever the number of forwarders and refusals.
const MAX_ERROR_LINES: usize = 6;
/// The line the collector logs for a batch it answers 503.
const NOT_STORED: &str = "batch not stored (503";

/// Where a run's events are counted.
enum Store<'a> {
    /// The event store in the SQLite file.
    Sqlite(PathBuf),
    /// The event store in PostgreSQL.
    Postgres(&'a Postgres),
    /// The file output's directory.
    Files(PathBuf),
}

impl Store<'_> {
    /// Every (Computer, record id) stored, with how often.
    fn counts(&self) -> HashMap<(String, u64), u32> {
        match self {
            Store::Files(dir) => stored(dir),
            Store::Sqlite(path) => sqlite_counts(path),
            Store::Postgres(server) => {
                let text = server.psql(
                    "SELECT computer || ' ' || substring(xml from '<EventRecordID>([0-9]+)</EventRecordID>') FROM wec_event",
                );
                let mut counts = HashMap::new();
                for line in text.lines().filter(|l| !l.is_empty()) {
                    let (computer, record) = line.split_once(' ').expect("COMPUTER RECORD");
                    let record = record.parse().expect("a record id");
                    *counts.entry((computer.to_owned(), record)).or_default() += 1;
                }
                counts
            }
        }
    }

    /// How many events are stored (a database that cannot be read counts none).
    fn count(&self) -> usize {
        match self {
            Store::Postgres(server) => server
                .try_psql("SELECT count(*) FROM wec_event")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            Store::Sqlite(path) => sqlite_count(path).unwrap_or(0),
            Store::Files(dir) => std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
                .map(|bytes| bytes.iter().filter(|b| **b == b'\n').count())
                .sum(),
        }
    }
}

/// How many events the SQLite store holds (an error while the collector creates it: `None`).
fn sqlite_count(path: &Path) -> Option<usize> {
    let connection =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let mut parts = connection
        .prepare("SELECT part FROM store_partition")
        .ok()?;
    let parts: Vec<i64> = parts
        .query_map([], |row| row.get(0))
        .ok()?
        .collect::<Result<_, _>>()
        .ok()?;
    let mut count = 0;
    for part in parts {
        let n: i64 = connection
            .query_row(&format!("SELECT count(*) FROM ev_{part}"), [], |row| {
                row.get(0)
            })
            .ok()?;
        count += n as usize;
    }
    Some(count)
}

/// The SQLite store's events: every partition table (`ev_N`), read on a connection of the
/// test's own.
fn sqlite_counts(path: &Path) -> HashMap<(String, u64), u32> {
    let connection =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the store");
    let mut tables = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'ev_[0-9]*' AND name NOT GLOB '*_fts*'")
        .expect("tables");
    let tables: Vec<String> = tables
        .query_map([], |row| row.get(0))
        .expect("tables")
        .collect::<Result<_, _>>()
        .expect("tables");
    let mut counts = HashMap::new();
    for table in tables {
        let mut rows = connection
            .prepare(&format!("SELECT computer, xml FROM {table}"))
            .expect("rows");
        let rows = rows
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .expect("rows");
        for row in rows {
            let (computer, xml) = row.expect("a row");
            let at = xml.find("<EventRecordID>").expect("a record id") + "<EventRecordID>".len();
            let record = xml[at..at + xml[at..].find('<').expect("</EventRecordID>")]
                .parse()
                .expect("a record id");
            *counts.entry((computer, record)).or_default() += 1;
        }
    }
    counts
}

/// A collector for the fleet on HTTPS with certificate authentication (the fleet's CA mapped)
/// and one subscription whose outputs are `outputs` (TOML `[[outputs]]` tables).
fn collector(ca_dir: &Path, outputs: &str) -> (ConfigDir, u16, PathBuf) {
    let port = free_port();
    let mut config = ConfigDir::new();
    config.set("Config.Service.Auth", "Certificate", "true");
    let thumbprint = config.add_https_listener(port);
    map_fleet_ca(&mut config, ca_dir);
    config.write_raw(
        "subscriptions/fleet.toml",
        &format!(
            "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n\
             heartbeat_seconds = 30\n{outputs}"
        ),
    );
    let server_ca = config.path().join(format!("certs/{thumbprint}.crt"));
    (config, port, server_ca)
}

const STORE_OUTPUT: &str = "[[outputs]]\ntype = \"store\"\n";

fn file_output(dir: &Path) -> String {
    format!(
        "[[outputs]]\ntype = \"file\"\npath = \"{}/{{client}}.xml\"\nformat = \"raw\"\n",
        dir.display()
    )
}

/// The fleet's command against `port`, for the caller to add to and spawn.
fn fleet(ca_dir: &Path, server_ca: &Path, port: u16, acked: &Path) -> Command {
    let mut command = fleet_load(
        ca_dir,
        server_ca,
        port,
        (FORWARDERS, BATCHES, PER_BATCH),
        acked,
    );
    command
        .args(["--seconds", "300", "--drain-seconds", "200"])
        .args(["--max-retry-seconds", "1"]);
    command
}

fn wait(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < GUARD, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What a fault makes the collector tell forwarders.
#[derive(Clone, Copy, PartialEq)]
enum Told {
    /// 503 until it is mended.
    Refused,
    /// Nothing: every batch is acknowledged as before.
    Nothing,
}

/// Runs the fleet against `daemon`: once a quarter of its events are stored, `fault` breaks
/// something; once the collector has answered a batch 503 and a second more (or, when the fault
/// refuses nothing, once half the events are stored), `mend` mends it. Then every forwarder
/// must finish, every acknowledged event be stored once, and the fleet must have been told 503
/// when the fault refuses. Returns fleet-load's JSON line.
fn through_a_fault(
    daemon: &mut Daemon,
    (ca_dir, server_ca, port, acked): (&Path, &Path, u16, &Path),
    (store, told): (&Store<'_>, Told),
    fault: impl FnOnce(),
    mend: impl FnOnce(),
) -> String {
    let child = fleet(ca_dir, server_ca, port, acked)
        .spawn()
        .expect("spawn fleet-load");
    let all = FORWARDERS * (BATCHES * PER_BATCH) as usize;
    wait("a quarter of the events stored", || {
        store.count() >= all / 4
    });
    fault();
    if told == Told::Refused {
        let log = daemon.stderr_path();
        wait("a batch answered 503", || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains(NOT_STORED))
        });
        std::thread::sleep(Duration::from_secs(1));
    } else {
        wait("half the events stored", || store.count() >= all / 2);
    }
    mend();
    let json = finish_all_acked(child, FORWARDERS as u64 * BATCHES);
    if told == Told::Refused {
        assert!(field(&json, "refused_503") > 0, "{json}");
    }
    let seen = store.counts();
    let forwarders = forwarders_losing_none(acked, &seen, BATCHES * PER_BATCH);
    assert_eq!(forwarders, FORWARDERS);
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} stored twice, first {:?}",
        twice.len(),
        twice.first()
    );
    assert_eq!(seen.len(), all);
    assert!(daemon.is_running(), "{}", daemon.stderr());
    // What the operator reads: a line per cause and minute, not one per refused request.
    let log = daemon.stderr();
    let errors = log.lines().filter(|l| l.contains(" ERROR ")).count();
    assert!(errors <= MAX_ERROR_LINES, "{errors} error lines: {log}");
    eprintln!("through the fault: {json}");
    json
}

/// A tmpfs of `size` in `dir`; `None` when not root.
fn disk(dir: &Path, size: &str) -> Option<Tmpfs> {
    Tmpfs::mount(&dir.join("disk"), size)
}

/// The event store's file system fills up: batches are answered 503 with the reason logged
/// (nothing acknowledged), and once room returns the resends are stored, once, without a
/// restart.
#[test]
fn a_full_disk_under_the_event_store_is_answered_503_and_storing_resumes() {
    let (dir, ca_dir, _out, acked) = scratch();
    let Some(disk) = disk(dir.path(), "48m") else {
        return;
    };
    let database = disk.path().join("wec.sqlite");
    let (config, port, server_ca) = collector(&ca_dir, STORE_OUTPUT);
    let mut daemon = Daemon::start_with_env(&config, &[port], &wec_database_env(&database));
    let store = Store::Sqlite(database.clone());
    let filler = std::cell::RefCell::new(None);
    through_a_fault(
        &mut daemon,
        (&ca_dir, &server_ca, port, &acked),
        (&store, Told::Refused),
        || *filler.borrow_mut() = Some(disk.fill("filler")),
        || std::fs::remove_file(filler.borrow().as_ref().expect("filled")).expect("unfill"),
    );
    let log = daemon.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains(NOT_STORED) && l.contains("full")),
        "no line says the disk is full: {log}"
    );
}

/// A file output's file system fills up: a batch cut short is cut back (no torn line, no event
/// twice), answered 503, and the resends are written once room returns.
#[test]
fn a_full_disk_under_a_file_output_is_answered_503_and_writing_resumes() {
    let (dir, ca_dir, _out, acked) = scratch();
    let Some(disk) = disk(dir.path(), "16m") else {
        return;
    };
    let out = disk.path().join("out");
    std::fs::create_dir_all(&out).expect("output dir");
    let (config, port, server_ca) = collector(&ca_dir, &file_output(&out));
    let database = dir.path().join("wec.sqlite");
    let mut daemon = Daemon::start_with_env(&config, &[port], &wec_database_env(&database));
    let store = Store::Files(out);
    let filler = std::cell::RefCell::new(None);
    through_a_fault(
        &mut daemon,
        (&ca_dir, &server_ca, port, &acked),
        (&store, Told::Refused),
        || *filler.borrow_mut() = Some(disk.fill("filler")),
        || std::fs::remove_file(filler.borrow().as_ref().expect("filled")).expect("unfill"),
    );
    let log = daemon.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains(NOT_STORED) && l.contains("No space left on device")),
        "no line says the disk is full: {log}"
    );
}

/// PostgreSQL, holding the bookmarks and the store, stopped while the fleet delivers: nothing
/// is acknowledged while it is down (503), and once it is started again the same collector
/// stores the resends, each event once.
#[test]
fn postgres_stopped_and_started_again_under_a_fleet_loses_nothing_and_stores_nothing_twice() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let (dir, ca_dir, _out, acked) = scratch();
    let (config, port, server_ca) = collector(&ca_dir, STORE_OUTPUT);
    crate::collector_postgres::use_postgres_store(&config, &server, 4);
    let unused = dir.path().join("unused.sqlite");
    let mut daemon = Daemon::start_with_env(&config, &[port], &wec_database_env(&unused));
    through_a_fault(
        &mut daemon,
        (&ca_dir, &server_ca, port, &acked),
        (&Store::Postgres(&server), Told::Refused),
        || server.stop(),
        || server.start_again(),
    );
}

/// The collector's blocking threads (`wsmand-conn-N-blocking`, cut to 15 characters by the
/// kernel: `wsmand-conn-N-b`) now.
fn blocking_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("wsmand-conn-") && name.trim_end().ends_with("-b"))
        .count()
}

/// The store held (another process holds the SQLite file's write lock for 15 s, as a backup
/// tool may) under a fleet of 300 forwarders: each batch waits for the lock, but at most a
/// bounded number hold a blocking thread, the others waiting without one; once the lock is
/// let go every event is stored once. Without the bound the pools grew a thread for each
/// waiting batch and kept them: in the hour at load one stall of the store took them from 110
/// threads to 376, and the collector's RSS up by 57 MB, for the rest of the run.
#[test]
fn a_held_store_holds_a_bounded_number_of_threads_however_many_forwarders_wait() {
    const MANY: usize = 300;
    const MANY_BATCHES: u64 = 4;
    let (dir, ca_dir, _out, acked) = scratch();
    let (config, port, server_ca) = collector(&ca_dir, STORE_OUTPUT);
    let database = dir.path().join("wec.sqlite");
    let mut daemon = Daemon::start_with_env(&config, &[port], &wec_database_env(&database));
    let mut fleet = fleet_load(
        &ca_dir,
        &server_ca,
        port,
        (MANY, MANY_BATCHES, PER_BATCH),
        &acked,
    );
    fleet
        .args(["--seconds", "300", "--drain-seconds", "200"])
        .args(["--max-retry-seconds", "1"]);
    let child = fleet.spawn().expect("spawn fleet-load");
    let store = Store::Sqlite(database.clone());
    wait("a tenth of the fleet's events stored", || {
        store.count() >= MANY * PER_BATCH as usize / 10
    });
    let holder = rusqlite::Connection::open(&database).expect("the store's file");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("the write lock");
    let mut most = 0;
    let held = Instant::now();
    while held.elapsed() < Duration::from_secs(15) {
        most = most.max(blocking_threads(daemon.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    holder.execute_batch("ROLLBACK").expect("let go");
    drop(holder);
    let json = finish_all_acked(child, MANY as u64 * MANY_BATCHES);
    let seen = store.counts();
    assert_eq!(
        forwarders_losing_none(&acked, &seen, MANY_BATCHES * PER_BATCH),
        MANY
    );
    assert!(seen.values().all(|n| *n == 1), "an event stored twice");
    assert!(daemon.is_running(), "{}", daemon.stderr());
    eprintln!("{most} blocking threads at most while the store was held: {json}");
    assert!(
        most <= MANY / 2,
        "{most} blocking threads for {MANY} forwarders waiting on a held store"
    );
}

/// The RELP receiver of a syslog output killed while the fleet delivers: batches are answered
/// 503 (backpressure, not a queue), the store beside it holds each event once, and once a
/// receiver listens again every event reaches it; what it holds twice is at most the window in
/// flight when the first one died.
#[test]
fn a_relp_receiver_down_then_back_is_answered_503_and_nothing_is_lost() {
    const WINDOW: usize = 8;
    let (dir, ca_dir, _out, acked) = scratch();
    let relp_port = free_port();
    let receivers =
        std::cell::RefCell::new(vec![rsyslog_relp(dir.path(), "first", relp_port, None)]);
    let outputs = format!(
        "{STORE_OUTPUT}[[outputs]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{relp_port}\"\ntransport = \"relp\"\nwindow = {WINDOW}\nmax_backoff_ms = 200\n"
    );
    let (config, port, server_ca) = collector(&ca_dir, &outputs);
    let database = dir.path().join("wec.sqlite");
    let mut daemon = Daemon::start_with_env(&config, &[port], &wec_database_env(&database));
    through_a_fault(
        &mut daemon,
        (&ca_dir, &server_ca, port, &acked),
        (&Store::Sqlite(database), Told::Refused),
        || receivers.borrow()[0].signal("-KILL"),
        || {
            let second = rsyslog_relp(dir.path(), "second", relp_port, None);
            receivers.borrow_mut().push(second);
        },
    );
    let mut received: HashMap<(String, u64), u32> = HashMap::new();
    for receiver in receivers.borrow().iter() {
        for (key, n) in relp_records(receiver) {
            *received.entry(key).or_default() += n;
        }
    }
    forwarders_losing_none(&acked, &received, BATCHES * PER_BATCH);
    let twice = received.values().filter(|n| **n > 1).count();
    eprintln!("the RELP receivers hold {twice} events twice");
    assert!(twice <= WINDOW * PER_BATCH as usize, "{twice} twice");
}

/// (Computer, record id) of every record a receiver wrote, with how often.
fn relp_records(receiver: &Receiver) -> HashMap<(String, u64), u32> {
    let mut counts = HashMap::new();
    for record in receiver.records() {
        let message = record["msg"].as_str().unwrap_or_default();
        let between = |open: &str, close: &str| {
            let start = message.find(open)? + open.len();
            Some(message[start..start + message[start..].find(close)?].to_owned())
        };
        let record = between("<EventRecordID>", "</EventRecordID>")
            .and_then(|r| r.parse().ok())
            .expect("a record id");
        let computer = between("<Computer>", "</Computer>").expect("a Computer");
        *counts.entry((computer, record)).or_default() += 1;
    }
    counts
}

/// libfaketime's library (Debian's `libfaketime`), or `None`, saying why the test is skipped.
fn libfaketime() -> Option<PathBuf> {
    let found = std::fs::read_dir("/usr/lib").ok()?.find_map(|entry| {
        let path = entry.ok()?.path().join("faketime/libfaketime.so.1");
        path.is_file().then_some(path)
    });
    if found.is_none() {
        eprintln!("skipped: libfaketime is not installed (Debian package libfaketime)");
    }
    found
}

/// The collector's wall clock stepped back an hour while the fleet delivers (libfaketime reads
/// the offset from a file, again every second; the monotonic clocks are left alone, as an NTP
/// step leaves them): nothing is refused, every event is stored once, and each forwarder's
/// bookmark is where its last batch left it, also after a restart on the stepped clock, so a
/// forwarder resumes from its last event instead of sending old events again.
#[test]
fn a_wall_clock_stepped_back_an_hour_loses_no_bookmark_and_stores_nothing_twice() {
    let Some(library) = libfaketime() else {
        return;
    };
    let (dir, ca_dir, _out, acked) = scratch();
    let offset = dir.path().join("clock-offset");
    std::fs::write(&offset, "+0\n").expect("offset file");
    let (config, port, server_ca) = collector(&ca_dir, STORE_OUTPUT);
    let database = dir.path().join("wec.sqlite");
    let env = [
        wec_database_env(&database)[0],
        ("LD_PRELOAD", library.to_str().expect("UTF-8")),
        ("FAKETIME_TIMESTAMP_FILE", offset.to_str().expect("UTF-8")),
        ("FAKETIME_CACHE_DURATION", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ];
    let mut daemon = Daemon::start_with_env(&config, &[port], &env);
    let store = Store::Sqlite(database.clone());
    through_a_fault(
        &mut daemon,
        (&ca_dir, &server_ca, port, &acked),
        (&store, Told::Nothing),
        || std::fs::write(&offset, "-3600\n").expect("step back"),
        || {},
    );
    assert_bookmarks(&database, BATCHES * PER_BATCH);
    assert_noted_on_the_stepped_clock(&database);
    // Restarted on the stepped clock, the collector offers the same bookmarks; the forwarders'
    // next events are stored once beside the first ones.
    daemon.stop();
    let mut daemon = Daemon::start_with_env(&config, &[port], &env);
    let again = dir.path().join("acked-again");
    let child = fleet(&ca_dir, &server_ca, port, &again)
        .args(["--first-record", &(BATCHES * PER_BATCH + 1).to_string()])
        .spawn()
        .expect("spawn fleet-load");
    finish_all_acked(child, FORWARDERS as u64 * BATCHES);
    let seen = store.counts();
    forwarders_losing_none(&again, &seen, 2 * BATCHES * PER_BATCH);
    assert!(seen.values().all(|n| *n == 1), "an event stored twice");
    assert_eq!(seen.len(), 2 * FORWARDERS * (BATCHES * PER_BATCH) as usize);
    assert_bookmarks(&database, 2 * BATCHES * PER_BATCH);
    assert!(daemon.is_running());
}

/// Every forwarder's bookmark in the SQLite file is at `last`.
fn assert_bookmarks(database: &Path, last: u64) {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the bookmarks");
    let mut rows = connection
        .prepare("SELECT client, record_id FROM bookmark")
        .expect("bookmarks");
    let rows: Vec<(String, i64)> = rows
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("bookmarks")
        .collect::<Result<_, _>>()
        .expect("bookmarks");
    assert_eq!(rows.len(), FORWARDERS, "{rows:?}");
    let behind: Vec<_> = rows.iter().filter(|(_, r)| *r as u64 != last).collect();
    assert!(behind.is_empty(), "bookmarks not at {last}: {behind:?}");
}

/// Each forwarder's last event is noted on the collector's stepped clock (an hour behind the
/// test's), not left at the time before the step: otherwise a forwarder that stopped would
/// count as active until the clock caught up.
fn assert_noted_on_the_stepped_clock(database: &Path) {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the bookmarks");
    let latest: i64 = connection
        .query_row("SELECT max(last_event) FROM client", [], |row| row.get(0))
        .expect("last events");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as i64;
    let stepped_now = now - 3_600_000_000;
    assert!(
        latest <= stepped_now + 60_000_000,
        "a last event {} s ahead of the collector's clock",
        (latest - stepped_now) / 1_000_000
    );
}
