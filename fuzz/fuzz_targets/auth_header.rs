//! Arbitrary bytes as an `Authorization` header value: Basic, the token schemes (Negotiate,
//! NTLM, Kerberos, CredSSP), the client-certificate profile, anything else. Any panic, hang or
//! unbounded allocation is a bug; a parsed token is never longer than the input, and
//! `token_scheme` (the kept-Basic fast path's look at the scheme word) names the scheme of
//! every value the full parse reads as a token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_auth::authorization::{parse_authorization, token_scheme, Authorization};

fuzz_target!(|data: &[u8]| {
    if let Ok(Authorization::Token { token, scheme }) = parse_authorization(data) {
        assert!(token.len() <= data.len());
        assert_eq!(token_scheme(data), Some(scheme));
    }
    let _ = wsman_auth::parse_basic_authorization(data);
});
