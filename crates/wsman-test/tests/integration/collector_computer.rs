//! The collector's Computer check on the real daemon on loopback, with a forwarder that is a
//! raw HTTP client (Basic as the service account): a decoy `Computer` nested in `EventData`
//! before the real `System`, or in `UserData` after it, is refused (400) and nothing of the
//! batch stored, since a reader taking the first `Computer` it meets would believe the decoy;
//! the Computer must be the sender's full name (not a first label in another domain), or one
//! the subscription's explicit map names for it: a Basic account of a bare name speaks for no
//! Computer of its own, not even one of that bare name.

use wsman_test::SERVICE_ACCOUNT;

use crate::collector::{
    acknowledged, batch, collector_with, deliver, enumerate, event, lines, text, SECOND,
};

/// `subscription` with the explicit map letting the tests' forwarders, Basic accounts of bare
/// names (the service account, [`SECOND`]), speak for the Computer of their own names, which
/// the tests' events carry (a bare name speaks for no Computer unless the map says so); as it
/// is when it has a map of its own.
pub(crate) fn with_own_computers(subscription: &str) -> String {
    if subscription.contains("[computers]") {
        return subscription.to_owned();
    }
    format!("{subscription}[computers]\n\"{SERVICE_ACCOUNT}\" = [\"{SERVICE_ACCOUNT}\"]\n\"{SECOND}\" = [\"{SECOND}\"]\n")
}

/// The Computer a decoy names: a host the forwarder may not speak for.
const VICTIM: &str = "dc01.example.test";
/// A Computer the subscription's map lets the service account speak for.
const MAPPED: &str = "linux01.mapped.example.test";

#[test]
fn decoys_and_other_domains_are_refused_and_the_explicit_map_admits_a_full_name() {
    let state = tempfile::tempdir().expect("tempdir");
    let output = state.path().join("out");
    let subscription = format!(
        "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\nheartbeat_seconds = 60\n[[outputs]]\ntype = \"file\"\npath = \"{}/{{subscription}}/{{client}}.xml\"\nformat = \"raw\"\n[computers]\n\"{SERVICE_ACCOUNT}\" = [\"{MAPPED}\"]\n",
        output.display()
    );
    let fixture = collector_with("wef", &subscription, &state.path().join("wec.sqlite"));
    let port = fixture.port;
    let offer = enumerate(port);

    let nested_before = event(1, SERVICE_ACCOUNT, "decoy before").replacen(
        "<System>",
        &format!(
            "<EventData><Data Name='a'>x</Data><Computer>{VICTIM}</Computer></EventData><System>"
        ),
        1,
    );
    let nested_after = event(2, SERVICE_ACCOUNT, "decoy after").replacen(
        "</Event>",
        &format!(
            "<UserData><Log xmlns='urn:log'><Computer>{VICTIM}</Computer></Log></UserData></Event>"
        ),
        1,
    );
    let other_domain = event(
        3,
        &format!("{SERVICE_ACCOUNT}.other.example.test"),
        "first label",
    );
    // The account's own bare name: any user of that name would speak for the host of that
    // name; the map does not name it.
    let own = event(4, SERVICE_ACCOUNT, "own");
    // The decoy after the System first: refusals of one kind are logged once a minute, and the
    // log must name this one.
    for (message, refused) in [
        (2, &nested_after),
        (1, &nested_before),
        (3, &other_domain),
        (4, &own),
    ] {
        let answer = deliver(
            port,
            &offer,
            &batch(&offer, message, std::slice::from_ref(refused), true),
        );
        assert_eq!(answer.status, 400, "{refused}: {}", text(&answer.body));
    }

    // The name the map gives it: stored.
    let mapped = event(5, MAPPED, "mapped");
    acknowledged(
        &deliver(
            port,
            &offer,
            &batch(&offer, 5, std::slice::from_ref(&mapped), true),
        ),
        5,
    );

    let file = output.join("wef").join(format!("{SERVICE_ACCOUNT}.xml"));
    assert_eq!(lines(&file), [mapped], "only the accepted event");
    let log = fixture.daemon.stderr();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("delivery refused"))
        .collect();
    assert!(!refusals.is_empty(), "{log}");
    assert!(
        refusals.iter().all(|l| l.contains(SERVICE_ACCOUNT)),
        "{refusals:#?}"
    );
    assert!(
        log.contains("elsewhere than Event/System/Computer"),
        "the decoy is named in the log: {log}"
    );
}
