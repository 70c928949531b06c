//! The per-request guards, one named step each, run by `process` in the order the crate
//! doc states ("The guard order", which lists the same names as [`GUARDS`]; a test keeps the
//! doc, the list and `process` equal): method, path, one Authorization header, media type and
//! declared size, then authentication from the headers alone ([`crate::auth::gate`]), the
//! body read and unsealed, the envelope parsed, Identify answered, authorization, and
//! dispatch to the catalog. Responses are shaped in [`crate::response`].
//!
//! Nothing reaches the XML parser before authentication has accepted the request (OMI's
//! CVE-2021-38647 executed unauthenticated bodies).

mod decode;
mod guards;

use std::convert::Infallible;
use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Response, StatusCode};
use wsman_proto::charset::Encoding;

use crate::connection::{Connection, Shared};
use crate::engine::Reply;
use crate::error::ServiceError;
use crate::response::{
    base_response, encoded_soap_response, encoding_hint, error_response, finish_negotiated,
    machine_name, reply_response, AnswerContext, Negotiated,
};
use crate::response_body::ResponseBody;
use crate::settings::ServiceSettings;
pub use decode::is_soap_media_type;
use guards::{Admission, Guards};

/// Path of the openwsman-style anonymous Identify endpoint.
pub const ANONYMOUS_IDENTIFY_PATH: &str = "/wsman-anon/identify";
/// ProductVersion of an unauthenticated Identify (Windows zeroes the OS part).
pub const ANONYMOUS_PRODUCT_VERSION: &str = "OS: 0.0.0 SP: 0.0 Stack: 3.0";
/// The largest body an unauthenticated Identify may send. An anonymous Identify is a few
/// hundred bytes (Windows' own is under 1 KiB); anything an unauthenticated client sends is
/// buffered and parsed before anyone is known, so it is kept this small. Larger: 413.
pub const ANONYMOUS_BODY_LIMIT: u64 = 16 * 1024;
/// Bodies up to this size (a decompressed body: its text) are parsed on the async worker;
/// larger ones on the blocking pool,
/// so that a few large envelopes (up to MaxEnvelopeSizekb, authenticated only) cannot hold
/// the workers that serve every other connection.
const PARSE_INLINE_LIMIT: usize = 64 * 1024;

/// Every guard in the order a request meets them: the first three per connection
/// ([`crate::listener`]), the others per request, each a step of `process` of that name.
pub const GUARDS: [&str; 14] = [
    "address_filter",
    "tls_handshake",
    "request_head",
    "method",
    "path",
    "one_authorization",
    "media_type",
    "declared_size",
    "authentication",
    "body",
    "parse",
    "identify",
    "authorization",
    "dispatch",
];

/// What [`process`] produced: a dispatcher reply, or an envelope already encoded.
enum Answer {
    Reply(Reply, Encoding),
    Encoded {
        body: Bytes,
        encoding: Encoding,
    },
    /// The 200 of a handshake-only request (Negotiate, `Content-Length: 0`).
    Empty,
}

/// The hyper service function: one request in, one response out, never an error.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<Connection>,
    request: hyper::Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let settings = Arc::clone(&shared.settings.borrow());
    // The head stays here, lent to the guards: the error path reads its Content-Type and
    // Host without a copy made for every request.
    let (parts, incoming) = request.into_parts();
    let mut negotiated = Negotiated::default();
    let started = std::time::Instant::now();
    // The idle limit does not run while the request is answered ([`Connection::activity`]).
    let busy = conn.activity.begin();
    let mut action = crate::metrics::UNPARSED;
    let response = match process(
        &shared,
        &conn,
        &settings,
        &parts,
        incoming,
        &mut negotiated,
        &mut action,
    )
    .await
    {
        Ok(Answer::Reply(reply, encoding)) => reply_response(reply, encoding),
        Ok(Answer::Encoded { body, encoding }) => {
            encoded_soap_response(StatusCode::OK, body, encoding)
        }
        Ok(Answer::Empty) => base_response(StatusCode::OK, Bytes::new()),
        Err(e) => {
            let answer = AnswerContext {
                encoding: encoding_hint(parts.headers.get(CONTENT_TYPE)),
                machine: machine_name(parts.headers.get(HOST), conn.local),
            };
            error_response(&e, &answer, &settings, conn.transport)
        }
    };
    let response = finish_negotiated(response, negotiated, conn.remote, &conn.auth);
    // The body's own length, which its Content-Length states (not read back from the header).
    let body_bytes = response.body().len();
    // One clock reading: the request's duration, and the start of the wait for the next head.
    let answered = std::time::Instant::now();
    busy.end(answered);
    shared.metrics.record_request(
        action,
        response.status().as_u16(),
        answered.saturating_duration_since(started),
        body_bytes,
    );
    Ok(response)
}

/// The guards of one request, in order (see [`GUARDS`]).
async fn process(
    shared: &Shared,
    conn: &Connection,
    settings: &Arc<ServiceSettings>,
    parts: &hyper::http::request::Parts,
    incoming: Incoming,
    negotiated: &mut Negotiated,
    action: &mut &'static str,
) -> Result<Answer, ServiceError> {
    let mut g = Guards {
        shared,
        conn,
        settings,
        negotiated,
        action,
    };
    let headers = &parts.headers;
    g.method(&parts.method)?;
    let (endpoint, anonymous_path) = g.path(parts.uri.path())?;
    let authorization = g.one_authorization(headers)?;
    let media = g.media_type(headers)?;
    let declared = g.declared_size(&incoming)?;
    let admission = g
        .authentication(
            headers,
            authorization,
            &media,
            declared,
            anonymous_path,
            incoming,
        )
        .await?;
    let (admitted, incoming) = match admission {
        Admission::Admitted(admitted, incoming) => (admitted, incoming),
        Admission::Answered(answer) => return Ok(answer),
    };
    let body = g
        .body(headers, &media, declared, &endpoint, &admitted, incoming)
        .await?;
    let Some(plain) = body else {
        return Ok(Answer::Empty);
    };
    let parsed = g
        .parse(plain, &media, &endpoint, &admitted.principal)
        .await?;
    let parsed = match g.identify(&endpoint, parsed) {
        ControlFlow::Break(answer) => return Ok(answer),
        ControlFlow::Continue(parsed) => parsed,
    };
    let routed = g.authorization(&endpoint, &admitted.principal, &parsed.request)?;
    g.dispatch(headers, &endpoint, &admitted.principal, parsed, routed)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crate doc's "The guard order" names [`GUARDS`] in their order, and [`process`]
    /// runs the per-request ones in that order.
    #[test]
    fn the_crate_doc_the_list_and_process_name_the_guards_in_one_order() {
        let documented: Vec<&str> = include_str!("lib.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("//! "))
            .filter_map(|line| {
                let (number, rest) = line.split_once(". `")?;
                number.trim().parse::<usize>().ok()?;
                rest.split_once('`').map(|(name, _)| name)
            })
            .collect();
        assert_eq!(documented, GUARDS);
        let source = include_str!("pipeline.rs");
        let start = source.find("async fn process(").expect("process");
        let process = &source[start..];
        // Whitespace dropped: a call may be split over lines (`g\n    .body(`).
        let process: String = process[..process.find("\n}\n").expect("end of process")]
            .split_whitespace()
            .collect();
        let mut at = 0;
        for name in &GUARDS[3..] {
            let call = format!("g.{name}(");
            let found = process[at..].find(&call).unwrap_or_else(|| {
                panic!("process does not run `{name}` after the guards before it")
            });
            at += found + call.len();
        }
    }
}
