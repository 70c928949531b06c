//! The reader against a real journal: journald of a systemd booted as PID 1 of its own
//! namespaces, read from the host through its journal directory, every way a caller starts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wsman_events::ExportLimits;
use wsman_journal::{Error, Journal, Query, Reader, Start};
use wsman_test::systemd::BootedSystemd;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn log(systemd: &BootedSystemd, tag: &str, message: &str) {
    systemd.exec_ok(&["logger", "-t", tag, message]);
}

/// The booted system's journal directory as the host sees it, once the tag's lines are there.
fn journal_dir(systemd: &BootedSystemd, tag: &str, count: usize) -> PathBuf {
    systemd.journal_until(&["-t", tag, "-o", "cat"], |out| {
        out.lines().count() >= count
    });
    systemd.root().join("var/log/journal")
}

fn query(dir: &Path, tag: &str, start: Start, follow: bool) -> Query {
    Query {
        journal: Journal::Directory(dir.to_path_buf()),
        start,
        follow,
        matches: vec![("SYSLOG_IDENTIFIER".to_owned(), tag.to_owned())],
        ..Query::system()
    }
}

async fn read_all(query: &Query) -> Vec<wsman_events::JournalEntry> {
    let mut reader = Reader::spawn(query, ExportLimits::default()).expect("journalctl starts");
    let mut entries = Vec::new();
    while let Some(entry) = reader.next().await.expect("the journal reads") {
        entries.push(entry);
    }
    entries
}

#[test]
fn reads_resumes_reverses_and_follows_a_real_journal() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let tag = "wsman-reader-probe";
    for n in 1..=3 {
        log(&systemd, tag, &format!("line {n}"));
    }
    let dir = journal_dir(&systemd, tag, 3);
    runtime().block_on(async {
        let all = read_all(&query(&dir, tag, Start::Oldest, false)).await;
        let messages: Vec<&str> = all.iter().filter_map(|e| e.get("MESSAGE")).collect();
        assert_eq!(messages, ["line 1", "line 2", "line 3"]);

        // After the first entry's cursor: exactly the two that follow.
        let cursor = all[0].get("__CURSOR").unwrap().to_owned();
        let rest = read_all(&query(&dir, tag, Start::AfterCursor(cursor), false)).await;
        let messages: Vec<&str> = rest.iter().filter_map(|e| e.get("MESSAGE")).collect();
        assert_eq!(messages, ["line 2", "line 3"]);

        let newest_first = read_all(&query(&dir, tag, Start::NewestFirst, false)).await;
        let messages: Vec<&str> = newest_first
            .iter()
            .filter_map(|e| e.get("MESSAGE"))
            .collect();
        assert_eq!(messages, ["line 3", "line 2", "line 1"]);

        // Following from the last cursor: a new line arrives as it is written.
        let last = all[2].get("__CURSOR").unwrap().to_owned();
        let mut follower = Reader::spawn(
            &query(&dir, tag, Start::AfterCursor(last), true),
            ExportLimits::default(),
        )
        .unwrap();
        log(&systemd, tag, "line 4");
        let next = tokio::time::timeout(Duration::from_secs(20), follower.next())
            .await
            .expect("the followed line arrives")
            .unwrap()
            .unwrap();
        assert_eq!(next.get("MESSAGE"), Some("line 4"));
        drop(follower);

        // Errors: a directory with no journal, and a cursor that is not one.
        let missing = Query {
            journal: Journal::Directory(PathBuf::from("/nonexistent/journal")),
            ..Query::system()
        };
        let mut reader = Reader::spawn(&missing, ExportLimits::default()).unwrap();
        let outcome = reader.next().await;
        match outcome {
            Err(Error::Failed { stderr, .. }) => assert!(stderr.contains("/nonexistent/journal")),
            other => panic!("expected journalctl's failure, got {other:?}"),
        }
        let bad_cursor = query(
            &dir,
            tag,
            Start::AfterCursor("x'; rm -rf /".to_owned()),
            false,
        );
        assert!(matches!(
            Reader::spawn(&bad_cursor, ExportLimits::default()),
            Err(Error::Invalid(_))
        ));
    });
}
