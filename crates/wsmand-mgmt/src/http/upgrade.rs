//! The console's WebSocket upgrades (the terminal, the events page's live stream): every
//! check in one function for both, then the relay started on the upgraded connection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::upgrade::Upgraded;
use hyper::StatusCode;

use super::answer::{error, origin_matches, respond};
use super::gate::OnHost;
use super::{Answer, AppState};
use crate::hosts::Host;
use crate::sessions::{tokens_equal, Session};
use crate::socket_bounds::{Relay, SocketContext};

/// How long a live stream's upgrade waits for the same session's older stream on the host to
/// unsubscribe and free its place (it was told to end; the host's answer bounds the wait).
const TAKE_OVER_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// One WebSocket upgrade request to a host's terminal or to its events page's live stream.
pub(super) struct SocketUpgrade<'a> {
    pub(super) peer: SocketAddr,
    pub(super) session: &'a Session,
    pub(super) session_id: &'a str,
    pub(super) headers: &'a HeaderMap,
    pub(super) query: &'a str,
    pub(super) host_name: String,
    /// The host as the access table's decision admitted it (`gate`), before any of these
    /// checks.
    pub(super) on: OnHost,
}

/// What one kind of console WebSocket is checked against and reserved in, beyond the checks
/// every upgrade passes.
struct SocketKind<'a, Q, E> {
    /// How its refusals and audit records name it.
    name: &'static str,
    /// Its slots: one per session and host, bounded per session and in the service.
    slots: &'a Arc<crate::socket_slots::Terminals>,
    /// Whether a second one of the same session on a host replaces the first (the events
    /// page reloaded) rather than being refused (a terminal: its shell is not ended silently).
    take_over: bool,
    /// Why a second one for the same session and host is refused (409).
    already_open: &'static str,
    /// Why one over the bounds is refused (429).
    too_many: &'static str,
    /// Its query's parser.
    parse_query: fn(&str) -> Result<Q, E>,
}

/// An upgrade query: each kind has its own, and every one carries the session's CSRF token
/// (a browser's WebSocket cannot send headers).
trait UpgradeQuery {
    fn csrf(&self) -> Option<&str>;
}

impl UpgradeQuery for crate::terminal_proto::OpenRequest {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

impl UpgradeQuery for crate::event_stream::StreamRequest {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// An upgrade that passed every check, with its slot reserved: what opening it on the host
/// needs.
struct CheckedUpgrade<'a, Q> {
    peer: SocketAddr,
    session: &'a Session,
    session_id: &'a str,
    host_name: String,
    query: Q,
    /// The configured host as the allowing role's account.
    host: std::sync::Arc<Host>,
    slot: crate::socket_slots::Slot,
    /// The `Sec-WebSocket-Accept` value of the 101 answer.
    accept: String,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

impl<Q> CheckedUpgrade<'_, Q> {
    /// Who the socket serves.
    fn context(&self) -> SocketContext {
        SocketContext {
            host: self.host_name.clone(),
            owner: self.session.owner.clone(),
            client: self.peer.ip(),
            session_id: self.session_id.to_owned(),
        }
    }

    /// Audits `event` on the host as this upgrade's user and client.
    fn audit(&self, state: &AppState, event: &str, detail: &str) {
        self.context().audit(&state.audit, event, detail);
    }

    /// Answers 101 and, once the connection is upgraded, runs `run` on it with what was
    /// opened on the host (`opened`); if the upgrade fails, `give_back` ends that on the host
    /// (within the host deadline), the slot is freed and `closed` audited.
    fn start_relay<T, R, G>(
        self,
        state: &AppState,
        closed: &'static str,
        opened: T,
        run: impl FnOnce(Upgraded, Relay, T) -> R + Send + 'static,
        give_back: impl FnOnce(T) -> G + Send + 'static,
    ) -> Answer
    where
        T: Send + 'static,
        R: Future<Output = ()> + Send + 'static,
        G: Future + Send + 'static,
    {
        let (context, sessions, audit) = (
            self.context(),
            Arc::clone(&state.sessions),
            Arc::clone(&state.audit),
        );
        let (slot, on_upgrade) = (self.slot, self.on_upgrade);
        tokio::spawn(async move {
            let upgraded = on_upgrade.await;
            let relay = Relay {
                slot,
                context,
                sessions,
                audit,
                started: Instant::now(),
            };
            match upgraded {
                Ok(upgraded) => run(upgraded, relay, opened).await,
                Err(error) => {
                    let _ =
                        tokio::time::timeout(crate::hosts::HOST_DEADLINE, give_back(opened)).await;
                    relay.finish(closed, |_| format!("0 s: the upgrade failed: {error}"));
                }
            }
        });
        switching_protocols(&self.accept)
    }
}

/// The checks of every console WebSocket upgrade, in this order: the session (checked by the
/// caller), the Origin (required, as browsers always send it, and equal to this service's),
/// the query, the CSRF token in it, a well-formed handshake, the delegation rules (404 for a
/// host not configured) and a free slot. One function for every kind, so a check cannot be
/// missed by one of them. Each refusal is audited (`refused`, or `denied` with the rule).
async fn check_upgrade<'a, Q: UpgradeQuery, E: std::fmt::Display>(
    state: &'a AppState,
    socket: SocketUpgrade<'a>,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    kind: &SocketKind<'_, Q, E>,
) -> Result<CheckedUpgrade<'a, Q>, Box<Answer>> {
    let SocketUpgrade {
        peer,
        session,
        session_id,
        headers,
        query,
        host_name,
        on,
    } = socket;
    let refuse = |status: StatusCode, why: &str| {
        state.audit.record_on(
            peer.ip(),
            &session.owner,
            "refused",
            &host_name,
            &format!("{} {host_name}: {why}", kind.name),
        );
        Box::new(error(false, status, why))
    };
    if !headers.contains_key(header::ORIGIN) || !origin_matches(headers) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "cross-origin or missing Origin",
        ));
    }
    let query = match (kind.parse_query)(query) {
        Ok(query) => query,
        Err(error) => return Err(refuse(StatusCode::BAD_REQUEST, &format!("query: {error}"))),
    };
    if !query
        .csrf()
        .is_some_and(|token| tokens_equal(token, &session.csrf))
    {
        return Err(refuse(StatusCode::FORBIDDEN, "missing or wrong CSRF token"));
    }
    let (key, on_upgrade) = match handshake(headers, on_upgrade) {
        Ok(handshake) => handshake,
        Err((status, why)) => return Err(Box::new(with_version(*refuse(status, why)))),
    };
    let OnHost {
        host,
        resource,
        action,
    } = on;
    let grant = crate::socket_slots::Grant {
        owner: session.owner.clone(),
        groups: session.groups.clone(),
        resource,
        action,
    };
    let reserved = if kind.take_over {
        kind.slots
            .reserve_taking_over(session_id, &host_name, grant, TAKE_OVER_WITHIN)
            .await
    } else {
        kind.slots.reserve(session_id, &host_name, grant)
    };
    let slot = match reserved {
        Ok(slot) => slot,
        Err(crate::socket_slots::Refusal::AlreadyOpen) => {
            return Err(refuse(StatusCode::CONFLICT, kind.already_open))
        }
        Err(crate::socket_slots::Refusal::TooMany) => {
            return Err(refuse(StatusCode::TOO_MANY_REQUESTS, kind.too_many))
        }
    };
    Ok(CheckedUpgrade {
        peer,
        session,
        session_id,
        host_name,
        query,
        host,
        slot,
        accept: tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
        on_upgrade,
    })
}

/// Whether header `name` lists `token` (comma-separated, any case).
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The terminal's WebSocket upgrade: the checks of [`check_upgrade`] (`shell` on the cmd
/// shell resource, a terminal slot), then the shell is opened on the host and the answer is
/// 101 with the relay running on the upgraded connection.
pub(super) async fn open_terminal(
    state: &AppState,
    socket: SocketUpgrade<'_>,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Answer {
    let kind = SocketKind {
        name: "terminal",
        take_over: false,
        slots: &state.terminals,
        already_open: "this session already has a terminal on this host",
        too_many: "too many terminals open",
        parse_query: crate::terminal_proto::parse_query,
    };
    let upgrade = match check_upgrade(state, socket, on_upgrade, &kind).await {
        Ok(upgrade) => upgrade,
        Err(answer) => return *answer,
    };
    let opened = match upgrade.host.open_terminal(upgrade.query.size).await {
        Ok(opened) => opened,
        Err(error) => {
            let error = error.to_string();
            upgrade.audit(state, "terminal failed", &error);
            return error_answer_bad_gateway(&error);
        }
    };
    let terminal = if opened.pty {
        "pseudo-terminal"
    } else {
        "pipes"
    };
    let detail = format!("{terminal} ({})", opened.command_line);
    upgrade.audit(state, "terminal opened", &detail);
    upgrade.start_relay(
        state,
        "terminal closed",
        (opened.shell, opened.command),
        |upgraded, relay, (shell, command)| crate::terminal::run(upgraded, relay, shell, command),
        |(shell, _)| shell.close(),
    )
}

/// The 101 answer accepting a WebSocket upgrade.
fn switching_protocols(accept: &str) -> Answer {
    let mut answer = respond(
        StatusCode::SWITCHING_PROTOCOLS,
        "text/plain; charset=utf-8",
        "",
    );
    let h = answer.headers_mut();
    h.remove(header::CONTENT_TYPE);
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(value) = HeaderValue::from_str(accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    answer
}

/// A well-formed WebSocket handshake (version 13): its key and the upgrade to await, or the
/// refusal's status and reason.
fn handshake(
    headers: &HeaderMap,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<(HeaderValue, hyper::upgrade::OnUpgrade), (StatusCode, &'static str)> {
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| !k.is_empty() && k.len() <= 64);
    let version_13 = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    let (Some(key), true, true, Some(on_upgrade)) = (
        key,
        header_has_token(headers, header::UPGRADE, "websocket"),
        header_has_token(headers, header::CONNECTION, "upgrade"),
        on_upgrade,
    ) else {
        return Err((StatusCode::BAD_REQUEST, "not a WebSocket upgrade"));
    };
    if !version_13 {
        return Err((StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 only"));
    }
    Ok((key.clone(), on_upgrade))
}

/// A 426 answer says which version is spoken.
fn with_version(mut answer: Answer) -> Answer {
    if answer.status() == StatusCode::UPGRADE_REQUIRED {
        answer.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    answer
}

/// The events page's live stream: the checks of [`check_upgrade`] (`read` on the EventLog
/// resource, an event stream slot), then a Pull subscription on the host as the allowing
/// role's account (the host refuses logs the account may not read: 502 with its fault); then
/// 101 with the relay running.
pub(super) async fn open_event_stream(
    state: &AppState,
    socket: SocketUpgrade<'_>,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Answer {
    let kind = SocketKind {
        name: "event stream",
        take_over: true,
        slots: &state.event_streams,
        already_open: "this session already has an event stream on this host",
        too_many: "too many event streams open",
        parse_query: crate::event_stream::parse_query,
    };
    let upgrade = match check_upgrade(state, socket, on_upgrade, &kind).await {
        Ok(upgrade) => upgrade,
        Err(answer) => return *answer,
    };
    let logs: Vec<&str> = upgrade.query.logs.iter().map(|log| log.name()).collect();
    let subscribed = match upgrade.host.subscribe_events(&upgrade.query.logs).await {
        Ok(subscribed) => subscribed,
        Err(error) => {
            let error = error.to_string();
            let detail = format!("{}: {error}", logs.join(","));
            upgrade.audit(state, "event stream failed", &detail);
            return error_answer_bad_gateway(&error);
        }
    };
    upgrade.audit(state, "event stream opened", &logs.join(","));
    upgrade.start_relay(
        state,
        "event stream closed",
        subscribed,
        crate::event_stream::run,
        |subscribed| async move {
            subscribed
                .client
                .unsubscribe(&subscribed.subscription)
                .await
        },
    )
}

fn error_answer_bad_gateway(message: &str) -> Answer {
    error(false, StatusCode::BAD_GATEWAY, message)
}
