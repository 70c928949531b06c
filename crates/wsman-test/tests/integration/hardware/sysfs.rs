//! hwmon chips and thermal zones from recorded and live sysfs trees, and the associations
//! between the system, its devices and their sensors.

use super::*;

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
    let numeric = host.instances("CIM_NumericSensor");
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
    let all = host.instances("CIM_Sensor");
    assert_eq!(all.len(), numeric.len());
}

/// `winrm enumerate URI -dialect:association -filter:XML` as the service account, which must
/// succeed: how many instances of `class` it printed, and what it printed.
fn associated_count(host: &Host, filter: &str, class: &str) -> (usize, String) {
    let out = wsman_test::winrm_basic(
        host.port,
        host.config.path(),
        &[
            "enumerate",
            &format!("{WMI_HARDWARE}*"),
            "-dialect:association",
            &format!("-filter:{filter}"),
        ],
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    let count = out.stdout.lines().filter(|l| *l == class).count();
    (count, out.stdout)
}

/// How many entries of the directory `dir` have a name `keep` accepts.
fn count_entries(dir: &Path, keep: impl Fn(&str) -> bool) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| keep(&e.file_name().to_string_lossy()))
        })
        .count()
}

/// An association filter from the root/hardware instance of `class` with `selectors`, through
/// `association`; `rest` is what follows the association class (a result class, or nothing).
fn associated_instances(
    class: &str,
    selectors: &[(&str, &str)],
    association: &str,
    rest: &str,
) -> String {
    let selectors: String = selectors
        .iter()
        .map(|(name, value)| format!("<w:Selector Name=\"{name}\">{value}</w:Selector>"))
        .collect();
    format!(
        "<b:AssociatedInstances xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><b:Object>\
         <a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>\
         <a:ReferenceParameters><w:ResourceURI>{WMI_HARDWARE}{class}</w:ResourceURI>\
         <w:SelectorSet>{selectors}</w:SelectorSet>\
         </a:ReferenceParameters></b:Object>\
         <b:AssociationClassName>{association}</b:AssociationClassName>{rest}\
         </b:AssociatedInstances>"
    )
}

#[test]
fn system_device_and_associated_sensor_through_the_association_filter() {
    let root = sysfs_fixture();
    let host = Host::with_recorded_sysfs();
    let hostname = read_trimmed(Path::new("/proc/sys/kernel/hostname")).expect("hostname");
    let filter = associated_instances(
        "CIM_ComputerSystem",
        &[
            ("CreationClassName", "CIM_ComputerSystem"),
            ("Name", &hostname),
        ],
        "CIM_SystemDevice",
        "<b:ResultClassName>CIM_NumericSensor</b:ResultClassName>",
    );
    let (sensors, printed) = associated_count(&host, &filter, "CIM_NumericSensor");
    let zones = count_entries(&root.join("class/thermal"), |n| {
        n.starts_with("thermal_zone")
    });
    assert_eq!(sensors, fixture_inputs(&root).len() + zones, "{printed}");

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
    let processors = host.instances("CIM_Processor");
    assert_eq!(processors.len(), expected_packages);
    let devices = filter.replace(
        "<b:ResultClassName>CIM_NumericSensor</b:ResultClassName>",
        "<b:ResultClassName>CIM_Processor</b:ResultClassName>",
    );
    let (devices, printed) = associated_count(&host, &devices, "CIM_Processor");
    assert_eq!(devices, expected_packages, "{printed}");

    // The processor's sensors: the coretemp chip of package 0 (coretemp.0's inputs) and, on a
    // host of one package, every processor sensor, through CIM_AssociatedSensor.
    let device_id = prop(&processors[0], "DeviceID").expect("DeviceID");
    let sensors_of = associated_instances(
        "CIM_Processor",
        &[
            ("CreationClassName", "CIM_Processor"),
            ("DeviceID", &device_id),
            ("SystemCreationClassName", "CIM_ComputerSystem"),
            ("SystemName", &hostname),
        ],
        "CIM_AssociatedSensor",
        "",
    );
    let (found, printed) = associated_count(&host, &sensors_of, "CIM_NumericSensor");
    let coretemp0 = count_entries(&root.join("class/hwmon/hwmon0"), |n| n.ends_with("_input"));
    assert!(found >= coretemp0, "{found} < {coretemp0}\n{printed}");
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
    if skipped_where_exists("/dev/ipmi0", "skipped: this host has a local BMC") {
        return;
    }
    assert!(host.instances("CIM_NumericSensor").is_empty());
    let chassis = host.instances("CIM_Chassis");
    let has_dmi = Path::new("/sys/class/dmi/id/chassis_type").exists();
    assert_eq!(chassis.len(), usize::from(has_dmi));
    // Without an SMBIOS table: no memory modules, and processors of family 2 (Unknown).
    if skipped_where_exists(
        "/sys/firmware/dmi/tables/DMI",
        "skipped the SMBIOS part: this host has a table",
    ) {
        return;
    }
    assert!(host.instances("CIM_PhysicalMemory").is_empty());
    let processors = host.instances("CIM_Processor");
    assert!(!processors.is_empty());
    assert!(processors
        .iter()
        .all(|p| prop(p, "Family").as_deref() == Some("2")));
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
    let sensors = host.instances("CIM_NumericSensor");
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
