//! Accepting connections: the connection-level guards, then hyper on each connection.
//!
//! Order per connection: (a) address filter: a connection that arrived on a local address
//! outside Service/IPv4Filter / IPv6Filter is closed at once, before one byte is read (and
//! before any TLS handshake), logged at a bounded rate; (b) connection limit
//! (Service/MaxConnections, counted across all listeners, and never more than the open-file
//! limit leaves room for: [`crate::connection_limit`]; an extra connection gets HTTP 503 with
//! a Retry-After, over HTTPS inside a TLS session, and is closed, the others are unaffected;
//! logged once per interval with a count), (c) TLS handshake bounded by
//! [`TLS_HANDSHAKE_TIMEOUT`] on HTTPS listeners, (d) hyper's HTTP/1.1 with keep-alive and a
//! header read timeout, then the request pipeline of [`crate::pipeline`]. Each connection
//! owns its [`Connection`] state.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
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
pub use crate::connection_limit::{ConnectionCounter, ConnectionPermit};
use crate::pipeline;
use crate::proxy_header;
use crate::settings::Transport;
use wsman_proto::proxy_protocol::Header;

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
/// The shortest and longest Retry-After a refused connection is told, in seconds. Spread
/// between them (each refusal the next second, round), so clients refused together (a fleet of
/// forwarders reconnecting after a restart) do not all come back in the same second.
const RETRY_AFTER_SECONDS: std::ops::RangeInclusive<u64> = 5..=30;

/// The 503 a refused connection gets: Retry-After as Windows' collector answers it.
fn response_503(sequence: u64) -> Vec<u8> {
    let (low, high) = (*RETRY_AFTER_SECONDS.start(), *RETRY_AFTER_SECONDS.end());
    let seconds = low + sequence % (high - low + 1);
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nServer: wsmand\r\nRetry-After: {seconds}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
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
                if let Some(count) = runtime.counter.accept_failed.note() {
                    tracing::warn!(error = %e, count, "accept failed (count: since the last such line)");
                }
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
            if let Some(count) = runtime.counter.over_cap.note() {
                tracing::warn!(remote = %remote, max_connections = limit, cap = runtime.counter.limit(limit), count, "connection refused (503): the connection cap is reached (MaxConnections or the open-file limit; count: refused since the last such line)");
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
    let sequence = counter.refused.fetch_add(1, Ordering::AcqRel);
    if counter.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSALS_IN_FLIGHT {
        counter.refusing.fetch_sub(1, Ordering::AcqRel);
        if runtime.tls.is_none() {
            // A 90-byte answer fits any socket buffer: written without waiting.
            let _ = stream.try_write(&response_503(sequence));
        }
        return;
    }
    let tls = runtime.tls.clone();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_DEADLINE, async move {
            match tls {
                None => write_503(stream, sequence).await,
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        write_503(tls, sequence).await;
                    }
                }
            }
        })
        .await;
        counter.refusing.fetch_sub(1, Ordering::AcqRel);
    });
}

async fn write_503<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, sequence: u64) {
    // Read what the client sent first (bounded), so closing does not reset the connection
    // before the client sees the answer.
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(REFUSAL_READ_WAIT, stream.read(&mut buf)).await;
    let _ = stream.write_all(&response_503(sequence)).await;
    let _ = stream.shutdown().await;
}

/// The client's address, from a trusted balancer's PROXY protocol header when it sends one,
/// with the balancer's; `None` when the connection is to be closed (logged at a bounded rate).
async fn client_address(
    stream: &mut TcpStream,
    remote: SocketAddr,
    runtime: &ListenerRuntime,
) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let (trusted, allow_loopback) = {
        let settings = runtime.shared.settings.borrow();
        let trusted = settings.proxy_protocol_from.clone();
        (trusted, settings.proxy_protocol_allow_loopback)
    };
    if trusted.is_empty() {
        return Some((remote, None));
    }
    let outcome = if proxy_header::is_trusted(&trusted, remote.ip()) {
        proxy_header::read(stream)
            .await
            .and_then(|header| match header {
                Header::Tcp { source, .. } => {
                    proxy_header::admit_claim(source.ip(), allow_loopback)?;
                    Ok((source, Some(remote)))
                }
                Header::Local | Header::Unknown => Ok((remote, None)),
            })
    } else if proxy_header::starts_with_signature(stream).await {
        Err(proxy_header::ProxyReadError::Untrusted)
    } else {
        Ok((remote, None))
    };
    match outcome {
        Ok(addresses) => Some(addresses),
        Err(error) => {
            if runtime.shared.auth.refusal_log.admit(remote) {
                tracing::warn!(remote = %remote, %error, "connection closed");
            }
            None
        }
    }
}

async fn serve_stream(
    mut stream: TcpStream,
    remote: SocketAddr,
    local: SocketAddr,
    runtime: Arc<ListenerRuntime>,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Some((remote, forwarded_by)) = client_address(&mut stream, remote, &runtime).await else {
        return;
    };
    let addresses = Addresses {
        remote,
        local,
        forwarded_by,
    };
    match &runtime.tls {
        None => serve_io(stream, addresses, runtime, stop, None).await,
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let peer = tls.get_ref().1.peer_certificates().and_then(|chain| {
                        crate::auth::certificate::PeerCertificate::new(
                            chain.iter().map(|c| c.clone().into_owned()).collect(),
                        )
                    });
                    serve_io(tls, addresses, runtime, stop, peer).await
                }
                Ok(Err(e)) => tracing::debug!(remote = %remote, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(remote = %remote, "TLS handshake timed out"),
            }
        }
    }
}

/// A connection's addresses: the client's, ours, and the relaying balancer's.
struct Addresses {
    remote: SocketAddr,
    local: SocketAddr,
    forwarded_by: Option<SocketAddr>,
}

async fn serve_io<I>(
    io: I,
    addresses: Addresses,
    runtime: Arc<ListenerRuntime>,
    mut stop: watch::Receiver<bool>,
    peer: Option<crate::auth::certificate::PeerCertificate>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Addresses {
        remote,
        local,
        forwarded_by,
    } = addresses;
    let conn_state = Arc::new(
        Connection::new(remote, local, runtime.transport, Arc::clone(&runtime.path))
            .with_forwarded_by(forwarded_by)
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
    fn refusals_spread_their_retry_after() {
        let seconds = |sequence| {
            let text = String::from_utf8(response_503(sequence)).expect("ASCII");
            assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
            assert!(text.ends_with("\r\n\r\n"), "{text}");
            text.lines()
                .find_map(|l| l.strip_prefix("Retry-After: "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .expect("a Retry-After in seconds")
        };
        let all: std::collections::BTreeSet<u64> = (0..100).map(seconds).collect();
        assert_eq!(all.first(), Some(RETRY_AFTER_SECONDS.start()));
        assert_eq!(all.last(), Some(RETRY_AFTER_SECONDS.end()));
        assert_eq!(all.len(), 26);
    }
}
