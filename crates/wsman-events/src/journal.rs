//! The systemd journal as Windows events: the journal's export format (what
//! `journalctl -o export` writes), read incrementally and bounded, and the mapping of one
//! journal entry to an [`Event`].
//!
//! The export format (systemd's "Journal Export Format"): entries separated by an empty line;
//! each field either `NAME=value\n` or, for values with newlines or binary data,
//! `NAME\n<64-bit little-endian length><bytes>\n`. The reader takes bytes as they come from the
//! pipe and never holds more than [`ExportLimits`] allow: an oversized value (a core dump, say) is
//! skipped without being buffered and stands in the entry as a note of its size.

use std::collections::HashMap;

use crate::event::{Event, Level, Provider, CLASSIC_KEYWORDS};
use crate::guid::Guid;
use crate::time::Timestamp;

/// Bounds on what one entry may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportLimits {
    /// Longest field name (journald allows 64).
    pub max_name: usize,
    /// Longest value kept; longer ones are skipped and noted.
    pub max_value: usize,
    /// Most fields in one entry; further fields are dropped and counted.
    pub max_fields: usize,
}

impl Default for ExportLimits {
    fn default() -> Self {
        ExportLimits {
            max_name: 64,
            max_value: 64 * 1024,
            max_fields: 256,
        }
    }
}

/// Why the export stream cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("journal export field name longer than {0} bytes")]
    NameTooLong(usize),
    #[error("journal export field name {0:?} is not a journal field name")]
    BadName(String),
    #[error("journal export binary field {0} is not followed by a newline")]
    MissingNewline(String),
}

/// One journal entry: its fields in order (a name may repeat).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalEntry {
    pub fields: Vec<(String, String)>,
    /// Fields beyond [`ExportLimits::max_fields`] that were dropped.
    pub dropped_fields: usize,
}

impl JournalEntry {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.get(name)?.trim().parse().ok()
    }

    /// The journal's sequence number: `__SEQNUM` where journalctl writes it (systemd 254 and
    /// later), else the `i=` part of the cursor, which every version writes.
    pub fn seqnum(&self) -> Option<u64> {
        if let Some(n) = self.number("__SEQNUM") {
            return Some(n);
        }
        self.cursor_part("i")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
    }

    /// One `key=value` part of `__CURSOR` (`s=...;i=...;b=...;m=...;t=...;x=...`).
    pub fn cursor_part(&self, key: &str) -> Option<&str> {
        self.get("__CURSOR")?.split(';').find_map(|part| {
            let (k, v) = part.split_once('=')?;
            (k == key).then_some(v)
        })
    }
}

#[derive(Debug)]
enum State {
    /// Reading a field name (or the empty line that ends an entry).
    Name,
    /// After `NAME=`, reading the value up to the newline.
    Text { name: String },
    /// After `NAME\n`, reading the 8 length bytes.
    Length { name: String },
    /// Reading `remaining` bytes of a binary value; `keep` when it is kept.
    Binary {
        name: String,
        remaining: u64,
        size: u64,
        keep: bool,
    },
    /// After a binary value, expecting its newline.
    BinaryEnd { name: String },
}

/// An incremental reader of the export format.
#[derive(Debug)]
pub struct ExportReader {
    limits: ExportLimits,
    state: State,
    /// Bytes of the current token (name, text value, length, or kept binary value).
    token: Vec<u8>,
    entry: JournalEntry,
    /// A text value that outgrew the limit: the rest of the line is skipped.
    skipping_text: Option<usize>,
}

impl ExportReader {
    pub fn new(limits: ExportLimits) -> ExportReader {
        ExportReader {
            limits,
            state: State::Name,
            token: Vec::new(),
            entry: JournalEntry::default(),
            skipping_text: None,
        }
    }

    /// Feed bytes; every entry they complete is passed to `on_entry`. An error leaves the
    /// reader unusable: the stream is not the export format.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        on_entry: &mut dyn FnMut(JournalEntry),
    ) -> Result<(), ExportError> {
        while !input.is_empty() {
            match std::mem::replace(&mut self.state, State::Name) {
                State::Name => input = self.feed_name(input, on_entry)?,
                State::Text { name } => {
                    let (line, rest, complete) = split_line(input);
                    input = rest;
                    self.push_text(line);
                    if complete {
                        self.finish_text(name);
                    } else {
                        self.state = State::Text { name };
                    }
                }
                State::Length { name } => {
                    let wanted = 8 - self.token.len();
                    let take = wanted.min(input.len());
                    self.token.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if self.token.len() < 8 {
                        self.state = State::Length { name };
                        continue;
                    }
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(&self.token);
                    self.token.clear();
                    let size = u64::from_le_bytes(bytes);
                    let keep = size <= self.limits.max_value as u64;
                    self.state = State::Binary {
                        name,
                        remaining: size,
                        size,
                        keep,
                    };
                }
                State::Binary {
                    name,
                    remaining,
                    size,
                    keep,
                } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    if keep {
                        self.token.extend_from_slice(&input[..take]);
                    }
                    input = &input[take..];
                    let remaining = remaining - take as u64;
                    if remaining > 0 {
                        self.state = State::Binary {
                            name,
                            remaining,
                            size,
                            keep,
                        };
                        continue;
                    }
                    let value = if keep {
                        String::from_utf8_lossy(&self.token).into_owned()
                    } else {
                        format!("[{size} bytes not forwarded]")
                    };
                    self.token.clear();
                    self.add_field(name.clone(), value);
                    self.state = State::BinaryEnd { name };
                }
                State::BinaryEnd { name } => {
                    if input[0] != b'\n' {
                        return Err(ExportError::MissingNewline(name));
                    }
                    input = &input[1..];
                }
            }
        }
        Ok(())
    }

    /// A line in the name state: `NAME=value` (a text field, its value perhaps continued in
    /// the next input), the empty line ending an entry, or a bare `NAME` whose binary value's
    /// length follows. The input after the line, for [`Self::feed`].
    fn feed_name<'a>(
        &mut self,
        input: &'a [u8],
        on_entry: &mut dyn FnMut(JournalEntry),
    ) -> Result<&'a [u8], ExportError> {
        let (line, rest, complete) = split_line(input);
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            // NAME=value...: the name ends here; the value continues.
            if self.token.len() + eq > self.limits.max_name {
                return Err(ExportError::NameTooLong(self.limits.max_name));
            }
            self.token.extend_from_slice(&line[..eq]);
            let name = self.take_name()?;
            self.state = State::Text { name };
            // Re-feed the value part.
            let value = &line[eq + 1..];
            self.push_text(value);
            if complete {
                let State::Text { name } = std::mem::replace(&mut self.state, State::Name) else {
                    unreachable!("state was set to Text above")
                };
                self.finish_text(name);
            }
            return Ok(rest);
        }
        if self.token.len() + line.len() > self.limits.max_name {
            return Err(ExportError::NameTooLong(self.limits.max_name));
        }
        self.token.extend_from_slice(line);
        if !complete {
            self.state = State::Name;
            return Ok(rest);
        }
        if self.token.is_empty() {
            // The empty line: the entry is complete.
            let entry = std::mem::take(&mut self.entry);
            if !entry.fields.is_empty() || entry.dropped_fields > 0 {
                on_entry(entry);
            }
            return Ok(rest);
        }
        let name = self.take_name()?;
        self.state = State::Length { name };
        Ok(rest)
    }

    fn push_text(&mut self, bytes: &[u8]) {
        if let Some(skipped) = self.skipping_text.as_mut() {
            *skipped += bytes.len();
            return;
        }
        if self.token.len() + bytes.len() > self.limits.max_value {
            self.skipping_text = Some(self.token.len() + bytes.len());
            self.token.clear();
            return;
        }
        self.token.extend_from_slice(bytes);
    }

    fn finish_text(&mut self, name: String) {
        let value = match self.skipping_text.take() {
            Some(size) => format!("[{size} bytes not forwarded]"),
            None => String::from_utf8_lossy(&self.token).into_owned(),
        };
        self.token.clear();
        self.add_field(name, value);
    }

    fn take_name(&mut self) -> Result<String, ExportError> {
        let name = String::from_utf8_lossy(&self.token).into_owned();
        self.token.clear();
        if name.len() > self.limits.max_name {
            return Err(ExportError::NameTooLong(self.limits.max_name));
        }
        let valid = !name.is_empty()
            && !name.as_bytes()[0].is_ascii_digit()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(ExportError::BadName(name));
        }
        Ok(name)
    }

    fn add_field(&mut self, name: String, value: String) {
        if self.entry.fields.len() >= self.limits.max_fields {
            self.entry.dropped_fields += 1;
        } else {
            self.entry.fields.push((name, value));
        }
    }
}

/// The bytes up to a newline, the rest after it, and whether a newline was found.
fn split_line(input: &[u8]) -> (&[u8], &[u8], bool) {
    match input.iter().position(|&b| b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..], true),
        None => (input, &[], false),
    }
}

/// The event log a journal entry belongs to.
pub const SECURITY: &str = "Security";
pub const SYSTEM: &str = "System";
pub const APPLICATION: &str = "Application";
/// Every entry is also in this log, whatever its Windows channel.
pub const LINUX_JOURNAL: &str = "Linux/Journal";

/// Syslog identifiers whose entries are security events (authentication and privilege).
const SECURITY_IDENTIFIERS: &[&str] = &[
    "sshd",
    "sudo",
    "su",
    "login",
    "passwd",
    "chpasswd",
    "useradd",
    "usermod",
    "groupadd",
    "auditd",
    "audit",
    "polkitd",
    "systemd-logind",
];

/// Settings of the mapping that are the operator's.
#[derive(Clone, Debug, Default)]
pub struct Mapping {
    /// `Computer`: the host's FQDN.
    pub computer: String,
    /// EventID per journal `MESSAGE_ID` (32 lower-case hex digits).
    pub message_ids: HashMap<String, u32>,
}

impl Mapping {
    /// The Windows channel of an entry: Security for authentication and audit, System for
    /// the kernel and system services, Application for the rest.
    pub fn channel(&self, entry: &JournalEntry) -> &'static str {
        let transport = entry.get("_TRANSPORT").unwrap_or("");
        let facility: Option<u8> = entry.number("SYSLOG_FACILITY");
        let identifier = entry
            .get("SYSLOG_IDENTIFIER")
            .or_else(|| entry.get("_COMM"))
            .unwrap_or("");
        if transport == "audit"
            || matches!(facility, Some(4 | 10))
            || SECURITY_IDENTIFIERS.contains(&identifier)
        {
            return SECURITY;
        }
        if transport == "kernel"
            || transport == "driver"
            || (entry.get("_SYSTEMD_UNIT").is_some() && entry.get("_SYSTEMD_USER_UNIT").is_none())
        {
            return SYSTEM;
        }
        APPLICATION
    }

    /// The Windows event of a journal entry (see `docs/events.md` for the table).
    pub fn event(&self, entry: &JournalEntry) -> Event {
        let provider_name = entry
            .get("SYSLOG_IDENTIFIER")
            .or_else(|| entry.get("_COMM"))
            .or_else(|| (entry.get("_TRANSPORT") == Some("kernel")).then_some("kernel"))
            .unwrap_or("journal");
        let level = match entry.number::<u8>("PRIORITY") {
            Some(0..=2) => Level::Critical,
            Some(3) => Level::Error,
            Some(4) => Level::Warning,
            Some(7) => Level::Verbose,
            _ => Level::Information,
        };
        let event_id = if entry.get("_TRANSPORT") == Some("audit") {
            entry.number("_AUDIT_TYPE").unwrap_or(0)
        } else {
            entry
                .get("MESSAGE_ID")
                .and_then(|id| self.message_ids.get(&id.to_ascii_lowercase()))
                .copied()
                .unwrap_or(0)
        };
        let time = entry
            .number::<i64>("_SOURCE_REALTIME_TIMESTAMP")
            .or_else(|| entry.number("__REALTIME_TIMESTAMP"))
            .unwrap_or(0);
        Event {
            provider: Provider::named(provider_name),
            event_id,
            level,
            keywords: CLASSIC_KEYWORDS,
            time_created: Timestamp::from_unix_micros(time),
            record_id: entry.seqnum().unwrap_or(0),
            activity_id: entry
                .get("_SYSTEMD_INVOCATION_ID")
                .or_else(|| entry.get("INVOCATION_ID"))
                .and_then(Guid::from_hex_text),
            process_id: entry.number("_PID").unwrap_or(0),
            thread_id: entry.number("_TID").unwrap_or(0),
            channel: self.channel(entry).to_owned(),
            computer: self.computer.clone(),
            user_sid: entry
                .number::<u32>("_UID")
                .map(|uid| format!("S-1-22-1-{uid}")),
            data: entry.fields.clone(),
            message: entry.get("MESSAGE").unwrap_or("").to_owned(),
        }
    }
}
