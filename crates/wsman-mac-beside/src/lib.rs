//! A large message's MAC on a helper thread beside its cipher.
//!
//! Why: a WS-Management exchange is a request and its answer in turn, so while one side seals
//! or unseals a streamed Receive answer (up to MaxEnvelopeSize, 500 KB by default) the other
//! side waits and a second core is free. NTLM (HMAC-MD5 beside RC4) and Kerberos (HMAC-SHA1
//! beside AES-CBC) both MAC the plaintext, independently of the ciphertext, so the MAC can run
//! on a helper thread: beside the encryption when sealing, and in a pipeline behind the
//! decryption when unsealing. Both mechanisms use the two functions here; each keeps its
//! cipher and decides from [`PARALLEL_MIN`] whether a message is worth a thread.
//!
//! When the system refuses a thread (or the helper stops early), the caller computes the MAC
//! itself: the result is the same, only slower.

#![forbid(unsafe_code)]

use digest::Update;

/// Messages at least this large are worth the helper thread; smaller ones (an Identify, a
/// Send of stdin) cost less than starting it.
pub const PARALLEL_MIN: usize = 64 * 1024;

/// Plaintext handed from the decrypting thread to the MAC thread at a time: large enough that
/// the hand-over costs little, small enough that the MAC starts early. A multiple of every
/// block cipher's block.
pub const PIPELINE_BLOCK: usize = 32 * 1024;

/// Stack of the helper thread: it only runs a hash over borrowed data.
const HELPER_STACK: usize = 64 * 1024;

fn helper_thread(name: &str) -> std::thread::Builder {
    std::thread::Builder::new()
        .name(name.to_owned())
        .stack_size(HELPER_STACK)
}

fn mac_of<M: Update>(new_mac: impl Fn() -> M, parts: &[&[u8]]) -> M {
    let mut mac = new_mac();
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Sealing: the MAC of `parts` (a fresh `new_mac()` fed every part in order) on a helper
/// thread named `thread_name`, while `encrypt` runs on this thread. `encrypt` must not depend
/// on the MAC; the MAC reads the plaintext `parts` only.
pub fn mac_beside<M, N, E>(thread_name: &str, new_mac: N, parts: &[&[u8]], encrypt: E) -> M
where
    M: Update + Send,
    N: Fn() -> M + Sync,
    E: FnOnce(),
{
    let new_mac = &new_mac;
    let mac = std::thread::scope(|scope| {
        let helper = helper_thread(thread_name).spawn_scoped(scope, move || mac_of(new_mac, parts));
        encrypt();
        helper.ok().and_then(|helper| helper.join().ok())
    });
    // No helper thread (the system refused one): the MAC here, after all.
    mac.unwrap_or_else(|| mac_of(new_mac, parts))
}

/// Unsealing: `decrypt` is called on this thread for each [`PIPELINE_BLOCK`]-sized chunk of
/// `blocks` in order, turning it into plaintext in place; each decrypted chunk, then the
/// already plaintext `tail`, is fed to a fresh `new_mac()` on a helper thread named
/// `thread_name` while the next chunk is decrypted. Returns the MAC of `blocks` (decrypted)
/// followed by `tail`; `blocks` is decrypted in every case.
pub fn decrypt_then_mac<M, N, D>(
    thread_name: &str,
    new_mac: N,
    blocks: &mut [u8],
    mut decrypt: D,
    tail: &[u8],
) -> M
where
    M: Update + Send,
    N: Fn() -> M + Sync,
    D: FnMut(&mut [u8]),
{
    let new_mac = &new_mac;
    let mac = std::thread::scope(|scope| {
        let (send, decrypted) = std::sync::mpsc::channel::<&[u8]>();
        let helper = helper_thread(thread_name).spawn_scoped(scope, move || {
            let mut mac = new_mac();
            for block in decrypted {
                mac.update(block);
            }
            mac
        });
        let mut handed_over = helper.is_ok();
        for block in blocks.chunks_mut(PIPELINE_BLOCK) {
            decrypt(block);
            let block: &[u8] = block;
            handed_over = handed_over && send.send(block).is_ok();
        }
        handed_over = handed_over && send.send(tail).is_ok();
        drop(send);
        let mac = helper.ok().and_then(|helper| helper.join().ok());
        mac.filter(|_| handed_over)
    });
    // No helper thread, or it stopped early: the MAC here, after all.
    mac.unwrap_or_else(|| mac_of(new_mac, &[blocks, tail]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 7) as u8).collect()
    }

    /// The helper's MAC is the MAC of the parts in order, and `encrypt` ran once.
    #[test]
    fn mac_beside_is_the_mac_of_the_parts() {
        for len in [
            0,
            1,
            PIPELINE_BLOCK - 1,
            PARALLEL_MIN,
            3 * PIPELINE_BLOCK + 5,
        ] {
            let whole = data(len);
            let (a, b) = whole.split_at(len / 3);
            let mut ran = 0;
            let mac = mac_beside("test-mac", Md5::new, &[a, b], || ran += 1);
            assert_eq!(ran, 1);
            assert_eq!(mac.finalize(), Md5::digest(&whole), "len {len}");
        }
    }

    /// Every chunk is decrypted once, in order, and the MAC covers the plaintext then the
    /// tail, for lengths around the chunk size.
    #[test]
    fn decrypt_then_mac_covers_the_plaintext_then_the_tail() {
        for len in [
            0,
            1,
            PIPELINE_BLOCK - 1,
            PIPELINE_BLOCK,
            PIPELINE_BLOCK + 1,
            3 * PIPELINE_BLOCK + 17,
        ] {
            let plain = data(len);
            let mut cipher: Vec<u8> = plain.iter().map(|b| b ^ 0x5a).collect();
            let tail = b"tail bytes";
            let mut offsets = Vec::new();
            let base = cipher.as_ptr() as usize;
            let mac = decrypt_then_mac(
                "test-mac",
                Md5::new,
                &mut cipher,
                |block| {
                    offsets.push(block.as_ptr() as usize - base);
                    block.iter_mut().for_each(|b| *b ^= 0x5a);
                },
                tail,
            );
            assert_eq!(cipher, plain, "len {len}");
            let expected: Vec<usize> = (0..len).step_by(PIPELINE_BLOCK).collect();
            assert_eq!(offsets, expected, "len {len}");
            let mut whole = plain.clone();
            whole.extend_from_slice(tail);
            assert_eq!(mac.finalize(), Md5::digest(&whole), "len {len}");
        }
    }
}
