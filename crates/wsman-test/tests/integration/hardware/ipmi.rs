//! root/hardware from the BMC: sensors and the SEL against ipmitool, the session's life
//! (idle timeout, SIGHUP, a silent BMC) and `bmc.toml`'s checks.

use super::*;

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
    let numeric = host.instances("CIM_NumericSensor");
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
        assert_numeric_sensor_matches(&sim, &numeric, f, &mut compared);
    }

    // Vcore's three fixed values were compared, the minimum needing its third decimal.
    assert!(
        compared.iter().any(|c| c == "Vcore MinReadable 0.175")
            && compared.iter().filter(|c| c.starts_with("Vcore ")).count() == 3,
        "{compared:?}"
    );

    assert_every_sdr_sensor_is_served(&sim, &host, threshold.len());
    assert_get_and_wql_find(&host, &numeric[0]);
}

/// One threshold sensor of ipmitool's `sensor` list (`f`, its columns) against its
/// CIM_NumericSensor: reading, thresholds, the SDR's fixed values (pushed to `compared`),
/// unit, state and health.
fn assert_numeric_sensor_matches(
    sim: &IpmiSim,
    numeric: &[Element],
    f: &[String],
    compared: &mut Vec<String>,
) {
    let item = by_name(numeric, &f[0]);
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

/// CIM_Sensor is the base class: every sensor of the SDR repository (ipmitool's sdr list),
/// the numeric ones as CIM_NumericSensor, the discrete ones with the states the BMC answers.
fn assert_every_sdr_sensor_is_served(sim: &IpmiSim, host: &Host, numeric_count: usize) {
    let sdr_names: Vec<String> = sim
        .ipmitool(&["sdr", "elist", "all"])
        .lines()
        .filter_map(|l| l.split('|').next())
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    let all = host.instances("CIM_Sensor");
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
        numeric_count
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
}

/// Get by the keys an enumeration gave, and WQL through the same instances.
fn assert_get_and_wql_find(host: &Host, item: &Element) {
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

/// Every record's 16 bytes as the BMC gives them to ipmitool, in one `sel writeraw` (one
/// lanplus session instead of one per record): each starts with its record id, and is the
/// record's RecordData.
fn records_match_the_raw_sel(sim: &IpmiSim, records: &[Element], ids: &[u16]) {
    let raw = tempfile::tempdir().expect("tempdir");
    let raw_file = raw.path().join("sel.raw");
    sim.ipmitool(&["sel", "writeraw", raw_file.to_str().expect("UTF-8 path")]);
    let bytes = std::fs::read(&raw_file).expect("the raw SEL");
    assert_eq!(bytes.len(), 16 * ids.len(), "{bytes:02X?}");
    for (record, id) in records.iter().zip(ids) {
        let entry = bytes
            .chunks(16)
            .find(|c| u16::from_le_bytes([c[0], c[1]]) == *id)
            .unwrap_or_else(|| panic!("record {id} not in ipmitool's raw SEL"));
        let hex: String = entry.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(prop(record, "RecordData"), Some(hex), "record {id}");
        assert_eq!(prop(record, "LogName").as_deref(), Some("IPMI SEL"));
    }
}

#[test]
fn sel_records_match_ipmitool_and_clear_log_needs_an_administrator() {
    let Some((sim, host)) = sim_with_sel_events(None) else {
        return;
    };

    let ids = sel_ids(&sim);
    assert_eq!(ids.len(), SEL_EVENTS.lines().count(), "{ids:?}");
    let records = host.instances("CIM_LogRecord");
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
    records_match_the_raw_sel(&sim, &records, &ids);

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

    let log = host.instances("CIM_RecordLog");
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
    assert!(host.instances("CIM_LogRecord").is_empty());
}

#[test]
fn without_a_bmc_the_hardware_classes_are_empty() {
    // No bmc.toml (and this machine has no /dev/ipmi0 in CI; where it has one, skip).
    if skipped_where_exists("/dev/ipmi0", "skipped: this host has a local BMC") {
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
    assert!(host.instances("CIM_RecordLog").is_empty());
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
    host.daemon.hang_up();
    let count = wait_for("the BMC's sensors after SIGHUP", &|n| n > 0);
    assert_eq!(
        count,
        sensor_lines(&sim).len(),
        "every sensor ipmitool lists"
    );
    std::fs::remove_file(&path).expect("remove bmc.toml");
    host.daemon.hang_up();
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
    assert!(host.instances("CIM_NumericSensor").is_empty());
    let body = "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"/>";
    let r = host.post(&soap::enumerate(&format!("{DMTF}CIM_LogRecord"), body));
    expect_fault(&r, "InternalError");
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
    let processors = host.instances("CIM_Processor");
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
