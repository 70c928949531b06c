//! A journal reader that stays, in-process: libsystemd's sd-journal (through `wsman-os`)
//! instead of a `journalctl --follow` child.
//!
//! Why: a forwarder or push subscription reads every entry as it arrives. Through journalctl
//! each entry was formatted as export text, piped and parsed again, and each subscription kept
//! a process of its own (about 1 MiB of proportional memory); here the fields come straight
//! from the journal files' mappings and an idle reader is one inotify descriptor that tokio
//! waits on. The entries are the ones `journalctl --output=export` writes, field for field
//! (the header of cursor, timestamps and boot id, then the data fields), bounded by the same
//! [`ExportLimits`].

use std::os::fd::{AsRawFd as _, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::time::Instant;
use wsman_events::{ExportLimits, JournalEntry};
use wsman_os::journal::SdJournal;

use crate::{check_cursor, Error, Journal, Start};

/// How often a journal whose descriptor is not reliable (no inotify on its file system) is
/// looked at again while waiting.
const UNRELIABLE_POLL: Duration = Duration::from_millis(250);

/// An in-process reader from a position, following the journal as it grows.
pub struct Follower {
    /// A duplicate of the journal's inotify descriptor, registered with tokio; none for a
    /// reader that only reads what is there ([`Follower::open_unwatched`]).
    waker: Option<AsyncFd<OwnedFd>>,
    journal: SdJournal,
    limits: ExportLimits,
    /// After a cursor: the first entry landed on is skipped when it is the cursor's own.
    after_cursor: Option<String>,
    reliable: bool,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("fd", &self.waker.as_ref().map(|w| w.get_ref().as_raw_fd()))
            .field("after_cursor", &self.after_cursor)
            .finish_non_exhaustive()
    }
}

impl Follower {
    /// Opens `journal` at `start` (the oldest entry or after a cursor; following newest
    /// first or from the tail is not what a staying reader does). Must run inside a tokio
    /// runtime with I/O enabled.
    pub fn open(journal: &Journal, start: &Start, limits: ExportLimits) -> Result<Follower, Error> {
        Self::open_with(journal, start, limits, true)
    }

    /// [`Follower::open`] for a reader that reads what the journal holds and never waits (a
    /// pull's read): it makes no inotify descriptor. A pull opens a reader for each read, and
    /// closing an inotify descriptor waits for the kernel's RCU grace period: 10-25 ms in
    /// which the closing thread (the async worker) sat idle, more than the pull's own work.
    pub fn open_unwatched(
        journal: &Journal,
        start: &Start,
        limits: ExportLimits,
    ) -> Result<Follower, Error> {
        Self::open_with(journal, start, limits, false)
    }

    fn open_with(
        journal: &Journal,
        start: &Start,
        limits: ExportLimits,
        watched: bool,
    ) -> Result<Follower, Error> {
        let mut handle = match journal {
            Journal::System => SdJournal::open_system(),
            Journal::Directory(dir) => {
                if !dir.is_dir() {
                    return Err(Error::Invalid(format!(
                        "no journal directory {}",
                        dir.display()
                    )));
                }
                SdJournal::open_directory(dir)
            }
        }
        .map_err(Error::Open)?;
        // A value over the limit is only noted: never decompress more of it than that.
        handle
            .set_data_threshold(limits.max_value.saturating_add(1))
            .map_err(Error::Open)?;
        // The descriptor first, so that nothing appended after the first read goes unnoticed.
        let fd = watched
            .then(|| handle.wake_fd())
            .transpose()
            .map_err(Error::Open)?;
        let reliable = handle.reliable_fd();
        let after_cursor = match start {
            Start::Oldest => {
                handle.seek_head().map_err(Error::Open)?;
                None
            }
            Start::AfterCursor(cursor) => {
                check_cursor(cursor)?;
                handle.seek_cursor(cursor).map_err(Error::Open)?;
                Some(cursor.clone())
            }
            Start::Tail | Start::NewestFirst => {
                return Err(Error::Invalid(
                    "an in-process follower starts at the oldest entry or after a cursor"
                        .to_owned(),
                ))
            }
        };
        // tokio deprecated the safe constructor because a generic `AsRawFd` may change or
        // close its descriptor while registered; an `OwnedFd` owned by the `AsyncFd` cannot.
        #[allow(deprecated)]
        let waker = fd
            .map(|fd| AsyncFd::with_interest(fd, tokio::io::Interest::READABLE))
            .transpose()
            .map_err(Error::Open)?;
        Ok(Follower {
            waker,
            journal: handle,
            limits,
            after_cursor,
            reliable,
        })
    }

    /// The next entry already in the journal; `None` when there is none yet.
    pub fn next_entry(&mut self) -> Result<Option<JournalEntry>, Error> {
        loop {
            if !self.journal.next_entry().map_err(Error::Read)? {
                return Ok(None);
            }
            if let Some(cursor) = self.after_cursor.take() {
                if self.journal.test_cursor(&cursor).map_err(Error::Read)? {
                    continue;
                }
            }
            match self.entry() {
                Ok(entry) => return Ok(Some(entry)),
                // As journalctl does: an entry whose data cannot be read is passed over.
                Err(error) => tracing::warn!(%error, "a journal entry could not be read: skipped"),
            }
        }
    }

    /// Waits until the journal changed or `until` passed, whichever is first; true when it
    /// changed (or may have: a journal without reliable notification is looked at again).
    /// A reader opened unwatched has nothing to wait on: [`Error::Invalid`].
    pub async fn wait(&mut self, until: Instant) -> Result<bool, Error> {
        let Some(waker) = &self.waker else {
            return Err(Error::Invalid(
                "a reader opened to read what is there does not follow the journal".to_owned(),
            ));
        };
        let until = if self.reliable {
            until
        } else {
            until.min(Instant::now() + UNRELIABLE_POLL)
        };
        match tokio::time::timeout_at(until, waker.readable()).await {
            Ok(ready) => {
                ready.map_err(Error::Read)?.clear_ready();
                // Drains the descriptor and takes in rotated, added or removed files.
                self.journal.process().map_err(Error::Read)?;
                Ok(true)
            }
            Err(_) => Ok(!self.reliable),
        }
    }

    /// The current entry as `journalctl --output=export` writes it.
    fn entry(&mut self) -> std::io::Result<JournalEntry> {
        let header = self.journal.header()?;
        let limits = self.limits;
        let mut entry = JournalEntry::default();
        let add = |entry: &mut JournalEntry, name: String, value: String| {
            if entry.fields.len() >= limits.max_fields {
                entry.dropped_fields += 1;
            } else {
                entry.fields.push((name, value));
            }
        };
        add(&mut entry, "__CURSOR".to_owned(), header.cursor);
        add(
            &mut entry,
            "__REALTIME_TIMESTAMP".to_owned(),
            header.realtime_usec.to_string(),
        );
        add(
            &mut entry,
            "__MONOTONIC_TIMESTAMP".to_owned(),
            header.monotonic_usec.to_string(),
        );
        add(&mut entry, "_BOOT_ID".to_owned(), header.boot_id);
        self.journal.for_each_field(&mut |field| {
            let Some(eq) = field.iter().position(|&b| b == b'=') else {
                return;
            };
            let (name, value) = (&field[..eq], &field[eq + 1..]);
            // The header carries the boot id already (journalctl leaves this one out too).
            if name == b"_BOOT_ID" || !valid_name(name, limits.max_name) {
                return;
            }
            let value = if value.len() > limits.max_value {
                format!("[{} bytes not forwarded]", value.len())
            } else {
                String::from_utf8_lossy(value).into_owned()
            };
            add(
                &mut entry,
                String::from_utf8_lossy(name).into_owned(),
                value,
            );
        })?;
        Ok(entry)
    }
}

/// A journal field name as the export reader accepts it.
fn valid_name(name: &[u8], max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && !name[0].is_ascii_digit()
        && name
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
}
