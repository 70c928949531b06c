//! The PostgreSQL bookmark store against a real server (`wsman_test::postgres`): its time
//! limits are PostgreSQL's own, so a forwarder's rows held by another session (a collector
//! frozen in its transaction) fail a merge in the server with a lock timeout, the connection
//! that failed is closed and not waiting in the server any more, and other forwarders' merges
//! go on meanwhile; once the rows are free the held forwarder's merge succeeds.

use std::time::Duration;

use wsman_collector::store::{self, StoreError};
use wsman_events::{BookmarkList, Timestamp};
use wsman_test::postgres::{self, Postgres};

fn list(channel: &str, record: u64) -> BookmarkList {
    let mut list = BookmarkList::new();
    list.advance(channel, record);
    list
}

/// Sessions of the store (its application name) in `state`, or waiting on a lock.
fn store_sessions(server: &Postgres, condition: &str) -> u32 {
    server
        .psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'wsmand collector' AND {condition}"
        ))
        .parse()
        .expect("a count")
}

#[test]
fn a_held_forwarder_fails_in_the_server_and_holds_no_one_else() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    server.write_collector_toml(dir.path(), "pool_size = 2\nstatement_timeout_seconds = 4\n");
    let backend =
        store::config::load(dir.path(), &dir.path().join("unused.sqlite")).expect("the backend");
    let store = store::open(&backend).expect("the store");
    let at = Timestamp::from_unix_micros(1);
    store
        .merge("held", "wef", &list("Security", 10), at)
        .expect("first merge");

    // Another session takes the forwarder's rows and keeps its transaction open, as a
    // collector frozen inside its merge would.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut config: tokio_postgres::Config = server.connection().parse().expect("config");
    config.password(postgres::PASSWORD);
    let locker = runtime.block_on(async {
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .batch_execute(
                "BEGIN; SELECT record_id FROM wec_bookmark WHERE client = 'held' FOR UPDATE",
            )
            .await
            .expect("the row lock");
        client
    });

    // The held forwarder's merge fails, with PostgreSQL's lock timeout (not only our timer).
    let error = store
        .merge("held", "wef", &list("Security", 11), at)
        .expect_err("the rows are held");
    assert!(
        matches!(&error, StoreError::Postgres(text) if text.contains("55P03")),
        "{error}"
    );
    // Other forwarders are stored meanwhile, on the same pool.
    for other in 0..4 {
        store
            .merge(&format!("other-{other}"), "wef", &list("Security", 5), at)
            .expect("another forwarder");
    }
    // The wait ended in the server: no session of the store still queues for the rows.
    assert_eq!(store_sessions(&server, "wait_event_type = 'Lock'"), 0);
    // The connection that failed is closed, not lent again: its aborted transaction leaves
    // the server (bounded wait for the close to reach it).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store_sessions(&server, "state LIKE 'idle in transaction%'") > 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        store_sessions(&server, "state LIKE 'idle in transaction%'"),
        0
    );

    // The rows free, the forwarder's merge goes through.
    runtime.block_on(async { locker.batch_execute("ROLLBACK").await.expect("rollback") });
    drop(locker);
    let stored = store
        .merge("held", "wef", &list("Security", 11), at)
        .expect("merge once the rows are free");
    assert_eq!(stored.position("Security"), Some(11));
}
