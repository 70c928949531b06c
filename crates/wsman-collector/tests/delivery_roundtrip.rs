//! parse(write(x)) == x for the deliveries the event source writes and the collector reads:
//! any Events batch or Heartbeat, in either embedding, reads back with its kind, message id,
//! subscription version, bookmark and every event as written.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use proptest::prelude::*;
use wsman_collector::ingest::{self, DeliveryKind};
use wsman_collector::manager;
use wsman_events::delivery::{self, DeliveryHeaders, Embedding};
use wsman_events::BookmarkList;
use wsman_proto::{ns, parse_request, xml};

/// One event of `channel`, record `record`, from `computer`, with `message` in its data.
fn event(channel: &str, record: u64, computer: &str, message: &str) -> String {
    format!(
        "<Event xmlns='{}'><System><Provider Name='p'/><EventID>1</EventID>\
         <EventRecordID>{record}</EventRecordID><Channel>{channel}</Channel>\
         <Computer>{computer}</Computer></System><EventData><Data Name='m'>{}</Data></EventData></Event>",
        ns::EVENT,
        xml::escape_text(message)
    )
}

fn events() -> impl Strategy<Value = Vec<(String, u64, String, String)>> {
    let channel = prop_oneof![
        Just("Security".to_owned()),
        Just("Application".to_owned()),
        Just("Microsoft-Windows-WinRM/Operational".to_owned()),
    ];
    proptest::collection::vec(
        (
            channel,
            any::<u64>(),
            "[a-z][a-z0-9-]{0,12}(\\.[a-z]{2,6}){0,2}",
            "[ -~]{0,40}",
        ),
        0..5,
    )
}

fn bookmark() -> impl Strategy<Value = Option<BookmarkList>> {
    proptest::option::of(
        proptest::collection::vec(("[A-Za-z][A-Za-z0-9/-]{0,20}", any::<u64>()), 1..4).prop_map(
            |positions| {
                let mut list = BookmarkList::new();
                for (channel, record) in positions {
                    list.advance(&channel, record);
                }
                list
            },
        ),
    )
}

proptest! {
    #[test]
    fn a_written_delivery_reads_back_unchanged(
        heartbeat in any::<bool>(),
        cdata in any::<bool>(),
        message_id in "uuid:[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}",
        version in "[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}",
        bookmark in bookmark(),
        written in events(),
    ) {
        let to = delivery::endpoint(
            "http://collector/wsman/subscriptions/X/1",
            vec![manager::version_identifier(&version)],
        );
        let headers = DeliveryHeaders {
            bookmark: bookmark.as_ref(),
            ..DeliveryHeaders::new(&to, &message_id, &message_id, "source.example.com")
        };
        let texts: Vec<String> = written.iter().map(|(c, r, computer, m)| event(c, *r, computer, m)).collect();
        let embedding = if cdata { Embedding::Cdata } else { Embedding::Element };
        let text = if heartbeat {
            delivery::heartbeat_envelope(&headers)
        } else {
            delivery::events_envelope(&headers, &texts, embedding)
        };
        let request = parse_request(&text, &xml::Limits::default()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let read = ingest::read_delivery(&request, !cdata).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        let kind = if heartbeat { DeliveryKind::Heartbeat } else { DeliveryKind::Events };
        prop_assert_eq!(read.kind, kind);
        prop_assert_eq!(&read.message_id, &message_id);
        prop_assert_eq!(&read.version, &version);
        prop_assert_eq!(&read.bookmark, &bookmark);
        let expected = if heartbeat { &[][..] } else { &written[..] };
        prop_assert_eq!(read.events.len(), expected.len());
        for (got, ((channel, record, computer, message), text)) in read.events.iter().zip(expected.iter().zip(&texts)) {
            prop_assert_eq!(&got.channel, channel);
            prop_assert_eq!(got.record_id, Some(*record));
            prop_assert_eq!(&got.computer, computer);
            let data = got.element().child(ns::EVENT, "EventData").and_then(|d| d.child(ns::EVENT, "Data")).map(|d| d.text());
            prop_assert_eq!(data.as_deref(), Some(message.as_str()));
            if cdata {
                prop_assert_eq!(&got.xml, text);
            }
        }
    }
}
