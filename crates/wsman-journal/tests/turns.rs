//! A pull's query takes its owner's turns of the work pool's bulk lane: without one before the
//! request's deadline nothing is decided, the read answers `TimedOut`, and the next read starts
//! where it stood.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wsman_events::{ContentFormat, Mapping, QueryList};
use wsman_journal::feed::{Feed, Position, Selection};
use wsman_journal::{Error, Journal};
use wsman_test::journal::JournalDir;
use wsman_work::{Lane, WorkPool};

const ERRORS: &str = r#"<QueryList><Query Id="0"><Select Path="Application">*[System[Level=2]]</Select></Query></QueryList>"#;

fn journal(count: usize) -> Option<JournalDir> {
    let entry: &[(&str, &str)] = &[
        ("SYSLOG_IDENTIFIER", "billing"),
        ("PRIORITY", "3"),
        ("MESSAGE", "an invoice failed"),
    ];
    let entries = vec![entry; count];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    JournalDir::from_entries(now - 600_000_000, &entries)
}

#[test]
fn a_pull_without_a_turn_before_its_deadline_times_out_and_loses_nothing() {
    let Some(dir) = journal(5) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let owner = "a-reader-without-turns";
        let pool = WorkPool::shared();
        let far = Instant::now() + Duration::from_secs(60);
        // Every bulk turn of the owner held elsewhere (its other requests' queries).
        let mut held = Vec::new();
        for _ in 0..pool.per_user(Lane::Bulk) {
            held.push(pool.wait_turn(Lane::Bulk, owner, far).await.unwrap());
        }
        let mut feed = Feed {
            journal: Journal::Directory(dir.path()),
            program: "journalctl".into(),
            position: Position::Oldest,
            selection: Selection {
                query: Some(std::sync::Arc::new(
                    QueryList::parse(ERRORS).expect("the query parses"),
                )),
                logs: vec!["Application".to_owned()],
                format: ContentFormat::Raw,
                mapping: Mapping::default(),
            },
            owner: owner.to_owned(),
        };
        let soon = Instant::now() + Duration::from_millis(300);
        let refused = feed.next_batch_by(10, 10_000, None, Some(soon)).await;
        assert!(matches!(refused, Err(Error::TimedOut)), "{refused:?}");
        assert_eq!(feed.position, Position::Oldest, "nothing was decided");

        drop(held);
        let later = Instant::now() + Duration::from_secs(30);
        let read = feed.next_batch_by(10, 10_000, None, Some(later)).await;
        assert_eq!(read.expect("a turn this time").len(), 5);
    });
}
