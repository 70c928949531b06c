//! Class metadata (Get-CimClass): Get of `.../cim-xml/2/cim-schema/2/<Class>` or of `*` with a
//! `ClassName` selector answers the CIM-XML `CLASS` declaration. Win32_Process's is compared
//! with a declaration written by hand from Microsoft's documentation; for each family of
//! classes, every property of every instance the daemon serves here is declared, with a type
//! its value fits, and every declared property is present (an array without a value aside:
//! Windows leaves a NULL array out).

use std::collections::BTreeMap;

use wsman_proto::ns::action;
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::{soap, Fixture};

use super::expect_fault;

const METADATA: &str = "http://schemas.dmtf.org/wbem/cim-xml/2/cim-schema/2/";
const WMI: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/";

fn parse(text: &str) -> Element {
    xml::parse(text, &Limits::default()).expect("response is XML")
}

fn find<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.elements().find_map(|c| {
        if c.name == name {
            Some(c)
        } else {
            find(c, name)
        }
    })
}

fn attribute<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    e.attributes
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.value.as_str())
}

/// The text of the `CLASS` element of a Get response.
fn class_text(response: &str) -> String {
    let start = response.find("<CLASS ").expect("a CLASS element");
    let end = response.find("</CLASS>").expect("the end of CLASS") + "</CLASS>".len();
    response[start..end].to_owned()
}

fn get_class(f: &Fixture, uri: &str, selectors: &[(&str, &str)]) -> wsman_test::http::Response {
    f.post(&soap::request(action::GET, uri, selectors, ""))
}

#[test]
fn win32_process_declaration_matches_the_documented_class() {
    let f = Fixture::http();
    let golden = include_str!("../fixtures/Win32_Process.class.xml");
    let golden = &golden[golden.find("<CLASS").expect("CLASS in the fixture")..];
    // The URI naming the class, as Get-CimClass sends it, and `*` with ClassName.
    for (uri, selectors) in [
        (
            format!("{METADATA}Win32_Process"),
            vec![("__cimnamespace", "root/cimv2")],
        ),
        (
            format!("{METADATA}*"),
            vec![
                ("__cimnamespace", "root/cimv2"),
                ("ClassName", "win32_process"),
            ],
        ),
    ] {
        let r = get_class(&f, &uri, &selectors);
        assert_eq!(r.status, 200, "{}", r.describe());
        wsman_test::xmlnorm::assert_same_xml(&class_text(&r.text()), golden);
    }
    // A class that does not exist, a missing ClassName, a selector of neither kind.
    let r = get_class(&f, &format!("{METADATA}Win32_NoSuchClass"), &[]);
    expect_fault(&r, "DestinationUnreachable");
    let r = get_class(
        &f,
        &format!("{METADATA}*"),
        &[("ClassName", "Win32_NoSuchClass")],
    );
    expect_fault(&r, "InvalidSelectors");
    let r = get_class(&f, &format!("{METADATA}*"), &[]);
    expect_fault(&r, "InvalidSelectors");
    let r = get_class(&f, &format!("{METADATA}Win32_Process"), &[("Handle", "1")]);
    expect_fault(&r, "InvalidSelectors");
}

/// Whether the rendered text of one property element fits the declared CIM-XML type.
fn fits(element: &Element, cim_type: &str) -> bool {
    if attribute(element, "nil") == Some("true") {
        return true;
    }
    let text = element.trimmed_text();
    let bits = |t: &str| t[4..].parse::<u32>().ok();
    match cim_type {
        "string" | "char16" => true,
        "boolean" => text == "true" || text == "false",
        "datetime" => find(element, "Datetime").is_some() || find(element, "Interval").is_some(),
        "real32" | "real64" => text.parse::<f64>().is_ok(),
        t if t.starts_with("uint") => text
            .parse::<u64>()
            .is_ok_and(|v| bits(t).is_some_and(|b| b == 64 || v < 1u64 << b)),
        t if t.starts_with("sint") => text.parse::<i64>().is_ok_and(|v| {
            bits(t).is_some_and(|b| b == 64 || (v >= -(1i64 << (b - 1)) && v < 1i64 << (b - 1)))
        }),
        _ => false,
    }
}

/// The declared properties of `class`: name -> (type, is array, is reference).
fn declared(f: &Fixture, class: &str) -> BTreeMap<String, (String, bool, bool)> {
    let r = get_class(f, &format!("{METADATA}{class}"), &[]);
    assert_eq!(r.status, 200, "{class}: {}", r.describe());
    let body = parse(&class_text(&r.text()));
    assert_eq!(attribute(&body, "NAME"), Some(class));
    body.elements()
        .filter(|e| e.name.starts_with("PROPERTY"))
        .map(|e| {
            let name = attribute(e, "NAME").expect("NAME").to_owned();
            let cim_type = attribute(e, "TYPE").unwrap_or("").to_owned();
            (
                name,
                (
                    cim_type,
                    e.name == "PROPERTY.ARRAY",
                    e.name == "PROPERTY.REFERENCE",
                ),
            )
        })
        .collect()
}

/// Every instance of `class` (Enumerate with OptimizeEnumeration, one page) against its
/// declaration; answers how many instances were checked.
fn check_family(f: &Fixture, class: &str) -> usize {
    let declared = declared(f, class);
    let body = "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
         <w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate>";
    let r = f.post(&soap::enumerate(&format!("{WMI}{class}"), body));
    assert_eq!(r.status, 200, "{class}: {}", r.describe());
    let response = parse(&r.text());
    // A class without instances here (no swap: Win32_PageFileUsage) answers no Items.
    let Some(items) = find(&response, "Items") else {
        return 0;
    };
    let mut count = 0;
    for instance in items.elements().filter(|e| e.name == class) {
        count += 1;
        let mut seen = Vec::new();
        for property in instance.elements() {
            let name = property.name.as_str();
            let Some((cim_type, array, reference)) = declared.get(name) else {
                panic!("{class}.{name} is not declared");
            };
            if *reference {
                assert!(
                    find(property, "ReferenceParameters").is_some()
                        || attribute(property, "nil") == Some("true"),
                    "{class}.{name} is no reference"
                );
            } else {
                assert!(
                    fits(property, cim_type),
                    "{class}.{name} = {:?} is no {cim_type}",
                    property.trimmed_text()
                );
            }
            if !seen.contains(&name) {
                seen.push(name);
            } else {
                assert!(*array, "{class}.{name} repeated but not an array");
            }
        }
        // Every declared property is there, but an array without a value: Windows leaves a
        // NULL array out.
        for (name, (_, array, _)) in &declared {
            assert!(
                seen.contains(&name.as_str()) || *array,
                "{class}.{name} is declared but not in the instance"
            );
        }
    }
    count
}

#[test]
fn every_property_of_every_instance_is_declared_per_class_family() {
    let f = Fixture::http();
    let families: &[(&str, &[&str])] = &[
        (
            "processes",
            &["Win32_Process", "Win32_PerfRawData_PerfProc_Process"],
        ),
        (
            "the system",
            &[
                "Win32_OperatingSystem",
                "Win32_ComputerSystem",
                "Win32_Processor",
                "Win32_PageFileUsage",
                "Win32_UTCTime",
                "Win32_LocalTime",
            ],
        ),
        (
            "performance counters",
            &[
                "Win32_PerfRawData_PerfOS_Processor",
                "Win32_PerfRawData_PerfOS_System",
                "Win32_PerfRawData_Tcpip_NetworkInterface",
                "Win32_PerfFormattedData_PerfOS_Memory",
                "Win32_PerfFormattedData_PerfOS_Processor",
                "Win32_PerfFormattedData_PerfDisk_LogicalDisk",
            ],
        ),
        ("disks", &["Win32_LogicalDisk", "Win32_Volume"]),
        (
            "the network",
            &[
                "Win32_NetworkAdapter",
                "Win32_NetworkAdapterConfiguration",
                "Win32_IP4RouteTable",
            ],
        ),
    ];
    for (family, classes) in families {
        let checked: usize = classes.iter().map(|c| check_family(&f, c)).sum();
        // Every family has instances on any Linux host (a process, the clock, a mount, lo).
        assert!(checked > 0, "no instance of {family} was checked");
    }
}

#[test]
fn enumerating_the_metadata_lists_each_class_of_the_namespace() {
    let f = Fixture::http();
    let body = "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
         <w:OptimizeEnumeration/><w:MaxElements>1000</w:MaxElements></n:Enumerate>";
    let r = f.post(&soap::request(
        action::ENUMERATE,
        &format!("{METADATA}*"),
        &[("__cimnamespace", "root/cimv2")],
        body,
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let response = parse(&r.text());
    let items = find(&response, "Items").expect("Items");
    let names: Vec<&str> = items
        .elements()
        .filter(|e| e.name == "CLASS")
        .filter_map(|e| attribute(e, "NAME"))
        .collect();
    // Each class served in root/cimv2 that a Get of its instances answers.
    for class in [
        "Win32_Process",
        "Win32_OperatingSystem",
        "Win32_LogicalDisk",
    ] {
        assert!(names.contains(&class), "{class} not in {names:?}");
        let r = f.post(&soap::enumerate(&format!("{WMI}{class}"), body));
        assert_eq!(r.status, 200, "{}", r.describe());
    }
    assert!(!names.iter().any(|n| n.starts_with("CIM_")), "{names:?}");
}
