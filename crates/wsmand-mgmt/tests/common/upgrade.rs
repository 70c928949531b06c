//! The checks every upgrade of the console's WebSockets passes, shared by the terminal's and
//! the event stream's tests.

use super::*;

/// One of the console's WebSockets, for the checks every upgrade passes.
pub(crate) struct SocketEndpoint {
    /// How its refusals are audited (`terminal host0: ...`).
    pub(crate) name: &'static str,
    /// Its path below `/hosts/HOST/`.
    pub(crate) path: &'static str,
    /// Query parameters after the CSRF token that its own parser refuses (400).
    pub(crate) bad_query: &'static str,
    /// The audit event of an opened one.
    pub(crate) opened: &'static str,
    /// What the host logs once per shell or subscription the console opens there.
    pub(crate) host_logs: &'static str,
    /// How the reader's refusal names the rule that decided it.
    pub(crate) denied_by: &'static str,
    /// Whether a second one of a session on a host replaces the first (the events page's
    /// stream) instead of being refused 409 (a terminal).
    pub(crate) takes_over: bool,
}

pub(crate) const TERMINAL_SOCKET: SocketEndpoint = SocketEndpoint {
    name: "terminal",
    path: "terminal/ws",
    bad_query: "&rows=0&cols=80",
    opened: "terminal opened",
    host_logs: "shell created",
    denied_by: "by default (no rule allows it)",
    takes_over: false,
};

pub(crate) const EVENTS_SOCKET: SocketEndpoint = SocketEndpoint {
    name: "event stream",
    path: "events/ws",
    bad_query: "&logs=Setup",
    opened: "event stream opened",
    host_logs: "event subscription created",
    denied_by: "by role readers rule 2 (Deny read",
    takes_over: true,
};

/// The reader's role: every page, but neither a shell (no rule allows it) nor the EventLog
/// resource (denied by its rule 2).
pub(crate) const READER_ROLE: &str = "[[Role]]\nName = \"readers\"\nMembers = [\"reader\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
    Actions = [\"read\"]\n\
    [[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"*\"]\n\
    Resources = [\"http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog\"]\n\
    Actions = [\"read\"]\n";
pub(crate) const READER_PASSWORD: &str = "Reader-Pass-4-Console!";

/// A console with one more host than a session may hold sockets of, a manager who may do
/// everything and a reader who may open neither socket; the hosts' account runs as the PAM
/// test user (see [`Service::for_terminals`]).
pub(crate) fn upgrade_checks_service() -> Service {
    let user = std::env::var("WSMAN_TEST_PAM_USER").unwrap_or_else(|_| "wsmantest".into());
    let roles = format!("{ALL_POWERFUL_ROLE}\n{READER_ROLE}");
    Service::start_layout(&Layout {
        hosts: wsmand_mgmt::terminal::MAX_TERMINALS_PER_SESSION + 1,
        run_as: &user,
        roles: Some(&roles),
        managers: &[("reader", READER_PASSWORD)],
        ..Layout::default()
    })
}

/// Every refusal of `endpoint`'s upgrade, each answered with its status, audited, and none
/// opening anything on a host: no session (401), a foreign or missing Origin, a missing or
/// wrong CSRF token (403), a query its parser refuses (400), no WebSocket handshake (400),
/// another WebSocket version (426, naming 13), a role that may not (403, audited `denied`
/// with the rule), a host not configured (404), a second socket on one host (409, or for a
/// live stream the first one closed and replaced) and one more host than a session may hold
/// (429). Returns the manager's session.
pub(crate) fn assert_every_upgrade_check(service: &Service, endpoint: &SocketEndpoint) -> String {
    let (session, csrf) = service.manager_session();
    let good = format!("?csrf={csrf}");
    assert_refused_before_the_upgrade(service, endpoint, &session, &good);
    assert_no_websocket_handshake_refused(service, endpoint, &session, &good);
    assert_sockets_bounded(service, endpoint, &session, &good);
    assert_refusals_audited(service, endpoint, &session);
    session
}

/// The console's address as a browser sends it in `Origin`.
fn origin(service: &Service) -> String {
    format!("https://127.0.0.1:{}", service.port)
}

/// `endpoint`'s path on `host`, with `query`.
fn upgrade_path(endpoint: &SocketEndpoint, host: &str, query: &str) -> String {
    format!("/hosts/{host}/{}{query}", endpoint.path)
}

/// Refused before any socket: no session (401), a foreign or missing Origin, a missing or
/// wrong CSRF token, the reader's role (403), a query its parser refuses (400), a host not
/// configured (404).
fn assert_refused_before_the_upgrade(
    service: &Service,
    endpoint: &SocketEndpoint,
    session: &str,
    good: &str,
) {
    let (reader, reader_csrf) = service.session_of("reader", READER_PASSWORD);
    let origin = origin(service);
    let path = |host: &str, query: &str| upgrade_path(endpoint, host, query);
    let bad_query = format!("{good}{}", endpoint.bad_query);
    let reader_query = format!("?csrf={reader_csrf}");
    terminal::runtime().block_on(async {
        let attempts: [(Option<&str>, Option<&str>, String, u16); 8] = [
            (None, Some(&origin), path("host0", good), 401),
            (
                Some(session),
                Some("https://evil.example"),
                path("host0", good),
                403,
            ),
            (Some(session), None, path("host0", good), 403),
            (Some(session), Some(&origin), path("host0", ""), 403),
            (
                Some(session),
                Some(&origin),
                path("host0", "?csrf=00ff"),
                403,
            ),
            (Some(session), Some(&origin), path("host0", &bad_query), 400),
            (
                Some(&reader),
                Some(&origin),
                path("host0", &reader_query),
                403,
            ),
            (Some(session), Some(&origin), path("nohost", good), 404),
        ];
        for (cookie, origin, path, status) in attempts {
            let result = terminal::connect_path(service, &path, cookie, origin).await;
            assert_eq!(
                result.err(),
                Some(status),
                "cookie {cookie:?} origin {origin:?} path {path:?}"
            );
        }
    });
}

/// Requests that are no WebSocket handshake (400), or another version of it (426, naming
/// 13), as curl sends them.
fn assert_no_websocket_handshake_refused(
    service: &Service,
    endpoint: &SocketEndpoint,
    session: &str,
    good: &str,
) {
    let url = service.url(&upgrade_path(endpoint, "host0", good));
    let session_headers = [
        format!("Cookie: __Host-wsmand-session={session}"),
        format!("Origin: {}", origin(service)),
    ];
    let plain = service.curl(&[
        "--http1.1",
        "-H",
        &session_headers[0],
        "-H",
        &session_headers[1],
        &url,
    ]);
    assert_eq!(plain.status, 400, "{}", plain.body);
    let version_8 = service.curl(&[
        "--http1.1",
        "-H",
        &session_headers[0],
        "-H",
        &session_headers[1],
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "-H",
        "Sec-WebSocket-Version: 8",
        &url,
    ]);
    assert_eq!(version_8.status, 426, "{}", version_8.body);
    assert_eq!(version_8.header("sec-websocket-version"), Some("13"));
}

/// The slots: one socket per host (a second is 409), and no more hosts than a session may
/// hold (429).
fn assert_sockets_bounded(service: &Service, endpoint: &SocketEndpoint, session: &str, good: &str) {
    let origin = origin(service);
    let path = |host: &str| upgrade_path(endpoint, host, good);
    let hosts = service.daemons.len();
    terminal::runtime().block_on(async {
        let mut open = Vec::new();
        for index in 0..hosts - 1 {
            let ws = terminal::connect_path(
                service,
                &path(&format!("host{index}")),
                Some(session),
                Some(&origin),
            )
            .await
            .unwrap_or_else(|status| panic!("host{index}: refused with {status}"));
            open.push(ws);
        }
        if endpoint.takes_over {
            // The events page reloaded: the new stream replaces the session's older one,
            // which is closed (with a close frame) once it has unsubscribed.
            let second =
                terminal::connect_path(service, &path("host0"), Some(session), Some(&origin))
                    .await
                    .unwrap_or_else(|status| panic!("host0 again: refused with {status}"));
            let closed = terminal::close_code(&mut open[0], Duration::from_secs(30)).await;
            assert!(closed.is_some(), "the older stream on host0 was not closed");
            open[0] = second;
        }
        let again = if endpoint.takes_over {
            None
        } else {
            Some(("host0".to_owned(), 409))
        };
        for (host, status) in again
            .into_iter()
            .chain([(format!("host{}", hosts - 1), 429)])
        {
            let result =
                terminal::connect_path(service, &path(&host), Some(session), Some(&origin)).await;
            assert_eq!(result.err(), Some(status), "{host}");
        }
        drop(open);
    });
}

/// Every refusal audited with its reason, the reader's as `denied` with the rule, and only
/// the allowed sockets opened: the console says so, and so does each host.
fn assert_refusals_audited(service: &Service, endpoint: &SocketEndpoint, session: &str) {
    let hosts = service.daemons.len();
    let refused = terminal::audited(service, session, "refused");
    let own: Vec<&String> = refused
        .iter()
        .filter(|d| d.starts_with(endpoint.name))
        .collect();
    // All but the reader's and the unknown host's; those two are `denied` and unaudited.
    // A live stream's second socket on a host replaces the first: no refusal.
    let replaced = usize::from(endpoint.takes_over);
    assert_eq!(own.len(), 10 - replaced, "{refused:?}");
    for why in [
        "no session",
        "cross-origin or missing Origin",
        "missing or wrong CSRF token",
        "query: ",
        "not a WebSocket upgrade",
        "WebSocket version 13 only",
        "already has",
        "too many",
    ] {
        if why == "already has" && endpoint.takes_over {
            continue;
        }
        assert!(own.iter().any(|d| d.contains(why)), "{why}: {refused:?}");
    }
    let denied = terminal::audited(service, session, "denied");
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert!(
        denied[0].starts_with("host0: ") && denied[0].contains(endpoint.denied_by),
        "{denied:?}"
    );
    assert_eq!(
        terminal::audited(service, session, endpoint.opened).len(),
        hosts - 1 + replaced
    );
    for (index, (_, daemon, _)) in service.daemons.iter().enumerate() {
        let made = daemon.stderr().matches(endpoint.host_logs).count();
        let expected = usize::from(index + 1 < hosts) + if index == 0 { replaced } else { 0 };
        assert_eq!(made, expected, "host{index}");
    }
}
