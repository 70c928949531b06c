//! The per-request guards (4 to 11 in the crate doc, which states their order once): method,
//! path, media type and declared size, then authentication from the headers alone
//! ([`crate::auth::gate`]), the body read and unsealed, the envelope parsed, Identify
//! answered, authorization, and dispatch. Responses are shaped in [`crate::response`].
//!
//! Nothing reaches the XML parser before authentication has accepted the request (OMI's
//! CVE-2021-38647 executed unauthenticated bodies).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Method, Response, StatusCode};
use wsman_events::sldc;
use wsman_proto::charset::{self, Encoding};
use wsman_proto::identify::{self, IdentifyInfo};
use wsman_proto::xml::Limits;
use wsman_proto::{Fault, Request};

use crate::auth::gate::{self, Outcome};
use crate::auth::Principal;
use crate::body;
use crate::catalog::{Access, Arrival, Endpoint};
use crate::connection::{Connection, Shared};
use crate::dispatch::{Exchange, Reply};
use crate::error::ServiceError;
use crate::response::{
    base_response, encoded_soap_response, encoding_hint, error_response, finish_negotiated,
    machine_name, reply_response, AnswerContext, Negotiated,
};
use crate::response_body::ResponseBody;
use crate::settings::{ServiceSettings, Transport};

/// Path of the openwsman-style anonymous Identify endpoint.
pub const ANONYMOUS_IDENTIFY_PATH: &str = "/wsman-anon/identify";
/// ProductVersion of an unauthenticated Identify (Windows zeroes the OS part).
pub const ANONYMOUS_PRODUCT_VERSION: &str = "OS: 0.0.0 SP: 0.0 Stack: 3.0";
/// The largest body an unauthenticated Identify may send. An anonymous Identify is a few
/// hundred bytes (Windows' own is under 1 KiB); anything an unauthenticated client sends is
/// buffered and parsed before anyone is known, so it is kept this small. Larger: 413.
pub const ANONYMOUS_BODY_LIMIT: u64 = 16 * 1024;
/// Bodies up to this size are parsed on the async worker; larger ones on the blocking pool,
/// so that a few large envelopes (up to MaxEnvelopeSizekb, authenticated only) cannot hold
/// the workers that serve every other connection.
const PARSE_INLINE_LIMIT: usize = 64 * 1024;

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
    // Kept for the error path only (a HeaderValue clone is a reference count).
    let content_type = request.headers().get(CONTENT_TYPE).cloned();
    let host = request.headers().get(HOST).cloned();
    let mut negotiated = Negotiated::default();
    let started = std::time::Instant::now();
    let mut action = crate::metrics::UNPARSED;
    let response = match process(
        &shared,
        &conn,
        &settings,
        request,
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
                encoding: encoding_hint(content_type.as_ref()),
                machine: machine_name(host.as_ref(), conn.local),
            };
            error_response(&e, &answer, &settings, conn.transport)
        }
    };
    let response = finish_negotiated(response, negotiated, conn.remote, &conn.auth);
    let body_bytes = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    shared.metrics.record_request(
        action,
        response.status().as_u16(),
        started.elapsed(),
        body_bytes,
    );
    Ok(response)
}

async fn process(
    shared: &Shared,
    conn: &Connection,
    settings: &Arc<ServiceSettings>,
    request: hyper::Request<Incoming>,
    negotiated: &mut Negotiated,
    action: &mut &'static str,
) -> Result<Answer, ServiceError> {
    let (parts, incoming) = request.into_parts();
    // 1. method and path
    if parts.method != Method::POST {
        return Err(ServiceError::MethodNotAllowed);
    }
    let path = parts.uri.path();
    let anonymous_path = path == ANONYMOUS_IDENTIFY_PATH;
    // The collector's subscription manager and delivery paths pass the same guards.
    let endpoint = if anonymous_path {
        Some(Endpoint::WsMan)
    } else {
        shared.catalog.endpoint(&conn.path, path)
    };
    let Some(endpoint) = endpoint else {
        return Err(ServiceError::NotFound);
    };
    let collector = endpoint != Endpoint::WsMan;
    // A second Authorization header is ambiguous: we would read the first, a proxy or log
    // reader might read the last and see another identity.
    if parts
        .headers
        .get_all(hyper::header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        if shared.auth.refusal_log.admit(conn.remote) {
            tracing::warn!(remote = %conn.remote, "400: repeated Authorization header");
        }
        return Err(ServiceError::BadRequest {
            reason: "more than one Authorization header".to_owned(),
        });
    }
    // 2. media type
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let common_type = is_common_soap_type(content_type);
    let sealed_request = !common_type && wsman_auth::sealing::is_sealed_content_type(content_type);
    // No Content-Type at all is taken as SOAP (its charset then comes from a byte-order mark
    // or the XML declaration, else UTF-8): encrypting clients (pypsrp) open the security
    // context with an empty POST that has none, which Windows accepts, and python-dracclient
    // sends every request without one, which iDRACs accept. A wrong type stays refused.
    if !content_type.is_empty()
        && !common_type
        && !is_soap_media_type(content_type)
        && !sealed_request
    {
        return Err(ServiceError::UnsupportedMediaType);
    }
    // 3. declared size
    let limit = settings.max_envelope_bytes();
    let declared = body::check_content_length(&parts.headers, limit)?;
    let timeout = settings.body_read_timeout();
    // 4. authentication (headers only)
    let (principal, via_negotiate, handshake_completed) = match gate::authenticate(
        shared,
        conn,
        &parts.headers,
        settings,
    )
    .await
    {
        Outcome::Authenticated {
            principal,
            by_context,
            handshake_completed,
            final_header,
        } => {
            negotiated.final_header = final_header;
            (principal, by_context, handshake_completed)
        }
        Outcome::Challenge(challenge) => {
            body::drain_limited(incoming, limit, timeout).await?;
            negotiated.challenge = Some(challenge);
            return Err(ServiceError::Unauthorized);
        }
        Outcome::Refused => {
            body::drain_limited(incoming, limit, timeout).await?;
            return Err(ServiceError::Unauthorized);
        }
        Outcome::Nothing if anonymous_path || wants_anonymous_identify(&parts.headers) => {
            pace_unauthenticated(shared, conn).await;
            let small = limit.min(ANONYMOUS_BODY_LIMIT);
            if declared.is_some_and(|length| length > small) {
                if shared.auth.refusal_log.admit(conn.remote) {
                    tracing::warn!(remote = %conn.remote, user = "", limit = small, "413: unauthenticated Identify body over the anonymous limit");
                }
                return Err(ServiceError::PayloadTooLarge { limit: small });
            }
            let bytes = body::read_limited(incoming, small, declared, timeout).await?;
            *action = crate::metrics::IDENTIFY;
            return anonymous_identify(shared, &bytes, content_type, settings, conn)
                .map(|(reply, encoding)| Answer::Reply(reply, encoding));
        }
        Outcome::Nothing => {
            pace_unauthenticated(shared, conn).await;
            if shared.auth.refusal_log.admit(conn.remote) {
                tracing::warn!(remote = %conn.remote, user = "", "401: no credentials");
            }
            body::drain_limited(incoming, limit, timeout).await?;
            return Err(ServiceError::Unauthorized);
        }
    };
    if sealed_request && !via_negotiate {
        // MS-WSMV 7.4: an encrypted body on a connection without a security context.
        tracing::warn!(remote = %conn.remote, user = %principal, "401: encrypted body without a security context on this connection");
        body::drain_limited(incoming, limit, timeout).await?;
        return Err(ServiceError::Unauthorized);
    }
    // 5. body (an encrypted body is bounded like any other before it is buffered)
    let bytes = body::read_limited(incoming, limit, declared, timeout).await?;
    if handshake_completed && bytes.is_empty() {
        return Ok(Answer::Empty);
    }
    let unsealed;
    let (bytes, content_type): (&[u8], &str) = if sealed_request {
        let max_plain = usize::try_from(limit).unwrap_or(usize::MAX);
        let result = conn.auth_state().unseal(content_type, &bytes, max_plain);
        match result {
            Ok(plain) => {
                negotiated.sealed = true;
                unsealed = plain;
                (&unsealed.plain, &unsealed.original_content_type)
            }
            Err(error) => {
                // The context cannot be trusted any more (Windows drops it too).
                conn.auth_state().reset();
                tracing::warn!(remote = %conn.remote, user = %principal, %error, "400: undecryptable encrypted body; security context dropped");
                return Err(ServiceError::BadRequest {
                    reason: error.to_string(),
                });
            }
        }
    } else {
        if via_negotiate && conn.transport == Transport::Http && !settings.allow_unencrypted {
            tracing::warn!(remote = %conn.remote, user = %principal, "500: unencrypted request on an NTLM connection over HTTP (Service/AllowUnencrypted is false)");
            return Err(ServiceError::fault(
                Fault::access_denied().with_message(
                    "The WS-Management service does not accept unencrypted traffic on this \
                     connection (Service/AllowUnencrypted is false): use message encryption. ",
                ),
                None,
            ));
        }
        (&bytes, content_type)
    };
    // The delivery's size as the forwarder sent it (unsealed, still compressed).
    let wire_length = bytes.len();
    // Windows forwarders compress deliveries (`Content-Encoding: SLDC`), and label some
    // bodies SLDC that are plain XML; decompressed within the same size limit.
    let decompressed;
    let bytes: &[u8] = if collector && is_sldc(&parts.headers) && !sldc::looks_uncompressed(bytes) {
        let max_plain = usize::try_from(limit).unwrap_or(usize::MAX);
        match sldc::decompress(bytes, max_plain) {
            Ok(plain) => {
                decompressed = plain;
                &decompressed
            }
            Err(error) => {
                tracing::warn!(remote = %conn.remote, user = %principal, %error, "400: undecodable SLDC body");
                shared
                    .catalog
                    .unreadable(&endpoint, crate::metrics::collector::Refusal::BadSldc);
                return Err(ServiceError::BadRequest {
                    reason: error.to_string(),
                });
            }
        }
    } else {
        bytes
    };
    // 6-7. decode and parse
    let parsed = if bytes.len() <= PARSE_INLINE_LIMIT {
        decode_and_parse(bytes, content_type)
    } else {
        let (bytes, content_type) = (bytes.to_vec(), content_type.to_owned());
        tokio::task::spawn_blocking(move || decode_and_parse(&bytes, &content_type))
            .await
            .map_err(|e| ServiceError::BadRequest {
                reason: format!("the request could not be parsed: {e}"),
            })?
    };
    let (request, encoding) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            shared
                .catalog
                .unreadable(&endpoint, crate::metrics::collector::Refusal::Malformed);
            return Err(error);
        }
    };
    let relates_to = request.message_id.clone();
    let access = shared.catalog.access(&endpoint, &request);
    if let Access::Engine = access {
        *action = crate::metrics::action_label(&request.operation.action);
        let proof = crate::proof::Proof::of(
            &principal,
            conn.peer_certificate.as_ref(),
            conn.transport == Transport::Https,
        );
        let host = host_header(&parts.headers).unwrap_or_default();
        let base = format!("{}://{}{}", conn.transport.scheme(), host, conn.path);
        let exchange = Exchange {
            settings: settings.as_ref(),
            address: &base,
        };
        let caller = caller_of(&principal, conn);
        let arrival = Arrival {
            endpoint: &endpoint,
            caller: Some(&caller),
            proof: Some(&proof),
            wire_length,
        };
        return match shared
            .catalog
            .serve(Arc::new(request), exchange, arrival)
            .await
        {
            Ok(Reply::Refused(refused)) => Err(refused.into()),
            Ok(reply) => Ok(Answer::Reply(reply, encoding)),
            Err(fault) => Err(ServiceError::Fault {
                fault: Box::new(fault),
                relates_to,
            }),
        };
    }
    // 8. Identify, then authorization
    *action = if request.is_identify() {
        crate::metrics::IDENTIFY
    } else {
        crate::metrics::action_label(&request.operation.action)
    };
    if request.is_identify() {
        let body = conn.identify.response(settings, encoding);
        return Ok(Answer::Encoded { body, encoding });
    }
    crate::auth::certificate::check_scope(
        conn.remote,
        conn.peer_certificate.as_ref(),
        &principal,
        &request,
    )?;
    let resource_sd = match access {
        Access::Descriptor(descriptor) => Some(descriptor),
        _ => None,
    };
    authorize(
        conn,
        settings,
        &principal,
        &request,
        resource_sd.as_deref(),
        relates_to.as_deref(),
    )?;
    // 9. dispatch
    let host = host_header(&parts.headers).unwrap_or_default();
    let address = format!("{}://{}{}", conn.transport.scheme(), host, conn.path);
    let exchange = Exchange {
        settings: settings.as_ref(),
        address: &address,
    };
    let request = Arc::new(request);
    let caller = caller_of(&principal, conn);
    match shared
        .catalog
        .dispatch_as(Arc::clone(&request), exchange, Some(&caller))
        .await
    {
        Ok(reply) => Ok(Answer::Reply(reply, encoding)),
        Err(fault) => Err(ServiceError::Fault {
            fault: Box::new(fault),
            relates_to,
        }),
    }
}

/// The caller engines see: who authenticated, from where.
fn caller_of(principal: &Principal, conn: &Connection) -> crate::winrs::Caller {
    crate::winrs::Caller {
        user: principal.identity.name.clone(),
        linux_user: principal.identity.linux_user.clone(),
        sids: Arc::clone(&principal.sids),
        is_administrator: principal.is_administrator,
        client_ip: Some(conn.remote.ip()),
        linux_account: principal.identity.kind == wsman_auth::IdentityKind::LinuxUser,
    }
}

/// Holds a request without credentials when its address sends too many
/// ([`crate::throttle::UnauthenticatedPacing`]).
async fn pace_unauthenticated(shared: &Shared, conn: &Connection) {
    let wait = shared.auth.unauthenticated_pacing.delay(conn.remote);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

/// Step 8, authorization (Identify never gets here): Service/AllowRemoteAccess, then the
/// request's descriptor (RootSDDL, or the shell resources' own) against the caller's SIDs.
/// Refusals are logged and answered as Windows answers: `w:AccessDenied`, HTTP 500.
fn authorize(
    conn: &Connection,
    settings: &ServiceSettings,
    principal: &Principal,
    request: &Request,
    resource_sd: Option<&wsman_config::SecurityDescriptor>,
    relates_to: Option<&str>,
) -> Result<(), ServiceError> {
    let decision = settings.access.authorize(
        conn.remote.ip(),
        &principal.sids,
        &request.operation,
        resource_sd,
    );
    let fault = match decision {
        Ok(()) => return Ok(()),
        Err(crate::access::Denial::RemoteAccessDisabled) => Fault::access_denied()
            .with_code(wsman_proto::fault::code::SERVICE_REMOTE_ACCESS_DISABLED)
            .with_message("The WS-Management service does not accept remote requests (Service/AllowRemoteAccess is false). "),
        Err(crate::access::Denial::Descriptor) => Fault::access_denied(),
    };
    tracing::warn!(
        remote = %conn.remote,
        user = %principal,
        action = request.action.as_deref().unwrap_or(""),
        resource_uri = request.resource_uri.as_deref().unwrap_or(""),
        reason = ?decision,
        "access denied"
    );
    Err(ServiceError::fault(fault, relates_to))
}

fn anonymous_identify(
    shared: &Shared,
    bytes: &[u8],
    content_type: &str,
    settings: &ServiceSettings,
    conn: &Connection,
) -> Result<(Reply, Encoding), ServiceError> {
    // Parse only to recognise an Identify; anything else is an unauthenticated request.
    match decode_and_parse(bytes, content_type) {
        Ok((request, encoding)) if request.is_identify() => {
            let info = IdentifyInfo {
                product_vendor: settings.product_vendor.clone(),
                product_version: ANONYMOUS_PRODUCT_VERSION.to_owned(),
                security_profiles: Vec::new(),
            };
            Ok((Reply::Envelope(identify::response(&info)), encoding))
        }
        _ => {
            if shared.auth.refusal_log.admit(conn.remote) {
                tracing::warn!(remote = %conn.remote, user = "", "401: unauthenticated request that is not an Identify");
            }
            Err(ServiceError::Unauthorized)
        }
    }
}

fn decode_and_parse(bytes: &[u8], content_type: &str) -> Result<(Request, Encoding), ServiceError> {
    let charset = if is_common_soap_type(content_type) {
        Some(COMMON_SOAP_CHARSET)
    } else {
        charset::charset_param(content_type)
    };
    // The common case, UTF-8 without a BOM, is parsed in place; everything else (and any
    // invalid input, for its error) goes through `charset::decode`.
    if plain_utf8(bytes, charset) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            let request = wsman_proto::parse_request(text, &Limits::default())?;
            return Ok((request, Encoding::Utf8));
        }
    }
    let (text, encoding) = charset::decode(bytes, charset)?;
    let request = wsman_proto::parse_request(&text, &Limits::default())?;
    Ok((request, encoding))
}

/// True when `charset::decode` would read `bytes` as UTF-8 as they are: no byte-order mark,
/// and no charset parameter or a UTF-8 one.
fn plain_utf8(bytes: &[u8], charset: Option<&str>) -> bool {
    let bom = bytes.starts_with(&[0xEF, 0xBB, 0xBF])
        || bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0xFE, 0xFF]);
    !bom && charset
        .is_none_or(|c| c.eq_ignore_ascii_case("utf-8") || c.eq_ignore_ascii_case("utf8"))
}

/// `Content-Encoding: SLDC` (compared without case).
fn is_sldc(headers: &HeaderMap) -> bool {
    headers
        .get(hyper::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("SLDC"))
}

fn wants_anonymous_identify(headers: &HeaderMap) -> bool {
    headers
        .get("WSMANIDENTIFY")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("unauthenticated"))
}

/// The Content-Type nearly every client sends (Windows, pywinrm, pypsrp): recognised by one
/// compare, it is SOAP, not sealed, and UTF-8, which is what the general readers below find
/// in it, each at a cost on every request.
const COMMON_SOAP_TYPE: &str = "application/soap+xml;charset=UTF-8";
/// The charset of [`COMMON_SOAP_TYPE`].
const COMMON_SOAP_CHARSET: &str = "UTF-8";

fn is_common_soap_type(content_type: &str) -> bool {
    content_type.eq_ignore_ascii_case(COMMON_SOAP_TYPE)
}

/// `application/soap+xml` with any parameters, case-insensitive.
pub fn is_soap_media_type(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/soap+xml"))
}

fn host_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert!(is_soap_media_type("application/soap+xml;charset=UTF-8"));
        assert!(is_soap_media_type("Application/SOAP+XML ; charset=utf-16"));
        assert!(is_soap_media_type("application/soap+xml"));
        assert!(!is_soap_media_type("text/xml"));
        assert!(!is_soap_media_type(""));
        assert!(!is_soap_media_type(
            "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\""
        ));
    }

    #[test]
    fn the_common_type_reads_as_the_general_readers_read_it() {
        for content_type in [
            COMMON_SOAP_TYPE,
            "Application/SOAP+XML;Charset=utf-8",
            "APPLICATION/SOAP+XML;CHARSET=UTF-8",
        ] {
            assert!(is_common_soap_type(content_type));
            assert!(is_soap_media_type(content_type));
            assert!(!wsman_auth::sealing::is_sealed_content_type(content_type));
            let charset = charset::charset_param(content_type).unwrap();
            assert!(charset.eq_ignore_ascii_case(COMMON_SOAP_CHARSET));
        }
        for other in [
            "application/soap+xml; charset=UTF-8",
            "application/soap+xml;charset=UTF-16",
            "application/soap+xml",
            "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\"",
            "",
        ] {
            assert!(!is_common_soap_type(other), "{other}");
        }
    }

    #[test]
    fn utf8_is_parsed_in_place_and_everything_else_is_decoded() {
        let identify = wsman_proto::identify::request();
        let (request, encoding) =
            decode_and_parse(identify.as_bytes(), "application/soap+xml;charset=UTF-8").unwrap();
        assert!(request.is_identify());
        assert_eq!(encoding, Encoding::Utf8);
        let (request, encoding) =
            decode_and_parse(identify.as_bytes(), "application/soap+xml").unwrap();
        assert!(request.is_identify());
        assert_eq!(encoding, Encoding::Utf8);

        let mut with_bom = vec![0xEF, 0xBB, 0xBF];
        with_bom.extend_from_slice(identify.as_bytes());
        assert!(!plain_utf8(&with_bom, Some("utf-8")));
        let (request, _) = decode_and_parse(&with_bom, "application/soap+xml").unwrap();
        assert!(request.is_identify());

        let utf16 = charset::encode(&identify, Encoding::Utf16Le);
        assert!(!plain_utf8(&utf16, None));
        let (request, encoding) =
            decode_and_parse(&utf16, "application/soap+xml;charset=UTF-16").unwrap();
        assert!(request.is_identify());
        assert_eq!(encoding, Encoding::Utf16Le);

        // Invalid UTF-8 still fails as charset::decode says.
        let mut broken = identify.clone().into_bytes();
        broken.insert(40, 0xFF);
        assert!(decode_and_parse(&broken, "application/soap+xml;charset=UTF-8").is_err());
        assert!(!plain_utf8(b"x", Some("iso-8859-1")));
    }
}
