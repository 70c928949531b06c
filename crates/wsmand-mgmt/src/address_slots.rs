//! Counted places per client address: what one address may hold at once (connections, login
//! checks under way), so one client cannot take what every other client needs. One type for
//! both, the table bounded too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The places taken, by address.
pub struct AddressSlots {
    taken: Arc<Mutex<HashMap<IpAddr, usize>>>,
    per_address: usize,
    addresses: usize,
}

/// One place taken by an address; given back when dropped.
pub struct AddressSlot {
    taken: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

fn lock(
    taken: &Mutex<HashMap<IpAddr, usize>>,
) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
    taken
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AddressSlots {
    /// At most `per_address` places per address, for at most `addresses` addresses at once.
    pub fn new(per_address: usize, addresses: usize) -> Self {
        Self {
            taken: Arc::default(),
            per_address,
            addresses,
        }
    }

    /// A place for `address`, unless it holds `per_address` already or the table is full.
    pub fn take(&self, address: IpAddr) -> Option<AddressSlot> {
        let mut taken = lock(&self.taken);
        if taken.len() >= self.addresses && !taken.contains_key(&address) {
            return None;
        }
        let count = taken.entry(address).or_insert(0);
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            taken: Arc::clone(&self.taken),
            address,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut taken = lock(&self.taken);
        if let Some(count) = taken.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                taken.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_per_address_and_given_back() {
        let slots = AddressSlots::new(2, 2);
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            "192.0.2.3".parse().unwrap(),
        );
        let first = slots.take(a).expect("first");
        let second = slots.take(a).expect("second");
        assert!(slots.take(a).is_none(), "a third from one address");
        let other = slots.take(b).expect("another address");
        assert!(slots.take(c).is_none(), "a third address");
        drop((first, second, other));
        let kept = slots.take(c).expect("given back");
        assert_eq!(lock(&slots.taken).len(), 1);
        drop(kept);
        assert!(lock(&slots.taken).is_empty());
    }
}
