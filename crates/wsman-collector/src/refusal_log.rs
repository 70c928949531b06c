//! Deliveries refused for a body the collector cannot read (SLDC that does not decode, text
//! that is not UTF-16 or UTF-8, XML that does not parse), logged once per forwarder and
//! interval: a forwarder that resends the same unreadable batch every few seconds leaves one
//! line a minute with its identity, the reason and how many refusals were not logged, instead
//! of none (the answer, 400, is all it gets) or thousands. Deliveries refused once read (a
//! forged or doubled `Computer`, a stale subscription version) are limited the same way, per
//! forwarder and kind of refusal. Subscriptions refused when a set is read are logged once per
//! refusal and interval ([`SubscriptionRefusalLog`]). The rules are the one [`RefusalLog`]'s;
//! this is the collector's policy: its intervals and bounds.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use wsman_proto::refusal_log::{LeftOut, RefusalLimits, RefusalLog};

/// Lines in all per interval, whatever the log.
pub const TOTAL_LINES: u32 = 200;

/// What one of the collector's refusal logs keys its lines by, and how its summaries read.
pub trait Refusals {
    /// Keys with a window of their own; past it, the others share one.
    const MAX_KEYS: usize;
    /// The kind the refusals are counted under.
    const KIND: &'static str;
    /// The summary line of a window that ended with refusals left out.
    fn summary(left: &LeftOut<String>);
}

/// Refused delivery bodies, keyed by forwarder.
#[derive(Debug)]
pub enum Bodies {}

impl Refusals for Bodies {
    const MAX_KEYS: usize = 4096;
    const KIND: &'static str = "refused";
    fn summary(left: &LeftOut<String>) {
        let who = left.key.as_deref().unwrap_or("(other forwarders)");
        tracing::warn!(forwarder = %who.replace('\u{0}', " "), count = left.count, seconds = left.over.as_secs(), "collector: more deliveries refused (not logged one by one)");
    }
}

/// Subscriptions refused when a set is read (a file, or a shared store's row, that does not
/// pass), keyed by the refusal's text: every move of a shared store's generation (polled every
/// 2 s; whoever can write the table can move it) reads the set again, and the same refused row
/// would otherwise be logged at each.
#[derive(Debug)]
pub enum Subscriptions {}

impl Refusals for Subscriptions {
    const MAX_KEYS: usize = 1024;
    const KIND: &'static str = "not loaded";
    fn summary(left: &LeftOut<String>) {
        let which = left.key.as_deref().unwrap_or("(other refusals)");
        tracing::warn!(refusal = %which, count = left.count, seconds = left.over.as_secs(), "collector: subscriptions refused again (not logged one by one)");
    }
}

/// Rate limit for the log lines of refused delivery bodies, per forwarder.
pub type BodyRefusalLog = RefusalLines<Bodies>;
/// Rate limit for the log lines of refused subscriptions, per refusal.
pub type SubscriptionRefusalLog = RefusalLines<Subscriptions>;

/// One of the collector's refusal logs: a line per key and interval.
#[derive(Debug)]
pub struct RefusalLines<R: Refusals> {
    log: RefusalLog<String>,
    refusals: PhantomData<R>,
}

impl<R: Refusals> Default for RefusalLines<R> {
    fn default() -> Self {
        RefusalLines::new(Duration::from_secs(60))
    }
}

impl<R: Refusals> RefusalLines<R> {
    pub fn new(interval: Duration) -> Self {
        RefusalLines {
            log: RefusalLog::new(RefusalLimits {
                interval,
                per_key: 1,
                total: TOTAL_LINES,
                max_keys: R::MAX_KEYS,
            }),
            refusals: PhantomData,
        }
    }

    /// Whether a refusal of `key` (a forwarder, a refusal's text) may be logged now: `Some(n)`
    /// with the number of its refusals left out since its last line, or `None` (counted for
    /// the next line).
    pub fn admit(&self, key: &str) -> Option<u64> {
        self.admit_at(key, Instant::now())
    }

    fn admit_at(&self, key: &str, now: Instant) -> Option<u64> {
        let key = key.to_owned();
        let admission = self.log.admit(key.clone(), R::KIND, now);
        for left in admission
            .ended
            .iter()
            .filter(|l| l.key.as_ref() != Some(&key))
        {
            R::summary(left);
        }
        admission.log.then(|| admission.left_out_of(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_subscription_is_logged_once_per_interval() {
        let log = SubscriptionRefusalLog::new(Duration::from_secs(60));
        let start = Instant::now();
        let refusal = "cron.toml: refused by this node's [outputs] policy";
        assert_eq!(log.admit_at(refusal, start), Some(0));
        // The set read again at each generation move: not logged again within the interval.
        assert_eq!(log.admit_at(refusal, start + Duration::from_secs(2)), None);
        assert_eq!(log.admit_at(refusal, start + Duration::from_secs(4)), None);
        // Another refusal has its own line.
        assert_eq!(
            log.admit_at("exfil.toml: ...", start + Duration::from_secs(4)),
            Some(0)
        );
        assert_eq!(
            log.admit_at(refusal, start + Duration::from_secs(61)),
            Some(2)
        );
    }

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
        for i in 0..Bodies::MAX_KEYS + 10 {
            log.admit_at(&format!("host{i}"), start);
        }
        assert!(log.log.tracked() <= Bodies::MAX_KEYS + 1);
        // Once the interval is over, old entries make room again.
        assert_eq!(
            log.admit_at("newcomer", start + Duration::from_secs(61)),
            Some(0)
        );
    }
}
