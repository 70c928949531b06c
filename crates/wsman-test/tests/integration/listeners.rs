//! Live listener changes through `winrm create/set/delete`: they take effect without a restart
//! and without dropping another listener's connections.

use wsman_test::http::{curl_https_identify, Connection};
use wsman_test::process::{has_line, Finished};
use wsman_test::{free_port, soap, Fixture};

const HTTPS_LISTENER: &str = "winrm/config/Listener?Address=IP:127.0.0.1+Transport=HTTPS";

fn https_identify_status(port: u16) -> u16 {
    curl_https_identify(port).response.status
}

/// `winrm OPERATION LISTENER @{Port="PORT"}` against the fixture; what it printed and returned.
fn winrm_listener_port(fixture: &Fixture, operation: &str, listener: &str, port: u16) -> Finished {
    fixture.winrm_remote(&[operation, listener, &format!("@{{Port=\"{port}\"}}")])
}

fn assert_connection_serves(connection: &mut Connection, auth: &str, when: &str) {
    let response = connection
        .post(Some(auth), soap::identify().as_bytes())
        .unwrap_or_else(|e| panic!("kept-alive connection dropped {when}: {e}"));
    assert_eq!(response.status, 200, "{when}: {}", response.describe());
}

#[test]
fn listener_create_change_delete_live_without_dropping_other_connections() {
    let mut fixture = Fixture::http();
    let auth = fixture.service_auth();
    let mut kept = fixture.connect();
    assert_connection_serves(&mut kept, &auth, "before any change");

    // Create an HTTPS listener (no thumbprint: the service generates a certificate).
    let https_port = free_port();
    let created = winrm_listener_port(&fixture, "create", HTTPS_LISTENER, https_port);
    assert_eq!(created.code(), 0, "{}", created.describe());
    fixture.daemon.wait_for_port(https_port);
    assert_eq!(https_identify_status(https_port), 200);
    assert_connection_serves(&mut kept, &auth, "after creating a listener");

    let stored =
        std::fs::read_to_string(fixture.config.path().join("config.toml")).expect("config.toml");
    assert!(
        stored.contains(&https_port.to_string()),
        "the new listener must be stored:\n{stored}"
    );
    let certs: Vec<_> = std::fs::read_dir(fixture.config.path().join("certs"))
        .expect("certs dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        certs.iter().any(|n| n.ends_with(".crt")) && certs.iter().any(|n| n.ends_with(".key")),
        "a generated certificate is stored as THUMB.crt/THUMB.key: {certs:?}"
    );

    let enumerated = fixture.winrm_remote(&["enumerate", "winrm/config/listener"]);
    enumerated.assert_printed("Transport = HTTPS");
    assert!(
        enumerated.stdout.contains("Transport = HTTP\n")
            || has_line(&enumerated.stdout, "Transport = HTTP"),
        "{}",
        enumerated.describe()
    );

    // Change its port live.
    let moved_port = free_port();
    let changed = winrm_listener_port(&fixture, "set", HTTPS_LISTENER, moved_port);
    assert_eq!(changed.code(), 0, "{}", changed.describe());
    fixture.daemon.wait_for_port(moved_port);
    fixture.daemon.wait_for_port_closed(https_port);
    assert_eq!(https_identify_status(moved_port), 200);
    assert_connection_serves(&mut kept, &auth, "after changing a listener");

    // Delete it.
    let deleted = fixture.winrm_remote(&["delete", HTTPS_LISTENER]);
    assert_eq!(deleted.code(), 0, "{}", deleted.describe());
    fixture.daemon.wait_for_port_closed(moved_port);
    assert_connection_serves(&mut kept, &auth, "after deleting a listener");
    fixture.assert_still_serving();
}

#[test]
fn creating_an_existing_listener_is_already_exists() {
    let fixture = Fixture::http();
    let created = winrm_listener_port(
        &fixture,
        "create",
        "winrm/config/Listener?Address=IP:127.0.0.1+Transport=HTTP",
        fixture.port,
    );
    assert_ne!(created.code(), 0, "{}", created.describe());
}

/// Bytes each connection worker thread of the daemon `pid` has written (`/proc`'s per-thread
/// `wchar`: an answer is written with `write`/`writev` by the thread that serves it).
fn written_by_connection_workers(pid: u32) -> std::collections::BTreeMap<String, u64> {
    let mut written = std::collections::BTreeMap::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the daemon's threads");
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let name = name.trim();
        // `wsmand-conn-N`; its blocking threads are `wsmand-conn-N-b…` (the name is cut at 15).
        if !name.starts_with("wsmand-conn-") || name.matches('-').count() != 2 {
            continue;
        }
        let io = std::fs::read_to_string(path.join("io")).unwrap_or_default();
        let wchar = io
            .lines()
            .find_map(|line| line.strip_prefix("wchar: "))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .expect("wchar of a thread");
        written.insert(name.to_owned(), wchar);
    }
    written
}

/// Kept-alive connections are served by the daemon's connection workers, one per core
/// (`TOKIO_WORKER_THREADS=2` here): each connection's answers are all written by one worker
/// thread, and connections open together are spread over the workers.
#[test]
fn kept_alive_connections_are_spread_over_the_connection_workers_one_thread_each() {
    let fixture = Fixture::http_with_env(|_| {}, &[("TOKIO_WORKER_THREADS", "2")]);
    let auth = fixture.service_auth();
    let pid = fixture.daemon.pid();
    let mut connections: Vec<_> = (0..3).map(|_| fixture.connect()).collect();
    for connection in &mut connections {
        assert_connection_serves(connection, &auth, "at first");
    }
    let workers = written_by_connection_workers(pid);
    assert_eq!(workers.len(), 2, "two connection workers: {workers:?}");
    let mut served_by: Vec<std::collections::BTreeSet<String>> = vec![Default::default(); 3];
    for _ in 0..3 {
        for (index, connection) in connections.iter_mut().enumerate() {
            let before = written_by_connection_workers(pid);
            assert_connection_serves(connection, &auth, "kept alive");
            let after = written_by_connection_workers(pid);
            let writers: Vec<&String> = after
                .iter()
                .filter(|(name, wchar)| before.get(*name) != Some(wchar))
                .map(|(name, _)| name)
                .collect();
            assert_eq!(
                writers.len(),
                1,
                "one worker wrote the answer: {before:?} {after:?}"
            );
            served_by[index].insert(writers[0].clone());
        }
    }
    for (index, threads) in served_by.iter().enumerate() {
        assert_eq!(threads.len(), 1, "connection {index} moved: {threads:?}");
    }
    let used: std::collections::BTreeSet<&String> = served_by.iter().flatten().collect();
    assert_eq!(
        used.len(),
        2,
        "three connections on one worker: {served_by:?}"
    );
}
