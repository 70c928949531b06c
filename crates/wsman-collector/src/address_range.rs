//! A subscription's allowed source addresses (`allowed_addresses = ["192.0.2.0/24",
//! "2001:db8::7"]`): the forwarder's address as the connection proved it, which behind a load
//! balancer sending the PROXY protocol is the address its header carried, not the balancer's.
//!
//! Why a list of our own rather than Service/IPv4Filter: those filter the *local* address a
//! connection arrived on (as Windows' listener does), which behind a balancer is always the
//! same; a collector in front of a fleet wants to say which forwarders' networks may have a
//! subscription.

use std::net::IpAddr;

use wsman_safe::net::{HostBits, IpRange};

/// One address, or a network in CIDR notation (the workspace's one range type, parsed strictly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressRange(IpRange);

/// Why an address range is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an address or an address/prefix (CIDR) network")]
pub struct AddressRangeError(pub String);

impl AddressRange {
    /// `192.0.2.7`, `192.0.2.0/24`, `2001:db8::/32`. Bits of the address past the prefix must
    /// be zero: `192.0.2.7/24` is refused, since it reads like one host and means 256.
    pub fn parse(text: &str) -> Result<AddressRange, AddressRangeError> {
        IpRange::parse_cidr(text, HostBits::Refused)
            .map(AddressRange)
            .map_err(|_| AddressRangeError(text.to_owned()))
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl std::fmt::Display for AddressRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The subscription's form: strict about bits past the prefix (the matching itself is
    /// `wsman_safe::net`'s, tested there).
    #[test]
    fn strict_networks() {
        let ip = |text: &str| text.parse::<IpAddr>().expect("address");
        let net = AddressRange::parse("192.0.2.0/24").expect("parses");
        assert!(net.contains(ip("::ffff:192.0.2.9")));
        assert_eq!(net.to_string(), "192.0.2.0/24");
        assert!(AddressRange::parse("192.0.2.7/24").is_err());
        assert!(AddressRange::parse("host.example").is_err());
    }
}
