//! The batching and heartbeat scheduler: under any sequence of events, clock steps, acks and
//! failures, every event is delivered once acked, in order, in batches within the bounds, one
//! message at a time, and the latency and heartbeat promises hold.

use std::time::Duration;

use proptest::prelude::*;
use wsman_events::batch::{Due, Pending, PushError, Scheduler, Settings};
use wsman_events::Timestamp;

fn settings() -> Settings {
    Settings {
        max_items: 5,
        max_latency: Duration::from_millis(300),
        heartbeat: Some(Duration::from_secs(2)),
        max_batch_bytes: 400,
        max_queued: 20,
        max_queued_bytes: 2000,
    }
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_micros(ms * 1000)
}

/// The record ids of `events`, in order.
fn ids(events: &[Pending]) -> Vec<u64> {
    events.iter().map(|p| p.record_id).collect()
}

fn event(record_id: u64, size: usize, queued: Timestamp) -> Pending {
    Pending {
        xml: "x".repeat(size),
        channel: "System".to_owned(),
        record_id,
        queued,
    }
}

#[test]
fn a_full_batch_goes_at_once_and_a_partial_one_after_the_latency() {
    let mut s = Scheduler::new(settings(), at(0));
    for id in 1..=5 {
        s.push(event(id, 10, at(0))).unwrap();
    }
    match s.poll(at(0)) {
        Some(Due::Batch(batch)) => assert_eq!(batch.len(), 5),
        other => panic!("expected a full batch, got {other:?}"),
    }
    assert_eq!(s.poll(at(0)), None, "one message in flight");
    assert_eq!(s.acked(at(1)).len(), 5);

    s.push(event(6, 10, at(10))).unwrap();
    assert_eq!(s.poll(at(100)), None, "waits for more");
    assert_eq!(s.next_deadline(), Some(at(310)));
    assert!(matches!(s.poll(at(310)), Some(Due::Batch(b)) if b.len() == 1));
}

#[test]
fn a_failed_batch_is_sent_again_first() {
    let mut s = Scheduler::new(settings(), at(0));
    for id in 1..=7 {
        s.push(event(id, 10, at(0))).unwrap();
    }
    let first = match s.poll(at(0)) {
        Some(Due::Batch(b)) => b,
        other => panic!("{other:?}"),
    };
    s.failed();
    let again = match s.poll(at(1)) {
        Some(Due::Batch(b)) => b,
        other => panic!("{other:?}"),
    };
    assert_eq!(first, again);
    let delivered = ids(&s.acked(at(2)));
    assert_eq!(delivered, [1, 2, 3, 4, 5]);
}

#[test]
fn heartbeats_come_after_silence_only() {
    let mut s = Scheduler::new(settings(), at(0));
    assert_eq!(s.poll(at(1999)), None);
    assert_eq!(s.poll(at(2000)), Some(Due::Heartbeat));
    assert_eq!(s.poll(at(2001)), None, "in flight");
    assert!(s.acked(at(2100)).is_empty());
    assert_eq!(s.next_deadline(), Some(at(4100)));
}

#[test]
fn the_queue_is_bounded() {
    let mut s = Scheduler::new(settings(), at(0));
    assert_eq!(s.push(event(1, 401, at(0))), Err(PushError::TooLarge(401)));
    for id in 0..20 {
        s.push(event(id, 10, at(0))).unwrap();
    }
    assert_eq!(s.push(event(99, 10, at(0))), Err(PushError::Full));
    assert!(!s.has_room(10));
}

#[derive(Clone, Debug)]
enum Step {
    Push(usize),
    Wait(u16),
    Ack,
    Fail,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1usize..200).prop_map(Step::Push),
        (0u16..1000).prop_map(Step::Wait),
        Just(Step::Ack),
        Just(Step::Fail),
    ]
}

proptest! {
    #[test]
    fn nothing_is_lost_reordered_or_oversized(steps in prop::collection::vec(step(), 1..200)) {
        let cfg = settings();
        let mut now = 0i64;
        let mut s = Scheduler::new(cfg, at(now));
        let mut next_id = 1u64;
        let mut accepted = Vec::new();
        let mut queued_at = std::collections::HashMap::new();
        let mut delivered = Vec::new();
        let mut in_flight: Option<Option<Vec<u64>>> = None;
        let mut last_sent = 0i64;
        for step in steps {
            match step {
                Step::Push(size) => {
                    if s.push(event(next_id, size, at(now))).is_ok() {
                        accepted.push(next_id);
                        queued_at.insert(next_id, now);
                    }
                    next_id += 1;
                }
                Step::Wait(ms) => now += i64::from(ms),
                Step::Ack => {
                    if let Some(sent) = in_flight.take() {
                        let acked = ids(&s.acked(at(now)));
                        prop_assert_eq!(acked.clone(), sent.unwrap_or_default());
                        delivered.extend(acked);
                        last_sent = now;
                    }
                }
                Step::Fail => {
                    if in_flight.take().is_some() {
                        s.failed();
                    }
                }
            }
            if in_flight.is_none() {
                match s.poll(at(now)) {
                    Some(Due::Batch(batch)) => {
                        prop_assert!(!batch.is_empty() && batch.len() <= cfg.max_items);
                        prop_assert!(batch.iter().map(|p| p.xml.len()).sum::<usize>() <= cfg.max_batch_bytes);
                        in_flight = Some(Some(ids(&batch)));
                    }
                    Some(Due::Heartbeat) => {
                        prop_assert!(now - last_sent >= 2000);
                        in_flight = Some(None);
                    }
                    None => {
                        // Nothing due: the oldest waiting event has not outlived the latency.
                        if let Some(oldest) = accepted.get(delivered.len()) {
                            prop_assert!(now - queued_at[oldest] < 300);
                        }
                    }
                }
            } else {
                prop_assert_eq!(s.poll(at(now)), None);
            }
        }
        // Everything acked was delivered in the order accepted, with nothing skipped.
        prop_assert_eq!(&delivered[..], &accepted[..delivered.len()]);
    }
}

proptest! {
    /// What `next_after_ack` names while a batch is in flight is exactly the batch handed out
    /// after that one is acknowledged, whatever was pushed and however long it waited
    /// meanwhile: a message made from it ahead of time is the message that would be made then.
    #[test]
    fn the_batch_named_ahead_is_the_one_sent_next(steps in prop::collection::vec(step(), 1..200)) {
        let mut now = 0i64;
        let mut s = Scheduler::new(settings(), at(now));
        let mut next_id = 1u64;
        let mut named: Option<Vec<Pending>> = None;
        let mut in_flight = false;
        for step in steps {
            match step {
                Step::Push(size) => {
                    let _ = s.push(event(next_id, size, at(now)));
                    next_id += 1;
                }
                Step::Wait(ms) => now += i64::from(ms),
                Step::Ack => {
                    if in_flight {
                        s.acked(at(now));
                        in_flight = false;
                        if let Some(expected) = named.take() {
                            prop_assert_eq!(s.poll(at(now)), Some(Due::Batch(expected)));
                            in_flight = true;
                            named = s.next_after_ack();
                        }
                    }
                }
                Step::Fail => {
                    if in_flight {
                        s.failed();
                        in_flight = false;
                        named = None;
                    }
                }
            }
            if !in_flight {
                if let Some(due) = s.poll(at(now)) {
                    in_flight = true;
                    named = match due {
                        Due::Batch(_) => s.next_after_ack(),
                        Due::Heartbeat => {
                            prop_assert_eq!(s.next_after_ack(), None);
                            None
                        }
                    };
                }
            }
        }
    }
}

#[test]
fn nothing_is_named_ahead_of_a_batch_that_would_wait() {
    let mut s = Scheduler::new(settings(), at(0));
    for id in 1..=7 {
        s.push(event(id, 10, at(0))).unwrap();
    }
    assert_eq!(s.next_after_ack(), None, "nothing in flight");
    assert!(matches!(s.poll(at(0)), Some(Due::Batch(b)) if b.len() == 5));
    assert_eq!(
        s.next_after_ack(),
        None,
        "two events would wait for more or for MaxTime"
    );
    for id in 8..=10 {
        s.push(event(id, 10, at(0))).unwrap();
    }
    let named = ids(&s.next_after_ack().unwrap());
    assert_eq!(named, [6, 7, 8, 9, 10]);
    // Pushed while in flight, behind the named batch: it does not change.
    s.push(event(11, 10, at(0))).unwrap();
    assert_eq!(s.next_after_ack().unwrap().len(), 5);
    // A batch cut by the envelope's room is due whatever the time.
    let mut s = Scheduler::new(settings(), at(0));
    for id in 1..=7 {
        s.push(event(id, 150, at(0))).unwrap();
    }
    assert!(matches!(s.poll(at(0)), Some(Due::Batch(b)) if b.len() == 2));
    let named = ids(&s.next_after_ack().unwrap());
    assert_eq!(named, [3, 4]);
}
