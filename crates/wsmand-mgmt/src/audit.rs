//! The console's audit trail: logins, failed logins, refusals and actions. Each record goes to
//! the service's log with `audit = 1` (journald fields under systemd: `AUDIT=1`) and into a
//! bounded in-memory ring that the audit page shows, newest first. The rings are this
//! process's memory only: the journal is the durable trail. A record about a host names it,
//! so the audit page can show each user only the records of hosts that user may read.
//!
//! Sessions (logins, logouts), actions (service actions, terminals, event streams) and
//! refusals (refused requests and connections, denials, failed or held-back logins) each have
//! a ring of their own, so a flood of refusals can never push a login or an action out. And
//! refusals are rate-limited per client address: the first [`REFUSALS_PER_INTERVAL`] of an
//! address in each [`REFUSAL_INTERVAL`] are recorded one by one, the rest counted, then
//! recorded as one summary (`refusals summarized`) when the interval ends, so a client that
//! sends refusal after refusal adds a bounded number of log lines.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use wsman_principal::OwnerKey;
use wsman_proto::refusal_log::{LeftOut, RefusalLimits, RefusalLog};

use crate::sessions::audit_name;

/// Most records each ring keeps (sessions, actions, refusals); older ones are only in the
/// journal.
pub const MAX_RECORDS: usize = 1000;
/// The refusal log's interval per address.
pub const REFUSAL_INTERVAL: Duration = Duration::from_secs(10);
/// Refusals of one address recorded one by one per interval.
pub const REFUSALS_PER_INTERVAL: u32 = 20;
/// Most addresses counted apart; past it, new addresses share one count.
const MAX_REFUSING_ADDRESSES: usize = 1024;
/// The event of a summary of refusals not recorded one by one.
pub const SUMMARY_EVENT: &str = "refusals summarized";

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
    /// The logged-in principal the record is by (none before a login: a name given, or
    /// nobody); whose own records a user sees is decided on it, not on `user`.
    #[serde(skip)]
    pub owner: Option<OwnerKey>,
    /// The order records were made in, across the rings.
    #[serde(skip)]
    sequence: u64,
}

/// Who a record is by: a name given before a login (or none), or a logged-in principal.
#[derive(Clone, Copy)]
enum Who<'a> {
    Named(&'a str),
    Owner(&'a OwnerKey),
}

/// Which ring a record goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Session,
    Action,
    Refusal,
}

impl Kind {
    fn of(event: &str) -> Self {
        match event {
            "login" | "logout" => Self::Session,
            "refused" | "denied" | "login failed" | "login backoff" | "login refused"
            | SUMMARY_EVENT => Self::Refusal,
            _ => Self::Action,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The rings of recent records and the refusals' rate limit.
pub struct AuditTrail {
    rings: [Mutex<VecDeque<AuditRecord>>; 3],
    sequence: AtomicU64,
    /// By address (the one [`RefusalLog`], with the console's bounds).
    refusals: RefusalLog<IpAddr>,
}

impl Default for AuditTrail {
    fn default() -> Self {
        AuditTrail {
            rings: Default::default(),
            sequence: AtomicU64::new(0),
            refusals: RefusalLog::new(RefusalLimits {
                interval: REFUSAL_INTERVAL,
                per_key: REFUSALS_PER_INTERVAL,
                total: u32::MAX,
                max_keys: MAX_REFUSING_ADDRESSES,
            }),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The summary's detail: how many refusals of which kind were counted.
fn summary_detail(counted: &BTreeMap<String, u64>, over: Duration) -> String {
    let total: u64 = counted.values().sum();
    let kinds: Vec<String> = counted.iter().map(|(e, n)| format!("{e} {n}")).collect();
    format!(
        "{total} more refusal(s) in {} s, not recorded one by one: {}",
        over.as_secs().max(1),
        kinds.join(", ")
    )
}

impl AuditTrail {
    /// Records one event of the console itself (no host): to the log, then to its ring (the
    /// oldest record leaves when full); a refusal past its address's rate is only counted.
    pub fn record(&self, client: IpAddr, user: &str, event: &str, detail: &str) {
        self.record_about(client, Who::Named(user), event, None, detail);
    }

    /// Records one event of the console itself by the logged-in principal `owner`.
    pub fn record_by(&self, client: IpAddr, owner: &OwnerKey, event: &str, detail: &str) {
        self.record_about(client, Who::Owner(owner), event, None, detail);
    }

    /// Records one event about the configured host `host` by the logged-in principal `owner`.
    pub fn record_on(
        &self,
        client: IpAddr,
        owner: &OwnerKey,
        event: &str,
        host: &str,
        detail: &str,
    ) {
        self.record_about(client, Who::Owner(owner), event, Some(host), detail);
    }

    fn record_about(
        &self,
        client: IpAddr,
        who: Who<'_>,
        event: &str,
        host: Option<&str>,
        detail: &str,
    ) {
        if Kind::of(event) == Kind::Refusal && !self.admit_refusal(client, event, Instant::now()) {
            return;
        }
        self.write(&client.to_string(), who, event, host, detail);
    }

    /// Whether a refusal from `client` is recorded one by one (else it is counted); an
    /// expired interval of this address is summarized first.
    fn admit_refusal(&self, client: IpAddr, event: &str, now: Instant) -> bool {
        let admission = self.refusals.admit(client, event, now);
        for left in &admission.ended {
            self.summarize(left);
        }
        admission.log
    }

    /// Records the summary of every interval that has ended (called every
    /// [`REFUSAL_INTERVAL`], so a flood that stops is still summarized).
    pub fn flush_refusals(&self) {
        self.flush_refusals_at(Instant::now());
    }

    fn flush_refusals_at(&self, now: Instant) {
        for left in self.refusals.flush(now) {
            self.summarize(&left);
        }
    }

    fn summarize(&self, left: &LeftOut<IpAddr>) {
        let client = left
            .key
            .map_or_else(|| "(other addresses)".to_owned(), |ip| ip.to_string());
        let detail = summary_detail(&left.by_kind, left.over);
        self.write(&client, Who::Named(""), SUMMARY_EVENT, None, &detail);
    }

    fn write(&self, client: &str, who: Who<'_>, event: &str, host: Option<&str>, detail: &str) {
        let (user, owner) = match who {
            Who::Named(name) => (name.to_owned(), None),
            Who::Owner(owner) => (audit_name(owner.principal()), Some(owner.clone())),
        };
        let user = if user.is_empty() { "-" } else { user.as_str() };
        let host_field = host.unwrap_or("-");
        let kind = Kind::of(event);
        if kind == Kind::Refusal {
            tracing::warn!(audit = 1, client = %client, user, event, host = host_field, detail, "audit");
        } else {
            tracing::info!(audit = 1, client = %client, user, event, host = host_field, detail, "audit");
        }
        let record = AuditRecord {
            time: jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string()),
            client: client.to_owned(),
            user: user.chars().take(64).collect(),
            owner,
            event: event.to_owned(),
            host: host.map(|h| h.chars().take(128).collect()),
            detail: detail.chars().take(300).collect(),
            sequence: self.sequence.fetch_add(1, Ordering::Relaxed),
        };
        let mut ring = lock(&self.rings[kind.index()]);
        if ring.len() >= MAX_RECORDS {
            ring.pop_front();
        }
        ring.push_back(record);
    }

    /// Up to `limit` records of every ring, newest first.
    pub fn newest(&self, limit: usize) -> Vec<AuditRecord> {
        let mut all: Vec<AuditRecord> = self
            .rings
            .iter()
            .flat_map(|ring| lock(ring).iter().cloned().collect::<Vec<_>>())
            .collect();
        all.sort_unstable_by_key(|r| std::cmp::Reverse(r.sequence));
        all.truncate(limit);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn each_ring_is_bounded_and_all_are_newest_first() {
        let trail = AuditTrail::default();
        for n in 0..MAX_RECORDS + 5 {
            trail.record(ip("127.0.0.1"), "u", "action", &n.to_string());
        }
        let all = trail.newest(usize::MAX);
        assert_eq!(all.len(), MAX_RECORDS);
        assert_eq!(all[0].detail, (MAX_RECORDS + 4).to_string());
        assert_eq!(all[MAX_RECORDS - 1].detail, "5");
    }

    #[test]
    fn refusals_never_evict_logins_or_actions_and_are_summarized() {
        let trail = AuditTrail::default();
        trail.record(ip("127.0.0.1"), "admin", "login", "manager user");
        trail.record_on(
            ip("127.0.0.1"),
            &crate::sessions::manager_account("admin").owner_key(),
            "action",
            "host0",
            "Stop x",
        );
        let start = Instant::now();
        // 1,000 refusals from each of 3 addresses over 10 intervals.
        for n in 0..1_000u32 {
            let now = start + REFUSAL_INTERVAL * (n / 100);
            for client in ["192.0.2.1", "192.0.2.2", "2001:db8::1"] {
                let admitted = trail.admit_refusal(ip(client), "refused", now);
                assert_eq!(admitted, n % 100 < REFUSALS_PER_INTERVAL, "{n}");
            }
        }
        trail.flush_refusals_at(start + REFUSAL_INTERVAL * 200);
        let all = trail.newest(usize::MAX);
        let events: Vec<&str> = all.iter().map(|r| r.event.as_str()).collect();
        assert!(events.contains(&"login") && events.contains(&"action"));
        let summaries: Vec<&AuditRecord> =
            all.iter().filter(|r| r.event == SUMMARY_EVENT).collect();
        // One summary per address and interval, each counting the 80 left out.
        assert_eq!(summaries.len(), 3 * 10, "{:?}", summaries.first());
        assert!(summaries[0].detail.starts_with("80 more refusal(s)"));
    }

    #[test]
    fn addresses_past_the_bound_share_one_count() {
        let trail = AuditTrail::default();
        let now = Instant::now();
        for n in 0..(MAX_REFUSING_ADDRESSES as u32 + 500) {
            let client = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            trail.admit_refusal(client, "refused", now);
        }
        assert_eq!(trail.refusals.tracked(), MAX_REFUSING_ADDRESSES + 1);
        trail.flush_refusals_at(now + REFUSAL_INTERVAL);
        let all = trail.newest(usize::MAX);
        assert!(all
            .iter()
            .any(|r| r.client == "(other addresses)" && r.detail.starts_with("500 more")));
    }
}
