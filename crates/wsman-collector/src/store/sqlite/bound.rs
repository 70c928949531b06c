//! The SQLite store's bound on disk: `max_size_mb` covers the file and its WAL.
//!
//! Why a hard bound and not only retention: retention ran once a minute after a successful
//! commit and never dropped the partition being written, and the WAL (up to 32 MiB) was outside
//! the count, so one forwarder filled a 40 MiB file system in seconds and every forwarder was
//! then answered 503. Now the WAL has a share of the bound ([`DiskBound::wal_share`]): it is
//! checkpointed past a quarter of it and cut back to that quarter when it starts over
//! (`journal_size_limit`). The file has the rest, enforced by SQLite itself
//! (`max_page_count`): a commit that would pass it fails with `SQLITE_FULL` instead of growing
//! the file, which makes the bookmark store run retention and try once more
//! ([`crate::store::events::EventStore::make_room`]). After every commit the oldest partitions are dropped
//! while the file's pages in use pass [`RETAIN_PAST`] of its share, the partition being
//! written too when it alone passes it, so that a commit seldom meets the hard limit. Pages of
//! a dropped partition are reused by the next ones: the file does not shrink, nor grow.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

/// The WAL's share of the bound, at most: a quarter, and never more than SQLite's WAL had
/// before the bound counted it.
const MAX_WAL_SHARE: u64 = 32 << 20;
/// The part of the bound (numerator, denominator) past which retention drops partitions after
/// a commit: room for the commits until the next one.
pub(crate) const RETAIN_PAST: (u64, u64) = (3, 4);

/// The bound of one SQLite store (`max_bytes` set).
#[derive(Clone, Debug)]
pub(crate) struct DiskBound {
    max_bytes: u64,
    /// The store's file; its WAL is this path with `-wal`.
    wal: PathBuf,
}

impl DiskBound {
    /// The bound of the store at `path`, when `max_bytes` is set.
    pub(crate) fn of(path: &Path, max_bytes: Option<u64>) -> Option<DiskBound> {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        max_bytes.map(|max_bytes| DiskBound {
            max_bytes,
            wal: PathBuf::from(wal),
        })
    }

    /// The WAL's share of the bound.
    fn wal_share(&self) -> u64 {
        (self.max_bytes / 4).min(MAX_WAL_SHARE)
    }

    /// The WAL's size past which the commit path checkpoints it, and to which it is cut back
    /// when it starts over: a quarter of its share, the rest for the commit that crosses it
    /// (and retention's, taken by the same checkpoint).
    pub(crate) fn wal_checkpoint_past(&self) -> u64 {
        self.wal_share() / 4
    }

    /// The file's share of the bound: the rest.
    fn file_share(&self) -> u64 {
        self.max_bytes - self.wal_share()
    }

    /// Bound `connection`'s writes: the file to its share (`max_page_count`, in its pages;
    /// SQLite keeps it at the file's size if that is larger already), the WAL cut back when it
    /// starts over.
    pub(crate) fn tune(&self, connection: &Connection) -> rusqlite::Result<()> {
        let page: i64 = connection.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let file_share = self.file_share();
        let pages = (file_share / u64::try_from(page.max(512)).unwrap_or(4096)).max(1);
        connection.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        let limit = self.wal_checkpoint_past();
        connection.query_row(&format!("PRAGMA journal_size_limit = {limit}"), [], |_| {
            Ok(())
        })?;
        Ok(())
    }

    /// The WAL's size on disk now (0 when there is none).
    pub(crate) fn wal_bytes(&self) -> u64 {
        std::fs::metadata(&self.wal).map_or(0, |m| m.len())
    }

    /// Whether the WAL has passed the size at which the commit path checkpoints it.
    pub(crate) fn wal_over(&self) -> bool {
        self.wal_bytes() > self.wal_checkpoint_past()
    }

    /// Whether the file holds more than retention lets it keep: its pages in use past
    /// [`RETAIN_PAST`] of its share (the WAL has its own share, kept by checkpoints: counting
    /// its size here, large just after a large commit until it starts over, would drop the
    /// partition that commit wrote).
    pub(crate) fn over_retention(&self, connection: &Connection) -> rusqlite::Result<bool> {
        let (part, whole) = RETAIN_PAST;
        Ok(used_bytes(connection)? > self.file_share() / whole * part)
    }
}

/// Bytes of the file in use (free pages left out: a dropped partition's pages are reused).
pub(crate) fn used_bytes(connection: &Connection) -> rusqlite::Result<u64> {
    let pragma = |name: &str| -> rusqlite::Result<i64> {
        connection
            .prepare_cached(&format!("PRAGMA {name}"))?
            .query_row([], |r| r.get(0))
    };
    let (pages, free, size) = (
        pragma("page_count")?,
        pragma("freelist_count")?,
        pragma("page_size")?,
    );
    Ok(u64::try_from((pages - free) * size).unwrap_or(0))
}

/// Whether `error` is SQLite's "database or disk is full": the file met its bound
/// (`max_page_count`), or the file system has no room left.
pub fn is_full(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DiskFull
    )
}
