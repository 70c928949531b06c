//! The decoder's output: every decoded byte written once into a straight buffer that holds
//! the standard's history, and the Scheme 1 symbols decoded from a word.

use super::{Sink, SldcError, HISTORY, MAX_MATCH};

/// The decoder's buffer is [`WINDOW`] bytes (and eight more, so that a word read or written
/// at any index under [`WINDOW`] is within it); indexes are masked with `WINDOW - 1`, which
/// they never exceed, so that the compiler sees them within the buffer. 8 KiB, not more:
/// every decoder starts with its buffer zeroed (a fresh allocation, the history as after a
/// Reset), and a fleet's batch of 10 events decodes to about 15 KB, so a larger window was
/// mostly zeroed and never written (32 KiB of zeroing was 3.7 % of the collector's
/// instructions per such batch); a hand-over moves at most 2 KiB of history to the front.
const WINDOW: usize = 8 * 1024;
/// Bytes decoded between hand-overs to the sink, beyond the history kept: what leaves room in
/// the window for three more symbols written in whole words (a copy may write up to 7 bytes
/// past its end, which the next symbols overwrite).
pub(super) const PIECE: usize = 6 * 1024;
const _: () = assert!(HISTORY + PIECE + 3 * MAX_MATCH + 8 <= WINDOW);

/// For a copy from under 8 bytes back (the index), its first multiple of at least 8.
const REPEAT_STEP: [usize; 8] = [8, 8, 8, 9, 8, 10, 12, 14];

/// Every decoded byte, written once into a straight buffer instead of a ring: the standard's
/// 1,024-byte history is the [`HISTORY`] bytes before `at`, and a byte's slot in that ring is
/// its index modulo [`HISTORY`] (the history moves to the front only in whole multiples of
/// it). So a copy pointer is a distance back, and a copy is a few word moves, not a byte at a
/// time through a modulo: the collector decodes every compressed delivery.
pub(super) struct Output {
    buffer: Box<[u8; WINDOW + 8]>,
    /// Where the next byte goes (at least [`HISTORY`]; at most `HISTORY + PIECE` before the
    /// symbols of a load).
    pub(super) at: usize,
    /// The bytes from here to `at` have not gone to the sink.
    unsent: usize,
    /// Bytes given to the sink.
    sent: usize,
    limit: usize,
    /// The value of `at` at which the output reaches `limit`: one comparison per symbol.
    limit_at: usize,
}

impl Output {
    pub(super) fn new(limit: usize) -> Self {
        // The ring starts zeroed, as after a Reset.
        Output {
            buffer: Box::new([0; WINDOW + 8]),
            at: HISTORY,
            unsent: HISTORY,
            sent: 0,
            limit,
            limit_at: HISTORY.saturating_add(limit),
        }
    }

    /// Bytes decoded so far (the output's length, checked against the limit).
    pub(super) fn produced(&self) -> usize {
        self.sent + (self.at - self.unsent)
    }

    /// Gives the bytes written since the last hand-over to `sink`.
    pub(super) fn flush(&mut self, sink: &mut impl Sink) {
        sink.write(&self.buffer[self.unsent..self.at]);
        self.sent += self.at - self.unsent;
        self.unsent = self.at;
    }

    /// Once past a piece: hands it over and moves the history (and the bytes up to the next
    /// multiple of [`HISTORY`]) to the front, so that the next three symbols have room.
    #[inline(always)]
    pub(super) fn make_room(&mut self, sink: &mut impl Sink) {
        if self.at > HISTORY + PIECE {
            self.flush(sink);
            let keep = (self.at / HISTORY - 1) * HISTORY;
            self.buffer.copy_within(keep..self.at, 0);
            self.at -= keep;
            self.unsent = self.at;
            self.limit_at -= keep;
        }
    }

    /// Zeroes the history (Reset 1 or 2), after what it holds has gone to `sink`.
    pub(super) fn reset(&mut self, sink: &mut impl Sink) {
        self.flush(sink);
        self.buffer[..HISTORY].fill(0);
        self.at = HISTORY;
        self.unsent = HISTORY;
        self.limit_at = HISTORY.saturating_add(self.limit - self.sent);
    }

    /// A literal byte at `at`.
    #[inline(always)]
    fn literal(&mut self, byte: u8, at: &mut usize) -> Result<(), SldcError> {
        if *at >= self.limit_at {
            return Err(SldcError::TooLarge(self.limit));
        }
        self.buffer[*at & (WINDOW - 1)] = byte;
        *at += 1;
        Ok(())
    }

    /// Eight bytes from `source` to `target`, which is at least eight bytes after it.
    #[inline(always)]
    fn copy_word(&mut self, source: usize, target: usize) {
        let (source, target) = (source & (WINDOW - 1), target & (WINDOW - 1));
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.buffer[source..source + 8]);
        self.buffer[target..target + 8].copy_from_slice(&word);
    }

    /// The `count` bytes of a copy pointer to slot `from`, at `at`, checked against the limit
    /// once. The source is `distance` bytes back (1 to [`HISTORY`]: the slot about to be
    /// overwritten is the furthest), and a copy reads what it writes when it is longer than
    /// that distance (the standard copies byte after byte, so the bytes repeat). Moved eight
    /// bytes at a time from `step` back: the distance when at least 8, else its first
    /// multiple of 8 or more once that many bytes are written one at a time (the bytes repeat
    /// with that period too).
    #[inline(always)]
    fn copy(&mut self, from: usize, count: usize, at: &mut usize) -> Result<(), SldcError> {
        let start = *at;
        if start + count > self.limit_at {
            return Err(SldcError::TooLarge(self.limit));
        }
        let distance = (start - from - 1) % HISTORY + 1;
        let mut step = distance;
        if distance < 8 {
            step = REPEAT_STEP[distance];
            for k in start..start + step.min(count) {
                self.buffer[k & (WINDOW - 1)] = self.buffer[(k - distance) & (WINDOW - 1)];
            }
        }
        // Most copies are of a few characters: one word, then a loop for the longer ones (a
        // loop from the start costs them its vectorised preamble).
        let mut done = step;
        if distance >= 8 {
            self.copy_word(start - step, start);
            done = 8;
        }
        while done < count {
            self.copy_word(start + done - step, start + done);
            done += 8;
        }
        *at = start + count;
        Ok(())
    }

    /// The Scheme 1 literal or copy pointer at the top of `window` (at least its 23 bits, not
    /// a control symbol), written at `at`: its length in bits. The prefix code of the match
    /// count is read by one lookup.
    #[inline(always)]
    pub(super) fn symbol(&mut self, window: u64, at: &mut usize) -> Result<usize, SldcError> {
        if window >> 63 == 0 {
            self.literal((window >> 55) as u8, at)?;
            return Ok(9);
        }
        let code = MATCH_CODES[((window >> 51) & 0xFFF) as usize];
        let (count, length) = (usize::from(code >> 4), u32::from(code & 0xF));
        let from = ((window << (1 + length)) >> 54) as usize;
        self.copy(from, count, at)?;
        Ok(11 + length as usize)
    }

    /// [`Output::literal`] one symbol at a time.
    pub(super) fn push(&mut self, byte: u8, sink: &mut impl Sink) -> Result<(), SldcError> {
        let mut at = self.at;
        self.literal(byte, &mut at)?;
        self.at = at;
        self.make_room(sink);
        Ok(())
    }

    /// [`Output::copy`] one symbol at a time.
    pub(super) fn copy_one(
        &mut self,
        from: usize,
        count: usize,
        sink: &mut impl Sink,
    ) -> Result<(), SldcError> {
        let mut at = self.at;
        self.copy(from, count, &mut at)?;
        self.at = at;
        self.make_room(sink);
        Ok(())
    }
}

/// The match count and the length of its code (`count << 4 | length`) for each value of the
/// 12 bits after a copy pointer's 1: the prefix code of [`super::read_match_count`] read by one
/// lookup. Values that start with 1111 1111 are not copy pointers but a control symbol.
pub(super) static MATCH_CODES: [u16; 4096] = match_codes();

const fn match_codes() -> [u16; 4096] {
    let mut table = [0u16; 4096];
    let mut bits = 0;
    while bits < 4096 {
        let mut ones = 0;
        while ones < 4 && (bits >> (11 - ones)) & 1 == 1 {
            ones += 1;
        }
        let (prefix, width) = if ones == 4 {
            (4, 8)
        } else {
            (ones + 1, ones + 1)
        };
        let value = (bits >> (12 - prefix - width)) & ((1 << width) - 1);
        table[bits] = (((2 << ones) + value) << 4 | (prefix + width)) as u16;
        bits += 1;
    }
    table
}
