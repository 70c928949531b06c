//! Deliveries refused for a body the collector cannot read (SLDC that does not decode, text
//! that is not UTF-16 or UTF-8, XML that does not parse), logged once per forwarder and
//! interval: a forwarder that resends the same unreadable batch every few seconds leaves one
//! line a minute with its identity, the reason and how many refusals were not logged, instead
//! of none (the answer, 400, is all it gets) or thousands. Deliveries refused once read (a
//! forged or doubled `Computer`, a stale subscription version) are limited the same way, per
//! forwarder and kind of refusal.
//!
//! The table is bounded: at most [`BodyRefusalLog::MAX_FORWARDERS`] forwarders are tracked;
//! past that (once those of the last interval are dropped), refusals of untracked forwarders share
//! one more slot.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rate limit for the log lines of refused delivery bodies, per forwarder.
#[derive(Debug)]
pub struct BodyRefusalLog {
    interval: Duration,
    forwarders: Mutex<HashMap<String, Slot>>,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    logged_at: Instant,
    /// Refusals since `logged_at` that were not logged.
    suppressed: u64,
}

/// The slot shared by forwarders beyond the table's bound.
const OTHERS: &str = "";

impl Default for BodyRefusalLog {
    fn default() -> Self {
        BodyRefusalLog::new(Duration::from_secs(60))
    }
}

impl BodyRefusalLog {
    pub const MAX_FORWARDERS: usize = 4096;

    pub fn new(interval: Duration) -> Self {
        BodyRefusalLog {
            interval,
            forwarders: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a refusal of `forwarder`'s body may be logged now: `Some(n)` with the number of
    /// its refusals left out since its last line, or `None` (counted for the next line).
    pub fn admit(&self, forwarder: &str) -> Option<u64> {
        self.admit_at(forwarder, Instant::now())
    }

    fn admit_at(&self, forwarder: &str, now: Instant) -> Option<u64> {
        let mut forwarders = self.forwarders.lock().unwrap_or_else(|p| p.into_inner());
        if !forwarders.contains_key(forwarder) && forwarders.len() >= Self::MAX_FORWARDERS {
            let interval = self.interval;
            forwarders.retain(|_, slot| now.duration_since(slot.logged_at) < interval);
        }
        let key = if forwarders.contains_key(forwarder) || forwarders.len() < Self::MAX_FORWARDERS {
            forwarder
        } else {
            OTHERS
        };
        match forwarders.get_mut(key) {
            Some(slot) if now.duration_since(slot.logged_at) < self.interval => {
                slot.suppressed += 1;
                None
            }
            Some(slot) => {
                let left_out = slot.suppressed;
                *slot = Slot {
                    logged_at: now,
                    suppressed: 0,
                };
                Some(left_out)
            }
            None => {
                forwarders.insert(
                    key.to_owned(),
                    Slot {
                        logged_at: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_forwarder_and_interval_then_the_count_left_out() {
        let log = BodyRefusalLog::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(log.admit_at("win10", start), Some(0));
        assert_eq!(log.admit_at("win10", start + Duration::from_secs(1)), None);
        assert_eq!(log.admit_at("win10", start + Duration::from_secs(2)), None);
        // Another forwarder is not held by the first one's line.
        assert_eq!(
            log.admit_at("win11", start + Duration::from_secs(2)),
            Some(0)
        );
        assert_eq!(
            log.admit_at("win10", start + Duration::from_secs(61)),
            Some(2)
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let log = BodyRefusalLog::new(Duration::from_secs(60));
        let start = Instant::now();
        for i in 0..BodyRefusalLog::MAX_FORWARDERS + 10 {
            log.admit_at(&format!("host{i}"), start);
        }
        let tracked = log.forwarders.lock().map(|f| f.len()).unwrap_or(0);
        assert!(tracked <= BodyRefusalLog::MAX_FORWARDERS + 1, "{tracked}");
        // Once the interval is over, old entries make room again.
        assert_eq!(
            log.admit_at("newcomer", start + Duration::from_secs(61)),
            Some(0)
        );
    }
}
