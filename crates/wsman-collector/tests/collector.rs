//! Subscriptions from TOML, the subscription manager's answer (a golden fixture, and read back
//! by the event source's own Subscribe reader), deliveries written by the push side's message
//! builder and read here, the Computer check, and the file output read back from disk.

use std::path::Path;
use std::time::Duration;

use wsman_collector::ingest::{self, DeliveryError, DeliveryKind, Sender};
use wsman_collector::manager::{self, DeliveryAuth, ItemTemplate};
use wsman_collector::subscriptions::{self, OutputConfig, OutputFormat};
use wsman_events::delivery::{self, DeliveryHeaders, Embedding};
use wsman_events::{parse_subscribe, BookmarkList, ContentFormat, DeliveryMode};
use wsman_outputs::file::{self as output, FileOutputs};
use wsman_proto::enumeration::enumerate_response;
use wsman_proto::{parse_request, xml};

const QUERY: &str = r#"<QueryList><Query Id="0"><Select Path="Security">*[System[(EventID=4624)]]</Select><Select Path="Application">*</Select></Query></QueryList>"#;

fn subscription_text(extra: &str) -> String {
    format!("query = '{QUERY}'\nmax_items = 50\nmax_latency_seconds = 10\nheartbeat_seconds = 60\ncontent_format = \"RenderedText\"\n{extra}\n[[outputs]]\ntype = \"file\"\npath = \"/var/log/wec/{{subscription}}/{{client}}.log\"\nformat = \"json\"\n")
}

#[test]
fn subscriptions_are_read_typed_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("security.toml"), subscription_text("")).unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        "query = 'not a query list'\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    let set = subscriptions::load_dir(dir.path());
    assert_eq!(set.subscriptions.len(), 1, "{:?}", set.errors);
    assert_eq!(set.errors.len(), 1);
    assert!(set.errors[0].to_string().contains("broken.toml"));
    let security = &set.subscriptions[0];
    assert_eq!(security.name, "security");
    assert!(security.enabled);
    assert_eq!(security.uris, vec![subscriptions::DEFAULT_URI.to_owned()]);
    assert_eq!(security.max_items, Some(50));
    assert_eq!(security.max_latency, Duration::from_secs(10));
    assert_eq!(security.content_format, ContentFormat::RenderedText);
    assert_eq!(
        security.outputs,
        vec![OutputConfig::File {
            path: "/var/log/wec/{subscription}/{client}.log".to_owned(),
            format: OutputFormat::Json,
            group: None,
        }]
    );
    // The version follows the content; the identifier only the name; both are GUIDs.
    let same = subscriptions::load_dir(dir.path());
    assert_eq!(same.subscriptions[0].version, security.version);
    std::fs::write(
        dir.path().join("security.toml"),
        subscription_text("read_existing_events = true"),
    )
    .unwrap();
    let changed = subscriptions::load_dir(dir.path());
    assert_ne!(changed.subscriptions[0].version, security.version);
    assert_eq!(changed.subscriptions[0].identifier, security.identifier);
    for guid in [&security.version, &security.identifier] {
        assert_eq!(uuid_shape(guid), Some(()), "{guid}");
    }
    // Disabling keeps the file valid and the version (forwarders see no change but the offer).
    subscriptions::set_enabled(&dir.path().join("security.toml"), false).unwrap();
    let disabled = subscriptions::load_dir(dir.path());
    assert!(!disabled.subscriptions[0].enabled);
    assert_eq!(
        disabled.subscriptions[0].version,
        changed.subscriptions[0].version
    );
}

fn uuid_shape(text: &str) -> Option<()> {
    let groups: Vec<&str> = text.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    (lengths == [8, 4, 4, 4, 12]
        && text
            .chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase()))
    .then_some(())
}

#[test]
fn bad_subscription_files_are_refused_with_their_reason() {
    let cases = [
        ("a.toml", "name = 'b'\nquery = '<QueryList/>'\n", "differs"),
        ("a.toml", "query = '<QueryList/>'\nunknown = 1\n", "unknown"),
        ("a.toml", "query = '<QueryList/>'\ncontent_format = 'Xml'\n", "content_format"),
        ("a.toml", "query = '<QueryList/>'\nmax_items = 0\n", "max_items"),
        (
            "a.toml",
            "query = '<QueryList/>'\n[[outputs]]\ntype = 'file'\npath = 'relative'\nformat = 'raw'\n",
            "absolute",
        ),
        (
            "a.toml",
            "query = '<QueryList/>'\n[[outputs]]\ntype = 'file'\npath = '/x/../y'\nformat = 'raw'\n",
            "..",
        ),
        (".hidden.toml", "query = '<QueryList/>'\n", "not a subscription name"),
    ];
    for (file, text, reason) in cases {
        let text = text.replace("<QueryList/>", QUERY);
        let text = text.as_str();
        let error = subscriptions::parse(Path::new(file), text)
            .unwrap_err()
            .to_string();
        assert!(error.contains(reason), "{text}: {error}");
    }
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; subscriptions::MAX_FILE_BYTES as usize + 1]).unwrap();
    assert!(matches!(
        subscriptions::load_file(&big),
        Err(subscriptions::SubscriptionError::TooLarge(_))
    ));
}

fn security() -> subscriptions::Subscription {
    subscriptions::parse(
        Path::new("/etc/wsmand/subscriptions/security.toml"),
        &subscription_text(""),
    )
    .expect("the subscription parses")
}

#[test]
fn the_enumerate_answer_matches_its_golden_file_and_reads_back_as_a_subscribe() {
    let subscription = security();
    let mut bookmark = BookmarkList::new();
    bookmark.advance("Security", 4711);
    let auth = DeliveryAuth::Kerberos;
    let item = ItemTemplate::new(
        &subscription,
        "http://collector.example.com:5985/wsman",
        &auth,
    )
    .render(
        Some(&bookmark),
        "uuid:00000000-0000-0000-0000-000000000001",
        "uuid:00000000-0000-0000-0000-000000000002",
    );
    // An answer that fits one envelope: the items, an empty context and EndOfSequence.
    let body = enumerate_response(None, Some(std::slice::from_ref(&item)), true);
    let golden = include_str!("fixtures/enumerate-response-body.xml").trim();
    assert_eq!(
        body,
        golden
            .replace("VERSION", &subscription.version)
            .replace("IDENTIFIER", &subscription.identifier)
    );

    // The embedded envelope is a Subscribe the event source's reader accepts, with what the
    // subscription says.
    let root = xml::parse(&item, &xml::Limits::default()).unwrap();
    let envelope = root.elements().nth(1).unwrap().to_xml();
    let request = parse_request(&envelope, &xml::Limits::default()).unwrap();
    let subscribe = parse_subscribe(&request).unwrap();
    assert_eq!(subscribe.mode, DeliveryMode::Events);
    assert_eq!(subscribe.heartbeats, Some(Duration::from_secs(60)));
    assert_eq!(subscribe.max_time, Some(Duration::from_secs(10)));
    assert_eq!(subscribe.max_elements, Some(50));
    assert!(subscribe.utf16 && subscribe.send_bookmarks);
    assert_eq!(subscribe.content_format, ContentFormat::RenderedText);
    assert_eq!(subscribe.name.as_deref(), Some("security"));
    let notify = subscribe.notify_to.unwrap();
    assert_eq!(
        notify.address,
        format!(
            "http://collector.example.com:5985/wsman/subscriptions/{}/1",
            subscription.identifier
        )
    );
    assert_eq!(
        notify.reference_parameters[0].trimmed_text(),
        subscription.version
    );
    assert_eq!(
        subscribe.authentication[0].profile,
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"
    );
    match subscribe.start_at {
        Some(wsman_events::subscribe::StartAt::After(list)) => {
            assert_eq!(list.position("Security"), Some(4711))
        }
        other => panic!("bookmark not carried: {other:?}"),
    }

    // A certificate forwarder is told the issuers.
    let auth = DeliveryAuth::Certificate {
        issuers: vec!["4ab167dfcbbda8d6225889b05937112062ea1152".to_owned()],
    };
    let item = ItemTemplate::new(
        &subscription,
        "https://collector.example.com:5986/wsman",
        &auth,
    )
    .render(None, "uuid:1", "uuid:2");
    let root = xml::parse(&item, &xml::Limits::default()).unwrap();
    let request = parse_request(
        &root.elements().nth(1).unwrap().to_xml(),
        &xml::Limits::default(),
    )
    .unwrap();
    let subscribe = parse_subscribe(&request).unwrap();
    assert_eq!(
        subscribe.authentication[0].issuer_thumbprints,
        vec!["4AB167DFCBBDA8D6225889B05937112062EA1152".to_owned()]
    );
}

const EVENT: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='sshd'/><EventID>4624</EventID><EventRecordID>RECORD</EventRecordID><Channel>Security</Channel><Computer>COMPUTER</Computer></System><EventData><Data Name='user'>alice</Data></EventData></Event>";

fn event(record: u64, computer: &str) -> String {
    EVENT
        .replace("RECORD", &record.to_string())
        .replace("COMPUTER", computer)
}

/// A delivery of `events` in CDATA with bookmark `V`, as read by the collector.
fn read_cdata_delivery(events: &[String]) -> ingest::Delivery {
    let text = delivery_text(events, Embedding::Cdata, Some("V"));
    let request = parse_request(&text, &xml::Limits::default()).expect("a SOAP request");
    ingest::read_delivery(&request, false).expect("a delivery")
}

fn delivery_text(events: &[String], embedding: Embedding, identifier: Option<&str>) -> String {
    let parameters = identifier
        .map(manager::version_identifier)
        .into_iter()
        .collect();
    let to = delivery::endpoint("http://collector/wsman/subscriptions/X/1", parameters);
    let mut bookmark = BookmarkList::new();
    bookmark.advance("Security", 99);
    let headers = DeliveryHeaders {
        bookmark: Some(&bookmark),
        ..DeliveryHeaders::new(
            &to,
            "uuid:6C1E1F3A-0000-0000-0000-000000000001",
            "uuid:6C1E1F3A-0000-0000-0000-000000000002",
            "web01.example.com",
        )
    };
    delivery::events_envelope(&headers, events, embedding)
}

#[test]
fn deliveries_are_read_in_both_embeddings() {
    let events = vec![event(7, "web01.example.com"), event(8, "web01.example.com")];
    for (embedding, with_trees) in [
        (Embedding::Cdata, false),
        (Embedding::Cdata, true),
        (Embedding::Element, false),
    ] {
        let text = delivery_text(&events, embedding, Some("VERSION-1"));
        let request = parse_request(&text, &xml::Limits::default()).unwrap();
        let delivery = ingest::read_delivery(&request, with_trees).unwrap();
        // The tree is built when asked for (an element embedding has it anyway), and reads
        // the same either way.
        assert_eq!(
            delivery.events[0].tree.is_some(),
            with_trees || embedding == Embedding::Element
        );
        assert_eq!(
            *delivery.events[0].element(),
            xml::parse(&events[0], &xml::Limits::default()).unwrap()
        );
        assert_eq!(delivery.kind, DeliveryKind::Events);
        assert_eq!(delivery.version, "VERSION-1");
        assert_eq!(
            delivery.bookmark.as_ref().unwrap().position("Security"),
            Some(99)
        );
        assert_eq!(delivery.events.len(), 2);
        assert_eq!(delivery.events[1].record_id, Some(8));
        assert_eq!(delivery.events[0].channel, "Security");
        // The XML written out is the event as sent.
        assert_eq!(delivery.events[0].xml, events[0]);
        let reached = ingest::reached(&delivery, &security().channels);
        assert_eq!(reached.position("Security"), Some(99));
    }
    // A missing Identifier (the version reference parameter) is refused.
    let text = delivery_text(&events, Embedding::Cdata, None);
    let request = parse_request(&text, &xml::Limits::default()).unwrap();
    assert_eq!(
        ingest::read_delivery(&request, false).unwrap_err(),
        DeliveryError::NoIdentifier
    );
    // So is an event that is not an Event, or has no Computer.
    for bad in ["<Other/>", "<Event><System/></Event>", "not xml <"] {
        let text = delivery_text(&[bad.to_owned()], Embedding::Cdata, Some("V"));
        let request = parse_request(&text, &xml::Limits::default()).unwrap();
        assert!(matches!(
            ingest::read_delivery(&request, false),
            Err(DeliveryError::BadEvent { index: 0, .. })
        ));
    }
}

#[test]
fn the_computer_must_be_the_sender() {
    let machine = Sender::Kerberos("WEB01$@EXAMPLE.COM".into());
    let service = Sender::Kerberos("host/web01.example.com@EXAMPLE.COM".into());
    let user = Sender::Kerberos("backup@EXAMPLE.COM".into());
    let certificate = Sender::Certificate(vec!["web01.example.com".into()]);
    let account = Sender::Account("web01".into());
    let full_account = Sender::Account("web01.example.com".into());
    for (sender, computer) in [
        (&machine, "web01.example.com"),
        (&machine, "WEB01.EXAMPLE.COM."),
        (&service, "web01.example.com"),
        (&certificate, "web01.example.com"),
        (&full_account, "Web01.Example.Com"),
        (&full_account, "web01.example.com."),
    ] {
        assert!(sender.may_send_for(computer), "{sender:?} for {computer:?}");
    }
    for (sender, computer) in [
        (&machine, "web02.example.com"),
        // A first label in any domain, or the short name, is not the full name.
        (&machine, "web01.other.example"),
        (&machine, "WEB01"),
        (&service, "web01.other.com"),
        (&service, "web01"),
        (&certificate, "db01.example.com"),
        (&certificate, "web01"),
        // A user (account or principal) with a bare name speaks for no Computer, not even one
        // of that bare name (any user named `backup` would speak for the host `backup`):
        // only the subscription's explicit map lets it.
        (&account, "web01"),
        (&account, "WEB01."),
        (&user, "backup"),
        (&account, "web01.example.com"),
        (&user, "backup.example.com"),
        (&account, "web011.example.com"),
        (&account, ""),
    ] {
        assert!(
            !sender.may_send_for(computer),
            "{sender:?} for {computer:?}"
        );
    }
    let delivery = read_cdata_delivery(&[event(1, "web01"), event(2, "dc01.example.com")]);
    let error =
        ingest::check_computers(&delivery, &Sender::Account("web01".into()), &[]).unwrap_err();
    assert!(
        matches!(error, DeliveryError::Forged { index: 0, .. }),
        "{error}"
    );
    // The explicit map names the Computers a sender speaks for, each in full; a bare name
    // only when the map names it.
    let mapped = ["web01".to_owned(), "DC01.example.com.".to_owned()];
    ingest::check_computers(&delivery, &Sender::Account("web01".into()), &mapped).expect("mapped");
    let short = ["web01".to_owned(), "dc01".to_owned()];
    assert!(ingest::check_computers(&delivery, &Sender::Account("web01".into()), &short).is_err());
}

#[test]
fn the_file_output_writes_each_new_event_once_and_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut subscription = security();
    let raw = dir.path().join("{subscription}/{client}.xml");
    let json = dir.path().join("{subscription}/{client}.json");
    let raw_json = dir.path().join("{subscription}/{client}.raw.json");
    subscription.outputs = vec![
        OutputConfig::File {
            path: raw.to_str().unwrap().to_owned(),
            format: OutputFormat::Raw,
            group: None,
        },
        OutputConfig::File {
            path: json.to_str().unwrap().to_owned(),
            format: OutputFormat::Json,
            group: None,
        },
        OutputConfig::File {
            path: raw_json.to_str().unwrap().to_owned(),
            format: OutputFormat::RawJson,
            group: None,
        },
    ];
    let outputs = FileOutputs::new();
    let first = read_cdata_delivery(&[event(1, "web01"), event(2, "web01")]);
    let fresh = ingest::unseen(&first, None);
    outputs
        .write(
            &subscription.name,
            &subscription.outputs,
            "WEB01$@EXAMPLE.COM",
            &fresh,
            "2026-11-23T10:00:00Z",
        )
        .unwrap();
    // A resend of event 2 with event 3, after the store reached 2: only 3 is new.
    let mut stored = BookmarkList::new();
    stored.advance("Security", 2);
    let second = read_cdata_delivery(&[event(2, "web01"), event(3, "web01")]);
    let fresh = ingest::unseen(&second, Some(&stored));
    assert_eq!(fresh.len(), 1);
    outputs.reopen();
    outputs
        .write(
            &subscription.name,
            &subscription.outputs,
            "WEB01$@EXAMPLE.COM",
            &fresh,
            "2026-11-23T10:00:01Z",
        )
        .unwrap();

    let file = dir.path().join("security").join(format!(
        "{}.xml",
        output::client_path_part("WEB01$@EXAMPLE.COM")
    ));
    assert!(file.ends_with("security/WEB01__EXAMPLE.COM.xml"));
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        lines,
        vec![event(1, "web01"), event(2, "web01"), event(3, "web01")]
    );
    let json_lines = |file: &str| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(dir.path().join("security").join(file)).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let records = json_lines("WEB01__EXAMPLE.COM.json");
    assert_eq!(records.len(), 3);
    assert_eq!(records[2]["record_id"], 3);
    assert_eq!(records[2]["event"]["System"]["EventID"], "4624");
    assert_eq!(records[2]["event"]["EventData"]["user"], "alice");
    assert_eq!(records[0]["client"], "WEB01$@EXAMPLE.COM");
    // raw+json: the same records, with each event's XML as it came.
    let with_xml = json_lines("WEB01__EXAMPLE.COM.raw.json");
    assert_eq!(with_xml.len(), 3);
    for (record, (plain, xml)) in with_xml.iter().zip(records.iter().zip(&lines)) {
        assert_eq!(record["xml"], xml.as_str());
        assert_eq!(record["event"], plain["event"]);
        assert_eq!(record["record_id"], plain["record_id"]);
    }
}

#[test]
fn client_names_cannot_leave_the_output_directory() {
    for name in ["..", ".", "../../etc/passwd", "a/b", ""] {
        let part = output::client_path_part(name);
        assert!(
            !part.contains('/') && part != ".." && part != "." && !part.is_empty(),
            "{name}: {part}"
        );
    }
}

/// An event whose `System` (or `Computer`) is not the one a reader by namespace finds: a decoy
/// `System` in another namespace before or after the real one, two `Computer`s, two `System`s,
/// a root outside the event namespace. Each would let a forwarder pass the Computer check with
/// one name while a downstream reader going by local names sees another; each is refused.
#[test]
fn decoy_system_and_doubled_computer_events_are_refused() {
    const NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";
    let system = |computer: &str| {
        format!("<System><EventID>4624</EventID><EventRecordID>1</EventRecordID><Channel>Security</Channel><Computer>{computer}</Computer></System>")
    };
    let decoy =
        "<x:System xmlns:x='urn:decoy'><x:Computer>web01.example.com</x:Computer></x:System>";
    let forged = [
        format!("<Event xmlns='{NS}'>{decoy}{}</Event>", system("dc01.example.com")),
        format!("<Event xmlns='{NS}'>{}{decoy}</Event>", system("web01.example.com")),
        format!("<Event xmlns='{NS}'><System><Computer>web01.example.com</Computer><Computer>dc01.example.com</Computer></System></Event>"),
        format!("<Event xmlns='{NS}'><System><Computer>web01.example.com</Computer><x:Computer xmlns:x='urn:decoy'>dc01.example.com</x:Computer></System></Event>"),
        format!("<Event xmlns='{NS}'>{}{}</Event>", system("web01.example.com"), system("dc01.example.com")),
        format!("<Event>{}</Event>", system("web01.example.com")),
        // A decoy nested in EventData or UserData, before or after the real System.
        format!("<Event xmlns='{NS}'><EventData><Computer>web01.example.com</Computer></EventData>{}</Event>", system("dc01.example.com")),
        format!("<Event xmlns='{NS}'><UserData><L xmlns='urn:l'><System><Computer>web01.example.com</Computer></System></L></UserData>{}</Event>", system("dc01.example.com")),
        format!("<Event xmlns='{NS}'>{}<EventData><Data Name='x'><Computer>dc01.example.com</Computer></Data></EventData></Event>", system("web01.example.com")),
    ];
    let sender = Sender::Account("web01.example.com".into());
    // Both readers: the tree check and the one-pass check of the text.
    for (event, with_trees) in forged.iter().flat_map(|e| [(e, true), (e, false)]) {
        let text = delivery_text(std::slice::from_ref(event), Embedding::Cdata, Some("V"));
        let request = parse_request(&text, &xml::Limits::default()).unwrap();
        let refused = ingest::read_delivery(&request, with_trees)
            .and_then(|delivery| ingest::check_computers(&delivery, &sender, &[]));
        assert!(
            matches!(refused, Err(DeliveryError::BadEvent { index: 0, .. })),
            "{event} (trees: {with_trees}): {refused:?}"
        );
    }
    // The real thing is still read.
    let delivery = read_cdata_delivery(&[format!(
        "<Event xmlns='{NS}'>{}</Event>",
        system("web01.example.com")
    )]);
    assert_eq!(delivery.events[0].computer, "web01.example.com");
    ingest::check_computers(&delivery, &sender, &[]).unwrap();
}

/// A forwarder that makes up a new channel name for every event (10,000 of them over 100
/// batches, and as many in its bookmark header) adds rows to the real SQLite store only for
/// the logs its subscription's query names.
#[test]
fn a_forwarder_inventing_channels_adds_no_rows_beyond_its_query() {
    let dir = tempfile::tempdir().unwrap();
    let store = wsman_collector::store::SqliteStore::open(&dir.path().join("b.sqlite")).unwrap();
    use wsman_collector::store::Store;
    let subscription = security();
    for batch in 0..100u64 {
        let events: Vec<String> = (0..100)
            .map(|i| {
                event(batch * 100 + i + 1, "web01.example.com")
                    .replace("Security", &format!("Made-up-{batch}-{i}"))
            })
            .collect();
        let mut text = delivery_text(&events, Embedding::Cdata, Some("V"));
        // The bookmark header names made-up logs too.
        text = text.replace(
            "Channel=\"Security\"",
            &format!("Channel=\"Header-made-up-{batch}\""),
        );
        let delivery = ingest::read_delivery(
            &parse_request(&text, &xml::Limits::default()).unwrap(),
            false,
        )
        .unwrap();
        let reached = ingest::reached(&delivery, &subscription.channels);
        store
            .merge(
                "web01",
                "security",
                &reached,
                wsman_events::Timestamp::from_unix_micros(1),
            )
            .unwrap();
    }
    // One genuine batch of Security events: its row is kept.
    let delivery = read_cdata_delivery(&[event(20_000, "web01.example.com")]);
    store
        .merge(
            "web01",
            "security",
            &ingest::reached(&delivery, &subscription.channels),
            wsman_events::Timestamp::from_unix_micros(2),
        )
        .unwrap();
    let stored = store.load("web01", "security").unwrap().unwrap();
    let channels: Vec<&str> = stored.positions().map(|(c, _)| c).collect();
    assert!(
        channels.iter().all(|c| subscription.channels.contains(*c)),
        "{channels:?}"
    );
    assert!(channels.len() <= subscription.channels.len());
    assert_eq!(stored.position("Security"), Some(20_000));
}

/// An event is written on one line: a CR or an LF anywhere in its text (either alone, both, at
/// the start or the end of a value) becomes a character reference, and an event with neither
/// is written as it came.
#[test]
fn each_event_is_one_line_whatever_line_breaks_it_holds() {
    for value in ["a\nb", "a\rb", "a\r\nb", "\nab", "ab\r", "ab"] {
        let sent = event(7, "web01.example.com").replace("alice", value);
        let delivery = read_cdata_delivery(std::slice::from_ref(&sent));
        let expected = sent.replace('\r', "&#xD;").replace('\n', "&#xA;");
        assert_eq!(delivery.events[0].xml, expected, "{value:?}");
    }
}
