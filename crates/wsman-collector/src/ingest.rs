//! A forwarder's delivery read and checked: `Events`, `Heartbeat` or `SubscriptionEnd`, the
//! subscription version it names (`e:Identifier`), its bookmark, and each event parsed
//! (bounded; the XML parser refuses what XML 1.0 cannot carry), its `Computer` checked against
//! who the sender proved to be.
//!
//! Why the whole batch is refused for one bad or forged event: the forwarder resends a batch
//! as a whole, so accepting part of it would either lose the rest or store it twice; a
//! refused batch stays with the forwarder and is logged here.

use std::collections::BTreeSet;

use wsman_events::delivery::{EVENTS_ACTION, HEARTBEAT_ACTION, SUBSCRIPTION_END_ACTION};
use wsman_events::BookmarkList;
use wsman_proto::xml::{self, Element};
use wsman_proto::{ns, Request};

pub use crate::event_facts::{event_limits, EventError, EventFacts, EVENT_NS};
pub use wsman_events::received::{event_xml, ReceivedEvent};
use wsman_events::received::{has_line_break, line_safe};

/// Most events in one delivery.
pub const MAX_EVENTS: usize = 10_000;

/// What a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryKind {
    Events,
    Heartbeat,
    SubscriptionEnd,
}

/// A delivery, read.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub kind: DeliveryKind,
    pub message_id: String,
    /// The subscription version the forwarder holds (`e:Identifier`).
    pub version: String,
    pub bookmark: Option<BookmarkList>,
    pub events: Vec<ReceivedEvent>,
}

/// Why a delivery was refused (HTTP 400 with a fault).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("not a delivery: action {0:?}")]
    NotADelivery(String),
    #[error("the delivery has no a:MessageID")]
    NoMessageId,
    #[error("the delivery has no e:Identifier (the subscription version)")]
    NoIdentifier,
    #[error("bad bookmark: {0}")]
    BadBookmark(String),
    #[error("the body is not w:Events")]
    NoEvents,
    #[error("more than {MAX_EVENTS} events in one delivery")]
    TooManyEvents,
    #[error("event {index}: {reason}")]
    BadEvent { index: usize, reason: EventError },
    #[error("event {index} claims Computer {computer:?}, but the sender is {sender}")]
    Forged {
        index: usize,
        computer: String,
        sender: String,
    },
}

/// Read `request` as a delivery. `with_trees`: build each event's tree (an output of the
/// subscription needs it); without, each event is checked in one pass over its text.
pub fn read_delivery(request: &Request, with_trees: bool) -> Result<Delivery, DeliveryError> {
    let action = request.action.as_deref().unwrap_or("");
    let kind = match action {
        EVENTS_ACTION => DeliveryKind::Events,
        HEARTBEAT_ACTION => DeliveryKind::Heartbeat,
        SUBSCRIPTION_END_ACTION => DeliveryKind::SubscriptionEnd,
        other => return Err(DeliveryError::NotADelivery(other.to_owned())),
    };
    let message_id = request
        .message_id
        .clone()
        .filter(|m| !m.is_empty())
        .ok_or(DeliveryError::NoMessageId)?;
    let version = request
        .headers
        .iter()
        .find(|h| h.is(ns::EVENTING, "Identifier"))
        .map(Element::trimmed_text)
        .filter(|v| !v.is_empty())
        .ok_or(DeliveryError::NoIdentifier)?;
    let bookmark = match request.headers.iter().find(|h| h.is(ns::WSMAN, "Bookmark")) {
        None => None,
        Some(header) => match header.elements().next() {
            Some(list) => Some(
                BookmarkList::from_element(list)
                    .map_err(|e| DeliveryError::BadBookmark(e.to_string()))?,
            ),
            None => None,
        },
    };
    let mut events = Vec::new();
    if kind == DeliveryKind::Events {
        let body = request
            .body
            .as_ref()
            .filter(|b| b.is(ns::WSMAN, "Events"))
            .ok_or(DeliveryError::NoEvents)?;
        // Room for every event at once (the body's nodes, at most the bound, are more than
        // its events), not grown and moved three times for a batch of ten.
        events.reserve_exact(body.children.len().min(MAX_EVENTS));
        for (index, event) in body
            .elements()
            .filter(|e| e.is(ns::WSMAN, "Event"))
            .enumerate()
        {
            if index >= MAX_EVENTS {
                return Err(DeliveryError::TooManyEvents);
            }
            events.push(
                read_event(event, with_trees)
                    .map_err(|reason| DeliveryError::BadEvent { index, reason })?,
            );
        }
    }
    Ok(Delivery {
        kind,
        message_id,
        version,
        bookmark,
        events,
    })
}

fn read_event(wrapper: &Element, with_tree: bool) -> Result<ReceivedEvent, EventError> {
    let (tree, xml, facts) = match wrapper.elements().next() {
        Some(element) => (
            Some(element.clone()),
            event_xml(element),
            check_tree(element)?,
        ),
        None => {
            // CDATA (or escaped text): read what it holds, bounded like any input.
            let text = wrapper.text();
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Err(EventError::Empty);
            }
            let (tree, facts) = if with_tree {
                let tree = xml::parse(trimmed, &event_limits()).map_err(EventError::NotXml)?;
                let facts = check_tree(&tree)?;
                (Some(tree), facts)
            } else {
                (None, crate::event_scan::check_text(trimmed)?)
            };
            // The text as it came is the line when it already is one (the usual case): kept,
            // not copied again.
            let xml = if trimmed.len() == text.len() && !has_line_break(&text) {
                text
            } else {
                line_safe(trimmed)
            };
            (tree, xml, facts)
        }
    };
    Ok(ReceivedEvent {
        xml,
        tree,
        computer: facts.computer,
        channel: facts.channel,
        record_id: facts.record_id,
    })
}

/// Check an event's tree: an `Event` in the event namespace whose first element is its one
/// `System`, in it one `Computer` (not empty), at most one `Channel` and `EventRecordID`, no
/// `System` or `Computer` anywhere else, and read those.
pub fn check_tree(tree: &Element) -> Result<EventFacts, EventError> {
    if !tree.is(EVENT_NS, "Event") {
        return Err(EventError::NotAnEvent {
            name: tree.name.clone(),
            ns: tree.ns.clone().unwrap_or_default(),
        });
    }
    let system = only_one(tree, "System")?.ok_or(EventError::NoSystem)?;
    if !tree
        .elements()
        .next()
        .is_some_and(|e| std::ptr::eq(e, system))
    {
        return Err(EventError::SystemNotFirst);
    }
    if let Some(name) = misplaced(tree, 0, false) {
        return Err(EventError::Misplaced(name.to_owned()));
    }
    let field = |name: &str| only_one(system, name).map(|e| e.map(Element::trimmed_text));
    let computer = field("Computer")?
        .filter(|c| !c.is_empty())
        .ok_or(EventError::NoComputer)?;
    let channel = field("Channel")?.unwrap_or_default();
    let record_id = field("EventRecordID")?.and_then(|r| r.parse().ok());
    Ok(EventFacts {
        computer,
        channel,
        record_id,
    })
}

/// The first element, in document order, below `parent` (at `depth`; `in_system`: `parent` is
/// a child of the Event named `System`) named `System` or `Computer` but not at `Event/System`
/// or `Event/System/Computer`: a decoy that a reader taking the first `Computer` it meets (in
/// `EventData` or `UserData`, before the real `System`) would believe. Any namespace: readers
/// going by local names ignore it. Deep as the parser's depth limit at most.
fn misplaced(parent: &Element, depth: usize, in_system: bool) -> Option<&str> {
    for child in parent.elements() {
        let name = child.name.as_str();
        let placed = match name {
            "System" => depth == 0,
            "Computer" => depth == 1 && in_system,
            _ => true,
        };
        if !placed {
            return Some(name);
        }
        if let Some(found) = misplaced(child, depth + 1, depth == 0 && name == "System") {
            return Some(found);
        }
    }
    None
}

/// The one child of `parent` named `name` in the event namespace, if any. Refused: two of them,
/// or one of that name in another namespace (a decoy `System` or `Computer` that a reader going
/// by local names, as many do downstream, would take for the real one).
fn only_one<'a>(parent: &'a Element, name: &str) -> Result<Option<&'a Element>, EventError> {
    let mut found = None;
    for child in parent.elements().filter(|e| e.name == name) {
        if child.ns.as_deref() != Some(EVENT_NS) {
            return Err(EventError::OtherNamespace(
                name.to_owned(),
                child.ns.clone().unwrap_or_default(),
            ));
        }
        if found.replace(child).is_some() {
            return Err(EventError::Repeated(name.to_owned()));
        }
    }
    Ok(found)
}

/// Who sent a delivery, as authentication proved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sender {
    /// A Kerberos principal (`WIN10$@EXAMPLE.COM`, `host/win10.example.com@EXAMPLE.COM`).
    Kerberos(String),
    /// The names of a client certificate (subject CN and DNS names).
    Certificate(Vec<String>),
    /// A Basic account (a service account or Linux user), named after the host it forwards for.
    Account(String),
}

impl Sender {
    /// The name the collector knows the forwarder by (bookmarks, `{client}`, allow lists).
    pub fn client_name(&self) -> String {
        match self {
            Sender::Kerberos(principal) => principal.clone(),
            Sender::Certificate(names) => names.first().cloned().unwrap_or_default(),
            Sender::Account(name) => name.clone(),
        }
    }

    /// Whether an event naming `computer` may come from this sender: the Computer is the
    /// sender's full name, never a part of it.
    /// - a machine principal `NAME$@REALM`: the Computer is `NAME.REALM` (a domain member's
    ///   DNS name is its account name in the realm's domain);
    /// - a service principal `service/FQDN@REALM`: the Computer is FQDN;
    /// - a certificate: one of its names is the Computer;
    /// - another principal or a Basic account: its name (before `@`) is the Computer when it
    ///   is a full DNS name (`web01.example.com`); a bare name (`web01`, `backup`) speaks for
    ///   no Computer, only the subscription's explicit map can name one for it.
    ///
    /// Why no shorter form: a first label matches the same host name in every domain (the
    /// machine `WEB01$` would speak for `web01.other.example`), and a short host name equal to
    /// a user's name would let any user named `backup` speak for `backup.example.com`, or for
    /// the host whose Computer is the bare `backup`.
    /// Case never matters (DNS and NetBIOS names are case-insensitive); a final dot is no
    /// part of the name.
    pub fn may_send_for(&self, computer: &str) -> bool {
        let computer = computer.trim().trim_end_matches('.');
        let is = |name: &str| {
            !name.is_empty() && name.trim_end_matches('.').eq_ignore_ascii_case(computer)
        };
        if computer.is_empty() {
            return false;
        }
        match self {
            Sender::Kerberos(principal) => {
                let (name, realm) = principal.rsplit_once('@').unwrap_or((principal, ""));
                if let Some(machine) = name.strip_suffix('$') {
                    return !realm.is_empty() && is(&format!("{machine}.{realm}"));
                }
                match name.split_once('/') {
                    Some((_, host)) => is(host),
                    None => is_full_name(name) && is(name),
                }
            }
            Sender::Certificate(names) => names.iter().any(|n| is(n)),
            Sender::Account(name) => is_full_name(name) && is(name),
        }
    }
}

/// Whether a user's name is a full DNS name (two labels at least), which it may speak for as a
/// Computer; a bare name is a user's as much as a host's.
fn is_full_name(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    name.split('.').count() >= 2 && name.split('.').all(|label| !label.is_empty())
}

/// Refuse `delivery` unless every event's Computer is one `sender` may send for: its own
/// full name, or one of `mapped` (the subscription's explicit map for it), compared as
/// [`Sender::may_send_for`] compares.
pub fn check_computers(
    delivery: &Delivery,
    sender: &Sender,
    mapped: &[String],
) -> Result<(), DeliveryError> {
    let in_map = |computer: &str| {
        let computer = computer.trim().trim_end_matches('.');
        !computer.is_empty()
            && mapped
                .iter()
                .any(|m| m.trim_end_matches('.').eq_ignore_ascii_case(computer))
    };
    for (index, event) in delivery.events.iter().enumerate() {
        if !sender.may_send_for(&event.computer) && !in_map(&event.computer) {
            return Err(DeliveryError::Forged {
                index,
                computer: event.computer.clone(),
                sender: sender.client_name(),
            });
        }
    }
    Ok(())
}

/// The events of `delivery` the store has not yet taken: those with a record id past the
/// stored position of their channel (a resent or replayed batch is not written twice).
/// Events without a record id are always new.
pub fn unseen<'a>(delivery: &'a Delivery, stored: Option<&BookmarkList>) -> Vec<&'a ReceivedEvent> {
    delivery
        .events
        .iter()
        .filter(|event| match (stored, event.record_id) {
            (Some(stored), Some(record)) => stored
                .position(&event.channel)
                .is_none_or(|position| record > position),
            _ => true,
        })
        .collect()
}

/// The positions the events of a batch reach, merged with the forwarder's own bookmark, kept
/// only for the logs the subscription's query names (`query_channels`, spelt as the query
/// spells them): what a forwarder can add to the bookmark store is bounded by the query, not
/// by the channel names it makes up.
pub fn reached(delivery: &Delivery, query_channels: &BTreeSet<String>) -> BookmarkList {
    let named = |channel: &str| {
        query_channels
            .iter()
            .find(|c| c.eq_ignore_ascii_case(channel))
    };
    let mut list = BookmarkList::new();
    let positions = delivery
        .bookmark
        .iter()
        .flat_map(BookmarkList::positions)
        .chain(
            delivery
                .events
                .iter()
                .filter_map(|e| Some((e.channel.as_str(), e.record_id?))),
        );
    for (channel, record) in positions {
        if let Some(channel) = named(channel) {
            list.advance(channel, record);
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CR or an LF is found at every position of texts of every length around the block
    /// size (in a block, in the bytes after the last block), and none where there is none.
    #[test]
    fn a_line_break_is_found_anywhere() {
        for len in 0..100 {
            let text = "é".repeat(len / 2) + &"x".repeat(len % 2);
            assert!(!has_line_break(&text), "{len}");
            for at in 0..=text.len() {
                if !text.is_char_boundary(at) {
                    continue;
                }
                for brk in ["\n", "\r"] {
                    let mut with = text.clone();
                    with.insert_str(at, brk);
                    assert!(has_line_break(&with), "{len} {at} {brk:?}");
                }
            }
        }
    }
}
