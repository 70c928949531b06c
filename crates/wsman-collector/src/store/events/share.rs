//! Each forwarder's share of the event store: a token bucket of events and one of bytes per
//! forwarder (its authenticated name), checked when a batch is prepared for the store.
//!
//! Why: the store is one, its bound shared by every forwarder, and retention drops the oldest
//! partitions whoever wrote them; one forwarder writing as fast as it can would otherwise
//! push every other forwarder's events out (or, before the bound was hard, fill the disk so
//! that nobody's were stored). Over its share a forwarder's batch is answered 503 (Windows
//! forwarders resend it later) and a line naming it is logged, once per forwarder and minute;
//! the others are not touched. A batch larger than a whole bucket is taken when the bucket is
//! full (the bucket then owes it), so no batch is refused for ever.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::refusal_log::{RefusalLines, Refusals};
use wsman_proto::refusal_log::LeftOut;

/// Seconds of its rate a forwarder's events bucket holds: the burst it may send at once.
const BURST_SECONDS: f64 = 10.0;
/// The period its bytes bucket fills in: a forwarder may write its share of the bound per
/// this period.
const BYTES_PERIOD: Duration = Duration::from_secs(60);
/// Forwarders with a bucket of their own, at most; full buckets are forgotten first.
const MAX_TRACKED: usize = 65_536;

/// What one forwarder may write to the store (`[store]` of `collector.toml`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShareSettings {
    /// Events per second, on average over ten seconds (the burst a forwarder may send at once).
    pub events_per_second: f64,
    /// Bytes per minute: its share of the store's bound (`None` without one).
    pub bytes_per_period: Option<f64>,
}

/// Why a forwarder's batch was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OverShare {
    #[error("forwarder {forwarder} is over its share of the event store's events ({per_second} a second)")]
    Events { forwarder: String, per_second: u64 },
    #[error("forwarder {forwarder} is over its share of the event store's size ({bytes} bytes a minute)")]
    Bytes { forwarder: String, bytes: u64 },
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    events: f64,
    bytes: f64,
    at: Instant,
}

/// Every forwarder's buckets.
#[derive(Debug)]
pub(super) struct Shares {
    settings: ShareSettings,
    buckets: Mutex<HashMap<String, Bucket>>,
    log: RefusalLines<ShareRefusals>,
}

/// The log of batches refused over a share, keyed by forwarder.
#[derive(Debug)]
pub enum ShareRefusals {}

impl Refusals for ShareRefusals {
    const MAX_KEYS: usize = 4096;
    const KIND: &'static str = "over its share";
    fn summary(left: &LeftOut<String>) {
        let who = left.key.as_deref().unwrap_or("(other forwarders)");
        tracing::warn!(forwarder = %who, count = left.count, seconds = left.over.as_secs(), "event store: more batches over a forwarder's share (not logged one by one)");
    }
}

impl Shares {
    pub(super) fn new(settings: ShareSettings) -> Shares {
        Shares {
            settings,
            buckets: Mutex::default(),
            log: RefusalLines::default(),
        }
    }

    fn capacity(&self) -> (f64, f64) {
        (
            self.settings.events_per_second * BURST_SECONDS,
            self.settings.bytes_per_period.unwrap_or(f64::INFINITY),
        )
    }

    /// Take `events` events of `bytes` bytes from `forwarder`'s share, or say why not (and
    /// log it, rate-limited).
    pub(super) fn take(
        &self,
        forwarder: &str,
        events: usize,
        bytes: usize,
    ) -> Result<(), OverShare> {
        let result = self.take_at(forwarder, events, bytes, Instant::now());
        if let Err(over) = &result {
            if let Some(left_out) = self.log.admit(forwarder) {
                tracing::warn!(forwarder = %forwarder, reason = %over, not_logged_since = left_out, "event store: batch refused (503: the forwarder resends it later)");
            }
        }
        result
    }

    fn take_at(
        &self,
        forwarder: &str,
        events: usize,
        bytes: usize,
        now: Instant,
    ) -> Result<(), OverShare> {
        let (max_events, max_bytes) = self.capacity();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(forwarder) {
            buckets.retain(|_, b| {
                let b = self.refilled(b, now);
                b.events < max_events || b.bytes < max_bytes
            });
        }
        let bucket = buckets.entry(forwarder.to_owned()).or_insert(Bucket {
            events: max_events,
            bytes: max_bytes,
            at: now,
        });
        *bucket = self.refilled(bucket, now);
        if bucket.events <= 0.0 {
            return Err(OverShare::Events {
                forwarder: forwarder.to_owned(),
                per_second: self.settings.events_per_second as u64,
            });
        }
        if bucket.bytes <= 0.0 {
            return Err(OverShare::Bytes {
                forwarder: forwarder.to_owned(),
                bytes: self.settings.bytes_per_period.unwrap_or(0.0) as u64,
            });
        }
        bucket.events -= events as f64;
        bucket.bytes -= bytes as f64;
        Ok(())
    }

    /// `bucket` as of `now`: refilled at its rates, up to its capacity.
    fn refilled(&self, bucket: &Bucket, now: Instant) -> Bucket {
        let (max_events, max_bytes) = self.capacity();
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        let bytes_rate = max_bytes / BYTES_PERIOD.as_secs_f64();
        Bucket {
            events: (bucket.events + elapsed * self.settings.events_per_second).min(max_events),
            bytes: (bucket.bytes + elapsed * bytes_rate).min(max_bytes),
            at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn shares(events_per_second: f64, bytes_per_period: Option<f64>) -> Shares {
        Shares::new(ShareSettings {
            events_per_second,
            bytes_per_period,
        })
    }

    /// A forwarder may send its burst at once, then is refused until its bucket refills;
    /// another forwarder is not touched meanwhile.
    #[test]
    fn a_forwarder_over_its_events_is_refused_and_others_are_not() {
        let shares = shares(10.0, None);
        let start = Instant::now();
        shares.take_at("busy", 60, 0, start).unwrap();
        shares.take_at("busy", 40, 0, start).unwrap();
        let over = shares.take_at("busy", 1, 0, start).unwrap_err();
        assert!(matches!(over, OverShare::Events { ref forwarder, .. } if forwarder == "busy"));
        shares.take_at("quiet", 100, 0, start).unwrap();
        // A second later ten events have come back.
        let later = start + Duration::from_secs(1);
        shares.take_at("busy", 10, 0, later).unwrap();
        assert!(shares.take_at("busy", 1, 0, later).is_err());
    }

    /// The bytes share refills over a minute; a batch larger than the whole share is taken
    /// when the bucket is full (owed), so no batch is refused for ever.
    #[test]
    fn the_bytes_share_refills_over_a_minute_and_owes_a_large_batch() {
        let shares = shares(1e9, Some(6_000.0));
        let start = Instant::now();
        shares.take_at("fwd", 1, 10_000, start).unwrap();
        let over = shares.take_at("fwd", 1, 1, start).unwrap_err();
        assert!(matches!(over, OverShare::Bytes { .. }), "{over:?}");
        // 4,000 bytes owed: back above zero after 40 s at 100 bytes a second.
        assert!(shares
            .take_at("fwd", 1, 1, start + Duration::from_secs(39))
            .is_err());
        shares
            .take_at("fwd", 1, 1, start + Duration::from_secs(41))
            .unwrap();
    }

    /// The table is bounded: past it, forwarders whose buckets are full are forgotten.
    #[test]
    fn the_table_is_bounded() {
        let shares = shares(1.0, None);
        let start = Instant::now();
        for i in 0..MAX_TRACKED {
            shares.take_at(&format!("fwd{i}"), 1, 0, start).unwrap();
        }
        let later = start + Duration::from_secs(60);
        shares.take_at("newcomer", 1, 0, later).unwrap();
        assert_eq!(shares.buckets.lock().unwrap().len(), 1);
    }
}
