//! Feeds against a real journal: selected events after a position, the position moving past
//! what was read, the Security log only where allowed, and waiting for new entries.

use std::time::Duration;

use wsman_events::{ContentFormat, Mapping, QueryList};
use wsman_journal::feed::{Feed, Position, SelectedEvent, Selection};
use wsman_journal::Journal;
use wsman_test::systemd::BootedSystemd;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn sync(systemd: &BootedSystemd, tag: &str, count: usize) {
    systemd.journal_until(&["-t", tag, "-o", "cat"], |out| {
        out.lines().count() >= count
    });
}

/// The events' record ids, in order.
fn record_ids(events: &[SelectedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.record_id).collect()
}

fn selection(query: &str, logs: &[&str]) -> Selection {
    Selection {
        query: Some(std::sync::Arc::new(
            QueryList::parse(query).expect("the query parses"),
        )),
        logs: logs.iter().map(|l| (*l).to_owned()).collect(),
        format: ContentFormat::Raw,
        mapping: Mapping {
            computer: "linux.example.test".to_owned(),
            ..Mapping::default()
        },
    }
}

#[test]
fn feeds_select_after_their_position_and_wait_for_more() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    // journald writes asynchronously: under load the fresh journal can still be empty here.
    systemd.journal_until(&["-q", "-n", "1", "-o", "export"], |out| {
        out.contains("__CURSOR=")
    });
    let journal = Journal::Directory(systemd.root().join("var/log/journal"));
    runtime().block_on(async {
        let start = Feed::end_position(&journal).await.expect("the journal's end");
        assert!(matches!(start, Position::After(_)), "the boot logged something");

        systemd.exec_ok(&["logger", "-t", "wsman-feed", "-p", "user.err", "app error one"]);
        systemd.exec_ok(&["logger", "-t", "wsman-feed", "-p", "user.info", "app info"]);
        systemd.exec_ok(&["logger", "-t", "sshd", "-p", "authpriv.err", "sshd error"]);
        systemd.exec_ok(&["logger", "-t", "wsman-feed", "-p", "user.err", "app error two"]);
        sync(&systemd, "wsman-feed", 3);

        let errors = r#"<QueryList><Query Id="0"><Select Path="Application">*[System[Level=2]]</Select><Select Path="Security">*[System[Level=2]]</Select></Query></QueryList>"#;
        // Not an administrator: Application only, so the sshd line stays out.
        let mut feed = Feed {
            journal: journal.clone(),
            program: "journalctl".into(),
            owner: "reader".into(),
            position: start.clone(),
            selection: selection(errors, &["Application"]),
        };
        let first = feed.next_batch_by(1, 10_000, None, None).await.unwrap();
        assert_eq!(first.len(), 1);
        assert!(first[0].xml.contains("app error one"));
        assert_eq!(first[0].channel, "Application");
        let saved = feed.position.clone();
        // A read past its deadline decides nothing and stays where it was.
        let late = feed
            .next_batch_by(10, 10_000, None, Some(std::time::Instant::now()))
            .await;
        assert!(matches!(late, Err(wsman_journal::Error::TimedOut)), "{late:?}");
        assert_eq!(feed.position, saved);
        let rest = feed.next_batch_by(10, 10_000, None, None).await.unwrap();
        let texts: Vec<bool> = rest.iter().map(|e| e.xml.contains("app error two")).collect();
        assert_eq!(texts, [true], "only the second app error: info and sshd are not selected");
        assert!(feed.next_batch_by(10, 10_000, None, None).await.unwrap().is_empty());

        // A new feed from the saved position continues exactly there.
        let mut again = Feed {
            position: saved,
            ..feed.clone()
        };
        let resumed = again.next_batch_by(10, 10_000, None, None).await.unwrap();
        assert_eq!(resumed.len(), 1);
        assert_eq!(resumed[0].record_id, rest[0].record_id);

        // An administrator's feed from the same start sees the Security line too.
        let mut admin = Feed {
            position: start,
            selection: selection(errors, &["Application", "Security", "System"]),
            ..feed.clone()
        };
        let all = admin.next_batch_by(10, 10_000, None, None).await.unwrap();
        let channels: Vec<&str> = all.iter().map(|e| e.channel.as_str()).collect();
        assert_eq!(channels, ["Application", "Security", "Application"]);

        // Waiting: nothing now, then a line logged while the feed waits.
        let logger = {
            let mut command = systemd.command(&["logger", "-t", "wsman-feed", "-p", "user.err", "late error"]);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(500));
                command.status().expect("logger runs")
            })
        };
        let late = feed.next_batch_by(10, 10_000, Some(Duration::from_secs(20)), None).await.unwrap();
        assert!(logger.join().unwrap().success());
        assert_eq!(late.len(), 1);
        assert!(late[0].xml.contains("late error"));
        // And a wait with nothing to come ends empty at its deadline.
        let none = feed.next_batch_by(10, 10_000, Some(Duration::from_millis(300)), None).await.unwrap();
        assert!(none.is_empty());
    });
}

#[test]
fn a_live_feed_reads_in_process_and_reads_on_in_order() {
    use wsman_journal::feed::LiveFeed;
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let journal = Journal::Directory(systemd.root().join("var/log/journal"));
    let tag = format!("wsman-live-{}", std::process::id());
    let query = format!(
        r#"<QueryList><Query Id="0"><Select Path="Application">*[System[Provider[@Name="{tag}"]]]</Select></Query></QueryList>"#
    );
    runtime().block_on(async {
        // From the oldest entry: a following journalctl alone would show only the last ten.
        let mut live = LiveFeed::new(Feed {
            journal: journal.clone(),
            program: "journalctl".into(),
            owner: "reader".into(),
            position: Position::Oldest,
            selection: selection(&query, &["Application"]),
        });
        for n in 0..15 {
            systemd.exec_ok(&["logger", "-t", &tag, &format!("live entry {n}")]);
        }
        sync(&systemd, &tag, 15);
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while got.len() < 15 && std::time::Instant::now() < deadline {
            let batch = live
                .next_batch(4, 10_000, Some(Duration::from_secs(5)))
                .await
                .unwrap();
            assert!(batch.len() <= 4, "at most max_items");
            assert!(live.in_process(), "libsystemd reads the booted journal");
            got.extend(batch);
        }
        // The record ids journald gave, in order (`journalctl -o export` of the tag).
        let export = systemd.journal_until(&["-t", &tag, "-o", "export"], |out| {
            out.matches("__CURSOR=").count() >= 15
        });
        let expected: Vec<u64> = export
            .lines()
            .filter_map(|l| l.strip_prefix("__CURSOR="))
            .filter_map(|c| c.split(';').find_map(|p| p.strip_prefix("i=")))
            .map(|hex| u64::from_str_radix(hex, 16).expect("hex"))
            .collect();
        assert_eq!(record_ids(&got), expected);

        // Waiting: nothing now, then a line logged while the feed waits.
        let logger = {
            let mut command = systemd.command(&["logger", "-t", &tag, "late live entry"]);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(500));
                command.status().expect("logger runs")
            })
        };
        let late = live
            .next_batch(10, 10_000, Some(Duration::from_secs(20)))
            .await
            .unwrap();
        assert!(logger.join().unwrap().success());
        assert_eq!(late.len(), 1);
        assert!(late[0].xml.contains("late live entry"));
        let none = live
            .next_batch(10, 10_000, Some(Duration::from_millis(300)))
            .await
            .unwrap();
        assert!(none.is_empty());

        // A new live feed from the position reached continues after the late entry.
        let position = live.position().clone();
        drop(live);
        systemd.exec_ok(&["logger", "-t", &tag, "after the restart"]);
        let mut again = LiveFeed::new(Feed {
            journal,
            program: "journalctl".into(),
            owner: "reader".into(),
            position,
            selection: selection(&query, &["Application"]),
        });
        let resumed = again
            .next_batch(10, 10_000, Some(Duration::from_secs(20)))
            .await
            .unwrap();
        assert_eq!(resumed.len(), 1);
        assert!(resumed[0].xml.contains("after the restart"));
    });
}

/// A pull's read (no wait) takes its entries from libsystemd in-process: with no journalctl
/// to run, it still reads, in chunks larger than one bulk job's, stops at `max_items` and
/// resumes exactly there, and a feed from the saved position goes on from the same entry.
#[test]
fn a_pull_reads_the_journal_in_process_in_order_across_chunks() {
    let messages: Vec<String> = (1..=700).map(|n| format!("message {n}")).collect();
    let entries: Vec<Vec<(&str, &str)>> = messages
        .iter()
        .map(|m| {
            vec![
                ("SYSLOG_IDENTIFIER", "wsman-pull"),
                ("PRIORITY", "3"),
                ("MESSAGE", m.as_str()),
            ]
        })
        .collect();
    let Some(dir) =
        wsman_test::journal::JournalDir::from_entries_before_now(Duration::from_secs(60), &entries)
    else {
        return;
    };
    let everything =
        r#"<QueryList><Query Id="0"><Select Path="Application">*</Select></Query></QueryList>"#;
    runtime().block_on(async {
        let mut feed = Feed {
            journal: Journal::Directory(dir.path()),
            // Not a program: a read through journalctl fails.
            program: "/nonexistent/journalctl".into(),
            owner: "reader".into(),
            position: Position::Oldest,
            selection: selection(everything, &["Application"]),
        };
        let first = feed
            .next_batch_by(500, 10_000, None, None)
            .await
            .expect("an in-process read");
        assert_eq!(record_ids(&first), (1..=500).collect::<Vec<u64>>());
        assert!(first[499].xml.contains("message 500"));
        let mut again = Feed {
            position: feed.position.clone(),
            ..feed.clone()
        };
        let rest = feed
            .next_batch_by(500, 10_000, None, None)
            .await
            .expect("an in-process read");
        assert_eq!(record_ids(&rest), (501..=700).collect::<Vec<u64>>());
        assert!(feed
            .next_batch_by(500, 10_000, None, None)
            .await
            .unwrap()
            .is_empty());
        // At most max_entries entries are read: the position stops after them.
        let bounded = again.next_batch_by(500, 30, None, None).await.unwrap();
        assert_eq!(bounded.first().map(|e| e.record_id), Some(501));
        assert_eq!(bounded.len(), 30);
        let next = again.next_batch_by(1, 10_000, None, None).await.unwrap();
        assert_eq!(next.first().map(|e| e.record_id), Some(531));
    });
}
