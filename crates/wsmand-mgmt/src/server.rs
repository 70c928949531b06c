//! Listeners and the connection pipeline: the client address rules when the TCP connection
//! is accepted (a denied client never reaches TLS), a cap on open connections and a lower
//! one per client address (so idle connections from one client cannot take every slot), the
//! TLS handshake within a deadline, then HTTP/1.1 with bounded heads and a deadline for each
//! request head (an idle connection is closed when it passes). Refused connections are
//! audited as refusals, which the audit trail rate-limits per address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use wsman_config::mgmt::{ClientDecision, ClientRules, MgmtSettings};

use crate::address_slots::{AddressSlot, AddressSlots};
use crate::http::{self, AppState};

/// Most connections open at once; more are closed when accepted.
const MAX_CONNECTIONS: usize = 256;
/// Most connections open at once from one client address (a browser opens about six, plus
/// its terminals and event streams).
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 64;
/// The TLS handshake's deadline.
const TLS_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a request head, the first one and each one after (an idle kept-alive
/// connection is closed then).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers) buffered.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header lines in one request.
const MAX_HEADERS: usize = 64;
/// Longest wait for a client's forward-confirmed reverse name (domain restrictions); a
/// client whose lookup takes longer has no name.
const NAME_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the service listens: loopback only unless EnableRemoteManagement; `*` is every
/// IPv4 and IPv6 address.
pub fn listen_addresses(settings: &MgmtSettings) -> Vec<SocketAddr> {
    let port = settings.port;
    if !settings.enable_remote_management {
        return vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        ];
    }
    let mut out = Vec::new();
    for address in &settings.bind_addresses {
        if address == "*" {
            out.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
            out.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
        } else if let Ok(ip) = address.parse::<IpAddr>() {
            out.push(SocketAddr::new(ip, port));
        }
    }
    out
}

fn bind_one(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(address);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if address.is_ipv6() {
        // `[::]` beside `0.0.0.0` on the same port: each family on its own socket.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(128)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Binds every listen address. An IPv6 address that cannot be bound (IPv6 off on this host)
/// is logged and skipped; anything else is an error.
pub fn bind(settings: &MgmtSettings) -> anyhow::Result<Vec<std::net::TcpListener>> {
    let mut listeners = Vec::new();
    for address in listen_addresses(settings) {
        match bind_one(address) {
            Ok(listener) => listeners.push(listener),
            Err(error)
                if address.is_ipv6() && error.kind() == std::io::ErrorKind::AddrNotAvailable =>
            {
                tracing::warn!(%address, %error, "IPv6 address not bound");
            }
            Err(error) => return Err(error).with_context(|| format!("bind {address}")),
        }
    }
    anyhow::ensure!(!listeners.is_empty(), "no address could be bound");
    Ok(listeners)
}

/// Serves `listeners` until the process ends.
pub async fn run(
    listeners: Vec<std::net::TcpListener>,
    tls: Arc<rustls::ServerConfig>,
    rules: ClientRules,
    state: Arc<AppState>,
) -> anyhow::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let rules = Arc::new(rules);
    let caps = Arc::new(ConnectionCaps {
        permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        // Every open connection's address fits: the global cap bounds the table.
        by_address: AddressSlots::new(MAX_CONNECTIONS_PER_ADDRESS, MAX_CONNECTIONS),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        let listener = TcpListener::from_std(listener)?;
        tracing::info!(address = %listener.local_addr()?, "listening (HTTPS)");
        tasks.spawn(accept_loop(
            listener,
            acceptor.clone(),
            Arc::clone(&rules),
            Arc::clone(&caps),
            Arc::clone(&state),
        ));
    }
    let audit = Arc::clone(&state.audit);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(crate::audit::REFUSAL_INTERVAL);
        loop {
            interval.tick().await;
            audit.flush_refusals();
        }
    });
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok(())
}

/// A connection refused by the client rules: audited with the rule, closed before TLS.
fn refuse(state: &AppState, peer: SocketAddr, rule: &str) {
    state.audit.record(
        peer.ip(),
        "",
        "refused",
        &format!("connection refused before TLS by rule {rule}"),
    );
}

/// The global connection cap and the per-address one.
struct ConnectionCaps {
    permits: Arc<Semaphore>,
    by_address: AddressSlots,
}

/// One open connection's places in both caps, given back when dropped.
struct ConnectionSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _address: AddressSlot,
}

/// Why a connection found no place; the text goes to the audit log.
#[derive(Debug, thiserror::Error)]
enum CapReached {
    #[error(
        "connection refused: {MAX_CONNECTIONS_PER_ADDRESS} connections open from this address"
    )]
    Address,
    #[error("connection refused: {MAX_CONNECTIONS} connections open")]
    Total,
}

impl ConnectionCaps {
    /// A place for a connection from `ip`, or why there is none.
    fn admit(&self, ip: IpAddr) -> Result<ConnectionSlot, CapReached> {
        let Some(address) = self.by_address.take(ip) else {
            return Err(CapReached::Address);
        };
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            return Err(CapReached::Total);
        };
        Ok(ConnectionSlot {
            _permit: permit,
            _address: address,
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    rules: Arc<ClientRules>,
    caps: Arc<ConnectionCaps>,
    state: Arc<AppState>,
) -> anyhow::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Without domain entries the address decides here, before anything else is spent.
        if !rules.needs_name() {
            if let ClientDecision::Denied(rule) = rules.decide(peer.ip()) {
                refuse(&state, peer, &rule);
                drop(stream);
                continue;
            }
        }
        let slot = match caps.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                state
                    .audit
                    .record(peer.ip(), "", "refused", &why.to_string());
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let state = Arc::clone(&state);
        let rules = Arc::clone(&rules);
        tokio::spawn(async move {
            let _slot = slot;
            // With domain entries: the name (a blocking resolver call, on its own thread and
            // bounded in time, within the connection cap), then the same rules, still before
            // TLS.
            if rules.needs_name() {
                let ip = peer.ip();
                let lookup =
                    tokio::task::spawn_blocking(move || wsman_os::resolve::confirmed_name(ip));
                let name = tokio::time::timeout(NAME_TIMEOUT, lookup)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten();
                match rules.decide_named(ip, name.as_deref()) {
                    ClientDecision::Denied(rule) => {
                        let rule = match &name {
                            Some(_) => rule,
                            None => format!("{rule} (no forward-confirmed name)"),
                        };
                        refuse(&state, peer, &rule);
                        return;
                    }
                    ClientDecision::Allowed(rule) => {
                        tracing::info!(client = %ip, name = name.as_deref().unwrap_or("-"), rule, "connection allowed");
                    }
                }
            }
            let tls = match tokio::time::timeout(TLS_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(client = %peer.ip(), %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(client = %peer.ip(), "TLS handshake timed out");
                    return;
                }
            };
            let service = service_fn(move |request| http::serve(Arc::clone(&state), peer, request));
            let result = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .max_headers(MAX_HEADERS)
                // A head too large is answered with a page, not hyper's bare 431.
                .serve_connection(
                    TokioIo::new(crate::head_guard::HeadGuard::new(tls)),
                    service,
                )
                // The terminal's WebSocket takes the connection over after its 101.
                .with_upgrades()
                .await;
            if let Err(error) = result {
                tracing::debug!(client = %peer.ip(), %error, "connection ended with an error");
            }
        });
    }
}
