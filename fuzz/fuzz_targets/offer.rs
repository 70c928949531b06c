//! Arbitrary text as a collector's answer to a forwarder's Enumerate of its subscription
//! manager: the XML parser, then every `m:Subscription` item with its embedded Subscribe. Any
//! panic, hang or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_events::offer::parse_enumerate_response;
use wsman_proto::xml;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(body) = xml::parse(text, &xml::Limits::default()) {
        let _ = parse_enumerate_response(&body);
    }
});
