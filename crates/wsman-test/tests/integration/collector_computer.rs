//! The collector's Computer check on the real daemon on loopback, with a forwarder that is a
//! raw HTTP client (Basic as the service account): a decoy `Computer` nested in `EventData`
//! before the real `System`, or in `UserData` after it, is refused (400) and nothing of the
//! batch stored, since a reader taking the first `Computer` it meets would believe the decoy;
//! the Computer must be the sender's full name (not a first label in another domain), or one
//! the subscription's explicit map names for it: a Basic account of a bare name speaks for no
//! Computer of its own, not even one of that bare name.

use wsman_test::SERVICE_ACCOUNT;

use crate::collector::{
    batch, collector_with, deliver, deliver_acknowledged, enumerate, event, lines, text, SECOND,
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

/// A subscription of the Security log written raw under `output` (a directory per
/// subscription, a file per client), then `rest` (TOML).
fn raw_files_under(output: &std::path::Path, rest: &str) -> String {
    format!(
        "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\nheartbeat_seconds = 60\n[[outputs]]\ntype = \"file\"\npath = \"{}/{{subscription}}/{{client}}.xml\"\nformat = \"raw\"\n{rest}",
        output.display()
    )
}

#[test]
fn decoys_and_other_domains_are_refused_and_the_explicit_map_admits_a_full_name() {
    let state = tempfile::tempdir().expect("tempdir");
    let output = state.path().join("out");
    let subscription = raw_files_under(
        &output,
        &format!("[computers]\n\"{SERVICE_ACCOUNT}\" = [\"{MAPPED}\"]\n"),
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
    deliver_acknowledged(port, &offer, 5, std::slice::from_ref(&mapped));

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

/// A refusal its victim can see: a batch for a Computer the forwarder may not speak for is
/// answered 400 with a `w:DeliveryRefused` fault whose text says why, read by the client
/// library our forwarder delivers with (not a bare "HTTP status 400"); and the collector's
/// operator sees the refused forwarder and the reason in `wsmand wec clients` and `wsmand
/// wec doctor`, with the fix, though its forwarder connects and authenticates.
#[test]
fn a_refused_forwarder_is_told_why_and_wec_clients_and_doctor_name_it() {
    let state = tempfile::tempdir().expect("tempdir");
    let database = state.path().join("wec.sqlite");
    let subscription = raw_files_under(&state.path().join("out"), "");
    let fixture = collector_with("wef", &subscription, &database);
    let offer = enumerate(fixture.port);
    let forged = event(1, VICTIM, "forged");
    let body = batch(&offer, 1, std::slice::from_ref(&forged), true);

    let endpoint = wsman_client::Endpoint::parse(
        &format!("http://127.0.0.1:{}{}", fixture.port, offer.path),
        false,
    )
    .expect("endpoint");
    let mut options = wsman_client::ClientOptions::default();
    options.allow_unencrypted = true;
    options.auth = wsman_client::Auth::Basic(wsman_client::Credentials::new(
        SERVICE_ACCOUNT.to_owned(),
        wsman_test::SERVICE_PASSWORD,
    ));
    let client = wsman_client::BlockingClient::new(endpoint, options).expect("client");
    let refused = client.deliver(
        body,
        "application/soap+xml;charset=UTF-16",
        Some("SLDC"),
        "uuid:00000000-0000-4000-8000-000000000001",
    );
    match refused {
        Err(wsman_client::ClientError::Fault {
            status,
            subcode,
            message,
            ..
        }) => {
            assert_eq!(status, 400);
            assert_eq!(subcode.as_deref(), Some("w:DeliveryRefused"));
            assert!(
                message.contains(&format!("claims Computer {VICTIM:?}"))
                    && message.contains(SERVICE_ACCOUNT),
                "{message}"
            );
        }
        other => panic!("not a DeliveryRefused fault: {other:?}"),
    }

    let wec = |args: &[&str]| {
        let out = std::process::Command::new(wsman_test::binaries::wsmand())
            .arg("--config-dir")
            .arg(fixture.config.path())
            .arg("--wec-database")
            .arg(&database)
            .arg("wec")
            .args(args)
            .output()
            .expect("wsmand wec");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let clients = wec(&["clients", "wef"]);
    let line = clients
        .lines()
        .skip_while(|l| !l.starts_with("REFUSED"))
        .find(|l| l.starts_with(SERVICE_ACCOUNT))
        .unwrap_or_else(|| panic!("the refused forwarder is not named: {clients}"));
    assert!(
        line.contains(VICTIM) && line.contains("[computers]"),
        "why and the fix: {line}"
    );
    let doctor = wec(&["doctor", "--host", "localhost"]);
    assert!(
        doctor.lines().any(|l| l.starts_with("FAIL:")
            && l.contains(&format!("forwarder {SERVICE_ACCOUNT} are refused"))
            && l.contains(VICTIM)),
        "{doctor}"
    );
}
