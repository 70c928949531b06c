//! OpenWEC's `RawJson` record, for readers set up for OpenWEC (its `doc/formats.md`, "Json Raw
//! format"): `{"meta": {...}, "data": "<the event's XML as it came>"}`, the XML unparsed.
//!
//! What `meta` holds here: `TimeReceived` (the arrival time, RFC 3339), `Principal` (the
//! sender's authenticated name) and `Subscription.Name`. OpenWEC's `IpAddress`,
//! `Subscription.Version`, `Uuid` and `Uri` are left out: a batch handed to an output does
//! not carry them, and an empty or made-up value would be read as a real one.

use serde_json::{json, Value};

use crate::ingest::ReceivedEvent;
use crate::outputs::Batch;

/// One event as OpenWEC's `RawJson` record (one line).
pub fn raw_json(event: &ReceivedEvent, batch: &Batch<'_>) -> String {
    let record: Value = json!({
        "meta": {
            "TimeReceived": batch.received,
            "Principal": batch.client,
            "Subscription": { "Name": batch.subscription },
        },
        "data": event.xml,
    });
    record.to_string()
}
