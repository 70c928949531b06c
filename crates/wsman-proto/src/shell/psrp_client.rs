//! The client side of PowerShell remoting (MS-PSRP), sans I/O: what a WinRM client puts in a
//! PowerShell shell's Create (`creationXml`) and in a pipeline's Command (`Arguments`), and
//! what it makes of the `stdout` a Receive brings back.
//!
//! A message (MS-PSRP 2.2.1: destination, type, runspace pool and pipeline ids, CLIXML data) is
//! cut into fragments (2.2.4: object id, fragment id, start/end flags, length, all big-endian);
//! the server's fragments are put back together per object, bounded, and each whole message
//! becomes a [`PsEvent`]. Only what running a script needs is understood: the pool's and the
//! pipeline's state, output as text, and the error, warning, verbose, debug and information
//! records as text; any other message is reported by type and otherwise ignored.

use std::collections::HashMap;

use uuid::Uuid;

use super::psrp::{FragmentError, FragmentScanner, FRAGMENT_HEADER};
use super::psrp_clixml::{self as clixml, ClixmlError, StateReport};

/// MS-PSRP 2.2.1 message types this client sends or reads.
pub mod message_type {
    pub const SESSION_CAPABILITY: u32 = 0x0001_0002;
    pub const INIT_RUNSPACEPOOL: u32 = 0x0001_0004;
    pub const RUNSPACEPOOL_STATE: u32 = 0x0002_1005;
    pub const CREATE_PIPELINE: u32 = 0x0002_1006;
    pub const APPLICATION_PRIVATE_DATA: u32 = 0x0002_1009;
    pub const RUNSPACEPOOL_INIT_DATA: u32 = 0x0002_100B;
    pub const RUNSPACEPOOL_HOST_CALL: u32 = 0x0002_1100;
    pub const PIPELINE_OUTPUT: u32 = 0x0004_1004;
    pub const ERROR_RECORD: u32 = 0x0004_1005;
    pub const PIPELINE_STATE: u32 = 0x0004_1006;
    pub const DEBUG_RECORD: u32 = 0x0004_1007;
    pub const VERBOSE_RECORD: u32 = 0x0004_1008;
    pub const WARNING_RECORD: u32 = 0x0004_1009;
    pub const PROGRESS_RECORD: u32 = 0x0004_1010;
    pub const INFORMATION_RECORD: u32 = 0x0004_1011;
    pub const PIPELINE_HOST_CALL: u32 = 0x0004_1100;
}

/// `Destination` of a message: to the client or to the server.
pub const TO_CLIENT: u32 = 1;
pub const TO_SERVER: u32 = 2;
/// Bytes of a message header: destination, type, two GUIDs.
pub const MESSAGE_HEADER: usize = 40;
/// Largest fragment blob this client writes: PowerShell's own default (32 KiB).
pub const MAX_BLOB: usize = 32 * 1024;
/// Largest message the client reassembles (PowerShell's own default maximum received
/// object size is 10 MiB; output beyond that is refused rather than buffered).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Messages being reassembled at once.
pub const MAX_PARTIAL: usize = 64;

/// Runspace pool states (MS-PSRP 2.2.3.4) a client acts on.
pub mod pool_state {
    pub const OPENED: i32 = 2;
    pub const CLOSED: i32 = 3;
    pub const BROKEN: i32 = 5;
}

/// Pipeline states (MS-PSRP 2.2.3.5) a client acts on.
pub mod pipeline_state {
    pub const RUNNING: i32 = 1;
    pub const STOPPED: i32 = 3;
    pub const COMPLETED: i32 = 4;
    pub const FAILED: i32 = 5;
}

/// Why what the server sent is not PSRP this client can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PsrpError {
    #[error("PSRP fragments: {0}")]
    Fragment(#[from] FragmentError),
    #[error("a fragment of object {object} is out of order (id {got}, expected {expected})")]
    OutOfOrder {
        object: u64,
        got: u64,
        expected: u64,
    },
    #[error("a message is longer than {MAX_MESSAGE} bytes")]
    TooLong,
    #[error("more than {MAX_PARTIAL} messages are incomplete at once")]
    TooManyPartial,
    #[error("a message is shorter than its {MESSAGE_HEADER}-byte header")]
    Short,
    #[error("message type {0:#010x}: {1}")]
    Clixml(u32, ClixmlError),
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
    pub fn parse(bytes: &[u8]) -> Result<Self, PsrpError> {
        let header = bytes.get(..MESSAGE_HEADER).ok_or(PsrpError::Short)?;
        let word = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let guid = |at: usize| {
            let mut raw = [0u8; 16];
            raw.copy_from_slice(&header[at..at + 16]);
            Uuid::from_bytes_le(raw)
        };
        Ok(Self {
            destination: word(0),
            message_type: word(4),
            rpid: guid(8),
            pid: guid(24),
            data: bytes[MESSAGE_HEADER..].to_vec(),
        })
    }
}

/// Cuts messages into fragments; object ids count up from 1 for the life of the pool, as
/// MS-PSRP 2.2.4 asks of a sender.
#[derive(Debug)]
pub struct Fragmenter {
    next_object: u64,
    max_blob: usize,
}

impl Default for Fragmenter {
    fn default() -> Self {
        Self::new(MAX_BLOB)
    }
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
        let object = self.next_object;
        self.next_object += 1;
        let bytes = message.to_bytes();
        let chunks: Vec<&[u8]> = bytes.chunks(self.max_blob).collect();
        let last = chunks.len().saturating_sub(1);
        let mut out = Vec::with_capacity(chunks.len());
        for ((id, chunk), i) in (0u64..).zip(&chunks).zip(0..) {
            let mut fragment = Vec::with_capacity(FRAGMENT_HEADER + chunk.len());
            fragment.extend_from_slice(&object.to_be_bytes());
            fragment.extend_from_slice(&id.to_be_bytes());
            fragment.push(u8::from(i == 0) | (u8::from(i == last) << 1));
            fragment.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
            fragment.extend_from_slice(chunk);
            out.push(fragment);
        }
        out
    }
}

/// Puts the server's fragments back into messages. Fragments of one object arrive in order
/// (MS-PSRP 2.2.4); those of different objects may interleave. Bounded by [`MAX_MESSAGE`]
/// and [`MAX_PARTIAL`].
#[derive(Debug, Default)]
pub struct Defragmenter {
    scanner: FragmentScanner,
    /// Object id → (next fragment id, bytes so far).
    partial: HashMap<u64, (u64, Vec<u8>)>,
}

impl Defragmenter {
    /// Feeds stream bytes (any cut); returns every message they complete, in order.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Message>, PsrpError> {
        let mut out = Vec::new();
        for fragment in self.scanner.feed(data)? {
            let header = &fragment.bytes[..FRAGMENT_HEADER];
            let object = u64::from_be_bytes(header[0..8].try_into().unwrap_or_default());
            let id = u64::from_be_bytes(header[8..16].try_into().unwrap_or_default());
            let (start, end) = (header[16] & 1 != 0, header[16] & 2 != 0);
            let blob = &fragment.bytes[FRAGMENT_HEADER..];
            if start {
                if id != 0 || self.partial.contains_key(&object) {
                    return Err(PsrpError::OutOfOrder {
                        object,
                        got: id,
                        expected: 0,
                    });
                }
                if self.partial.len() >= MAX_PARTIAL {
                    return Err(PsrpError::TooManyPartial);
                }
                self.partial.insert(object, (0, Vec::new()));
            }
            let (next, bytes) = match self.partial.get_mut(&object) {
                Some(entry) => entry,
                None => {
                    return Err(PsrpError::OutOfOrder {
                        object,
                        got: id,
                        expected: 0,
                    })
                }
            };
            if *next != id {
                return Err(PsrpError::OutOfOrder {
                    object,
                    got: id,
                    expected: *next,
                });
            }
            if bytes.len() + blob.len() > MAX_MESSAGE {
                return Err(PsrpError::TooLong);
            }
            bytes.extend_from_slice(blob);
            *next += 1;
            if end {
                if let Some((_, whole)) = self.partial.remove(&object) {
                    out.push(Message::parse(&whole)?);
                }
            }
        }
        Ok(out)
    }
}

/// What a server message means to a client running scripts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PsEvent {
    /// RUNSPACEPOOL_STATE.
    PoolState(StateReport),
    /// PIPELINE_STATE of the pipeline `pid`.
    PipelineState { pid: Uuid, report: StateReport },
    /// PIPELINE_OUTPUT: one object, as text.
    Output { pid: Uuid, text: String },
    /// One record of another stream, as text.
    Record {
        pid: Uuid,
        stream: RecordStream,
        text: String,
    },
    /// A host call: this client offers no host, so the server should make none.
    HostCall { pid: Uuid },
    /// A message this client has no use for (capability, private data, progress...).
    Other { message_type: u32 },
}

/// The streams of records besides output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordStream {
    Error,
    Warning,
    Verbose,
    Debug,
    Information,
}

impl PsEvent {
    /// Reads a server message.
    pub fn from_message(message: &Message) -> Result<Self, PsrpError> {
        use message_type as t;
        let kind = message.message_type;
        let pid = message.pid;
        let doc = || clixml::parse(&message.data).map_err(|e| PsrpError::Clixml(kind, e));
        let wrap = |e| PsrpError::Clixml(kind, e);
        let record = |stream| -> Result<Self, PsrpError> {
            Ok(Self::Record {
                pid,
                stream,
                text: clixml::record_text(&doc()?),
            })
        };
        Ok(match kind {
            t::RUNSPACEPOOL_STATE => {
                Self::PoolState(clixml::runspace_pool_state(&doc()?).map_err(wrap)?)
            }
            t::PIPELINE_STATE => Self::PipelineState {
                pid,
                report: clixml::pipeline_state(&doc()?).map_err(wrap)?,
            },
            t::PIPELINE_OUTPUT => Self::Output {
                pid,
                text: clixml::object_text(&doc()?),
            },
            t::ERROR_RECORD => record(RecordStream::Error)?,
            t::WARNING_RECORD => record(RecordStream::Warning)?,
            t::VERBOSE_RECORD => record(RecordStream::Verbose)?,
            t::DEBUG_RECORD => record(RecordStream::Debug)?,
            t::INFORMATION_RECORD => record(RecordStream::Information)?,
            t::RUNSPACEPOOL_HOST_CALL | t::PIPELINE_HOST_CALL => Self::HostCall { pid },
            other => Self::Other {
                message_type: other,
            },
        })
    }
}

/// One runspace pool seen from the client: builds what it sends, reads what it receives.
#[derive(Debug)]
pub struct PoolClient {
    /// The pool's id, which is also the WinRM shell's ShellId.
    pub id: Uuid,
    fragmenter: Fragmenter,
    defragmenter: Defragmenter,
}

impl PoolClient {
    /// A pool of id `id` whose fragments carry at most `max_blob` bytes each.
    pub fn new(id: Uuid, max_blob: usize) -> Self {
        Self {
            id,
            fragmenter: Fragmenter::new(max_blob),
            defragmenter: Defragmenter::default(),
        }
    }

    fn message(&self, message_type: u32, pid: Uuid, clixml: String) -> Message {
        Message {
            destination: TO_SERVER,
            message_type,
            rpid: self.id,
            pid,
            data: clixml.into_bytes(),
        }
    }

    /// The fragments of the Create's `creationXml`: SESSION_CAPABILITY, then
    /// INIT_RUNSPACEPOOL of one runspace.
    pub fn open(&mut self) -> Vec<Vec<u8>> {
        let capability = self.message(
            message_type::SESSION_CAPABILITY,
            Uuid::nil(),
            clixml::session_capability(),
        );
        let init = self.message(
            message_type::INIT_RUNSPACEPOOL,
            Uuid::nil(),
            clixml::init_runspace_pool(1, 1),
        );
        let mut out = self.fragmenter.fragments(&capability);
        out.extend(self.fragmenter.fragments(&init));
        out
    }

    /// The fragments of CREATE_PIPELINE for `script` in a new pipeline: its id (the
    /// Command's CommandId) and the fragments (the first in the Command's `Arguments`, any
    /// others sent as `stdin` of the command).
    pub fn create_pipeline(&mut self, script: &str) -> (Uuid, Vec<Vec<u8>>) {
        let pid = Uuid::new_v4();
        let message = self.message(
            message_type::CREATE_PIPELINE,
            pid,
            clixml::create_pipeline(script),
        );
        (pid, self.fragmenter.fragments(&message))
    }

    /// Reads `stdout` of a Receive (the pool's or a pipeline's): the events of every message
    /// the bytes complete.
    pub fn receive(&mut self, data: &[u8]) -> Result<Vec<PsEvent>, PsrpError> {
        self.defragmenter
            .feed(data)?
            .iter()
            .map(PsEvent::from_message)
            .collect()
    }
}

#[cfg(test)]
#[path = "psrp_client_tests.rs"]
mod tests;
