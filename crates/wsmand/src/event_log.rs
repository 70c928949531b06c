//! The journal as the event logs `Win32_NTLogEvent` shows: read newest first with
//! `wsman-journal`, each entry mapped to its Windows event by the same mapping as the
//! WS-Eventing source, so a record and the event a subscription delivers agree.

use std::time::Instant;

use wsman_events::journal::{APPLICATION, LINUX_JOURNAL, SECURITY, SYSTEM};
use wsman_events::{ExportLimits, Mapping};
use wsman_journal::{Journal, Query, Reader, Start};
use wsman_providers::cim::ntlogevent::{
    EventLog, EventLogError, LogQuery, LogRecord, ReadTimedOut,
};

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
    /// limit, at the first entry older than the bound, or at the query's deadline (then
    /// [`ReadTimedOut`], and the `journalctl` child is killed with the reader): a read cut off
    /// for its request does not go on reading in the background.
    fn records(&self, query: &LogQuery) -> Result<Vec<LogRecord>, EventLogError> {
        let journal_query = Query {
            journal: self.journal.clone(),
            start: Start::NewestFirst,
            // A scan for a user's request: journalctl at the lowest priority.
            background: true,
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
                let next = match query.deadline {
                    Some(deadline) if Instant::now() >= deadline => return Err(ReadTimedOut.into()),
                    Some(deadline) => tokio::time::timeout_at(deadline.into(), reader.next())
                        .await
                        .map_err(|_| ReadTimedOut)?,
                    None => reader.next().await,
                };
                let Some(entry) = next? else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    use wsman_test::journal::JournalDir;

    const ENTRIES: usize = 300;

    fn journal() -> Option<JournalDir> {
        let entries: Vec<Vec<(&str, &str)>> = (0..ENTRIES)
            .map(|_| {
                vec![
                    ("SYSLOG_IDENTIFIER", "billing"),
                    ("PRIORITY", "6"),
                    ("MESSAGE", "an invoice was sent"),
                ]
            })
            .collect();
        let refs: Vec<&[(&str, &str)]> = entries.iter().map(Vec::as_slice).collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        JournalDir::from_entries(now - 600_000_000, &refs)
    }

    fn query(deadline: Option<Instant>) -> LogQuery {
        LogQuery {
            logs: vec![APPLICATION.to_owned()],
            newer_than: None,
            limit: 10_000,
            deadline,
        }
    }

    /// A read whose request's deadline has passed stops there: it answers [`ReadTimedOut`],
    /// not the records the same read answers without a deadline or within it (the provider
    /// makes that `w:TimedOut`), so a read cut off for its request does not go on reading.
    #[test]
    fn a_read_stops_at_its_deadline() {
        let Some(journal) = journal() else {
            return;
        };
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let log = JournalEventLog::new(
            Journal::Directory(journal.path()),
            Mapping::default(),
            runtime.handle().clone(),
        );
        let whole = log.records(&query(None)).expect("the whole read");
        assert_eq!(whole.len(), ENTRIES);
        let later = log
            .records(&query(Some(Instant::now() + Duration::from_secs(3600))))
            .expect("a read well within its deadline");
        assert_eq!(later.len(), ENTRIES);

        let cut = log.records(&query(Some(Instant::now())));
        let error = cut.expect_err("a read past its deadline");
        assert!(error.is::<ReadTimedOut>(), "{error}");
    }
}
