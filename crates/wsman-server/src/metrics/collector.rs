//! The collector's numbers: events and bytes in, batches acknowledged and refused (by a
//! reason from a closed list), the time each output took to store a batch and its errors,
//! and the forwarders by state (sampled at scrape time from the bookmark store).
//!
//! Labels are subscription names (from the configuration, at most
//! [`wsman_collector::subscriptions::MAX_SUBSCRIPTIONS`]), output names made from the
//! configuration (`file`, `kafka`, `tcp-2`: see
//! [`wsman_collector::subscription_outputs::output_label`]) and words of our own; a
//! forwarder's name is never a label (there may be tens of thousands).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use super::{header, two_label_family, Histogram};

/// Why a delivery was refused: the `reason` label (decided in `wsman_collector::delivery`).
pub use wsman_collector::delivery::Refusal;

#[derive(Clone, Debug, Default)]
struct PerSubscription {
    events_received: u64,
    events_stored: u64,
    bytes_received: u64,
    batches_acked: u64,
    heartbeats: u64,
}

/// One output of one subscription.
#[derive(Clone, Debug, Default)]
struct PerOutput {
    latency: Histogram,
    errors: u64,
}

#[derive(Debug, Default)]
struct Recorded {
    subscriptions: BTreeMap<String, PerSubscription>,
    /// (subscription, output label) -> its numbers.
    outputs: BTreeMap<(String, String), PerOutput>,
    /// (subscription, or "" when none was resolved; reason) -> count.
    refused: BTreeMap<(String, Refusal), u64>,
}

/// What the collector records; one per collector.
#[derive(Debug, Default)]
pub struct CollectorMetrics {
    recorded: Mutex<Recorded>,
}

/// Forwarders by state, read at scrape time: (subscription, state) -> count.
pub type ClientCensus = Vec<((String, &'static str), u64)>;

impl CollectorMetrics {
    fn with(&self, subscription: &str, f: impl FnOnce(&mut PerSubscription)) {
        let mut recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        match recorded.subscriptions.get_mut(subscription) {
            Some(entry) => f(entry),
            None => f(recorded
                .subscriptions
                .entry(subscription.to_owned())
                .or_default()),
        }
    }

    /// A delivery to `subscription` was read: `body_bytes` as they came off the wire.
    pub fn received(&self, subscription: &str, events: usize, body_bytes: usize) {
        self.with(subscription, |s| {
            s.events_received += events as u64;
            s.bytes_received += body_bytes as u64;
        });
    }

    /// A batch was acknowledged after `stored` new events went to the outputs.
    pub fn acknowledged(&self, subscription: &str, stored: usize) {
        self.with(subscription, |s| {
            s.batches_acked += 1;
            s.events_stored += stored as u64;
        });
    }

    /// A heartbeat was taken.
    pub fn heartbeat(&self, subscription: &str) {
        self.with(subscription, |s| s.heartbeats += 1);
    }

    /// `output` of `subscription` took `elapsed` to store a batch, or failed.
    pub fn output_write(&self, subscription: &str, output: &str, elapsed: Duration, ok: bool) {
        let mut recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        let key = (subscription.to_owned(), output.to_owned());
        let entry = recorded.outputs.entry(key).or_default();
        entry.latency.observe(elapsed.as_secs_f64());
        if !ok {
            entry.errors += 1;
        }
    }

    /// A delivery was refused; `subscription` is `None` before one was resolved.
    pub fn refused(&self, subscription: Option<&str>, reason: Refusal) {
        let mut recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        *recorded
            .refused
            .entry((subscription.unwrap_or("").to_owned(), reason))
            .or_insert(0) += 1;
    }

    /// The exposition text of the collector, with `clients` and `silent` (subscription,
    /// forwarders silent for more than the configured heartbeat intervals) sampled now.
    pub fn render(
        &self,
        clients: &ClientCensus,
        silent: &[(String, u64)],
        offers_rendered: u64,
    ) -> String {
        let (subscriptions, outputs, refused) = {
            let recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
            (
                recorded.subscriptions.clone(),
                recorded.outputs.clone(),
                recorded.refused.clone(),
            )
        };
        let mut out = String::with_capacity(2048);
        render_subscription_counters(&mut out, &subscriptions);
        two_label_family(
            &mut out,
            "wsman_wec_output_errors_total",
            "counter",
            "Batches an output failed to store (answered 503), by subscription and output.",
            ["subscription", "output"],
            outputs
                .iter()
                .map(|((subscription, output), o)| (subscription, output, o.errors)),
        );
        two_label_family(
            &mut out,
            "wsman_wec_batches_refused_total",
            "counter",
            "Deliveries refused, by subscription (empty: not resolved) and reason.",
            ["subscription", "reason"],
            refused
                .iter()
                .map(|((subscription, reason), count)| (subscription, reason.label(), count)),
        );
        header(
            &mut out,
            "wsman_wec_output_write_seconds",
            "histogram",
            "Time an output took to store a batch durably (fsync, delivery reports, replies included), by subscription and output.",
        );
        for ((subscription, output), o) in &outputs {
            let labels = format!("subscription=\"{subscription}\",output=\"{output}\"");
            o.latency
                .render(&mut out, "wsman_wec_output_write_seconds", &labels);
        }
        two_label_family(
            &mut out,
            "wsman_wec_clients",
            "gauge",
            "Forwarders by subscription and state (as `wsmand wec clients` shows them).",
            ["subscription", "state"],
            clients
                .iter()
                .map(|((subscription, state), count)| (subscription, state, count)),
        );
        header(
            &mut out,
            "wsman_wec_silent_clients",
            "gauge",
            "Forwarders with no event and no heartbeat for more than [clients] silent_after_heartbeats heartbeat intervals (default 3), by subscription (listed by `wsmand wec clients NAME --silent`).",
        );
        for (subscription, count) in silent {
            let _ = writeln!(
                out,
                "wsman_wec_silent_clients{{subscription=\"{subscription}\"}} {count}"
            );
        }
        header(
            &mut out,
            "wsman_wec_offers_rendered_total",
            "counter",
            "Subscription items of the Enumerate answer rendered anew (once per subscription version, delivery address and authentication; every other Enumerate reuses them).",
        );
        let _ = writeln!(out, "wsman_wec_offers_rendered_total {offers_rendered}");
        out
    }
}

/// The collector's counters kept per subscription, one family each.
fn render_subscription_counters(
    out: &mut String,
    subscriptions: &BTreeMap<String, PerSubscription>,
) {
    let counter = |out: &mut String, name: &str, help: &str, value: fn(&PerSubscription) -> u64| {
        header(out, name, "counter", help);
        for (subscription, s) in subscriptions {
            let _ = writeln!(
                out,
                "{name}{{subscription=\"{subscription}\"}} {}",
                value(s)
            );
        }
    };
    counter(
        out,
        "wsman_wec_events_received_total",
        "Events in the deliveries read, by subscription (resent ones included).",
        |s| s.events_received,
    );
    counter(
        out,
        "wsman_wec_events_stored_total",
        "Events written to the outputs (not stored before), by subscription.",
        |s| s.events_stored,
    );
    counter(
        out,
        "wsman_wec_received_bytes_total",
        "Bytes of the delivery bodies read as sent (compressed or not), by subscription.",
        |s| s.bytes_received,
    );
    counter(
        out,
        "wsman_wec_batches_acked_total",
        "Event batches acknowledged (stored by every output), by subscription.",
        |s| s.batches_acked,
    );
    counter(
        out,
        "wsman_wec_heartbeats_total",
        "Heartbeats taken, by subscription.",
        |s| s.heartbeats,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_subscription_and_reason() {
        let metrics = CollectorMetrics::default();
        metrics.received("wef", 10, 1234);
        metrics.received("wef", 10, 1000);
        metrics.acknowledged("wef", 10);
        metrics.output_write("wef", "file", Duration::from_millis(3), true);
        metrics.output_write("wef", "file", Duration::from_millis(3), false);
        metrics.output_write("wef", "kafka", Duration::from_millis(300), true);
        metrics.refused(Some("wef"), Refusal::ForgedComputer);
        metrics.refused(None, Refusal::BadSldc);
        let clients = vec![(("wef".to_owned(), "active"), 2)];
        let text = metrics.render(&clients, &[("wef".to_owned(), 3)], 4);
        assert!(text.contains("wsman_wec_events_received_total{subscription=\"wef\"} 20\n"));
        assert!(text.contains("wsman_wec_received_bytes_total{subscription=\"wef\"} 2234\n"));
        assert!(text.contains("wsman_wec_events_stored_total{subscription=\"wef\"} 10\n"));
        assert!(text
            .contains("wsman_wec_output_errors_total{subscription=\"wef\",output=\"file\"} 1\n"));
        assert!(text
            .contains("wsman_wec_output_errors_total{subscription=\"wef\",output=\"kafka\"} 0\n"));
        assert!(text.contains(
            "wsman_wec_batches_refused_total{subscription=\"wef\",reason=\"forged_computer\"} 1\n"
        ));
        assert!(text.contains(
            "wsman_wec_batches_refused_total{subscription=\"\",reason=\"bad_sldc\"} 1\n"
        ));
        assert!(text.contains(
            "wsman_wec_output_write_seconds_bucket{subscription=\"wef\",output=\"file\",le=\"0.005\"} 2\n"
        ));
        assert!(text.contains(
            "wsman_wec_output_write_seconds_bucket{subscription=\"wef\",output=\"kafka\",le=\"0.005\"} 0\n"
        ));
        assert!(text.contains("wsman_wec_clients{subscription=\"wef\",state=\"active\"} 2\n"));
        assert!(text.contains("# TYPE wsman_wec_silent_clients gauge\n"));
        assert!(text.contains("wsman_wec_silent_clients{subscription=\"wef\"} 3\n"));
        assert!(text.contains("wsman_wec_offers_rendered_total 4\n"));
    }
}
