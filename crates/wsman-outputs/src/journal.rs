//! The journal output: each Windows event a structured entry of the local systemd journal,
//! the Linux analogue of Windows' ForwardedEvents log: `MESSAGE`, `PRIORITY` from the
//! event's Level, `SYSLOG_IDENTIFIER`, the System values as `WINDOWS_*` fields, the named
//! `EventData` values as `WINDOWS_DATA_*`, and optionally the XML as `EVENT_XML`.
//!
//! Why journald's native protocol rather than libsystemd: it is a documented, stable datagram
//! format (systemd's `JOURNAL_NATIVE_PROTOCOL`), needs no C library and no unsafe code here,
//! and the socket's answer is the durability point: an entry is the journal's once the
//! datagram is accepted (journald then owns its storage and its `Storage=` policy). A
//! datagram is refused by the kernel when journald's queue is full: the send waits up to
//! `send_timeout_ms`, then the batch is answered 503. An entry too large for one datagram
//! goes in a sealed memfd passed over the socket, as `sd_journal_sendv` does.

use std::io::Write as _;
use std::mem::MaybeUninit;
use std::os::fd::AsFd as _;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};
use rustix::net::{
    sendmsg_addr, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix,
};
use wsman_proto::xml::Element;

use serde::Deserialize;

use super::settings::{check_range, default_io_timeout};
use super::Started;
use super::{failed, Batch, Output, OutputError, OutputSettingError, OutputType, StartEnv};
use crate::output_policy::{OutputsPolicy, PolicyError, JOURNAL_SOCKET};
use wsman_events::received::ReceivedEvent;

/// Entries up to this size go in one datagram (the kernel's default socket buffer is about
/// 208 KiB; journald's own clients switch to a memfd at the first `EMSGSIZE`).
const MAX_DATAGRAM: usize = 128 * 1024;
/// Largest entry written (journald's own limit on an entry is far larger; this bounds what
/// one event may cost).
pub const MAX_ENTRY_BYTES: usize = 8 * 1024 * 1024;
/// Most `WINDOWS_DATA_*` fields of one entry.
const MAX_DATA_FIELDS: usize = 64;
/// Longest `MESSAGE`.
const MAX_MESSAGE_CHARS: usize = 4096;

/// One `[[outputs]] type = "journal"` of a subscription.
pub struct JournalOutput {
    socket: PathBuf,
    identifier: String,
    event_xml: bool,
    send_timeout: Duration,
}

/// A field name journald accepts: `A-Z 0-9 _`, not starting with `_` or a digit, at most 64.
pub fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(|c: char| c == '_' || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// `WINDOWS_DATA_` and an EventData name in upper case with other characters as `_`, or
/// `None` when that is not a field name.
fn data_field_name(name: &str) -> Option<String> {
    let field: String = std::iter::once("WINDOWS_DATA_".to_owned())
        .chain(name.chars().take(50).map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase().to_string()
            } else {
                "_".to_owned()
            }
        }))
        .collect();
    valid_field_name(&field).then_some(field)
}

/// journald's priority for a Windows Level: 1 critical, 2 error, 3 warning, 4 information
/// (and 0, "LogAlways"), 5 verbose.
pub fn priority(level: Option<&str>) -> u8 {
    match level.map(str::trim) {
        Some("1") => 2,
        Some("2") => 3,
        Some("3") => 4,
        Some("5") => 7,
        _ => 6,
    }
}

/// Append one field in the native format: `NAME=value\n`, or for a value with a newline
/// `NAME\n`, its length as 64-bit little endian, the value and `\n`.
pub fn append_field(entry: &mut Vec<u8>, name: &str, value: &[u8]) {
    entry.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        entry.push(b'\n');
        entry.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        entry.push(b'=');
    }
    entry.extend_from_slice(value);
    entry.push(b'\n');
}

fn child<'a>(element: &'a Element, name: &str) -> Option<&'a Element> {
    element.elements().find(|e| e.name == name)
}

/// An entry's MESSAGE: the message the forwarder rendered when it sent one, else a line
/// naming the event with its data; cut at [`MAX_MESSAGE_CHARS`] so that one event cannot
/// fill the journal's view.
fn message(
    tree: &Element,
    event: &ReceivedEvent,
    provider: Option<&str>,
    event_id: Option<&str>,
    data: &[(Option<String>, String)],
) -> String {
    let rendered = child(tree, "RenderingInfo")
        .and_then(|r| child(r, "Message"))
        .map(|m| m.text())
        .filter(|m| !m.trim().is_empty());
    let mut message = match rendered {
        Some(text) => text,
        None => {
            let mut text = format!(
                "{} event {} from {} on {}",
                provider.unwrap_or("(no provider)"),
                event_id.unwrap_or("?"),
                event.channel,
                event.computer
            );
            for (name, value) in data {
                match name {
                    Some(name) => text.push_str(&format!(" {name}={value}")),
                    None => text.push_str(&format!(" {value}")),
                }
            }
            text
        }
    };
    if message.chars().count() > MAX_MESSAGE_CHARS {
        message = message.chars().take(MAX_MESSAGE_CHARS).collect();
        message.push('…');
    }
    message
}

/// The fields of one event's entry, in the native format.
pub fn entry(
    event: &ReceivedEvent,
    client: &str,
    subscription: &str,
    identifier: &str,
    event_xml: bool,
) -> Vec<u8> {
    let mut fields: Vec<(String, String)> = Vec::new();
    let tree = event.element();
    let system = child(&tree, "System");
    let system_text = |name: &str| {
        system
            .and_then(|s| child(s, name))
            .map(|e| e.trimmed_text())
    };
    let system_attr = |name: &str, attribute: &str| {
        system
            .and_then(|s| child(s, name))
            .and_then(|e| e.attr(attribute))
            .map(str::to_owned)
    };
    let provider = system_attr("Provider", "Name");
    let event_id = system_text("EventID");
    let level = system_text("Level");
    for (field, value) in [
        ("WINDOWS_PROVIDER", provider.clone()),
        ("WINDOWS_PROVIDER_GUID", system_attr("Provider", "Guid")),
        ("WINDOWS_EVENT_ID", event_id.clone()),
        ("WINDOWS_VERSION", system_text("Version")),
        ("WINDOWS_LEVEL", level.clone()),
        ("WINDOWS_TASK", system_text("Task")),
        ("WINDOWS_OPCODE", system_text("Opcode")),
        ("WINDOWS_KEYWORDS", system_text("Keywords")),
        (
            "WINDOWS_TIME_CREATED",
            system_attr("TimeCreated", "SystemTime"),
        ),
        ("WINDOWS_RECORD_ID", event.record_id.map(|r| r.to_string())),
        (
            "WINDOWS_ACTIVITY_ID",
            system_attr("Correlation", "ActivityID"),
        ),
        ("WINDOWS_PROCESS_ID", system_attr("Execution", "ProcessID")),
        ("WINDOWS_THREAD_ID", system_attr("Execution", "ThreadID")),
        ("WINDOWS_CHANNEL", Some(event.channel.clone())),
        ("WINDOWS_COMPUTER", Some(event.computer.clone())),
        ("WINDOWS_USER_ID", system_attr("Security", "UserID")),
        ("WINDOWS_FORWARDER", Some(client.to_owned())),
        ("WINDOWS_SUBSCRIPTION", Some(subscription.to_owned())),
    ] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            fields.push((field.to_owned(), value));
        }
    }
    let mut data = Vec::new();
    if let Some(event_data) = child(&tree, "EventData") {
        for item in event_data.elements().filter(|e| e.name == "Data") {
            let value = item.text();
            if let Some(name) = item.attr("Name") {
                if data.len() < MAX_DATA_FIELDS {
                    if let Some(field) = data_field_name(name) {
                        fields.push((field, value.clone()));
                    }
                }
            }
            data.push((item.attr("Name").map(str::to_owned), value));
        }
    }
    let message = message(
        &tree,
        event,
        provider.as_deref(),
        event_id.as_deref(),
        &data,
    );
    let mut out = Vec::with_capacity(1024 + if event_xml { event.xml.len() } else { 0 });
    append_field(&mut out, "MESSAGE", message.as_bytes());
    append_field(
        &mut out,
        "PRIORITY",
        priority(level.as_deref()).to_string().as_bytes(),
    );
    append_field(&mut out, "SYSLOG_IDENTIFIER", identifier.as_bytes());
    for (name, value) in &fields {
        append_field(&mut out, name, value.as_bytes());
    }
    if event_xml {
        append_field(&mut out, "EVENT_XML", event.xml.as_bytes());
    }
    out
}

/// Why journald did not take an entry.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("an entry of {0} bytes is larger than {MAX_ENTRY_BYTES}")]
    TooLarge(usize),
    #[error("{}: {source}", .socket.display())]
    Send {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("memfd {what}: {source}")]
    Memfd {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("memfd: no room for the descriptor")]
    NoRoom,
}

impl JournalOutput {
    pub fn new(config: &JournalConfig) -> JournalOutput {
        JournalOutput {
            socket: PathBuf::from(&config.socket),
            identifier: config.syslog_identifier.clone(),
            event_xml: config.event_xml,
            send_timeout: Duration::from_millis(config.send_timeout_ms.into()),
        }
    }

    /// Hand one entry to journald: a datagram, or a sealed memfd for a large one.
    fn send(&self, socket: &UnixDatagram, entry: &[u8]) -> Result<(), JournalError> {
        if entry.len() > MAX_ENTRY_BYTES {
            return Err(JournalError::TooLarge(entry.len()));
        }
        if entry.len() <= MAX_DATAGRAM {
            match socket.send_to(entry, &self.socket) {
                Ok(_) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::MSGSIZE.raw_os_error()) => {}
                Err(source) => {
                    return Err(JournalError::Send {
                        socket: self.socket.clone(),
                        source,
                    })
                }
            }
        }
        self.send_memfd(socket, entry)
    }

    fn send_memfd(&self, socket: &UnixDatagram, entry: &[u8]) -> Result<(), JournalError> {
        let failed =
            |what: &'static str, e: std::io::Error| JournalError::Memfd { what, source: e };
        let memfd = memfd_create(
            c"wsmand-journal-entry",
            MemfdFlags::ALLOW_SEALING | MemfdFlags::CLOEXEC,
        )
        .map_err(|e| failed("create", e.into()))?;
        let mut file = std::fs::File::from(memfd);
        file.write_all(entry).map_err(|e| failed("write", e))?;
        // journald takes only a sealed memfd: nobody can change the entry after it was sent.
        fcntl_add_seals(
            &file,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
        )
        .map_err(|e| failed("seal", e.into()))?;
        let address = SocketAddrUnix::new(&self.socket).map_err(|e| failed("address", e.into()))?;
        let descriptors = [file.as_fd()];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !control.push(SendAncillaryMessage::ScmRights(&descriptors)) {
            return Err(JournalError::NoRoom);
        }
        sendmsg_addr(socket, &address, &[], &mut control, SendFlags::empty()).map_err(|e| {
            JournalError::Send {
                socket: self.socket.clone(),
                source: e.into(),
            }
        })?;
        Ok(())
    }
}

impl Output for JournalOutput {
    fn describe(&self) -> String {
        format!("journal output {}", self.socket.display())
    }

    fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        let socket = UnixDatagram::unbound().map_err(|e| failed(self, format!("socket: {e}")))?;
        socket
            .set_write_timeout(Some(self.send_timeout))
            .map_err(|e| failed(self, format!("socket: {e}")))?;
        for (sent, event) in batch.events.iter().enumerate() {
            let entry = entry(
                event,
                batch.client,
                batch.subscription,
                &self.identifier,
                self.event_xml,
            );
            // The entries before this one are in the journal; the resend writes them again
            // (at least once).
            self.send(&socket, &entry).map_err(|reason| {
                failed(
                    self,
                    format!("entry {} of {}: {reason}", sent + 1, batch.events.len()),
                )
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// journald's native format read back as its documentation describes it
    /// (`NAME=value\n`, or `NAME\n` + 64-bit little-endian length + value + `\n`).
    fn read_native(mut bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut fields = Vec::new();
        while !bytes.is_empty() {
            let line_end = bytes.iter().position(|&b| b == b'\n').expect("a line");
            let line = &bytes[..line_end];
            if let Some(equals) = line.iter().position(|&b| b == b'=') {
                fields.push((
                    String::from_utf8(line[..equals].to_vec()).expect("name"),
                    line[equals + 1..].to_vec(),
                ));
                bytes = &bytes[line_end + 1..];
            } else {
                let name = String::from_utf8(line.to_vec()).expect("name");
                let rest = &bytes[line_end + 1..];
                let length = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes")) as usize;
                fields.push((name, rest[8..8 + length].to_vec()));
                assert_eq!(rest[8 + length], b'\n');
                bytes = &rest[8 + length + 1..];
            }
        }
        fields
    }

    proptest! {
        /// Any value, line breaks and binary included, reads back as written.
        #[test]
        fn fields_read_back(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8)) {
            let mut entry = Vec::new();
            for (n, value) in values.iter().enumerate() {
                append_field(&mut entry, &format!("FIELD_{n}"), value);
            }
            let read = read_native(&entry);
            prop_assert_eq!(read.len(), values.len());
            for (n, ((name, value), written)) in read.iter().zip(&values).enumerate() {
                prop_assert_eq!(name, &format!("FIELD_{n}"));
                prop_assert_eq!(value, written);
            }
        }

        /// Whatever an EventData name is (it comes from the forwarder), the field made of it
        /// is one journald accepts, or none.
        #[test]
        fn data_names_become_valid_fields_or_none(name in "\\PC{0,80}") {
            if let Some(field) = data_field_name(&name) {
                prop_assert!(valid_field_name(&field), "{}", field);
            }
        }
    }

    #[test]
    fn levels_map_to_syslog_priorities() {
        // syslog(3): 2 crit, 3 err, 4 warning, 6 info, 7 debug.
        for (level, priority) in [("1", 2), ("2", 3), ("3", 4), ("4", 6), ("0", 6), ("5", 7)] {
            assert_eq!(super::priority(Some(level)), priority, "{level}");
        }
        assert_eq!(super::priority(None), 6);
    }
}

/// A journal output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// journald's native socket.
    #[serde(default = "default_journal_socket")]
    pub socket: String,
    /// `SYSLOG_IDENTIFIER` of the entries (`journalctl -t`).
    #[serde(default = "default_syslog_identifier")]
    pub syslog_identifier: String,
    /// Also write the event's XML as `EVENT_XML`.
    #[serde(default)]
    pub event_xml: bool,
    /// A journal that takes longer to take an entry fails the batch (503).
    #[serde(default = "default_io_timeout")]
    pub send_timeout_ms: u32,
}

fn default_journal_socket() -> String {
    JOURNAL_SOCKET.to_owned()
}
fn default_syslog_identifier() -> String {
    "wsmand-wec".to_owned()
}

impl OutputType for JournalConfig {
    const KIND: &'static str = "journal";
    type Pool = ();
    type StartError = std::convert::Infallible;

    fn needs_tree(&self) -> bool {
        true
    }

    /// Why a journal output's settings are refused.
    fn check(&self) -> Result<(), OutputSettingError> {
        if !self.socket.starts_with('/') {
            return Err(OutputSettingError::RelativeJournalSocket(
                self.socket.clone(),
            ));
        }
        let identifier = &self.syslog_identifier;
        if identifier.is_empty()
            || identifier.len() > 64
            || identifier.chars().any(char::is_control)
        {
            return Err(OutputSettingError::SyslogIdentifier(identifier.clone()));
        }
        check_range(
            "journal output: send_timeout_ms",
            self.send_timeout_ms,
            100..=600_000,
        )?;
        Ok(())
    }

    fn admit(&self, _: &OutputsPolicy) -> Result<(), PolicyError> {
        if self.socket != JOURNAL_SOCKET {
            return Err(PolicyError::JournalSocket(self.socket.clone()));
        }
        Ok(())
    }

    fn summary(&self) -> String {
        format!("journal {} as {}", self.socket, self.syslog_identifier)
    }

    fn start(&self, _: &std::sync::Arc<()>, _: &StartEnv<'_>) -> Result<Started, Self::StartError> {
        Ok(Some(std::sync::Arc::new(JournalOutput::new(self))))
    }
}
