//! Arbitrary text through the bounded XML tree parser alone, with the default limits and with
//! tight ones (so the limit paths are hit often), and through the client's streaming reader of
//! ReceiveResponse envelopes, which must agree with the tree parser whenever it accepts a
//! document, and through the plain pass (`xml::scan_plain`), which must report what the full
//! pass (`xml::scan`) reports whenever it reads a document whole. Any panic, hang, unbounded
//! allocation or disagreement is a bug.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use wsman_proto::shell::{read_receive_envelope, ReceiveResponse};
use wsman_proto::{ns, xml::{self, Limits}};

/// Everything a pass reports, in order.
#[derive(Default, Debug, PartialEq)]
struct Log(Vec<String>);

impl xml::Visitor for Log {
    fn attribute(&mut self, ns: Option<&str>, name: &str, value: Cow<'_, str>) {
        self.0.push(format!("attribute {ns:?} {name:?} {value:?}"));
    }
    fn start(&mut self, ns: Option<&str>, name: &str, prefix: Option<&str>, empty: bool) {
        self.0
            .push(format!("start {ns:?} {name:?} {prefix:?} {empty}"));
    }
    fn end(&mut self) {
        self.0.push("end".to_owned());
    }
    fn text(&mut self, text: Cow<'_, str>) {
        self.0.push(format!("text {text:?}"));
    }
}

/// When the plain pass reads `text` whole, the full pass accepts it with the same reports.
fn plain_agrees(text: &str, limits: &Limits) {
    let mut plain = Log::default();
    if xml::scan_plain(text, limits, &mut plain) {
        let mut full = Log::default();
        assert_eq!(
            xml::scan(text, limits, &mut full),
            Ok(()),
            "the full pass refused it"
        );
        assert_eq!(plain, full);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = xml::parse(text, &Limits::default());
    let mut tight = Limits::default();
    tight.max_depth = 4;
    tight.max_elements = 16;
    tight.max_attributes = 2;
    let _ = xml::parse(text, &tight);
    plain_agrees(text, &Limits::default());
    plain_agrees(text, &tight);
    if let Some(fast) = read_receive_envelope(text) {
        let root = xml::parse(text, &Limits::default()).expect("the tree parser refused it");
        let body = root.child(ns::SOAP, "Body").expect("no s:Body");
        let first = body.elements().next().expect("an empty s:Body");
        let by_tree = ReceiveResponse::parse(first).expect("the ReceiveResponse reader refused it");
        assert_eq!(fast.response, by_tree);
    }
});
