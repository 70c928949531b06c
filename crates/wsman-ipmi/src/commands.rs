//! The IPMI commands this crate needs in a form `ipmi-rs` does not offer: the reading of a
//! sensor with all its state bytes (ipmi-rs keeps them private), a sensor's live thresholds
//! (Get Sensor Thresholds, which ipmi-rs lacks), a SEL entry with its raw 16 bytes (the
//! bytes CIM_LogRecord.RecordData carries), and Get SDR in parts. Each is an
//! [`IpmiCommand`], sent through ipmi-rs's session like its own commands.
//!
//! Why Get SDR in parts: ipmi-rs reads a record by asking for all of it at once (0xFF bytes).
//! A BMC may answer that with more bytes than the record (OpenIPMI's `ipmi_sim` does), which
//! ipmi-rs refuses and skips, or refuse a record longer than its message buffer. Reading the
//! 5-byte header and then the body in 16-byte parts under a reservation, as ipmitool does,
//! works with both; the record is then parsed by ipmi-rs's own record parser.

use ipmi_rs::connection::{Address, Channel, IpmiCommand, Message, NetFn, NotEnoughData};
use ipmi_rs::storage::sdr::record::Record;
use ipmi_rs::storage::sel::Entry;

use crate::SelEntry;

/// A command of the Sensor/Event net function whose request is the sensor's number, sent to
/// the sensor's owner, and whose answer `parse` reads: the struct and both trait impls,
/// written once.
macro_rules! sensor_command {
    ($(#[$doc:meta])* $name:ident: $code:literal => $output:ty, $parse:ident) => {
        $(#[$doc])*
        pub struct $name {
            number: u8,
            target: (Address, Channel),
        }

        impl $name {
            /// For the sensor `number` of the owner `target` addresses.
            pub fn new(number: u8, target: (Address, Channel)) -> Self {
                Self { number, target }
            }
        }

        impl From<$name> for Message {
            fn from(value: $name) -> Self {
                Message::new_request(NetFn::SensorEvent, $code, vec![value.number])
            }
        }

        impl IpmiCommand for $name {
            type Output = $output;
            type Error = NotEnoughData;

            fn parse_success_response(data: &[u8]) -> Result<Self::Output, Self::Error> {
                $parse(data).ok_or(NotEnoughData)
            }

            fn target(&self) -> Option<(Address, Channel)> {
                Some(self.target)
            }
        }
    };
}

sensor_command! {
    /// Get Sensor Reading (IPMI 2.0 35.14): the raw answer bytes.
    ReadSensor: 0x2D => RawReading, parse_reading
}

/// A sensor's answer: the reading byte, and the state bytes (threshold comparison bits, or
/// the asserted states 0..14 of a discrete sensor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawReading {
    pub reading: u8,
    /// Bit 5 of the second byte: "reading/state unavailable".
    pub unavailable: bool,
    pub scanning_enabled: bool,
    /// States 0..7 in bits 0..7, states 8..14 in bits 8..14.
    pub states: Option<u16>,
}

/// The answer of Get Sensor Reading, bounded by its fixed layout.
pub fn parse_reading(data: &[u8]) -> Option<RawReading> {
    let [reading, flags, rest @ ..] = data else {
        return None;
    };
    let states = rest.first().map(|low| {
        let high = rest.get(1).copied().unwrap_or(0) & 0x7F;
        u16::from(*low) | (u16::from(high) << 8)
    });
    Some(RawReading {
        reading: *reading,
        unavailable: flags & 0x20 != 0,
        scanning_enabled: flags & 0x40 != 0,
        states,
    })
}

sensor_command! {
    /// Get Sensor Thresholds (IPMI 2.0 35.9).
    GetThresholds: 0x27 => RawThresholds, parse_thresholds
}

/// The raw threshold bytes; `None` where the BMC says a threshold is not readable. Order:
/// lower non-critical, lower critical, lower non-recoverable, upper non-critical, upper
/// critical, upper non-recoverable (the order of the answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawThresholds(pub [Option<u8>; 6]);

pub fn parse_thresholds(data: &[u8]) -> Option<RawThresholds> {
    let (mask, values) = data.split_first()?;
    let values = values.get(..6)?;
    let mut out = [None; 6];
    for (i, slot) in out.iter_mut().enumerate() {
        if mask & (1 << i) != 0 {
            *slot = Some(values[i]);
        }
    }
    Some(RawThresholds(out))
}

/// Reserve SDR Repository (IPMI 2.0 33.11): the reservation partial reads need.
pub struct ReserveSdr;

impl From<ReserveSdr> for Message {
    fn from(_: ReserveSdr) -> Self {
        Message::new_request(NetFn::Storage, 0x22, Vec::new())
    }
}

impl IpmiCommand for ReserveSdr {
    type Output = u16;
    type Error = NotEnoughData;

    fn parse_success_response(data: &[u8]) -> Result<Self::Output, Self::Error> {
        match data {
            [lo, hi, ..] => Ok(u16::from_le_bytes([*lo, *hi])),
            _ => Err(NotEnoughData),
        }
    }
}

/// Get SDR (IPMI 2.0 33.12) of `count` bytes of a record from `offset`.
pub struct GetSdrPart {
    pub reservation: u16,
    pub record_id: u16,
    pub offset: u8,
    pub count: u8,
}

impl From<GetSdrPart> for Message {
    fn from(v: GetSdrPart) -> Self {
        let [r_lo, r_hi] = v.reservation.to_le_bytes();
        let [lo, hi] = v.record_id.to_le_bytes();
        Message::new_request(
            NetFn::Storage,
            0x23,
            vec![r_lo, r_hi, lo, hi, v.offset, v.count],
        )
    }
}

impl IpmiCommand for GetSdrPart {
    /// The next record's id and the bytes read.
    type Output = (u16, Vec<u8>);
    type Error = NotEnoughData;

    fn parse_success_response(data: &[u8]) -> Result<Self::Output, Self::Error> {
        match data {
            [lo, hi, rest @ ..] => Ok((u16::from_le_bytes([*lo, *hi]), rest.to_vec())),
            _ => Err(NotEnoughData),
        }
    }
}

/// A whole record (header and body, as read in parts) parsed by ipmi-rs; `None`: a record
/// it cannot parse, skipped.
///
/// The record comes from the BMC, and ipmi-rs 0.6 indexes past short sensor records and
/// panics on a reserved ID-string modifier (found by the property tests and the `bmc` fuzz
/// target): the shapes it cannot take are refused here first, and any other panic of its
/// parser is caught and the record skipped, so a hostile BMC cannot end the request.
pub fn parse_sdr(record: &[u8]) -> Option<Record> {
    if !sensor_record_fits(record) {
        return None;
    }
    std::panic::catch_unwind(|| Record::parse(record).ok()).unwrap_or_else(|_| {
        tracing::warn!(
            length = record.len(),
            "an SDR record the IPMI library could not parse was skipped"
        );
        None
    })
}

/// The sensor fields common to full and compact records (key, entity, capabilities, type,
/// masks, units): 18 bytes of the body.
const SENSOR_COMMON: usize = 18;

/// Whether a full (type 1) or compact (type 2) sensor record is long enough for every fixed
/// field ipmi-rs reads, and a compact one's ID-string modifier is one it accepts; other
/// record types pass.
fn sensor_record_fits(record: &[u8]) -> bool {
    let (Some(kind), Some(body)) = (record.get(3), record.get(5..)) else {
        return true;
    };
    match kind {
        // Linearization .. OEM byte, then the ID string's type/length byte.
        0x01 => body.len() > SENSOR_COMMON + 24,
        // Sharing .. OEM byte, then the type/length byte; modifier bits 0b1x are reserved.
        0x02 => body.len() > SENSOR_COMMON + 8 && body[SENSOR_COMMON] & 0x20 == 0,
        _ => true,
    }
}

/// Get SEL Entry (IPMI 2.0 31.5) of a whole record: the next record's id and this one.
pub struct GetSelEntryRaw(pub u16);

impl From<GetSelEntryRaw> for Message {
    fn from(value: GetSelEntryRaw) -> Self {
        let [lo, hi] = value.0.to_le_bytes();
        // No reservation (reading whole records needs none), offset 0, the whole record.
        Message::new_request(NetFn::Storage, 0x43, vec![0, 0, lo, hi, 0, 0xFF])
    }
}

impl IpmiCommand for GetSelEntryRaw {
    type Output = (u16, SelEntry);
    type Error = NotEnoughData;

    fn parse_success_response(data: &[u8]) -> Result<Self::Output, Self::Error> {
        parse_sel_entry(data).ok_or(NotEnoughData)
    }
}

/// The answer of Get SEL Entry: the next record id and the record.
pub fn parse_sel_entry(data: &[u8]) -> Option<(u16, SelEntry)> {
    let next = u16::from_le_bytes([*data.first()?, *data.get(1)?]);
    let raw: [u8; 16] = data.get(2..18)?.try_into().ok()?;
    let record_type = raw[2];
    // Types 0x02 (system event) and 0xC0..=0xDF (OEM timestamped) carry a timestamp.
    let timestamp = matches!(record_type, 0x02 | 0xC0..=0xDF)
        .then(|| u32::from_le_bytes([raw[3], raw[4], raw[5], raw[6]]));
    let (description, sensor) = match Entry::parse(&raw) {
        Ok(entry) => {
            match &entry {
                // As Windows' IPMI provider writes it: "<sensor type> Assert|Deassert:
                // <event>" (event direction: bit 7 of byte 13).
                Entry::System {
                    sensor_type,
                    sensor_number,
                    ..
                } => {
                    let direction = if raw[12] & 0x80 != 0 {
                        "Deassert"
                    } else {
                        "Assert"
                    };
                    let kind = ipmi_rs::storage::sdr::SensorType::from(*sensor_type);
                    (
                        format!("{kind} {direction}: {}", Described(&entry)),
                        Some((*sensor_type, *sensor_number)),
                    )
                }
                _ => (Described(&entry).to_string(), None),
            }
        }
        Err(e) => (format!("undecoded record ({e:?})"), None),
    };
    Some((
        next,
        SelEntry {
            record_id: u16::from_le_bytes([raw[0], raw[1]]),
            record_type,
            raw,
            timestamp,
            description,
            sensor,
        },
    ))
}

struct Described<'a>(&'a Entry);

impl std::fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.event_description(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_answers_are_refused_not_read_past() {
        assert_eq!(parse_reading(&[1]), None);
        assert_eq!(parse_thresholds(&[0x3F, 1, 2, 3]), None);
        assert_eq!(parse_sel_entry(&[0xFF, 0xFF, 1, 2, 3]), None);
    }

    #[test]
    fn an_sdr_record_parses_through_ipmi_rs() {
        // Record 1, SDR 1.5, type 0x12 (MC locator), 20 bytes.
        let mut data = vec![1, 0, 0x51, 0x12, 20];
        data.extend([0x20, 0, 0, 0x87, 0, 0, 0, 7, 1, 0, 0xC9]);
        data.extend(b"wsman sim");
        let record = parse_sdr(&data).expect("parsed");
        assert_eq!(
            record.id().map(ToString::to_string).as_deref(),
            Some("wsman sim")
        );
        // Longer or shorter than the header says: not a record.
        data.push(0);
        assert!(parse_sdr(&data).is_none());
    }

    #[test]
    fn sensor_records_that_would_panic_ipmi_rs_are_skipped() {
        // The sensor key (owner 0x20, LUN 0, number 1), entity, capabilities, type and masks
        // of a sensor record: its first 18 body bytes, as a hostile BMC might send them.
        let common = [
            0x20, 0, 1, 3, 1, 0x7F, 0x68, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0,
        ];
        let record = |kind: u8, tail: &[u8]| {
            let mut data = vec![1, 0, 0x51, kind, (common.len() + tail.len()) as u8];
            data.extend(common);
            data.extend(tail);
            data
        };
        // A compact record that ends right before its ID string's type/length byte.
        assert!(parse_sdr(&record(0x02, &[0; 8])).is_none());
        // A compact record with the reserved ID-string modifier 0b10.
        let mut reserved = [0u8; 9];
        reserved[0] = 0x20;
        assert!(parse_sdr(&record(0x02, &reserved)).is_none());
        // A full record as short as the first check of ipmi-rs lets through.
        assert!(parse_sdr(
            &[1, 0, 0x51, 0x01, 15]
                .iter()
                .chain(&[0; 15])
                .copied()
                .collect::<Vec<_>>()
        )
        .is_none());
        // A full record cut right before its ID string's type/length byte.
        assert!(parse_sdr(&record(0x01, &[0; 24])).is_none());
    }

    #[test]
    fn thresholds_follow_the_readable_mask() {
        let t = parse_thresholds(&[0b0011_1000, 1, 2, 3, 80, 90, 95]).expect("complete");
        assert_eq!(t.0, [None, None, None, Some(80), Some(90), Some(95)]);
    }

    #[test]
    fn a_system_event_record() {
        // Record 1, type 2, timestamp 0x11223344, generator 0x20, rev 4, temperature #1.
        let data = [
            0xFF, 0xFF, 0x01, 0x00, 0x02, 0x44, 0x33, 0x22, 0x11, 0x20, 0x00, 0x04, 0x01, 0x01,
            0x01, 0x57, 0x00, 0x00,
        ];
        let (next, e) = parse_sel_entry(&data).expect("complete");
        assert_eq!(next, 0xFFFF);
        assert_eq!(e.record_id, 1);
        assert_eq!(e.timestamp, Some(0x1122_3344));
        assert_eq!(e.sensor, Some((1, 1)));
        assert_eq!(e.raw[..2], [1, 0]);
    }
}
