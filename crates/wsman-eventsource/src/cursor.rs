//! A forwarder's cursor file: the position the collector last acknowledged, written after every
//! acknowledgement and read back at start.
//!
//! Why two slots written in place: the file used to be replaced whole at every write (a new
//! file, `fsync`, rename, the directory's `fsync`): two journal commits of the filesystem per
//! acknowledged batch, on the same disk as the collector's own flushes before its next Ack.
//! Now the file holds two slots of [`SLOT`] bytes, each the position, a sequence number and a
//! checksum; a write overwrites the older slot and `fdatasync`s it (an overwrite in place
//! changes no metadata the file's data depends on: one flush, no journal commit). A crash
//! during the write can tear only that slot, whose checksum then fails: the other one holds the
//! previous position, durable since its own write finished before this one began. So a crash
//! leaves the old cursor or the new one, as before, and the cursor is never ahead of an
//! acknowledgement.
//!
//! The file is created, and converted from the text of older versions (the bookmark's XML
//! alone), by replacing it whole once ([`write_atomic`]); a position too long for a slot is
//! written that way too, as text. Both forms are read back.

use std::fs::File;
use std::io::{self, Read as _};
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use wsman_events::BookmarkList;
use wsman_safe::write_atomic;

/// Largest cursor file read back (a list of four logs takes a few hundred bytes).
pub const MAX_CURSOR_FILE: u64 = 64 * 1024;
/// A cursor file's mode: what the service's umask (022) gave it before the writer set it.
const CURSOR_MODE: u32 = 0o644;
/// Bytes of one slot: one page, so that writing one never touches the other's page.
pub const SLOT: usize = 4096;
/// What a slot starts with.
const MAGIC: &[u8; 8] = b"WSMCUR1\n";
/// Magic, sequence number (u64), text length (u32), checksum (u64).
const HEADER: usize = 8 + 8 + 4 + 8;

/// The writer of one cursor file: which slot is older, and whether the file is in slots at all.
#[derive(Debug)]
pub struct CursorFile {
    path: std::path::PathBuf,
    /// The sequence number of the newest slot on disk; `None` when the file is not in slots
    /// (missing, text, or unreadable): the next write replaces it whole.
    newest: Option<u64>,
}

impl CursorFile {
    /// The writer of `path`, as the file is now.
    pub fn open(path: &Path) -> CursorFile {
        let newest = match read_file(path) {
            Ok(Some(Read::Slots { sequence, .. })) => Some(sequence),
            _ => None,
        };
        CursorFile {
            path: path.to_owned(),
            newest,
        }
    }

    /// Write `list` durably: into the older slot, or, when the file is not in slots yet or the
    /// list does not fit one, by replacing the file whole. A failed write leaves the file as it
    /// was, or with the slot written torn, which is read as the other one; the next write
    /// replaces the file whole.
    pub fn write(&mut self, list: &BookmarkList) -> io::Result<()> {
        let text = list.to_xml();
        let result = self.write_text(&text);
        if result.is_err() {
            self.newest = None;
        }
        result
    }

    fn write_text(&mut self, text: &str) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if text.len() > SLOT - HEADER {
            self.newest = None;
            std::fs::create_dir_all(dir)?;
            return write_atomic(&self.path, text.as_bytes(), CURSOR_MODE);
        }
        match self.newest {
            Some(newest) => {
                let sequence = newest + 1;
                // The file is the service's own, in its state directory; a link put in its place
                // is refused rather than followed (the whole-file writes refuse it too).
                let file = wsman_safe::open_to_update(&self.path)?;
                file.write_all_at(&slot(sequence, text), slot_offset(sequence))?;
                file.sync_data()?;
                self.newest = Some(sequence);
            }
            None => {
                // Both slots hold the position: 1 is the newest, 0 the one written over next.
                let mut image = slot(0, text);
                image.extend_from_slice(&slot(1, text));
                std::fs::create_dir_all(dir)?;
                write_atomic(&self.path, &image, CURSOR_MODE)?;
                self.newest = Some(1);
            }
        }
        Ok(())
    }
}

/// Where slot `sequence % 2` begins.
fn slot_offset(sequence: u64) -> u64 {
    (sequence % 2) * SLOT as u64
}

/// One slot of `SLOT` bytes holding `text` under `sequence`.
fn slot(sequence: u64, text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(SLOT);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(sequence, text.as_bytes()).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.resize(SLOT, b'\n');
    out
}

/// FNV-1a (64 bits) of the sequence number and the text: it detects a torn or stale slot, not
/// an adversary (whoever can write the file can write any cursor).
fn checksum(sequence: u64, text: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sequence.to_le_bytes().iter().chain(text) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The slot at the start of `bytes`, when it is whole: its sequence number and text.
fn read_slot(bytes: &[u8]) -> Option<(u64, &str)> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return None;
    }
    let sequence = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
    let length = u32::from_le_bytes(bytes[16..20].try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(bytes[20..28].try_into().ok()?);
    let text = bytes.get(HEADER..HEADER.checked_add(length)?)?;
    if length > SLOT - HEADER || checksum(sequence, text) != sum {
        return None;
    }
    Some((sequence, std::str::from_utf8(text).ok()?))
}

/// What a cursor file holds.
enum Read {
    Slots { sequence: u64, list: BookmarkList },
    Text(BookmarkList),
}

fn read_file(path: &Path) -> io::Result<Option<Read>> {
    let opened = match File::open(path) {
        Ok(opened) => opened,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    opened.take(MAX_CURSOR_FILE).read_to_end(&mut bytes)?;
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
    let parse = |text: &str| BookmarkList::parse(text).map_err(|e| invalid(e.to_string()));
    if bytes.len() == 2 * SLOT && (bytes.starts_with(MAGIC) || bytes[SLOT..].starts_with(MAGIC)) {
        let newest = [read_slot(&bytes[..SLOT]), read_slot(&bytes[SLOT..])]
            .into_iter()
            .flatten()
            .max_by_key(|(sequence, _)| *sequence);
        let Some((sequence, text)) = newest else {
            return Err(invalid(
                "neither slot of the cursor file is whole".to_owned(),
            ));
        };
        return Ok(Some(Read::Slots {
            sequence,
            list: parse(text)?,
        }));
    }
    let text = String::from_utf8(bytes).map_err(|e| invalid(e.to_string()))?;
    Ok(Some(Read::Text(parse(&text)?)))
}

/// The saved cursor, if any: the newest whole slot, or the text of older versions.
pub fn read_cursor(path: &Path) -> io::Result<Option<BookmarkList>> {
    Ok(read_file(path)?.map(|read| match read {
        Read::Slots { list, .. } | Read::Text(list) => list,
    }))
}

#[cfg(test)]
#[path = "cursor_tests.rs"]
mod tests;
