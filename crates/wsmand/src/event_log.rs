//! The journal as the event logs `Win32_NTLogEvent` shows: read newest first with
//! `wsman-journal`, each entry mapped to its Windows event by the same mapping as the
//! WS-Eventing source, so a record and the event a subscription delivers agree.

use wsman_events::journal::{APPLICATION, LINUX_JOURNAL, SECURITY, SYSTEM};
use wsman_events::{ExportLimits, Mapping};
use wsman_journal::{Journal, Query, Reader, Start};
use wsman_providers::cim::ntlogevent::{EventLog, EventLogError, LogQuery, LogRecord};

/// The event logs over one journal.
pub(crate) struct JournalEventLog {
    journal: Journal,
    mapping: Mapping,
    runtime: tokio::runtime::Handle,
}

impl JournalEventLog {
    pub(crate) fn new(journal: Journal, mapping: Mapping, runtime: tokio::runtime::Handle) -> Self {
        Self {
            journal,
            mapping,
            runtime,
        }
    }
}

impl EventLog for JournalEventLog {
    fn logs(&self) -> &[&'static str] {
        &[APPLICATION, LINUX_JOURNAL, SECURITY, SYSTEM]
    }

    /// Blocks (providers run on the blocking pool): one `journalctl --reverse`, stopped at the
    /// limit or at the first entry older than the bound.
    fn records(&self, query: &LogQuery) -> Result<Vec<LogRecord>, EventLogError> {
        let journal_query = Query {
            journal: self.journal.clone(),
            start: Start::NewestFirst,
            ..Query::system()
        };
        let every_entry = query
            .logs
            .iter()
            .any(|l| l.eq_ignore_ascii_case(LINUX_JOURNAL));
        self.runtime.block_on(async {
            let mut reader = Reader::spawn(&journal_query, ExportLimits::default())?;
            let mut records = Vec::new();
            while records.len() < query.limit {
                let Some(entry) = reader.next().await? else {
                    break;
                };
                let event = self.mapping.event(&entry);
                let time = event.time_created.unix_micros();
                if query.newer_than.is_some_and(|bound| time <= bound) {
                    break;
                }
                let logfile = if every_entry {
                    LINUX_JOURNAL.to_owned()
                } else {
                    match query
                        .logs
                        .iter()
                        .find(|l| l.eq_ignore_ascii_case(&event.channel))
                    {
                        Some(log) => log.clone(),
                        None => continue,
                    }
                };
                records.push(LogRecord {
                    logfile,
                    record_number: event.record_id,
                    event_identifier: event.event_id,
                    level: event.level.value(),
                    source_name: event.provider.name,
                    message: event.message,
                    time_generated: time,
                    computer_name: event.computer,
                    user: None,
                    insertion_strings: vec![],
                });
            }
            Ok(records)
        })
    }
}
