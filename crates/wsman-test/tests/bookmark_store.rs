//! The collector's bookmark store, one contract for both backends: an SQLite file, and a real
//! PostgreSQL server (`wsman_test::postgres`: Debian's initdb and pg_ctl on a free 127.0.0.1
//! port, password authentication, plain and TLS). Positions never move backwards under any
//! order of batches, nor under concurrent writers on separate pools (two collectors); a log
//! added later starts at its own position; a stopped database fails calls (the collector
//! answers 503) and a restarted one is used again without reopening the store.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use proptest::prelude::*;
use wsman_collector::store::{self, Backend, Store, StoreError};
use wsman_events::{BookmarkList, Timestamp};
use wsman_test::postgres::{self, Postgres};

fn list(positions: &[(&str, u64)]) -> BookmarkList {
    positions.iter().copied().collect()
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(seconds * 1_000_000)
}

/// `DIR/collector.toml` for `server`, the password in a private file beside it.
fn postgres_backend(server: &Postgres, tls: bool, pool_size: usize) -> Backend {
    let dir = tempfile::tempdir().expect("config dir");
    let mut settings = format!(
        "pool_size = {pool_size}\nconnect_timeout_seconds = 3\nstatement_timeout_seconds = 5\n"
    );
    if tls {
        settings.push_str(&format!(
            "tls = true\nca_file = \"{}\"\n",
            server.ca_file().display()
        ));
    }
    server.write_collector_toml(dir.path(), &settings);
    let backend = store::config::load(dir.path(), Path::new("/nonexistent")).expect("settings");
    assert!(matches!(backend, Backend::Postgres(_)));
    backend
}

/// The contract every backend keeps; `reopen` opens the same store anew.
fn contract(name: &str, reopen: &dyn Fn() -> Arc<dyn Store>) {
    let (host_a, host_b) = (format!("{name}-a"), format!("{name}-b"));
    {
        let store = reopen();
        assert_eq!(store.load(&host_a, "sub").expect("load"), None, "{name}");
        store
            .merge(
                &host_a,
                "sub",
                &list(&[("Security", 10), ("System", 5)]),
                at(1),
            )
            .expect("merge");
        // A replayed, older batch moves nothing back; a log added to the query starts at
        // its own position.
        let stored = store
            .merge(
                &host_a,
                "sub",
                &list(&[("Security", 7), ("Application", 3)]),
                at(2),
            )
            .expect("merge");
        assert_eq!(stored.position("Security"), Some(10), "{name}");
        assert_eq!(stored.position("System"), Some(5), "{name}");
        assert_eq!(stored.position("Application"), Some(3), "{name}");
        store.heartbeat(&host_a, "sub", at(3)).expect("heartbeat");
        store
            .merge(&host_b, "sub", &list(&[("System", 1)]), at(4))
            .expect("merge");
    }
    let store = reopen();
    let reopened = store.load(&host_a, "sub").expect("load").expect("stored");
    assert_eq!(reopened.position("Security"), Some(10), "{name}");
    assert_eq!(reopened.position("Application"), Some(3), "{name}");
    assert_eq!(store.load(&host_a, "other").expect("load"), None, "{name}");
    let clients: Vec<_> = store
        .clients("sub")
        .expect("clients")
        .into_iter()
        .filter(|c| c.client.starts_with(name))
        .collect();
    assert_eq!(clients.len(), 2, "{name}");
    assert_eq!(clients[0].client, host_a);
    assert_eq!(clients[0].last_event, Some(at(2)), "{name}");
    assert_eq!(clients[0].last_heartbeat, Some(at(3)), "{name}");
    assert_eq!(clients[1].last_heartbeat, None, "{name}");
    assert!(store.forget(&host_a, "sub").expect("forget"));
    assert_eq!(store.load(&host_a, "sub").expect("load"), None, "{name}");
    assert!(!store.forget(&host_a, "sub").expect("forget"));

    // A forwarder's refusals: the latest kept, its reason bounded; forgotten with it.
    let host_c = format!("{name}-c");
    let refused_here = |store: &dyn Store| -> Vec<store::RefusedDelivery> {
        let mut all = store.refusals("sub").expect("refusals");
        all.retain(|r| r.client.starts_with(name));
        all
    };
    store
        .refused(&host_c, "sub", "first", at(5))
        .expect("refused");
    store
        .refused(&host_c, "sub", &"é".repeat(4000), at(6))
        .expect("refused");
    let refused = refused_here(reopen().as_ref());
    assert_eq!(refused.len(), 1, "{name}: {refused:?}");
    assert_eq!(
        (refused[0].client.as_str(), refused[0].at),
        (host_c.as_str(), at(6))
    );
    assert_eq!(refused[0].reason.len(), store::MAX_REFUSAL_REASON, "{name}");
    assert!(store.refusals("other").expect("refusals").is_empty());
    store.forget(&host_c, "sub").expect("forget");
    assert!(refused_here(store.as_ref()).is_empty(), "{name}");
    clock_stepped_back(name, store.as_ref());
}

/// A forwarder's noted times after the wall clock is stepped back an hour: a commit seconds
/// older (out of order) moves nothing back; the stepped clock's times are kept, so a forwarder
/// that stops after the step is seen silent one heartbeat interval later, not an hour later.
fn clock_stepped_back(name: &str, store: &dyn Store) {
    let host = format!("{name}-d");
    let last = |store: &dyn Store| {
        let clients = store.clients("sub").expect("clients");
        let client = clients
            .into_iter()
            .find(|c| c.client == host)
            .expect("noted");
        (client.last_event, client.last_heartbeat)
    };
    let before = 1_800_000_000;
    store
        .merge(&host, "sub", &list(&[("Security", 1)]), at(before))
        .expect("merge");
    store
        .heartbeat(&host, "sub", at(before))
        .expect("heartbeat");
    store
        .merge(&host, "sub", &list(&[("Security", 2)]), at(before - 2))
        .expect("merge");
    store
        .heartbeat(&host, "sub", at(before - 2))
        .expect("heartbeat");
    assert_eq!(last(store), (Some(at(before)), Some(at(before))), "{name}");
    let stepped = before - 3600 + 5;
    store
        .merge(&host, "sub", &list(&[("Security", 3)]), at(stepped))
        .expect("merge");
    store
        .heartbeat(&host, "sub", at(stepped))
        .expect("heartbeat");
    assert_eq!(
        last(store),
        (Some(at(stepped)), Some(at(stepped))),
        "{name}"
    );
    let bookmark = store.load(&host, "sub").expect("load").expect("stored");
    assert_eq!(bookmark.position("Security"), Some(3), "{name}");
    store.forget(&host, "sub").expect("forget");
}

#[test]
fn both_backends_keep_the_same_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bookmarks.sqlite");
    contract("sqlite", &|| {
        store::open(&Backend::Sqlite { path: path.clone() }).expect("sqlite")
    });
    let Some(server) = Postgres::start() else {
        return;
    };
    let plain = postgres_backend(&server, false, 2);
    contract("postgres", &|| store::open(&plain).expect("postgres"));
    let tls = postgres_backend(&server, true, 2);
    contract("postgres-tls", &|| {
        store::open(&tls).expect("postgres over TLS")
    });
    // What the store wrote is what PostgreSQL itself holds.
    assert_eq!(
        server.psql(
            "SELECT channel || '=' || record_id FROM wec_bookmark WHERE client = 'postgres-b'"
        ),
        "System=1"
    );
    // Over TLS the session really is encrypted: the server's own view of it.
    let store = store::open(&tls).expect("postgres over TLS");
    store
        .merge("tls-probe", "sub", &list(&[("System", 1)]), at(1))
        .expect("merge");
    assert!(server
        .psql("SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND application_name = 'wsmand collector'")
        .parse::<u32>()
        .is_ok_and(|n| n >= 1));
}

/// Writers on `stores` (separate pools: separate collectors) merge out-of-order positions
/// of one (client, subscription) while a reader checks that no position it sees ever moves
/// back; at the end each log is at the largest position written.
fn concurrent_merges(stores: &[Arc<dyn Store>]) {
    let channels = ["Application", "Security", "System"];
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = Arc::clone(&stores[0]);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut seen: BTreeMap<String, u64> = BTreeMap::new();
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) || reads == 0 {
                if let Some(stored) = store.load("host", "sub").expect("load") {
                    for (channel, record) in stored.positions() {
                        let before = seen.insert(channel.to_owned(), record).unwrap_or(0);
                        assert!(
                            record >= before,
                            "{channel} moved back from {before} to {record}"
                        );
                    }
                }
                reads += 1;
            }
        })
    };
    let writers: Vec<_> = (0..8u64)
        .map(|t| {
            let store = Arc::clone(&stores[(t as usize) % stores.len()]);
            std::thread::spawn(move || {
                for i in 0..40u64 {
                    // Interleaved, out-of-order positions on every log from every thread.
                    let record = (i * 8 + t) * 7 % 311;
                    let positions: Vec<(&str, u64)> = channels
                        .iter()
                        .enumerate()
                        .map(|(k, c)| (*c, (record + k as u64 * 97) % 311))
                        .collect();
                    let stored = store
                        .merge("host", "sub", &list(&positions), at(1))
                        .expect("merge");
                    for (channel, record) in positions {
                        assert!(stored.position(channel) >= Some(record));
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    reader.join().expect("reader");
    let stored = stores[0]
        .load("host", "sub")
        .expect("load")
        .expect("stored");
    for (k, channel) in channels.iter().enumerate() {
        let expected = (0..8u64)
            .flat_map(|t| (0..40u64).map(move |i| ((i * 8 + t) * 7 % 311 + k as u64 * 97) % 311))
            .max();
        assert_eq!(stored.position(channel), expected, "{channel}");
    }
}

#[test]
fn concurrent_out_of_order_merges_from_two_collectors_never_move_backwards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Backend::Sqlite {
        path: dir.path().join("b.sqlite"),
    };
    concurrent_merges(&[
        store::open(&sqlite).expect("sqlite"),
        store::open(&sqlite).expect("sqlite"),
    ]);
    let Some(server) = Postgres::start() else {
        return;
    };
    let backend = postgres_backend(&server, false, 3);
    concurrent_merges(&[
        store::open(&backend).expect("postgres"),
        store::open(&backend).expect("postgres"),
    ]);
}

#[test]
fn any_order_of_batches_ends_at_the_maximum_on_postgres() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let store = store::open(&postgres_backend(&server, false, 2)).expect("postgres");
    let case = std::sync::atomic::AtomicU64::new(0);
    proptest!(ProptestConfig::with_cases(24), |(batches in prop::collection::vec(
        prop::collection::vec((prop::sample::select(vec!["Application", "Security", "System"]), 0u64..1000), 1..4),
        1..16,
    ))| {
        let client = format!("h{}", case.fetch_add(1, Ordering::SeqCst));
        let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
        for batch in &batches {
            store.merge(&client, "s", &list(batch), at(1)).expect("merge");
            for (channel, record) in batch {
                let e = expected.entry(channel).or_insert(*record);
                *e = (*e).max(*record);
            }
        }
        let stored = store.load(&client, "s").expect("load").expect("stored");
        for (channel, record) in expected {
            prop_assert_eq!(stored.position(channel), Some(record));
        }
    });
}

#[test]
fn a_stopped_database_fails_calls_and_a_restarted_one_is_used_again() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let store = store::open(&postgres_backend(&server, false, 2)).expect("postgres");
    store
        .merge("host", "sub", &list(&[("System", 5)]), at(1))
        .expect("merge");
    server.stop();
    let failed = store.merge("host", "sub", &list(&[("System", 9)]), at(2));
    assert!(
        matches!(
            failed,
            Err(StoreError::Unavailable(_) | StoreError::Postgres(_))
        ),
        "{failed:?}"
    );
    let message = failed.expect_err("failed").to_string();
    assert!(!message.contains(postgres::PASSWORD), "{message}");
    server.start_again();
    let stored = store
        .merge("host", "sub", &list(&[("System", 9)]), at(3))
        .expect("merge after the restart");
    assert_eq!(stored.position("System"), Some(9));
    assert_eq!(
        server.psql("SELECT record_id FROM wec_bookmark WHERE client = 'host'"),
        "9"
    );
}

#[test]
fn settings_keep_the_password_private_and_never_show_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("collector.toml");
    let secret = "Not-To-Be-Shown-77";
    std::fs::write(
        &file,
        format!("[bookmarks]\nbackend = \"postgres\"\nconnection = \"host=127.0.0.1 user=wec dbname=wec password={secret}\"\n"),
    )
    .expect("write");
    // Readable by others: refused, and the refusal does not quote the password.
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let refused = store::config::load(dir.path(), Path::new("/x"))
        .expect_err("refused")
        .to_string();
    assert!(refused.contains("chmod 600"), "{refused}");
    assert!(!refused.contains(secret), "{refused}");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let Backend::Postgres(settings) =
        store::config::load(dir.path(), Path::new("/x")).expect("settings")
    else {
        panic!("postgres expected");
    };
    assert!(!format!("{settings:?}").contains(secret));
    assert_eq!(settings.describe(), "wec@127.0.0.1:5432/wec");
    // No file: SQLite at the default path; an unknown backend is named.
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        store::config::load(empty.path(), Path::new("/var/x.sqlite")),
        Ok(Backend::Sqlite { path }) if path == Path::new("/var/x.sqlite")
    ));
    std::fs::write(
        empty.path().join("collector.toml"),
        "[bookmarks]\nbackend = \"mysql\"\n",
    )
    .expect("write");
    assert!(store::config::load(empty.path(), Path::new("/x"))
        .expect_err("refused")
        .to_string()
        .contains("mysql"));
}
