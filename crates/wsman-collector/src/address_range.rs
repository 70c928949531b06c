//! A subscription's allowed source addresses (`allowed_addresses = ["192.0.2.0/24",
//! "2001:db8::7"]`): the forwarder's address as the connection proved it, which behind a load
//! balancer sending the PROXY protocol is the address its header carried, not the balancer's.
//!
//! Why a list of our own rather than Service/IPv4Filter: those filter the *local* address a
//! connection arrived on (as Windows' listener does), which behind a balancer is always the
//! same; a collector in front of a fleet wants to say which forwarders' networks may have a
//! subscription.

use std::net::IpAddr;

/// One address, or a network in CIDR notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

/// Why an address range is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an address or an address/prefix (CIDR) network")]
pub struct AddressRangeError(pub String);

impl AddressRange {
    /// `192.0.2.7`, `192.0.2.0/24`, `2001:db8::/32`. Bits of the address past the prefix must
    /// be zero: `192.0.2.7/24` is refused, since it reads like one host and means 256.
    pub fn parse(text: &str) -> Result<AddressRange, AddressRangeError> {
        let refused = || AddressRangeError(text.to_owned());
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| refused())?;
        let width = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            None => width,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
                p.parse::<u8>().map_err(|_| refused())?
            }
            Some(_) => return Err(refused()),
        };
        if prefix > width {
            return Err(refused());
        }
        let range = AddressRange { network, prefix };
        if range.masked(network) != bits(network) {
            return Err(refused());
        }
        Ok(range)
    }

    /// The address's bits with those past the prefix cleared.
    fn masked(&self, ip: IpAddr) -> u128 {
        let width: u32 = if ip.is_ipv4() { 32 } else { 128 };
        let host_bits = width - u32::from(self.prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            u128::MAX << host_bits
        };
        bits(ip) & mask
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == bits(self.network)
    }
}

impl std::fmt::Display for AddressRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn networks_and_hosts() {
        let net = AddressRange::parse("192.0.2.0/24").expect("parses");
        assert!(net.contains(ip("192.0.2.200")));
        assert!(net.contains(ip("::ffff:192.0.2.9")));
        assert!(!net.contains(ip("192.0.3.1")));
        assert!(!net.contains(ip("2001:db8::1")));
        let host = AddressRange::parse("127.0.0.2").expect("parses");
        assert!(host.contains(ip("127.0.0.2")));
        assert!(!host.contains(ip("127.0.0.1")));
        let any = AddressRange::parse("0.0.0.0/0").expect("parses");
        assert!(any.contains(ip("203.0.113.1")));
        let v6 = AddressRange::parse("2001:db8::/32").expect("parses");
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::5")));
        assert!(AddressRange::parse("::/0")
            .expect("parses")
            .contains(ip("::1")));
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "",
            "192.0.2.7/24",
            "192.0.2.0/33",
            "192.0.2.0/",
            "192.0.2.0/+8",
            "192.0.2.*",
            "host.example",
            "2001:db8::/129",
            "10.0.0.0/08x",
        ] {
            assert!(AddressRange::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// Any text: parsed or refused, never a panic; a parsed network contains itself.
        #[test]
        fn any_text(text in "\\PC{0,48}") {
            if let Ok(range) = AddressRange::parse(&text) {
                prop_assert!(range.contains(range.network));
            }
        }

        /// A network built from any address and prefix contains exactly the addresses that
        /// share its first `prefix` bits.
        #[test]
        fn prefixes(a in any::<u32>(), b in any::<u32>(), prefix in 0u8..=32) {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            let network = std::net::Ipv4Addr::from(a & mask);
            let range = AddressRange::parse(&format!("{network}/{prefix}")).expect("parses");
            let other = std::net::Ipv4Addr::from(b);
            prop_assert_eq!(range.contains(IpAddr::V4(other)), (b & mask) == (a & mask));
        }
    }
}
