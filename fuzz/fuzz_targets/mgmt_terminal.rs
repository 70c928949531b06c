//! The console terminal's protocol, parsed from untrusted input: arbitrary bytes as a text
//! frame (the resize message) and as the WebSocket upgrade's query. Any panic, hang or
//! unbounded allocation is a bug; an accepted window is always within the bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmand_mgmt::terminal_proto::{self, Control, MAX_DIMENSION};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Control::Resize(size)) = terminal_proto::parse_control(text) {
        assert!((1..=MAX_DIMENSION).contains(&size.rows));
        assert!((1..=MAX_DIMENSION).contains(&size.cols));
    }
    if let Ok(open) = terminal_proto::parse_query(text) {
        assert!((1..=MAX_DIMENSION).contains(&open.size.rows));
        assert!((1..=MAX_DIMENSION).contains(&open.size.cols));
    }
});
