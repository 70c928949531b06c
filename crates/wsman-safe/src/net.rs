//! The one IP network/range type: a CIDR network (`192.0.2.0/24`), an inclusive range
//! (`10.0.0.1-10.0.0.9`) or one address, all matched the same way.
//!
//! The IPv4-mapped rule: a dual-stack socket reports an IPv4 peer as `::ffff:a.b.c.d`, so an
//! address is compared as [`canonical`] makes it, and a range whose ends are both IPv4-mapped
//! is the IPv4 range of those ends. An IPv4 client is then matched by the IPv4 rules whichever
//! socket it came in on, and `::/0` does not match it (it is not an IPv6 client).

use std::fmt;
use std::net::IpAddr;

/// `ip` as compared: an IPv4-mapped IPv6 address is its IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// A network, a range or one address: every address from `first` to `last`, both included,
/// of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpRange {
    first: IpAddr,
    last: IpAddr,
    /// The prefix length it was written with (for display), when written as a network.
    prefix: Option<u8>,
}

/// Whether a CIDR network may have bits set past its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostBits {
    /// `192.0.2.7/24` is refused: it reads like one host and means 256.
    Refused,
    /// `192.0.2.7/24` is `192.0.2.0/24` (the forms Windows' tools accept).
    Cleared,
}

/// Why a network or range was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpRangeError {
    /// Not an IP address where one was expected.
    #[error("{0:?} is not an IP address, ADDRESS/BITS or FIRST-LAST")]
    NotAnAddress(String),
    /// A prefix length that is not a number up to the family's width.
    #[error("{text:?}: the prefix length must be 0..={max}")]
    Prefix {
        /// The text.
        text: String,
        /// The family's width.
        max: u8,
    },
    /// Bits set past the prefix (with [`HostBits::Refused`]).
    #[error("{0:?} has bits set past its prefix")]
    HostBits(String),
    /// The two ends of a range are of different families.
    #[error("range {0:?} mixes IPv4 and IPv6")]
    MixedFamilies(String),
    /// The first end of a range is after its last.
    #[error("range {0:?} is reversed")]
    Reversed(String),
}

impl IpRange {
    /// One address.
    pub fn single(ip: IpAddr) -> IpRange {
        let ip = canonical(ip);
        IpRange {
            first: ip,
            last: ip,
            prefix: None,
        }
    }

    /// Every address from `first` to `last`: one family, in order.
    pub fn new(first: IpAddr, last: IpAddr) -> Result<IpRange, IpRangeError> {
        let (first, last) = match (canonical(first), canonical(last)) {
            (a @ IpAddr::V4(_), b @ IpAddr::V4(_)) if first.is_ipv6() == last.is_ipv6() => (a, b),
            _ => (first, last),
        };
        if first.is_ipv4() != last.is_ipv4() {
            return Err(IpRangeError::MixedFamilies(format!("{first}-{last}")));
        }
        if first > last {
            return Err(IpRangeError::Reversed(format!("{first}-{last}")));
        }
        Ok(IpRange {
            first,
            last,
            prefix: None,
        })
    }

    /// `ADDRESS` or `ADDRESS/BITS`, IPv4 or IPv6 (prefix in decimal digits only).
    pub fn parse_cidr(text: &str, host_bits: HostBits) -> Result<IpRange, IpRangeError> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| IpRangeError::NotAnAddress(text.to_owned()))?;
        let width: u8 = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => Some(p)
                .filter(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u8>().ok())
                .filter(|p| *p <= width)
                .ok_or_else(|| IpRangeError::Prefix {
                    text: text.to_owned(),
                    max: width,
                })?,
        };
        let host_mask = u128::MAX
            .checked_shr(u32::from(prefix) + 128 - u32::from(width))
            .unwrap_or(0);
        let bits = to_bits(address);
        if host_bits == HostBits::Refused && bits & host_mask != 0 {
            return Err(IpRangeError::HostBits(text.to_owned()));
        }
        let (first, last) = (
            from_bits(address, bits & !host_mask),
            from_bits(address, bits | host_mask),
        );
        let mut range = IpRange::new(first, last)?;
        // A mapped network written in IPv6 is shown as the IPv4 network it is.
        range.prefix = Some(if range.first.is_ipv4() && address.is_ipv6() {
            prefix.saturating_sub(96)
        } else {
            prefix
        });
        Ok(range)
    }

    /// `ADDRESS` or `FIRST-LAST` (Windows' `IPv4Filter` and listener forms).
    pub fn parse_range(text: &str) -> Result<IpRange, IpRangeError> {
        let text = text.trim();
        let address = |s: &str| {
            s.trim()
                .parse::<IpAddr>()
                .map_err(|_| IpRangeError::NotAnAddress(text.to_owned()))
        };
        match text.split_once('-') {
            Some((first, last)) => IpRange::new(address(first)?, address(last)?),
            None => Ok(IpRange::single(address(text)?)),
        }
    }

    /// Whether `ip` is in the range (an IPv4-mapped address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.first.is_ipv4() && self.first <= ip && ip <= self.last
    }

    /// The first address.
    pub fn first(&self) -> IpAddr {
        self.first
    }

    /// The last address.
    pub fn last(&self) -> IpAddr {
        self.last
    }

    /// Whether the range is of IPv4 addresses (IPv4-mapped ones included).
    pub fn is_ipv4(&self) -> bool {
        self.first.is_ipv4()
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix {
            Some(prefix) => write!(f, "{}/{prefix}", self.first),
            None if self.first == self.last => write!(f, "{}", self.first),
            None => write!(f, "{}-{}", self.first, self.last),
        }
    }
}

/// The address's bits, an IPv4 address in the low 32.
fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address of `family`'s family with `bits`.
fn from_bits(family: IpAddr, bits: u128) -> IpAddr {
    match family {
        IpAddr::V4(_) => IpAddr::V4(u32::try_from(bits).unwrap_or(u32::MAX).into()),
        IpAddr::V6(_) => IpAddr::V6(bits.into()),
    }
}

#[cfg(test)]
#[path = "net_tests.rs"]
mod tests;
