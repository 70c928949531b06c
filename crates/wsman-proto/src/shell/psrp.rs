//! What the PowerShell bridge needs of PowerShell remoting, sans I/O: the packets of `pwsh -s`'s
//! out-of-process transport, and a scanner of PSRP fragments (MS-PSRP 2.2.4) that cuts a byte
//! stream into whole fragments and tells when a pipeline's PIPELINE_STATE message has arrived.
//!
//! The transport is one XML element per line (PowerShell's `OutOfProcessUtils`):
//! `<Data Stream='Default' PSGuid='…'>base64</Data>`, and `<DataAck/>`, `<Command/>`,
//! `<CommandAck/>`, `<Signal/>`, `<SignalAck/>`, `<Close/>`, `<CloseAck/>` with one `PSGuid`
//! attribute. The host (pwsh) runs as the client's user, so what it writes is untrusted: a
//! line is parsed by the bounded XML parser, and anything else is [`PacketError`].
//!
//! Only fragment and message headers are read, never the CLIXML inside: a PIPELINE_STATE
//! message is sent by pwsh only when a pipeline reaches a terminal state (Completed, Failed,
//! Stopped), so its arrival is the pipeline's end.

use base64::Engine as _;
use uuid::Uuid;

use crate::xml::{self, Limits, Node};

/// MS-PSRP's PIPELINE_STATE message type.
pub const PIPELINE_STATE: u32 = 0x0004_1006;
/// Bytes of a fragment header: ObjectId (8), FragmentId (8), flags (1), BlobLength (4).
pub const FRAGMENT_HEADER: usize = 21;
/// Longest fragment blob accepted from pwsh (pwsh's own are at most 32 KiB).
pub const MAX_FRAGMENT: usize = 1024 * 1024;
/// Longest line of the transport accepted (a Data packet of a few fragments, in base64).
pub const MAX_LINE: usize = 4 * 1024 * 1024;

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

/// Why a byte stream is not a sequence of PSRP fragments.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("a fragment's blob of {0} bytes is longer than {MAX_FRAGMENT}")]
    TooLong(usize),
    #[error("a start fragment is too short to hold a message header")]
    NoHeader,
}

/// A whole fragment cut from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The fragment's bytes, header included.
    pub bytes: Vec<u8>,
    /// The message type, read from the header of the message a start fragment begins.
    pub message_type: Option<u32>,
    /// The fragment ends a PIPELINE_STATE message: the pipeline has ended.
    pub ends_pipeline: bool,
}

/// Cuts a stream of PSRP fragments (the data of one PSGuid) into whole fragments, across
/// Data packets, and notes the message type of each message's start fragment.
#[derive(Debug, Default)]
pub struct FragmentScanner {
    pending: Vec<u8>,
    /// Objects (messages) whose start fragment was a PIPELINE_STATE.
    state_objects: Vec<u64>,
}

impl FragmentScanner {
    /// Feeds bytes; returns every fragment they complete, in order.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Fragment>, FragmentError> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        while let Some(header) = self.pending.get(..FRAGMENT_HEADER) {
            let object_id = u64::from_be_bytes(header[0..8].try_into().unwrap_or_default());
            let flags = header[16];
            let blob = u32::from_be_bytes(header[17..21].try_into().unwrap_or_default()) as usize;
            if blob > MAX_FRAGMENT {
                return Err(FragmentError::TooLong(blob));
            }
            if self.pending.len() < FRAGMENT_HEADER + blob {
                break;
            }
            let bytes: Vec<u8> = self.pending.drain(..FRAGMENT_HEADER + blob).collect();
            let start = flags & 0x1 != 0;
            let end = flags & 0x2 != 0;
            let message_type = if start {
                let field = bytes
                    .get(FRAGMENT_HEADER + 4..FRAGMENT_HEADER + 8)
                    .ok_or(FragmentError::NoHeader)?;
                let kind = u32::from_le_bytes(field.try_into().unwrap_or_default());
                if kind == PIPELINE_STATE && !self.state_objects.contains(&object_id) {
                    self.state_objects.push(object_id);
                }
                Some(kind)
            } else {
                None
            };
            let ends_pipeline = end && self.state_objects.contains(&object_id);
            if end {
                self.state_objects.retain(|o| *o != object_id);
            }
            out.push(Fragment {
                bytes,
                message_type,
                ends_pipeline,
            });
        }
        Ok(out)
    }

    /// Bytes of an incomplete fragment held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
#[path = "psrp_tests.rs"]
mod tests;
