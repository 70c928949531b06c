//! Round-trip property tests of the codec: what the request builder writes, the request parser
//! reads back unchanged; what the response builder echoes, a client reads back byte for byte.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test
#![allow(
    clippy::disallowed_methods,
    reason = "the writers of response envelopes, read back"
)]

use std::time::Duration;

use proptest::prelude::*;
use wsman_proto::headers::SelectorValue;
use wsman_proto::ns;
use wsman_proto::request::{self, RequestHeader};
use wsman_proto::response::{self, ResponseHeader};
use wsman_proto::xml::{self, Limits};
use wsman_proto::{parse_request, Fault, Request};

/// Text as XML can carry it (no control characters other than tab and newline; no CR, which
/// XML end-of-line handling rewrites).
fn xml_text() -> impl Strategy<Value = String> {
    "[\\PC&&[^\\r]]{0,40}"
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,12}"
}

/// The request header as the parsed request holds it: the inverse of [`request::envelope`]'s
/// header.
fn read_header(r: &Request) -> RequestHeader {
    let header = |namespace: &str, name: &str| {
        r.headers
            .iter()
            .find(|e| e.is(namespace, name))
            .map(|e| e.trimmed_text())
    };
    let mut h = RequestHeader::new(
        r.to.as_deref().unwrap_or(""),
        r.action.as_deref().unwrap_or(""),
        r.resource_uri.as_deref().unwrap_or(""),
        r.message_id.as_deref().unwrap_or(""),
    );
    h.selectors = r
        .selectors
        .0
        .iter()
        .filter_map(|s| match &s.value {
            SelectorValue::Text(t) => Some((s.name.clone(), t.clone())),
            SelectorValue::Epr(_) => None,
        })
        .collect();
    h.options = r
        .options
        .options
        .iter()
        .map(|o| {
            (
                o.name.clone(),
                o.value.clone().unwrap_or_default(),
                o.must_comply,
            )
        })
        .collect();
    h.operation_timeout = r.operation_timeout;
    h.max_envelope_size = r.max_envelope_size;
    h.locale.clone_from(&r.locale);
    h.session_id.clone_from(&r.session_id);
    h.operation_id.clone_from(&r.operation_id);
    h.subscription_identifier = header(ns::EVENTING, "Identifier");
    h.machine_id = header(ns::MACHINE_ID, "MachineID");
    h
}

proptest! {
    /// parse(write(x)) == x: every field of any request header survives the writer and the
    /// parser (values as the parser keeps them: trimmed).
    #[test]
    fn request_header_round_trips(
        action in "[a-z]{1,8}:[ -~]{0,30}",
        resource in "[a-z]{1,8}:[ -~]{0,30}",
        message_id in "uuid:[0-9A-Fa-f-]{1,36}",
        selectors in proptest::collection::vec((name(), xml_text()), 0..4),
        options in proptest::collection::vec((name(), xml_text(), any::<bool>()), 0..4),
        timeout_ms in proptest::option::of(0u64..10_000_000),
        max_env in proptest::option::of(8192u64..10_000_000),
        locale in proptest::option::of("[a-z]{2}(-[A-Z]{2})?"),
        session_id in proptest::option::of("uuid:[0-9A-F-]{1,36}"),
        operation_id in proptest::option::of("uuid:[0-9A-F-]{1,36}"),
        subscription_identifier in proptest::option::of("[0-9A-F-]{1,36}"),
        machine_id in proptest::option::of("[a-z][a-z0-9.-]{0,30}"),
    ) {
        let trim = |v: String| v.trim_matches(|c| matches!(c, ' ' | '\t' | '\n')).to_owned();
        let mut h = RequestHeader::new("http://h/wsman", action.trim(), resource.trim(), &message_id);
        // Selector and option names are unique by definition of the sets.
        let mut seen = std::collections::HashSet::new();
        h.selectors = selectors.into_iter().filter(|(n, _)| seen.insert(n.to_ascii_lowercase())).map(|(n, v)| (n, trim(v))).collect();
        let mut seen_options = std::collections::HashSet::new();
        h.options = options.into_iter().filter(|(n, _, _)| seen_options.insert(n.to_ascii_lowercase())).map(|(n, v, m)| (n, trim(v), m)).collect();
        h.operation_timeout = timeout_ms.map(Duration::from_millis);
        h.max_envelope_size = max_env;
        h.locale = locale;
        h.session_id = session_id;
        h.operation_id = operation_id;
        h.subscription_identifier = subscription_identifier;
        h.machine_id = machine_id;
        let text = request::envelope(&h, "");
        let r = parse_request(&text, &Limits::default()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(read_header(&r), h);
    }

    #[test]
    fn relates_to_echoes_any_message_id(id in "[\\PC&&[^\\r\\t\\n ]][\\PC&&[^\\r]]{0,60}[\\PC&&[^\\r\\t\\n ]]") {
        let ok = response::envelope(&ResponseHeader { action: "urn:a", message_id: "uuid:1", relates_to: Some(&id), operation_id: None, sequence_id: None, extra: "" }, "");
        let fault = response::fault_envelope(&Fault::access_denied(), "uuid:1", Some(&id), "m");
        for doc in [ok, fault] {
            let e = xml::parse(&doc, &Limits::default()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let rel = e.child(ns::SOAP, "Header").and_then(|h| h.child(ns::ADDRESSING, "RelatesTo")).map(|r| r.text());
            prop_assert_eq!(rel.as_deref(), Some(id.as_str()));
        }
    }

    #[test]
    fn request_parser_never_panics(s in "\\PC{0,300}") {
        let _ = parse_request(&s, &Limits::default());
    }
}
