//! The event store in PostgreSQL: the database the bookmarks are in, so that a batch's events
//! and its bookmark are one transaction (the claim's), whichever collector sharing the
//! database took the delivery.
//!
//! Why one table declaratively range-partitioned by arrival (`wec_event`, partitions
//! `wec_event_pN`, N the first microsecond they hold): retention drops a partition whole
//! (`DROP TABLE`), never deleting row by row, and a partition is bounded by when events
//! arrived, which the collectors' clocks decide, not by the times forwarders write. The indexes
//! are the parent's (every partition has them): btree on each searched field with the time,
//! and a GIN index of the words as a `tsvector` built from them as they are (no parser, no
//! dictionary: what is indexed is what `record::words_of` splits a search into).
//!
//! Why ids from one row (`wec_event_meta`), updated first in the commit: the row's lock orders
//! the commits of every collector writing events, so ids grow in commit order, which the live
//! tail relies on (a sequence would hand out ids in the order transactions began); and the
//! partitions are created and dropped under that same lock, so a collector creating one and
//! another inserting cannot deadlock.

use tokio_postgres::types::ToSql;
use tokio_postgres::GenericClient;
use wsman_events::Timestamp;

pub(crate) use crate::store::events::common::DatabaseError;
use crate::store::events::common::{
    self, Bucket, EventRow, Position, StoreQueryError, StoreSettings,
};
use crate::store::events::filter::{self, Search};
use crate::store::events::record::StoreRecord;

/// The database's side the store's searches need: the bookmark store's pool
/// ([`crate::store::PostgresStore::events`]), so one pool bounds both. Errors are the
/// bookmark store's.
pub(crate) trait Connections: Send + Sync {
    /// The rows of `sql` with `params`, on a pooled connection.
    fn query(
        &self,
        sql: String,
        params: Vec<Param>,
    ) -> Result<Vec<tokio_postgres::Row>, DatabaseError>;

    /// Retention as of `now` ([`retain_as_of`]) on a pooled connection.
    fn retain(&self, now: Timestamp, settings: StoreSettings) -> Result<Vec<i64>, DatabaseError>;
}

/// The tables of the store (created under the schema's advisory lock). The last four
/// statements bring a store written before both times were kept up to date, once: an event
/// whose `TimeCreated` is implausible (before `record::EARLIEST_PLAUSIBLE`, or more than
/// `record::LATEST_AHEAD` after arrival: the numbers below) is ordered by its
/// arrival, its own time kept in `event_time`. Only events dated past a day from now are
/// looked for among those ahead of their arrival: both conditions are ranges of the time
/// index, so the upgrade reads no more than the events it moves (a scan of every partition
/// could outlast the statement timeout at start).
pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS wec_event_meta (next_id BIGINT NOT NULL);
    INSERT INTO wec_event_meta (next_id)
        SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM wec_event_meta);
    CREATE TABLE IF NOT EXISTS wec_event_partition (
        name TEXT PRIMARY KEY, lo BIGINT NOT NULL, hi BIGINT NOT NULL);
    CREATE TABLE IF NOT EXISTS wec_event (
        id BIGINT NOT NULL, arrived BIGINT NOT NULL, created BIGINT NOT NULL,
        computer TEXT NOT NULL, channel TEXT NOT NULL, level BIGINT, event_id BIGINT,
        provider TEXT, subscription TEXT NOT NULL, excerpt TEXT, words TSVECTOR NOT NULL,
        xml TEXT NOT NULL
    ) PARTITION BY RANGE (arrived);
    CREATE INDEX IF NOT EXISTS wec_event_by_id ON wec_event (id);
    CREATE INDEX IF NOT EXISTS wec_event_by_time ON wec_event (created, id);
    CREATE INDEX IF NOT EXISTS wec_event_by_computer ON wec_event (lower(computer), created);
    CREATE INDEX IF NOT EXISTS wec_event_by_channel ON wec_event (lower(channel), created);
    CREATE INDEX IF NOT EXISTS wec_event_by_provider ON wec_event (lower(provider), created);
    CREATE INDEX IF NOT EXISTS wec_event_by_level ON wec_event (level, created);
    CREATE INDEX IF NOT EXISTS wec_event_by_event_id ON wec_event (event_id, created);
    CREATE INDEX IF NOT EXISTS wec_event_by_words ON wec_event USING GIN (words);
    ALTER TABLE wec_event ADD COLUMN IF NOT EXISTS event_time BIGINT;
    ALTER TABLE wec_event_meta ADD COLUMN IF NOT EXISTS times_checked BOOLEAN NOT NULL DEFAULT FALSE;
    UPDATE wec_event SET event_time = created, created = arrived
        WHERE (SELECT NOT times_checked FROM wec_event_meta)
            AND (created < 946684800000000
                OR (created > (extract(epoch FROM now()) * 1000000)::bigint + 86400000000
                    AND created > arrived + 86400000000));
    UPDATE wec_event_meta SET times_checked = TRUE WHERE NOT times_checked;
";

/// The columns a result reads, in [`row_of`]'s order.
const COLUMNS: &str = "id, created, computer, channel, level, event_id, provider, subscription, \
     excerpt, event_time, arrived";

/// Longest word a `tsvector` holds (PostgreSQL refuses a lexeme of 2 KiB or more); a longer
/// one is left out of the index rather than failing the batch.
const MAX_LEXEME: usize = 2047;

const INSERT: &str = "
    INSERT INTO wec_event (id, arrived, created, computer, channel, level, event_id, provider,
        subscription, excerpt, words, xml, event_time)
    SELECT $1 + r.n - 1, $2, r.created, r.computer, r.channel, r.level, r.event_id, r.provider,
        r.subscription, r.excerpt, array_to_tsvector(string_to_array(r.words, ' ')), r.xml,
        r.event_time
    FROM unnest($3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[],
        $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[]) WITH ORDINALITY
        AS r(created, computer, channel, level, event_id, provider, subscription, excerpt,
            words, xml, event_time, n)";

/// Take the id counter's row (ordering this transaction's commit after every other writer's).
const LOCK_IDS: &str = "UPDATE wec_event_meta SET next_id = next_id + $1 RETURNING next_id - $1";

/// What a commit of one forwarder's delivery writes to the store.
pub(crate) struct Pending {
    pub(crate) records: Vec<StoreRecord>,
    pub(crate) settings: StoreSettings,
    /// Retention is due after this commit.
    pub(crate) retain: bool,
}

/// `words` without the words a `tsvector` cannot hold.
fn lexemes(words: &str) -> String {
    if words.split(' ').all(|w| w.len() <= MAX_LEXEME) {
        return words.to_owned();
    }
    words
        .split(' ')
        .filter(|w| w.len() <= MAX_LEXEME)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Insert `pending`'s records, arrived at `now`, in the caller's transaction.
pub(crate) async fn insert(
    connection: &impl GenericClient,
    pending: &Pending,
    now: Timestamp,
) -> Result<(), tokio_postgres::Error> {
    let records = &pending.records;
    if records.is_empty() {
        return Ok(());
    }
    let count = i64::try_from(records.len()).unwrap_or(i64::MAX);
    let first: i64 = connection.query_one(LOCK_IDS, &[&count]).await?.get(0);
    let arrived = now.unix_micros();
    ensure_partition(connection, arrived, pending.settings.partition_seconds).await?;
    let column = |f: fn(&StoreRecord) -> String| records.iter().map(f).collect::<Vec<_>>();
    let created: Vec<i64> = records.iter().map(|r| r.ordered_at(now)).collect();
    let levels: Vec<Option<i64>> = records.iter().map(|r| r.level).collect();
    let event_ids: Vec<Option<i64>> = records.iter().map(|r| r.event_id).collect();
    let providers: Vec<Option<String>> = records.iter().map(|r| r.provider.clone()).collect();
    let excerpts: Vec<Option<String>> = records.iter().map(|r| r.excerpt.clone()).collect();
    let event_times: Vec<Option<i64>> = records
        .iter()
        .map(|r| r.event_time.map(Timestamp::unix_micros))
        .collect();
    connection
        .execute(
            INSERT,
            &[
                &first,
                &arrived,
                &created,
                &column(|r| r.computer.clone()),
                &column(|r| r.channel.clone()),
                &levels,
                &event_ids,
                &providers,
                &column(|r| r.subscription.clone()),
                &excerpts,
                &column(|r| lexemes(&r.words)),
                &column(|r| r.xml.clone()),
                &event_times,
            ],
        )
        .await?;
    Ok(())
}

/// The partition holding `arrived` (microseconds), created when there is none: the period of
/// `partition_seconds` around it, cut where a partition made with another period (the setting
/// changed, or another collector's differs) already holds part of it.
async fn ensure_partition(
    connection: &impl GenericClient,
    arrived: i64,
    partition_seconds: i64,
) -> Result<(), tokio_postgres::Error> {
    let held = connection
        .query_opt(
            "SELECT 1 FROM wec_event_partition WHERE lo <= $1 AND $1 < hi",
            &[&arrived],
        )
        .await?;
    if held.is_some() {
        return Ok(());
    }
    let width = partition_seconds.saturating_mul(1_000_000);
    let start = arrived.div_euclid(width) * width;
    let lo: i64 = connection
        .query_one(
            "SELECT greatest($1::bigint, coalesce(max(hi), $1)) FROM wec_event_partition WHERE hi <= $2",
            &[&start, &arrived],
        )
        .await?
        .get(0);
    let hi: i64 = connection
        .query_one(
            "SELECT least($1::bigint, coalesce(min(lo), $1)) FROM wec_event_partition WHERE lo > $2",
            &[&start.saturating_add(width), &arrived],
        )
        .await?
        .get(0);
    // Names and bounds are numbers of ours, never text from a forwarder.
    let name = format!("wec_event_p{lo}");
    connection
        .batch_execute(&format!(
            "CREATE TABLE {name} PARTITION OF wec_event FOR VALUES FROM ({lo}) TO ({hi});
             INSERT INTO wec_event_partition (name, lo, hi) VALUES ('{name}', {lo}, {hi});"
        ))
        .await
}

/// Drop the partitions whose period ended longer than the age limit before `now`, then the
/// oldest while the partitions take more than the size limit (a partition still being written
/// is kept). Returns the partitions dropped, as the period (of `partition_seconds`) each began.
pub(crate) async fn retain_as_of(
    connection: &impl GenericClient,
    now: Timestamp,
    settings: &StoreSettings,
) -> Result<Vec<i64>, tokio_postgres::Error> {
    let now = now.unix_micros();
    let oldest_kept = now - settings.max_age_seconds.saturating_mul(1_000_000);
    connection
        .batch_execute("BEGIN; UPDATE wec_event_meta SET next_id = next_id")
        .await?;
    let parts = connection
        .query("SELECT lo, hi FROM wec_event_partition ORDER BY lo", &[])
        .await?;
    let mut dropped = Vec::new();
    for part in parts {
        let (lo, hi): (i64, i64) = (part.get(0), part.get(1));
        // The table's name made from its number again: no text of the table reaches the SQL.
        let name = format!("wec_event_p{lo}");
        if hi > now || !(hi <= oldest_kept || too_big(connection, settings).await?) {
            break;
        }
        connection
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {name}; DELETE FROM wec_event_partition WHERE lo = {lo};"
            ))
            .await?;
        dropped.push(lo.div_euclid(1_000_000) / settings.partition_seconds);
    }
    connection.batch_execute("COMMIT").await?;
    common::log_dropped(&dropped);
    Ok(dropped)
}

/// Whether the partitions take more than the size limit (tables, indexes and TOAST).
async fn too_big(
    connection: &impl GenericClient,
    settings: &StoreSettings,
) -> Result<bool, tokio_postgres::Error> {
    let Some(max) = settings.max_bytes else {
        return Ok(false);
    };
    let used: i64 = connection
        .query_one(
            "SELECT coalesce(sum(pg_total_relation_size(to_regclass('wec_event_p' || lo))), 0)::bigint
             FROM wec_event_partition",
            &[],
        )
        .await?
        .get(0);
    Ok(u64::try_from(used).unwrap_or(0) > max)
}

/// A parameter of a search's statement.
pub(crate) type Param = Box<dyn ToSql + Sync + Send>;

/// `$n` of `value`, appended to `params`.
fn bind(params: &mut Vec<Param>, value: impl ToSql + Sync + Send + 'static) -> String {
    params.push(Box::new(value));
    format!("${}", params.len())
}

/// The `tsquery` of a search's words: each is letters and digits only (record::words_of), so
/// quoted it is a prefix match of that lexeme and nothing else.
fn text_query(search: &Search) -> String {
    search
        .words
        .iter()
        .map(|w| format!("'{w}':*"))
        .collect::<Vec<_>>()
        .join(" & ")
}

/// The WHERE clause of `search` (without the position), its parameters appended to `params`.
/// Names match without case, as SQLite's `NOCASE` columns do.
fn conditions(search: &Search, params: &mut Vec<Param>) -> String {
    let mut clauses = Vec::new();
    for (column, values) in [
        ("computer", &search.computers),
        ("channel", &search.channels),
        ("provider", &search.providers),
    ] {
        if !values.is_empty() {
            let values = bind(params, values.clone());
            clauses.push(format!(
                "lower({column}) IN (SELECT lower(v) FROM unnest({values}::text[]) v)"
            ));
        }
    }
    for (column, values) in [("level", &search.levels), ("event_id", &search.event_ids)] {
        if !values.is_empty() {
            let values = bind(params, values.clone());
            clauses.push(format!("{column} = ANY({values}::bigint[])"));
        }
    }
    if let Some(from) = search.from {
        clauses.push(format!("created >= {}", bind(params, from.unix_micros())));
    }
    if let Some(to) = search.to {
        clauses.push(format!("created < {}", bind(params, to.unix_micros())));
    }
    if !search.words.is_empty() {
        let query = bind(params, text_query(search));
        clauses.push(format!("words @@ {query}::text::tsquery"));
    }
    if clauses.is_empty() {
        "TRUE".into()
    } else {
        clauses.join(" AND ")
    }
}

/// The rows of `sql` with `params`.
fn query(
    database: &dyn Connections,
    sql: String,
    params: Vec<Param>,
) -> Result<Vec<tokio_postgres::Row>, StoreQueryError> {
    database
        .query(sql, params)
        .map_err(StoreQueryError::Database)
}

fn row_of(row: &tokio_postgres::Row) -> EventRow {
    EventRow {
        id: row.get(0),
        time: Timestamp::from_unix_micros(row.get(1)),
        computer: row.get(2),
        channel: row.get(3),
        level: row.get(4),
        event_id: row.get(5),
        provider: row.get(6),
        subscription: row.get(7),
        excerpt: row.get(8),
        event_time: row
            .get::<_, Option<i64>>(9)
            .map(Timestamp::from_unix_micros),
        received: Some(Timestamp::from_unix_micros(row.get(10))),
    }
}

/// Up to `limit` matches of `search` after `position`: newest first, or by id for a tail.
pub(crate) fn page(
    database: &dyn Connections,
    search: &Search,
    position: Position,
    limit: usize,
) -> Result<Vec<EventRow>, StoreQueryError> {
    let mut params = Vec::new();
    let mut sql = format!(
        "SELECT {COLUMNS} FROM wec_event WHERE {}",
        conditions(search, &mut params)
    );
    match position {
        Position::Newest => sql.push_str(" ORDER BY created DESC, id DESC"),
        Position::Before { time, id } => {
            let (time, id) = (bind(&mut params, time), bind(&mut params, id));
            sql.push_str(&format!(
                " AND (created, id) < ({time}, {id}) ORDER BY created DESC, id DESC"
            ));
        }
        Position::After(id) => {
            let id = bind(&mut params, id);
            sql.push_str(&format!(" AND id > {id} ORDER BY id"));
        }
    }
    sql.push_str(&format!(" LIMIT {limit}"));
    Ok(query(database, sql, params)?.iter().map(row_of).collect())
}

/// The event `id` as it was sent, if held.
pub(crate) fn event_xml(
    database: &dyn Connections,
    id: i64,
) -> Result<Option<String>, StoreQueryError> {
    let rows = query(
        database,
        "SELECT xml FROM wec_event WHERE id = $1".into(),
        vec![Box::new(id)],
    )?;
    Ok(rows.first().map(|row| row.get(0)))
}

/// The newest stored event's id (0 for none): ids are handed out in commit order.
pub(crate) fn cursor(database: &dyn Connections) -> Result<i64, StoreQueryError> {
    let rows = query(
        database,
        "SELECT next_id - 1 FROM wec_event_meta".into(),
        Vec::new(),
    )?;
    Ok(rows.first().map_or(0, |row| row.get(0)))
}

/// The matches of `search` counted per bucket.
pub(crate) fn histogram(
    database: &dyn Connections,
    search: &Search,
) -> Result<Vec<Bucket>, StoreQueryError> {
    let range = || -> Result<Option<(i64, i64)>, StoreQueryError> {
        let mut params = Vec::new();
        let sql = format!(
            "SELECT min(created), max(created) FROM wec_event WHERE {}",
            conditions(search, &mut params)
        );
        let rows = query(database, sql, params)?;
        let row = rows.first();
        Ok(row.and_then(|r| Some((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?))))
    };
    let Some((first, last)) = common::histogram_span(search, range)? else {
        return Ok(Vec::new());
    };
    let buckets = filter::buckets(search.bucket_seconds, first, last)?;
    let mut params = Vec::new();
    let width = bind(&mut params, buckets.0 * 1_000_000);
    let sql = format!(
        "SELECT created / {width} AS bucket, count(*) FROM wec_event WHERE {} GROUP BY bucket",
        conditions(search, &mut params)
    );
    let counted = query(database, sql, params)?
        .iter()
        .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
        .collect::<Vec<_>>();
    Ok(common::fill_buckets(buckets, counted))
}

#[cfg(test)]
mod tests {
    use crate::store::events::record::{EARLIEST_PLAUSIBLE, LATEST_AHEAD};

    /// The upgrade's numbers are the bounds new events are checked against.
    #[test]
    fn the_upgrade_clamps_at_the_bounds_of_new_events() {
        let earliest = format!("created < {}", EARLIEST_PLAUSIBLE.unix_micros());
        let ahead = format!("arrived + {}", LATEST_AHEAD.as_micros());
        assert!(super::SCHEMA.contains(&earliest), "{earliest}");
        assert!(super::SCHEMA.contains(&ahead), "{ahead}");
    }
}
