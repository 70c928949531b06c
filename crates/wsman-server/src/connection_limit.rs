//! How many connections the service holds at once: Service/MaxConnections, and never more than
//! the open-file limit leaves room for.
//!
//! Why the open-file limit counts: a connection is a file descriptor. A daemon past its
//! `RLIMIT_NOFILE` cannot accept at all (`EMFILE`): the connection waits in the kernel's queue
//! unanswered, and the daemon's own files (outputs, databases, shells' pipes) fail with it. So
//! the cap in force is the smaller of MaxConnections and the limit less
//! [`RESERVED_DESCRIPTORS`], and a connection past it is refused with 503 like any over
//! MaxConnections. The daemon raises its soft limit to the hard one at start
//! ([`raise_open_file_limit`]) and says so in the log when the limit is still below
//! MaxConnections and the reserve.
//!
//! Why refusals are logged once per interval, with a count: at fleet scale (thousands of
//! forwarders coming back after a restart) one line per refused connection would flood the
//! log, and the per-address limit does not help when every forwarder comes through one load
//! balancer or, in tests, from one loopback address.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Descriptors kept for the daemon's own use beside client connections: refusals being
/// answered (512 at most), the collector's output files held open (512 at most), and the
/// rest (listeners, databases, logs, shells' pipes).
pub const RESERVED_DESCRIPTORS: u64 = 1280;
/// How often a refused connection (past the cap, or an accept that failed) is logged at most;
/// the line counts those since the last one.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Counts open connections across all listeners, and holds the cap the open-file limit sets.
pub struct ConnectionCounter {
    open: AtomicUsize,
    pub(crate) refusing: AtomicUsize,
    /// Refusals so far (spreads their Retry-After).
    pub(crate) refused: AtomicU64,
    /// The most connections the open-file limit leaves room for (`usize::MAX`: not known).
    descriptor_cap: AtomicUsize,
    /// The (soft limit, MaxConnections) last checked, so a reload logs only a change.
    checked: Mutex<Option<(u64, u32)>>,
    /// Connections refused past the cap.
    pub(crate) over_cap: IntervalLog,
    /// Accepts that failed (the open-file limit reached, mostly).
    pub(crate) accept_failed: IntervalLog,
    /// Connections admitted so far: tells a quiet period from one with short connections.
    opened: AtomicU64,
    /// Told when the last open connection closes ([`ConnectionCounter::gone_idle`]).
    all_closed: Notify,
}

impl Default for ConnectionCounter {
    fn default() -> Self {
        Self {
            open: AtomicUsize::new(0),
            refusing: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            descriptor_cap: AtomicUsize::new(usize::MAX),
            checked: Mutex::new(None),
            over_cap: IntervalLog::new(REFUSAL_LOG_INTERVAL),
            accept_failed: IntervalLog::new(REFUSAL_LOG_INTERVAL),
            opened: AtomicU64::new(0),
            all_closed: Notify::new(),
        }
    }
}

/// Held while a connection is open.
pub struct ConnectionPermit {
    counter: Arc<ConnectionCounter>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        if self.counter.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.counter.all_closed.notify_one();
        }
    }
}

/// The connections an open-file soft limit leaves room for.
pub fn descriptor_cap(soft_limit: u64) -> usize {
    usize::try_from(soft_limit.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX)
}

impl ConnectionCounter {
    /// A permit if fewer than `max_connections` (and the open-file cap) are open.
    pub fn try_open(self: &Arc<Self>, max_connections: usize) -> Option<ConnectionPermit> {
        let limit = self.limit(max_connections);
        let mut current = self.open.load(Ordering::Acquire);
        loop {
            if current >= limit {
                return None;
            }
            match self.open.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.opened.fetch_add(1, Ordering::AcqRel);
                    return Some(ConnectionPermit {
                        counter: Arc::clone(self),
                    });
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// The cap in force: `max_connections` or what the open-file limit leaves, the smaller.
    pub fn limit(&self, max_connections: usize) -> usize {
        max_connections.min(self.descriptor_cap.load(Ordering::Acquire))
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

    /// Read the open-file limit again and set the cap from it; a warning when it is below
    /// `max_connections` and the reserve (once per change of either).
    pub fn check_open_file_limit(&self, max_connections: u32) {
        let soft = match wsman_os::fd_limit::nofile() {
            Ok(limit) => limit.soft,
            Err(error) => {
                tracing::warn!(%error, "cannot read the open-file limit (RLIMIT_NOFILE)");
                return;
            }
        };
        self.set_open_file_limit(soft, max_connections);
    }

    fn set_open_file_limit(&self, soft: u64, max_connections: u32) {
        let cap = descriptor_cap(soft);
        self.descriptor_cap.store(cap, Ordering::Release);
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        if *checked == Some((soft, max_connections)) {
            return;
        }
        *checked = Some((soft, max_connections));
        let needed = u64::from(max_connections) + RESERVED_DESCRIPTORS;
        if soft < needed {
            tracing::warn!(
                open_file_limit = soft,
                max_connections,
                reserved = RESERVED_DESCRIPTORS,
                connections = cap.min(max_connections as usize),
                "the open-file limit (RLIMIT_NOFILE) is below MaxConnections and the daemon's own reserve: connections past the lower cap are refused (503); raise LimitNOFILE= in the unit (or ulimit -Hn) to at least {needed}"
            );
        }
    }
}

/// Raise the open-file soft limit to the hard one (once, at start), logging what it is.
pub fn raise_open_file_limit() {
    match wsman_os::fd_limit::raise_nofile_to_hard() {
        Ok((before, after)) if before.soft != after.soft => {
            tracing::info!(
                from = before.soft,
                to = after.soft,
                "open-file limit (RLIMIT_NOFILE) raised to the hard limit"
            );
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit (RLIMIT_NOFILE)"),
    }
}

/// At most one line per interval: the first event of an interval is logged with the number
/// of events since the previous line (itself included).
pub struct IntervalLog {
    interval: Duration,
    since_line: AtomicU64,
    next_line: Mutex<Option<Instant>>,
}

impl IntervalLog {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            since_line: AtomicU64::new(0),
            next_line: Mutex::new(None),
        }
    }

    /// Count one event; `Some(count)` when a line is due now (then log it with that count).
    pub fn note(&self) -> Option<u64> {
        self.note_at(Instant::now())
    }

    fn note_at(&self, now: Instant) -> Option<u64> {
        self.since_line.fetch_add(1, Ordering::AcqRel);
        let mut next = self.next_line.lock().unwrap_or_else(|p| p.into_inner());
        if next.is_some_and(|at| now < at) {
            return None;
        }
        *next = Some(now + self.interval);
        Some(self.since_line.swap(0, Ordering::AcqRel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_enforces_limit_and_releases() {
        let c = Arc::new(ConnectionCounter::default());
        let a = c.try_open(2);
        let b = c.try_open(2);
        assert!(a.is_some() && b.is_some());
        assert!(c.try_open(2).is_none());
        drop(a);
        assert_eq!(c.open_connections(), 1);
        assert!(c.try_open(2).is_some());
    }

    #[test]
    fn idle_is_told_only_after_connections_and_a_quiet_period_without_any() {
        let c = Arc::new(ConnectionCounter::default());
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
        let held = c.try_open(10);
        assert!(!told(), "a connection is open");
        drop(held);
        assert!(!told(), "the last one closed: the quiet period runs");
        periods.add_permits(1);
        assert!(told(), "a quiet period without any connection");

        let idle = c.gone_idle_after(quiet_period);
        let mut idle = std::pin::pin!(idle);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut told = move || idle.as_mut().poll(&mut cx).is_ready();
        drop(c.try_open(10));
        assert!(!told());
        drop(c.try_open(10));
        periods.add_permits(1);
        assert!(
            !told(),
            "a connection during the quiet period starts another"
        );
        let held = c.try_open(10);
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

    #[test]
    fn the_open_file_limit_lowers_the_cap() {
        let c = Arc::new(ConnectionCounter::default());
        assert_eq!(c.limit(300), 300);
        c.set_open_file_limit(RESERVED_DESCRIPTORS + 2, 300);
        assert_eq!(c.limit(300), 2);
        let held = [c.try_open(300), c.try_open(300)];
        assert!(held.iter().all(Option::is_some));
        assert!(c.try_open(300).is_none(), "past the open-file cap");
        c.set_open_file_limit(RESERVED_DESCRIPTORS - 1, 300);
        assert_eq!(c.limit(300), 0, "a limit below the reserve admits none");
        c.set_open_file_limit(1 << 20, 300);
        assert_eq!(c.limit(300), 300, "MaxConnections is the lower cap again");
    }

    #[test]
    fn interval_log_lets_one_line_per_interval_through_with_the_count() {
        let log = IntervalLog::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(log.note_at(start), Some(1));
        for _ in 0..99 {
            assert_eq!(log.note_at(start + Duration::from_secs(1)), None);
        }
        assert_eq!(log.note_at(start + Duration::from_secs(10)), Some(100));
        assert_eq!(log.note_at(start + Duration::from_secs(11)), None);
    }
}
