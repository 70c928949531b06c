//! The file output: each subscription's events appended to a file per forwarder, as Raw XML,
//! JSON or Raw+JSON lines, and on disk (`fsync`) before the batch is acknowledged.
//!
//! Why keep files open: a forwarder sends a batch every few seconds, and opening, writing and
//! closing each time costs more than the write. Open files are bounded ([`max_open_files`] of
//! the open-file limit; the least recently used are closed), and [`FileOutputs::reopen`]
//! (SIGHUP) closes them all so a rotated file is created anew.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use wsman_proto::xml::{Element, Node};

pub use super::OutputError;
use super::{Batch, Output, OutputFormat, OutputSettingError, OutputType, Pool};
use super::{OutputConfig, StartEnv, Started};
use crate::output_policy::{OutputsPolicy, PolicyError};
use wsman_events::received::ReceivedEvent;

/// Files held open at least, whatever the open-file limit: what the daemon's reserve of
/// descriptors always holds for them.
pub const MIN_OPEN_FILES: usize = 512;

/// Files the collector holds open under an open-file soft limit of `soft`: a quarter of it,
/// at least [`MIN_OPEN_FILES`]. Why a share of the limit: a fleet has one file per
/// forwarder (`{client}`), and with fewer held open than forwarders nearly every batch opens
/// and closes its file (an `openat`, a `close` and a path walk per batch: about 4 % of the
/// collector's CPU at 1,000 forwarders against 512). The daemon counts this share in the
/// descriptors it keeps from connections (`wsman_server::connection_limit`), so files and
/// connections together stay under the limit: with the unit's `LimitNOFILE=65536`, 16,384
/// files beside 48,384 connections.
pub fn max_open_files(soft: u64) -> usize {
    usize::try_from(soft / 4)
        .unwrap_or(usize::MAX)
        .max(MIN_OPEN_FILES)
}

/// The bound in force ([`set_open_file_limit`]); the limit is the process's, so is this.
static MAX_OPEN: AtomicUsize = AtomicUsize::new(MIN_OPEN_FILES);

/// Hold up to [`max_open_files`]`(soft)` files open from now on (the daemon calls it with
/// its soft open-file limit at start and at each reload; until then, [`MIN_OPEN_FILES`]).
/// Files past a lowered bound are closed at the next open.
pub fn set_open_file_limit(soft: u64) {
    MAX_OPEN.store(max_open_files(soft), Ordering::Relaxed);
}

/// The settings of a file output (`OutputConfig::File`'s fields).
pub struct FileSettings<'a> {
    /// A template of `{client}` and `{subscription}`, absolute.
    pub path: &'a str,
    pub format: OutputFormat,
    /// The group that may read the files (a SIEM reader's): they are made 0640 and their
    /// directories 0750 of that group; without it 0600 and 0700.
    pub group: Option<&'a str>,
}

/// A file output's files and the directories made for them: readable by the service, and by
/// the members of its `group` when it names one; never by every local user, since they hold
/// the fleet's events (Security included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileAccess {
    /// The group's gid (`None`: no group).
    pub gid: Option<u32>,
}

impl FileAccess {
    /// The mode of a file made (and the most an existing one keeps).
    pub fn file_mode(self) -> u32 {
        if self.gid.is_some() {
            0o640
        } else {
            0o600
        }
    }

    /// The mode of a directory made.
    pub fn directory_mode(self) -> u32 {
        if self.gid.is_some() {
            0o750
        } else {
            0o700
        }
    }
}

/// Why a file output did not start.
#[derive(Debug, thiserror::Error)]
pub enum FileStartError {
    #[error("group {0:?} does not exist")]
    NoGroup(String),
    #[error("group {group:?} could not be looked up: {source}")]
    Lookup {
        group: String,
        source: std::io::Error,
    },
    #[error("group {0:?}: no group lookup here")]
    NoLookup(String),
}

impl OutputType for FileSettings<'_> {
    const KIND: &'static str = "file";
    type Pool = FileOutputs;
    type StartError = FileStartError;

    fn needs_tree(&self) -> bool {
        self.format != OutputFormat::Raw
    }

    fn check(&self) -> Result<(), OutputSettingError> {
        if !self.path.starts_with('/') {
            return Err(OutputSettingError::RelativeFilePath(self.path.to_owned()));
        }
        if self.path.split('/').any(|part| part == "..") {
            return Err(OutputSettingError::FilePathParent(self.path.to_owned()));
        }
        if let Some(group) = self.group {
            let name_like = (1..=32).contains(&group.len())
                && !group.starts_with('-')
                && group
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !name_like {
                return Err(OutputSettingError::FileGroup(group.to_owned()));
            }
        }
        Ok(())
    }

    fn admit(&self, policy: &OutputsPolicy) -> Result<(), PolicyError> {
        if !policy.allows_file(self.path) {
            return Err(PolicyError::FileOutside(self.path.to_owned()));
        }
        Ok(())
    }

    fn summary(&self) -> String {
        match self.group {
            Some(group) => format!("file {} ({:?}, group {group})", self.path, self.format),
            None => format!("file {} ({:?})", self.path, self.format),
        }
    }

    fn describe(&self, subscription: &str) -> String {
        format!("file output of {subscription} ({})", self.path)
    }

    /// With its group looked up: a group that does not exist keeps it from starting, rather
    /// than making files no one was meant to read, or that the reader cannot.
    fn start(
        &self,
        pool: &Arc<FileOutputs>,
        env: &StartEnv<'_>,
    ) -> Result<Started, Self::StartError> {
        let gid = match self.group {
            None => None,
            Some(group) => {
                let lookup = env
                    .groups
                    .ok_or_else(|| FileStartError::NoLookup(group.to_owned()))?;
                let found = lookup(group).map_err(|source| FileStartError::Lookup {
                    group: group.to_owned(),
                    source,
                })?;
                Some(found.ok_or_else(|| FileStartError::NoGroup(group.to_owned()))?)
            }
        };
        Ok(Some(Arc::new(FileOutput::new(
            Arc::clone(pool),
            self.path.to_owned(),
            self.format,
            FileAccess { gid },
        ))))
    }
}

impl Pool for FileOutputs {
    fn reopen(&self) {
        FileOutputs::reopen(self);
    }
}

struct OpenFile {
    /// Its own lock: a batch's write and `fsync` hold this file only, so batches to
    /// different files (one per forwarder, as `{client}` paths make them) are written and
    /// synced in parallel and the filesystem's journal commits their syncs together, rather
    /// than each waiting behind every other forwarder's `fsync`.
    file: Arc<Mutex<File>>,
    last_used: u64,
}

/// Every file output of the collector, with the files it holds open.
#[derive(Default)]
pub struct FileOutputs {
    open: Mutex<(HashMap<PathBuf, OpenFile>, u64)>,
}

/// `{client}` with every character outside `A-Z a-z 0-9 . _ -` replaced by `_` (a Kerberos
/// principal's `$`, `@` and `/`), and never `.` or `..` alone.
pub fn client_path_part(client: &str) -> String {
    let part: String = client
        .chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if part.is_empty() || part.chars().all(|c| c == '.') {
        return "_".repeat(part.len().max(1));
    }
    part
}

/// The file of `template` for this client and subscription.
pub fn expand(template: &str, client: &str, subscription: &str) -> PathBuf {
    PathBuf::from(
        template
            .replace("{client}", &client_path_part(client))
            .replace("{subscription}", subscription),
    )
}

impl FileOutputs {
    pub fn new() -> FileOutputs {
        FileOutputs::default()
    }

    /// Close every open file: the next write opens (creates) it again.
    pub fn reopen(&self) {
        self.lock().0.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<PathBuf, OpenFile>, u64)> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append `events` of `client` to every file output of `outputs` (those of
    /// `subscription`), and return only when each file has them on disk. `received` is the
    /// time written into JSON records.
    pub fn write(
        &self,
        subscription: &str,
        outputs: &[OutputConfig],
        client: &str,
        events: &[&ReceivedEvent],
        received: &str,
    ) -> Result<(), OutputError> {
        if events.is_empty() {
            return Ok(());
        }
        for output in outputs {
            if let OutputConfig::File { path, format, .. } = output {
                // Without a group: files 0600 in directories 0700 (no lookup here).
                self.write_one(
                    path,
                    *format,
                    None,
                    &Batch {
                        subscription,
                        client,
                        events,
                        received,
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Append `batch` to the file of the template `path`, on disk before returning.
    pub(crate) fn write_one(
        &self,
        path: &str,
        format: OutputFormat,
        gid: Option<u32>,
        batch: &Batch<'_>,
    ) -> Result<(), OutputError> {
        let path = expand(path, batch.client, batch.subscription);
        let text = render_lines(batch, format);
        self.append(&path, FileAccess { gid }, text.as_bytes())
            .map_err(|source| OutputError::File { path, source })
    }

    fn append(&self, path: &Path, access: FileAccess, bytes: &[u8]) -> std::io::Result<()> {
        let file = self.open_file(path, access)?;
        let mut file_guard = file.lock().unwrap_or_else(|p| p.into_inner());
        let file_handle = &mut *file_guard;
        let mut written = 0;
        let result =
            write_counted(file_handle, bytes, &mut written).and_then(|()| file_handle.sync_data());
        if let Err(error) = result {
            // A failed write (a full disk) may have left part of the batch, and the resend
            // appends it whole: cut the file back to where the batch began (its length now,
            // less what this batch wrote: under the file's lock nothing else appended), so it
            // holds no torn line and no event twice. Then close it so the next attempt starts
            // on a fresh handle. Why not the length before the write: that is a `statx` per
            // batch for the rare batch that fails.
            let cut = file_handle
                .metadata()
                .and_then(|now| file_handle.set_len(now.len().saturating_sub(written)))
                .and_then(|()| file_handle.sync_data());
            drop(file_guard);
            let mut open = self.lock();
            if open
                .0
                .get(path)
                .is_some_and(|f| Arc::ptr_eq(&f.file, &file))
            {
                open.0.remove(path);
            }
            return Err(match cut {
                Ok(()) => error,
                Err(cut) => std::io::Error::other(format!(
                    "{error}; the part written could not be cut off ({cut}): the file may hold part of the batch"
                )),
            });
        }
        Ok(())
    }

    /// The open file of `path` (opened, and created with its directories, if need be; the
    /// least recently used closed past the bound, [`set_open_file_limit`]).
    fn open_file(&self, path: &Path, access: FileAccess) -> std::io::Result<Arc<Mutex<File>>> {
        let mut guard = self.lock();
        let (open, clock) = &mut *guard;
        *clock += 1;
        let now = *clock;
        if let Some(entry) = open.get_mut(path) {
            entry.last_used = now;
            return Ok(Arc::clone(&entry.file));
        }
        let max = MAX_OPEN.load(Ordering::Relaxed);
        if open.len() >= max {
            close_least_recently_used(open, max);
        }
        let file = Arc::new(Mutex::new(open_creating_directories(path, access)?));
        open.insert(
            path.to_owned(),
            OpenFile {
                file: Arc::clone(&file),
                last_used: now,
            },
        );
        Ok(file)
    }
}

/// Close the least recently used quarter of the files past `max - 1` held open (at least
/// one), so the map has room for one more. Why a quarter at once: finding the oldest is a
/// pass over every entry (16,384 with the unit's limit), so one pass makes room for many
/// opens rather than one.
fn close_least_recently_used(open: &mut HashMap<PathBuf, OpenFile>, max: usize) {
    if open.is_empty() {
        return;
    }
    let over = (open.len() + 1).saturating_sub(max);
    let close = over.max(max / 4).clamp(1, open.len());
    let mut ages: Vec<u64> = open.values().map(|f| f.last_used).collect();
    let (_, &mut newest_closed, _) = ages.select_nth_unstable(close - 1);
    // Each open is its own clock tick: the ages are distinct, so this closes `close` files.
    open.retain(|_, f| f.last_used > newest_closed);
}

/// `bytes` appended to `file` as `write_all` does, counting in `written` what reached it, the
/// part of a write that failed midway included.
fn write_counted(file: &mut File, bytes: &[u8], written: &mut u64) -> std::io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match file.write(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                *written += n as u64;
                rest = &rest[n..];
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// `path` opened to append (created with `access`'s mode and group if need be), its
/// directories created, with theirs, only when they are missing. Why not every time: past
/// [`max_open_files`] forwarders (a fleet) nearly every batch opens its file, and the
/// directories exist after the first. An existing file more open than `access` allows (made by
/// an earlier version, or by hand) is tightened, with a warning: its events are no more every
/// local user's from its first batch after a start or SIGHUP on.
fn open_creating_directories(path: &Path, access: FileAccess) -> std::io::Result<File> {
    use wsman_safe::file_modes::{create_dirs, create_new, tighten};
    let create = || create_new(path, access.file_mode(), access.gid);
    let existing = match OpenOptions::new().append(true).open(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => match create() {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    create_dirs(parent, access.directory_mode(), access.gid)?;
                }
                match create() {
                    // Made meanwhile by another writer: opened as any existing file.
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                        OpenOptions::new().append(true).open(path)?
                    }
                    made => return made,
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                OpenOptions::new().append(true).open(path)?
            }
            made => return made,
        },
        opened => opened?,
    };
    if let Some(was) = tighten(&existing, access.file_mode())? {
        tracing::warn!(
            file = %path.display(),
            was = format!("{was:o}"),
            now = format!("{:o}", access.file_mode()),
            "file output was readable by more than its readers: tightened"
        );
    }
    Ok(existing)
}

/// One event as the output `format` writes it (one line: Raw XML has no line breaks).
pub fn render(event: &ReceivedEvent, format: OutputFormat, batch: &Batch<'_>) -> String {
    match format {
        OutputFormat::Raw => event.xml.clone(),
        OutputFormat::Json => {
            json_record(event, batch.client, batch.subscription, batch.received).to_string()
        }
        OutputFormat::RawJson => {
            let mut record = json_record(event, batch.client, batch.subscription, batch.received);
            if let Value::Object(fields) = &mut record {
                fields.insert("xml".into(), Value::String(event.xml.clone()));
            }
            record.to_string()
        }
        OutputFormat::OpenWecRawJson => crate::openwec::raw_json(event, batch),
        OutputFormat::OpenWecNxlog => crate::openwec::nxlog(event, batch),
    }
}

/// The events of `batch` as `format` writes them, each line ended by a line feed.
pub fn render_lines(batch: &Batch<'_>, format: OutputFormat) -> String {
    let mut text = String::with_capacity(batch.events.len() * 1024);
    for event in batch.events {
        match format {
            // Raw is the event's line as received: appended, not copied first.
            OutputFormat::Raw => text.push_str(&event.xml),
            _ => text.push_str(&render(event, format, batch)),
        }
        text.push('\n');
    }
    text
}

/// One `[[outputs]] type = "file"` of a subscription, over the collector's open files.
pub struct FileOutput {
    files: Arc<FileOutputs>,
    path: String,
    format: OutputFormat,
    access: FileAccess,
}

impl FileOutput {
    pub fn new(
        files: Arc<FileOutputs>,
        path: String,
        format: OutputFormat,
        access: FileAccess,
    ) -> FileOutput {
        FileOutput {
            files,
            path,
            format,
            access,
        }
    }
}

impl Output for FileOutput {
    fn describe(&self) -> String {
        format!("file output {}", self.path)
    }

    fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        self.files
            .write_one(&self.path, self.format, self.access.gid, batch)
    }
}

/// One event as a JSON object: who sent it, when it arrived, and the event's tree.
pub fn json_record(
    event: &ReceivedEvent,
    client: &str,
    subscription: &str,
    received: &str,
) -> Value {
    let mut record = Map::new();
    record.insert("client".into(), Value::String(client.to_owned()));
    record.insert(
        "subscription".into(),
        Value::String(subscription.to_owned()),
    );
    record.insert("received".into(), Value::String(received.to_owned()));
    record.insert("computer".into(), Value::String(event.computer.clone()));
    record.insert("channel".into(), Value::String(event.channel.clone()));
    if let Some(record_id) = event.record_id {
        record.insert("record_id".into(), Value::from(record_id));
    }
    record.insert("event".into(), element_json(&event.element()));
    Value::Object(record)
}

/// An element as JSON: attributes as `@name`, child elements by name (an array when one
/// repeats), `Data` elements of `EventData` by their `Name`, text as `#text` (or the value
/// itself when there is nothing else).
fn element_json(element: &Element) -> Value {
    let text = element.trimmed_text();
    if element.attributes.is_empty() && element.elements().next().is_none() {
        return Value::String(text);
    }
    let mut object = Map::new();
    for attribute in &element.attributes {
        object.insert(
            format!("@{}", attribute.name),
            Value::String(attribute.value.clone()),
        );
    }
    for child in element.children.iter().filter_map(|n| match n {
        Node::Element(e) => Some(e),
        Node::Text(_) => None,
    }) {
        let (key, value) = match (child.name.as_str(), child.attr("Name")) {
            ("Data", Some(name)) => (name.to_owned(), Value::String(child.text())),
            _ => (child.name.clone(), element_json(child)),
        };
        match object.get_mut(&key) {
            Some(Value::Array(values)) => values.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                object.insert(key, value);
            }
        }
    }
    if !text.is_empty() {
        object.insert("#text".into(), Value::String(text));
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A batch that fills the disk midway (part of it written, then `ENOSPC`) is cut back to
    /// where it began: the file holds no torn line. On a tmpfs of 8 KiB, so as root only.
    #[test]
    fn a_write_that_fills_the_disk_midway_is_cut_back() {
        let uid = std::process::Command::new("id").arg("-u").output().unwrap();
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        struct Unmount<'a>(&'a Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount").arg(self.0).status();
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8k,mode=0755", "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(mounted.success());
        let _unmount = Unmount(dir.path());
        let files = FileOutputs::new();
        let path = dir.path().join("fwd.xml");
        let access = FileAccess { gid: None };
        files.append(&path, access, b"first batch\n").unwrap();
        let error = files.append(&path, access, &[b'x'; 64 * 1024]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::StorageFull, "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), b"first batch\n");
    }

    /// Past the bound, the least recently used quarter is closed in one pass, and a bound
    /// lowered below what is open closes down to it: the newest files stay open.
    #[test]
    fn the_least_recently_used_files_are_closed_a_quarter_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let map = |ages: std::ops::RangeInclusive<u64>| -> HashMap<PathBuf, OpenFile> {
            ages.map(|age| {
                let path = dir.path().join(format!("{age}.xml"));
                let file = open_creating_directories(&path, FileAccess { gid: None }).unwrap();
                (
                    path,
                    OpenFile {
                        file: Arc::new(Mutex::new(file)),
                        last_used: age,
                    },
                )
            })
            .collect()
        };
        let left = |open: &HashMap<PathBuf, OpenFile>| {
            let mut ages: Vec<u64> = open.values().map(|f| f.last_used).collect();
            ages.sort_unstable();
            ages
        };
        let mut open = map(1..=8);
        close_least_recently_used(&mut open, 8);
        assert_eq!(left(&open), (3..=8).collect::<Vec<_>>());
        let mut open = map(1..=20);
        close_least_recently_used(&mut open, 8);
        assert_eq!(left(&open), (14..=20).collect::<Vec<_>>(), "room for one");
        let mut open = map(1..=3);
        close_least_recently_used(&mut open, 3);
        assert_eq!(left(&open), vec![2, 3], "at least one");
    }

    /// A quarter of the open-file limit, never under the reserve's 512.
    #[test]
    fn open_files_are_a_quarter_of_the_limit_at_least_512() {
        assert_eq!(max_open_files(1024), MIN_OPEN_FILES);
        assert_eq!(max_open_files(20_000), 5_000);
        assert_eq!(max_open_files(65_536), 16_384);
    }
}
