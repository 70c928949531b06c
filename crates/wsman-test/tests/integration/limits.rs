//! Slow clients and connection limits: the service sheds the misbehaving client and keeps
//! serving everyone else.
//!
//! The deadlines here are hang guards, not timing assertions: each is the configured or
//! documented timeout plus a generous margin.

use std::time::Duration;

use wsman_test::http::Connection;
use wsman_test::{soap, Fixture};

/// `[HTTP] IdleConnectionTimeout` these tests set (the header read timeout too).
const HEADER_TIMEOUT_SECONDS: &str = "30";
/// Hang guard: the timeout above with a margin.
const HEADER_TIMEOUT_GUARD: Duration = Duration::from_secs(75);
/// Service/MaxPacketRetrievalTimeSeconds set by these tests.
const BODY_TIMEOUT_SECONDS: &str = "2";
const BODY_TIMEOUT_GUARD: Duration = Duration::from_secs(40);

#[test]
fn stalled_headers_are_cut_off_and_others_are_served() {
    let mut fixture =
        Fixture::http_setting("HTTP", "IdleConnectionTimeout", HEADER_TIMEOUT_SECONDS);
    let mut slow = fixture.connect();
    slow.send_raw(b"POST /wsman HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        .expect("send a partial head");
    // Others are served while the slow client hangs on.
    fixture.assert_still_serving();
    assert!(
        slow.closed_by_peer_within(HEADER_TIMEOUT_GUARD),
        "a client that never finishes its headers must be disconnected"
    );
    fixture.assert_still_serving();
}

/// A daemon that waits [`BODY_TIMEOUT_SECONDS`] for a request's body.
fn with_body_timeout() -> Fixture {
    Fixture::http_with(|config| {
        config.set(
            "Config.Service",
            "MaxPacketRetrievalTimeSeconds",
            BODY_TIMEOUT_SECONDS,
        );
    })
}

#[test]
fn stalled_body_is_cut_off_and_others_are_served() {
    let mut fixture = with_body_timeout();
    let mut slow = fixture.connect();
    slow.send_head(Some(&fixture.service_auth()), 4096, &[])
        .expect("send head");
    slow.send_raw(b"<s:Envelope")
        .expect("send part of the body");
    fixture.assert_still_serving();
    // The server answers 408 and/or closes; either way the connection must end.
    assert!(
        slow.closed_by_peer_within(BODY_TIMEOUT_GUARD),
        "a client that never finishes its body must be disconnected"
    );
    fixture.assert_still_serving();
}

#[test]
fn stalled_body_without_credentials_is_cut_off_too() {
    let mut fixture = with_body_timeout();
    let mut slow = fixture.connect();
    slow.send_head(None, 4096, &[]).expect("send head");
    slow.send_raw(b"<s:Env").expect("send part of the body");
    assert!(
        slow.closed_by_peer_within(BODY_TIMEOUT_GUARD),
        "draining an unauthenticated body must be bounded in time too"
    );
    fixture.assert_still_serving();
}

#[test]
fn connections_over_max_connections_are_refused_cleanly() {
    let limit = 3;
    let mut fixture = Fixture::http_setting("Config.Service", "MaxConnections", &limit.to_string());
    let auth = fixture.service_auth();
    // Fill the limit with kept-alive, authenticated connections.
    let mut open = identified_connections(&fixture, &auth, limit);

    // One more: refused with 503 or closed, never served and never hanging.
    let mut extra = fixture.connect();
    match extra.post(Some(&auth), soap::identify().as_bytes()) {
        Ok(response) => {
            assert_eq!(response.status, 503, "{}", response.describe());
            let seconds: u64 = response
                .header("Retry-After")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("a Retry-After in seconds: {}", response.describe()));
            assert!((5..=30).contains(&seconds), "{seconds}");
        }
        Err(error) => assert!(
            error.kind() != std::io::ErrorKind::WouldBlock
                && error.kind() != std::io::ErrorKind::TimedOut,
            "the extra connection must be refused, not left hanging: {error}"
        ),
    }
    drop(extra);

    // The connections inside the limit are unaffected.
    for connection in &mut open {
        let r = connection
            .post(Some(&auth), soap::identify().as_bytes())
            .expect("a connection inside the limit keeps working");
        assert_eq!(r.status, 200, "{}", r.describe());
    }

    // Closing one makes room again (the server notices the close asynchronously: poll).
    drop(open.pop());
    fixture.daemon.wait_until("a free connection slot", || {
        let Ok(mut c) = Connection::open(fixture.port) else {
            return false;
        };
        c.post(Some(&auth), soap::identify().as_bytes())
            .is_ok_and(|r| r.status == 200)
    });
    assert!(fixture.daemon.is_running());
}

/// The open-file limit caps connections like MaxConnections: with a soft limit of the
/// daemon's reserve plus 3 (set on the running daemon with prlimit, read again at the reload),
/// the fourth connection is refused with 503 instead of failing in accept, the log says which
/// limit to raise, and the three keep being served.
#[test]
fn the_open_file_limit_caps_connections_and_is_logged() {
    // wsman_server::connection_limit::RESERVED_DESCRIPTORS (wsman-test does not link the server).
    let reserve: u64 = 1280;
    let mut fixture = Fixture::http();
    let auth = fixture.service_auth();
    let limit = reserve + 3;
    let status = std::process::Command::new("prlimit")
        .arg(format!("--nofile={limit}:{limit}"))
        .arg(format!("--pid={}", fixture.daemon.pid()))
        .status()
        .expect("prlimit");
    assert!(status.success());
    fixture
        .daemon
        .reload_until("the open-file limit (RLIMIT_NOFILE) is below MaxConnections");
    let log = fixture.daemon.stderr();
    assert!(log.contains(&format!("open_file_limit={limit}")), "{log}");
    assert!(log.contains("connections=3"), "{log}");

    let mut open = identified_connections(&fixture, &auth, 3);
    let mut extra = fixture.connect();
    let refused = extra
        .post(Some(&auth), soap::identify().as_bytes())
        .expect("the fourth connection is answered");
    assert_eq!(refused.status, 503, "{}", refused.describe());
    assert!(
        refused.header("Retry-After").is_some(),
        "{}",
        refused.describe()
    );
    for connection in &mut open {
        let r = connection
            .post(Some(&auth), soap::identify().as_bytes())
            .expect("a connection inside the cap keeps working");
        assert_eq!(r.status, 200, "{}", r.describe());
    }
    assert!(fixture
        .daemon
        .stderr()
        .contains("connection refused (503): the connection cap is reached"));
}

/// `count` kept-alive connections, each answered one authenticated Identify.
fn identified_connections(fixture: &Fixture, auth: &str, count: usize) -> Vec<Connection> {
    (0..count)
        .map(|_| {
            let mut c = fixture.connect();
            let r = c
                .post(Some(auth), soap::identify().as_bytes())
                .expect("identify");
            assert_eq!(r.status, 200, "{}", r.describe());
            c
        })
        .collect()
}

/// Peak resident memory of a process, from /proc/PID/status (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn concurrent_failed_logins_do_not_exhaust_memory() {
    // Each password check of a service account is a memory-hard hash (argon2id, ~19 MiB).
    // Run without a bound on how many run at once, a burst of wrong passwords on many
    // connections would allocate one such buffer per connection before any is refused.
    const CONNECTIONS: usize = 24;
    const PEAK_LIMIT_KIB: u64 = 256 * 1024;
    let fixture = Fixture::http();
    let wrong = wsman_test::http::basic_auth(wsman_test::SERVICE_ACCOUNT, "wrong-password");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(CONNECTIONS));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let mut connection = fixture.connect();
            let wrong = wrong.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                connection
                    .post(Some(&wrong), soap::identify().as_bytes())
                    .map(|r| r.status)
            })
        })
        .collect();
    for worker in workers {
        let status = worker.join().expect("worker thread");
        assert!(
            matches!(status, Ok(401)) || status.is_err(),
            "a wrong password must not be accepted: {status:?}"
        );
    }
    let peak = peak_rss_kib(fixture.daemon.pid());
    assert!(
        peak < PEAK_LIMIT_KIB,
        "{CONNECTIONS} concurrent failed logins took wsmand to a peak RSS of {} MiB (limit {} MiB): password checks need a concurrency bound",
        peak / 1024,
        PEAK_LIMIT_KIB / 1024
    );
}
