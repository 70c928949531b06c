//! The changes a session posts: logout, a service action, terminating a process; each after
//! the Origin, the bounded form and the CSRF token are checked.

use hyper::body::Incoming;
use hyper::header;
use hyper::StatusCode;

use super::answer::{error, html, json, posted_form, redirect, set_cookie};
use super::host_pages::authorize;
use super::{Answer, AppState, SessionRequest, SESSION_COOKIE};
use crate::delegation::cim_class;
use crate::form::Form;
use crate::hosts::ActionResult;
use crate::pages::{self, Viewer};
use crate::route::Route;
use crate::sessions::tokens_equal;
use wsman_config::mgmt::Action;

/// A posted change: the Origin, the bounded form and the session's CSRF token (in the form or
/// an `X-CSRF-Token` header), then the change, audited with its outcome.
pub(super) async fn change(
    state: &AppState,
    request: SessionRequest<'_>,
    body: Incoming,
    route: Route,
) -> Answer {
    let SessionRequest {
        peer,
        session,
        headers,
        json_wanted,
        ..
    } = request;
    let refused = || {
        let why = "change: cross-origin request";
        state
            .audit
            .record_by(peer.ip(), &session.owner, "refused", why);
    };
    let form = match posted_form(headers, body, json_wanted, refused).await {
        Ok(form) => form,
        Err(answer) => return answer,
    };
    if let Err(answer) = check_csrf(state, request, &form) {
        return *answer;
    }
    let viewer = Viewer {
        user: session.user(),
        csrf: &session.csrf,
    };
    let done = match route {
        Route::Logout => return logout(state, request),
        Route::Config(name) => {
            return Box::pin(super::config_set::set(
                state,
                &viewer,
                request.asker(),
                &form,
                &name,
            ))
            .await
        }
        Route::Bulk => return super::bulk::start(state, &viewer, request.asker(), &form),
        Route::SaveEventView => {
            return Box::pin(super::events_search::save(
                state,
                &viewer,
                request.asker(),
                &form,
            ))
            .await
        }
        Route::RemoveEventView => {
            return Box::pin(super::events_search::remove(
                state,
                &viewer,
                request.asker(),
                &form,
            ))
            .await
        }
        Route::Manage(page) => {
            return Box::pin(super::manage::post(
                state,
                &viewer,
                request.asker(),
                &form,
                page,
            ))
            .await
        }
        Route::ServiceAction(name, service, action) => {
            let asker = request.asker();
            let resource = cim_class("Win32_Service");
            let host = match authorize(state, asker, &name, &resource, Action::Change) {
                Ok(host) => host,
                Err(answer) => return *answer,
            };
            let result = host.service_action(&service, action).await;
            HostAction {
                what: format!("{} {service}", action.name()),
                // Back to the list, showing this service's row.
                back: format!(
                    "/hosts/{name}/services{}",
                    crate::table::TableQuery {
                        search: service.clone(),
                        ..Default::default()
                    }
                    .link(|_| {})
                ),
                host_name: name,
                result,
            }
        }
        Route::Terminate(name, pid) => {
            let asker = request.asker();
            let resource = cim_class("Win32_Process");
            let host = match authorize(state, asker, &name, &resource, Action::Change) {
                Ok(host) => host,
                Err(answer) => return *answer,
            };
            let result = host.terminate(pid).await;
            HostAction {
                what: format!("Terminate {pid}"),
                back: format!("/hosts/{name}/processes"),
                host_name: name,
                result,
            }
        }
        _ => {
            return error(
                json_wanted,
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed here",
            )
        }
    };
    answer_action(state, request, &viewer, done)
}

/// The session's CSRF token, sent in the form or an `X-CSRF-Token` header: a change without
/// it, or with another, is refused (403) and audited.
fn check_csrf(
    state: &AppState,
    request: SessionRequest<'_>,
    form: &Form,
) -> Result<(), Box<Answer>> {
    let SessionRequest {
        peer,
        session,
        headers,
        json_wanted,
        ..
    } = request;
    let sent = form.get("csrf").map(str::to_owned).or_else(|| {
        headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    if sent.is_some_and(|token| tokens_equal(&token, &session.csrf)) {
        return Ok(());
    }
    state.audit.record_by(
        peer.ip(),
        &session.owner,
        "refused",
        "change: missing or wrong CSRF token",
    );
    Err(Box::new(error(
        json_wanted,
        StatusCode::FORBIDDEN,
        "missing or wrong CSRF token",
    )))
}

/// What an action did on a host: its host, what it was, the page to go back to, its result.
struct HostAction {
    host_name: String,
    what: String,
    back: String,
    result: ActionResult,
}

/// An action done: audited with its outcome, answered 200, or 502 when the host failed it.
fn answer_action(
    state: &AppState,
    request: SessionRequest<'_>,
    viewer: &Viewer<'_>,
    done: HostAction,
) -> Answer {
    let HostAction {
        host_name,
        what,
        back,
        result,
    } = done;
    let outcome = match (&result.error, result.return_value) {
        (Some(error), _) => format!("error: {error}"),
        (None, Some(code)) => format!("ReturnValue {code}"),
        (None, None) => "no ReturnValue".to_owned(),
    };
    state.audit.record_on(
        request.peer.ip(),
        &request.session.owner,
        "action",
        &host_name,
        &format!("{host_name}: {what}: {outcome}"),
    );
    let status = if result.error.is_some() {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    if request.json_wanted {
        json(status, &result)
    } else {
        html(
            status,
            pages::action(viewer, &host_name, &what, &back, &result),
        )
    }
}

/// Ends the session, its terminals and its event streams, and clears its cookie.
fn logout(state: &AppState, request: SessionRequest<'_>) -> Answer {
    let SessionRequest {
        peer,
        session,
        session_id,
        json_wanted,
        ..
    } = request;
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
        .record_by(peer.ip(), &session.owner, "logout", &detail);
    let mut answer = if json_wanted {
        json(StatusCode::OK, &serde_json::json!({ "logged_out": true }))
    } else {
        redirect("/login")
    };
    answer
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0)));
    answer
}
