//! Arbitrary bytes as a RELP receiver's answers: the frame reader must answer a frame, "need
//! more" or an error, never panic, never claim more bytes than it was given nor keep more data
//! than its limit, and read back what it parsed when written again; a `rsp` frame's data is
//! read as a response or refused, never a panic.
//!
//! The reader's module is compiled in by path: it needs only `thiserror`, and the collector
//! crate it belongs to builds librdkafka, which the sanitizer build has no use for.
#![no_main]

#[path = "../../crates/wsman-outputs/src/syslog/relp_frame.rs"]
#[allow(dead_code, unreachable_pub)]
mod relp_frame;

use libfuzzer_sys::fuzz_target;
use relp_frame::{encode, parse, response};

const MAX_DATA: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((frame, used))) = parse(data, MAX_DATA) {
        assert!(used <= data.len());
        assert!(frame.data.len() <= MAX_DATA);
        let mut again = Vec::new();
        encode(frame.txnr, &frame.command, &frame.data, &mut again);
        assert_eq!(parse(&again, MAX_DATA), Ok(Some((frame.clone(), again.len()))));
        let _ = response(&frame.data);
    }
});
