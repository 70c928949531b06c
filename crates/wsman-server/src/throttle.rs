//! Failed logins: every one is logged (remote address, scheme, user; never a secret), and an
//! address that keeps failing is slowed down, so that guessing passwords over the network
//! costs time.
//!
//! How: after [`FREE_FAILURES`] failures, every later credential check from that address waits
//! first, [`BASE_DELAY`] doubled per further failure, capped by `[Security]
//! FailedLoginMaxDelayms`. The wait comes *before* the check, for right and wrong passwords
//! alike: a delay only on the 401 would tell a client that gives up early that its guess was
//! wrong. A success resets the address; failures are forgotten after [`FORGET_AFTER`] without
//! one. IPv6 addresses count per /64 (one host owns a whole /64 and could rotate inside it).
//! Memory is bounded: at most [`MAX_TRACKED`] addresses, the least recently failing one is
//! dropped first.
//!
//! Use from any authentication path (one call each):
//! `delay_before_check` before verifying, then `record_failure` or `record_success`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures an address may make before it is slowed down (typing mistakes).
pub const FREE_FAILURES: u32 = 3;
/// The first delay; doubled per further failure.
pub const BASE_DELAY: Duration = Duration::from_millis(250);
/// An address without a failure for this long starts over.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Most addresses tracked at once.
pub const MAX_TRACKED: usize = 4096;

/// The throttle's settings (from `[Security]`), read per attempt so changes apply live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// `FailedLoginDelay`: slow repeated failures down (they are logged either way).
    pub enabled: bool,
    /// `FailedLoginMaxDelayms`.
    pub max_delay: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            max_delay: Duration::from_millis(wsman_config::DEFAULT_FAILED_LOGIN_MAX_DELAY_MS),
        }
    }
}

impl ThrottlePolicy {
    /// The wait before the next check after `failures` failures.
    pub fn delay_after(&self, failures: u32) -> Duration {
        if !self.enabled || failures <= FREE_FAILURES {
            return Duration::ZERO;
        }
        let doublings = (failures - FREE_FAILURES - 1).min(20);
        BASE_DELAY
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

/// The client of a login attempt: its socket address (what the log shows; preferred) or only
/// its IP address. Failures are counted per IP address either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Socket(SocketAddr),
    Ip(IpAddr),
}

impl Peer {
    pub fn ip(self) -> IpAddr {
        match self {
            Self::Socket(s) => s.ip(),
            Self::Ip(ip) => ip,
        }
    }
}

impl From<SocketAddr> for Peer {
    fn from(s: SocketAddr) -> Self {
        Self::Socket(s)
    }
}

impl From<IpAddr> for Peer {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Socket(s) => s.fmt(f),
            Self::Ip(ip) => ip.fmt(f),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    /// Order of the last failure (eviction order; Instants may tie).
    sequence: u64,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<IpAddr, Entry>,
    next_sequence: u64,
}

/// Failed-login bookkeeping shared by every connection of the service.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    entries: Mutex<Entries>,
}

impl LoginThrottle {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Recent failures counted for `ip`.
    pub fn failures(&self, ip: IpAddr) -> u32 {
        let now = Instant::now();
        self.entries()
            .map
            .get(&key(ip))
            .filter(|e| now.duration_since(e.last_failure) < FORGET_AFTER)
            .map_or(0, |e| e.failures)
    }

    /// Wait before checking credentials from `remote`, if its address has failed too often
    /// (logged when a wait happens). Never holds a lock while waiting.
    pub async fn delay_before_check(
        &self,
        remote: impl Into<Peer>,
        scheme: &str,
        policy: &ThrottlePolicy,
    ) {
        let remote = remote.into();
        let failures = self.failures(remote.ip());
        let delay = policy.delay_after(failures);
        if delay.is_zero() {
            return;
        }
        tracing::warn!(
            remote = %remote,
            scheme,
            failures,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "failed logins from this address: delaying the credential check"
        );
        tokio::time::sleep(delay).await;
    }

    /// Count a failed login and log it (warn). Returns the failures now counted for the
    /// address of `remote`. `reason` must carry no secret.
    pub fn record_failure(
        &self,
        remote: impl Into<Peer>,
        scheme: &str,
        user: &str,
        reason: &str,
    ) -> u32 {
        let remote = remote.into();
        let ip = remote.ip();
        let now = Instant::now();
        let failures = {
            let mut entries = self.entries();
            let k = key(ip);
            if !entries.map.contains_key(&k) && entries.map.len() >= MAX_TRACKED {
                evict(&mut entries.map, now);
            }
            let sequence = entries.next_sequence;
            entries.next_sequence += 1;
            let entry = entries.map.entry(k).or_insert(Entry {
                failures: 0,
                last_failure: now,
                sequence,
            });
            entry.sequence = sequence;
            if now.duration_since(entry.last_failure) >= FORGET_AFTER {
                entry.failures = 0;
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure = now;
            entry.failures
        };
        tracing::warn!(
            remote = %remote,
            scheme,
            user,
            failures,
            reason,
            "401: authentication failed"
        );
        failures
    }

    /// A successful login from `remote` clears the failures of its address.
    pub fn record_success(&self, remote: impl Into<Peer>) {
        self.entries().map.remove(&key(remote.into().ip()));
    }
}

/// Expired entries go first; if none, the one with the oldest failure.
fn evict(entries: &mut HashMap<IpAddr, Entry>, now: Instant) {
    entries.retain(|_, e| now.duration_since(e.last_failure) < FORGET_AFTER);
    if entries.len() < MAX_TRACKED {
        return;
    }
    if let Some(oldest) = entries
        .iter()
        .min_by_key(|(_, e)| e.sequence)
        .map(|(k, _)| *k)
    {
        entries.remove(&oldest);
    }
}

/// IPv4 (and IPv4-mapped IPv6) as is; other IPv6 addresses by their /64 prefix.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    fn peer(s: &str) -> SocketAddr {
        SocketAddr::new(ip(s), 40000)
    }

    #[test]
    fn delays_grow_after_the_free_failures_and_are_capped() {
        let p = ThrottlePolicy {
            enabled: true,
            max_delay: Duration::from_secs(2),
        };
        let delays: Vec<u64> = (0..10)
            .map(|f| p.delay_after(f).as_millis() as u64)
            .collect();
        assert_eq!(delays, [0, 0, 0, 0, 250, 500, 1000, 2000, 2000, 2000]);
        assert_eq!(p.delay_after(u32::MAX), Duration::from_secs(2));
        let off = ThrottlePolicy {
            enabled: false,
            ..p
        };
        assert_eq!(off.delay_after(100), Duration::ZERO);
    }

    #[test]
    fn failures_are_counted_per_address_and_reset_by_success() {
        let t = LoginThrottle::default();
        for n in 1..=5 {
            assert_eq!(t.record_failure(peer("10.0.0.1"), "Basic", "u", "bad"), n);
        }
        // The IP address alone counts for the same client.
        assert_eq!(t.record_failure(ip("10.0.0.1"), "NTLM", "u", "bad"), 6);
        assert_eq!(t.failures(ip("10.0.0.2")), 0);
        assert_eq!(t.failures(ip("::ffff:10.0.0.1")), 6, "mapped IPv4 is IPv4");
        t.record_success(peer("10.0.0.1"));
        assert_eq!(t.failures(ip("10.0.0.1")), 0);
        // One /64 is one client.
        t.record_failure(peer("2001:db8::1"), "Basic", "u", "bad");
        t.record_failure(peer("2001:db8::ffff"), "Basic", "u", "bad");
        assert_eq!(t.failures(ip("2001:db8::2")), 2);
        assert_eq!(t.failures(ip("2001:db8:0:1::1")), 0);
    }

    #[test]
    fn memory_is_bounded() {
        let t = LoginThrottle::default();
        for n in 0..(MAX_TRACKED as u32 + 100) {
            t.record_failure(
                SocketAddr::new(IpAddr::V4(n.into()), 1),
                "Basic",
                "u",
                "bad",
            );
        }
        assert_eq!(t.entries().map.len(), MAX_TRACKED);
        // The newest is kept, the oldest went.
        assert_eq!(t.failures(IpAddr::V4((MAX_TRACKED as u32 + 99).into())), 1);
        assert_eq!(t.failures(IpAddr::V4(0.into())), 0);
    }
}
