//! The per-request guard pipeline (the steps after the connection and TLS guards of
//! [`crate::listener`]), in this order:
//!
//! 1. method: POST only, else 405; path: `/` + URLPrefix (or `/wsman-anon/identify`), else 404
//! 2. Content-Type: `application/soap+xml` or MS-WSMV `multipart/encrypted` (an empty
//!    handshake-only POST may have none), else 415
//! 3. size: a Content-Length over MaxEnvelopeSizekb × 1024 is 413 before any body byte is read
//! 4. authentication, on headers only (a repeated Authorization header is 400). Refused: the
//!    body is drained (bounded, never kept or parsed) and the answer is 401 with one challenge
//!    per enabled scheme; the connection stays open. The one exception is `WSMANIDENTIFY:
//!    unauthenticated` without credentials: its body, at most [`ANONYMOUS_BODY_LIMIT`], is
//!    read and parsed only to check that it is an Identify. Negotiate/NTLM
//!    ([`crate::negotiate`]): each leg is a 401 with one `WWW-Authenticate: Negotiate <token>`;
//!    once complete, the connection is authenticated and later requests need no header.
//! 5. body read, counted (chunked bodies are cut at the limit: 413) and bounded by
//!    MaxPacketRetrievalTimeSeconds (408); an encrypted body is then unsealed with the
//!    connection's context (400 and the context dropped when it cannot be), and a plaintext
//!    body on an NTLM connection over HTTP without AllowUnencrypted is refused (500). The
//!    answer to a sealed request is sealed, faults included.
//! 6. charset decode (BOM, then the charset parameter)
//! 7. envelope parse (bounded XML; faults relate to the request MessageID); bodies over
//!    64 KiB are parsed on the blocking pool, not on the async workers
//! 8. Identify (any authenticated user), else authorization ([`crate::access`]):
//!    AllowRemoteAccess, then RootSDDL on the caller's SIDs (the WinRS and PowerShell resources:
//!    `[Security] ShellSDDL`, by default open to any identity with a Linux user; shells run as
//!    it and are private to their owner)
//! 9. dispatch on (Action, ResourceURI)
//!
//! Nothing reaches the XML parser before step 4 has accepted the request (OMI's
//! CVE-2021-38647 executed unauthenticated bodies).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::response_body::ResponseBody;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Method, Response, StatusCode};
use tokio::sync::watch;
use wsman_auth::Credentials;
use wsman_proto::charset::{self, Encoding};
use wsman_proto::identify::{self, IdentifyInfo};
use wsman_proto::xml::Limits;
use wsman_proto::{Fault, Request};

use crate::auth::{self, CredentialVerifier, Presented, Principal, VerifiedConnection};
use crate::body;
use crate::dispatch::{self, Dispatcher, Exchange, Reply};
use crate::error::ServiceError;
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

/// State shared by every connection of the service.
pub struct Shared {
    pub settings: watch::Receiver<Arc<ServiceSettings>>,
    pub verifier: Arc<CredentialVerifier>,
    pub dispatcher: Arc<Dispatcher>,
    /// Bounds the password checks running at once. Each argon2id verification holds a 19 MiB
    /// buffer and a blocking thread; without a bound, a flood of logins (right or wrong) grows
    /// memory and threads without limit. Checks beyond the bound wait their turn.
    pub password_checks: tokio::sync::Semaphore,
    /// Failed logins per remote address: logged, and repeated ones slowed down.
    pub login_throttle: crate::throttle::LoginThrottle,
    /// Refusals of unauthenticated requests and connections: logged per address at a
    /// bounded rate.
    pub refusal_log: crate::throttle::RefusalRateLog,
    /// Unauthenticated requests (no credentials at all) paced per address.
    pub unauthenticated_pacing: crate::throttle::UnauthenticatedPacing,
    /// DIR: issuer certificates (`certs/`) and `accounts.toml` for certificate authentication.
    pub config_dir: std::path::PathBuf,
    /// The Kerberos acceptor, when `DIR/krb5.keytab` was loaded at start ([`crate::kerberos`]).
    pub kerberos: Option<Arc<crate::kerberos::KerberosService>>,
}

impl Shared {
    /// One password check per core: more cannot run faster, only use more memory.
    pub fn password_check_permits() -> tokio::sync::Semaphore {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        tokio::sync::Semaphore::new(cores)
    }
}

/// State of one TCP (or TLS) connection.
pub struct Connection {
    pub remote: SocketAddr,
    pub local: SocketAddr,
    pub transport: Transport,
    /// `/` + URLPrefix of the listener that accepted it.
    pub path: Arc<str>,
    /// The credential verified on this connection, if any.
    pub auth: Mutex<Option<VerifiedConnection>>,
    /// The client certificate presented in the TLS handshake, if any (HTTPS).
    pub peer_certificate: Option<crate::certauth::PeerCertificate>,
    /// MsvAvChannelBindings a Negotiate client must send here (HTTPS: from our certificate).
    pub channel_binding: Option<[u8; 16]>,
    /// RFC 5929 channel binding application data a Kerberos client binds to (HTTPS).
    pub end_point_binding: Option<Arc<[u8]>>,
    /// The Negotiate/NTLM handshake and sealing context of this connection.
    negotiate: Mutex<crate::negotiate::NegotiateSession>,
    /// The last authenticated IdentifyResponse sent here, rendered and encoded. A client that
    /// polls Identify on a kept-alive connection (load balancers, monitoring) then pays for the
    /// parse of its request only, never again for the rendering of an answer that changes only
    /// with the configuration.
    identify: Mutex<Option<RenderedIdentify>>,
}

/// An encoded IdentifyResponse and what it was rendered from.
struct RenderedIdentify {
    settings: Arc<ServiceSettings>,
    encoding: Encoding,
    body: Bytes,
}

impl Connection {
    pub fn new(
        remote: SocketAddr,
        local: SocketAddr,
        transport: Transport,
        path: Arc<str>,
    ) -> Self {
        Self {
            remote,
            local,
            transport,
            path,
            auth: Mutex::new(None),
            peer_certificate: None,
            channel_binding: None,
            end_point_binding: None,
            negotiate: Mutex::new(crate::negotiate::NegotiateSession::default()),
            identify: Mutex::new(None),
        }
    }

    /// Builder-style: the client certificate of the TLS handshake.
    pub fn with_peer_certificate(mut self, peer: Option<crate::certauth::PeerCertificate>) -> Self {
        self.peer_certificate = peer;
        self
    }

    /// Builder-style: the channel binding expected from Negotiate clients.
    pub fn with_channel_binding(mut self, channel_binding: Option<[u8; 16]>) -> Self {
        self.channel_binding = channel_binding;
        self
    }

    /// Builder-style: the channel binding expected from Kerberos clients.
    pub fn with_end_point_binding(mut self, binding: Option<Arc<[u8]>>) -> Self {
        self.end_point_binding = binding;
        self
    }

    pub(crate) fn negotiate(
        &self,
    ) -> std::sync::MutexGuard<'_, crate::negotiate::NegotiateSession> {
        self.negotiate.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn auth(&self) -> std::sync::MutexGuard<'_, Option<VerifiedConnection>> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The authenticated IdentifyResponse for `settings` in `encoding`: the one rendered
    /// earlier on this connection when neither changed since (a new configuration is a new
    /// `Arc`), else rendered now and kept.
    fn identify_response(&self, settings: &Arc<ServiceSettings>, encoding: Encoding) -> Bytes {
        let mut cached = self.identify.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = cached.as_ref() {
            if hit.encoding == encoding && Arc::ptr_eq(&hit.settings, settings) {
                return hit.body.clone();
            }
        }
        let info = IdentifyInfo {
            product_vendor: settings.product_vendor.clone(),
            product_version: settings.product_version.clone(),
            security_profiles: auth::security_profiles(settings),
        };
        let body = encode_body(identify::response(&info), encoding);
        *cached = Some(RenderedIdentify {
            settings: Arc::clone(settings),
            encoding,
            body: body.clone(),
        });
        body
    }
}

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

/// What the Negotiate stage adds to a response: the one challenge of a 401 leg, the final
/// token of a 200, and whether the answer must be sealed (the request was).
#[derive(Default)]
struct Negotiated {
    challenge: Option<HeaderValue>,
    final_header: Option<HeaderValue>,
    sealed: bool,
}

/// How to write an answer: the request's encoding and the facts faults carry.
struct AnswerContext {
    encoding: Encoding,
    machine: String,
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
    let response = match process(&shared, &conn, &settings, request, &mut negotiated).await {
        Ok(Answer::Reply(reply, encoding)) => reply_response(reply, encoding),
        Ok(Answer::Encoded { body, encoding }) => {
            encoded_soap_response(StatusCode::OK, body, encoding)
        }
        Ok(Answer::Empty) => base_response(StatusCode::OK, Bytes::new()),
        Err(e) => {
            let answer = AnswerContext {
                encoding: encoding_hint(content_type.as_ref()),
                machine: machine_name(host.as_ref(), &conn),
            };
            error_response(&e, &answer, &settings, conn.transport)
        }
    };
    Ok(finish_negotiated(response, negotiated, &conn).await)
}

/// Adds the Negotiate headers, and seals the body when the request was sealed (faults too).
async fn finish_negotiated(
    mut response: Response<ResponseBody>,
    negotiated: Negotiated,
    conn: &Connection,
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
    let sealed = conn.negotiate().seal_parts(&original_type, &plain);
    match sealed.map(|(content_type, body)| (HeaderValue::from_str(&content_type), body)) {
        Ok((Ok(content_type), body)) => {
            parts.headers.insert(CONTENT_TYPE, content_type);
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            Response::from_parts(parts, body.into())
        }
        Ok((Err(_), _)) | Err(_) => {
            tracing::error!(remote = %conn.remote, "sealing the response failed: closing the connection");
            conn.negotiate().reset();
            let mut failed = base_response(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new());
            failed
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            failed
        }
    }
}

/// A Negotiate/NTLM/Kerberos Authorization header, when Negotiate or Kerberos is enabled:
/// its scheme and token.
fn negotiate_token(
    headers: &HeaderMap,
    settings: &ServiceSettings,
    shared: &Shared,
) -> Option<(wsman_auth::authorization::TokenScheme, Vec<u8>)> {
    use wsman_auth::authorization::{parse_authorization, Authorization, TokenScheme};
    let value = headers.get(hyper::header::AUTHORIZATION)?;
    if !crate::negotiate::enabled(settings)
        && !crate::kerberos::enabled(shared, settings)
        && !crate::credssp::enabled(settings)
    {
        return None;
    }
    match parse_authorization(value.as_bytes()) {
        Ok(Authorization::Token {
            scheme:
                scheme @ (TokenScheme::Negotiate
                | TokenScheme::Ntlm
                | TokenScheme::Kerberos
                | TokenScheme::CredSsp),
            token,
        }) => Some((scheme, token)),
        _ => None,
    }
}

/// One handshake leg, by the engine the token belongs to (NTLM or Kerberos).
async fn handshake_leg(
    shared: &Shared,
    conn: &Connection,
    settings: &ServiceSettings,
    scheme: wsman_auth::authorization::TokenScheme,
    token: Vec<u8>,
) -> crate::negotiate::Leg {
    use crate::kerberos::Engine;
    if scheme == wsman_auth::authorization::TokenScheme::CredSsp {
        return crate::credssp::step(shared, conn, settings, token).await;
    }
    match crate::kerberos::choose(shared, conn, settings, scheme, &token) {
        Engine::Ntlm => crate::negotiate::step(shared, conn, settings, scheme, token).await,
        Engine::Kerberos { initial } => {
            crate::kerberos::step(shared, conn, settings, scheme, token, initial).await
        }
        Engine::Refuse(reason) => {
            conn.negotiate().reset();
            if shared.refusal_log.admit(conn.remote) {
                tracing::warn!(remote = %conn.remote, scheme = scheme.name(), reason, "401: authentication refused");
            }
            crate::negotiate::Leg::Refused
        }
    }
}

async fn process(
    shared: &Shared,
    conn: &Connection,
    settings: &Arc<ServiceSettings>,
    request: hyper::Request<Incoming>,
    negotiated: &mut Negotiated,
) -> Result<Answer, ServiceError> {
    let (parts, incoming) = request.into_parts();
    // 1. method and path
    if parts.method != Method::POST {
        return Err(ServiceError::MethodNotAllowed);
    }
    let path = parts.uri.path();
    let anonymous_path = path == ANONYMOUS_IDENTIFY_PATH;
    if path != &*conn.path && !anonymous_path {
        return Err(ServiceError::NotFound);
    }
    // A second Authorization header is ambiguous: we would read the first, a proxy or log
    // reader might read the last and see another identity.
    if parts
        .headers
        .get_all(hyper::header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        if shared.refusal_log.admit(conn.remote) {
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
    let sealed_request = wsman_auth::sealing::is_sealed_content_type(content_type);
    // Encrypting clients (pypsrp) open the security context with an empty POST that has no
    // Content-Type at all; Windows accepts it.
    let empty_without_type = content_type.is_empty()
        && parts
            .headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
    if !is_soap_media_type(content_type) && !sealed_request && !empty_without_type {
        return Err(ServiceError::UnsupportedMediaType);
    }
    // 3. declared size
    let limit = settings.max_envelope_bytes();
    let declared = body::check_content_length(&parts.headers, limit)?;
    let timeout = settings.body_read_timeout();
    // 4. authentication (headers only)
    let mut via_negotiate = false;
    let mut handshake_completed = false;
    if let Some((scheme, token)) = negotiate_token(&parts.headers, settings, shared) {
        match handshake_leg(shared, conn, settings, scheme, token).await {
            crate::negotiate::Leg::Continue(challenge) => {
                body::drain_limited(incoming, limit, timeout).await?;
                negotiated.challenge = Some(challenge);
                return Err(ServiceError::Unauthorized);
            }
            crate::negotiate::Leg::Authenticated { final_header, .. } => {
                negotiated.final_header = final_header;
                handshake_completed = true;
            }
            crate::negotiate::Leg::Refused => {
                body::drain_limited(incoming, limit, timeout).await?;
                return Err(ServiceError::Unauthorized);
            }
        }
    } else if parts.headers.contains_key(hyper::header::AUTHORIZATION) {
        // Any other Authorization header restarts authentication on this connection.
        conn.negotiate().reset();
    }
    let negotiate_principal = if crate::negotiate::enabled(settings)
        || crate::kerberos::enabled(shared, settings)
        || crate::credssp::enabled(settings)
    {
        conn.negotiate().principal()
    } else {
        None
    };
    let principal = match negotiate_principal {
        Some(p)
            if handshake_completed || !parts.headers.contains_key(hyper::header::AUTHORIZATION) =>
        {
            via_negotiate = true;
            p
        }
        _ => match cached_principal(&parts.headers, settings, conn) {
            Some(p) => p,
            None => match authenticate(shared, conn, &parts.headers, settings).await {
                Authenticated::Yes(p) => p,
                Authenticated::AnonymousIdentify
                    if anonymous_path || wants_anonymous_identify(&parts.headers) =>
                {
                    pace_unauthenticated(shared, conn).await;
                    let small = limit.min(ANONYMOUS_BODY_LIMIT);
                    if declared.is_some_and(|length| length > small) {
                        if shared.refusal_log.admit(conn.remote) {
                            tracing::warn!(remote = %conn.remote, user = "", limit = small, "413: unauthenticated Identify body over the anonymous limit");
                        }
                        return Err(ServiceError::PayloadTooLarge { limit: small });
                    }
                    let bytes = body::read_limited(incoming, small, declared, timeout).await?;
                    return anonymous_identify(shared, &bytes, content_type, settings, conn)
                        .map(|(reply, encoding)| Answer::Reply(reply, encoding));
                }
                Authenticated::AnonymousIdentify => {
                    pace_unauthenticated(shared, conn).await;
                    if shared.refusal_log.admit(conn.remote) {
                        tracing::warn!(remote = %conn.remote, user = "", "401: no credentials");
                    }
                    body::drain_limited(incoming, limit, timeout).await?;
                    return Err(ServiceError::Unauthorized);
                }
                Authenticated::No => {
                    body::drain_limited(incoming, limit, timeout).await?;
                    return Err(ServiceError::Unauthorized);
                }
            },
        },
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
        let result = conn.negotiate().unseal(content_type, &bytes, max_plain);
        match result {
            Ok(plain) => {
                negotiated.sealed = true;
                unsealed = plain;
                (&unsealed.plain, &unsealed.original_content_type)
            }
            Err(error) => {
                // The context cannot be trusted any more (Windows drops it too).
                conn.negotiate().reset();
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
    // 6-7. decode and parse
    let (request, encoding) = if bytes.len() <= PARSE_INLINE_LIMIT {
        decode_and_parse(bytes, content_type)?
    } else {
        let (bytes, content_type) = (bytes.to_vec(), content_type.to_owned());
        tokio::task::spawn_blocking(move || decode_and_parse(&bytes, &content_type))
            .await
            .map_err(|e| ServiceError::BadRequest {
                reason: format!("the request could not be parsed: {e}"),
            })??
    };
    // 8. Identify, then authorization
    if request.is_identify() {
        let body = conn.identify_response(settings, encoding);
        return Ok(Answer::Encoded { body, encoding });
    }
    crate::certauth::check_scope(conn, &principal, &request)?;
    let relates_to = request.message_id.clone();
    let resource_sd = shared.dispatcher.security_descriptor(&request);
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
    let caller = crate::winrs::Caller {
        user: principal.identity.name.clone(),
        linux_user: principal.identity.linux_user.clone(),
        sids: Arc::clone(&principal.sids),
        is_administrator: principal.is_administrator,
        client_ip: Some(conn.remote.ip()),
    };
    match shared
        .dispatcher
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

/// Holds a request without credentials when its address sends too many
/// ([`crate::throttle::UnauthenticatedPacing`]).
async fn pace_unauthenticated(shared: &Shared, conn: &Connection) {
    let wait = shared.unauthenticated_pacing.delay(conn.remote);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

/// The fast path of every request after the first on a connection: the Authorization value
/// is the one verified earlier (constant-time compare) and Basic is still allowed here.
fn cached_principal(
    headers: &HeaderMap,
    settings: &ServiceSettings,
    conn: &Connection,
) -> Option<Arc<Principal>> {
    let value = headers.get(hyper::header::AUTHORIZATION)?;
    if !settings.challenge_config(conn.transport).basic_allowed() {
        return None;
    }
    conn.auth().as_ref()?.principal_for(value.as_bytes())
}

enum Authenticated {
    Yes(Arc<Principal>),
    /// No credentials at all: only an anonymous Identify may proceed.
    AnonymousIdentify,
    No,
}

/// The slow path: parse the credentials and verify them (once per connection). Every refusal
/// is logged at warn with the remote address and the user name, never the password.
async fn authenticate(
    shared: &Shared,
    conn: &Connection,
    headers: &HeaderMap,
    settings: &ServiceSettings,
) -> Authenticated {
    match auth::presented(headers, settings, conn.transport) {
        Presented::Nothing => Authenticated::AnonymousIdentify,
        Presented::Certificate => {
            match crate::certauth::authenticate_request(shared, conn, settings).await {
                Some(principal) => Authenticated::Yes(principal),
                None => {
                    *conn.auth() = None;
                    Authenticated::No
                }
            }
        }
        Presented::Refused { user, why } => {
            *conn.auth() = None;
            // Refused on the headers alone (no password checked): as cheap for a client to
            // repeat as no credentials at all, so rate-limited like it.
            if shared.refusal_log.admit(conn.remote) {
                tracing::warn!(remote = %conn.remote, user = user.as_deref().unwrap_or(""), reason = %why, "401: authentication refused");
            }
            Authenticated::No
        }
        Presented::Basic { credentials } => {
            let user = credentials.user.clone();
            let throttle = &shared.login_throttle;
            throttle
                .delay_before_check(conn.remote, "Basic", &settings.access.throttle)
                .await;
            match verify(shared, credentials).await {
                Ok(principal) => {
                    throttle.record_success(conn.remote);
                    tracing::info!(remote = %conn.remote, user = %principal, "authenticated (Basic)");
                    let principal = Arc::new(principal);
                    if let Some(value) = headers.get(hyper::header::AUTHORIZATION) {
                        *conn.auth() = Some(VerifiedConnection::new(
                            value.as_bytes(),
                            Arc::clone(&principal),
                        ));
                    }
                    Authenticated::Yes(principal)
                }
                Err(reason) => {
                    *conn.auth() = None;
                    throttle.record_failure(conn.remote, "Basic", &user, &reason);
                    Authenticated::No
                }
            }
        }
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

/// Verify on the blocking pool (PAM blocks). The credentials (and with them the zeroizing
/// password) are dropped on that thread; the error says why, never with a secret.
async fn verify(shared: &Shared, credentials: Credentials) -> Result<Principal, String> {
    let Ok(_permit) = shared.password_checks.acquire().await else {
        return Err("the service is shutting down".to_owned());
    };
    let verifier = Arc::clone(&shared.verifier);
    let job = tokio::task::spawn_blocking(move || verifier.verify_basic(&credentials));
    match job.await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(format!("credential check panicked: {e}")),
    }
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
            if shared.refusal_log.admit(conn.remote) {
                tracing::warn!(remote = %conn.remote, user = "", "401: unauthenticated request that is not an Identify");
            }
            Err(ServiceError::Unauthorized)
        }
    }
}

fn decode_and_parse(bytes: &[u8], content_type: &str) -> Result<(Request, Encoding), ServiceError> {
    let charset = charset::charset_param(content_type);
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

fn wants_anonymous_identify(headers: &HeaderMap) -> bool {
    headers
        .get("WSMANIDENTIFY")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("unauthenticated"))
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

/// The Host header without its port (`[::1]:5985` -> `::1`), else the local address.
fn machine_name(host: Option<&HeaderValue>, conn: &Connection) -> String {
    match host.and_then(|h| h.to_str().ok()).map(str::trim) {
        Some(h) if !h.is_empty() => strip_port(h).to_owned(),
        _ => conn.local.ip().to_string(),
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

fn encoding_hint(content_type: Option<&HeaderValue>) -> Encoding {
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

fn base_response(status: StatusCode, body: impl Into<ResponseBody>) -> Response<ResponseBody> {
    let body = body.into();
    let length = body.len();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(hyper::header::SERVER, HeaderValue::from_static("wsmand"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// The envelope as the bytes sent in `encoding`. UTF-8 goes out as rendered: the string's
/// buffer becomes the body without a copy.
fn encode_body(xml: String, encoding: Encoding) -> Bytes {
    match encoding {
        Encoding::Utf8 => Bytes::from(xml.into_bytes()),
        other => Bytes::from(charset::encode(&xml, other)),
    }
}

fn soap_response(status: StatusCode, xml: String, encoding: Encoding) -> Response<ResponseBody> {
    encoded_soap_response(status, encode_body(xml, encoding), encoding)
}

fn encoded_soap_response(
    status: StatusCode,
    body: impl Into<ResponseBody>,
    encoding: Encoding,
) -> Response<ResponseBody> {
    let mut response = base_response(status, body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}

fn reply_response(reply: Reply, encoding: Encoding) -> Response<ResponseBody> {
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
        Reply::NoContent => {
            let mut r = base_response(StatusCode::NO_CONTENT, Bytes::new());
            r.headers_mut().remove(CONTENT_LENGTH);
            r
        }
    }
}

fn error_response(
    error: &ServiceError,
    answer: &AnswerContext,
    settings: &ServiceSettings,
    transport: Transport,
) -> Response<ResponseBody> {
    let (status, fault) = error.status_and_fault();
    let mut response = match (fault, error) {
        (Some(fault), ServiceError::Fault { relates_to, .. }) => {
            let xml = wsman_proto::response::fault_envelope(
                fault,
                &dispatch::new_message_id(),
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
    fn host_without_port() {
        assert_eq!(strip_port("server.example.com:5985"), "server.example.com");
        assert_eq!(strip_port("server"), "server");
        assert_eq!(strip_port("[::1]:5985"), "::1");
        assert_eq!(strip_port("10.0.0.1:80"), "10.0.0.1");
        assert_eq!(strip_port("fe80::1"), "fe80::1");
    }

    fn test_connection() -> Connection {
        let address = SocketAddr::from(([127, 0, 0, 1], 5985));
        Connection::new(address, address, Transport::Http, Arc::from("/wsman"))
    }

    #[test]
    fn identify_answer_is_reused_only_for_the_same_settings_and_encoding() {
        let conn = test_connection();
        let first = Arc::new(ServiceSettings {
            product_vendor: "Vendor A".into(),
            auth_basic: true,
            ..ServiceSettings::default()
        });
        let a = conn.identify_response(&first, Encoding::Utf8);
        let again = conn.identify_response(&first, Encoding::Utf8);
        assert_eq!(
            a.as_ptr(),
            again.as_ptr(),
            "same settings: the rendered answer"
        );
        let text = String::from_utf8(a.to_vec()).unwrap();
        assert!(text.contains("<wsmid:ProductVendor>Vendor A</wsmid:ProductVendor>"));
        assert!(text.contains("SecurityProfileName"));

        let utf16 = conn.identify_response(&first, Encoding::Utf16Le);
        assert_eq!(
            utf16,
            Bytes::from(charset::encode(&text, Encoding::Utf16Le)),
            "another encoding: rendered again"
        );

        // A configuration change is a new snapshot, even with equal values.
        let second = Arc::new(ServiceSettings {
            product_vendor: "Vendor B".into(),
            ..ServiceSettings::default()
        });
        let b =
            String::from_utf8(conn.identify_response(&second, Encoding::Utf8).to_vec()).unwrap();
        assert!(b.contains("<wsmid:ProductVendor>Vendor B</wsmid:ProductVendor>"));
        assert!(!b.contains("SecurityProfileName"));
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
        assert_eq!(
            r.headers().get(CONTENT_LENGTH).map(|v| v.as_bytes()),
            Some(&b"0"[..])
        );
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
