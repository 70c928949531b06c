//! What the store keeps of one event: the fields it is searched by, read from the event's
//! tree, and its text as words. The fields come from the forwarder: they are data, bounded here
//! (names cut at [`MAX_NAME`] bytes, the excerpt at [`EXCERPT_CHARS`] characters, the words at
//! [`MAX_WORDS_BYTES`]) and only ever bound as SQL parameters.

use wsman_events::Timestamp;
use wsman_proto::xml::{Element, Node};

use crate::event_facts::EVENT_NS;
use crate::ingest::ReceivedEvent;

/// Longest Computer, Channel or Provider kept (bytes); the search's values are bounded alike.
pub const MAX_NAME: usize = 255;
/// Characters of the message (or data) kept as the result's excerpt.
pub const EXCERPT_CHARS: usize = 256;
/// Bytes of words indexed per event: the text search reads the first this many.
pub const MAX_WORDS_BYTES: usize = 16 * 1024;

/// One event as the store writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreRecord {
    /// `TimeCreated/@SystemTime`, else the time it was received.
    pub time: Timestamp,
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
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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

fn system_child<'a>(system: Option<&'a Element>, name: &str) -> Option<&'a Element> {
    system?.child(EVENT_NS, name)
}

fn number(element: Option<&Element>) -> Option<i64> {
    element?.trimmed_text().parse().ok()
}

/// Every text under `element`, as `Name=value` for a named `Data`, separated by spaces.
fn data_text(element: &Element, out: &mut String, max: usize) {
    for node in &element.children {
        if out.len() >= max {
            return;
        }
        match node {
            Node::Text(text) => {
                let text = text.trim();
                if !text.is_empty() {
                    if !out.is_empty() && !out.ends_with('=') {
                        out.push(' ');
                    }
                    out.push_str(cut(text, max.saturating_sub(out.len())));
                }
            }
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

fn excerpt(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(EXCERPT_CHARS).collect())
}

impl StoreRecord {
    /// The record of `event`, received at `received`, for `subscription`.
    pub fn of(event: &ReceivedEvent, subscription: &str, received: Timestamp) -> StoreRecord {
        let tree = event.element();
        let system = tree.child(EVENT_NS, "System");
        let time = system_child(system, "TimeCreated")
            .and_then(|t| t.attr("SystemTime"))
            .and_then(Timestamp::parse_system_time)
            .unwrap_or(received);
        let provider = system_child(system, "Provider")
            .and_then(|p| p.attr("Name"))
            .map(|name| cut(name, MAX_NAME).to_owned());
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
        StoreRecord {
            time,
            computer: cut(&event.computer, MAX_NAME).to_owned(),
            channel: cut(&event.channel, MAX_NAME).to_owned(),
            level: number(system_child(system, "Level")),
            event_id: number(system_child(system, "EventID")),
            provider,
            subscription: subscription.to_owned(),
            excerpt: excerpt(&message).or_else(|| excerpt(&data)),
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
        let record = StoreRecord::of(&received(xml), "logons", Timestamp::from_unix_micros(0));
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

    #[test]
    fn words_split_on_anything_but_letters_and_digits() {
        assert_eq!(
            words_of("DOMAIN\\Bob 10.0.0.5"),
            ["domain", "bob", "10", "0", "0", "5"]
        );
        assert!(words_of(" -- ").is_empty());
    }
}
