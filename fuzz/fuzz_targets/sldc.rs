//! Arbitrary bytes as an SLDC body: the decompressor must stop at its output limit, never
//! panic or hang; what it decodes, compressed again, must decode to the same bytes. And
//! arbitrary bytes after a well-formed stream's End of Record (where Windows puts padding and
//! the length): they are refused or read as that trailer, never change what the stream
//! decodes to; and zero bits to any boundary up to 32 after End of Record are read as padding.
//! Decoded straight into text (`decompress_text`, the collector's entry point), the same bytes
//! give what decompressing and then decoding their charset gives, errors included; and text
//! compressed as it is widened to UTF-16 (`compress_utf16le`) is the stream of its UTF-16.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_events::sldc;
use wsman_proto::charset::{self, Encoding};

fuzz_target!(|data: &[u8]| {
    for declared in [None, Some("UTF-16"), Some("utf-16be")] {
        let two_steps =
            sldc::decompress(data, 1 << 20).map(|plain| charset::decode(&plain, declared));
        assert_eq!(sldc::decompress_text(data, 1 << 20, declared), two_steps);
    }
    let text = String::from_utf8_lossy(data);
    assert_eq!(
        sldc::compress_utf16le(&text),
        sldc::compress(&charset::encode(&text, Encoding::Utf16Le))
    );
    if let Ok(plain) = sldc::decompress(data, 1 << 20) {
        assert!(plain.len() <= 1 << 20);
        assert_eq!(sldc::decompress(&sldc::compress(&plain), 1 << 20).unwrap(), plain);
    }
    // The first byte splits the rest into the text to compress and the bytes after it.
    if let Some((&split, rest)) = data.split_first() {
        let (plain, tail) = rest.split_at(usize::from(split).min(rest.len()));
        let mut stream = sldc::compress(plain);
        stream.extend_from_slice(tail);
        if let Ok(decoded) = sldc::decompress(&stream, 1 << 20) {
            assert_eq!(decoded, plain);
        }
        // Padded further, as an encoder aligning on 32 bits does: the stream without its
        // length (ours pads to 16 bits, at most one zero byte), up to two zero bytes more,
        // with the length again or not, always decodes to the text.
        let mut padded = sldc::compress(plain);
        let length = padded.split_off(padded.len() - 4);
        padded.resize(padded.len() + usize::from(split % 3), 0);
        if split & 4 != 0 {
            padded.extend_from_slice(&length);
        }
        assert_eq!(sldc::decompress(&padded, 1 << 20).as_deref(), Ok(plain));
    }
});
