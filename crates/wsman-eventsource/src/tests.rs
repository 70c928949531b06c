#![allow(clippy::unwrap_used)]
//! The read ahead of Pull subscriptions, against a real journal file: it ends with its
//! subscription.

use super::*;
use wsman_events::ContentFormat;
use wsman_test::journal::JournalDir;

fn root() -> Caller {
    Caller {
        user: "root".to_owned(),
        owner: wsman_principal::Principal::linux_user("root").owner_key(),
        administrator: true,
        uid: Some(0),
    }
}

fn from_earliest() -> SubscribeRequest {
    SubscribeRequest {
        mode: DeliveryMode::Pull,
        notify_to: None,
        end_to: None,
        authentication: Vec::new(),
        heartbeats: None,
        connection_retry: None,
        max_elements: None,
        max_time: None,
        max_envelope_size: None,
        utf16: false,
        expires: None,
        filter: None,
        start_at: Some(StartAt::Earliest),
        send_bookmarks: true,
        content_format: ContentFormat::Raw,
        read_existing_events: true,
        ignore_channel_error: false,
        compress_sldc: false,
        name: None,
    }
}

/// The reading of a subscription, shared with its read ahead.
fn reading_of(source: &EventSource, id: &str) -> Arc<Mutex<Reading>> {
    match &source.lock().get(id).unwrap().delivery {
        Delivery::Pull(reading) => Arc::clone(reading),
        Delivery::Push(_) => panic!("a Pull subscription"),
    }
}

/// A pull that delivered starts a read ahead; held up (here by the test holding the reading
/// it needs), it ends with the subscription when that is released, and lets go of the
/// reading: no task is left behind reading for a subscription that is gone.
#[test]
fn a_read_ahead_ends_with_its_subscription() {
    let Some(journal) = JournalDir::repeated_before_now(
        Duration::from_secs(60),
        6,
        &[
            ("SYSLOG_IDENTIFIER", "app"),
            ("PRIORITY", "3"),
            ("MESSAGE", "m"),
        ],
    ) else {
        return;
    };
    let source = EventSource::new(
        Journal::Directory(journal.path()),
        Mapping::default(),
        Limits::default(),
    );
    // One thread: a task spawned by the pull runs only when the test awaits.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let id = "sub-ahead".to_owned();
        source
            .subscribe(&root(), &from_earliest(), id.clone(), now)
            .await
            .unwrap();
        let reading = reading_of(&source, &id);
        let pulled = source
            .pull(&root(), &id, 2, Duration::from_secs(1), now)
            .await
            .unwrap();
        assert_eq!(pulled.events.len(), 2);
        // Nothing ran since the pull: the read ahead it started waits for this.
        let guard = reading.try_lock().unwrap();
        assert!(source.lock().get(&id).unwrap().read_ahead.is_some());
        source.unsubscribe(&root(), &id).unwrap();
        // The test's handle is the last once the subscription and its read ahead are gone.
        for _ in 0..2000 {
            if Arc::strong_count(&reading) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            Arc::strong_count(&reading),
            1,
            "a read ahead outlived its subscription"
        );
        drop(guard);
    });
}
