//! When to send: the batching and heartbeat scheduler of a push subscription, as a state machine
//! driven by the caller's clock.
//!
//! Events wait in a bounded queue until a batch is due: `MaxElements` events are waiting, or the
//! oldest has waited `MaxTime`, or the next one would not fit the envelope. One batch is in flight
//! at a time and leaves the queue only when the subscriber acknowledged it
//! ([`Scheduler::acked`]); a failed delivery puts it back at the front
//! ([`Scheduler::failed`]), so delivery is at least once and in order. When nothing was sent
//! for `Heartbeats`, a heartbeat is due. A full queue refuses more ([`Scheduler::push`]): the
//! caller stops reading its source instead of growing memory.

use std::collections::VecDeque;
use std::time::Duration;

use crate::time::Timestamp;

/// One event waiting to be delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The event's XML as it goes into the batch.
    pub xml: String,
    pub channel: String,
    pub record_id: u64,
    /// When it was queued.
    pub queued: Timestamp,
}

/// A subscription's delivery settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `MaxElements`: most events in one batch.
    pub max_items: usize,
    /// `MaxTime`: longest an event waits for its batch.
    pub max_latency: Duration,
    /// `Heartbeats`: longest silence before a heartbeat (None: no heartbeats).
    pub heartbeat: Option<Duration>,
    /// Room for events in one message (the envelope size less its headers).
    pub max_batch_bytes: usize,
    /// Most events queued; past this `push` refuses.
    pub max_queued: usize,
    /// Most bytes queued; past this `push` refuses.
    pub max_queued_bytes: usize,
}

/// What is due now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// Send these events as one batch (they stay queued until acked).
    Batch(Vec<Pending>),
    /// Send a heartbeat.
    Heartbeat,
}

/// Why an event was not queued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The queue is full: stop reading and try again after an ack.
    #[error("the delivery queue is full")]
    Full,
    /// The event alone is larger than a batch may be (the `MaxEnvelopeSize` policy decides).
    #[error("an event of {0} bytes does not fit one delivery")]
    TooLarge(usize),
}

/// The scheduler of one subscription.
#[derive(Debug)]
pub struct Scheduler {
    settings: Settings,
    queue: VecDeque<Pending>,
    queued_bytes: usize,
    /// Events at the front of the queue that were handed out and wait for an ack.
    in_flight: usize,
    heartbeat_in_flight: bool,
    last_sent: Timestamp,
}

impl Scheduler {
    pub fn new(settings: Settings, now: Timestamp) -> Scheduler {
        Scheduler {
            settings: Settings {
                max_items: settings.max_items.max(1),
                ..settings
            },
            queue: VecDeque::new(),
            queued_bytes: 0,
            in_flight: 0,
            heartbeat_in_flight: false,
            last_sent: now,
        }
    }

    /// Queue an event.
    pub fn push(&mut self, event: Pending) -> Result<(), PushError> {
        if event.xml.len() > self.settings.max_batch_bytes {
            return Err(PushError::TooLarge(event.xml.len()));
        }
        if self.queue.len() >= self.settings.max_queued
            || self.queued_bytes + event.xml.len() > self.settings.max_queued_bytes
        {
            return Err(PushError::Full);
        }
        self.queued_bytes += event.xml.len();
        self.queue.push_back(event);
        Ok(())
    }

    /// Whether `push` would take another event of `bytes` now.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.queue.len() < self.settings.max_queued
            && self.queued_bytes + bytes <= self.settings.max_queued_bytes
    }

    /// Events queued, the in-flight batch included.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether a batch or heartbeat waits for its ack.
    pub fn is_in_flight(&self) -> bool {
        self.in_flight > 0 || self.heartbeat_in_flight
    }

    /// What is due at `now`, if anything. Nothing is due while a message is in flight.
    pub fn poll(&mut self, now: Timestamp) -> Option<Due> {
        if self.is_in_flight() {
            return None;
        }
        if let Some(oldest) = self.queue.front() {
            let (count, fits_all) = self.batch_size();
            let waited = now.saturating_duration_since(oldest.queued);
            if count >= self.settings.max_items || !fits_all || waited >= self.settings.max_latency
            {
                self.in_flight = count;
                return Some(Due::Batch(self.queue.iter().take(count).cloned().collect()));
            }
        }
        if let Some(heartbeat) = self.settings.heartbeat {
            if now.saturating_duration_since(self.last_sent) >= heartbeat {
                self.heartbeat_in_flight = true;
                return Some(Due::Heartbeat);
            }
        }
        None
    }

    /// When something may next become due (for the caller's timer); `None` while in flight or
    /// when only a new event could make something due.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        if self.is_in_flight() {
            return None;
        }
        let batch = self
            .queue
            .front()
            .map(|oldest| oldest.queued.saturating_add(self.settings.max_latency));
        let heartbeat = self
            .settings
            .heartbeat
            .map(|h| self.last_sent.saturating_add(h));
        match (batch, heartbeat) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The subscriber acknowledged the message in flight: its events are delivered and returned,
    /// in order, for the caller to advance its bookmark.
    pub fn acked(&mut self, now: Timestamp) -> Vec<Pending> {
        let delivered: Vec<Pending> = self.queue.drain(..self.in_flight).collect();
        self.queued_bytes -= delivered.iter().map(|p| p.xml.len()).sum::<usize>();
        self.in_flight = 0;
        self.heartbeat_in_flight = false;
        self.last_sent = now;
        delivered
    }

    /// The message in flight was not acknowledged: its events stay at the front, to be sent
    /// again in the same order.
    pub fn failed(&mut self) {
        self.in_flight = 0;
        self.heartbeat_in_flight = false;
    }

    /// The batch [`poll`](Self::poll) hands out right after the one in flight is
    /// acknowledged, when that one is due whatever the time (full, or its next event would not
    /// fit); so a caller can make its message while the one in flight travels. Events pushed
    /// meanwhile go behind it and do not change it. `None` when no batch is in flight, or the
    /// next one would wait for more events or for its latency.
    pub fn next_after_ack(&self) -> Option<Vec<Pending>> {
        if self.in_flight == 0 {
            return None;
        }
        let (count, fits_all) = self.batch_size_from(self.in_flight);
        let due = count > 0 && (count >= self.settings.max_items || !fits_all);
        due.then(|| {
            self.queue
                .range(self.in_flight..self.in_flight + count)
                .cloned()
                .collect()
        })
    }

    /// How many events from the front make the next batch, and whether the whole queue fits.
    fn batch_size(&self) -> (usize, bool) {
        self.batch_size_from(0)
    }

    /// [`batch_size`](Self::batch_size) of the queue from its `first` event.
    fn batch_size_from(&self, first: usize) -> (usize, bool) {
        let mut bytes = 0usize;
        let mut count = 0usize;
        for event in self.queue.iter().skip(first).take(self.settings.max_items) {
            if bytes + event.xml.len() > self.settings.max_batch_bytes {
                return (count, false);
            }
            bytes += event.xml.len();
            count += 1;
        }
        (count, first + count == self.queue.len())
    }
}
