//! Backoff after failed logins, per (client address, user name) and per client address: a
//! few failures are free, then each further one doubles the wait before the next attempt
//! from there is even checked (answered 429 without touching a password store). Failures
//! decay (one is forgiven per [`DECAY_INTERVAL`] without a new one), so waits do not pile up
//! for ever. A user is never locked out as such: failures from one address do not delay the
//! same user's attempts from an address without failures, so guessing at a name cannot deny
//! that name's owner the console. Both tables are bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per user name and address before waits start.
const FREE_FAILURES_PER_USER: u32 = 3;
/// Failures allowed per address before waits start (several users may share one address).
const FREE_FAILURES_PER_ADDRESS: u32 = 10;
/// Longest wait.
const MAX_WAIT: Duration = Duration::from_secs(300);
/// One failure is forgiven per this long without a new one.
pub const DECAY_INTERVAL: Duration = Duration::from_secs(60);
/// Most entries per table; the oldest is dropped to make room.
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// The count after the decay since the last failure.
    fn decayed(&self, now: Instant) -> u32 {
        let quiet = now.saturating_duration_since(self.last);
        let forgiven = quiet.as_secs() / DECAY_INTERVAL.as_secs().max(1);
        self.count
            .saturating_sub(u32::try_from(forgiven).unwrap_or(u32::MAX))
    }
}

/// The failure tables.
#[derive(Default)]
pub struct Backoff {
    pairs: Mutex<HashMap<(IpAddr, String), Failures>>,
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

fn wait_after(count: u32, free: u32) -> Duration {
    match count.checked_sub(free) {
        None | Some(0) => Duration::ZERO,
        Some(extra) => Duration::from_secs(1u64 << extra.min(16).saturating_sub(1)).min(MAX_WAIT),
    }
}

fn remaining<K: std::hash::Hash + Eq>(
    map: &Mutex<HashMap<K, Failures>>,
    key: &K,
    free: u32,
    now: Instant,
) -> Duration {
    let map = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.get(key).map_or(Duration::ZERO, |f| {
        (f.last + wait_after(f.count, free)).saturating_duration_since(now)
    })
}

fn record<K: std::hash::Hash + Eq + Clone>(
    map: &Mutex<HashMap<K, Failures>>,
    key: &K,
    now: Instant,
) {
    let mut map = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if map.len() >= MAX_ENTRIES && !map.contains_key(key) {
        if let Some(oldest) = map
            .iter()
            .min_by_key(|(_, f)| f.last)
            .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    let entry = map.entry(key.clone()).or_insert(Failures {
        count: 0,
        last: now,
    });
    entry.count = entry.decayed(now).saturating_add(1);
    entry.last = now;
}

impl Backoff {
    /// How long `user` must still wait before an attempt from `address` is checked (zero:
    /// may try now).
    pub fn wait(&self, address: IpAddr, user: &str) -> Duration {
        self.wait_at(address, user, Instant::now())
    }

    fn wait_at(&self, address: IpAddr, user: &str, now: Instant) -> Duration {
        let pair = (address, user.to_owned());
        remaining(&self.addresses, &address, FREE_FAILURES_PER_ADDRESS, now).max(remaining(
            &self.pairs,
            &pair,
            FREE_FAILURES_PER_USER,
            now,
        ))
    }

    /// A failed login.
    pub fn failed(&self, address: IpAddr, user: &str) {
        self.failed_at(address, user, Instant::now());
    }

    fn failed_at(&self, address: IpAddr, user: &str, now: Instant) {
        record(&self.addresses, &address, now);
        record(&self.pairs, &(address, user.to_owned()), now);
    }

    /// A successful login clears the user's failures from that address (the address keeps
    /// its count: one good account must not unlock guessing at others from the same address).
    pub fn succeeded(&self, address: IpAddr, user: &str) {
        self.pairs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&(address, user.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_start_after_the_free_failures_and_double() {
        assert_eq!(wait_after(3, 3), Duration::ZERO);
        assert_eq!(wait_after(4, 3), Duration::from_secs(1));
        assert_eq!(wait_after(5, 3), Duration::from_secs(2));
        assert_eq!(wait_after(100, 3), MAX_WAIT);
        let backoff = Backoff::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..FREE_FAILURES_PER_USER {
            assert_eq!(backoff.wait(ip, "u"), Duration::ZERO);
            backoff.failed(ip, "u");
        }
        backoff.failed(ip, "u");
        assert!(backoff.wait(ip, "u") > Duration::ZERO);
        assert_eq!(backoff.wait(ip, "other"), Duration::ZERO);
    }

    #[test]
    fn failures_from_one_address_never_delay_the_user_from_another() {
        let backoff = Backoff::default();
        let (attacker, owner): (IpAddr, IpAddr) = (
            "192.0.2.1".parse().unwrap(),
            "198.51.100.7".parse().unwrap(),
        );
        let now = Instant::now();
        for _ in 0..200 {
            backoff.failed_at(attacker, "admin", now);
        }
        assert_eq!(backoff.wait_at(attacker, "admin", now), MAX_WAIT);
        assert_eq!(backoff.wait_at(owner, "admin", now), Duration::ZERO);
    }

    #[test]
    fn failures_decay_so_waits_do_not_pile_up() {
        let backoff = Backoff::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let start = Instant::now();
        // One failure every five minutes for ever: each finds the last one forgiven.
        for round in 0..100u32 {
            let now = start + MAX_WAIT * round;
            assert_eq!(backoff.wait_at(ip, "u", now), Duration::ZERO, "{round}");
            backoff.failed_at(ip, "u", now);
        }
        // A burst is held back, then forgiven one per interval.
        let burst = start + MAX_WAIT * 200;
        for _ in 0..10 {
            backoff.failed_at(ip, "u", burst);
        }
        assert!(backoff.wait_at(ip, "u", burst) > Duration::ZERO);
        let later = burst + DECAY_INTERVAL * 12;
        assert_eq!(backoff.wait_at(ip, "u", later), Duration::ZERO);
        backoff.failed_at(ip, "u", later);
        assert_eq!(backoff.wait_at(ip, "u", later), Duration::ZERO);
    }
}
