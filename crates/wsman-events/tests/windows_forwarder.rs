//! Our delivery messages against the transcribed messages of a Windows forwarder
//! (`tests/fixtures/windows-forwarder/`, provenance in its README): built from the values the
//! Windows message carries, ours must have the same Action, the same header set in the same
//! order with the same attributes and values, the `NotifyTo` reference parameter echoed as
//! Windows echoes it, and the same body, element for element. Only namespace prefixes and
//! whitespace inside tags may differ (the XML is compared as trees). SubscriptionEnd is
//! compared by its header set; its body differs as `docs/events.md` lists.

use std::time::Duration;

use wsman_events::delivery::{self, DeliveryHeaders, Embedding, EndStatus};
use wsman_events::subscribe::EndpointReference;
use wsman_events::{sldc, BookmarkList};
use wsman_proto::xml::{self, Element, Limits, Node};
use wsman_proto::{charset, ns, parse_request};

const MACHINE_ID_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/machineid";

/// A fixture's message: the line after its provenance comment.
fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/windows-forwarder/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("the fixture");
    let (provenance, message) = text.split_once('\n').expect("a provenance line first");
    assert!(
        provenance.starts_with("<!-- Transcribed") && provenance.contains("every value"),
        "{name}: {provenance}"
    );
    message.to_owned()
}

fn tree(text: &str) -> Element {
    xml::parse(text, &Limits::default()).expect("well-formed")
}

fn header(envelope: &Element) -> &Element {
    envelope.child(ns::SOAP, "Header").expect("an s:Header")
}

fn body(envelope: &Element) -> &Element {
    envelope.child(ns::SOAP, "Body").expect("an s:Body")
}

/// Element children of the header as (namespace, name): the header set and its order.
fn header_names(envelope: &Element) -> Vec<(String, String)> {
    header(envelope)
        .elements()
        .map(|e| (e.ns.clone().unwrap_or_default(), e.name.clone()))
        .collect()
}

/// The first header named `name`'s trimmed text.
fn header_text(envelope: &Element, namespace: &str, name: &str) -> String {
    header(envelope)
        .child(namespace, name)
        .unwrap_or_else(|| panic!("header {name}"))
        .trimmed_text()
}

/// Two trees equal but for prefixes and whitespace-only text between elements.
fn same_tree(ours: &Element, windows: &Element, path: &str) {
    let here = format!("{path}/{}", windows.name);
    if windows.name == "BookmarkList" {
        // The same positions and current log; ours lists the logs by name, Windows in its
        // query's order (docs/events.md), and a BookmarkList is read as a set.
        assert_eq!(
            BookmarkList::from_element(ours),
            BookmarkList::from_element(windows),
            "{here}"
        );
        return;
    }
    assert_eq!(
        (&ours.ns, &ours.name),
        (&windows.ns, &windows.name),
        "element at {here}"
    );
    let attributes = |e: &Element| {
        let mut list: Vec<(Option<String>, String, String)> = e
            .attributes
            .iter()
            .filter(|a| {
                a.name != "xmlns" && a.ns.as_deref() != Some("http://www.w3.org/2000/xmlns/")
            })
            .map(|a| (a.ns.clone(), a.name.clone(), a.value.clone()))
            .collect();
        list.sort();
        list
    };
    assert_eq!(
        attributes(ours),
        attributes(windows),
        "attributes of {here}"
    );
    let texts = |e: &Element| -> Vec<String> {
        e.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) if !t.trim().is_empty() => Some(t.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        texts(ours).concat(),
        texts(windows).concat(),
        "text of {here}"
    );
    let ours_children: Vec<&Element> = ours.elements().collect();
    let windows_children: Vec<&Element> = windows.elements().collect();
    assert_eq!(
        ours_children.len(),
        windows_children.len(),
        "children of {here}: ours {:?}, Windows {:?}",
        ours_children.iter().map(|e| &e.name).collect::<Vec<_>>(),
        windows_children.iter().map(|e| &e.name).collect::<Vec<_>>()
    );
    for (o, w) in ours_children.iter().zip(windows_children) {
        same_tree(o, w, &here);
    }
}

/// The `DeliveryHeaders` values a Windows message carries, read from it.
struct Values {
    to: EndpointReference,
    message_id: String,
    operation_id: String,
    session_id: String,
    machine_id: String,
    timeout: Duration,
    bookmark: Option<BookmarkList>,
}

impl Values {
    fn of(windows: &Element) -> Values {
        let parameters: Vec<Element> = header(windows)
            .elements()
            .filter(|e| e.is(ns::EVENTING, "Identifier"))
            .cloned()
            .collect();
        assert_eq!(
            parameters.len(),
            1,
            "Windows echoes the one reference parameter"
        );
        let bookmark = header(windows).child(ns::WSMAN, "Bookmark").map(|b| {
            BookmarkList::from_element(b.elements().next().expect("BookmarkList"))
                .expect("a bookmark list")
        });
        Values {
            to: delivery::endpoint(&header_text(windows, ns::ADDRESSING, "To"), parameters),
            message_id: header_text(windows, ns::ADDRESSING, "MessageID"),
            operation_id: header_text(windows, ns::MS_WSMAN, "OperationID"),
            session_id: header_text(windows, ns::MS_WSMAN, "SessionId"),
            machine_id: header_text(windows, MACHINE_ID_NS, "MachineID"),
            timeout: wsman_proto::duration::parse(&header_text(
                windows,
                ns::WSMAN,
                "OperationTimeout",
            ))
            .expect("a duration"),
            bookmark,
        }
    }

    fn headers(&self) -> DeliveryHeaders<'_> {
        DeliveryHeaders {
            session_id: Some(&self.session_id),
            operation_timeout: self.timeout,
            bookmark: self.bookmark.as_ref(),
            ..DeliveryHeaders::new(
                &self.to,
                &self.message_id,
                &self.operation_id,
                &self.machine_id,
            )
        }
    }
}

/// The events of a Windows batch, each as the CDATA text it carried.
fn windows_events(windows: &Element) -> Vec<String> {
    let events = body(windows).child(ns::WSMAN, "Events").expect("w:Events");
    events
        .elements()
        .map(|e| {
            assert!(e.is(ns::WSMAN, "Event"));
            e.text()
        })
        .collect()
}

#[test]
fn our_events_batches_are_the_windows_batches() {
    for name in [
        "events.bookmark-event.request.xml",
        "events-1.request.xml",
        "events-2.request.xml",
    ] {
        let text = fixture(name);
        let windows = tree(&text);
        let values = Values::of(&windows);
        let events = windows_events(&windows);
        assert!(!events.is_empty(), "{name}");
        let ours_text = delivery::events_envelope(&values.headers(), &events, Embedding::Cdata);
        let ours = tree(&ours_text);
        assert_eq!(header_names(&ours), header_names(&windows), "{name}");
        same_tree(&ours, &windows, name);
        // No whitespace between w:Event elements, in theirs and ours.
        assert!(!text.contains("</w:Event> "), "{name}");
        assert!(ours_text.contains("]]></w:Event><w:Event ") || events.len() == 1);
    }
}

#[test]
fn our_heartbeat_is_the_windows_heartbeat() {
    let windows = tree(&fixture("heartbeat.request.xml"));
    let values = Values::of(&windows);
    let ours = tree(&delivery::heartbeat_envelope(&values.headers()));
    assert_eq!(header_names(&ours), header_names(&windows));
    same_tree(&ours, &windows, "heartbeat");
}

#[test]
fn our_subscription_end_has_the_windows_header_set() {
    let windows = tree(&fixture("subscription-end.request.xml"));
    let values = Values::of(&windows);
    let manager = body(&windows)
        .child(ns::EVENTING, "SubscriptionEnd")
        .and_then(|e| e.child(ns::EVENTING, "SubscriptionManager"))
        .expect("the subscription manager");
    let manager = delivery::endpoint(
        &manager
            .child(ns::ADDRESSING, "Address")
            .expect("Address")
            .trimmed_text(),
        Vec::new(),
    );
    let ours = tree(&delivery::subscription_end_envelope(
        &values.headers(),
        &manager,
        EndStatus::SourceCancelling,
        "wsmand is stopping",
    ));
    assert_eq!(header_names(&ours), header_names(&windows));
    let status = |e: &Element| {
        body(e)
            .child(ns::EVENTING, "SubscriptionEnd")
            .and_then(|s| s.child(ns::EVENTING, "Status"))
            .map(Element::trimmed_text)
    };
    assert_eq!(status(&ours), status(&windows));
}

/// Every Windows message, UTF-16LE with a byte-order mark and SLDC-compressed as a Windows
/// forwarder posts it, comes back from our decompressor and decoder as it was, and reads as
/// a request with the Windows action.
#[test]
fn the_windows_messages_survive_utf16_and_sldc() {
    for (name, action) in [
        (
            "enumerate.request.xml",
            "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
        ),
        ("heartbeat.request.xml", delivery::HEARTBEAT_ACTION),
        ("events.bookmark-event.request.xml", delivery::EVENTS_ACTION),
        ("events-1.request.xml", delivery::EVENTS_ACTION),
        ("events-2.request.xml", delivery::EVENTS_ACTION),
        (
            "subscription-end.request.xml",
            delivery::SUBSCRIPTION_END_ACTION,
        ),
    ] {
        let text = fixture(name);
        let (bytes, content_type) = delivery::encode(&text, true);
        assert_eq!(&bytes[..2], &[0xFF, 0xFE], "{name}: a byte-order mark");
        assert!(content_type.ends_with("charset=UTF-16"), "{content_type}");
        let compressed = sldc::compress(&bytes);
        println!(
            "{name}: {} bytes of UTF-16, {} compressed ({:.2})",
            bytes.len(),
            compressed.len(),
            compressed.len() as f64 / bytes.len() as f64
        );
        assert!(
            compressed.len() < bytes.len() / 2,
            "{name}: SLDC compresses"
        );
        assert!(!sldc::looks_uncompressed(&compressed), "{name}");
        let plain = sldc::decompress(&compressed, 1 << 20).expect("our own stream");
        assert_eq!(plain, bytes, "{name}");
        let (decoded, _) = charset::decode(&plain, Some("UTF-16")).expect("UTF-16");
        assert_eq!(decoded, text, "{name}");
        let request = parse_request(&decoded, &Limits::default()).expect("an envelope");
        assert_eq!(request.action.as_deref(), Some(action), "{name}");
    }
}
