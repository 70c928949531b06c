//! Arbitrary bytes through our NTLM message parser (NEGOTIATE, CHALLENGE, AUTHENTICATE with its
//! AV pairs), the SPNEGO token reader and negState normalisation, and the verification checks
//! run on whatever parses. Any panic, hang or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_auth::ntlm::{message, nt_hash_of_password, spnego, verify, ChannelBindingPolicy};

fuzz_target!(|data: &[u8]| {
    let _ = message::message_type(data);
    let _ = message::parse_negotiate(data);
    let _ = message::parse_challenge(data);
    if let Ok(authenticate) = message::parse_authenticate(data) {
        let _ = verify::check_shape(&authenticate);
        let hash = nt_hash_of_password("fuzz");
        let _ = verify::check_proof(&authenticate, &hash, &[7u8; 8]);
        let policy = ChannelBindingPolicy {
            expected: Some([1u8; 16]),
            ..ChannelBindingPolicy::default()
        };
        let _ = verify::check_channel_bindings(&authenticate, &policy);
        let transcript = verify::Transcript {
            negotiate: b"",
            challenge: b"",
            authenticate: data,
        };
        let _ = verify::check_mic(&authenticate, &hash, transcript);
    }
    let _ = spnego::token_kind(data);
    let _ = spnego::parse_init(data);
    let _ = spnego::parse_resp(data);
    if let Ok(normalised) = spnego::with_neg_state(data) {
        assert!(spnego::parse_resp(&normalised).is_ok_and(|r| r.neg_state.is_some()));
    }
});
