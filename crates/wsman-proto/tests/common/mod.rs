//! What the shell and golden tests share: the recorded Windows messages of
//! `tests/fixtures/windows/`, and the tree compare that ignores prefixes and whitespace.
#![allow(dead_code)] // each test file uses a part
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test
#![allow(
    clippy::disallowed_methods,
    reason = "the writers of response envelopes against Windows' recordings"
)]

use std::path::{Path, PathBuf};

use wsman_proto::envelope::{OptionSet, WsOption};
use wsman_proto::ns;
use wsman_proto::response::{self, ResponseHeader};
use wsman_proto::xml::{self, Element, Limits, Node};
use wsman_proto::{parse_request, Request};

pub(crate) fn fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/windows")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub(crate) fn fixture_files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/windows")
        .join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    out
}

/// Structural form of a tree: whitespace-only text dropped, text trimmed, prefixes ignored.
pub(crate) fn normalise(e: &Element) -> Element {
    let mut out = Element::new(e.ns.as_deref(), &e.name);
    out.attributes = e.attributes.clone();
    out.attributes
        .sort_by(|a, b| (&a.ns, &a.name).cmp(&(&b.ns, &b.name)));
    for c in &e.children {
        match c {
            Node::Element(k) => out.children.push(Node::Element(normalise(k))),
            Node::Text(t) if !t.trim().is_empty() => {
                out.children.push(Node::Text(t.trim().to_owned()))
            }
            Node::Text(_) => {}
        }
    }
    out
}

pub(crate) fn parse(text: &str) -> Element {
    xml::parse(text, &Limits::default()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

pub(crate) fn body_of(doc: &Element) -> Element {
    doc.child(ns::SOAP, "Body").unwrap().clone()
}

pub(crate) fn action_of(doc: &Element) -> String {
    doc.child(ns::SOAP, "Header")
        .unwrap()
        .child(ns::ADDRESSING, "Action")
        .unwrap()
        .trimmed_text()
}

/// Our envelope with `body` compared with a recorded response: same Action, same Body tree.
pub(crate) fn assert_matches_windows(response_action: &str, body: &str, windows_file: &str) {
    let ours = response::envelope(
        &ResponseHeader {
            action: response_action,
            message_id: "uuid:00000000-0000-4000-8000-000000000002",
            relates_to: Some("uuid:00000000-0000-4000-8000-000000000001"),
            operation_id: None,
            sequence_id: None,
            extra: "",
        },
        body,
    );
    let (o, w) = (parse(&ours), parse(&fixture(windows_file)));
    assert_eq!(action_of(&o), action_of(&w), "{windows_file}");
    assert_eq!(
        normalise(&body_of(&o)),
        normalise(&body_of(&w)),
        "{windows_file}\nours: {body}"
    );
}

pub(crate) fn request(rel: &str) -> Request {
    parse_request(&fixture(rel), &Limits::default()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// An OptionSet of (name, value, MustComply) triples.
pub(crate) fn options(pairs: &[(&str, &str, bool)]) -> OptionSet {
    OptionSet {
        must_understand: true,
        options: pairs
            .iter()
            .map(|(n, v, m)| WsOption {
                name: (*n).to_owned(),
                value: Some((*v).to_owned()),
                must_comply: *m,
            })
            .collect(),
    }
}

/// A message body parsed from `xml_text`.
pub(crate) fn body(xml_text: &str) -> Element {
    parse(xml_text)
}

pub(crate) const RSP: &str =
    "xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\"";
