//! The connections of one client and its forks: a small pool of idle kept-alive HTTP/1.1
//! connections (plain TCP or TLS). A request takes an idle connection or opens one, and gives
//! it back only after a complete reply was read; after an error, a timeout or a cancelled
//! request the connection is dropped, so a half-read answer never reaches the next request.
//!
//! Why a pool and not one connection per client: the server checks the password on a new
//! connection's first request (argon2id, tens of milliseconds by design), so every connection
//! opened is expensive; but a Receive long poll holds its connection for up to the operation
//! timeout, and a Send or Signal meanwhile must use another one. With the pool, the forks a
//! shell uses share the connections that are idle, and each request in flight has its own.
//!
//! Why own the connections instead of a generic pooled HTTP client: connection-oriented
//! authentication schemes (Negotiate, Kerberos, CredSSP) bind their context to one TCP
//! connection, and WinRM servers expect a client to keep using it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use wsman_buffers::BufferPool;

use wsman_auth::sealing::{self, MessageSealer};

use crate::credssp::CredSspHandshake;
use crate::endpoint::{Endpoint, Scheme};
use crate::error::ClientError;
use crate::initiator::{Initiator, LegAnswer, Next};
use crate::kerberos::KerberosHandshake;
use crate::negotiate::{NegotiateAuth, NtlmHandshake};
use crate::tls;

/// The SOAP Content-Type of every plaintext request (and of the plaintext inside a sealed one).
pub(crate) const SOAP_CONTENT_TYPE: &str = "application/soap+xml;charset=UTF-8";

/// Idle connections kept per pool; more are closed when their request completes. A shell in
/// use needs about two (a Receive long poll plus Send/Signal); a few more cover concurrent
/// commands without holding many sockets (and server-side connection state) open.
pub(crate) const MAX_IDLE_CONNECTIONS: usize = 4;

/// What came back: status, the headers the client looks at, and the (bounded) body.
#[derive(Debug)]
pub(crate) struct HttpReply {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) www_authenticate: Vec<String>,
    pub(crate) body: ReplyBody,
}

mod authenticate;
mod unseal;
pub(crate) use unseal::ReplyBody;

/// The next request of a chain (the next Receive of a command's output), for
/// [`Transport::post_then`].
pub(crate) struct FollowUp<'a> {
    /// The plaintext body, and its content type.
    pub(crate) body: &'a Bytes,
    pub(crate) content_type: &'a str,
    pub(crate) headers: &'a [(HeaderName, HeaderValue)],
    /// Sent early only when the sealed answer is at least this many bytes.
    pub(crate) min_sealed_reply: usize,
}

/// An answer, decrypted, and the next request of its chain when it went out before the
/// decryption.
pub(crate) type ChainedReply = (HttpReply, Option<EarlyRequest>);

/// The answer to a request sent on a sealed connection before the previous answer was
/// unsealed, so that the server seals this answer while the client unseals the previous
/// one: the connection (its security context and order of exchanges) travels with it.
/// Dropped unread, the connection is closed, never given back with an answer pending.
pub(crate) struct EarlyRequest {
    connection: Connection,
    response: ResponseFuture,
}

impl std::fmt::Debug for EarlyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EarlyRequest").finish_non_exhaustive()
    }
}

type ResponseFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<hyper::Response<hyper::body::Incoming>, hyper::Error>,
            > + Send,
    >,
>;

struct Connection {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
    /// The pool generation it was opened in ([`Transport::disconnect`] starts a new one).
    generation: u64,
    /// The server's certificate (DER) on a TLS connection: the channel binding source.
    peer_certificate: Option<Vec<u8>>,
    /// The connection's security context once a connection-oriented scheme completed.
    security: Security,
}

/// What a connection-oriented scheme left on the connection.
enum Security {
    /// Nothing yet (or a per-request scheme such as Basic).
    None,
    /// Negotiate completed; the sealer is kept when bodies are encrypted (plain HTTP).
    Negotiated(Option<Box<dyn MessageSealer>>),
}

/// How the connections of a pool authenticate.
#[derive(Clone, Debug, Default)]
pub(crate) enum ConnectionAuth {
    /// Per-request headers only (none, Basic, certificate): nothing to do per connection.
    #[default]
    PerRequest,
    /// A Negotiate handshake on each new connection; bodies sealed over plain HTTP.
    Negotiate(NegotiateAuth),
    /// A Kerberos handshake on each new connection; bodies sealed over plain HTTP.
    Kerberos(crate::kerberos::KerberosAuth),
    /// A CredSSP handshake on each new connection; bodies sealed over plain HTTP.
    CredSsp(crate::credssp::CredSspAuth),
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// What the client's settings bound of its connections (see `ClientOptions`).
pub(crate) struct Limits {
    pub(crate) max_response_bytes: usize,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) max_read_buffer: Option<usize>,
    /// A pool shared with other clients; `None`: one of its own.
    pub(crate) bodies: Option<Arc<BufferPool>>,
}

/// The pool of one client and its forks.
pub(crate) struct Transport {
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    auth: ConnectionAuth,
    user_agent: HeaderValue,
    max_response_bytes: usize,
    /// Longest wait for a new connection (TCP connect, TLS and HTTP handshakes); `None`: the
    /// operating system's own limit.
    connect_timeout: Option<Duration>,
    /// Idle connections, most recently used last.
    idle: Mutex<Vec<Connection>>,
    generation: AtomicU64,
    /// Buffers of large reply bodies (a Receive answer is up to MaxEnvelopeSize, 500 KB by
    /// default, one after another), used again for the next ones: fresh ones were the
    /// largest cost on the client's side (see [`wsman_buffers`]).
    pub(crate) bodies: Arc<BufferPool>,
    /// The most a kept connection's read buffer grows to; `None`: hyper's (about 400 KiB).
    max_read_buffer: Option<usize>,
}

/// Bodies declared at least this large are read into a pooled buffer; smaller ones into a
/// buffer of their own size.
const POOLED_BODY_MIN: usize = 64 * 1024;
/// Free buffers kept per pool: a Receive answer being decoded while the next one arrives,
/// and one spare.
const POOLED_BODIES: usize = 3;
/// Larger buffers are freed rather than kept, so the pool holds at most a few MiB.
const POOLED_BODY_MAX: usize = 2 * 1024 * 1024;

/// The pool of reply bodies: [`POOLED_BODIES`] buffers of at most [`POOLED_BODY_MAX`] bytes.
fn body_pool() -> Arc<BufferPool> {
    Arc::new(BufferPool::new(POOLED_BODIES, 0, POOLED_BODY_MAX))
}

impl Transport {
    pub(crate) fn new(
        endpoint: Endpoint,
        tls: Option<Arc<rustls::ClientConfig>>,
        auth: ConnectionAuth,
        user_agent: &str,
        limits: Limits,
    ) -> Result<Self, ClientError> {
        let user_agent = HeaderValue::from_str(user_agent).map_err(|_| {
            ClientError::configuration("the User-Agent is not a valid header value")
        })?;
        if endpoint.scheme == Scheme::Https && tls.is_none() {
            return Err(ClientError::configuration(
                "HTTPS endpoint without TLS configuration",
            ));
        }
        Ok(Self {
            endpoint,
            tls,
            auth,
            user_agent,
            max_response_bytes: limits.max_response_bytes,
            connect_timeout: limits.connect_timeout,
            // hyper's own floor is 8 KiB.
            max_read_buffer: limits.max_read_buffer.map(|n| n.max(8192)),
            idle: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            bodies: limits.bodies.unwrap_or_else(body_pool),
        })
    }

    /// The TLS configuration of an HTTPS endpoint (shared, not copied).
    pub(crate) fn tls(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.tls.clone()
    }

    /// Close every idle connection; requests in flight finish on theirs, which are then
    /// closed too instead of going back to the pool.
    pub(crate) fn disconnect(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let closed = std::mem::take(&mut *self.lock_idle());
        drop(closed);
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle connection that is still open, if any.
    async fn take_idle(&self) -> Option<Connection> {
        if self.lock_idle().is_empty() {
            return None;
        }
        // Give the connection tasks a chance to see a close the server sent while they were
        // idle (keep-alive timeout): then we skip them instead of writing into them.
        tokio::task::yield_now().await;
        loop {
            let mut connection = self.lock_idle().pop()?;
            if connection.sender.is_closed() {
                continue;
            }
            if connection.sender.ready().await.is_ok() {
                return Some(connection);
            }
        }
    }

    /// Back to the pool after a complete reply, unless the pool is full or was emptied by
    /// [`Transport::disconnect`] since the connection was opened.
    fn give_back(&self, connection: Connection) {
        if connection.generation != self.generation.load(Ordering::Acquire) {
            return;
        }
        let mut idle = self.lock_idle();
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(connection);
        }
    }

    fn io_error(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            target: self.endpoint.authority(),
            source,
        }
    }

    /// A new connection, within the connect timeout when one is set: an unreachable host
    /// fails after that time rather than the system's (minutes for a silent one).
    async fn connect(&self) -> Result<Connection, ClientError> {
        let Some(limit) = self.connect_timeout else {
            return self.connect_unbounded().await;
        };
        match tokio::time::timeout(limit, self.connect_unbounded()).await {
            Ok(connected) => connected,
            Err(_) => Err(self.io_error(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection within {} ms", limit.as_millis()),
            ))),
        }
    }

    async fn connect_unbounded(&self) -> Result<Connection, ClientError> {
        let generation = self.generation.load(Ordering::Acquire);
        let tcp = TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port))
            .await
            .map_err(|e| self.io_error(e))?;
        let _ = tcp.set_nodelay(true);
        let (sender, driver, peer_certificate) = match &self.tls {
            Some(config) if self.endpoint.scheme == Scheme::Https => {
                let name = ServerName::try_from(self.endpoint.host.clone()).map_err(|_| {
                    ClientError::InvalidEndpoint {
                        input: self.endpoint.host.clone(),
                        reason: "not a valid TLS server name".to_owned(),
                    }
                })?;
                let stream = TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| self.tls_error(e))?;
                let peer_certificate = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|certificate| certificate.to_vec());
                let (sender, driver) = handshake(stream, self.max_read_buffer)
                    .await
                    .map_err(|e| self.hyper_error(e))?;
                (sender, driver, peer_certificate)
            }
            _ => {
                let (sender, driver) = handshake(tcp, self.max_read_buffer)
                    .await
                    .map_err(|e| self.hyper_error(e))?;
                (sender, driver, None)
            }
        };
        Ok(Connection {
            sender,
            driver,
            generation,
            peer_certificate,
            security: Security::None,
        })
    }

    fn tls_error(&self, e: std::io::Error) -> ClientError {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls_err) => ClientError::Tls {
                message: tls_err.to_string(),
                kind: tls::classify(tls_err),
            },
            None => self.io_error(e),
        }
    }

    fn hyper_error(&self, e: hyper::Error) -> ClientError {
        self.io_error(std::io::Error::other(e))
    }

    fn request(
        &self,
        content_type: &str,
        body: &Bytes,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<hyper::Request<Full<Bytes>>, ClientError> {
        let mut builder = hyper::Request::post(self.endpoint.path.as_str())
            .header(hyper::header::HOST, self.endpoint.authority())
            .header(hyper::header::CONNECTION, "Keep-Alive")
            .header(hyper::header::CONTENT_TYPE, content_type)
            .header(hyper::header::USER_AGENT, self.user_agent.clone())
            .header(hyper::header::CONTENT_LENGTH, body.len());
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(body.clone()))
            .map_err(|e| ClientError::configuration(format!("cannot build the HTTP request: {e}")))
    }

    /// POST `body`, encoded as `content_type` says (SOAP, or an event delivery in UTF-16), to
    /// the endpoint on an idle connection of the pool, or a new one (which first runs the
    /// Negotiate handshake when that is the scheme). A kept connection the server closed before
    /// the request was written (idle keep-alive timeout) is discarded and the request sent on
    /// another; a new connection is tried once. On a sealed connection the body is encrypted
    /// for that connection (`content_type` is then the type inside) and the answer decrypted.
    pub(crate) async fn post_as(
        &self,
        body: Bytes,
        content_type: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<HttpReply, ClientError> {
        let (reply, _) = self.post_then(body, content_type, headers, None).await?;
        Ok(reply)
    }

    /// [`Transport::post_as`], and on a sealed connection whose sealed answer is at least
    /// [`FollowUp::min_sealed_reply`] long, `follow_up` sealed and sent on the same connection
    /// before that answer is unsealed (see [`EarlyRequest`]); its answer is read with
    /// [`Transport::finish_early`].
    pub(crate) async fn post_then(
        &self,
        body: Bytes,
        content_type: &str,
        headers: &[(HeaderName, HeaderValue)],
        follow_up: Option<FollowUp<'_>>,
    ) -> Result<ChainedReply, ClientError> {
        // Each stale idle connection costs one attempt; then one fresh connection.
        let mut attempts_left = MAX_IDLE_CONNECTIONS + 2;
        let mut fresh_failed = false;
        let mut reauthenticated = false;
        loop {
            attempts_left -= 1;
            let (mut connection, fresh) = match self.take_idle().await {
                Some(connection) => (connection, false),
                None => (self.connect().await?, true),
            };
            if matches!(connection.security, Security::None) {
                self.authenticate(&mut connection).await?;
            }
            // Sealed per attempt: each wrap consumes a sequence number of that connection.
            let request = self.outgoing(&mut connection, content_type, &body, headers)?;
            match connection.sender.try_send_request(request).await {
                Ok(response) => {
                    let (reply, reusable) = self.read_reply(response).await?;
                    // A kept connection whose context the server dropped (it answers 401):
                    // authenticate again on a new connection, once, as Windows' client does.
                    let context_lost = reply.status == 401
                        && !fresh
                        && matches!(connection.security, Security::Negotiated(_));
                    if context_lost && !reauthenticated {
                        reauthenticated = true;
                        drop(connection);
                        continue;
                    }
                    return self
                        .answer_then(connection, reply, reusable, follow_up)
                        .await;
                }
                Err(mut e) => {
                    let unsent = e.take_message().is_some();
                    let error = e.into_error();
                    drop(connection);
                    // Send again when the request never left, or when a kept connection was
                    // closed by the server without an answer (it closed it idle, before our
                    // request arrived). After a new connection failed, one more try at most.
                    let idle_close = !fresh && error.is_incomplete_message();
                    let may_retry = attempts_left > 0 && !(fresh && fresh_failed);
                    fresh_failed |= fresh;
                    if !(may_retry && (unsent || idle_close)) {
                        return Err(self.hyper_error(error));
                    }
                }
            }
        }
    }

    /// The answer read on `connection`, decrypted; before the decryption, `follow_up` is
    /// sent on the same connection when the answer is worth it (see
    /// [`Transport::worth_sending_early`]), and the connection travels with it. Otherwise the
    /// connection goes back to the pool when the exchange left it clean.
    async fn answer_then(
        &self,
        mut connection: Connection,
        reply: HttpReply,
        reusable: bool,
        follow_up: Option<FollowUp<'_>>,
    ) -> Result<ChainedReply, ClientError> {
        let Some(next) = follow_up
            .filter(|next| reusable && Self::worth_sending_early(&connection, &reply, next))
        else {
            return Ok((self.incoming(connection, reply, reusable)?, None));
        };
        let response = self.send_early(&mut connection, &next).await;
        // The connection task that writes the request was woken into this worker's LIFO
        // slot, which other workers cannot steal from: without the yield it would write the
        // request only after the unsealing below, and the server would wait for it all along.
        tokio::task::yield_now().await;
        // The server seals its next answer while this one is unsealed. When the connection
        // could not take the request it is not clean: dropped.
        let (reply, _) = self.open(&mut connection, reply)?;
        let early = response.map(|response| EarlyRequest {
            connection,
            response,
        });
        Ok((reply, early))
    }

    /// The request for `body` on `connection`: sealed when the connection seals.
    fn outgoing(
        &self,
        connection: &mut Connection,
        content_type: &str,
        body: &Bytes,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<hyper::Request<Full<Bytes>>, ClientError> {
        match &mut connection.security {
            Security::Negotiated(Some(sealer)) => {
                let sealed =
                    sealing::seal_body(sealer.as_mut(), content_type, body).map_err(|e| {
                        ClientError::protocol(format!("cannot encrypt the request: {e}"))
                    })?;
                self.request(&sealed.content_type, &Bytes::from(sealed.body), headers)
            }
            _ => self.request(content_type, body, headers),
        }
    }

    /// The reply as the caller sees it (decrypted), and the connection back to the pool when
    /// the exchange left it clean.
    fn incoming(
        &self,
        mut connection: Connection,
        reply: HttpReply,
        reusable: bool,
    ) -> Result<HttpReply, ClientError> {
        let (reply, clean) = self.open(&mut connection, reply)?;
        // Only now is the exchange complete and the connection clean for the next request.
        if clean && reusable {
            self.give_back(connection);
        }
        Ok(reply)
    }

    /// Whether `reply` is a sealed answer large enough that the next request of its chain goes
    /// out before it is unsealed. The rule: a server fills an answer (up to the client's
    /// MaxEnvelopeSize) only while it has output waiting, so a large answer is rarely the
    /// last one; a short answer (a trickle of output, the end of it, a small command's only
    /// answer) is unsealed and read first, so the usual final answer costs no extra request.
    /// A large answer that is the last after all costs one request that is answered at once
    /// (see `shell.rs`).
    fn worth_sending_early(connection: &Connection, reply: &HttpReply, next: &FollowUp) -> bool {
        matches!(connection.security, Security::Negotiated(Some(_)))
            && reply.status == 200
            && reply.body.len() >= next.min_sealed_reply
            && reply
                .content_type
                .as_deref()
                .is_some_and(sealing::is_sealed_content_type)
    }

    /// Seals `next` on `connection` and hands it to the connection task, which writes it
    /// while the caller unseals the previous answer. Sealing the request before unsealing the
    /// answer is legal: NTLM, Kerberos and CredSSP keep the sequence numbers and keys of each
    /// direction apart, and requests and answers each stay in their order on the connection.
    /// `None` when the connection does not take another request.
    async fn send_early(
        &self,
        connection: &mut Connection,
        next: &FollowUp<'_>,
    ) -> Option<ResponseFuture> {
        // The answer was read; the connection task may not have seen the exchange end yet.
        connection.sender.ready().await.ok()?;
        let request = self
            .outgoing(connection, next.content_type, next.body, next.headers)
            .ok()?;
        Some(Box::pin(connection.sender.send_request(request)))
    }

    /// The answer to an [`EarlyRequest`], decrypted, with `follow_up` sent early in turn
    /// when that answer is worth it (as [`Transport::post_then`] does), so that every large
    /// answer of a chain overlaps with the server's sealing of the next, not every other one.
    /// Otherwise the connection goes back to the pool when the exchange left it clean. An
    /// error (the connection closed, the request never sent) is an I/O error, so a caller
    /// that sends the request again loses nothing.
    pub(crate) async fn finish_early(
        &self,
        early: EarlyRequest,
        follow_up: Option<FollowUp<'_>>,
    ) -> Result<ChainedReply, ClientError> {
        let EarlyRequest {
            connection,
            response,
        } = early;
        let response = response.await.map_err(|e| self.hyper_error(e))?;
        let (reply, reusable) = self.read_reply(response).await?;
        self.answer_then(connection, reply, reusable, follow_up)
            .await
    }

    /// The reply decrypted on `connection`, and whether the connection is clean for another
    /// request (false after a 401 or an empty error answer on a sealed connection: the server
    /// dropped the context).
    fn open(
        &self,
        connection: &mut Connection,
        mut reply: HttpReply,
    ) -> Result<(HttpReply, bool), ClientError> {
        if let Security::Negotiated(sealer) = &mut connection.security {
            if reply.status == 401 {
                // The server dropped the context: this connection cannot be used again.
                return Ok((reply, false));
            }
            let sealed_reply = reply
                .content_type
                .as_deref()
                .is_some_and(sealing::is_sealed_content_type);
            match sealer {
                Some(sealer) if sealed_reply => {
                    let content_type = reply.content_type.as_deref().unwrap_or_default();
                    let (labels, body) = if sealer.decrypts_in_place() {
                        self.unseal_in_place(sealer.as_mut(), content_type, &mut reply.body)?
                    } else {
                        self.unseal_into_pooled(sealer.as_mut(), content_type, &reply.body)?
                    };
                    reply.body = ReplyBody::Shared(body);
                    reply.content_type = Some(labels.original_content_type);
                }
                Some(_) if !reply.body.is_empty() => {
                    return Err(ClientError::protocol(
                        "the server answered an encrypted request without encryption",
                    ));
                }
                // An empty error answer (400: the server could not decrypt, 413, ...): the
                // server drops the context then, so the connection is not used again.
                Some(_) => return Ok((reply, false)),
                None if sealed_reply => {
                    return Err(ClientError::protocol(
                        "the server encrypted a response on a connection that does not seal",
                    ));
                }
                _ => {}
            }
        }
        Ok((reply, true))
    }

    /// Status, headers and the bounded body of a response, and whether the connection may
    /// carry another request.
    async fn read_reply(
        &self,
        response: hyper::Response<hyper::body::Incoming>,
    ) -> Result<(HttpReply, bool), ClientError> {
        let status = response.status().as_u16();
        let header_text = |name: HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header_text(hyper::header::CONTENT_TYPE);
        let closes =
            header_text(hyper::header::CONNECTION).is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let www_authenticate = response
            .headers()
            .get_all(hyper::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let declared =
            header_text(hyper::header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_response_bytes as u64) {
            // The body was not read: the connection is dropped, never reused.
            return Err(self.too_large());
        }
        let sealed = content_type
            .as_deref()
            .is_some_and(sealing::is_sealed_content_type);
        let body = self
            .read_body(response.into_body(), declared, sealed)
            .await?;
        let reply = HttpReply {
            status,
            content_type,
            www_authenticate,
            body,
        };
        Ok((reply, !closes))
    }

    /// The body, at most `max_response_bytes`. Each frame is copied out as it arrives and
    /// then dropped, so that hyper can read the next one into the same read buffer; a large
    /// declared body goes into a pooled buffer (see [`Transport::bodies`]).
    async fn read_body(
        &self,
        mut body: hyper::body::Incoming,
        declared: Option<u64>,
        sealed: bool,
    ) -> Result<ReplyBody, ClientError> {
        let declared = declared.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let pooled = declared >= POOLED_BODY_MIN;
        let mut buffer = if pooled {
            self.bodies.take(declared)
        } else {
            Vec::with_capacity(declared)
        };
        let mut result = Ok(());
        while let Some(frame) = body.frame().await {
            let data = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers carry nothing we use
                },
                Err(e) => {
                    result = Err(self.io_error(std::io::Error::other(e)));
                    break;
                }
            };
            if buffer.len() + data.len() > self.max_response_bytes {
                result = Err(self.too_large());
                break;
            }
            buffer.extend_from_slice(&data);
        }
        match (result, pooled) {
            (Err(e), true) => {
                self.bodies.give_back(buffer);
                Err(e)
            }
            (Err(e), false) => Err(e),
            // A sealed answer stays writable until it is decrypted (see `open`).
            (Ok(()), true) if sealed => Ok(ReplyBody::Pooled(buffer)),
            (Ok(()), true) => Ok(ReplyBody::Shared(self.bodies.lend(buffer))),
            (Ok(()), false) => Ok(ReplyBody::Shared(Bytes::from(buffer))),
        }
    }

    fn too_large(&self) -> ClientError {
        ClientError::protocol(format!(
            "the response is larger than the {} bytes this client accepts",
            self.max_response_bytes
        ))
    }
}

type Handshake = (SendRequest<Full<Bytes>>, JoinHandle<()>);

async fn handshake<S>(stream: S, max_read_buffer: Option<usize>) -> Result<Handshake, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::client::conn::http1::Builder::new();
    if let Some(max) = max_read_buffer {
        builder.max_buf_size(max);
    }
    let (sender, connection) = builder.handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(async move {
        // The connection ends when the server closes it or the sender is dropped; either way
        // the next request notices through `is_closed` and reconnects.
        let _ = connection.await;
    });
    Ok((sender, driver))
}

#[cfg(test)]
mod tests;
