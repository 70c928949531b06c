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

/// One record of the Application log, so that Win32_NTLogEvent has an instance to render.
struct OneRecord;

impl ntlogevent::EventLog for OneRecord {
    fn logs(&self) -> &[&'static str] {
        &["Application"]
    }
    fn records(
        &self,
        query: &ntlogevent::LogQuery,
    ) -> Result<Vec<ntlogevent::LogRecord>, ntlogevent::EventLogError> {
        Ok(query
            .logs
            .iter()
            .filter(|l| *l == "Application")
            .map(|_| ntlogevent::LogRecord {
                logfile: "Application".into(),
                record_number: 1,
                event_identifier: 1000,
                level: 4,
                source_name: "wsmand".into(),
                message: "started".into(),
                time_generated: 0,
                computer_name: "host".into(),
                user: None,
                insertion_strings: Vec::new(),
            })
            .collect())
    }
}

/// The class as the daemon serves it: with the host's service manager (without a reachable
/// systemd its requests fail, which leaves only the declaration to check) and an event log.
fn served(name: &str) -> Box<dyn Class> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let manager = service::ServiceManager::new(runtime.handle().clone(), None);
    CimProvider::new()
        .with_services(manager)
        .with_event_log(std::sync::Arc::new(OneRecord))
        .classes
        .into_iter()
        .find(|c| c.name() == name)
        .unwrap_or_else(|| panic!("{name} not served"))
}

/// The declaration has every property of Windows' definition with its type and no other but
/// `beyond` (each named with its reason where the test is written), and every instance of this
/// host renders exactly those properties (an empty array left out, as Windows leaves it out).
/// `always` says the host has instances of the class wherever the tests run.
fn matches_windows(name: &str, beyond: &[&str], always: bool) {
    let windows = mof(name);
    let class = served(name);
    let declared: BTreeSet<(String, String)> = class
        .declaration()
        .unwrap()
        .properties
        .iter()
        .filter(|(n, _)| !beyond.contains(n))
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(
        declared,
        windows.iter().cloned().collect::<BTreeSet<_>>(),
        "{name}: declaration against Windows' definition"
    );
    for extra in beyond {
        assert!(
            class.properties().contains(extra),
            "{name}.{extra} is listed beyond Windows' definition but not declared"
        );
    }
    let request = wsman_proto::Request::default();
    let ctx = Context::new(&request, "http://127.0.0.1/wsman");
    let instances = match class.instances(&ctx, None) {
        Ok(instances) => instances,
        Err(_) if !always => Vec::new(),
        Err(fault) => panic!("{name}: {fault:?}"),
    };
    assert!(
        !always || !instances.is_empty(),
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
            let value = instance.get(property);
            let empty_array = matches!(value, Some(Value::Array(a)) if a.is_empty());
            let null = matches!(value, Some(Value::Null));
            if kind.ends_with("[]") && (empty_array || null) {
                assert!(
                    !elements.contains(property),
                    "{name}.{property}: a NULL or empty array is left out, as Windows leaves it"
                );
            } else {
                assert!(
                    elements.contains(property),
                    "{name}.{property} not rendered"
                );
            }
        }
        assert_null_arrays_left_out(name, class.as_ref(), &instance);
        for element in &elements {
            assert!(
                windows.iter().any(|(p, _)| p == element) || beyond.contains(&element.as_str()),
                "{name}.{element} is no property of Windows' class"
            );
        }
    }
}

/// Every declared array property of the class, made NULL in `instance`, is absent from the
/// rendered instance and from a property list naming it, where every NULL scalar is
/// `xsi:nil` (Windows' rendering: a NULL array is left out, a NULL scalar is nil).
fn assert_null_arrays_left_out(name: &str, class: &dyn Class, instance: &Instance) {
    let declaration = class.declaration().unwrap();
    let is_array =
        |t: &'static str| matches!(schema::CimType::parse(t), Some(schema::CimType::Array(_)));
    let mut nulled = instance.clone();
    for (property, value) in &mut nulled.properties {
        if declaration
            .properties
            .iter()
            .any(|(p, t)| p.eq_ignore_ascii_case(property) && is_array(t))
        {
            *value = Value::Null;
        }
    }
    let nulled = completed(class, nulled);
    let xml = nulled.to_xml(&nulled.resource_uri());
    let rendered = xml::parse(&xml, &Limits::default()).unwrap();
    let everything: Vec<String> = declaration
        .properties
        .iter()
        .map(|(p, _)| (*p).to_owned())
        .collect();
    let listed = nulled.to_fragment(&everything);
    for (property, type_name) in declaration.properties {
        let elements: Vec<&xml::Element> = rendered
            .elements()
            .filter(|e| e.name.eq_ignore_ascii_case(property))
            .collect();
        if is_array(type_name) {
            assert!(
                elements.is_empty(),
                "{name}.{property}: NULL array rendered: {xml}"
            );
            assert!(
                !listed.contains(&format!("<{property}")),
                "{name}.{property}: NULL array in a property list: {listed}"
            );
        } else if matches!(nulled.get(property), Some(Value::Null)) {
            assert!(
                elements.len() == 1 && xml.contains(&format!("<p:{property} xsi:nil=\"true\"/>")),
                "{name}.{property}: NULL scalar not nil: {xml}"
            );
        }
    }
}

macro_rules! matches_windows {
    ($($test:ident: $class:literal $(beyond $beyond:expr)? $(, $always:ident)?;)*) => {$(
        #[test]
        fn $test() {
            let beyond: &[&str] = matches_windows!(@beyond $($beyond)?);
            matches_windows($class, beyond, matches_windows!(@always $($always)?));
        }
    )*};
    (@beyond $beyond:expr) => { $beyond };
    (@beyond) => { &[] };
    (@always always) => { true };
    (@always) => { false };
}

/// Properties of DMTF's newer CIM schema that the DSP1022/DSP1026/DSP1010 profiles read and
/// that WMI's own CIM 2.x definition of the class lacks (Windows serves none of these classes
/// in root/hardware: its IPMI provider serves sensors, the SEL and the computer system only).
const DMTF_CHASSIS: &[&str] = &[
    "ChassisPackageType",
    "ChassisTypeDescription",
    "ElementName",
    "PackageType",
];
const DMTF_PROCESSOR: &[&str] = &[
    "CPUStatus",
    "ElementName",
    "EnabledState",
    "NumberOfEnabledCores",
];
const DMTF_MEMORY: &[&str] = &[
    "ConfiguredMemoryClockSpeed",
    "DeviceLocator",
    "ElementName",
    "MaxMemorySpeed",
];
/// CIM_RecordLog's LogState and OverwritePolicy (DMTF CIM 2.13 and later, DSP1010) are newer
/// than the CIM 2.9 class Windows' IPMI provider documents.
const DMTF_RECORD_LOG: &[&str] = &["LogState", "OverwritePolicy"];
/// Properties a Windows Win32_Volume instance has (`__PROPERTY_COUNT` 44 on Windows 7 and
/// later) that the published syntax block, written for Windows Server 2003, leaves out.
const VOLUME_SINCE_2008: &[&str] = &["BootVolume", "PageFilePresent", "SystemVolume"];

matches_windows! {
    win32_operating_system_is_windows_class: "Win32_OperatingSystem", always;
    win32_computer_system_is_windows_class: "Win32_ComputerSystem", always;
    win32_processor_is_windows_class: "Win32_Processor", always;
    win32_logical_disk_is_windows_class: "Win32_LogicalDisk", always;
    win32_process_is_windows_class: "Win32_Process", always;
    win32_page_file_usage_is_windows_class: "Win32_PageFileUsage";
    win32_network_adapter_is_windows_class: "Win32_NetworkAdapter", always;
    win32_network_adapter_configuration_is_windows_class: "Win32_NetworkAdapterConfiguration", always;
    win32_service_is_windows_class: "Win32_Service";
    win32_dependent_service_is_windows_class: "Win32_DependentService";
    win32_system_enclosure_is_windows_class: "Win32_SystemEnclosure";
    win32_volume_is_windows_class: "Win32_Volume" beyond VOLUME_SINCE_2008, always;
    win32_ip4_route_table_is_windows_class: "Win32_IP4RouteTable";
    win32_nt_log_event_is_windows_class: "Win32_NTLogEvent", always;
    win32_local_time_is_windows_class: "Win32_LocalTime", always;
    win32_utc_time_is_windows_class: "Win32_UTCTime", always;
    perf_raw_os_processor_is_windows_class: "Win32_PerfRawData_PerfOS_Processor", always;
    perf_raw_os_system_is_windows_class: "Win32_PerfRawData_PerfOS_System", always;
    perf_raw_proc_process_is_windows_class: "Win32_PerfRawData_PerfProc_Process", always;
    perf_raw_tcpip_network_interface_is_windows_class: "Win32_PerfRawData_Tcpip_NetworkInterface", always;
    perf_formatted_os_memory_is_windows_class: "Win32_PerfFormattedData_PerfOS_Memory", always;
    perf_formatted_os_processor_is_windows_class: "Win32_PerfFormattedData_PerfOS_Processor", always;
    perf_formatted_logical_disk_is_windows_class: "Win32_PerfFormattedData_PerfDisk_LogicalDisk", always;
    perf_raw_physical_disk_is_windows_class: "Win32_PerfRawData_PerfDisk_PhysicalDisk", always;
    perf_formatted_physical_disk_is_windows_class: "Win32_PerfFormattedData_PerfDisk_PhysicalDisk", always;
    cim_sensor_is_windows_class: "CIM_Sensor";
    cim_numeric_sensor_is_windows_class: "CIM_NumericSensor";
    cim_record_log_is_windows_class: "CIM_RecordLog" beyond DMTF_RECORD_LOG;
    cim_log_record_is_windows_class: "CIM_LogRecord";
    cim_computer_system_is_windows_class: "CIM_ComputerSystem";
    cim_chassis_is_windows_class: "CIM_Chassis" beyond DMTF_CHASSIS;
    cim_processor_is_windows_class: "CIM_Processor" beyond DMTF_PROCESSOR;
    cim_physical_memory_is_windows_class: "CIM_PhysicalMemory" beyond DMTF_MEMORY;
    cim_system_device_is_windows_class: "CIM_SystemDevice";
    cim_associated_sensor_is_windows_class: "CIM_AssociatedSensor";
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

/// Every class served, every declared array property: an instance with no value for it (so
/// NULL, as completed from the declaration) leaves it out of the XML, of a property list and
/// of a fragment, while each of its NULL scalars is `xsi:nil`. Checked on an instance with
/// nothing set, so that classes without an instance on this host are held to it too.
#[test]
fn every_null_array_of_every_class_is_left_out() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let manager = service::ServiceManager::new(runtime.handle().clone(), None);
    let classes = CimProvider::new()
        .with_services(manager)
        .with_event_log(std::sync::Arc::new(OneRecord))
        .classes;
    let mut arrays = 0;
    for class in &classes {
        let bare = Instance::new(class.name(), class.namespace());
        assert_null_arrays_left_out(class.name(), class.as_ref(), &bare);
        arrays += class
            .declaration()
            .unwrap()
            .properties
            .iter()
            .filter(|(_, t)| t.ends_with("[]"))
            .count();
    }
    // The declarations' own facts, so that the loop cannot pass over nothing.
    assert!(
        classes.len() > 20 && arrays > 30,
        "{} classes, {arrays} arrays",
        classes.len()
    );
}
