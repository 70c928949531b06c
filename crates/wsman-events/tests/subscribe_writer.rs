//! The Subscribe writer: what it writes, the Subscribe reader reads back unchanged (any
//! request), and for the values of a Subscribe a Windows client recorded, it writes what that
//! client wrote (the trees compared canonicalised).
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use wsman_events::subscribe::{
    AuthenticationProfile, EndpointReference, EnvelopePolicy, Expires, StartAt,
};
use wsman_events::subscribe_writer::subscribe_envelope;
use wsman_events::{
    parse_subscribe, BookmarkList, ContentFormat, DeliveryMode, QueryList, SubscribeRequest,
    Timestamp,
};
use wsman_proto::ns;
use wsman_proto::xml::{self, Element, Limits, Node};

/// A duration as the protocol carries it: whole milliseconds, never zero.
fn duration() -> impl Strategy<Value = Duration> {
    (1u64..100_000_000_000).prop_map(Duration::from_millis)
}

/// Text without surrounding whitespace (the reader trims values).
fn value() -> impl Strategy<Value = String> {
    "[!-~]([ -~]{0,30}[!-~])?"
}

fn thumbprints() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[0-9A-F]{40}", 0..3)
}

/// A reference parameter: an `e:Identifier` in the envelope's prefix, or an element of a
/// namespace of its own.
fn parameter() -> impl Strategy<Value = Element> {
    (any::<bool>(), value()).prop_map(|(eventing, text)| {
        let (uri, prefix, name) = if eventing {
            (ns::EVENTING, "e", "Identifier")
        } else {
            ("urn:example:reference", "r", "Key")
        };
        let mut element = Element::new(Some(uri), name);
        element.prefix = Some(prefix.to_owned());
        element.children.push(Node::Text(text));
        element
    })
}

fn endpoint() -> impl Strategy<Value = EndpointReference> {
    (
        "https?://[a-z]{1,10}(:[0-9]{1,5})?/[A-Za-z0-9/]{0,20}",
        proptest::collection::vec(parameter(), 0..3),
    )
        .prop_map(|(address, reference_parameters)| EndpointReference {
            address,
            reference_parameters,
        })
}

fn profile() -> impl Strategy<Value = AuthenticationProfile> {
    (
        prop_oneof![
            Just(ns::secprofile::HTTPS_MUTUAL.to_owned()),
            Just(ns::secprofile::HTTP_SPNEGO_KERBEROS.to_owned()),
            "urn:[a-z]{1,10}",
        ],
        thumbprints(),
        thumbprints(),
    )
        .prop_map(|(profile, issuers, certificates)| AuthenticationProfile {
            profile,
            issuer_thumbprints: issuers,
            certificate_thumbprints: certificates,
            subscriber_thumbprint: None,
        })
}

/// A QueryList of one to three Queries, with and without a Query `Path`, `Suppress`es and ids.
fn filter() -> impl Strategy<Value = Arc<QueryList>> {
    let xpath = prop_oneof![
        Just("*"),
        Just("*[System[(Level=1  or Level=2)]]"),
        Just("*[System[EventID=4624]]"),
        Just("*[EventData[Data[@Name='TargetUserName']='alice']]"),
    ];
    let log = prop_oneof![Just("Application"), Just("Security"), Just("System")];
    let query = (
        proptest::collection::vec((xpath, log.clone(), any::<bool>()), 1..4),
        log,
        any::<bool>(),
    );
    proptest::collection::vec(query, 1..4).prop_map(|queries| {
        let mut text = String::from("<QueryList>");
        for (id, (clauses, log, with_path)) in queries.iter().enumerate() {
            if *with_path {
                text.push_str(&format!("<Query Id=\"{id}\" Path=\"{log}\">"));
            } else {
                text.push_str(&format!("<Query Id=\"{id}\">"));
            }
            for (xpath, path, suppress) in clauses {
                let tag = if *suppress { "Suppress" } else { "Select" };
                let xpath = xml::escape_text(xpath);
                text.push_str(&format!("<{tag} Path=\"{path}\">{xpath}</{tag}>"));
            }
            text.push_str("</Query>");
        }
        text.push_str("</QueryList>");
        Arc::new(QueryList::parse(&text).unwrap())
    })
}

fn start_at() -> impl Strategy<Value = StartAt> {
    prop_oneof![
        Just(StartAt::Earliest),
        proptest::collection::vec(("[A-Za-z][A-Za-z0-9/ -]{0,20}", any::<u64>()), 1..4).prop_map(
            |positions| {
                let mut list = BookmarkList::new();
                for (channel, record) in positions {
                    list.advance(&channel, record);
                }
                StartAt::After(list)
            }
        ),
    ]
}

fn expires() -> impl Strategy<Value = Expires> {
    prop_oneof![
        duration().prop_map(Expires::After),
        (
            1970u32..2100,
            1u32..13,
            1u32..29,
            0u32..24,
            0u32..60,
            0u32..60,
            0u32..1_000_000
        )
            .prop_map(|(y, mo, d, h, mi, s, us)| {
                let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z");
                Expires::At(Timestamp::parse_system_time(&text).unwrap())
            }),
    ]
}

fn mode() -> impl Strategy<Value = DeliveryMode> {
    prop_oneof![
        Just(DeliveryMode::Push),
        Just(DeliveryMode::PushWithAck),
        Just(DeliveryMode::Events),
        Just(DeliveryMode::Pull),
    ]
}

fn envelope_policy() -> impl Strategy<Value = EnvelopePolicy> {
    prop_oneof![
        Just(EnvelopePolicy::CancelSubscription),
        Just(EnvelopePolicy::Skip),
        Just(EnvelopePolicy::Notify),
    ]
}

/// Any Subscribe the reader accepts: a push mode has a NotifyTo, and authentication is
/// NotifyTo's.
fn subscribe_request() -> impl Strategy<Value = SubscribeRequest> {
    let delivery = (
        mode(),
        proptest::option::of(endpoint()),
        proptest::option::of(endpoint()),
        proptest::collection::vec(profile(), 0..3),
        proptest::option::of(duration()),
        proptest::option::of((any::<u32>(), duration())),
        proptest::option::of(1u32..),
        proptest::option::of(duration()),
        proptest::option::of((any::<u64>(), envelope_policy())),
        any::<bool>(),
    );
    let body = (
        proptest::option::of(expires()),
        proptest::option::of(filter()),
        proptest::option::of(start_at()),
        any::<bool>(),
    );
    let options = (
        prop_oneof![Just(ContentFormat::Raw), Just(ContentFormat::RenderedText)],
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(value()),
        any::<bool>(),
    );
    (delivery, body, options).prop_map(|(delivery, body, options)| {
        let (mode, notify_to, end_to, authentication, heartbeats, retry, items, time, size, utf16) =
            delivery;
        let notify_to = match (mode, notify_to) {
            (DeliveryMode::Pull, to) => to,
            (_, Some(to)) => Some(to),
            (_, None) => Some(EndpointReference {
                address: "https://collector/wsman".to_owned(),
                reference_parameters: Vec::new(),
            }),
        };
        let authentication = if notify_to.is_some() {
            authentication
        } else {
            Vec::new()
        };
        let (expires, filter, start_at, send_bookmarks) = body;
        let (content_format, read_existing_events, ignore_channel_error, name, compress_sldc) =
            options;
        SubscribeRequest {
            mode,
            notify_to,
            end_to,
            authentication,
            heartbeats,
            connection_retry: retry,
            max_elements: items,
            max_time: time,
            max_envelope_size: size,
            utf16,
            expires,
            filter,
            start_at,
            send_bookmarks,
            content_format,
            read_existing_events,
            ignore_channel_error,
            name,
            compress_sldc,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// parse(write(x)) == x: every field of any Subscribe survives the writer and the reader.
    #[test]
    fn a_written_subscribe_reads_back_unchanged(request in subscribe_request()) {
        let text = subscribe_envelope(&request, "uuid:00000000-0000-0000-0000-000000000001", "uuid:00000000-0000-0000-0000-000000000002");
        let parsed = wsman_proto::parse_request(&text, &Limits::default())
            .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        let read = parse_subscribe(&parsed).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(read, request);
    }
}

/// The recorded Windows Subscribe: scenario "10 Eventing" of Microsoft's 2006 interoperability
/// workshop (a Windows client's pull subscription to a Windows host's event log).
fn recorded_subscribe() -> Element {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wsman-proto/tests/fixtures/windows/interop/Scenarios.InteropWorkshop.Dec2006.MSFT.xml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("<SubscribeRequest>").unwrap() + "<SubscribeRequest>".len();
    let end = text.find("</SubscribeRequest>").unwrap();
    let envelope = xml::parse(text[start..end].trim(), &Limits::default()).unwrap();
    body_subscribe(&envelope)
}

fn body_subscribe(envelope: &Element) -> Element {
    envelope
        .child(ns::SOAP, "Body")
        .and_then(|b| b.child(ns::EVENTING, "Subscribe"))
        .cloned()
        .unwrap()
}

/// An element as the comparison sees it: names by namespace (not prefix), attributes sorted
/// and without namespace declarations, whitespace-only text left out and text trimmed. Two
/// things of the recording are read as the reader reads them: a `w:Filter` that carries its
/// QueryList as escaped text (as this 2006 client wrote it) holds the QueryList's elements, and
/// a `w:Filter` without a Dialect has the event query dialect. `w:Locale` and `p:DataLocale`
/// are left out: the locale is the envelope's, not part of a Subscribe's request.
fn canonical(e: &Element) -> String {
    let mut attributes: Vec<String> = e
        .attributes
        .iter()
        .map(|a| format!("{}|{}={}", a.ns.as_deref().unwrap_or(""), a.name, a.value))
        .collect();
    let filter = e.is(ns::WSMAN, "Filter");
    if filter && e.attr("Dialect").is_none() {
        attributes.push(format!("|Dialect={}", ns::EVENT_QUERY_DIALECT));
    }
    attributes.sort();
    let mut out = format!(
        "<{{{}}}{} {}>",
        e.ns.as_deref().unwrap_or(""),
        e.name,
        attributes.join(" ")
    );
    if filter && e.elements().next().is_none() {
        let list = xml::parse(e.text().trim(), &Limits::default()).unwrap();
        out.push_str(&canonical(&list));
    }
    for child in &e.children {
        match child {
            Node::Element(c) if c.is(ns::WSMAN, "Locale") || c.is(ns::MS_WSMAN, "DataLocale") => {}
            Node::Element(c) => out.push_str(&canonical(c)),
            Node::Text(t) if t.trim().is_empty() || filter => {}
            Node::Text(t) => out.push_str(t.trim()),
        }
    }
    out.push_str("</>");
    out
}

/// The peer's oracle: the writer, given the values of the recorded Windows Subscribe, writes the
/// recording's elements, attributes, order and value forms (`PT900.000S`, the 13-digit
/// `e:Expires`, the bookmark list).
#[test]
fn the_writer_writes_a_recorded_windows_subscribe_as_windows_wrote_it() {
    let recorded = recorded_subscribe();
    let filter = recorded.child(ns::WSMAN, "Filter").unwrap().text();
    let mut bookmark = BookmarkList::new();
    bookmark.advance("System", 4740);
    let request = SubscribeRequest {
        mode: DeliveryMode::Pull,
        notify_to: None,
        end_to: None,
        authentication: Vec::new(),
        heartbeats: Some(Duration::from_secs(900)),
        connection_retry: None,
        max_elements: None,
        max_time: None,
        max_envelope_size: None,
        utf16: false,
        expires: Some(Expires::After(Duration::from_millis(3_961_315_881_184))),
        filter: Some(Arc::new(QueryList::parse(filter.trim()).unwrap())),
        start_at: Some(StartAt::After(bookmark)),
        send_bookmarks: true,
        content_format: ContentFormat::RenderedText,
        read_existing_events: false,
        ignore_channel_error: true,
        name: None,
        compress_sldc: false,
    };
    let written = subscribe_envelope(
        &request,
        "uuid:757A363C-C086-49CD-B42F-666AAB930D43",
        "uuid:1",
    );
    let ours = body_subscribe(&xml::parse(&written, &Limits::default()).unwrap());
    assert_eq!(canonical(&ours), canonical(&recorded));
}

#[test]
fn the_canonical_form_tells_a_changed_value_or_order() {
    let recorded = recorded_subscribe();
    let base = canonical(&recorded);
    let text = recorded.to_xml();
    for (from, to) in [
        ("PT900.000S", "PT900S"),
        ("RecordId=\"4740\"", "RecordId=\"4741\""),
        ("SendBookmarks", "SendBookmark"),
    ] {
        assert!(text.contains(from), "{from}");
        let changed = xml::parse(&text.replacen(from, to, 1), &Limits::default()).unwrap();
        assert_ne!(canonical(&changed), base, "{from} -> {to}");
    }
    let mut reordered = recorded.clone();
    let last = reordered.children.len() - 1;
    reordered.children.swap(1, last);
    assert_ne!(canonical(&reordered), base, "the order of the children");
}
