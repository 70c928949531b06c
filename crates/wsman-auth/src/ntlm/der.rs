//! A minimal, bounded DER reader and writer: just enough for SPNEGO tokens (RFC 4178), the
//! `signatureAlgorithm` of an X.509 certificate and the names a certificate mapping matches.
//! Every length is checked against the input; nothing is allocated while reading.

/// One tag-length-value read from the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    /// The whole encoding (tag, length and value), for re-emitting it unchanged.
    pub raw: &'a [u8],
}

/// Reads one TLV from the front of `input`; returns it and the rest. Only single-byte tags and
/// definite lengths of at most four length bytes (DER) are accepted.
pub fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags never occur in the structures we read
    }
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let mut length = 0usize;
        for &byte in &rest[..count] {
            length = (length << 8) | usize::from(byte);
        }
        rest = &rest[count..];
        length
    };
    if rest.len() < length {
        return None;
    }
    let header = input.len() - rest.len();
    let tlv = Tlv {
        tag,
        value: &rest[..length],
        raw: &input[..header + length],
    };
    Some((tlv, &rest[length..]))
}

/// Reads exactly one TLV with `tag` filling the whole of `input`.
pub fn read_only(input: &[u8], tag: u8) -> Option<Tlv<'_>> {
    match read(input)? {
        (tlv, []) if tlv.tag == tag => Some(tlv),
        _ => None,
    }
}

/// The TLVs inside a constructed value, in order (at most `max`, else `None`).
pub fn children(mut value: &[u8], max: usize) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !value.is_empty() {
        if out.len() == max {
            return None;
        }
        let (tlv, rest) = read(value)?;
        out.push(tlv);
        value = rest;
    }
    Some(out)
}

/// Encodes `tag` + DER length + `value`.
pub fn write(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    let length = value.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = (length as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for size in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![7u8; size];
            let encoded = write(0x04, &value);
            let (tlv, rest) = read(&encoded).unwrap();
            assert_eq!(tlv.tag, 0x04);
            assert_eq!(tlv.value.len(), size);
            assert_eq!(tlv.raw, &encoded[..]);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn refuses_truncated_and_oversized_lengths() {
        assert!(read(&[]).is_none());
        assert!(read(&[0x30]).is_none());
        assert!(read(&[0x30, 0x05, 1, 2]).is_none());
        assert!(read(&[0x30, 0x85, 0, 0, 0, 0, 1]).is_none());
        assert!(read(&[0x30, 0x80]).is_none(), "indefinite length");
        assert!(read(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(read(&[0x1f, 0x01, 0x00]).is_none());
        assert!(read_only(&[0x04, 0x00, 0x00], 0x04).is_none(), "trailing");
        assert!(children(&[0x04, 0x00, 0x04, 0x00], 1).is_none(), "too many");
    }
}
