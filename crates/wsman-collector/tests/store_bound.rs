//! The SQLite event store bounded on disk and per forwarder, on real file systems: a tmpfs
//! the test mounts (as root; skipped, saying why, otherwise) so that a full disk is full for
//! real. Deliveries go the way the collector runs them: the claim, the records taken from the
//! forwarder's share, the bookmark's commit with them (a share's refusal or the commit's
//! error is what the collector answers 503).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::store::events::OverShare;
use wsman_collector::store::events::{EventStore, Position, Search, StoreSettings};
use wsman_collector::store::{SqliteStore, Store as _, StoreError};
use wsman_events::{BookmarkList, Timestamp};
use wsman_test::tmpfs::Tmpfs;

const NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";
const MIB: u64 = 1 << 20;

/// An event of `computer` with a message of about `size` bytes.
fn event(computer: &str, record: u64, size: usize) -> ReceivedEvent {
    let words: String = (0..size / 8)
        .map(|i| format!("w{:05} ", (record * 131 + i as u64) % 99_991))
        .collect();
    let xml = format!(
        "<Event xmlns='{NS}'><System><Provider Name='P'/><EventID>4624</EventID><Level>4</Level><EventRecordID>{record}</EventRecordID><Channel>Security</Channel><Computer>{computer}</Computer></System><RenderingInfo Culture='en-US'><Message>{words}</Message></RenderingInfo></Event>"
    );
    ReceivedEvent {
        xml,
        tree: None,
        computer: computer.into(),
        channel: "Security".into(),
        record_id: Some(record),
    }
}

/// Why a delivery was not acknowledged (each is answered 503).
#[derive(Debug)]
enum Refused {
    Share(OverShare),
    Store(StoreError),
}

struct Store {
    bookmarks: SqliteStore,
    events: Arc<EventStore>,
    path: PathBuf,
}

fn open(path: &Path, settings: StoreSettings) -> Store {
    let bookmarks = SqliteStore::open(path).unwrap();
    let events = bookmarks.events(path, settings).unwrap();
    Store {
        bookmarks,
        events,
        path: path.to_owned(),
    }
}

impl Store {
    /// A delivery of `events` from `client`: claim, the records, the commit.
    fn deliver(&self, client: &str, events: &[ReceivedEvent]) -> Result<(), Refused> {
        let claim = self.bookmarks.claim(client, "s").map_err(Refused::Store)?;
        let refs: Vec<&ReceivedEvent> = events.iter().collect();
        let received = Timestamp::from_system_time(std::time::SystemTime::now());
        let records = self
            .events
            .admit((client, "s"), &refs, received)
            .map_err(Refused::Share)?;
        let mut reached = BookmarkList::new();
        for e in events {
            reached.advance(&e.channel, e.record_id.unwrap());
        }
        claim
            .commit(&reached, received, records)
            .map_err(Refused::Store)
    }

    /// The record ids stored of `computer`.
    fn records_of(&self, computer: &str) -> Vec<i64> {
        let text = format!(
            "<w:Filter xmlns:w='x' xmlns:q='urn:wsmand:event-store'><q:Search><q:Computer>{computer}</q:Computer></q:Search></w:Filter>"
        );
        let search =
            Search::from_filter(&wsman_proto::xml::parse(&text, &Default::default()).unwrap())
                .unwrap();
        let rows = self
            .events
            .page(&search, Position::Newest, 100_000)
            .unwrap();
        let mut ids: Vec<i64> = rows
            .iter()
            .map(|r| {
                let xml = self.events.event_xml(r.id).unwrap().unwrap();
                let at = xml.find("<EventRecordID>").unwrap() + "<EventRecordID>".len();
                xml[at..xml[at..].find('<').unwrap() + at].parse().unwrap()
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The store's bytes on disk: the file and its WAL.
    fn on_disk(&self) -> u64 {
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        size(&self.path) + size(Path::new(&wal))
    }

    /// Bytes of the file's pages in use (read on a connection of the test's own).
    fn used(&self) -> u64 {
        let connection = rusqlite::Connection::open(&self.path).unwrap();
        let pragma = |name: &str| -> i64 {
            connection
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
        };
        ((pragma("page_count") - pragma("freelist_count")) * pragma("page_size")) as u64
    }
}

/// A batch of `count` events of `computer` from record `first`, each about `size` bytes.
fn batch(computer: &str, first: u64, count: u64, size: usize) -> Vec<ReceivedEvent> {
    (first..first + count)
        .map(|r| event(computer, r, size))
        .collect()
}

/// A tmpfs of `size` for one test, in a directory of its own; `None` when not root.
fn disk(size: &str) -> Option<(tempfile::TempDir, Tmpfs)> {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&dir.path().join("disk"), size)?;
    Some((dir, disk))
}

/// Wait until the clock's second has passed `second` by `by` (not a timing assertion: the
/// arrival partitions are the clock's seconds, and the test needs a later one).
fn wait_past(second: i64, by: i64) {
    while Timestamp::from_system_time(std::time::SystemTime::now()).unix_micros() / 1_000_000
        < second + by
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn now_second() -> i64 {
    Timestamp::from_system_time(std::time::SystemTime::now()).unix_micros() / 1_000_000
}

/// One forwarder writing four times the bound as fast as it can, on a 16 MiB file system:
/// the file and its WAL never pass `max_size_mb` (4 MiB), every batch of it and of another
/// forwarder writing beside it is stored (the oldest partitions make room), and the other
/// forwarder's batch after the flood is found.
#[test]
fn one_forwarder_cannot_push_the_store_past_its_bound() {
    let Some((_dir, disk)) = disk("16m") else {
        return;
    };
    let settings = StoreSettings {
        max_bytes: Some(4 * MIB),
        partition_seconds: 1,
        forwarder_events_per_second: 1_000_000,
        forwarder_share_percent: None,
        ..StoreSettings::default()
    };
    let store = open(&disk.path().join("wec.sqlite"), settings);
    let (mut written, mut record, mut other) = (0u64, 1u64, 1u64);
    while written < 16 * MIB {
        let events = batch("FLOOD.example.com", record, 50, 1024);
        written += events.iter().map(|e| e.xml.len() as u64).sum::<u64>();
        record += 50;
        store.deliver("flood$", &events).unwrap();
        if record % 400 == 1 {
            store
                .deliver("other$", &batch("OTHER.example.com", other, 5, 256))
                .unwrap();
            other += 5;
        }
        let on_disk = store.on_disk();
        assert!(
            on_disk <= 4 * MIB,
            "{on_disk} bytes on disk after {written} written"
        );
    }
    wait_past(now_second(), 1);
    store
        .deliver("other$", &batch("OTHER.example.com", other, 5, 256))
        .unwrap();
    let stored = store.records_of("OTHER.example.com");
    assert!(
        stored.ends_with(&[
            other as i64,
            other as i64 + 1,
            other as i64 + 2,
            other as i64 + 3,
            other as i64 + 4
        ]),
        "{stored:?}"
    );
    assert!(store.on_disk() <= 4 * MIB);
}

/// A commit that would take the file past its share of the bound fails inside SQLite
/// (`SQLITE_FULL`, never a larger file), the oldest partition (here the one being written) is
/// dropped and the commit tried once more: the batch is stored, what the partition held is
/// not.
#[test]
fn a_commit_that_meets_the_bound_makes_room_and_is_tried_once_more() {
    let dir = tempfile::tempdir().unwrap();
    let settings = StoreSettings {
        max_bytes: Some(4 * MIB),
        forwarder_events_per_second: 1_000_000,
        forwarder_share_percent: None,
        ..StoreSettings::default()
    };
    let store = open(&dir.path().join("wec.sqlite"), settings);
    // The first forwarder's events until they take 1.6 MiB of the file (3 MiB is its share,
    // retention drops past 2.25 MiB).
    let mut first = 1;
    while store.used() < 1_600_000 {
        store
            .deliver("first$", &batch("FIRST.example.com", first, 100, 1024))
            .unwrap();
        first += 100;
    }
    assert_eq!(
        store.records_of("FIRST.example.com").len() as u64,
        first - 1
    );
    // As many again from another, in one batch: together past the file's share.
    let second = batch("SECOND.example.com", 1, first - 1, 1024);
    store.deliver("second$", &second).unwrap();
    assert!(store.records_of("FIRST.example.com").is_empty());
    assert_eq!(
        store.records_of("SECOND.example.com"),
        (1..first as i64).collect::<Vec<_>>()
    );
    assert!(std::fs::metadata(&store.path).unwrap().len() <= 3 * MIB);
}

/// A full file system: the commit fails (503), though retention ran (a partition past its age
/// is gone); once space is freed the resent batch is stored, without a restart.
#[test]
fn a_full_disk_answers_503_and_storing_resumes_when_space_returns() {
    let Some((_dir, disk)) = disk("8m") else {
        return;
    };
    let settings = StoreSettings {
        max_age_seconds: 1,
        partition_seconds: 1,
        ..StoreSettings::default()
    };
    let store = open(&disk.path().join("wec.sqlite"), settings);
    store
        .deliver("fwd$", &batch("FWD.example.com", 1, 5, 256))
        .unwrap();
    assert_eq!(store.records_of("FWD.example.com"), [1, 2, 3, 4, 5]);
    wait_past(now_second(), 2);
    // Full but for 64 KiB: room for retention's few pages, none for a batch of 600 KiB.
    let filler = disk.fill("filler");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len.saturating_sub(64 * 1024)).unwrap();
    drop(file);
    let large = batch("FWD.example.com", 6, 600, 1024);
    match store.deliver("fwd$", &large) {
        Err(Refused::Store(StoreError::Unavailable(reason))) => {
            assert!(reason.contains("full"), "{reason}");
        }
        other => panic!("a full disk stored the batch: {other:?}"),
    }
    assert!(
        store.records_of("FWD.example.com").is_empty(),
        "retention ran though the commit failed"
    );
    std::fs::remove_file(&filler).unwrap();
    store.deliver("fwd$", &large).unwrap();
    assert_eq!(
        store.records_of("FWD.example.com"),
        (6..606).collect::<Vec<_>>()
    );
}

/// The log lines of `body`, as the collector writes them.
fn logged<T>(body: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let value = tracing::subscriber::with_default(subscriber, body);
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    (value, text)
}

/// Over its share a forwarder's batches are refused (503), with one log line naming it;
/// another forwarder's batches are stored meanwhile, and the refused batch is not.
#[test]
fn over_its_share_a_forwarder_is_refused_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let settings = StoreSettings {
        forwarder_events_per_second: 1,
        ..StoreSettings::default()
    };
    let store = open(&dir.path().join("wec.sqlite"), settings);
    // Ten seconds' worth is the burst; a batch of 200 is taken (owed: 190 s to pay back).
    store
        .deliver("busy$", &batch("BUSY.example.com", 1, 200, 64))
        .unwrap();
    let (refusals, lines) = logged(|| {
        (0..3)
            .map(|n| store.deliver("busy$", &batch("BUSY.example.com", 201 + n, 1, 64)))
            .collect::<Vec<_>>()
    });
    for refused in refusals {
        assert!(
            matches!(refused, Err(Refused::Share(ref over)) if over.to_string().contains("busy$")),
            "{refused:?}"
        );
    }
    assert_eq!(lines.matches("batch refused").count(), 1, "{lines}");
    assert!(lines.contains("busy$"), "{lines}");
    store
        .deliver("quiet$", &batch("QUIET.example.com", 1, 5, 64))
        .unwrap();
    assert_eq!(store.records_of("QUIET.example.com"), [1, 2, 3, 4, 5]);
    assert_eq!(
        store.records_of("BUSY.example.com"),
        (1..=200).collect::<Vec<_>>()
    );
}
