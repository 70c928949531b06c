//! Hostile unauthenticated clients: nothing a client sends before it is known may cost the
//! daemon much CPU, memory or log lines, and ambiguous requests are refused. Counted, never
//! timed: each check is on a status, a byte count or a number of log lines.

use std::io::Read;
use std::time::Duration;

use wsman_proto::ns;
use wsman_test::http::{curl_https_identify, Connection};
use wsman_test::{soap, Fixture, SERVICE_ACCOUNT};

const ANONYMOUS: (&str, &str) = ("WSMANIDENTIFY", "unauthenticated");

/// The repro: an Identify whose header holds one element with `count` namespace
/// declarations.
fn namespace_flood(count: usize) -> String {
    let declarations: String = (0..count).map(|i| format!(" xmlns:a{i}=\"{i}\"")).collect();
    format!(
        "<s:Envelope xmlns:s=\"{}\" xmlns:wsmid=\"{}\"><s:Header><e{declarations}/></s:Header><s:Body><wsmid:Identify/></s:Body></s:Envelope>",
        ns::SOAP,
        ns::IDENTITY
    )
}

/// An Identify padded with whitespace to `size` bytes: well-formed, only large.
fn padded_identify(size: usize) -> String {
    let identify = soap::identify();
    let padding = " ".repeat(size.saturating_sub(identify.len()));
    identify.replacen("<s:Body>", &format!("{padding}<s:Body>"), 1)
}

/// Posts `body` on a new connection, with `authorization` and `headers`, and checks the answer
/// is `status` (`what` names the case in the message).
fn assert_answered_on_a_new_connection(
    fixture: &Fixture,
    (authorization, headers): (Option<&str>, &[(&str, &str)]),
    body: &[u8],
    status: u16,
    what: &str,
) {
    let mut connection = fixture.connect();
    let response = connection
        .post_with(authorization, body, headers)
        .expect("response");
    assert_eq!(response.status, status, "{what}: {}", response.describe());
}

#[test]
fn namespace_declarations_are_bounded_like_attributes() {
    let mut fixture = Fixture::http();
    // Anonymous, small enough for the anonymous limit: refused as malformed, not parsed on.
    let small = namespace_flood(500);
    assert!(small.len() < 16 * 1024);
    let anonymous = (None, &[ANONYMOUS][..]);
    assert_answered_on_a_new_connection(&fixture, anonymous, small.as_bytes(), 401, "500");
    // The 25,000 declarations, anonymous: over the anonymous body limit.
    let flood = namespace_flood(25_000);
    assert_answered_on_a_new_connection(&fixture, anonymous, flood.as_bytes(), 413, "25,000");
    // Authenticated: the same envelope is bad XML (400), refused before any name lookup.
    let auth = fixture.service_auth();
    let authenticated = (Some(auth.as_str()), &[][..]);
    assert_answered_on_a_new_connection(
        &fixture,
        authenticated,
        flood.as_bytes(),
        400,
        "25,000 authenticated",
    );
    fixture.assert_still_serving();
}

#[test]
fn unauthenticated_identify_bodies_are_capped_small() {
    let mut fixture = Fixture::http();
    // A normal anonymous Identify, and one padded to just under the limit, are answered.
    for size in [0, 16 * 1024] {
        let body = padded_identify(size);
        let anonymous = (None, &[ANONYMOUS][..]);
        let what = size.to_string();
        assert_answered_on_a_new_connection(&fixture, anonymous, body.as_bytes(), 200, &what);
    }
    // Over it: 413 before the body is read, as the 500 KB bodies of the issue.
    for size in [16 * 1024 + 1, 499 * 1024] {
        let mut connection = fixture.connect();
        connection
            .send_head(None, size, &[ANONYMOUS])
            .expect("send head");
        let response = connection
            .read_response()
            .expect("answered before the body");
        assert_eq!(response.status, 413, "{size}: {}", response.describe());
    }
    // Authenticated requests keep MaxEnvelopeSizekb.
    let response = fixture.post(&padded_identify(100 * 1024));
    assert_eq!(response.status, 200, "{}", response.describe());
    fixture.assert_still_serving();
}

#[test]
fn characters_xml_forbids_are_malformed() {
    let mut fixture = Fixture::http();
    let identify = soap::identify();
    for (what, body) in [
        (
            "a character reference to U+0001",
            identify.replace(
                "<s:Header/>",
                "<s:Header><x xmlns=\"urn:x\">a&#1;b</x></s:Header>",
            ),
        ),
        (
            "a raw NUL",
            identify.replace(
                "<s:Header/>",
                "<s:Header><x xmlns=\"urn:x\">a\0b</x></s:Header>",
            ),
        ),
        (
            "a control character in an attribute",
            identify.replace(
                "<s:Header/>",
                "<s:Header><x xmlns=\"urn:x\" v=\"&#x1B;\"/></s:Header>",
            ),
        ),
    ] {
        let response = fixture.post(&body);
        assert_eq!(response.status, 400, "{what}: {}", response.describe());
    }
    fixture.assert_still_serving();
}

#[test]
fn a_repeated_authorization_header_is_400() {
    let mut fixture = Fixture::http();
    let auth = fixture.service_auth();
    let wrong = wsman_test::http::basic_auth("nobody", "wrong");
    for (first, second) in [(&auth, &wrong), (&wrong, &auth), (&auth, &auth)] {
        assert_answered_on_a_new_connection(
            &fixture,
            (Some(first), &[("Authorization", second)]),
            soap::identify().as_bytes(),
            400,
            "two Authorization headers",
        );
    }
    fixture.assert_still_serving();
}

#[test]
fn refusals_of_one_client_are_logged_at_a_bounded_rate() {
    let mut fixture = Fixture::http();
    // 50: past the 10 lines a minute, and past the 20 requests a client may send before it
    // is paced (100 ms each beyond: seconds in all).
    let mut connection = fixture.connect();
    for _ in 0..50 {
        let response = connection
            .post(None, soap::identify().as_bytes())
            .expect("response");
        assert_eq!(response.status, 401, "{}", response.describe());
    }
    let log = fixture.daemon.stderr();
    let lines = log.matches("401: no credentials").count();
    assert!(
        (1..=10).contains(&lines),
        "50 requests without credentials from one client wrote {lines} log lines (at most 10 a minute expected)"
    );
    // A failed login from another client is still logged.
    let wrong = wsman_test::http::basic_auth(SERVICE_ACCOUNT, "wrong-password");
    let response = fixture
        .connect()
        .post(Some(&wrong), soap::identify().as_bytes());
    assert_eq!(response.expect("response").status, 401);
    let log_path = fixture.daemon.stderr_path();
    fixture
        .daemon
        .wait_until("the failed login in the log", || {
            std::fs::read_to_string(&log_path).is_ok_and(|log| {
                log.lines().any(|l| {
                    l.contains("401: authentication failed") && l.contains(SERVICE_ACCOUNT)
                })
            })
        });
    fixture.assert_still_serving();
}

#[test]
fn every_connection_over_max_connections_gets_a_503_over_http() {
    // More refused connections at once than the old bound on answers in flight (64); none
    // sends its request, so each refusal waits for it before answering.
    const EXTRA: usize = 100;
    let mut fixture = Fixture::http_setting("Config.Service", "MaxConnections", "1");
    // The one slot, once the start-up probe's connection has let go of it.
    let auth = fixture.service_auth();
    let port = fixture.port;
    let mut held = None;
    fixture.daemon.wait_until("the one connection slot", || {
        let mut connection = Connection::open(port).expect("connect");
        let served = connection
            .post(Some(&auth), soap::identify().as_bytes())
            .is_ok_and(|r| r.status == 200);
        held = served.then_some(connection);
        served
    });
    let extra: Vec<Connection> = (0..EXTRA).map(|_| fixture.connect()).collect();
    let mut answered = 0;
    for connection in extra {
        let mut stream = connection.stream().try_clone().expect("clone");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        if answer.starts_with(b"HTTP/1.1 503") {
            answered += 1;
        }
    }
    assert_eq!(answered, EXTRA, "every refused connection gets its 503");
    drop(held);
}

#[test]
fn https_over_max_connections_gets_the_same_503() {
    let (mut fixture, _) = Fixture::https_with(|c| {
        c.set("Config.Service", "MaxConnections", "1");
    });
    let port = fixture.port;
    // Hold the one slot with an open (idle) TCP connection, then ask with curl. While the
    // start-up probe's connection still holds the slot, the held connection is the refused
    // one and curl is served: try again.
    let mut outcome = None;
    fixture
        .daemon
        .wait_until("curl refused while the slot is held", || {
            let _held = Connection::open(port).expect("connect");
            let result = curl_https_identify(port);
            let served = result.response.status == 200;
            outcome = Some(result);
            !served
        });
    let outcome = outcome.expect("curl ran");
    assert_eq!(outcome.response.status, 503, "{outcome:?}");
}

#[test]
fn more_than_100_request_headers_is_431() {
    let mut fixture = Fixture::http();
    let names: Vec<String> = (0..100).map(|i| format!("X-Filler-{i}")).collect();
    let extra: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x")).collect();
    let mut connection = fixture.connect();
    let response = connection
        .post_with(
            Some(&fixture.service_auth()),
            soap::identify().as_bytes(),
            &extra,
        )
        .expect("response");
    assert_eq!(response.status, 431, "{}", response.describe());
    fixture.assert_still_serving();
}
