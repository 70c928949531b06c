//! Arbitrary bytes as the start of a connection from a trusted load balancer: the PROXY
//! protocol v2 reader must answer a header, "need more" or an error, never panic, never claim
//! more bytes than it was given or than its bound, and ask for no fewer bytes than it has.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_proto::proxy_protocol::{parse, Parsed, MAX_BODY_LEN, PREFIX_LEN};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(Parsed::Complete { length, .. }) => {
            assert!(length <= data.len() && length <= PREFIX_LEN + MAX_BODY_LEN);
            // The header alone parses the same.
            assert_eq!(parse(&data[..length]), parse(data));
        }
        Ok(Parsed::Incomplete { total }) => {
            assert!(total > data.len() && total <= PREFIX_LEN + MAX_BODY_LEN);
        }
        Err(_) => {}
    }
});
