//! Sensors as the SDR repository describes them, with their readings converted to numbers.
//!
//! A threshold sensor's value is `mantissa * 10^exponent` in its base unit: for a linear
//! sensor (`y = (M*x + B*10^Bexp) * 10^Rexp`, IPMI 2.0 36.3) that is exact, so a 1.20 V
//! reading is `120` with exponent `-2`, and the same exponent holds for its thresholds.

use ipmi_rs::connection::{Address, Channel};
use ipmi_rs::storage::sdr::event_reading_type_code::EventReadingTypeCodes;
use ipmi_rs::storage::sdr::record::{
    DataFormat, FullSensorRecord, Linearization, RateUnit, RecordContents, SensorId,
    SensorRecordCommon,
};

use crate::commands::{RawReading, RawThresholds};

/// One sensor of the SDR repository.
#[derive(Clone, Debug, PartialEq)]
pub struct Sensor {
    /// The SDR's ID string.
    pub name: String,
    /// Sensor owner (slave address byte as in the SDR), LUN and number: the sensor's key.
    pub owner: u8,
    pub lun: u8,
    pub number: u8,
    channel: u8,
    pub entity_id: u8,
    pub entity_instance: u8,
    /// IPMI sensor type code (IPMI 2.0 table 42-3: 1 temperature, 2 voltage, 4 fan, ...).
    pub sensor_type: u8,
    pub kind: SensorKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SensorKind {
    /// A threshold-based sensor with a numeric reading.
    Threshold(Numeric),
    /// A discrete sensor: which of its states are asserted (`None`: no answer).
    Discrete { states: Option<u16> },
}

/// A threshold sensor's numbers, each `mantissa * 10^exponent` of `base_unit`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Numeric {
    /// IPMI base unit code (IPMI 2.0 table 43-15: 1 degrees C, 4 volts, 18 RPM, ...).
    pub base_unit: u8,
    /// IPMI rate unit (0 none, 1 per µs, ... 6 per day).
    pub rate_unit: u8,
    pub percentage: bool,
    pub exponent: i32,
    pub linear: bool,
    pub reading: Option<i64>,
    /// The threshold comparison bits of the reading (bit 0 lower non-critical .. bit 5
    /// upper non-recoverable).
    pub status: Option<u8>,
    pub thresholds: Thresholds,
    pub nominal: Option<i64>,
    pub min_readable: Option<i64>,
    pub max_readable: Option<i64>,
}

/// A numeric sensor's thresholds in its reading's unit, `None` where it has none readable:
/// the BMC's live ones, in IPMI's names (CIM's Fatal is IPMI's Non-Recoverable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Thresholds {
    pub lower_non_critical: Option<i64>,
    pub lower_critical: Option<i64>,
    pub lower_non_recoverable: Option<i64>,
    pub upper_non_critical: Option<i64>,
    pub upper_critical: Option<i64>,
    pub upper_non_recoverable: Option<i64>,
}

/// The fixed conversion of a full sensor record.
struct Conversion {
    m: i64,
    b: i64,
    b_exponent: i32,
    r_exponent: i32,
    format: DataFormat,
    linearization: Linearization,
}

impl Conversion {
    fn of(full: &FullSensorRecord) -> Option<Self> {
        Some(Self {
            m: i64::from(full.m),
            b: i64::from(full.b),
            b_exponent: i32::from(full.b_exponent),
            r_exponent: i32::from(full.result_exponent),
            format: full.analog_data_format?,
            linearization: full.linearization,
        })
    }

    fn linear(&self) -> bool {
        matches!(self.linearization, Linearization::Linear)
    }

    /// The exponent every value of this sensor is given with.
    fn exponent(&self) -> i32 {
        if self.linear() {
            self.r_exponent + self.b_exponent.min(0)
        } else {
            -3
        }
    }

    fn raw(&self, x: u8) -> i64 {
        match self.format {
            DataFormat::Unsigned => i64::from(x),
            DataFormat::TwosComplement => i64::from(x as i8),
            DataFormat::OnesComplement if x & 0x80 != 0 => -i64::from(!x),
            DataFormat::OnesComplement => i64::from(x),
        }
    }

    /// The mantissa of `x` at [`Conversion::exponent`].
    fn convert(&self, x: u8) -> i64 {
        let x = self.raw(x);
        if self.linear() {
            let k = self.b_exponent.min(0);
            // Exponents are 4-bit signed values: the powers stay within i64.
            let scale_x = 10i64.pow((-k) as u32);
            let scale_b = 10i64.pow((self.b_exponent - k) as u32);
            return self.m.saturating_mul(x).saturating_mul(scale_x)
                + self.b.saturating_mul(scale_b);
        }
        let y = (self.m as f64 * x as f64 + self.b as f64 * 10f64.powi(self.b_exponent))
            * 10f64.powi(self.r_exponent);
        let y = match self.linearization {
            Linearization::Ln => y.ln(),
            Linearization::Log10 => y.log10(),
            Linearization::Log2 => y.log2(),
            Linearization::E => y.exp(),
            Linearization::Exp10 => 10f64.powf(y),
            Linearization::Exp2 => y.exp2(),
            Linearization::OneOverX => 1.0 / y,
            Linearization::Sqr => y * y,
            Linearization::Cube => y * y * y,
            Linearization::Sqrt => y.sqrt(),
            Linearization::CubeRoot => y.cbrt(),
            _ => y,
        };
        (y * 1000.0).round() as i64
    }
}

impl Sensor {
    /// The sensor an SDR record describes (`None`: not a sensor record).
    pub fn from_record(contents: &RecordContents) -> Option<Self> {
        let common: &SensorRecordCommon = contents.common_data()?;
        let key = &common.key;
        let kind = match (contents, common.event_reading_type_code) {
            (RecordContents::FullSensor(full), EventReadingTypeCodes::Threshold) => {
                let units = &common.sensor_units;
                let conversion = Conversion::of(full);
                SensorKind::Threshold(Numeric {
                    base_unit: units.base_unit.into(),
                    rate_unit: units.rate.map_or(0, rate_unit),
                    percentage: units.is_percentage,
                    exponent: conversion.as_ref().map_or(0, Conversion::exponent),
                    linear: conversion.as_ref().is_some_and(Conversion::linear),
                    ..Numeric::default()
                })
            }
            _ => SensorKind::Discrete { states: None },
        };
        Some(Self {
            name: sensor_name(&common.sensor_id),
            owner: key.owner_id.into(),
            lun: key.owner_lun.value(),
            number: key.sensor_number.get(),
            channel: key.owner_channel.value(),
            entity_id: common.entity_id,
            entity_instance: entity_instance(common),
            sensor_type: common.ty.into(),
            kind,
        })
    }

    /// Where commands about this sensor go.
    pub(crate) fn target(&self) -> (Address, Channel) {
        (
            Address(self.owner),
            Channel::new(self.channel).unwrap_or(Channel::Primary),
        )
    }

    /// Fill in the reading and thresholds the BMC answered (public for the fuzz target).
    pub fn apply(
        &mut self,
        contents: &RecordContents,
        reading: Option<&RawReading>,
        thresholds: Option<&RawThresholds>,
    ) {
        match &mut self.kind {
            SensorKind::Discrete { states } => {
                *states = reading.filter(|r| !r.unavailable).and_then(|r| r.states);
            }
            SensorKind::Threshold(numeric) => {
                let RecordContents::FullSensor(full) = contents else {
                    return;
                };
                let Some(conversion) = Conversion::of(full) else {
                    return;
                };
                let c = |x: u8| Some(conversion.convert(x));
                if let Some(r) = reading.filter(|r| !r.unavailable && r.scanning_enabled) {
                    numeric.reading = c(r.reading);
                    numeric.status = r.states.map(|s| (s & 0x3F) as u8);
                }
                if let Some(RawThresholds(t)) = thresholds {
                    numeric.thresholds = Thresholds {
                        lower_non_critical: t[0].and_then(c),
                        lower_critical: t[1].and_then(c),
                        lower_non_recoverable: t[2].and_then(c),
                        upper_non_critical: t[3].and_then(c),
                        upper_critical: t[4].and_then(c),
                        upper_non_recoverable: t[5].and_then(c),
                    };
                }
            }
        }
    }

    /// Fill in NominalReading, MinReadable and MaxReadable from the whole record's bytes
    /// (public for the fuzz target): converted exactly, as the reading is, from the raw
    /// bytes (IPMI 2.0 table 43-1, bytes 31, 32, 35 and 36), since ipmi-rs gives them only
    /// as a two-decimal display string (0.175 V would read 0.18).
    pub fn apply_limits(&mut self, contents: &RecordContents, record: &[u8]) {
        let (SensorKind::Threshold(numeric), RecordContents::FullSensor(full)) =
            (&mut self.kind, contents)
        else {
            return;
        };
        let Some(conversion) = Conversion::of(full) else {
            return;
        };
        let byte = |number: usize| record.get(number - 1).copied();
        let nominal_given = byte(31).is_some_and(|flags| flags & 0x01 != 0);
        numeric.nominal = byte(32)
            .filter(|_| nominal_given)
            .map(|x| conversion.convert(x));
        numeric.max_readable = byte(35).map(|x| conversion.convert(x));
        numeric.min_readable = byte(36).map(|x| conversion.convert(x));
    }
}

/// The SDR's ID string; 6-bit packed ASCII (IPMI 2.0 43.15), which ipmi-rs leaves as bytes,
/// is unpacked: four characters in three bytes, least significant bits first, each plus 0x20.
fn sensor_name(id: &SensorId) -> String {
    let SensorId::Ascii6BPacked(bytes) = id else {
        return id.to_string();
    };
    let mut bits: u32 = 0;
    let mut held = 0;
    let mut out = String::new();
    for byte in bytes {
        bits |= u32::from(*byte) << held;
        held += 8;
        while held >= 6 {
            out.push(char::from(((bits & 0x3F) as u8) + 0x20));
            bits >>= 6;
            held -= 6;
        }
    }
    out.trim_end().to_owned()
}

/// IPMI's rate unit code (1 per µs .. 6 per day), which is also CIM's RateUnits code.
fn rate_unit(rate: RateUnit) -> u8 {
    match rate {
        RateUnit::Microsecond => 1,
        RateUnit::Millisecond => 2,
        RateUnit::Second => 3,
        RateUnit::Minute => 4,
        RateUnit::Hour => 5,
        RateUnit::Day => 6,
    }
}

fn entity_instance(common: &SensorRecordCommon) -> u8 {
    use ipmi_rs::storage::sdr::record::EntityInstance;
    match common.entity_instance {
        EntityInstance::Physical {
            instance_number, ..
        }
        | EntityInstance::LogicalContainer {
            instance_number, ..
        } => instance_number,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(m: i64, b: i64, b_exponent: i32, r_exponent: i32) -> Conversion {
        Conversion {
            m,
            b,
            b_exponent,
            r_exponent,
            format: DataFormat::Unsigned,
            linearization: Linearization::Linear,
        }
    }

    #[test]
    fn linear_values_are_exact_mantissas() {
        // 60 raw * M 2 * 10^-2 = 1.20 V.
        let c = linear(2, 0, 0, -2);
        assert_eq!((c.convert(60), c.exponent()), (120, -2));
        // Fan: 90 * 60 = 5400 RPM.
        let c = linear(60, 0, 0, 0);
        assert_eq!((c.convert(90), c.exponent()), (5400, 0));
        // A negative B exponent widens the exponent: (3x + 5*10^-1) * 10^0 at x=2 = 6.5.
        let c = linear(3, 5, -1, 0);
        assert_eq!((c.convert(2), c.exponent()), (65, -1));
    }

    #[test]
    fn six_bit_packed_names() {
        // "FAN1" as sdrcomp packs it.
        let id = SensorId::Ascii6BPacked(vec![0x66, 0xE8, 0x46]);
        assert_eq!(sensor_name(&id), "FAN1");
    }

    #[test]
    fn signed_formats() {
        let mut c = linear(1, 0, 0, 0);
        c.format = DataFormat::TwosComplement;
        assert_eq!(c.convert(0xFE), -2);
        c.format = DataFormat::OnesComplement;
        assert_eq!(c.convert(0xFE), -1);
    }
}
