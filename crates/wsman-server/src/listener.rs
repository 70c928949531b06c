//! Accepting connections: the connection-level guards, then hyper on each connection.
//!
//! Order per connection: (a) address filter: a connection that arrived on a local address
//! outside Service/IPv4Filter / IPv6Filter is closed at once, before one byte is read (and
//! before any TLS handshake), logged at a bounded rate; (b) connection limit
//! (Service/MaxConnections, counted across all listeners; an extra connection gets HTTP 503,
//! over HTTPS inside a TLS session, and is closed, the others are unaffected), (c) TLS handshake bounded by
//! [`TLS_HANDSHAKE_TIMEOUT`] on HTTPS listeners, (d) hyper's HTTP/1.1 with keep-alive and a
//! header read timeout, then the request pipeline of [`crate::pipeline`]. Each connection
//! owns its [`Connection`] state.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::connection::{Connection, Shared};
use crate::pipeline;
use crate::settings::Transport;

/// Longest time a client may take to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the connection's read buffer, and so on the size of the request headers.
const MAX_HEADER_BUFFER: usize = 64 * 1024;
/// Most refused connections being answered with 503 at once (each waits up to
/// [`REFUSAL_READ_WAIT`] for the request, and over TLS first does a handshake). Beyond, an
/// HTTP connection still gets the 503, written at once without reading the request (the
/// client may then see a reset instead if its request arrives after the close); an HTTPS one
/// is closed, as there is no TLS session to answer in.
const MAX_REFUSALS_IN_FLIGHT: usize = 512;
/// How long a refusal waits for the request before answering, so that closing does not
/// reset the connection before the client has read the 503.
const REFUSAL_READ_WAIT: Duration = Duration::from_millis(500);
/// Longest time a refusal may take in all, TLS handshake included.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(3);
const RESPONSE_503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nServer: wsmand\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Counts open connections across all listeners.
#[derive(Default)]
pub struct ConnectionCounter {
    open: AtomicUsize,
    refusing: AtomicUsize,
}

/// Held while a connection is open.
pub struct ConnectionPermit {
    counter: Arc<ConnectionCounter>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.counter.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionCounter {
    /// A permit if fewer than `limit` connections are open.
    pub fn try_open(self: &Arc<Self>, limit: usize) -> Option<ConnectionPermit> {
        let mut current = self.open.load(Ordering::Acquire);
        loop {
            if current >= limit {
                return None;
            }
            match self.open.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Some(ConnectionPermit {
                        counter: Arc::clone(self),
                    })
                }
                Err(actual) => current = actual,
            }
        }
    }

    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// Everything an accept loop needs.
pub struct ListenerRuntime {
    pub shared: Arc<Shared>,
    pub counter: Arc<ConnectionCounter>,
    pub transport: Transport,
    pub path: Arc<str>,
    pub tls: Option<TlsAcceptor>,
    /// MsvAvChannelBindings of this listener's certificate (HTTPS), for Negotiate's CBT check.
    pub channel_binding: Option<[u8; 16]>,
    /// RFC 5929 application data of this listener's certificate (HTTPS), for Kerberos.
    pub end_point_binding: Option<Arc<[u8]>>,
}

/// Accept until `stop` turns true; connections get the same signal to finish gracefully.
pub async fn accept_loop(
    listener: TcpListener,
    runtime: Arc<ListenerRuntime>,
    mut stop: watch::Receiver<bool>,
) {
    let local = listener.local_addr().ok();
    loop {
        let accepted = tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let local = stream.local_addr().ok().or(local).unwrap_or(remote);
        let (admitted, limit) = {
            let settings = runtime.shared.settings.borrow();
            (
                settings.access.admits_connection(local.ip()),
                settings.max_connections as usize,
            )
        };
        if !admitted {
            if runtime.shared.auth.refusal_log.admit(remote) {
                tracing::warn!(remote = %remote, local = %local, "connection refused: local address outside IPv4Filter/IPv6Filter");
            }
            drop(stream);
            continue;
        }
        let Some(permit) = runtime.counter.try_open(limit) else {
            if runtime.shared.auth.refusal_log.admit(remote) {
                tracing::warn!(remote = %remote, limit, "connection refused: MaxConnections reached");
            }
            refuse(stream, &runtime);
            continue;
        };
        let runtime = Arc::clone(&runtime);
        let stop = stop.clone();
        tokio::spawn(async move {
            serve_stream(stream, remote, local, runtime, stop).await;
            drop(permit);
        });
    }
    tracing::debug!(address = ?local, "listener stopped");
}

/// Answer 503 and close, without holding a connection slot: over HTTP as over HTTPS (after
/// a handshake bounded by [`REFUSAL_DEADLINE`]), so every client learns why it was turned
/// away and can retry later. Refusals in flight are bounded by [`MAX_REFUSALS_IN_FLIGHT`].
fn refuse(stream: TcpStream, runtime: &Arc<ListenerRuntime>) {
    let counter = Arc::clone(&runtime.counter);
    if counter.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSALS_IN_FLIGHT {
        counter.refusing.fetch_sub(1, Ordering::AcqRel);
        if runtime.tls.is_none() {
            // A 73-byte answer fits any socket buffer: written without waiting.
            let _ = stream.try_write(RESPONSE_503);
        }
        return;
    }
    let tls = runtime.tls.clone();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_DEADLINE, async move {
            match tls {
                None => write_503(stream).await,
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        write_503(tls).await;
                    }
                }
            }
        })
        .await;
        counter.refusing.fetch_sub(1, Ordering::AcqRel);
    });
}

async fn write_503<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    // Read what the client sent first (bounded), so closing does not reset the connection
    // before the client sees the answer.
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(REFUSAL_READ_WAIT, stream.read(&mut buf)).await;
    let _ = stream.write_all(RESPONSE_503).await;
    let _ = stream.shutdown().await;
}

async fn serve_stream(
    stream: TcpStream,
    remote: SocketAddr,
    local: SocketAddr,
    runtime: Arc<ListenerRuntime>,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    match &runtime.tls {
        None => serve_io(stream, remote, local, runtime, stop, None).await,
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let peer = tls.get_ref().1.peer_certificates().and_then(|chain| {
                        crate::auth::certificate::PeerCertificate::new(
                            chain.iter().map(|c| c.clone().into_owned()).collect(),
                        )
                    });
                    serve_io(tls, remote, local, runtime, stop, peer).await
                }
                Ok(Err(e)) => tracing::debug!(remote = %remote, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(remote = %remote, "TLS handshake timed out"),
            }
        }
    }
}

async fn serve_io<I>(
    io: I,
    remote: SocketAddr,
    local: SocketAddr,
    runtime: Arc<ListenerRuntime>,
    mut stop: watch::Receiver<bool>,
    peer: Option<crate::auth::certificate::PeerCertificate>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn_state = Arc::new(
        Connection::new(remote, local, runtime.transport, Arc::clone(&runtime.path))
            .with_peer_certificate(peer)
            .with_channel_binding(runtime.channel_binding)
            .with_end_point_binding(runtime.end_point_binding.clone()),
    );
    let shared = Arc::clone(&runtime.shared);
    let service = service_fn(move |request| {
        pipeline::handle(Arc::clone(&shared), Arc::clone(&conn_state), request)
    });
    // hyper's header read timeout runs from the end of the last response, so it is both the
    // idle limit of a kept-alive connection and the time to send the next request's headers:
    // HTTP.sys's IdleConnectionTimeout and HeaderWaitTimeout, both 120 s by default.
    let idle_limit = runtime.shared.settings.borrow().idle_connection_timeout;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(idle_limit)
        .max_buf_size(MAX_HEADER_BUFFER);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    if *stop.borrow() {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(remote = %remote, error = %e, "connection ended with an error");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_enforces_limit_and_releases() {
        let c = Arc::new(ConnectionCounter::default());
        let a = c.try_open(2);
        let b = c.try_open(2);
        assert!(a.is_some() && b.is_some());
        assert!(c.try_open(2).is_none());
        drop(a);
        assert_eq!(c.open_connections(), 1);
        assert!(c.try_open(2).is_some());
    }
}
