//! The host's baseboard management controller (BMC) over IPMI: the one seam through which
//! wsmand reads hardware sensors and the System Event Log (SEL), and clears the SEL.
//!
//! The BMC is the local one (`/dev/ipmi0`) or one on the network over RMCP+ (IPMI 2.0
//! "lanplus"), as `DIR/bmc.toml` says ([`config`]). The commands' encoding is the `ipmi-rs`
//! crate's; the network session is our own ([`lanplus`]), at the privilege `bmc.toml` gives,
//! so a BMC account below Administrator is usable for what its level allows. The three
//! commands ipmi-rs has no typed form for (a sensor reading with its discrete states, a
//! sensor's live thresholds, a SEL entry as its raw 16 bytes) are small
//! [`ipmi_rs::connection::IpmiCommand`]s here ([`commands`]).
//!
//! Bounded: every answer is waited for at most the configured timeout, every operation ends
//! by [`OPERATION_DEADLINE`], and the SDR and SEL walks stop after [`MAX_SDR_RECORDS`] and
//! [`MAX_SEL_ENTRIES`]. One session is kept and reused (a BMC allows few sessions per user,
//! so a session per request would soon be refused); it is made again after a failure, and when
//! a kept session fails (the BMC dropped it while idle) the operation runs again on a new one
//! within the same request.
//! Knows IPMI only: what a sensor is as a CIM instance is the provider's mapping.

#![forbid(unsafe_code)]

pub mod commands;
pub mod config;
pub mod lanplus;
pub mod sensor;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipmi_rs::connection::{CompletionErrorCode, IpmiCommand};
use ipmi_rs::storage::sdr::record::{Record, RecordContents};
use ipmi_rs::storage::sel::{ClearSel, ErasureProgress, GetSelInfo, ReserveSel};
use ipmi_rs::{File, Ipmi, IpmiError};

pub use config::{BmcConfig, ConfigError, ParseError, Privilege, Target};
use lanplus::LanSession;
pub use sensor::{Numeric, Sensor, SensorKind, Thresholds};

/// Longest one operation (a whole SDR walk with its readings, a whole SEL read) may take.
pub const OPERATION_DEADLINE: Duration = Duration::from_secs(20);
/// Most SDR records read (real BMCs have a few hundred).
pub const MAX_SDR_RECORDS: usize = 1024;
/// Most SEL entries read (the SEL's 16-byte records in a 64 KiB repository: 4096).
pub const MAX_SEL_ENTRIES: usize = 4096;

/// Why a BMC operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the BMC ({target}): {message}")]
    Connect { target: String, message: String },
    #[error("the BMC failed {command}: {message}")]
    Command {
        command: &'static str,
        message: String,
    },
    #[error("the BMC did not finish {0} within {OPERATION_DEADLINE:?}")]
    Deadline(&'static str),
    /// The BMC refused the command to this session's privilege (completion code D4h): the
    /// account of `bmc.toml` may not do it. The session itself is fine.
    #[error(
        "the BMC refused {command}: the BMC account's privilege ({privilege:?}) is insufficient"
    )]
    InsufficientPrivilege {
        command: &'static str,
        privilege: Option<Privilege>,
    },
}

/// The SEL's counters ([`Bmc::sel`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelInfo {
    pub version: (u8, u8),
    pub entries: u16,
    pub bytes_free: u16,
    pub overflow: bool,
}

/// One SEL entry, its 16 bytes as the BMC keeps them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelEntry {
    pub record_id: u16,
    pub record_type: u8,
    pub raw: [u8; 16],
    /// The IPMI timestamp (bytes 3..7) of a timestamped record.
    pub timestamp: Option<u32>,
    /// What the entry says, as ipmi-rs decodes it.
    pub description: String,
    /// The sensor type and number of a system event record.
    pub sensor: Option<(u8, u8)>,
}

/// The SEL: its counters and its entries, oldest first.
#[derive(Clone, Debug)]
pub struct Sel {
    pub info: SelInfo,
    pub entries: Vec<SelEntry>,
}

enum Connection {
    Lan(Box<Ipmi<LanSession>>, Privilege),
    Local(Ipmi<File>),
}

impl Connection {
    fn open(config: &BmcConfig) -> Result<Self, Error> {
        let failed = |message: String| Error::Connect {
            target: format!("{:?}", config.target),
            message,
        };
        match &config.target {
            Target::Local(path) => File::new(path, config.timeout)
                .map(|f| Connection::Local(Ipmi::new(f)))
                .map_err(|e| failed(e.to_string())),
            Target::Lan {
                address,
                user,
                password,
                privilege,
            } => LanSession::open(address, user, password, *privilege, config.timeout)
                .map(|session| Connection::Lan(Box::new(Ipmi::new(session)), *privilege))
                .map_err(|e| failed(e.to_string())),
        }
    }

    /// One command and its answer. `Ok(Err(code))`: the BMC answered with a completion code
    /// other than success (the session is fine).
    fn call<C>(
        &mut self,
        name: &'static str,
        command: C,
    ) -> Result<Result<C::Output, CompletionErrorCode>, Error>
    where
        C: IpmiCommand,
        C::Error: std::fmt::Debug,
    {
        fn map<E: std::fmt::Debug, T, CE: std::fmt::Debug>(
            name: &'static str,
            r: Result<T, IpmiError<E, CE>>,
        ) -> Result<Result<T, CompletionErrorCode>, Error> {
            match r {
                Ok(v) => Ok(Ok(v)),
                Err(IpmiError::Failed {
                    completion_code, ..
                }) => Ok(Err(completion_code)),
                Err(e) => Err(Error::Command {
                    command: name,
                    message: format!("{e:?}"),
                }),
            }
        }
        match self {
            Connection::Lan(ipmi, _) => map(name, ipmi.send_recv(command)),
            Connection::Local(ipmi) => map(name, ipmi.send_recv(command)),
        }
    }

    /// The privilege of a network session (a local BMC has no sessions).
    fn privilege(&self) -> Option<Privilege> {
        match self {
            Connection::Lan(_, privilege) => Some(*privilege),
            Connection::Local(_) => None,
        }
    }

    /// [`Connection::call`] where any completion code but success is a failure.
    fn expect<C>(&mut self, name: &'static str, command: C) -> Result<C::Output, Error>
    where
        C: IpmiCommand,
        C::Error: std::fmt::Debug,
    {
        self.call(name, command)?.map_err(|code| match code {
            CompletionErrorCode::InsufficientPrivilege => Error::InsufficientPrivilege {
                command: name,
                privilege: self.privilege(),
            },
            _ => Error::Command {
                command: name,
                message: format!("completion code {code:?}"),
            },
        })
    }

    /// The SDR repository's records, each read in parts ([`commands::GetSdrPart`]),
    /// bounded in count and time; records ipmi-rs cannot parse are skipped.
    fn sdr_records(&mut self, deadline: Instant) -> Result<Vec<(Record, Vec<u8>)>, Error> {
        let mut out = Vec::new();
        let mut reservation = self.expect("Reserve SDR Repository", commands::ReserveSdr)?;
        let mut next = 0u16;
        let mut restarts = 0;
        while next != 0xFFFF && out.len() < MAX_SDR_RECORDS {
            if Instant::now() > deadline {
                return Err(Error::Deadline("the SDR repository walk"));
            }
            match self.sdr_record(reservation, next)? {
                Ok((following, record)) => {
                    out.extend(record);
                    if following == next {
                        break;
                    }
                    next = following;
                }
                // The reservation was cancelled (the repository changed): take a new one and
                // read the record again, a few times at most.
                Err(CompletionErrorCode::ReservationCancelledOrInvalidId) if restarts < 3 => {
                    restarts += 1;
                    reservation = self.expect("Reserve SDR Repository", commands::ReserveSdr)?;
                }
                Err(code) => {
                    return Err(Error::Command {
                        command: "Get SDR",
                        message: format!("completion code {code:?}"),
                    })
                }
            }
        }
        Ok(out)
    }

    /// One record: its header, then its body in parts.
    #[allow(clippy::type_complexity)]
    fn sdr_record(
        &mut self,
        reservation: u16,
        record_id: u16,
    ) -> Result<Result<(u16, Option<(Record, Vec<u8>)>), CompletionErrorCode>, Error> {
        const PART: u8 = 16;
        let part = |offset: u8, count: u8| commands::GetSdrPart {
            reservation,
            record_id,
            offset,
            count,
        };
        let (next, header) = match self.call("Get SDR", part(0, 5))? {
            Ok(v) => v,
            Err(code) => return Ok(Err(code)),
        };
        let Some(&length) = header.get(4).filter(|_| header.len() == 5) else {
            return Err(Error::Command {
                command: "Get SDR",
                message: format!("a header of {} bytes", header.len()),
            });
        };
        let mut record = header;
        while record.len() < 5 + usize::from(length) {
            let offset = record.len() as u8;
            let count = PART.min(5 + length - offset);
            match self.call("Get SDR", part(offset, count))? {
                Ok((_, bytes)) if !bytes.is_empty() && bytes.len() <= usize::from(count) => {
                    record.extend(bytes)
                }
                Ok((_, bytes)) => {
                    return Err(Error::Command {
                        command: "Get SDR",
                        message: format!("{} bytes for {count} asked", bytes.len()),
                    })
                }
                Err(code) => return Ok(Err(code)),
            }
        }
        Ok(Ok((
            next,
            commands::parse_sdr(&record).map(|parsed| (parsed, record)),
        )))
    }
}

/// The BMC this host reads, connected on first use.
pub struct Bmc {
    config: BmcConfig,
    connection: Mutex<Option<Connection>>,
}

impl Bmc {
    pub fn new(config: BmcConfig) -> Self {
        Self {
            config,
            connection: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &BmcConfig {
        &self.config
    }

    /// Run `op` on the session (opened first when needed); a failure closes the session so
    /// the next operation starts a new one. One operation at a time: IPMI is a conversation.
    ///
    /// A kept session may have been dropped by the BMC meanwhile (BMCs end RMCP+ sessions
    /// idle for their timeout, tens of seconds): when `op` fails on a kept session, a new one
    /// is opened and `op` runs again, once, within the same request, so a client polling
    /// less often than the BMC's timeout still gets every sensor. A session opened for this
    /// request is not tried again (a BMC that does not answer is not waited for twice).
    fn with<T>(
        &self,
        mut op: impl FnMut(&mut Connection, Instant) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut slot = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = Instant::now() + OPERATION_DEADLINE;
        let kept = slot.is_some();
        let connection = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(Connection::open(&self.config)?),
        };
        let result = op(connection, deadline);
        // A refusal of the account's privilege is the BMC's answer on a working session.
        if matches!(result, Ok(_) | Err(Error::InsufficientPrivilege { .. })) {
            return result;
        }
        *slot = None;
        if !kept || Instant::now() >= deadline {
            return result;
        }
        if let Err(error) = &result {
            tracing::info!(%error, "the kept BMC session failed; opening a new one");
        }
        let connection = slot.insert(Connection::open(&self.config)?);
        let retried = op(connection, deadline);
        if retried.is_err() {
            *slot = None;
        }
        retried
    }

    /// Every sensor of the SDR repository with its reading (and, for threshold sensors, its
    /// live thresholds).
    pub fn sensors(&self) -> Result<Vec<Sensor>, Error> {
        self.with(|c, deadline| {
            let records = c.sdr_records(deadline)?;
            let mut out = Vec::new();
            for (record, raw) in &records {
                if Instant::now() > deadline {
                    return Err(Error::Deadline("the sensor readings"));
                }
                let Some(mut sensor) = Sensor::from_record(&record.contents) else {
                    continue;
                };
                let reading = c.call(
                    "Get Sensor Reading",
                    commands::ReadSensor::new(sensor.number, sensor.target()),
                )?;
                let thresholds = match (&record.contents, &sensor.kind) {
                    (RecordContents::FullSensor(_), SensorKind::Threshold(_)) => c
                        .call(
                            "Get Sensor Thresholds",
                            commands::GetThresholds::new(sensor.number, sensor.target()),
                        )?
                        .ok(),
                    _ => None,
                };
                sensor.apply(&record.contents, reading.ok().as_ref(), thresholds.as_ref());
                sensor.apply_limits(&record.contents, raw);
                out.push(sensor);
            }
            Ok(out)
        })
    }

    /// The SEL's counters and its entries, oldest first.
    pub fn sel(&self) -> Result<Sel, Error> {
        self.with(|c, deadline| {
            let info = sel_info(c)?;
            let mut entries = Vec::new();
            let mut next = 0u16;
            while next != 0xFFFF && entries.len() < MAX_SEL_ENTRIES.min(usize::from(info.entries)) {
                if Instant::now() > deadline {
                    return Err(Error::Deadline("the SEL read"));
                }
                let (following, entry) =
                    c.expect("Get SEL Entry", commands::GetSelEntryRaw(next))?;
                entries.push(entry);
                if following == next {
                    break;
                }
                next = following;
            }
            Ok(Sel { info, entries })
        })
    }

    /// Only the SEL's counters.
    pub fn sel_info(&self) -> Result<SelInfo, Error> {
        self.with(|c, _| sel_info(c))
    }

    /// Erase the SEL and wait until the BMC says it is erased.
    pub fn clear_sel(&self) -> Result<(), Error> {
        self.with(|c, deadline| {
            let reservation = c.expect("Reserve SEL", ReserveSel)?;
            let mut progress = c.expect("Clear SEL", ClearSel::initiate(Some(reservation)))?;
            while progress != ErasureProgress::Completed {
                if Instant::now() > deadline {
                    return Err(Error::Deadline("the SEL erasure"));
                }
                std::thread::sleep(Duration::from_millis(50));
                progress = c.expect("Clear SEL", ClearSel::get_status(Some(reservation)))?;
            }
            Ok(())
        })
    }
}

fn sel_info(c: &mut Connection) -> Result<SelInfo, Error> {
    let info = c.expect("Get SEL Info", GetSelInfo)?;
    Ok(SelInfo {
        version: (info.version_maj, info.version_min),
        entries: info.entries,
        bytes_free: info.bytes_free,
        overflow: info.overflow,
    })
}
