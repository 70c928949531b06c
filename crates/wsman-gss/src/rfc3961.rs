//! The RFC 3961 simplified profile with the RFC 3962 AES enctypes (aes128-cts-hmac-sha1-96 =
//! 17, aes256-cts-hmac-sha1-96 = 18): n-fold, key derivation (DK), AES-CBC with ciphertext
//! stealing and HMAC-SHA1-96. Ours instead of MIT's because MIT's built-in AES and SHA-1 use
//! neither AES-NI nor SHA-NI, and sealing is the daemon's hottest loop; RustCrypto's `aes`
//! and `sha1` pick the CPU instructions at run time.
#![forbid(unsafe_code)]

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::{Aes128, Aes256};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use wsman_mac_beside::{decrypt_then_mac, mac_beside, PARALLEL_MIN};
use zeroize::{Zeroize, Zeroizing};

/// AES block size, and the length of the confounder.
pub(super) const BLOCK: usize = 16;
/// HMAC-SHA1 truncated to 96 bits.
pub(super) const CHECKSUM_LEN: usize = 12;

/// The two enctypes implemented here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Enctype {
    Aes128CtsHmacSha1,
    Aes256CtsHmacSha1,
}

impl Enctype {
    /// The enctype for an RFC 3961 number, `None` for any we leave to MIT.
    pub(super) fn from_number(number: u32) -> Option<Self> {
        match number {
            17 => Some(Self::Aes128CtsHmacSha1),
            18 => Some(Self::Aes256CtsHmacSha1),
            _ => None,
        }
    }

    pub(super) fn key_len(self) -> usize {
        match self {
            Self::Aes128CtsHmacSha1 => 16,
            Self::Aes256CtsHmacSha1 => 32,
        }
    }
}

/// An expanded AES key of either size.
#[derive(Clone)]
enum AesKey {
    Aes128(Box<Aes128>),
    Aes256(Box<Aes256>),
}

impl AesKey {
    fn new(enctype: Enctype, key: &[u8]) -> Option<Self> {
        if key.len() != enctype.key_len() {
            return None;
        }
        Some(match enctype {
            Enctype::Aes128CtsHmacSha1 => {
                Self::Aes128(Box::new(Aes128::new(GenericArray::from_slice(key))))
            }
            Enctype::Aes256CtsHmacSha1 => {
                Self::Aes256(Box::new(Aes256::new(GenericArray::from_slice(key))))
            }
        })
    }

    fn encrypt_block(&self, block: &mut [u8]) {
        let block = GenericArray::from_mut_slice(block);
        match self {
            Self::Aes128(key) => key.encrypt_block(block),
            Self::Aes256(key) => key.encrypt_block(block),
        }
    }

    fn decrypt_blocks(&self, blocks: &mut [GenericArray<u8, aes::cipher::consts::U16>]) {
        match self {
            Self::Aes128(key) => key.decrypt_blocks(blocks),
            Self::Aes256(key) => key.decrypt_blocks(blocks),
        }
    }
}

/// The encryption (Ke) and integrity (Ki) keys of one key usage, ready to use.
#[derive(Clone)]
pub(super) struct UsageKeys {
    ke: AesKey,
    ki: Zeroizing<Vec<u8>>,
}

impl UsageKeys {
    /// Derive Ke and Ki for `usage` from the base key (RFC 3961 section 5.3: DK(base,
    /// usage | 0xAA) and DK(base, usage | 0x55)). `None` when the key has the wrong length.
    pub(super) fn derive(enctype: Enctype, base: &[u8], usage: u32) -> Option<Self> {
        let base_key = AesKey::new(enctype, base)?;
        let ke = derive_key(&base_key, enctype, usage, 0xaa);
        let ki = derive_key(&base_key, enctype, usage, 0x55);
        Some(Self {
            ke: AesKey::new(enctype, &ke)?,
            ki,
        })
    }

    /// RFC 3961 encryption: AES-CTS(Ke, confounder | plain) | HMAC-SHA1-96(Ki, confounder |
    /// plain), in place, on one thread: the reference the tests hold the faster paths to.
    /// `buffer` holds the 16-byte confounder followed by the plaintext (at least one byte, so
    /// more than one block); the checksum is appended.
    #[cfg(test)]
    pub(super) fn encrypt(&self, buffer: &mut Vec<u8>) {
        let checksum = self.checksum(buffer);
        cts_encrypt(&self.ke, buffer);
        buffer.extend_from_slice(&checksum);
    }

    /// RFC 3961 encryption of `parts` joined (confounder first): the ciphertext and
    /// checksum, as one buffer. From [`PARALLEL_MIN`] bytes on, the HMAC reads the parts on a
    /// helper thread while this one copies and encrypts them: the checksum is over the
    /// plaintext, so the two are independent, and SHA-1 and AES-CBC cost about the same per
    /// byte (CBC is serial: one block at a time). A sealed exchange is a request and its
    /// answer in turn, so the second core is free while one side seals.
    pub(super) fn encrypt_parts(&self, parts: &[&[u8]]) -> Vec<u8> {
        self.encrypt_parts_from(parts, PARALLEL_MIN)
    }

    /// [`UsageKeys::encrypt_parts`] on two threads from `parallel_min` bytes on (the tests
    /// compare both ways for every size).
    fn encrypt_parts_from(&self, parts: &[&[u8]], parallel_min: usize) -> Vec<u8> {
        let total: usize = parts.iter().map(|part| part.len()).sum();
        let mut buffer = Vec::with_capacity(total + CHECKSUM_LEN);
        self.encrypt_parts_into_from(parts, &mut buffer, parallel_min);
        buffer
    }

    /// [`UsageKeys::encrypt_parts`], appending the ciphertext and checksum to `out`: the
    /// parts are copied once, into `out`, and encrypted there.
    pub(super) fn encrypt_parts_into(&self, parts: &[&[u8]], out: &mut Vec<u8>) {
        self.encrypt_parts_into_from(parts, out, PARALLEL_MIN);
    }

    /// [`UsageKeys::encrypt_parts_into`] on two threads from `parallel_min` bytes on.
    fn encrypt_parts_into_from(&self, parts: &[&[u8]], out: &mut Vec<u8>, parallel_min: usize) {
        let total: usize = parts.iter().map(|part| part.len()).sum();
        let start = out.len();
        out.reserve(total + CHECKSUM_LEN);
        if total < parallel_min {
            for part in parts {
                out.extend_from_slice(part);
            }
            let checksum = self.checksum(&out[start..]);
            cts_encrypt(&self.ke, &mut out[start..]);
            out.extend_from_slice(&checksum);
            return;
        }
        let mac = mac_beside(
            HELPER_NAME,
            || self.mac(),
            parts,
            || {
                for part in parts {
                    out.extend_from_slice(part);
                }
                cts_encrypt(&self.ke, &mut out[start..]);
            },
        );
        out.extend_from_slice(&mac.finalize().into_bytes()[..CHECKSUM_LEN]);
    }

    /// The inverse of RFC 3961 encryption: verifies the checksum (in constant time) and
    /// leaves confounder | plaintext in `buffer`. `false` (and `buffer` unspecified) when the
    /// checksum does not match or the input is too short. From `parallel_min` bytes on a
    /// pipeline: this thread decrypts [`wsman_mac_beside::PIPELINE_BLOCK`] bytes at a time and
    /// hands each to a helper thread that feeds it to the HMAC while the next one is
    /// decrypted.
    fn decrypt_from(&self, buffer: &mut Vec<u8>, parallel_min: usize) -> bool {
        if buffer.len() < BLOCK + 1 + CHECKSUM_LEN {
            return false;
        }
        let body_len = buffer.len() - CHECKSUM_LEN;
        let mut received = [0u8; CHECKSUM_LEN];
        received.copy_from_slice(&buffer[body_len..]);
        buffer.truncate(body_len);
        if body_len < parallel_min {
            cts_decrypt(&self.ke, buffer);
            let mut mac = self.mac();
            mac.update(buffer);
            return mac.verify_truncated_left(&received).is_ok();
        }
        let full = cts_decrypt_tail(&self.ke, buffer);
        let (blocks, tail) = buffer.split_at_mut(full);
        let mut chain = CbcChain::default();
        let mac = decrypt_then_mac(
            HELPER_NAME,
            || self.mac(),
            blocks,
            |block| chain.decrypt(&self.ke, block),
            tail,
        );
        mac.verify_truncated_left(&received).is_ok()
    }

    /// RFC 3961 decryption of a ciphertext given as its first block (the confounder's,
    /// `confounder`) and the rest (`rest`, decrypted in place), checked against `received`:
    /// the caller's buffer then starts at the data, with no confounder to cut off the front.
    /// `false` (and `rest` unspecified) when the checksum does not match.
    pub(super) fn decrypt_after_confounder(
        &self,
        confounder: &[u8; BLOCK],
        rest: &mut [u8],
        received: &[u8; CHECKSUM_LEN],
    ) -> bool {
        self.decrypt_after_confounder_from(confounder, rest, received, PARALLEL_MIN)
    }

    /// [`UsageKeys::decrypt_after_confounder`], pipelined from `parallel_min` bytes on.
    fn decrypt_after_confounder_from(
        &self,
        confounder: &[u8; BLOCK],
        rest: &mut [u8],
        received: &[u8; CHECKSUM_LEN],
        parallel_min: usize,
    ) -> bool {
        if rest.len() <= BLOCK {
            // Ciphertext stealing reaches back into the confounder's block: the whole way.
            let mut whole = Vec::with_capacity(BLOCK + rest.len() + CHECKSUM_LEN);
            whole.extend_from_slice(confounder);
            whole.extend_from_slice(rest);
            whole.extend_from_slice(received);
            if !self.decrypt_from(&mut whole, parallel_min) {
                return false;
            }
            rest.copy_from_slice(&whole[BLOCK..]);
            return true;
        }
        let mut first = [GenericArray::clone_from_slice(confounder)];
        self.ke.decrypt_blocks(&mut first);
        // IV zero: the confounder's plaintext is its block decrypted.
        let confounder_plain: [u8; BLOCK] = first[0].into();
        let new_mac = || {
            let mut mac = self.mac();
            mac.update(&confounder_plain);
            mac
        };
        let full = cts_decrypt_tail(&self.ke, rest);
        let mut chain = CbcChain {
            previous: *confounder,
        };
        let mac = if rest.len() < parallel_min {
            chain.decrypt(&self.ke, &mut rest[..full]);
            let mut mac = new_mac();
            mac.update(rest);
            mac
        } else {
            let (blocks, tail) = rest.split_at_mut(full);
            decrypt_then_mac(
                HELPER_NAME,
                new_mac,
                blocks,
                |block| chain.decrypt(&self.ke, block),
                tail,
            )
        };
        mac.verify_truncated_left(received).is_ok()
    }

    fn mac(&self) -> Hmac<Sha1> {
        // HMAC takes any key length: this cannot fail.
        <Hmac<Sha1> as Mac>::new_from_slice(&self.ki).unwrap_or_else(|_| unreachable!())
    }

    fn checksum(&self, data: &[u8]) -> [u8; CHECKSUM_LEN] {
        let mut mac = self.mac();
        mac.update(data);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; CHECKSUM_LEN];
        out.copy_from_slice(&full[..CHECKSUM_LEN]);
        out
    }
}

/// The name of the HMAC's helper thread for a large message (see [`wsman_mac_beside`]: from
/// [`PARALLEL_MIN`] bytes on, HMAC-SHA1 runs beside AES-CBC).
const HELPER_NAME: &str = "krb5-hmac";

/// DK(base, usage | kind) for the AES enctypes: random-to-key is the identity, DR iterates
/// AES over the 128-fold of the constant until the key length is filled.
fn derive_key(base: &AesKey, enctype: Enctype, usage: u32, kind: u8) -> Zeroizing<Vec<u8>> {
    let mut constant = [0u8; 5];
    constant[..4].copy_from_slice(&usage.to_be_bytes());
    constant[4] = kind;
    let mut block = [0u8; BLOCK];
    block.copy_from_slice(&nfold(&constant, BLOCK));
    let mut out = Zeroizing::new(Vec::with_capacity(enctype.key_len()));
    while out.len() < enctype.key_len() {
        base.encrypt_block(&mut block);
        let take = (enctype.key_len() - out.len()).min(BLOCK);
        out.extend_from_slice(&block[..take]);
    }
    block.zeroize();
    out
}

/// RFC 3961 section 5.1 n-fold: replicate the input, each copy rotated 13 bits right of the
/// one before, to the least common multiple of both lengths, and add the `out_len`-byte
/// pieces with end-around carry.
pub(super) fn nfold(input: &[u8], out_len: usize) -> Vec<u8> {
    let in_len = input.len();
    let mut out = vec![0u8; out_len];
    if in_len == 0 || out_len == 0 {
        return out;
    }
    let lcm = in_len / gcd(in_len, out_len) * out_len;
    let in_bits = in_len * 8;
    // Bit `b` of the replicated string (b = 0 is the most significant bit of byte 0).
    let bit = |b: usize| -> u32 {
        let copy = b / in_bits;
        let offset = b % in_bits;
        // Copy `copy` is the input rotated right by 13 * copy bits.
        let rotation = (13 * copy) % in_bits;
        let source = (offset + in_bits - rotation) % in_bits;
        u32::from((input[source / 8] >> (7 - source % 8)) & 1)
    };
    let mut carry = 0u32;
    // Add the pieces from the least significant byte up, carrying across pieces.
    let mut sums = vec![0u32; out_len];
    for piece in 0..lcm / out_len {
        for (index, sum) in sums.iter_mut().enumerate() {
            let start = (piece * out_len + index) * 8;
            let mut byte = 0u32;
            for b in 0..8 {
                byte = (byte << 1) | bit(start + b);
            }
            *sum += byte;
        }
    }
    for index in (0..out_len).rev() {
        let value = sums[index] + carry;
        out[index] = (value & 0xff) as u8;
        carry = value >> 8;
    }
    while carry != 0 {
        for index in (0..out_len).rev() {
            let value = u32::from(out[index]) + carry;
            out[index] = (value & 0xff) as u8;
            carry = value >> 8;
        }
    }
    out
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// AES-CBC with ciphertext stealing as RFC 3962 uses it (IV zero; the last two blocks
/// swapped, the final one truncated), in place. `data` must be longer than one block.
fn cts_encrypt(key: &AesKey, data: &mut [u8]) {
    debug_assert!(data.len() > BLOCK);
    let len = data.len();
    let tail = match len % BLOCK {
        0 => BLOCK,
        partial => partial,
    };
    let full = len - tail; // bytes up to and including block m-1
    let mut previous = [0u8; BLOCK];
    for chunk in data[..full].chunks_exact_mut(BLOCK) {
        for (byte, prev) in chunk.iter_mut().zip(previous.iter()) {
            *byte ^= prev;
        }
        key.encrypt_block(chunk);
        previous.copy_from_slice(chunk);
    }
    // `previous` is C(m-1); encrypt the zero-padded last block chained to it.
    let mut last = [0u8; BLOCK];
    last[..tail].copy_from_slice(&data[full..]);
    for (byte, prev) in last.iter_mut().zip(previous.iter()) {
        *byte ^= prev;
    }
    key.encrypt_block(&mut last);
    // Output: ..., C(m), C(m-1) truncated to the tail length.
    let penultimate = full - BLOCK;
    data[penultimate..full].copy_from_slice(&last);
    data[full..].copy_from_slice(&previous[..tail]);
}

/// The inverse of [`cts_encrypt`], in place; the whole blocks are decrypted eight at a time
/// (AES-NI decrypts blocks in parallel; only encryption is serial in CBC).
fn cts_decrypt(key: &AesKey, data: &mut [u8]) {
    let full = cts_decrypt_tail(key, data);
    CbcChain::default().decrypt(key, &mut data[..full]);
}

/// The ciphertext-stealing end of [`cts_decrypt`]: writes the plaintext of the last
/// (partial) block at `data[full..]` and puts C(m-1) back in its place, leaving
/// `data[..full]` (returned as `full`) a plain CBC ciphertext with IV zero.
fn cts_decrypt_tail(key: &AesKey, data: &mut [u8]) -> usize {
    debug_assert!(data.len() > BLOCK);
    let len = data.len();
    let tail = match len % BLOCK {
        0 => BLOCK,
        partial => partial,
    };
    let full = len - tail;
    let penultimate = full - BLOCK;
    // Swapped on the wire: data[penultimate..full] is C(m), data[full..] the head of C(m-1).
    let mut last_cipher = [0u8; BLOCK];
    last_cipher.copy_from_slice(&data[penultimate..full]);
    let mut decrypted_last = [GenericArray::clone_from_slice(&last_cipher)];
    key.decrypt_blocks(&mut decrypted_last);
    let decrypted_last = decrypted_last[0];
    // C(m-1) = the received head | the rest of D(C(m)) (the zero padding xor C(m-1)).
    let mut second_cipher = [0u8; BLOCK];
    second_cipher[..tail].copy_from_slice(&data[full..]);
    second_cipher[tail..].copy_from_slice(&decrypted_last[tail..]);
    let mut plain_tail = [0u8; BLOCK];
    for index in 0..tail {
        plain_tail[index] = decrypted_last[index] ^ second_cipher[index];
    }
    data[penultimate..full].copy_from_slice(&second_cipher);
    data[full..].copy_from_slice(&plain_tail[..tail]);
    full
}

/// Blocks decrypted by AES at once before the CBC xor.
const CBC_BATCH: usize = 8;

/// CBC decryption with IV zero over consecutive pieces of one ciphertext (each a whole
/// number of blocks): the last ciphertext block of a piece chains into the next piece.
#[derive(Default)]
struct CbcChain {
    previous: [u8; BLOCK],
}

impl CbcChain {
    fn decrypt(&mut self, key: &AesKey, data: &mut [u8]) {
        debug_assert!(data.len().is_multiple_of(BLOCK));
        let mut batch = [GenericArray::<u8, aes::cipher::consts::U16>::default(); CBC_BATCH];
        for group in data.chunks_mut(CBC_BATCH * BLOCK) {
            let count = group.len() / BLOCK;
            for (slot, block) in batch.iter_mut().zip(group.chunks_exact(BLOCK)) {
                slot.copy_from_slice(block);
            }
            key.decrypt_blocks(&mut batch[..count]);
            for (chunk, plain) in group.chunks_exact_mut(BLOCK).zip(batch.iter()) {
                let mut cipher = [0u8; BLOCK];
                cipher.copy_from_slice(chunk);
                for index in 0..BLOCK {
                    chunk[index] = plain[index] ^ self.previous[index];
                }
                self.previous = cipher;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wsman_mac_beside::PIPELINE_BLOCK;

    fn hex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 3961 appendix A.1.
    #[test]
    fn nfold_matches_the_rfc_3961_vectors() {
        let cases: [(&str, usize, &str); 8] = [
            ("012345", 64, "be072631276b1955"),
            ("password", 56, "78a07b6caf85fa"),
            ("Rough Consensus, and Running Code", 64, "bb6ed30870b7f0e0"),
            (
                "password",
                168,
                "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e",
            ),
            (
                "MASSACHVSETTS INSTITVTE OF TECHNOLOGY",
                192,
                "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b",
            ),
            ("Q", 168, "518a54a215a8452a518a54a215a8452a518a54a215"),
            ("ba", 168, "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"),
            ("kerberos", 128, "6b65726265726f737b9b5b2b93132b93"),
        ];
        for (input, bits, expected) in cases {
            assert_eq!(
                nfold(input.as_bytes(), bits / 8),
                hex(expected),
                "{bits}-fold({input:?})"
            );
        }
    }

    /// RFC 3962 appendix B ("chicken teriyaki", IV zero).
    #[test]
    fn cts_matches_the_rfc_3962_vectors() {
        let key = AesKey::new(
            Enctype::Aes128CtsHmacSha1,
            &hex("636869636b656e207465726979616b69"),
        )
        .unwrap();
        let cases = [
            (
                "4920776f756c64206c696b652074686520",
                "c6353568f2bf8cb4d8a580362da7ff7f97",
            ),
            (
                "4920776f756c64206c696b65207468652047656e6572616c20476175277320",
                "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5",
            ),
            (
                "4920776f756c64206c696b65207468652047656e6572616c2047617527732043",
                "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584",
            ),
        ];
        for (plain, cipher) in cases {
            let mut data = hex(plain);
            cts_encrypt(&key, &mut data);
            assert_eq!(data, hex(cipher), "encrypt {plain}");
            cts_decrypt(&key, &mut data);
            assert_eq!(data, hex(plain), "decrypt {cipher}");
        }
    }

    /// The implementation before decryption was batched and pipelined: the same
    /// ciphertext-stealing end, then every whole block decrypted at once into a copy and the
    /// CBC xor. (The end itself is checked against RFC 3962's vectors.)
    fn reference_cts_decrypt(key: &AesKey, data: &mut [u8]) {
        let full = cts_decrypt_tail(key, data);
        let mut blocks: Vec<GenericArray<u8, aes::cipher::consts::U16>> = data[..full]
            .chunks_exact(BLOCK)
            .map(GenericArray::clone_from_slice)
            .collect();
        key.decrypt_blocks(&mut blocks);
        let mut previous = [0u8; BLOCK];
        for (chunk, plain) in data[..full].chunks_exact_mut(BLOCK).zip(blocks.iter()) {
            let mut cipher = [0u8; BLOCK];
            cipher.copy_from_slice(chunk);
            for index in 0..BLOCK {
                chunk[index] = plain[index] ^ previous[index];
            }
            previous = cipher;
        }
    }

    /// Sizes (of confounder | plaintext | header copy) around the AES block, the CBC batch,
    /// the pipeline block and the two-thread threshold.
    fn sizes() -> Vec<usize> {
        let mut sizes = vec![17, 31, 32, 33, 127, 128, 129, 1000];
        for edge in [
            CBC_BATCH * BLOCK,
            PIPELINE_BLOCK,
            PARALLEL_MIN,
            3 * PIPELINE_BLOCK,
        ] {
            sizes.extend([
                edge - 17,
                edge - 1,
                edge,
                edge + 1,
                edge + 15,
                edge + 16,
                edge + 33,
            ]);
        }
        sizes.extend([500_000, 512_000 + 7]);
        sizes
    }

    fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect()
    }

    /// Two threads or one, whole or in parts cut anywhere: the same ciphertext and checksum
    /// as the one-thread [`UsageKeys::encrypt`]; the pipelined and one-thread decryption give
    /// the plaintext back, and the batched CBC matches the implementation before it.
    #[test]
    fn two_threads_seal_and_unseal_byte_for_byte_as_one() {
        for (enctype, key_len) in [
            (Enctype::Aes256CtsHmacSha1, 32),
            (Enctype::Aes128CtsHmacSha1, 16),
        ] {
            let keys = UsageKeys::derive(enctype, &noise(key_len, 9), 22).unwrap();
            for (index, len) in sizes().into_iter().enumerate() {
                let plain = noise(len, index as u32);
                let mut expected = plain.clone();
                keys.encrypt(&mut expected);
                let cuts = [0, 1, BLOCK, len / 3, len / 2 + 5, len - 1, len];
                for (first, second) in [(0, 0), (1, len / 2), (BLOCK, len - 1), (cuts[3], cuts[4])]
                {
                    let (a, rest) = plain.split_at(first.min(len));
                    let (b, c) = rest.split_at(second.saturating_sub(first).min(rest.len()));
                    for parallel_min in [0, PARALLEL_MIN, usize::MAX] {
                        let sealed = keys.encrypt_parts_from(&[a, b, c], parallel_min);
                        assert!(sealed == expected, "{enctype:?} {len} cut {first}/{second}");
                    }
                }
                let mut confounder = [0u8; BLOCK];
                confounder.copy_from_slice(&expected[..BLOCK]);
                let mut received = [0u8; CHECKSUM_LEN];
                received.copy_from_slice(&expected[len..]);
                for parallel_min in [0, PARALLEL_MIN, usize::MAX] {
                    let mut opened = expected.clone();
                    assert!(keys.decrypt_from(&mut opened, parallel_min), "{len}");
                    assert!(opened == plain, "{enctype:?} {len} decrypted");
                    let mut rest = expected[BLOCK..len].to_vec();
                    assert!(
                        keys.decrypt_after_confounder_from(
                            &confounder,
                            &mut rest,
                            &received,
                            parallel_min
                        ),
                        "{enctype:?} {len} after the confounder"
                    );
                    assert!(
                        rest == plain[BLOCK..],
                        "{enctype:?} {len} after the confounder"
                    );
                }
                let mut batched = expected[..len].to_vec();
                let mut reference = batched.clone();
                cts_decrypt(&keys.ke, &mut batched);
                reference_cts_decrypt(&keys.ke, &mut reference);
                assert!(batched == reference, "{enctype:?} {len} CBC");
            }
        }
    }

    /// A flipped bit in the first, a middle or the last pipeline block, the stolen tail or the
    /// checksum fails the pipelined decryption as it fails the one-thread one.
    #[test]
    fn a_damaged_large_message_is_refused_on_two_threads() {
        let keys = UsageKeys::derive(Enctype::Aes256CtsHmacSha1, &[3u8; 32], 24).unwrap();
        let len = 3 * PIPELINE_BLOCK + 40;
        let mut sealed = noise(len, 77);
        keys.encrypt(&mut sealed);
        for position in [
            0,
            PIPELINE_BLOCK + 5,
            2 * PIPELINE_BLOCK + 100,
            len - 20,
            len - 1,
            len + 3,
        ] {
            for parallel_min in [0, usize::MAX] {
                let mut damaged = sealed.clone();
                damaged[position] ^= 0x04;
                let mut confounder = [0u8; BLOCK];
                confounder.copy_from_slice(&damaged[..BLOCK]);
                let mut received = [0u8; CHECKSUM_LEN];
                received.copy_from_slice(&damaged[len..]);
                let mut rest = damaged[BLOCK..len].to_vec();
                assert!(
                    !keys.decrypt_after_confounder_from(
                        &confounder,
                        &mut rest,
                        &received,
                        parallel_min
                    ),
                    "byte {position} after the confounder"
                );
                assert!(
                    !keys.decrypt_from(&mut damaged, parallel_min),
                    "byte {position}"
                );
            }
        }
    }

    #[test]
    fn encrypt_then_decrypt_round_trips_and_detects_damage() {
        let keys = UsageKeys::derive(Enctype::Aes256CtsHmacSha1, &[7u8; 32], 24).unwrap();
        for len in [1usize, 15, 16, 17, 31, 32, 33, 100] {
            let mut buffer = vec![0x5a; BLOCK + len];
            keys.encrypt(&mut buffer);
            let sealed = buffer.clone();
            assert!(keys.decrypt_from(&mut buffer, PARALLEL_MIN));
            assert_eq!(buffer, vec![0x5a; BLOCK + len]);
            for position in [0, sealed.len() / 2, sealed.len() - 1] {
                let mut damaged = sealed.clone();
                damaged[position] ^= 0x80;
                assert!(
                    !keys.decrypt_from(&mut damaged, PARALLEL_MIN),
                    "len {len} byte {position}"
                );
            }
        }
    }
}
