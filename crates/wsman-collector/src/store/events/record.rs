//! What the store keeps of one event: the fields it is searched by, read from the event's
//! tree, and its text as words. The fields come from the forwarder: they are data, bounded here
//! (names cut at [`MAX_NAME`] bytes, the excerpt at [`EXCERPT_CHARS`] characters, the words at
//! [`MAX_WORDS_BYTES`]) and only ever bound as SQL parameters.

use std::borrow::Cow;

use wsman_events::Timestamp;
use wsman_proto::xml::{self, Visitor};

use crate::event_facts::{event_limits, EVENT_NS};
use crate::ingest::ReceivedEvent;

/// Longest Computer, Channel or Provider kept (bytes); the search's values are bounded alike.
pub const MAX_NAME: usize = 255;
/// Characters of the message (or data) kept as the result's excerpt.
pub const EXCERPT_CHARS: usize = 256;
/// Bytes of words indexed per event: the text search reads the first this many.
pub const MAX_WORDS_BYTES: usize = 16 * 1024;

/// The earliest `TimeCreated` the store orders an event by: 2000-01-01T00:00:00Z. No Windows
/// host forwarding today wrote an event before it; a time before it is made up (1601, the
/// FILETIME epoch, is what a zeroed field renders as).
pub const EARLIEST_PLAUSIBLE: Timestamp = Timestamp::from_unix_micros(946_684_800_000_000);
/// How far after its arrival an event's `TimeCreated` may lie and still order it: a day, more
/// than any clock of a forwarder is off by time zone or drift.
pub const LATEST_AHEAD: std::time::Duration = std::time::Duration::from_secs(86_400);

/// The time the store orders, buckets and pages an event by, and the event's own
/// `TimeCreated` when that is not it: its own when plausible (from [`EARLIEST_PLAUSIBLE`] to
/// [`LATEST_AHEAD`] after `received`), else its arrival. Why: the time is the forwarder's to
/// write; one event dated 9999 headed every page and one dated 1601 made every histogram
/// without a range span eight thousand years (refused as too many buckets).
pub fn ordering_time(
    own: Option<Timestamp>,
    received: Timestamp,
) -> (Timestamp, Option<Timestamp>) {
    match own {
        Some(own) if own >= EARLIEST_PLAUSIBLE && own <= received.saturating_add(LATEST_AHEAD) => {
            (own, None)
        }
        Some(own) => (received, Some(own)),
        None => (received, None),
    }
}

/// One event as the store writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreRecord {
    /// The time it is ordered by ([`ordering_time`]): `TimeCreated/@SystemTime` when
    /// plausible, else the time it was received.
    pub time: Timestamp,
    /// Its own `TimeCreated` when that is not `time` (implausible): kept and shown.
    pub event_time: Option<Timestamp>,
    pub computer: String,
    pub channel: String,
    pub level: Option<i64>,
    pub event_id: Option<i64>,
    pub provider: Option<String>,
    pub subscription: String,
    /// The first [`EXCERPT_CHARS`] of the rendered message, else of the data.
    pub excerpt: Option<String>,
    /// The message's and the data's words, lower-case, separated by single spaces.
    pub words: String,
    /// The event as the forwarder sent it.
    pub xml: String,
}

/// `text` cut to at most `max` bytes at a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}

/// The words of `text` (runs of letters and digits), lower-case, appended to `out` separated
/// by spaces, while `out` stays within `max` bytes. The search splits its text the same way
/// ([`words_of`]), so what is indexed and what is asked agree whatever the database's own
/// tokenizer would make of `10.0.0.5` or `DOMAIN\user`.
pub fn push_words(out: &mut String, text: &str, max: usize) {
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let lower = word.to_lowercase();
        if out.len() + lower.len() + 1 > max {
            return;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&lower);
    }
}

/// The words of a search's text, as [`push_words`] indexes them.
pub fn words_of(text: &str) -> Vec<String> {
    let mut joined = String::new();
    push_words(&mut joined, text, usize::MAX);
    joined
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `text` trimmed of XML's whitespace, as `Element::trimmed_text` trims it.
fn xml_trimmed(text: &str) -> &str {
    text.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Append the text node `text` (one run of character data) to the data's text, as a Data
/// element's value follows its `Name=`.
fn push_data_text(out: &mut String, text: &str, max: usize) {
    let text = text.trim();
    if !text.is_empty() {
        if !out.is_empty() && !out.ends_with('=') {
            out.push(' ');
        }
        out.push_str(cut(text, max.saturating_sub(out.len())));
    }
}

fn excerpt(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(EXCERPT_CHARS).collect())
}

/// The System fields the store reads: `TimeCreated/@SystemTime`, `Provider/@Name`, `Level`,
/// `EventID` (each the first of its name in the event namespace).
const SYSTEM_FIELDS: [&str; 4] = ["TimeCreated", "Provider", "Level", "EventID"];

/// The pass over one event's text that reads what the store keeps ([`StoreRecord::read`]),
/// as the tree would give it: the root's first `System` and `RenderingInfo` (event
/// namespace), that System's first field of each name, the RenderingInfo's first `Message`,
/// and every text and `Data Name=` under the root's `EventData` and `UserData` children
/// (any namespace), adjacent character data being one text as in the tree.
#[derive(Default)]
struct RecordScan {
    /// Elements open around the current position.
    depth: usize,
    /// The `Name` and `SystemTime` attributes of the element about to start.
    name: Option<String>,
    system_time: Option<String>,
    system: Section,
    rendering: Section,
    message: Section,
    /// The System field being read (its direct text), and which fields were met.
    field: Option<usize>,
    met: [bool; 4],
    time: Option<String>,
    provider: Option<String>,
    level: String,
    event_id: String,
    message_text: String,
    /// Inside one of the root's EventData or UserData children.
    in_data: bool,
    /// The character data since the last element boundary, inside the data.
    run: String,
    data: String,
}

/// One element read once: whether it was met, and whether it is open.
#[derive(Default, Clone, Copy)]
struct Section {
    met: bool,
    open: bool,
}

impl Section {
    /// An element of this section's name at its place: open it if it is the first.
    fn meet(&mut self, empty: bool) {
        if !self.met {
            self.met = true;
            self.open = !empty;
        }
    }
}

impl RecordScan {
    /// The data's text run ends at an element boundary: it is one text node.
    fn end_run(&mut self) {
        if self.in_data && self.data.len() < MAX_WORDS_BYTES {
            push_data_text(&mut self.data, &self.run, MAX_WORDS_BYTES);
        }
        self.run.clear();
    }

    /// An element starts inside the data: a `Data` with a `Name` adds `Name=`.
    fn data_element(&mut self, name: &str) {
        if self.data.len() >= MAX_WORDS_BYTES {
            return;
        }
        if let Some(value) = self.name.as_deref().filter(|_| name == "Data") {
            if !self.data.is_empty() {
                self.data.push(' ');
            }
            self.data.push_str(cut(value, MAX_NAME));
            self.data.push('=');
        }
    }

    /// A child of the first System: the first field of each name is read.
    fn system_field(&mut self, ns: Option<&str>, name: &str, empty: bool) {
        let Some(index) = SYSTEM_FIELDS.iter().position(|f| *f == name) else {
            return;
        };
        if ns != Some(EVENT_NS) || self.met[index] {
            return;
        }
        self.met[index] = true;
        match index {
            0 => self.time = self.system_time.take(),
            1 => self.provider = self.name.take(),
            _ if !empty => self.field = Some(index),
            _ => {}
        }
    }
}

impl Visitor for RecordScan {
    fn attribute(&mut self, ns: Option<&str>, name: &str, value: Cow<'_, str>) {
        let slot = match (ns, name) {
            (None, "Name") => &mut self.name,
            (None, "SystemTime") => &mut self.system_time,
            _ => return,
        };
        if slot.is_none() {
            *slot = Some(value.into_owned());
        }
    }

    fn start(&mut self, ns: Option<&str>, name: &str, _: Option<&str>, empty: bool) {
        let event_ns = ns == Some(EVENT_NS);
        match self.depth {
            1 if event_ns && name == "System" => self.system.meet(empty),
            1 if event_ns && name == "RenderingInfo" => self.rendering.meet(empty),
            1 if name == "EventData" || name == "UserData" => self.in_data = !empty,
            2 if self.system.open => self.system_field(ns, name, empty),
            2 if self.rendering.open && event_ns && name == "Message" => {
                self.message.meet(empty);
            }
            _ => {}
        }
        if self.in_data && self.depth >= 2 {
            self.end_run();
            self.data_element(name);
        }
        self.name = None;
        self.system_time = None;
        if !empty {
            self.depth += 1;
        }
    }

    fn end(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        if self.in_data {
            self.end_run();
        }
        match self.depth {
            1 => {
                self.system.open = false;
                self.rendering.open = false;
                self.in_data = false;
            }
            2 => {
                self.field = None;
                self.message.open = false;
            }
            _ => {}
        }
    }

    fn text(&mut self, text: Cow<'_, str>) {
        if self.in_data {
            self.run.push_str(&text);
        } else if self.depth == 3 {
            match self.field {
                Some(2) => self.level.push_str(&text),
                Some(3) => self.event_id.push_str(&text),
                _ if self.message.open => self.message_text.push_str(&text),
                _ => {}
            }
        }
    }
}

impl StoreRecord {
    /// The time it is stored to be ordered by, arrived at `now` (microseconds): its arrival
    /// exactly when its own time was implausible, so an answer's `Received` is the time it
    /// sorts at.
    pub fn ordered_at(&self, now: Timestamp) -> i64 {
        match self.event_time {
            Some(_) => now.unix_micros(),
            None => self.time.unix_micros(),
        }
    }

    /// The record of `event`, received at `received`, for `subscription`: its fields read
    /// in one pass over its text (`RecordScan`). Why not from the event's tree: building
    /// it (an allocation per element, attribute and name) cost more than the rest of the
    /// record, and with a tree to build the collector checks every event that way too.
    pub fn of(event: &ReceivedEvent, subscription: &str, received: Timestamp) -> StoreRecord {
        let mut scan = RecordScan::default();
        // A checked event's text is never refused; one that is reads as an empty Event.
        if xml::scan(&event.xml, &event_limits(), &mut scan).is_err() {
            scan = RecordScan::default();
        }
        let number = |text: &str| xml_trimmed(text).parse().ok();
        let mut words = String::new();
        push_words(&mut words, &scan.message_text, MAX_WORDS_BYTES);
        push_words(&mut words, &scan.data, MAX_WORDS_BYTES);
        let own = scan.time.as_deref().and_then(Timestamp::parse_system_time);
        let (time, event_time) = ordering_time(own, received);
        StoreRecord {
            time,
            event_time,
            computer: cut(&event.computer, MAX_NAME).to_owned(),
            channel: cut(&event.channel, MAX_NAME).to_owned(),
            level: number(&scan.level),
            event_id: number(&scan.event_id),
            provider: scan.provider.map(|name| cut(&name, MAX_NAME).to_owned()),
            subscription: subscription.to_owned(),
            excerpt: excerpt(&scan.message_text).or_else(|| excerpt(&scan.data)),
            words,
            xml: event.xml.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn received(xml: &str) -> ReceivedEvent {
        ReceivedEvent {
            xml: xml.to_owned(),
            tree: None,
            computer: "WEB01.example.com".into(),
            channel: "Security".into(),
            record_id: Some(7),
        }
    }

    /// A Windows 4625 event as a forwarder renders it: every searched field is read, the
    /// excerpt is the message, and the words are the message's and the data's.
    #[test]
    fn the_fields_of_a_rendered_event() {
        let xml = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4625</EventID><Level>0</Level><TimeCreated SystemTime='2026-11-26T19:00:01.1234567Z'/><EventRecordID>7</EventRecordID><Channel>Security</Channel><Computer>WEB01.example.com</Computer></System><EventData><Data Name='TargetUserName'>alice</Data><Data Name='IpAddress'>10.0.0.5</Data></EventData><RenderingInfo Culture='en-US'><Message>An account failed to log on.</Message></RenderingInfo></Event>";
        let arrived = Timestamp::parse_system_time("2026-11-26T19:00:05Z").unwrap();
        let record = StoreRecord::of(&received(xml), "logons", arrived);
        assert_eq!(record.event_id, Some(4625));
        assert_eq!(record.level, Some(0));
        assert_eq!(
            record.provider.as_deref(),
            Some("Microsoft-Windows-Security-Auditing")
        );
        assert_eq!(
            record.time,
            Timestamp::parse_system_time("2026-11-26T19:00:01.123456Z").unwrap()
        );
        assert_eq!(
            record.excerpt.as_deref(),
            Some("An account failed to log on.")
        );
        assert_eq!(
            record.words,
            "an account failed to log on targetusername alice ipaddress 10 0 0 5"
        );
    }

    /// Without a message the excerpt is the data; without a time, the time of receipt.
    #[test]
    fn data_stands_in_for_a_missing_message_and_receipt_for_a_missing_time() {
        let xml = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Computer>WEB01.example.com</Computer></System><EventData><Data Name='a'>b c</Data></EventData></Event>";
        let record = StoreRecord::of(&received(xml), "s", Timestamp::from_unix_micros(42));
        assert_eq!(record.excerpt.as_deref(), Some("a=b c"));
        assert_eq!(record.time, Timestamp::from_unix_micros(42));
        assert_eq!(record.event_id, None);
    }

    /// The record as the store read it from the event's tree before the one-pass reader:
    /// the reference the pass must agree with.
    mod tree {
        use super::super::*;
        use wsman_proto::xml::{Element, Node};

        fn system_child<'a>(system: Option<&'a Element>, name: &str) -> Option<&'a Element> {
            system?.child(EVENT_NS, name)
        }

        fn number(element: Option<&Element>) -> Option<i64> {
            element?.trimmed_text().parse().ok()
        }

        fn data_text(element: &Element, out: &mut String, max: usize) {
            for node in &element.children {
                if out.len() >= max {
                    return;
                }
                match node {
                    Node::Text(text) => push_data_text(out, text, max),
                    Node::Element(child) => {
                        if let Some(name) = child.attr("Name").filter(|_| child.name == "Data") {
                            if !out.is_empty() {
                                out.push(' ');
                            }
                            out.push_str(cut(name, MAX_NAME));
                            out.push('=');
                        }
                        data_text(child, out, max);
                    }
                }
            }
        }

        pub(super) fn record(event: &ReceivedEvent, received: Timestamp) -> StoreRecord {
            let tree = event.element();
            let system = tree.child(EVENT_NS, "System");
            let message = tree
                .child(EVENT_NS, "RenderingInfo")
                .and_then(|r| r.child(EVENT_NS, "Message"))
                .map(Element::text)
                .unwrap_or_default();
            let mut data = String::new();
            for part in tree
                .elements()
                .filter(|e| e.name == "EventData" || e.name == "UserData")
            {
                data_text(part, &mut data, MAX_WORDS_BYTES);
            }
            let mut words = String::new();
            push_words(&mut words, &message, MAX_WORDS_BYTES);
            push_words(&mut words, &data, MAX_WORDS_BYTES);
            let own = system_child(system, "TimeCreated")
                .and_then(|t| t.attr("SystemTime"))
                .and_then(Timestamp::parse_system_time);
            let (time, event_time) = ordering_time(own, received);
            StoreRecord {
                time,
                event_time,
                computer: cut(&event.computer, MAX_NAME).to_owned(),
                channel: cut(&event.channel, MAX_NAME).to_owned(),
                level: number(system_child(system, "Level")),
                event_id: number(system_child(system, "EventID")),
                provider: system_child(system, "Provider")
                    .and_then(|p| p.attr("Name"))
                    .map(|name| cut(name, MAX_NAME).to_owned()),
                subscription: "s".to_owned(),
                excerpt: excerpt(&message).or_else(|| excerpt(&data)),
                words,
                xml: event.xml.clone(),
            }
        }
    }

    /// The one-pass reader gives the record the tree gave, for events whose parts are where
    /// a tree reader and a pass differ if either is wrong: text split by comments, CDATA and
    /// entities, nested and unnamed Data, a second System, RenderingInfo or field (the first
    /// counts), fields in another namespace, children inside the read fields, UserData,
    /// empty elements, and data past the indexed bytes.
    #[test]
    fn the_pass_reads_what_the_tree_gave() {
        let ns = "xmlns='http://schemas.microsoft.com/win/2004/08/events/event'";
        let long = "word ".repeat(4_000);
        let cases = [
            format!("<Event {ns}><System><Provider Name='P' Guid='g'/><EventID Qualifiers='1'> 4625 </EventID><Level>2</Level><TimeCreated SystemTime='2026-11-26T19:00:01Z'/><Computer>W</Computer></System><EventData><Data Name='a'>x<!-- c -->y</Data><Data>un named</Data><Data Name='b'><![CDATA[c&d]]> &amp; e</Data></EventData><RenderingInfo Culture='en'><Message>Hello <b>bold</b> world &lt;3</Message><Message>second</Message></RenderingInfo></Event>"),
            format!("<Event {ns}><System><Provider/><Provider Name='second'/><EventID>1<x>2</x>3</EventID><Level/><Level>4</Level><TimeCreated/><TimeCreated SystemTime='2026-11-26T19:00:01Z'/><Computer>W</Computer></System><System><EventID>9</EventID></System><UserData><Ev xmlns='urn:x'><Data Name='n'><Data Name='m'>deep</Data> tail</Data>text <i/> more</Ev></UserData><EventData/><EventData> lone </EventData><RenderingInfo/><RenderingInfo><Message>late</Message></RenderingInfo></Event>"),
            format!("<Event {ns}><System><e:EventID xmlns:e='urn:other'>7</e:EventID><EventID>8</EventID><Computer>W</Computer></System><Other><EventData><Data Name='no'>nested part</Data></EventData></Other><x:EventData xmlns:x='urn:y'><Data Name='yes'>{long}</Data><Data Name='after'>cut</Data></x:EventData><RenderingInfo><m:Message xmlns:m='urn:z'>other ns</m:Message><Message>  </Message></RenderingInfo></Event>"),
            format!("<Event {ns}><System><Computer>W</Computer></System><RenderingInfo><Message>{long}</Message></RenderingInfo></Event>"),
            "not xml <".to_owned(),
        ];
        for xml in cases {
            let event = received(&xml);
            let at = Timestamp::from_unix_micros(5);
            assert_eq!(
                StoreRecord::of(&event, "s", at),
                tree::record(&event, at),
                "{xml}"
            );
        }
    }

    /// A `TimeCreated` before 2000 or more than a day after arrival orders the event by its
    /// arrival and is kept as its own time; a plausible one (a day ahead at most) orders it.
    #[test]
    fn made_up_times_order_by_arrival_and_are_kept() {
        let ns = "xmlns='http://schemas.microsoft.com/win/2004/08/events/event'";
        let arrived = Timestamp::parse_system_time("2026-11-26T10:00:00Z").unwrap();
        let at = |time: &str| {
            let xml =
                format!("<Event {ns}><System><TimeCreated SystemTime='{time}'/></System></Event>");
            let record = StoreRecord::of(&received(&xml), "s", arrived);
            (record.time, record.event_time)
        };
        let own = |t: &str| Timestamp::parse_system_time(t).unwrap();
        for made_up in [
            "1601-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1999-12-31T23:59:59Z",
            "2026-11-27T10:00:01Z",
        ] {
            assert_eq!(at(made_up), (arrived, Some(own(made_up))), "{made_up}");
        }
        for plausible in [
            "2000-01-01T00:00:00Z",
            "2026-11-26T09:00:00Z",
            "2026-11-27T10:00:00Z",
        ] {
            assert_eq!(at(plausible), (own(plausible), None), "{plausible}");
        }
    }

    #[test]
    fn words_split_on_anything_but_letters_and_digits() {
        assert_eq!(
            words_of("DOMAIN\\Bob 10.0.0.5"),
            ["domain", "bob", "10", "0", "0", "5"]
        );
        assert!(words_of(" -- ").is_empty());
    }
}
