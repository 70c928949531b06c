//! Enumerated items print the same whether a page was read in one pass (`FlatPage`, what
//! `winrm enumerate` uses) or as an `Element` tree (what it used before): on responses recorded
//! from Windows and on generated ones. The tree reader is the reference.

use proptest::prelude::*;
use wsman_cli::{windows_text, windows_text_of_item};
use wsman_client::{EnumeratedItem, FlatPage};
use wsman_proto::ns;
use wsman_proto::xml::{self, escape_attr, escape_text, Element, Limits};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../wsman-proto/tests/fixtures/windows/"
);

/// The items' text as the tree reader gives it (items of `w:Items`, else `n:Items`, of the
/// body's first element), and the response's RelatesTo.
fn by_tree(envelope: &str, pull: bool) -> (usize, String, String) {
    let root = xml::parse(envelope, &Limits::default()).expect("XML");
    let relates_to = root
        .child(ns::SOAP, "Header")
        .and_then(|h| h.child(ns::ADDRESSING, "RelatesTo"))
        .map(Element::trimmed_text)
        .expect("RelatesTo");
    let response = root
        .child(ns::SOAP, "Body")
        .and_then(|b| b.elements().next())
        .expect("a response");
    let items_of = |ns: &str| -> Vec<&Element> {
        response
            .child(ns, "Items")
            .map(|i| i.elements().collect())
            .unwrap_or_default()
    };
    let mut items = if pull {
        Vec::new()
    } else {
        items_of(ns::WSMAN)
    };
    if items.is_empty() {
        items = items_of(ns::ENUMERATION);
    }
    let texts: Vec<String> = items.iter().map(|e| windows_text(e)).collect();
    (items.len(), texts.join("\n"), relates_to)
}

fn by_flat(envelope: &str, relates_to: &str, pull: bool) -> Option<(usize, String)> {
    let mut page = FlatPage::default();
    page.read(envelope, relates_to, pull)?;
    let mut out = String::new();
    for (i, item) in page.items().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        windows_text_of_item(EnumeratedItem::Flat(item), &mut out);
    }
    Some((page.len(), out))
}

#[test]
fn recorded_windows_responses_print_alike() {
    for (file, pull, at_least) in [
        ("enumerate-wmi-win32_process.response.xml", false, 1),
        ("pull-wmi-win32_process.response.xml", true, 1),
        ("enumerate-shells.response.xml", false, 2),
        ("enumerate-commands.response.xml", false, 1),
        ("enumerate-commands.empty.response.xml", false, 0),
    ] {
        let envelope = std::fs::read_to_string(format!("{FIXTURES}enumerate/{file}")).expect(file);
        let (count, text, relates_to) = by_tree(&envelope, pull);
        assert!(count >= at_least, "{file}: {count} items");
        let flat = by_flat(&envelope, &relates_to, pull).unwrap_or_else(|| panic!("{file}"));
        assert_eq!(flat, (count, text), "{file}");
        // Another RelatesTo, or the other operation's response: left to the general reader.
        assert_eq!(by_flat(&envelope, "uuid:other", pull), None, "{file}");
        assert_eq!(by_flat(&envelope, &relates_to, !pull), None, "{file}");
    }
}

#[test]
fn recorded_faults_are_left_to_the_general_reader() {
    let mut seen = 0;
    for entry in std::fs::read_dir(format!("{FIXTURES}faults")).expect("faults") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("fault");
        let Ok(root) = xml::parse(&text, &Limits::default()) else {
            continue;
        };
        let Some(relates_to) = root
            .child(ns::SOAP, "Header")
            .and_then(|h| h.child(ns::ADDRESSING, "RelatesTo"))
            .map(Element::trimmed_text)
        else {
            continue;
        };
        seen += 1;
        for pull in [false, true] {
            assert_eq!(
                by_flat(&text, &relates_to, pull),
                None,
                "{}",
                path.display()
            );
        }
    }
    assert!(seen > 0);
}

/// A generated property: name, value, nil, a Source attribute, or children of its own.
#[derive(Clone, Debug)]
struct Property {
    name: String,
    value: String,
    nil: bool,
    source: Option<String>,
    children: Vec<(String, String)>,
}

fn property() -> impl Strategy<Value = Property> {
    (
        prop::sample::select(vec!["Name", "Caption", "Selector", "ListeningOn", "Size"]),
        "[ a-z0-9&<>\"'\t\n]{0,10}",
        any::<bool>(),
        prop::option::of("[a-zA-Z&\"]{1,5}"),
        prop::collection::vec(
            (
                prop::sample::select(vec!["Datetime", "Selector", "Address"]),
                "[ a-z<&]{0,6}",
            ),
            0..3,
        ),
    )
        .prop_map(|(name, value, nil, source, children)| Property {
            name: name.to_owned(),
            value,
            nil,
            source,
            children: children
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect(),
        })
}

fn envelope(items: &[Vec<Property>], pull: bool, relates_to: &str) -> String {
    let mut body = String::new();
    for props in items {
        body.push_str(
            "<p:Item xmlns:p=\"urn:item\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">",
        );
        for p in props {
            let mut attrs = String::new();
            if p.nil {
                attrs.push_str(" xsi:nil=\"true\"");
            }
            if let Some(s) = &p.source {
                attrs.push_str(&format!(" Source=\"{}\"", escape_attr(s)));
            }
            if p.name == "Selector" {
                attrs.push_str(" Name=\"Id\"");
            }
            body.push_str(&format!("<p:{}{attrs}>{}", p.name, escape_text(&p.value)));
            for (n, v) in &p.children {
                body.push_str(&format!("<p:{n}>{}</p:{n}>", escape_text(v)));
            }
            body.push_str(&format!("</p:{}>", p.name));
        }
        body.push_str("</p:Item>");
    }
    let (response, items_prefix) = if pull {
        ("PullResponse", "n")
    } else {
        ("EnumerateResponse", "w")
    };
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header>\
         <a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body><n:{response}>\
         <n:EnumerationContext>ctx</n:EnumerationContext>\
         <{items_prefix}:Items>{body}</{items_prefix}:Items></n:{response}></s:Body></s:Envelope>"
    )
}

proptest! {
    #[test]
    fn generated_responses_print_alike(
        items in prop::collection::vec(prop::collection::vec(property(), 0..6), 0..4),
        pull in any::<bool>(),
    ) {
        let envelope = envelope(&items, pull, "uuid:1");
        let (count, text, relates_to) = by_tree(&envelope, pull);
        prop_assert_eq!(count, items.len());
        let flat = by_flat(&envelope, &relates_to, pull);
        prop_assert_eq!(flat, Some((count, text)));
    }
}
