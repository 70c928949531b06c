//! OpenWEC's record formats, for readers set up for OpenWEC (its `doc/formats.md`):
//!
//! - `RawJson` ("Json Raw format"): `{"meta": {...}, "data": "<the event's XML as it came>"}`,
//!   the XML unparsed.
//! - `Nxlog` ("Nxlog format"): one flat object with the fields NXLog's `im_msvistalog` gives a
//!   Windows event (NXLog's field list: `EventTime`, `Hostname`, `Keywords`, `EventType`,
//!   `SeverityValue`, `Severity`, `EventID`, `SourceName`, `ProviderGuid`, `Version`, `Task`,
//!   `OpcodeValue`, `RecordNumber`, `ActivityID`, `RelatedActivityID`, `ProcessID`,
//!   `ThreadID`, `Channel`, `UserID`, `Message`, `Category`, `Opcode`), each `EventData/Data`
//!   by its `Name`, `EventReceivedTime`, and OpenWEC's data in `OpenWEC`.
//!
//! OpenWEC's data (`meta`, `OpenWEC`) here: `TimeReceived` (the arrival time, RFC 3339), the
//! sender's authenticated name as `Principal` and as `Client` (OpenWEC's changelog: `Client`
//! replaces `Principal`, which it still writes) and `Subscription.Name`. OpenWEC's
//! `IpAddress`, `Node`, `Subscription.Version`, `Uuid` and `Uri` are left out: a batch handed
//! to an output does not carry them, and an empty or made-up value would be read as a real one.

use serde_json::{json, Map, Value};
use wsman_proto::xml::Element;

use crate::Batch;
use wsman_events::received::{ReceivedEvent, EVENT_NS};

/// One event as OpenWEC's `RawJson` record (one line).
pub fn raw_json(event: &ReceivedEvent, batch: &Batch<'_>) -> String {
    let record: Value = json!({
        "meta": openwec_data(batch),
        "data": event.xml,
    });
    record.to_string()
}

/// What OpenWEC adds about an event (`meta` of `RawJson`, `OpenWEC` of `Nxlog`).
fn openwec_data(batch: &Batch<'_>) -> Value {
    json!({
        "TimeReceived": batch.received,
        "Principal": batch.client,
        "Client": batch.client,
        "Subscription": { "Name": batch.subscription },
    })
}

/// `Keywords` bits that mark a Security event as an audit success or failure (the
/// `AuditSuccess` and `AuditFailure` keywords of Windows' event schema, `winmeta.xml`).
const AUDIT_SUCCESS: u64 = 0x0020_0000_0000_0000;
const AUDIT_FAILURE: u64 = 0x0010_0000_0000_0000;

/// One event as OpenWEC's `Nxlog` record (one line). A field whose element is missing, or
/// whose number does not parse, is left out (NXLog leaves out what an event does not have).
/// An `EventData/Data` named like a field already there (`Message`, `Hostname`, ...) is left
/// out: the event's header and OpenWEC's data are not overwritten by what the event's payload
/// says.
pub fn nxlog(event: &ReceivedEvent, batch: &Batch<'_>) -> String {
    let tree = event.element();
    let mut record = Map::new();
    if let Some(system) = child(&tree, "System") {
        system_fields(system, &mut record);
    }
    record.insert("Hostname".into(), Value::String(event.computer.clone()));
    if let Some(rendering) = child(&tree, "RenderingInfo") {
        for (element, field) in [
            ("Message", "Message"),
            ("Task", "Category"),
            ("Opcode", "Opcode"),
        ] {
            // An empty one (`<Task></Task>`: no name for it) is left out, as a missing one.
            if let Some(text) = child(rendering, element)
                .map(Element::text)
                .filter(|t| !t.is_empty())
            {
                record.insert(field.into(), Value::String(text));
            }
        }
    }
    record.insert(
        "EventReceivedTime".into(),
        Value::String(batch.received.to_owned()),
    );
    record.insert("OpenWEC".into(), openwec_data(batch));
    if let Some(data) = child(&tree, "EventData") {
        event_data_fields(data, &mut record);
    }
    if let Some(user_data) = child(&tree, "UserData") {
        record
            .entry("UserData")
            .or_insert_with(|| Value::String(inner_xml(user_data)));
    }
    Value::Object(record).to_string()
}

/// The fields read from `System` (all but `Hostname`, which is the checked `Computer`).
fn system_fields(system: &Element, record: &mut Map<String, Value>) {
    let text = |name: &str| child(system, name).map(Element::trimmed_text);
    let number = |name: &str| text(name).and_then(|t| t.parse::<u64>().ok());
    let attr = |element: &str, name: &str| {
        child(system, element)
            .and_then(|e| e.attr(name))
            .map(str::to_owned)
    };
    let mut put = |field: &str, value: Option<Value>| {
        if let Some(value) = value {
            record.insert(field.to_owned(), value);
        }
    };
    put(
        "EventTime",
        attr("TimeCreated", "SystemTime").map(Value::from),
    );
    let keywords = text("Keywords").and_then(|k| parse_hex(&k));
    // NXLog writes the 64 bits as a signed integer (0x8020000000000000 is negative).
    put("Keywords", keywords.map(|k| Value::from(k as i64)));
    let channel = text("Channel");
    if let Some((event_type, severity, value)) =
        event_type(channel.as_deref(), number("Level"), keywords)
    {
        put("EventType", Some(event_type.into()));
        put("SeverityValue", Some(value.into()));
        put("Severity", Some(severity.into()));
    }
    put("EventID", number("EventID").map(Value::from));
    put("SourceName", attr("Provider", "Name").map(Value::from));
    let upper = |v: Option<String>| v.map(|g| Value::from(g.to_uppercase()));
    put("ProviderGuid", upper(attr("Provider", "Guid")));
    put("Version", number("Version").map(Value::from));
    put("Task", number("Task").map(Value::from));
    put("OpcodeValue", number("Opcode").map(Value::from));
    put("RecordNumber", number("EventRecordID").map(Value::from));
    put("ActivityID", upper(attr("Correlation", "ActivityID")));
    put(
        "RelatedActivityID",
        upper(attr("Correlation", "RelatedActivityID")),
    );
    let id = |name: &str| attr("Execution", name).and_then(|v| v.parse::<u64>().ok());
    put("ProcessID", id("ProcessID").map(Value::from));
    put("ThreadID", id("ThreadID").map(Value::from));
    put("Channel", channel.map(Value::from));
    put("UserID", attr("Security", "UserID").map(Value::from));
}

/// `EventData`'s `Data` by their `Name`; unnamed ones in `Data` (an array), `Binary` as it
/// came. None overwrites a field already in `record`.
fn event_data_fields(data: &Element, record: &mut Map<String, Value>) {
    let mut unnamed = Vec::new();
    for element in data
        .elements()
        .filter(|e| e.ns.as_deref() == Some(EVENT_NS))
    {
        match (element.name.as_str(), element.attr("Name")) {
            ("Data", Some(name)) => {
                record
                    .entry(name)
                    .or_insert_with(|| Value::String(element.text()));
            }
            ("Data", None) => unnamed.push(Value::String(element.text())),
            ("Binary", _) => {
                record
                    .entry("Binary")
                    .or_insert_with(|| Value::String(element.trimmed_text()));
            }
            _ => {}
        }
    }
    if !unnamed.is_empty() {
        record.entry("Data").or_insert(Value::Array(unnamed));
    }
}

/// `EventType`, `Severity` and `SeverityValue` (NXLog's normalised severity, 1 DEBUG to 5
/// CRITICAL): a Security event's by its audit keyword, any other's by its `Level` (1 critical
/// to 5 verbose). None for a `Level` outside 1 to 5 (0 is "log always") or a Security event
/// with neither audit keyword.
fn event_type(
    channel: Option<&str>,
    level: Option<u64>,
    keywords: Option<u64>,
) -> Option<(&'static str, &'static str, u8)> {
    if channel? == "Security" {
        let keywords = keywords?;
        return if keywords & AUDIT_SUCCESS != 0 {
            Some(("AUDIT_SUCCESS", "INFO", 2))
        } else if keywords & AUDIT_FAILURE != 0 {
            Some(("AUDIT_FAILURE", "ERROR", 4))
        } else {
            None
        };
    }
    match level? {
        1 => Some(("CRITICAL", "CRITICAL", 5)),
        2 => Some(("ERROR", "ERROR", 4)),
        3 => Some(("WARNING", "WARNING", 3)),
        4 => Some(("INFO", "INFO", 2)),
        5 => Some(("VERBOSE", "DEBUG", 1)),
        _ => None,
    }
}

/// `0x`-prefixed hexadecimal, as Windows writes `Keywords`.
fn parse_hex(text: &str) -> Option<u64> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))?;
    u64::from_str_radix(digits, 16).ok()
}

/// The one child of `parent` in the event namespace named `name` (the collector refused
/// events with two `System`s on receipt; of any other, the first).
fn child<'a>(parent: &'a Element, name: &str) -> Option<&'a Element> {
    parent.child(EVENT_NS, name)
}

/// The children of `element` as XML, each declaring its own namespace as Windows writes
/// `UserData`'s payload.
fn inner_xml(element: &Element) -> String {
    element
        .elements()
        .map(wsman_events::received::event_xml)
        .collect::<Vec<_>>()
        .concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_proto::xml;

    /// A forwarder's event whose `EventData` names fields of the record (`Hostname`,
    /// `EventID`, `OpenWEC`) does not overwrite them: the record keeps the checked `Computer`,
    /// the header's values and OpenWEC's data.
    #[test]
    fn event_data_does_not_overwrite_the_records_fields() {
        let text = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4624</EventID><Channel>Security</Channel><Computer>win10.example.test</Computer></System><EventData><Data Name='Hostname'>dc01.example.test</Data><Data Name='EventID'>1</Data><Data Name='OpenWEC'>forged</Data><Data Name='LogonType'>3</Data><Data>unnamed</Data></EventData></Event>";
        let event = ReceivedEvent {
            tree: Some(xml::parse(text, &xml::Limits::default()).expect("XML")),
            xml: text.to_owned(),
            computer: "win10.example.test".to_owned(),
            channel: "Security".to_owned(),
            record_id: None,
        };
        let batch = Batch {
            subscription: "sec",
            client: "WIN10$@EXAMPLE.TEST",
            events: &[],
            received: "2026-11-24T00:00:00Z",
        };
        let record: Value = serde_json::from_str(&nxlog(&event, &batch)).expect("JSON");
        assert_eq!(record["Hostname"], "win10.example.test");
        assert_eq!(record["EventID"], 4624);
        assert_eq!(record["OpenWEC"]["Client"], "WIN10$@EXAMPLE.TEST");
        assert_eq!(record["LogonType"], "3");
        assert_eq!(record["Data"], json!(["unnamed"]));
    }
}
