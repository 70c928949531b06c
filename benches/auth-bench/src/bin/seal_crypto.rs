//! The sealing's RC4 and HMAC-MD5 alone, one thread, as `benches/sealed.sh` prints them beside
//! OpenSSL's (`openssl speed`): the ceiling of sealed NTLM on this machine.
//!
//!     seal_crypto [MESSAGE_BYTES [ROUNDS]]
//!
//! Prints `rc4 <MB/s>` and `hmac-md5 <MB/s>` (10^6 bytes per second, the best round).
#![forbid(unsafe_code)]

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let message_len: usize = args.next().map_or(Ok(500_000), |a| a.parse())?;
    let rounds: usize = args.next().map_or(Ok(20), |a| a.parse())?;
    let speeds = wsman_auth::ntlm::speed::sealing_speeds(message_len, rounds);
    println!("rc4 {:.0}", speeds.rc4);
    println!("hmac-md5 {:.0}", speeds.hmac_md5);
    Ok(())
}
