//! Reading the PROXY protocol v2 header a trusted load balancer writes before a connection's
//! own bytes (`[HTTP] ProxyProtocolFrom`), so that logs, throttles and per-address limits see
//! the client's address rather than the balancer's.
//!
//! Why the header is read with exact reads (16 bytes, then the length it gives): nothing past
//! it may be consumed, since the TLS handshake (HTTPS passes through the balancer) or the
//! request follows. Why an untrusted connection is peeked at: a client that sends a header
//! itself is trying to claim another address; with the balancers configured, such a
//! connection is closed, not served as if the header were not there. The parser is
//! [`wsman_proto::proxy_protocol`].

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use wsman_proto::proxy_protocol::{self, Header, Parsed, ProxyHeaderError, SIGNATURE};
use wsman_safe::net::IpRange;

/// Longest time a balancer may take to send its header (it sends it at once, before any of
/// the client's bytes).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an untrusted connection is watched for a header's signature: a client sending
/// one sends it first; a client that sends nothing for this long is not sending one.
const PEEK_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait between peeks while only part of the signature has arrived.
const PEEK_PAUSE: Duration = Duration::from_millis(5);

/// Why a connection was closed while its header was read.
#[derive(Debug, thiserror::Error)]
pub enum ProxyReadError {
    #[error("PROXY protocol header refused: {0}")]
    Header(#[from] ProxyHeaderError),
    #[error("no complete PROXY protocol header within {} s", HEADER_TIMEOUT.as_secs())]
    Timeout,
    #[error("connection ended in the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
    #[error("a PROXY protocol header from an address not in [HTTP] ProxyProtocolFrom")]
    Untrusted,
    #[error("a PROXY protocol header claims the loopback client {0} ([HTTP] ProxyProtocolAllowLoopback is false)")]
    LoopbackClaim(IpAddr),
}

/// A trusted balancer's claimed client, admitted to stand for the connection's peer: the
/// claim then meets every rule a direct peer meets (AllowRemoteAccess, allowed addresses,
/// per-address limits), and those let a loopback peer do more (AllowRemoteAccess = false
/// refuses only remote ones). A balancer that can claim any address could pass them by
/// claiming 127.0.0.1, so a loopback claim is refused unless `allow_loopback` (a balancer on
/// this host relaying local clients) says otherwise.
pub fn admit_claim(source: IpAddr, allow_loopback: bool) -> Result<IpAddr, ProxyReadError> {
    if !allow_loopback && source.to_canonical().is_loopback() {
        return Err(ProxyReadError::LoopbackClaim(source));
    }
    Ok(source)
}

/// Whether `ip` is one of the balancers in `trusted` (IPv4-mapped addresses as IPv4).
pub fn is_trusted(trusted: &[IpRange], ip: IpAddr) -> bool {
    trusted.iter().any(|range| range.contains(ip))
}

/// Read a trusted balancer's header from `stream`, consuming exactly its bytes.
pub async fn read(stream: &mut TcpStream) -> Result<Header, ProxyReadError> {
    match tokio::time::timeout(HEADER_TIMEOUT, read_exact_header(stream)).await {
        Ok(result) => result,
        Err(_) => Err(ProxyReadError::Timeout),
    }
}

async fn read_exact_header(stream: &mut TcpStream) -> Result<Header, ProxyReadError> {
    let mut buffer = vec![0u8; proxy_protocol::PREFIX_LEN];
    stream.read_exact(&mut buffer).await?;
    loop {
        match proxy_protocol::parse(&buffer)? {
            Parsed::Complete { header, .. } => return Ok(header),
            Parsed::Incomplete { total } => {
                // `total` is bounded by the parser (PREFIX_LEN + MAX_BODY_LEN).
                let have = buffer.len();
                buffer.resize(total, 0);
                stream.read_exact(&mut buffer[have..]).await?;
            }
        }
    }
}

/// Whether an untrusted connection starts with a header's signature, looking without
/// consuming anything. A partial signature still incomplete after `PEEK_TIMEOUT` counts as
/// one (nothing else starts that way); no bytes at all is not one.
pub async fn starts_with_signature(stream: &TcpStream) -> bool {
    let deadline = tokio::time::Instant::now() + PEEK_TIMEOUT;
    let mut buffer = [0u8; SIGNATURE.len()];
    let mut seen_any = false;
    loop {
        let peeked = tokio::time::timeout_at(deadline, stream.peek(&mut buffer)).await;
        let n = match peeked {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return false,
            Err(_) => return seen_any,
        };
        if n == 0 || buffer[..n] != SIGNATURE[..n] {
            return false;
        }
        if n == SIGNATURE.len() {
            return true;
        }
        seen_any = true;
        if tokio::time::Instant::now() + PEEK_PAUSE >= deadline {
            return true;
        }
        tokio::time::sleep(PEEK_PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_ranges_match_either_family_and_mapped_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        let range = |s: &str| IpRange::parse_range(s).expect("range");
        let trusted = vec![range("10.0.0.1-10.0.0.9"), range("::1")];
        assert!(is_trusted(&trusted, ip("10.0.0.5")));
        assert!(is_trusted(&trusted, ip("::ffff:10.0.0.9")));
        assert!(is_trusted(&trusted, ip("::1")));
        assert!(!is_trusted(&trusted, ip("10.0.0.10")));
        assert!(!is_trusted(&trusted, ip("127.0.0.1")));
        assert!(!is_trusted(&[], ip("10.0.0.5")));
    }

    #[test]
    fn loopback_claims_are_refused_unless_allowed() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        for loopback in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert!(
                matches!(
                    admit_claim(ip(loopback), false),
                    Err(ProxyReadError::LoopbackClaim(_))
                ),
                "{loopback}"
            );
            assert_eq!(admit_claim(ip(loopback), true).ok(), Some(ip(loopback)));
        }
        assert_eq!(
            admit_claim(ip("192.0.2.7"), false).ok(),
            Some(ip("192.0.2.7"))
        );
    }
}
