//! The service's own numbers for an operator's scraper, in the Prometheus text exposition
//! format (version 0.0.4): requests by action and HTTP status, their latency as histograms,
//! the bytes Receive answers carried, authentication results by scheme, and gauges read when
//! scraped (open connections, shells and their commands, enumeration contexts, the
//! failed-login throttle).
//!
//! Why hand-written rather than a metrics crate: a few counters under one mutex, labels that
//! come only from our own code (an action name, a status code, a scheme), so the number of
//! series is bounded by construction and nothing a client sends becomes a label. The pipeline
//! records into [`Metrics`]; the gauges are sampled by the [`crate::Server`] at scrape time;
//! [`endpoint`] serves the text on its own local address (off unless configured).

pub mod collector;
pub mod endpoint;

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};
use std::sync::Mutex;
use std::time::Duration;

use wsman_proto::operation::Action;

/// Upper bounds (seconds) of the latency buckets: an Identify on a kept connection takes well
/// under a millisecond, a password check tens of milliseconds, a Receive long poll up to its
/// OperationTimeout (60 s by default).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0,
];

/// The label of a request that was answered before its envelope was parsed (refused by a
/// guard: 401, 413, 415, ...).
pub const UNPARSED: &str = "none";
/// The label of an Identify.
pub const IDENTIFY: &str = "Identify";

/// The `action` label of a parsed request: a name from a closed list, never the client's URI.
pub fn action_label(action: &Action) -> &'static str {
    match action {
        Action::Get => "Get",
        Action::Put => "Put",
        Action::Create => "Create",
        Action::Delete => "Delete",
        Action::Enumerate => "Enumerate",
        Action::Pull => "Pull",
        Action::Release => "Release",
        Action::Subscribe => "Subscribe",
        Action::Renew => "Renew",
        Action::GetStatus => "GetStatus",
        Action::Unsubscribe => "Unsubscribe",
        Action::Command => "Command",
        Action::Send => "Send",
        Action::Receive => "Receive",
        Action::Signal => "Signal",
        Action::End => "End",
        Action::InteractiveResponse => "InteractiveResponse",
        Action::Invoke(_) => "Invoke",
        Action::Absent => "Absent",
        // Unknown actions, and any the protocol crate learns later, until named here.
        _ => "Other",
    }
}

#[derive(Clone, Debug, Default)]
struct Histogram {
    /// Per bucket of [`LATENCY_BUCKETS`], not cumulative (summed when rendered).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }

    /// Adds `other`'s observations to these.
    fn add(&mut self, other: &Histogram) {
        for (bucket, count) in self.buckets.iter_mut().zip(other.buckets) {
            *bucket += count;
        }
        self.count += other.count;
        self.sum += other.sum;
    }

    /// The exposition lines of histogram `name` for one set of `labels` (`k="v",...`): the
    /// buckets summed, `+Inf`, the sum and the count.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS.iter().zip(self.buckets) {
            cumulative += count;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// What was recorded, by action label found by its address: the labels are this crate's
/// static strings, so a request costs no string compare (one text at two addresses has two
/// rows, summed when rendered).
#[derive(Debug, Default)]
struct Recorded {
    requests: Vec<((&'static str, u16), u64)>,
    latency: Vec<(&'static str, Histogram)>,
    receive_bytes: u64,
}

/// What the request pipeline records. One per service, shared by every connection.
#[derive(Debug, Default)]
pub struct Metrics {
    recorded: Mutex<Recorded>,
}

/// The values read at scrape time from the parts that own them.
#[derive(Clone, Debug, Default)]
pub struct Gauges {
    pub open_connections: usize,
    pub shells: usize,
    pub commands: usize,
    pub enumeration_contexts: usize,
    /// Addresses with recent failed logins ([`crate::throttle::LoginThrottle`]).
    pub failed_login_addresses: usize,
    /// Of those, the ones whose next credential check is delayed.
    pub delayed_login_addresses: usize,
    /// Authentication results: (scheme, `success` or `failure`) -> count.
    pub authentications: Vec<((String, &'static str), u64)>,
}

impl Metrics {
    /// One answered request: its action label ([`action_label`], [`UNPARSED`], [`IDENTIFY`]),
    /// HTTP status, time from its head to its answer, and the bytes of its body.
    pub fn record_request(
        &self,
        action: &'static str,
        status: u16,
        elapsed: Duration,
        body_bytes: u64,
    ) {
        let mut recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        let requests = &mut recorded.requests;
        match requests
            .iter_mut()
            .find(|((label, code), _)| std::ptr::eq(*label, action) && *code == status)
        {
            Some((_, count)) => *count += 1,
            None => requests.push(((action, status), 1)),
        }
        let latency = &mut recorded.latency;
        let at = match latency
            .iter()
            .position(|(label, _)| std::ptr::eq(*label, action))
        {
            Some(at) => at,
            None => {
                latency.push((action, Histogram::default()));
                latency.len() - 1
            }
        };
        latency[at].1.observe(elapsed.as_secs_f64());
        if action == "Receive" && status == 200 {
            recorded.receive_bytes = recorded.receive_bytes.saturating_add(body_bytes);
        }
    }

    /// The exposition text: what was recorded, then `gauges`.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut requests = BTreeMap::<(&str, u16), u64>::new();
        let mut latency = BTreeMap::<&str, Histogram>::new();
        let receive_bytes = {
            let guard = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
            for (key, count) in &guard.requests {
                *requests.entry(*key).or_insert(0) += count;
            }
            for (action, histogram) in &guard.latency {
                latency.entry(action).or_default().add(histogram);
            }
            guard.receive_bytes
        };
        let mut out = String::with_capacity(4096);
        two_label_family(
            &mut out,
            "wsman_requests_total",
            "counter",
            "Requests answered, by action (none: refused before parsing) and HTTP status.",
            ["action", "status"],
            requests
                .iter()
                .map(|((action, status), count)| (action, status, count)),
        );
        header(
            &mut out,
            "wsman_request_duration_seconds",
            "histogram",
            "Time from a request's head to its answer, by action (a Receive includes its wait for output).",
        );
        for (action, histogram) in &latency {
            histogram.render(
                &mut out,
                "wsman_request_duration_seconds",
                &format!("action=\"{action}\""),
            );
        }
        header(
            &mut out,
            "wsman_receive_bytes_total",
            "counter",
            "Bytes of the Receive answers sent (the commands' output as WinRS carries it).",
        );
        let _ = writeln!(out, "wsman_receive_bytes_total {receive_bytes}");
        two_label_family(
            &mut out,
            "wsman_authentications_total",
            "counter",
            "Credential checks, by scheme and result.",
            ["scheme", "result"],
            gauges
                .authentications
                .iter()
                .map(|((scheme, result), count)| (scheme, result, count)),
        );
        gauge(
            &mut out,
            "wsman_open_connections",
            "Connections open across all listeners.",
            gauges.open_connections,
        );
        gauge(
            &mut out,
            "wsman_shells",
            "WinRS shells open.",
            gauges.shells,
        );
        gauge(
            &mut out,
            "wsman_shell_commands",
            "Commands held by open shells (running or not yet deleted).",
            gauges.commands,
        );
        gauge(
            &mut out,
            "wsman_enumeration_contexts",
            "Enumeration contexts waiting for a Pull or Release.",
            gauges.enumeration_contexts,
        );
        gauge(
            &mut out,
            "wsman_failed_login_addresses",
            "Client addresses with recent failed logins.",
            gauges.failed_login_addresses,
        );
        gauge(
            &mut out,
            "wsman_failed_login_delayed_addresses",
            "Client addresses whose next credential check is delayed.",
            gauges.delayed_login_addresses,
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A metric family with two labels: its header, then one sample per (label values, value) row.
fn two_label_family<A: Display, B: Display, V: Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    [first, second]: [&str; 2],
    rows: impl IntoIterator<Item = (A, B, V)>,
) {
    header(out, name, kind, help);
    for (a, b, value) in rows {
        let _ = writeln!(out, "{name}{{{first}=\"{a}\",{second}=\"{b}\"}} {value}");
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: usize) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_keyed_by_label() {
        let metrics = Metrics::default();
        metrics.record_request("Get", 200, Duration::from_micros(300), 10);
        metrics.record_request("Get", 200, Duration::from_millis(20), 10);
        // The same label at another address counts with it.
        let get: &'static str = String::from("Get").leak();
        metrics.record_request(get, 500, Duration::from_secs(500), 10);
        metrics.record_request("Receive", 200, Duration::from_millis(1), 1000);
        metrics.record_request("Receive", 500, Duration::from_millis(1), 7);
        let text = metrics.render(&Gauges::default());
        assert!(text.contains("wsman_requests_total{action=\"Get\",status=\"200\"} 2\n"));
        assert!(text.contains("wsman_requests_total{action=\"Get\",status=\"500\"} 1\n"));
        assert!(text
            .contains("wsman_request_duration_seconds_bucket{action=\"Get\",le=\"0.0005\"} 1\n"));
        assert!(
            text.contains("wsman_request_duration_seconds_bucket{action=\"Get\",le=\"0.025\"} 2\n")
        );
        assert!(
            text.contains("wsman_request_duration_seconds_bucket{action=\"Get\",le=\"120\"} 2\n")
        );
        assert!(
            text.contains("wsman_request_duration_seconds_bucket{action=\"Get\",le=\"+Inf\"} 3\n")
        );
        assert!(text.contains("wsman_request_duration_seconds_count{action=\"Get\"} 3\n"));
        // only successful Receive answers count as output carried
        assert!(text.contains("wsman_receive_bytes_total 1000\n"));
    }

    #[test]
    fn action_labels_come_from_a_closed_list() {
        assert_eq!(action_label(&Action::Invoke("x\"y".to_owned())), "Invoke");
        assert_eq!(
            action_label(&Action::Other("http://evil/\"".to_owned())),
            "Other"
        );
        assert_eq!(action_label(&Action::Receive), "Receive");
    }
}
