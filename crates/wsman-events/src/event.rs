//! The Windows event (the `Event` element of `http://schemas.microsoft.com/win/2004/08/events/event`):
//! one model, one tree, one renderer.
//!
//! The tree ([`Event::tree`]) is what XPath queries are evaluated on and what the XML is written
//! from, so a query and the delivered XML can never disagree about a value.

use std::fmt::Write as _;

use wsman_proto::xml::{Attribute, Element, Node};

use crate::guid::Guid;
use crate::time::Timestamp;

/// The event schema's namespace.
pub const EVENT_NS: &str = wsman_proto::ns::EVENT;

/// `Keywords` of events from classic event logs (`0x80000000000000`, "Classic"): what Windows
/// puts on events that carry no manifest keywords.
pub const CLASSIC_KEYWORDS: u64 = 0x0080_0000_0000_0000;

/// Event levels with Windows' values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    LogAlways = 0,
    Critical = 1,
    Error = 2,
    Warning = 3,
    Information = 4,
    Verbose = 5,
}

impl Level {
    /// The number in `System/Level`.
    pub fn value(self) -> u8 {
        self as u8
    }

    /// The name `RenderingInfo/Level` shows.
    pub fn display_name(self) -> &'static str {
        match self {
            Level::LogAlways => "Log Always",
            Level::Critical => "Critical",
            Level::Error => "Error",
            Level::Warning => "Warning",
            Level::Information => "Information",
            Level::Verbose => "Verbose",
        }
    }
}

/// `System/Provider`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    pub name: String,
    pub guid: Guid,
}

impl Provider {
    /// A provider with the name-derived GUID ([`Guid::for_provider_name`]).
    pub fn named(name: &str) -> Provider {
        Provider {
            name: name.to_owned(),
            guid: Guid::for_provider_name(name),
        }
    }
}

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub provider: Provider,
    pub event_id: u32,
    pub level: Level,
    pub keywords: u64,
    pub time_created: Timestamp,
    pub record_id: u64,
    pub activity_id: Option<Guid>,
    pub process_id: u32,
    pub thread_id: u32,
    pub channel: String,
    pub computer: String,
    /// `Security/@UserID`, a SID string.
    pub user_sid: Option<String>,
    /// `EventData/Data` elements in order: name and value.
    pub data: Vec<(String, String)>,
    /// The rendered message, for `RenderingInfo` (RenderedText).
    pub message: String,
}

/// What `ContentFormat` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentFormat {
    /// `System` and `EventData` only (`Raw`, Windows' "Events").
    Raw,
    /// Also `RenderingInfo` with the message and the names of level, channel and provider.
    RenderedText,
}

impl Event {
    /// The event as an element tree, the way Windows' `EvtRender` lays it out.
    pub fn tree(&self, format: ContentFormat) -> Element {
        let mut system = element("System");
        push(
            &mut system,
            with_attrs(
                element("Provider"),
                &[
                    ("Name", self.provider.name.clone()),
                    ("Guid", self.provider.guid.to_string()),
                ],
            ),
        );
        push(&mut system, leaf("EventID", self.event_id.to_string()));
        push(&mut system, leaf("Version", "0".to_owned()));
        push(&mut system, leaf("Level", self.level.value().to_string()));
        push(&mut system, leaf("Task", "0".to_owned()));
        push(&mut system, leaf("Opcode", "0".to_owned()));
        push(
            &mut system,
            leaf("Keywords", format!("0x{:x}", self.keywords)),
        );
        push(
            &mut system,
            with_attrs(
                element("TimeCreated"),
                &[("SystemTime", self.time_created.to_system_time())],
            ),
        );
        push(
            &mut system,
            leaf("EventRecordID", self.record_id.to_string()),
        );
        let correlation = match &self.activity_id {
            Some(id) => with_attrs(element("Correlation"), &[("ActivityID", id.to_string())]),
            None => element("Correlation"),
        };
        push(&mut system, correlation);
        push(
            &mut system,
            with_attrs(
                element("Execution"),
                &[
                    ("ProcessID", self.process_id.to_string()),
                    ("ThreadID", self.thread_id.to_string()),
                ],
            ),
        );
        push(&mut system, leaf("Channel", self.channel.clone()));
        push(&mut system, leaf("Computer", self.computer.clone()));
        let security = match &self.user_sid {
            Some(sid) => with_attrs(element("Security"), &[("UserID", sid.clone())]),
            None => element("Security"),
        };
        push(&mut system, security);

        let mut data = element("EventData");
        for (name, value) in &self.data {
            let mut item = with_attrs(element("Data"), &[("Name", name.clone())]);
            if !value.is_empty() {
                item.children.push(Node::Text(value.clone()));
            }
            push(&mut data, item);
        }

        let mut event = element("Event");
        push(&mut event, system);
        push(&mut event, data);
        if format == ContentFormat::RenderedText {
            let mut rendering =
                with_attrs(element("RenderingInfo"), &[("Culture", "en-US".to_owned())]);
            push(&mut rendering, leaf("Message", self.message.clone()));
            push(
                &mut rendering,
                leaf("Level", self.level.display_name().to_owned()),
            );
            push(&mut rendering, leaf("Task", String::new()));
            push(&mut rendering, leaf("Opcode", "Info".to_owned()));
            push(&mut rendering, leaf("Channel", self.channel.clone()));
            push(&mut rendering, leaf("Provider", self.provider.name.clone()));
            let mut keywords = element("Keywords");
            if self.keywords == CLASSIC_KEYWORDS {
                push(&mut keywords, leaf("Keyword", "Classic".to_owned()));
            }
            push(&mut rendering, keywords);
            push(&mut event, rendering);
        }
        event
    }

    /// The event's XML as Windows writes it: the default namespace on `Event`, attribute values
    /// in single quotes, no whitespace between elements. Characters XML 1.0 cannot carry
    /// (control characters from a journal message) become U+FFFD.
    ///
    /// Written straight from the fields, the same text as [`tree`](Self::tree) and
    /// [`tree_to_xml`](Self::tree_to_xml) give (a test compares them): a forwarder whose query
    /// needs no tree (`*`) then allocates none per event.
    pub fn to_xml(&self, format: ContentFormat) -> String {
        let mut out = String::with_capacity(2048);
        let _ = write!(out, "<Event xmlns='{EVENT_NS}'><System>");
        let guid = self.provider.guid.to_string();
        empty_into(
            &mut out,
            "Provider",
            &[("Name", &self.provider.name), ("Guid", &guid)],
        );
        leaf_into(&mut out, "EventID", &self.event_id.to_string());
        leaf_into(&mut out, "Version", "0");
        leaf_into(&mut out, "Level", &self.level.value().to_string());
        leaf_into(&mut out, "Task", "0");
        leaf_into(&mut out, "Opcode", "0");
        leaf_into(&mut out, "Keywords", &format!("0x{:x}", self.keywords));
        let time = self.time_created.to_system_time();
        empty_into(&mut out, "TimeCreated", &[("SystemTime", &time)]);
        leaf_into(&mut out, "EventRecordID", &self.record_id.to_string());
        match &self.activity_id {
            Some(id) => empty_into(&mut out, "Correlation", &[("ActivityID", &id.to_string())]),
            None => empty_into(&mut out, "Correlation", &[]),
        }
        let (process, thread) = (self.process_id.to_string(), self.thread_id.to_string());
        empty_into(
            &mut out,
            "Execution",
            &[("ProcessID", &process), ("ThreadID", &thread)],
        );
        leaf_into(&mut out, "Channel", &self.channel);
        leaf_into(&mut out, "Computer", &self.computer);
        match &self.user_sid {
            Some(sid) => empty_into(&mut out, "Security", &[("UserID", sid)]),
            None => empty_into(&mut out, "Security", &[]),
        }
        out.push_str("</System>");
        if self.data.is_empty() {
            out.push_str("<EventData/>");
        } else {
            out.push_str("<EventData>");
            for (name, value) in &self.data {
                out.push_str("<Data Name='");
                escape_into(name, &mut out, true);
                if value.is_empty() {
                    out.push_str("'/>");
                } else {
                    out.push_str("'>");
                    escape_into(value, &mut out, false);
                    out.push_str("</Data>");
                }
            }
            out.push_str("</EventData>");
        }
        if format == ContentFormat::RenderedText {
            out.push_str("<RenderingInfo Culture='en-US'>");
            leaf_into(&mut out, "Message", &self.message);
            leaf_into(&mut out, "Level", self.level.display_name());
            leaf_into(&mut out, "Task", "");
            leaf_into(&mut out, "Opcode", "Info");
            leaf_into(&mut out, "Channel", &self.channel);
            leaf_into(&mut out, "Provider", &self.provider.name);
            if self.keywords == CLASSIC_KEYWORDS {
                out.push_str("<Keywords><Keyword>Classic</Keyword></Keywords>");
            } else {
                out.push_str("<Keywords/>");
            }
            out.push_str("</RenderingInfo>");
        }
        out.push_str("</Event>");
        out
    }

    /// [`to_xml`](Self::to_xml) of a tree [`tree`](Self::tree) already built (for a query,
    /// say): building it twice was a tenth of a forwarder's CPU.
    pub fn tree_to_xml(tree: &Element) -> String {
        let mut out = String::with_capacity(2048);
        write_event_element(tree, &mut out);
        out
    }
}

/// `<name a='v' .../>`, as [`write_event_element`] writes an element without children.
fn empty_into(out: &mut String, name: &str, attrs: &[(&str, &str)]) {
    out.push('<');
    out.push_str(name);
    for (attr, value) in attrs {
        out.push(' ');
        out.push_str(attr);
        out.push_str("='");
        escape_into(value, out, true);
        out.push('\'');
    }
    out.push_str("/>");
}

/// `<name>text</name>`, or `<name/>` for no text, as [`leaf`] and [`write_event_element`] do.
fn leaf_into(out: &mut String, name: &str, text: &str) {
    if text.is_empty() {
        empty_into(out, name, &[]);
        return;
    }
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_into(text, out, false);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn element(name: &str) -> Element {
    Element::new(Some(EVENT_NS), name)
}

fn leaf(name: &str, text: String) -> Element {
    let mut e = element(name);
    if !text.is_empty() {
        e.children.push(Node::Text(text));
    }
    e
}

fn with_attrs(mut e: Element, attrs: &[(&str, String)]) -> Element {
    for (name, value) in attrs {
        e.attributes.push(Attribute {
            ns: None,
            name: (*name).to_owned(),
            value: value.clone(),
        });
    }
    e
}

fn push(parent: &mut Element, child: Element) {
    parent.children.push(Node::Element(child));
}

fn write_event_element(e: &Element, out: &mut String) {
    write_unprefixed(e, out, Some(EVENT_NS), &|text, in_attribute, out| {
        escape_into(text, out, in_attribute);
    });
}

/// `e` as Windows writes event XML, for the events written here and the collector's received
/// ones alike: no prefixes, single-quoted attributes, `xmlns` (if any) first on the root;
/// text and attribute values (`true`) escaped by `escape`.
pub fn write_unprefixed<F: Fn(&str, bool, &mut String)>(
    e: &Element,
    out: &mut String,
    xmlns: Option<&str>,
    escape: &F,
) {
    out.push('<');
    out.push_str(&e.name);
    if let Some(ns) = xmlns {
        out.push_str(" xmlns='");
        escape(ns, true, out);
        out.push('\'');
    }
    for a in &e.attributes {
        out.push(' ');
        out.push_str(&a.name);
        out.push_str("='");
        escape(&a.value, true, out);
        out.push('\'');
    }
    if e.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for child in &e.children {
        match child {
            Node::Element(c) => write_unprefixed(c, out, None, escape),
            Node::Text(t) => escape(t, false, out),
        }
    }
    out.push_str("</");
    out.push_str(&e.name);
    out.push('>');
}

/// XML-escape `text`; characters XML 1.0 forbids are replaced by U+FFFD. Runs of characters
/// that stay as they are are copied at once, and found a byte at a time: a journal message is
/// mostly such a run, and only a markup character, an ASCII control or a 0xEF lead byte (of
/// U+FFFE and U+FFFF) can start a character that changes. Which characters XML forbids is
/// decided by the one rule every writer and the parser call, `wsman_proto::xml::forbidden_at`.
pub(crate) fn escape_into(text: &str, out: &mut String, in_attribute: bool) {
    let bytes = text.as_bytes();
    let mut unchanged_from = 0;
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        let may_change = match byte {
            b'&' | b'<' | b'>' | b'\'' | b'"' => true,
            0x20..=0x7F => false,
            0x80..=0xFF => byte == 0xEF,
            _ => true,
        };
        if !may_change {
            at += 1;
            continue;
        }
        let (replacement, len) = match byte {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'\'' if in_attribute => ("&apos;", 1),
            b'"' if in_attribute => ("&quot;", 1),
            b'\t' if in_attribute => ("&#x9;", 1),
            b'\n' if in_attribute => ("&#xA;", 1),
            b'\r' if in_attribute => ("&#xD;", 1),
            _ => match wsman_proto::xml::forbidden_at(bytes, at) {
                Some(len) => ("\u{FFFD}", len),
                None => {
                    at += 1;
                    continue;
                }
            },
        };
        out.push_str(&text[unchanged_from..at]);
        out.push_str(replacement);
        at += len;
        unchanged_from = at;
    }
    out.push_str(&text[unchanged_from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// XML 1.0's `Char` production (surrogates cannot occur in a `char`), written here as the
    /// standard states it: the oracle of the escaping, independent of the rule it calls.
    fn is_xml_char(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
    }
    use proptest::prelude::*;

    /// The escaping as a rule per character, written independently of the run-copying code.
    fn escaped_char_by_char(text: &str, in_attribute: bool) -> String {
        text.chars()
            .map(|c| match c {
                '&' => "&amp;".to_owned(),
                '<' => "&lt;".to_owned(),
                '>' => "&gt;".to_owned(),
                '\'' if in_attribute => "&apos;".to_owned(),
                '"' if in_attribute => "&quot;".to_owned(),
                '\t' | '\n' | '\r' if in_attribute => format!("&#x{:X};", c as u32),
                c if is_xml_char(c) => c.to_string(),
                _ => "\u{FFFD}".to_owned(),
            })
            .collect()
    }

    fn any_event() -> impl Strategy<Value = Event> {
        let text = "[a-z <>&'\"\t\n\u{1}\u{e9}\u{f000}\u{fffd}\u{fffe}\u{ffff}]{0,12}";
        (
            (
                text,
                any::<u32>(),
                0u8..6,
                any::<bool>(),
                any::<i64>(),
                any::<u64>(),
            ),
            (
                proptest::option::of("[0-9a-f]{32}"),
                any::<u32>(),
                any::<u32>(),
                text,
                text,
            ),
            (
                proptest::option::of(text),
                proptest::collection::vec((text, text), 0..5),
                text,
            ),
        )
            .prop_map(|(a, b, c)| {
                let (provider, event_id, level, classic, micros, record_id) = a;
                let (activity, process_id, thread_id, channel, computer) = b;
                let (user_sid, data, message) = c;
                let level = [
                    Level::LogAlways,
                    Level::Critical,
                    Level::Error,
                    Level::Warning,
                    Level::Information,
                    Level::Verbose,
                ][usize::from(level)];
                Event {
                    provider: Provider::named(&provider),
                    event_id,
                    level,
                    keywords: if classic { CLASSIC_KEYWORDS } else { 0x10 },
                    time_created: Timestamp::from_unix_micros(micros / 4),
                    record_id,
                    activity_id: activity.as_deref().and_then(Guid::from_hex_text),
                    process_id,
                    thread_id,
                    channel,
                    computer,
                    user_sid,
                    data,
                    message,
                }
            })
    }

    proptest! {
        #[test]
        fn xml_written_from_the_fields_equals_xml_of_the_tree(event in any_event(), rendered: bool) {
            let format = if rendered { ContentFormat::RenderedText } else { ContentFormat::Raw };
            prop_assert_eq!(event.to_xml(format), Event::tree_to_xml(&event.tree(format)));
        }

        #[test]
        fn escaping_runs_at_once_equals_escaping_each_character(
            text in "[a-z &<>'\"\t\n\r\u{0}-\u{1f}\u{7f}\u{80}\u{e9}\u{f000}\u{fffd}\u{fffe}\u{ffff}\u{1f600}]{0,64}",
            in_attribute: bool,
        ) {
            let mut out = String::from("prefix");
            escape_into(&text, &mut out, in_attribute);
            prop_assert_eq!(out, format!("prefix{}", escaped_char_by_char(&text, in_attribute)));
        }
    }
}
