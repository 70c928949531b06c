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
    // Where the low (ASCII) byte and the high byte of a code unit are.
    let (low, high) = if little_endian { (0, 1) } else { (1, 0) };
    let unit = |c: &[u8]| u16::from(c[low]) | (u16::from(c[high]) << 8);
    // Eight code units read as one 128-bit word (each unit a 16-bit lane, least significant
    // byte first): all ASCII when no lane has a bit outside 0x007F, in the unit's byte order.
    let not_ascii: u128 = if little_endian {
        0xFF80_FF80_FF80_FF80_FF80_FF80_FF80_FF80
    } else {
        0x80FF_80FF_80FF_80FF_80FF_80FF_80FF_80FF
    };
    let mut out = Vec::with_capacity(b.len() / 2);
    let mut rest = b;
    while !rest.is_empty() {
        let mut ascii = 0;
        while let Some(block) = rest.get(2 * ascii..2 * ascii + 16) {
            let mut word = [0u8; 16];
            word.copy_from_slice(block);
            if u128::from_le_bytes(word) & not_ascii != 0 {
                break;
            }
            ascii += 8;
        }
        ascii += rest[2 * ascii..]
            .chunks_exact(2)
            .take_while(|c| c[high] == 0 && c[low] < 0x80)
            .count();
        out.extend(rest[..2 * ascii].chunks_exact(2).map(|c| c[low]));
        rest = &rest[2 * ascii..];
        let wide = rest
            .chunks_exact(2)
            .take_while(|c| c[high] != 0 || c[low] >= 0x80)
            .count();
        for c in char::decode_utf16(rest[..2 * wide].chunks_exact(2).map(unit)) {
            let c = c.map_err(|_| DecodeError::Invalid("UTF-16"))?;
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        rest = &rest[2 * wide..];
    }
    // Valid by construction (ASCII bytes and whole encoded chars): the check cannot fail.
    String::from_utf8(out).map_err(|_| DecodeError::Invalid("UTF-16"))
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

/// Append `xml` in UTF-16LE. Runs of ASCII (all of the markup and most event text) are
/// widened a run at a time, a loop the compiler vectorises; a forwarder encodes every batch it
/// sends, and one code unit at a time this was 4% of its CPU.
fn utf16le_into(xml: &str, out: &mut Vec<u8>) {
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
        /// and on long ASCII runs (read eight code units at a time) broken by a unit that is
        /// not ASCII in its low byte (0x80) or its high byte (0x100) anywhere in a block.
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
