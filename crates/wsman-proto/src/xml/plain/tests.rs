//! The plain pass against the full one: whatever it reads whole, the full pass accepts and
//! reports the same way; whatever is outside the plain shape it leaves to the full pass.

use std::borrow::Cow;

use proptest::prelude::*;

use super::super::{scan, Limits, Visitor};
use super::scan_plain;

/// Everything a pass reports, in order.
#[derive(Default, Debug, PartialEq)]
struct Log(Vec<String>);

impl Visitor for Log {
    fn attribute(&mut self, ns: Option<&str>, name: &str, value: Cow<'_, str>) {
        self.0.push(format!("attribute {ns:?} {name:?} {value:?}"));
    }
    fn start(&mut self, ns: Option<&str>, name: &str, prefix: Option<&str>, empty: bool) {
        self.0
            .push(format!("start {ns:?} {name:?} {prefix:?} {empty}"));
    }
    fn end(&mut self) {
        self.0.push("end".to_owned());
    }
    fn text(&mut self, text: Cow<'_, str>) {
        self.0.push(format!("text {text:?}"));
    }
}

/// The plain pass's answer, checked against the full pass: when it reads `input` whole, the
/// full pass accepts it with the same reports.
fn plain(input: &str, limits: &Limits) -> bool {
    let mut fast = Log::default();
    if !scan_plain(input, limits, &mut fast) {
        return false;
    }
    let mut full = Log::default();
    assert_eq!(scan(input, limits, &mut full), Ok(()), "{input}");
    assert_eq!(fast, full, "{input}");
    true
}

/// Events as forwarders send them (the fleet's, a logon with its data, a `UserData` with its
/// own default namespace, references in text and values, double quotes, line breaks) and an
/// envelope with prefixes, `xml:lang` and events in CDATA.
const EVENTS: [&str; 8] = [
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='fleet'/><EventID>4624</EventID><Level>4</Level><TimeCreated SystemTime='2026-11-25T00:00:00.0000000Z'/><EventRecordID>7</EventRecordID><Channel>Security</Channel><Computer>a.example</Computer></System><EventData><Data Name='n'>xxxx</Data></EventData></Event>",
    "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">\r\n  <System>\r\n    <Provider Name=\"Microsoft-Windows-Security-Auditing\" Guid=\"{54849625-5478-4994-a5ba-3e3b0328c30d}\" />\r\n    <EventID>4624</EventID>\r\n    <Correlation ActivityID=\"{1}\" />\r\n    <Execution ProcessID=\"4\" ThreadID=\"8\" />\r\n    <Channel>Security</Channel>\r\n    <Computer>dc1.corp.example</Computer>\r\n    <Security />\r\n  </System>\r\n  <EventData>\r\n    <Data Name=\"TargetUserName\">j&amp;smith</Data>\r\n    <Data Name=\"IpAddress\">-</Data>\r\n  </EventData>\r\n</Event>",
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Computer>b</Computer></System><UserData><LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'><SubjectUserName>admin</SubjectUserName></LogFileCleared></UserData><RenderingInfo Culture='en-US'><Message>a &lt;b&gt; &#x41;&#66; &quot;c&apos;</Message></RenderingInfo></Event>",
    "<Event><System a='&amp;' b=\"'\" c='\"'/>text ]]> &gt;</Event>",
    "  <a.b_c-d>\n</a.b_c-d>\n ",
    "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope' xmlns:w='urn:w'><s:Header><w:Locale xml:lang='en-US' s:mustUnderstand='false'/><w:Bookmark><BookmarkList><Bookmark Channel='Security' RecordId='7'/></BookmarkList></w:Bookmark></s:Header><s:Body><w:Events><w:Event Action='urn:e'><![CDATA[<Event xmlns='urn:ev'/>]]></w:Event><w:Event><![CDATA[]]>x<![CDATA[ ]]></w:Event></w:Events></s:Body></s:Envelope>",
    "<e:Event xmlns:e='u' xmlns='v'><a xmlns:e='w' e:b='1'><e:c/></a><e:d xmlns=\"x\"/></e:Event>",
    "<a xml:lang='en'/>",
];

#[test]
fn events_are_read_by_the_plain_pass() {
    for event in EVENTS {
        assert!(plain(event, &Limits::default()), "{event}");
    }
}

#[test]
fn what_is_not_plain_is_left_to_the_full_pass() {
    let tight = Limits {
        max_depth: 2,
        max_elements: 3,
        max_attributes: 2,
        max_namespaces_in_scope: 1,
    };
    let cases: [(&str, &Limits); 41] = [
        ("<xml:a/>", &Limits::default()),
        ("<xmlns:a/>", &Limits::default()),
        (
            "<a xmlns:xml='http://www.w3.org/XML/1998/namespace'/>",
            &Limits::default(),
        ),
        (
            "<a xmlns:x='http://www.w3.org/2000/xmlns/'/>",
            &Limits::default(),
        ),
        ("<a xmlns:p=''/>", &Limits::default()),
        ("<a xmlns:='u'/>", &Limits::default()),
        ("<p:a/>", &Limits::default()),
        ("<a p:b='1'/>", &Limits::default()),
        ("<a:b:c xmlns:a='u'/>", &Limits::default()),
        ("<![CDATA[x]]><a/>", &Limits::default()),
        ("<a><![CDATA[x]></a>", &Limits::default()),
        ("<a><![cdata[x]]></a>", &Limits::default()),
        ("<a xmlns:x='u' xmlns:y='v'/>", &tight),
        ("<a><!-- c --></a>", &Limits::default()),
        ("<?xml version='1.0'?><a/>", &Limits::default()),
        ("<a><?pi x?></a>", &Limits::default()),
        ("<!DOCTYPE a><a/>", &Limits::default()),
        ("<a></a >", &Limits::default()),
        ("<a></b>", &Limits::default()),
        ("<a><b></a></b>", &Limits::default()),
        ("<a>", &Limits::default()),
        ("</a>", &Limits::default()),
        ("<a/><b/>", &Limits::default()),
        ("<a/>x", &Limits::default()),
        ("x<a/>", &Limits::default()),
        ("<a b = '1'/>", &Limits::default()),
        ("<a b=1/>", &Limits::default()),
        ("<a b='1'c='2'/>", &Limits::default()),
        ("<a b='1' b='2'/>", &Limits::default()),
        ("<a b='<'/>", &Limits::default()),
        ("<a b='&bad;'/>", &Limits::default()),
        ("<a>&bad;</a>", &Limits::default()),
        ("<a>&#1;</a>", &Limits::default()),
        ("<a>\u{1}</a>", &Limits::default()),
        ("<a xmlns=''/>", &Limits::default()),
        ("<a xmlns='&amp;'/>", &Limits::default()),
        ("<a/ >", &Limits::default()),
        ("<a><b><c/></b></a>", &tight),
        ("<a><b/><b/><b/></a>", &tight),
        ("<a b='1' c='2' d='3'/>", &tight),
        ("<a xmlns='u'><b xmlns='v'/></a>", &tight),
    ];
    for (input, limits) in cases {
        assert!(!plain(input, limits), "{input}");
    }
}

/// Pieces of markup, text and mistakes, so that random strings of them are often plain,
/// often nearly plain, and sometimes well-formed in ways the plain pass leaves alone.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "<",
        ">",
        "/",
        "</",
        "/>",
        "a",
        "b",
        "Event",
        "System",
        " ",
        "\n",
        "\t",
        "=",
        "'",
        "\"",
        "xmlns",
        "'u'",
        "'v'",
        "=''",
        "&amp;",
        "&",
        ";",
        "&#65;",
        "&#1;",
        ":",
        "x:",
        "]]>",
        "<!--",
        "-->",
        "<?",
        "?>",
        "<![CDATA[",
        "é",
        "\u{1}",
        "<a>",
        "</a>",
        "<b/>",
        "<a b='1'>",
        " c=\"2\"",
        "<a xmlns='u'>",
        "<b xmlns='v'/>",
        "text",
    ])
}

/// A document of the plain shape, to mutate.
fn mutated() -> impl Strategy<Value = String> {
    (
        prop::sample::select(EVENTS.to_vec()),
        any::<prop::sample::Index>(),
        0..4usize,
        piece(),
    )
        .prop_map(|(event, at, cut, piece)| {
            let mut at = at.index(event.len() + 1);
            while !event.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + cut).min(event.len());
            while !event.is_char_boundary(end) {
                end += 1;
            }
            format!("{}{piece}{}", &event[..at], &event[end..])
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn plain_agrees_with_the_full_pass(pieces in prop::collection::vec(piece(), 0..24)) {
        let input = pieces.concat();
        let tight = Limits { max_depth: 3, max_elements: 4, max_attributes: 2, max_namespaces_in_scope: 1 };
        plain(&input, &Limits::default());
        plain(&input, &tight);
    }

    #[test]
    fn a_mutated_event_agrees_with_the_full_pass(input in mutated()) {
        plain(&input, &Limits::default());
    }
}

/// The eight-at-a-time search finds the first byte wherever it is (every position in and
/// around a word, with the same byte again after it, among bytes that differ from it in one
/// low bit or in the high bit, as UTF-8's do), and none where there is none.
#[test]
fn a_byte_is_found_at_every_position() {
    for fill in [b'=', b';', 0xBC, 0xC3, 0xFF, 0x00] {
        for len in 0..40 {
            for at in 0..len {
                for from in 0..=at {
                    let mut bytes = vec![fill; len];
                    bytes[at] = b'<';
                    if at + 1 < len {
                        bytes[at + 1] = 0xBD;
                    }
                    if at + 2 < len {
                        bytes[at + 2] = b'<';
                    }
                    let found = super::find_byte(&bytes, from, b'<');
                    assert_eq!(found, Some(at), "{fill} {len} {at} {from}");
                }
                assert_eq!(super::find_byte(&vec![fill; len], at, b'<'), None);
            }
        }
    }
    let cdata = "<a><![CDATA[]]><![CDATA[]>]]]]>x]]></a>";
    assert!(plain(cdata, &Limits::default()));
}
