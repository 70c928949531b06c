//! The per-request guards of [`super::process`], one method each, named as in
//! [`super::GUARDS`], with the state they hand each other.

use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::Method;
use wsman_events::sldc;
use wsman_proto::charset::{DecodeError, Encoding};
use wsman_proto::identify::{self, IdentifyInfo};
use wsman_proto::{Fault, Request};

use super::decode::{
    self, declared_charset, decode_and_parse, host_header, is_common_soap_type, is_sldc, parse_text,
};
use super::{
    is_soap_media_type, Answer, ANONYMOUS_BODY_LIMIT, ANONYMOUS_IDENTIFY_PATH,
    ANONYMOUS_PRODUCT_VERSION, PARSE_INLINE_LIMIT,
};
use crate::auth::gate::{self, Outcome};
use crate::auth::Principal;
use crate::body;
use crate::catalog::{Access, Arrival, Endpoint, Routed};
use crate::connection::{Connection, Shared};
use crate::engine::UnreadableBody;
use crate::engine::{Exchange, Reply};
use crate::error::ServiceError;
use crate::metrics::collector::Refusal;
use crate::proof::Proof;
use crate::response::Negotiated;
use crate::settings::{ServiceSettings, Transport};

/// What one request's guards share.
pub(super) struct Guards<'a> {
    pub(super) shared: &'a Shared,
    pub(super) conn: &'a Connection,
    pub(super) settings: &'a Arc<ServiceSettings>,
    pub(super) negotiated: &'a mut Negotiated,
    /// The metrics label of the request, set once it is known.
    pub(super) action: &'a mut &'static str,
}

/// The request's Content-Type, as the `media_type` guard read it.
pub(super) struct Media<'h> {
    content_type: &'h str,
    /// An MS-WSMV sealed (encrypted) body.
    sealed: bool,
}

/// Who the `authentication` guard admitted.
pub(super) struct Admitted {
    pub(super) principal: Arc<Principal>,
    /// By the connection's security context (its bodies may be sealed).
    by_context: bool,
    /// This request completed a handshake (an empty body is then answered 200 at once).
    handshake_completed: bool,
}

/// What the `authentication` guard decided, besides a refusal.
pub(super) enum Admission {
    Admitted(Admitted, Incoming),
    /// Answered already (an anonymous Identify).
    Answered(Answer),
}

/// The body as the `body` guard read it: unsealed, decompressed.
pub(super) struct Plain {
    body: PlainBody,
    /// The sealed body's own type, else the request's.
    content_type: Option<String>,
    /// The size as sent (unsealed, still compressed).
    wire_length: usize,
}

/// The bytes as they came, or a compressed body decompressed straight into its text (or why
/// its bytes are no text in its charset), which no other step needs as bytes.
enum PlainBody {
    Bytes(Bytes),
    Text(Result<(String, Encoding), DecodeError>),
}

/// `parse` on the blocking pool (a large body), its panic a 400 as before.
async fn blocking(
    parse: impl FnOnce() -> Result<(Request, Encoding), ServiceError> + Send + 'static,
) -> Result<Result<(Request, Encoding), ServiceError>, ServiceError> {
    tokio::task::spawn_blocking(parse)
        .await
        .map_err(|e| ServiceError::BadRequest {
            reason: format!("the request could not be parsed: {e}"),
        })
}

/// What the `parse` guard found. The parsed request is boxed: the known Identify, which
/// allocates nothing else, is then not copied at the size of a request at every move.
pub(super) enum Parsed {
    /// An Identify whose very bytes (and Content-Type) parsed as one before under this
    /// configuration ([`crate::identify::IdentifyCache`]): not parsed again; with its answer,
    /// found in the same look.
    KnownIdentify(Encoding, Bytes),
    Request(Box<ParsedRequest>),
}

/// The request as the `parse` guard read it.
pub(super) struct ParsedRequest {
    pub(super) request: Request,
    encoding: Encoding,
    wire_length: usize,
}

impl Guards<'_> {
    /// POST, else 405.
    pub(super) fn method(&mut self, method: &Method) -> Result<(), ServiceError> {
        if *method != Method::POST {
            return Err(ServiceError::MethodNotAllowed);
        }
        Ok(())
    }

    /// The endpoint the path is, else 404; and whether it is the anonymous Identify path.
    pub(super) fn path(&mut self, path: &str) -> Result<(Endpoint, bool), ServiceError> {
        if path == ANONYMOUS_IDENTIFY_PATH {
            return Ok((Endpoint::WsMan, true));
        }
        let endpoint = self.shared.catalog.endpoint(&self.conn.path, path);
        Ok((endpoint.ok_or(ServiceError::NotFound)?, false))
    }

    /// A second Authorization header is ambiguous: we would read the first, a proxy or log
    /// reader might read the last and see another identity. 400. The one value, if any, goes
    /// on to authentication.
    pub(super) fn one_authorization<'h>(
        &mut self,
        headers: &'h HeaderMap,
    ) -> Result<Option<&'h HeaderValue>, ServiceError> {
        let mut values = headers.get_all(hyper::header::AUTHORIZATION).iter();
        let first = values.next();
        if values.next().is_none() {
            return Ok(first);
        }
        let remote = self.conn.remote;
        if self.shared.auth.refusal_log.admit(remote) {
            tracing::warn!(%remote, "400: repeated Authorization header");
        }
        Err(ServiceError::BadRequest {
            reason: "more than one Authorization header".to_owned(),
        })
    }

    /// SOAP, a sealed body, or no Content-Type at all, else 415.
    pub(super) fn media_type<'h>(
        &mut self,
        headers: &'h HeaderMap,
    ) -> Result<Media<'h>, ServiceError> {
        let value = headers.get(CONTENT_TYPE);
        // The type most clients send, byte for byte, is known to be visible ASCII: it is
        // taken without checking each byte again (`to_str`); any other value is checked.
        if value.is_some_and(|v| v.as_bytes() == decode::COMMON_SOAP_TYPE.as_bytes()) {
            return Ok(Media {
                content_type: decode::COMMON_SOAP_TYPE,
                sealed: false,
            });
        }
        let content_type = value.and_then(|v| v.to_str().ok()).unwrap_or("");
        let common_type = is_common_soap_type(content_type);
        let sealed = !common_type && wsman_auth::sealing::is_sealed_content_type(content_type);
        // No Content-Type at all is taken as SOAP (its charset then comes from a byte-order
        // mark or the XML declaration, else UTF-8): encrypting clients (pypsrp) open the
        // security context with an empty POST that has none, which Windows accepts, and
        // python-dracclient sends every request without one, which iDRACs accept. A wrong
        // type stays refused.
        if !content_type.is_empty() && !common_type && !is_soap_media_type(content_type) && !sealed
        {
            return Err(ServiceError::UnsupportedMediaType);
        }
        Ok(Media {
            content_type,
            sealed,
        })
    }

    /// A Content-Length over MaxEnvelopeSizekb is 413 before any body byte is read.
    pub(super) fn declared_size(&mut self, body: &Incoming) -> Result<Option<u64>, ServiceError> {
        body::check_declared(body, self.settings.max_envelope_bytes())
    }

    /// Authentication from the headers alone ([`gate::authenticate`]). Refused requests have
    /// their body drained (bounded, never parsed) and get 401; an anonymous Identify is
    /// answered here; an encrypted body without a security context on the connection is 401
    /// (MS-WSMV 7.4).
    pub(super) async fn authentication(
        &mut self,
        headers: &HeaderMap,
        authorization: Option<&HeaderValue>,
        media: &Media<'_>,
        declared: Option<u64>,
        anonymous_path: bool,
        incoming: Incoming,
    ) -> Result<Admission, ServiceError> {
        let (shared, conn, settings) = (self.shared, self.conn, self.settings);
        let limit = settings.max_envelope_bytes();
        let timeout = settings.body_read_timeout();
        let admitted = match gate::authenticate(shared, conn, headers, authorization, settings)
            .await
        {
            Outcome::Authenticated {
                principal,
                by_context,
                handshake_completed,
                final_header,
            } => {
                self.negotiated.final_header = final_header;
                Admitted {
                    principal,
                    by_context,
                    handshake_completed,
                }
            }
            Outcome::Challenge(challenge) => {
                body::drain_limited(incoming, limit, timeout).await?;
                self.negotiated.challenge = Some(challenge);
                return Err(ServiceError::Unauthorized);
            }
            Outcome::Refused => {
                body::drain_limited(incoming, limit, timeout).await?;
                return Err(ServiceError::Unauthorized);
            }
            Outcome::Nothing if anonymous_path || decode::wants_anonymous_identify(headers) => {
                pace_unauthenticated(shared, conn).await;
                let small = limit.min(ANONYMOUS_BODY_LIMIT);
                if declared.is_some_and(|length| length > small) {
                    if shared.auth.refusal_log.admit(conn.remote) {
                        tracing::warn!(remote = %conn.remote, user = "", limit = small, "413: unauthenticated Identify body over the anonymous limit");
                    }
                    return Err(ServiceError::PayloadTooLarge { limit: small });
                }
                let bytes = body::read_limited(incoming, small, declared, timeout).await?;
                *self.action = crate::metrics::IDENTIFY;
                let (reply, encoding) =
                    anonymous_identify(shared, &bytes, media.content_type, settings, conn)?;
                return Ok(Admission::Answered(Answer::Reply(reply, encoding)));
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
        if media.sealed && !admitted.by_context {
            // MS-WSMV 7.4: an encrypted body on a connection without a security context.
            tracing::warn!(remote = %conn.remote, user = %admitted.principal, "401: encrypted body without a security context on this connection");
            body::drain_limited(incoming, limit, timeout).await?;
            return Err(ServiceError::Unauthorized);
        }
        Ok(Admission::Admitted(admitted, incoming))
    }

    /// The body read (chunked bodies counted and cut at the limit, the whole read bounded in
    /// time), unsealed with the connection's context, and at the collector's endpoints
    /// decompressed (SLDC) within the same limit. `None`: the empty body of a request that
    /// completed a handshake.
    pub(super) async fn body(
        &mut self,
        headers: &HeaderMap,
        media: &Media<'_>,
        declared: Option<u64>,
        endpoint: &Endpoint,
        admitted: &Admitted,
        incoming: Incoming,
    ) -> Result<Option<Plain>, ServiceError> {
        let (conn, settings) = (self.conn, self.settings);
        let limit = settings.max_envelope_bytes();
        let timeout = settings.body_read_timeout();
        let max_plain = usize::try_from(limit).unwrap_or(usize::MAX);
        let principal = &admitted.principal;
        // An encrypted body is bounded like any other before it is buffered.
        let bytes = body::read_limited(incoming, limit, declared, timeout).await?;
        if admitted.handshake_completed && bytes.is_empty() {
            return Ok(None);
        }
        let (bytes, content_type) = if media.sealed {
            let result = conn
                .auth_state()
                .unseal(media.content_type, &bytes, max_plain);
            match result {
                Ok(unsealed) => {
                    self.negotiated.sealed = true;
                    let plain = Bytes::from(unsealed.plain);
                    (plain, Some(unsealed.original_content_type))
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
            if admitted.by_context
                && conn.transport == Transport::Http
                && !settings.allow_unencrypted
            {
                tracing::warn!(remote = %conn.remote, user = %principal, "500: unencrypted request on an NTLM connection over HTTP (Service/AllowUnencrypted is false)");
                return Err(ServiceError::fault(
                    Fault::access_denied().with_message(
                        "The WS-Management service does not accept unencrypted traffic on this \
                         connection (Service/AllowUnencrypted is false): use message encryption. ",
                    ),
                    None,
                ));
            }
            (bytes, None)
        };
        let wire_length = bytes.len();
        // Windows forwarders compress deliveries (`Content-Encoding: SLDC`), and label some
        // bodies SLDC that are plain XML.
        let compressed =
            *endpoint != Endpoint::WsMan && is_sldc(headers) && !sldc::looks_uncompressed(&bytes);
        let body = if compressed {
            // Into text at once: the charset as `parse` reads it.
            let charset = declared_charset(content_type.as_deref().unwrap_or(media.content_type));
            match sldc::decompress_text(&bytes, max_plain, charset) {
                Ok(text) => PlainBody::Text(text),
                Err(error) => {
                    let body = UnreadableBody {
                        reason: Refusal::BadSldc,
                        forwarder: principal,
                        remote: conn.remote,
                        why: &error,
                    };
                    self.shared.catalog.unreadable(endpoint, &body);
                    return Err(ServiceError::BadRequest {
                        reason: error.to_string(),
                    });
                }
            }
        } else {
            PlainBody::Bytes(bytes)
        };
        Ok(Some(Plain {
            body,
            content_type,
            wire_length,
        }))
    }

    /// Charset decode (UTF-8 / UTF-16, BOM first), then the envelope parsed (bounded XML;
    /// bodies over 64 KiB on the blocking pool). At the WS-Management endpoint, the bytes of
    /// an Identify that parsed before under this configuration are not parsed again.
    pub(super) async fn parse(
        &mut self,
        plain: Plain,
        media: &Media<'_>,
        endpoint: &Endpoint,
        principal: &Principal,
    ) -> Result<Parsed, ServiceError> {
        let content_type = plain.content_type.as_deref().unwrap_or(media.content_type);
        let identify = &self.shared.identify;
        let wsman = *endpoint == Endpoint::WsMan;
        // The bytes as they came, for the Identify cache.
        let mut as_sent = None;
        let parsed = match plain.body {
            PlainBody::Bytes(bytes) => {
                if wsman {
                    if let Some((encoding, body)) =
                        identify.known_request(self.settings, &bytes, content_type)
                    {
                        *self.action = crate::metrics::IDENTIFY;
                        return Ok(Parsed::KnownIdentify(encoding, body));
                    }
                }
                let parsed = if bytes.len() <= PARSE_INLINE_LIMIT {
                    decode_and_parse(&bytes, content_type)
                } else {
                    let (bytes, content_type) = (bytes.clone(), content_type.to_owned());
                    blocking(move || decode_and_parse(&bytes, &content_type)).await?
                };
                as_sent = Some(bytes);
                parsed
            }
            PlainBody::Text(Ok((text, encoding))) if text.len() > PARSE_INLINE_LIMIT => {
                blocking(move || parse_text(Ok((text, encoding)))).await?
            }
            PlainBody::Text(text) => parse_text(text),
        };
        let (request, encoding) = parsed.inspect_err(|error| {
            let body = UnreadableBody {
                reason: Refusal::Malformed,
                forwarder: principal,
                remote: self.conn.remote,
                why: error,
            };
            self.shared.catalog.unreadable(endpoint, &body);
        })?;
        *self.action = if wsman && request.is_identify() {
            if let Some(bytes) = &as_sent {
                identify.remember_request(self.settings, bytes, content_type, encoding);
            }
            crate::metrics::IDENTIFY
        } else {
            crate::metrics::action_label(&request.operation.action)
        };
        Ok(Parsed::Request(Box::new(ParsedRequest {
            request,
            encoding,
            wire_length: plain.wire_length,
        })))
    }

    /// Identify at the WS-Management endpoint: any authenticated user. Anything else goes on.
    pub(super) fn identify(
        &mut self,
        endpoint: &Endpoint,
        parsed: Parsed,
    ) -> ControlFlow<Answer, ParsedRequest> {
        match parsed {
            Parsed::KnownIdentify(encoding, body) => {
                ControlFlow::Break(Answer::Encoded { body, encoding })
            }
            Parsed::Request(parsed)
                if *endpoint == Endpoint::WsMan && parsed.request.is_identify() =>
            {
                let encoding = parsed.encoding;
                let body = self.shared.identify.response(self.settings, encoding);
                ControlFlow::Break(Answer::Encoded { body, encoding })
            }
            Parsed::Request(parsed) => ControlFlow::Continue(*parsed),
        }
    }

    /// The request routed once ([`crate::catalog::Catalog::route`]), then the access its
    /// engine states: a client certificate's scope (at the collector's endpoints, the
    /// endpoint's resource: [`Endpoint::resource_uri`]), then AllowRemoteAccess and the
    /// engine's descriptors ([`authorize`]). An engine that decides for itself (the collector)
    /// passes the same two gates and then decides. The route goes on to dispatch.
    pub(super) fn authorization(
        &mut self,
        endpoint: &Endpoint,
        principal: &Arc<Principal>,
        request: &Request,
    ) -> Result<Routed, ServiceError> {
        let routed = self.shared.catalog.route(endpoint, request, self.settings);
        let required = routed.access.required(self.settings, request);
        let conn = self.conn;
        let relates_to = request.message_id.as_deref();
        crate::auth::certificate::check_scope(
            conn.remote,
            conn.peer_certificate.as_ref(),
            principal,
            endpoint.resource_uri().or(request.resource_uri.as_deref()),
            relates_to,
        )?;
        authorize(
            conn,
            self.settings,
            principal,
            request,
            &required,
            relates_to,
        )?;
        Ok(routed)
    }

    /// The catalog's engine for the request ([`crate::catalog`]); faults are rendered with the
    /// request's MessageID, an engine's bare status (the collector's 400 and 503) as it is.
    pub(super) async fn dispatch(
        &mut self,
        headers: &HeaderMap,
        endpoint: &Endpoint,
        principal: &Arc<Principal>,
        parsed: ParsedRequest,
        routed: Routed,
    ) -> Result<Answer, ServiceError> {
        let conn = self.conn;
        let host = host_header(headers).unwrap_or_default();
        let address = format!("{}://{}{}", conn.transport.scheme(), host, conn.path);
        let exchange = Exchange {
            settings: self.settings.as_ref(),
            address: &address,
        };
        let https = conn.transport == Transport::Https;
        let proof = matches!(routed.access, Access::Engine).then(|| {
            Proof::of(
                principal,
                conn.peer_certificate.as_ref(),
                https,
                Some(conn.remote.ip()),
            )
        });
        let caller = caller_of(principal, conn);
        let arrival = Arrival {
            endpoint,
            caller: &caller,
            proof: proof.as_ref(),
            wire_length: parsed.wire_length,
        };
        let relates_to = parsed.request.message_id.clone();
        let request = Arc::new(parsed.request);
        match routed.serve(request, exchange, arrival).await {
            Ok(Reply::Refused(refused)) => Err(refused.into()),
            Ok(reply) => Ok(Answer::Reply(reply, parsed.encoding)),
            Err(fault) => Err(ServiceError::Fault {
                fault: Box::new(fault),
                relates_to,
            }),
        }
    }
}

/// The caller engines see: who authenticated, from where.
fn caller_of(principal: &Principal, conn: &Connection) -> wsman_providers::Caller {
    wsman_providers::Caller {
        user: principal.identity.name.clone(),
        principal: principal.who.clone(),
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

/// The `authorization` guard's decision (Identify never gets here): Service/AllowRemoteAccess, then the
/// descriptors the request's engine requires against the caller's SIDs.
/// Refusals are logged and answered as Windows answers: `w:AccessDenied`, HTTP 500.
fn authorize(
    conn: &Connection,
    settings: &ServiceSettings,
    principal: &Principal,
    request: &Request,
    required: &crate::access::Required,
    relates_to: Option<&str>,
) -> Result<(), ServiceError> {
    let decision = settings
        .access
        .authorize(conn.remote.ip(), &principal.sids, required);
    let Err(denial) = decision else {
        return Ok(());
    };
    tracing::warn!(
        remote = %conn.remote,
        user = %principal,
        action = request.action.as_deref().unwrap_or(""),
        resource_uri = request.resource_uri.as_deref().unwrap_or(""),
        reason = ?denial,
        "access denied"
    );
    Err(ServiceError::fault(
        crate::error::denial_fault(denial),
        relates_to,
    ))
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
