//! The sealing's two algorithms timed alone, for the sealed-streaming benchmark: RC4 and
//! HMAC-MD5 called as the NTLM seal (`ntlm::seal`) calls them, on one thread, so the
//! benchmark can print them beside OpenSSL's (`openssl speed`) and the ceiling of sealed NTLM
//! is visible.

use std::time::Instant;

use hmac::Mac;

use super::md5_core;
use super::rc4::Rc4;
use super::seal::SEAL_BLOCK;

/// Throughput, in 10^6 bytes per second, of one thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SealingSpeeds {
    /// RC4 over a message in the blocks the sealing encrypts at a time.
    pub rc4: f64,
    /// HMAC-MD5 (the sealing's MD5 core) keyed and fed a whole message, then finalised.
    pub hmac_md5: f64,
}

/// Times RC4 and HMAC-MD5 over `rounds` messages of `message_len` bytes each (the best round
/// of each counts: the least disturbed by other work on the host).
pub fn sealing_speeds(message_len: usize, rounds: usize) -> SealingSpeeds {
    let mut data: Vec<u8> = (0..message_len)
        .map(|i| (i * 131 + i / 251) as u8)
        .collect();
    let mut rc4 = Rc4::new(&[0x42; 16]);
    let rc4_best = best_of(rounds, || {
        for block in data.chunks_mut(SEAL_BLOCK) {
            rc4.apply(block);
        }
    });
    let hmac_best = best_of(rounds, || {
        let mut mac = <hmac::Hmac<md5_core::Md5> as Mac>::new_from_slice(&[0x24; 16])
            .expect("HMAC takes a key of any length");
        mac.update(&1u32.to_le_bytes());
        mac.update(&data);
        std::hint::black_box(mac.finalize().into_bytes());
    });
    let rate = |seconds: f64| message_len as f64 / seconds.max(1e-9) / 1e6;
    SealingSpeeds {
        rc4: rate(rc4_best),
        hmac_md5: rate(hmac_best),
    }
}

/// The shortest of `rounds` runs of `work`, in seconds.
fn best_of(rounds: usize, mut work: impl FnMut()) -> f64 {
    (0..rounds.max(1))
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}
