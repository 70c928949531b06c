//! The stdin side of one command: a bounded queue of accepted Send chunks
//! and the task that drains it into the child's pipe.
//!
//! A Send is all-or-nothing from the client's point of view: its chunk is
//! either queued whole (the client is told it succeeded) or refused whole
//! before any byte of it reaches the pipe (the client gets `w:TimedOut` and
//! may retry without duplicating data). The queue holds at most `capacity`
//! bytes, counting the chunk the writer is writing, so a child that does
//! not read its stdin bounds the daemon's memory and makes later Sends wait
//! (backpressure). A chunk larger than the capacity is refused
//! ([`Queued::TooLarge`]), never queued: the queue never holds more than
//! its capacity. `End` is delivered (the pipe closed) after everything
//! queued before it was written.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio::time::{timeout_at, Instant};

use crate::lock;

/// Whether a Send was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Accepted whole; it will be written in order.
    Accepted,
    /// Not accepted (no byte of it written): the queue stayed full until
    /// the deadline.
    TimedOut,
    /// Input was already ended by the client.
    AlreadyEnded,
    /// Larger than the whole queue: it could never fit, so it is refused at once.
    TooLarge,
}

#[derive(Debug, Default)]
struct InputState {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes accepted and not yet written (the chunk being written too).
    queued: usize,
    /// The client sent End.
    ended: bool,
    /// The child closed its stdin (or never had one): input is discarded.
    closed: bool,
    /// The most bytes ever queued at once.
    peak: usize,
}

/// The input queue of one command.
#[derive(Debug)]
pub(crate) struct Input {
    state: Mutex<InputState>,
    /// Wakes the writer: a chunk or End arrived.
    arrived: Notify,
    /// Wakes senders: bytes were written (or discarded).
    space: Notify,
    capacity: usize,
}

impl Input {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(InputState::default()),
            arrived: Notify::new(),
            space: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// An input whose pipe is missing: everything sent is discarded.
    pub(crate) fn closed(capacity: usize) -> Self {
        let input = Self::new(capacity);
        lock(&input.state).closed = true;
        input
    }

    /// The most bytes the queue holds.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The most bytes ever waiting in the queue.
    pub(crate) fn peak_queued(&self) -> usize {
        lock(&self.state).peak
    }

    /// Queues `data` (and End when `end`) whole, waiting for room until
    /// `deadline`. Cancel-safe: dropped before it returns, nothing is queued.
    pub(crate) async fn send(&self, data: &[u8], end: bool, deadline: Instant) -> Queued {
        if data.len() > self.capacity {
            return Queued::TooLarge;
        }
        loop {
            let room = self.space.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut state = lock(&self.state);
                if state.ended {
                    return Queued::AlreadyEnded;
                }
                let fits = data.is_empty()
                    || state.closed
                    || state.queued.saturating_add(data.len()) <= self.capacity;
                if fits {
                    if !data.is_empty() && !state.closed {
                        state.chunks.push_back(data.to_vec());
                        state.queued += data.len();
                        state.peak = state.peak.max(state.queued);
                    }
                    state.ended |= end;
                    drop(state);
                    self.arrived.notify_one();
                    return Queued::Accepted;
                }
            }
            if timeout_at(deadline, room).await.is_err() {
                return Queued::TimedOut;
            }
        }
    }

    /// The command's terminal is gone (its process exited): the writer lets go of its
    /// descriptor, and queued and future input is discarded.
    pub(crate) fn hang_up(&self) {
        lock(&self.state).ended = true;
        self.close();
        self.arrived.notify_one();
    }

    /// Marks the pipe gone: queued and future input is discarded.
    fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.chunks.clear();
        state.queued = 0;
        drop(state);
        self.space.notify_waiters();
    }
}

/// Drains `input` into the child's stdin in order; after End, once everything before it is
/// written, writes `end_of_input` (a terminal's EOF character; nothing for a pipe) and closes
/// its descriptor. A pipe the child closed (EPIPE) ends the task and discards further input.
pub(crate) async fn write_input<W>(
    input: std::sync::Arc<Input>,
    mut pipe: W,
    end_of_input: &'static [u8],
) where
    W: tokio::io::AsyncWrite + Unpin,
{
    loop {
        let arrived = input.arrived.notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let next = {
            let mut state = lock(&input.state);
            match state.chunks.pop_front() {
                Some(chunk) => Some(chunk),
                None if state.ended => break,
                None => None,
            }
        };
        let Some(chunk) = next else {
            arrived.await;
            continue;
        };
        // The chunk still counts against the capacity while it is written.
        if let Err(error) = pipe.write_all(&chunk).await {
            tracing::debug!(%error, "the command's stdin is closed; input discarded");
            input.close();
            return;
        }
        let mut state = lock(&input.state);
        state.queued = state.queued.saturating_sub(chunk.len());
        drop(state);
        input.space.notify_waiters();
    }
    let hung_up = lock(&input.state).closed;
    if !end_of_input.is_empty() && !hung_up {
        let _ = pipe.write_all(end_of_input).await;
    }
    // Dropping the pipe closes it: the child reads EOF.
    drop(pipe);
}
