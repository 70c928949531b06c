//! Arbitrary bytes through the MS-WSMV encrypted-body parser and the unseal path (with a
//! pass-through context, so the length checks after unwrapping are reached). The first byte
//! picks the Content-Type variant and the plaintext limit. Any panic, hang or unbounded
//! allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_auth::sealing::{parse_sealed_body, unseal_body, MessageSealer, SealError};

const CONTENT_TYPES: [&str; 4] = [
    "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"",
    "multipart/encrypted; boundary=Encrypted Boundary; protocol=application/HTTP-Kerberos-session-encrypted",
    "multipart/encrypted;protocol=\"application/HTTP-CredSSP-session-encrypted\"",
    "multipart/x-multi-encrypted;protocol=\"application/HTTP-CredSSP-session-encrypted\";boundary=\"Encrypted Boundary\"",
];

/// Hands the ciphertext back unchanged; refuses an empty header so that error path runs too.
struct PassThrough;

impl MessageSealer for PassThrough {
    fn protocol(&self) -> &str {
        "application/HTTP-SPNEGO-session-encrypted"
    }
    fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SealError> {
        Ok((Vec::new(), plain.to_vec()))
    }
    fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
        if header.is_empty() {
            return Err(SealError::Unwrap("empty header".into()));
        }
        Ok(ciphertext.to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let max_plain = if selector & 0x80 == 0 { 512 * 1024 } else { 64 };
    if let Ok(parts) = parse_sealed_body(content_type, body, max_plain) {
        assert!(parts.declared_length <= max_plain);
        assert!(parts.token_header.len() + parts.ciphertext.len() <= body.len());
    }
    if let Ok(unsealed) = unseal_body(&mut PassThrough, content_type, body, max_plain) {
        assert!(unsealed.plain.len() <= max_plain);
    }
});
