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

use wsman_proto::refusal_log::{LeftOut, RefusalLimits, RefusalLog};

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
    /// Checks by (scheme, result), for the metrics endpoint. Schemes are names from our own
    /// code, so the map stays small.
    results: Mutex<std::collections::BTreeMap<(String, &'static str), u64>>,
}

/// The throttle as it is now ([`LoginThrottle::state`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThrottleState {
    /// Addresses (IPv6 per /64) with recent failures.
    pub addresses: usize,
    /// Of those, the ones whose next check waits.
    pub delayed: usize,
}

impl LoginThrottle {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count_result(&self, scheme: &str, result: &'static str) {
        let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        *results.entry((scheme.to_owned(), result)).or_insert(0) += 1;
    }

    /// Credential checks so far: ((scheme, `success` or `failure`), count).
    pub fn results(&self) -> Vec<((String, &'static str), u64)> {
        let results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        results.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// The addresses with recent failures, and how many of them `policy` delays now.
    pub fn state(&self, policy: &ThrottlePolicy) -> ThrottleState {
        let now = Instant::now();
        let entries = self.entries();
        let recent = entries
            .map
            .values()
            .filter(|e| now.duration_since(e.last_failure) < FORGET_AFTER);
        let mut state = ThrottleState::default();
        for entry in recent {
            state.addresses += 1;
            if !policy.delay_after(entry.failures).is_zero() {
                state.delayed += 1;
            }
        }
        state
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
        self.count_result(scheme, "failure");
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

    /// A successful login from `remote` with `scheme` clears the failures of its address.
    pub fn record_success(&self, remote: impl Into<Peer>, scheme: &str) {
        self.count_result(scheme, "success");
        self.entries().map.remove(&key(remote.into().ip()));
    }
}

/// The server's policy for the refusals an unauthenticated client can cause at no cost to
/// itself (a connection to a local address outside IPv4Filter/IPv6Filter, no credentials, not
/// an Identify, a repeated Authorization header, MaxConnections), on the one
/// [`RefusalLog`]: at most [`RefusalRateLog::PER_ADDRESS_PER_MINUTE`] lines per address (IPv6
/// per /64) and [`RefusalRateLog::TOTAL_PER_MINUTE`] in all, a minute; what is left out is
/// reported by one summary line per address when its minute has ended. Failed logins
/// themselves are not rate-limited here: they are slowed down by [`LoginThrottle`] instead.
#[derive(Debug)]
pub struct RefusalRateLog {
    log: RefusalLog<IpAddr>,
}

impl Default for RefusalRateLog {
    fn default() -> Self {
        RefusalRateLog {
            log: RefusalLog::new(RefusalLimits {
                interval: Duration::from_secs(60),
                per_key: Self::PER_ADDRESS_PER_MINUTE,
                total: Self::TOTAL_PER_MINUTE,
                max_keys: MAX_TRACKED,
            }),
        }
    }
}

impl RefusalRateLog {
    pub const PER_ADDRESS_PER_MINUTE: u32 = 10;
    pub const TOTAL_PER_MINUTE: u32 = 200;
    /// Summary lines written at most at once; the rest are added up in one.
    pub const SUMMARY_LINES: usize = 20;

    /// Whether a refusal for `remote` may be logged now (the caller then logs it with its
    /// own fields); when not, it is counted for the summary.
    pub fn admit(&self, remote: SocketAddr) -> bool {
        self.admit_at(remote, Instant::now())
    }

    fn admit_at(&self, remote: SocketAddr, now: Instant) -> bool {
        let admission = self.log.admit(key(remote.ip()), "refused", now);
        summarise(admission.ended);
        admission.log
    }
}

/// One line per address that had refusals left out (the busiest first, at most
/// [`RefusalRateLog::SUMMARY_LINES`]), the rest in one line.
fn summarise(mut ended: Vec<LeftOut<IpAddr>>) {
    ended.sort_by_key(|l| std::cmp::Reverse(l.count));
    let rest: u64 = ended
        .iter()
        .enumerate()
        .filter(|(i, l)| *i >= RefusalRateLog::SUMMARY_LINES || l.key.is_none())
        .map(|(_, l)| l.count)
        .sum();
    for left in ended.iter().take(RefusalRateLog::SUMMARY_LINES) {
        if let Some(address) = left.key {
            tracing::warn!(remote = %address, count = left.count, seconds = left.over.as_secs(), "more requests or connections from this address were refused (not logged one by one)");
        }
    }
    if rest > 0 {
        tracing::warn!(count = rest, "more requests or connections from other addresses were refused (not logged one by one)");
    }
}

/// Paces unauthenticated requests per address (IPv6 per /64): a burst of
/// [`UnauthenticatedPacing::BURST`] goes through at once, refilled at
/// [`UnauthenticatedPacing::PER_SECOND`] a second; beyond, each request waits
/// [`UnauthenticatedPacing::DELAY`] before it is answered. A request without credentials costs
/// the client nothing to repeat; answered as fast as the daemon can, twenty such clients on a
/// kept-alive connection each turn the daemon into their load generator and take CPU from the
/// authenticated clients. A wait costs the daemon nothing and bounds that client. Legitimate
/// clients send one unauthenticated request per connection at most (the first leg of a
/// challenge, an anonymous Identify from a monitor) and never notice.
#[derive(Debug, Default)]
pub struct UnauthenticatedPacing {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl UnauthenticatedPacing {
    pub const BURST: f64 = 20.0;
    pub const PER_SECOND: f64 = 20.0;
    pub const DELAY: Duration = Duration::from_millis(100);

    /// How long to hold this unauthenticated request from `remote` before answering it.
    pub fn delay(&self, remote: SocketAddr) -> Duration {
        self.delay_at(remote, Instant::now())
    }

    fn delay_at(&self, remote: SocketAddr, now: Instant) -> Duration {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let address = key(remote.ip());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&address) {
            // Full buckets are forgotten first (their addresses are idle or paced already).
            buckets.retain(|_, b| b.refilled(now) < Self::BURST);
            if buckets.len() >= MAX_TRACKED {
                return Self::DELAY;
            }
        }
        let bucket = buckets.entry(address).or_insert(Bucket {
            tokens: Self::BURST,
            at: now,
        });
        bucket.tokens = bucket.refilled(now);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Duration::ZERO
        } else {
            Self::DELAY
        }
    }
}

impl Bucket {
    fn refilled(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * UnauthenticatedPacing::PER_SECOND)
            .min(UnauthenticatedPacing::BURST)
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
        t.record_success(peer("10.0.0.1"), "Basic");
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

    #[test]
    fn refusals_are_logged_per_address_at_a_bounded_rate() {
        let log = RefusalRateLog::default();
        let start = Instant::now();
        let a = peer("10.0.0.1");
        let b = peer("10.0.0.2");
        let logged = |remote, n: u32| (0..n).filter(|_| log.admit_at(remote, start)).count() as u32;
        assert_eq!(logged(a, 1000), RefusalRateLog::PER_ADDRESS_PER_MINUTE);
        // Another address still gets its own lines: one client cannot silence the others.
        assert_eq!(logged(b, 5), 5);
        // A new minute starts over (and summarises the last one).
        let later = start + Duration::from_secs(61);
        let left = log.log.admit(key(a.ip()), "refused", later);
        assert!(left.log);
        assert_eq!(left.left_out_of(&key(a.ip())), 990);
    }

    #[test]
    fn refusal_lines_are_bounded_in_all_and_memory_is_bounded() {
        let log = RefusalRateLog::default();
        let now = Instant::now();
        let mut lines = 0;
        for i in 0..(MAX_TRACKED as u32 + 100) {
            let remote = SocketAddr::from((std::net::Ipv4Addr::from(0x0a00_0000 + i), 1));
            lines += u32::from(log.admit_at(remote, now));
        }
        assert_eq!(lines, RefusalRateLog::TOTAL_PER_MINUTE);
        assert_eq!(log.log.tracked(), MAX_TRACKED + 1);
    }

    #[test]
    fn unauthenticated_requests_are_paced_per_address_after_a_burst() {
        let pacing = UnauthenticatedPacing::default();
        let start = Instant::now();
        let a = peer("10.0.0.1");
        let burst = UnauthenticatedPacing::BURST as usize;
        for _ in 0..burst {
            assert_eq!(pacing.delay_at(a, start), Duration::ZERO);
        }
        assert_eq!(pacing.delay_at(a, start), UnauthenticatedPacing::DELAY);
        // Another address is not slowed down by this one.
        assert_eq!(pacing.delay_at(peer("10.0.0.2"), start), Duration::ZERO);
        // A second later the bucket is full again.
        let later = start + Duration::from_secs(1);
        for _ in 0..burst {
            assert_eq!(pacing.delay_at(a, later), Duration::ZERO);
        }
        assert_eq!(pacing.delay_at(a, later), UnauthenticatedPacing::DELAY);
    }
}
