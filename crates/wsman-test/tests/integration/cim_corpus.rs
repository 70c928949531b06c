//! The recorded Windows answers to WMI enumerations (Windows Server 2008 R2's Win32_Process
//! EnumerateResponse and PullResponse, in the Windows fixtures) held against the daemon's
//! answers to the same requests: the same envelope shape (body elements and their
//! namespaces), the same item element and `xsi:type`, the same properties in the same order,
//! and each property of the same kind (text, nil or a `cim:` element) wherever the recording
//! has a value. Values differ, structure does not.

use std::collections::{BTreeMap, BTreeSet};

use wsman_proto::ns::{self, action};
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::soap;
use wsman_test::Fixture;

const PROCESS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process";

fn recorded(path: &str) -> Element {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wsman-proto/tests/fixtures/windows/enumerate")
        .join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    xml::parse(&text, &Limits::default()).expect("recording is XML")
}

/// The body's element path down to the items: `(namespace, name)` of each element that is not
/// an item, depth first.
fn shape(envelope: &Element) -> Vec<(String, String)> {
    fn walk(e: &Element, out: &mut Vec<(String, String)>) {
        for c in e.elements() {
            if c.is(PROCESS, "Win32_Process") {
                continue;
            }
            out.push((c.ns.clone().unwrap_or_default(), c.name.clone()));
            walk(c, out);
        }
    }
    let mut out = Vec::new();
    walk(envelope.child(ns::SOAP, "Body").expect("Body"), &mut out);
    out.dedup();
    out
}

fn items(envelope: &Element) -> Vec<&Element> {
    fn walk<'a>(e: &'a Element, out: &mut Vec<&'a Element>) {
        for c in e.elements() {
            if c.is(PROCESS, "Win32_Process") {
                out.push(c);
            } else {
                walk(c, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(envelope, &mut out);
    out
}

/// What a property element holds: `nil`, `text`, or the name of its child element.
fn kind(property: &Element) -> String {
    if property.attr_ns(ns::XSI, "nil").is_some() {
        return "nil".to_owned();
    }
    property.elements().next().map_or_else(
        || "text".to_owned(),
        |c| format!("{{{}}}{}", c.ns.clone().unwrap_or_default(), c.name),
    )
}

/// Our items against the recorded ones: element, `xsi:type`, property order, and kinds.
fn assert_items_like(ours: &[&Element], windows: &[&Element]) {
    assert!(!ours.is_empty() && !windows.is_empty());
    let names =
        |item: &Element| -> Vec<String> { item.elements().map(|p| p.name.clone()).collect() };
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for item in windows {
        assert_eq!(names(item), names(windows[0]), "the recorded items agree");
        for p in item.elements() {
            seen.entry(p.name.clone()).or_default().insert(kind(p));
        }
    }
    for item in ours {
        assert_eq!(
            item.attr_ns(ns::XSI, "type"),
            windows[0].attr_ns(ns::XSI, "type")
        );
        assert_eq!(names(item), names(windows[0]), "properties and their order");
        for p in item.elements() {
            let ours = kind(p);
            let recorded = &seen[&p.name];
            let has_value = recorded.iter().any(|k| k != "nil");
            assert!(
                ours == "nil" || !has_value || recorded.contains(&ours),
                "{}: ours {ours}, Windows {recorded:?}",
                p.name
            );
        }
    }
}

fn enumerate_body(optimize: bool) -> String {
    format!(
        "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">{}</n:Enumerate>",
        if optimize {
            "<w:OptimizeEnumeration/><w:MaxElements>2</w:MaxElements>"
        } else {
            ""
        }
    )
}

#[test]
fn win32_process_enumerate_and_pull_have_the_recorded_windows_shape() {
    let f = Fixture::http();
    // EnumerateResponse with items (OptimizeEnumeration), as recorded.
    let windows = recorded("enumerate-wmi-win32_process.response.xml");
    let r = f.post(&soap::request(
        action::ENUMERATE,
        PROCESS,
        &[],
        &enumerate_body(true),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let ours = xml::parse(&r.text(), &Limits::default()).expect("XML");
    // The recording was trimmed upstream (no EndOfSequence): compare the elements it has.
    let ours_shape = shape(&ours);
    for element in shape(&windows) {
        assert!(
            ours_shape.contains(&element),
            "{element:?} missing from {ours_shape:?}"
        );
    }
    assert_items_like(&items(&ours), &items(&windows));
    let context = soap::find_text(&r.text(), "EnumerationContext").expect("a context");

    // The PullResponse that follows, to its EndOfSequence.
    let windows = recorded("pull-wmi-win32_process.response.xml");
    let mut context = context;
    let mut last = None;
    for _ in 0..10_000 {
        let body = format!(
            "<n:Pull xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\">\
             <n:EnumerationContext>{context}</n:EnumerationContext><n:MaxElements>50</n:MaxElements></n:Pull>"
        );
        let r = f.post(&soap::request(action::PULL, PROCESS, &[], &body));
        assert_eq!(r.status, 200, "{}", r.describe());
        let text = r.text();
        let envelope = xml::parse(&text, &Limits::default()).expect("XML");
        if !items(&envelope).is_empty() {
            assert_items_like(&items(&envelope), &items(&windows));
        }
        match soap::find_text(&text, "EnumerationContext") {
            Some(next) if soap::find_element(&text, "EndOfSequence").is_none() => context = next,
            _ => {
                last = Some(envelope);
                break;
            }
        }
    }
    let last = last.expect("the enumeration ends");
    let (ours, recorded) = (shape(&last), shape(&windows));
    assert_eq!(
        ours.iter()
            .filter(|(_, n)| n != "EnumerationContext")
            .collect::<Vec<_>>(),
        recorded
            .iter()
            .filter(|(_, n)| n != "EnumerationContext")
            .collect::<Vec<_>>(),
        "the last PullResponse"
    );
}
