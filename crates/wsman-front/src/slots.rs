//! The connection cap: how many connections a service holds at once, in all (a limit the
//! caller passes at each connection, so a changed setting applies to the next one, lowered to
//! what the open-file limit leaves room for: a connection is a file descriptor, and a service
//! past its `RLIMIT_NOFILE` cannot even accept) and, when the service asks for it, per client
//! address (so one client's idle connections cannot take every slot). A place is given back
//! when its [`ConnectionSlot`] drops. [`AddressSlots`], the per-address count, also bounds
//! other per-client work (the console's login checks).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::refusals::IntervalLog;

/// Open connections of a service, across all its listeners.
#[derive(Debug)]
pub struct ConnectionSlots {
    open: AtomicUsize,
    /// The most connections the open-file limit leaves room for (`usize::MAX`: not known).
    descriptor_cap: AtomicUsize,
    per_address: Option<AddressSlots>,
    /// Connections admitted so far: tells a quiet period from one with short connections.
    opened: AtomicU64,
    /// Told when the last open connection closes ([`ConnectionSlots::gone_idle`]).
    all_closed: Notify,
    /// Connections refused past the cap, for the service's line about them.
    pub over_cap: IntervalLog,
    /// Accepts that failed ([`crate::accept::next`]).
    pub accept_failed: IntervalLog,
    /// Refusals being answered now, and so far ([`crate::over_cap`]).
    pub(crate) answering: AtomicUsize,
    pub(crate) refused: AtomicU64,
}

impl Default for ConnectionSlots {
    fn default() -> Self {
        Self {
            open: AtomicUsize::new(0),
            descriptor_cap: AtomicUsize::new(usize::MAX),
            per_address: None,
            opened: AtomicU64::new(0),
            all_closed: Notify::new(),
            over_cap: IntervalLog::default(),
            accept_failed: IntervalLog::default(),
            answering: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }
}

/// Which cap a refused connection met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// Its address holds as many as one address may.
    Address,
    /// The service holds as many as it may.
    Total,
}

/// One open connection's place; given back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    slots: Arc<ConnectionSlots>,
    _address: Option<AddressSlot>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if self.slots.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.slots.all_closed.notify_one();
        }
    }
}

impl ConnectionSlots {
    /// Slots with a cap per client address too: at most `per_address` from one address, for at
    /// most `addresses` addresses at once.
    pub fn per_address(per_address: usize, addresses: usize) -> Self {
        Self {
            per_address: Some(AddressSlots::new(per_address, addresses)),
            ..Self::default()
        }
    }

    /// A place for a connection from `ip` if its address and the service (fewer than
    /// `max_connections` and the open-file cap) have room.
    pub fn take(
        self: &Arc<Self>,
        ip: IpAddr,
        max_connections: usize,
    ) -> Result<ConnectionSlot, Full> {
        let address = match &self.per_address {
            Some(by_address) => Some(by_address.take(ip).ok_or(Full::Address)?),
            None => None,
        };
        let limit = self.limit(max_connections);
        let mut current = self.open.load(Ordering::Acquire);
        loop {
            if current >= limit {
                return Err(Full::Total);
            }
            match self.open.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        self.opened.fetch_add(1, Ordering::AcqRel);
        Ok(ConnectionSlot {
            slots: Arc::clone(self),
            _address: address,
        })
    }

    /// The cap in force: `max_connections` or what the open-file limit leaves, the smaller.
    pub fn limit(&self, max_connections: usize) -> usize {
        max_connections.min(self.descriptor_cap.load(Ordering::Acquire))
    }

    /// The most connections the open-file limit leaves room for (the caller reads the limit).
    pub fn set_descriptor_cap(&self, cap: usize) {
        self.descriptor_cap.store(cap, Ordering::Release);
    }

    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Returns once connections were served and then a whole `quiet` period passed with none
    /// open and none opened (so `quiet` to twice `quiet` after the last one closed): the
    /// service has gone idle after serving, so what serving faulted in and allocated can be
    /// given back. Never returns while a connection stays open; wakes no one while idle.
    pub async fn gone_idle(&self, quiet: Duration) {
        self.gone_idle_after(|| tokio::time::sleep(quiet)).await;
    }

    /// [`Self::gone_idle`] with the quiet period as a future (tests end it at will).
    async fn gone_idle_after<F: Future<Output = ()>>(&self, mut quiet_period: impl FnMut() -> F) {
        loop {
            self.all_closed.notified().await;
            loop {
                let opened = self.opened.load(Ordering::Acquire);
                quiet_period().await;
                if self.open_connections() != 0 {
                    break; // until the last of them closes
                }
                if self.opened.load(Ordering::Acquire) == opened {
                    return;
                }
            }
        }
    }
}

type Taken = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Counted places per client address: what one address may hold at once, so one client
/// cannot take what every other client needs; the table is bounded too.
#[derive(Debug)]
pub struct AddressSlots {
    taken: Taken,
    per_address: usize,
    addresses: usize,
}

/// One place taken by an address; given back when dropped.
#[derive(Debug)]
pub struct AddressSlot {
    taken: Taken,
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

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn idle_is_told_only_after_connections_and_a_quiet_period_without_any() {
        let c = Arc::new(ConnectionSlots::default());
        let open = |c: &Arc<ConnectionSlots>| c.take(ip("192.0.2.1"), 10).ok();
        // Each permit ends one quiet period.
        let periods = Arc::new(tokio::sync::Semaphore::new(0));
        let quiet_period = || {
            let periods = Arc::clone(&periods);
            async move { periods.acquire().await.expect("never closed").forget() }
        };
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let idle = c.gone_idle_after(quiet_period);
        let mut idle = std::pin::pin!(idle);
        let mut told = move || idle.as_mut().poll(&mut cx).is_ready();

        assert!(!told(), "nothing served yet");
        let held = open(&c);
        assert!(!told(), "a connection is open");
        drop(held);
        assert!(!told(), "the last one closed: the quiet period runs");
        periods.add_permits(1);
        assert!(told(), "a quiet period without any connection");

        let idle = c.gone_idle_after(quiet_period);
        let mut idle = std::pin::pin!(idle);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut told = move || idle.as_mut().poll(&mut cx).is_ready();
        drop(open(&c));
        assert!(!told());
        drop(open(&c));
        periods.add_permits(1);
        assert!(
            !told(),
            "a connection during the quiet period starts another"
        );
        let held = open(&c);
        periods.add_permits(1);
        assert!(
            !told(),
            "a connection open at its end: wait for it to close"
        );
        drop(held);
        assert!(!told());
        periods.add_permits(1);
        assert!(told());
    }
}
