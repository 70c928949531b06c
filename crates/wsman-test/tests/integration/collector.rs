//! The Windows Event Collector: the real daemon on loopback, and a forwarder that is a real
//! HTTP client (raw sockets, Basic) sending what a Windows forwarder sends: an Enumerate of
//! the subscription manager, then Events batches built by the push side's message builder,
//! in UTF-16, compressed with SLDC, to the NotifyTo address the Enumerate answer gave.
//!
//! Invariants: every event sent reaches the file exactly once and in order, across resends, a
//! replayed old batch and a collector killed between batches; a batch naming another Computer
//! is refused whole; bad input (bad SLDC, malformed, a missing Identifier, control characters,
//! `]]>`, oversized) gets its status and the collector keeps serving. Each output has its own
//! latency histogram and error counter (`output` label), seen with a TCP receiver killed and
//! started again ([`outputs`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use wsman_events::delivery::{self, DeliveryHeaders, Embedding};
use wsman_events::subscribe::EndpointReference;
use wsman_events::{sldc, BookmarkList};
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::http::basic_auth;
use wsman_test::{wec_database_env, Daemon, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

mod outputs;

const SUBSCRIPTION_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/subscription";
pub(crate) const ENUMERATE: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://127.0.0.1/wsman/SubscriptionManager/WEC</a:To><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:2E6B2E9C-1111-4A4B-9C1D-000000000001</a:MessageID><w:OperationTimeout>PT60.000S</w:OperationTimeout></s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate></s:Body></s:Envelope>"#;

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// One POST on a fresh connection, as the service account.
pub(crate) fn post(port: u16, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Answer {
    post_as(port, SERVICE_ACCOUNT, SERVICE_PASSWORD, path, body, headers)
}

/// One POST on a fresh connection, as `user`.
pub(crate) fn post_as(
    port: u16,
    user: &str,
    password: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Answer {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    post_on(stream, port, (user, password), path, body, headers)
}

/// One POST as `credentials` on `stream`, a connection to `port` (bytes such as a PROXY
/// header may have been written on it already).
pub(crate) fn post_on(
    mut stream: TcpStream,
    port: u16,
    (user, password): (&str, &str),
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Answer {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        basic_auth(user, password),
        body.len()
    );
    if !headers.iter().any(|(n, _)| *n == "Content-Type") {
        head.push_str("Content-Type: application/soap+xml;charset=UTF-8\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    let _ = stream.write_all(body);
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line).expect("header") == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    Answer { status, body }
}

pub(crate) fn text(body: &[u8]) -> String {
    wsman_proto::charset::decode(body, None)
        .map(|(t, _)| t)
        .unwrap_or_default()
}

pub(crate) fn event(record: u64, computer: &str, data: &str) -> String {
    format!("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='forwarder-test'/><EventID>4624</EventID><Level>4</Level><TimeCreated SystemTime='2026-11-23T10:00:00.0000000Z'/><EventRecordID>{record}</EventRecordID><Channel>Security</Channel><Computer>{computer}</Computer></System><EventData><Data Name='n'>{data}</Data></EventData></Event>")
}

/// What the Enumerate answer told the forwarder: delivery path and version.
pub(crate) struct Offer {
    pub(crate) path: String,
    pub(crate) version: String,
    pub(crate) bookmark: Option<u64>,
}

pub(crate) fn enumerate(port: u16) -> Offer {
    enumerate_as(port, SERVICE_ACCOUNT, SERVICE_PASSWORD)
}

pub(crate) fn enumerate_as(port: u16, user: &str, password: &str) -> Offer {
    let answer = post_as(
        port,
        user,
        password,
        "/wsman/SubscriptionManager/WEC",
        ENUMERATE.as_bytes(),
        &[],
    );
    let body = text(&answer.body);
    assert_eq!(answer.status, 200, "{body}");
    offer_of(&body)
}

/// The one subscription an Enumerate answer `body` offers.
pub(crate) fn offer_of(body: &str) -> Offer {
    let root = xml::parse(body, &Limits::default()).expect("XML");
    let response = root
        .elements()
        .nth(1)
        .and_then(|b| b.elements().next())
        .expect("EnumerateResponse");
    let context = response
        .elements()
        .find(|e| e.name == "EnumerationContext")
        .expect("context");
    assert!(context.text().is_empty(), "the context must be empty");
    assert!(response.elements().any(|e| e.name == "EndOfSequence"));
    let items = response
        .elements()
        .find(|e| e.name == "Items")
        .expect("Items");
    let subscriptions: Vec<&Element> = items
        .elements()
        .filter(|e| e.is(SUBSCRIPTION_NS, "Subscription"))
        .collect();
    assert_eq!(subscriptions.len(), 1);
    let version = subscriptions[0]
        .elements()
        .next()
        .expect("Version")
        .trimmed_text();
    let envelope = subscriptions[0]
        .elements()
        .nth(1)
        .expect("Envelope")
        .to_xml();
    let request = wsman_proto::parse_request(&envelope, &Limits::default()).expect("Subscribe");
    let subscribe = wsman_events::parse_subscribe(&request).expect("a valid Subscribe");
    let notify = subscribe.notify_to.expect("NotifyTo");
    assert_eq!(
        version.strip_prefix("uuid:"),
        Some(notify.reference_parameters[0].trimmed_text().as_str())
    );
    let path = notify
        .address
        .split_once("127.0.0.1")
        .map(|(_, rest)| {
            rest.split_once('/')
                .map(|(_, p)| format!("/{p}"))
                .unwrap_or_default()
        })
        .expect("address on our listener");
    let bookmark = match subscribe.start_at {
        Some(wsman_events::subscribe::StartAt::After(list)) => list.position("Security"),
        _ => None,
    };
    Offer {
        path,
        version: version.trim_start_matches("uuid:").to_owned(),
        bookmark,
    }
}

/// The offered subscription's delivery address, with its `e:Identifier` reference parameter
/// (the subscription's version, as the push side echoes it) when `identifier`.
pub(crate) fn delivery_endpoint(offer: &Offer, identifier: bool) -> EndpointReference {
    let mut parameters = Vec::new();
    if identifier {
        let mut element = Element::new(
            Some("http://schemas.xmlsoap.org/ws/2004/08/eventing"),
            "Identifier",
        );
        element
            .children
            .push(xml::Node::Text(offer.version.clone()));
        parameters.push(element);
    }
    delivery::endpoint(&offer.path, parameters)
}

/// Delivery `message`'s MessageID (and OperationID).
pub(crate) fn delivery_message_id(message: u64) -> String {
    format!("uuid:0B0B0B0B-0000-0000-0000-{message:012}")
}

/// The headers of a delivery as the push side writes them, acknowledgement requested.
pub(crate) fn delivery_headers<'a>(
    to: &'a EndpointReference,
    message_id: &'a str,
    bookmark: Option<&'a BookmarkList>,
) -> DeliveryHeaders<'a> {
    DeliveryHeaders {
        to,
        message_id,
        operation_id: message_id,
        session_id: None,
        sequence_id: 1,
        machine_id: SERVICE_ACCOUNT,
        max_envelope_size: 512_000,
        operation_timeout: Duration::from_secs(60),
        bookmark,
        ack_requested: true,
    }
}

/// A delivery as the push side writes it, UTF-16, SLDC-compressed.
pub(crate) fn batch(offer: &Offer, message: u64, events: &[String], identifier: bool) -> Vec<u8> {
    sldc::compress(&batch_text(offer, message, events, identifier))
}

/// The bytes of [`batch`] before compression: the envelope in UTF-16 with a byte-order mark.
pub(crate) fn batch_text(
    offer: &Offer,
    message: u64,
    events: &[String],
    identifier: bool,
) -> Vec<u8> {
    let to = delivery_endpoint(offer, identifier);
    let mut bookmark = BookmarkList::new();
    if let Some(last) = events
        .iter()
        .filter_map(|e| {
            e.split("<EventRecordID>")
                .nth(1)?
                .split('<')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .max()
    {
        bookmark.advance("Security", last);
    }
    let message_id = delivery_message_id(message);
    let headers = delivery_headers(&to, &message_id, Some(&bookmark));
    let xml = delivery::events_envelope(&headers, events, Embedding::Cdata);
    let (bytes, _) = delivery::encode(&xml, true);
    bytes
}

pub(crate) fn deliver(port: u16, offer: &Offer, body: &[u8]) -> Answer {
    deliver_as(port, SERVICE_ACCOUNT, SERVICE_PASSWORD, offer, body)
}

pub(crate) fn deliver_as(
    port: u16,
    user: &str,
    password: &str,
    offer: &Offer,
    body: &[u8],
) -> Answer {
    post_as(
        port,
        user,
        password,
        &offer.path,
        body,
        &[
            ("Content-Type", "application/soap+xml;charset=UTF-16"),
            ("Content-Encoding", "SLDC"),
        ],
    )
}

pub(crate) fn acknowledged(answer: &Answer, message: u64) {
    let body = text(&answer.body);
    assert_eq!(answer.status, 200, "{body}");
    assert!(
        body.contains("http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack"),
        "{body}"
    );
    assert!(
        body.contains(&format!("0B0B0B0B-0000-0000-0000-{message:012}")),
        "RelatesTo: {body}"
    );
}

/// `wsmand check-config` on a config dir holding `subscription` as `subscriptions/bad.toml`:
/// its exit status must be a refusal; its stderr.
pub(crate) fn check_config_refuses(subscription: &str) -> String {
    let mut config = wsman_test::ConfigDir::new();
    config.listener(wsman_test::ListenerSpec::http(wsman_test::free_port()));
    config.write();
    config.write_raw("subscriptions/bad.toml", subscription);
    let result = config
        .wsmand_command()
        .arg("check-config")
        .output()
        .expect("check-config");
    assert!(!result.status.success(), "{subscription}: accepted");
    String::from_utf8_lossy(&result.stderr).into_owned()
}

/// `count` events from the service account numbered 1..=count, their data `eN`.
pub(crate) fn numbered_events(count: u64) -> Vec<String> {
    (1..=count)
        .map(|r| event(r, SERVICE_ACCOUNT, &format!("e{r}")))
        .collect()
}

/// Delivers `events` as batch `message` (with its identifier) and asserts the Ack.
/// Resends the batch `message` of `events`, every `pause` while the collector answers 503, until
/// it is acknowledged; after `within`, fails saying the `output` is back yet no Ack came.
pub(crate) fn resend_until_acknowledged(
    (port, offer): (u16, &Offer),
    message: u64,
    events: &[String],
    (within, pause): (Duration, Duration),
    output: &str,
) {
    let deadline = Instant::now() + within;
    loop {
        let answer = deliver(port, offer, &batch(offer, message, events, true));
        if answer.status == 200 {
            acknowledged(&answer, message);
            break;
        }
        assert_eq!(answer.status, 503, "{}", text(&answer.body));
        assert!(
            Instant::now() < deadline,
            "the {output} is back, yet no Ack"
        );
        std::thread::sleep(pause);
    }
}

pub(crate) fn deliver_acknowledged(port: u16, offer: &Offer, message: u64, events: &[String]) {
    acknowledged(
        &deliver(port, offer, &batch(offer, message, events, true)),
        message,
    );
}

/// A collector with `subscription` as `subscriptions/NAME.toml` (`with_own_computers`), its
/// bookmarks in `database`.
pub(crate) fn collector_with(
    name: &str,
    subscription: &str,
    database: &std::path::Path,
) -> Fixture {
    let env = wec_database_env(database);
    Fixture::http_with_env(
        |config| {
            let subscription = crate::collector_computer::with_own_computers(subscription);
            config.write_raw(&format!("subscriptions/{name}.toml"), &subscription);
        },
        &env,
    )
}

#[test]
fn forwarded_events_reach_the_file_exactly_once_in_order() {
    let state = tempfile::tempdir().expect("tempdir");
    let output = state.path().join("out");
    let database = state.path().join("wec.sqlite");
    let subscription = format!(
        "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\nheartbeat_seconds = 60\n[[outputs]]\ntype = \"file\"\npath = \"{}/{{subscription}}/{{client}}.xml\"\nformat = \"raw\"\n",
        output.display()
    );
    let mut fixture = collector_with("wef", &subscription, &database);
    let port = fixture.port;
    let offer = enumerate(port);
    assert_eq!(offer.bookmark, None);
    let events = numbered_events(30);

    // Batches of 10; the second is sent twice (a lost Ack).
    deliver_acknowledged(port, &offer, 1, &events[0..10]);
    deliver_acknowledged(port, &offer, 2, &events[10..20]);
    deliver_acknowledged(port, &offer, 2, &events[10..20]);

    // Killed between batches; restarted, it offers the forwarder its stored bookmark.
    fixture.daemon.stop();
    let env = wec_database_env(&database);
    fixture.daemon = Daemon::start_with_env(&fixture.config, &[port], &env);
    let offer = enumerate(port);
    assert_eq!(offer.bookmark, Some(20));
    deliver_acknowledged(port, &offer, 3, &events[20..30]);
    // A replayed old batch is acknowledged, not written again, and does not move the bookmark.
    deliver_acknowledged(port, &offer, 1, &events[0..10]);
    assert_eq!(enumerate(port).bookmark, Some(30));

    // Forging: an event of another computer refuses the whole batch.
    let forged = vec![
        event(31, SERVICE_ACCOUNT, "ok"),
        event(32, "dc01.example.com", "forged"),
    ];
    assert_eq!(
        deliver(port, &offer, &batch(&offer, 4, &forged, true)).status,
        400
    );

    // Bad input, each answered and logged; the collector keeps serving.
    let bad_sldc = [0xFF, 0xF0, 0x12, 0x34, 0x56];
    assert_eq!(deliver(port, &offer, &bad_sldc).status, 400);
    assert_eq!(
        deliver(port, &offer, &batch(&offer, 5, &events[0..1], false)).status,
        400,
        "missing Identifier"
    );
    let malformed = sldc::compress(b"<s:Envelope><s:Body>");
    assert_eq!(deliver(port, &offer, &malformed).status, 400);
    let control = vec![event(33, SERVICE_ACCOUNT, "bell\u{7}")];
    assert_eq!(
        deliver(port, &offer, &batch(&offer, 6, &control, true)).status,
        400
    );
    let cdata_end = vec![format!("{}]]>x", event(34, SERVICE_ACCOUNT, "a"))];
    assert_eq!(
        deliver(port, &offer, &batch(&offer, 7, &cdata_end, true)).status,
        400
    );
    // A body that decompresses past the envelope limit.
    let huge = sldc::compress(&vec![b' '; 2 * 1024 * 1024]);
    assert_eq!(deliver(port, &offer, &huge).status, 400);
    // Plain XML labelled SLDC (as Windows sometimes sends) is accepted.
    let plain = {
        let compressed = batch(&offer, 8, &events[0..0], true);
        sldc::decompress(&compressed, 1 << 20).expect("our own stream")
    };
    let answer = post(
        port,
        &offer.path,
        &plain,
        &[
            ("Content-Type", "application/soap+xml;charset=UTF-16"),
            ("Content-Encoding", "SLDC"),
        ],
    );
    acknowledged(&answer, 8);

    let file = output.join("wef").join(format!("{SERVICE_ACCOUNT}.xml"));
    let written: Vec<String> = std::fs::read_to_string(&file)
        .expect("the output file")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(written, events, "every event exactly once, in order");
    assert!(fixture.daemon.is_running());
    let log = fixture.daemon.stderr();
    assert!(
        log.contains("claims Computer"),
        "the forged batch is logged"
    );
    assert!(!log.contains(SERVICE_PASSWORD));

    // The CLI sees the subscription and the forwarder.
    let out = wec_cli(fixture.config.path(), Some(&database), &["clients", "wef"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with(SERVICE_ACCOUNT) && l.ends_with("active")),
        "{out}"
    );
}

/// A second forwarder account, a Basic account named after its host as forwarders are.
pub(crate) const SECOND: &str = "wecsecond";
pub(crate) const SECOND_PASSWORD: &str = "Second-forwarder-7";

/// A collector with the metrics endpoint, the `wef` subscription writing raw XML to
/// `output_template`, and the accounts of two forwarders.
pub(crate) struct Collector {
    pub(crate) daemon: Daemon,
    pub(crate) config: wsman_test::ConfigDir,
    pub(crate) port: u16,
    pub(crate) metrics_port: u16,
    pub(crate) database: std::path::PathBuf,
}

impl Collector {
    pub(crate) fn start(state: &std::path::Path, output_template: &str) -> Collector {
        Collector::start_with_outputs(state, output_template, "")
    }

    /// [`Collector::start`] writing to `<state>/out/<subscription>/<client>.xml`, and the
    /// offer its subscription manager makes the first forwarder; with the output directory.
    pub(crate) fn start_offering(state: &std::path::Path) -> (Collector, Offer, PathBuf) {
        let output = state.join("out");
        let collector = Collector::start(
            state,
            &format!("{}/{{subscription}}/{{client}}.xml", output.display()),
        );
        let offer = enumerate(collector.port);
        (collector, offer, output)
    }

    /// [`Collector::start`] with `more_outputs` (`[[outputs]]` tables) after the file output.
    fn start_with_outputs(
        state: &std::path::Path,
        output_template: &str,
        more_outputs: &str,
    ) -> Collector {
        Collector::start_configured(state, output_template, more_outputs, 60, None)
    }

    /// [`Collector::start_with_outputs`] with the subscription's heartbeat interval and, when
    /// given, `collector_toml` as `DIR/collector.toml`.
    pub(crate) fn start_configured(
        state: &std::path::Path,
        output_template: &str,
        more_outputs: &str,
        heartbeat_seconds: u64,
        collector_toml: Option<&str>,
    ) -> Collector {
        let port = wsman_test::free_port();
        let metrics_port = wsman_test::free_port();
        let database = state.join("wec.sqlite");
        let mut config = wsman_test::ConfigDir::new();
        config.listener(wsman_test::ListenerSpec::http(port));
        config.set(
            "Metrics",
            "Address",
            &format!("\"127.0.0.1:{metrics_port}\""),
        );
        config.write();
        config.write_raw(
            "subscriptions/wef.toml",
            &crate::collector_computer::with_own_computers(&format!(
                "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\nheartbeat_seconds = {heartbeat_seconds}\n[[outputs]]\ntype = \"file\"\npath = \"{output_template}\"\nformat = \"raw\"\n{more_outputs}"
            )),
        );
        if let Some(text) = collector_toml {
            config.write_raw("collector.toml", text);
        }
        config.add_service_account();
        config.add_account(SECOND, SECOND_PASSWORD, Some("root"));
        let mut daemon = Daemon::start_with_env(&config, &[port], &wec_database_env(&database));
        daemon.wait_for_port(metrics_port);
        Collector {
            daemon,
            config,
            port,
            metrics_port,
            database,
        }
    }

    /// Kill the daemon and start it again on the same configuration and database.
    pub(crate) fn restart(&mut self) {
        self.daemon.stop();
        self.daemon = Daemon::start_with_env(
            &self.config,
            &[self.port],
            &wec_database_env(&self.database),
        );
        self.daemon.wait_for_port(self.metrics_port);
    }

    /// `wsmand wec ARGS` against this collector's configuration and database: its output.
    pub(crate) fn wec(&self, args: &[&str]) -> String {
        wec_cli(self.config.path(), Some(&self.database), args)
    }

    pub(crate) fn scrape(&self) -> Vec<crate::metrics::Sample> {
        let (status, _, body) = crate::metrics::scrape(self.metrics_port, "GET", "/metrics");
        assert!(status.contains(" 200 "), "{status}");
        crate::metrics::parse(&body)
    }

    /// `wsmand wec clients wef`: how many forwarders the CLI shows in each state.
    pub(crate) fn clients_by_state(&self) -> std::collections::BTreeMap<String, f64> {
        let out = self.wec(&["clients", "wef"]);
        let mut states = std::collections::BTreeMap::new();
        // The table ends at the first empty line (the refused forwarders follow it).
        for line in out.lines().skip(1).take_while(|l| !l.is_empty()) {
            let state = line.split_whitespace().last().expect("a state");
            *states.entry(state.to_owned()).or_insert(0.0) += 1.0;
        }
        states
    }
}

pub(crate) fn lines(file: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `wsmand --config-dir CONFIG [--wec-database DATABASE] wec ARGS`: its stdout, asserted to
/// succeed.
pub(crate) fn wec_cli(
    config: &std::path::Path,
    database: Option<&std::path::Path>,
    args: &[&str],
) -> String {
    let mut command = std::process::Command::new(wsman_test::binaries::wsmand());
    command.arg("--config-dir").arg(config);
    if let Some(database) = database {
        command.arg("--wec-database").arg(database);
    }
    let output = command.arg("wec").args(args).output().expect("wsmand wec");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "wsmand wec {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
