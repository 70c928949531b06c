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

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use crate::endpoint::{Endpoint, Scheme};
use crate::error::ClientError;
use crate::tls;

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
    pub(crate) body: Bytes,
}

struct Connection {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
    /// The pool generation it was opened in ([`Transport::disconnect`] starts a new one).
    generation: u64,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// The pool of one client and its forks.
pub(crate) struct Transport {
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    user_agent: HeaderValue,
    max_response_bytes: usize,
    /// Idle connections, most recently used last.
    idle: Mutex<Vec<Connection>>,
    generation: AtomicU64,
}

impl Transport {
    pub(crate) fn new(
        endpoint: Endpoint,
        tls: Option<Arc<rustls::ClientConfig>>,
        user_agent: &str,
        max_response_bytes: usize,
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
            user_agent,
            max_response_bytes,
            idle: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
        })
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

    async fn connect(&self) -> Result<Connection, ClientError> {
        let generation = self.generation.load(Ordering::Acquire);
        let tcp = TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port))
            .await
            .map_err(|e| self.io_error(e))?;
        let _ = tcp.set_nodelay(true);
        let (sender, driver) = match &self.tls {
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
                handshake(stream).await.map_err(|e| self.hyper_error(e))?
            }
            _ => handshake(tcp).await.map_err(|e| self.hyper_error(e))?,
        };
        Ok(Connection {
            sender,
            driver,
            generation,
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
        body: &Bytes,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<hyper::Request<Full<Bytes>>, ClientError> {
        let mut builder = hyper::Request::post(self.endpoint.path.as_str())
            .header(hyper::header::HOST, self.endpoint.authority())
            .header(hyper::header::CONNECTION, "Keep-Alive")
            .header(
                hyper::header::CONTENT_TYPE,
                "application/soap+xml;charset=UTF-8",
            )
            .header(hyper::header::USER_AGENT, self.user_agent.clone())
            .header(hyper::header::CONTENT_LENGTH, body.len());
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(body.clone()))
            .map_err(|e| ClientError::configuration(format!("cannot build the HTTP request: {e}")))
    }

    /// POST `body` to the endpoint on an idle connection of the pool, or a new one. A kept
    /// connection the server closed before the request was written (idle keep-alive timeout)
    /// is discarded and the request sent on another; a new connection is tried once.
    pub(crate) async fn post(
        &self,
        body: Bytes,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<HttpReply, ClientError> {
        let mut request = self.request(&body, headers)?;
        // Each stale idle connection costs one attempt; then one fresh connection.
        let mut attempts_left = MAX_IDLE_CONNECTIONS + 2;
        let mut fresh_failed = false;
        let (connection, response) = loop {
            attempts_left -= 1;
            let (mut connection, fresh) = match self.take_idle().await {
                Some(connection) => (connection, false),
                None => (self.connect().await?, true),
            };
            match connection.sender.try_send_request(request).await {
                Ok(response) => break (connection, response),
                Err(mut e) => {
                    let unsent = e.take_message();
                    let error = e.into_error();
                    drop(connection);
                    // Send again when the request never left, or when a kept connection was
                    // closed by the server without an answer (it closed it idle, before our
                    // request arrived). After a new connection failed, one more try at most.
                    let idle_close = !fresh && error.is_incomplete_message();
                    let may_retry = attempts_left > 0 && !(fresh && fresh_failed);
                    fresh_failed |= fresh;
                    match unsent {
                        Some(r) if may_retry => request = r,
                        None if may_retry && idle_close => {
                            request = self.request(&body, headers)?
                        }
                        _ => return Err(self.hyper_error(error)),
                    }
                }
            }
        };
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
        let body = match Limited::new(response.into_body(), self.max_response_bytes)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                if e.is::<http_body_util::LengthLimitError>() {
                    return Err(self.too_large());
                }
                return Err(self.io_error(std::io::Error::other(e)));
            }
        };
        // Only now is the exchange complete and the connection clean for the next request.
        if !closes {
            self.give_back(connection);
        }
        Ok(HttpReply {
            status,
            content_type,
            www_authenticate,
            body,
        })
    }

    fn too_large(&self) -> ClientError {
        ClientError::protocol(format!(
            "the response is larger than the {} bytes this client accepts",
            self.max_response_bytes
        ))
    }
}

type Handshake = (SendRequest<Full<Bytes>>, JoinHandle<()>);

async fn handshake<S>(stream: S) -> Result<Handshake, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(async move {
        // The connection ends when the server closes it or the sender is dropped; either way
        // the next request notices through `is_closed` and reconnects.
        let _ = connection.await;
    });
    Ok((sender, driver))
}
