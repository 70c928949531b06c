//! Listeners and the connection pipeline: the client address rules when the TCP connection
//! is accepted (a denied client never reaches TLS), a cap on open connections and a lower
//! one per client address (so idle connections from one client cannot take every slot), the
//! TLS handshake within a deadline, then HTTP/1.1 with bounded heads and a deadline for each
//! request head (an idle connection is closed when it passes; one too large answered with a
//! page), all through the front door (`wsman_front`). Refused connections are audited as
//! refusals, which the audit trail rate-limits per address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::Context as _;
use hyper::service::service_fn;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use wsman_config::mgmt::{ClientDecision, ClientRules, MgmtSettings};
use wsman_front::head::TooLarge;
use wsman_front::http::{serve as serve_connection, HeadLimits};
use wsman_front::slots::{ConnectionSlots, Full};

use crate::http::{self, AppState};

/// Most connections open at once; more are closed when accepted.
const MAX_CONNECTIONS: usize = 256;
/// Most connections open at once from one client address (a browser opens about six, plus
/// its terminals and event streams).
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 64;
/// Largest request head passed on: below hyper's buffer, so the page answers before hyper's
/// bare 431 would.
pub const MAX_GUARDED_HEAD_BYTES: usize = 12 * 1024;
/// The request heads' bounds: the deadline of each (the first one and each one after: an
/// idle kept-alive connection is closed then), 16 KiB buffered, 64 header lines, and a head
/// over 12 KiB answered with a page that says so.
fn head_limits() -> HeadLimits {
    HeadLimits {
        read_timeout: Duration::from_secs(10),
        max_bytes: 16 * 1024,
        max_headers: Some(64),
        too_large: Some(TooLarge {
            limit: MAX_GUARDED_HEAD_BYTES,
            answer: TOO_LARGE_PAGE.as_slice(),
        }),
    }
}
/// Longest wait for a client's forward-confirmed reverse name (domain restrictions); a
/// client whose lookup takes longer has no name.
const NAME_TIMEOUT: Duration = Duration::from_secs(5);

/// The answer to a head too large: the page every error gets, drawn once and without a
/// session (the guard answers before the request, and so its cookie, is read).
static TOO_LARGE_PAGE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let text = "The address or its headers are too long (over 12 KiB): shorten the search or the filter and try again.";
    let page = crate::pages::message(None, "Request too large", text).into_string();
    format!("HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/html; charset=utf-8\r\n\
         content-security-policy: default-src 'none'; style-src 'self'\r\nx-content-type-options: nosniff\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{page}")
    .into_bytes()
});

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

/// Binds every listen address. An IPv6 address that cannot be bound (IPv6 off on this host)
/// is logged and skipped; anything else is an error.
pub fn bind(settings: &MgmtSettings) -> anyhow::Result<Vec<std::net::TcpListener>> {
    let mut listeners = Vec::new();
    for address in listen_addresses(settings) {
        match wsman_front::accept::bind(address, 128) {
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
    let door = Arc::new(Door {
        acceptor: TlsAcceptor::from(tls),
        rules,
        // Every open connection's address fits: the global cap bounds the table.
        slots: Arc::new(ConnectionSlots::per_address(
            MAX_CONNECTIONS_PER_ADDRESS,
            MAX_CONNECTIONS,
        )),
        state,
    });
    // Never told to stop: the service ends with its process.
    let (_serving, stop) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        let listener = TcpListener::from_std(listener)?;
        tracing::info!(address = %listener.local_addr()?, "listening (HTTPS)");
        tasks.spawn(accept_loop(listener, Arc::clone(&door), stop.clone()));
    }
    let audit = Arc::clone(&door.state.audit);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(crate::audit::REFUSAL_INTERVAL);
        loop {
            interval.tick().await;
            audit.flush_refusals();
        }
    });
    while let Some(result) = tasks.join_next().await {
        result?;
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

/// What every listener shares.
struct Door {
    acceptor: TlsAcceptor,
    rules: ClientRules,
    slots: Arc<ConnectionSlots>,
    state: Arc<AppState>,
}

/// Why a connection found no place, as the audit log says it.
fn cap_reached(full: Full) -> String {
    match full {
        Full::Address => format!(
            "connection refused: {MAX_CONNECTIONS_PER_ADDRESS} connections open from this address"
        ),
        Full::Total => format!("connection refused: {MAX_CONNECTIONS} connections open"),
    }
}

async fn accept_loop(listener: TcpListener, door: Arc<Door>, stop: watch::Receiver<bool>) {
    loop {
        let (stream, peer) = wsman_front::accept::next(&listener, &door.slots.accept_failed).await;
        // Without domain entries the address decides here, before anything else is spent.
        if !door.rules.needs_name() {
            if let ClientDecision::Denied(rule) = door.rules.decide(peer.ip()) {
                refuse(&door.state, peer, &rule);
                drop(stream);
                continue;
            }
        }
        let slot = match door.slots.take(peer.ip(), MAX_CONNECTIONS) {
            Ok(slot) => slot,
            Err(full) => {
                door.state
                    .audit
                    .record(peer.ip(), "", "refused", &cap_reached(full));
                continue;
            }
        };
        let door = Arc::clone(&door);
        let stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if door.rules.needs_name() && !named_client_allowed(&door, peer).await {
                return;
            }
            let state = Arc::clone(&door.state);
            serve_connection(
                stream,
                peer,
                Some(&door.acceptor),
                head_limits(),
                stop,
                |_| service_fn(move |request| http::serve(Arc::clone(&state), peer, request)),
            )
            .await;
        });
    }
}

/// With domain entries: the client's name (a blocking resolver call, on its own thread and
/// bounded in time, within the connection cap), then the same rules, still before TLS.
async fn named_client_allowed(door: &Door, peer: SocketAddr) -> bool {
    let ip = peer.ip();
    let lookup = tokio::task::spawn_blocking(move || wsman_os::resolve::confirmed_name(ip));
    let name = tokio::time::timeout(NAME_TIMEOUT, lookup)
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    match door.rules.decide_named(ip, name.as_deref()) {
        ClientDecision::Denied(rule) => {
            let rule = match &name {
                Some(_) => rule,
                None => format!("{rule} (no forward-confirmed name)"),
            };
            refuse(&door.state, peer, &rule);
            false
        }
        ClientDecision::Allowed(rule) => {
            tracing::info!(client = %ip, name = name.as_deref().unwrap_or("-"), rule, "connection allowed");
            true
        }
    }
}
