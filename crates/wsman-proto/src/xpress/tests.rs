//! The codec against MS-XCA's own examples (section 3.2, bytes as the specification prints
//! them), WinRM's framing rules (MS-WSMV <134>), its bounds, and a property test.
//! Independent decoders are the oracle of `tests/interop/test_xpress.py`.

use super::*;
use proptest::prelude::*;

// MS-XCA 3.2, first example: `abcdefghijklmnopqrstuvwxyz` as literals and EOF.
const ALPHABET: &[&str] = &[
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "505555555555555555555545440400000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000004000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000d8523ed794115be9195ff9d67cdf8d0400000000",
];

// MS-XCA 3.2, second example: `abc` × 100, as `abc[match: distance=3, length=297][EOF]`.
const ABC_TIMES_100: &[&str] = &[
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "302300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000020",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000a8dc0000ff2601",
];

fn unhex(lines: &[&str]) -> Vec<u8> {
    let text: String = lines.concat();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn block(input: &[u8], size: usize) -> Result<Vec<u8>, XpressError> {
    let mut out = Vec::new();
    decompress_block(input, size, &mut out).map(|()| out)
}

#[test]
fn decodes_the_ms_xca_examples() {
    assert_eq!(
        block(&unhex(ALPHABET), 26).unwrap(),
        b"abcdefghijklmnopqrstuvwxyz"
    );
    assert_eq!(
        block(&unhex(ABC_TIMES_100), 300).unwrap(),
        b"abc".repeat(100)
    );
}

#[test]
fn encodes_the_ms_xca_examples_as_the_specification_prints_them() {
    // Both examples have one best parse and, with ties broken by symbol, one canonical code.
    assert_eq!(
        compress_block(b"abcdefghijklmnopqrstuvwxyz").unwrap(),
        unhex(ALPHABET)
    );
    assert_eq!(
        compress_block(&b"abc".repeat(100)).unwrap(),
        unhex(ABC_TIMES_100)
    );
}

#[test]
fn framing_follows_winrm() {
    // Under 266 bytes: stored, both lengths − 1 equal.
    let short = b"<Obj RefId=\"0\"/>".repeat(10);
    let framed = compress(&short);
    let n = (short.len() - 1) as u16;
    assert_eq!(&framed[..4], [n.to_le_bytes(), n.to_le_bytes()].concat());
    assert_eq!(&framed[4..], &short[..]);
    // 266 bytes and more: compressed when it helps.
    let long = b"abc".repeat(100);
    let framed = compress(&long);
    assert_eq!(&framed[..2], 299u16.to_le_bytes());
    assert_eq!(
        &framed[2..4],
        (ABC_TIMES_100.concat().len() as u16 / 2 - 1).to_le_bytes()
    );
    assert_eq!(&framed[4..], &unhex(ABC_TIMES_100)[..]);
    // 100 KiB: two blocks, the first of 64 KiB.
    let big: Vec<u8> = (0..100 * 1024u32).map(|i| (i % 251) as u8).collect();
    let framed = compress(&big);
    assert_eq!(&framed[..2], [0xFF, 0xFF]);
    assert!(framed.len() <= max_compressed_len(big.len()));
    assert_eq!(decompress(&framed, big.len()).unwrap(), big);
    assert!(compress(&[]).is_empty());
}

#[test]
fn incompressible_blocks_are_stored() {
    let mut state = 0x1234_5678u32;
    let noise: Vec<u8> = (0..4000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    let framed = compress(&noise);
    assert_eq!(framed.len(), noise.len() + HEADER);
    assert_eq!(&framed[..2], &framed[2..4]);
}

#[test]
fn the_bound_is_checked_before_decoding() {
    let framed = compress(&vec![b'a'; 60_000]);
    assert!(framed.len() < 1000);
    assert_eq!(
        decompress(&framed, 59_999),
        Err(XpressError::TooLarge { limit: 59_999 })
    );
    assert_eq!(decompress(&framed, 60_000).unwrap().len(), 60_000);
    // Many small blocks add up against the same bound.
    let many = compress(&vec![b'a'; 3 * BLOCK]);
    assert!(decompress(&many, 2 * BLOCK + 10).is_err());
}

#[test]
fn malformed_data_gets_typed_errors() {
    assert_eq!(decompress(&[1, 0, 1], 100), Err(XpressError::Truncated));
    // Compressed longer than the original.
    assert_eq!(
        decompress(&[0, 0, 1, 0, 0, 0], 100),
        Err(XpressError::Expanded {
            original: 1,
            compressed: 2
        })
    );
    // A table that is all zero codes nothing.
    let mut zero = vec![0u8; 300];
    assert_eq!(block(&zero, 10), Err(XpressError::BadTable));
    // An over-full table (every symbol 1 bit long).
    zero[..256].fill(0x11);
    assert_eq!(block(&zero, 10), Err(XpressError::BadTable));
    // A block asked for more than it holds, or cut short.
    let good = unhex(ABC_TIMES_100);
    assert!(block(&good, 301).is_err());
    assert_eq!(block(&good[..200], 300), Err(XpressError::Truncated));
    // A match before the start: the alphabet's table, with a stream starting on a match.
    let mut table = vec![0u8; 256];
    table[0] = 0x11; // symbols 0 and 1: one bit each
    let mut far = table.clone();
    far[128] = 0x00;
    far[..1].copy_from_slice(&[0x01]); // symbol 0 one bit ...
    far[128] = 0x10; // ... and symbol 257 (a match, distance 1) one bit
    far.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(
        block(&far, 5),
        Err(XpressError::BadDistance { distance: 1 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trips(data in prop::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..5000),
                   repeat in 1usize..40) {
        let data = data.repeat(repeat);
        let framed = compress(&data);
        prop_assert!(framed.len() <= max_compressed_len(data.len()));
        prop_assert_eq!(decompress(&framed, data.len()).unwrap(), data);
    }

    #[test]
    fn garbage_never_panics_and_stays_bounded(data in prop::collection::vec(any::<u8>(), 0..2000),
                                              limit in 0usize..100_000) {
        if let Ok(out) = decompress(&data, limit) {
            prop_assert!(out.len() <= limit);
        }
    }
}
