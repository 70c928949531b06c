//! Arbitrary bytes through our RFC 4121 wrap token parser (header check, EC/RRC handling,
//! rotation, AES-CTS, checksum, header copy, sequence number), both as raw input and as a
//! damaged copy of a valid token. The first byte picks enctype, subkey, mode and split. Any
//! panic, hang or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, token)) = data.split_first() else {
        return;
    };
    wsman_gss::fuzzing::unwrap_token(selector, token);
});
