//! Listener Address values (`*`, `IP:a.b.c.d`, `IP:a.b.c.d-e.f.g.h`) to socket addresses.
//!
//! Ranges bind every address of this host that falls inside them, so the host's own addresses
//! are read from `/proc/net/fib_trie` (IPv4 `host LOCAL` routes) and `/proc/net/if_inet6`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a listener Address could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    #[error("listener address {address:?} is not `*`, `IP:addr` or `IP:first-last`")]
    Unsupported { address: String },
}

/// The socket addresses a listener with this Address and port binds.
pub fn resolve(address: &str, port: u16) -> Result<Vec<SocketAddr>, AddressError> {
    let unsupported = || AddressError::Unsupported {
        address: address.to_owned(),
    };
    let address = address.trim();
    if address == "*" {
        let mut out = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)];
        if ipv6_available() {
            out.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
        }
        return Ok(out);
    }
    let spec = address
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("IP:"))
        .map(|_| &address[3..])
        .ok_or_else(unsupported)?;
    if let Some(ip) = parse_ip(spec) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (first, last) = split_range(spec).ok_or_else(unsupported)?;
    if first == last {
        return Ok(vec![SocketAddr::new(first, port)]);
    }
    let mut out: Vec<SocketAddr> = local_addresses()
        .into_iter()
        .filter(|ip| in_range(*ip, first, last))
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    text.parse().ok()
}

/// `a-b` where both ends are addresses of one family. IPv6 ends contain no `-`.
fn split_range(spec: &str) -> Option<(IpAddr, IpAddr)> {
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (parse_ip(a)?, parse_ip(b)?);
    (a.is_ipv4() == b.is_ipv4()).then_some((a, b))
}

fn in_range(ip: IpAddr, first: IpAddr, last: IpAddr) -> bool {
    match (ip, first, last) {
        (IpAddr::V4(ip), IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (
                u32::from(a).min(u32::from(b)),
                u32::from(a).max(u32::from(b)),
            );
            (a..=b).contains(&u32::from(ip))
        }
        (IpAddr::V6(ip), IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (
                u128::from(a).min(u128::from(b)),
                u128::from(a).max(u128::from(b)),
            );
            (a..=b).contains(&u128::from(ip))
        }
        _ => false,
    }
}

fn ipv6_available() -> bool {
    std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|t| !t.trim().is_empty())
}

/// The addresses configured on this host.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/proc/net/fib_trie") {
        out.extend(parse_fib_trie(&text).into_iter().map(IpAddr::V4));
    }
    if let Ok(text) = std::fs::read_to_string("/proc/net/if_inet6") {
        out.extend(parse_if_inet6(&text).into_iter().map(IpAddr::V6));
    }
    out.sort();
    out.dedup();
    out
}

/// IPv4 addresses with a `/32 host LOCAL` entry.
fn parse_fib_trie(text: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(addr) = trimmed.strip_prefix("|-- ") {
            last = addr.trim().parse().ok();
        } else if trimmed.starts_with("/32 host LOCAL") {
            if let Some(a) = last {
                out.push(a);
            }
        }
    }
    out
}

/// First column of each line: 32 hex digits.
fn parse_if_inet6(text: &str) -> Vec<Ipv6Addr> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|hex| u128::from_str_radix(hex, 16).ok())
        .map(Ipv6Addr::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_star() {
        assert_eq!(
            resolve("IP:127.0.0.1", 5985).ok(),
            Some(vec!["127.0.0.1:5985"
                .parse()
                .unwrap_or_else(|_| unreachable!())])
        );
        assert_eq!(
            resolve("ip:[::1]", 1).ok().map(|v| v[0].ip()),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        let star = resolve("*", 5985).unwrap_or_default();
        assert!(star
            .iter()
            .any(|a| a.ip() == IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert!(resolve("MAC:00-11", 1).is_err());
        assert!(resolve("IP:300.1.1.1", 1).is_err());
    }

    #[test]
    fn ranges_bind_local_addresses_inside_only() {
        let r = resolve("IP:127.0.0.0-127.255.255.255", 7).unwrap_or_default();
        assert!(
            r.iter().any(|a| a.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{r:?}"
        );
        let none = resolve("IP:198.51.100.1-198.51.100.9", 7).unwrap_or_default();
        assert!(none.is_empty());
        let single = resolve("IP:127.0.0.1-127.0.0.1", 7).unwrap_or_default();
        assert_eq!(single.len(), 1);
        assert!(resolve("IP:127.0.0.1-::1", 7).is_err());
    }

    #[test]
    fn proc_formats() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 127.0.0.0\n        /8 host LOCAL\n     |-- 10.0.0.5\n        /32 host LOCAL\n     |-- 10.0.0.255\n        /32 link BROADCAST\n";
        assert_eq!(parse_fib_trie(fib), vec![Ipv4Addr::new(10, 0, 0, 5)]);
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\n";
        assert_eq!(parse_if_inet6(inet6), vec![Ipv6Addr::LOCALHOST]);
    }
}
