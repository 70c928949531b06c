//! The changes a session posts: logout, a service action, terminating a process; each after
//! the Origin, the bounded form and the CSRF token are checked.

use hyper::body::Incoming;
use hyper::header;
use hyper::StatusCode;

use super::answer::{error, html, json, posted_form, redirect, set_cookie};
use super::gate::Admitted;
use super::host_pages::{Asker, Ctx};
use super::{Answer, AppState, SessionRequest, SESSION_COOKIE};
use crate::form::Form;
use crate::hosts::{ActionResult, Host};
use crate::pages::{self, Viewer};
use crate::route::Route;
use crate::sessions::tokens_equal;

/// A posted change: the Origin, the bounded form and the session's CSRF token
/// ([`checked_form`]), then the change on what the access table's decision admitted, audited
/// with its outcome.
pub(super) async fn change(
    state: &AppState,
    request: SessionRequest<'_>,
    body: Incoming,
    route: Route,
    admitted: Admitted,
) -> Answer {
    let form = match checked_form(state, request, body).await {
        Ok(form) => form,
        Err(answer) => return answer,
    };
    let viewer = Viewer {
        user: request.session.user(),
        csrf: &request.session.csrf,
    };
    let asker = request.asker();
    let cx = Ctx {
        state,
        viewer: &viewer,
        asker,
    };
    let done = match (route, admitted) {
        (Route::Logout, _) => return logout(state, request),
        (Route::Config(name), Admitted::Host(on)) => {
            return Box::pin(super::config_set::set(cx, &form, &name, on.host)).await
        }
        (Route::Bulk, _) => return super::bulk::start(cx, &form),
        (Route::Updates, _) => return super::updates::start(cx, &form),
        (Route::SaveEventView, Admitted::Store(store)) => {
            return Box::pin(super::events_search::save(cx, &form, store)).await
        }
        (Route::RemoveEventView, Admitted::Store(store)) => {
            return Box::pin(super::events_search::remove(cx, &form, store)).await
        }
        (Route::Manage(page), Admitted::Manage(settings)) => {
            return Box::pin(super::manage::post(cx, &form, page, *settings)).await
        }
        (route, Admitted::Host(on)) => match host_action(asker, route, &on.host).await {
            Ok(done) => done,
            Err(answer) => return *answer,
        },
        _ => {
            return error(
                asker.json_wanted,
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed here",
            )
        }
    };
    answer_action(state, request, &viewer, done)
}

/// A service action or a process terminated on `host`, which the access table's `change` of
/// its CIM class admitted; another route is not allowed here (405).
async fn host_action(
    asker: Asker<'_>,
    route: Route,
    host: &Host,
) -> Result<HostAction, Box<Answer>> {
    match route {
        Route::ServiceAction(name, service, action) => {
            let result = host.service_action(&service, action).await;
            Ok(HostAction {
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
            })
        }
        Route::Terminate(name, pid) => {
            let result = host.terminate(pid).await;
            Ok(HostAction {
                what: format!("Terminate {pid}"),
                back: format!("/hosts/{name}/processes"),
                host_name: name,
                result,
            })
        }
        _ => Err(Box::new(error(
            asker.json_wanted,
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed here",
        ))),
    }
}

/// The posted form, once its Origin, its bound and the session's CSRF token (sent in the form
/// or an `X-CSRF-Token` header) pass; else the refusal (403 for the Origin or the token),
/// audited.
async fn checked_form(
    state: &AppState,
    request: SessionRequest<'_>,
    body: Incoming,
) -> Result<Form, Answer> {
    let SessionRequest {
        peer,
        session,
        headers,
        json_wanted,
        ..
    } = request;
    let refused = |why: &str| {
        state
            .audit
            .record_by(peer.ip(), &session.owner, "refused", why);
    };
    let form = posted_form(headers, body, json_wanted, || {
        refused("change: cross-origin request");
    })
    .await?;
    let sent = form.get("csrf").map(str::to_owned).or_else(|| {
        headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    if sent.is_some_and(|token| tokens_equal(&token, &session.csrf)) {
        return Ok(form);
    }
    refused("change: missing or wrong CSRF token");
    Err(error(
        json_wanted,
        StatusCode::FORBIDDEN,
        "missing or wrong CSRF token",
    ))
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
