//! The event store in SQLite: the bookmarks' file, so that a batch's events and its bookmark
//! are one transaction.
//!
//! Why a table per partition (`ev_N` and its full-text index `ev_N_fts`, N the period of
//! arrival, [`StoreSettings::partition_seconds`] long): retention drops a partition whole
//! (`DROP TABLE`), never deleting row by row, and a partition is bounded by when events
//! arrived, which the collector's clock decides, not by the times forwarders write (a forwarder
//! cannot make partitions by making up dates). A search reads every partition, each through
//! its indexes, and merges: a page costs at most one page per partition.
//!
//! Why ids from one counter (`store_meta`): an id names an event whatever its partition, and
//! ids grow in commit order (SQLite has one writer at a time), which the live tail relies on.

use std::collections::BTreeSet;

use rusqlite::{params, params_from_iter, types::Value, Connection, OptionalExtension};
use wsman_events::Timestamp;

use crate::store::events::common::{self, Bucket, EventRow, Position, StoreSettings};
use crate::store::events::filter::{self, Search};
use crate::store::events::record::{self, StoreRecord};

/// The tables every store has, besides the partitions.
pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS store_meta (next_id INTEGER NOT NULL);
    INSERT INTO store_meta (next_id) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM store_meta);
    CREATE TABLE IF NOT EXISTS store_partition (part INTEGER PRIMARY KEY);
";

/// The columns a result reads, in [`row_of`]'s order.
const COLUMNS: &str =
    "id, time, computer, channel, level, event_id, provider, subscription, excerpt, event_time, arrived";

fn partition_ddl(part: i64) -> String {
    let t = format!("ev_{part}");
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (
            id INTEGER PRIMARY KEY, time INTEGER NOT NULL,
            computer TEXT NOT NULL COLLATE NOCASE, channel TEXT NOT NULL COLLATE NOCASE,
            level INTEGER, event_id INTEGER, provider TEXT COLLATE NOCASE,
            subscription TEXT NOT NULL, excerpt TEXT, xml TEXT NOT NULL,
            event_time INTEGER, arrived INTEGER);
         CREATE INDEX IF NOT EXISTS {t}_time ON {t} (time);
         CREATE INDEX IF NOT EXISTS {t}_computer ON {t} (computer, time);
         CREATE INDEX IF NOT EXISTS {t}_channel ON {t} (channel, time);
         CREATE INDEX IF NOT EXISTS {t}_level ON {t} (level, time);
         CREATE INDEX IF NOT EXISTS {t}_event_id ON {t} (event_id, time);
         CREATE INDEX IF NOT EXISTS {t}_provider ON {t} (provider, time);
         CREATE VIRTUAL TABLE IF NOT EXISTS {t}_fts USING fts5(words, content='', detail=none,
             columnsize=0, tokenize='unicode61 remove_diacritics 0');
         INSERT OR IGNORE INTO store_partition (part) VALUES ({part});"
    )
}

/// Pages of the writer's cache (negative: KiB): the indexes of the partition being written
/// are updated all over (each forwarder's events in its own place of the computer index),
/// and SQLite's default 2 MiB made most of those pages a read again at every commit.
const WRITER_CACHE_KIB: i64 = 32 * 1024;
/// The WAL past which the commit path checkpoints itself ([`Checkpointer::after_commit`]).
const WAL_BOUND_FRAMES: u64 = 8 * 1024;
/// The checkpointer's pause after each checkpoint: the commits of that time share the next.
const CHECKPOINT_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// The writer's settings once the store shares its file: a larger cache, and with a
/// [`Checkpointer`] no automatic checkpoint (it runs them off the commit path).
pub(crate) fn tune_writer(writer: &Connection, checkpointer: bool) -> rusqlite::Result<()> {
    writer.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    if checkpointer {
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
    }
    Ok(())
}

/// Checkpoints of the WAL on a thread and connection of their own, asked for after each
/// commit. Why: SQLite's automatic checkpoint runs in the commit that crosses its threshold,
/// copying megabytes into the file and syncing it while every Ack of the next group waits; a
/// passive checkpoint beside the writer copies the same pages without holding it.
///
/// A passive checkpoint never catches a writer that is always in a transaction, and SQLite
/// starts the WAL over only when a transaction begins with all of it copied: so when the WAL
/// has passed [`WAL_BOUND_FRAMES`], the commit path checkpoints once itself, between its
/// transactions (the frames since the last passive checkpoint), and the WAL starts over.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    wake: std::sync::mpsc::SyncSender<()>,
    /// Frames in the WAL as the last checkpoint found it.
    frames: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Checkpointer {
    /// The checkpointer of the file `connection` is open on (its own connection; the thread
    /// ends when the checkpointer is dropped).
    pub(crate) fn start(connection: Connection) -> std::io::Result<Checkpointer> {
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = std::sync::Arc::clone(&frames);
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    match checkpoint(&connection) {
                        Ok((_, log)) => seen.store(log, std::sync::atomic::Ordering::Relaxed),
                        Err(error) => tracing::warn!(%error, "event store: checkpoint failed"),
                    }
                    std::thread::sleep(CHECKPOINT_PAUSE);
                }
            })?;
        Ok(Checkpointer { wake, frames })
    }

    /// After a commit on `writer`: a checkpoint is asked for, and run here when the WAL has
    /// outgrown its bound.
    /// A checkpoint the thread is running makes this one busy: it is tried again after the
    /// next commit.
    /// `over`: the WAL on disk has passed the store's bound for it (checkpointed here at once).
    pub(crate) fn after_commit(&self, writer: &Connection, over: bool) -> rusqlite::Result<()> {
        if !over && self.frames.load(std::sync::atomic::Ordering::Relaxed) < WAL_BOUND_FRAMES {
            let _ = self.wake.try_send(());
            return Ok(());
        }
        let (busy, _) = checkpoint(writer)?;
        if !busy {
            self.frames.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}

/// What a passive checkpoint on `connection` found: whether another checkpoint kept it from
/// running, and the frames in the WAL.
pub(crate) fn checkpoint(connection: &Connection) -> rusqlite::Result<(bool, u64)> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        let busy = row.get::<_, i64>(0)? != 0;
        Ok((busy, u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0)))
    })
}

/// The partitions, oldest first.
pub(crate) fn partitions(connection: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut statement =
        connection.prepare_cached("SELECT part FROM store_partition ORDER BY part")?;
    let parts = statement.query_map([], |row| row.get(0))?;
    parts.collect()
}

/// Bring partitions written before the store kept both times up to date, once (when they
/// lack the `arrived` column): the columns added, and an event whose `TimeCreated` is
/// implausible ([`record::ordering_time`]) ordered by the start of its partition's
/// period (its arrival, to the partition) and its own time kept in `event_time`.
pub(crate) fn upgrade(connection: &Connection, settings: &StoreSettings) -> rusqlite::Result<()> {
    for part in partitions(connection)? {
        let has_arrived: bool = connection.query_row(
            &format!("SELECT count(*) FROM pragma_table_info('ev_{part}') WHERE name = 'arrived'"),
            [],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if has_arrived {
            continue;
        }
        let start = part
            .saturating_mul(settings.partition_seconds)
            .saturating_mul(1_000_000);
        let end = (part + 1)
            .saturating_mul(settings.partition_seconds)
            .saturating_mul(1_000_000);
        let latest = Timestamp::from_unix_micros(end)
            .saturating_add(record::LATEST_AHEAD)
            .unix_micros();
        let transaction = connection.unchecked_transaction()?;
        transaction.execute_batch(&format!(
            "ALTER TABLE ev_{part} ADD COLUMN event_time INTEGER;
             ALTER TABLE ev_{part} ADD COLUMN arrived INTEGER;
             UPDATE ev_{part} SET event_time = time, time = {start}
                 WHERE time < {earliest} OR time > {latest};",
            earliest = record::EARLIEST_PLAUSIBLE.unix_micros(),
        ))?;
        transaction.commit()?;
    }
    Ok(())
}

/// Insert `records`, arrived at `now`, in the caller's transaction; `known` are the
/// partitions known to exist (the one written is added).
pub(crate) fn insert(
    connection: &Connection,
    records: &[&StoreRecord],
    now: Timestamp,
    settings: &StoreSettings,
    known: &mut BTreeSet<i64>,
) -> rusqlite::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let part = now.unix_micros().div_euclid(1_000_000) / settings.partition_seconds;
    if known.insert(part) {
        connection.execute_batch(&partition_ddl(part))?;
    }
    let first: i64 = connection
        .prepare_cached("SELECT next_id FROM store_meta")?
        .query_row([], |r| r.get(0))?;
    let mut event = connection.prepare_cached(&format!(
        "INSERT INTO ev_{part} (id, time, computer, channel, level, event_id, provider, subscription, excerpt, xml, event_time, arrived)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?;
    let mut words = connection.prepare_cached(&format!(
        "INSERT INTO ev_{part}_fts (rowid, words) VALUES (?1, ?2)"
    ))?;
    for (id, r) in (first..).zip(records) {
        event.execute(params![
            id,
            r.ordered_at(now),
            r.computer,
            r.channel,
            r.level,
            r.event_id,
            r.provider,
            r.subscription,
            r.excerpt,
            r.xml,
            r.event_time.map(Timestamp::unix_micros),
            now.unix_micros()
        ])?;
        if !r.words.is_empty() {
            words.execute(params![id, r.words])?;
        }
    }
    let next = first + records.len() as i64;
    connection
        .prepare_cached("UPDATE store_meta SET next_id = ?1")?
        .execute(params![next])?;
    Ok(())
}

/// What retention drops besides partitions past the age limit.
#[derive(Clone, Copy)]
pub(crate) enum Retain<'a> {
    /// Nothing more: no size bound.
    Aged,
    /// The oldest partitions while the store is over its bound's retention size, the one
    /// being written too when it alone is.
    Over(&'a super::bound::DiskBound),
    /// As `Over`, and at least the oldest partition: a commit met the bound or a full disk.
    Room(&'a super::bound::DiskBound),
}

/// Drop the partitions past the age limit, then, by `more`, the oldest while the store is too
/// big (the one being written too, when it alone is). Returns the partitions dropped.
pub(crate) fn retain(
    connection: &mut Connection,
    now: Timestamp,
    settings: &StoreSettings,
    known: &mut BTreeSet<i64>,
    more: Retain<'_>,
) -> rusqlite::Result<Vec<i64>> {
    let current = now.unix_micros().div_euclid(1_000_000) / settings.partition_seconds;
    let oldest_kept = (now.unix_micros().div_euclid(1_000_000) - settings.max_age_seconds)
        .div_euclid(settings.partition_seconds);
    let mut dropped = Vec::new();
    for part in partitions(connection)? {
        let too_old = part < oldest_kept && part < current;
        let too_big = |dropped: &[i64]| match more {
            Retain::Aged => Ok(false),
            Retain::Over(bound) => bound.over_retention(connection),
            Retain::Room(bound) => Ok(dropped.is_empty() || bound.over_retention(connection)?),
        };
        if !(too_old || too_big(&dropped)?) {
            break;
        }
        let transaction = connection.transaction()?;
        transaction.execute_batch(&format!(
            "DROP TABLE IF EXISTS ev_{part}; DROP TABLE IF EXISTS ev_{part}_fts;
             DELETE FROM store_partition WHERE part = {part};"
        ))?;
        transaction.commit()?;
        known.remove(&part);
        dropped.push(part);
    }
    Ok(dropped)
}

/// The WHERE clause of `search` on partition `part` (without the position), its parameters
/// appended to `values`.
fn conditions(
    connection: &Connection,
    search: &Search,
    part: i64,
    values: &mut Vec<Value>,
) -> rusqlite::Result<String> {
    let fields = field_conditions(search, values);
    if search.words.is_empty() {
        return Ok(fields);
    }
    values.push(Value::Text(text_query(connection, search, part)?));
    Ok(format!(
        "{fields} AND id IN (SELECT rowid FROM ev_{part}_fts WHERE ev_{part}_fts MATCH ?)"
    ))
}

/// Terms a word may stand for before it is asked as a prefix ([`word_terms`]).
const MAX_TERMS: usize = 32;

/// The FTS5 query of a search's words in partition `part`: every word matches the terms it
/// begins (record::words_of makes them letters and digits only). Why not FTS5's own prefix
/// query (`"word"*`): FTS5 answers it by merging the whole doclist of every term it begins
/// before any rowid bound applies (a quarter of a partition for a common word), while the
/// terms themselves, OR-ed, are read only between the bounds. The prefix query stays for a
/// word beginning more than [`MAX_TERMS`] terms, or not ASCII (the index's tokenizer, not ours,
/// decides where such a word's terms end).
fn text_query(connection: &Connection, search: &Search, part: i64) -> rusqlite::Result<String> {
    let mut groups = Vec::new();
    for word in &search.words {
        let terms = match word_terms(connection, word, part)? {
            Some(terms) => terms,
            None => {
                groups.push(format!("\"{word}\"*"));
                continue;
            }
        };
        let terms: Vec<String> = std::iter::once(word)
            .chain(&terms)
            // An FTS5 string: a quote doubled (a term of the tokenizer never holds one).
            .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect();
        groups.push(format!("({})", terms.join(" OR ")));
    }
    Ok(groups.join(" AND "))
}

/// The terms of partition `part` longer than `word` that begin with it, from the index's
/// vocabulary; `None` when `word` is not ASCII letters and digits or begins more than
/// [`MAX_TERMS`] terms. The bounds leave `word` itself out: the vocabulary counts a term's
/// events when it reads the term, which for a common word is the cost being avoided.
fn word_terms(
    connection: &Connection,
    word: &str,
    part: i64,
) -> rusqlite::Result<Option<Vec<String>>> {
    if word.is_empty()
        || !word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Ok(None);
    }
    connection.execute_batch(&format!(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.ev_{part}_vocab
         USING fts5vocab(main, ev_{part}_fts, row)"
    ))?;
    // No term holds a control character or U+10FFFF (the tokenizer keeps letters and digits).
    let terms = connection
        .prepare_cached(&format!(
            "SELECT term FROM temp.ev_{part}_vocab WHERE term >= ?1 AND term <= ?2 LIMIT ?3"
        ))?
        .query_map(
            params![
                format!("{word}\u{1}"),
                format!("{word}\u{10FFFF}"),
                (MAX_TERMS + 1) as i64
            ],
            |r| r.get::<_, String>(0),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((terms.len() <= MAX_TERMS).then_some(terms))
}

/// The conditions of every field but the text.
fn field_conditions(search: &Search, values: &mut Vec<Value>) -> String {
    let mut clauses = Vec::new();
    let mut any_of = |column: &str, items: Vec<Value>, values: &mut Vec<Value>| {
        if !items.is_empty() {
            let marks = vec!["?"; items.len()].join(",");
            clauses.push(format!("{column} IN ({marks})"));
            values.extend(items);
        }
    };
    let text = |v: &Vec<String>| v.iter().cloned().map(Value::Text).collect();
    let int = |v: &Vec<i64>| v.iter().copied().map(Value::Integer).collect();
    any_of("computer", text(&search.computers), values);
    any_of("channel", text(&search.channels), values);
    any_of("provider", text(&search.providers), values);
    any_of("level", int(&search.levels), values);
    any_of("event_id", int(&search.event_ids), values);
    if let Some(from) = search.from {
        clauses.push("time >= ?".into());
        values.push(Value::Integer(from.unix_micros()));
    }
    if let Some(to) = search.to {
        clauses.push("time < ?".into());
        values.push(Value::Integer(to.unix_micros()));
    }
    if clauses.is_empty() {
        "1".into()
    } else {
        clauses.join(" AND ")
    }
}

fn row_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: row.get(0)?,
        time: Timestamp::from_unix_micros(row.get(1)?),
        computer: row.get(2)?,
        channel: row.get(3)?,
        level: row.get(4)?,
        event_id: row.get(5)?,
        provider: row.get(6)?,
        subscription: row.get(7)?,
        excerpt: row.get(8)?,
        event_time: row
            .get::<_, Option<i64>>(9)?
            .map(Timestamp::from_unix_micros),
        received: row
            .get::<_, Option<i64>>(10)?
            .map(Timestamp::from_unix_micros),
    })
}

/// Newest events of a partition read before the text is matched ([`newest_words`]).
const WORDS_WINDOW: usize = 4096;
/// Events of the window looked up in the full-text index one by one, at most
/// ([`matching_ids`]).
const LOOKUPS: usize = 512;

/// A text search newest first, the cheap way when its words are common: the newest
/// [`WORDS_WINDOW`] events that match the other fields, read in time order, and the full-text
/// index asked only about them ([`matching_ids`]). `None` when that window was full yet holds
/// fewer than `limit` matches (rare words): the caller then asks the index for every match.
/// Why: the index answers a common word with every event that has it (a quarter of the
/// store), which costs seconds to collect and sort for a page of 50 that the newest few
/// hundred events hold.
fn newest_words(
    connection: &Connection,
    search: &Search,
    position: Position,
    limit: usize,
    part: i64,
    beat: &Beat,
) -> rusqlite::Result<Option<Vec<EventRow>>> {
    if search.words.is_empty() || matches!(position, Position::After(_)) {
        return Ok(None);
    }
    let mut values = Vec::new();
    let mut sql = format!(
        "SELECT {COLUMNS} FROM ev_{part} WHERE {}",
        field_conditions(search, &mut values)
    );
    if let Position::Before { time, id } = position {
        sql.push_str(" AND (time < ? OR (time = ? AND id < ?))");
        values.extend([time, time, id].map(Value::Integer));
    }
    sql.push_str(&beat.sql);
    values.extend(beat.values.iter().cloned());
    sql.push_str(&format!(
        " ORDER BY time DESC, id DESC LIMIT {WORDS_WINDOW}"
    ));
    let window = connection
        .prepare(&sql)?
        .query_map(params_from_iter(values), row_of)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let complete = window.len() < WORDS_WINDOW;
    let query = text_query(connection, search, part)?;
    let ids: Vec<i64> = window.iter().map(|r| r.id).collect();
    let matched = matching_ids(connection, &query, part, &ids, limit)?;
    let found: Vec<EventRow> = window
        .into_iter()
        .filter(|r| matched.contains(&r.id))
        .take(limit)
        .collect();
    Ok((complete || found.len() >= limit).then_some(found))
}

/// Which of `ids` (newest first) the full-text `query` matches in partition `part`: each
/// looked up by its rowid until `limit` match, at most [`LOOKUPS`] of them, then the rest
/// together as the range of rowids they span. Why both: the newest events of a search are
/// scattered over the partition's rowids (times are the forwarders', rowids the order of
/// arrival), so their range holds every event of the partition, a quarter of which a common
/// word matches; a word the newest few hundred events seldom have has few events to read
/// in any range.
fn matching_ids(
    connection: &Connection,
    query: &str,
    part: i64,
    ids: &[i64],
    limit: usize,
) -> rusqlite::Result<std::collections::HashSet<i64>> {
    let mut matched = std::collections::HashSet::new();
    let mut one = connection.prepare_cached(&format!(
        "SELECT rowid FROM ev_{part}_fts WHERE ev_{part}_fts MATCH ?1 AND rowid = ?2"
    ))?;
    let looked_up = ids.len().min(LOOKUPS);
    let mut tested = 0;
    for &id in &ids[..looked_up] {
        tested += 1;
        if one.exists(params![query, id])? {
            matched.insert(id);
            if matched.len() >= limit {
                return Ok(matched);
            }
        }
    }
    let rest = &ids[tested..];
    let (Some(&low), Some(&high)) = (rest.iter().min(), rest.iter().max()) else {
        return Ok(matched);
    };
    let mut range = connection.prepare_cached(&format!(
        "SELECT rowid FROM ev_{part}_fts WHERE ev_{part}_fts MATCH ?1 AND rowid >= ?2 AND rowid <= ?3"
    ))?;
    for id in range.query_map(params![query, low, high], |r| r.get::<_, i64>(0))? {
        matched.insert(id?);
    }
    Ok(matched)
}

/// The condition a partition's events must meet to make a page once the partitions read
/// hold `limit` matches (`rows`, cut to the page): newer than the page's last, or for a tail
/// an older id. Why: partitions are read newest first and their times mostly follow arrival,
/// so an older partition usually has no event that beats a full page, and its indexes say so
/// without reading its window or asking its full-text index.
#[derive(Default)]
struct Beat {
    sql: String,
    values: Vec<Value>,
}

impl Beat {
    fn of(rows: &mut Vec<EventRow>, position: Position, limit: usize) -> Beat {
        sort_page(rows, position);
        rows.truncate(limit);
        match (rows.len() >= limit, rows.last(), position) {
            (true, Some(last), Position::After(_)) => Beat {
                sql: " AND id < ?".into(),
                values: vec![Value::Integer(last.id)],
            },
            // Not newer than the last by (time, id): a time range the indexes read in order
            // (an OR of two conditions makes SQLite sort); the page is cut again after.
            (true, Some(last), _) => Beat {
                sql: " AND time >= ?".into(),
                values: vec![Value::Integer(last.time.unix_micros())],
            },
            _ => Beat::default(),
        }
    }
}

fn sort_page(rows: &mut [EventRow], position: Position) {
    match position {
        Position::After(_) => rows.sort_by_key(|r| r.id),
        _ => rows.sort_by_key(|r| std::cmp::Reverse((r.time, r.id))),
    }
}

/// Up to `limit` matches of `search` after `position`: newest first, or by id for a tail.
pub(crate) fn page(
    connection: &Connection,
    search: &Search,
    position: Position,
    limit: usize,
) -> rusqlite::Result<Vec<EventRow>> {
    let mut rows = Vec::new();
    for part in partitions(connection)?.into_iter().rev() {
        let beat = Beat::of(&mut rows, position, limit);
        if let Some(found) = newest_words(connection, search, position, limit, part, &beat)? {
            rows.extend(found);
            continue;
        }
        let mut values = Vec::new();
        let mut sql = format!(
            "SELECT {COLUMNS} FROM ev_{part} WHERE {}",
            conditions(connection, search, part, &mut values)?
        );
        match position {
            Position::Newest => {}
            Position::Before { time, id } => {
                sql.push_str(" AND (time < ? OR (time = ? AND id < ?))");
                values.extend([time, time, id].map(Value::Integer));
            }
            Position::After(id) => {
                sql.push_str(" AND id > ?");
                values.push(Value::Integer(id));
            }
        }
        sql.push_str(&beat.sql);
        values.extend(beat.values);
        match position {
            Position::After(_) => sql.push_str(" ORDER BY id"),
            _ => sql.push_str(" ORDER BY time DESC, id DESC"),
        }
        sql.push_str(&format!(" LIMIT {limit}"));
        let mut statement = connection.prepare(&sql)?;
        let found = statement.query_map(params_from_iter(values), row_of)?;
        for row in found {
            rows.push(row?);
        }
    }
    sort_page(&mut rows, position);
    rows.truncate(limit);
    Ok(rows)
}

/// The event `id` as it was sent, if held.
pub(crate) fn event_xml(connection: &Connection, id: i64) -> rusqlite::Result<Option<String>> {
    for part in partitions(connection)?.into_iter().rev() {
        let xml = connection
            .query_row(
                &format!("SELECT xml FROM ev_{part} WHERE id = ?1"),
                [id],
                |r| r.get(0),
            )
            .optional()?;
        if xml.is_some() {
            return Ok(xml);
        }
    }
    Ok(None)
}

/// The newest stored event's id (0 for none).
pub(crate) fn cursor(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("SELECT next_id - 1 FROM store_meta", [], |r| r.get(0))
}

/// The oldest and newest time of the matches, if any.
fn time_range(connection: &Connection, search: &Search) -> rusqlite::Result<Option<(i64, i64)>> {
    let mut range: Option<(i64, i64)> = None;
    for part in partitions(connection)? {
        let mut values = Vec::new();
        let sql = format!(
            "SELECT min(time), max(time) FROM ev_{part} WHERE {}",
            conditions(connection, search, part, &mut values)?
        );
        let (low, high): (Option<i64>, Option<i64>) =
            connection.query_row(&sql, params_from_iter(values), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        if let (Some(low), Some(high)) = (low, high) {
            range = Some(range.map_or((low, high), |(l, h)| (l.min(low), h.max(high))));
        }
    }
    Ok(range)
}

/// The matches of `search` counted per bucket.
pub(crate) fn histogram(
    connection: &Connection,
    search: &Search,
) -> Result<Vec<Bucket>, common::StoreQueryError> {
    let Some((first, last)) = common::histogram_span(search, || time_range(connection, search))?
    else {
        return Ok(Vec::new());
    };
    let (width, start, count) = filter::buckets(search.bucket_seconds, first, last)?;
    let mut counted = Vec::new();
    for part in partitions(connection)? {
        let mut values = vec![Value::Integer(width * 1_000_000)];
        let sql = format!(
            "SELECT time / ? AS bucket, count(*) FROM ev_{part} WHERE {} GROUP BY bucket",
            conditions(connection, search, part, &mut values)?
        );
        let mut statement = connection.prepare(&sql)?;
        let found = statement.query_map(params_from_iter(values), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?;
        for found in found {
            counted.push(found?);
        }
    }
    Ok(common::fill_buckets((width, start, count), counted))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The WAL header's first salt: SQLite changes it each time the WAL starts over.
    fn wal_salt(path: &std::path::Path) -> [u8; 4] {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let header = std::fs::read(wal).unwrap();
        header[16..20].try_into().unwrap()
    }

    /// A partition written before both times were kept gets the columns when the store is
    /// opened, and its made-up times are ordered by the partition's start, kept as their own.
    #[test]
    fn an_older_partition_is_brought_up_to_date_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wec.sqlite");
        let settings = StoreSettings::default();
        let old = Connection::open(&path).unwrap();
        old.execute_batch(SCHEMA).unwrap();
        let part = 20_000;
        old.execute_batch(&partition_ddl(part)).unwrap();
        old.execute_batch(&format!(
            "ALTER TABLE ev_{part} DROP COLUMN event_time; ALTER TABLE ev_{part} DROP COLUMN arrived;"
        ))
        .unwrap();
        let start = part * settings.partition_seconds * 1_000_000;
        let ancient = Timestamp::parse_system_time("1601-01-01T00:00:00Z").unwrap();
        for (id, time) in [(1, start + 5), (2, ancient.unix_micros())] {
            old.execute(
                &format!("INSERT INTO ev_{part} (id, time, computer, channel, subscription, xml) VALUES (?1, ?2, 'w', 'c', 's', '<Event/>')"),
                params![id, time],
            )
            .unwrap();
        }
        drop(old);
        for _ in 0..2 {
            let store = crate::store::events::EventStore::open(&path, settings.clone()).unwrap();
            let rows = store
                .page(&Search::default(), Position::Newest, 10)
                .unwrap();
            let seen: Vec<_> = rows
                .iter()
                .map(|r| (r.id, r.time.unix_micros(), r.event_time))
                .collect();
            assert_eq!(seen, [(1, start + 5, None), (2, start, Some(ancient))]);
        }
    }

    /// The writer's commits no longer checkpoint (well past SQLite's 1,000 pages, the WAL
    /// does not start over), and once the checkpointer has found the WAL past its bound the
    /// commit path checkpoints it itself, so the next transaction starts it over.
    #[test]
    fn the_writer_leaves_checkpoints_to_the_checkpointer_until_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wec.sqlite");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (b BLOB);")
            .unwrap();
        tune_writer(&writer, true).unwrap();
        let checkpointer = Checkpointer::start(Connection::open(&path).unwrap()).unwrap();
        let write = |kib: i64| {
            writer
                .execute("INSERT INTO t (b) VALUES (zeroblob(?1))", [kib * 1024])
                .unwrap();
        };
        write(1);
        let first = wal_salt(&path);
        write(6 * 1024);
        write(1);
        assert_eq!(wal_salt(&path), first, "the writer checkpointed by itself");
        checkpointer
            .frames
            .store(WAL_BOUND_FRAMES, std::sync::atomic::Ordering::Relaxed);
        checkpointer.after_commit(&writer, false).unwrap();
        write(1);
        assert_ne!(wal_salt(&path), first, "the WAL did not start over");
    }
}
