//! The enclosure, system, memory and processors from SMBIOS (DMI), against `dmidecode` on
//! the same recorded tables.

use super::*;

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

    let chassis = host.instances("CIM_Chassis");
    assert_eq!(chassis.len(), 1);
    assert_eq!(prop(&chassis[0], "Manufacturer"), dmi("chassis_vendor"));
    assert_eq!(prop(&chassis[0], "SerialNumber"), dmi("chassis_serial"));

    let system = host.instances("CIM_ComputerSystem");
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
    let r = host.post(&soap::enumerate(&format!("{DMTF}CIM_ComputerSystem"), body));
    assert!(r.text().contains(&uuid), "{}", r.describe());
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
    let memory = host.instances("CIM_PhysicalMemory");
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
        &soap::enumerate(&format!("{DMTF}CIM_PhysicalMemory"), body),
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
    let processors = host.instances("CIM_Processor");
    let cpu0 = processors
        .iter()
        .find(|p| prop(p, "DeviceID").as_deref() == Some("CPU0"))
        .expect("CPU0");
    assert_eq!(prop(cpu0, "Family").as_deref(), Some(family));

    // Every module is a part of the system.
    let parts = host.instances("CIM_SystemDevice");
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
