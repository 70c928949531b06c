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

pub use super::psrp::{
    message_type, Fragmenter, Message, ShortMessage, MESSAGE_HEADER, TO_CLIENT, TO_SERVER,
};
use super::psrp::{FragmentError, FragmentScanner, FRAGMENT_HEADER, MAX_OPEN};
use super::psrp_clixml::{self as clixml, ClixmlError, StateReport};

/// Largest fragment blob this client writes: PowerShell's own default (32 KiB).
pub const MAX_BLOB: usize = 32 * 1024;
/// Largest message the client reassembles (PowerShell's own default maximum received
/// object size is 10 MiB; output beyond that is refused rather than buffered).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Messages being reassembled at once.
pub const MAX_PARTIAL: usize = MAX_OPEN;

/// Runspace pool states (MS-PSRP 2.2.3.4) a client acts on.
pub mod pool_state {
    pub const OPENED: i32 = 2;
}

/// Pipeline states (MS-PSRP 2.2.3.5) a client acts on.
pub mod pipeline_state {
    pub const STOPPED: i32 = 3;
    pub const COMPLETED: i32 = 4;
    pub const FAILED: i32 = 5;
}

/// Why what the server sent is not PSRP this client can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PsrpError {
    #[error("PSRP fragments: {0}")]
    Fragment(#[from] FragmentError),
    #[error("a message is longer than {MAX_MESSAGE} bytes")]
    TooLong,
    #[error(transparent)]
    Short(#[from] ShortMessage),
    #[error("message type {0:#010x}: {1}")]
    Clixml(u32, ClixmlError),
}

/// Puts the server's fragments back into messages. Fragments of one object arrive in order
/// (MS-PSRP 2.2.4); those of different objects may interleave. Bounded by [`MAX_MESSAGE`]
/// and the scanner's [`MAX_PARTIAL`].
#[derive(Debug, Default)]
pub struct Defragmenter {
    scanner: FragmentScanner,
    /// Object id → bytes so far.
    partial: HashMap<u64, Vec<u8>>,
}

impl Defragmenter {
    /// Feeds stream bytes (any cut); returns every message they complete, in order. The
    /// scanner has checked the fragments' order and capped the messages open.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Message>, PsrpError> {
        let mut out = Vec::new();
        for fragment in self.scanner.feed(data)? {
            let (start, end) = (fragment.header.start, fragment.header.end);
            let blob = &fragment.bytes[FRAGMENT_HEADER..];
            if start && end {
                out.push(Message::parse(blob)?);
                continue;
            }
            let bytes = self.partial.entry(fragment.header.object_id).or_default();
            if bytes.len() + blob.len() > MAX_MESSAGE {
                return Err(PsrpError::TooLong);
            }
            bytes.extend_from_slice(blob);
            if end {
                if let Some(whole) = self.partial.remove(&fragment.header.object_id) {
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
