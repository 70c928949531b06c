//! The machine as root/hardware and WMI describe it from DMI, SMBIOS and /proc:
//! Win32_SystemEnclosure (root/cimv2), CIM_Chassis, CIM_ComputerSystem, CIM_Processor and
//! CIM_PhysicalMemory (root/hardware), and the associations CIM_SystemDevice (the system and
//! its sensors, processors and memory) and CIM_AssociatedSensor (a sensor and the processor it
//! measures).
//!
//! DMI comes from `class/dmi/id` and the SMBIOS table from `firmware/dmi/tables` under the
//! sysfs root of [`Hardware`]. The kernel makes the
//! serial numbers and the UUID readable by root only, so they are served to administrators
//! only and are nil for everyone else, whatever the daemon itself can read.

use wsman_proto::cim::{class_uri, Instance, Reference, Value};

use super::hardware::{self, Hardware, NAMESPACE, SYSTEM_CLASS};
use super::schema::{merged, ClassSchema, Property, LOGICAL_DEVICE};
use super::smbios::{MemoryDevice, ProcessorSocket};
use super::sysfs::{self, SysfsSensor};
use super::{is_administrator, procfs, reference_to, system, Class, Instances};
use crate::{Context, Filter};

/// The one enclosure's Tag, as Windows names its first.
const ENCLOSURE_TAG: &str = "System Enclosure 0";
/// The one chassis' Tag.
const CHASSIS_TAG: &str = "System Chassis";

/// A DMI attribute that only root may read in sysfs: nil unless the caller is an
/// administrator.
fn privileged_dmi(ctx: &Context<'_>, hardware: &Hardware, name: &str) -> Option<String> {
    is_administrator(ctx)
        .then(|| sysfs::dmi(hardware.sysfs_root(), name))
        .flatten()
}

/// The chassis as DMI describes it, which Win32_SystemEnclosure and CIM_Chassis both serve.
struct ChassisDmi {
    /// SMBIOS' chassis type (`chassis_type`, the kernel drops the lock bit).
    smbios_type: u16,
    vendor: Option<String>,
    /// Root-only in sysfs: nil unless the caller is an administrator.
    serial: Option<String>,
    version: Option<String>,
}

/// The chassis' DMI attributes; `None` without DMI (a VM without it, a container), where there
/// is no chassis to describe.
fn chassis_dmi(ctx: &Context<'_>, hardware: &Hardware) -> Option<ChassisDmi> {
    let root = hardware.sysfs_root();
    Some(ChassisDmi {
        smbios_type: sysfs::dmi(root, "chassis_type")?.parse().ok()?,
        vendor: sysfs::dmi(root, "chassis_vendor"),
        serial: privileged_dmi(ctx, hardware, "chassis_serial"),
        version: sysfs::dmi(root, "chassis_version"),
    })
}

/// CIM_Chassis.ChassisPackageType of an SMBIOS chassis type: the same numbers up to 27
/// (CIM's "SMBIOS Reserved" 23 is SMBIOS' rack mount chassis), SMBIOS' 2 (Unknown) is CIM's
/// 0, and later SMBIOS types are 1 (Other).
fn package_type(smbios: u16) -> u16 {
    match smbios {
        2 => 0,
        1 | 3..=27 => smbios,
        _ => 1,
    }
}

hardware_class! {
    /// `Win32_SystemEnclosure`: the machine's chassis from DMI, one instance keyed by Tag.
    SystemEnclosure
}

/// The properties CIM_Chassis and Win32_SystemEnclosure (derived from Windows' older
/// CIM_Chassis) both declare.
const SHARED_CHASSIS: &[Property] = &[
    ("AudibleAlarm", "boolean"),
    ("BreachDescription", "string"),
    ("CableManagementStrategy", "string"),
    ("Caption", "string"),
    ("ChassisTypes", "uint16[]"),
    ("CreationClassName", "string"),
    ("CurrentRequiredOrProduced", "sint16"),
    ("Depth", "real32"),
    ("Description", "string"),
    ("HeatGeneration", "uint16"),
    ("Height", "real32"),
    ("HotSwappable", "boolean"),
    ("InstallDate", "datetime"),
    ("LockPresent", "boolean"),
    ("Manufacturer", "string"),
    ("Model", "string"),
    ("Name", "string"),
    ("NumberOfPowerCords", "uint16"),
    ("OtherIdentifyingInfo", "string"),
    ("PartNumber", "string"),
    ("PoweredOn", "boolean"),
    ("Removable", "boolean"),
    ("Replaceable", "boolean"),
    ("SecurityBreach", "uint16"),
    ("SerialNumber", "string"),
    ("ServiceDescriptions", "string[]"),
    ("ServicePhilosophy", "uint16[]"),
    ("SKU", "string"),
    ("Status", "string"),
    ("Tag", "string"),
    ("TypeDescriptions", "string[]"),
    ("Version", "string"),
    ("VisibleAlarm", "boolean"),
    ("Weight", "real32"),
    ("Width", "real32"),
];

const SYSTEM_ENCLOSURE_PROPERTIES: [Property; 37] = merged(
    SHARED_CHASSIS,
    &[("SecurityStatus", "uint16"), ("SMBIOSAssetTag", "string")],
);

const SYSTEM_ENCLOSURE: ClassSchema = ClassSchema::without_methods(
    "Win32_SystemEnclosure",
    "root/cimv2",
    &["Tag"],
    &[],
    "CIM_Chassis",
    &SYSTEM_ENCLOSURE_PROPERTIES,
);

impl Class for SystemEnclosure {
    schema!(SYSTEM_ENCLOSURE);
    fn instances(&self, ctx: &Context<'_>, _: Option<&Filter>) -> Instances {
        let Some(dmi) = chassis_dmi(ctx, &self.hardware) else {
            return Ok(Vec::new());
        };
        let root = self.hardware.sysfs_root();
        Ok(vec![Instance::new(self.name(), self.namespace())
            .with("Caption", "System Enclosure")
            .with("ChassisTypes", vec![dmi.smbios_type])
            .with("CreationClassName", self.name())
            .with("Description", "System Enclosure")
            .with("Manufacturer", dmi.vendor)
            .with("Name", "System Enclosure")
            .with("SerialNumber", dmi.serial)
            .with("SMBIOSAssetTag", sysfs::dmi(root, "chassis_asset_tag"))
            .with_key("Tag", ENCLOSURE_TAG)
            .with("Version", dmi.version)])
    }
}

hardware_class! {
    /// `CIM_Chassis`: the same chassis in DMTF's terms (DSP1011), keyed by CreationClassName and
    /// Tag.
    Chassis
}

const CHASSIS_PROPERTIES: [Property; 39] = merged(
    SHARED_CHASSIS,
    &[
        ("ChassisPackageType", "uint16"),
        ("ChassisTypeDescription", "string"),
        ("ElementName", "string"),
        ("PackageType", "uint16"),
    ],
);

const CHASSIS: ClassSchema = ClassSchema::without_methods(
    "CIM_Chassis",
    NAMESPACE,
    &["CreationClassName", "Tag"],
    &[],
    "CIM_PhysicalFrame",
    &CHASSIS_PROPERTIES,
);

impl Class for Chassis {
    schema!(CHASSIS);
    fn instances(&self, ctx: &Context<'_>, _: Option<&Filter>) -> Instances {
        let Some(dmi) = chassis_dmi(ctx, &self.hardware) else {
            return Ok(Vec::new());
        };
        let smbios = dmi.smbios_type;
        let package = package_type(smbios);
        let description = (package == 1).then(|| format!("SMBIOS chassis type {smbios}"));
        Ok(vec![Instance::new(self.name(), NAMESPACE)
            .with("Caption", CHASSIS_TAG)
            .with("ChassisPackageType", package)
            .with("ChassisTypeDescription", description)
            .with_key("CreationClassName", self.name())
            .with("ElementName", CHASSIS_TAG)
            .with("Manufacturer", dmi.vendor)
            .with("Name", CHASSIS_TAG)
            // 3: Chassis/Frame.
            .with("PackageType", 3u16)
            .with("SerialNumber", dmi.serial)
            .with_key("Tag", CHASSIS_TAG)
            .with("Version", dmi.version)])
    }
}

hardware_class! {
    /// `CIM_ComputerSystem` (root/hardware): the host, keyed by its name, which every sensor's
    /// SystemName refers to.
    ComputerSystem
}

fn system_reference() -> Reference {
    Reference {
        resource_uri: class_uri(NAMESPACE, SYSTEM_CLASS),
        selectors: vec![
            ("CreationClassName".to_owned(), SYSTEM_CLASS.to_owned()),
            ("Name".to_owned(), procfs::host_name()),
        ],
    }
}

const COMPUTER_SYSTEM: ClassSchema = ClassSchema::without_methods(
    SYSTEM_CLASS,
    NAMESPACE,
    &["CreationClassName", "Name"],
    &[],
    "CIM_System",
    &[
        ("Caption", "string"),
        ("CreationClassName", "string"),
        ("Dedicated", "uint16[]"),
        ("Description", "string"),
        ("ElementName", "string"),
        ("EnabledDefault", "uint16"),
        ("EnabledState", "uint16"),
        ("HealthState", "uint16"),
        ("IdentifyingDescriptions", "string[]"),
        ("InstallDate", "datetime"),
        ("Name", "string"),
        ("NameFormat", "string"),
        ("OperationalStatus", "uint16[]"),
        ("OtherDedicatedDescriptions", "string[]"),
        ("OtherEnabledState", "string"),
        ("OtherIdentifyingInfo", "string[]"),
        ("PowerManagementCapabilities", "uint16[]"),
        ("PrimaryOwnerContact", "string"),
        ("PrimaryOwnerName", "string"),
        ("RequestedState", "uint16"),
        ("ResetCapability", "uint16"),
        ("Roles", "string[]"),
        ("Status", "string"),
        ("StatusDescriptions", "string[]"),
        ("TimeOfLastStateChange", "datetime"),
    ],
);

impl Class for ComputerSystem {
    schema!(COMPUTER_SYSTEM);
    fn instances(&self, ctx: &Context<'_>, _: Option<&Filter>) -> Instances {
        let root = self.hardware.sysfs_root();
        let name = procfs::host_name();
        // DSP1052's identifying pairs: the SMBIOS UUID (root-only), the model, the serial
        // number (root-only), those the caller may see and the host has.
        let model = match (
            sysfs::dmi(root, "sys_vendor"),
            sysfs::dmi(root, "product_name"),
        ) {
            (Some(v), Some(p)) => Some(format!("{v} {p}")),
            (v, p) => v.or(p),
        };
        let pairs = [
            (
                "CIM:GUID",
                privileged_dmi(ctx, &self.hardware, "product_uuid"),
            ),
            ("CIM:Model", model),
            (
                "CIM:Tag",
                privileged_dmi(ctx, &self.hardware, "product_serial"),
            ),
        ];
        let (descriptions, values): (Vec<&str>, Vec<String>) =
            pairs.into_iter().filter_map(|(d, v)| Some((d, v?))).unzip();
        Ok(vec![Instance::new(SYSTEM_CLASS, NAMESPACE)
            .with("Caption", name.clone())
            .with_key("CreationClassName", SYSTEM_CLASS)
            // 0: Not Dedicated (a general-purpose host).
            .with("Dedicated", vec![0u16])
            .with("ElementName", name.clone())
            .with("EnabledState", 2u16)
            .with("IdentifyingDescriptions", descriptions)
            .with_key("Name", name)
            .with("NameFormat", "Other")
            .with("OtherIdentifyingInfo", values)])
    }
}

hardware_class! {
    /// `CIM_Processor` (root/hardware): the processor packages Win32_Processor serves, in DMTF's
    /// terms; keyed as every logical device of the system. Family is SMBIOS type 4's.
    Processor
}

/// The SMBIOS family of the package `CPU<n>`: the n-th populated socket in table order, as the
/// firmware numbers its packages; 2 (Unknown) without a table or such a socket.
fn processor_family(device_id: &str, sockets: &[ProcessorSocket]) -> u16 {
    device_id
        .strip_prefix("CPU")
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| sockets.iter().filter(|s| s.populated).nth(n))
        .map_or(2, |s| s.family)
}

const PROCESSOR_PROPERTIES: [Property; 34] = merged(
    LOGICAL_DEVICE,
    &[
        ("AddressWidth", "uint16"),
        ("CPUStatus", "uint16"),
        ("CurrentClockSpeed", "uint32"),
        ("DataWidth", "uint16"),
        ("ElementName", "string"),
        ("EnabledState", "uint16"),
        ("Family", "uint16"),
        ("LoadPercentage", "uint16"),
        ("MaxClockSpeed", "uint32"),
        ("NumberOfEnabledCores", "uint16"),
        ("OtherFamilyDescription", "string"),
        ("Role", "string"),
        ("Stepping", "string"),
        ("UniqueId", "string"),
        ("UpgradeMethod", "uint16"),
    ],
);

const PROCESSOR: ClassSchema =
    hardware::logical_device("CIM_Processor", "CIM_LogicalDevice", &PROCESSOR_PROPERTIES);

impl Class for Processor {
    schema!(PROCESSOR);
    fn instances(&self, ctx: &Context<'_>, filter: Option<&Filter>) -> Instances {
        let system = procfs::host_name();
        let sockets = self.hardware.smbios().processors;
        let copy = |from: &Instance, name: &str| from.get(name).cloned().unwrap_or(Value::Null);
        Ok(system::Processor::unsampled()
            .instances(ctx, filter)?
            .iter()
            .map(|w| {
                Instance::new(self.name(), NAMESPACE)
                    .with("AddressWidth", copy(w, "AddressWidth"))
                    .with("Caption", copy(w, "Name"))
                    // 1: CPU Enabled.
                    .with("CPUStatus", 1u16)
                    .with_key("CreationClassName", self.name())
                    .with("CurrentClockSpeed", copy(w, "CurrentClockSpeed"))
                    .with("DataWidth", copy(w, "DataWidth"))
                    .with_key("DeviceID", copy(w, "DeviceID"))
                    .with("ElementName", copy(w, "Name"))
                    .with("EnabledState", 2u16)
                    // CIM's value map of Family is SMBIOS' processor family.
                    .with(
                        "Family",
                        processor_family(&copy(w, "DeviceID").to_text(), &sockets),
                    )
                    .with("MaxClockSpeed", copy(w, "MaxClockSpeed"))
                    .with("Name", copy(w, "Name"))
                    .with("NumberOfEnabledCores", copy(w, "NumberOfCores"))
                    .with_key("SystemCreationClassName", SYSTEM_CLASS)
                    .with_key("SystemName", system.clone())
            })
            .collect())
    }
}

hardware_class! {
    /// `CIM_PhysicalMemory` (root/hardware): the memory modules of SMBIOS type 17, empty sockets
    /// left out, keyed by CreationClassName and a Tag numbering them in table order as Windows'
    /// Win32_PhysicalMemory does (`Physical Memory 0`; the locators are not unique on every board).
    PhysicalMemory
}

/// CIM_PhysicalMemory.MemoryType of SMBIOS' memory type: CIM's map is SMBIOS' with Unknown
/// and Other swapped, the asynchronous types shifted past CIM's own (Synchronous DRAM, Cache
/// DRAM, EDO), and from DDR3 on the same numbers.
fn memory_type(smbios: u8) -> u16 {
    match smbios {
        1 => 1,
        3 => 2,
        4..=0x13 => u16::from(smbios) + 2,
        // DDR2 FB-DIMM: FB-DIMM.
        0x14 => 23,
        0x18..=0x23 => u16::from(smbios),
        _ => 0,
    }
}

/// CIM_Chip.FormFactor of SMBIOS' form factor (DIMM 9 is CIM's 8, SODIMM 13 its 12).
fn form_factor(smbios: u8) -> u16 {
    match smbios {
        1 | 5 | 0x0B | 0x10 => 1, // Other, Chip, Row of chips, Die: Other
        3 => 7,                   // SIMM
        4 => 2,                   // SIP
        6 => 3,                   // DIP
        7 => 4,                   // ZIP
        8 => 6,                   // Proprietary Card: Proprietary
        9 | 0x0F => 8,            // DIMM, FB-DIMM: DIMM
        0x0A => 9,                // TSOP
        0x0C => 11,               // RIMM
        0x0D => 12,               // SODIMM
        0x0E => 13,               // SRIMM
        _ => 0,
    }
}

fn memory_instance(ctx: &Context<'_>, index: usize, m: &MemoryDevice) -> Instance {
    const CLASS: &str = "CIM_PhysicalMemory";
    let tag = format!("Physical Memory {index}");
    Instance::new(CLASS, NAMESPACE)
        .with("BankLabel", m.bank_locator.clone())
        .with("Capacity", m.size_bytes)
        .with("Caption", "Physical Memory")
        .with("ConfiguredMemoryClockSpeed", m.configured_speed)
        .with_key("CreationClassName", CLASS)
        .with("DataWidth", m.data_width)
        .with("DeviceLocator", m.locator.clone())
        .with("ElementName", tag.clone())
        .with("FormFactor", form_factor(m.form_factor))
        .with("Manufacturer", m.manufacturer.clone())
        .with("MaxMemorySpeed", m.speed)
        .with("MemoryType", memory_type(m.memory_type))
        .with("Name", "Physical Memory")
        .with("PartNumber", m.part_number.clone())
        // As the other serial numbers: the table is root-only in sysfs.
        .with(
            "SerialNumber",
            is_administrator(ctx)
                .then(|| m.serial_number.clone())
                .flatten(),
        )
        .with("Speed", m.speed)
        .with_key("Tag", tag)
        .with("TotalWidth", m.total_width)
}

const PHYSICAL_MEMORY: ClassSchema = ClassSchema::without_methods(
    "CIM_PhysicalMemory",
    NAMESPACE,
    &["CreationClassName", "Tag"],
    &[],
    "CIM_Chip",
    &[
        ("BankLabel", "string"),
        ("Capacity", "uint64"),
        ("Caption", "string"),
        ("ConfiguredMemoryClockSpeed", "uint32"),
        ("CreationClassName", "string"),
        ("DataWidth", "uint16"),
        ("Description", "string"),
        ("DeviceLocator", "string"),
        ("ElementName", "string"),
        ("FormFactor", "uint16"),
        ("HotSwappable", "boolean"),
        ("InstallDate", "datetime"),
        ("InterleavePosition", "uint32"),
        ("Manufacturer", "string"),
        ("MaxMemorySpeed", "uint32"),
        ("MemoryType", "uint16"),
        ("Model", "string"),
        ("Name", "string"),
        ("OtherIdentifyingInfo", "string"),
        ("PartNumber", "string"),
        ("PositionInRow", "uint32"),
        ("PoweredOn", "boolean"),
        ("Removable", "boolean"),
        ("Replaceable", "boolean"),
        ("SerialNumber", "string"),
        ("SKU", "string"),
        ("Speed", "uint32"),
        ("Status", "string"),
        ("Tag", "string"),
        ("TotalWidth", "uint16"),
        ("Version", "string"),
    ],
);

impl Class for PhysicalMemory {
    schema!(PHYSICAL_MEMORY);
    fn instances(&self, ctx: &Context<'_>, _: Option<&Filter>) -> Instances {
        Ok(self
            .hardware
            .smbios()
            .memory
            .iter()
            .enumerate()
            .map(|(i, m)| memory_instance(ctx, i, m))
            .collect())
    }
}

hardware_class! {
    /// `CIM_SystemDevice`: the computer system (GroupComponent) and each of its sensors,
    /// processors and memory modules (PartComponent).
    SystemDevice
}

const SYSTEM_DEVICE: ClassSchema = ClassSchema::association(
    "CIM_SystemDevice",
    NAMESPACE,
    "CIM_SystemComponent",
    &["GroupComponent", "PartComponent"],
    &[
        ("GroupComponent", "ref:CIM_System"),
        ("PartComponent", "ref:CIM_LogicalDevice"),
    ],
);

impl Class for SystemDevice {
    schema!(SYSTEM_DEVICE);
    fn instances(&self, ctx: &Context<'_>, _: Option<&Filter>) -> Instances {
        let system = system_reference();
        let mut parts = hardware::all_sensors(ctx, &self.hardware, false);
        parts.extend(Processor::new(self.hardware.clone()).instances(ctx, None)?);
        parts.extend(PhysicalMemory::new(self.hardware.clone()).instances(ctx, None)?);
        Ok(parts
            .iter()
            .map(|part| {
                Instance::new(self.name(), NAMESPACE)
                    .with_key("GroupComponent", system.clone())
                    .with_key("PartComponent", reference_to(part))
            })
            .collect())
    }
}

/// The processor package a kernel sensor measures, where the driver says: Intel's and AMD's
/// on-die sensors (`coretemp.N` is package N) and the thermal zones of the processor package.
/// On a host of one package every processor sensor is that package's.
fn measured_package(sensor: &SysfsSensor, packages: &[String]) -> Option<String> {
    const PROCESSOR_CHIPS: &[&str] = &["coretemp", "k10temp", "zenpower", "cpu_thermal"];
    const PROCESSOR_ZONES: &[&str] = &["x86_pkg_temp", "cpu-thermal", "cpu_thermal"];
    let by_chip =
        sensor.device_id.starts_with("hwmon:") && PROCESSOR_CHIPS.contains(&&*sensor.chip);
    let by_zone =
        sensor.device_id.starts_with("thermal:") && PROCESSOR_ZONES.contains(&&*sensor.chip);
    if !by_chip && !by_zone {
        return None;
    }
    let numbered = sensor
        .device
        .rsplit_once("coretemp.")
        .and_then(|(_, n)| n.parse::<u32>().ok())
        .map(|n| format!("CPU{n}"));
    match numbered {
        Some(id) => packages.contains(&id).then_some(id),
        None if packages.len() == 1 => packages.first().cloned(),
        None => None,
    }
}

/// IPMI's entity 3 (Processor, IPMI 2.0 table 43-13): the entity instance of a sensor of a
/// processor.
fn processor_entity(sensor: &wsman_ipmi::Sensor) -> Option<u8> {
    (sensor.entity_id == 0x03).then_some(sensor.entity_instance)
}

/// The processor entity instances of the BMC's sensors, in order: the n-th is package n, as
/// BMCs number their processors in socket order (from 0 or from 1, so by rank, not value).
fn bmc_package_numbers(sensors: &[wsman_ipmi::Sensor]) -> Vec<u8> {
    let mut instances: Vec<u8> = sensors.iter().filter_map(processor_entity).collect();
    instances.sort_unstable();
    instances.dedup();
    instances
}

/// The DeviceID of package `n`, when the host has it.
fn package_id(n: usize, packages: &[String]) -> Option<String> {
    let id = format!("CPU{n}");
    packages.contains(&id).then_some(id)
}

hardware_class! {
    /// `CIM_AssociatedSensor`: a sensor (Antecedent) and the CIM_Processor it measures
    /// (Dependent): the BMC's sensors of a processor entity, and the kernel's sensors whose driver
    /// says what they measure.
    AssociatedSensor
}

const ASSOCIATED_SENSOR: ClassSchema = ClassSchema::association(
    "CIM_AssociatedSensor",
    NAMESPACE,
    "CIM_Dependency",
    &["Antecedent", "Dependent"],
    &[
        ("Antecedent", "ref:CIM_Sensor"),
        ("Dependent", "ref:CIM_LogicalDevice"),
    ],
);

impl Class for AssociatedSensor {
    schema!(ASSOCIATED_SENSOR);
    fn instances(&self, ctx: &Context<'_>, _: Option<&Filter>) -> Instances {
        let processors = Processor::new(self.hardware.clone()).instances(ctx, None)?;
        let packages: Vec<String> = processors
            .iter()
            .filter_map(|p| p.get("DeviceID").map(Value::to_text))
            .collect();
        let system = procfs::host_name();
        let bmc_sensors = self.hardware.sensors(ctx);
        let instances = bmc_package_numbers(&bmc_sensors);
        let ipmi = bmc_sensors.iter().filter_map(|s| {
            let package = instances
                .iter()
                .position(|i| Some(*i) == processor_entity(s))?;
            Some((
                package_id(package, &packages)?,
                hardware::sensor_instance(s, &system),
            ))
        });
        let kernel = self.hardware.sysfs_sensors().into_iter().filter_map(|s| {
            Some((
                measured_package(&s, &packages)?,
                hardware::sysfs_sensor_instance(&s, &system),
            ))
        });
        Ok(ipmi
            .chain(kernel)
            .filter_map(|(package, sensor)| {
                let processor = processors
                    .iter()
                    .find(|p| p.get("DeviceID").map(Value::to_text).as_deref() == Some(&package))?;
                Some(
                    Instance::new(self.name(), NAMESPACE)
                        .with_key("Antecedent", reference_to(&sensor))
                        .with_key("Dependent", reference_to(processor)),
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smbios_chassis_types_become_cim_package_types() {
        assert_eq!(package_type(2), 0);
        assert_eq!(package_type(3), 3);
        assert_eq!(package_type(23), 23);
        assert_eq!(package_type(35), 1);
    }

    #[test]
    fn smbios_memory_types_become_cim_memory_types() {
        assert_eq!(memory_type(0x02), 0); // Unknown
        assert_eq!(memory_type(0x03), 2); // DRAM
        assert_eq!(memory_type(0x0F), 17); // SDRAM
        assert_eq!(memory_type(0x12), 20); // DDR
        assert_eq!(memory_type(0x13), 21); // DDR2
        assert_eq!(memory_type(0x18), 24); // DDR3
        assert_eq!(memory_type(0x1A), 26); // DDR4
        assert_eq!(memory_type(0x22), 34); // DDR5
    }

    #[test]
    fn the_nth_populated_socket_is_package_n() {
        let socket = |family, populated| ProcessorSocket {
            handle: 0,
            socket: None,
            family,
            populated,
        };
        let sockets = [socket(179, true), socket(2, false), socket(107, true)];
        assert_eq!(processor_family("CPU0", &sockets), 179);
        assert_eq!(processor_family("CPU1", &sockets), 107);
        assert_eq!(processor_family("CPU2", &sockets), 2);
        assert_eq!(processor_family("bogus", &sockets), 2);
    }
}
