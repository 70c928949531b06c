//! SLDC as a Windows forwarder frames it, against the one public capture of a Windows
//! forwarder's compressed body (`tests/fixtures/windows-forwarder/heartbeat.captured.sldc`,
//! provenance in that folder's README): 1,006 bytes that decode to a 3,042-byte Heartbeat and
//! end with End of Record, zero bits to a 16-bit boundary and the uncompressed length.
//!
//! Both directions: the capture decodes to its recorded text; our encoder's stream of that
//! text ends the way the capture does, and a reference decoder written here from ECMA-321
//! (bit by bit, independent of the module; like OpenWEC's it stops at End of Record and, like
//! the capture suggests, reads the length after the padding) reads it back. Bad input derived
//! from the capture is refused: truncated, a length that disagrees, data after End of Record.

use proptest::prelude::*;
use wsman_events::sldc::{self, SldcError};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/windows-forwarder/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).expect("the fixture")
}

fn capture() -> Vec<u8> {
    fixture("heartbeat.captured.sldc")
}

fn captured_text() -> Vec<u8> {
    fixture("heartbeat.captured.utf16.xml")
}

/// What the reference decoder found: the output, the bit where End of Record ended, and the
/// bytes after the padding to the next 16-bit boundary.
struct Reference {
    plain: Vec<u8>,
    end_of_record_ends_at: usize,
    trailer: Vec<u8>,
}

/// A stream read one bit at a time, most significant first.
struct BitReader<'a> {
    stream: &'a [u8],
    at: usize,
}

impl BitReader<'_> {
    fn bit(&self, at: usize) -> u32 {
        u32::from((self.stream[at / 8] >> (7 - at % 8)) & 1)
    }

    fn peek(&self, count: usize) -> u32 {
        (self.at..self.at + count).fold(0, |value, at| (value << 1) | self.bit(at))
    }

    fn read(&mut self, count: usize) -> u32 {
        let value = self.peek(count);
        self.at += count;
        value
    }
}

/// ECMA-321 read bit by bit, stopping at End of Record (code 0100). Panics on anything it
/// does not expect: it only ever reads the capture and our encoder's streams.
fn reference_decode(stream: &[u8]) -> Reference {
    let mut bits = BitReader { stream, at: 0 };
    let mut plain = Vec::new();
    let mut history = [0u8; 1024];
    let mut stored = false;
    let push = |byte: u8, plain: &mut Vec<u8>, history: &mut [u8; 1024]| {
        history[plain.len() % 1024] = byte;
        plain.push(byte);
    };
    loop {
        // Nine 1-bits start a control symbol (a stored 0xFF is followed by a 0, so never 9).
        if bits.peek(9) == 0x1FF {
            bits.read(9);
            match bits.read(4) {
                4 => {
                    let end = bits.at;
                    let boundary = end.div_ceil(16) * 2;
                    for padding in end..boundary * 8 {
                        assert_eq!(bits.bit(padding), 0, "padding bit {padding}");
                    }
                    return Reference {
                        plain,
                        end_of_record_ends_at: end,
                        trailer: stream[boundary..].to_vec(),
                    };
                }
                5 => stored = false,
                6 => stored = true,
                other => panic!("control {other} at bit {}", bits.at - 13),
            }
            continue;
        }
        if stored {
            let byte = bits.read(8);
            if byte == 0xFF {
                bits.read(1);
            }
            push(byte as u8, &mut plain, &mut history);
            continue;
        }
        if bits.read(1) == 0 {
            let byte = bits.read(8);
            push(byte as u8, &mut plain, &mut history);
            continue;
        }
        // Match count: 0x | 10xx | 110xxx | 1110xxxx | 1111xxxxxxxx.
        let mut ones = 0;
        while ones < 4 && bits.read(1) == 1 {
            ones += 1;
        }
        let width = if ones == 4 { 8 } else { ones + 1 };
        let count = (2usize << ones) + bits.read(width) as usize;
        let mut from = bits.read(10) as usize;
        for _ in 0..count {
            let byte = history[from];
            push(byte, &mut plain, &mut history);
            from = (from + 1) % 1024;
        }
    }
}

#[test]
fn the_windows_capture_decodes_to_its_recorded_text() {
    let capture = capture();
    let text = captured_text();
    assert_eq!((capture.len(), text.len()), (1006, 3042));
    assert_eq!(sldc::decompress(&capture, text.len()).unwrap(), text);
    // The limit is the exact size: one byte less is refused, never cut.
    assert_eq!(
        sldc::decompress(&capture, text.len() - 1),
        Err(SldcError::TooLarge(text.len() - 1))
    );
    // The reference decoder reads the capture the same way (it is right about Windows' bytes).
    let reference = reference_decode(&capture);
    assert_eq!(reference.plain, text);
    assert_eq!(reference.trailer, 3042u32.to_le_bytes());
}

#[test]
fn our_stream_of_the_captured_text_is_framed_as_the_capture() {
    let capture = capture();
    let text = captured_text();
    let ours = sldc::compress(&text);
    // Starts with the same control symbol (Reset 1: nine 1-bits, 0101).
    assert_eq!(ours[..1], capture[..1]);
    assert_eq!(ours[1] & 0xF8, capture[1] & 0xF8);
    // Ends as the capture does: End of Record, zero bits to a 16-bit boundary, the length.
    let windows = reference_decode(&capture);
    let reference = reference_decode(&ours);
    assert_eq!(
        reference.plain, text,
        "a decoder that stops at End of Record reads ours"
    );
    assert_eq!(
        reference.trailer, windows.trailer,
        "the same length trailer"
    );
    assert_eq!(ours.len() % 2, 0);
    assert_eq!(
        ours.len(),
        reference.end_of_record_ends_at.div_ceil(16) * 2 + 4
    );
    assert_eq!(&ours[ours.len() - 4..], &capture[capture.len() - 4..]);
    // Not larger than Windows' own stream of the same text by more than a tenth.
    assert!(
        ours.len() * 10 <= capture.len() * 11,
        "{} bytes",
        ours.len()
    );
    assert_eq!(sldc::decompress(&ours, text.len()).unwrap(), text);
    // The stored scheme is framed the same way.
    let stored = sldc::store(&text);
    let reference = reference_decode(&stored);
    assert_eq!(reference.plain, text);
    assert_eq!(reference.trailer, windows.trailer);
}

#[test]
fn a_truncated_capture_is_refused() {
    let capture = capture();
    // Every cut before the End of Record's byte (byte 1,000 holds its last bits).
    for length in 0..1001 {
        assert!(
            sldc::decompress(&capture[..length], 1 << 20).is_err(),
            "cut at {length}"
        );
    }
    // Cut inside the length trailer.
    for length in 1003..1006 {
        assert!(
            matches!(
                sldc::decompress(&capture[..length], 1 << 20),
                Err(SldcError::TrailingData(_) | SldcError::LengthMismatch { .. })
            ),
            "cut at {length}"
        );
    }
    // Cut after the padding, before the trailer: a stream without the length, still read.
    assert_eq!(
        sldc::decompress(&capture[..1002], 1 << 20).unwrap(),
        captured_text()
    );
}

#[test]
fn a_length_trailer_that_disagrees_is_refused() {
    let mut capture = capture();
    let at = capture.len() - 4;
    capture[at] = 0xE3;
    assert_eq!(
        sldc::decompress(&capture, 1 << 20),
        Err(SldcError::LengthMismatch {
            stated: 3043,
            decoded: 3042
        })
    );
}

#[test]
fn data_after_end_of_record_is_refused() {
    let capture = capture();
    // A 1-bit in the padding after End of Record.
    let mut padded = capture.clone();
    padded[1001] = 0x01;
    assert!(matches!(
        sldc::decompress(&padded, 1 << 20),
        Err(SldcError::TrailingData(_))
    ));
    // A second record after the first one's trailer.
    let mut two = capture.clone();
    two.extend_from_slice(&sldc::compress(b"<more/>"));
    assert!(matches!(
        sldc::decompress(&two, 1 << 20),
        Err(SldcError::TrailingData(_))
    ));
    // The trailer followed by one byte more.
    let mut longer = capture;
    longer.push(0);
    assert!(matches!(
        sldc::decompress(&longer, 1 << 20),
        Err(SldcError::TrailingData(_))
    ));
}

proptest! {
    #[test]
    fn bytes_after_a_stream_never_change_what_it_decodes_to(
        plain in proptest::collection::vec(any::<u8>(), 0..512),
        tail in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let mut stream = sldc::compress(&plain);
        prop_assert_eq!(&reference_decode(&stream).plain, &plain);
        stream.extend_from_slice(&tail);
        if let Ok(out) = sldc::decompress(&stream, 1 << 20) {
            prop_assert_eq!(out, plain);
        }
    }
}
