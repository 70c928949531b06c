//! The text search against a brute-force reading of the same events: its three ways (the
//! newest events looked up in the index, every match asked of the index, a word asked as the
//! terms it begins or as a prefix) give the same answer, newest first and paged.

use wsman_collector::store::events::record::{push_words, words_of};
use wsman_collector::store::events::{EventStore, Position, StoreRecord, StoreSettings};
use wsman_events::Timestamp;

use super::search;

/// Every match of `words` among `events` (their words at index `i` are `words[i]`, their
/// times `times[i]`, ids from 1), newest first: the answer a search must give, found by brute force.
fn brute_force(words: &[String], times: &[i64], search: &[&str]) -> Vec<i64> {
    let mut found: Vec<(i64, i64)> = (0..words.len())
        .filter(|&i| {
            search
                .iter()
                .all(|s| words[i].split(' ').any(|w| w.starts_with(s)))
        })
        .map(|i| (times[i], i as i64 + 1))
        .collect();
    found.sort_by_key(|&(t, id)| std::cmp::Reverse((t, id)));
    found.into_iter().map(|(_, id)| id).collect()
}

/// The text of event `i` of `count`: common words, the `log…` family at their own rates,
/// `logx…` prefixes, a word not ASCII, and a rare word only in old events (the newest 4,096 of
/// a partition hold none of it), with its time (out of id order).
fn text_and_time(i: i64, count: i64) -> (String, i64) {
    let mut text = format!("common w{} filler{}", i % 7, i % 100);
    for (every, word) in [(5, "logon"), (11, "logoff"), (13, "log"), (17, "logos")] {
        if i % every == 0 {
            text.push_str(&format!(" {word}"));
        }
    }
    if i % 19 == 0 {
        text.push_str(&format!(" logx{}", i % 40));
    }
    if i % 23 == 0 {
        text.push_str(if i % 2 == 0 { " café" } else { " cafés" });
    }
    let time = (i * 7919) % count;
    if time < 30 {
        text.push_str(if time == 3 { " needles" } else { " needle" });
    }
    (text, time)
}

/// `count` events stored at `path` in two partitions (each half arrived on its own day),
/// with the words and times each was indexed with, for [`brute_force`].
fn store_in_two_partitions(
    path: &std::path::Path,
    settings: &StoreSettings,
    count: i64,
) -> (Vec<String>, Vec<i64>) {
    let events = EventStore::open(path, settings.clone()).unwrap();
    let mut words = Vec::new();
    let mut times = Vec::new();
    let mut records = Vec::new();
    for i in 0..count {
        let (text, time) = text_and_time(i, count);
        let mut indexed = String::new();
        push_words(&mut indexed, &text, 16 * 1024);
        words.push(indexed.clone());
        times.push(time * 1_000_000);
        records.push(StoreRecord {
            time: Timestamp::from_unix_micros(time * 1_000_000),
            event_time: None,
            computer: format!("host{}", i % 3),
            channel: "Security".into(),
            level: Some(0),
            event_id: Some(4624),
            provider: None,
            subscription: "fleet".into(),
            excerpt: Some(text),
            words: indexed,
            xml: "<Event/>".into(),
        });
    }
    let mut connection = rusqlite::Connection::open(path).unwrap();
    for (n, half) in records.chunks(count as usize / 2).enumerate() {
        let transaction = connection.transaction().unwrap();
        let arrived = Timestamp::from_unix_micros(n as i64 * 2 * 86_400_000_000);
        let half: Vec<&StoreRecord> = half.iter().collect();
        events.insert(&transaction, &half, arrived).unwrap();
        transaction.commit().unwrap();
    }
    (words, times)
}

/// The ids of a page of `events` for `search` from `position`.
fn page_ids(
    events: &EventStore,
    search: &wsman_collector::store::events::Search,
    position: Position,
    limit: usize,
) -> Vec<i64> {
    events
        .page(search, position, limit)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect()
}

/// The text search's three ways give the brute-force answer: the newest events looked up in
/// the index (common words), every match asked of the index when the newest events hold too
/// few (a rare word), and a word asked as the terms it begins (`logo`: logon, logoff, logos),
/// or as a prefix when it begins too many (`logx`) or is not ASCII (`café`); over two
/// partitions, with times out of id order, paged.
#[test]
fn text_searches_give_every_match_newest_first_whichever_way_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wec.sqlite");
    let settings = StoreSettings {
        partition_seconds: 86_400,
        ..StoreSettings::default()
    };
    let (words, times) = store_in_two_partitions(&path, &settings, 10_000);
    let events = EventStore::open(&path, settings).unwrap();
    for text in [
        "common",
        "logo",
        "logon",
        "log",
        "logx",
        "logx1",
        "needle",
        "needles",
        "needle common",
        "logo w3",
        "logoff logos",
        "café",
        "caf",
        "nothing",
        "w2 filler22",
    ] {
        let asked: Vec<String> = words_of(text);
        let expected = brute_force(
            &words,
            &times,
            &asked.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let search = search(&format!("<q:Text>{text}</q:Text>"));
        for limit in [1, 50, 10_000] {
            let page = page_ids(&events, &search, Position::Newest, limit);
            assert_eq!(
                page,
                expected[..limit.min(expected.len())],
                "{text}, {limit}"
            );
        }
        // The tail: by id, over both partitions.
        let mut by_id = expected.clone();
        by_id.sort_unstable();
        let tail = page_ids(&events, &search, Position::After(0), 50);
        assert_eq!(tail, by_id[..50.min(by_id.len())], "{text}, tail");
        // The page after the first 50, from where it ended.
        let first = events.page(&search, Position::Newest, 50).unwrap();
        if let Some(last) = first.last() {
            let next = page_ids(&events, &search, Position::Newest.next(last), 50);
            let rest = &expected[50.min(expected.len())..];
            assert_eq!(next, rest[..50.min(rest.len())], "{text}, second page");
        }
    }
}
