//! Arbitrary text through the WQL/CQL parser, then every parsed query through the evaluator
//! against a fixed instance with every kind of value, and LIKE with the text as a pattern.
//! Any panic, hang or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_proto::cim::{CimDateTime, Instance, Value};
use wsman_proto::wql;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = wql::like(text, text);
    let Ok(query) = wql::parse(text) else {
        return;
    };
    let instance = Instance::new("C", "root/cimv2")
        .with_key("A", "a")
        .with("B", 7u32)
        .with("N", Value::Null)
        .with("R", 1.5f64)
        .with("T", true)
        .with("D", CimDateTime::utc(1_000_000))
        .with("L", vec![1u32, 2]);
    let _ = query.matches(&instance);
    let _ = query.property_names();
    if let Some(properties) = &query.properties {
        let _ = instance.to_fragment(properties);
    }
});
