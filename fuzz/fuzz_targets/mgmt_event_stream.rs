//! The console's live event stream, from untrusted input: arbitrary bytes as the WebSocket
//! upgrade's query, and as an event a host sends (parsed by the bounded XML parser, then read
//! into the JSON frame). Any panic, hang or unbounded allocation is a bug; a frame's message
//! is always within its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_proto::xml::{parse, Limits};
use wsmand_mgmt::event_stream::{self, MAX_MESSAGE_CHARS};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(request) = event_stream::parse_query(text) {
        assert!(!request.logs.is_empty() && request.logs.len() <= 3);
    }
    if let Ok(element) = parse(text, &Limits::default()) {
        let event = event_stream::streamed_event(&element);
        assert!(event.message.chars().count() <= MAX_MESSAGE_CHARS + 1);
        let frame = event_stream::event_message(&event);
        assert!(frame.starts_with("{\"event\":{") && frame.ends_with("}}"));
    }
});
