//! The event store on a real SQLite file and on a real PostgreSQL server (every behaviour test
//! runs on both: [`both!`]), through the path a delivery takes: the output leaves a batch's
//! records, the bookmark's claim and commit store them in one transaction; then every filter
//! of the search, paging newest first, the tail, the histogram, one event's XML and retention
//! dropping whole partitions.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::store::events::{EventStore, Position, Search, StoreSettings};
use wsman_collector::store::{config, Backend, PostgresStore, SqliteStore, Store as Committed};
use wsman_events::{BookmarkList, Timestamp};
use wsman_test::postgres::Postgres;

#[path = "event_store/text_search.rs"]
mod text_search;

const NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";

/// An event as a Windows forwarder sends one (rendered).
fn event(
    computer: &str,
    record: u64,
    id: u32,
    level: u8,
    second: u32,
    message: &str,
) -> ReceivedEvent {
    let xml = format!(
        "<Event xmlns='{NS}'><System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>{id}</EventID><Level>{level}</Level><TimeCreated SystemTime='2026-11-26T10:00:{second:02}.0000000Z'/><EventRecordID>{record}</EventRecordID><Channel>Security</Channel><Computer>{computer}</Computer></System><EventData><Data Name='IpAddress'>10.0.0.{record}</Data></EventData><RenderingInfo Culture='en-US'><Message>{message}</Message></RenderingInfo></Event>"
    );
    ReceivedEvent {
        xml,
        tree: None,
        computer: computer.into(),
        channel: "Security".into(),
        record_id: Some(record),
    }
}

/// The database a test's store is in.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Sqlite,
    Postgres,
}

/// Run a behaviour test on each backend, as `NAME::sqlite` and `NAME::postgres` when called
/// in `mod NAME` (written out, so the trust map finds the module; PostgreSQL on a throwaway server; skipped, saying why, where PostgreSQL is not installed).
macro_rules! both {
    ($name:ident) => {
        #[test]
        fn sqlite() {
            super::$name(super::Kind::Sqlite);
        }
        #[test]
        fn postgres() {
            super::$name(super::Kind::Postgres);
        }
    };
}

struct Store {
    bookmarks: Arc<dyn Committed>,
    events: Arc<EventStore>,
    /// The server, for PostgreSQL (stopped when the store is dropped).
    server: Option<Postgres>,
    _dir: tempfile::TempDir,
}

/// The PostgreSQL bookmark store of `server`, configured in `dir`.
fn postgres_bookmarks(server: &Postgres, dir: &Path) -> Arc<PostgresStore> {
    server.write_collector_toml(dir, "statement_timeout_seconds = 30\n");
    match config::load(dir, &dir.join("unused.sqlite")).unwrap() {
        Backend::Postgres(settings) => Arc::new(PostgresStore::open(&settings).unwrap()),
        Backend::Sqlite { .. } => unreachable!("the file names PostgreSQL"),
    }
}

/// A store of `kind`; `None` when PostgreSQL is not installed (the test is skipped).
fn open(kind: Kind) -> Option<Store> {
    open_with(kind, StoreSettings::default())
}

/// A store of `kind` with `settings`.
fn open_with(kind: Kind, settings: StoreSettings) -> Option<Store> {
    let dir = tempfile::tempdir().unwrap();
    let (bookmarks, events, server): (Arc<dyn Committed>, _, _) = match kind {
        Kind::Sqlite => {
            let path = dir.path().join("wec.sqlite");
            let bookmarks = SqliteStore::open(&path).unwrap();
            let events = bookmarks.events(&path, settings).unwrap();
            (Arc::new(bookmarks), events, None)
        }
        Kind::Postgres => {
            let server = Postgres::start()?;
            let bookmarks = postgres_bookmarks(&server, dir.path());
            let events = bookmarks.events(settings).unwrap();
            (bookmarks, events, Some(server))
        }
    };
    Some(Store {
        bookmarks,
        events,
        server,
        _dir: dir,
    })
}

/// A store of `kind` holding [`fleet`]'s events.
fn open_with_fleet(kind: Kind) -> Option<Store> {
    let store = open(kind)?;
    for (client, events) in fleet() {
        deliver(&store, client, &events);
    }
    Some(store)
}

/// A delivery as the collector runs it: claim, the events not seen, the output, the commit.
fn deliver(store: &Store, client: &str, events: &[ReceivedEvent]) {
    deliver_at(store, client, events, "2026-11-26T10:01:00.0000000Z");
}

/// [`deliver`], the batch received at `received`.
fn deliver_at(store: &Store, client: &str, events: &[ReceivedEvent], received: &str) {
    let claim = store.bookmarks.claim(client, "logons").unwrap();
    let stored = claim.stored().cloned();
    let fresh: Vec<&ReceivedEvent> = events
        .iter()
        .filter(|e| match (&stored, e.record_id) {
            (Some(s), Some(r)) => s.position(&e.channel).is_none_or(|p| r > p),
            _ => true,
        })
        .collect();
    let received = Timestamp::parse_system_time(received).unwrap();
    let records = store
        .events
        .admit((client, "logons"), &fresh, received)
        .unwrap();
    let mut reached = BookmarkList::new();
    for e in events {
        reached.advance(&e.channel, e.record_id.unwrap());
    }
    claim
        .commit(&reached, Timestamp::from_unix_micros(0), records)
        .unwrap();
}

fn search(xml: &str) -> Search {
    let text = format!(
        "<w:Filter xmlns:w='x' xmlns:q='urn:wsmand:event-store'><q:Search>{xml}</q:Search></w:Filter>"
    );
    Search::from_filter(&wsman_proto::xml::parse(&text, &Default::default()).unwrap()).unwrap()
}

fn ids(store: &Store, s: &Search, position: Position, limit: usize) -> Vec<i64> {
    store
        .events
        .page(s, position, limit)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect()
}

fn fleet() -> Vec<(&'static str, Vec<ReceivedEvent>)> {
    vec![
        (
            "web01$",
            vec![
                event(
                    "WEB01.example.com",
                    1,
                    4624,
                    0,
                    1,
                    "An account was successfully logged on.",
                ),
                event(
                    "WEB01.example.com",
                    2,
                    4625,
                    0,
                    3,
                    "An account failed to log on.",
                ),
            ],
        ),
        (
            "db01$",
            vec![
                event(
                    "DB01.example.com",
                    1,
                    4625,
                    0,
                    2,
                    "An account failed to log on.",
                ),
                event(
                    "DB01.example.com",
                    2,
                    1102,
                    2,
                    4,
                    "The audit log was cleared.",
                ),
            ],
        ),
    ]
}

mod each_filter_selects_its_events_newest_first {
    both!(each_filter_selects_its_events_newest_first);
}
fn each_filter_selects_its_events_newest_first(kind: Kind) {
    let Some(store) = open_with_fleet(kind) else {
        return;
    };
    // Ids in stored order: web01's 1, 2 then db01's 3, 4; newest first by TimeCreated.
    assert_eq!(ids(&store, &search(""), Position::Newest, 10), [4, 2, 3, 1]);
    assert_eq!(
        ids(
            &store,
            &search("<q:Computer>web01.EXAMPLE.com</q:Computer>"),
            Position::Newest,
            10
        ),
        [2, 1]
    );
    assert_eq!(
        ids(
            &store,
            &search("<q:EventID>4625</q:EventID>"),
            Position::Newest,
            10
        ),
        [2, 3]
    );
    assert_eq!(
        ids(
            &store,
            &search("<q:Level>2</q:Level>"),
            Position::Newest,
            10
        ),
        [4]
    );
    assert_eq!(ids(&store, &search("<q:Channel>security</q:Channel><q:Provider>Microsoft-Windows-Security-Auditing</q:Provider>"), Position::Newest, 10).len(), 4);
    assert_eq!(
        ids(
            &store,
            &search("<q:Channel>System</q:Channel>"),
            Position::Newest,
            10
        ),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(
            &store,
            &search("<q:From>2026-11-26T10:00:02Z</q:From><q:To>2026-11-26T10:00:04Z</q:To>"),
            Position::Newest,
            10
        ),
        [2, 3]
    );
    // Words begin words of the message or the data, whatever the case.
    assert_eq!(
        ids(
            &store,
            &search("<q:Text>FAIL log</q:Text>"),
            Position::Newest,
            10
        ),
        [2, 3]
    );
    // A page the newest events fill (read in time order, each looked up in the index), then
    // the next from where it ended.
    let failed = search("<q:Text>FAIL log</q:Text>");
    let first = store.events.page(&failed, Position::Newest, 1).unwrap();
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), [2]);
    let next = Position::Newest.next(&first[0]);
    assert_eq!(ids(&store, &failed, next, 1), [3]);
    let before_all = Position::Before { time: 0, id: 0 };
    assert_eq!(ids(&store, &failed, before_all, 1), Vec::<i64>::new());
    assert_eq!(
        ids(
            &store,
            &search("<q:Text>10.0.0.2</q:Text>"),
            Position::Newest,
            10
        ),
        [4, 2]
    );
    assert_eq!(
        ids(
            &store,
            &search("<q:Text>cleared</q:Text><q:Computer>WEB01.example.com</q:Computer>"),
            Position::Newest,
            10
        ),
        Vec::<i64>::new()
    );
    let row = &store
        .events
        .page(&search("<q:Level>2</q:Level>"), Position::Newest, 1)
        .unwrap()[0];
    assert_eq!(row.computer, "DB01.example.com");
    assert_eq!(row.event_id, Some(1102));
    assert_eq!(row.excerpt.as_deref(), Some("The audit log was cleared."));
    assert_eq!(row.subscription, "logons");
    assert!(store
        .events
        .event_xml(row.id)
        .unwrap()
        .unwrap()
        .contains("<EventID>1102</EventID>"));
    assert_eq!(store.events.event_xml(99).unwrap(), None);
}

mod pages_follow_each_other_and_the_tail_sees_only_newer_events {
    both!(pages_follow_each_other_and_the_tail_sees_only_newer_events);
}
fn pages_follow_each_other_and_the_tail_sees_only_newer_events(kind: Kind) {
    let Some(store) = open_with_fleet(kind) else {
        return;
    };
    let all = search("");
    let mut position = Position::Newest;
    let mut seen = Vec::new();
    loop {
        let page = store.events.page(&all, position, 3).unwrap();
        let Some(last) = page.last() else { break };
        position = position.next(last);
        seen.extend(page.iter().map(|r| r.id));
    }
    assert_eq!(seen, [4, 2, 3, 1]);
    let cursor = store.events.cursor().unwrap();
    assert_eq!(cursor, 4);
    deliver(
        &store,
        "web01$",
        &[event(
            "WEB01.example.com",
            3,
            4625,
            0,
            0,
            "An account failed to log on.",
        )],
    );
    let tail = search(&format!("<q:After>{cursor}</q:After>"));
    assert_eq!(ids(&store, &tail, Position::start(&tail), 10), [5]);
    assert_eq!(
        ids(
            &store,
            &search("<q:After>0</q:After>"),
            Position::After(0),
            10
        ),
        [1, 2, 3, 4, 5]
    );
}

mod the_histogram_counts_every_bucket {
    both!(the_histogram_counts_every_bucket);
}
fn the_histogram_counts_every_bucket(kind: Kind) {
    let Some(store) = open_with_fleet(kind) else {
        return;
    };
    let buckets = store
        .events
        .histogram(&search("<q:From>2026-11-26T10:00:00Z</q:From><q:To>2026-11-26T10:00:06Z</q:To><q:BucketSeconds>2</q:BucketSeconds>"))
        .unwrap();
    let counts: Vec<u64> = buckets.iter().map(|b| b.count).collect();
    assert_eq!(counts, [1, 2, 1]);
    assert_eq!(
        buckets[1].start,
        Timestamp::parse_system_time("2026-11-26T10:00:02Z").unwrap()
    );
    // Without a range: from the oldest match to the newest, the width chosen.
    let matches = store
        .events
        .histogram(&search("<q:EventID>4625</q:EventID>"))
        .unwrap();
    assert_eq!(matches.iter().map(|b| b.count).sum::<u64>(), 2);
    assert_eq!(matches[0].seconds, 1);
}

mod a_resent_batch_is_stored_once_and_an_uncommitted_one_never {
    both!(a_resent_batch_is_stored_once_and_an_uncommitted_one_never);
}
/// A batch resent after its first delivery was stored (the acknowledgement lost) is left out
/// by the bookmark stored in the same commit; a delivery refused before its commit (a later
/// output failed) leaves nothing behind for the next commit of that forwarder.
fn a_resent_batch_is_stored_once_and_an_uncommitted_one_never(kind: Kind) {
    let Some(store) = open(kind) else {
        return;
    };
    let (client, events) = fleet().remove(0);
    deliver(&store, client, &events);
    deliver(&store, client, &events);
    assert_eq!(ids(&store, &search(""), Position::Newest, 10), [2, 1]);
    // The output took a batch, then the delivery failed: no commit.
    let late = [event("WEB01.example.com", 3, 4625, 0, 9, "refused batch")];
    let late_refs: Vec<&ReceivedEvent> = late.iter().collect();
    let claim = store.bookmarks.claim(client, "logons").unwrap();
    let received = Timestamp::parse_system_time("2026-11-26T10:01:00Z").unwrap();
    let records = store
        .events
        .admit((client, "logons"), &late_refs, received)
        .unwrap();
    assert_eq!(records.len(), 1);
    drop((claim, records));
    // A heartbeat-only merge of the same pair afterwards stores nothing of it.
    let claim = store.bookmarks.claim(client, "logons").unwrap();
    claim
        .commit(
            &BookmarkList::new(),
            Timestamp::from_unix_micros(0),
            Vec::new(),
        )
        .unwrap();
    assert_eq!(ids(&store, &search(""), Position::Newest, 10), [2, 1]);
}

mod made_up_times_order_by_arrival_and_are_kept {
    both!(made_up_times_order_by_arrival_and_are_kept);
}
/// Events dated 1601 and 9999 (the forwarder's to write) are ordered, bucketed and paged by
/// their arrival, and their own times are kept: a plausible newer event heads the page, the
/// histogram without a range answers with them in their arrival's bucket.
fn made_up_times_order_by_arrival_and_are_kept(kind: Kind) {
    let Some(store) = open(kind) else {
        return;
    };
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    let at = |seconds: i64| Timestamp::from_unix_micros(now.unix_micros() + seconds * 1_000_000);
    let timed = |record: u64, time: &str| {
        let mut e = event("WEB01.example.com", record, 4624, 4, 0, "timed");
        e.xml = e.xml.replace("2026-11-26T10:00:00.0000000Z", time);
        e
    };
    let (ancient, future) = (
        "1601-01-01T00:00:00.0000000Z",
        "9999-12-31T23:59:59.0000000Z",
    );
    let batch = [
        timed(1, &at(-7200).to_system_time()),
        timed(2, future),
        timed(3, ancient),
    ];
    deliver_at(&store, "web01$", &batch, &now.to_system_time());
    // A plausible event an hour ahead (a forwarder's clock): it orders by its own time.
    let ahead = [timed(4, &at(3600).to_system_time())];
    deliver_at(&store, "web01$", &ahead, &now.to_system_time());
    let rows = store
        .events
        .page(&search(""), Position::Newest, 10)
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [4, 3, 2, 1]);
    let own = |id: i64| rows.iter().find(|r| r.id == id).unwrap();
    for (id, time) in [(2, future), (3, ancient)] {
        let row = own(id);
        assert_eq!(row.event_time, Timestamp::parse_system_time(time));
        assert_eq!(Some(row.time), row.received, "ordered by its arrival");
        assert!(row.time >= now && row.time < at(3600));
    }
    assert_eq!(own(4).event_time, None);
    assert_eq!(
        own(4).time,
        Timestamp::parse_system_time(&at(3600).to_system_time()).unwrap()
    );
    // Every histogram answers; each bucket counts the events its span orders.
    for filter in ["", "<q:EventID>4624</q:EventID>", "<q:Text>timed</q:Text>"] {
        let buckets = store.events.histogram(&search(filter)).unwrap();
        assert!(!buckets.is_empty(), "{filter}");
        for bucket in &buckets {
            let end = bucket.start.unix_micros() + bucket.seconds * 1_000_000;
            let expected = rows
                .iter()
                .filter(|r| r.time >= bucket.start && r.time.unix_micros() < end)
                .count();
            assert_eq!(bucket.count, expected as u64, "{filter}: {bucket:?}");
        }
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 4, "{filter}");
    }
    // A range asks the time they are ordered by.
    let range = format!(
        "<q:From>{}</q:From><q:To>{}</q:To>",
        now.to_system_time(),
        at(60).to_system_time()
    );
    assert_eq!(ids(&store, &search(&range), Position::Newest, 10), [3, 2]);
}

/// A PostgreSQL store written before both times were kept (a made-up time in `created`, no
/// `event_time`, not yet checked): the next collector to open it orders that event by its
/// arrival and keeps its own time, once.
#[test]
fn an_older_postgres_store_is_brought_up_to_date_once() {
    let Some(store) = open(Kind::Postgres) else {
        return;
    };
    let server = store.server.as_ref().unwrap();
    deliver(&store, "web01$", &fleet().remove(0).1);
    let future = Timestamp::parse_system_time("9999-12-31T23:59:59Z").unwrap();
    server.psql(&format!(
        "UPDATE wec_event SET created = {} WHERE id = 1",
        future.unix_micros()
    ));
    server.psql("UPDATE wec_event_meta SET times_checked = FALSE");
    let dir = tempfile::tempdir().unwrap();
    let reopened = postgres_bookmarks(server, dir.path());
    let events = reopened.events(StoreSettings::default()).unwrap();
    let rows = events.page(&search(""), Position::Newest, 10).unwrap();
    let made_up = rows.iter().find(|r| r.id == 1).unwrap();
    assert_eq!(made_up.event_time, Some(future));
    assert_eq!(Some(made_up.time), made_up.received);
    let other = rows.iter().find(|r| r.id == 2).unwrap();
    assert_eq!(other.event_time, None);
    assert_eq!(server.psql("SELECT times_checked FROM wec_event_meta"), "t");
}

/// The partitions' tables left in the store's database.
fn partition_tables(store: &Store) -> i64 {
    match &store.server {
        None => {
            let path = store._dir.path().join("wec.sqlite");
            rusqlite::Connection::open(path)
                .unwrap()
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name LIKE 'ev_%'",
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        }
        Some(server) => server
            .psql("SELECT count(*) FROM pg_class WHERE relname ~ '^wec_event_p[0-9]'")
            .parse()
            .unwrap(),
    }
}

mod retention_drops_whole_partitions {
    both!(retention_drops_whole_partitions);
}
/// Partitions past the age limit are dropped whole; the one being written stays.
fn retention_drops_whole_partitions(kind: Kind) {
    let Some(store) = open_with_fleet(kind) else {
        return;
    };
    assert!(partition_tables(&store) > 0);
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    assert_eq!(store.events.retain_at(now).unwrap(), Vec::<i64>::new());
    let later = now.saturating_add(std::time::Duration::from_secs(31 * 86_400));
    assert_eq!(store.events.retain_at(later).unwrap().len(), 1);
    assert_eq!(
        partition_tables(&store),
        0,
        "the partition's table, indexes and full-text index are gone"
    );
    assert!(store
        .events
        .page(&search(""), Position::Newest, 10)
        .unwrap()
        .is_empty());
    // Writing goes on in a new partition.
    deliver(
        &store,
        "web01$",
        &[event("WEB01.example.com", 9, 4625, 0, 0, "again")],
    );
    assert_eq!(ids(&store, &search(""), Position::Newest, 10), [5]);
}

mod the_size_limit_drops_the_oldest_partitions {
    #[test]
    fn postgres() {
        super::the_size_limit_drops_the_oldest_partitions(super::Kind::Postgres);
    }
}
/// On PostgreSQL, past the size limit the oldest partitions are dropped whole, however young,
/// but never the one still being written. (SQLite's bound is a hard one on disk, its WAL
/// included, the partition being written dropped too when it alone passes it:
/// `tests/store_bound.rs`.)
fn the_size_limit_drops_the_oldest_partitions(kind: Kind) {
    let settings = StoreSettings {
        max_bytes: Some(1),
        ..StoreSettings::default()
    };
    let Some(store) = open_with(kind, settings) else {
        return;
    };
    for (client, events) in fleet() {
        deliver(&store, client, &events);
    }
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    assert_eq!(store.events.retain_at(now).unwrap(), Vec::<i64>::new());
    assert_eq!(ids(&store, &search(""), Position::Newest, 10).len(), 4);
    let in_two_days = now.saturating_add(std::time::Duration::from_secs(2 * 86_400));
    assert_eq!(store.events.retain_at(in_two_days).unwrap().len(), 1);
    assert_eq!(partition_tables(&store), 0);
}

/// Two collectors sharing one PostgreSQL database write one store: what either stores, the
/// other's search finds, under one sequence of ids in commit order (the tail of one sees the
/// other's events), and a batch the forwarder resends to the other node is stored once.
#[test]
fn collectors_sharing_a_database_see_one_store() {
    let Some(node_a) = open(Kind::Postgres) else {
        return;
    };
    let server = node_a.server.as_ref().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let bookmarks_b = postgres_bookmarks(server, dir_b.path());
    let events_b = bookmarks_b.events(StoreSettings::default()).unwrap();
    let node_b = Store {
        bookmarks: bookmarks_b,
        events: events_b,
        server: None,
        _dir: dir_b,
    };
    let fleet = fleet();
    deliver(&node_a, fleet[0].0, &fleet[0].1);
    let cursor = node_b.events.cursor().unwrap();
    assert_eq!(cursor, 2);
    deliver(&node_b, fleet[1].0, &fleet[1].1);
    // web01's batch again, now to node B (node A's acknowledgement was lost).
    deliver(&node_b, fleet[0].0, &fleet[0].1);
    assert_eq!(
        ids(&node_b, &search(""), Position::Newest, 10),
        [4, 2, 3, 1]
    );
    let tail = search(&format!("<q:After>{cursor}</q:After>"));
    assert_eq!(ids(&node_a, &tail, Position::start(&tail), 10), [3, 4]);
    assert!(node_a
        .events
        .event_xml(4)
        .unwrap()
        .unwrap()
        .contains("<EventID>1102</EventID>"));
}
