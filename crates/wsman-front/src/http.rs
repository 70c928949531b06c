//! A connection from its TLS handshake to its end: the handshake within
//! [`TLS_HANDSHAKE_TIMEOUT`], then HTTP/1.1 with keep-alive and a bounded request head (its
//! bytes, its header lines, the time it may take; over a bound hyper answers 431, or the
//! service's page does, [`crate::head`]), upgrades (a WebSocket) allowed, and a graceful end
//! when the service stops: the request in flight is finished.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::HttpService;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::head::{HeadGuard, TooLarge};

/// Longest time a client may take to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The bounds of a request head, each service's own.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    /// Longest wait for a request head, the first and each one after: hyper's header read
    /// timeout runs from the end of the last response, so it is also the idle limit of a
    /// kept-alive connection.
    pub read_timeout: std::time::Duration,
    /// The connection's read buffer, and so the largest head (past it, hyper's 431).
    pub max_bytes: usize,
    /// Most header lines (past them, hyper's 431); `None`: hyper's 100.
    pub max_headers: Option<usize>,
    /// A head too large answered with the service's page, below `max_bytes`.
    pub too_large: Option<TooLarge>,
}

/// The client certificate chain a TLS client presented, if any.
pub type PeerCertificates = Option<Vec<CertificateDer<'static>>>;

/// What a connection is read and written through: TCP, or TLS over it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Serves `stream` until it ends or `stop` turns true: over TLS when `tls` is given (the
/// handshake bounded in time; a failure logged at debug), with `limits` on each request head,
/// each request answered by the service `make_service` builds from the client certificates.
pub async fn serve<S>(
    stream: TcpStream,
    remote: SocketAddr,
    tls: Option<&TlsAcceptor>,
    limits: HeadLimits,
    mut stop: watch::Receiver<bool>,
    make_service: impl FnOnce(PeerCertificates) -> S,
) where
    S: HttpService<Incoming> + Send + 'static,
    S::Future: Send,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let _ = stream.set_nodelay(true);
    let (io, peer): (Box<dyn Io>, PeerCertificates) = match tls {
        None => (Box::new(stream), None),
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let peer = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect());
                    (Box::new(tls), peer)
                }
                Ok(Err(error)) => return tracing::debug!(%remote, %error, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%remote, "TLS handshake timed out"),
            }
        }
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(limits.read_timeout)
        .max_buf_size(limits.max_bytes);
    if let Some(max_headers) = limits.max_headers {
        builder.max_headers(max_headers);
    }
    let io = TokioIo::new(HeadGuard::new(io, limits.too_large));
    // Upgrades: the console's WebSockets take the connection over after their 101.
    let connection = builder
        .serve_connection(io, make_service(peer))
        .with_upgrades();
    tokio::pin!(connection);
    if *stop.borrow() {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%remote, %error, "connection ended with an error");
                }
                break;
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.as_mut().await;
                    break;
                }
            }
        }
    }
}
