//! The one-pass check of an event's text (`event_scan::check_text`) against the tree check
//! (`xml::parse_full`, the full pass alone, then `ingest::check_tree`): the same answer, value or refusal, for generated
//! events with decoy and doubled elements, namespace prefixes, CDATA, entities and comments,
//! cut short or not, and for arbitrary XML-like text.

use proptest::prelude::*;
use wsman_collector::event_scan::check_text;
use wsman_collector::ingest::{check_tree, event_limits, EventError, EventFacts};
use wsman_proto::xml;

const NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";

fn by_tree(text: &str) -> Result<EventFacts, EventError> {
    xml::parse_full(text, &event_limits())
        .map_err(EventError::NotXml)
        .and_then(|tree| check_tree(&tree))
}

/// A value as a field may hold it: plain, with entities and character references, in CDATA,
/// split by a comment, padded with whitespace, with a child element, or nothing.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.-]{0,12}",
        "[0-9]{1,20}",
        Just("web01.example.com".to_owned()),
        Just("a&amp;b&#x41;&lt;".to_owned()),
        Just("<![CDATA[web01<&>]]>".to_owned()),
        Just("web<!-- c -->01".to_owned()),
        Just("\r\n  web01 \t".to_owned()),
        Just(" 42 ".to_owned()),
        Just("web<b>x</b>01".to_owned()),
        Just("web<Computer>x</Computer>01".to_owned()),
        Just("<e:System/>".to_owned()),
        Just("&bogus;".to_owned()),
    ]
}

/// A System field (or another element) in the event namespace, a decoy namespace, with the
/// namespace's prefix, or empty.
fn field() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        3 => Just("Computer"),
        3 => Just("Channel"),
        3 => Just("EventRecordID"),
        1 => Just("EventID"),
        1 => Just("System"),
    ];
    // Mostly well placed, so that events get far enough for each later check to matter.
    let form = prop_oneof![4 => Just(0u8), 2 => Just(1), 1 => Just(2), 1 => Just(3), 1 => Just(4)];
    (name, form, value()).prop_map(|(name, form, value)| match form {
        0 => format!("<{name}>{value}</{name}>"),
        1 => format!("<e:{name}>{value}</e:{name}>"),
        2 => format!("<d:{name}>{value}</d:{name}>"),
        3 => format!("<{name} xmlns='urn:decoy'>{value}</{name}>"),
        _ => format!("<{name}/>"),
    })
}

/// A child of the event: a System (of any form, holding generated fields), EventData, a
/// comment or whitespace.
fn child() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0..4u8, prop::collection::vec(field(), 0..6)).prop_map(|(form, fields)| {
            let fields = fields.concat();
            match form {
                0 | 1 => format!("<System>{fields}</System>"),
                2 => format!("<e:System>{fields}</e:System>"),
                _ => format!("<d:System>{fields}</d:System>"),
            }
        }),
        1 => Just("<EventData><Data Name='a'>x &amp; y</Data><Data Name='b'><![CDATA[<z>]]></Data></EventData>".to_owned()),
        1 => prop_oneof![
            Just("<EventData><Data Name='Computer'>dc01</Data><Computer>dc01.example.com</Computer></EventData>"),
            Just("<UserData><Log xmlns='urn:log'><e:Computer>dc01</e:Computer></Log></UserData>"),
            Just("<UserData><Log><System><Computer>dc01</Computer></System></Log></UserData>"),
            Just("<RenderingInfo><Computer/></RenderingInfo>"),
        ].prop_map(str::to_owned),
        1 => Just("<!-- a comment -->".to_owned()),
        1 => Just("\n  ".to_owned()),
        1 => Just("<System/>".to_owned()),
    ]
}

fn event() -> impl Strategy<Value = String> {
    let root = prop_oneof![
        6 => Just(("Event", format!("xmlns='{NS}'"))),
        1 => Just(("e:Event", String::new())),
        1 => Just(("Event", String::new())),
        1 => Just(("Other", format!("xmlns='{NS}'"))),
        1 => Just(("d:Event", String::new())),
    ];
    (root, prop::collection::vec(child(), 0..4)).prop_map(|((root, default_ns), children)| {
        format!(
            "<?xml version='1.0'?><{root} {default_ns} xmlns:e='{NS}' xmlns:d='urn:decoy'>{}</{root}>",
            children.concat()
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_the_tree_check_on_generated_events(text in event(), cut in any::<prop::sample::Index>(), whole in any::<bool>()) {
        // Whole, or cut short at a character boundary (malformed: both must refuse alike).
        let text = if whole {
            text
        } else {
            let mut at = cut.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text[..at].to_owned()
        };
        prop_assert_eq!(check_text(&text), by_tree(&text), "{}", text);
    }

    #[test]
    fn agrees_with_the_tree_check_on_xmlish_text(text in "[<>/a-eE:=\"' &;!\\[\\]?xSCmpuytvn-]{0,160}") {
        prop_assert_eq!(check_text(&text), by_tree(&text));
    }
}

/// The generator reaches every answer: a check that agreed only by refusing everything would
/// pass the property above.
#[test]
fn the_generated_cases_include_accepted_and_each_refusal() {
    let system = "<System><Computer> web01 </Computer><Channel>Security</Channel><EventRecordID>7</EventRecordID></System>";
    let accepted = format!("<Event xmlns='{NS}'>{system}</Event>");
    assert_eq!(
        check_text(&accepted),
        Ok(EventFacts {
            computer: "web01".into(),
            channel: "Security".into(),
            record_id: Some(7),
        })
    );
    let refusals = [
        format!("<Event xmlns='{NS}'><x:System xmlns:x='urn:decoy'/>{system}</Event>"),
        format!("<Event xmlns='{NS}'>{system}{system}</Event>"),
        format!("<Event xmlns='{NS}'><System><Computer>a</Computer><Computer>b</Computer></System></Event>"),
        format!("<Event xmlns='{NS}'><System><Computer>a</Computer><Channel xmlns='urn:d'>x</Channel></System></Event>"),
        format!("<Event xmlns='{NS}'><System><Computer> </Computer></System></Event>"),
        format!("<Event xmlns='{NS}'><System><Computer>a</Computer><EventRecordID/><EventRecordID/><Channel xmlns=''/></System></Event>"),
        format!("<Event xmlns='{NS}'/>"),
        format!("<Event>{system}</Event>"),
        format!("<Event xmlns='{NS}'>{system}"),
        // A decoy Computer (or System) before the real System, or nested anywhere else.
        format!("<Event xmlns='{NS}'><EventData><Computer>dc01</Computer></EventData>{system}</Event>"),
        format!("<Event xmlns='{NS}'><!-- c -->{system}<UserData><x:Computer xmlns:x='urn:u'>dc01</x:Computer></UserData></Event>"),
        format!("<Event xmlns='{NS}'>{system}<UserData><L><System/></L></UserData></Event>"),
        format!("<Event xmlns='{NS}'><System><Computer>a<Computer>b</Computer></Computer></System></Event>"),
    ];
    for text in &refusals {
        let answer = check_text(text);
        assert!(answer.is_err(), "{text}");
        assert_eq!(answer, by_tree(text), "{text}");
    }
}

/// A `Computer` (or `System`) anywhere but `Event/System/Computer` is a decoy for a reader that
/// takes the first one it meets: refused by both checks, whatever its namespace; and `System`
/// must be the Event's first element (comments and whitespace before it are not elements).
#[test]
fn decoys_and_a_system_that_is_not_first_are_refused() {
    let system = "<System><Computer>web01</Computer></System>";
    let misplaced = |name: &str| Err(EventError::Misplaced(name.to_owned()));
    for (text, expected) in [
        (
            format!("<Event xmlns='{NS}'><EventData><Computer>dc01</Computer></EventData>{system}</Event>"),
            Err(EventError::SystemNotFirst),
        ),
        (
            format!("<Event xmlns='{NS}'>{system}<EventData><Data Name='a'><Computer>dc01</Computer></Data></EventData></Event>"),
            misplaced("Computer"),
        ),
        (
            format!("<Event xmlns='{NS}'>{system}<UserData><L xmlns='urn:l'><Computer>dc01</Computer></L></UserData></Event>"),
            misplaced("Computer"),
        ),
        (
            format!("<Event xmlns='{NS}'>{system}<UserData><System/></UserData></Event>"),
            misplaced("System"),
        ),
        (
            format!("<Event xmlns='{NS}'><System><Computer>web01</Computer><Security><Computer>dc01</Computer></Security></System></Event>"),
            misplaced("Computer"),
        ),
    ] {
        assert_eq!(check_text(&text), expected, "{text}");
        assert_eq!(by_tree(&text), expected, "{text}");
    }
    let accepted = format!("<Event xmlns='{NS}'> <!-- c -->{system}<EventData><Data Name='Computer'>dc01</Data></EventData></Event>");
    assert_eq!(
        check_text(&accepted).map(|f| f.computer),
        Ok("web01".to_owned())
    );
    assert_eq!(
        by_tree(&accepted).map(|f| f.computer),
        Ok("web01".to_owned())
    );
}

/// The generated events as a forwarder writes nearly all of them: no declaration, no prefix
/// declared (a prefixed field is then an unbound prefix), so that most are plain XML and the
/// collector's plain pass (`xml::scan_plain`) reads them, while the rest (CDATA, comments, a
/// prefix) go to the full pass.
fn plain_event() -> impl Strategy<Value = String> {
    let stripped = event().prop_map(|text| {
        text.replacen("<?xml version='1.0'?>", "", 1).replacen(
            &format!(" xmlns:e='{NS}' xmlns:d='urn:decoy'"),
            "",
            1,
        )
    });
    prop_oneof![stripped, accepted_event()]
}

/// An event both checks accept: its System's fields in any order among others, plain or
/// escaped values, then data of its own namespace or another.
fn accepted_event() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        "[a-z0-9 .-]{1,12}",
        Just("a&amp;b&#x41;&lt;&quot;".to_owned()),
        Just("\r\n  web01 \t".to_owned()),
    ];
    let fields = (text.clone(), text.clone(), "[0-9 ]{0,6}").prop_map(|(computer, channel, id)| {
        vec![
            "<Provider Name='p' Guid=\"{1}\"/>".to_owned(),
            format!("<Computer>x{computer}</Computer>"),
            format!("<Channel>{channel}</Channel>"),
            format!("<EventRecordID>{id}</EventRecordID>"),
            "<TimeCreated SystemTime='2026'/><Security />".to_owned(),
        ]
    });
    let data = prop_oneof![
        Just(String::new()),
        Just("<EventData><Data Name='a'>x &amp; y</Data><Data Name=\"b\"/></EventData>".to_owned()),
        Just("<UserData><Log xmlns='urn:log'><Who>dc01</Who></Log></UserData>".to_owned()),
        text.prop_map(|t| format!(
            "<RenderingInfo Culture='en-US'><Message>{t}</Message></RenderingInfo>"
        )),
    ];
    (fields.prop_shuffle(), data, "[ \r\n]{0,2}").prop_map(|(fields, data, space)| {
        format!(
            "<Event xmlns='{NS}'>{space}<System>{}</System>{space}{data}</Event>",
            fields.join(&space)
        )
    })
}

/// A piece put into a plain event: markup, references, declarations and mistakes.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "<",
        ">",
        "/",
        "</",
        "/>",
        "'",
        "\"",
        "=",
        " ",
        "&amp;",
        "&",
        "&#1;",
        ":",
        "xmlns",
        "<System>",
        "</System>",
        "<Computer>",
        "</Computer>",
        "<Computer>a</Computer>",
        "<Channel>c</Channel>",
        "<EventRecordID>9</EventRecordID>",
        " xmlns='urn:d'",
        " xmlns='http://schemas.microsoft.com/win/2004/08/events/event'",
        "<a b='1'/>",
        "<!-- -->",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The plain pass's answer (or, where it gives up, the full pass's) against the tree
    /// check's, on plain events whole, cut short, or with a piece put in or put over.
    #[test]
    fn agrees_with_the_tree_check_on_plain_events(
        text in plain_event(),
        at in any::<prop::sample::Index>(),
        cut in 0..3usize,
        piece in piece(),
        how in 0..3u8,
    ) {
        let mut at = at.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + cut).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let text = match how {
            0 => text,
            1 => text[..at].to_owned(),
            _ => format!("{}{piece}{}", &text[..at], &text[end..]),
        };
        prop_assert_eq!(check_text(&text), by_tree(&text), "{}", text);
    }
}
