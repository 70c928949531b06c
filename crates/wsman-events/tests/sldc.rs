//! SLDC (ECMA-321): a stream written bit by bit from the standard's symbol table decodes to
//! its text; whatever our compressor or the stored scheme writes decodes back; the output
//! limit holds; malformed streams are refused, never panic.

use proptest::prelude::*;
use wsman_events::sldc::{self, SldcError};
use wsman_test::ecma321;

/// Packs a string of '0'/'1' (spaces ignored) into bytes, most significant bit first, padded
/// with zeros: the test's own bit writer, independent of the module's.
fn pack(bits: &str) -> Vec<u8> {
    let bits: Vec<u8> = bits
        .bytes()
        .filter(|b| *b != b' ')
        .map(|b| b - b'0')
        .collect();
    bits.chunks(8)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .fold(0u8, |byte, (i, bit)| byte | (bit << (7 - i)))
        })
        .collect()
}

/// "ABABABA" from the standard's symbols: Reset 1 (nine 1s, 0101), literal 'A' (0, 0x41),
/// literal 'B' (0, 0x42), a copy pointer (1) of 5 bytes (match count 10 01 = 4 + 1) from
/// history position 0 (ten 0s) -- overlapping the bytes it writes --, End Marker (nine 1s, 1111).
const ABABABA: &str = "111111111 0101  0 01000001  0 01000010  1 1001 0000000000  111111111 1111";

#[test]
fn a_stream_written_from_the_standard_decodes() {
    assert_eq!(sldc::decompress(&pack(ABABABA), 100).unwrap(), b"ABABABA");
    // Scheme 2 after a Reset 2: bytes as themselves, 0xFF followed by a 0, then a Flush with
    // its padding, Scheme 1 and a literal, End of Record.
    let stored = "111111111 0110  01011000 11111111 0  111111111 0000 000  111111111 0001  0 01011001  111111111 0100";
    assert_eq!(sldc::decompress(&pack(stored), 100).unwrap(), b"X\xffY");
    // The same without End of Record: it ends inside the record, cut.
    let cut = &stored[..stored.len() - "  111111111 0100".len()];
    assert!(matches!(
        sldc::decompress(&pack(cut), 100),
        Err(SldcError::Truncated(_))
    ));
}

/// A copy pointer whose source and destination both wrap around the 1,024-byte history and
/// overlap (the source starts two bytes behind the write position): the standard copies byte
/// after byte, so the two bytes before it repeat. 1,022 literals, then a copy of 8 from 1,020.
#[test]
fn a_copy_that_wraps_the_history_and_reads_what_it_writes_repeats() {
    let literal = |i: usize| (i % 251) as u8;
    let mut bits = String::from("111111111 0101 ");
    for i in 0..1022 {
        bits.push_str(&format!("0 {:08b} ", literal(i)));
    }
    // Match count 8: 110 000; position 1020 in ten bits.
    bits.push_str(&format!("1 110000 {:010b} ", 1020));
    bits.push_str("111111111 1111");
    let decoded = sldc::decompress(&pack(&bits), 4096).unwrap();
    let mut expected: Vec<u8> = (0..1022).map(literal).collect();
    for i in 0..8 {
        expected.push(literal(1020 + i % 2));
    }
    assert_eq!(decoded, expected);
}

#[test]
fn the_limit_holds() {
    assert_eq!(
        sldc::decompress(&pack(ABABABA), 6),
        Err(SldcError::TooLarge(6))
    );
    // 200 KiB of one byte compresses to a few KiB; a 64 KiB limit stops it.
    let big = sldc::compress(&vec![b'a'; 200 * 1024]);
    assert!(big.len() < 8 * 1024, "compressed to {}", big.len());
    assert_eq!(
        sldc::decompress(&big, 64 * 1024),
        Err(SldcError::TooLarge(64 * 1024))
    );
}

#[test]
fn malformed_streams_are_refused() {
    // Data before any scheme.
    assert!(matches!(
        sldc::decompress(&pack("0 01000001 0000000"), 100),
        Err(SldcError::NoScheme(0))
    ));
    // An unknown control code (0111).
    assert!(matches!(
        sldc::decompress(&pack("111111111 0111"), 100),
        Err(SldcError::UnknownControl { code: 7, .. })
    ));
    // A copy pointer cut in its displacement.
    assert!(matches!(
        sldc::decompress(&pack("111111111 0101 1 00 000"), 100),
        Err(SldcError::Truncated(_))
    ));
}

#[test]
fn xml_bodies_labelled_sldc_are_recognised() {
    assert!(sldc::looks_uncompressed(b"<s:Envelope/>"));
    assert!(sldc::looks_uncompressed(b"\xff\xfe<\0"));
    assert!(sldc::looks_uncompressed(b"\xef\xbb\xbf<"));
    assert!(!sldc::looks_uncompressed(&pack(ABABABA)));
    assert!(!sldc::looks_uncompressed(&sldc::compress(b"<s:Envelope/>")));
}

proptest! {
    #[test]
    fn compressed_data_decodes_to_itself(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        prop_assert_eq!(sldc::decompress(&sldc::compress(&data), data.len()).unwrap(), data.clone());
        prop_assert_eq!(sldc::decompress(&sldc::store(&data), data.len()).unwrap(), data);
    }

    #[test]
    fn repetitive_text_decodes_to_itself(words in proptest::collection::vec("[<>a-c/ ]{1,12}", 0..600)) {
        let text = words.concat().into_bytes();
        let compressed = sldc::compress(&text);
        prop_assert_eq!(sldc::decompress(&compressed, text.len()).unwrap(), text);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(out) = sldc::decompress(&data, 4096) {
            prop_assert!(out.len() <= 4096);
        }
    }
}

/// Every padding after End of Record from 0 to 31 bits (zero bits to any boundary up to 32),
/// with the length after it and without, written by the harness's ECMA-321 writer (not our
/// compressor): each decodes to its text. A 1-bit anywhere in that padding, a length that
/// disagrees, or a byte more are refused.
#[test]
fn every_padding_up_to_32_bits_is_read_with_and_without_the_length() {
    let plain = b"<Event xmlns='e'><System><Computer>web01</Computer></System></Event>";
    for padding in 0..32 {
        for with_length in [false, true] {
            let stream = ecma321::framed(plain, padding, with_length);
            assert_eq!(
                sldc::decompress(&stream, 1 << 16).as_deref(),
                Ok(&plain[..]),
                "padding {padding}, length {with_length}"
            );
            let trailer = if with_length { 4 } else { 0 };
            // The padding's bits are the last `padding` bits before the length.
            let end = (stream.len() - trailer) * 8;
            for bit in end - padding..end {
                let mut flipped = stream.clone();
                flipped[bit / 8] |= 0x80 >> (bit % 8);
                assert!(
                    sldc::decompress(&flipped, 1 << 16).is_err(),
                    "padding {padding}, bit {bit} set, length {with_length}"
                );
            }
            // A zero byte more: still padding while that stays under 32 bits and no length
            // came before it; otherwise refused.
            let mut longer = stream.clone();
            longer.push(0);
            assert_eq!(
                sldc::decompress(&longer, 1 << 16).is_ok(),
                !with_length && padding + 8 < 32,
                "padding {padding} and a zero byte more, length {with_length}"
            );
        }
        let mut wrong = ecma321::framed(plain, padding, true);
        let at = wrong.len() - 4;
        wrong[at] ^= 1;
        assert!(matches!(
            sldc::decompress(&wrong, 1 << 16),
            Err(SldcError::LengthMismatch { .. })
        ));
    }
    // 32 bits of padding (a whole zero word after the byte boundary) are not padding.
    let mut too_long = ecma321::framed(plain, 0, false);
    too_long.extend_from_slice(&[0; 4]);
    assert!(sldc::decompress(&too_long, 1 << 16).is_err());
}

proptest! {
    #[test]
    fn independently_written_streams_decode_whatever_their_padding(
        plain in proptest::collection::vec(any::<u8>(), 8..600),
        padding in 0usize..32,
        with_length: bool,
        tail in proptest::collection::vec(1u8..=255, 0..3),
    ) {
        let mut plain = plain;
        // Some bytes other than 0xFF at the start, for the writer's split.
        for byte in &mut plain[..8] {
            *byte &= 0x7F;
        }
        let stream = ecma321::framed(&plain, padding, with_length);
        prop_assert_eq!(sldc::decompress(&stream, plain.len()).unwrap(), plain.clone());
        // A non-zero byte after it is never read as padding.
        if !tail.is_empty() {
            let mut longer = stream;
            longer.extend_from_slice(&tail);
            prop_assert!(sldc::decompress(&longer, plain.len()).is_err());
        }
    }
}
