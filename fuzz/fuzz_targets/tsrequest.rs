//! Arbitrary bytes through the CredSSP decoders: TSRequest, TSCredentials/TSPasswordCreds, and
//! the multi-group (`multipart/x-multi-encrypted`) framing of CredSSP-sealed bodies. Any panic,
//! hang or unbounded allocation is a bug; whatever decodes re-encodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_auth::credssp::{PasswordCredentials, TsRequest};
use wsman_auth::sealing::parse_sealed_groups;

const MULTI: &str = "multipart/x-multi-encrypted;protocol=\"application/HTTP-CredSSP-session-encrypted\";boundary=\"Encrypted Boundary\"";

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = TsRequest::decode(data) {
        let again = TsRequest::decode(&request.encode()).expect("re-encoded TSRequest decodes");
        assert_eq!(again, request);
    }
    if let Ok(credentials) = PasswordCredentials::decode(data) {
        let again = PasswordCredentials::decode(&credentials.encode()).expect("re-encoded");
        assert_eq!(again, credentials);
    }
    if let Ok(groups) = parse_sealed_groups(MULTI, data, 64 * 1024) {
        let total: usize = groups.iter().map(|g| g.declared_length).sum();
        assert!(total <= 64 * 1024);
        for group in &groups {
            assert!(group.token_header.len() + group.ciphertext.len() <= data.len());
        }
    }
});
