//! `Win32_NTLogEvent`: the host's event logs as WMI shows Windows' (the records centreon's and
//! SCOM's event log checks query with WQL), read through an [`EventLog`] the daemon supplies
//! over the journal, with the same mapping as the WS-Eventing source (`docs/events.md`).
//!
//! Bounded: one enumeration reads the newest records first and at most
//! [`MAX_RECORDS`] of them; a query's `Logfile = '...'` and `TimeGenerated > '...'` narrow
//! what is read, so a check of the last hour reads only the last hour. Security and
//! `Linux/Journal` are for administrators, as on Windows. An enumeration keeps the records
//! it read, not their rendered instances (a fifth of the bytes), and makes each instance as it
//! is pulled; what it keeps counts against the enumeration contexts' memory budget.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use wsman_proto::cim::{CimDateTime, Instance, Value};
use wsman_proto::wql::{CompareOp, Condition, Literal};
use wsman_proto::Fault;

use super::schema::{ClassSchema, Declaration};
use super::{Answer, Class, Instances};
use crate::faults::event_log_fault;
use crate::{Context, Filter, Item, ItemSource};

/// Records one enumeration returns at most (newest first).
pub const MAX_RECORDS: usize = 10_000;

/// One record as Win32_NTLogEvent shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    /// `Application`, `System`, `Security`.
    pub logfile: String,
    pub record_number: u64,
    /// The full event id (`EventIdentifier`); `EventCode` is its low 16 bits, as on Windows.
    pub event_identifier: u32,
    /// The Windows level: 1 Critical, 2 Error, 3 Warning, 4 Information, 5 Verbose.
    pub level: u8,
    pub source_name: String,
    pub message: String,
    /// Microseconds since the Unix epoch.
    pub time_generated: i64,
    pub computer_name: String,
    /// The account, when the record names one.
    pub user: Option<String>,
    pub insertion_strings: Vec<String>,
}

/// What one enumeration asks of the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogQuery {
    /// The logs to read.
    pub logs: Vec<String>,
    /// Only records after this instant (microseconds since the Unix epoch).
    pub newer_than: Option<i64>,
    /// Most records, newest first.
    pub limit: usize,
    /// When the request runs out of time: the read stops there with [`ReadTimedOut`].
    pub deadline: Option<Instant>,
}

pub use crate::faults::{EventLogError, ReadTimedOut};

/// The host's event logs (the journal, read by the daemon).
pub trait EventLog: Send + Sync {
    /// The logs it has, by their Windows names.
    fn logs(&self) -> &[&'static str];
    /// Records of `query.logs`, newest first; [`ReadTimedOut`] once `query.deadline` passes.
    fn records(&self, query: &LogQuery) -> Result<Vec<LogRecord>, EventLogError>;
}

/// The logs only administrators read.
const ADMINISTRATORS_ONLY: [&str; 2] = ["Security", "Linux/Journal"];

/// The class.
pub struct NtLogEvent {
    log: Arc<dyn EventLog>,
}

impl NtLogEvent {
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self { log }
    }

    /// What to read for a caller: the log a filter pins (else every log it may read), after
    /// `newer_than`.
    fn query(
        &self,
        ctx: &Context<'_>,
        pinned_log: Option<String>,
        newer_than: Option<i64>,
    ) -> Result<LogQuery, Fault> {
        let administrator = ctx.caller.is_some_and(|c| c.is_administrator);
        let readable = |log: &str| {
            administrator
                || !ADMINISTRATORS_ONLY
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(log))
        };
        let logs: Vec<String> = match pinned_log {
            Some(wanted) => {
                let Some(log) = self
                    .log
                    .logs()
                    .iter()
                    .find(|l| l.eq_ignore_ascii_case(&wanted))
                else {
                    // No such log: no records, as WMI answers.
                    return Ok(LogQuery {
                        logs: Vec::new(),
                        newer_than: None,
                        limit: 0,
                        deadline: ctx.deadline,
                    });
                };
                if !readable(log) {
                    return Err(Fault::access_denied());
                }
                vec![(*log).to_owned()]
            }
            // Everything the caller may read; Linux/Journal repeats the others, so it is
            // read only when asked for by name.
            None => self
                .log
                .logs()
                .iter()
                .filter(|l| readable(l) && !l.eq_ignore_ascii_case("Linux/Journal"))
                .map(|l| (*l).to_owned())
                .collect(),
        };
        Ok(LogQuery {
            logs,
            newer_than,
            limit: MAX_RECORDS,
            deadline: ctx.deadline,
        })
    }
}

/// The instant a `TimeGenerated > '...'` (or `>=`) at the top of the AND chain sets.
fn lower_time_bound(condition: &Condition) -> Option<i64> {
    match condition {
        Condition::And(a, b) => match (lower_time_bound(a), lower_time_bound(b)) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        },
        Condition::Compare {
            property,
            op: CompareOp::Gt | CompareOp::Ge,
            literal: Literal::Text(text),
        } if property.eq_ignore_ascii_case("TimeGenerated")
            || property.eq_ignore_ascii_case("TimeWritten") =>
        {
            match CimDateTime::parse(text)? {
                // One microsecond early: `>=` and `>` both keep the bound's own records, and
                // the server applies the exact comparison afterwards.
                CimDateTime::Instant { micros, .. } => Some(micros - 1),
                CimDateTime::Interval { .. } => None,
            }
        }
        _ => None,
    }
}

/// Windows' EventType and Type of a level.
fn event_type(level: u8) -> (u8, &'static str) {
    match level {
        1 | 2 => (1, "Error"),
        3 => (2, "Warning"),
        _ => (3, "Information"),
    }
}

fn instance(record: LogRecord) -> Instance {
    let (event_type, type_name) = event_type(record.level);
    let time = CimDateTime::utc(record.time_generated);
    Instance::new("Win32_NTLogEvent", "root/cimv2")
        .with("Category", 0u16)
        .with("CategoryString", Value::Null)
        .with("ComputerName", record.computer_name)
        .with("Data", Value::Null)
        .with("EventCode", record.event_identifier & 0xFFFF)
        .with("EventIdentifier", record.event_identifier)
        .with("EventType", event_type)
        .with(
            "InsertionStrings",
            Value::Array(
                record
                    .insertion_strings
                    .into_iter()
                    .map(Value::Text)
                    .collect(),
            ),
        )
        .with_key("Logfile", record.logfile)
        .with("Message", record.message)
        .with_key("RecordNumber", record.record_number)
        .with("SourceName", record.source_name)
        .with("TimeGenerated", time)
        .with("TimeWritten", time)
        .with("Type", type_name)
        .with("User", record.user)
}

const NT_LOG_EVENT: ClassSchema = ClassSchema {
    name: "Win32_NTLogEvent",
    namespace: "root/cimv2",
    keys: &["Logfile", "RecordNumber"],
    singleton: false,
    references: &[],
    declaration: Declaration {
        superclass: None,
        properties: &[
            ("Category", "uint16"),
            ("CategoryString", "string"),
            ("ComputerName", "string"),
            ("Data", "uint8[]"),
            ("EventCode", "uint16"),
            ("EventIdentifier", "uint32"),
            ("EventType", "uint8"),
            ("InsertionStrings", "string[]"),
            ("Logfile", "string"),
            ("Message", "string"),
            ("RecordNumber", "uint32"),
            ("SourceName", "string"),
            ("TimeGenerated", "datetime"),
            ("TimeWritten", "datetime"),
            ("Type", "string"),
            ("User", "string"),
        ],
        methods: &[],
    },
};

impl Class for NtLogEvent {
    schema!(NT_LOG_EVENT);
    fn instances(&self, ctx: &Context<'_>, filter: Option<&Filter>) -> Instances {
        let records = self.records_for(ctx, filter)?;
        Ok(records.into_iter().map(instance).collect())
    }

    /// The records read at Enumerate, made into instances as they are pulled. A refusal or a
    /// failed read is left to [`Class::instances`], which answers its fault.
    fn instances_lazily(
        &self,
        ctx: &Context<'_>,
        filter: Option<&Filter>,
    ) -> Option<Box<dyn ItemSource>> {
        let records: VecDeque<LogRecord> = self.records_for(ctx, filter).ok()?.into();
        let held = records.iter().map(LogRecord::held_bytes).sum();
        Some(Box::new(Records {
            estimate: records.len(),
            records,
            held,
        }))
    }

    fn get(&self, ctx: &Context<'_>, keys: &[(&str, &str)]) -> Answer {
        let value = |name: &str| {
            keys.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let (Some(logfile), Some(record)) = (value("Logfile"), value("RecordNumber")) else {
            return Err(super::not_found());
        };
        let record: u64 = record.parse().map_err(|_| super::not_found())?;
        let record = record.to_string();
        self.read(ctx, Some(logfile.to_owned()), None)?
            .into_iter()
            .map(instance)
            .find(|i| i.matches_selectors([("RecordNumber", record.as_str())].into_iter()))
            .ok_or_else(super::not_found)
    }
}

impl NtLogEvent {
    /// The records an Enumerate with `filter` reads: the log it pins, after the time it sets.
    fn records_for(
        &self,
        ctx: &Context<'_>,
        filter: Option<&Filter>,
    ) -> Result<Vec<LogRecord>, Fault> {
        let newer_than = match filter {
            Some(Filter::Query(query)) => query.condition.as_ref().and_then(lower_time_bound),
            _ => None,
        };
        let pinned_log = filter.and_then(|f| f.pinned("Logfile"));
        self.read(ctx, pinned_log, newer_than)
    }

    fn read(
        &self,
        ctx: &Context<'_>,
        pinned_log: Option<String>,
        newer_than: Option<i64>,
    ) -> Result<Vec<LogRecord>, Fault> {
        let query = self.query(ctx, pinned_log, newer_than)?;
        if query.logs.is_empty() {
            return Ok(Vec::new());
        }
        self.log.records(&query).map_err(event_log_fault)
    }
}

impl LogRecord {
    /// Bytes the record keeps (its text and the struct), for the memory budget.
    fn held_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.logfile.len()
            + self.source_name.len()
            + self.message.len()
            + self.computer_name.len()
            + self.user.as_ref().map_or(0, String::len)
            + self
                .insertion_strings
                .iter()
                .map(|s| s.len() + std::mem::size_of::<String>())
                .sum::<usize>()
    }
}

/// The records of one enumeration, made into instances as they are pulled.
struct Records {
    records: VecDeque<LogRecord>,
    estimate: usize,
    held: usize,
}

impl ItemSource for Records {
    fn next_item(&mut self) -> Option<Item> {
        let record = self.records.pop_front()?;
        self.held = self.held.saturating_sub(record.held_bytes());
        if self.records.is_empty() {
            // The queue's own buffer goes with the last record, not with the context.
            self.records = VecDeque::new();
        }
        Some(Item::Instance(instance(record)))
    }

    fn estimate(&self) -> usize {
        self.estimate
    }

    fn held_bytes(&self) -> usize {
        self.held
    }
}
