//! The SLDC codec on one forwarded batch, for instruction counts (`valgrind --tool=callgrind`):
//! the transcribed Windows events repeated to 205,000 bytes of text (about a batch of 100
//! events), then STEP run ROUNDS times on it. The cost of one batch is the difference between
//! two round counts, so that building the input cancels out.
//!
//!   sldc_bench STEP ROUNDS
//!
//! STEP: `compress_utf16le` (what a forwarder does), `compress` (of the UTF-16 bytes),
//! `decompress_text` (what a collector does), `decompress`, or `none` (the setup alone).

use std::hint::black_box;

use wsman_events::sldc;
use wsman_proto::charset::{self, Encoding};

/// Bytes of text in the batch.
const TEXT: usize = 205_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let step = args.next().unwrap_or_default();
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(1);
    let events = include_str!("../tests/fixtures/windows-forwarder/events.recorded.pretty.xml");
    let mut text = events.repeat(TEXT / events.len() + 1);
    let mut end = TEXT;
    while !text.is_char_boundary(end) {
        end += 1;
    }
    text.truncate(end);
    let utf16 = charset::encode(&text, Encoding::Utf16Le);
    let stream = sldc::compress(&utf16);
    let mut size = 0;
    for _ in 0..rounds {
        size = match step.as_str() {
            "compress_utf16le" => black_box(sldc::compress_utf16le(black_box(&text))).len(),
            "compress" => black_box(sldc::compress(black_box(&utf16))).len(),
            "decompress_text" => {
                let decoded = sldc::decompress_text(black_box(&stream), 1 << 22, Some("UTF-16"));
                match black_box(decoded) {
                    Ok(Ok((text, _))) => text.len(),
                    _ => panic!("the batch decodes"),
                }
            }
            "decompress" => black_box(sldc::decompress(black_box(&stream), 1 << 22))
                .expect("the batch decodes")
                .len(),
            "none" => 0,
            other => panic!("unknown step {other:?}"),
        };
    }
    println!(
        "text {} bytes, UTF-16 {} bytes, stream {} bytes; {step} x{rounds}: {size} bytes",
        text.len(),
        utf16.len(),
        stream.len()
    );
}
