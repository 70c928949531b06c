//! The classes served held to Windows' definition of them: the MOF syntax Microsoft publishes
//! for each class (copied with provenance into `tests/fixtures/windows-mof/`) and, for
//! Win32_Process, a recorded Windows answer. Per class: the declaration has every property of
//! the MOF with its type, and an instance of this host renders exactly those properties (an
//! empty array left out, as Windows leaves it out).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use wsman_proto::xml::{self, Limits};

use super::*;

/// `(name, type)` of each property of a published MOF class syntax block, types as the
/// declarations write them (`uint16[]`, `ref:Class`).
fn mof(class: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/windows-mof")
        .join(format!("{class}.mof"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| l.ends_with(';') && !l.starts_with('}'))
        .map(|line| {
            let declaration = line.split('=').next().unwrap().trim_end_matches(';').trim();
            let words: Vec<&str> = declaration.split_whitespace().collect();
            match words.as_slice() {
                [class, "REF", name] => ((*name).to_owned(), format!("ref:{class}")),
                [kind, name] => match name.strip_suffix("[]") {
                    Some(name) => (name.to_owned(), format!("{}[]", kind.to_ascii_lowercase())),
                    None => ((*name).to_owned(), kind.to_ascii_lowercase()),
                },
                _ => panic!("{class}: {line}"),
            }
        })
        .collect()
}

fn served(name: &str) -> Box<dyn Class> {
    CimProvider::new()
        .classes
        .into_iter()
        .find(|c| c.name() == name)
        .unwrap()
}

/// The declaration equals the MOF, and every instance of this host renders the MOF's
/// properties, no more, no fewer but empty arrays.
fn matches_windows(name: &str) {
    let windows = mof(name);
    let class = served(name);
    let declared: BTreeSet<(String, String)> = class
        .declaration()
        .unwrap()
        .properties
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(
        declared,
        windows.iter().cloned().collect::<BTreeSet<_>>(),
        "{name}: declaration against Windows' MOF"
    );
    let request = wsman_proto::Request::default();
    let ctx = Context::new(&request, "http://127.0.0.1/wsman");
    let instances = class.instances(&ctx, None).unwrap();
    // A host without swap has no page file (its instances are checked where there is one).
    assert!(
        !instances.is_empty() || name == "Win32_PageFileUsage",
        "{name}: no instance on this host"
    );
    for instance in instances.into_iter().take(20) {
        let instance = completed(class.as_ref(), instance);
        let rendered = xml::parse(
            &instance.to_xml(&instance.resource_uri()),
            &Limits::default(),
        )
        .unwrap();
        let elements: BTreeSet<String> = rendered.elements().map(|e| e.name.clone()).collect();
        for (property, kind) in &windows {
            let empty_array =
                matches!(instance.get(property), Some(Value::Array(a)) if a.is_empty());
            assert!(
                elements.contains(property) || (kind.ends_with("[]") && empty_array),
                "{name}.{property} not rendered"
            );
        }
        for element in &elements {
            assert!(
                windows.iter().any(|(p, _)| p == element),
                "{name}.{element} is no property of Windows' class"
            );
        }
    }
}

macro_rules! matches_windows {
    ($($test:ident: $class:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            matches_windows($class);
        }
    )*};
}

matches_windows! {
    win32_operating_system_is_windows_class: "Win32_OperatingSystem",
    win32_computer_system_is_windows_class: "Win32_ComputerSystem",
    win32_processor_is_windows_class: "Win32_Processor",
    win32_logical_disk_is_windows_class: "Win32_LogicalDisk",
    win32_process_is_windows_class: "Win32_Process",
    win32_page_file_usage_is_windows_class: "Win32_PageFileUsage",
    win32_network_adapter_is_windows_class: "Win32_NetworkAdapter",
    win32_network_adapter_configuration_is_windows_class: "Win32_NetworkAdapterConfiguration",
}

/// Win32_Process has the properties, in the order, of a recorded Windows Server 2008 R2
/// EnumerateResponse (the MOF's set; WMI's order, without case).
#[test]
fn win32_process_renders_as_the_recorded_windows_answer() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../wsman-proto/tests/fixtures/windows/enumerate/enumerate-wmi-win32_process.response.xml",
    );
    let recorded = xml::parse(&std::fs::read_to_string(path).unwrap(), &Limits::default()).unwrap();
    fn first<'a>(e: &'a xml::Element, name: &str) -> Option<&'a xml::Element> {
        e.elements()
            .find(|c| c.name == name)
            .or_else(|| e.elements().find_map(|c| first(c, name)))
    }
    let windows: Vec<String> = first(&recorded, "Win32_Process")
        .unwrap()
        .elements()
        .map(|e| e.name.clone())
        .collect();
    let class = served("Win32_Process");
    let request = wsman_proto::Request::default();
    let ctx = Context::new(&request, "http://127.0.0.1/wsman");
    let me = std::process::id().to_string();
    let instance = completed(class.as_ref(), class.get(&ctx, &[("Handle", &me)]).unwrap());
    let ours: Vec<&str> = instance
        .properties
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(ours, windows);
}

/// The classes not yet completed declare only properties Windows' class has, with its types.
#[test]
fn other_classes_declare_only_windows_properties() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let manager = service::ServiceManager::new(runtime.handle().clone(), None);
    for name in [
        "Win32_Service",
        "Win32_DependentService",
        "Win32_SystemEnclosure",
    ] {
        let windows = mof(name);
        let Some(class) = CimProvider::new()
            .with_services(manager.clone())
            .classes
            .into_iter()
            .find(|c| c.name() == name)
        else {
            panic!("{name} not served");
        };
        for (property, kind) in class.declaration().unwrap().properties {
            assert!(
                windows.iter().any(|(p, k)| p == property && k == kind),
                "{name}.{property} ({kind}) is not in Windows' MOF"
            );
        }
    }
}
