//! The console's audit trail: logins, failed logins, refusals and actions. Each record goes to
//! the service's log with `audit = 1` (journald fields under systemd: `AUDIT=1`) and into a
//! bounded in-memory ring that the audit page shows, newest first. The ring is this process's
//! memory only: the journal is the durable trail. A record about a host names it, so the
//! audit page can show each user only the records of hosts that user may read.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;

use serde::Serialize;

/// Most records the audit page keeps; older ones are only in the journal.
pub const MAX_RECORDS: usize = 1000;

/// One audited event.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRecord {
    /// When, RFC 3339 in UTC.
    pub time: String,
    /// The client's address.
    pub client: String,
    /// The user name given or logged in (`-` when none).
    pub user: String,
    /// What happened: `login`, `login failed`, `login backoff`, `logout`, `refused`, `action`.
    pub event: String,
    /// The configured host the record is about (an action, a refusal on it, a terminal or an
    /// event stream); `None` for the console's own events (logins, address refusals).
    pub host: Option<String>,
    /// The details: the host and action, or why a request was refused.
    pub detail: String,
}

/// The ring of recent records.
#[derive(Default)]
pub struct AuditTrail {
    records: Mutex<VecDeque<AuditRecord>>,
}

impl AuditTrail {
    /// Records one event of the console itself (no host): to the log, then to the ring (the
    /// oldest record leaves when full).
    pub fn record(&self, client: IpAddr, user: &str, event: &str, detail: &str) {
        self.record_about(client, user, event, None, detail);
    }

    /// Records one event about the configured host `host`.
    pub fn record_on(&self, client: IpAddr, user: &str, event: &str, host: &str, detail: &str) {
        self.record_about(client, user, event, Some(host), detail);
    }

    fn record_about(
        &self,
        client: IpAddr,
        user: &str,
        event: &str,
        host: Option<&str>,
        detail: &str,
    ) {
        let user = if user.is_empty() { "-" } else { user };
        let host_field = host.unwrap_or("-");
        if event == "login" || event == "logout" || event == "action" {
            tracing::info!(audit = 1, %client, user, event, host = host_field, detail, "audit");
        } else {
            tracing::warn!(audit = 1, %client, user, event, host = host_field, detail, "audit");
        }
        let record = AuditRecord {
            time: jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string()),
            client: client.to_string(),
            user: user.chars().take(64).collect(),
            event: event.to_owned(),
            host: host.map(|h| h.chars().take(128).collect()),
            detail: detail.chars().take(300).collect(),
        };
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if records.len() >= MAX_RECORDS {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// Up to `limit` records, newest first.
    pub fn newest(&self, limit: usize) -> Vec<AuditRecord> {
        let records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        records.iter().rev().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_is_bounded_and_newest_first() {
        let trail = AuditTrail::default();
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        for n in 0..MAX_RECORDS + 5 {
            trail.record(client, "u", "action", &n.to_string());
        }
        let all = trail.newest(usize::MAX);
        assert_eq!(all.len(), MAX_RECORDS);
        assert_eq!(all[0].detail, (MAX_RECORDS + 4).to_string());
        assert_eq!(all[MAX_RECORDS - 1].detail, "5");
    }
}
