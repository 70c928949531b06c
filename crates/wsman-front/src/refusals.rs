//! A refusal logged once per interval with a count: the connection-level refusals (past the
//! cap, an accept that failed) of a service that has no one client to blame. At fleet scale
//! (thousands of forwarders reconnecting after a restart) a line per refusal would flood the
//! log, and a per-address bound does not help when every client comes through one load
//! balancer. The one rate limit, `wsman_proto::refusal_log::RefusalLog`, with one key.

use std::time::{Duration, Instant};

use wsman_proto::refusal_log::{RefusalLimits, RefusalLog};

/// How often a connection-level refusal is logged at most.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// At most one line per interval: the first event of an interval is logged with the number
/// of events since the previous line (itself included).
#[derive(Debug)]
pub struct IntervalLog {
    log: RefusalLog<()>,
}

impl Default for IntervalLog {
    fn default() -> Self {
        Self::new(REFUSAL_LOG_INTERVAL)
    }
}

impl IntervalLog {
    pub fn new(interval: Duration) -> Self {
        Self {
            log: RefusalLog::new(RefusalLimits {
                interval,
                per_key: 1,
                total: 1,
                max_keys: 1,
            }),
        }
    }

    /// Count one event; `Some(count)` when a line is due now (then log it with that count).
    pub fn note(&self) -> Option<u64> {
        self.note_at(Instant::now())
    }

    fn note_at(&self, now: Instant) -> Option<u64> {
        let admission = self.log.admit((), "refused", now);
        admission.log.then(|| admission.left_out_of(&()) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_log_lets_one_line_per_interval_through_with_the_count() {
        let (log, start) = (IntervalLog::new(Duration::from_secs(10)), Instant::now());
        let at = |seconds| start + Duration::from_secs(seconds);
        assert_eq!(log.note_at(at(0)), Some(1));
        assert!((0..99).all(|_| log.note_at(at(1)).is_none()));
        assert_eq!(
            log.note_at(at(10)),
            Some(100),
            "the line counts itself and those left out"
        );
        assert_eq!(log.note_at(at(11)), None);
    }
}
