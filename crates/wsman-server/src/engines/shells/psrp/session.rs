//! One PowerShell shell's bridge state: the output of its runspace pool and pipelines as whole
//! PSRP fragments, bounded, and the pump that reads them from its `pwsh -s`.
//!
//! A fragment larger than a Receive can carry is cut in two (the rest numbered as the next
//! fragment of its object, and the object's later fragments after it), as Windows' plug-in
//! fragments to the client's MaxEnvelopeSize; the client reassembles them.
//!
//! The pool's SESSION_CAPABILITY and APPLICATION_PRIVATE_DATA, as pwsh sent them when the
//! pool opened, are kept to answer a Connect from another client (see `super::connect`).
//!
//! What pwsh writes is written by the client's scripts too (a script may write raw bytes to
//! its stdout), so its reading is linear and its state bounded: lines are cut and parsed on
//! a blocking worker, off the runtime's threads; the bytes of partial fragments count in the
//! output held; the messages open across the pool and the pipelines per shell are capped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use uuid::Uuid;
use wsman_proto::shell::psrp::{
    self as codec, message_type, FragmentError, FragmentHeader, FragmentScanner, Message, Packet,
    PacketError, FRAGMENT_HEADER, MAX_LINE,
};
use wsman_proto::shell::psrp_input::InputOrder;
use wsman_shell::{
    CommandState, ReceiveOutcome, ReceiveRequest, ShellError, ShellManager, ShellSignal,
};

use super::message;

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

/// How long one read of the host waits before it asks again (it ends early when the host's
/// output ends: exit, or the shell deleted).
const HOST_POLL: Duration = Duration::from_secs(60);
/// How often a broken session looks whether its shell is still there.
const BROKEN_POLL: Duration = Duration::from_secs(2);
/// Most bytes read from the host in one go.
const HOST_READ: usize = 64 * 1024;
/// How long the pump waits for a turn of the work pool to route what it read (the owner's
/// other bulk work first); past it the host is given up on.
const ROUTE_WAIT: Duration = Duration::from_secs(300);
/// Largest pool message kept for a Connect (pwsh's are a few hundred bytes).
const KEPT_MESSAGE: usize = 64 * 1024;
/// Messages begun and not ended across the pool and its pipelines (pwsh has one or two).
pub(super) const MAX_OPEN_PER_POOL: usize = 256;
/// Pipelines of one shell, ended or not, until Terminate releases them (the plug-in quota
/// MaxConcurrentCommandsPerShell of Windows' microsoft.powershell configuration).
pub(super) const MAX_PIPELINES: usize = 1000;

/// Why a host is given up on.
#[derive(Debug, thiserror::Error)]
pub(super) enum HostFailure {
    #[error("pwsh wrote something that is not PowerShell's out-of-process protocol ({0})")]
    Protocol(PacketError),
    #[error("pwsh wrote data that is not PSRP fragments ({0})")]
    Fragments(FragmentError),
    #[error("pwsh wrote a line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("pwsh began more than {MAX_OPEN_PER_POOL} messages without ending them")]
    TooManyOpen,
    #[error("pwsh's partial fragments reached the output bound of {0} bytes")]
    PendingTooLarge(usize),
    #[error("pwsh exited with status {0}")]
    Exited(i32),
    #[error("the shell ended ({0})")]
    ShellEnded(ShellError),
    #[error("its output could not be read: {0}")]
    NotRouted(String),
}

/// Why a pipeline is not registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PipelineRefused {
    /// The id is in use in this shell.
    InUse,
    /// The shell has this many pipelines.
    TooMany(usize),
}

/// What a Receive got.
pub(super) enum Taken {
    /// Whole fragments, and whether the pipeline has ended with them.
    Output { data: Vec<u8>, ended: bool },
    /// The pipeline's end was already delivered.
    AlreadyDone,
    /// No such pipeline (never started, or released by Terminate).
    Unknown,
    /// Nothing within the time.
    TimedOut,
    /// The host failed (exited, wrote garbage): why.
    Broken(String),
    /// The first fragment waiting does not fit in `capacity`.
    TooLarge(usize),
}

/// The output of one PSGuid (the pool's is the nil GUID).
#[derive(Default)]
struct Output {
    fragments: VecDeque<Vec<u8>>,
    scanner: FragmentScanner,
    ended: bool,
    delivered_end: bool,
    /// Objects a cut has renumbered whose end fragment has not arrived yet: how much to add
    /// to the FragmentId of what comes.
    shifts: HashMap<u64, u64>,
}

impl Output {
    fn push(&mut self, h: FragmentHeader, mut fragment: Vec<u8>) {
        if let Some(shift) = self.shifts.get(&h.object_id).copied() {
            codec::renumber(
                &mut fragment,
                h.object_id,
                h.fragment_id.saturating_add(shift),
            );
        }
        if h.end {
            self.shifts.remove(&h.object_id);
        }
        self.fragments.push_back(fragment);
    }

    /// Cuts the first fragment so that its head is `size` bytes; false if it cannot be.
    fn cut_front(&mut self, size: usize) -> bool {
        let Some((head, rest)) = self.fragments.front().and_then(|f| codec::split(f, size)) else {
            return false;
        };
        let Some(h) = FragmentHeader::parse(&rest) else {
            return false;
        };
        let mut ended = h.end;
        for later in self.fragments.iter_mut().skip(1) {
            match FragmentHeader::parse(later) {
                Some(l) if l.object_id == h.object_id => {
                    codec::renumber(later, l.object_id, l.fragment_id.saturating_add(1));
                    ended |= l.end;
                }
                _ => {}
            }
        }
        if !ended {
            *self.shifts.entry(h.object_id).or_default() += 1;
        }
        self.fragments[0] = rest;
        self.fragments.push_front(head);
        true
    }
}

/// What the pool's pwsh said when it opened, kept for a Connect.
#[derive(Default)]
struct PoolMessages {
    capability: Option<Vec<u8>>,
    private_data: Option<Vec<u8>>,
    /// The highest ObjectId of the pool's output: the Connect's fragments come after it.
    last_object: u64,
}

impl PoolMessages {
    fn note(&mut self, h: FragmentHeader, fragment: &[u8], kind: Option<u32>) {
        self.last_object = self.last_object.max(h.object_id);
        let slot = match kind {
            Some(message_type::SESSION_CAPABILITY) => &mut self.capability,
            Some(message_type::APPLICATION_PRIVATE_DATA) => &mut self.private_data,
            _ => return,
        };
        if slot.is_none() && h.start && h.end && fragment.len() <= KEPT_MESSAGE {
            *slot = Some(fragment.to_vec());
        }
    }
}

#[derive(Default)]
struct State {
    outputs: HashMap<Uuid, Output>,
    /// Bytes held: whole fragments waiting for a Receive and the scanners' partial ones.
    buffered: usize,
    /// Of which in partial fragments.
    pending: usize,
    /// Messages open across the scanners.
    open: usize,
    broken: Option<String>,
    closing: bool,
    pool: PoolMessages,
    /// Where the client's fragments stand, per PSGuid and stream (true: PromptResponse).
    inputs: HashMap<(Uuid, bool), InputOrder>,
}

/// One PowerShell shell: its ids and output. Shared by the requests and the pump.
pub(super) struct Session {
    pub(super) shell_id: String,
    /// Who owns the pool (and its shell).
    pub(super) owner: wsman_principal::OwnerKey,
    /// The CommandId of the `pwsh -s` command inside the engine's shell.
    pub(super) host: String,
    state: Mutex<State>,
    changed: Notify,
    /// Bytes of output held before the pump stops reading the host (the host then blocks).
    limit: usize,
    /// How the stream data of Send and Receive is framed (the Create's CompressionType).
    pub(super) compression: super::Compression,
    /// The pool's MinRunspaces and MaxRunspaces, as its creation asked.
    pub(super) runspaces: (u32, u32),
    /// The Create's ResourceURI (the configuration's), which Enumerate reports.
    pub(super) resource_uri: String,
}

impl Session {
    pub(super) fn new(
        shell_id: String,
        owner: wsman_principal::OwnerKey,
        host: String,
        limit: usize,
        compression: super::Compression,
    ) -> Self {
        let mut state = State::default();
        state.outputs.insert(Uuid::nil(), Output::default());
        Self {
            shell_id,
            owner,
            host,
            state: Mutex::new(state),
            changed: Notify::new(),
            limit,
            compression,
            runspaces: (1, 1),
            resource_uri: String::new(),
        }
    }

    /// Where the client's fragments of `guid`'s stream stand.
    pub(super) fn input_order(&self, guid: Uuid, prompt: bool) -> InputOrder {
        self.lock()
            .inputs
            .get(&(guid, prompt))
            .copied()
            .unwrap_or_default()
    }

    /// Notes where they stand after data pwsh has taken.
    pub(super) fn set_input_order(&self, guid: Uuid, prompt: bool, order: InputOrder) {
        self.lock().inputs.insert((guid, prompt), order);
    }

    /// The pipelines known, and whether each has ended (the shell's command inventory).
    pub(super) fn pipelines(&self) -> Vec<(Uuid, bool)> {
        let state = self.lock();
        let mut out: Vec<(Uuid, bool)> = state
            .outputs
            .iter()
            .filter(|(id, _)| !id.is_nil())
            .map(|(id, output)| (*id, output.ended))
            .collect();
        out.sort();
        out
    }

    /// The fragments that answer a Connect: the pool's SESSION_CAPABILITY as pwsh sent it
    /// and RUNSPACEPOOL_INIT_DATA, numbered after the pool's output so far. `None` if pwsh
    /// never sent what the answer needs.
    pub(super) fn connect_reply(&self) -> Option<Vec<u8>> {
        let state = self.lock();
        let pool = &state.pool;
        pool.private_data.as_ref()?;
        let mut capability = pool.capability.clone()?;
        let rpid = Message::of_fragment(&capability)?.rpid;
        codec::renumber(&mut capability, pool.last_object + 1, 0);
        let init = message::init_data(pool.last_object + 2, rpid, self.runspaces);
        capability.extend(init);
        Some(capability)
    }

    /// After a Connect: the pool's APPLICATION_PRIVATE_DATA is the first output the new
    /// client receives, as Windows sends it after a Connect.
    pub(super) fn replay_private_data(&self) {
        let mut state = self.lock();
        let object = state.pool.last_object + 3;
        let Some(mut data) = state.pool.private_data.clone() else {
            return;
        };
        codec::renumber(&mut data, object, 0);
        state.pool.last_object = object;
        state.buffered += data.len();
        if let Some(pool) = state.outputs.get_mut(&Uuid::nil()) {
            pool.fragments.push_front(data);
        }
        drop(state);
        self.changed.notify_waiters();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a pipeline before its Command reaches the host, unless the id is in use or
    /// the shell has its [`MAX_PIPELINES`].
    pub(super) fn add_pipeline(&self, id: Uuid) -> Result<(), PipelineRefused> {
        let mut state = self.lock();
        if state.outputs.contains_key(&id) {
            return Err(PipelineRefused::InUse);
        }
        // The pool's own output is not a pipeline.
        if state.outputs.len() > MAX_PIPELINES {
            return Err(PipelineRefused::TooMany(MAX_PIPELINES));
        }
        state.outputs.insert(id, Output::default());
        Ok(())
    }

    /// Forgets a pipeline (Terminate); its held output is dropped. Whether it had ended.
    pub(super) fn remove_pipeline(&self, id: Uuid) -> Option<bool> {
        let mut state = self.lock();
        let output = state.outputs.remove(&id)?;
        state.inputs.retain(|(guid, _), _| *guid != id);
        let held: usize = output.fragments.iter().map(Vec::len).sum();
        let pending = output.scanner.pending();
        state.buffered -= held + pending;
        state.pending -= pending;
        state.open -= output.scanner.open();
        drop(state);
        self.changed.notify_waiters();
        Some(output.ended)
    }

    pub(super) fn has_pipeline(&self, id: Uuid) -> bool {
        self.lock().outputs.contains_key(&id)
    }

    pub(super) fn broken(&self) -> Option<String> {
        self.lock().broken.clone()
    }

    /// Marks the session closing (Delete): the host's end is no longer a failure.
    pub(super) fn close(&self) {
        self.lock().closing = true;
        self.changed.notify_waiters();
    }

    fn fail(&self, reason: String) {
        let mut state = self.lock();
        if state.broken.is_none() && !state.closing {
            tracing::warn!(shell_id = %self.shell_id, %reason, "PowerShell host failed");
        }
        state.broken.get_or_insert(reason);
        drop(state);
        self.changed.notify_waiters();
    }

    /// Takes whole fragments of `id`'s output, at most `capacity` bytes, waiting until
    /// `deadline` for some. Output held before a failure is delivered before the failure.
    pub(super) async fn take(&self, id: Uuid, capacity: usize, deadline: Instant) -> Taken {
        let deadline = tokio::time::Instant::from_std(deadline);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(taken) = self.try_take(id, capacity) {
                return taken;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Taken::TimedOut;
            }
        }
    }

    fn try_take(&self, id: Uuid, capacity: usize) -> Option<Taken> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let broken = state.broken.clone();
        let Some(output) = state.outputs.get_mut(&id) else {
            return Some(Taken::Unknown);
        };
        if output.delivered_end {
            return Some(Taken::AlreadyDone);
        }
        if output.fragments.is_empty() && !output.ended {
            return broken.map(Taken::Broken);
        }
        let mut data = Vec::new();
        while let Some(next) = output.fragments.front().map(Vec::len) {
            if data.len() + next > capacity {
                if data.is_empty() {
                    if !output.cut_front(capacity) {
                        return Some(Taken::TooLarge(next));
                    }
                    // The rest has a header of its own.
                    state.buffered += FRAGMENT_HEADER;
                }
                if !data.is_empty() {
                    break;
                }
                continue;
            }
            data.extend(output.fragments.pop_front().unwrap_or_default());
        }
        let ended = output.ended && output.fragments.is_empty();
        output.delivered_end = ended;
        state.buffered -= data.len();
        drop(guard);
        self.changed.notify_waiters();
        Some(Taken::Output { data, ended })
    }

    /// One line of the host: routes a Data packet's fragments; acks are dropped. The
    /// scanner's partial fragment counts in the output held.
    fn line(&self, line: &[u8]) -> Result<(), HostFailure> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let packet = Packet::parse(line).map_err(HostFailure::Protocol)?;
        let Packet::Data { guid, data, .. } = packet else {
            return Ok(());
        };
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(output) = state.outputs.get_mut(&guid) else {
            // A pipeline the client released: its last words are dropped.
            return Ok(());
        };
        let before = (output.scanner.pending(), output.scanner.open());
        let fed = output.scanner.feed(&data);
        let after = (output.scanner.pending(), output.scanner.open());
        state.buffered = state.buffered - before.0 + after.0;
        state.pending = state.pending - before.0 + after.0;
        state.open = state.open - before.1 + after.1;
        for fragment in fed.map_err(HostFailure::Fragments)? {
            output.ended |= fragment.ends_pipeline && !guid.is_nil();
            state.buffered += fragment.bytes.len();
            if guid.is_nil() {
                let kind = fragment.message_type;
                state.pool.note(fragment.header, &fragment.bytes, kind);
            }
            output.push(fragment.header, fragment.bytes);
        }
        if state.open > MAX_OPEN_PER_POOL {
            return Err(HostFailure::TooManyOpen);
        }
        // Partial fragments are never delivered: were they the bound, the pump would wait
        // for room no Receive can make.
        if state.pending >= self.limit {
            return Err(HostFailure::PendingTooLarge(self.limit));
        }
        drop(guard);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Waits while the output held is at its bound; false once the session is over.
    async fn room(&self) -> bool {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.lock();
                if state.broken.is_some() || state.closing {
                    return false;
                }
                if state.buffered < self.limit {
                    return true;
                }
            }
            notified.await;
        }
    }
}

/// Reads the host's stdout until it ends, cutting it into lines and routing their packets.
/// A host that exits, writes something else than the protocol or a line without end is
/// terminated and the session broken: Receives answer with a fault, Delete reaps the rest.
/// At the end the session leaves `sessions`.
pub(super) async fn pump(
    manager: ShellManager,
    session: Arc<Session>,
    sessions: Weak<Mutex<HashMap<String, Arc<Session>>>>,
) {
    let reason = read_host(&manager, &session).await;
    if let Some(reason) = reason {
        session.fail(reason.to_string());
        let _ = manager
            .signal(
                &session.owner,
                &session.shell_id,
                &session.host,
                ShellSignal::Terminate,
            )
            .await;
        // A broken session stays to answer its shell's requests with why, until the shell
        // goes (Delete, IdleTimeout, MaxShellRunTime, shutdown).
        while manager
            .shell_info(&session.owner, &session.shell_id)
            .is_ok()
        {
            tokio::time::sleep(BROKEN_POLL).await;
        }
    }
    if let Some(sessions) = sessions.upgrade() {
        let mut map = sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if map
            .get(&session.shell_id)
            .is_some_and(|s| Arc::ptr_eq(s, &session))
        {
            map.remove(&session.shell_id);
        }
    }
}

/// The host's output cut into lines, across reads, each byte looked at once.
#[derive(Default)]
pub(super) struct Lines {
    pending: Vec<u8>,
    /// Bytes of `pending` known to hold no newline.
    scanned: usize,
}

impl Lines {
    /// Feeds bytes; gives `each` every line they complete (without its newline).
    pub(super) fn feed(
        &mut self,
        data: &[u8],
        mut each: impl FnMut(&[u8]) -> Result<(), HostFailure>,
    ) -> Result<(), HostFailure> {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(at) = self.pending[self.scanned..]
            .iter()
            .position(|b| *b == b'\n')
        {
            let end = self.scanned + at;
            each(&self.pending[start..end])?;
            start = end + 1;
            self.scanned = start;
        }
        self.pending.drain(..start);
        self.scanned = self.pending.len();
        if self.pending.len() > MAX_LINE {
            return Err(HostFailure::LineTooLong);
        }
        Ok(())
    }
}

/// The pump's loop; `Some(why)` when the host failed. Each read is cut into lines and
/// parsed in the work pool's bulk lane: a script writing a flood of bytes to pwsh's stdout
/// takes its owner's bulk turns, not the runtime's time.
async fn read_host(manager: &ShellManager, session: &Arc<Session>) -> Option<HostFailure> {
    let mut lines = Lines::default();
    let mut request = ReceiveRequest::new(vec!["stdout".to_owned()], HOST_POLL);
    request.max_bytes = HOST_READ;
    loop {
        if !session.room().await {
            return None;
        }
        let outcome = manager
            .host_receive(&session.owner, &session.shell_id, &session.host, &request)
            .await;
        let output = match outcome {
            Ok(ReceiveOutcome::Output(output)) => output,
            Ok(_) => continue,
            // The shell was deleted or reaped.
            Err(error) => return Some(HostFailure::ShellEnded(error)),
        };
        // Cut and routed in the work pool's bulk lane: what pwsh writes costs what pwsh
        // chooses (a line of a million one-byte fragments), never an async worker's time.
        let chunks = output.chunks;
        let routing = Arc::clone(session);
        let deadline = std::time::Instant::now() + ROUTE_WAIT;
        let routed = super::bulk(&session.owner, deadline, move || {
            let failure = route(&routing, &mut lines, &chunks);
            (lines, failure)
        })
        .await;
        match routed {
            Ok((kept, None)) => lines = kept,
            Ok((_, Some(reason))) => return Some(reason),
            Err(fault) => return Some(HostFailure::NotRouted(fault.to_string())),
        }
        if let CommandState::Done { exit_code } = output.state {
            return Some(HostFailure::Exited(exit_code));
        }
    }
}

/// Cuts `chunks` of the host's output, after what `lines` holds of a line, into lines and
/// routes their packets; `Some(why)` when the host failed.
fn route(
    session: &Session,
    lines: &mut Lines,
    chunks: &[wsman_shell::OutputChunk],
) -> Option<HostFailure> {
    for chunk in chunks {
        if let Err(reason) = lines.feed(&chunk.decoded(), |line| session.line(line)) {
            return Some(reason);
        }
    }
    None
}
