//! Windows Server 2012's recorded answers to the WQL Enumerates a monitoring tool sends
//! (zenoss/txwinrm's recordings, `health/server_2012/` of the Windows fixtures): `select * from
//! CLASS` (the `_star_` files) and the same query naming the properties (`_all_`, the list
//! txwinrm sent is its `.properties` file beside them), held against the daemon's answers to
//! the same queries by structure ([`wsman_test::shape`]): element, `xsi:type`, namespaces, the
//! properties in order and the kind of each value; for a property list, the fragments'
//! properties in order. A NULL array is left out as Windows leaves it out, a NULL scalar is
//! nil in both: each class's arrays are those of Windows' own definition of it (the published
//! MOF in `wsman-providers/tests/fixtures/windows-mof/`), not of ours.
//!
//! Every class recorded that wsmand serves is here; Win32_Service's recordings are held
//! against a booted systemd in `service.rs`, Win32_SystemEnclosure against the recorded sysfs
//! tree. Win32_Product (installed MSI packages) is not served.

use std::collections::BTreeSet;

use wsman_proto::ns::action;
use wsman_test::http::Response;
use wsman_test::shape::{self, InstanceShape, Kind};
use wsman_test::soap;
use wsman_test::Fixture;

use super::cim_corpus::recorded;
use super::hardware::fixture_with_recorded_sysfs;

const WMI: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/";

/// Properties of Windows' class today (its published MOF, which the declarations follow) that
/// Windows Server 2012 did not have yet: wsmand sends them, the recording has none of them
/// (`docs/windows-quirks.md`, "Properties newer than a recording").
const NEWER_THAN_2012: &[(&str, &[&str])] = &[
    (
        "Win32_ComputerSystem",
        &[
            "ChassisSKUNumber",
            "PCSystemTypeEx",
            "SystemFamily",
            "SystemSKUNumber",
        ],
    ),
    ("Win32_OperatingSystem", &["QuantumLength", "QuantumType"]),
    ("Win32_Service", &["DelayedAutoStart"]),
    (
        "Win32_Processor",
        &[
            "AssetTag",
            "Characteristics",
            "NumberOfEnabledCore",
            "PartNumber",
            "SerialNumber",
            "ThreadCount",
        ],
    ),
];

/// Properties whose value is of another kind than Windows' (`docs/windows-quirks.md`):
/// BuildNumber is Linux's kernel release, Windows' a build number of digits.
const KIND_DIFFERS: &[(&str, &str)] = &[("Win32_OperatingSystem", "BuildNumber")];
const ENUMERATION: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";

/// The recordings of `class` in `mode` (`star` or `all`): the EnumerateResponse, then each
/// PullResponse.
fn recordings(class: &str, mode: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wsman-proto/tests/fixtures/windows/health/server_2012");
    let found: Vec<String> = (0..)
        .map(|n| format!("{class}_{mode}_{n:03}.xml"))
        .take_while(|name| dir.join(name).exists())
        .map(|name| recorded(&format!("health/server_2012/{name}")))
        .collect();
    assert!(!found.is_empty(), "no recording of {class} ({mode})");
    found
}

/// The array properties of Windows' definition of `class` (its published MOF syntax block).
fn windows_arrays(class: &str) -> BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wsman-providers/tests/fixtures/windows-mof")
        .join(format!("{class}.mof"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{class}: {e}"));
    text.lines()
        .filter_map(|line| {
            let declaration = line.trim().strip_suffix(';')?.split('=').next()?.trim();
            let name = declaration.split_whitespace().last()?;
            name.strip_suffix("[]").map(str::to_owned)
        })
        .collect()
}

/// Every answer of a WQL enumeration of `query` as txwinrm sends it (`root/cimv2/*`,
/// OptimizeEnumeration, MaxElements 32000), Pulls to its EndOfSequence.
fn enumerate(post: &dyn Fn(&str) -> Response, query: &str) -> Vec<String> {
    let body = format!(
        "<n:Enumerate xmlns:n=\"{ENUMERATION}\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><w:OptimizeEnumeration/>\
         <w:MaxElements>32000</w:MaxElements><w:Filter \
         Dialect=\"http://schemas.microsoft.com/wbem/wsman/1/WQL\">{query}</w:Filter>\
         </n:Enumerate>"
    );
    let uri = format!("{WMI}*");
    let r = post(&soap::enumerate(&uri, &body));
    assert_eq!(r.status, 200, "{query}: {}", r.describe());
    let mut answers = vec![r.text()];
    for _ in 0..10_000 {
        let last = answers.last().expect("an answer");
        if soap::find_element(last, "EndOfSequence").is_some() {
            return answers;
        }
        let context = soap::find_text(last, "EnumerationContext").expect("a context");
        let body = format!(
            "<n:Pull xmlns:n=\"{ENUMERATION}\"><n:EnumerationContext>{context}\
             </n:EnumerationContext><n:MaxElements>50</n:MaxElements></n:Pull>"
        );
        let r = post(&soap::request(action::PULL, &uri, &[], &body));
        assert_eq!(r.status, 200, "{query}: {}", r.describe());
        answers.push(r.text());
    }
    panic!("{query}: the enumeration does not end");
}

/// The instances of `class` itself in `answers` (Windows enumerates subclasses' too).
fn instances_of(answers: &[String], class: &str) -> Vec<InstanceShape> {
    answers
        .iter()
        .flat_map(|text| {
            shape::answer(text)
                .unwrap_or_else(|e| panic!("{e}:\n{text}"))
                .instances
        })
        .filter(|i| i.element.1 == class)
        .collect()
}

/// The `w:XmlFragment` items of `answers`, without the namespaces each declares (Windows
/// declares `xsi` and `w` on each, wsmand those its properties use: either is read alike, and
/// the fragments' well-formedness is the model's property test).
fn fragments_of(answers: &[String]) -> Vec<InstanceShape> {
    answers
        .iter()
        .flat_map(|text| shape::fragments(text).unwrap_or_else(|e| panic!("{e}:\n{text}")))
        .map(|mut f| {
            f.namespaces.clear();
            f
        })
        .collect()
}

/// What `class`'s answers may knowingly hold beyond the recording: the properties Windows has
/// added since 2012 (each in Windows' definition today and in no recorded instance), and those
/// whose kind of value differs.
struct Documented {
    newer: &'static [&'static str],
    kind_differs: Vec<&'static str>,
}

impl Documented {
    fn of(class: &str, windows: &[InstanceShape]) -> Self {
        let newer = NEWER_THAN_2012
            .iter()
            .find(|(c, _)| *c == class)
            .map_or(&[][..], |(_, n)| *n);
        let mof = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../wsman-providers/tests/fixtures/windows-mof")
                .join(format!("{class}.mof")),
        )
        .expect("the class's MOF");
        for name in newer {
            assert!(
                mof.contains(&format!(" {name};")) || mof.contains(&format!(" {name} ")),
                "{class}.{name} is not in Windows' definition"
            );
            assert!(
                windows
                    .iter()
                    .all(|i| i.properties.iter().all(|p| p.name != *name)),
                "{class}.{name} is in the recording"
            );
        }
        let kind_differs = KIND_DIFFERS
            .iter()
            .filter(|(c, _)| *c == class)
            .map(|(_, p)| *p)
            .collect();
        Self {
            newer,
            kind_differs,
        }
    }

    /// `instance` without the properties newer than the recording.
    fn without_newer(&self, mut instance: InstanceShape) -> InstanceShape {
        instance
            .properties
            .retain(|p| !self.newer.contains(&p.name.as_str()));
        instance
    }

    /// Whether a difference `differences` reports is one this names.
    fn explains(&self, difference: &str) -> bool {
        self.kind_differs
            .iter()
            .any(|p| difference.starts_with(&format!("{p}: ")))
    }
}

/// Each of `ours` has the structure of Windows' `recorded` instances, arrays held as Windows
/// writes them, but for what `documented` names.
fn assert_like(
    what: &str,
    ours: Vec<InstanceShape>,
    windows: &[InstanceShape],
    arrays: &BTreeSet<String>,
    documented: &Documented,
) {
    assert!(!windows.is_empty(), "{what}: the recording has instances");
    assert!(!ours.is_empty(), "{what}: no instance on this host");
    // The recording's own facts: Windows never writes an array nil.
    for instance in windows {
        for p in &instance.properties {
            assert!(
                !(p.kind == Kind::Nil && arrays.contains(&p.name)),
                "{what}: Windows wrote the array {} nil",
                p.name
            );
        }
    }
    for instance in ours {
        let found = documented
            .without_newer(instance)
            .differences_with_arrays(windows, arrays);
        let unexplained: Vec<&String> = found
            .structure
            .iter()
            .filter(|d| !documented.explains(d))
            .collect();
        assert!(unexplained.is_empty(), "{what}: {unexplained:#?}");
    }
}

/// The daemon's answers to txwinrm's two queries of `class` against Windows Server 2012's.
pub(crate) fn assert_answers_like_server_2012(post: &dyn Fn(&str) -> Response, class: &str) {
    let arrays = windows_arrays(class);
    let windows = instances_of(&recordings(class, "star"), class);
    let documented = Documented::of(class, &windows);
    let ours = instances_of(&enumerate(post, &format!("select * from {class}")), class);
    let what = format!("select * from {class}");
    assert_like(&what, ours, &windows, &arrays, &documented);

    let listed = recorded(&format!("health/server_2012/{class}.properties"));
    let properties: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let query = format!("select {} from {class}", properties.join(","));
    let windows = fragments_of(&recordings(class, "all"));
    let ours = fragments_of(&enumerate(post, &query));
    let what = format!("{class}'s property list");
    assert_like(&what, ours, &windows, &arrays, &documented);
}

fn assert_like_server_2012(class: &str) {
    let f = Fixture::http();
    assert_answers_like_server_2012(&|body| f.post(body), class);
}

#[test]
fn win32_operating_system_as_server_2012() {
    assert_like_server_2012("Win32_OperatingSystem");
}

#[test]
fn win32_computer_system_as_server_2012() {
    assert_like_server_2012("Win32_ComputerSystem");
}

#[test]
fn win32_processor_as_server_2012() {
    assert_like_server_2012("Win32_Processor");
}

#[test]
fn win32_logical_disk_as_server_2012() {
    assert_like_server_2012("Win32_LogicalDisk");
}

#[test]
fn win32_volume_as_server_2012() {
    assert_like_server_2012("Win32_Volume");
}

#[test]
fn win32_network_adapter_configuration_as_server_2012() {
    assert_like_server_2012("Win32_NetworkAdapterConfiguration");
}

#[test]
fn win32_ip4_route_table_as_server_2012() {
    assert_like_server_2012("Win32_IP4RouteTable");
}

#[test]
fn win32_process_as_server_2012() {
    assert_like_server_2012("Win32_Process");
}

#[test]
fn perf_raw_tcpip_network_interface_as_server_2012() {
    assert_like_server_2012("Win32_PerfRawData_Tcpip_NetworkInterface");
}

#[test]
fn perf_raw_physical_disk_as_server_2012() {
    assert_like_server_2012("Win32_PerfRawData_PerfDisk_PhysicalDisk");
}

#[test]
fn perf_raw_proc_process_as_server_2012() {
    assert_like_server_2012("Win32_PerfRawData_PerfProc_Process");
}

/// Win32_SystemEnclosure from the recorded sysfs tree (a host's DMI tables), so that it has an
/// instance wherever the test runs.
#[test]
fn win32_system_enclosure_as_server_2012() {
    let f = fixture_with_recorded_sysfs();
    assert_answers_like_server_2012(&|body| f.post(body), "Win32_SystemEnclosure");
}
