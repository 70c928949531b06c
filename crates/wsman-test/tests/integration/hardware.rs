//! root/hardware against a real BMC: OpenIPMI's `ipmi_sim` on loopback (see
//! `wsman_test::ipmi`), read by wsmand over RMCP+ and by `ipmitool` over the same protocol.
//! Every value is checked against what ipmitool says about the same simulator, and ClearLog's
//! effect (or its absence) is seen by ipmitool too.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wsman_proto::ns::action;
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::http::{self, Response};
use wsman_test::ipmi::{IpmiSim, SEL_EVENTS};
use wsman_test::{
    binaries, free_port, process, soap, ConfigDir, Daemon, ListenerSpec, SERVICE_ACCOUNT,
    SERVICE_PASSWORD,
};

use super::expect_fault;

const DMTF: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
const WMI_HARDWARE: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/hardware/";
const ASSOCIATION_FILTER: &str =
    "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter";
/// A service account that is not an administrator (its shells run as nobody).
const PLAIN: &str = "plainbmc";
const PLAIN_PASSWORD: &str = "Plain-Bmc-Pass1";

struct Host {
    daemon: Daemon,
    config: ConfigDir,
    port: u16,
}

impl Host {
    /// wsmand with `bmc.toml` (mode 0600 unless `mode` says otherwise) when given.
    fn start(bmc_toml: Option<&str>, mode: u32) -> Host {
        Host::start_with(bmc_toml, mode, None)
    }

    /// wsmand reading hwmon, thermal zones and DMI from the recorded sysfs tree.
    fn with_recorded_sysfs() -> Host {
        let root = sysfs_fixture();
        Host::start_with(None, 0o600, Some(&root))
    }

    fn start_with(bmc_toml: Option<&str>, mode: u32, sysfs: Option<&Path>) -> Host {
        let port = free_port();
        let mut config = ConfigDir::new();
        config.listener(ListenerSpec::http(port));
        // Every user passes RootSDDL, so the refusal seen is the method's own.
        config.set(
            "Config.Service",
            "RootSDDL",
            "\"O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;BU)\"",
        );
        config.write();
        config.add_service_account();
        config.add_account(PLAIN, PLAIN_PASSWORD, Some("nobody"));
        if let Some(text) = bmc_toml {
            let path = config.write_raw("bmc.toml", text);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .expect("chmod bmc.toml");
        }
        if let Some(root) = sysfs {
            config.write_raw(
                "hardware.toml",
                &format!("sysfs_root = \"{}\"\n", root.display()),
            );
        }
        let daemon = Daemon::start(&config, &[port]);
        Host {
            daemon,
            config,
            port,
        }
    }

    fn post_as(&self, user: &str, password: &str, body: &str) -> Response {
        http::post(
            self.port,
            Some(&http::basic_auth(user, password)),
            body.as_bytes(),
        )
    }

    fn post(&self, body: &str) -> Response {
        self.post_as(SERVICE_ACCOUNT, SERVICE_PASSWORD, body)
    }

    /// Every item of an Enumerate of `uri` (one optimized response), as elements.
    fn enumerate(&self, uri: &str, selectors: &[(&str, &str)], filter: &str) -> Vec<Element> {
        let body = format!(
            "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
             xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
             xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
             xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\">\
             <w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>{filter}</n:Enumerate>"
        );
        let r = self.post(&soap::request(action::ENUMERATE, uri, selectors, &body));
        assert_eq!(r.status, 200, "{uri}\n{}", r.describe());
        let text = r.text();
        assert!(text.contains("EndOfSequence"), "{text}");
        let envelope = xml::parse(&text, &Limits::default()).expect("XML");
        let mut items = Vec::new();
        find_all(&envelope, "Items", &mut items);
        items
            .first()
            .map(|items| items.elements().cloned().collect())
            .unwrap_or_default()
    }

    fn clear_log_as(&self, user: (&str, &str)) -> String {
        let uri = format!("{DMTF}CIM_RecordLog");
        let body = format!("<p:ClearLog_INPUT xmlns:p=\"{uri}\"/>");
        let request = soap::request(
            &format!("{uri}/ClearLog"),
            &uri,
            &[("InstanceID", "IPMI:SEL")],
            &body,
        );
        let r = self.post_as(user.0, user.1, &request);
        assert_eq!(r.status, 200, "{}", r.describe());
        soap::find_text(&r.text(), "ReturnValue").unwrap_or_else(|| panic!("{}", r.describe()))
    }
}

fn find_all<'a>(e: &'a Element, name: &str, out: &mut Vec<&'a Element>) {
    for c in e.elements() {
        if c.name == name {
            out.push(c);
        }
        find_all(c, name, out);
    }
}

/// A property of an instance element (`None`: absent or nil).
fn prop(item: &Element, name: &str) -> Option<String> {
    let e = item.elements().find(|c| c.name == name)?;
    let nil = e
        .attr_ns("http://www.w3.org/2001/XMLSchema-instance", "nil")
        .is_some_and(|v| v == "true");
    (!nil).then(|| e.trimmed_text())
}

fn by_name<'a>(items: &'a [Element], name: &str) -> &'a Element {
    items
        .iter()
        .find(|i| prop(i, "ElementName").as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no sensor {name:?} among {} items", items.len()))
}

/// `CurrentReading * 10^UnitModifier`-style value of an integer property.
fn scaled(item: &Element, name: &str) -> Option<f64> {
    let mantissa: f64 = prop(item, name)?.parse().expect("a number");
    let modifier: i32 = prop(item, "UnitModifier")
        .expect("UnitModifier")
        .parse()
        .expect("a number");
    Some(mantissa * 10f64.powi(modifier))
}

fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        _ => false,
    }
}

/// ipmitool's number column (`na`: none).
fn column(value: &str) -> Option<f64> {
    let v = value.trim();
    (v != "na").then(|| v.parse().unwrap_or_else(|_| panic!("not a number: {v:?}")))
}

/// One line of `ipmitool sensor list`, split on `|`.
fn sensor_lines(sim: &IpmiSim) -> Vec<Vec<String>> {
    sim.ipmitool(&["sensor", "list"])
        .lines()
        .filter(|l| l.contains('|'))
        .map(|l| l.split('|').map(|f| f.trim().to_owned()).collect())
        .collect()
}

/// The SEL's record ids as `ipmitool sel list` prints them (hexadecimal).
fn sel_ids(sim: &IpmiSim) -> Vec<u16> {
    sim.ipmitool(&["sel", "list"])
        .lines()
        .filter_map(|l| l.split('|').next())
        .filter_map(|id| u16::from_str_radix(id.trim(), 16).ok())
        .collect()
}

fn sel_entries(sim: &IpmiSim) -> u64 {
    sim.ipmitool(&["sel", "info"])
        .lines()
        .find_map(|l| l.strip_prefix("Entries"))
        .and_then(|l| l.trim_start_matches([' ', ':']).trim().parse().ok())
        .expect("sel info gives Entries")
}

#[test]
fn ipmi_sensors_match_ipmitool() {
    let Some(sim) = IpmiSim::start() else {
        return;
    };
    let host = Host::start(Some(&sim.bmc_toml()), 0o600);
    let lines = sensor_lines(&sim);
    let threshold: Vec<&Vec<String>> = lines
        .iter()
        .filter(|f| f.len() >= 10 && f[2] != "discrete")
        .collect();
    assert!(threshold.len() >= 3, "{lines:?}");

    // The DMTF URI without __cimnamespace is root/hardware, as on Windows; the WMI URI and
    // the DMTF URI with the selector name the same class.
    let numeric = host.enumerate(&format!("{DMTF}CIM_NumericSensor"), &[], "");
    let via_wmi = host.enumerate(&format!("{WMI_HARDWARE}CIM_NumericSensor"), &[], "");
    let via_selector = host.enumerate(
        &format!("{DMTF}CIM_NumericSensor"),
        &[("__cimnamespace", "root/hardware")],
        "",
    );
    assert_eq!(numeric.len(), threshold.len());
    assert_eq!(via_wmi.len(), numeric.len());
    assert_eq!(via_selector.len(), numeric.len());

    let mut compared = Vec::new();
    for f in &threshold {
        let item = by_name(&numeric, &f[0]);
        assert!(
            same(scaled(item, "CurrentReading"), column(&f[1])),
            "{} reading: {item:?} vs {f:?}",
            f[0]
        );
        // ipmitool's columns: lnr, lcr, lnc, unc, ucr, unr.
        for (property, index) in [
            ("LowerThresholdFatal", 4),
            ("LowerThresholdCritical", 5),
            ("LowerThresholdNonCritical", 6),
            ("UpperThresholdNonCritical", 7),
            ("UpperThresholdCritical", 8),
            ("UpperThresholdFatal", 9),
        ] {
            assert!(
                same(scaled(item, property), column(&f[index])),
                "{} {property}: {:?} vs {}",
                f[0],
                prop(item, property),
                f[index]
            );
        }
        // The SDR's fixed values to ipmitool's three decimals (Vcore's 5 mV steps need all
        // three: its minimum is 0.175 V).
        let detail = sim.ipmitool(&["sdr", "get", &f[0]]);
        let field = |label: &str| {
            detail
                .lines()
                .find_map(|l| l.trim().strip_prefix(label))
                .and_then(|rest| rest.trim_start().strip_prefix(':'))
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        for (property, label) in [
            ("NominalReading", "Nominal Reading"),
            ("MinReadable", "Minimum sensor range"),
            ("MaxReadable", "Maximum sensor range"),
        ] {
            // ipmitool prints "Unspecified" where it takes the SDR's byte for unset.
            let Some(expected) = field(label) else {
                continue;
            };
            assert!(
                same(scaled(item, property), Some(expected)),
                "{} {property}: {:?} vs ipmitool's\n{detail}",
                f[0],
                prop(item, property),
            );
            compared.push(format!("{} {property} {expected}", f[0]));
        }
        // The unit as DMTF's BaseUnits codes it.
        let units = match f[2].as_str() {
            "degrees C" => "2",
            "Volts" => "5",
            "RPM" => "19",
            other => panic!("unit {other} not in this test's SDRs"),
        };
        assert_eq!(prop(item, "BaseUnits").as_deref(), Some(units), "{}", f[0]);
        // ipmitool's status: ok, nc (non-critical), cr (critical), nr (non-recoverable).
        let (state, health) = match f[3].as_str() {
            "ok" => ("Normal", "5"),
            "nc" => ("Upper Non-Critical", "10"),
            other => panic!("status {other} not in this test's values"),
        };
        assert_eq!(
            prop(item, "CurrentState").as_deref(),
            Some(state),
            "{}",
            f[0]
        );
        assert_eq!(
            prop(item, "HealthState").as_deref(),
            Some(health),
            "{}",
            f[0]
        );
        assert_eq!(
            prop(item, "SystemCreationClassName").as_deref(),
            Some("CIM_ComputerSystem")
        );
    }

    // Vcore's three fixed values were compared, the minimum needing its third decimal.
    assert!(
        compared.iter().any(|c| c == "Vcore MinReadable 0.175")
            && compared.iter().filter(|c| c.starts_with("Vcore ")).count() == 3,
        "{compared:?}"
    );

    // CIM_Sensor is the base class: every sensor of the SDR repository (ipmitool's sdr
    // list), the numeric ones as CIM_NumericSensor.
    let sdr_names: Vec<String> = sim
        .ipmitool(&["sdr", "elist", "all"])
        .lines()
        .filter_map(|l| l.split('|').next())
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    let all = host.enumerate(&format!("{DMTF}CIM_Sensor"), &[], "");
    let mut names: Vec<String> = all
        .iter()
        .map(|i| prop(i, "ElementName").expect("ElementName"))
        .collect();
    names.sort();
    let mut sensors_in_sdr: Vec<String> = sdr_names
        .iter()
        .filter(|n| names.contains(n))
        .cloned()
        .collect();
    sensors_in_sdr.sort();
    assert_eq!(names, sensors_in_sdr, "{sdr_names:?}");
    assert_eq!(
        all.iter().filter(|i| i.name == "CIM_NumericSensor").count(),
        threshold.len()
    );
    let discrete: Vec<&Element> = all.iter().filter(|i| i.name == "CIM_Sensor").collect();
    assert!(!discrete.is_empty());
    for item in discrete {
        // The states as the BMC answers Get Sensor Reading to ipmitool's raw command.
        let device = prop(item, "DeviceID").expect("DeviceID");
        let number = device.rsplit('.').next().expect("number");
        let raw = sim.ipmitool(&["raw", "0x04", "0x2d", number]);
        let bytes: Vec<u16> = raw
            .split_whitespace()
            .map(|b| u16::from_str_radix(b, 16).expect("hex"))
            .collect();
        let bits =
            bytes.get(2).copied().unwrap_or(0) | (bytes.get(3).copied().unwrap_or(0) & 0x7F) << 8;
        let asserted: Vec<String> = (0..15)
            .filter(|b| bits & (1 << b) != 0)
            .map(|b| b.to_string())
            .collect();
        assert_eq!(
            prop(item, "CurrentState"),
            Some(format!("Asserted: {}", asserted.join(","))),
            "{device}: {raw}"
        );
    }

    // Get by the keys an enumeration gave.
    let item = &numeric[0];
    let keys: Vec<(String, String)> = [
        "CreationClassName",
        "DeviceID",
        "SystemCreationClassName",
        "SystemName",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), prop(item, k).expect("key")))
    .collect();
    let selectors: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = host.post(&soap::get(&format!("{DMTF}CIM_NumericSensor"), &selectors));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        soap::find_text(&r.text(), "ElementName"),
        prop(item, "ElementName")
    );
    // WQL through the same instances.
    let query = format!(
        "SELECT * FROM CIM_NumericSensor WHERE ElementName = '{}'",
        prop(item, "ElementName").expect("name")
    );
    let filtered = host.enumerate(
        &format!("{WMI_HARDWARE}CIM_NumericSensor"),
        &[],
        &format!(
            "<w:Filter Dialect=\"http://schemas.microsoft.com/wbem/wsman/1/WQL\">{}</w:Filter>",
            xml::escape_text(&query)
        ),
    );
    assert_eq!(filtered.len(), 1);
}

#[test]
fn sel_records_match_ipmitool_and_clear_log_needs_an_administrator() {
    let Some(sim) = IpmiSim::start() else {
        return;
    };
    sim.add_sel_events(SEL_EVENTS);
    let host = Host::start(Some(&sim.bmc_toml()), 0o600);

    let ids = sel_ids(&sim);
    assert_eq!(ids.len(), SEL_EVENTS.lines().count(), "{ids:?}");
    let records = host.enumerate(&format!("{DMTF}CIM_LogRecord"), &[], "");
    let got: Vec<u16> = records
        .iter()
        .map(|r| {
            prop(r, "RecordID")
                .expect("RecordID")
                .parse()
                .expect("number")
        })
        .collect();
    assert_eq!(got, ids);
    // Every record's 16 bytes as the BMC gives them to ipmitool, in one `sel writeraw` (one
    // lanplus session instead of one per record): each starts with its record id.
    let raw = tempfile::tempdir().expect("tempdir");
    let raw_file = raw.path().join("sel.raw");
    sim.ipmitool(&["sel", "writeraw", raw_file.to_str().expect("UTF-8 path")]);
    let bytes = std::fs::read(&raw_file).expect("the raw SEL");
    assert_eq!(bytes.len(), 16 * ids.len(), "{bytes:02X?}");
    for (record, id) in records.iter().zip(&ids) {
        let entry = bytes
            .chunks(16)
            .find(|c| u16::from_le_bytes([c[0], c[1]]) == *id)
            .unwrap_or_else(|| panic!("record {id} not in ipmitool's raw SEL"));
        let hex: String = entry.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(prop(record, "RecordData"), Some(hex), "record {id}");
        assert_eq!(prop(record, "LogName").as_deref(), Some("IPMI SEL"));
    }

    // Each record's text against ipmitool's `sel elist` line for it (`ID | date | time |
    // TYPE NAME | EVENT | Asserted|Deasserted`): "<type> Assert|Deassert: <event> (<name>)",
    // as Windows' IPMI provider heads it, the sensor named from the SDR.
    let elist = sim.ipmitool(&["sel", "elist"]);
    let sdr = sim.ipmitool(&["sdr", "elist", "all"]);
    let mut deasserted = 0;
    for (record, id) in records.iter().zip(&ids) {
        let line = elist
            .lines()
            .find(|l| {
                l.split('|')
                    .next()
                    .and_then(|f| u16::from_str_radix(f.trim(), 16).ok())
                    == Some(*id)
            })
            .unwrap_or_else(|| panic!("record {id} not in\n{elist}"));
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [.., sensor, event, direction] = fields[..] else {
            panic!("{line}");
        };
        let description = prop(record, "Description").expect("Description");
        let direction = match direction {
            "Asserted" => "Assert",
            "Deasserted" => {
                deasserted += 1;
                "Deassert"
            }
            other => panic!("{other} in {line}"),
        };
        let (kind, number) = ["Temperature", "Fan", "Physical Security"]
            .into_iter()
            .find_map(|kind| Some((kind, sensor.strip_prefix(kind)?.trim())))
            .unwrap_or_else(|| panic!("sensor {sensor:?}"));
        // ipmitool names an event's sensor by number ("#0x01"); its `sdr elist` the name.
        let number = u8::from_str_radix(number.trim_start_matches("#0x"), 16).expect("number");
        let name = sdr
            .lines()
            .find(|l| l.split('|').nth(1).map(str::trim) == Some(&format!("{number:02X}h")))
            .and_then(|l| l.split('|').next())
            .map(str::trim)
            .unwrap_or_else(|| panic!("sensor {number} not in\n{sdr}"));
        let head = format!("{kind} {direction}: ");
        assert!(description.starts_with(&head), "{description:?} vs {line}");
        assert!(
            description.ends_with(&format!(" ({name})")),
            "{description:?} vs {line}"
        );
        if kind != "Physical Security" {
            // The generic threshold events, in ipmitool's words without ipmi-rs's dash.
            let text = &description[head.len()..description.len() - name.len() - 3];
            assert_eq!(text.replace(" - ", " "), event, "{line}");
        }
    }
    assert_eq!(deasserted, 1, "{elist}");

    let log = host.enumerate(&format!("{DMTF}CIM_RecordLog"), &[], "");
    assert_eq!(log.len(), 1);
    assert_eq!(
        prop(&log[0], "CurrentNumberOfRecords"),
        Some(sel_entries(&sim).to_string())
    );

    // The association from the log reaches every record.
    let filter = format!(
        "<w:Filter Dialect=\"{ASSOCIATION_FILTER}\"><b:AssociatedInstances><b:Object>\
         <a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>\
         <a:ReferenceParameters><w:ResourceURI>{WMI_HARDWARE}CIM_RecordLog</w:ResourceURI>\
         <w:SelectorSet><w:Selector Name=\"InstanceID\">IPMI:SEL</w:Selector></w:SelectorSet>\
         </a:ReferenceParameters></b:Object>\
         <b:AssociationClassName>CIM_LogManagesRecord</b:AssociationClassName>\
         </b:AssociatedInstances></w:Filter>"
    );
    let associated = host.enumerate(&format!("{WMI_HARDWARE}*"), &[], &filter);
    assert_eq!(associated.len(), ids.len());
    assert!(associated.iter().all(|i| i.name == "CIM_LogRecord"));

    // A user who is not an administrator: ReturnValue 2, and the SEL is as it was.
    assert_eq!(host.clear_log_as((PLAIN, PLAIN_PASSWORD)), "2");
    assert_eq!(sel_ids(&sim), ids);

    // The administrator: the SEL is empty, as ipmitool and wsmand both see.
    assert_eq!(host.clear_log_as((SERVICE_ACCOUNT, SERVICE_PASSWORD)), "0");
    assert_eq!(sel_entries(&sim), 0);
    assert!(host
        .enumerate(&format!("{DMTF}CIM_LogRecord"), &[], "")
        .is_empty());
}

#[test]
fn without_a_bmc_the_hardware_classes_are_empty() {
    // No bmc.toml (and this machine has no /dev/ipmi0 in CI; where it has one, skip).
    if std::path::Path::new("/dev/ipmi0").exists() {
        eprintln!("skipped: this host has a local BMC");
        return;
    }
    let host = Host::start(None, 0o600);
    for class in [
        "CIM_NumericSensor",
        "CIM_Sensor",
        "CIM_RecordLog",
        "CIM_LogRecord",
    ] {
        assert!(
            host.enumerate(&format!("{DMTF}{class}"), &[], "")
                .is_empty(),
            "{class}"
        );
    }
    // Get of an instance that is not there: the WMI plugin's not-found fault.
    let r = host.post(&soap::get(
        &format!("{DMTF}CIM_RecordLog"),
        &[("InstanceID", "IPMI:SEL")],
    ));
    expect_fault(&r, "DestinationUnreachable");
    // Every other class is unaffected.
    assert_eq!(
        host.enumerate(
            "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem",
            &[],
            ""
        )
        .len(),
        1
    );
}

#[test]
fn a_bmc_toml_readable_by_others_is_refused_and_logged() {
    let text = "address = \"127.0.0.1:9\"\nuser = \"u\"\npassword = \"never-logged\"\n";
    let host = Host::start(Some(text), 0o644);
    assert!(host
        .enumerate(&format!("{DMTF}CIM_RecordLog"), &[], "")
        .is_empty());
    let log = std::fs::read_to_string(host.daemon.stderr_path()).expect("daemon log");
    assert!(log.contains("BMC off") && log.contains("0644"), "{log}");
    assert!(!log.contains("never-logged"), "{log}");
}

/// The BMC ends an RMCP+ session idle past its timeout (ipmi_sim: about 40 s); an
/// enumeration after 60 s idle opens a new session within the same request and answers
/// every sensor, as the first one did (not an empty answer).
#[test]
fn an_enumeration_after_60_seconds_idle_returns_every_sensor() {
    let Some(sim) = IpmiSim::start() else {
        return;
    };
    let host = Host::start(Some(&sim.bmc_toml()), 0o600);
    let uri = format!("{DMTF}CIM_Sensor");
    let first = host.enumerate(&uri, &[], "");
    assert!(first.len() >= 4, "{first:?}");
    std::thread::sleep(Duration::from_secs(60));
    let again = host.enumerate(&uri, &[], "");
    let names = |items: &[Element]| -> Vec<Option<String>> {
        items.iter().map(|i| prop(i, "DeviceID")).collect()
    };
    assert_eq!(names(&again), names(&first));
}

/// `bmc.toml` is followed at SIGHUP: written after the start, the BMC's sensors appear;
/// removed, they go, with no restart.
#[test]
fn bmc_toml_is_followed_at_sighup() {
    let Some(sim) = IpmiSim::start() else {
        return;
    };
    let host = Host::start(None, 0o600);
    let uri = format!("{DMTF}CIM_Sensor");
    let ipmi_sensors = || {
        host.enumerate(&uri, &[], "")
            .iter()
            .filter(|i| prop(i, "DeviceID").is_some_and(|d| d.starts_with("IPMI:")))
            .count()
    };
    let hangup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &host.daemon.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    let wait_for = |what: &str, wanted: &dyn Fn(usize) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let count = ipmi_sensors();
            if wanted(count) {
                return count;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: {count}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(ipmi_sensors(), 0);
    let path = host.config.write_raw("bmc.toml", &sim.bmc_toml());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    hangup();
    let count = wait_for("the BMC's sensors after SIGHUP", &|n| n > 0);
    assert_eq!(
        count,
        sensor_lines(&sim).len(),
        "every sensor ipmitool lists"
    );
    std::fs::remove_file(&path).expect("remove bmc.toml");
    hangup();
    wait_for("no BMC after SIGHUP", &|n| n == 0);
}

#[test]
fn a_bmc_that_does_not_answer_times_out() {
    // A UDP port nobody answers on.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let text = format!(
        "address = \"127.0.0.1:{port}\"\nuser = \"u\"\npassword = \"p\"\ntimeout_ms = 200\n"
    );
    let host = Host::start(Some(&text), 0o600);
    // Sensors leave the BMC's part out; the SEL, which only the BMC has, is a fault.
    assert!(host
        .enumerate(&format!("{DMTF}CIM_NumericSensor"), &[], "")
        .is_empty());
    let body = "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"/>";
    let r = host.post(&soap::request(
        action::ENUMERATE,
        &format!("{DMTF}CIM_LogRecord"),
        &[],
        body,
    ));
    expect_fault(&r, "InternalError");
}

/// The sysfs tree recorded from real machines (node_exporter's fixture, see its README).
fn sysfs_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wsman-providers/tests/fixtures/sysfs")
        .canonicalize()
        .expect("the sysfs fixture")
}

fn read_trimmed(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// One hwmon input as the fixture's files give it: (directory, channel, label, reading).
struct FixtureInput {
    dir: PathBuf,
    channel: String,
    label: Option<String>,
    reading: String,
}

/// Every `<temp|in|fan|power|curr><n>_input` of every chip of the fixture, found by walking
/// the tree here: a chip's files are in its hwmon directory, or in `device/` when only that
/// has a `name`.
fn fixture_inputs(root: &Path) -> Vec<FixtureInput> {
    let mut out = Vec::new();
    for chip in std::fs::read_dir(root.join("class/hwmon")).expect("class/hwmon") {
        let hwmon = chip.expect("entry").path();
        let Some(dir) = [hwmon.clone(), hwmon.join("device")]
            .into_iter()
            .find(|d| d.join("name").exists())
        else {
            continue;
        };
        for file in std::fs::read_dir(&dir).expect("chip dir") {
            let name = file
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            let Some(channel) = name.strip_suffix("_input") else {
                continue;
            };
            let prefix = channel.trim_end_matches(|c: char| c.is_ascii_digit());
            if prefix.len() == channel.len()
                || !["temp", "in", "fan", "power", "curr"].contains(&prefix)
            {
                continue;
            }
            out.push(FixtureInput {
                dir: dir.clone(),
                channel: channel.to_owned(),
                label: read_trimmed(&dir.join(format!("{channel}_label"))),
                reading: read_trimmed(&dir.join(&name)).expect("an input value"),
            });
        }
    }
    out
}

#[test]
fn hwmon_and_thermal_sensors_match_the_recorded_sysfs() {
    let root = sysfs_fixture();
    let host = Host::with_recorded_sysfs();
    let numeric = host.enumerate(&format!("{DMTF}CIM_NumericSensor"), &[], "");
    let inputs = fixture_inputs(&root);
    let zones: Vec<PathBuf> = std::fs::read_dir(root.join("class/thermal"))
        .expect("class/thermal")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("thermal_zone"))
        })
        .collect();
    assert!(inputs.len() >= 10, "{}", inputs.len());
    assert_eq!(numeric.len(), inputs.len() + zones.len());

    // DeviceIDs are distinct (several chips have the same labels) and none is an IPMI one.
    let mut ids: Vec<String> = numeric
        .iter()
        .map(|i| prop(i, "DeviceID").expect("DeviceID"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), numeric.len());
    assert!(ids.iter().all(|id| !id.starts_with("IPMI:")));

    for input in &inputs {
        let chip = read_trimmed(&input.dir.join("name")).expect("name");
        let suffix = format!(":{chip}:{}", input.channel);
        let item = numeric
            .iter()
            .find(|i| {
                prop(i, "DeviceID").is_some_and(|id| {
                    id.ends_with(&suffix)
                        && prop(i, "CurrentReading").as_deref() == Some(input.reading.as_str())
                })
            })
            .unwrap_or_else(|| panic!("no sensor for {}/{}", input.dir.display(), input.channel));
        let expected_name = input
            .label
            .clone()
            .unwrap_or_else(|| format!("{chip} {}", input.channel));
        assert_eq!(prop(item, "ElementName"), Some(expected_name));
        // Units: millidegrees, millivolts, RPM, as the kernel's hwmon ABI defines them.
        let (units, modifier, sensor_type) =
            match input.channel.trim_end_matches(|c: char| c.is_ascii_digit()) {
                "temp" => ("2", "-3", "2"),
                "in" => ("5", "-3", "3"),
                "fan" => ("19", "0", "5"),
                "power" => ("7", "-6", "13"),
                "curr" => ("6", "-3", "4"),
                other => panic!("{other}"),
            };
        assert_eq!(prop(item, "BaseUnits").as_deref(), Some(units));
        assert_eq!(prop(item, "UnitModifier").as_deref(), Some(modifier));
        assert_eq!(prop(item, "SensorType").as_deref(), Some(sensor_type));
        for (file, property) in [
            ("max", "UpperThresholdNonCritical"),
            ("min", "LowerThresholdNonCritical"),
        ] {
            assert_eq!(
                prop(item, property),
                read_trimmed(&input.dir.join(format!("{}_{file}", input.channel))),
                "{} {property}",
                input.channel
            );
        }
        if input.channel.starts_with("temp") {
            assert_eq!(
                prop(item, "UpperThresholdCritical"),
                read_trimmed(&input.dir.join(format!("{}_crit", input.channel)))
            );
        }
        assert_eq!(
            prop(item, "SystemCreationClassName").as_deref(),
            Some("CIM_ComputerSystem")
        );
    }
    for zone in &zones {
        let name = zone
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let item = numeric
            .iter()
            .find(|i| prop(i, "DeviceID").as_deref() == Some(&format!("thermal:{name}")))
            .unwrap_or_else(|| panic!("no sensor for {name}"));
        assert_eq!(
            prop(item, "CurrentReading"),
            read_trimmed(&zone.join("temp"))
        );
        let kind = read_trimmed(&zone.join("type")).expect("type");
        assert!(prop(item, "ElementName").is_some_and(|n| n.starts_with(&kind)));
    }
    // CIM_Sensor, the base class, has them all too.
    let all = host.enumerate(&format!("{DMTF}CIM_Sensor"), &[], "");
    assert_eq!(all.len(), numeric.len());
}

#[test]
fn enclosure_chassis_and_system_come_from_dmi_with_serials_for_administrators_only() {
    let root = sysfs_fixture();
    let dmi = |name: &str| read_trimmed(&root.join("class/dmi/id").join(name));
    let host = Host::with_recorded_sysfs();
    let enclosure = host.enumerate(
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_SystemEnclosure",
        &[],
        "",
    );
    assert_eq!(enclosure.len(), 1);
    let e = &enclosure[0];
    assert_eq!(prop(e, "ChassisTypes"), dmi("chassis_type"));
    assert_eq!(prop(e, "Manufacturer"), dmi("chassis_vendor"));
    assert_eq!(prop(e, "SMBIOSAssetTag"), dmi("chassis_asset_tag"));
    assert_eq!(prop(e, "SerialNumber"), dmi("chassis_serial"));
    assert!(prop(e, "SerialNumber").is_some());

    let chassis = host.enumerate(&format!("{DMTF}CIM_Chassis"), &[], "");
    assert_eq!(chassis.len(), 1);
    assert_eq!(prop(&chassis[0], "Manufacturer"), dmi("chassis_vendor"));
    assert_eq!(prop(&chassis[0], "SerialNumber"), dmi("chassis_serial"));

    let system = host.enumerate(&format!("{DMTF}CIM_ComputerSystem"), &[], "");
    assert_eq!(system.len(), 1);
    let uuid = dmi("product_uuid").expect("uuid");
    let hostname = read_trimmed(Path::new("/proc/sys/kernel/hostname")).expect("hostname");
    assert_eq!(prop(&system[0], "Name"), Some(hostname));

    // A user who is not an administrator sees no serial number and no UUID.
    let body = "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
                xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
                <w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements></n:Enumerate>";
    for class in ["CIM_Chassis", "CIM_ComputerSystem"] {
        let r = host.post_as(
            PLAIN,
            PLAIN_PASSWORD,
            &soap::request(action::ENUMERATE, &format!("{DMTF}{class}"), &[], body),
        );
        assert_eq!(r.status, 200, "{}", r.describe());
        let text = r.text();
        assert!(!text.contains(&uuid), "{text}");
        assert!(
            !text.contains(&dmi("chassis_serial").expect("serial")),
            "{text}"
        );
    }
    let r = host.post(&soap::request(
        action::ENUMERATE,
        &format!("{DMTF}CIM_ComputerSystem"),
        &[],
        body,
    ));
    assert!(r.text().contains(&uuid), "{}", r.describe());
}

/// `winrm enumerate URI -dialect:association -filter:XML` as the service account.
fn winrm_association(host: &Host, filter: &str) -> process::Finished {
    let mut command = std::process::Command::new(binaries::winrm());
    command
        .args([
            "enumerate",
            &format!("{WMI_HARDWARE}*"),
            "-dialect:association",
        ])
        .arg(format!("-filter:{filter}"))
        .arg(format!("-r:http://127.0.0.1:{}", host.port))
        .arg(format!("-u:{SERVICE_ACCOUNT}"))
        .arg(format!("-p:{SERVICE_PASSWORD}"))
        .args(["-a:Basic", "-unencrypted"])
        .env("WSMAND_CONFIG_DIR", host.config.path());
    process::run(&mut command, None, Duration::from_secs(60))
}

#[test]
fn system_device_and_associated_sensor_through_the_association_filter() {
    let root = sysfs_fixture();
    let host = Host::with_recorded_sysfs();
    let hostname = read_trimmed(Path::new("/proc/sys/kernel/hostname")).expect("hostname");
    let filter = format!(
        "<b:AssociatedInstances xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><b:Object>\
         <a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>\
         <a:ReferenceParameters><w:ResourceURI>{WMI_HARDWARE}CIM_ComputerSystem</w:ResourceURI>\
         <w:SelectorSet><w:Selector Name=\"CreationClassName\">CIM_ComputerSystem</w:Selector>\
         <w:Selector Name=\"Name\">{hostname}</w:Selector></w:SelectorSet>\
         </a:ReferenceParameters></b:Object>\
         <b:AssociationClassName>CIM_SystemDevice</b:AssociationClassName>\
         <b:ResultClassName>CIM_NumericSensor</b:ResultClassName>\
         </b:AssociatedInstances>"
    );
    let out = winrm_association(&host, &filter);
    assert_eq!(out.code(), 0, "{}", out.describe());
    let sensors = out
        .stdout
        .lines()
        .filter(|l| *l == "CIM_NumericSensor")
        .count();
    let zones = std::fs::read_dir(root.join("class/thermal"))
        .expect("thermal")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        })
        .count();
    assert_eq!(
        sensors,
        fixture_inputs(&root).len() + zones,
        "{}",
        out.stdout
    );

    // The processors of /proc/cpuinfo are the system's devices too.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("cpuinfo");
    let mut packages: Vec<&str> = cpuinfo
        .lines()
        .filter(|l| l.starts_with("physical id"))
        .filter_map(|l| l.split(':').nth(1))
        .map(str::trim)
        .collect();
    packages.sort();
    packages.dedup();
    let expected_packages = packages.len().max(1);
    let processors = host.enumerate(&format!("{DMTF}CIM_Processor"), &[], "");
    assert_eq!(processors.len(), expected_packages);
    let devices = filter.replace(
        "<b:ResultClassName>CIM_NumericSensor</b:ResultClassName>",
        "<b:ResultClassName>CIM_Processor</b:ResultClassName>",
    );
    let out = winrm_association(&host, &devices);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert_eq!(
        out.stdout.lines().filter(|l| *l == "CIM_Processor").count(),
        expected_packages,
        "{}",
        out.stdout
    );

    // The processor's sensors: the coretemp chip of package 0 (coretemp.0's inputs) and, on a
    // host of one package, every processor sensor, through CIM_AssociatedSensor.
    let device_id = prop(&processors[0], "DeviceID").expect("DeviceID");
    let sensors_of = format!(
        "<b:AssociatedInstances xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><b:Object>\
         <a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>\
         <a:ReferenceParameters><w:ResourceURI>{WMI_HARDWARE}CIM_Processor</w:ResourceURI>\
         <w:SelectorSet><w:Selector Name=\"CreationClassName\">CIM_Processor</w:Selector>\
         <w:Selector Name=\"DeviceID\">{device_id}</w:Selector>\
         <w:Selector Name=\"SystemCreationClassName\">CIM_ComputerSystem</w:Selector>\
         <w:Selector Name=\"SystemName\">{hostname}</w:Selector></w:SelectorSet>\
         </a:ReferenceParameters></b:Object>\
         <b:AssociationClassName>CIM_AssociatedSensor</b:AssociationClassName>\
         </b:AssociatedInstances>"
    );
    let out = winrm_association(&host, &sensors_of);
    assert_eq!(out.code(), 0, "{}", out.describe());
    let coretemp0 = std::fs::read_dir(root.join("class/hwmon/hwmon0"))
        .expect("hwmon0")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with("_input"))
        })
        .count();
    let found = out
        .stdout
        .lines()
        .filter(|l| *l == "CIM_NumericSensor")
        .count();
    assert!(found >= coretemp0, "{found} < {coretemp0}\n{}", out.stdout);
}

#[test]
fn the_live_sysfs_of_this_host_answers_cleanly() {
    // This machine has no hwmon, thermal or DMI; the live root gives empty answers, not faults.
    if ["/sys/class/hwmon", "/sys/class/thermal"]
        .iter()
        .any(|d| std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()))
    {
        eprintln!("skipped: this host has hwmon or thermal devices");
        return;
    }
    let host = Host::start(None, 0o600);
    if Path::new("/dev/ipmi0").exists() {
        eprintln!("skipped: this host has a local BMC");
        return;
    }
    assert!(host
        .enumerate(&format!("{DMTF}CIM_NumericSensor"), &[], "")
        .is_empty());
    let chassis = host.enumerate(&format!("{DMTF}CIM_Chassis"), &[], "");
    let has_dmi = Path::new("/sys/class/dmi/id/chassis_type").exists();
    assert_eq!(chassis.len(), usize::from(has_dmi));
    // Without an SMBIOS table: no memory modules, and processors of family 2 (Unknown).
    if Path::new("/sys/firmware/dmi/tables/DMI").exists() {
        eprintln!("skipped the SMBIOS part: this host has a table");
        return;
    }
    assert!(host
        .enumerate(&format!("{DMTF}CIM_PhysicalMemory"), &[], "")
        .is_empty());
    let processors = host.enumerate(&format!("{DMTF}CIM_Processor"), &[], "");
    assert!(!processors.is_empty());
    assert!(processors
        .iter()
        .all(|p| prop(p, "Family").as_deref() == Some("2")));
}

/// The recorded SMBIOS table as `dmidecode --dump-bin` writes one (the entry point with the
/// table's address set to 32, where the table follows), for `dmidecode --from-dump`.
fn dmidecode_dump(root: &Path, dir: &Path) -> PathBuf {
    let tables = root.join("firmware/dmi/tables");
    let mut entry = std::fs::read(tables.join("smbios_entry_point")).expect("entry point");
    assert!(entry.starts_with(b"_SM3_"), "{entry:02X?}");
    entry[0x10..0x18].copy_from_slice(&32u64.to_le_bytes());
    entry[5] = 0;
    let sum = entry[..usize::from(entry[6])]
        .iter()
        .fold(0u8, |a, b| a.wrapping_add(*b));
    entry[5] = 0u8.wrapping_sub(sum);
    entry.resize(32, 0);
    entry.extend(std::fs::read(tables.join("DMI")).expect("DMI"));
    let path = dir.join("dmi.dump");
    std::fs::write(&path, entry).expect("write the dump");
    path
}

/// dmidecode's records of `kind` in `dump`: each record's `Key: Value` lines.
fn dmidecode_records(dump: &Path, kind: &str) -> Vec<Vec<(String, String)>> {
    let out = std::process::Command::new("dmidecode")
        .arg("--from-dump")
        .arg(dump)
        .args(["-t", kind])
        .output()
        .expect("dmidecode (Debian's dmidecode package)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split("\nHandle ")
        .skip(1)
        .map(|record| {
            record
                .lines()
                .filter_map(|l| l.strip_prefix('\t')?.split_once(": "))
                .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
                .collect()
        })
        .collect()
}

fn field(record: &[(String, String)], key: &str) -> Option<String> {
    record
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .filter(|v| !matches!(v.as_str(), "Unknown" | "Not Specified" | "None"))
}

/// A dmidecode quantity (`8 GB`, `2400 MT/s`, `64 bits`) in its base unit.
fn quantity(text: &str) -> String {
    let (number, unit) = text.split_once(' ').expect("number and unit");
    let number: u64 = number.parse().expect("number");
    let scale = match unit {
        "kB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => 1,
    };
    (number * scale).to_string()
}

#[test]
fn physical_memory_and_processor_family_match_dmidecode() {
    let root = sysfs_fixture();
    let dir = tempfile::tempdir().expect("tempdir");
    let dump = dmidecode_dump(&root, dir.path());
    let modules: Vec<_> = dmidecode_records(&dump, "17")
        .into_iter()
        .filter(|r| field(r, "Size").is_some_and(|s| s != "No Module Installed"))
        .collect();
    assert!(!modules.is_empty());
    let host = Host::with_recorded_sysfs();
    let memory = host.enumerate(&format!("{DMTF}CIM_PhysicalMemory"), &[], "");
    assert_eq!(memory.len(), modules.len());
    // CIM's names of the codes (DSP0134 and CIM_PhysicalMemory's value maps), as dmidecode
    // names SMBIOS' codes.
    let memory_type = |name: &str| match name {
        "DDR3" => "24",
        "DDR4" => "26",
        "LPDDR4" => "30",
        "DDR5" => "34",
        other => panic!("memory type {other} not in the test's table"),
    };
    let form_factor = |name: &str| match name {
        "DIMM" => "8",
        "SODIMM" => "12",
        other => panic!("form factor {other} not in the test's table"),
    };
    for (i, (item, module)) in memory.iter().zip(&modules).enumerate() {
        let want = |key: &str| field(module, key);
        assert_eq!(prop(item, "Tag"), Some(format!("Physical Memory {i}")));
        assert_eq!(
            prop(item, "Capacity"),
            want("Size").as_deref().map(quantity)
        );
        assert_eq!(prop(item, "DeviceLocator"), want("Locator"));
        assert_eq!(prop(item, "BankLabel"), want("Bank Locator"));
        assert_eq!(prop(item, "Manufacturer"), want("Manufacturer"));
        assert_eq!(prop(item, "PartNumber"), want("Part Number"));
        assert_eq!(prop(item, "SerialNumber"), want("Serial Number"));
        assert_eq!(prop(item, "Speed"), want("Speed").as_deref().map(quantity));
        assert_eq!(
            prop(item, "ConfiguredMemoryClockSpeed"),
            want("Configured Memory Speed").as_deref().map(quantity)
        );
        assert_eq!(
            prop(item, "TotalWidth"),
            want("Total Width").as_deref().map(quantity)
        );
        assert_eq!(
            prop(item, "DataWidth"),
            want("Data Width").as_deref().map(quantity)
        );
        assert_eq!(
            prop(item, "MemoryType").as_deref(),
            want("Type").as_deref().map(memory_type)
        );
        assert_eq!(
            prop(item, "FormFactor").as_deref(),
            want("Form Factor").as_deref().map(form_factor)
        );
    }
    // The serial numbers are an administrator's only, as the other serials.
    let body = "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
                xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
                <w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements></n:Enumerate>";
    let r = host.post_as(
        PLAIN,
        PLAIN_PASSWORD,
        &soap::request(
            action::ENUMERATE,
            &format!("{DMTF}CIM_PhysicalMemory"),
            &[],
            body,
        ),
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let envelope = xml::parse(&r.text(), &Limits::default()).expect("XML");
    let mut plain = Vec::new();
    find_all(&envelope, "CIM_PhysicalMemory", &mut plain);
    assert_eq!(plain.len(), modules.len());
    assert!(plain.iter().all(|m| prop(m, "SerialNumber").is_none()));

    // CIM_Processor CPU0's Family is the first populated socket's (SMBIOS' codes, as dmidecode
    // names them).
    let sockets = dmidecode_records(&dump, "4");
    let first = sockets
        .iter()
        .find(|r| field(r, "Status").is_some_and(|s| s.starts_with("Populated")))
        .expect("a populated socket");
    let family = match field(first, "Family").as_deref() {
        Some("Zen") => "107",
        Some("Xeon") => "179",
        Some("Core i7") => "198",
        other => panic!("family {other:?} not in the test's table"),
    };
    let processors = host.enumerate(&format!("{DMTF}CIM_Processor"), &[], "");
    let cpu0 = processors
        .iter()
        .find(|p| prop(p, "DeviceID").as_deref() == Some("CPU0"))
        .expect("CPU0");
    assert_eq!(prop(cpu0, "Family").as_deref(), Some(family));

    // Every module is a part of the system.
    let parts = host.enumerate(&format!("{DMTF}CIM_SystemDevice"), &[], "");
    let memory_parts = parts
        .iter()
        .filter(|p| {
            let mut uris = Vec::new();
            find_all(p, "ResourceURI", &mut uris);
            uris.iter()
                .any(|u| u.text().ends_with("/CIM_PhysicalMemory"))
        })
        .count();
    assert_eq!(memory_parts, modules.len());
}

/// The names of the instances an AssociatedInstances filter from `object` (a class and its
/// keys) through `association` reaches, sorted.
fn associated_names(
    host: &Host,
    class: &str,
    keys: &[(&str, &str)],
    association: &str,
) -> Vec<String> {
    let selectors: String = keys
        .iter()
        .map(|(n, v)| {
            format!(
                "<w:Selector Name=\"{n}\">{}</w:Selector>",
                xml::escape_text(v)
            )
        })
        .collect();
    let filter = format!(
        "<w:Filter Dialect=\"{ASSOCIATION_FILTER}\"><b:AssociatedInstances><b:Object>\
         <a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>\
         <a:ReferenceParameters><w:ResourceURI>{WMI_HARDWARE}{class}</w:ResourceURI>\
         <w:SelectorSet>{selectors}</w:SelectorSet></a:ReferenceParameters></b:Object>\
         <b:AssociationClassName>{association}</b:AssociationClassName>\
         </b:AssociatedInstances></w:Filter>"
    );
    let mut names: Vec<String> = host
        .enumerate(&format!("{WMI_HARDWARE}*"), &[], &filter)
        .iter()
        .filter(|i| i.name == "CIM_NumericSensor" || i.name == "CIM_Sensor")
        .filter_map(|i| prop(i, "Name"))
        .collect();
    names.sort();
    names
}

#[test]
fn ipmi_sensors_are_devices_of_the_system_and_of_their_processor() {
    let Some(sim) = IpmiSim::start() else {
        return;
    };
    // An empty sysfs root: the BMC's sensors are the only ones.
    let sysfs = tempfile::tempdir().expect("tempdir");
    let host = Host::start_with(Some(&sim.bmc_toml()), 0o600, Some(sysfs.path()));
    let hostname = read_trimmed(Path::new("/proc/sys/kernel/hostname")).expect("hostname");

    // Every sensor ipmitool lists is a device of the system.
    let mut all: Vec<String> = sensor_lines(&sim)
        .into_iter()
        .map(|f| f[0].clone())
        .collect();
    all.sort();
    assert!(all.len() >= 4, "{all:?}");
    let system_keys = [
        ("CreationClassName", "CIM_ComputerSystem"),
        ("Name", hostname.as_str()),
    ];
    assert_eq!(
        associated_names(
            &host,
            "CIM_ComputerSystem",
            &system_keys,
            "CIM_SystemDevice"
        ),
        all
    );

    // The sensors of processor entities (ipmitool's entity column 3.n) measure package 0 on a
    // host of one package (the simulator has one processor entity).
    let mut of_processor: Vec<String> = sim
        .ipmitool(&["sdr", "elist"])
        .lines()
        .map(|l| {
            l.split('|')
                .map(|f| f.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|f| f.len() >= 4 && f[3].starts_with("3."))
        .map(|f| f[0].clone())
        .collect();
    of_processor.sort();
    assert!(!of_processor.is_empty());
    let processors = host.enumerate(&format!("{DMTF}CIM_Processor"), &[], "");
    let cpu0 = processors
        .iter()
        .find(|p| prop(p, "DeviceID").as_deref() == Some("CPU0"))
        .expect("CPU0");
    let device_id = prop(cpu0, "DeviceID").expect("DeviceID");
    let processor_keys = [
        ("CreationClassName", "CIM_Processor"),
        ("DeviceID", device_id.as_str()),
        ("SystemCreationClassName", "CIM_ComputerSystem"),
        ("SystemName", hostname.as_str()),
    ];
    assert_eq!(
        associated_names(
            &host,
            "CIM_Processor",
            &processor_keys,
            "CIM_AssociatedSensor"
        ),
        of_processor
    );
}

#[test]
fn thermal_trip_points_are_the_zones_thresholds() {
    // A thermal zone as the kernel lays it out, written here: two passive trips (throttling
    // starts at the lower), a hot and a critical one, an active (fan) trip that is no
    // threshold, and a trip whose temperature cannot be read.
    let sysfs = tempfile::tempdir().expect("tempdir");
    let zone = sysfs.path().join("class/thermal/thermal_zone0");
    std::fs::create_dir_all(&zone).expect("zone dir");
    let trips = [
        ("passive", Some("91000")),
        ("passive", Some("87500")),
        ("hot", Some("99000")),
        ("critical", Some("105000")),
        ("active", Some("60000")),
        ("critical", None),
    ];
    let mut files = vec![
        ("type".to_owned(), "x86_pkg_temp\n".to_owned()),
        ("temp".to_owned(), "93000\n".to_owned()),
    ];
    for (n, (kind, temp)) in trips.iter().enumerate() {
        files.push((format!("trip_point_{n}_type"), format!("{kind}\n")));
        if let Some(temp) = temp {
            files.push((format!("trip_point_{n}_temp"), format!("{temp}\n")));
        }
    }
    for (name, text) in &files {
        std::fs::write(zone.join(name), text).expect("write a zone attribute");
    }
    let host = Host::start_with(None, 0o600, Some(sysfs.path()));
    let sensors = host.enumerate(&format!("{DMTF}CIM_NumericSensor"), &[], "");
    assert_eq!(sensors.len(), 1, "{sensors:?}");
    let s = &sensors[0];
    // The thresholds are the lowest temperature of each kind the test wrote, read back from
    // the files.
    let lowest = |kind: &str| {
        (0..trips.len())
            .filter(|n| {
                read_trimmed(&zone.join(format!("trip_point_{n}_type"))).as_deref() == Some(kind)
            })
            .filter_map(|n| read_trimmed(&zone.join(format!("trip_point_{n}_temp"))))
            .min_by_key(|t| t.parse::<i64>().expect("a number"))
    };
    assert_eq!(prop(s, "UpperThresholdNonCritical"), lowest("passive"));
    assert_eq!(prop(s, "UpperThresholdCritical"), lowest("hot"));
    assert_eq!(prop(s, "UpperThresholdFatal"), lowest("critical"));
    assert_eq!(prop(s, "CurrentReading"), read_trimmed(&zone.join("temp")));
    assert_eq!(prop(s, "LowerThresholdNonCritical"), None);
    assert_eq!(prop(s, "LowerThresholdCritical"), None);
    assert_eq!(prop(s, "UnitModifier").as_deref(), Some("-3"));
    // Past the lower passive trip, below the hot one.
    assert_eq!(
        prop(s, "CurrentState").as_deref(),
        Some("Upper Non-Critical")
    );
}
