//! Windows forwarder traffic replayed into the real collector: the transcribed messages of
//! `crates/wsman-events/tests/fixtures/windows-forwarder/` (the Enumerate of the subscription
//! manager, a Heartbeat, the EventID 111 batch, two Events batches of Security, System and
//! WinRM events with RenderingInfo, SubscriptionEnd), posted as a Windows forwarder posts them:
//! UTF-16LE with a byte-order mark, deliveries SLDC-compressed by our encoder (checked against
//! our decoder first), authenticated with Kerberos from the test realm as the machine principal
//! `WIN10$` over sealed HTTP (`AllowUnencrypted = false`), and with a client certificate for
//! `win10.example.test` over HTTPS.
//!
//! Checked: every event lands in the file output exactly once, in the order sent, byte for
//! byte as the forwarder sent it (line breaks written as character references); a replayed old
//! batch is acknowledged and neither written again nor moves the bookmark back (the next
//! Enumerate offers the positions of the last batch's bookmark header); a batch claiming
//! another Computer is refused and logged, and nothing of it is written. Expected values are
//! read from the fixtures, never from what the collector wrote.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use wsman_client::{Auth, BlockingClient, ClientError, ClientOptions, Endpoint, KerberosAuth};
use wsman_events::offer::parse_enumerate_response;
use wsman_events::subscribe::StartAt;
use wsman_events::{sldc, BookmarkList};
use wsman_proto::xml::{self, Element, Limits};
use wsman_proto::{charset, ns};
use wsman_test::kdc::Kdc;
use wsman_test::{process, wec_database_env, Fixture, ListenerSpec};

/// The forwarder's host name in every fixture (its `MachineID` and each event's Computer).
const COMPUTER: &str = "win10.example.test";
/// A Computer the forwarder may not speak for.
const OTHER_COMPUTER: &str = "dc01.example.test";

/// One realm for the tests of this binary while any of them runs (libkrb5 reads the
/// environment of this process).
fn realm() -> Option<Arc<Kdc>> {
    Kdc::shared_realm(|_| {})
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wsman-events/tests/fixtures/windows-forwarder")
}

/// A fixture's message (the line after its provenance comment).
fn fixture(name: &str) -> String {
    let text = std::fs::read_to_string(fixture_dir().join(name)).unwrap();
    text.split_once('\n').unwrap().1.to_owned()
}

fn parse(text: &str) -> Element {
    xml::parse(text, &Limits::default()).unwrap()
}

fn header_text(envelope: &Element, namespace: &str, name: &str) -> String {
    envelope
        .child(ns::SOAP, "Header")
        .and_then(|h| h.child(namespace, name))
        .unwrap_or_else(|| panic!("header {name}"))
        .trimmed_text()
}

/// The events a fixture batch carries (CDATA text of each `w:Event`), in order.
fn events_of(message: &str) -> Vec<String> {
    let envelope = parse(message);
    envelope
        .child(ns::SOAP, "Body")
        .and_then(|b| b.child(ns::WSMAN, "Events"))
        .map(|events| events.elements().map(Element::text).collect())
        .unwrap_or_default()
}

/// What the subscription manager offered: where to deliver, under which identifier, and the
/// bookmark it holds for this forwarder.
struct Offered {
    address: String,
    identifier: String,
    bookmark: Option<BookmarkList>,
}

/// The Windows Enumerate, UTF-16 as Windows posts it, and the one subscription offered.
fn enumerate(client: &BlockingClient) -> Offered {
    let message = fixture("enumerate.request.xml");
    let message_id = header_text(&parse(&message), ns::ADDRESSING, "MessageID");
    let (bytes, content_type) = wsman_events::delivery::encode(&message, true);
    let reply = client
        .deliver(bytes, content_type, None, &message_id)
        .unwrap_or_else(|e| panic!("the Enumerate: {e}"));
    let body = reply.body.expect("an EnumerateResponse");
    let (offers, errors) = parse_enumerate_response(&body);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(offers.len(), 1, "one subscription offered");
    let subscribe = &offers[0].subscribe;
    assert!(subscribe.utf16, "the collector asks for UTF-16");
    assert!(subscribe.compress_sldc, "the collector asks for SLDC");
    let notify = subscribe.notify_to.clone().expect("NotifyTo");
    let identifier = notify
        .reference_parameters
        .iter()
        .find(|p| p.is(ns::EVENTING, "Identifier"))
        .expect("the Identifier reference parameter")
        .trimmed_text();
    let bookmark = match &subscribe.start_at {
        Some(StartAt::After(list)) => Some(list.clone()),
        _ => None,
    };
    Offered {
        address: notify.address,
        identifier,
        bookmark,
    }
}

/// A fixture message addressed to what the collector offered: its delivery address and
/// identifier in place of the fixture's (both read from the fixture itself).
fn addressed(message: &str, offered: &Offered) -> String {
    let envelope = parse(message);
    let to = header_text(&envelope, ns::ADDRESSING, "To");
    let identifier = header_text(&envelope, ns::EVENTING, "Identifier");
    message
        .replace(&to, &offered.address)
        .replace(&identifier, &offered.identifier)
}

/// Post `message` as a Windows forwarder does: UTF-16LE with a BOM, SLDC-compressed.
fn deliver(client: &BlockingClient, message: &str) -> Result<Option<String>, Box<ClientError>> {
    let message_id = header_text(&parse(message), ns::ADDRESSING, "MessageID");
    let (bytes, content_type) = wsman_events::delivery::encode(message, true);
    assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
    let compressed = sldc::compress(&bytes);
    // Our encoder, checked against our decoder before the collector sees it.
    assert_eq!(sldc::decompress(&compressed, 1 << 20).unwrap(), bytes);
    assert_eq!(
        charset::decode(&bytes, Some("UTF-16")).unwrap().0,
        message,
        "UTF-16 round trip"
    );
    client
        .deliver(compressed, content_type, Some("SLDC"), &message_id)
        .map(|reply| reply.action)
        .map_err(Box::new)
}

fn acknowledged(client: &BlockingClient, message: &str) {
    let answer = deliver(client, message).unwrap_or_else(|e| panic!("refused: {e}"));
    assert_eq!(
        answer.as_deref(),
        Some("http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack")
    );
}

/// The lines of the file output.
fn written(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An event as the Raw file output writes it: on one line, CR and LF as references.
fn as_written(event: &str) -> String {
    event.replace('\r', "&#xD;").replace('\n', "&#xA;")
}

const QUERY: &str = "<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select><Select Path=\"Microsoft-Windows-WinRM/Operational\">*</Select><Select Path=\"System\">*</Select></Query></QueryList>";

fn subscription(output: &Path) -> String {
    format!(
        "query = '{QUERY}'\nheartbeat_seconds = 60\ncontent_format = \"RenderedText\"\n[[outputs]]\ntype = \"file\"\npath = \"{}\"\nformat = \"raw\"\n",
        output.display()
    )
}

/// The whole Windows conversation against a collector reached by `manager` (the
/// subscription manager's URL) and `delivery` (a client for an address); `log` reads the
/// collector's log.
fn replay(
    manager: &BlockingClient,
    delivery: impl Fn(&str) -> BlockingClient,
    file: &Path,
    log: impl Fn() -> String,
) {
    let offered = enumerate(manager);
    assert!(
        offered.bookmark.is_none(),
        "a forwarder new to the collector"
    );
    let to = delivery(&offered.address);

    acknowledged(&to, &addressed(&fixture("heartbeat.request.xml"), &offered));
    let batches = [
        "events.bookmark-event.request.xml",
        "events-1.request.xml",
        "events-2.request.xml",
    ]
    .map(|name| addressed(&fixture(name), &offered));
    for batch in &batches {
        acknowledged(&to, batch);
    }
    let sent: Vec<String> = batches.iter().flat_map(|b| events_of(b)).collect();
    assert_eq!(sent.len(), 6);
    assert_eq!(
        written(file),
        sent.iter().map(|e| as_written(e)).collect::<Vec<_>>(),
        "every event once, in order, as sent\n{}",
        log()
    );

    // The last batch's bookmark header is the collector's position for this forwarder.
    let last_bookmark = BookmarkList::from_element(
        parse(&batches[2])
            .child(ns::SOAP, "Header")
            .and_then(|h| h.child(ns::WSMAN, "Bookmark"))
            .and_then(|b| b.elements().next())
            .unwrap(),
    )
    .unwrap();
    let stored = enumerate(manager)
        .bookmark
        .expect("a bookmark offered back");
    let positions = |list: &BookmarkList| {
        list.positions()
            .map(|(c, r)| (c.to_owned(), r))
            .collect::<Vec<_>>()
    };
    assert_eq!(positions(&stored), positions(&last_bookmark));

    // An old batch replayed (a lost Ack): acknowledged, nothing written, bookmark kept.
    acknowledged(&to, &batches[1]);
    assert_eq!(written(file).len(), sent.len(), "{}", log());
    let stored = enumerate(manager).bookmark.expect("a bookmark");
    assert_eq!(positions(&stored), positions(&last_bookmark));

    // A batch claiming another Computer: refused whole, logged, nothing written.
    let forged = batches[2].replace(
        &format!("<Computer>{COMPUTER}</Computer>"),
        &format!("<Computer>{OTHER_COMPUTER}</Computer>"),
    );
    assert_ne!(forged, batches[2]);
    let refused = deliver(&to, &forged);
    assert!(
        matches!(
            refused.as_ref().map_err(|e| &**e),
            Err(ClientError::Fault { status: 400, subcode: Some(subcode), message, .. })
                if subcode == "w:DeliveryRefused" && message.contains(OTHER_COMPUTER)
        ),
        "a 400 whose fault says why: {refused:?}"
    );
    assert_eq!(written(file).len(), sent.len());
    assert!(log().contains("claims Computer"), "{}", log());

    // SubscriptionEnd with Windows' WSManFault detail is taken.
    let end = addressed(&fixture("subscription-end.request.xml"), &offered);
    let answer = deliver(&to, &end);
    assert!(answer.is_ok(), "{answer:?}\n{}", log());
    assert_eq!(written(file).len(), sent.len());
}

/// `kadmin.local` in the test realm.
fn kadmin(kdc: &Kdc, query: &str) {
    let mut command = Command::new("kadmin.local");
    kdc.apply(&mut command);
    command
        .env("KRB5_KDC_PROFILE", kdc.dir().join("kdc.conf"))
        .args(["-r", kdc.realm(), "-q", query]);
    let finished = process::run(&mut command, None, Duration::from_secs(30));
    assert!(
        finished.status.success() && !finished.stderr.to_lowercase().contains("error"),
        "{}",
        finished.describe()
    );
}

#[test]
fn windows_traffic_over_kerberos_sealed_http_lands_once_in_order() {
    let Some(kdc) = realm() else { return };
    // The forwarder's machine account, as a domain-joined Windows host has one.
    let machine = format!("WIN10$@{}", kdc.realm());
    let machine_password = "Machine-Account-Pass-7";
    kadmin(&kdc, &format!("addprinc -pw {machine_password} WIN10$"));
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("forwarded.xml");
    let database = state.path().join("wec.sqlite");
    let mut env: Vec<(&str, &str)> = kdc
        .env()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.extend(wec_database_env(&database));
    let collector = Fixture::http_with_env(
        |config| {
            use std::os::unix::fs::PermissionsExt;
            config.set("Config.Service", "AllowUnencrypted", "false");
            let keytab = config.path().join("krb5.keytab");
            std::fs::copy(kdc.keytab(), &keytab).unwrap();
            std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600)).unwrap();
            config.write_raw(
                "kerberos.toml",
                &format!("[PrincipalMap]\n\"{machine}\" = \"{}\"\n", kdc.user()),
            );
            // The test realm is not the forwarder's DNS domain (a disjoint namespace): the
            // explicit map names the machine's Computer.
            config.write_raw(
                "subscriptions/wef.toml",
                &format!(
                    "{}[computers]\n\"{machine}\" = [\"{COMPUTER}\"]\n",
                    subscription(&file)
                ),
            );
        },
        &env,
    );
    let client = |url: &str| {
        // Sealed over HTTP (MS-WSMV), as a Windows forwarder sends; the SPN is HTTP/<host>.
        let url = url.replace("127.0.0.1", kdc.host());
        let mut options = ClientOptions::default();
        options.auth = Auth::Kerberos(
            KerberosAuth::with_password(&machine, machine_password)
                .with_scheme(wsman_client::KerberosScheme::Kerberos),
        );
        BlockingClient::new(Endpoint::parse(&url, false).unwrap(), options).unwrap()
    };
    let manager = client(&format!(
        "http://{}:{}/wsman/SubscriptionManager/WEC",
        kdc.host(),
        collector.port
    ));
    replay(&manager, client, &file, || collector.daemon.stderr());
    assert!(!collector.daemon.stderr().contains(machine_password));
}

#[test]
fn windows_traffic_with_a_client_certificate_over_https_lands_once_in_order() {
    use wsman_test::client_certs::{ClientSpec, TestCa};
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("forwarded.xml");
    let database = state.path().join("wec.sqlite");
    let ca = TestCa::new("forwarders CA");
    let files = ca.issue(
        &ClientSpec::new(COMPUTER),
        &state.path().join("client"),
        "win10",
    );
    let https_port = wsman_test::free_port();
    let mut thumbprint = String::new();
    let mut collector = Fixture::http_with_env(
        |config| {
            thumbprint = config.add_certificate();
            config.listener(ListenerSpec::https(https_port, &thumbprint));
            config.set("Config.Service.Auth", "Certificate", "true");
            ca.install(config);
            config.write_raw("subscriptions/wef.toml", &subscription(&file));
        },
        &wec_database_env(&database),
    );
    collector.daemon.wait_for_port(https_port);
    collector.map_certificates(
        &ca.thumbprint,
        COMPUTER,
        "*",
        "@{UserName=\"wsmanuser\";Enabled=\"true\"}",
    );
    let collector_certificate = collector
        .config
        .path()
        .join(format!("certs/{thumbprint}.crt"));
    let client = |url: &str| {
        let mut options = ClientOptions::default();
        options.auth = Auth::Certificate;
        options.tls.ca_file = Some(collector_certificate.clone());
        options.tls.client_certificate = Some(wsman_client::tls::ClientCertificate::from_files(
            &files.certificate,
            &files.key,
        ));
        BlockingClient::new(Endpoint::parse(url, false).unwrap(), options).unwrap()
    };
    let manager = client(&format!(
        "https://127.0.0.1:{https_port}/wsman/SubscriptionManager/WEC"
    ));
    replay(&manager, client, &file, || collector.daemon.stderr());
}
