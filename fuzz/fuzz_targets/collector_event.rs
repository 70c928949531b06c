//! Arbitrary text as one forwarded event's XML: the collector's one-pass check of the text
//! must give the same answer (the Computer, Channel and record id, or the same refusal) as
//! parsing it into a tree with the full pass alone (`xml::parse_full`: the plain pass is what
//! is checked) and checking the tree. Any panic, hang or disagreement is a bug.
//!
//! The collector's modules are compiled in by path: the collector crate builds librdkafka,
//! which the sanitizer build has no use for.
#![no_main]

#[path = "../../crates/wsman-collector/src/event_facts.rs"]
#[allow(dead_code, unreachable_pub)]
mod event_facts;
#[path = "../../crates/wsman-collector/src/ingest.rs"]
#[allow(dead_code, unreachable_pub)]
mod ingest;
#[path = "../../crates/wsman-collector/src/event_scan.rs"]
#[allow(dead_code, unreachable_pub)]
mod event_scan;

use libfuzzer_sys::fuzz_target;
use wsman_proto::xml;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let by_tree = xml::parse_full(text, &ingest::event_limits())
        .map_err(ingest::EventError::NotXml)
        .and_then(|tree| ingest::check_tree(&tree));
    assert_eq!(event_scan::check_text(text), by_tree);
});
