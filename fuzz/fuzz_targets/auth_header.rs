//! Arbitrary bytes as an `Authorization` header value: Basic, the token schemes (Negotiate,
//! NTLM, Kerberos, CredSSP), the client-certificate profile, anything else. Any panic, hang or
//! unbounded allocation is a bug; a parsed token is never longer than the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_auth::authorization::{parse_authorization, Authorization};

fuzz_target!(|data: &[u8]| {
    if let Ok(Authorization::Token { token, .. }) = parse_authorization(data) {
        assert!(token.len() <= data.len());
    }
    let _ = wsman_auth::parse_basic_authorization(data);
});
