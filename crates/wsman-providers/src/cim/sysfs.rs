//! Readers of the kernel's hardware view in sysfs: hwmon chips (`class/hwmon`), thermal zones
//! (`class/thermal`) and the DMI identity (`class/dmi/id`), all under a root given by the
//! caller (`/sys` live), so tests can point them at a tree recorded from a real machine.
//!
//! Every read is bounded: at most 256 (`MAX_CHIPS`) chips or zones, 4,096 (`MAX_ENTRIES`) attributes of
//! one directory, and 4 KiB (`MAX_VALUE`) bytes of one attribute. Attributes that cannot be read
//! (absent, root-only, a driver returning an error) are left out rather than failing the list.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use wsman_ipmi::Thresholds;

/// Most hwmon chips or thermal zones read.
const MAX_CHIPS: usize = 256;
/// Most directory entries looked at in one chip or zone directory.
const MAX_ENTRIES: usize = 4096;
/// Longest attribute read: sysfs attributes are at most a page.
const MAX_VALUE: u64 = 4096;

/// At most `limit` bytes of a sysfs file (an attribute, the SMBIOS table); `None` when it is
/// absent or unreadable.
pub fn read_bounded(path: &Path, limit: u64) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(limit)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// One sysfs attribute as trimmed text; `None` when absent, unreadable or empty.
pub fn attribute(path: &Path) -> Option<String> {
    let bytes = read_bounded(path, MAX_VALUE)?;
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn number(path: &Path) -> Option<i64> {
    attribute(path)?.parse().ok()
}

/// What a hwmon input or thermal zone measures, with its sysfs unit as DMTF codes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// `temp*`: millidegrees Celsius.
    Temperature,
    /// `in*`: millivolts.
    Voltage,
    /// `fan*`: revolutions per minute.
    Fan,
    /// `power*`: microwatts.
    Power,
    /// `curr*`: milliamperes.
    Current,
}

impl Quantity {
    /// The attribute prefix hwmon uses (`temp` of `temp1_input`).
    pub fn prefix(self) -> &'static str {
        match self {
            Quantity::Temperature => "temp",
            Quantity::Voltage => "in",
            Quantity::Fan => "fan",
            Quantity::Power => "power",
            Quantity::Current => "curr",
        }
    }

    fn from_prefix(prefix: &str) -> Option<Self> {
        Some(match prefix {
            "temp" => Quantity::Temperature,
            "in" => Quantity::Voltage,
            "fan" => Quantity::Fan,
            "power" => Quantity::Power,
            "curr" => Quantity::Current,
            _ => return None,
        })
    }

    /// DSP1009's SensorType: 2 Temperature, 3 Voltage, 4 Current, 5 Tachometer, 13 Power
    /// Consumption.
    pub fn sensor_type(self) -> u16 {
        match self {
            Quantity::Temperature => 2,
            Quantity::Voltage => 3,
            Quantity::Current => 4,
            Quantity::Fan => 5,
            Quantity::Power => 13,
        }
    }

    /// CIM_NumericSensor's BaseUnits (2 Degrees C, 5 Volts, 6 Amps, 7 Watts, 19 RPM) and the
    /// UnitModifier of sysfs' integer unit, so the raw sysfs number is CurrentReading as is.
    pub fn units(self) -> (u16, i32) {
        match self {
            Quantity::Temperature => (2, -3),
            Quantity::Voltage => (5, -3),
            Quantity::Current => (6, -3),
            Quantity::Power => (7, -6),
            Quantity::Fan => (19, 0),
        }
    }
}

/// One numeric sensor read from sysfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysfsSensor {
    /// Stable across boots: the chip's device path and name with the input (`hwmon:
    /// platform/coretemp.0:coretemp:temp1`), or the zone (`thermal:thermal_zone0`).
    pub device_id: String,
    /// The label, else the chip's name and the input (`coretemp temp1`), or the zone's type.
    pub name: String,
    /// The chip's driver name (`coretemp`) or the zone's type (`x86_pkg_temp`).
    pub chip: String,
    /// The chip's device path under `devices/` (`platform/coretemp.0`); empty for zones.
    pub device: String,
    pub quantity: Quantity,
    pub reading: Option<i64>,
    pub thresholds: Thresholds,
}

/// The directory a chip's attributes are in: the hwmon directory itself, or, for drivers of
/// the older style (applesmc), its `device` directory; `None` without a `name` in either.
fn chip_directory(hwmon: &Path) -> Option<(PathBuf, String)> {
    [hwmon.to_path_buf(), hwmon.join("device")]
        .into_iter()
        .find_map(|dir| attribute(&dir.join("name")).map(|name| (dir, name)))
}

/// Where a chip's device is in the device tree, relative to `devices/` (`platform/coretemp.0`),
/// which unlike the hwmonN number is the same on every boot; the hwmon directory's own name
/// when it has no device.
fn device_path(root: &Path, hwmon: &Path) -> String {
    let devices = root.join("devices").canonicalize().ok();
    let device = hwmon.join("device").canonicalize().ok();
    match (devices, device) {
        (Some(devices), Some(device)) => match device.strip_prefix(&devices) {
            Ok(relative) => relative.to_string_lossy().into_owned(),
            Err(_) => device.to_string_lossy().into_owned(),
        },
        _ => hwmon
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// The entries of a directory, sorted, at most `MAX_ENTRIES`.
fn entries(dir: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = read
        .take(MAX_ENTRIES)
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by_key(|n| natural(n));
    names
}

/// Sort key putting `hwmon2` before `hwmon10`.
fn natural(name: &str) -> (String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, number) = name.split_at(name.len() - digits);
    (stem.to_owned(), number.parse().unwrap_or(0))
}

/// The inputs of a chip's directory: `(quantity, index)` of every `<prefix><n>_input`.
fn inputs(names: &[String]) -> Vec<(Quantity, String)> {
    names
        .iter()
        .filter_map(|n| {
            let channel = n.strip_suffix("_input")?;
            let digits = channel.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            let prefix = &channel[..channel.len() - digits.len()];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((Quantity::from_prefix(prefix)?, channel.to_owned()))
        })
        .collect()
}

/// Every hwmon input under `root/class/hwmon`, chips in number order.
pub fn hwmon_sensors(root: &Path) -> Vec<SysfsSensor> {
    let class = root.join("class/hwmon");
    let mut out = Vec::new();
    for hwmon in entries(&class).into_iter().take(MAX_CHIPS) {
        let hwmon = class.join(hwmon);
        let Some((dir, chip)) = chip_directory(&hwmon) else {
            continue;
        };
        let device = device_path(root, &hwmon);
        let names = entries(&dir);
        for (quantity, channel) in inputs(&names) {
            let at = |suffix: &str| number(&dir.join(format!("{channel}_{suffix}")));
            let thresholds = match quantity {
                // hwmon's temperature limits: max is the warning, crit the alarm, emergency
                // the shutdown point.
                Quantity::Temperature => Thresholds {
                    lower_non_critical: at("min"),
                    lower_critical: at("lcrit"),
                    upper_non_critical: at("max"),
                    upper_critical: at("crit"),
                    upper_non_recoverable: at("emergency"),
                    ..Thresholds::default()
                },
                Quantity::Fan => Thresholds {
                    lower_non_critical: at("min"),
                    upper_non_critical: at("max"),
                    ..Thresholds::default()
                },
                Quantity::Voltage | Quantity::Current | Quantity::Power => Thresholds {
                    lower_non_critical: at("min"),
                    lower_critical: at("lcrit"),
                    upper_non_critical: at("max"),
                    upper_critical: at("crit"),
                    ..Thresholds::default()
                },
            };
            out.push(SysfsSensor {
                device_id: format!("hwmon:{device}:{chip}:{channel}"),
                name: attribute(&dir.join(format!("{channel}_label")))
                    .unwrap_or_else(|| format!("{chip} {channel}")),
                chip: chip.clone(),
                device: device.clone(),
                quantity,
                reading: at("input"),
                thresholds,
            });
        }
    }
    out
}

/// Every thermal zone under `root/class/thermal`, with its trip points as thresholds: the
/// critical trip (the kernel shuts down) is the fatal one, the hot trip the critical one, and
/// the lowest passive trip (where throttling starts) the non-critical one.
pub fn thermal_zones(root: &Path) -> Vec<SysfsSensor> {
    let class = root.join("class/thermal");
    entries(&class)
        .into_iter()
        .filter(|n| n.starts_with("thermal_zone"))
        .take(MAX_CHIPS)
        .filter_map(|zone| {
            let dir = class.join(&zone);
            let kind = attribute(&dir.join("type"))?;
            let mut thresholds = Thresholds::default();
            let mut trips: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for name in entries(&dir) {
                let Some(trip) = name
                    .strip_prefix("trip_point_")
                    .and_then(|t| t.strip_suffix("_type"))
                else {
                    continue;
                };
                let (Some(trip_type), Some(temp)) = (
                    attribute(&dir.join(&name)),
                    number(&dir.join(format!("trip_point_{trip}_temp"))),
                ) else {
                    continue;
                };
                trips.entry(trip_type).or_default().push(temp);
            }
            let lowest = |t: &str| trips.get(t).and_then(|v| v.iter().min().copied());
            thresholds.upper_non_recoverable = lowest("critical");
            thresholds.upper_critical = lowest("hot");
            thresholds.upper_non_critical = lowest("passive");
            Some(SysfsSensor {
                device_id: format!("thermal:{zone}"),
                name: format!("{kind} ({zone})"),
                chip: kind,
                device: String::new(),
                quantity: Quantity::Temperature,
                reading: number(&dir.join("temp")),
                thresholds,
            })
        })
        .collect()
}

/// One DMI identity attribute of `root/class/dmi/id` (`chassis_serial`, ...).
pub fn dmi(root: &Path, name: &str) -> Option<String> {
    attribute(&root.join("class/dmi/id").join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_take_only_known_prefixes_with_a_number() {
        let names: Vec<String> = [
            "temp1_input",
            "temp1_max",
            "in0_input",
            "bogus1_input",
            "fan_input",
            "fan2_input",
            "power1_input",
            "curr3_input",
            "temp1x_input",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let got: Vec<(Quantity, String)> = inputs(&names);
        assert_eq!(
            got,
            vec![
                (Quantity::Temperature, "temp1".to_owned()),
                (Quantity::Voltage, "in0".to_owned()),
                (Quantity::Fan, "fan2".to_owned()),
                (Quantity::Power, "power1".to_owned()),
                (Quantity::Current, "curr3".to_owned()),
            ]
        );
    }

    #[test]
    fn natural_order_puts_ten_after_two() {
        let mut v = vec!["hwmon10", "hwmon2", "hwmon1"];
        v.sort_by_key(|n| natural(n));
        assert_eq!(v, ["hwmon1", "hwmon2", "hwmon10"]);
    }

    #[test]
    fn a_missing_root_reads_nothing() {
        let root = Path::new("/nonexistent-sysfs-root");
        assert!(hwmon_sensors(root).is_empty());
        assert!(thermal_zones(root).is_empty());
        assert_eq!(dmi(root, "sys_vendor"), None);
    }
}
