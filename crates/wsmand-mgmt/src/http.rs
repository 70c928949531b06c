//! One request, from its head to its answer: the route, the session, the CSRF token and the
//! Origin on every change, the login with its backoff, the page or its JSON, and the security
//! headers every answer carries; the WebSocket upgrades of the terminal and of the events
//! page's live stream (session, Origin, CSRF token, then the relay in `terminal` or
//! `event_stream`). Connections reach this only after the address rules and TLS
//! (`server`).

//!
//! One concern a file: the answers' shapes and headers in `answer`, the login form in
//! `login_form`, the pages about hosts (and the rules checked before one is contacted) in
//! `host_pages`, the changes (logout, service actions, terminate) in `change`,
//! the manager pages (hosts and roles changed while running) in `manage`, a
//! host's `winrm/config` page and `winrm set` in `config_set`, a command or service action
//! on several hosts in `bulk`, the Updates page and its jobs in `updates`, the WebSocket
//! upgrades in `upgrade`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, Response, StatusCode};

use crate::login::Login;
use crate::pages::{self, Viewer};
use crate::route::{self, Route, RouteError};
use crate::sessions::{Session, Sessions};

mod answer;
mod bulk;
mod change;
mod config_set;
mod events_search;
mod gate;
mod graphs;
mod host_pages;
mod login_form;
mod manage;
mod updates;
mod upgrade;

use answer::{cookie, error, html, json, redirect, respond, wants_json, with_headers, with_viewer};
use gate::Admitted;
use host_pages::{host_page, terminal_page, visible_audit, Asker, Ctx};
use upgrade::{open_event_stream, open_terminal, SocketUpgrade};

/// The session cookie. `__Host-`: the browser keeps it only if Secure, host-only, Path=/.
pub const SESSION_COOKIE: &str = "__Host-wsmand-session";
/// The pre-login cookie holding the login form's CSRF token.
pub const LOGIN_COOKIE: &str = "__Host-wsmand-login";
/// What every request handler shares.
pub struct AppState {
    /// Console sessions (shared with the terminals, which end with their session).
    pub sessions: Arc<Sessions>,
    /// Login checks and their backoff.
    pub login: Login,
    /// The configured hosts and who may do what on which host (the hosts and roles of
    /// `mgmt.toml`), replaced when the manager pages change them.
    pub live: crate::manage::Live,
    /// Log every request (`RequestLog = journal`).
    pub request_log: bool,
    /// And to files in this directory (`RequestLogDirectory`).
    pub request_log_dir: Option<crate::request_log::RequestLogDir>,
    /// Logins, refusals and actions (also logged).
    pub audit: Arc<crate::audit::AuditTrail>,
    /// The open terminals, by session and host.
    pub terminals: Arc<crate::socket_slots::Terminals>,
    /// The events pages' live streams, by session and host (bounded as terminals are).
    pub event_streams: Arc<crate::socket_slots::Terminals>,
    /// Every host's sampled figures (the graphs, the fleet's health).
    pub samples: Arc<crate::samples::Samples>,
    /// The multi-host jobs (`/bulk`).
    pub jobs: Arc<crate::bulk::Jobs>,
    /// The Events page's saved views, shared by every console user.
    pub event_views: Arc<crate::event_views::EventViews>,
    /// What the Updates page's actions found on each host.
    pub updates: Arc<crate::updates::UpdateStates>,
}

type Answer = Response<Full<Bytes>>;

/// Serves one request; never panics on input, always answers with the security headers.
pub async fn serve(
    state: Arc<AppState>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Answer, std::convert::Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (answer, user) = dispatch(&state, peer, request).await;
    let cacheable = (answer.status() == StatusCode::OK && target.starts_with("/assets/"))
        || (answer.status() == StatusCode::NO_CONTENT && target == "/favicon.ico");
    let answer = with_headers(answer, cacheable);
    if state.request_log {
        // Without the query: the terminal's upgrade carries its CSRF token there.
        let path: String = target
            .split('?')
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        tracing::info!(
            client = %peer.ip(),
            %method,
            path = %path,
            status = answer.status().as_u16(),
            user = user.as_deref().unwrap_or("-"),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        );
    }
    if let Some(log) = &state.request_log_dir {
        log.write(&crate::request_log::Entry {
            client: peer.ip(),
            user: user.as_deref(),
            method: method.as_str(),
            target: &target,
            status: answer.status().as_u16(),
            elapsed_ms: started.elapsed().as_millis() as u64,
            user_agent: user_agent.as_deref(),
        });
    }
    Ok(answer)
}

/// The request's route, its session and the page or change it asks for; the first refusal
/// that applies answers instead. Returns the session's user for the request log.
async fn dispatch(
    state: &AppState,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> (Answer, Option<String>) {
    let (mut parts, body) = request.into_parts();
    // Taken out before `parts` is borrowed; used only by the WebSocket upgrades.
    let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let headers = &parts.headers;
    let json_wanted = wants_json(headers);
    if headers.contains_key(header::AUTHORIZATION) {
        state.audit.record(
            peer.ip(),
            "",
            "refused",
            "an Authorization header: the console logs in by form only",
        );
        return (
            error(
                json_wanted,
                StatusCode::BAD_REQUEST,
                "HTTP authentication is not accepted here; log in with the form",
            ),
            None,
        );
    }
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let route = match route::parse(target) {
        Ok(route) => route,
        Err(refused) => {
            let answer = match refused {
                RouteError::TooLong => error(
                    json_wanted,
                    StatusCode::URI_TOO_LONG,
                    "the address is too long (over 1024 bytes); shorten the search or filter",
                ),
                RouteError::NotFound => error(json_wanted, StatusCode::NOT_FOUND, "no such page"),
            };
            // Still the logged-in header: the way back and out.
            let session = cookie(headers, SESSION_COOKIE).and_then(|id| state.sessions.touch(&id));
            return match session {
                Some(session) => {
                    let viewer = Viewer {
                        user: session.user(),
                        csrf: &session.csrf,
                    };
                    (
                        with_viewer(answer, &viewer),
                        Some(session.user().to_owned()),
                    )
                }
                None => (answer, None),
            };
        }
    };
    let method = parts.method.clone();
    // The `.json` addresses answer JSON whatever the Accept header says, refusals included.
    let json_wanted = json_wanted || matches!(route, Route::EventsTail | Route::Samples(_));
    match (&method, &route) {
        (&Method::GET, Route::Login) => {
            return (
                login_form::login_page(state, json_wanted, None, StatusCode::OK),
                None,
            )
        }
        (&Method::POST, Route::Login) => {
            let answer = login_form::login(state, peer, headers, body, json_wanted).await;
            return (answer, None);
        }
        (&Method::GET, route) => {
            if let Some(asset) = static_asset(route) {
                return (asset, None);
            }
        }
        _ => {}
    }
    let session_id = cookie(headers, SESSION_COOKIE);
    let session = session_id
        .as_deref()
        .and_then(|id| state.sessions.touch(id));
    let Some(session) = session else {
        return (
            without_session(state, peer, &method, &route, json_wanted),
            None,
        );
    };
    // The typed principal (`console:NAME@managers`, `linux:NAME`): a console account and the
    // Linux user of the same name are two users, in the request log as in the audit.
    let user = Some(session.owner.principal().to_string());
    let request = SessionRequest {
        peer,
        session: &session,
        session_id: session_id.as_deref().unwrap_or(""),
        headers,
        query: parts.uri.query().unwrap_or(""),
        json_wanted,
    };
    let answer = with_session(state, request, &method, route, body, on_upgrade).await;
    let viewer = Viewer {
        user: session.user(),
        csrf: &session.csrf,
    };
    (with_viewer(answer, &viewer), user)
}

/// The files every visitor may fetch (stylesheets, scripts, the empty favicon), if `route`
/// names one.
fn static_asset(route: &Route) -> Option<Answer> {
    const CSS: &str = "text/css; charset=utf-8";
    const SCRIPT: &str = "text/javascript; charset=utf-8";
    let file = |content_type: &'static str, body: &'static [u8]| {
        respond(StatusCode::OK, content_type, Bytes::from_static(body))
    };
    Some(match route {
        Route::Stylesheet => respond(StatusCode::OK, CSS, pages::STYLESHEET),
        Route::Favicon => respond(StatusCode::NO_CONTENT, "image/x-icon", ""),
        Route::TerminalScript => file(SCRIPT, pages::TERMINAL_SCRIPT),
        Route::EventsScript => file(SCRIPT, pages::EVENTS_SCRIPT),
        Route::TerminalStylesheet => file(CSS, pages::TERMINAL_STYLESHEET),
        Route::GraphsScript => file(SCRIPT, crate::graphs::SCRIPT),
        Route::GraphsStylesheet => file(CSS, crate::graphs::STYLESHEET),
        Route::SearchScript => file(SCRIPT, crate::event_pages::SCRIPT),
        _ => return None,
    })
}

/// A request that needs a session and has none: a page is sent to the login form, anything
/// else is refused (a socket's refusal audited).
fn without_session(
    state: &AppState,
    peer: SocketAddr,
    method: &Method,
    route: &Route,
    json_wanted: bool,
) -> Answer {
    let socket = match route {
        Route::TerminalSocket(_) => Some("terminal"),
        Route::EventsSocket(_) => Some("event stream"),
        _ => None,
    };
    if let Some(what) = socket {
        state
            .audit
            .record(peer.ip(), "", "refused", &format!("{what}: no session"));
        return error(json_wanted, StatusCode::UNAUTHORIZED, "log in first");
    }
    match (method, json_wanted) {
        (&Method::GET, false) => redirect("/login"),
        _ => error(json_wanted, StatusCode::UNAUTHORIZED, "log in first"),
    }
}

/// A request whose session is valid: who sent it, from where, and its head.
#[derive(Clone, Copy)]
struct SessionRequest<'a> {
    peer: SocketAddr,
    session: &'a Session,
    session_id: &'a str,
    headers: &'a HeaderMap,
    query: &'a str,
    json_wanted: bool,
}

impl<'a> SessionRequest<'a> {
    fn asker(&self) -> Asker<'a> {
        Asker {
            peer: self.peer,
            session: self.session,
            json_wanted: self.json_wanted,
        }
    }

    fn socket(&self, host_name: String, on: gate::OnHost) -> SocketUpgrade<'a> {
        SocketUpgrade {
            peer: self.peer,
            session: self.session,
            session_id: self.session_id,
            headers: self.headers,
            query: self.query,
            host_name,
            on,
        }
    }
}

/// The audit page: the records of the hosts the session's user may see, as a page or JSON.
fn audit_page(
    state: &AppState,
    session: &Session,
    viewer: &Viewer<'_>,
    json_wanted: bool,
) -> Answer {
    let records = visible_audit(state, session);
    if json_wanted {
        json(StatusCode::OK, &serde_json::json!({ "audit": records }))
    } else {
        html(StatusCode::OK, pages::audit(viewer, &records))
    }
}

/// The pages, sockets and changes of a logged-in session: the route's row of the access
/// table decided first (`gate`), then its handler, given only what was admitted. Each is
/// boxed: their futures are large (a host's reads, a restart's two invocations), and one of
/// them at a time is enough on a worker's stack.
async fn with_session(
    state: &AppState,
    request: SessionRequest<'_>,
    method: &Method,
    route: Route,
    body: Incoming,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Answer {
    let json_wanted = request.json_wanted;
    let session = request.session;
    let viewer = Viewer {
        user: session.user(),
        csrf: &session.csrf,
    };
    let cx = Ctx {
        state,
        viewer: &viewer,
        asker: request.asker(),
    };
    let need = crate::access::need(&route, method);
    let admitted = match gate::admit(state, request.asker(), &need) {
        Ok(admitted) => admitted,
        Err(refused) => return *refused,
    };
    match (method, route, admitted) {
        (&Method::GET, Route::Root, _) => redirect("/fleet"),
        (&Method::GET, Route::Fleet, _) => {
            host_pages::fleet_page(state, session, &viewer, json_wanted, request.query)
        }
        (&Method::GET, Route::Audit, _) => audit_page(state, session, &viewer, json_wanted),
        (
            &Method::GET,
            route @ (Route::HostOverview(_)
            | Route::Services(_)
            | Route::Processes(_)
            | Route::Events(_)),
            Admitted::Host(on),
        ) => {
            Box::pin(host_page(
                state,
                &viewer,
                route,
                (request.asker(), on.host),
                request.query,
            ))
            .await
        }
        (&Method::GET, Route::Samples(name), Admitted::Host(_)) => {
            graphs::samples(state, &name, request.query)
        }
        (&Method::GET, Route::Config(name), Admitted::Host(on)) => {
            Box::pin(config_set::page(cx, &name, request.query, on.host)).await
        }
        (&Method::GET, Route::FleetEvents, Admitted::Store(store)) => {
            Box::pin(events_search::page(cx, request.query, None, store)).await
        }
        (&Method::GET, Route::EventsTail, Admitted::Store(store)) => {
            Box::pin(events_search::tail(state, request.query, store)).await
        }
        (&Method::GET, Route::StoredEvent(id), Admitted::Store(store)) => {
            Box::pin(events_search::stored(cx, id, store)).await
        }
        (&Method::GET, Route::Bulk, _) => bulk::form_page(cx),
        (&Method::GET, Route::Updates, _) => updates::page(cx, request.query),
        (&Method::GET, Route::BulkJob(id), _) => bulk::job_page(cx, id, request.query),
        (&Method::GET, Route::Manage(page), Admitted::Manage(settings)) => {
            manage::page(cx, page, request.query, *settings)
        }
        (&Method::GET, Route::Terminal(name), Admitted::Host(on)) => {
            terminal_page(&viewer, &name, json_wanted, &on.host)
        }
        (&Method::GET, Route::TerminalSocket(name), Admitted::Host(on)) => {
            Box::pin(open_terminal(state, request.socket(name, on), on_upgrade)).await
        }
        (&Method::GET, Route::EventsSocket(name), Admitted::Host(on)) => {
            Box::pin(open_event_stream(
                state,
                request.socket(name, on),
                on_upgrade,
            ))
            .await
        }
        (
            &Method::POST,
            route @ (Route::Logout
            | Route::ServiceAction(..)
            | Route::Terminate(..)
            | Route::Config(_)
            | Route::Bulk
            | Route::Updates
            | Route::Manage(_)
            | Route::SaveEventView
            | Route::RemoveEventView),
            admitted,
        ) => Box::pin(change::change(state, request, body, route, admitted)).await,
        _ => error(
            json_wanted,
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed here",
        ),
    }
}
