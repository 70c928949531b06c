//! The subscription manager renders each subscription's Enumerate item once per version
//! (and delivery address and authentication) and reuses it for every forwarder: counted by
//! `wsman_wec_offers_rendered_total`, which a second forwarder's Enumerate and a reload that
//! changes nothing leave as they were, and a changed subscription moves. The answers are the
//! same bytes as before, the per-offer ids aside; the bytes themselves are held to a golden
//! file by `wsman-collector`'s `the_enumerate_answer_matches_its_golden_file...`.

use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

use crate::collector::{post_as, text, Collector, ENUMERATE, SECOND, SECOND_PASSWORD};

const MANAGER: &str = "/wsman/SubscriptionManager/WEC";

fn rendered(collector: &Collector) -> f64 {
    crate::metrics::value(&collector.scrape(), "wsman_wec_offers_rendered_total", &[])
        .expect("wsman_wec_offers_rendered_total")
}

/// The Enumerate answer for `user`, with every `uuid:` value (message ids, which differ per
/// answer) blanked.
fn answer(collector: &Collector, user: &str, password: &str) -> String {
    let answer = post_as(
        collector.port,
        user,
        password,
        MANAGER,
        ENUMERATE.as_bytes(),
        &[],
    );
    let body = text(&answer.body);
    assert_eq!(answer.status, 200, "{body}");
    let mut out = String::with_capacity(body.len());
    let mut rest = body.as_str();
    while let Some(at) = rest.find("uuid:") {
        out.push_str(&rest[..at + 5]);
        rest = rest[at + 5..].trim_start_matches(|c: char| c.is_ascii_hexdigit() || c == '-');
    }
    out.push_str(rest);
    out
}

#[test]
fn enumerate_items_are_rendered_once_per_subscription_version() {
    let state = tempfile::tempdir().expect("tempdir");
    let output = state.path().join("out");
    let template = format!("{}/{{subscription}}/{{client}}.xml", output.display());
    let mut collector = Collector::start_configured(state.path(), &template, "", 60, None);
    assert_eq!(
        rendered(&collector),
        0.0,
        "nothing rendered before an Enumerate"
    );

    let first = answer(&collector, SERVICE_ACCOUNT, SERVICE_PASSWORD);
    assert!(
        first.contains("<w:Heartbeats>PT60.000S</w:Heartbeats>"),
        "{first}"
    );
    assert_eq!(rendered(&collector), 1.0);
    // Another Enumerate and another forwarder (neither has a bookmark): the same item, not
    // rendered again.
    assert_eq!(answer(&collector, SERVICE_ACCOUNT, SERVICE_PASSWORD), first);
    assert_eq!(answer(&collector, SECOND, SECOND_PASSWORD), first);
    assert_eq!(rendered(&collector), 1.0);

    // A reload that changes no subscription keeps the rendered item.
    collector
        .daemon
        .reload_until("collector subscriptions loaded");
    assert_eq!(answer(&collector, SECOND, SECOND_PASSWORD), first);
    assert_eq!(rendered(&collector), 1.0);

    // A changed subscription (another heartbeat interval: a new version) is rendered anew,
    // once.
    let file = collector.config.path().join("subscriptions/wef.toml");
    let changed = std::fs::read_to_string(&file)
        .expect("the subscription")
        .replace("heartbeat_seconds = 60", "heartbeat_seconds = 30");
    std::fs::write(&file, changed).expect("rewrite the subscription");
    collector
        .daemon
        .reload_until("collector subscriptions loaded");
    let after = answer(&collector, SERVICE_ACCOUNT, SERVICE_PASSWORD);
    assert!(
        after.contains("<w:Heartbeats>PT30.000S</w:Heartbeats>"),
        "{after}"
    );
    assert_ne!(after, first);
    assert_eq!(rendered(&collector), 2.0);
    assert_eq!(answer(&collector, SECOND, SECOND_PASSWORD), after);
    assert_eq!(rendered(&collector), 2.0);
}
