//! MD5 (RFC 1321) for the HMAC of sealed NTLM messages, with each step's additions kept off
//! its critical path.
//!
//! Why our own: sealed streaming runs HMAC-MD5 over every byte on both ends, and MD5's 64
//! steps are one dependency chain, so its speed is the length of each step's chain. In
//! `a = b + rotl(a + F(b, c, d) + X[k] + T[i], s)` only `b` is new (the previous step's
//! result): `a + X[k] + T[i]` and, in round 2, the half of G that does not read `b` can be
//! summed while the previous step runs, leaving F, one add, the rotate and one add on the
//! chain. The compiler re-associates the adds back into one chain after F whatever order
//! the source gives them, so the early sum is joined through an `or` with a zero it cannot
//! see through (read through `black_box` once per batch of blocks): the sum is then no
//! longer part of the add chain. OpenSSL's assembly orders its step the same way. Measured
//! in docs/benchmarks.md: 727-753 MB/s against `md-5`'s 585-593, and OpenSSL's 760.
//!
//! It plugs into the `digest` traits, so `hmac::Hmac` keys and finalises it as it does
//! `md-5`'s; the tests hold it to `md-5` byte for byte.

use digest::block_buffer::Eager;
use digest::core_api::{
    AlgorithmName, Block, BlockSizeUser, Buffer, BufferKindUser, CoreWrapper, FixedOutputCore,
    OutputSizeUser, UpdateCore,
};
use digest::typenum::{U16, U64};
use digest::{HashMarker, Output, Reset};

/// MD5 with the [`Md5Core`] block function, as a `digest` hasher.
pub(crate) type Md5 = CoreWrapper<Md5Core>;

const INITIAL_STATE: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The sines table of RFC 1321 (`T[i] = floor(abs(sin(i + 1)) * 2^32)`).
const T: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// Which message word each step of a round reads.
const WORD: [[usize; 16]; 4] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12],
    [5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2],
    [0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9],
];

/// The rotation of each step of a round, repeating every four steps.
const ROTATE: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];

/// One step: `a` is the oldest of the four values, `b` the newest; `early` is the part of the
/// sum that does not depend on `b`, `late` the part that does. `zero` is 0 (see the module
/// docs: it stops the compiler from moving `early`'s adds after `late`).
#[inline(always)]
fn step(early: u32, late: u32, b: u32, rotate: u32, zero: u32) -> u32 {
    (early | zero)
        .wrapping_add(late)
        .rotate_left(rotate)
        .wrapping_add(b)
}

/// The MD5 block function on `state`.
fn compress(state: &mut [u32; 4], block: &[u8; 64], zero: u32) {
    let mut x = [0u32; 16];
    for (word, bytes) in x.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    // `$early` and `$late` are closures of (b, c, d) giving the two parts of the round's
    // function; the four steps of each group rotate the roles as RFC 1321 does.
    macro_rules! round {
        ($round:expr, $early:expr, $late:expr) => {
            let words = &WORD[$round];
            let rotate = &ROTATE[$round];
            for group in 0..4 {
                let n = group * 4;
                let i = $round * 16 + n;
                // Step `k` of the group, with `a` the value it replaces.
                let step_k = |a: u32, b: u32, c: u32, d: u32, k: usize| {
                    let early = a
                        .wrapping_add(x[words[n + k]])
                        .wrapping_add(T[i + k])
                        .wrapping_add($early(b, c, d));
                    step(early, $late(b, c, d), b, rotate[k], zero)
                };
                a = step_k(a, b, c, d, 0);
                d = step_k(d, a, b, c, 1);
                c = step_k(c, d, a, b, 2);
                b = step_k(b, c, d, a, 3);
            }
        };
    }
    // F = (b & c) | (!b & d) = d ^ (b & (c ^ d)): all of it reads b.
    round!(
        0,
        |_: u32, _: u32, _: u32| 0u32,
        |b: u32, c: u32, d: u32| d ^ (b & (c ^ d))
    );
    // G = (b & d) | (c & !d): the two halves share no bit, so they add; c & !d is early.
    round!(
        1,
        |_: u32, c: u32, d: u32| c & !d,
        |b: u32, _: u32, d: u32| b & d
    );
    // H = b ^ c ^ d.
    round!(
        2,
        |_: u32, _: u32, _: u32| 0u32,
        |b: u32, c: u32, d: u32| b ^ (c ^ d)
    );
    // I = c ^ (b | !d).
    round!(
        3,
        |_: u32, _: u32, _: u32| 0u32,
        |b: u32, c: u32, d: u32| c ^ (b | !d)
    );
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

/// The block-level MD5 state, for [`CoreWrapper`].
#[derive(Clone)]
pub(crate) struct Md5Core {
    state: [u32; 4],
    /// Whole blocks hashed so far (the length in the padding).
    blocks: u64,
}

impl Md5Core {
    fn compress_blocks<'a>(&mut self, blocks: impl IntoIterator<Item = &'a [u8; 64]>) {
        // Read once per call, so the compiler cannot know it is zero (see the module docs).
        let zero = std::hint::black_box(0u32);
        for block in blocks {
            compress(&mut self.state, block, zero);
        }
    }
}

impl Default for Md5Core {
    fn default() -> Self {
        Self {
            state: INITIAL_STATE,
            blocks: 0,
        }
    }
}

impl HashMarker for Md5Core {}

impl BlockSizeUser for Md5Core {
    type BlockSize = U64;
}

impl BufferKindUser for Md5Core {
    type BufferKind = Eager;
}

impl OutputSizeUser for Md5Core {
    type OutputSize = U16;
}

impl UpdateCore for Md5Core {
    fn update_blocks(&mut self, blocks: &[Block<Self>]) {
        self.blocks = self.blocks.wrapping_add(blocks.len() as u64);
        self.compress_blocks(blocks.iter().map(|block| block.as_ref()));
    }
}

impl FixedOutputCore for Md5Core {
    fn finalize_fixed_core(&mut self, buffer: &mut Buffer<Self>, out: &mut Output<Self>) {
        let bits = self
            .blocks
            .wrapping_mul(64)
            .wrapping_add(buffer.get_pos() as u64)
            .wrapping_mul(8);
        let mut state = self.state;
        let zero = std::hint::black_box(0u32);
        buffer.len64_padding_le(bits, |block| compress(&mut state, block.as_ref(), zero));
        for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
    }
}

impl Reset for Md5Core {
    fn reset(&mut self) {
        *self = Self::default();
    }
}

impl AlgorithmName for Md5Core {
    fn write_alg_name(f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Md5")
    }
}

impl std::fmt::Debug for Md5Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state is a function of the key under HMAC: never printed.
        f.write_str("Md5Core { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::Md5;
    use digest::Digest;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 1321's test suite (appendix A.5).
    #[test]
    fn rfc_1321_vectors() {
        let vectors: [(&str, &str); 7] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, expected) in vectors {
            assert_eq!(hex(&Md5::digest(input.as_bytes())), expected, "{input:?}");
        }
    }

    /// Around every padding edge and the block size, and one large message, against `md-5`.
    #[test]
    fn the_same_digest_as_md5_crate_at_every_padding_edge() {
        let data: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in (0..=200).chain([511, 512, 513, 4095, 4096, 4097, 65_536, 70_000]) {
            assert_eq!(
                Md5::digest(&data[..len])[..],
                md5::Md5::digest(&data[..len])[..],
                "length {len}"
            );
        }
    }

    proptest! {
        /// Any message fed in any pieces: the same digest as `md-5` fed it whole.
        #[test]
        fn any_pieces_give_the_md5_crate_digest(
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut ours = Md5::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                ours.update(&data[from..cut]);
                from = cut;
            }
            prop_assert_eq!(&ours.finalize()[..], &md5::Md5::digest(&data)[..]);
        }

        /// HMAC over it: the same tag as HMAC over `md-5`, for any key and message.
        #[test]
        fn hmac_gives_the_md5_crate_tag(
            key in proptest::collection::vec(any::<u8>(), 0..100),
            data in proptest::collection::vec(any::<u8>(), 0..2000),
        ) {
            let mut ours = <Hmac<Md5> as Mac>::new_from_slice(&key).unwrap();
            ours.update(&data);
            let mut theirs = <Hmac<md5::Md5> as Mac>::new_from_slice(&key).unwrap();
            theirs.update(&data);
            prop_assert_eq!(ours.finalize().into_bytes(), theirs.finalize().into_bytes());
        }
    }
}
