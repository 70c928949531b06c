//! The connection cap and the per-address places, as both services take them.

use std::net::IpAddr;
use std::sync::Arc;

use wsman_front::slots::{AddressSlots, ConnectionSlots, Full};

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

#[test]
fn the_total_is_enforced_and_released() {
    let c = Arc::new(ConnectionSlots::default());
    let a = c.take(ip("192.0.2.1"), 2);
    let b = c.take(ip("192.0.2.1"), 2);
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(c.take(ip("192.0.2.2"), 2).err(), Some(Full::Total));
    drop(a);
    assert_eq!(c.open_connections(), 1);
    assert!(c.take(ip("192.0.2.2"), 2).is_ok());
    c.set_descriptor_cap(1);
    assert_eq!(c.limit(2), 1);
    assert_eq!(
        c.take(ip("192.0.2.2"), 2).err(),
        Some(Full::Total),
        "past the open-file cap"
    );
}

#[test]
fn one_address_gets_its_share_and_a_refusal_past_the_total_gives_it_back() {
    let c = Arc::new(ConnectionSlots::per_address(2, 8));
    let held = [c.take(ip("192.0.2.1"), 3), c.take(ip("192.0.2.1"), 3)];
    assert!(held.iter().all(Result::is_ok));
    assert_eq!(c.take(ip("192.0.2.1"), 3).err(), Some(Full::Address));
    let other = c.take(ip("192.0.2.2"), 3).expect("another address");
    assert_eq!(c.take(ip("192.0.2.3"), 3).err(), Some(Full::Total));
    drop(other);
    // The refusal past the total did not keep the address's place.
    let again: Vec<_> = (0..2).map(|_| c.take(ip("192.0.2.3"), 4)).collect();
    assert!(again.iter().all(Result::is_ok), "{again:?}");
}

#[test]
fn address_places_are_bounded_per_address_and_given_back() {
    let slots = AddressSlots::new(2, 2);
    let (a, b, c) = (ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3"));
    let first = slots.take(a).expect("first");
    let second = slots.take(a).expect("second");
    assert!(slots.take(a).is_none(), "a third from one address");
    let other = slots.take(b).expect("another address");
    assert!(slots.take(c).is_none(), "a third address");
    drop((first, second, other));
    let kept = slots.take(c).expect("given back");
    // One address in the table: two others still fit.
    let (d, e) = (ip("192.0.2.4"), ip("192.0.2.5"));
    let held = slots.take(d).expect("a second address");
    assert!(slots.take(e).is_none(), "a third address");
    assert!(slots.take(c).is_some(), "an address in the table");
    drop(held);
    drop(kept);
}
