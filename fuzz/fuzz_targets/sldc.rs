//! Arbitrary bytes as an SLDC body: the decompressor must stop at its output limit, never
//! panic or hang; what it decodes, compressed again, must decode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_events::sldc;

fuzz_target!(|data: &[u8]| {
    if let Ok(plain) = sldc::decompress(data, 1 << 20) {
        assert!(plain.len() <= 1 << 20);
        assert_eq!(sldc::decompress(&sldc::compress(&plain), 1 << 20).unwrap(), plain);
    }
});
