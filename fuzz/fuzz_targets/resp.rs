//! Arbitrary bytes as a Redis server's reply: the reader must answer a reply, "need more" or
//! an error, never panic, never claim more bytes than it was given, and read back what it
//! parsed when written again as RESP.
//!
//! The reader's module is compiled in by path: it needs only `thiserror`, and the collector
//! crate it belongs to builds librdkafka, which the sanitizer build has no use for.
#![no_main]

#[path = "../../crates/wsman-outputs/src/resp.rs"]
#[allow(dead_code, unreachable_pub)]
mod resp;

use libfuzzer_sys::fuzz_target;
use resp::{parse, Reply, ReplyLimits};

fn encode(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Simple(text) => out.extend_from_slice(format!("+{text}\r\n").as_bytes()),
        Reply::Error(text) => out.extend_from_slice(format!("-{text}\r\n").as_bytes()),
        Reply::Integer(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        Reply::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
        Reply::Bulk(Some(bytes)) => {
            out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        Reply::Array(None) => out.extend_from_slice(b"*-1\r\n"),
        Reply::Array(Some(items)) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            for item in items {
                encode(item, out);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = ReplyLimits::default();
    if let Ok(Some((reply, used))) = parse(data, &limits) {
        assert!(used <= data.len());
        let mut again = Vec::new();
        encode(&reply, &mut again);
        assert_eq!(parse(&again, &limits), Ok(Some((reply, again.len()))));
    }
});
