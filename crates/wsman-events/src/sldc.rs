//! SLDC (ECMA-321, Streaming Lossless Data Compression): the `Content-Encoding: SLDC` of
//! Windows' event forwarders, decompressed within a bound.
//!
//! Why our own: no maintained crate does it, and the decoder reads bytes from the network, so
//! it must stop at a limit instead of growing: every output byte is counted against it.
//!
//! The stream is a sequence of bit-aligned symbols, most significant bit first. Nine 1-bits
//! and a 4-bit code are a control symbol (Flush, Scheme 1, Scheme 2, File Mark, End of Record,
//! Reset 1, Reset 2, End Marker). In Scheme 1 a `0` and eight bits are a literal byte, and a
//! `1` is a copy pointer: a match count (2 to 271, in a prefix code) and a 10-bit absolute
//! position in the 1,024-byte history buffer every output byte passes through. In Scheme 2
//! each byte stands for itself, except 0xFF, which is followed by a `0` so that it cannot
//! start a control symbol.
//!
//! How a stream ends is Windows' framing, not the standard's: the one public capture of a Windows
//! forwarder's compressed body (`tests/fixtures/windows-forwarder/heartbeat.sldc`) ends with
//! End of Record, zero bits to a 16-bit boundary, then the uncompressed length as a
//! little-endian u32, and no End Marker. A decoder that stops only at End of Record (OpenWEC's)
//! reads nothing else, so [`compress`] and [`store`] end every stream that way; [`decompress`]
//! stops at End of Record and reads what an encoder may append: zero bits to any boundary up
//! to 32 bits (ECMA-321 aligns records on 32 bits, tape-oriented encoders pad so), then the
//! length or nothing; it checks the length when it is there, and refuses anything else after
//! it. An End Marker still ends a stream (earlier versions of ours wrote one); a stream that
//! runs out before either is truncated.
//!
//! Windows labels some bodies SLDC that are not compressed (openwec's `doc/protocol.md`
//! records it); [`looks_uncompressed`] recognises an XML body (a byte-order mark or `<`),
//! which no SLDC stream can start with, since one begins with a control symbol (0xFF).

use wsman_proto::charset::{self, DecodeError, Encoding};

mod output;

#[cfg(test)]
use output::MATCH_CODES;
use output::{Output, PIECE};

/// Size of the history buffer, and so the reach of a copy pointer.
pub const HISTORY: usize = 1024;
/// Longest match a copy pointer can carry.
pub const MAX_MATCH: usize = 271;

const CONTROL_PREFIX: u32 = 0x1FF;
const FLUSH: u32 = 0;
const SCHEME_1: u32 = 1;
const SCHEME_2: u32 = 2;
const FILE_MARK: u32 = 3;
const END_OF_RECORD: u32 = 4;
const RESET_1: u32 = 5;
const RESET_2: u32 = 6;
const END_MARKER: u32 = 15;

/// Why a body could not be decompressed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SldcError {
    #[error("SLDC stream ends inside a symbol at bit {0}")]
    Truncated(usize),
    #[error("unknown SLDC control code {code} at bit {at}")]
    UnknownControl { code: u32, at: usize },
    #[error("SLDC data before any Scheme or Reset control symbol at bit {0}")]
    NoScheme(usize),
    #[error("SLDC output larger than {0} bytes")]
    TooLarge(usize),
    #[error(
        "SLDC stream has {0} bytes after its End of Record that are neither padding nor a length"
    )]
    TrailingData(usize),
    #[error("SLDC length trailer says {stated} bytes, the stream decodes to {decoded}")]
    LengthMismatch { stated: u32, decoded: usize },
}

struct Bits<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Bits<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() * 8 - self.position
    }

    /// The next `count` bits (at most 32), from the eight bytes around the position at once:
    /// the collector decodes every compressed delivery, and a bit at a time this was its
    /// largest cost.
    fn peek(&self, count: usize) -> Option<u32> {
        if count > self.remaining() || count > 32 {
            return None;
        }
        if count == 0 {
            return Some(0);
        }
        let first = self.position / 8;
        let word = match self.bytes.get(first..first + 8) {
            Some(eight) => u64::from_be_bytes(eight.try_into().unwrap_or([0; 8])),
            None => {
                let mut window = [0u8; 8];
                let available = self.bytes.len() - first;
                window[..available].copy_from_slice(&self.bytes[first..]);
                u64::from_be_bytes(window)
            }
        };
        // At most 7 bits before and 32 taken: within the 64.
        let shift = 64 - self.position % 8 - count;
        Some(((word >> shift) & ((1u64 << count) - 1)) as u32)
    }

    fn read(&mut self, count: usize) -> Result<u32, SldcError> {
        let value = self
            .peek(count)
            .ok_or(SldcError::Truncated(self.position))?;
        self.position += count;
        Ok(value)
    }

    /// Skips the 0-bits that pad after a Flush or End of Record.
    fn skip_padding(&mut self) {
        while self.peek(1) == Some(0) {
            self.position += 1;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    None,
    Compressed,
    Stored,
}

/// Where decoded bytes go, a piece at a time, each piece at most about 7 KB: a buffer
/// of the whole output ([`decompress`]), or a charset decoder that keeps only the text
/// ([`decompress_text`]).
pub trait Sink {
    fn write(&mut self, piece: &[u8]);
}

impl Sink for Vec<u8> {
    fn write(&mut self, piece: &[u8]) {
        self.extend_from_slice(piece);
    }
}

impl Sink for charset::Decoder<'_> {
    fn write(&mut self, piece: &[u8]) {
        self.push(piece);
    }
}

/// Decompress `input`, producing at most `limit` bytes.
pub fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, SldcError> {
    let mut out = Vec::with_capacity(input.len().saturating_mul(2).min(limit));
    decompress_into(input, limit, &mut out)?;
    Ok(out)
}

/// Decompress `input` (at most `limit` bytes, counted before any conversion, as
/// [`decompress`] counts them) straight into text in `charset` (a byte-order mark first), as
/// [`charset::decode`] of [`decompress`]'s output answers, without that output: the collector
/// decodes every compressed delivery this way, and the 400 KB of UTF-16 a batch decompresses
/// to was a buffer faulted in afresh for each batch and a second pass. An SLDC error comes
/// first; the charset's answer is the inner result.
#[allow(clippy::type_complexity)]
pub fn decompress_text(
    input: &[u8],
    limit: usize,
    charset: Option<&str>,
) -> Result<Result<(String, Encoding), DecodeError>, SldcError> {
    // UTF-16 text narrows to about half, and a stream decompresses to about three times its size.
    let mut text = charset::Decoder::new(charset, input.len().saturating_mul(2).min(limit));
    decompress_into(input, limit, &mut text)?;
    Ok(text.finish())
}

/// Decompress `input` into `sink`, producing at most `limit` bytes.
fn decompress_into(input: &[u8], limit: usize, sink: &mut impl Sink) -> Result<(), SldcError> {
    let mut bits = Bits {
        bytes: input,
        position: 0,
    };
    let mut out = Output::new(limit);
    let mut scheme = Scheme::None;
    loop {
        if scheme == Scheme::Compressed {
            compressed_run(&mut bits, &mut out, sink)?;
        }
        if bits.remaining() < 9 {
            // A stream ends with End of Record (or End Marker); running out first is a cut.
            return Err(SldcError::Truncated(bits.position));
        }
        let at = bits.position;
        if bits.peek(9) == Some(CONTROL_PREFIX) {
            bits.position += 9;
            let code = bits.read(4)?;
            match code {
                END_OF_RECORD => {
                    check_trailer(&bits, out.produced())?;
                    break;
                }
                FLUSH | FILE_MARK => bits.skip_padding(),
                SCHEME_1 => scheme = Scheme::Compressed,
                SCHEME_2 => scheme = Scheme::Stored,
                RESET_1 => {
                    out.reset(sink);
                    scheme = Scheme::Compressed;
                }
                RESET_2 => {
                    out.reset(sink);
                    scheme = Scheme::Stored;
                }
                END_MARKER => break,
                _ => return Err(SldcError::UnknownControl { code, at }),
            }
            continue;
        }
        match scheme {
            Scheme::None => return Err(SldcError::NoScheme(at)),
            Scheme::Stored => {
                let byte = bits.read(8)?;
                if byte == 0xFF {
                    // The 0 that keeps a stored 0xFF from reading as a control symbol (a 1
                    // here was taken as one above).
                    bits.read(1)?;
                }
                out.push(byte as u8, sink)?;
            }
            // The last bytes of the stream, symbol by symbol (a cut is found where it is).
            Scheme::Compressed => {
                if bits.read(1)? == 0 {
                    let byte = bits.read(8)?;
                    out.push(byte as u8, sink)?;
                    continue;
                }
                let count = read_match_count(&mut bits)?;
                let from = bits.read(10)? as usize;
                out.copy_one(from, count, sink)?;
            }
        }
    }
    out.flush(sink);
    Ok(())
}

/// Scheme 1 literals and copy pointers, two or three from each 64-bit load (at least 57 bits
/// of the stream: two symbols take at most 46, and a third is read when the longest one
/// still fits), while eight bytes are left from the one under the
/// position; stops before a control symbol, or where the stream's last bytes start (both read
/// symbol by symbol in [`decompress_into`]). The same symbols as those reads, taken from
/// words: bit-by-bit reads were most of the collector's decoding time.
#[inline(always)]
fn compressed_run(
    bits: &mut Bits<'_>,
    out: &mut Output,
    sink: &mut impl Sink,
) -> Result<(), SldcError> {
    let bytes = bits.bytes;
    let mut position = bits.position;
    let mut at = out.at;
    'run: while let Some(eight) = bytes.get(position / 8..position / 8 + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(eight);
        let start = position;
        let mut window = u64::from_be_bytes(word) << (position % 8);
        for _ in 0..2 {
            if window >> 55 == u64::from(CONTROL_PREFIX) {
                break 'run;
            }
            let length = out.symbol(window, &mut at)?;
            position += length;
            window <<= length;
        }
        // A third when the longest symbol still fits in the 57 bits.
        if position - start <= 57 - 23 {
            if window >> 55 == u64::from(CONTROL_PREFIX) {
                break 'run;
            }
            let length = out.symbol(window, &mut at)?;
            position += length;
        }
        if at > HISTORY + PIECE {
            out.at = at;
            out.make_room(sink);
            at = out.at;
        }
    }
    out.at = at;
    bits.position = position;
    Ok(())
}

/// Most zero bytes read as padding after the byte boundary that follows End of Record: with the
/// bits to that boundary, zero bits to any boundary up to 32 bits (ECMA-321 aligns records on
/// 32 bits, and tape-oriented encoders pad so; Windows pads to 16).
const MAX_PADDING_BYTES: usize = 3;

/// What may follow End of Record (at bit `bits.position`): zero bits to the byte boundary, up
/// to [`MAX_PADDING_BYTES`] zero bytes more, then either nothing or the uncompressed length as
/// a little-endian u32, which must be `decoded`. Which it is follows from the count of bytes
/// left: at most three are all padding; four to seven are padding then the length. Anything
/// else (a 1-bit in the padding, more bytes) is refused: the stream's end is not guessed.
fn check_trailer(bits: &Bits<'_>, decoded: usize) -> Result<(), SldcError> {
    let boundary = bits.position.div_ceil(8);
    let to_boundary = boundary * 8 - bits.position;
    let rest = &bits.bytes[boundary..];
    let refused = || SldcError::TrailingData(bits.bytes.len() - bits.position / 8);
    if bits.peek(to_boundary) != Some(0) || rest.len() > MAX_PADDING_BYTES + 4 {
        return Err(refused());
    }
    let padding = rest.len().checked_sub(4).unwrap_or(rest.len());
    let (zeros, length) = rest.split_at(padding);
    if zeros.iter().any(|&b| b != 0) {
        return Err(refused());
    }
    let [a, b, c, d] = *length else {
        return Ok(());
    };
    let length = u32::from_le_bytes([a, b, c, d]);
    if usize::try_from(length).ok() != Some(decoded) {
        return Err(SldcError::LengthMismatch {
            stated: length,
            decoded,
        });
    }
    Ok(())
}

/// The match count of a copy pointer: `0x` 2–3, `10xx` 4–7, `110xxx` 8–15, `1110xxxx`
/// 16–31, `1111xxxxxxxx` 32–271 (a larger value would be nine 1-bits, a control symbol).
fn read_match_count(bits: &mut Bits<'_>) -> Result<usize, SldcError> {
    let mut ones = 0;
    while ones < 4 && bits.read(1)? == 1 {
        ones += 1;
    }
    let width = if ones == 4 { 8 } else { ones + 1 };
    let base = 2usize << ones;
    Ok(base + bits.read(width)? as usize)
}

/// Bits written most significant first, gathered in a word and stored a byte at a time.
struct BitWriter {
    bytes: Vec<u8>,
    /// The pending bits are the low `pending` bits (the higher ones are stale).
    word: u64,
    pending: u32,
}

impl BitWriter {
    fn with_capacity(capacity: usize) -> Self {
        BitWriter {
            bytes: Vec::with_capacity(capacity),
            word: 0,
            pending: 0,
        }
    }

    /// Append the low `count` bits of `value` (at most 24; the longest symbol is 23). Bits
    /// leave four bytes at a time once 32 are pending.
    fn write(&mut self, value: u32, count: u32) {
        debug_assert!(count <= 24);
        self.word = (self.word << count) | u64::from(value & ((1 << count) - 1));
        self.pending += count;
        if self.pending >= 32 {
            self.pending -= 32;
            let bytes = ((self.word >> self.pending) as u32).to_be_bytes();
            self.bytes.extend_from_slice(&bytes);
        }
    }

    fn control(&mut self, code: u32) {
        self.write((CONTROL_PREFIX << 4) | code, 13);
    }

    /// The stream ended as Windows ends it: End of Record, zero bits to a 16-bit boundary,
    /// the uncompressed length (`plain`) as a little-endian u32.
    fn finish(mut self, plain: usize) -> Vec<u8> {
        self.control(END_OF_RECORD);
        while self.pending >= 8 {
            self.pending -= 8;
            self.bytes.push((self.word >> self.pending) as u8);
        }
        if self.pending > 0 {
            self.bytes.push((self.word << (8 - self.pending)) as u8);
        }
        if self.bytes.len() % 2 == 1 {
            self.bytes.push(0);
        }
        // A body over 4 GiB is never built (deliveries are bounded far below); saturate.
        let length = u32::try_from(plain).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&length.to_le_bytes());
        self.bytes
    }
}

/// The match count's code (`0x` 2–3, `10xx` 4–7, `110xxx` 8–15, `1110xxxx` 16–31,
/// `1111xxxxxxxx` 32–271) and its width in bits.
const fn match_code(count: usize) -> (u32, u32) {
    let count = count as u32;
    match count {
        2..=3 => (count - 2, 2),
        4..=7 => (0b10 << 2 | (count - 4), 4),
        8..=15 => (0b110 << 3 | (count - 8), 6),
        16..=31 => (0b1110 << 4 | (count - 16), 8),
        _ => (0b1111 << 8 | (count - 32), 12),
    }
}

/// A copy pointer's leading 1 and match count's code (`bits << 4 | width`) for each count:
/// one lookup where [`match_code`]'s ranges were a chain of comparisons.
static COPY_CODES: [u32; MAX_MATCH + 1] = copy_codes();

const fn copy_codes() -> [u32; MAX_MATCH + 1] {
    let mut table = [0; MAX_MATCH + 1];
    let mut count = 2;
    while count <= MAX_MATCH {
        let (code, width) = match_code(count);
        table[count] = (1 << width | code) << 4 | (1 + width);
        count += 1;
    }
    table
}

#[cfg(test)]
fn write_match_count(out: &mut BitWriter, count: usize) {
    let (code, width) = match_code(count);
    out.write(code, width);
}

/// Compress `input` (Scheme 1, greedy matches through a hash chain), ending as Windows
/// does (End of Record, padding, length). The forwarder compresses every batch when the collector's Subscribe asks for SLDC,
/// so this is on the delivery path: candidates are found by a hash of three bytes (UTF-16 text
/// has a zero in every other byte, which two-byte keys collide on), the chain lives in a ring
/// of the history's size (a position further back cannot be copied from), and bits leave
/// through a word, not one at a time. On a batch of transcribed Windows events in UTF-16
/// (146 KB) it runs at 440 MB/s against the first version's 90-100 (greedy over every position,
/// 32 candidates of a two-byte hash, bit by bit) and writes 0.324 of the input against 0.331.
pub fn compress(input: &[u8]) -> Vec<u8> {
    compress_from(&mut Whole(input), input.len() / 2 + 8)
}

/// The stream [`compress`] writes of `text` in UTF-16LE after a byte-order mark (what a
/// forwarder sends a collector that asked for UTF-16 and SLDC), without that UTF-16 copy: the
/// text is widened a piece at a time into a window of 32 KiB and the history. A batch of
/// 100 events is about 400 KB of UTF-16, a buffer the forwarder faulted in afresh for each
/// batch and passed over twice.
pub fn compress_utf16le(text: &str) -> Vec<u8> {
    let mut source = Widened::new(text, WIDEN_CHUNK);
    compress_from(&mut source, text.len() + 8)
}

/// Bytes of UTF-8 text widened at a time by [`compress_utf16le`].
const WIDEN_CHUNK: usize = 16 * 1024;

/// What the compressor needs ahead of a position it decides, unless the input ends sooner:
/// the longest match and the three bytes a hash of its last position reads.
const LOOKAHEAD: usize = MAX_MATCH + 3;

/// The input of [`compress_from`], a window at a time.
trait Source {
    /// The window, after dropping from its front a multiple of [`HISTORY`] bytes that lie
    /// more than [`HISTORY`] before `position` (an index into the window): (the window, how
    /// many bytes were dropped, whether it ends the input). Unless it ends the input, it
    /// holds [`LOOKAHEAD`] bytes from `position` on.
    fn window(&mut self, position: usize) -> (&[u8], usize, bool);
}

/// The whole input in memory: one window.
struct Whole<'a>(&'a [u8]);

impl Source for Whole<'_> {
    fn window(&mut self, _: usize) -> (&[u8], usize, bool) {
        (self.0, 0, true)
    }
}

/// UTF-8 text as UTF-16LE after a byte-order mark, widened `chunk` bytes of text at a time.
struct Widened<'a> {
    text: &'a str,
    /// The next byte of `text` to widen.
    at: usize,
    /// The input as far as widened, from a point a multiple of [`HISTORY`] into it.
    buffer: Vec<u8>,
    chunk: usize,
}

impl<'a> Widened<'a> {
    fn new(text: &'a str, chunk: usize) -> Self {
        // A piece widens to at least two thirds of its size (three bytes of UTF-8 to two):
        // a piece of this much always holds the lookahead.
        let chunk = chunk.max(2 * LOOKAHEAD);
        let mut buffer = Vec::with_capacity(2 * chunk + 3 * HISTORY);
        buffer.extend_from_slice(&[0xFF, 0xFE]);
        Widened {
            text,
            at: 0,
            buffer,
            chunk,
        }
    }
}

impl Source for Widened<'_> {
    fn window(&mut self, position: usize) -> (&[u8], usize, bool) {
        let mut dropped = 0;
        if self.at < self.text.len() {
            // What no copy pointer from `position` on can reach leaves the window, in whole
            // histories, so that a position's slot in the history (`% HISTORY`) is unchanged.
            dropped = position.saturating_sub(HISTORY) / HISTORY * HISTORY;
            self.buffer.drain(..dropped);
            let mut end = (self.at + self.chunk).min(self.text.len());
            while !self.text.is_char_boundary(end) {
                end += 1;
            }
            charset::utf16le_into(&self.text[self.at..end], &mut self.buffer);
            self.at = end;
        }
        (&self.buffer, dropped, self.at == self.text.len())
    }
}

/// [`compress`] of what `source` holds; `capacity`: the output's expected size. Positions
/// are indexes into the window; when the window drops bytes from its front, the hash chain's
/// positions move back with it (those dropped are further back than any copy can reach).
fn compress_from(source: &mut impl Source, capacity: usize) -> Vec<u8> {
    let mut out = BitWriter::with_capacity(capacity);
    out.control(RESET_1);
    // head[hash]: the last position whose three bytes hash there; chain[p % HISTORY]: the
    // position before p with the same hash (stale once more than HISTORY back).
    let mut head: Box<Heads> = Box::new([NONE; 1 << HASH_BITS]);
    let mut chain = [NONE; HISTORY];
    let (mut position, mut total_dropped) = (0, 0);
    loop {
        let (input, dropped, last) = source.window(position);
        if dropped > 0 {
            position -= dropped;
            total_dropped += dropped;
            // `dropped` fits: positions are u32 throughout (deliveries are bounded far below).
            let back = |p: &mut u32| *p = p.checked_sub(dropped as u32).unwrap_or(NONE);
            head.iter_mut().filter(|p| **p != NONE).for_each(back);
            chain.iter_mut().filter(|p| **p != NONE).for_each(back);
        }
        // Decided here: the positions whose lookahead the window holds.
        let stop = if last {
            input.len()
        } else {
            input.len() - LOOKAHEAD
        };
        position = compress_window(input, position, stop, &mut head, &mut chain, &mut out);
        if last {
            return out.finish(total_dropped + input.len());
        }
    }
}

const HASH_BITS: u32 = 13;

/// The last position of each hash, an array so that a hash (of `HASH_BITS`) needs no bounds
/// check.
type Heads = [u32; 1 << HASH_BITS];

/// No position in the hash chain.
const NONE: u32 = u32::MAX;

/// Compresses `input` from `position` until `stop` into `out`: returns the position reached
/// (a match may run past `stop`, within the window).
fn compress_window(
    input: &[u8],
    mut position: usize,
    stop: usize,
    head: &mut Heads,
    chain: &mut [u32; HISTORY],
    out: &mut BitWriter,
) -> usize {
    const CANDIDATES: usize = 8;
    // Known within the input, the loop's reads need no bounds checks (10% of its
    // instructions without this).
    let stop = stop.min(input.len());
    let hash = |p: usize| {
        // One bounds check for the three bytes, not three.
        let three = &input[p..p + 3];
        let key = u32::from(three[0]) | u32::from(three[1]) << 8 | u32::from(three[2]) << 16;
        (key.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
    };
    let insert_hashed = |p: usize, h: usize, head: &mut Heads, chain: &mut [u32; HISTORY]| {
        chain[p % HISTORY] = head[h];
        head[h] = p as u32;
    };
    let insert = |p: usize, head: &mut Heads, chain: &mut [u32; HISTORY]| {
        if p + 2 < input.len() {
            insert_hashed(p, hash(p), head, chain);
        }
    };
    while position < stop {
        let longest = (input.len() - position).min(MAX_MATCH);
        let mut best = (0usize, 0usize);
        // The position's hash, computed once for its lookup and its insertion.
        let hashed = (longest >= 3).then(|| hash(position));
        if let Some(h) = hashed {
            let mut candidate = head[h];
            // The byte a candidate must match to beat the best so far (the one at its length).
            let mut expected = input[position];
            for _ in 0..CANDIDATES {
                let from = candidate as usize;
                // Strictly less than the history: a pointer to the slot about to be
                // overwritten is left out. No position (NONE) is past every position.
                if from >= position || position - from >= HISTORY {
                    break;
                }
                // A candidate that cannot beat the best so far differs at its length.
                if input[from + best.0] == expected {
                    let length = common_prefix(
                        &input[from..from + longest],
                        &input[position..position + longest],
                    );
                    if length > best.0 {
                        best = (length, from);
                        if length == longest {
                            break;
                        }
                        expected = input[position + length];
                    }
                }
                // A chain runs back: a later position (or none) is a slot overwritten since.
                let next = chain[from % HISTORY];
                if next as usize >= from {
                    break;
                }
                candidate = next;
            }
        }
        if best.0 >= 2 {
            // The copy pointer in one write: 1, the match count's code, the slot.
            let code = COPY_CODES[best.0];
            let slot = (best.1 % HISTORY) as u32;
            out.write((code >> 4) << 10 | slot, (code & 0xF) + 10);
            // The start and the last two positions of a match go into the chain, not every
            // one: 440 against 314 MB/s on event XML, for 0.324 of the input against 0.310.
            let end = position + best.0;
            if let Some(h) = hashed {
                insert_hashed(position, h, head, chain);
            }
            for p in (end - 2).max(position + 1)..end {
                insert(p, head, chain);
            }
            position += best.0;
        } else {
            out.write(u32::from(input[position]), 9);
            if let Some(h) = hashed {
                insert_hashed(position, h, head, chain);
            }
            position += 1;
        }
    }
    position
}

/// How many leading bytes `a` and `b` (of equal length) share, eight at a time: matches in
/// UTF-16 event XML run to tens of bytes.
#[inline(always)]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut length = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        let differ = word(x) ^ word(y);
        if differ != 0 {
            return length + (differ.trailing_zeros() / 8) as usize;
        }
        length += 8;
    }
    length
        + a[length..]
            .iter()
            .zip(&b[length..])
            .take_while(|(x, y)| x == y)
            .count()
}

/// `input` in Scheme 2 (every byte as itself): what a compressor emits for data that does not
/// compress; the tests decode it too.
pub fn store(input: &[u8]) -> Vec<u8> {
    let mut out = BitWriter::with_capacity(input.len() + 8);
    out.control(RESET_2);
    for &byte in input {
        out.write(u32::from(byte), 8);
        if byte == 0xFF {
            out.write(0, 1);
        }
    }
    out.finish(input.len())
}

/// Whether a body labelled SLDC is in fact plain XML: a byte-order mark or `<` after
/// optional whitespace. An SLDC stream starts with a control symbol, whose first byte is 0xFF
/// followed by a byte of which the top bit is 1 — which a UTF-16LE byte-order mark (FF FE)
/// also is, so the marks are checked first.
pub fn looks_uncompressed(body: &[u8]) -> bool {
    if body.starts_with(&[0xEF, 0xBB, 0xBF])
        || body.starts_with(&[0xFF, 0xFE])
        || body.starts_with(&[0xFE, 0xFF])
    {
        return true;
    }
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'<')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_counts_round_trip_through_the_prefix_code() {
        for count in 2..=MAX_MATCH {
            let mut out = BitWriter::with_capacity(4);
            write_match_count(&mut out, count);
            let bytes = out.finish(0);
            let mut bits = Bits {
                bytes: &bytes,
                position: 0,
            };
            assert_eq!(read_match_count(&mut bits).unwrap(), count);
        }
    }

    /// The two tables, the compressor's (count to code) and the decoder's (code to count),
    /// agree with the prefix code for every count, whatever bits follow the code.
    #[test]
    fn the_tables_of_match_codes_agree() {
        for (count, &copy_code) in COPY_CODES.iter().enumerate().skip(2) {
            let (code, width) = match_code(count);
            assert_eq!(copy_code, (1 << width | code) << 4 | (1 + width));
            for after in [0, 0xFFF] {
                let twelve = (code << (12 - width)) | (after >> width);
                let entry = MATCH_CODES[twelve as usize];
                assert_eq!(
                    (usize::from(entry >> 4), u32::from(entry & 0xF)),
                    (count, width)
                );
            }
        }
    }
}
