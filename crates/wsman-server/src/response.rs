//! Shaping what goes back: SOAP and empty responses with their headers (`Server`,
//! Content-Length, the request's charset), every [`ServiceError`] as its status, fault and
//! challenges, and the sealing of the answer to a sealed request with the connection's
//! context.

use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};

use bytes::Bytes;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use wsman_proto::charset::{self, Encoding};

use crate::auth::state::AuthState;
use crate::engine::Reply;
use crate::error::ServiceError;
use crate::response_body::ResponseBody;
use crate::settings::{ServiceSettings, Transport};

/// What the Negotiate stage adds to a response: the one challenge of a 401 leg, the final
/// token of a 200, and whether the answer must be sealed (the request was).
#[derive(Default)]
pub struct Negotiated {
    pub challenge: Option<HeaderValue>,
    pub final_header: Option<HeaderValue>,
    pub sealed: bool,
}

/// How to write an answer: the request's encoding and the facts faults carry.
pub struct AnswerContext {
    pub encoding: Encoding,
    pub machine: String,
}

/// Adds the Negotiate headers, and seals the body when the request was sealed (faults too).
pub fn finish_negotiated(
    mut response: Response<ResponseBody>,
    negotiated: Negotiated,
    remote: SocketAddr,
    auth: &Mutex<AuthState>,
) -> Response<ResponseBody> {
    let headers = response.headers_mut();
    if let Some(challenge) = negotiated.challenge {
        // A challenge leg carries exactly one WWW-Authenticate: the token.
        headers.remove(hyper::header::WWW_AUTHENTICATE);
        headers.insert(hyper::header::WWW_AUTHENTICATE, challenge);
    }
    if let Some(final_header) = negotiated.final_header {
        headers.insert(hyper::header::WWW_AUTHENTICATE, final_header);
    }
    if !negotiated.sealed {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    if body.is_empty() {
        return Response::from_parts(parts, body);
    }
    // Sealed from the pieces it was rendered in: the sealed body is the only copy.
    let pieces = body.into_pieces();
    let plain: Vec<&[u8]> = pieces.iter().map(|piece| &piece[..]).collect();
    let original_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/soap+xml;charset=UTF-8")
        .to_owned();
    let sealed = AuthState::lock(auth).seal_parts(&original_type, &plain);
    match sealed.map(|(content_type, body)| (HeaderValue::from_str(&content_type), body)) {
        Ok((Ok(content_type), body)) => {
            parts.headers.insert(CONTENT_TYPE, content_type);
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            Response::from_parts(parts, body.into())
        }
        Ok((Err(_), _)) | Err(_) => {
            tracing::error!(remote = %remote, "sealing the response failed: closing the connection");
            AuthState::lock(auth).reset();
            let mut failed = base_response(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new());
            failed
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            failed
        }
    }
}

/// The Host header without its port (`[::1]:5985` -> `::1`), else the local address.
pub fn machine_name(host: Option<&HeaderValue>, local: SocketAddr) -> String {
    match host.and_then(|h| h.to_str().ok()).map(str::trim) {
        Some(h) if !h.is_empty() => strip_port(h).to_owned(),
        _ => local.ip().to_string(),
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

pub fn encoding_hint(content_type: Option<&HeaderValue>) -> Encoding {
    let charset = content_type
        .and_then(|v| v.to_str().ok())
        .and_then(charset::charset_param);
    match charset {
        Some(c) if c.eq_ignore_ascii_case("utf-16") || c.eq_ignore_ascii_case("utf-16le") => {
            Encoding::Utf16Le
        }
        Some(c) if c.eq_ignore_ascii_case("utf-16be") => Encoding::Utf16Be,
        _ => Encoding::Utf8,
    }
}

// Used by value only (a copy per response, never borrowed), so that the `Bytes` inside the
// constant is never shared: what the lint warns of cannot happen.
#[allow(clippy::declare_interior_mutable_const)]
/// The `Server` value, made once: `from_static` outside a constant checks every byte on each
/// call, and every response carries it.
const SERVER_NAME: HeaderValue = HeaderValue::from_static("wsmand");

/// The Content-Type of an envelope in `encoding`, made once per encoding (as [`SERVER_NAME`]);
/// a copy of a static value is no allocation.
fn soap_content_type(encoding: Encoding) -> HeaderValue {
    static TYPES: LazyLock<[HeaderValue; 2]> = LazyLock::new(|| {
        [Encoding::Utf8, Encoding::Utf16Le].map(|e| HeaderValue::from_static(e.content_type()))
    });
    match encoding {
        Encoding::Utf8 => TYPES[0].clone(),
        Encoding::Utf16Le | Encoding::Utf16Be => TYPES[1].clone(),
    }
}

/// A response with `body` and the `Server` header. Its Content-Length is written by hyper
/// from the body's exact length ([`ResponseBody`]'s size hint, `content-length: 0` for an
/// empty one), as it is sent: a header of ours would be formatted here and parsed back there
/// on every response.
pub fn base_response(status: StatusCode, body: impl Into<ResponseBody>) -> Response<ResponseBody> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::SERVER, SERVER_NAME);
    response
}

/// The envelope as the bytes sent in `encoding`. UTF-8 goes out as rendered: the string's
/// buffer becomes the body without a copy.
pub fn encode_body(xml: String, encoding: Encoding) -> Bytes {
    match encoding {
        Encoding::Utf8 => Bytes::from(xml.into_bytes()),
        other => Bytes::from(charset::encode(&xml, other)),
    }
}

pub fn soap_response(
    status: StatusCode,
    xml: String,
    encoding: Encoding,
) -> Response<ResponseBody> {
    encoded_soap_response(status, encode_body(xml, encoding), encoding)
}

pub fn encoded_soap_response(
    status: StatusCode,
    body: impl Into<ResponseBody>,
    encoding: Encoding,
) -> Response<ResponseBody> {
    let mut response = base_response(status, body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, soap_content_type(encoding));
    response
}

pub fn reply_response(reply: Reply, encoding: Encoding) -> Response<ResponseBody> {
    match reply {
        Reply::Envelope(xml) => soap_response(StatusCode::OK, xml, encoding),
        Reply::Pieces(pieces) => match encoding {
            Encoding::Utf8 => {
                encoded_soap_response(StatusCode::OK, ResponseBody::pieces(pieces), encoding)
            }
            // Pieces are UTF-8 (markup and base64); re-encoded whole for a UTF-16 client.
            other => soap_response(
                StatusCode::OK,
                String::from_utf8_lossy(&pieces.concat()).into_owned(),
                other,
            ),
        },
        Reply::Empty { close } => {
            let mut r = base_response(StatusCode::OK, Bytes::new());
            if close {
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            r
        }
        Reply::Refused(refused) => {
            let error = crate::error::ServiceError::from(refused);
            base_response(error.status_and_fault().0, Bytes::new())
        }
    }
}

pub fn error_response(
    error: &ServiceError,
    answer: &AnswerContext,
    settings: &ServiceSettings,
    transport: Transport,
) -> Response<ResponseBody> {
    let (status, fault) = error.status_and_fault();
    let mut response = match (fault, error) {
        (
            Some(fault),
            ServiceError::Fault { relates_to, .. }
            | ServiceError::DeliveryRefused { relates_to, .. },
        ) => {
            #[allow(
                clippy::disallowed_methods,
                reason = "the one writer of fault envelopes"
            )]
            let xml = wsman_proto::response::fault_envelope(
                fault,
                &wsman_proto::response::new_message_id(),
                relates_to.as_deref(),
                &answer.machine,
            );
            soap_response(status, xml, answer.encoding)
        }
        _ => base_response(status, Bytes::new()),
    };
    let headers = response.headers_mut();
    if matches!(error, ServiceError::MethodNotAllowed) {
        headers.insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
    }
    if matches!(error, ServiceError::Unauthorized) {
        for challenge in settings.challenge_config(transport).challenges() {
            headers.append(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
    }
    if error.closes_connection()
        || matches!(
            error,
            ServiceError::MethodNotAllowed
                | ServiceError::NotFound
                | ServiceError::UnsupportedMediaType
        )
    {
        // The body of these requests was not read: the connection cannot be reused.
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use wsman_proto::Fault;

    use super::*;

    #[test]
    fn host_without_port() {
        assert_eq!(strip_port("server.example.com:5985"), "server.example.com");
        assert_eq!(strip_port("server"), "server");
        assert_eq!(strip_port("[::1]:5985"), "::1");
        assert_eq!(strip_port("10.0.0.1:80"), "10.0.0.1");
        assert_eq!(strip_port("fe80::1"), "fe80::1");
    }

    #[test]
    fn utf16_hint() {
        let v = HeaderValue::from_static("application/soap+xml;charset=UTF-16");
        assert_eq!(encoding_hint(Some(&v)), Encoding::Utf16Le);
        assert_eq!(encoding_hint(None), Encoding::Utf8);
    }

    #[test]
    fn unauthorized_carries_challenges_and_empty_body() {
        let settings = ServiceSettings {
            auth_basic: true,
            allow_unencrypted: true,
            ..ServiceSettings::default()
        };
        let answer = AnswerContext {
            encoding: Encoding::Utf8,
            machine: "h".into(),
        };
        let r = error_response(
            &ServiceError::Unauthorized,
            &answer,
            &settings,
            Transport::Http,
        );
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()
                .get_all(hyper::header::WWW_AUTHENTICATE)
                .iter()
                .count(),
            1
        );
        // Its `Content-Length: 0` on the wire: tests/server.rs,
        // unauthorized_gets_a_challenge_and_the_connection_stays_usable.
        assert!(r.body().is_empty());
        assert!(r.headers().get(CONNECTION).is_none());
    }

    #[test]
    fn fault_response_is_500_with_machine_and_relates_to() {
        let answer = AnswerContext {
            encoding: Encoding::Utf8,
            machine: "host.example".into(),
        };
        let e = ServiceError::fault(Fault::access_denied(), Some("uuid:abc-DEF"));
        let r = error_response(&e, &answer, &ServiceSettings::default(), Transport::Http);
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            r.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()),
            Some(&b"application/soap+xml;charset=UTF-8"[..])
        );
    }
}
