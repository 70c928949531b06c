//! The HTTP/1.1 client of the HTTP output: hyper's connection API over plain TCP or rustls,
//! kept-alive connections reused, every exchange within a deadline and every answer read
//! within a byte bound.
//!
//! Why hyper on a runtime of its own, waited on from the blocking pool: [`Output::write`] is a
//! blocking call (a delivery runs on tokio's blocking pool); hyper is the HTTP implementation
//! the workspace already has. Its futures run on one small runtime the HTTP outputs share,
//! started at their first request, and the writing thread waits on a channel for the answer.
//! That works from any thread (a blocking-pool thread, a test's thread), unlike entering the
//! caller's runtime.
//!
//! [`Output::write`]: crate::Output::write

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;

/// Most bytes of an answer read (its body; headers are bounded by hyper): a bulk answer for
/// a large batch is a few hundred bytes per event.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Kept-alive connections held per output; more are closed when their exchange ends.
const MAX_IDLE_CONNECTIONS: usize = 8;

/// Why an exchange did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot start the HTTP outputs' runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("no connection to {address} within {timeout_ms} ms")]
    ConnectTimeout { address: String, timeout_ms: u128 },
    #[error("TLS handshake with {address}: {source}")]
    Tls {
        address: String,
        source: std::io::Error,
    },
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("bad request: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("no complete answer within {timeout_ms} ms")]
    Timeout { timeout_ms: u128 },
    #[error("an answer larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("the exchange was dropped")]
    Dropped,
}

/// Where requests go: the address to connect to, and TLS with the name the server's
/// certificate must carry.
pub struct Target {
    pub host: String,
    pub port: u16,
    /// `Host` header value (host, and port when not the scheme's default).
    pub authority: String,
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

/// What came back: the status and the body (at most [`MAX_RESPONSE_BYTES`]).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// One request: method, path and query, headers (credentials marked sensitive) and body.
pub struct Exchange {
    pub method: Method,
    pub path_and_query: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// The runtime every HTTP output's connections run on (one worker: the work is waiting).
fn runtime() -> Result<&'static tokio::runtime::Runtime, HttpError> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let made = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("wec-http-output")
        .enable_all()
        .build()
        .map_err(HttpError::Runtime)?;
    // Two first requests at once may both build one; the loser is dropped here, on a thread
    // outside any runtime.
    Ok(RUNTIME.get_or_init(|| made))
}

/// Kept-alive connections to one target.
pub struct Client {
    target: Arc<Target>,
    idle: Arc<Mutex<Vec<SendRequest<Full<Bytes>>>>>,
    connect_timeout: Duration,
}

impl Client {
    pub fn new(target: Target, connect_timeout: Duration) -> Client {
        Client {
            target: Arc::new(target),
            idle: Arc::new(Mutex::new(Vec::new())),
            connect_timeout,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Send `exchange` and read its whole answer within `timeout`; blocks the calling thread
    /// (never call it on a runtime's worker). A connection whose exchange failed or timed out
    /// is dropped, never reused.
    pub fn send(&self, exchange: Exchange, timeout: Duration) -> Result<Answer, HttpError> {
        let runtime = runtime()?;
        let target = Arc::clone(&self.target);
        let idle = Arc::clone(&self.idle);
        let connect_timeout = self.connect_timeout;
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let exchanged = tokio::time::timeout(
                timeout,
                exchange_on(&target, &idle, connect_timeout, exchange),
            )
            .await
            .unwrap_or(Err(HttpError::Timeout {
                timeout_ms: timeout.as_millis(),
            }));
            let _ = done.send(exchanged);
        });
        wait.recv().unwrap_or(Err(HttpError::Dropped))
    }
}

async fn exchange_on(
    target: &Target,
    idle: &Mutex<Vec<SendRequest<Full<Bytes>>>>,
    connect_timeout: Duration,
    exchange: Exchange,
) -> Result<Answer, HttpError> {
    let mut sender = match take_idle(idle).await {
        Some(sender) => sender,
        None => connect(target, connect_timeout).await?,
    };
    let mut request = Request::builder()
        .method(exchange.method)
        .uri(exchange.path_and_query)
        .header(hyper::header::HOST, target.authority.as_str());
    for (name, value) in exchange.headers {
        request = request.header(name, value);
    }
    let request = request.body(Full::new(exchange.body))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    // Bound before buffering: a declared length past the bound is refused unread.
    let declared = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
        return Err(HttpError::TooLarge);
    }
    let mut body = response.into_body();
    let mut buffer = Vec::with_capacity(declared.map_or(1024, |n| n as usize));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if buffer.len() + data.len() > MAX_RESPONSE_BYTES {
                return Err(HttpError::TooLarge);
            }
            buffer.extend_from_slice(&data);
        }
    }
    let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
    if idle.len() < MAX_IDLE_CONNECTIONS && !sender.is_closed() {
        idle.push(sender);
    }
    Ok(Answer {
        status,
        body: Bytes::from(buffer),
    })
}

/// A kept-alive connection still open and ready for a request, if one is idle.
async fn take_idle(
    idle: &Mutex<Vec<SendRequest<Full<Bytes>>>>,
) -> Option<SendRequest<Full<Bytes>>> {
    loop {
        let mut sender = idle.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
        if !sender.is_closed() && sender.ready().await.is_ok() {
            return Some(sender);
        }
    }
}

async fn connect(
    target: &Target,
    connect_timeout: Duration,
) -> Result<SendRequest<Full<Bytes>>, HttpError> {
    let address = format!("{}:{}", target.host, target.port);
    let socket = tokio::time::timeout(
        connect_timeout,
        TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await
    .map_err(|_| HttpError::ConnectTimeout {
        address: address.clone(),
        timeout_ms: connect_timeout.as_millis(),
    })?
    .map_err(|source| HttpError::Connect {
        address: address.clone(),
        source,
    })?;
    let _ = socket.set_nodelay(true);
    match &target.tls {
        None => handshake(socket).await,
        Some((config, name)) => {
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                .connect(name.clone(), socket)
                .await
                .map_err(|source| HttpError::Tls { address, source })?;
            handshake(tls).await
        }
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, HttpError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the server closes the connection or its last sender is dropped.
        let _ = connection.await;
    });
    Ok(sender)
}
