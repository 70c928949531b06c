use super::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

fn strict(text: &str) -> IpRange {
    IpRange::parse_cidr(text, HostBits::Refused).expect("parses")
}

#[test]
fn networks_hosts_and_the_mapped_rule() {
    let net = strict("192.0.2.0/24");
    assert!(net.contains(ip("192.0.2.200")));
    assert!(net.contains(ip("::ffff:192.0.2.9")));
    assert!(!net.contains(ip("192.0.3.1")));
    assert!(!net.contains(ip("2001:db8::1")));
    let host = strict("127.0.0.2");
    assert!(host.contains(ip("127.0.0.2")));
    assert!(!host.contains(ip("127.0.0.1")));
    assert!(strict("0.0.0.0/0").contains(ip("203.0.113.1")));
    let v6 = strict("2001:db8::/32");
    assert!(v6.contains(ip("2001:db8:1::5")));
    assert!(!v6.contains(ip("2001:db9::5")));
    assert!(strict("::/0").contains(ip("::1")));
    // An IPv4 client on a dual-stack socket is an IPv4 client, not an IPv6 one.
    assert!(!strict("::/0").contains(ip("::ffff:10.0.0.1")));
    // A network written in mapped form is the IPv4 network.
    let mapped = strict("::ffff:10.0.0.0/104");
    assert!(mapped.is_ipv4());
    assert!(mapped.contains(ip("10.200.0.1")));
    assert_eq!(mapped.to_string(), "10.0.0.0/8");
    let range = IpRange::new(ip("::ffff:10.0.0.1"), ip("::ffff:10.0.0.9")).expect("range");
    assert!(range.contains(ip("10.0.0.5")));
    assert!(range.contains(ip("::ffff:10.0.0.9")));
    assert!(!range.contains(ip("10.0.0.10")));
}

#[test]
fn host_bits_refused_or_cleared() {
    assert_eq!(
        IpRange::parse_cidr("192.0.2.7/24", HostBits::Refused),
        Err(IpRangeError::HostBits("192.0.2.7/24".into()))
    );
    let cleared = IpRange::parse_cidr("192.0.2.7/24", HostBits::Cleared).expect("parses");
    assert_eq!(cleared, strict("192.0.2.0/24"));
    assert_eq!(cleared.to_string(), "192.0.2.0/24");
}

#[test]
fn refused_forms() {
    for bad in [
        "",
        "192.0.2.0/33",
        "192.0.2.0/",
        "192.0.2.0/+8",
        "192.0.2.*",
        "host.example",
        "2001:db8::/129",
        "10.0.0.0/08x",
        "10.0.0.0/0008",
    ] {
        assert!(
            IpRange::parse_cidr(bad, HostBits::Cleared).is_err(),
            "{bad:?}"
        );
    }
    for bad in ["", "10.0.0.9-10.0.0.1", "10.0.0.1-::1", "a-b", "10.0.0.1-"] {
        assert!(IpRange::parse_range(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn ranges_and_their_text() {
    let range = IpRange::parse_range(" 10.0.0.1 - 10.0.0.9 ").expect("parses");
    assert_eq!(range.to_string(), "10.0.0.1-10.0.0.9");
    assert!(range.contains(ip("10.0.0.1")) && range.contains(ip("10.0.0.9")));
    assert!(!range.contains(ip("10.0.0.10")));
    let one = IpRange::parse_range("fe80::1").expect("parses");
    assert_eq!(one.to_string(), "fe80::1");
    assert_eq!((one.first(), one.last()), (ip("fe80::1"), ip("fe80::1")));
    assert_eq!(IpRange::single(ip("::ffff:1.2.3.4")).to_string(), "1.2.3.4");
}

proptest! {
    /// Any text: parsed or refused, never a panic; a parsed range contains its ends and what it
    /// prints parses back to the same range.
    #[test]
    fn any_text(text in "\\PC{0,48}") {
        let cidr = [HostBits::Refused, HostBits::Cleared]
            .map(|host_bits| IpRange::parse_cidr(&text, host_bits));
        for range in cidr.into_iter().flatten() {
            prop_assert!(range.contains(range.first()) && range.contains(range.last()));
            prop_assert_eq!(strict(&range.to_string()), range);
        }
        if let Ok(range) = IpRange::parse_range(&text) {
            prop_assert!(range.contains(range.first()) && range.contains(range.last()));
            prop_assert_eq!(IpRange::parse_range(&range.to_string()), Ok(range));
        }
    }

    /// An IPv4 network contains exactly the addresses that share its first `prefix` bits,
    /// asked as IPv4 or IPv4-mapped; printed, it parses back to itself.
    #[test]
    fn ipv4_prefixes(a in any::<u32>(), b in any::<u32>(), prefix in 0u8..=32) {
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        let network = Ipv4Addr::from(a & mask);
        let range = strict(&format!("{network}/{prefix}"));
        let other = Ipv4Addr::from(b);
        let inside = (b & mask) == (a & mask);
        prop_assert_eq!(range.contains(IpAddr::V4(other)), inside);
        prop_assert_eq!(range.contains(IpAddr::V6(other.to_ipv6_mapped())), inside);
        // An IPv6 address that is not IPv4-mapped is never in an IPv4 network.
        prop_assert!(!range.contains(IpAddr::V6(Ipv6Addr::from((u128::from(b) << 64) | 1))));
        prop_assert_eq!(strict(&range.to_string()), range);
        let cleared = IpRange::parse_cidr(&format!("{}/{prefix}", Ipv4Addr::from(a)), HostBits::Cleared);
        prop_assert_eq!(cleared, Ok(range));
    }

    /// The same for IPv6 networks; a mapped IPv6 network (prefix 96 and more over
    /// `::ffff:0:0/96`) is the IPv4 network of the same addresses.
    #[test]
    fn ipv6_prefixes(a in any::<u128>(), b in any::<u128>(), prefix in 0u8..=128) {
        let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
        let network = Ipv6Addr::from(a & mask);
        let range = strict(&format!("{network}/{prefix}"));
        let other = Ipv6Addr::from(b);
        let expected = if other.to_ipv4_mapped().is_some() {
            // A mapped address is an IPv4 one: in a range only when the range is the IPv4 one.
            range.is_ipv4() && (b & mask) == (a & mask)
        } else {
            !range.is_ipv4() && (b & mask) == (a & mask)
        };
        prop_assert_eq!(range.contains(IpAddr::V6(other)), expected);
        prop_assert_eq!(strict(&range.to_string()), range);
    }

    /// A range contains exactly the addresses between its ends, of its family.
    #[test]
    fn ipv4_ranges(a in any::<u32>(), b in any::<u32>(), c in any::<u32>()) {
        let (first, last) = (a.min(b), a.max(b));
        let range = IpRange::new(Ipv4Addr::from(first).into(), Ipv4Addr::from(last).into())
            .expect("in order");
        prop_assert_eq!(range.contains(Ipv4Addr::from(c).into()), first <= c && c <= last);
        prop_assert_eq!(IpRange::parse_range(&range.to_string()), Ok(range));
        if first < last {
            let reversed = IpRange::new(Ipv4Addr::from(last).into(), Ipv4Addr::from(first).into());
            prop_assert!(reversed.is_err());
        }
    }
}
