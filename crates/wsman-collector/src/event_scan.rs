//! The checks of one received event in a single pass over its text, without its tree: what
//! the collector reads of every event (the one `System` and its one `Computer`, `Channel` and
//! `EventRecordID`, each in the event namespace) when no output of the subscription needs the
//! event's tree (Raw outputs write the text as it came).
//!
//! Why a second reader of the same thing: building the tree of every event (an allocation per
//! element, attribute and namespace) was a quarter of the collector's CPU per event; this pass
//! allocates only the three values it keeps. It runs the XML parser's own pass
//! ([`xml::scan`]), so what it refuses as XML is exactly what the tree parser refuses, and
//! it reports the same [`EventError`] as the tree check ([`crate::ingest::check_tree`]) for
//! every input: where the tree check looks at the System's children one name after another,
//! this pass keeps the first problem of each kind and answers in the same order at the end.

use std::borrow::Cow;

use wsman_proto::xml::{self, Visitor};

use crate::event_facts::{event_limits, EventError, EventFacts, EVENT_NS};

/// The System fields the collector reads, in the order the tree check looks at them.
const FIELDS: [&str; 3] = ["Computer", "Channel", "EventRecordID"];

/// One `only_one` check (a name that must appear at most once, in the event namespace) as
/// the pass meets the elements of that name.
#[derive(Default)]
struct OnlyOne {
    found: bool,
    problem: Option<EventError>,
}

impl OnlyOne {
    /// An element of this name: returns whether it is the one to read (the first in the
    /// event namespace).
    fn meet(&mut self, name: &str, ns: Option<&str>) -> bool {
        if self.problem.is_some() {
            return false;
        }
        if ns != Some(EVENT_NS) {
            self.problem = Some(EventError::OtherNamespace(
                name.to_owned(),
                ns.unwrap_or_default().to_owned(),
            ));
            return false;
        }
        if self.found {
            self.problem = Some(EventError::Repeated(name.to_owned()));
            return false;
        }
        self.found = true;
        true
    }
}

/// The pass's state: the depth it is at, and what it has found.
#[derive(Default)]
struct EventScan {
    depth: usize,
    not_an_event: Option<EventError>,
    system: OnlyOne,
    /// Inside the System that is read (its children are at depth 2).
    in_system: bool,
    fields: [OnlyOne; 3],
    /// Whether an element of the Event was met, and whether the first was named `System`.
    met_child: bool,
    system_first: bool,
    /// The Event's child being read is named `System` (of any namespace).
    under_system: bool,
    /// The first `System` or `Computer` met elsewhere than `Event/System(/Computer)`.
    misplaced: Option<EventError>,
    /// The field element open at depth 3 whose direct text is being read.
    reading: Option<usize>,
    values: [String; 3],
}

impl Visitor for EventScan {
    fn attribute(&mut self, _: Option<&str>, _: &str, _: Cow<'_, str>) {}

    fn start(&mut self, ns: Option<&str>, name: &str, _: Option<&str>, empty: bool) {
        self.place(name);
        match self.depth {
            0 if !(name == "Event" && ns == Some(EVENT_NS)) => {
                self.not_an_event = Some(EventError::NotAnEvent {
                    name: name.to_owned(),
                    ns: ns.unwrap_or_default().to_owned(),
                });
            }
            1 if name == "System" => {
                self.in_system = self.system.meet(name, ns) && !empty;
            }
            2 if self.in_system => {
                if let Some(index) = FIELDS.iter().position(|f| *f == name) {
                    if self.fields[index].meet(name, ns) && !empty {
                        self.reading = Some(index);
                    }
                }
            }
            _ => {}
        }
        if !empty {
            self.depth += 1;
        }
    }

    fn end(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        match self.depth {
            1 => self.in_system = false,
            2 => self.reading = None,
            _ => {}
        }
    }

    fn text(&mut self, text: Cow<'_, str>) {
        if self.depth == 3 {
            if let Some(index) = self.reading {
                self.values[index].push_str(&text);
            }
        }
    }
}

impl EventScan {
    /// Where an element named `name` starts: the Event's first child, and decoys, as the
    /// tree check's `misplaced` finds them (document order, the first one).
    fn place(&mut self, name: &str) {
        if self.depth == 1 {
            if !self.met_child {
                self.met_child = true;
                self.system_first = name == "System";
            }
            self.under_system = name == "System";
        }
        let placed = match name {
            "System" => self.depth <= 1,
            "Computer" => self.depth == 2 && self.under_system,
            _ => true,
        };
        if !placed && self.depth > 0 && self.misplaced.is_none() {
            self.misplaced = Some(EventError::Misplaced(name.to_owned()));
        }
    }
}

/// XML's whitespace, as `Element::trimmed_text` trims it.
fn trimmed(text: &str) -> &str {
    text.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Check `text` as one event and read its Computer, Channel and record id: the same answer
/// as parsing it ([`xml::parse`] with [`event_limits`]) and checking the tree.
///
/// [`xml::scan_either`] reads nearly every event a forwarder sends with the plain pass, and
/// the rest with the full pass into a fresh state, so every refusal is the full pass's own.
pub fn check_text(text: &str) -> Result<EventFacts, EventError> {
    xml::scan_either(text, &event_limits(), EventScan::default)
        .map_err(EventError::NotXml)?
        .facts()
}

impl EventScan {
    /// The answer of a document read whole: the tree check's first refusal, or the facts.
    fn facts(self) -> Result<EventFacts, EventError> {
        let scan = self;
        if let Some(problem) = scan.not_an_event {
            return Err(problem);
        }
        if let Some(problem) = scan.system.problem {
            return Err(problem);
        }
        if !scan.system.found {
            return Err(EventError::NoSystem);
        }
        if !scan.system_first {
            return Err(EventError::SystemNotFirst);
        }
        if let Some(problem) = scan.misplaced {
            return Err(problem);
        }
        let [computer, channel, record] = scan.fields;
        let [computer_text, channel_text, record_text] = scan.values;
        if let Some(problem) = computer.problem {
            return Err(problem);
        }
        let computer = trimmed(&computer_text);
        if computer.is_empty() {
            return Err(EventError::NoComputer);
        }
        if let Some(problem) = channel.problem.or(record.problem) {
            return Err(problem);
        }
        // Kept as they came when nothing is trimmed (the usual case): no copy.
        let keep = |text: String| {
            if trimmed(&text).len() == text.len() {
                text
            } else {
                trimmed(&text).to_owned()
            }
        };
        Ok(EventFacts {
            computer: keep(computer_text),
            channel: keep(channel_text),
            record_id: trimmed(&record_text).parse().ok(),
        })
    }
}
