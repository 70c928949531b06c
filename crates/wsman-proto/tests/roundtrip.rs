//! Round-trip property tests of the codec: what the request builder writes, the request parser
//! reads back unchanged; what the response builder echoes, a client reads back byte for byte.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::Duration;

use proptest::prelude::*;
use wsman_proto::ns;
use wsman_proto::request::{self, RequestHeader};
use wsman_proto::response::{self, ResponseHeader};
use wsman_proto::xml::{self, Limits};
use wsman_proto::{parse_request, Fault};

/// Text as XML can carry it (no control characters other than tab and newline; no CR, which
/// XML end-of-line handling rewrites).
fn xml_text() -> impl Strategy<Value = String> {
    "[\\PC&&[^\\r]]{0,40}"
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,12}"
}

proptest! {
    #[test]
    fn request_header_round_trips(
        action in "[a-z]{1,8}:[ -~]{0,30}",
        resource in "[a-z]{1,8}:[ -~]{0,30}",
        message_id in "uuid:[0-9A-Fa-f-]{1,36}",
        selectors in proptest::collection::vec((name(), xml_text()), 0..4),
        options in proptest::collection::vec((name(), xml_text(), any::<bool>()), 0..4),
        timeout_ms in 0u64..10_000_000,
        max_env in 8192u64..10_000_000,
    ) {
        let mut h = RequestHeader::new("http://h/wsman", action.trim(), resource.trim(), &message_id);
        // Selector and option names are unique by definition of the sets.
        let mut seen = std::collections::HashSet::new();
        h.selectors = selectors.into_iter().filter(|(n, _)| seen.insert(n.to_ascii_lowercase())).collect();
        let mut seen_options = std::collections::HashSet::new();
        h.options = options.into_iter().filter(|(n, _, _)| seen_options.insert(n.to_ascii_lowercase())).collect();
        h.operation_timeout = Some(Duration::from_millis(timeout_ms));
        h.max_envelope_size = Some(max_env);
        let text = request::envelope(&h, "");
        let r = parse_request(&text, &Limits::default()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(r.action.as_deref(), Some(action.trim()));
        prop_assert_eq!(r.resource_uri.as_deref(), Some(resource.trim()));
        prop_assert_eq!(r.message_id.as_deref(), Some(message_id.as_str()));
        prop_assert_eq!(r.operation_timeout, Some(Duration::from_millis(timeout_ms)));
        prop_assert_eq!(r.max_envelope_size, Some(max_env));
        for (n, v) in &h.selectors {
            prop_assert_eq!(r.selectors.get(n), Some(v.trim_matches(|c| matches!(c, ' ' | '\t' | '\n'))));
        }
        for (n, v, mc) in &h.options {
            let o = r.options.get(n).ok_or_else(|| TestCaseError::fail("option lost"))?;
            prop_assert_eq!(o.value.as_deref(), Some(v.trim_matches(|c| matches!(c, ' ' | '\t' | '\n'))));
            prop_assert_eq!(o.must_comply, *mc);
        }
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
