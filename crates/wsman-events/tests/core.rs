//! The eventing core on its own: the export-format reader, the journal mapping, the rendered
//! XML, the XPath subset and QueryList, and bookmarks.

use proptest::prelude::*;
use wsman_events::journal::{ExportError, APPLICATION, SECURITY, SYSTEM};
use wsman_events::{
    BookmarkList, ContentFormat, ExportLimits, ExportReader, Guid, JournalEntry, Mapping,
    QueryList, Timestamp, XPath,
};
use wsman_proto::xml;

/// Encode entries in the journal export format (text form where possible, binary otherwise).
fn export(entries: &[Vec<(String, Vec<u8>)>]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        for (name, value) in entry {
            out.extend_from_slice(name.as_bytes());
            if value.contains(&b'\n') || std::str::from_utf8(value).is_err() {
                out.push(b'\n');
                out.extend_from_slice(&(value.len() as u64).to_le_bytes());
                out.extend_from_slice(value);
            } else {
                out.push(b'=');
                out.extend_from_slice(value);
            }
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

fn read_all(
    bytes: &[u8],
    chunk: usize,
    limits: ExportLimits,
) -> Result<Vec<JournalEntry>, ExportError> {
    let mut reader = ExportReader::new(limits);
    let mut entries = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        reader.feed(piece, &mut |e| entries.push(e))?;
    }
    Ok(entries)
}

fn sshd_entry() -> JournalEntry {
    let bytes = export(&[vec![
        (
            "__CURSOR".into(),
            b"s=6a1f;i=1c2d;b=7c0b;m=2a;t=5f;x=9".to_vec(),
        ),
        ("__REALTIME_TIMESTAMP".into(), b"1795407122123456".to_vec()),
        ("_TRANSPORT".into(), b"syslog".to_vec()),
        ("PRIORITY".into(), b"6".to_vec()),
        ("SYSLOG_FACILITY".into(), b"4".to_vec()),
        ("SYSLOG_IDENTIFIER".into(), b"sshd".to_vec()),
        ("_PID".into(), b"812".to_vec()),
        ("_UID".into(), b"0".to_vec()),
        ("_SYSTEMD_UNIT".into(), b"ssh.service".to_vec()),
        (
            "_SYSTEMD_INVOCATION_ID".into(),
            b"0f8fad5bd9cb469fa16570867728950e".to_vec(),
        ),
        (
            "MESSAGE".into(),
            b"Accepted publickey for alice from 10.0.0.7 port 51234 <&'\">".to_vec(),
        ),
    ]]);
    let mut entries = read_all(&bytes, 7, ExportLimits::default()).expect("the entry reads");
    assert_eq!(entries.len(), 1);
    entries.remove(0)
}

#[test]
fn reads_text_and_binary_fields_split_anywhere() {
    let entries = vec![
        vec![
            ("MESSAGE".to_owned(), b"line one\nline two".to_vec()),
            ("_PID".to_owned(), b"42".to_vec()),
        ],
        vec![("MESSAGE".to_owned(), b"second".to_vec())],
    ];
    let bytes = export(&entries);
    for chunk in 1..bytes.len() {
        let read = read_all(&bytes, chunk, ExportLimits::default()).unwrap();
        assert_eq!(read.len(), 2, "chunk size {chunk}");
        assert_eq!(read[0].get("MESSAGE"), Some("line one\nline two"));
        assert_eq!(read[0].get("_PID"), Some("42"));
        assert_eq!(read[1].get("MESSAGE"), Some("second"));
    }
}

#[test]
fn oversized_values_are_skipped_not_buffered() {
    let limits = ExportLimits {
        max_value: 16,
        max_fields: 3,
        ..ExportLimits::default()
    };
    let entries = vec![vec![
        ("COREDUMP".to_owned(), vec![0u8; 1000]),
        ("MESSAGE".to_owned(), vec![b'x'; 100]),
        ("A".to_owned(), b"1".to_vec()),
        ("B".to_owned(), b"2".to_vec()),
    ]];
    let read = read_all(&export(&entries), 5, limits).unwrap();
    assert_eq!(read[0].get("COREDUMP"), Some("[1000 bytes not forwarded]"));
    assert_eq!(read[0].get("MESSAGE"), Some("[100 bytes not forwarded]"));
    assert_eq!(read[0].fields.len(), 3);
    assert_eq!(read[0].dropped_fields, 1);
}

#[test]
fn refuses_what_is_not_the_export_format() {
    assert!(matches!(
        read_all(b"lower=case\n\n", 4, ExportLimits::default()),
        Err(ExportError::BadName(_))
    ));
    let long = format!("{}=x\n\n", "A".repeat(100));
    assert!(matches!(
        read_all(long.as_bytes(), 3, ExportLimits::default()),
        Err(ExportError::NameTooLong(_))
    ));
    let mut binary = b"DATA\n".to_vec();
    binary.extend_from_slice(&2u64.to_le_bytes());
    binary.extend_from_slice(b"abX");
    assert!(matches!(
        read_all(&binary, 1, ExportLimits::default()),
        Err(ExportError::MissingNewline(_))
    ));
}

#[test]
fn maps_a_journal_entry_to_a_windows_event() {
    let entry = sshd_entry();
    let mapping = Mapping {
        computer: "host.example.test".to_owned(),
        ..Mapping::default()
    };
    let event = mapping.event(&entry);
    assert_eq!(event.provider.name, "sshd");
    assert_eq!(event.provider.guid, Guid::for_provider_name("sshd"));
    assert_eq!(event.channel, SECURITY);
    assert_eq!(event.level.value(), 4);
    assert_eq!(event.record_id, 0x1c2d);
    assert_eq!(event.process_id, 812);
    assert_eq!(event.user_sid.as_deref(), Some("S-1-22-1-0"));
    assert_eq!(
        event.activity_id.unwrap().to_string(),
        "{0F8FAD5B-D9CB-469F-A165-70867728950E}"
    );
    assert_eq!(
        event.time_created.to_system_time(),
        "2026-11-23T04:12:02.1234560Z"
    );
    // Every journal field is in EventData.
    assert_eq!(event.data.len(), entry.fields.len());

    let text = event.to_xml(ContentFormat::RenderedText);
    assert!(text.starts_with(
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='sshd' Guid='"
    ));
    assert!(!text.contains("> <"), "no whitespace between elements");
    // The XML parses, and the tree it parses to is the tree queries run on.
    let parsed = xml::parse(&text, &xml::Limits::default()).unwrap();
    let tree = event.tree(ContentFormat::RenderedText);
    assert_eq!(strip_prefixes(parsed), tree);
    let message = tree
        .child(wsman_events::event::EVENT_NS, "RenderingInfo")
        .and_then(|r| r.child(wsman_events::event::EVENT_NS, "Message"))
        .unwrap();
    assert_eq!(message.text(), entry.get("MESSAGE").unwrap());
}

fn strip_prefixes(mut element: xml::Element) -> xml::Element {
    element.prefix = None;
    element.attributes.retain(|a| a.name != "xmlns");
    element.children = element
        .children
        .into_iter()
        .map(|n| match n {
            xml::Node::Element(e) => xml::Node::Element(strip_prefixes(e)),
            text => text,
        })
        .collect();
    element
}

#[test]
fn channels_follow_the_rules() {
    let mapping = Mapping::default();
    let entry = |fields: &[(&str, &str)]| JournalEntry {
        fields: fields
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        dropped_fields: 0,
    };
    assert_eq!(mapping.channel(&entry(&[("_TRANSPORT", "kernel")])), SYSTEM);
    assert_eq!(
        mapping.channel(&entry(&[("_SYSTEMD_UNIT", "cron.service")])),
        SYSTEM
    );
    assert_eq!(
        mapping.channel(&entry(&[("_TRANSPORT", "audit")])),
        SECURITY
    );
    assert_eq!(
        mapping.channel(&entry(&[
            ("SYSLOG_IDENTIFIER", "sudo"),
            ("_SYSTEMD_UNIT", "x")
        ])),
        SECURITY
    );
    assert_eq!(
        mapping.channel(&entry(&[
            ("_SYSTEMD_UNIT", "user@1000.service"),
            ("_SYSTEMD_USER_UNIT", "app.service")
        ])),
        APPLICATION
    );
    assert_eq!(mapping.channel(&entry(&[("_COMM", "myapp")])), APPLICATION);
}

#[test]
fn control_characters_never_reach_the_xml() {
    let mut entry = sshd_entry();
    entry
        .fields
        .push(("MESSAGE2".to_owned(), "a\u{1}b\u{0}c]]>".to_owned()));
    let text = Mapping::default().event(&entry).to_xml(ContentFormat::Raw);
    assert!(text.contains("a\u{FFFD}b\u{FFFD}c]]&gt;"));
    xml::parse(&text, &xml::Limits::default()).expect("well-formed");
}

fn event_tree(level: &str, event_id: &str, provider: &str, time: &str) -> xml::Element {
    let text = format!(
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
         <Provider Name='{provider}'/><EventID>{event_id}</EventID><Level>{level}</Level>\
         <Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='{time}'/></System>\
         <EventData><Data Name='TargetUserName'>bob</Data><Data Name='LogonType'>10</Data>\
         </EventData></Event>"
    );
    xml::parse(&text, &xml::Limits::default()).expect("the test event parses")
}

#[test]
fn the_xpath_forms_windows_subscriptions_carry() {
    let now = Timestamp::parse_system_time("2026-11-23T12:00:00Z").unwrap();
    let recent = event_tree(
        "2",
        "4625",
        "Microsoft-Windows-Security-Auditing",
        "2026-11-23T11:00:00.0000000Z",
    );
    let old = event_tree("4", "4624", "sshd", "2026-11-20T11:00:00.0000000Z");
    let cases: &[(&str, bool, bool)] = &[
        ("*", true, true),
        ("*[System[(Level=1 or Level=2)]]", true, false),
        (
            "*[System[(Level=1 or Level=2) and TimeCreated[timediff(@SystemTime) <= 86400000]]]",
            true,
            false,
        ),
        (
            "*[System[TimeCreated[timediff(@SystemTime) > 86400000]]]",
            false,
            true,
        ),
        ("*[System[Provider[@Name='sshd']]]", false, true),
        ("*[System/Provider/@Name=\"sshd\"]", false, true),
        ("*[System[(EventID=4624 or EventID=4625)]]", true, true),
        (
            "*[System[(EventID &gt;= 4625)]]"
                .replace("&gt;", ">")
                .leak(),
            true,
            false,
        ),
        ("*[System[band(Keywords,9007199254740992)]]", true, true),
        ("*[System[band(Keywords,4503599627370496)]]", false, false),
        ("*[System[Level!=2]]", false, true),
        ("*[System[not(Level=2)]]", false, true),
        ("Event[System[EventID=4624]]", false, true),
        (
            "*[System[(EventID=4625)]] and *[EventData[Data[@Name='LogonType']='10']]",
            true,
            false,
        ),
        (
            "*[EventData[Data[@Name='TargetUserName']='alice']]",
            false,
            false,
        ),
        ("*[System[Task]]", false, false),
        ("*[System[Level]]", true, true),
    ];
    for (query, on_recent, on_old) in cases {
        let xpath = XPath::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(
            xpath.matches(&recent, now),
            *on_recent,
            "{query} on the recent event"
        );
        assert_eq!(
            xpath.matches(&old, now),
            *on_old,
            "{query} on the old event"
        );
    }
}

#[test]
fn refuses_what_it_does_not_support() {
    for query in [
        "",
        "System",
        "*[",
        "*[System[Level=]]",
        "*[count(System)=1]",
        "*[System[Level=1]] | *",
        "*[System[Level='1]]",
        "//Event",
        "*[System[Level=1]] xor *",
        "*[System[band(Keywords,-1)]]",
    ] {
        assert!(XPath::parse(query).is_err(), "{query:?} must be refused");
    }
    let deep = format!("*[{}Level=1{}]", "(".repeat(100), ")".repeat(100));
    assert!(XPath::parse(&deep).is_err());
    let long = format!("*[System[{}]]", vec!["Level=1"; 6000].join(" or "));
    assert!(XPath::parse(&long).is_err());
}

/// A large query counts its steps in the caller's budget and stops when the caller's check
/// says so; unlimited, it answers as `matches` does, having counted its steps.
#[test]
fn a_large_query_stops_when_its_budget_runs_out() {
    use wsman_proto::budget::{Budget, Expired};
    let now = Timestamp::parse_system_time("2026-11-23T12:00:00Z").unwrap();
    let event = event_tree("2", "4625", "sshd", "2026-11-23T11:00:00Z");
    let terms: Vec<String> = (0..600).map(|i| format!("*/*='n{i}'")).collect();
    let text = format!(
        "<QueryList><Query Id=\"0\"><Select Path=\"Application\">*[{} or System/Provider/@Name='sshd']</Select></Query></QueryList>",
        terms.join(" or ")
    );
    let query = QueryList::parse(&text).expect("the query parses");
    let mut unlimited = Budget::unlimited();
    assert_eq!(
        query.matches_within("Application", &event, now, &mut unlimited),
        Ok(true)
    );
    assert!(query.matches("Application", &event, now));
    // Every term visits the event's values: far more steps than terms.
    assert!(unlimited.steps() > 600 * 4, "{} steps", unlimited.steps());
    let out_of_time = || true;
    let mut stopped = Budget::checked_by(&out_of_time);
    assert_eq!(
        query.matches_within("Application", &event, now, &mut stopped),
        Err(Expired)
    );
}

#[test]
fn a_query_of_stars_is_answered_without_the_event() {
    let now = Timestamp::parse_system_time("2026-11-23T12:00:00Z").unwrap();
    let events = [
        event_tree("2", "1", "p", "2026-11-23T11:00:00Z"),
        event_tree("4", "7", "q", "2020-01-01T00:00:00Z"),
    ];
    let lists = [
        "<QueryList><Query Id=\"0\"><Select Path=\"Application\">*</Select></Query></QueryList>",
        "<QueryList><Query Id=\"0\" Path=\"Application\"><Select>Event</Select>\
         <Suppress Path=\"System\">*</Suppress><Select Path=\"System\">*</Select></Query>\
         <Query Id=\"1\"><Select Path=\"Security\">*[System[Level=2]]</Select></Query></QueryList>",
        "<QueryList><Query Id=\"0\" Path=\"Application\">\
         <Select>*</Select><Suppress>*[System[Level=4]]</Suppress></Query></QueryList>",
    ];
    let mut answered = 0;
    for text in lists {
        let list = QueryList::parse(text).unwrap();
        for log in [
            "Application",
            "application",
            "System",
            "Security",
            "Linux/Journal",
        ] {
            match list.matches_without_event(log) {
                Some(selected) => {
                    answered += 1;
                    for event in &events {
                        assert_eq!(list.matches(log, event, now), selected, "{text} {log}");
                    }
                }
                // Only where a clause for that log looks at the event.
                None => assert!(
                    (text.contains("Level=2") && log == "Security")
                        || (text.contains("Level=4") && log.eq_ignore_ascii_case("Application")),
                    "{text} {log}"
                ),
            }
        }
    }
    assert_eq!(answered, 12);
}

#[test]
fn query_lists_select_and_suppress_per_channel() {
    let now = Timestamp::parse_system_time("2026-11-23T12:00:00Z").unwrap();
    let list = QueryList::parse(
        "<QueryList><Query Id=\"0\" Path=\"Application\">\
         <Select Path=\"Application\">*</Select>\
         <Select Path=\"System\">*[System[(Level=1 or Level=2)]]</Select>\
         <Suppress>*[System[Level=4]]</Suppress>\
         </Query></QueryList>",
    )
    .unwrap();
    let error = event_tree("2", "1", "p", "2026-11-23T11:00:00Z");
    let info = event_tree("4", "1", "p", "2026-11-23T11:00:00Z");
    assert!(list.matches("Application", &error, now));
    assert!(!list.matches("Application", &info, now), "suppressed");
    assert!(
        list.matches("system", &error, now),
        "log names without case"
    );
    assert!(!list.matches("System", &info, now));
    assert!(!list.matches("Security", &error, now));
    assert_eq!(
        list.channels().into_iter().collect::<Vec<_>>(),
        ["Application", "System"]
    );
    assert!(QueryList::parse("<QueryList/>").is_err());
    assert!(QueryList::parse("<QueryList><Query><Select>*</Select></Query></QueryList>").is_err());
    assert!(QueryList::parse("<Other/>").is_err());
}

#[test]
fn bookmarks_round_trip_and_never_move_back() {
    let text =
        "<BookmarkList><Bookmark Channel=\"Application\" RecordId=\"149161\" IsCurrent=\"true\"/>\
                <Bookmark Channel=\"System\" RecordId=\"7\"/></BookmarkList>";
    let mut list = BookmarkList::parse(text).unwrap();
    assert_eq!(list.position("Application"), Some(149_161));
    list.advance("System", 3);
    assert_eq!(
        list.position("System"),
        Some(7),
        "a replayed batch does not move it back"
    );
    list.advance("System", 9);
    assert_eq!(list.position("System"), Some(9));
    let again = BookmarkList::parse(&list.to_xml()).unwrap();
    assert_eq!(again, list);
    let mut merged = BookmarkList::parse(
        "<BookmarkList><Bookmark Channel=\"Application\" RecordId=\"5\"/></BookmarkList>",
    )
    .unwrap();
    merged.merge(&list);
    assert_eq!(merged.position("Application"), Some(149_161));
    assert!(BookmarkList::parse("<BookmarkList><Bookmark Channel=\"A\"/></BookmarkList>").is_err());
}

proptest! {
    #[test]
    fn any_entries_read_back_in_any_chunks(
        entries in prop::collection::vec(
            prop::collection::vec(
                ("[A-Z_][A-Z0-9_]{0,20}", prop::collection::vec(any::<u8>(), 0..200)),
                1..8,
            ),
            1..5,
        ),
        chunk in 1usize..64,
    ) {
        let entries: Vec<Vec<(String, Vec<u8>)>> = entries;
        let read = read_all(&export(&entries), chunk, ExportLimits::default()).unwrap();
        prop_assert_eq!(read.len(), entries.len());
        for (got, want) in read.iter().zip(&entries) {
            prop_assert_eq!(got.fields.len(), want.len());
            for ((name, value), (want_name, want_value)) in got.fields.iter().zip(want) {
                prop_assert_eq!(name, want_name);
                prop_assert_eq!(value, &String::from_utf8_lossy(want_value).into_owned());
            }
        }
    }

    #[test]
    fn the_reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512), chunk in 1usize..32) {
        let _ = read_all(&bytes, chunk, ExportLimits::default());
    }

    #[test]
    fn the_query_parser_never_panics(text in "[*\\[\\]()@/=!<>'\" a-zA-Z0-9,.-]{0,120}") {
        if let Ok(xpath) = XPath::parse(&text) {
            let now = Timestamp::from_unix_micros(0);
            let _ = xpath.matches(&event_tree("2", "1", "p", "2026-11-23T11:00:00Z"), now);
        }
    }
}
