//! Win32_ComputerSystem, Win32_Processor, Win32_PageFileUsage and Win32_UTCTime: the machine,
//! its processor packages, its swap areas and its clock.

use std::collections::BTreeMap;

use wsman_proto::cim::{CimDateTime, Instance, Value};

use super::procfs;
use super::schema::{merged, ClassSchema, Declaration, Property, LOGICAL_DEVICE};
use super::{Class, Instances};
use crate::{Context, Filter};

/// The processors of /proc/cpuinfo: one map of `key: value` per logical processor.
fn cpuinfo() -> Vec<BTreeMap<String, String>> {
    let text = procfs::read_text("/proc/cpuinfo").unwrap_or_default();
    text.split("\n\n")
        .filter(|block| block.contains("processor"))
        .map(|block| {
            block
                .lines()
                .filter_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    Some((k.trim().to_owned(), v.trim().to_owned()))
                })
                .collect()
        })
        .collect()
}

/// The physical package of a logical processor (0 where the kernel does not say).
fn package(cpu: &BTreeMap<String, String>) -> u32 {
    cpu.get("physical id")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Whether an answer to `filter` can show `property`: every answer but a query that names
/// neither it nor `*`.
fn wants(filter: Option<&Filter>, property: &str) -> bool {
    match filter {
        Some(Filter::Query(query)) => {
            query.properties.is_none()
                || query
                    .property_names()
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(property))
        }
        _ => true,
    }
}

fn dmi(name: &str) -> Option<String> {
    procfs::read_text(format!("/sys/class/dmi/id/{name}"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn mem_total_kb() -> Option<u64> {
    procfs::field(&procfs::read_text("/proc/meminfo").ok()?, "MemTotal")
}

/// `Win32_ComputerSystem`: one instance keyed by Name (the host name). TotalPhysicalMemory is
/// in bytes, as in WMI.
pub struct ComputerSystem;

const COMPUTER_SYSTEM: ClassSchema = ClassSchema::without_methods(
    "Win32_ComputerSystem",
    "root/cimv2",
    &["Name"],
    &[],
    "CIM_UnitaryComputerSystem",
    &[
        ("AdminPasswordStatus", "uint16"),
        ("AutomaticManagedPagefile", "boolean"),
        ("AutomaticResetBootOption", "boolean"),
        ("AutomaticResetCapability", "boolean"),
        ("BootOptionOnLimit", "uint16"),
        ("BootOptionOnWatchDog", "uint16"),
        ("BootROMSupported", "boolean"),
        ("BootStatus", "uint16[]"),
        ("BootupState", "string"),
        ("Caption", "string"),
        ("ChassisBootupState", "uint16"),
        ("ChassisSKUNumber", "string"),
        ("CreationClassName", "string"),
        ("CurrentTimeZone", "sint16"),
        ("DaylightInEffect", "boolean"),
        ("Description", "string"),
        ("DNSHostName", "string"),
        ("Domain", "string"),
        ("DomainRole", "uint16"),
        ("EnableDaylightSavingsTime", "boolean"),
        ("FrontPanelResetStatus", "uint16"),
        ("HypervisorPresent", "boolean"),
        ("InfraredSupported", "boolean"),
        ("InitialLoadInfo", "string[]"),
        ("InstallDate", "datetime"),
        ("KeyboardPasswordStatus", "uint16"),
        ("LastLoadInfo", "string"),
        ("Manufacturer", "string"),
        ("Model", "string"),
        ("Name", "string"),
        ("NameFormat", "string"),
        ("NetworkServerModeEnabled", "boolean"),
        ("NumberOfLogicalProcessors", "uint32"),
        ("NumberOfProcessors", "uint32"),
        ("OEMLogoBitmap", "uint8[]"),
        ("OEMStringArray", "string[]"),
        ("PartOfDomain", "boolean"),
        ("PauseAfterReset", "sint64"),
        ("PCSystemType", "uint16"),
        ("PCSystemTypeEx", "uint16"),
        ("PowerManagementCapabilities", "uint16[]"),
        ("PowerManagementSupported", "boolean"),
        ("PowerOnPasswordStatus", "uint16"),
        ("PowerState", "uint16"),
        ("PowerSupplyState", "uint16"),
        ("PrimaryOwnerContact", "string"),
        ("PrimaryOwnerName", "string"),
        ("ResetCapability", "uint16"),
        ("ResetCount", "sint16"),
        ("ResetLimit", "sint16"),
        ("Roles", "string[]"),
        ("Status", "string"),
        ("SupportContactDescription", "string[]"),
        ("SystemFamily", "string"),
        ("SystemSKUNumber", "string"),
        ("SystemStartupDelay", "uint16"),
        ("SystemStartupOptions", "string[]"),
        ("SystemStartupSetting", "uint8"),
        ("SystemType", "string"),
        ("ThermalState", "uint16"),
        ("TotalPhysicalMemory", "uint64"),
        ("UserName", "string"),
        ("WakeUpType", "uint16"),
        ("Workgroup", "string"),
    ],
);

impl Class for ComputerSystem {
    schema!(COMPUTER_SYSTEM);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let host = procfs::host_name();
        let cpus = cpuinfo();
        let mut packages: Vec<u32> = cpus.iter().map(package).collect();
        packages.sort_unstable();
        packages.dedup();
        let domain = procfs::read_text("/proc/sys/kernel/domainname")
            .map(|d| d.trim().to_owned())
            .ok()
            .filter(|d| !d.is_empty() && d != "(none)");
        let system_type = match std::env::consts::ARCH {
            "x86_64" => "x64-based PC",
            "aarch64" => "ARM64-based PC",
            "x86" => "X86-based PC",
            _ => "Unknown",
        };
        let instance = Instance::new(self.name(), self.namespace())
            .with("Caption", host.clone())
            .with("CreationClassName", self.name())
            .with("DNSHostName", host.clone())
            .with(
                "Domain",
                domain.clone().unwrap_or_else(|| "WORKGROUP".to_owned()),
            )
            .with("Manufacturer", dmi("sys_vendor"))
            .with("Model", dmi("product_name"))
            .with_key("Name", host)
            .with("NumberOfLogicalProcessors", cpus.len() as u64)
            .with("NumberOfProcessors", packages.len() as u64)
            .with("PartOfDomain", domain.is_some())
            .with("Status", "OK")
            .with("SystemType", system_type)
            .with("TotalPhysicalMemory", mem_total_kb().map(|k| k * 1024))
            .with(
                "Workgroup",
                if domain.is_some() {
                    Value::Null
                } else {
                    Value::from("WORKGROUP")
                },
            );
        Ok(vec![instance])
    }
}

/// `Win32_Processor`: one instance per physical package, keyed by DeviceID (`CPU0`, ...).
/// Clock speeds are in MHz; Architecture and the widths use WMI's codes and bits;
/// LoadPercentage is the package's busy share over the sampler's window (Windows averages it
/// over the last second).
pub struct Processor {
    sampler: Option<std::sync::Arc<super::perf::CpuSampler>>,
}

impl Processor {
    pub fn new(sampler: std::sync::Arc<super::perf::CpuSampler>) -> Self {
        Self {
            sampler: Some(sampler),
        }
    }

    /// Without a sampler (LoadPercentage nil): for classes built from this one that do not
    /// show the load (CIM_Processor).
    pub fn unsampled() -> Self {
        Self { sampler: None }
    }
}

const PROCESSOR_PROPERTIES: [Property; 57] = merged(
    LOGICAL_DEVICE,
    &[
        ("AddressWidth", "uint16"),
        ("Architecture", "uint16"),
        ("AssetTag", "string"),
        ("Characteristics", "uint32"),
        ("CpuStatus", "uint16"),
        ("CurrentClockSpeed", "uint32"),
        ("CurrentVoltage", "uint16"),
        ("DataWidth", "uint16"),
        ("ExtClock", "uint32"),
        ("Family", "uint16"),
        ("L2CacheSize", "uint32"),
        ("L2CacheSpeed", "uint32"),
        ("L3CacheSize", "uint32"),
        ("L3CacheSpeed", "uint32"),
        ("Level", "uint16"),
        ("LoadPercentage", "uint16"),
        ("Manufacturer", "string"),
        ("MaxClockSpeed", "uint32"),
        ("NumberOfCores", "uint32"),
        ("NumberOfEnabledCore", "uint32"),
        ("NumberOfLogicalProcessors", "uint32"),
        ("OtherFamilyDescription", "string"),
        ("PartNumber", "string"),
        ("ProcessorId", "string"),
        ("ProcessorType", "uint16"),
        ("Revision", "uint16"),
        ("Role", "string"),
        ("SecondLevelAddressTranslationExtensions", "boolean"),
        ("SerialNumber", "string"),
        ("SocketDesignation", "string"),
        ("Stepping", "string"),
        ("ThreadCount", "uint32"),
        ("UniqueId", "string"),
        ("UpgradeMethod", "uint16"),
        ("Version", "string"),
        ("VirtualizationFirmwareEnabled", "boolean"),
        ("VMMonitorModeExtensions", "boolean"),
        ("VoltageCaps", "uint32"),
    ],
);

const PROCESSOR: ClassSchema = ClassSchema::without_methods(
    "Win32_Processor",
    "root/cimv2",
    &["DeviceID"],
    &[],
    "CIM_Processor",
    &PROCESSOR_PROPERTIES,
);

impl Class for Processor {
    schema!(PROCESSOR);
    fn instances(&self, _: &Context<'_>, filter: Option<&Filter>) -> Instances {
        // The load needs a window of two samples: read only when the query can use it.
        let window = self
            .sampler
            .as_ref()
            .filter(|_| wants(filter, "LoadPercentage"))
            .map(|sampler| sampler.window())
            .and_then(|w| {
                w.map_err(|fault| tracing::debug!(?fault, "LoadPercentage not sampled"))
                    .ok()
            });
        let cpus = cpuinfo();
        let mut by_package: BTreeMap<u32, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
        for cpu in &cpus {
            by_package.entry(package(cpu)).or_default().push(cpu);
        }
        // WMI's Architecture codes: 0 x86, 5 ARM, 9 x64, 12 ARM64.
        let (architecture, width) = match std::env::consts::ARCH {
            "x86_64" => (9u16, 64u16),
            "aarch64" => (12, 64),
            "arm" => (5, 32),
            _ => (0, 32),
        };
        let max_mhz = procfs::read_text("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
            .ok()
            .and_then(|k| k.trim().parse::<u64>().ok())
            .map(|khz| khz / 1000);
        Ok(by_package
            .iter()
            .map(|(id, logical)| {
                let first = logical[0];
                let mhz = first
                    .get("cpu MHz")
                    .and_then(|m| m.parse::<f64>().ok())
                    .map(|m| m.round() as u64);
                let cores = first
                    .get("cpu cores")
                    .and_then(|c| c.parse::<u64>().ok())
                    .unwrap_or(logical.len() as u64);
                let name = first.get("model name").cloned();
                Instance::new(self.name(), self.namespace())
                    .with("AddressWidth", width)
                    .with("Architecture", architecture)
                    .with("Caption", name.clone())
                    .with("CreationClassName", self.name())
                    .with("CurrentClockSpeed", mhz)
                    .with("DataWidth", width)
                    .with_key("DeviceID", format!("CPU{id}"))
                    .with(
                        "LoadPercentage",
                        window.as_ref().and_then(|w| {
                            w.load_percent(
                                logical
                                    .iter()
                                    .filter_map(|c| c.get("processor").map(String::as_str)),
                            )
                        }),
                    )
                    .with("Manufacturer", first.get("vendor_id").cloned())
                    .with("MaxClockSpeed", max_mhz.or(mhz))
                    .with("Name", name)
                    .with("NumberOfCores", cores)
                    .with("NumberOfLogicalProcessors", logical.len() as u64)
                    .with("SocketDesignation", format!("CPU{id}"))
                    .with("Status", "OK")
            })
            .collect())
    }
}

/// `Win32_PageFileUsage`: one instance per swap area of /proc/swaps, keyed by Name (its
/// path). Sizes are in MB, as in WMI.
pub struct PageFileUsage;

const PAGE_FILE_USAGE: ClassSchema = ClassSchema::without_methods(
    "Win32_PageFileUsage",
    "root/cimv2",
    &["Name"],
    &[],
    "CIM_LogicalElement",
    &[
        ("AllocatedBaseSize", "uint32"),
        ("Caption", "string"),
        ("CurrentUsage", "uint32"),
        ("Description", "string"),
        ("InstallDate", "datetime"),
        ("Name", "string"),
        ("PeakUsage", "uint32"),
        ("Status", "string"),
        ("TempPageFile", "boolean"),
    ],
);

impl Class for PageFileUsage {
    schema!(PAGE_FILE_USAGE);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let swaps = procfs::read_required("/proc/swaps")?;
        Ok(swaps
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut f = line.split_whitespace();
                // Spaces in a path are written as \040 by the kernel.
                let name = f.next()?.replace("\\040", " ");
                let size_kb: u64 = f.nth(1)?.parse().ok()?;
                let used_kb: u64 = f.next()?.parse().ok()?;
                Some(
                    Instance::new(self.name(), self.namespace())
                        .with("AllocatedBaseSize", size_kb / 1024)
                        .with("Caption", name.clone())
                        .with("CurrentUsage", used_kb / 1024)
                        .with("Description", name.clone())
                        .with_key("Name", name)
                        // The kernel keeps no peak per swap area.
                        .with("PeakUsage", Value::Null)
                        .with("Status", Value::Null),
                )
            })
            .collect())
    }
}

/// `Win32_UTCTime`: the clock now, in UTC, as a singleton (no keys).
pub struct UtcTime;

/// Win32_CurrentTime's properties (its published syntax carries `[Abstract, Singleton]`), which Win32_UTCTime and Win32_LocalTime add nothing to.
const CURRENT_TIME_PROPERTIES: &[(&str, &str)] = &[
    ("Day", "uint32"),
    ("DayOfWeek", "uint32"),
    ("Hour", "uint32"),
    ("Milliseconds", "uint32"),
    ("Minute", "uint32"),
    ("Month", "uint32"),
    ("Quarter", "uint32"),
    ("Second", "uint32"),
    ("WeekInMonth", "uint32"),
    ("Year", "uint32"),
];

/// A clock: a singleton (no keys) of root/cimv2 declared as Win32_CurrentTime, which both
/// clocks derive from and add nothing to.
const fn clock(name: &'static str) -> ClassSchema {
    ClassSchema {
        name,
        namespace: "root/cimv2",
        keys: &[],
        singleton: true,
        references: &[],
        declaration: Declaration {
            superclass: Some("Win32_CurrentTime"),
            properties: CURRENT_TIME_PROPERTIES,
            methods: &[],
        },
    }
}

/// Microseconds since the Unix epoch now (0 for a clock set before it).
fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

const UTC_TIME: ClassSchema = clock("Win32_UTCTime");

impl Class for UtcTime {
    schema!(UTC_TIME);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let now = now_micros();
        Ok(vec![utc_time(self.name(), self.namespace(), now)])
    }
}

/// Win32_LocalTime: the clock in the host's time zone (`TZ`, else `/etc/localtime`).
pub struct LocalTime;

const LOCAL_TIME: ClassSchema = clock("Win32_LocalTime");

impl Class for LocalTime {
    schema!(LOCAL_TIME);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let now = now_micros();
        let local = now + i64::from(local_offset_minutes(now)) * 60_000_000;
        Ok(vec![utc_time(self.name(), self.namespace(), local)])
    }
}

/// Minutes the host's time zone is ahead of UTC at the instant `micros` after the epoch (0
/// when the zone cannot be read: the host then keeps UTC, as the C library would).
pub fn local_offset_minutes(micros: i64) -> i16 {
    let zone = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_microsecond(micros).map_or(0, |at| {
        // Offsets stay within ±26 hours, which i16 minutes hold.
        i16::try_from(zone.to_offset(at).seconds() / 60).unwrap_or(0)
    })
}

/// The Win32_UTCTime instance of the instant `micros` after the epoch.
fn utc_time(class: &str, namespace: &str, micros: i64) -> Instance {
    // "YYYY-MM-DDTHH:MM:SS.ffffffZ"
    let xs = CimDateTime::utc(micros).to_xs();
    let num =
        |r: std::ops::Range<usize>| xs.get(r).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let days = micros.div_euclid(86_400_000_000);
    // 1970-01-01 was a Thursday; WMI counts Sunday as 0.
    let day_of_week = (days + 4).rem_euclid(7) as u32;
    // The week of the month, weeks starting on Sunday, as WMI counts them.
    let first_weekday = (day_of_week + 35 - (day - 1) % 7) % 7;
    let week_in_month = (day - 1 + first_weekday) / 7 + 1;
    Instance::new(class, namespace)
        .with("Day", day)
        .with("DayOfWeek", day_of_week)
        .with("Hour", num(11..13))
        .with("Milliseconds", Value::Null)
        .with("Minute", num(14..16))
        .with("Month", month)
        .with("Quarter", (month - 1) / 3 + 1)
        .with("Second", num(17..19))
        .with("WeekInMonth", week_in_month)
        .with("Year", year)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_fields_of_a_known_instant() {
        // 2024-02-29T13:14:15Z, a Thursday in the fifth week of February 2024.
        let i = utc_time("Win32_UTCTime", "root/cimv2", 1_709_212_455_000_000);
        let get = |n: &str| i.get(n).map(Value::to_text).unwrap_or_default();
        assert_eq!(get("Year"), "2024");
        assert_eq!(get("Month"), "2");
        assert_eq!(get("Day"), "29");
        assert_eq!(get("Hour"), "13");
        assert_eq!(get("Minute"), "14");
        assert_eq!(get("Second"), "15");
        assert_eq!(get("DayOfWeek"), "4");
        assert_eq!(get("Quarter"), "1");
        assert_eq!(get("WeekInMonth"), "5");
    }
}
