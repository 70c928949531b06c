//! A read that fails part way: what it selected before the failure is delivered, not lost
//! behind the error, and the next read meets the failure itself. A pull's in-process read
//! watches nothing.

use super::*;
use wsman_events::{ContentFormat, Mapping, QueryList};

/// A journalctl that writes 300 entries and then fails (as one does on a journal file it
/// cannot read past), and fails at once when asked to read on after a cursor.
fn failing_journalctl(dir: &std::path::Path) -> std::path::PathBuf {
    let program = dir.join("journalctl");
    let script = r#"#!/bin/sh
for arg in "$@"; do
    case "$arg" in --after-cursor=*) echo "journal file corrupted" >&2; exit 1 ;; esac
done
i=1
while [ "$i" -le 300 ]; do
    printf '__CURSOR=s=feed;i=%x;b=b;m=%x;t=%x;x=x\n__REALTIME_TIMESTAMP=%d\nSYSLOG_IDENTIFIER=wsman-fail\nPRIORITY=3\nMESSAGE=message %d\n\n' "$i" "$i" "$i" "$((1700000000000000 + i))" "$i"
    i=$((i + 1))
done
echo "journal file corrupted" >&2
exit 1
"#;
    std::fs::write(&program, script).expect("the script is written");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))
        .expect("the script is executable");
    program
}

/// A feed of every entry of `journal` from the oldest, read through `program` where it is not
/// read in-process.
fn feed_of_everything(journal: Journal, program: std::path::PathBuf) -> Feed {
    let everything =
        r#"<QueryList><Query Id="0"><Select Path="Application">*</Select></Query></QueryList>"#;
    Feed {
        journal,
        program,
        owner: "reader".into(),
        position: Position::Oldest,
        selection: Selection {
            query: Some(Arc::new(QueryList::parse(everything).expect("parses"))),
            logs: vec!["Application".to_owned()],
            format: ContentFormat::Raw,
            mapping: Mapping::default(),
        },
    }
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A read through the program from the feed's position (as `source` picks when libsystemd
/// cannot open the journal).
async fn through_program(feed: &Feed) -> Source {
    let reader = Reader::start(&feed.query(false), ExportLimits::default())
        .await
        .expect("the program starts");
    Source::Journalctl(Box::new(reader))
}

#[test]
fn a_read_that_fails_after_selecting_delivers_what_it_selected_and_the_next_read_fails() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let runtime = current_thread_runtime();
    runtime.block_on(async {
        let mut feed = feed_of_everything(
            Journal::Directory(dir.path().to_owned()),
            failing_journalctl(dir.path()),
        );
        // The first chunk (256 entries) is decided and the position moves past it; reading the
        // second chunk fails. The 256 events are the batch.
        let source = through_program(&feed).await;
        let first = feed
            .read_from(source, 500, 10_000, false, None)
            .await
            .expect("the events selected before the failure");
        let ids: Vec<u64> = first.iter().map(|e| e.record_id).collect();
        assert_eq!(ids, (1..=256).collect::<Vec<u64>>());
        assert!(first[255].xml.contains("message 256"));
        assert!(
            matches!(&feed.position, Position::After(cursor) if cursor.contains("i=100;")),
            "the position is right after the 256th entry: {:?}",
            feed.position
        );
        // The next read starts there and meets the failure itself.
        let source = through_program(&feed).await;
        let next = feed.read_from(source, 500, 10_000, false, None).await;
        assert!(matches!(next, Err(Error::Failed { .. })), "{next:?}");
    });
}

/// The inotify descriptors of this process with a watch on `directory`: each watch is a line
/// of the descriptor's fdinfo naming the watched inode and its device (in hex, the device as
/// the kernel numbers it), so descriptors of other tests, on other directories, do not count.
fn watching(directory: &std::path::Path) -> usize {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(directory).expect("the directory exists");
    let dev = metadata.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let watch = format!(
        " ino:{:x} sdev:{:x} ",
        metadata.ino(),
        (major << 20) | minor
    );
    std::fs::read_dir("/proc/self/fdinfo")
        .expect("the process's descriptors")
        .filter_map(Result::ok)
        .filter(|fd| {
            std::fs::read_to_string(fd.path()).is_ok_and(|info| {
                info.lines()
                    .any(|line| line.starts_with("inotify ") && line.contains(&watch))
            })
        })
        .count()
}

/// A pull's read opens the journal for that read only, so it must not make an inotify
/// descriptor: closing one waits for the kernel's RCU grace period, milliseconds in which the
/// thread that drops the reader (the async worker) sat idle, every pull. It still reads every
/// entry; a following reader (a push delivery, a forwarder) still watches.
#[test]
fn a_pulls_in_process_read_watches_nothing_and_reads_everything() {
    let entries: Vec<Vec<(&str, &str)>> = (0..300)
        .map(|_| {
            vec![
                ("SYSLOG_IDENTIFIER", "wsman-pull"),
                ("PRIORITY", "3"),
                ("MESSAGE", "pulled"),
            ]
        })
        .collect();
    let Some(journal) = wsman_test::journal::JournalDir::from_entries_before_now(
        std::time::Duration::from_secs(60),
        &entries,
    ) else {
        return;
    };
    let directory = journal.path();
    let runtime = current_thread_runtime();
    runtime.block_on(async {
        let mut feed =
            feed_of_everything(Journal::Directory(directory.clone()), "journalctl".into());
        let source = feed.source(false).await.expect("the journal opens");
        assert!(
            matches!(source, Source::InProcess(Some(_))),
            "read in-process"
        );
        assert_eq!(
            watching(&directory),
            0,
            "a pull's reader watches the journal"
        );
        let read = feed
            .read_from(source, 1000, 10_000, false, None)
            .await
            .expect("the journal reads");
        let ids: Vec<u64> = read.iter().map(|e| e.record_id).collect();
        assert_eq!(ids, (1..=300).collect::<Vec<u64>>());
        // What the count above would have seen, had the reader watched.
        let follower = Follower::open(
            &Journal::Directory(directory.clone()),
            &Start::Oldest,
            ExportLimits::default(),
        )
        .expect("the journal opens");
        assert!(watching(&directory) >= 1, "a following reader watches");
        drop(follower);
    });
}
