//! What the event store's backends share with it: its settings, what a search answers, and
//! the histogram's arithmetic. A leaf of its own, so that the backends (`sqlite/events.rs`,
//! `postgres/events.rs`) and the store that calls them (`events/mod.rs`) do not import each
//! other.

use wsman_events::Timestamp;

use super::filter::{FilterError, Search};
use super::share::ShareSettings;

/// What PostgreSQL answered when it refused or did not answer (the bookmark store's error).
pub(crate) type DatabaseError = Box<dyn std::error::Error + Send + Sync>;

/// Retention and partitioning (`[store]` of `collector.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSettings {
    /// Partitions whose arrival period ended longer ago are dropped.
    pub max_age_seconds: i64,
    /// The bound of the store on disk, its WAL included: hard on SQLite (its `bound` module),
    /// where the oldest partitions are dropped past three quarters of the file's share; on
    /// PostgreSQL, past it.
    pub max_bytes: Option<u64>,
    /// The period one partition holds the arrivals of.
    pub partition_seconds: i64,
    /// Who may search the store (SDDL; the server falls back to EventLogSDDL, then RootSDDL).
    pub sddl: Option<String>,
    /// Events a second one forwarder may store, on average over ten seconds ([`super::share`]).
    pub forwarder_events_per_second: u32,
    /// The percentage of `max_bytes` one forwarder may store per minute ([`super::share`]);
    /// `None`: no share of bytes (`collector.toml` always has one).
    pub forwarder_share_percent: Option<u8>,
}

impl StoreSettings {
    /// One forwarder's share of the store.
    pub fn share(&self) -> ShareSettings {
        ShareSettings {
            events_per_second: f64::from(self.forwarder_events_per_second),
            bytes_per_period: self
                .max_bytes
                .zip(self.forwarder_share_percent)
                .map(|(max, percent)| max as f64 * f64::from(percent) / 100.0),
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            max_age_seconds: 30 * 86_400,
            max_bytes: None,
            partition_seconds: 86_400,
            sddl: None,
            forwarder_events_per_second: 5_000,
            forwarder_share_percent: Some(25),
        }
    }
}

/// One result of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    /// The time it is ordered by: its `TimeCreated` when plausible, else its arrival
    /// ([`super::record::ordering_time`]).
    pub time: Timestamp,
    /// Its own `TimeCreated` when `time` is not it (made up: before 2000, or ahead of arrival).
    pub event_time: Option<Timestamp>,
    /// When it arrived at the store (`None` for events stored before this was kept, SQLite).
    pub received: Option<Timestamp>,
    pub computer: String,
    pub channel: String,
    pub level: Option<i64>,
    pub event_id: Option<i64>,
    pub provider: Option<String>,
    pub subscription: String,
    pub excerpt: Option<String>,
}

/// One bucket of a histogram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub start: Timestamp,
    pub seconds: i64,
    pub count: u64,
}

/// Where a page of a search starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// The newest match.
    Newest,
    /// The match after (older than) the one at this time and id.
    Before { time: i64, id: i64 },
    /// A tail: the first match stored after this id.
    After(i64),
}

impl Position {
    /// Where a search starts.
    pub fn start(search: &Search) -> Position {
        search.after.map_or(Position::Newest, Position::After)
    }

    /// Where the page after one ending with `last` starts.
    pub fn next(self, last: &EventRow) -> Position {
        match self {
            Position::After(_) => Position::After(last.id),
            _ => Position::Before {
                time: last.time.unix_micros(),
                id: last.id,
            },
        }
    }
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreQueryError {
    #[error("event store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// PostgreSQL refused or did not answer (the bookmark store's error).
    #[error("event store: {0}")]
    Database(DatabaseError),
}

/// Log a retention that dropped partitions.
pub(crate) fn log_dropped(dropped: &[i64]) {
    if !dropped.is_empty() {
        tracing::info!(partitions = ?dropped, "event store: retention dropped partitions");
    }
}

/// The span a histogram covers (microseconds, inclusive): `from` and `to` when both are
/// given, else from the matches' own oldest and newest times (`range`, read only then).
pub(crate) fn histogram_span<E>(
    search: &Search,
    range: impl FnOnce() -> Result<Option<(i64, i64)>, E>,
) -> Result<Option<(i64, i64)>, E> {
    Ok(match (search.from, search.to) {
        (Some(from), Some(to)) => Some((from.unix_micros(), to.unix_micros() - 1)),
        _ => range()?.map(|(low, high)| {
            (
                search.from.map_or(low, Timestamp::unix_micros),
                search.to.map_or(high, |t| t.unix_micros() - 1),
            )
        }),
    })
}

/// The buckets of `width` seconds from `start` (seconds), `count` of them, filled with the
/// (bucket number = time / width, matches) counts a backend read.
pub(crate) fn fill_buckets(
    (width, start, count): (i64, i64, i64),
    counted: impl IntoIterator<Item = (i64, i64)>,
) -> Vec<Bucket> {
    let mut counts = vec![0u64; usize::try_from(count).unwrap_or(0)];
    for (bucket, n) in counted {
        let index = bucket - start / width;
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| counts.get_mut(i)) {
            *slot += u64::try_from(n).unwrap_or(0);
        }
    }
    (0..)
        .zip(counts)
        .map(|(i, count)| Bucket {
            start: Timestamp::from_unix_micros((start + i * width) * 1_000_000),
            seconds: width,
            count,
        })
        .collect()
}
