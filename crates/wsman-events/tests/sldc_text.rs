//! SLDC decoded straight into text (`sldc::decompress_text`, what the collector does with a
//! compressed delivery) and UTF-16 compressed as it is widened (`sldc::compress_utf16le`, what
//! a forwarder sends): each gives exactly what the two steps it fuses give, on any input; and
//! against oracles that share nothing with this crate: the recorded Windows capture, and streams
//! written by the test crate's ECMA-321 writer, read as the standard library reads UTF-16.

use proptest::prelude::*;
use wsman_events::sldc;
use wsman_proto::charset::{self, Encoding};
use wsman_test::ecma321;

/// The two steps the fused decoder replaces: decompress, then decode the bytes' charset.
fn two_steps(
    stream: &[u8],
    limit: usize,
    charset: Option<&str>,
) -> Result<Result<(String, Encoding), charset::DecodeError>, sldc::SldcError> {
    sldc::decompress(stream, limit).map(|plain| charset::decode(&plain, charset))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/windows-forwarder/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).expect("the fixture")
}

/// The recorded text as the standard library reads UTF-16LE after its byte-order mark.
fn std_utf16le(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes[2..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).expect("UTF-16")
}

#[test]
fn the_windows_capture_decodes_straight_to_its_recorded_text() {
    let capture = fixture("heartbeat.captured.sldc");
    let recorded = fixture("heartbeat.captured.utf16.xml");
    for declared in [Some("UTF-16"), Some("utf-8"), None] {
        // The byte-order mark wins over what the Content-Type declares.
        let (text, encoding) = sldc::decompress_text(&capture, 1 << 20, declared)
            .expect("the capture is a stream")
            .expect("the capture is UTF-16");
        assert_eq!(encoding, Encoding::Utf16Le);
        assert_eq!(text, std_utf16le(&recorded));
    }
    // The limit still counts the decompressed UTF-16 bytes: 3,042 fit in 3,042, not in 3,041.
    assert!(sldc::decompress_text(&capture, recorded.len(), None).is_ok());
    assert_eq!(
        sldc::decompress_text(&capture, recorded.len() - 1, None),
        Err(sldc::SldcError::TooLarge(recorded.len() - 1))
    );
}

/// Text with code points of every UTF-8 length and UTF-16 surrogate pairs, as a strategy.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            8 => "[<>a-z =\"/]{1,12}",
            1 => Just("é".to_owned()),
            1 => Just("€ü".to_owned()),
            1 => Just("😀".to_owned()),
            1 => Just("\u{7ff}\u{800}\u{ffff}\u{10000}".to_owned()),
        ],
        0..max,
    )
    .prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Windows' framing of a stream written by an independent writer (Scheme 2 bytes, then
    /// Scheme 1 literals) of UTF-16LE text after a byte-order mark, long enough to pass
    /// through the history several times: the text the standard library reads from it.
    #[test]
    fn streams_of_an_independent_writer_decode_to_what_std_reads(
        text in text(400),
        padding in 0usize..32,
        with_length in any::<bool>(),
    ) {
        let utf16 = charset::encode(&format!("<e>{text}</e>"), Encoding::Utf16Le);
        let stream = ecma321::framed(&utf16, padding, with_length);
        let decoded = sldc::decompress_text(&stream, 1 << 20, Some("UTF-16"));
        prop_assert_eq!(decoded, Ok(Ok((std_utf16le(&utf16), Encoding::Utf16Le))));
    }

    /// Any bytes under any charset, compressed by us or stored: decoded straight to text,
    /// the answer of decompressing and then decoding, errors included (invalid UTF-8, a lone
    /// surrogate, an odd length, an unknown charset, an output over the limit).
    #[test]
    fn decoding_to_text_is_decompressing_then_decoding(
        units in proptest::collection::vec(prop_oneof![
            20 => 0x20u16..0x7F, 2 => 0x80u16..0x800, 1 => 0xD800u16..0xE000,
            1 => 0xE000u16..=0xFFFF, 1 => Just(0xFEFFu16), 1 => Just(0xFFFEu16),
        ], 0..1500),
        odd in any::<bool>(),
        big_endian in any::<bool>(),
        stored in any::<bool>(),
        declared in prop_oneof![
            Just(None), Just(Some("UTF-16")), Just(Some("utf-16be")), Just(Some("utf-8")),
            Just(Some("latin1")),
        ],
        limit in prop_oneof![Just(1usize << 20), 0usize..4000],
    ) {
        let mut plain: Vec<u8> = units
            .iter()
            .flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() })
            .collect();
        if odd {
            plain.push(b'x');
        }
        let stream = if stored { sldc::store(&plain) } else { sldc::compress(&plain) };
        prop_assert_eq!(
            sldc::decompress_text(&stream, limit, declared),
            two_steps(&stream, limit, declared)
        );
    }

    /// Arbitrary bytes as a stream: the same answer as the two steps, refusals included.
    #[test]
    fn any_bytes_decode_to_text_as_in_two_steps(
        stream in proptest::collection::vec(any::<u8>(), 0..300),
        declared in prop_oneof![Just(None), Just(Some("UTF-16"))],
    ) {
        prop_assert_eq!(
            sldc::decompress_text(&stream, 1 << 16, declared),
            two_steps(&stream, 1 << 16, declared)
        );
    }

    /// The forwarder's one pass writes the stream of compressing the UTF-16LE body, byte for
    /// byte, for texts that span many of its pieces.
    #[test]
    fn compressing_as_it_widens_is_compressing_the_utf16(text in text(6000)) {
        let utf16 = charset::encode(&text, Encoding::Utf16Le);
        prop_assert_eq!(sldc::compress_utf16le(&text), sldc::compress(&utf16));
    }
}

#[test]
fn a_batch_of_windows_events_compresses_as_it_widens_as_in_two_steps() {
    // The transcribed Windows events, repeated past several pieces of the widening.
    let events = fixture("events.recorded.pretty.xml");
    let events = String::from_utf8(events).expect("UTF-8");
    let batch = events.repeat(40);
    assert!(batch.len() > 100_000);
    let utf16 = charset::encode(&batch, Encoding::Utf16Le);
    let stream = sldc::compress_utf16le(&batch);
    assert_eq!(stream, sldc::compress(&utf16));
    assert_eq!(
        sldc::decompress_text(&stream, 1 << 22, Some("UTF-16")),
        Ok(Ok((batch, Encoding::Utf16Le)))
    );
}
