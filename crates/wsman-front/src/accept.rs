//! The next connection of a listener. A failed accept (`EMFILE` and friends: the open-file
//! limit reached, mostly) is backed off instead of spinning, and logged at a bounded rate.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::refusals::IntervalLog;

/// How long a failed accept waits before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The next connection and its peer; failures are logged through `failures` and retried.
pub async fn next(listener: &TcpListener, failures: &IntervalLog) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(pair) => return pair,
            Err(error) => {
                if let Some(count) = failures.note() {
                    tracing::warn!(%error, count, "accept failed (count: since the last such line)");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// A listening socket on `address`: SO_REUSEADDR (a restarted service rebinds at once) and,
/// for IPv6, V6ONLY (so `*` binds 0.0.0.0 and `[::]` on the same port, each on its own socket);
/// non-blocking, for the runtime.
pub fn bind(address: SocketAddr, backlog: i32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}
