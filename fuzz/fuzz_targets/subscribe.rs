//! Arbitrary text as a Subscribe envelope: the envelope parser, then the Subscribe reader with
//! its filter, bookmark and policy. Any panic, hang or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_events::parse_subscribe;
use wsman_proto::{parse_request, xml};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(request) = parse_request(text, &xml::Limits::default()) {
        let _ = parse_subscribe(&request);
    }
});
