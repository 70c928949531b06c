//! Arbitrary text through the one-pass reader of Enumerate and Pull responses (`FlatPage`),
//! which must agree with the tree parser whenever it accepts a document: the same items, each
//! with the same names, namespaces, leaf text and nil marks. Any panic, hang, unbounded
//! allocation or disagreement is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_proto::flat::{FlatElement, FlatPage};
use wsman_proto::xml::{self, Element, Limits};
use wsman_proto::ns;

fn same(flat: FlatElement<'_>, tree: &Element) {
    assert_eq!(flat.name(), tree.name);
    assert_eq!(flat.ns(), tree.ns.as_deref());
    let nil = tree
        .attr_ns(ns::XSI, "nil")
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    assert_eq!(flat.is_nil(), nil);
    let children: Vec<&Element> = tree.elements().collect();
    let flat_children: Vec<FlatElement<'_>> = flat.elements().collect();
    assert_eq!(flat_children.len(), children.len());
    if children.is_empty() {
        assert_eq!(flat.text(), tree.text());
    }
    for (f, t) in flat_children.into_iter().zip(children) {
        same(f, t);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut page = FlatPage::default();
    for pull in [false, true] {
        if page.read(text, "uuid:1", pull).is_none() {
            continue;
        }
        let root = xml::parse(text, &Limits::default()).expect("the tree parser refused it");
        let response = root
            .child(ns::SOAP, "Body")
            .and_then(|b| b.elements().next())
            .expect("no response");
        let items_of = |ns: &str| -> Vec<&Element> {
            response
                .child(ns, "Items")
                .map(|i| i.elements().collect())
                .unwrap_or_default()
        };
        let mut items = if pull { Vec::new() } else { items_of(ns::WSMAN) };
        if items.is_empty() {
            items = items_of(ns::ENUMERATION);
        }
        assert_eq!(page.len(), items.len());
        for (f, t) in page.items().zip(items) {
            same(f, t);
        }
    }
});
