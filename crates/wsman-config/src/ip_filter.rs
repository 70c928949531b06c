//! `Service/IPv4Filter` and `Service/IPv6Filter`: which local addresses listeners may use.
//! `*` = all; empty = none; else a comma-separated list of addresses and `first-last` ranges.

use std::net::IpAddr;

use wsman_safe::net::IpRange;

/// Why a filter does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpFilterError {
    /// A list item is not an address of the filter's family.
    #[error("{text:?} is not an {family} address")]
    NotAnAddress { text: String, family: &'static str },
    /// A `first-last` range whose first address is after its last.
    #[error("range {range:?} is reversed")]
    Reversed { range: String },
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpFilter {
    Any,
    /// Inclusive ranges (a single address is a range of one); empty = no address.
    List(Vec<IpRange>),
}

impl IpFilter {
    /// Parse a filter for one family (`v6` selects which).
    pub fn parse(text: &str, v6: bool) -> Result<Self, IpFilterError> {
        let t = text.trim();
        if t == "*" {
            return Ok(Self::Any);
        }
        let family = if v6 { "IPv6" } else { "IPv4" };
        let not_an_address = |s: &str| IpFilterError::NotAnAddress {
            text: s.to_owned(),
            family,
        };
        let addr = |s: &str| -> Result<IpAddr, IpFilterError> {
            let ip: IpAddr = s.trim().parse().map_err(|_| not_an_address(s))?;
            if ip.is_ipv6() != v6 {
                return Err(not_an_address(s));
            }
            Ok(ip)
        };
        let mut out = Vec::new();
        for part in t.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (addr(a)?, addr(b)?),
                None => {
                    let a = addr(part)?;
                    (a, a)
                }
            };
            out.push(
                IpRange::new(first, last).map_err(|_| IpFilterError::Reversed {
                    range: part.to_owned(),
                })?,
            );
        }
        Ok(Self::List(out))
    }

    /// True when `ip` passes the filter.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match self {
            Self::Any => true,
            Self::List(ranges) => ranges.iter().any(|range| range.contains(ip)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_match() {
        let f = IpFilter::parse("10.0.0.1-10.0.0.9, 192.168.1.1", false).unwrap();
        assert!(f.allows("10.0.0.5".parse().unwrap()));
        assert!(f.allows("192.168.1.1".parse().unwrap()));
        assert!(!f.allows("192.168.1.2".parse().unwrap()));
        assert!(!IpFilter::parse("", false)
            .unwrap()
            .allows("127.0.0.1".parse().unwrap()));
        assert!(IpFilter::parse("*", true)
            .unwrap()
            .allows("::1".parse().unwrap()));
        assert!(IpFilter::parse("::1", false).is_err());
        assert!(IpFilter::parse("10.0.0.9-10.0.0.1", false).is_err());
        assert!(IpFilter::parse("fe80::1-fe80::9", true).is_ok());
        assert!(IpFilter::parse("bogus", true).is_err());
    }
}
