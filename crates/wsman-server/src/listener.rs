//! Accepting connections through the front door (`wsman_front`), with the WinRM listener's
//! own rules: (a) address filter: a connection that arrived on a local address outside
//! Service/IPv4Filter / IPv6Filter is closed at once, before one byte is read (and before any
//! TLS handshake), logged at a bounded rate; (b) connection limit (Service/MaxConnections,
//! across all listeners, and never more than the open-file limit leaves room for:
//! [`crate::connection_limit`]); an extra connection gets HTTP 503 with a Retry-After, over
//! HTTPS inside a TLS session, and is closed, the others are unaffected; logged once per
//! interval with a count), (c) the PROXY header of a trusted balancer, (d) TLS handshake bounded
//! by [`TLS_HANDSHAKE_TIMEOUT`] on HTTPS listeners, (e) HTTP/1.1 with keep-alive and a bounded
//! head, then the request pipeline of [`crate::pipeline`]. Each connection owns its
//! [`Connection`] state. The accept loop admits; an admitted connection is served whole on one
//! of the daemon's connection workers ([`crate::workers`]) when the listener has them.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use wsman_front::http::{self, HeadLimits};
use wsman_front::slots::ConnectionSlots;

use crate::auth::certificate::PeerCertificate;
use crate::connection::{Connection, Shared};
use crate::pipeline;
use crate::proxy_header;
use crate::settings::Transport;
use crate::workers::ConnectionWorkers;
use wsman_proto::proxy_protocol::Header;

pub use wsman_front::http::TLS_HANDSHAKE_TIMEOUT;
/// Bound on the connection's read buffer, and so on the size of the request headers.
const MAX_HEADER_BUFFER: usize = 64 * 1024;
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
    /// The connection cap, across all listeners.
    pub slots: Arc<ConnectionSlots>,
    pub transport: Transport,
    pub path: Arc<str>,
    pub tls: Option<TlsAcceptor>,
    /// MsvAvChannelBindings of this listener's certificate (HTTPS), for Negotiate's CBT check.
    pub channel_binding: Option<[u8; 16]>,
    /// RFC 5929 application data of this listener's certificate (HTTPS), for Kerberos.
    pub end_point_binding: Option<Arc<[u8]>>,
    /// Where admitted connections are served, each whole on one thread; `None`: on the
    /// accept loop's own runtime (`tokio::spawn`).
    pub workers: Option<Arc<ConnectionWorkers>>,
}

/// Accept until `stop` turns true; connections get the same signal to finish gracefully.
pub async fn accept_loop(
    listener: TcpListener,
    runtime: Arc<ListenerRuntime>,
    mut stop: watch::Receiver<bool>,
) {
    let local = listener.local_addr().ok();
    loop {
        let (stream, remote) = tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
                continue;
            }
            accepted = wsman_front::accept::next(&listener, &runtime.slots.accept_failed) => accepted,
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
        let Ok(slot) = runtime.slots.take(remote.ip(), limit) else {
            if let Some(count) = runtime.slots.over_cap.note() {
                tracing::warn!(remote = %remote, max_connections = limit, cap = runtime.slots.limit(limit), count, "connection refused (503): the connection cap is reached (MaxConnections or the open-file limit; count: refused since the last such line)");
            }
            wsman_front::over_cap::refuse(
                stream,
                &runtime.slots,
                runtime.tls.as_ref(),
                response_503,
            );
            continue;
        };
        let serve = {
            let runtime = Arc::clone(&runtime);
            let stop = stop.clone();
            move |stream| async move {
                serve_stream(stream, (remote, local), runtime, stop).await;
                drop(slot);
            }
        };
        match &runtime.workers {
            Some(workers) => workers.serve(stream, serve),
            None => {
                tokio::spawn(serve(stream));
            }
        }
    }
    tracing::debug!(address = ?local, "listener stopped");
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

/// Serves one admitted connection: the client's address (PROXY protocol), then the front
/// door's TLS and HTTP/1.1 with this listener's bounds, each request through the pipeline.
async fn serve_stream(
    mut stream: TcpStream,
    (remote, local): (SocketAddr, SocketAddr),
    runtime: Arc<ListenerRuntime>,
    stop: watch::Receiver<bool>,
) {
    let Some((remote, forwarded_by)) = client_address(&mut stream, remote, &runtime).await else {
        return;
    };
    // The idle limit between requests and the time to send a request's headers, both:
    // HTTP.sys's IdleConnectionTimeout and HeaderWaitTimeout, both 120 s by default.
    let limits = HeadLimits {
        read_timeout: runtime.shared.settings.borrow().idle_connection_timeout,
        max_bytes: MAX_HEADER_BUFFER,
        max_headers: None,
        too_large: None,
    };
    let tls = runtime.tls.clone();
    http::serve_watched(
        stream,
        remote,
        tls.as_ref(),
        limits,
        stop,
        |peer, activity| {
            let conn_state = Arc::new(
                Connection::new(remote, local, runtime.transport, Arc::clone(&runtime.path))
                    .with_forwarded_by(forwarded_by)
                    .with_peer_certificate(peer.and_then(PeerCertificate::new))
                    .with_channel_binding(runtime.channel_binding)
                    .with_end_point_binding(runtime.end_point_binding.clone())
                    .with_activity(activity),
            );
            let shared = Arc::clone(&runtime.shared);
            service_fn(move |request| {
                pipeline::handle(Arc::clone(&shared), Arc::clone(&conn_state), request)
            })
        },
    )
    .await;
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
