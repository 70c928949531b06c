//! Arbitrary text through the bounded XML tree parser alone, with the default limits and with
//! tight ones (so the limit paths are hit often). Any panic, hang or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_proto::xml::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = xml::parse(text, &Limits::default());
    let mut tight = Limits::default();
    tight.max_depth = 4;
    tight.max_elements = 16;
    tight.max_attributes = 2;
    let _ = xml::parse(text, &tight);
});
