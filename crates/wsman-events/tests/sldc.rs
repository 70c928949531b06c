//! SLDC (ECMA-321): a stream written bit by bit from the standard's symbol table decodes to
//! its text; whatever our compressor or the stored scheme writes decodes back; the output
//! limit holds; malformed streams are refused, never panic.

use proptest::prelude::*;
use wsman_events::sldc::{self, SldcError};

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
