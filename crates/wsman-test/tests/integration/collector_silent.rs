//! Forwarders that stopped sending: one forwarder keeps heartbeating while another stops;
//! the stopped one, and only it, is counted by `wsman_wec_silent_clients` once it has been
//! silent for more than `[clients] silent_after_heartbeats` intervals, and listed by
//! `wsmand wec clients NAME --silent` with how long. Restarted, the collector reads the
//! forwarders' last times from the bookmark store and still counts the silent one.

use std::time::{Duration, Instant};

use wsman_events::delivery;
use wsman_events::sldc;
use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

use crate::collector::{
    acknowledged, batch, deliver_as, delivery_endpoint, delivery_headers, delivery_message_id,
    enumerate_as, numbered_events, text, Collector, Offer, SECOND, SECOND_PASSWORD,
};

/// The subscription's heartbeat interval, and how many of them make a forwarder silent: a
/// forwarder heartbeating every [`PACE`] is far from silent, even on a loaded machine.
const HEARTBEAT_SECONDS: u64 = 2;
const SILENT_AFTER: u32 = 2;
const PACE: Duration = Duration::from_millis(300);

/// A heartbeat as the push side writes it, UTF-16, SLDC-compressed.
fn heartbeat(offer: &Offer, message: u64) -> Vec<u8> {
    let to = delivery_endpoint(offer, true);
    let message_id = delivery_message_id(message);
    let headers = delivery_headers(&to, &message_id, None);
    let (bytes, _) = delivery::encode(&delivery::heartbeat_envelope(&headers), true);
    sldc::compress(&bytes)
}

/// One forwarder: its account and the offer it was made.
struct Forwarder {
    user: &'static str,
    password: &'static str,
    offer: Offer,
    messages: u64,
}

impl Forwarder {
    fn enumerate(port: u16, user: &'static str, password: &'static str) -> Forwarder {
        Forwarder {
            user,
            password,
            offer: enumerate_as(port, user, password),
            messages: 0,
        }
    }

    fn heartbeat(&mut self, port: u16) {
        self.messages += 1;
        let body = heartbeat(&self.offer, self.messages);
        let answer = deliver_as(port, self.user, self.password, &self.offer, &body);
        acknowledged(&answer, self.messages);
    }
}

fn silent_count(collector: &Collector) -> f64 {
    crate::metrics::value(
        &collector.scrape(),
        "wsman_wec_silent_clients",
        &[("subscription", "wef")],
    )
    .expect("wsman_wec_silent_clients{subscription=\"wef\"}")
}

/// The client names `wsmand wec clients wef ARGS` lists.
fn listed(collector: &Collector, args: &[&str]) -> Vec<String> {
    let mut command = vec!["clients", "wef"];
    command.extend_from_slice(args);
    collector
        .wec(&command)
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Heartbeat `live` every [`PACE`] until `condition` holds (bounded).
fn keep_going_until(
    collector: &Collector,
    live: &mut Forwarder,
    what: &str,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        live.heartbeat(collector.port);
        if condition() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(PACE);
    }
}

#[test]
fn a_forwarder_that_stops_heartbeating_is_counted_and_listed_silent_and_one_that_keeps_going_is_not(
) {
    let state = tempfile::tempdir().expect("tempdir");
    let output = state.path().join("out");
    let mut collector = Collector::start_configured(
        state.path(),
        &format!("{}/{{subscription}}/{{client}}.xml", output.display()),
        "",
        HEARTBEAT_SECONDS,
        Some(&format!(
            "[clients]\nsilent_after_heartbeats = {SILENT_AFTER}\n"
        )),
    );
    let port = collector.port;
    let mut live = Forwarder::enumerate(port, SERVICE_ACCOUNT, SERVICE_PASSWORD);
    let mut stops = Forwarder::enumerate(port, SECOND, SECOND_PASSWORD);

    // Both heard of: a batch from the live one (deliveries count as much as heartbeats),
    // a heartbeat from each.
    let events = numbered_events(3);
    let answer = deliver_as(
        port,
        SERVICE_ACCOUNT,
        SERVICE_PASSWORD,
        &live.offer,
        &batch(&live.offer, 1000, &events, true),
    );
    assert_eq!(answer.status, 200, "{}", text(&answer.body));
    stops.heartbeat(port);
    live.heartbeat(port);
    assert_eq!(silent_count(&collector), 0.0, "both were just heard");
    let mut all = listed(&collector, &[]);
    all.sort();
    let mut both = vec![SECOND.to_owned(), SERVICE_ACCOUNT.to_owned()];
    both.sort();
    assert_eq!(all, both);

    // The second stops; the first keeps going until the second has been silent long enough.
    keep_going_until(
        &collector,
        &mut live,
        "the stopped forwarder to be silent",
        || silent_count(&collector) == 1.0,
    );
    assert_eq!(listed(&collector, &["--silent"]), [SECOND]);
    let out = collector.wec(&["clients", "wef", "--silent"]);
    let line = out
        .lines()
        .find(|l| l.starts_with(SECOND))
        .expect("the silent forwarder's line");
    assert!(
        line.trim_end().ends_with('s') && out.starts_with("CLIENT") && out.contains("SILENT FOR"),
        "how long it has been silent: {out}"
    );
    // A larger N on the command line: not silent for that long yet.
    assert!(listed(&collector, &["--silent", "--silent-after", "1000"]).is_empty());

    // Restarted: the stopped forwarder is known from the store, still silent; the live one,
    // heard again, is not.
    collector.restart();
    live.offer = enumerate_as(port, SERVICE_ACCOUNT, SERVICE_PASSWORD);
    live.heartbeat(port);
    assert_eq!(
        silent_count(&collector),
        1.0,
        "the stopped one, read from the store"
    );
    let samples = collector.scrape();
    let total: f64 = ["active", "alive", "dead"]
        .iter()
        .map(|state| {
            crate::metrics::value(
                &samples,
                "wsman_wec_clients",
                &[("subscription", "wef"), ("state", state)],
            )
            .unwrap_or(0.0)
        })
        .sum();
    assert_eq!(total, 2.0, "both forwarders counted after the restart");
    assert_eq!(listed(&collector, &["--silent"]), [SECOND]);
}
