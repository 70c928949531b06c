//! Arbitrary text through the bounded XML tree parser alone, with the default limits and with
//! tight ones (so the limit paths are hit often), and through the client's streaming reader of
//! ReceiveResponse envelopes, which must agree with the tree parser whenever it accepts a
//! document. Any panic, hang, unbounded allocation or disagreement is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_proto::shell::{read_receive_envelope, ReceiveResponse};
use wsman_proto::{ns, xml::{self, Limits}};

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
    if let Some(fast) = read_receive_envelope(text) {
        let root = xml::parse(text, &Limits::default()).expect("the tree parser refused it");
        let body = root.child(ns::SOAP, "Body").expect("no s:Body");
        let first = body.elements().next().expect("an empty s:Body");
        let by_tree = ReceiveResponse::parse(first).expect("the ReceiveResponse reader refused it");
        assert_eq!(fast.response, by_tree);
    }
});
