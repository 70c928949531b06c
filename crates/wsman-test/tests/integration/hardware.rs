//! root/hardware against a real BMC: OpenIPMI's `ipmi_sim` on loopback (see
//! `wsman_test::ipmi`), read by wsmand over RMCP+ and by `ipmitool` over the same protocol.
//! Every value is checked against what ipmitool says about the same simulator, and ClearLog's
//! effect (or its absence) is seen by ipmitool too.

use std::os::unix::fs::PermissionsExt;

use wsman_proto::ns::action;
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::http::{self, Response};
use wsman_test::ipmi::{IpmiSim, SEL_EVENTS};
use wsman_test::{
    free_port, soap, ConfigDir, Daemon, ListenerSpec, SERVICE_ACCOUNT, SERVICE_PASSWORD,
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
    _config: ConfigDir,
    port: u16,
}

impl Host {
    /// wsmand with `bmc.toml` (mode 0600 unless `mode` says otherwise) when given.
    fn start(bmc_toml: Option<&str>, mode: u32) -> Host {
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
        let daemon = Daemon::start(&config, &[port]);
        Host {
            daemon,
            _config: config,
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
    for (record, id) in records.iter().zip(&ids) {
        // The record's bytes as the BMC gives them to ipmitool's raw Get SEL Entry.
        let [lo, hi] = id.to_le_bytes();
        let raw = sim.ipmitool(&[
            "raw",
            "0x0a",
            "0x43",
            "0x00",
            "0x00",
            &format!("0x{lo:02x}"),
            &format!("0x{hi:02x}"),
            "0x00",
            "0xff",
        ]);
        let bytes: Vec<String> = raw
            .split_whitespace()
            .skip(2)
            .map(str::to_uppercase)
            .collect();
        assert_eq!(
            prop(record, "RecordData"),
            Some(bytes.concat()),
            "record {id}"
        );
        assert_eq!(prop(record, "LogName").as_deref(), Some("IPMI SEL"));
    }

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
    // Get of an instance that is not there: the WMI plugin's InvalidSelectors.
    let r = host.post(&soap::get(
        &format!("{DMTF}CIM_RecordLog"),
        &[("InstanceID", "IPMI:SEL")],
    ));
    expect_fault(&r, "InvalidSelectors");
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
