//! One request, from its head to its answer: the route, the session, the CSRF token and the
//! Origin on every change, the login with its backoff, the page or its JSON, and the security
//! headers every answer carries; the WebSocket upgrades of the terminal and of the events
//! page's live stream (session, Origin, CSRF token, then the relay in `terminal` or
//! `event_stream`). Connections reach this only after the address rules and TLS
//! (`server`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use crate::delegation::{cim_class, Decision, Subject};
use crate::form::{Form, MAX_FORM_BYTES};
use crate::hosts::{ActionResult, Host, HostSummary};
use crate::login::{Login, LoginOutcome};
use crate::pages::{self, Viewer};
use crate::route::{self, Route, RouteError};
use crate::sessions::{tokens_equal, Session, Sessions};
use wsman_config::mgmt::Action;

/// The session cookie. `__Host-`: the browser keeps it only if Secure, host-only, Path=/.
pub const SESSION_COOKIE: &str = "__Host-wsmand-session";
/// The pre-login cookie holding the login form's CSRF token.
pub const LOGIN_COOKIE: &str = "__Host-wsmand-login";
/// How long a request body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest Cookie header looked at.
const MAX_COOKIE_BYTES: usize = 4096;
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The events page's policy: [`CSP`] with its one script file and its socket.
const EVENTS_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every request handler shares.
pub struct AppState {
    /// Console sessions (shared with the terminals, which end with their session).
    pub sessions: Arc<Sessions>,
    /// Login checks and their backoff.
    pub login: Login,
    /// The configured hosts.
    pub fleet: crate::hosts::Fleet,
    /// Who may do what on which host (the roles of `mgmt.toml`).
    pub policy: crate::delegation::Policy,
    /// Log every request (`RequestLog = journal`).
    pub request_log: bool,
    /// And to files in this directory (`RequestLogDirectory`).
    pub request_log_dir: Option<crate::request_log::RequestLogDir>,
    /// Logins, refusals and actions (also logged).
    pub audit: Arc<crate::audit::AuditTrail>,
    /// The open terminals, by session and host.
    pub terminals: Arc<crate::terminal::Terminals>,
    /// The events pages' live streams, by session and host (bounded as terminals are).
    pub event_streams: Arc<crate::terminal::Terminals>,
}

type Answer = Response<Full<Bytes>>;

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.len() <= MAX_COOKIE_BYTES)
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let age = max_age.map_or(String::new(), |a| format!("; Max-Age={a}"));
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

fn with_headers(mut response: Answer, cacheable: bool) -> Answer {
    let h = response.headers_mut();
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    // A page with its own policy (the terminal's) keeps it.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if cacheable {
            "public, max-age=3600"
        } else {
            "no-store"
        }),
    );
    response
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn html(status: StatusCode, markup: maud::Markup) -> Answer {
    respond(status, "text/html; charset=utf-8", markup.into_string())
}

fn json(status: StatusCode, value: &impl Serialize) -> Answer {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    respond(status, "application/json", body)
}

fn redirect(to: &'static str) -> Answer {
    let mut response = respond(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", "");
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    response
}

/// An error answer in the form the client asked for.
fn error(json_wanted: bool, status: StatusCode, message: &str) -> Answer {
    if json_wanted {
        json(status, &serde_json::json!({ "error": message }))
    } else {
        html(
            status,
            pages::message(status.canonical_reason().unwrap_or("Error"), message),
        )
    }
}

/// True when the request's Origin, if any, is this service (`https://` + its Host header).
fn origin_matches(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Browsers send Origin on every POST; a client without one (a script) still needs
        // the session's CSRF token.
        return true;
    };
    if origin.as_bytes() == b"null" {
        // `Referrer-Policy: no-referrer` makes browsers send `Origin: null` on this service's
        // own form posts. `Sec-Fetch-Site`, which only the browser sets, then says whether the
        // post came from this origin (a sandboxed or foreign page sends `null` too).
        return headers
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes() == b"same-origin");
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(origin), Some(host)) => origin == format!("https://{host}"),
        _ => false,
    }
}

async fn read_form(
    body: Incoming,
    headers: &HeaderMap,
) -> Result<Form, (StatusCode, &'static str)> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BYTES as u64) {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"));
    }
    let collected =
        tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_FORM_BYTES).collect())
            .await
            .map_err(|_| {
                (
                    StatusCode::REQUEST_TIMEOUT,
                    "the body did not arrive in time",
                )
            })?
            .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"))?;
    Form::parse(&collected.to_bytes())
        .map_err(|_| (StatusCode::BAD_REQUEST, "the form is malformed"))
}

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

async fn dispatch(
    state: &AppState,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> (Answer, Option<String>) {
    let (mut parts, body) = request.into_parts();
    // Taken out before `parts` is borrowed; used only by the terminal's WebSocket.
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
        Err(RouteError::TooLong) => {
            return (
                error(
                    json_wanted,
                    StatusCode::URI_TOO_LONG,
                    "the path is too long",
                ),
                None,
            )
        }
        Err(RouteError::NotFound) => {
            return (
                error(json_wanted, StatusCode::NOT_FOUND, "no such page"),
                None,
            )
        }
    };
    let method = parts.method.clone();
    match (&method, &route) {
        (&Method::GET, Route::Stylesheet) => {
            return (
                respond(StatusCode::OK, "text/css; charset=utf-8", pages::STYLESHEET),
                None,
            )
        }
        (&Method::GET, Route::Favicon) => {
            return (respond(StatusCode::NO_CONTENT, "image/x-icon", ""), None)
        }
        (&Method::GET, Route::TerminalScript) => {
            return (
                respond(
                    StatusCode::OK,
                    "text/javascript; charset=utf-8",
                    Bytes::from_static(pages::TERMINAL_SCRIPT),
                ),
                None,
            )
        }
        (&Method::GET, Route::EventsScript) => {
            return (
                respond(
                    StatusCode::OK,
                    "text/javascript; charset=utf-8",
                    Bytes::from_static(pages::EVENTS_SCRIPT),
                ),
                None,
            )
        }
        (&Method::GET, Route::TerminalStylesheet) => {
            return (
                respond(
                    StatusCode::OK,
                    "text/css; charset=utf-8",
                    Bytes::from_static(pages::TERMINAL_STYLESHEET),
                ),
                None,
            )
        }
        (&Method::GET, Route::Login) => {
            return (login_page(json_wanted, None, StatusCode::OK), None)
        }
        (&Method::POST, Route::Login) => {
            return (
                login(state, peer, &parts.headers, body, json_wanted).await,
                None,
            )
        }
        _ => {}
    }
    let session_id = cookie(headers, SESSION_COOKIE);
    let session = session_id
        .as_deref()
        .and_then(|id| state.sessions.touch(id));
    let Some(session) = session else {
        if let Route::TerminalSocket(_) | Route::EventsSocket(_) = route {
            let what = if matches!(route, Route::TerminalSocket(_)) {
                "terminal"
            } else {
                "event stream"
            };
            state
                .audit
                .record(peer.ip(), "", "refused", &format!("{what}: no session"));
            return (
                error(json_wanted, StatusCode::UNAUTHORIZED, "log in first"),
                None,
            );
        }
        return match (&method, json_wanted) {
            (&Method::GET, false) => (redirect("/login"), None),
            _ => (
                error(json_wanted, StatusCode::UNAUTHORIZED, "log in first"),
                None,
            ),
        };
    };
    let user = Some(session.user.clone());
    let viewer = Viewer {
        user: &session.user,
        csrf: &session.csrf,
    };
    let answer = match (&method, route) {
        (&Method::GET, Route::Root) => redirect("/fleet"),
        (&Method::GET, Route::Fleet) => {
            let summaries = fleet(state, &session).await;
            if json_wanted {
                json(StatusCode::OK, &serde_json::json!({ "hosts": summaries }))
            } else {
                html(StatusCode::OK, pages::fleet(&viewer, &summaries))
            }
        }
        (&Method::GET, Route::Audit) => {
            let records = visible_audit(state, &session);
            if json_wanted {
                json(StatusCode::OK, &serde_json::json!({ "audit": records }))
            } else {
                html(StatusCode::OK, pages::audit(&viewer, &records))
            }
        }
        (
            &Method::GET,
            route @ (Route::HostOverview(_)
            | Route::Services(_)
            | Route::Processes(_)
            | Route::Config(_)
            | Route::Events(_)),
        ) => {
            let asker = Asker {
                peer,
                session: &session,
                json_wanted,
            };
            host_page(state, &viewer, route, asker).await
        }
        (&Method::GET, Route::Terminal(name)) => {
            let asker = Asker {
                peer,
                session: &session,
                json_wanted,
            };
            terminal_page(state, &viewer, &name, asker)
        }
        (&Method::GET, Route::TerminalSocket(name)) => {
            let socket = SocketUpgrade {
                peer,
                session: &session,
                session_id: session_id.as_deref().unwrap_or(""),
                headers: &parts.headers,
                query: parts.uri.query().unwrap_or(""),
                host_name: name,
            };
            open_terminal(state, socket, on_upgrade).await
        }
        (&Method::GET, Route::EventsSocket(name)) => {
            let socket = SocketUpgrade {
                peer,
                session: &session,
                session_id: session_id.as_deref().unwrap_or(""),
                headers: &parts.headers,
                query: parts.uri.query().unwrap_or(""),
                host_name: name,
            };
            open_event_stream(state, socket, on_upgrade).await
        }
        (
            &Method::POST,
            route @ (Route::Logout | Route::ServiceAction(..) | Route::Terminate(..)),
        ) => {
            change(
                state,
                peer,
                &session,
                session_id.as_deref().unwrap_or(""),
                &parts.headers,
                body,
                route,
                json_wanted,
            )
            .await
        }
        _ => error(
            json_wanted,
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed here",
        ),
    };
    (answer, user)
}

/// A page about one configured host: the host looked up once (a name not in the
/// configuration is never contacted), its data read, then answered as JSON or HTML.
async fn host_page(
    state: &AppState,
    viewer: &Viewer<'_>,
    route: Route,
    asker: Asker<'_>,
) -> Answer {
    let json_wanted = asker.json_wanted;
    let (name, resource) = match &route {
        Route::HostOverview(name) => (name.clone(), cim_class("Win32_OperatingSystem")),
        Route::Services(name) => (name.clone(), cim_class("Win32_Service")),
        Route::Processes(name) => (name.clone(), cim_class("Win32_Process")),
        Route::Config(name) => (name.clone(), crate::delegation::CONFIG_URI.to_owned()),
        Route::Events(name) => (name.clone(), cim_class("Win32_NTLogEvent")),
        _ => return error(json_wanted, StatusCode::NOT_FOUND, "no such page"),
    };
    let host = match authorize(state, asker, &name, &resource, Action::Read) {
        Ok(host) => host,
        Err(answer) => return *answer,
    };
    let switches = host.switches();
    /// JSON `{key: rows}` (502 with the error when the host failed), or the page.
    fn list<T: Serialize>(
        json_wanted: bool,
        key: &str,
        rows: &Result<Vec<T>, String>,
        page: impl FnOnce() -> maud::Markup,
    ) -> Answer {
        match (json_wanted, rows) {
            (true, Ok(rows)) => json(StatusCode::OK, &serde_json::json!({ key: rows })),
            (true, Err(message)) => json(
                StatusCode::BAD_GATEWAY,
                &serde_json::json!({ "error": message }),
            ),
            (false, _) => html(StatusCode::OK, page()),
        }
    }
    match route {
        Route::Services(_) => {
            let rows = host.services().await;
            list(json_wanted, "services", &rows, || {
                pages::services(viewer, &name, &switches, &rows)
            })
        }
        Route::Processes(_) => {
            let rows = host.processes().await;
            list(json_wanted, "processes", &rows, || {
                pages::processes(viewer, &name, &switches, &rows)
            })
        }
        Route::Config(_) => {
            let rows = host.config().await;
            list(json_wanted, "config", &rows, || {
                pages::config(viewer, &name, &switches, &rows)
            })
        }
        Route::Events(_) => {
            let rows = host.events().await;
            let stream = format!("/hosts/{name}/events/ws");
            if json_wanted {
                return match rows {
                    Ok(rows) => json(
                        StatusCode::OK,
                        &serde_json::json!({ "events": rows, "stream": stream }),
                    ),
                    Err(message) => json(
                        StatusCode::BAD_GATEWAY,
                        &serde_json::json!({ "error": message }),
                    ),
                };
            }
            let mut answer = html(
                StatusCode::OK,
                pages::events(viewer, &name, &switches, &rows, &stream),
            );
            // The page's script (`/assets/events.js`) and its socket; still no inline script.
            answer.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(EVENTS_CSP),
            );
            answer
        }
        _ => {
            let summary = host.summary().await;
            if json_wanted {
                json(StatusCode::OK, &summary)
            } else {
                html(StatusCode::OK, pages::overview(viewer, &summary, &switches))
            }
        }
    }
}

/// Who asks, from where, and in which form the answer goes.
#[derive(Clone, Copy)]
struct Asker<'a> {
    peer: SocketAddr,
    session: &'a Session,
    json_wanted: bool,
}

/// The configured host `name` as the delegation rules let the asker use it for `action` on
/// `resource` (through the allowing role's run-as account), or the answer: 404 for a host
/// not in the configuration, 403 for a refusal, audited with the rule that decided.
fn authorize<'a>(
    state: &'a AppState,
    asker: Asker<'_>,
    name: &str,
    resource: &str,
    action: Action,
) -> Result<&'a Host, Box<Answer>> {
    let json_wanted = asker.json_wanted;
    if state.fleet.get(name).is_none() {
        return Err(Box::new(error(
            json_wanted,
            StatusCode::NOT_FOUND,
            "no such host in the configuration",
        )));
    }
    let subject = Subject {
        user: &asker.session.user,
        kind: asker.session.kind,
        groups: &asker.session.groups,
    };
    let refuse = |rule: &str| {
        state.audit.record_on(
            asker.peer.ip(),
            &asker.session.user,
            "denied",
            name,
            &format!("{name}: {} {resource}: by {rule}", action.name()),
        );
        error(
            json_wanted,
            StatusCode::FORBIDDEN,
            &format!("not allowed: {} on {name} ({rule})", action.name()),
        )
    };
    match state.policy.decide(subject, name, resource, action) {
        Decision::Denied { rule } => Err(Box::new(refuse(&rule))),
        Decision::Allowed { rule, run_as } => match state.fleet.get_as(name, run_as.as_deref()) {
            Some(host) => Ok(host),
            None => Err(Box::new(refuse(&format!(
                "{rule}: this host has no RunAs account {}",
                run_as.unwrap_or_default()
            )))),
        },
    }
}

/// The audit records the session's user may see, newest first: a record about a host only to
/// whoever may read that host (as the fleet shows it); a record of the console itself (logins,
/// refusals before a host is known) to the user it names, and to whoever may read every
/// configured host.
fn visible_audit(state: &AppState, session: &Session) -> Vec<crate::audit::AuditRecord> {
    let subject = Subject {
        user: &session.user,
        kind: session.kind,
        groups: &session.groups,
    };
    let reads = |host: &str| {
        matches!(
            state.policy.sees_host(subject, host),
            Decision::Allowed { .. }
        )
    };
    let whole_fleet = state.fleet.hosts().all(|host| reads(&host.config.name));
    state
        .audit
        .newest(crate::audit::MAX_RECORDS)
        .into_iter()
        .filter(|record| match &record.host {
            Some(host) => state.fleet.get(host).is_some() && reads(host),
            None => whole_fleet || record.user == session.user,
        })
        .collect()
}

/// The summary of every host the session's user may see, fetched concurrently (each bounded
/// by the per-host deadline), each through the account the allowing role runs as.
async fn fleet(state: &AppState, session: &Session) -> Vec<HostSummary> {
    let subject = Subject {
        user: &session.user,
        kind: session.kind,
        groups: &session.groups,
    };
    let visible: Vec<&Host> = state
        .fleet
        .hosts()
        .filter_map(
            |host| match state.policy.sees_host(subject, &host.config.name) {
                Decision::Allowed { run_as, .. } => {
                    state.fleet.get_as(&host.config.name, run_as.as_deref())
                }
                Decision::Denied { .. } => None,
            },
        )
        .collect();
    join_all(visible.into_iter().map(|host| host.summary()).collect()).await
}

/// Polls every future together on this task and returns their outputs in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

fn login_page(json_wanted: bool, failure: Option<&str>, status: StatusCode) -> Answer {
    let token = crate::sessions::random_token();
    let mut answer = if json_wanted {
        json(
            status,
            &serde_json::json!({ "login_token": token, "error": failure }),
        )
    } else {
        html(status, pages::login(failure, &token))
    };
    answer.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, Some(600)),
    );
    answer
}

async fn login(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Incoming,
    json_wanted: bool,
) -> Answer {
    if !origin_matches(headers) {
        state
            .audit
            .record(peer.ip(), "", "refused", "login: cross-origin request");
        return error(
            json_wanted,
            StatusCode::FORBIDDEN,
            "cross-origin request refused",
        );
    }
    let form = match read_form(body, headers).await {
        Ok(form) => form,
        Err((status, message)) => return error(json_wanted, status, message),
    };
    let expected = cookie(headers, LOGIN_COOKIE);
    let sent = form.get("csrf");
    if !matches!((expected.as_deref(), sent), (Some(a), Some(b)) if tokens_equal(a, b)) {
        state.audit.record(
            peer.ip(),
            "",
            "refused",
            "login: missing or wrong login token",
        );
        return error(
            json_wanted,
            StatusCode::FORBIDDEN,
            "the login form expired; load it again",
        );
    }
    let (Some(user), Some(password)) = (form.get("user"), form.get("password")) else {
        return error(
            json_wanted,
            StatusCode::BAD_REQUEST,
            "user and password are required",
        );
    };
    match state.login.check(peer.ip(), user, password).await {
        LoginOutcome::Wait(wait) => {
            state.audit.record(
                peer.ip(),
                user,
                "login backoff",
                &format!(
                    "refused unchecked: wait {} s after failed logins",
                    wait.as_secs()
                ),
            );
            let mut answer = error(
                json_wanted,
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins; wait and try again",
            );
            answer.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            answer
        }
        LoginOutcome::Refused => {
            state
                .audit
                .record(peer.ip(), user, "login failed", "wrong name or password");
            login_page(
                json_wanted,
                Some("The user name or password is incorrect."),
                StatusCode::UNAUTHORIZED,
            )
        }
        LoginOutcome::Accepted(kind, groups) => {
            let previous = cookie(headers, SESSION_COOKIE);
            let id = state
                .sessions
                .create(user, kind, groups, previous.as_deref());
            state
                .audit
                .record(peer.ip(), user, "login", &format!("{kind} user"));
            let mut answer = if json_wanted {
                let csrf = state
                    .sessions
                    .touch(&id)
                    .map(|s| s.csrf)
                    .unwrap_or_default();
                json(
                    StatusCode::OK,
                    &serde_json::json!({ "user": user, "csrf": csrf }),
                )
            } else {
                redirect("/fleet")
            };
            let h = answer.headers_mut();
            h.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &id, None));
            h.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", Some(0)));
            answer
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn change(
    state: &AppState,
    peer: SocketAddr,
    session: &Session,
    session_id: &str,
    headers: &HeaderMap,
    body: Incoming,
    route: Route,
    json_wanted: bool,
) -> Answer {
    if !origin_matches(headers) {
        state.audit.record(
            peer.ip(),
            &session.user,
            "refused",
            "change: cross-origin request",
        );
        return error(
            json_wanted,
            StatusCode::FORBIDDEN,
            "cross-origin request refused",
        );
    }
    let form = match read_form(body, headers).await {
        Ok(form) => form,
        Err((status, message)) => return error(json_wanted, status, message),
    };
    let sent = form.get("csrf").map(str::to_owned).or_else(|| {
        headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    if !sent.is_some_and(|token| tokens_equal(&token, &session.csrf)) {
        state.audit.record(
            peer.ip(),
            &session.user,
            "refused",
            "change: missing or wrong CSRF token",
        );
        return error(
            json_wanted,
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token",
        );
    }
    let viewer = Viewer {
        user: &session.user,
        csrf: &session.csrf,
    };
    let (host_name, what, back, result): (String, String, String, ActionResult) = match route {
        Route::Logout => {
            let terminals = state.terminals.end_session(session_id);
            let streams = state.event_streams.end_session(session_id);
            state.sessions.remove(session_id);
            let mut ended = Vec::new();
            if terminals > 0 {
                ended.push(format!("{terminals} terminal(s) ended"));
            }
            if streams > 0 {
                ended.push(format!("{streams} event stream(s) ended"));
            }
            let detail = ended.join(", ");
            state
                .audit
                .record(peer.ip(), &session.user, "logout", &detail);
            let mut answer = if json_wanted {
                json(StatusCode::OK, &serde_json::json!({ "logged_out": true }))
            } else {
                redirect("/login")
            };
            answer
                .headers_mut()
                .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0)));
            return answer;
        }
        Route::ServiceAction(name, service, action) => {
            let asker = Asker {
                peer,
                session,
                json_wanted,
            };
            let resource = cim_class("Win32_Service");
            let host = match authorize(state, asker, &name, &resource, Action::Change) {
                Ok(host) => host,
                Err(answer) => return *answer,
            };
            let result = host.service_action(&service, action).await;
            (
                name.clone(),
                format!("{} {service}", action.name()),
                format!("/hosts/{name}/services"),
                result,
            )
        }
        Route::Terminate(name, pid) => {
            let asker = Asker {
                peer,
                session,
                json_wanted,
            };
            let resource = cim_class("Win32_Process");
            let host = match authorize(state, asker, &name, &resource, Action::Change) {
                Ok(host) => host,
                Err(answer) => return *answer,
            };
            let result = host.terminate(pid).await;
            (
                name.clone(),
                format!("Terminate {pid}"),
                format!("/hosts/{name}/processes"),
                result,
            )
        }
        _ => {
            return error(
                json_wanted,
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed here",
            )
        }
    };
    let outcome = match (&result.error, result.return_value) {
        (Some(error), _) => format!("error: {error}"),
        (None, Some(code)) => format!("ReturnValue {code}"),
        (None, None) => "no ReturnValue".to_owned(),
    };
    state.audit.record_on(
        peer.ip(),
        &session.user,
        "action",
        &host_name,
        &format!("{host_name}: {what}: {outcome}"),
    );
    let status = if result.error.is_some() {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    if json_wanted {
        json(status, &result)
    } else {
        html(
            status,
            pages::action(&viewer, &host_name, &what, &back, &result),
        )
    }
}

/// The terminal page: xterm.js (from `/assets/terminal.js`) connected to the host's socket.
/// Its Content-Security-Policy adds what xterm.js needs and nothing inline for scripts:
/// `connect-src 'self'` for the socket, its `<style>` elements by this answer's nonce (set by
/// terminal.js), and style attributes.
fn terminal_page(state: &AppState, viewer: &Viewer<'_>, name: &str, asker: Asker<'_>) -> Answer {
    let json_wanted = asker.json_wanted;
    let host = match authorize(
        state,
        asker,
        name,
        wsman_client::shell::CMD_SHELL_URI,
        Action::Shell,
    ) {
        Ok(host) => host,
        Err(answer) => return *answer,
    };
    let socket = format!("/hosts/{name}/terminal/ws");
    if json_wanted {
        return json(
            StatusCode::OK,
            &serde_json::json!({ "host": name, "socket": socket }),
        );
    }
    let nonce = crate::sessions::random_token();
    let mut answer = html(
        StatusCode::OK,
        pages::terminal(viewer, name, &socket, &nonce, &host.switches()),
    );
    let policy = format!(
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
         style-src-elem 'self' 'nonce-{nonce}'; style-src-attr 'unsafe-inline'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        answer
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    answer
}

/// One WebSocket upgrade request to a host's terminal or to its events page's live stream.
struct SocketUpgrade<'a> {
    peer: SocketAddr,
    session: &'a Session,
    session_id: &'a str,
    headers: &'a HeaderMap,
    query: &'a str,
    host_name: String,
}

/// What one kind of console WebSocket is checked against and reserved in, beyond the checks
/// every upgrade passes.
struct SocketKind<'a> {
    /// How its refusals and audit records name it.
    name: &'static str,
    /// The resource and action the delegation rules must allow on the host.
    resource: &'static str,
    action: Action,
    /// Its slots: one per session and host, bounded per session and in the service.
    slots: &'a Arc<crate::terminal::Terminals>,
    /// Why a second one for the same session and host is refused (409).
    already_open: &'static str,
    /// Why one over the bounds is refused (429).
    too_many: &'static str,
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
    host: &'a Host,
    slot: crate::terminal::Slot,
    /// The `Sec-WebSocket-Accept` value of the 101 answer.
    accept: String,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

impl<Q> CheckedUpgrade<'_, Q> {
    /// Audits `event` on the host as this upgrade's user and client.
    fn audit(&self, state: &AppState, event: &str, detail: &str) {
        state.audit.record_on(
            self.peer.ip(),
            &self.session.user,
            event,
            &self.host_name,
            &format!("{}: {detail}", self.host_name),
        );
    }
}

/// The checks of every console WebSocket upgrade, in this order: the session (checked by the
/// caller), the Origin (required, as browsers always send it, and equal to this service's),
/// the query, the CSRF token in it, a well-formed handshake, the delegation rules (404 for a
/// host not configured) and a free slot. One function for every kind, so a check cannot be
/// missed by one of them. Each refusal is audited (`refused`, or `denied` with the rule).
fn check_upgrade<'a, Q: UpgradeQuery, E: std::fmt::Display>(
    state: &'a AppState,
    socket: SocketUpgrade<'a>,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    kind: &SocketKind<'_>,
    parse_query: impl FnOnce(&str) -> Result<Q, E>,
) -> Result<CheckedUpgrade<'a, Q>, Box<Answer>> {
    let SocketUpgrade {
        peer,
        session,
        session_id,
        headers,
        query,
        host_name,
    } = socket;
    let refuse = |status: StatusCode, why: &str| {
        state.audit.record_on(
            peer.ip(),
            &session.user,
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
    let query = match parse_query(query) {
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
    let asker = Asker {
        peer,
        session,
        json_wanted: false,
    };
    let host = authorize(state, asker, &host_name, kind.resource, kind.action)?;
    let slot = match kind.slots.reserve(session_id, &host_name) {
        Ok(slot) => slot,
        Err(crate::terminal::Refusal::AlreadyOpen) => {
            return Err(refuse(StatusCode::CONFLICT, kind.already_open))
        }
        Err(crate::terminal::Refusal::TooMany) => {
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
async fn open_terminal(
    state: &AppState,
    socket: SocketUpgrade<'_>,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Answer {
    let kind = SocketKind {
        name: "terminal",
        resource: wsman_client::shell::CMD_SHELL_URI,
        action: Action::Shell,
        slots: &state.terminals,
        already_open: "this session already has a terminal on this host",
        too_many: "too many terminals open",
    };
    let upgrade = match check_upgrade(
        state,
        socket,
        on_upgrade,
        &kind,
        crate::terminal_proto::parse_query,
    ) {
        Ok(upgrade) => upgrade,
        Err(answer) => return *answer,
    };
    let opened = match upgrade.host.open_terminal(upgrade.query.size).await {
        Ok(opened) => opened,
        Err(error) => {
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
    let context = crate::terminal::TerminalContext {
        host: upgrade.host_name,
        user: upgrade.session.user.clone(),
        client: upgrade.peer.ip(),
        session_id: upgrade.session_id.to_owned(),
    };
    let (sessions, audit) = (Arc::clone(&state.sessions), Arc::clone(&state.audit));
    let (slot, on_upgrade) = (upgrade.slot, upgrade.on_upgrade);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                crate::terminal::run(
                    upgraded,
                    slot,
                    opened.shell,
                    opened.command,
                    context,
                    sessions,
                    audit,
                )
                .await;
            }
            Err(error) => {
                let _ =
                    tokio::time::timeout(crate::hosts::HOST_DEADLINE, opened.shell.close()).await;
                drop(slot);
                audit.record_on(
                    context.client,
                    &context.user,
                    "terminal closed",
                    &context.host,
                    &format!("{}: 0 s: the upgrade failed: {error}", context.host),
                );
            }
        }
    });
    switching_protocols(&upgrade.accept)
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
async fn open_event_stream(
    state: &AppState,
    socket: SocketUpgrade<'_>,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Answer {
    let kind = SocketKind {
        name: "event stream",
        resource: crate::event_stream::EVENT_LOG_URI,
        action: Action::Read,
        slots: &state.event_streams,
        already_open: "this session already has an event stream on this host",
        too_many: "too many event streams open",
    };
    let upgrade = match check_upgrade(
        state,
        socket,
        on_upgrade,
        &kind,
        crate::event_stream::parse_query,
    ) {
        Ok(upgrade) => upgrade,
        Err(answer) => return *answer,
    };
    let logs: Vec<&str> = upgrade.query.logs.iter().map(|log| log.name()).collect();
    let subscribed = match upgrade.host.subscribe_events(&upgrade.query.logs).await {
        Ok(subscribed) => subscribed,
        Err(error) => {
            let detail = format!("{}: {error}", logs.join(","));
            upgrade.audit(state, "event stream failed", &detail);
            return error_answer_bad_gateway(&error);
        }
    };
    upgrade.audit(state, "event stream opened", &logs.join(","));
    let context = crate::event_stream::StreamContext {
        host: upgrade.host_name,
        user: upgrade.session.user.clone(),
        client: upgrade.peer.ip(),
        session_id: upgrade.session_id.to_owned(),
    };
    let (sessions, audit) = (Arc::clone(&state.sessions), Arc::clone(&state.audit));
    let (slot, on_upgrade) = (upgrade.slot, upgrade.on_upgrade);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                crate::event_stream::run(upgraded, slot, subscribed, context, sessions, audit)
                    .await;
            }
            Err(error) => {
                let _ = tokio::time::timeout(
                    crate::hosts::HOST_DEADLINE,
                    subscribed.client.unsubscribe(&subscribed.subscription),
                )
                .await;
                drop(slot);
                audit.record_on(
                    context.client,
                    &context.user,
                    "event stream closed",
                    &context.host,
                    &format!("{}: 0 s: the upgrade failed: {error}", context.host),
                );
            }
        }
    });
    switching_protocols(&upgrade.accept)
}

fn error_answer_bad_gateway(message: &str) -> Answer {
    error(false, StatusCode::BAD_GATEWAY, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn origin_is_this_service_or_a_same_origin_null() {
        let host = ("host", "127.0.0.1:8172");
        assert!(origin_matches(&headers(&[host])));
        assert!(origin_matches(&headers(&[
            host,
            ("origin", "https://127.0.0.1:8172")
        ])));
        assert!(!origin_matches(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(!origin_matches(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8172")
        ])));
        // `null`: only with the browser's own word that the post is same-origin.
        assert!(origin_matches(&headers(&[
            host,
            ("origin", "null"),
            ("sec-fetch-site", "same-origin")
        ])));
        for site in ["cross-site", "same-site", "none"] {
            assert!(!origin_matches(&headers(&[
                host,
                ("origin", "null"),
                ("sec-fetch-site", site)
            ])));
        }
        assert!(!origin_matches(&headers(&[host, ("origin", "null")])));
    }
}
