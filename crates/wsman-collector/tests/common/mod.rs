//! What the output tests (`journal`, `outputs`, `redis`, `tcp`) share: one subscription, `sec` on the
//! Security log, with the outputs a test names, and a batch of received events written to
//! them as the collector writes a forwarder's delivery. Each test binary uses part of it.
#![allow(dead_code)]

use std::path::Path;

use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::outputs::{Batch, OutputError};
use wsman_collector::subscription_outputs::Outputs;
use wsman_collector::subscriptions::{self, SubscriptionSet};
use wsman_proto::xml::{self, Limits};

/// The subscription's query: every event of the Security log.
pub(crate) const QUERY: &str =
    r#"query = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'"#;

/// An event of the Security log as the collector holds it once received from `computer`.
pub(crate) fn received(text: String, computer: &str, record: u64) -> ReceivedEvent {
    ReceivedEvent {
        tree: Some(xml::parse(&text, &Limits::default()).expect("event XML")),
        xml: text,
        computer: computer.to_owned(),
        channel: "Security".to_owned(),
        record_id: Some(record),
    }
}

/// A small logon event (4624) numbered `record`, its one datum `e{record}`.
pub(crate) fn logon(record: u64, computer: &str) -> ReceivedEvent {
    let text = format!("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4624</EventID><EventRecordID>{record}</EventRecordID><Channel>Security</Channel><Computer>{computer}</Computer></System><EventData><Data Name='n'>e{record}</Data></EventData></Event>");
    received(text, computer, record)
}

/// The subscription `sec` with `outputs` (`[[outputs]]` tables) after its query.
pub(crate) fn set(outputs: &str) -> SubscriptionSet {
    set_named("sec", outputs)
}

/// The same subscription named `name`.
pub(crate) fn set_named(name: &str, outputs: &str) -> SubscriptionSet {
    let file = Path::new("/etc/wsmand/subscriptions").join(format!("{name}.toml"));
    SubscriptionSet {
        subscriptions: vec![
            subscriptions::parse(&file, &format!("{QUERY}\n{outputs}")).expect("parses")
        ],
        errors: Vec::new(),
    }
}

/// One delivery of `events` from `client` to the outputs of `sec`.
pub(crate) fn write(
    outputs: &Outputs,
    client: &str,
    events: &[ReceivedEvent],
) -> Result<(), OutputError> {
    write_to(outputs, "sec", client, events)
}

/// One delivery of `events` from `client` to the outputs of `subscription`.
pub(crate) fn write_to(
    outputs: &Outputs,
    subscription: &str,
    client: &str,
    events: &[ReceivedEvent],
) -> Result<(), OutputError> {
    let refs: Vec<&ReceivedEvent> = events.iter().collect();
    outputs.write(&Batch {
        subscription,
        client,
        events: &refs,
        received: "2026-11-24T00:00:00Z",
    })
}
