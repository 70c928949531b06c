//! root/hardware from the BMC (`wsman-ipmi`): CIM_NumericSensor and CIM_Sensor (IPMI
//! threshold and discrete sensors), CIM_RecordLog with ClearLog and CIM_LogRecord (the SEL),
//! and the association CIM_LogManagesRecord between them; beside the IPMI sensors, the
//! kernel's hwmon inputs and thermal zones (`sysfs`) as CIM_NumericSensor.
//!
//! Values follow DMTF's value maps (DSP1009 Sensors, DSP1010 Record Log): a reading is
//! `CurrentReading * 10^UnitModifier` in `BaseUnits`, so a 1.20 V sensor is 120 with
//! UnitModifier -2, exactly as the SDR's conversion gives it. A host without a BMC has no
//! instances of these classes; a BMC that fails is logged once per failure streak.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wsman_ipmi::{Bmc, Numeric, SensorKind, Thresholds};
use wsman_proto::cim::{CimDateTime, Instance, MethodInput, Value};
use wsman_proto::Fault;

use super::path_file::{PathFile, PathFileError};
use super::schema::{merged, ClassSchema, Declaration, Method, Property};
use super::sysfs::{self, SysfsSensor};
use super::{procfs, reference_to, Answer, Class, Instances};
use crate::faults::bmc_fault;
use crate::{Context, Filter};

pub(super) const NAMESPACE: &str = "root/hardware";
pub(super) const SYSTEM_CLASS: &str = "CIM_ComputerSystem";
const SEL_INSTANCE_ID: &str = "IPMI:SEL";
const SEL_NAME: &str = "IPMI SEL";

/// CIM_Log.ClearLog's return values (DSP1010).
mod return_value {
    pub(super) const COMPLETED: u32 = 0;
    pub(super) const FAILED: u32 = 4;
}

/// The live sysfs, where hwmon, thermal zones and DMI are read unless told otherwise.
pub const SYSFS: &str = "/sys";

/// `DIR/hardware.toml`: where the kernel's hardware view is (`sysfs_root = "/sys"`, the
/// default). Only tests and containers with a bind-mounted host sysfs need it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HardwareFile {
    sysfs_root: PathBuf,
}

/// `hardware.toml`: a root that is not an absolute directory is refused.
const HARDWARE_FILE: PathFile = PathFile {
    name: "hardware.toml",
    key: "sysfs_root",
    limit: 4096,
    wanted: "an absolute path to a directory",
    usable: |root| root.is_absolute() && root.is_dir(),
};

/// The sysfs root `config_dir/hardware.toml` names, `/sys` without the file. A file that
/// cannot be read or parsed, or a root that is not an absolute directory, is an error (the
/// daemon logs it and uses `/sys`).
pub fn sysfs_root(config_dir: &Path) -> Result<PathBuf, PathFileError> {
    HARDWARE_FILE.read(config_dir, SYSFS, |file: HardwareFile| file.sysfs_root)
}

/// The BMC these classes read (`None`: the host has none) and the sysfs root of the kernel's
/// sensors and DMI, shared by the classes.
pub struct Hardware {
    /// Replaced when `bmc.toml` is read again (SIGHUP); a request holds the one it started
    /// with.
    bmc: std::sync::RwLock<Option<Arc<Bmc>>>,
    sysfs_root: PathBuf,
    failing: AtomicBool,
    /// The last SDR walk and the request it was made for, so that the classes one request
    /// reads (an association and the sensors its references point at) share one walk.
    walk: Mutex<Option<SensorWalk>>,
}

/// One SDR walk with its readings, for the request of `message_id`.
struct SensorWalk {
    message_id: String,
    at: Instant,
    sensors: Vec<wsman_ipmi::Sensor>,
}

/// Longest a walk is reused, even by a request that repeats a MessageID: readings stay live.
const WALK_REUSE: Duration = Duration::from_secs(2);

impl Hardware {
    /// The classes over `bmc` and the sysfs at `sysfs_root` (`/sys` but in tests); `None` is
    /// logged once here, as the host having no BMC.
    pub fn new(bmc: Option<Bmc>, sysfs_root: PathBuf) -> Arc<Self> {
        if bmc.is_none() {
            tracing::info!(
                "no BMC (no bmc.toml, no /dev/ipmi0): the IPMI sensors and SEL are empty"
            );
        }
        Arc::new(Self {
            bmc: std::sync::RwLock::new(bmc.map(Arc::new)),
            sysfs_root,
            failing: AtomicBool::new(false),
            walk: Mutex::new(None),
        })
    }

    /// No BMC, silently, and the live sysfs (the BMC's classes are empty until one is given).
    pub fn none() -> Arc<Self> {
        Arc::new(Self {
            bmc: std::sync::RwLock::new(None),
            sysfs_root: PathBuf::from(SYSFS),
            failing: AtomicBool::new(false),
            walk: Mutex::new(None),
        })
    }

    /// Reads from `bmc` from now on (`bmc.toml` read again, on SIGHUP): the next request
    /// opens its session; the old BMC's session ends with the last request using it.
    pub fn set_bmc(&self, bmc: Option<Bmc>) {
        match &bmc {
            Some(bmc) => tracing::info!(target = ?bmc.config().target, "BMC (reloaded)"),
            None => tracing::info!("no BMC (reloaded): the IPMI sensors and SEL are empty"),
        }
        *self.bmc.write().unwrap_or_else(|e| e.into_inner()) = bmc.map(Arc::new);
        *self.walk.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.failing.store(false, Ordering::Relaxed);
    }

    /// The sysfs root the hwmon, thermal and DMI readers use.
    pub fn sysfs_root(&self) -> &Path {
        &self.sysfs_root
    }

    /// The SMBIOS table under the sysfs root, decoded (empty without one).
    pub(super) fn smbios(&self) -> super::smbios::Smbios {
        super::smbios::read(&self.sysfs_root)
    }

    /// The kernel's sensors: hwmon inputs, then thermal zones.
    pub(super) fn sysfs_sensors(&self) -> Vec<SysfsSensor> {
        let mut sensors = sysfs::hwmon_sensors(&self.sysfs_root);
        sensors.extend(sysfs::thermal_zones(&self.sysfs_root));
        sensors
    }

    /// Run `op` on the BMC; `Ok(None)` without a BMC. A failure is logged when it starts a
    /// streak, not on every request.
    fn read<T>(
        &self,
        op: impl FnOnce(&Bmc) -> Result<T, wsman_ipmi::Error>,
    ) -> Result<Option<T>, wsman_ipmi::Error> {
        let bmc = self.bmc.read().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(bmc) = bmc else {
            return Ok(None);
        };
        match op(&bmc) {
            Ok(v) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the BMC answers again");
                }
                Ok(Some(v))
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "BMC read failed");
                }
                Err(e)
            }
        }
    }

    /// The BMC's sensors, one SDR walk per request (by its MessageID, within
    /// [`WALK_REUSE`]); none without a BMC or when it does not answer.
    pub(super) fn sensors(&self, ctx: &Context<'_>) -> Vec<wsman_ipmi::Sensor> {
        let message_id = ctx.request.message_id.as_deref();
        let lock = || self.walk.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(walk) = lock()
            .as_ref()
            .filter(|w| Some(w.message_id.as_str()) == message_id && w.at.elapsed() < WALK_REUSE)
        {
            return walk.sensors.clone();
        }
        // The walk itself runs unlocked: it may take seconds, and other requests walk too.
        let sensors = self.read(Bmc::sensors).ok().flatten().unwrap_or_default();
        if let Some(message_id) = message_id {
            *lock() = Some(SensorWalk {
                message_id: message_id.to_owned(),
                at: Instant::now(),
                sensors: sensors.clone(),
            });
        }
        sensors
    }

    /// The SEL, or a fault when the BMC is there but does not answer.
    fn sel(&self) -> Result<Option<wsman_ipmi::Sel>, Fault> {
        self.read(Bmc::sel).map_err(bmc_fault)
    }
}

/// DSP1009's SensorType of an IPMI sensor type (IPMI 2.0 table 42-3); `1` (Other) carries
/// the IPMI type in OtherSensorTypeDescription.
fn sensor_type(ipmi: u8) -> u16 {
    match ipmi {
        0x01 => 2,  // Temperature
        0x02 => 3,  // Voltage
        0x03 => 4,  // Current
        0x04 => 5,  // Fan: Tachometer
        0x05 => 16, // Physical Security: Intrusion
        0x14 => 7,  // Button/Switch: Switch
        0x25 => 11, // Entity Presence: Presence
        _ => 1,
    }
}

/// CIM_NumericSensor.BaseUnits of an IPMI base unit (IPMI 2.0 table 43-15), with the power
/// of ten a scaled IPMI unit (millisecond, kilobyte, ...) adds to UnitModifier.
fn base_units(ipmi: u8, percentage: bool) -> (u16, i32) {
    if percentage {
        return (65, 0);
    }
    match ipmi {
        0 => (0, 0),
        // Degrees C .. Hz keep their order, one further in CIM.
        1..=19 => (u16::from(ipmi) + 1, 0),
        20 => (21, -6),                      // microsecond: Seconds
        21 => (21, -3),                      // millisecond
        22..=31 => (u16::from(ipmi) - 1, 0), // second .. cubic feet
        32 => (31, -3),                      // mm: Meters
        33 => (31, -2),                      // cm
        34..=50 => (u16::from(ipmi) - 3, 0), // m .. henry
        51 => (47, -3),                      // millihenry: Henries
        52 => (48, 0),                       // farad
        53 => (48, -6),                      // microfarad
        54..=58 => (u16::from(ipmi) - 5, 0), // ohms .. PPM
        60..=66 => (u16::from(ipmi) - 6, 0), // decibels .. bits
        67 => (60, 3),
        68 => (60, 6),
        69 => (60, 9),
        70 => (61, 0), // bytes
        71 => (61, 3),
        72 => (61, 6),
        73 => (61, 9),
        74..=76 => (u16::from(ipmi) - 12, 0), // word, dword, qword
        _ => (1, 0),
    }
}

/// DSP1009's state of a threshold sensor and its HealthState, from the comparison bits.
fn threshold_state(n: &Numeric) -> (&'static str, u16) {
    let Some(status) = n.status.filter(|_| n.reading.is_some()) else {
        return ("Unknown", 0);
    };
    let bit = |b: u8| status & (1 << b) != 0;
    match () {
        _ if bit(5) => ("Upper Fatal", 30),
        _ if bit(2) => ("Lower Fatal", 30),
        _ if bit(4) => ("Upper Critical", 25),
        _ if bit(1) => ("Lower Critical", 25),
        _ if bit(3) => ("Upper Non-Critical", 10),
        _ if bit(0) => ("Lower Non-Critical", 10),
        _ => ("Normal", 5),
    }
}

const THRESHOLD_STATES: &[&str] = &[
    "Unknown",
    "Normal",
    "Upper Non-Critical",
    "Upper Critical",
    "Upper Fatal",
    "Lower Non-Critical",
    "Lower Critical",
    "Lower Fatal",
];

pub(super) const SENSOR_KEYS: &[&str] = &[
    "CreationClassName",
    "DeviceID",
    "SystemCreationClassName",
    "SystemName",
];

/// A logical device of the system in root/hardware (a sensor, a processor): keyed as CIM keys
/// every CIM_LogicalDevice, without references or methods.
pub(super) const fn logical_device(
    name: &'static str,
    superclass: &'static str,
    properties: &'static [Property],
) -> ClassSchema {
    ClassSchema::without_methods(name, NAMESPACE, SENSOR_KEYS, &[], superclass, properties)
}

/// The DeviceID of an IPMI sensor: owner, LUN and number, its key in the SDR.
fn device_id(s: &wsman_ipmi::Sensor) -> String {
    format!("IPMI:{:02X}.{}.{}", s.owner, s.lun, s.number)
}

/// One IPMI sensor as CIM_NumericSensor (threshold sensors) or CIM_Sensor (discrete ones).
pub(super) fn sensor_instance(s: &wsman_ipmi::Sensor, system: &str) -> Instance {
    let class = match s.kind {
        SensorKind::Threshold(_) => "CIM_NumericSensor",
        SensorKind::Discrete { .. } => "CIM_Sensor",
    };
    let cim_type = sensor_type(s.sensor_type);
    let other = (cim_type == 1).then(|| format!("IPMI sensor type 0x{:02X}", s.sensor_type));
    let base = Instance::new(class, NAMESPACE)
        .with("Caption", s.name.clone())
        .with_key("CreationClassName", class)
        .with_key("DeviceID", device_id(s))
        .with("ElementName", s.name.clone())
        .with("EnabledState", 2u16)
        .with("Name", s.name.clone())
        .with("OtherSensorTypeDescription", other)
        .with("SensorType", cim_type)
        .with_key("SystemCreationClassName", SYSTEM_CLASS)
        .with_key("SystemName", system);
    match &s.kind {
        SensorKind::Discrete { states } => {
            // A discrete sensor's states are offsets of its event/reading type; which are
            // asserted is all that can be said without the type's table.
            let (state, health) = match states {
                None => ("Unknown".to_owned(), 0u16),
                Some(bits) => {
                    let asserted: Vec<String> = (0..15)
                        .filter(|b| bits & (1 << b) != 0)
                        .map(|b| b.to_string())
                        .collect();
                    (format!("Asserted: {}", asserted.join(",")), 5)
                }
            };
            base.with("CurrentState", state)
                .with("HealthState", health)
                .with("PossibleStates", Value::Null)
        }
        SensorKind::Threshold(n) => {
            let (state, health) = threshold_state(n);
            let (units, scale) = base_units(n.base_unit, n.percentage);
            let base = base
                .with("BaseUnits", units)
                .with("CurrentReading", n.reading)
                .with("CurrentState", state)
                .with("HealthState", health)
                .with("IsLinear", n.linear)
                .with("MaxReadable", n.max_readable)
                .with("MinReadable", n.min_readable)
                .with("NominalReading", n.nominal)
                .with("PossibleStates", THRESHOLD_STATES.to_vec())
                .with("RateUnits", u16::from(n.rate_unit))
                .with("UnitModifier", n.exponent + scale);
            with_thresholds(base, &n.thresholds)
        }
    }
}

/// CIM_NumericSensor's threshold properties, a BMC's or the kernel's alike (the instance is
/// put in WMI's order when it is completed).
fn with_thresholds(instance: Instance, t: &Thresholds) -> Instance {
    instance
        .with("LowerThresholdCritical", t.lower_critical)
        .with("LowerThresholdFatal", t.lower_non_recoverable)
        .with("LowerThresholdNonCritical", t.lower_non_critical)
        .with("UpperThresholdCritical", t.upper_critical)
        .with("UpperThresholdFatal", t.upper_non_recoverable)
        .with("UpperThresholdNonCritical", t.upper_non_critical)
}

/// DSP1009's state of a sysfs sensor from its reading against its thresholds (the kernel's
/// alarm bits are not uniform across drivers; the comparison is): above an upper threshold
/// or below a lower one.
fn sysfs_state(s: &SysfsSensor) -> (&'static str, u16) {
    let Some(r) = s.reading else {
        return ("Unknown", 0);
    };
    let t = &s.thresholds;
    let above = |limit: Option<i64>| limit.is_some_and(|l| r > l);
    let below = |limit: Option<i64>| limit.is_some_and(|l| r < l);
    match () {
        _ if above(t.upper_non_recoverable) => ("Upper Fatal", 30),
        _ if above(t.upper_critical) => ("Upper Critical", 25),
        _ if below(t.lower_critical) => ("Lower Critical", 25),
        _ if above(t.upper_non_critical) => ("Upper Non-Critical", 10),
        _ if below(t.lower_non_critical) => ("Lower Non-Critical", 10),
        _ => ("Normal", 5),
    }
}

/// One hwmon input or thermal zone as CIM_NumericSensor: CurrentReading and the thresholds
/// are sysfs' integers as they are, with the UnitModifier of sysfs' unit (millidegrees: -3).
pub(super) fn sysfs_sensor_instance(s: &SysfsSensor, system: &str) -> Instance {
    let class = "CIM_NumericSensor";
    let (units, modifier) = s.quantity.units();
    let (state, health) = sysfs_state(s);
    let instance = Instance::new(class, NAMESPACE)
        .with("BaseUnits", units)
        .with("Caption", s.name.clone())
        .with_key("CreationClassName", class)
        .with("CurrentReading", s.reading)
        .with("CurrentState", state)
        .with_key("DeviceID", s.device_id.clone())
        .with("ElementName", s.name.clone())
        .with("EnabledState", 2u16)
        .with("HealthState", health)
        .with("IsLinear", true)
        .with("MaxReadable", Value::Null)
        .with("MinReadable", Value::Null)
        .with("Name", s.name.clone())
        .with("NominalReading", Value::Null)
        .with("OtherSensorTypeDescription", Value::Null)
        .with("PossibleStates", THRESHOLD_STATES.to_vec())
        // 0: no rate (a reading, not a reading per unit of time).
        .with("RateUnits", 0u16)
        .with("SensorType", s.quantity.sensor_type())
        .with_key("SystemCreationClassName", SYSTEM_CLASS)
        .with_key("SystemName", system)
        .with("UnitModifier", modifier);
    with_thresholds(instance, &s.thresholds)
}

/// Every sensor of the host: the BMC's (threshold ones only when `numeric_only`), then the
/// kernel's.
pub(super) fn all_sensors(
    ctx: &Context<'_>,
    hardware: &Hardware,
    numeric_only: bool,
) -> Vec<Instance> {
    let system = procfs::host_name();
    let mut out: Vec<Instance> = hardware
        .sensors(ctx)
        .iter()
        .filter(|s| !numeric_only || matches!(s.kind, SensorKind::Threshold(_)))
        .map(|s| sensor_instance(s, &system))
        .collect();
    out.extend(
        hardware
            .sysfs_sensors()
            .iter()
            .map(|s| sysfs_sensor_instance(s, &system)),
    );
    out
}

hardware_class! {
    /// `CIM_Sensor`: every sensor, the numeric ones (CIM_NumericSensor instances) included, as a
    /// base class enumerates its subclasses.
    Sensor
}

/// CIM_Sensor's properties, which CIM_NumericSensor (derived from it) declares too.
const SENSOR_PROPERTIES: &[Property] = &[
    ("AdditionalAvailability", "uint16[]"),
    ("Availability", "uint16"),
    ("Caption", "string"),
    ("CreationClassName", "string"),
    ("CurrentState", "string"),
    ("Description", "string"),
    ("DeviceID", "string"),
    ("ElementName", "string"),
    ("EnabledDefault", "uint16"),
    ("EnabledState", "uint16"),
    ("ErrorCleared", "boolean"),
    ("ErrorDescription", "string"),
    ("HealthState", "uint16"),
    ("IdentifyingDescriptions", "string[]"),
    ("InstallDate", "datetime"),
    ("LastErrorCode", "uint32"),
    ("MaxQuiesceTime", "uint64"),
    ("Name", "string"),
    ("OperationalStatus", "uint16[]"),
    ("OtherEnabledState", "string"),
    ("OtherIdentifyingInfo", "string[]"),
    ("OtherSensorTypeDescription", "string"),
    ("PollingInterval", "uint64"),
    ("PossibleStates", "string[]"),
    ("PowerManagementCapabilities", "uint16[]"),
    ("PowerManagementSupported", "boolean"),
    ("PowerOnHours", "uint64"),
    ("RequestedState", "uint16"),
    ("SensorType", "uint16"),
    ("Status", "string"),
    ("StatusDescriptions", "string[]"),
    ("StatusInfo", "uint16"),
    ("SystemCreationClassName", "string"),
    ("SystemName", "string"),
    ("TimeOfLastStateChange", "datetime"),
    ("TotalPowerOnHours", "uint64"),
];

const SENSOR: ClassSchema = logical_device("CIM_Sensor", "CIM_LogicalDevice", SENSOR_PROPERTIES);

impl Class for Sensor {
    schema!(SENSOR);
    fn instances(&self, ctx: &Context<'_>, _: Option<&Filter>) -> Instances {
        Ok(all_sensors(ctx, &self.hardware, false))
    }
}

hardware_class! {
    /// `CIM_NumericSensor`: the BMC's threshold sensors, the hwmon inputs and the thermal zones.
    NumericSensor
}

const NUMERIC_SENSOR_PROPERTIES: [Property; 59] = merged(
    SENSOR_PROPERTIES,
    &[
        ("Accuracy", "sint32"),
        ("BaseUnits", "uint16"),
        ("CurrentReading", "sint32"),
        ("EnabledThresholds", "uint16[]"),
        ("Hysteresis", "uint32"),
        ("IsLinear", "boolean"),
        ("LowerThresholdCritical", "sint32"),
        ("LowerThresholdFatal", "sint32"),
        ("LowerThresholdNonCritical", "sint32"),
        ("MaxReadable", "sint32"),
        ("MinReadable", "sint32"),
        ("NominalReading", "sint32"),
        ("NormalMax", "sint32"),
        ("NormalMin", "sint32"),
        ("RateUnits", "uint16"),
        ("Resolution", "uint32"),
        ("SettableThresholds", "uint16[]"),
        ("SupportedThresholds", "uint16[]"),
        ("Tolerance", "sint32"),
        ("UnitModifier", "sint32"),
        ("UpperThresholdCritical", "sint32"),
        ("UpperThresholdFatal", "sint32"),
        ("UpperThresholdNonCritical", "sint32"),
    ],
);

const NUMERIC_SENSOR: ClassSchema = logical_device(
    "CIM_NumericSensor",
    "CIM_Sensor",
    &NUMERIC_SENSOR_PROPERTIES,
);

impl Class for NumericSensor {
    schema!(NUMERIC_SENSOR);
    fn instances(&self, ctx: &Context<'_>, _: Option<&Filter>) -> Instances {
        Ok(all_sensors(ctx, &self.hardware, true))
    }
}

/// The SEL's CIM_RecordLog with only its key, for references to it.
fn record_log_key() -> Instance {
    Instance::new("CIM_RecordLog", NAMESPACE).with_key("InstanceID", SEL_INSTANCE_ID)
}

/// A SEL record's CIM_LogRecord with only its keys, which the full instance starts from.
fn log_record_key(record_id: u16) -> Instance {
    Instance::new("CIM_LogRecord", NAMESPACE)
        .with_key("CreationClassName", "CIM_LogRecord")
        .with_key("LogCreationClassName", "CIM_RecordLog")
        .with_key("LogName", SEL_NAME)
        .with_key("RecordID", record_id.to_string())
}

hardware_class! {
    /// `CIM_RecordLog`: the SEL, one instance, with ClearLog.
    RecordLog
}

const RECORD_LOG: ClassSchema = ClassSchema {
    name: "CIM_RecordLog",
    namespace: NAMESPACE,
    keys: &["InstanceID"],
    singleton: false,
    references: &[],
    declaration: Declaration {
        superclass: Some("CIM_Log"),
        properties: &[
            ("Caption", "string"),
            ("CurrentNumberOfRecords", "uint64"),
            ("Description", "string"),
            ("ElementName", "string"),
            ("EnabledDefault", "uint16"),
            ("EnabledState", "uint16"),
            ("HealthState", "uint16"),
            ("InstallDate", "datetime"),
            ("InstanceID", "string"),
            ("LogState", "uint16"),
            ("MaxNumberOfRecords", "uint64"),
            ("Name", "string"),
            ("OperationalStatus", "uint16[]"),
            ("OtherEnabledState", "string"),
            ("OverwritePolicy", "uint16"),
            ("RequestedState", "uint16"),
            ("Status", "string"),
            ("StatusDescriptions", "string[]"),
            ("TimeOfLastStateChange", "datetime"),
        ],
        methods: &[Method {
            name: "ClearLog",
            is_static: false,
            inputs: &[],
            outputs: &[],
        }],
    },
};

impl Class for RecordLog {
    schema!(RECORD_LOG);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let info = self.hardware.read(Bmc::sel_info).map_err(bmc_fault)?;
        Ok(info
            .into_iter()
            .map(|info| {
                Instance::new(self.name(), NAMESPACE)
                    .with("Caption", SEL_NAME)
                    .with("CurrentNumberOfRecords", u64::from(info.entries))
                    .with("ElementName", SEL_NAME)
                    .with("EnabledState", 2u16)
                    // A full SEL drops new events: degraded.
                    .with("HealthState", if info.overflow { 10u16 } else { 5 })
                    .with_key("InstanceID", SEL_INSTANCE_ID)
                    // 2: Normal.
                    .with("LogState", 2u16)
                    // Each SEL record takes 16 bytes of the repository.
                    .with(
                        "MaxNumberOfRecords",
                        u64::from(info.entries) + u64::from(info.bytes_free) / 16,
                    )
                    .with("Name", SEL_NAME)
                    // 7: Never Overwrites (a full SEL keeps its records and drops new ones).
                    .with("OverwritePolicy", 7u16)
            })
            .collect())
    }

    fn invoke(&self, ctx: &Context<'_>, keys: &[(&str, &str)], method: &str) -> Answer {
        if !method.eq_ignore_ascii_case("ClearLog") {
            return Err(crate::not_supported(ctx));
        }
        MethodInput::read(ctx.request.body.as_ref(), "ClearLog")?;
        self.get(ctx, keys)?;
        let output = |code: u32| super::method_output(self, "ClearLog", code);
        if let Some(refused) = super::refuse_unless_administrator(ctx, self, "ClearLog") {
            return Ok(refused);
        }
        match self.hardware.read(Bmc::clear_sel) {
            Ok(_) => {
                tracing::info!(
                    user = ctx.caller.map_or("", |c| c.user.as_str()),
                    "CIM_RecordLog.ClearLog: the SEL was cleared"
                );
                Ok(output(return_value::COMPLETED))
            }
            // The BMC account of bmc.toml is below Operator: the BMC's own refusal, told
            // apart from a failure as Windows' "access denied" (docs/windows-quirks.md).
            Err(wsman_ipmi::Error::InsufficientPrivilege { privilege, .. }) => {
                tracing::warn!(
                    user = ctx.caller.map_or("", |c| c.user.as_str()),
                    ?privilege,
                    "CIM_RecordLog.ClearLog: the BMC refused to clear the SEL to the privilege \
                     of bmc.toml's account (Clear SEL needs Operator)"
                );
                Ok(output(super::ACCESS_DENIED))
            }
            Err(_) => Ok(output(return_value::FAILED)),
        }
    }
}

hardware_class! {
    /// `CIM_LogRecord`: the SEL's entries, oldest first. RecordData is the record's 16 bytes in
    /// hexadecimal, as the BMC keeps them.
    LogRecord
}

const LOG_RECORD: ClassSchema = ClassSchema::without_methods(
    "CIM_LogRecord",
    NAMESPACE,
    &[
        "CreationClassName",
        "LogCreationClassName",
        "LogName",
        "RecordID",
    ],
    &[],
    "CIM_RecordForLog",
    &[
        ("Caption", "string"),
        ("CreationClassName", "string"),
        ("DataFormat", "string"),
        ("Description", "string"),
        ("ElementName", "string"),
        ("LogCreationClassName", "string"),
        ("LogName", "string"),
        ("MessageTimestamp", "datetime"),
        ("RecordData", "string"),
        ("RecordFormat", "string"),
        ("RecordID", "string"),
    ],
);

impl Class for LogRecord {
    schema!(LOG_RECORD);
    fn instances(&self, ctx: &Context<'_>, _: Option<&Filter>) -> Instances {
        let Some(sel) = self.hardware.sel()? else {
            return Ok(Vec::new());
        };
        // A system event names its sensor by type and number; the SDR gives its name.
        let sensors = self.hardware.sensors(ctx);
        let named = |e: &wsman_ipmi::SelEntry| {
            let name = e.sensor.and_then(|(kind, number)| {
                sensors
                    .iter()
                    .find(|s| s.sensor_type == kind && s.number == number)
                    .map(|s| s.name.as_str())
            });
            match name {
                Some(name) => format!("{} ({name})", e.description),
                None => e.description.clone(),
            }
        };
        Ok(sel
            .entries
            .iter()
            .map(|e| {
                let hex: String = e.raw.iter().map(|b| format!("{b:02X}")).collect();
                // IPMI timestamps up to 0x20000000 count from the BMC's start, not the epoch.
                let timestamp = e
                    .timestamp
                    .filter(|t| *t > 0x2000_0000)
                    .map(|t| CimDateTime::utc(i64::from(t) * 1_000_000));
                let description = named(e);
                log_record_key(e.record_id)
                    .with("Caption", description.clone())
                    .with("Description", description)
                    .with("ElementName", format!("SEL record {}", e.record_id))
                    .with("MessageTimestamp", timestamp)
                    .with("RecordData", hex)
                    .with("RecordFormat", "IPMI SEL record, 16 bytes in hexadecimal")
            })
            .collect())
    }
}

hardware_class! {
    /// `CIM_LogManagesRecord`: the SEL (Antecedent) and each of its records (Dependent).
    LogManagesRecord
}

const LOG_MANAGES_RECORD: ClassSchema = ClassSchema::association(
    "CIM_LogManagesRecord",
    NAMESPACE,
    "CIM_Dependency",
    &["Antecedent", "Dependent"],
    &[
        ("Antecedent", "ref:CIM_Log"),
        ("Dependent", "ref:CIM_RecordForLog"),
    ],
);

impl Class for LogManagesRecord {
    schema!(LOG_MANAGES_RECORD);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let Some(sel) = self.hardware.sel()? else {
            return Ok(Vec::new());
        };
        Ok(sel
            .entries
            .iter()
            .map(|e| {
                Instance::new(self.name(), NAMESPACE)
                    .with_key("Antecedent", reference_to(&record_log_key()))
                    .with_key("Dependent", reference_to(&log_record_key(e.record_id)))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
