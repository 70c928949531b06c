//! Bounded output buffers of one command, and the tasks that fill them.
//!
//! Each output stream has a buffer of at most `capacity` bytes, counting
//! both bytes waiting to be received and bytes delivered in a Receive
//! response that the client has not yet acknowledged (SequenceId). A pump
//! task reads a pipe only while its buffer has room, and never more than the
//! room left, so a client that stops receiving stops the child (it blocks on
//! a full pipe) and the daemon's memory does not grow.

use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use wsman_buffers::BufferPool;

use crate::base64_queue::Base64Queue;
use crate::lock;
use crate::pipe::QuietPipe;
use crate::types::OutputChunk;
use crate::user_output::UserOutput;

/// First read size from a pipe: enough for what most commands print at once.
const READ_CHUNK: usize = 64 * 1024;
/// Largest single read from a pipe, reached when reads keep coming back full (a command
/// printing flat out): fewer, larger reads and wake-ups per byte.
const MAX_READ_CHUNK: usize = 256 * 1024;
/// The kernel pipe buffer a flowing stdout or stderr is grown to (from 64 KiB), so the
/// command keeps writing while a Receive response is being built and sent.
const FLOWING_PIPE_BYTES: usize = 1024 * 1024;
/// Free text buffers kept per command for the output still to come: one being filled, one
/// or two in a response on the wire or kept for its replay (see [`crate::base64_queue`]).
const POOLED_BUFFERS: usize = 4;
/// Text buffers smaller than this are not pooled.
const POOLED_MIN: usize = 64 * 1024;
/// Reads of one pipe at most this far apart continue one flow of output (see
/// [`Output::push`]): far below [`crate::command`]'s fill wait, far above the time a command
/// printing flat out takes to write the next block.
const FLOW_GAP: Duration = Duration::from_millis(1);

/// The pool of one command's text buffers (see [`wsman_buffers`]): a flowing stream fills
/// one of a few hundred KiB after another, and fresh memory of that size would be mapped and
/// page-faulted in again for every one. Buffers lent out for a command that is gone are freed.
fn text_pool() -> Arc<BufferPool> {
    Arc::new(BufferPool::new(POOLED_BUFFERS, POOLED_MIN, usize::MAX))
}

/// What a stream may always buffer, whatever its user's other commands hold (see
/// [`crate::user_output`]): a client that receives one command after another always
/// progresses, and a user's output is bounded by the user's budget plus this per stream.
pub(crate) const GUARANTEED_BYTES: usize = 64 * 1024;

/// The two pipes a command has, in this order.
pub(crate) const STREAM_NAMES: [&str; 2] = ["stdout", "stderr"];

#[derive(Debug)]
pub(crate) struct StreamBuffer {
    /// The shell declared this stream; undeclared streams are read and
    /// discarded so they cannot block the child.
    declared: bool,
    /// Received from the pipe, not yet taken, as base64 text.
    pending: Base64Queue,
    /// Delivered, awaiting acknowledgement; still counts against capacity.
    held: usize,
    eof: bool,
    /// The last read from the pipe filled the read buffer: more is very likely waiting in
    /// the pipe right now (the command prints faster than it is read).
    flowing: bool,
    /// When the last read from the pipe returned data.
    last_read: Option<Instant>,
    /// The last read came within [`FLOW_GAP`] of the read before it.
    back_to_back: bool,
    end_reported: bool,
    peak: usize,
    produced: u64,
}

impl StreamBuffer {
    fn used(&self) -> usize {
        self.pending.len() + self.held
    }
}

#[derive(Debug)]
pub(crate) struct OutputState {
    streams: Vec<StreamBuffer>,
    exit_code: Option<i32>,
    /// Bytes of the streams counted in the user's budget (their `used` when last settled).
    charged: usize,
}

/// What [`Output::take`] found.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) chunks: Vec<OutputChunk>,
    /// Bytes taken per stream index (to release on acknowledgement).
    pub(crate) held: Vec<(usize, usize)>,
    /// Set when this response is the final one.
    pub(crate) done: Option<i32>,
}

impl Taken {
    pub(crate) fn is_ready(&self) -> bool {
        !self.chunks.is_empty() || self.done.is_some()
    }
}

/// The output side of one command.
#[derive(Debug)]
pub(crate) struct Output {
    state: Mutex<OutputState>,
    /// Wakes receivers: data arrived, a stream ended, the process exited.
    pub(crate) changed: Notify,
    /// Wakes pumps: buffer space was freed.
    space: Notify,
    capacity: usize,
    exited: watch::Sender<bool>,
    pool: Arc<BufferPool>,
    /// The budget shared by the output of all the user's commands, when there is one.
    user: Option<Arc<UserOutput>>,
}

impl Output {
    pub(crate) fn new(declared: [bool; 2], capacity: usize) -> Self {
        let streams = declared
            .iter()
            .map(|&declared| StreamBuffer {
                declared,
                pending: Base64Queue::default(),
                held: 0,
                eof: false,
                flowing: false,
                last_read: None,
                back_to_back: false,
                end_reported: false,
                peak: 0,
                produced: 0,
            })
            .collect();
        Self {
            state: Mutex::new(OutputState {
                streams,
                exit_code: None,
                charged: 0,
            }),
            changed: Notify::new(),
            space: Notify::new(),
            capacity: capacity.max(1),
            exited: watch::channel(false).0,
            pool: text_pool(),
            user: None,
        }
    }

    /// Count this command's buffered output in `user`'s budget too.
    pub(crate) fn with_user_budget(mut self, user: Arc<UserOutput>) -> Self {
        self.user = Some(user);
        self
    }

    /// Bring the user's budget up to date with what the streams hold now.
    fn settle(&self, state: &mut OutputState) {
        let Some(user) = &self.user else {
            return;
        };
        let used = state.streams.iter().map(StreamBuffer::used).sum();
        if used != state.charged {
            user.moved(state.charged, used);
            state.charged = used;
        }
    }

    /// Records the exit code of the command's main process.
    pub(crate) fn set_exit(&self, exit_code: i32) {
        lock(&self.state).exit_code = Some(exit_code);
        self.exited.send_replace(true);
        self.changed.notify_waiters();
    }

    pub(crate) fn exit_code(&self) -> Option<i32> {
        lock(&self.state).exit_code
    }

    /// Waits until the main process has exited.
    pub(crate) async fn wait_exit(&self) {
        let mut exited = self.exited.subscribe();
        let _ = exited.wait_for(|exited| *exited).await;
    }

    /// Ends every stream (after a kill, the pumps are aborted).
    pub(crate) fn end_all(&self) {
        let mut state = lock(&self.state);
        for stream in &mut state.streams {
            stream.eof = true;
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// Whether the process exited and every pipe reached its end.
    pub(crate) fn is_finished(&self) -> bool {
        let state = lock(&self.state);
        state.exit_code.is_some() && state.streams.iter().all(|stream| stream.eof)
    }

    pub(crate) fn bytes_out(&self) -> u64 {
        lock(&self.state)
            .streams
            .iter()
            .map(|stream| stream.produced)
            .sum()
    }

    pub(crate) fn peak_buffered(&self) -> usize {
        lock(&self.state)
            .streams
            .iter()
            .map(|stream| stream.peak)
            .max()
            .unwrap_or(0)
    }

    /// Bytes the pump of stream `index` may read now: the room left in the stream and in the
    /// user's budget (0: none; `None`: no such stream).
    fn room(&self, index: usize) -> Option<usize> {
        let state = lock(&self.state);
        let stream = state.streams.get(index)?;
        if !stream.declared {
            return Some(MAX_READ_CHUNK);
        }
        let user_room = self.user.as_ref().map_or(usize::MAX, |user| user.room());
        // Up to its guarantee a stream needs no share of the user's budget: reading
        // one command never waits for another command's output to be received.
        let allowed = user_room.max(GUARANTEED_BYTES.saturating_sub(stream.used()));
        Some(self.capacity.saturating_sub(stream.used()).min(allowed))
    }

    /// Bytes the pump of stream `index` may read: the room left in the stream and in the
    /// user's budget, waiting until both have some.
    async fn wait_for_room(&self, index: usize) -> usize {
        let user_space = Notify::new();
        let user_space = self.user.as_ref().map_or(&user_space, |user| &user.space);
        loop {
            let notified = self.space.notified();
            let user_freed = user_space.notified();
            tokio::pin!(notified, user_freed);
            notified.as_mut().enable();
            user_freed.as_mut().enable();
            match self.room(index) {
                None => return 0,
                Some(0) => {}
                Some(room) => return room,
            }
            tokio::select! {
                _ = notified => {}
                _ = user_freed => {}
            }
        }
    }

    /// Appends what one read returned at `at`; `full`: the read filled its buffer.
    fn push(&self, index: usize, data: &[u8], full: bool, at: Instant) {
        let mut state = lock(&self.state);
        let Some(stream) = state.streams.get_mut(index) else {
            return;
        };
        stream.flowing = full;
        stream.back_to_back = stream
            .last_read
            .is_some_and(|last| at.saturating_duration_since(last) <= FLOW_GAP);
        stream.last_read = Some(at);
        stream.produced += data.len() as u64;
        if !stream.declared {
            return;
        }
        stream.pending.push(data, &self.pool);
        stream.peak = stream.peak.max(stream.used());
        self.settle(&mut state);
        drop(state);
        self.changed.notify_waiters();
    }

    pub(crate) fn finish_stream(&self, index: usize) {
        if let Some(stream) = lock(&self.state).streams.get_mut(index) {
            stream.eof = true;
            stream.flowing = false;
            stream.back_to_back = false;
        }
        self.changed.notify_waiters();
    }

    /// Whether a Receive that could answer `now` with some output should rather wait a moment
    /// for more: a requested stream is flowing, less than `max_bytes` is buffered, and the
    /// buffer has room to take more. Answering at once would send many small responses (each
    /// a round trip, and an envelope) while a command prints flat out; a command that pauses
    /// for more than [`FLOW_GAP`] is answered at once as before.
    ///
    /// Flowing: the last read filled its buffer (the pipe holds more), or it came within
    /// [`FLOW_GAP`] of the read before and `now` is within [`FLOW_GAP`] of it (more is on its
    /// way). The second is what a pump with a worker thread to itself sees (two async
    /// workers, or more on larger hosts): it reads as soon as anything is in the pipe, so its
    /// reads rarely fill however fast the command prints, and with the first alone every
    /// Receive was answered with the little one read brought (measured: 137 KiB an answer
    /// against 370, 2.7 times the answers, 1.7 times the daemon's CPU per GiB).
    pub(crate) fn worth_waiting(
        &self,
        requested: &[usize],
        max_bytes: usize,
        now: Instant,
    ) -> bool {
        let state = lock(&self.state);
        if state.exit_code.is_some() {
            return false;
        }
        let mut pending = 0usize;
        let mut flowing = false;
        for &index in requested {
            let Some(stream) = state.streams.get(index) else {
                continue;
            };
            pending += stream.pending.len();
            if stream.used() >= self.capacity || stream.eof {
                return false;
            }
            let flow_goes_on = stream.back_to_back
                && stream
                    .last_read
                    .is_some_and(|last| now.saturating_duration_since(last) <= FLOW_GAP);
            flowing |= stream.flowing || flow_goes_on;
        }
        flowing && pending < max_bytes
    }

    /// Takes up to `max_bytes` from the requested streams (indices into
    /// [`STREAM_NAMES`]). `hold`: the bytes keep counting against capacity
    /// until [`Output::release`].
    ///
    /// Shaped as Windows shapes a Receive (every recorded answer, e.g. `receive.done*` in the
    /// fixtures): a stream's data in elements of its own, never on an `End` element, and the
    /// `End` of every requested stream, empty, in the response that carries the command's
    /// `Done`, after all the data. Clients that skip `End` elements (npm's `winrm-client`)
    /// lost output put on one; clients that stop at the first `End` lost the rest of the
    /// other stream when one ended early.
    pub(crate) fn take(&self, requested: &[usize], max_bytes: usize, hold: bool) -> Taken {
        let mut state = lock(&self.state);
        let mut taken = Taken::default();
        let mut budget = max_bytes;
        for &index in requested {
            let Some(stream) = state.streams.get_mut(index) else {
                continue;
            };
            let text = stream.pending.take(budget, &self.pool);
            let count = text.len;
            budget -= count;
            if count == 0 {
                continue;
            }
            if hold {
                stream.held += count;
                taken.held.push((index, count));
            }
            taken.chunks.push(OutputChunk {
                stream: STREAM_NAMES[index].to_owned(),
                base64: text.pieces,
                len: count,
                end: false,
            });
        }
        let all_ended = state.streams.iter().all(|stream| stream.eof);
        let requested_drained = requested.iter().all(|&index| {
            state
                .streams
                .get(index)
                .is_none_or(|s| s.pending.is_empty())
        });
        if let (Some(exit_code), true, true) = (state.exit_code, all_ended, requested_drained) {
            taken.done = Some(exit_code);
            for (index, stream) in state.streams.iter_mut().enumerate() {
                if requested.contains(&index) && !stream.end_reported {
                    stream.end_reported = true;
                    taken.chunks.push(OutputChunk {
                        stream: STREAM_NAMES[index].to_owned(),
                        base64: Vec::new(),
                        len: 0,
                        end: true,
                    });
                }
                // Output of streams the client never asked for is dropped.
                stream.pending = Base64Queue::default();
            }
        }
        self.settle(&mut state);
        drop(state);
        if !hold && max_bytes != budget {
            self.space.notify_waiters();
        }
        taken
    }

    /// The client acknowledged a held response: free its bytes.
    pub(crate) fn release(&self, held: &[(usize, usize)]) {
        let mut state = lock(&self.state);
        for &(index, count) in held {
            if let Some(stream) = state.streams.get_mut(index) {
                stream.held = stream.held.saturating_sub(count);
            }
        }
        self.settle(&mut state);
        drop(state);
        self.space.notify_waiters();
    }
}

impl Drop for Output {
    /// The command is gone: its output no longer counts against its user.
    fn drop(&mut self) {
        if let Some(user) = &self.user {
            let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
            user.moved(state.charged, 0);
        }
    }
}

/// What a pump reads: a command's pipe, or its terminal's master.
pub(crate) trait Source: AsyncRead + AsFd + Unpin {
    /// The pump waits for room in the buffer, not for the command: stop being woken by its
    /// writes, where the source can (see [`crate::pipe`]).
    fn rest(&mut self) {}
}

impl Source for QuietPipe {
    fn rest(&mut self) {
        self.unwatch();
    }
}

/// A terminal's master keeps its registration (its reads are a person's session, not a
/// stream to be moved fast).
impl Source for crate::terminal::MasterIo {}

/// After the main process exits, at most this much more is read from a pipe once the
/// drain grace has passed: it covers whatever the process left in the pipe (64 KiB by
/// default), while a background child that writes without pause cannot hold Done back.
const FINAL_DRAIN_BYTES: usize = 1024 * 1024;

/// Copies one pipe into buffer `index` while there is room.
///
/// After the main process exits, a background child may keep the pipe open. The pipe is
/// treated as ended `grace` after the exit: until then reads wait; after it, only what is
/// already in the pipe is taken (bounded by [`FINAL_DRAIN_BYTES`]), so nothing the main
/// process wrote is lost even when a slow client kept the buffer full past the deadline.
pub(crate) async fn pump<R>(output: Arc<Output>, index: usize, mut pipe: R, grace: Duration)
where
    R: Source,
{
    let mut exited = output.exited.subscribe();
    let mut buffer = vec![0u8; READ_CHUNK.min(output.capacity)];
    let mut flowing = false;
    let mut deadline: Option<Instant> = None;
    let mut final_drain_left = FINAL_DRAIN_BYTES;
    loop {
        let room = match output.room(index).unwrap_or(0) {
            0 => {
                // The buffer is full: what the command writes meanwhile waits in the pipe.
                pipe.rest();
                output.wait_for_room(index).await
            }
            room => room,
        };
        let want = room.min(buffer.len()).max(1);
        if deadline.is_none() && *exited.borrow_and_update() {
            deadline = Some(Instant::now() + grace);
        }
        let read = pipe.read(&mut buffer[..want]);
        let (result, past_deadline) = match deadline {
            Some(d) if Instant::now() < d => match tokio::time::timeout_at(d, read).await {
                Ok(result) => (result, false),
                Err(_) => break,
            },
            Some(_) => {
                if final_drain_left == 0 {
                    break;
                }
                // A zero timeout still polls the read once: data already in the pipe is taken.
                match tokio::time::timeout(Duration::ZERO, read).await {
                    Ok(result) => (result, true),
                    Err(_) => break,
                }
            }
            None => tokio::select! {
                result = read => (result, false),
                // Cancel-safe: a read that did not complete took no data.
                _ = exited.changed() => continue,
            },
        };
        match result {
            Ok(0) | Err(_) => break,
            Ok(count) => {
                if past_deadline {
                    final_drain_left = final_drain_left.saturating_sub(count);
                }
                // Everything asked for came back, even when the room left in the buffer
                // asked for less than a whole block: the pipe may hold more.
                output.push(index, &buffer[..count], count == want, Instant::now());
                // A read that filled the buffer: the command prints faster than it is read.
                // Read in larger blocks from a larger pipe from now on (once).
                if count == buffer.len() && !flowing {
                    flowing = true;
                    let _ = wsman_os::process::grow_pipe(pipe.as_fd(), FLOWING_PIPE_BYTES);
                    buffer.resize(MAX_READ_CHUNK.min(output.capacity).max(buffer.len()), 0);
                }
            }
        }
    }
    output.finish_stream(index);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_stream_keeps_no_text_buffer() {
        let output = Output::new([true, false], 1000);
        for _ in 0..10 {
            output.push(0, &[7; 99], false, Instant::now());
        }
        assert_eq!(lock(&output.state).streams[0].pending.len(), 990);
        let taken = output.take(&[0], 2000, false);
        assert_eq!(taken.chunks[0].len, 990);
        assert_eq!(taken.chunks[0].decoded(), vec![7; 990]);
        assert!(lock(&output.state).streams[0].pending.is_empty());
    }

    /// A pump on a worker of its own empties the pipe at every read, so no read fills its
    /// buffer: reads close together still make the stream flowing (a Receive waits a moment
    /// to fill its response) until the flow pauses, and a read after a pause does not.
    #[test]
    fn reads_close_together_flow_though_none_filled_its_buffer() {
        const BIG: usize = 1 << 19;
        let output = Output::new([true, false], 1 << 20);
        let start = Instant::now();
        let at = |gaps: f64| start + FLOW_GAP.mul_f64(gaps);
        output.push(0, &[1; 1000], false, at(0.0));
        assert!(
            !output.worth_waiting(&[0], BIG, at(0.1)),
            "one read is no flow"
        );
        output.push(0, &[2; 1000], false, at(0.25));
        assert!(
            output.worth_waiting(&[0], BIG, at(0.5)),
            "reads back to back"
        );
        assert!(
            !output.worth_waiting(&[0], 2000, at(0.5)),
            "the answer is full"
        );
        assert!(!output.worth_waiting(&[0], BIG, at(2.0)), "the flow paused");
        output.push(0, &[3; 1000], false, at(3.0));
        assert!(
            !output.worth_waiting(&[0], BIG, at(3.1)),
            "a read after a pause"
        );
        output.push(0, &[4; 1000], true, at(10.0));
        assert!(output.worth_waiting(&[0], BIG, at(20.0)), "a full read");
    }

    /// Whether the pump of `output`'s stream `index` would wait for room now.
    async fn would_wait(output: &Output, index: usize) -> bool {
        tokio::select! {
            biased;
            _ = output.wait_for_room(index) => false,
            _ = std::future::ready(()) => true,
        }
    }

    /// Two commands of one user share its budget: past it, a command with room of its own
    /// waits once it holds its guarantee, until the other's output is received; held output
    /// counts until acknowledged, and a command that is gone gives its bytes back.
    #[tokio::test]
    async fn a_users_commands_share_one_output_budget() {
        const G: usize = GUARANTEED_BYTES;
        let user = Arc::new(UserOutput::new(2 * G));
        let first = Output::new([true, false], 4 * G).with_user_budget(Arc::clone(&user));
        let second = Output::new([true, false], 4 * G).with_user_budget(Arc::clone(&user));
        first.push(0, &vec![1; 2 * G], false, Instant::now());
        assert_eq!(user.used(), 2 * G);
        assert!(would_wait(&first, 0).await, "the user's budget is spent");
        // The user's budget is spent, but the second command still gets its guarantee.
        assert_eq!(second.wait_for_room(0).await, G);
        second.push(0, &vec![2; G], false, Instant::now());
        assert!(would_wait(&second, 0).await);
        // Waiting when the first command's output is received: it may read again.
        let (room, _) = tokio::join!(second.wait_for_room(0), async {
            first.take(&[0], 4 * G, false)
        });
        assert_eq!(room, G);

        first.push(0, &[3; 60], false, Instant::now());
        let taken = first.take(&[0], 4 * G, true);
        assert_eq!(user.used(), G + 60, "held until acknowledged");
        first.release(&taken.held);
        assert_eq!(user.used(), G);
        drop(second);
        assert_eq!(user.used(), 0);
    }

    /// Whether an epoll instance of this process watches descriptor `fd` of inode `inode`
    /// (`/proc/self/fdinfo` of every eventpoll descriptor lists what it watches).
    fn in_a_reactor(fd: i32, inode: u64) -> bool {
        let entries = std::fs::read_dir("/proc/self/fd").unwrap();
        entries.flatten().any(|entry| {
            let is_epoll = std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy() == "anon_inode:[eventpoll]");
            let info = std::fs::read_to_string(
                std::path::Path::new("/proc/self/fdinfo").join(entry.file_name()),
            );
            is_epoll
                && info.is_ok_and(|info| {
                    info.lines().any(|line| {
                        let words: Vec<&str> = line.split_whitespace().collect();
                        words.first() == Some(&"tfd:")
                            && words.get(1) == Some(&fd.to_string().as_str())
                            && words.contains(&format!("ino:{inode:x}").as_str())
                    })
                })
        })
    }

    /// Waits until `ready` holds of `output` (checked after every change of its output).
    async fn until(output: &Output, ready: impl Fn(&OutputState) -> bool) {
        loop {
            let changed = output.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if ready(&lock(&output.state)) {
                return;
            }
            changed.await;
        }
    }

    /// While the pipe is empty the pump waits for the command, its pipe in the reactor; while
    /// the buffer is full the pump waits for room, not for the command, and the pipe is out of
    /// the reactor (the command's writes wake no worker); once the buffer has room and the
    /// pipe is empty again, the pump waits for the command again and misses nothing it writes.
    /// The output arrives whole and in order through every change.
    #[tokio::test]
    async fn a_pipe_is_out_of_the_reactor_while_its_buffer_is_full() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        const CAPACITY: usize = 1000;
        let (reader, mut writer) = std::io::pipe().unwrap();
        let pipe = QuietPipe::new(reader.into()).unwrap();
        let fd = pipe.as_fd().as_raw_fd();
        let inode = std::fs::File::from(pipe.as_fd().try_clone_to_owned().unwrap())
            .metadata()
            .unwrap()
            .ino();
        let output = Arc::new(Output::new([true, false], CAPACITY));
        let data: Vec<u8> = (0..3 * CAPACITY + 500).map(|i| (i % 251) as u8).collect();
        let pumping = tokio::spawn(pump(output.clone(), 0, pipe, Duration::from_secs(5)));
        let run = async {
            // Nothing written yet: the pump waits for the command, in the reactor.
            while !in_a_reactor(fd, inode) {
                tokio::task::yield_now().await;
            }
            writer.write_all(&data).unwrap();
            let mut received = Vec::new();
            for _ in 0..3 {
                until(&output, |state| state.streams[0].used() == CAPACITY).await;
                assert!(
                    !in_a_reactor(fd, inode),
                    "the buffer is full: the pipe rests"
                );
                received.extend(output.take(&[0], 1 << 20, false).chunks[0].decoded());
            }
            until(&output, |state| state.streams[0].used() == 500).await;
            received.extend(output.take(&[0], 1 << 20, false).chunks[0].decoded());
            assert_eq!(received, data);
            // The pipe is empty: the pump waits for the command, in the reactor.
            while !in_a_reactor(fd, inode) {
                tokio::task::yield_now().await;
            }
            writer.write_all(b"more").unwrap();
            until(&output, |state| state.streams[0].used() == 4).await;
            assert_eq!(output.take(&[0], 100, false).chunks[0].decoded(), b"more");
            drop(writer);
            pumping.await.unwrap();
            assert!(lock(&output.state).streams[0].eof);
        };
        tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("the pump read everything");
    }

    #[test]
    fn take_respects_the_byte_budget_and_holds_what_it_took() {
        let output = Output::new([true, true], 1024);
        output.push(0, b"0123456789", false, Instant::now());
        output.push(1, b"errors", false, Instant::now());
        let taken = output.take(&[0, 1], 13, true);
        let data: Vec<(&str, Vec<u8>)> = taken
            .chunks
            .iter()
            .map(|c| (c.stream.as_str(), c.decoded()))
            .collect();
        // Less than a whole stream is taken in whole 3-byte groups: "err", not "er".
        assert_eq!(
            data,
            [
                ("stdout", b"0123456789".to_vec()),
                ("stderr", b"err".to_vec())
            ]
        );
        assert_eq!(taken.held, [(0, 10), (1, 3)]);
        let rest = output.take(&[1], 100, false);
        assert_eq!(rest.chunks[0].decoded(), b"ors");
    }
}
