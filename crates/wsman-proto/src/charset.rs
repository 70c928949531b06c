//! Request body decoding (UTF-8 and UTF-16, BOM first) and response encoding in kind.

use crate::fault::Fault;

/// The character encoding of a message; responses are written in the request's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Utf8,
    Utf16Le,
    Utf16Be,
}

impl Encoding {
    /// The `charset` parameter to send with a body in this encoding.
    pub fn charset(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Utf16Le | Self::Utf16Be => "UTF-16",
        }
    }

    /// The full Content-Type of a SOAP body in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Utf8 => "application/soap+xml;charset=UTF-8",
            Self::Utf16Le | Self::Utf16Be => "application/soap+xml;charset=UTF-16",
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A charset other than UTF-8 / UTF-16: answered with `w:EncodingLimit`.
    #[error("unsupported charset {0:?}")]
    UnsupportedCharset(String),
    /// The bytes are not valid in the declared encoding: not XML at all (HTTP 400).
    #[error("body is not valid {0:?}")]
    Invalid(&'static str),
}

impl DecodeError {
    /// The fault for a decode error, where one exists (an invalid byte sequence is a 400).
    pub fn fault(&self) -> Option<Fault> {
        match self {
            Self::UnsupportedCharset(c) => Some(Fault::character_set(c)),
            Self::Invalid(_) => None,
        }
    }
}

/// Extract the `charset` parameter of a Content-Type value (case-insensitive, spaces allowed).
pub fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"'))
    })
}

/// Decode a body. A byte-order mark wins over the declared charset.
pub fn decode(body: &[u8], charset: Option<&str>) -> Result<(String, Encoding), DecodeError> {
    if let Some(rest) = body.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return utf8(rest).map(|s| (s, Encoding::Utf8));
    }
    if let Some(rest) = body.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true).map(|s| (s, Encoding::Utf16Le));
    }
    if let Some(rest) = body.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false).map(|s| (s, Encoding::Utf16Be));
    }
    match charset.map(|c| c.to_ascii_lowercase()) {
        None => utf8(body).map(|s| (s, Encoding::Utf8)),
        Some(c) if c == "utf-8" || c == "utf8" => utf8(body).map(|s| (s, Encoding::Utf8)),
        Some(c) if c == "utf-16" || c == "utf-16le" => {
            utf16(body, true).map(|s| (s, Encoding::Utf16Le))
        }
        Some(c) if c == "utf-16be" => utf16(body, false).map(|s| (s, Encoding::Utf16Be)),
        Some(other) => Err(DecodeError::UnsupportedCharset(other)),
    }
}

fn utf8(b: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Invalid("UTF-8"))
}

/// UTF-16 to UTF-8. Runs of ASCII code units (all of the markup, most event text) are narrowed
/// a run at a time into a buffer sized for the whole body; only the code units between them go
/// through `char::decode_utf16`. A forwarder's batch arrives as about 200 KB of UTF-16, and one
/// character at a time into a growing `String` this was a visible part of the collector's CPU.
fn utf16(b: &[u8], little_endian: bool) -> Result<String, DecodeError> {
    if !b.len().is_multiple_of(2) {
        return Err(DecodeError::Invalid("UTF-16"));
    }
    let mut out = Vec::with_capacity(b.len() / 2);
    utf16_into(b, little_endian, &mut out)?;
    // Valid by construction (ASCII bytes and whole encoded chars): the check cannot fail.
    String::from_utf8(out).map_err(|_| DecodeError::Invalid("UTF-16"))
}

/// Appends the UTF-8 of `b` (whole code units, surrogates paired within it) to `out`.
fn utf16_into(b: &[u8], little_endian: bool, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    if little_endian {
        utf16_ordered_into::<0>(b, out)
    } else {
        utf16_ordered_into::<1>(b, out)
    }
}

/// [`utf16_into`] for one byte order: `LOW` is the index of a code unit's low byte (0 in
/// UTF-16LE, 1 in UTF-16BE), a constant so that the narrowing below compiles to shifts.
///
/// Blocks of 16 code units that are all ASCII (the markup and most event text) are read as
/// four 64-bit words, tested at once and narrowed a word at a time with shifts and masks; the
/// code units around a block that is not all ASCII go one at a time, and the others through
/// `char::decode_utf16`. The collector narrows every batch it takes: a byte at a time, this
/// was about 5 instructions per byte of UTF-16, a tenth of a fleet batch's user space.
fn utf16_ordered_into<const LOW: usize>(b: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    // A bit outside 0x007F in any of a word's four code units (16-bit lanes, least
    // significant byte first), in this byte order.
    let not_ascii: u64 = if LOW == 0 {
        0xFF80_FF80_FF80_FF80
    } else {
        0x80FF_80FF_80FF_80FF
    };
    let is_ascii = |c: &[u8]| c[1 - LOW] == 0 && c[LOW] < 0x80;
    let unit = |c: &[u8]| u16::from(c[LOW]) | (u16::from(c[1 - LOW]) << 8);
    let mut rest = b;
    while !rest.is_empty() {
        while let Some((block, tail)) = rest.split_first_chunk::<32>() {
            let words: [u64; 4] = std::array::from_fn(|i| {
                let mut word = [0u8; 8];
                word.copy_from_slice(&block[8 * i..8 * i + 8]);
                u64::from_le_bytes(word)
            });
            if (words[0] | words[1] | words[2] | words[3]) & not_ascii != 0 {
                break;
            }
            let mut narrow = [0u8; 16];
            for (four, word) in narrow.chunks_exact_mut(4).zip(words) {
                // The four ASCII bytes to the bottom byte of each lane, then side by side.
                let word = word >> (8 * LOW);
                let pairs = (word | (word >> 8)) & 0x0000_FFFF_0000_FFFF;
                four.copy_from_slice(&((pairs | (pairs >> 16)) as u32).to_le_bytes());
            }
            out.extend_from_slice(&narrow);
            rest = tail;
        }
        let ascii = rest.chunks_exact(2).take_while(|c| is_ascii(c)).count();
        out.extend(rest[..2 * ascii].chunks_exact(2).map(|c| c[LOW]));
        rest = &rest[2 * ascii..];
        let wide = rest.chunks_exact(2).take_while(|c| !is_ascii(c)).count();
        for c in char::decode_utf16(rest[..2 * wide].chunks_exact(2).map(unit)) {
            let c = c.map_err(|_| DecodeError::Invalid("UTF-16"))?;
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        rest = &rest[2 * wide..];
    }
    Ok(())
}

/// A body decoded as it arrives, a piece at a time: the same answer as [`decode`] of the whole
/// body, for any split. Why: the collector decompresses a forwarder's batch (about 400 KB of
/// UTF-16) in pieces of its 1 KB history, and converting each piece as it comes leaves no
/// buffer of the whole UTF-16 body and no second pass over it. Errors wait for
/// [`Decoder::finish`], so that whoever feeds the pieces reports its own errors first.
pub struct Decoder<'c> {
    charset: Option<&'c str>,
    /// The first bytes, held until a byte-order mark can be told (three bytes or the end).
    head: Vec<u8>,
    state: State,
    /// What to reserve for the output once the encoding is known.
    capacity: usize,
}

enum State {
    Undecided,
    Utf8(Vec<u8>),
    Utf16 {
        little_endian: bool,
        out: Vec<u8>,
        /// The bytes of an incomplete code unit, or of a high surrogate waiting for its pair
        /// (with the first byte of the next unit): at most three.
        carry: Vec<u8>,
    },
    Failed(DecodeError),
}

impl<'c> Decoder<'c> {
    /// A decoder for a body declared as `charset`, reserving `capacity` bytes of output.
    pub fn new(charset: Option<&'c str>, capacity: usize) -> Self {
        Decoder {
            charset,
            head: Vec::new(),
            state: State::Undecided,
            capacity,
        }
    }

    /// The next piece of the body.
    pub fn push(&mut self, mut piece: &[u8]) {
        if let State::Undecided = self.state {
            let take = (3 - self.head.len()).min(piece.len());
            self.head.extend_from_slice(&piece[..take]);
            piece = &piece[take..];
            if self.head.len() < 3 {
                return;
            }
            self.decide();
        }
        self.feed(piece);
    }

    /// The text and its encoding, or why the body is not text: [`decode`]'s answer.
    pub fn finish(mut self) -> Result<(String, Encoding), DecodeError> {
        if let State::Undecided = self.state {
            self.decide();
        }
        match self.state {
            State::Undecided => Err(DecodeError::Invalid("UTF-8")),
            State::Failed(error) => Err(error),
            State::Utf8(bytes) => String::from_utf8(bytes)
                .map(|s| (s, Encoding::Utf8))
                .map_err(|_| DecodeError::Invalid("UTF-8")),
            State::Utf16 {
                little_endian,
                out,
                carry,
            } => {
                if !carry.is_empty() {
                    return Err(DecodeError::Invalid("UTF-16"));
                }
                let encoding = if little_endian {
                    Encoding::Utf16Le
                } else {
                    Encoding::Utf16Be
                };
                // Valid by construction (ASCII bytes and whole encoded chars).
                String::from_utf8(out)
                    .map(|s| (s, encoding))
                    .map_err(|_| DecodeError::Invalid("UTF-16"))
            }
        }
    }

    /// The encoding from the held first bytes, as [`decode`] chooses it; they are fed on.
    fn decide(&mut self) {
        let head = std::mem::take(&mut self.head);
        let capacity = self.capacity;
        let utf16 = |little_endian| State::Utf16 {
            little_endian,
            out: Vec::with_capacity(capacity),
            carry: Vec::new(),
        };
        let (state, skip) = if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            (State::Utf8(Vec::with_capacity(capacity)), 3)
        } else if head.starts_with(&[0xFF, 0xFE]) {
            (utf16(true), 2)
        } else if head.starts_with(&[0xFE, 0xFF]) {
            (utf16(false), 2)
        } else {
            let state = match self.charset.map(|c| c.to_ascii_lowercase()) {
                None => State::Utf8(Vec::with_capacity(capacity)),
                Some(c) if c == "utf-8" || c == "utf8" => State::Utf8(Vec::with_capacity(capacity)),
                Some(c) if c == "utf-16" || c == "utf-16le" => utf16(true),
                Some(c) if c == "utf-16be" => utf16(false),
                Some(other) => State::Failed(DecodeError::UnsupportedCharset(other)),
            };
            (state, 0)
        };
        self.state = state;
        self.feed(&head[skip..]);
    }

    /// Converts what can be converted of `piece`; keeps an incomplete code unit or a high
    /// surrogate at its end for the next piece.
    fn feed(&mut self, mut piece: &[u8]) {
        let failed = match &mut self.state {
            State::Undecided | State::Failed(_) => return,
            State::Utf8(bytes) => {
                bytes.extend_from_slice(piece);
                return;
            }
            State::Utf16 {
                little_endian,
                out,
                carry,
            } => {
                let le = *little_endian;
                let high_surrogate = |unit: &[u8]| {
                    let top = if le { unit[1] } else { unit[0] };
                    (0xD8..0xDC).contains(&top)
                };
                // The carry completed first: a code unit, or a surrogate pair (or a high
                // surrogate and whatever follows it, refused as a pair would be).
                let mut result = Ok(());
                while !carry.is_empty() && !piece.is_empty() {
                    carry.push(piece[0]);
                    piece = &piece[1..];
                    let whole = carry.len() == 4 || (carry.len() == 2 && !high_surrogate(carry));
                    if whole {
                        result = utf16_into(carry, le, out);
                        carry.clear();
                    }
                }
                if result.is_ok() && carry.is_empty() {
                    let mut whole = piece.len() & !1;
                    if whole >= 2 && high_surrogate(&piece[whole - 2..whole]) {
                        whole -= 2;
                    }
                    result = utf16_into(&piece[..whole], le, out);
                    carry.extend_from_slice(&piece[whole..]);
                }
                match result {
                    Ok(()) => return,
                    Err(error) => error,
                }
            }
        };
        self.state = State::Failed(failed);
    }
}

/// Encode a response in the request's encoding (UTF-16 with a BOM, as Windows answers).
pub fn encode(xml: &str, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Utf8 => xml.as_bytes().to_vec(),
        Encoding::Utf16Le => {
            let mut out = Vec::with_capacity(2 + xml.len() * 2);
            out.extend_from_slice(&[0xFF, 0xFE]);
            utf16le_into(xml, &mut out);
            out
        }
        Encoding::Utf16Be => {
            let mut out = Vec::with_capacity(2 + xml.len() * 2);
            out.extend_from_slice(&[0xFE, 0xFF]);
            for u in xml.encode_utf16() {
                out.extend_from_slice(&u.to_be_bytes());
            }
            out
        }
    }
}

/// Append `xml` in UTF-16LE (no byte-order mark). Runs of ASCII (all of the markup and most event text) are
/// widened a run at a time, a loop the compiler vectorises; a forwarder encodes every batch it
/// sends, and one code unit at a time this was 4% of its CPU.
pub fn utf16le_into(xml: &str, out: &mut Vec<u8>) {
    let bytes = xml.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let run = bytes[at..].iter().take_while(|b| b.is_ascii()).count();
        let start = out.len();
        out.resize(start + 2 * run, 0);
        for (unit, &byte) in out[start..].chunks_exact_mut(2).zip(&bytes[at..at + run]) {
            unit[0] = byte;
        }
        at += run;
        let Some(c) = xml[at..].chars().next() else {
            break;
        };
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.extend_from_slice(&unit.to_le_bytes());
        }
        at += c.len_utf8();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    proptest::proptest! {
        #[test]
        fn utf16le_runs_equal_code_unit_at_a_time(text in "[a-z<>'\"=\\x00-\\x7f\\u{80}\\u{e9}\\u{7ff}\\u{800}\\u{fffd}\\u{10000}\\u{1f600}]{0,80}") {
            let mut expected = vec![0xFF, 0xFE];
            for u in text.encode_utf16() {
                expected.extend_from_slice(&u.to_le_bytes());
            }
            proptest::prop_assert_eq!(encode(&text, Encoding::Utf16Le), expected);
        }
    }

    proptest::proptest! {
        /// The run-at-a-time decoder agrees with the standard library's, one code unit at a
        /// time, on any sequence of code units (lone surrogates refused), in both byte orders;
        /// and on long ASCII runs (narrowed sixteen code units at a time) broken by a unit
        /// that is not ASCII in its low byte (0x80) or its high byte (0x100) anywhere in a
        /// block.
        #[test]
        fn utf16_runs_equal_std(units in proptest::prop_oneof![
            proptest::collection::vec(proptest::prop_oneof![
                0u16..0x80, 0x80u16..0x800, 0xD800u16..0xE000, 0xE000u16..=0xFFFF
            ], 0..64),
            proptest::collection::vec(proptest::prop_oneof![
                30 => 0u16..0x80, 1 => proptest::strategy::Just(0x80u16),
                1 => proptest::strategy::Just(0x100u16), 1 => 0xD800u16..0xE000
            ], 0..200),
        ]) {
            let expected = String::from_utf16(&units).ok();
            let le: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
            let be: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
            proptest::prop_assert_eq!(utf16(&le, true).ok(), expected.clone());
            proptest::prop_assert_eq!(utf16(&be, false).ok(), expected);
        }
    }

    /// Every byte of a narrowed block lands in its place: an ASCII text of three blocks and
    /// some, each character different, with one code unit that is not ASCII (in either byte,
    /// and a surrogate pair) at every position, in both byte orders.
    #[test]
    fn blocks_narrow_every_position() {
        let ascii: Vec<u16> = (0..53u16).map(|i| 0x21 + (i * 7) % 0x5E).collect();
        let others: [&[u16]; 5] = [&[0x80], &[0x100], &[0x7F80], &[0xFFFD], &[0xD83D, 0xDE00]];
        for at in 0..=ascii.len() {
            for other in others {
                let mut units = ascii.clone();
                units.splice(at..at, other.iter().copied());
                let expected = String::from_utf16(&units).unwrap();
                let le: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
                let be: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
                assert_eq!(utf16(&le, true).unwrap(), expected, "LE, at {at}");
                assert_eq!(utf16(&be, false).unwrap(), expected, "BE, at {at}");
            }
        }
        let le: Vec<u8> = ascii.iter().flat_map(|u| u.to_le_bytes()).collect();
        assert_eq!(
            utf16(&le, true).unwrap(),
            String::from_utf16(&ascii).unwrap()
        );
    }

    proptest::proptest! {
        /// A body fed in pieces cut anywhere (inside a byte-order mark, a code unit or a
        /// surrogate pair): the answer of decoding it whole, errors included.
        #[test]
        fn pieces_decode_as_the_whole(
            units in proptest::collection::vec(proptest::prop_oneof![
                8 => (0u16..0x80).prop_map(|u| vec![u]),
                2 => (0x80u16..0x800).prop_map(|u| vec![u]),
                1 => (0xD800u16..0xE000).prop_map(|u| vec![u]),
                3 => (0xD800u16..0xDC00, 0xDC00u16..0xE000).prop_map(|(h, l)| vec![h, l]),
                1 => (0xE000u16..=0xFFFF).prop_map(|u| vec![u]),
                1 => proptest::strategy::Just(vec![0xFEFFu16]),
                1 => proptest::strategy::Just(vec![0xBBEFu16]),
            ], 0..40).prop_map(|pieces| pieces.concat()),
            big_endian in proptest::bool::ANY,
            odd in proptest::bool::ANY,
            cuts in proptest::collection::vec(0usize..90, 0..6),
            declared in proptest::prop_oneof![
                proptest::strategy::Just(None), proptest::strategy::Just(Some("UTF-16")),
                proptest::strategy::Just(Some("utf-16be")), proptest::strategy::Just(Some("utf-8")),
                proptest::strategy::Just(Some("latin1")),
            ],
        ) {
            let mut body: Vec<u8> = units
                .iter()
                .flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() })
                .collect();
            if odd {
                body.push(0x3C);
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
            cuts.sort_unstable();
            let mut decoder = Decoder::new(declared, 0);
            let mut from = 0;
            for cut in cuts.into_iter().chain([body.len()]) {
                decoder.push(&body[from..cut]);
                from = cut;
            }
            proptest::prop_assert_eq!(decoder.finish(), decode(&body, declared));
        }
    }

    #[test]
    fn charset_parameter_forms() {
        assert_eq!(
            charset_param("application/soap+xml;charset=UTF-8"),
            Some("UTF-8")
        );
        assert_eq!(
            charset_param("application/soap+xml ; Charset = \"utf-16\""),
            Some("utf-16")
        );
        assert_eq!(charset_param("application/soap+xml"), None);
    }

    #[test]
    fn bom_wins_and_round_trips() {
        let text = "<a>ü€😀</a>";
        for enc in [Encoding::Utf8, Encoding::Utf16Le, Encoding::Utf16Be] {
            let bytes = encode(text, enc);
            let (back, got) = decode(&bytes, Some("UTF-8")).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, text);
            if enc != Encoding::Utf8 {
                assert_eq!(got, enc);
            }
        }
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            decode(b"x", Some("latin1")),
            Err(DecodeError::UnsupportedCharset(_))
        ));
        assert!(matches!(
            decode(&[0xC3], None),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            decode(&[0x3C, 0x00, 0x61], Some("utf-16")),
            Err(DecodeError::Invalid(_))
        ));
    }
}
