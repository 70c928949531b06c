//! The login form: its page with a fresh login token, and its post (Origin, token, then the
//! password check with its backoff).

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::StatusCode;

use super::answer::{cookie, error, html, json, posted_form, redirect, set_cookie};
use super::{Answer, AppState, LOGIN_COOKIE, SESSION_COOKIE};
use crate::login::{Accepted, LoginOutcome};
use crate::pages;
use crate::sessions::tokens_equal;

pub(super) fn login_page(
    state: &AppState,
    json_wanted: bool,
    failure: Option<&str>,
    status: StatusCode,
) -> Answer {
    let token = crate::sessions::random_token();
    let mut answer = if json_wanted {
        json(
            status,
            &serde_json::json!({ "login_token": token, "error": failure }),
        )
    } else {
        let managers = state.login.accepts_manager_users();
        html(status, pages::login(failure, &token, managers))
    };
    answer.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, Some(600)),
    );
    answer
}

pub(super) async fn login(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Incoming,
    json_wanted: bool,
) -> Answer {
    let refused = || {
        let why = "login: cross-origin request";
        state.audit.record(peer.ip(), "", "refused", why);
    };
    let form = match posted_form(headers, body, json_wanted, refused).await {
        Ok(form) => form,
        Err(answer) => return answer,
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
                state,
                json_wanted,
                Some("The user name or password is incorrect."),
                StatusCode::UNAUTHORIZED,
            )
        }
        LoginOutcome::Accepted(accepted) => {
            logged_in(state, peer, headers, user, accepted, json_wanted)
        }
    }
}

/// A login accepted: the session created (refused past the limit of sessions, and the
/// session the browser held replaced), the login audited, the session's cookie set and the
/// login form's cleared.
fn logged_in(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    user: &str,
    accepted: Accepted,
    json_wanted: bool,
) -> Answer {
    let previous = cookie(headers, SESSION_COOKIE);
    let (principal, uid) = (accepted.principal, accepted.uid);
    let owner = principal.owner_key();
    let id = match state
        .sessions
        .create(&principal, uid, accepted.groups, previous.as_deref())
    {
        Ok(id) => id,
        Err(refused) => {
            state
                .audit
                .record_by(peer.ip(), &owner, "login refused", &refused.to_string());
            return error(
                json_wanted,
                StatusCode::TOO_MANY_REQUESTS,
                &refused.to_string(),
            );
        }
    };
    state.audit.record_by(
        peer.ip(),
        &owner,
        "login",
        &crate::sessions::describe_login(&principal, uid),
    );
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
