//! The bookmark store on a real SQLite file: positions never move backwards under any order of
//! batches, survive reopening, and stay right under concurrent writers on two connections.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use wsman_collector::store::{SqliteStore, Store};
use wsman_events::{BookmarkList, Timestamp};

fn list(positions: &[(&str, u64)]) -> BookmarkList {
    positions.iter().copied().collect()
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(seconds * 1_000_000)
}

#[test]
fn merges_forward_only_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bookmarks.sqlite");
    {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.load("host-a", "sub").unwrap(), None);
        store
            .merge(
                "host-a",
                "sub",
                &list(&[("Security", 10), ("System", 5)]),
                at(1),
            )
            .unwrap();
        // A replayed, older batch does not move anything back.
        let stored = store
            .merge(
                "host-a",
                "sub",
                &list(&[("Security", 7), ("Application", 3)]),
                at(2),
            )
            .unwrap();
        assert_eq!(stored.position("Security"), Some(10));
        assert_eq!(stored.position("System"), Some(5));
        assert_eq!(stored.position("Application"), Some(3));
        store.heartbeat("host-a", "sub", at(3)).unwrap();
        store
            .merge("host-b", "sub", &list(&[("System", 1)]), at(4))
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let reopened = store.load("host-a", "sub").unwrap().unwrap();
    assert_eq!(reopened.position("Security"), Some(10));
    assert_eq!(store.load("host-a", "other").unwrap(), None);
    let clients = store.clients("sub").unwrap();
    assert_eq!(clients.len(), 2);
    assert_eq!(clients[0].client, "host-a");
    assert_eq!(clients[0].last_event, Some(at(2)));
    assert_eq!(clients[0].last_heartbeat, Some(at(3)));
    assert_eq!(clients[1].last_heartbeat, None);
    assert!(store.forget("host-a", "sub").unwrap());
    assert_eq!(store.load("host-a", "sub").unwrap(), None);
    assert!(!store.forget("host-a", "sub").unwrap());
}

#[test]
fn concurrent_writers_on_two_connections_keep_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bookmarks.sqlite");
    let stores = [
        Arc::new(SqliteStore::open(&path).unwrap()),
        Arc::new(SqliteStore::open(&path).unwrap()),
    ];
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let store = stores[(t % 2) as usize].clone();
            std::thread::spawn(move || {
                for i in 0..50u64 {
                    // Interleaved, out-of-order positions from every thread.
                    let record = (i * 8 + t) * 7 % 400;
                    store
                        .merge("host", "sub", &list(&[("System", record)]), at(1))
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let expected = (0..8u64)
        .flat_map(|t| (0..50u64).map(move |i| (i * 8 + t) * 7 % 400))
        .max()
        .unwrap();
    let stored = stores[0].load("host", "sub").unwrap().unwrap();
    assert_eq!(stored.position("System"), Some(expected));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn any_order_of_batches_ends_at_the_maximum(
        batches in prop::collection::vec(
            prop::collection::vec((prop::sample::select(vec!["Application", "Security", "System"]), 0u64..1000), 1..4),
            1..20,
        )
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("b.sqlite")).unwrap();
        let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
        for batch in &batches {
            let positions: Vec<(&str, u64)> = batch.clone();
            store.merge("h", "s", &list(&positions), at(1)).unwrap();
            for (channel, record) in positions {
                let e = expected.entry(channel).or_insert(record);
                *e = (*e).max(record);
            }
        }
        let stored = store.load("h", "s").unwrap().unwrap();
        for (channel, record) in expected {
            prop_assert_eq!(stored.position(channel), Some(record));
        }
    }
}

#[test]
fn forwarders_are_active_alive_or_dead_by_the_heartbeat_interval() {
    use std::time::Duration;
    use wsman_collector::store::{heartbeat_window, ClientState, Liveness};
    let now = at(1_000_000);
    let ago = |seconds: u64| Some(at(1_000_000 - seconds as i64));
    let state = |heartbeat: u64, last_event, last_heartbeat| {
        ClientState {
            client: "c".into(),
            last_event,
            last_heartbeat,
        }
        .liveness(Duration::from_secs(heartbeat), now)
    };
    // An event within one interval: active, whatever the interval.
    assert_eq!(state(60, ago(60), None), Liveness::Active);
    assert_eq!(state(3600, ago(3000), None), Liveness::Active);
    // An event older than the interval is no longer activity (the old rule said 15 minutes
    // whatever the interval): a forwarder frozen for two minutes under a 60 s interval is not
    // active.
    assert_eq!(state(60, ago(61), ago(61)), Liveness::Alive);
    assert_eq!(state(60, ago(120), None), Liveness::Dead);
    // Alive: a heartbeat within the interval plus half of it (90 s for 60 s).
    assert_eq!(state(60, None, ago(90)), Liveness::Alive);
    assert_eq!(state(60, None, ago(91)), Liveness::Dead);
    // The slack is at most a minute: 3660 s for an hour's interval.
    assert_eq!(state(3600, None, ago(3660)), Liveness::Alive);
    assert_eq!(state(3600, None, ago(3661)), Liveness::Dead);
    assert_eq!(state(60, None, None), Liveness::Dead);
    assert_eq!(
        heartbeat_window(Duration::from_secs(4)),
        Duration::from_secs(6)
    );
    assert_eq!(
        Liveness::ALL.map(Liveness::as_str),
        ["active", "alive", "dead"]
    );
}

/// Set in the child [`a_commit_is_flushed_with_fdatasync`] runs under strace: the directory
/// of the store it commits to.
const FLUSH_CHILD: &str = "WSMAN_TEST_BOOKMARK_FLUSH_DIR";

/// A bookmark commit is flushed with `fdatasync`, never `fsync` (the compiled-in SQLite is
/// built with `HAVE_FDATASYNC`, `.cargo/config.toml`): this test runs itself again under
/// strace to open a store and merge once, and counts the flushes. Without strace it says so
/// and checks nothing.
#[test]
fn a_commit_is_flushed_with_fdatasync() {
    if let Some(dir) = std::env::var_os(FLUSH_CHILD) {
        let store = SqliteStore::open(&std::path::Path::new(&dir).join("wec.sqlite")).unwrap();
        store
            .merge("host", "sub", &list(&[("System", 1)]), at(1))
            .unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("flushes.strace");
    let child = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_commit_is_flushed_with_fdatasync",
            "--test-threads=1",
        ])
        .env(FLUSH_CHILD, dir.path())
        .stdout(std::process::Stdio::null())
        .status();
    let Ok(status) = child else {
        eprintln!("no strace: the flushes of a commit are not counted");
        return;
    };
    assert!(status.success(), "the traced merge failed");
    let calls = std::fs::read_to_string(&trace).unwrap();
    let count = |call: &str| {
        calls
            .lines()
            .filter(|line| {
                line.split_whitespace()
                    .nth(1)
                    .is_some_and(|c| c.starts_with(&format!("{call}(")))
            })
            .count()
    };
    assert!(count("fdatasync") >= 1, "{calls}");
    assert_eq!(count("fsync"), 0, "{calls}");
}
