//! One event as a collector received it, and its text as Windows writes it: what the
//! collector's checks make and every output writes, below both.

use std::borrow::Cow;

use wsman_proto::xml::{self, Element};

/// The event namespace.
pub const EVENT_NS: &str = wsman_proto::ns::EVENT;

/// The bounds an event's XML is read within (an event is small and flat).
pub fn event_limits() -> xml::Limits {
    let mut limits = xml::Limits::default();
    limits.max_depth = 32;
    limits.max_elements = 10_000;
    limits
}

/// One event as received: its XML (one line, as the forwarder wrote it when it came as
/// CDATA) and what the collector reads of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedEvent {
    pub xml: String,
    /// The event's tree, built only when an output of the subscription needs it (JSON, the
    /// journal): see [`ReceivedEvent::element`].
    pub tree: Option<Element>,
    pub computer: String,
    pub channel: String,
    pub record_id: Option<u64>,
}

impl ReceivedEvent {
    /// The event's tree: the one built on receipt, or else parsed from its XML now (the
    /// collector builds it on receipt for every subscription with an output that needs it, so
    /// this parse is for callers that did not ask; an event the parser refuses, which a
    /// checked event's text never is, reads as an empty `Event`).
    pub fn element(&self) -> Cow<'_, Element> {
        match &self.tree {
            Some(tree) => Cow::Borrowed(tree),
            None => Cow::Owned(
                xml::parse(&self.xml, &event_limits())
                    .unwrap_or_else(|_| Element::new(Some(EVENT_NS), "Event")),
            ),
        }
    }
}

/// The event element as Windows writes it: its namespace as the default one, no prefixes
/// (when every element shares it; else the generic serialisation), on one line.
pub fn event_xml(event: &Element) -> String {
    fn same_ns(e: &Element, ns: Option<&str>) -> bool {
        e.ns.as_deref() == ns
            && e.attributes.iter().all(|a| a.ns.is_none())
            && e.elements().all(|c| same_ns(c, ns))
    }
    if !same_ns(event, event.ns.as_deref()) {
        return line_safe(&event.to_xml());
    }
    let mut out = String::new();
    let escape = |text: &str, in_attribute: bool, out: &mut String| {
        let escaped = if in_attribute {
            xml::escape_attr(text)
        } else {
            xml::escape_text(text)
        };
        out.push_str(&line_safe(&escaped));
    };
    crate::event::write_unprefixed(event, &mut out, event.ns.as_deref(), &escape);
    out
}

/// Whether `text` holds a CR or LF. Every event's text is looked at whole (a line break is
/// rare), so the common case is made cheap: a block of 32 bytes with no byte under 0x0E
/// (which the compiler tests a block at a time, without a branch per byte) holds neither, and
/// only a block with one (a tab, a line break) is searched. About 0.9 instructions a byte,
/// where the standard library's two searches for one byte each cost 2.4.
pub fn has_line_break(text: &str) -> bool {
    let line_break = |b: &u8| matches!(b, b'\n' | b'\r');
    let mut blocks = text.as_bytes().chunks_exact(32);
    for block in &mut blocks {
        let low = block.iter().fold(0u8, |low, &b| low | u8::from(b < 0x0E));
        if low != 0 && block.iter().any(line_break) {
            return true;
        }
    }
    blocks.remainder().iter().any(line_break)
}

/// `text` on one line: CR and LF as character references (one pass, none when there is none).
pub fn line_safe(text: &str) -> String {
    if !has_line_break(text) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("&#xD;"),
            '\n' => out.push_str("&#xA;"),
            c => out.push(c),
        }
    }
    out
}
