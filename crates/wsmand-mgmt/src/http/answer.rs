//! The shapes every answer takes (HTML, JSON, redirect, error in the form asked for), the
//! security headers each carries, the cookies, the Origin check and the bounded form.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::Answer;
use crate::form::{Form, MAX_FORM_BYTES};
use crate::pages;

/// How long a request body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest Cookie header looked at.
const MAX_COOKIE_BYTES: usize = 4096;
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The events page's policy: [`CSP`] with its one script file and its socket.
pub(super) const EVENTS_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
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

pub(super) fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let age = max_age.map_or(String::new(), |a| format!("; Max-Age={a}"));
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

pub(super) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

pub(super) fn with_headers(mut response: Answer, cacheable: bool) -> Answer {
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

pub(super) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(super) fn html(status: StatusCode, markup: maud::Markup) -> Answer {
    respond(status, "text/html; charset=utf-8", markup.into_string())
}

pub(super) fn json(status: StatusCode, value: &impl Serialize) -> Answer {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    respond(status, "application/json", body)
}

/// What was read from a host, as JSON: `value` of it (200), or the host's error (502).
pub(super) fn read_json<T, E: std::fmt::Display>(
    read: &Result<T, E>,
    value: impl FnOnce(&T) -> serde_json::Value,
) -> Answer {
    match read {
        Ok(read) => json(StatusCode::OK, &value(read)),
        Err(error) => json(
            StatusCode::BAD_GATEWAY,
            &serde_json::json!({ "error": error.to_string() }),
        ),
    }
}

/// 303 to `to`, a path of this service (a path that is not a valid header value, which the
/// callers' paths never are, goes without its Location).
pub(super) fn redirect(to: &str) -> Answer {
    let mut response = respond(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", "");
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// An error page's words, kept on its answer so that [`with_viewer`] can draw the page again
/// with the logged-in user's header (the code that refuses rarely knows the session).
#[derive(Clone)]
pub(super) struct ErrorPage {
    title: &'static str,
    message: String,
}

/// An error answer in the form the client asked for.
pub(super) fn error(json_wanted: bool, status: StatusCode, message: &str) -> Answer {
    if json_wanted {
        json(status, &serde_json::json!({ "error": message }))
    } else {
        let title = status.canonical_reason().unwrap_or("Error");
        let mut answer = html(status, pages::message(None, title, message));
        answer.extensions_mut().insert(ErrorPage {
            title,
            message: message.to_owned(),
        });
        answer
    }
}

/// `answer`, an HTML error page drawn again with `viewer`'s header (navigation, log out);
/// any other answer unchanged.
pub(super) fn with_viewer(mut answer: Answer, viewer: &pages::Viewer<'_>) -> Answer {
    if let Some(page) = answer.extensions_mut().remove::<ErrorPage>() {
        let markup = pages::message(Some(viewer), page.title, &page.message);
        *answer.body_mut() = Full::new(Bytes::from(markup.into_string()));
    }
    answer
}

/// True when the request's Origin, if any, is this service (`https://` + its Host header).
pub(super) fn origin_matches(headers: &HeaderMap) -> bool {
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

/// The form of a post from this service's own pages: refused with 403 from another origin
/// (after `audit_refusal`), or with [`read_form`]'s answer when the body is not a bounded form.
pub(super) async fn posted_form(
    headers: &HeaderMap,
    body: Incoming,
    json_wanted: bool,
    audit_refusal: impl FnOnce(),
) -> Result<Form, Answer> {
    if !origin_matches(headers) {
        audit_refusal();
        let refused = "cross-origin request refused";
        return Err(error(json_wanted, StatusCode::FORBIDDEN, refused));
    }
    read_form(body, headers)
        .await
        .map_err(|(status, message)| error(json_wanted, status, message))
}

pub(super) async fn read_form(
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
