//! PowerShell remoting's codec (MS-PSRP), sans I/O, both directions, for the server's bridge
//! to `pwsh -s` and for the client alike: the fragment (2.2.4), the message header and the
//! table of message types (2.2.1), and the packets of `pwsh -s`'s out-of-process transport.
//! Every number of these layouts is in this file and nowhere else.
//!
//! The transport is one XML element per line (PowerShell's `OutOfProcessUtils`):
//! `<Data Stream='Default' PSGuid='…'>base64</Data>`, and `<DataAck/>`, `<Command/>`,
//! `<CommandAck/>`, `<Signal/>`, `<SignalAck/>`, `<Close/>`, `<CloseAck/>` with one `PSGuid`
//! attribute. The host (pwsh) runs as the client's user, so what it writes is untrusted: a
//! line is parsed by the bounded XML parser, and anything else is [`PacketError`].
//!
//! The [`FragmentScanner`] cuts a byte stream into whole fragments in time linear in its
//! length, holding at most one partial fragment ([`MAX_FRAGMENT`]) and a capped set of open
//! messages ([`MAX_OPEN`]); it reads only fragment and message headers, never the CLIXML: a
//! PIPELINE_STATE message is sent by pwsh only when a pipeline reaches a terminal state
//! (Completed, Failed, Stopped), so its arrival is the pipeline's end.

use std::collections::HashMap;

use base64::Engine as _;
use uuid::Uuid;

use crate::xml::{self, Limits, Node};

/// Bytes of a fragment header: ObjectId (8), FragmentId (8), flags (1), BlobLength (4), all
/// big-endian.
pub const FRAGMENT_HEADER: usize = 21;
/// Bytes of a message header: Destination (4), MessageType (4), RPID (16), PID (16).
pub const MESSAGE_HEADER: usize = 40;
/// Longest fragment blob accepted from pwsh (pwsh's own are at most 32 KiB).
pub const MAX_FRAGMENT: usize = 1024 * 1024;
/// Longest line of the transport accepted (a Data packet of a few fragments, in base64).
pub const MAX_LINE: usize = 4 * 1024 * 1024;
/// Messages of one stream begun and not ended at once (pwsh sends one message of a stream
/// at a time; a peer that opens more is refused).
pub const MAX_OPEN: usize = 64;

/// The flag of a message's first fragment.
const START: u8 = 0x1;
/// The flag of a message's last fragment.
const END: u8 = 0x2;

/// MS-PSRP 2.2.1 message types: every one PowerShell (and psrpcore) knows.
pub mod message_type {
    pub const SESSION_CAPABILITY: u32 = 0x0001_0002;
    pub const INIT_RUNSPACEPOOL: u32 = 0x0001_0004;
    pub const PUBLIC_KEY: u32 = 0x0001_0005;
    pub const ENCRYPTED_SESSION_KEY: u32 = 0x0001_0006;
    pub const PUBLIC_KEY_REQUEST: u32 = 0x0001_0007;
    pub const CONNECT_RUNSPACEPOOL: u32 = 0x0001_0008;
    pub const SET_MAX_RUNSPACES: u32 = 0x0002_1002;
    pub const SET_MIN_RUNSPACES: u32 = 0x0002_1003;
    pub const RUNSPACE_AVAILABILITY: u32 = 0x0002_1004;
    pub const RUNSPACEPOOL_STATE: u32 = 0x0002_1005;
    pub const CREATE_PIPELINE: u32 = 0x0002_1006;
    pub const GET_AVAILABLE_RUNSPACES: u32 = 0x0002_1007;
    pub const USER_EVENT: u32 = 0x0002_1008;
    pub const APPLICATION_PRIVATE_DATA: u32 = 0x0002_1009;
    pub const GET_COMMAND_METADATA: u32 = 0x0002_100A;
    pub const RUNSPACEPOOL_INIT_DATA: u32 = 0x0002_100B;
    pub const RESET_RUNSPACE_STATE: u32 = 0x0002_100C;
    pub const RUNSPACEPOOL_HOST_CALL: u32 = 0x0002_1100;
    pub const RUNSPACEPOOL_HOST_RESPONSE: u32 = 0x0002_1101;
    pub const PIPELINE_INPUT: u32 = 0x0004_1002;
    pub const END_OF_PIPELINE_INPUT: u32 = 0x0004_1003;
    pub const PIPELINE_OUTPUT: u32 = 0x0004_1004;
    pub const ERROR_RECORD: u32 = 0x0004_1005;
    pub const PIPELINE_STATE: u32 = 0x0004_1006;
    pub const DEBUG_RECORD: u32 = 0x0004_1007;
    pub const VERBOSE_RECORD: u32 = 0x0004_1008;
    pub const WARNING_RECORD: u32 = 0x0004_1009;
    pub const PROGRESS_RECORD: u32 = 0x0004_1010;
    pub const INFORMATION_RECORD: u32 = 0x0004_1011;
    pub const PIPELINE_HOST_CALL: u32 = 0x0004_1100;
    pub const PIPELINE_HOST_RESPONSE: u32 = 0x0004_1101;

    /// Every type with its MS-PSRP name, for logs and for the tests that hold the table to
    /// psrpcore's.
    pub const ALL: [(u32, &str); 31] = [
        (SESSION_CAPABILITY, "SESSION_CAPABILITY"),
        (INIT_RUNSPACEPOOL, "INIT_RUNSPACEPOOL"),
        (PUBLIC_KEY, "PUBLIC_KEY"),
        (ENCRYPTED_SESSION_KEY, "ENCRYPTED_SESSION_KEY"),
        (PUBLIC_KEY_REQUEST, "PUBLIC_KEY_REQUEST"),
        (CONNECT_RUNSPACEPOOL, "CONNECT_RUNSPACEPOOL"),
        (SET_MAX_RUNSPACES, "SET_MAX_RUNSPACES"),
        (SET_MIN_RUNSPACES, "SET_MIN_RUNSPACES"),
        (RUNSPACE_AVAILABILITY, "RUNSPACE_AVAILABILITY"),
        (RUNSPACEPOOL_STATE, "RUNSPACEPOOL_STATE"),
        (CREATE_PIPELINE, "CREATE_PIPELINE"),
        (GET_AVAILABLE_RUNSPACES, "GET_AVAILABLE_RUNSPACES"),
        (USER_EVENT, "USER_EVENT"),
        (APPLICATION_PRIVATE_DATA, "APPLICATION_PRIVATE_DATA"),
        (GET_COMMAND_METADATA, "GET_COMMAND_METADATA"),
        (RUNSPACEPOOL_INIT_DATA, "RUNSPACEPOOL_INIT_DATA"),
        (RESET_RUNSPACE_STATE, "RESET_RUNSPACE_STATE"),
        (RUNSPACEPOOL_HOST_CALL, "RUNSPACEPOOL_HOST_CALL"),
        (RUNSPACEPOOL_HOST_RESPONSE, "RUNSPACEPOOL_HOST_RESPONSE"),
        (PIPELINE_INPUT, "PIPELINE_INPUT"),
        (END_OF_PIPELINE_INPUT, "END_OF_PIPELINE_INPUT"),
        (PIPELINE_OUTPUT, "PIPELINE_OUTPUT"),
        (ERROR_RECORD, "ERROR_RECORD"),
        (PIPELINE_STATE, "PIPELINE_STATE"),
        (DEBUG_RECORD, "DEBUG_RECORD"),
        (VERBOSE_RECORD, "VERBOSE_RECORD"),
        (WARNING_RECORD, "WARNING_RECORD"),
        (PROGRESS_RECORD, "PROGRESS_RECORD"),
        (INFORMATION_RECORD, "INFORMATION_RECORD"),
        (PIPELINE_HOST_CALL, "PIPELINE_HOST_CALL"),
        (PIPELINE_HOST_RESPONSE, "PIPELINE_HOST_RESPONSE"),
    ];

    /// The MS-PSRP name of a type, `None` for a number no PowerShell sends.
    pub fn name(kind: u32) -> Option<&'static str> {
        ALL.iter().find(|(k, _)| *k == kind).map(|(_, n)| *n)
    }
}

/// `Destination` of a message to the client.
pub const TO_CLIENT: u32 = 1;
/// `Destination` of a message to the server.
pub const TO_SERVER: u32 = 2;

/// The priority stream of a Data packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataStream {
    /// `Default`: WinRS stream `stdin` / `stdout`.
    Default,
    /// `PromptResponse`: WinRS stream `pr`.
    PromptResponse,
}

impl DataStream {
    fn name(self) -> &'static str {
        match self {
            Self::Default => "Default",
            Self::PromptResponse => "PromptResponse",
        }
    }
}

/// One packet of the out-of-process transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    Data {
        stream: DataStream,
        guid: Uuid,
        data: Vec<u8>,
    },
    DataAck(Uuid),
    Command(Uuid),
    CommandAck(Uuid),
    Signal(Uuid),
    SignalAck(Uuid),
    Close(Uuid),
    CloseAck(Uuid),
}

/// Why a line of pwsh's output is not a packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("not XML: {0}")]
    Xml(String),
    #[error("unknown element {0:?}")]
    UnknownElement(String),
    #[error("the PSGuid attribute is missing or not a GUID")]
    Guid,
    #[error("the Stream attribute is missing or unknown")]
    Stream,
    #[error("the data is not base64")]
    Base64,
    #[error("the line is longer than {MAX_LINE} bytes")]
    TooLong,
}

impl Packet {
    /// The packet as one line, newline included, as PowerShell writes it.
    pub fn to_line(&self) -> String {
        let tag = |name: &str, guid: &Uuid| format!("<{name} PSGuid='{guid}' />\n");
        match self {
            Self::Data { stream, guid, data } => format!(
                "<Data Stream='{}' PSGuid='{guid}'>{}</Data>\n",
                stream.name(),
                base64::engine::general_purpose::STANDARD.encode(data)
            ),
            Self::DataAck(g) => tag("DataAck", g),
            Self::Command(g) => tag("Command", g),
            Self::CommandAck(g) => tag("CommandAck", g),
            Self::Signal(g) => tag("Signal", g),
            Self::SignalAck(g) => tag("SignalAck", g),
            Self::Close(g) => tag("Close", g),
            Self::CloseAck(g) => tag("CloseAck", g),
        }
    }

    /// Parses one line (without its newline).
    pub fn parse(line: &[u8]) -> Result<Self, PacketError> {
        if line.len() > MAX_LINE {
            return Err(PacketError::TooLong);
        }
        let text = std::str::from_utf8(line).map_err(|e| PacketError::Xml(e.to_string()))?;
        let element =
            xml::parse(text, &Limits::default()).map_err(|e| PacketError::Xml(e.to_string()))?;
        let guid = element
            .attr("PSGuid")
            .and_then(|g| Uuid::parse_str(g.trim()).ok())
            .ok_or(PacketError::Guid)?;
        let only_guid = element.attributes.len() == 1 && element.children.is_empty();
        let packet = match element.name.as_str() {
            "Data" => {
                let stream = match element.attr("Stream") {
                    Some("Default") => DataStream::Default,
                    Some("PromptResponse") => DataStream::PromptResponse,
                    _ => return Err(PacketError::Stream),
                };
                if element.children.iter().any(|c| !matches!(c, Node::Text(_))) {
                    return Err(PacketError::Base64);
                }
                let data = base64::engine::general_purpose::STANDARD
                    .decode(element.text().trim())
                    .map_err(|_| PacketError::Base64)?;
                return Ok(Self::Data { stream, guid, data });
            }
            "DataAck" if only_guid => Self::DataAck(guid),
            "Command" if only_guid => Self::Command(guid),
            "CommandAck" if only_guid => Self::CommandAck(guid),
            "Signal" if only_guid => Self::Signal(guid),
            "SignalAck" if only_guid => Self::SignalAck(guid),
            "Close" if only_guid => Self::Close(guid),
            "CloseAck" if only_guid => Self::CloseAck(guid),
            other => return Err(PacketError::UnknownElement(other.to_owned())),
        };
        Ok(packet)
    }
}

/// The fields of a fragment's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentHeader {
    /// The message the fragment is part of.
    pub object_id: u64,
    /// The fragment's place in its message, from 0.
    pub fragment_id: u64,
    /// The message's first fragment.
    pub start: bool,
    /// The message's last fragment.
    pub end: bool,
    /// Bytes of blob after the header, as declared (what [`FragmentHeader::fragment`] writes
    /// is the blob's own length, whatever this says).
    pub blob_len: usize,
}

impl FragmentHeader {
    /// The header of a message's only fragment.
    pub fn whole(object_id: u64) -> Self {
        Self {
            object_id,
            fragment_id: 0,
            start: true,
            end: true,
            blob_len: 0,
        }
    }

    /// Reads the header at the start of `bytes` (`None`: shorter than a header).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let header: &[u8; FRAGMENT_HEADER] = bytes.get(..FRAGMENT_HEADER)?.try_into().ok()?;
        let u64_at = |at: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&header[at..at + 8]);
            u64::from_be_bytes(raw)
        };
        let flags = header[16];
        let blob = u32::from_be_bytes([header[17], header[18], header[19], header[20]]);
        Some(Self {
            object_id: u64_at(0),
            fragment_id: u64_at(8),
            start: flags & START != 0,
            end: flags & END != 0,
            blob_len: blob as usize,
        })
    }

    /// A fragment of this header around `blob`.
    pub fn fragment(self, blob: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(FRAGMENT_HEADER + blob.len());
        out.extend_from_slice(&self.object_id.to_be_bytes());
        out.extend_from_slice(&self.fragment_id.to_be_bytes());
        out.push((u8::from(self.start) * START) | (u8::from(self.end) * END));
        out.extend_from_slice(&u32::try_from(blob.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(blob);
        out
    }
}

/// Sets a fragment's ObjectId and FragmentId in place.
pub fn renumber(fragment: &mut [u8], object_id: u64, fragment_id: u64) {
    if let Some(head) = fragment.get_mut(..16) {
        head[..8].copy_from_slice(&object_id.to_be_bytes());
        head[8..].copy_from_slice(&fragment_id.to_be_bytes());
    }
}

/// Cuts a whole fragment in two, the first `size` bytes long (header included): the head
/// keeps its ids and its start flag, the rest is the next fragment of the same object and
/// keeps the end flag. `None` when `size` leaves no byte of blob on either side, or when the
/// fragment's id is the last one (pwsh's bytes choose it: no next id to give).
pub fn split(whole: &[u8], size: usize) -> Option<(Vec<u8>, Vec<u8>)> {
    let h = FragmentHeader::parse(whole)?;
    let blob = whole.get(FRAGMENT_HEADER..)?;
    let cut = size
        .checked_sub(FRAGMENT_HEADER)
        .filter(|c| *c > 0 && *c < blob.len())?;
    let head = FragmentHeader { end: false, ..h };
    let rest = FragmentHeader {
        fragment_id: h.fragment_id.checked_add(1)?,
        start: false,
        ..h
    };
    Some((head.fragment(&blob[..cut]), rest.fragment(&blob[cut..])))
}

/// One PSRP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub destination: u32,
    pub message_type: u32,
    /// The runspace pool's id.
    pub rpid: Uuid,
    /// The pipeline's id (nil for a pool message).
    pub pid: Uuid,
    /// The CLIXML, UTF-8.
    pub data: Vec<u8>,
}

/// Why bytes are not a PSRP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a message is shorter than its {MESSAGE_HEADER}-byte header")]
pub struct ShortMessage;

impl Message {
    /// The message's bytes: little-endian numbers, GUIDs in .NET's byte order (MS-DTYP's: the
    /// first three fields little-endian), as pwsh, pypsrp since 2019 and psrpcore write them
    /// (pypsrp's 2018 recordings carry them in RFC 4122 order; see docs/windows-quirks.md).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MESSAGE_HEADER + self.data.len());
        out.extend_from_slice(&self.destination.to_le_bytes());
        out.extend_from_slice(&self.message_type.to_le_bytes());
        out.extend_from_slice(&self.rpid.to_bytes_le());
        out.extend_from_slice(&self.pid.to_bytes_le());
        out.extend_from_slice(&self.data);
        out
    }

    /// Reads a whole message.
    pub fn parse(bytes: &[u8]) -> Result<Self, ShortMessage> {
        let header = bytes.get(..MESSAGE_HEADER).ok_or(ShortMessage)?;
        let guid = |at: usize| {
            let mut raw = [0u8; 16];
            raw.copy_from_slice(&header[at..at + 16]);
            Uuid::from_bytes_le(raw)
        };
        Ok(Self {
            destination: u32_le(header, 0).ok_or(ShortMessage)?,
            message_type: Self::peek_type(header).ok_or(ShortMessage)?,
            rpid: guid(8),
            pid: guid(24),
            data: bytes[MESSAGE_HEADER..].to_vec(),
        })
    }

    /// The type of the message that `bytes` begin (the blob of a start fragment), read
    /// without the rest of the header.
    pub fn peek_type(bytes: &[u8]) -> Option<u32> {
        u32_le(bytes, 4)
    }

    /// The message of a start fragment, if the fragment holds its whole header.
    pub fn of_fragment(fragment: &[u8]) -> Option<Self> {
        Self::parse(fragment.get(FRAGMENT_HEADER..)?).ok()
    }
}

fn u32_le(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}

/// Cuts messages into fragments; object ids count up from 1 for the life of the pool, as
/// MS-PSRP 2.2.4 asks of a sender.
#[derive(Debug)]
pub struct Fragmenter {
    next_object: u64,
    max_blob: usize,
}

impl Fragmenter {
    /// Fragments of at most `max_blob` bytes of message each (at least a message header, so
    /// that a start fragment always holds its message's type).
    pub fn new(max_blob: usize) -> Self {
        Self {
            next_object: 1,
            max_blob: max_blob.max(MESSAGE_HEADER),
        }
    }

    /// The fragments of `message`, each one whole fragment's bytes.
    pub fn fragments(&mut self, message: &Message) -> Vec<Vec<u8>> {
        let object_id = self.next_object;
        self.next_object += 1;
        let bytes = message.to_bytes();
        let chunks: Vec<&[u8]> = bytes.chunks(self.max_blob).collect();
        let last = chunks.len().saturating_sub(1);
        (0u64..)
            .zip(&chunks)
            .map(|(id, chunk)| {
                let header = FragmentHeader {
                    object_id,
                    fragment_id: id,
                    start: id == 0,
                    end: id as usize == last,
                    blob_len: chunk.len(),
                };
                header.fragment(chunk)
            })
            .collect()
    }
}

/// Why a byte stream is not a sequence of PSRP fragments.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("a fragment's blob of {0} bytes is longer than {MAX_FRAGMENT}")]
    TooLong(usize),
    #[error("a start fragment is too short to hold a message header")]
    NoHeader,
    #[error("a fragment of object {object} is out of order (id {got}, expected {expected})")]
    OutOfOrder {
        object: u64,
        got: u64,
        expected: u64,
    },
    #[error("more than {0} messages are begun and not ended at once")]
    TooManyOpen(usize),
}

/// A whole fragment cut from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The fragment's header.
    pub header: FragmentHeader,
    /// The fragment's bytes, header included.
    pub bytes: Vec<u8>,
    /// The message type, read from the header of the message a start fragment begins.
    pub message_type: Option<u32>,
    /// The fragment ends a PIPELINE_STATE message: the pipeline has ended.
    pub ends_pipeline: bool,
}

/// A message begun and not ended: its next fragment id and its type.
#[derive(Clone, Copy, Debug)]
struct Open {
    next: u64,
    kind: u32,
}

/// Cuts a stream of PSRP fragments (the data of one PSGuid) into whole fragments, across
/// Data packets, and checks their order (MS-PSRP 2.2.4: a message's fragments come in order,
/// messages may interleave). Linear in the bytes fed; holds one partial fragment and at
/// most its cap of open messages.
#[derive(Debug)]
pub struct FragmentScanner {
    pending: Vec<u8>,
    open: HashMap<u64, Open>,
    max_open: usize,
}

impl Default for FragmentScanner {
    fn default() -> Self {
        Self::with_max_open(MAX_OPEN)
    }
}

impl FragmentScanner {
    /// A scanner that refuses a stream with more than `max_open` messages open at once.
    pub fn with_max_open(max_open: usize) -> Self {
        Self {
            pending: Vec::new(),
            open: HashMap::new(),
            max_open,
        }
    }

    /// Feeds bytes; returns every fragment they complete, in order.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Fragment>, FragmentError> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        let mut at = 0;
        let result = loop {
            let rest = &self.pending[at..];
            let Some(header) = FragmentHeader::parse(rest) else {
                break Ok(());
            };
            if header.blob_len > MAX_FRAGMENT {
                break Err(FragmentError::TooLong(header.blob_len));
            }
            let Some(bytes) = rest.get(..FRAGMENT_HEADER + header.blob_len) else {
                break Ok(());
            };
            let (message_type, ends_pipeline) =
                match track(&mut self.open, self.max_open, &header, bytes) {
                    Ok(seen) => seen,
                    Err(error) => break Err(error),
                };
            out.push(Fragment {
                header,
                bytes: bytes.to_vec(),
                message_type,
                ends_pipeline,
            });
            at += bytes.len();
        };
        // One move of what is left, however many fragments were cut: linear.
        self.pending.drain(..at);
        result.map(|()| out)
    }

    /// Bytes of an incomplete fragment held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Messages begun and not ended.
    pub fn open(&self) -> usize {
        self.open.len()
    }
}

/// Notes a whole fragment in the set of open messages: its message type (start fragments)
/// and whether it ends a PIPELINE_STATE message.
fn track(
    open: &mut HashMap<u64, Open>,
    max_open: usize,
    header: &FragmentHeader,
    bytes: &[u8],
) -> Result<(Option<u32>, bool), FragmentError> {
    let object = header.object_id;
    let out_of_order = |expected| FragmentError::OutOfOrder {
        object,
        got: header.fragment_id,
        expected,
    };
    if header.start {
        if header.fragment_id != 0 || open.contains_key(&object) {
            return Err(out_of_order(0));
        }
        let kind = Message::peek_type(&bytes[FRAGMENT_HEADER..]).ok_or(FragmentError::NoHeader)?;
        if !header.end {
            if open.len() >= max_open {
                return Err(FragmentError::TooManyOpen(max_open));
            }
            open.insert(object, Open { next: 1, kind });
        }
        return Ok((
            Some(kind),
            header.end && kind == message_type::PIPELINE_STATE,
        ));
    }
    let entry = open.get_mut(&object).ok_or_else(|| out_of_order(0))?;
    if entry.next != header.fragment_id {
        return Err(out_of_order(entry.next));
    }
    entry.next += 1;
    let kind = entry.kind;
    if header.end {
        open.remove(&object);
    }
    Ok((None, header.end && kind == message_type::PIPELINE_STATE))
}

#[cfg(test)]
#[path = "psrp_tests.rs"]
mod tests;
