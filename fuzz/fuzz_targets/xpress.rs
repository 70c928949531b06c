//! Arbitrary bytes as the Xpress-framed stream data of a Send: the decompressor stops at its
//! output limit and never panics or hangs; what it decodes, compressed again, decodes to the
//! same bytes. And arbitrary bytes as one LZ77+Huffman block of a declared size: refused or
//! decoded to exactly that size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_proto::xpress;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(plain) = xpress::decompress(data, LIMIT) {
        assert!(plain.len() <= LIMIT);
        let framed = xpress::compress(&plain);
        assert!(framed.len() <= xpress::max_compressed_len(plain.len()));
        assert_eq!(xpress::decompress(&framed, LIMIT).unwrap(), plain);
    }
    if let Some((size, block)) = data.split_first_chunk::<2>() {
        let size = usize::from(u16::from_le_bytes(*size)) + 1;
        let mut out = vec![7u8; 3];
        if xpress::decompress_block(block, size, &mut out).is_ok() {
            assert_eq!(out.len(), 3 + size);
        }
    }
});
