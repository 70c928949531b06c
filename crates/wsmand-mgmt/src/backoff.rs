//! Backoff after failed logins, per client address and per user name: a few failures are
//! free, then each further one doubles the wait before the next attempt is even checked
//! (answered 429 without touching a password store). Both tables are bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per user name before waits start.
const FREE_FAILURES_PER_USER: u32 = 3;
/// Failures allowed per address before waits start (several users may share one address).
const FREE_FAILURES_PER_ADDRESS: u32 = 10;
/// Longest wait.
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Most entries per table; the oldest is dropped to make room.
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    not_before: Instant,
}

/// The failure tables.
#[derive(Default)]
pub struct Backoff {
    users: Mutex<HashMap<String, Failures>>,
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
    now: Instant,
) -> Duration {
    let map = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.get(key).map_or(Duration::ZERO, |f| {
        f.not_before.saturating_duration_since(now)
    })
}

fn record<K: std::hash::Hash + Eq + Clone>(
    map: &Mutex<HashMap<K, Failures>>,
    key: &K,
    free: u32,
    now: Instant,
) {
    let mut map = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if map.len() >= MAX_ENTRIES && !map.contains_key(key) {
        if let Some(oldest) = map
            .iter()
            .min_by_key(|(_, f)| f.not_before)
            .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    let entry = map.entry(key.clone()).or_insert(Failures {
        count: 0,
        not_before: now,
    });
    entry.count = entry.count.saturating_add(1);
    entry.not_before = now + wait_after(entry.count, free);
}

impl Backoff {
    /// How long this address or user must still wait (zero: may try now).
    pub fn wait(&self, address: IpAddr, user: &str) -> Duration {
        let now = Instant::now();
        remaining(&self.addresses, &address, now).max(remaining(&self.users, &user.to_owned(), now))
    }

    /// A failed login.
    pub fn failed(&self, address: IpAddr, user: &str) {
        let now = Instant::now();
        record(&self.addresses, &address, FREE_FAILURES_PER_ADDRESS, now);
        record(&self.users, &user.to_owned(), FREE_FAILURES_PER_USER, now);
    }

    /// A successful login clears the user's failures (the address keeps its count: one
    /// good account must not unlock guessing at others from the same address).
    pub fn succeeded(&self, user: &str) {
        self.users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(user);
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
        assert!(backoff.wait("192.0.2.2".parse().unwrap(), "u") > Duration::ZERO);
        assert_eq!(backoff.wait(ip, "other"), Duration::ZERO);
    }
}
