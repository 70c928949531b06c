//! Output waiting to be received, kept as the base64 text a Receive response carries.
//!
//! Why base64 here rather than in the response: every byte a command prints leaves in a
//! `rsp:Stream` element as base64, so encoding as the bytes arrive from the pipe is the one
//! copy the engine makes of them. It happens in the pump task, while earlier responses are
//! on the wire, instead of on the path between a Receive request and its answer; a response
//! then takes the text it needs as shared [`Bytes`] slices, without copying, and the same
//! slices serve a SequenceId replay.
//!
//! Invariant: every piece of text holds whole 3-byte groups (a multiple of 4 characters, no
//! padding). The last 0–2 bytes of a stream wait in `carry` until more arrive or everything
//! is taken, when they are encoded with padding. So the pieces of one response, written one
//! after another, are always one valid base64 string.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use wsman_buffers::BufferPool;

/// Text capacity of a buffer that output is encoded into while a command prints flat out
/// (one 256 KiB pipe read is 342 KiB of text): large buffers, few of them, pooled.
const SEGMENT_TEXT: usize = 512 * 1024;
/// Smallest text buffer: a command printing a line now and then does not hold large ones.
const SMALL_TEXT: usize = 4 * 1024;
/// Text of one write from which a pooled segment buffer is taken rather than a small one.
const SEGMENT_FROM: usize = 16 * 1024;

/// Base64 length of `len` bytes that are whole groups.
const fn text_len(len: usize) -> usize {
    len / 3 * 4
}

/// One stream's queued output as base64 text (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Base64Queue {
    /// Text ready to be taken, oldest first.
    ready: VecDeque<Bytes>,
    /// Text still being appended to (after `ready`).
    tail: Vec<u8>,
    /// The last bytes, fewer than a group, not yet encoded.
    carry: [u8; 2],
    carry_len: usize,
    /// Bytes queued: in `ready`, `tail` and `carry`.
    len: usize,
}

/// What [`Base64Queue::take`] returns: text pieces to write in order, and how many bytes
/// they encode.
#[derive(Debug, Default)]
pub(crate) struct TakenText {
    pub(crate) pieces: Vec<Bytes>,
    pub(crate) len: usize,
}

impl Base64Queue {
    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `data`, encoding every whole group; `pool` provides the large text buffers.
    pub(crate) fn push(&mut self, mut data: &[u8], pool: &Arc<BufferPool>) {
        self.len += data.len();
        if self.carry_len > 0 {
            let wanted = 3 - self.carry_len;
            if data.len() < wanted {
                self.carry[self.carry_len..self.carry_len + data.len()].copy_from_slice(data);
                self.carry_len += data.len();
                return;
            }
            let mut group = [0u8; 3];
            group[..self.carry_len].copy_from_slice(&self.carry[..self.carry_len]);
            group[self.carry_len..].copy_from_slice(&data[..wanted]);
            data = &data[wanted..];
            self.carry_len = 0;
            self.encode_whole(&group, pool);
        }
        let whole = data.len() / 3 * 3;
        if whole > 0 {
            self.encode_whole(&data[..whole], pool);
        }
        let rest = &data[whole..];
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carry_len = rest.len();
    }

    /// Encodes `data` (whole groups) at the end of the tail, starting a new tail first when
    /// the current one has no room (so text is never moved to grow a buffer).
    fn encode_whole(&mut self, data: &[u8], pool: &Arc<BufferPool>) {
        let needed = text_len(data.len());
        if self.tail.capacity() - self.tail.len() < needed {
            self.seal_tail(pool);
            self.tail = if needed >= SEGMENT_FROM {
                pool.take(needed.max(SEGMENT_TEXT))
            } else {
                Vec::with_capacity(needed.max(SMALL_TEXT))
            };
        }
        base64_simd::STANDARD.encode_append(data, &mut self.tail);
    }

    /// Moves the tail's text to `ready`.
    fn seal_tail(&mut self, pool: &Arc<BufferPool>) {
        if !self.tail.is_empty() {
            let text = pool.lend(std::mem::take(&mut self.tail));
            self.ready.push_back(text);
        }
    }

    /// Takes up to `budget` bytes, oldest first. Taking everything leaves no text buffer
    /// behind (the tail goes out with the rest). Less than everything is taken in whole
    /// groups (so at most 2 bytes under the budget); everything, when it fits, with the
    /// final partial group padded.
    pub(crate) fn take(&mut self, budget: usize, pool: &Arc<BufferPool>) -> TakenText {
        let mut taken = TakenText::default();
        if budget >= self.len {
            self.seal_tail(pool);
            taken.pieces.extend(self.ready.drain(..));
            if self.carry_len > 0 {
                let mut last = String::with_capacity(4);
                base64_simd::STANDARD.encode_append(&self.carry[..self.carry_len], &mut last);
                taken.pieces.push(Bytes::from(last));
                self.carry_len = 0;
            }
            taken.len = std::mem::take(&mut self.len);
            return taken;
        }
        let groups = budget / 3;
        if groups == 0 {
            return taken;
        }
        let mut text_left = groups * 4;
        if self.ready.iter().map(Bytes::len).sum::<usize>() < text_left {
            self.seal_tail(pool);
        }
        while text_left > 0 {
            let Some(mut piece) = self.ready.pop_front() else {
                break;
            };
            if piece.len() > text_left {
                // Pieces are whole groups and `text_left` is too: the rest stays whole.
                self.ready.push_front(piece.split_off(text_left));
            }
            text_left -= piece.len();
            taken.pieces.push(piece);
        }
        taken.len = groups * 3;
        self.len -= taken.len;
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Arc<BufferPool> {
        Arc::new(BufferPool::new(4, 64 * 1024, usize::MAX))
    }

    fn text(taken: &TakenText) -> String {
        taken
            .pieces
            .iter()
            .map(|p| std::str::from_utf8(p).unwrap())
            .collect()
    }

    fn decode(taken: &TakenText) -> Vec<u8> {
        base64_simd::STANDARD
            .decode_to_vec(text(taken).as_bytes())
            .unwrap()
    }

    #[test]
    fn pushes_of_any_length_concatenate_into_one_valid_string() {
        let pool = pool();
        let mut queue = Base64Queue::default();
        let mut sent = Vec::new();
        for (i, size) in [1usize, 1, 1, 2, 5, 0, 7, 3, 4].into_iter().enumerate() {
            let data: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            queue.push(&data, &pool);
            sent.extend_from_slice(&data);
        }
        assert_eq!(queue.len(), sent.len());
        let taken = queue.take(usize::MAX, &pool);
        assert_eq!(taken.len, sent.len());
        assert_eq!(text(&taken), base64_simd::STANDARD.encode_to_string(&sent));
        assert!(queue.is_empty());
        assert_eq!(queue.take(100, &pool).len, 0);
    }

    #[test]
    fn a_partial_take_is_whole_groups_and_the_rest_follows_exactly() {
        let pool = pool();
        let mut queue = Base64Queue::default();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for piece in data.chunks(7_001) {
            queue.push(piece, &pool);
        }
        let mut received = Vec::new();
        for budget in [10, 2, 30_000, 1, 4_999, usize::MAX] {
            let taken = queue.take(budget, &pool);
            assert!(taken.len <= budget);
            if budget < 3 {
                assert_eq!(taken.len, 0);
            } else if budget != usize::MAX {
                assert_eq!(taken.len, budget / 3 * 3);
            }
            let bytes = decode(&taken);
            assert_eq!(bytes.len(), taken.len);
            received.extend_from_slice(&bytes);
        }
        assert_eq!(received, data);
    }

    #[test]
    fn large_pushes_use_pooled_buffers_and_take_shares_them() {
        let pool = pool();
        let mut queue = Base64Queue::default();
        let block = vec![0xA5u8; 256 * 1024];
        queue.push(&block, &pool);
        queue.push(&block, &pool);
        let taken = queue.take(300 * 1024, &pool);
        assert_eq!(taken.len, 300 * 1024 / 3 * 3);
        let rest = queue.take(usize::MAX, &pool);
        assert_eq!(taken.len + rest.len, 512 * 1024);
        let mut all = decode(&taken);
        all.extend(decode(&rest));
        assert!(all.iter().all(|&b| b == 0xA5));
        drop((taken, rest));
        assert!(
            !pool.free_capacities().is_empty(),
            "text buffers go back to the pool"
        );
    }

    proptest::proptest! {
        /// Any interleaving of pushes and takes of any sizes: every take is valid base64 of
        /// at most its budget, and the bytes come out exactly as they went in.
        #[test]
        fn bytes_come_out_as_they_went_in(
            steps in proptest::collection::vec(
                (proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000), 0usize..5000),
                1..40,
            ),
        ) {
            let pool = pool();
            let mut queue = Base64Queue::default();
            let (mut sent, mut received) = (Vec::new(), Vec::new());
            for (data, budget) in steps {
                queue.push(&data, &pool);
                sent.extend_from_slice(&data);
                let taken = queue.take(budget, &pool);
                proptest::prop_assert!(taken.len <= budget);
                let bytes = decode(&taken);
                proptest::prop_assert_eq!(bytes.len(), taken.len);
                received.extend(bytes);
                proptest::prop_assert_eq!(queue.len(), sent.len() - received.len());
            }
            received.extend(decode(&queue.take(usize::MAX, &pool)));
            proptest::prop_assert_eq!(received, sent);
        }
    }
}
