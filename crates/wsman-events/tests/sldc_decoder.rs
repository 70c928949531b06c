//! The SLDC decoder against its previous version, kept here as the reference (symbol by
//! symbol, bit by bit, every byte through the 1,024-byte ring): the word-at-a-time decoder
//! must give the same output and the same refusal (the same error, at the same bit, with the
//! same counts) for any stream and any limit. The streams are written from ECMA-321's symbols
//! by this file's own bit writer, shaped to reach the fast paths' edges: copies that read what
//! they write (every distance under 16), copies across the ring's wrap-around and across the
//! decoder's hand-overs to its sink, limits inside a copy, and streams cut at every bit.

use proptest::prelude::*;
use wsman_events::sldc::{self, SldcError};
use wsman_proto::charset;

/// The previous decoder, as it was (its one-word fast path left out: it read the same bits).
mod previous {
    use super::SldcError;

    const HISTORY: usize = 1024;
    const CONTROL_PREFIX: u32 = 0x1FF;

    struct Bits<'a> {
        bytes: &'a [u8],
        position: usize,
    }

    impl Bits<'_> {
        fn remaining(&self) -> usize {
            self.bytes.len() * 8 - self.position
        }

        fn peek(&self, count: usize) -> Option<u32> {
            if count > self.remaining() {
                return None;
            }
            let mut value = 0;
            for at in self.position..self.position + count {
                value = (value << 1) | u32::from((self.bytes[at / 8] >> (7 - at % 8)) & 1);
            }
            Some(value)
        }

        fn read(&mut self, count: usize) -> Result<u32, SldcError> {
            let value = self
                .peek(count)
                .ok_or(SldcError::Truncated(self.position))?;
            self.position += count;
            Ok(value)
        }
    }

    struct History {
        buffer: [u8; HISTORY],
        next: usize,
        out: Vec<u8>,
    }

    impl History {
        fn push(&mut self, byte: u8, limit: usize) -> Result<(), SldcError> {
            if self.out.len() >= limit {
                return Err(SldcError::TooLarge(limit));
            }
            self.buffer[self.next] = byte;
            self.next = (self.next + 1) % HISTORY;
            self.out.push(byte);
            Ok(())
        }

        fn copy(&mut self, mut from: usize, count: usize, limit: usize) -> Result<(), SldcError> {
            if self.out.len() + count > limit {
                return Err(SldcError::TooLarge(limit));
            }
            for _ in 0..count {
                let byte = self.buffer[from];
                self.buffer[self.next] = byte;
                self.out.push(byte);
                self.next = (self.next + 1) % HISTORY;
                from = (from + 1) % HISTORY;
            }
            Ok(())
        }
    }

    pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, SldcError> {
        let mut bits = Bits {
            bytes: input,
            position: 0,
        };
        let mut history = History {
            buffer: [0; HISTORY],
            next: 0,
            out: Vec::new(),
        };
        // 0: none, 1: Scheme 1, 2: Scheme 2.
        let mut scheme = 0;
        loop {
            if bits.remaining() < 9 {
                return Err(SldcError::Truncated(bits.position));
            }
            let at = bits.position;
            if bits.peek(9) == Some(CONTROL_PREFIX) {
                bits.position += 9;
                let code = bits.read(4)?;
                match code {
                    4 => {
                        check_trailer(&bits, history.out.len())?;
                        return Ok(history.out);
                    }
                    0 | 3 => {
                        while bits.peek(1) == Some(0) {
                            bits.position += 1;
                        }
                    }
                    1 | 2 => scheme = code,
                    5 | 6 => {
                        history.buffer = [0; HISTORY];
                        history.next = 0;
                        scheme = code - 4;
                    }
                    15 => return Ok(history.out),
                    _ => return Err(SldcError::UnknownControl { code, at }),
                }
                continue;
            }
            match scheme {
                0 => return Err(SldcError::NoScheme(at)),
                2 => {
                    let byte = bits.read(8)?;
                    if byte == 0xFF {
                        bits.read(1)?;
                    }
                    history.push(byte as u8, limit)?;
                }
                _ => {
                    if bits.read(1)? == 0 {
                        let byte = bits.read(8)?;
                        history.push(byte as u8, limit)?;
                        continue;
                    }
                    let mut ones = 0;
                    while ones < 4 && bits.read(1)? == 1 {
                        ones += 1;
                    }
                    let width = if ones == 4 { 8 } else { ones + 1 };
                    let count = (2usize << ones) + bits.read(width)? as usize;
                    let from = bits.read(10)? as usize;
                    history.copy(from, count, limit)?;
                }
            }
        }
    }

    fn check_trailer(bits: &Bits<'_>, decoded: usize) -> Result<(), SldcError> {
        let boundary = bits.position.div_ceil(8);
        let to_boundary = boundary * 8 - bits.position;
        let rest = &bits.bytes[boundary..];
        let refused = || SldcError::TrailingData(bits.bytes.len() - bits.position / 8);
        if bits.peek(to_boundary) != Some(0) || rest.len() > 3 + 4 {
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
}

/// What a stream is written from: ECMA-321's symbols, and how it ends.
#[derive(Clone, Debug)]
enum Symbol {
    Literal(u8),
    /// A copy pointer to the slot `distance` bytes back from the write position (1 to 1,024).
    Back {
        distance: usize,
        count: usize,
    },
    /// A copy pointer to any slot.
    Slot {
        from: usize,
        count: usize,
    },
    /// A control symbol (any code; Flush and File Mark followed by `padding` zero bits).
    Control {
        code: u8,
        padding: usize,
    },
    /// A byte in Scheme 2 (0xFF followed by a 0-bit).
    Stored(u8),
}

/// Bits, one per entry, most significant first: this file's own writer.
#[derive(Default)]
struct Writer {
    bits: Vec<bool>,
    /// The write position's slot in the history (what a distance is counted from).
    next: usize,
}

impl Writer {
    fn push(&mut self, value: u32, width: usize) {
        for shift in (0..width).rev() {
            self.bits.push((value >> shift) & 1 == 1);
        }
    }

    fn copy(&mut self, from: usize, count: usize) {
        self.push(1, 1);
        let count = count as u32;
        match count {
            2..=3 => self.push(count - 2, 2),
            4..=7 => self.push(0b10 << 2 | (count - 4), 4),
            8..=15 => self.push(0b110 << 3 | (count - 8), 6),
            16..=31 => self.push(0b1110 << 4 | (count - 16), 8),
            _ => self.push(0b1111 << 8 | (count - 32), 12),
        }
        self.push(from as u32, 10);
        self.next = (self.next + count as usize) % 1024;
    }

    fn symbol(&mut self, symbol: &Symbol) {
        match *symbol {
            Symbol::Literal(byte) => {
                self.push(u32::from(byte), 9);
                self.next = (self.next + 1) % 1024;
            }
            Symbol::Back { distance, count } => {
                self.copy((self.next + 1024 - distance) % 1024, count);
            }
            Symbol::Slot { from, count } => self.copy(from, count),
            Symbol::Control { code, padding } => {
                self.push(0x1FF, 9);
                self.push(u32::from(code), 4);
                if code == 0 || code == 3 {
                    self.push(0, padding);
                }
                if code == 5 || code == 6 {
                    self.next = 0;
                }
            }
            Symbol::Stored(byte) => {
                self.push(u32::from(byte), 8);
                if byte == 0xFF {
                    self.push(0, 1);
                }
                self.next = (self.next + 1) % 1024;
            }
        }
    }

    fn bytes(&self) -> Vec<u8> {
        self.bits
            .chunks(8)
            .map(|c| (0..8).fold(0u8, |b, i| (b << 1) | u8::from(c.get(i) == Some(&true))))
            .collect()
    }
}

/// A stream of `symbols` after Reset 1, then `ending`: 0 End of Record with zero bits to a
/// 16-bit boundary and the length, 1 End of Record alone, 2 End Marker, 3 nothing (a cut).
fn stream(symbols: &[Symbol], ending: u8) -> Vec<u8> {
    let mut writer = Writer::default();
    writer.symbol(&Symbol::Control {
        code: 5,
        padding: 0,
    });
    for symbol in symbols {
        writer.symbol(symbol);
    }
    let plain = {
        let mut ended = Writer {
            bits: writer.bits.clone(),
            next: 0,
        };
        ended.push(0x1FF, 9);
        ended.push(15, 4);
        previous::decompress(&ended.bytes(), usize::MAX)
    };
    match ending {
        0 | 1 => {
            writer.push(0x1FF, 9);
            writer.push(4, 4);
            let mut bytes = writer.bytes();
            if ending == 0 {
                if bytes.len() % 2 == 1 {
                    bytes.push(0);
                }
                // The length of what the symbols decode to, when they decode at all.
                let length = plain.map_or(0, |p| p.len()) as u32;
                bytes.extend_from_slice(&length.to_le_bytes());
            }
            bytes
        }
        2 => {
            writer.push(0x1FF, 9);
            writer.push(15, 4);
            writer.bytes()
        }
        _ => writer.bytes(),
    }
}

fn symbol() -> impl Strategy<Value = Symbol> {
    let count = prop_oneof![2usize..=16, 2usize..=271, Just(271usize)];
    prop_oneof![
        8 => any::<u8>().prop_map(Symbol::Literal),
        6 => (1usize..=16, count.clone()).prop_map(|(distance, count)| Symbol::Back { distance, count }),
        3 => (1usize..=1024, count.clone()).prop_map(|(distance, count)| Symbol::Back { distance, count }),
        2 => (0usize..1024, count).prop_map(|(from, count)| Symbol::Slot { from, count }),
        // Mostly the codes a stream goes on after (Flush, Scheme 1 and 2, File Mark, Resets).
        1 => (prop_oneof![9 => prop::sample::select(vec![0u8, 1, 2, 3, 5, 6]), 1 => 0u8..16], 0usize..12)
            .prop_map(|(code, padding)| Symbol::Control { code, padding }),
        1 => any::<u8>().prop_map(Symbol::Stored),
    ]
}

/// The decoder and the reference agree on `stream` at `limit`, as bytes and as text.
fn agree(stream: &[u8], limit: usize) -> Result<(), TestCaseError> {
    let expected = previous::decompress(stream, limit);
    prop_assert_eq!(sldc::decompress(stream, limit), expected.clone());
    for declared in [None, Some("UTF-16")] {
        prop_assert_eq!(
            sldc::decompress_text(stream, limit, declared),
            expected
                .clone()
                .map(|plain| charset::decode(&plain, declared))
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn symbols_decode_as_the_previous_decoder_decodes_them(
        symbols in proptest::collection::vec(symbol(), 0..400),
        ending in 0u8..4,
        limit_cut in 0usize..=4096,
    ) {
        let stream = stream(&symbols, ending);
        agree(&stream, 1 << 20)?;
        // A limit anywhere, inside a copy or a literal run, and one byte short of the end.
        agree(&stream, limit_cut)?;
        if let Ok(plain) = previous::decompress(&stream, usize::MAX) {
            agree(&stream, plain.len().saturating_sub(1))?;
            agree(&stream, plain.len())?;
        }
    }

    #[test]
    fn streams_cut_anywhere_are_refused_as_before(
        symbols in proptest::collection::vec(symbol(), 0..60),
        cut in any::<proptest::sample::Index>(),
        tail in proptest::collection::vec(any::<u8>(), 0..10),
    ) {
        let whole = stream(&symbols, 0);
        let cut = cut.index(whole.len() + 1);
        agree(&whole[..cut], 1 << 20)?;
        let mut longer = whole[..cut].to_vec();
        longer.extend_from_slice(&tail);
        agree(&longer, 1 << 20)?;
    }

    #[test]
    fn arbitrary_bytes_decode_as_before(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        limit in 0usize..2000,
    ) {
        agree(&data, 1 << 20)?;
        agree(&data, limit)?;
        // After Reset 1 (nine 1-bits, 0101, then three bits of the data), so that the bytes
        // are Scheme 1 symbols.
        let mut reset = vec![0xFF, 0xA8 | (data.first().copied().unwrap_or(0) >> 5)];
        reset.extend_from_slice(&data);
        agree(&reset, 1 << 20)?;
    }
}

/// Every distance under 20 with every count to 40 and the longest, from every byte
/// alignment of the symbol, around the ring's wrap-around (the write position at slots 1,000
/// to 1,040 modulo 1,024): the overlapping copies repeat as byte-after-byte copies do.
#[test]
fn overlapping_copies_at_every_distance_repeat_their_bytes() {
    for distance in 1..20 {
        let mut symbols: Vec<Symbol> = (0..1000)
            .map(|i| Symbol::Literal((i * 7 % 251) as u8))
            .collect();
        for count in (2..=40).chain([100, 270, 271]) {
            symbols.push(Symbol::Back { distance, count });
            symbols.push(Symbol::Literal(count as u8));
        }
        for ending in 0..4 {
            let stream = stream(&symbols, ending);
            agree(&stream, 1 << 20).unwrap_or_else(|e| panic!("distance {distance}: {e}"));
        }
    }
}

/// Output well past the decoder's hand-overs to its sink (about 6 KiB each; 30 KiB before):
/// long copies of every distance keep the history the ring would hold; and the limit, set
/// around the first hand-overs, is refused where it was.
#[test]
fn long_outputs_keep_the_history_across_hand_overs() {
    let mut symbols: Vec<Symbol> = (0..700).map(|i| Symbol::Literal((i % 253) as u8)).collect();
    for i in 0..1800 {
        symbols.push(Symbol::Back {
            distance: [1, 2, 3, 7, 8, 9, 16, 600, 1023, 1024][i % 10],
            count: [271, 2, 31, 100, 8, 9][i % 6],
        });
        if i % 37 == 0 {
            symbols.push(Symbol::Control {
                code: [0, 5, 1][i % 3],
                padding: i % 9,
            });
        }
    }
    let stream = stream(&symbols, 0);
    let plain = previous::decompress(&stream, usize::MAX).expect("the stream decodes");
    assert!(plain.len() > 100_000, "{} bytes", plain.len());
    agree(&stream, 1 << 20).unwrap();
    for limit in (6 * 1024..8 * 1024)
        .step_by(61)
        .chain((30 * 1024..32 * 1024).step_by(61))
        .chain([plain.len() - 1, plain.len()])
    {
        agree(&stream, limit).unwrap_or_else(|e| panic!("limit {limit}: {e}"));
    }
}

/// The batch the bench decodes (the transcribed Windows events, compressed by our encoder)
/// and the Windows capture decode as before, whole and cut at every byte of their last 64.
#[test]
fn compressed_batches_and_the_capture_decode_as_before() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/windows-forwarder"
    );
    let events = std::fs::read(format!("{dir}/events.recorded.pretty.xml")).expect("fixture");
    let batch = sldc::compress(&events.repeat(3));
    let capture = std::fs::read(format!("{dir}/heartbeat.captured.sldc")).expect("fixture");
    for stream in [batch, capture] {
        agree(&stream, 1 << 22).unwrap();
        for cut in stream.len().saturating_sub(64)..stream.len() {
            agree(&stream[..cut], 1 << 22).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        }
    }
}

#[test]
fn the_previous_decoder_reads_the_standards_example() {
    // "ABABABA": Reset 1, 'A', 'B', a copy of 5 from slot 0, End Marker (tests/sldc.rs).
    let mut writer = Writer::default();
    for symbol in [
        Symbol::Control {
            code: 5,
            padding: 0,
        },
        Symbol::Literal(b'A'),
        Symbol::Literal(b'B'),
        Symbol::Slot { from: 0, count: 5 },
        Symbol::Control {
            code: 15,
            padding: 0,
        },
    ] {
        writer.symbol(&symbol);
    }
    assert_eq!(
        previous::decompress(&writer.bytes(), 100).as_deref(),
        Ok(&b"ABABABA"[..])
    );
    assert_eq!(
        sldc::decompress(&writer.bytes(), 6),
        Err(SldcError::TooLarge(6))
    );
}
