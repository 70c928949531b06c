//! Listener Address values (`*`, `IP:a.b.c.d`, `IP:a.b.c.d-e.f.g.h`, parsed by the config
//! tree) to socket addresses.
//!
//! Ranges bind every address of this host that falls inside them, so the host's own addresses
//! are read from `/proc/net/fib_trie` (IPv4 `host LOCAL` routes) and `/proc/net/if_inet6`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use wsman_config::ListenerAddress;

/// The socket addresses a listener with this Address and port binds: `*` the unspecified
/// addresses, one address itself, a range every local address inside it.
pub fn resolve(address: &ListenerAddress, port: u16) -> Vec<SocketAddr> {
    let (first, last) = match *address {
        ListenerAddress::Any => {
            let mut out = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)];
            if ipv6_available() {
                out.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
            }
            return out;
        }
        ListenerAddress::Ip(ip) => return vec![SocketAddr::new(ip, port)],
        ListenerAddress::Range(first, last) if first == last => {
            return vec![SocketAddr::new(first, port)]
        }
        ListenerAddress::Range(first, last) => (first, last),
    };
    let mut out: Vec<SocketAddr> = local_addresses()
        .into_iter()
        .filter(|ip| in_range(*ip, first, last))
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    out.sort();
    out.dedup();
    out
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

    fn address(text: &str) -> ListenerAddress {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn literal_and_star() {
        assert_eq!(
            resolve(&address("IP:127.0.0.1"), 5985),
            vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5985)]
        );
        assert_eq!(
            resolve(&address("ip:::1"), 1)[0].ip(),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        let star = resolve(&ListenerAddress::Any, 5985);
        assert!(star
            .iter()
            .any(|a| a.ip() == IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    }

    #[test]
    fn ranges_bind_local_addresses_inside_only() {
        let r = resolve(&address("IP:127.0.0.0-127.255.255.255"), 7);
        assert!(
            r.iter().any(|a| a.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{r:?}"
        );
        assert!(resolve(&address("IP:198.51.100.1-198.51.100.9"), 7).is_empty());
        assert_eq!(resolve(&address("IP:127.0.0.1-127.0.0.1"), 7).len(), 1);
    }

    #[test]
    fn proc_formats() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 127.0.0.0\n        /8 host LOCAL\n     |-- 10.0.0.5\n        /32 host LOCAL\n     |-- 10.0.0.255\n        /32 link BROADCAST\n";
        assert_eq!(parse_fib_trie(fib), vec![Ipv4Addr::new(10, 0, 0, 5)]);
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\n";
        assert_eq!(parse_if_inet6(inet6), vec![Ipv6Addr::LOCALHOST]);
    }
}
