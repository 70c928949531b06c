//! What the collector reads of one event, and why an event is refused: shared by the tree
//! check ([`crate::ingest`]) and the one-pass check ([`crate::event_scan`]), below both so
//! that neither imports the other's module.

pub use wsman_events::received::{event_limits, EVENT_NS};
use wsman_proto::xml;

/// What the collector reads of an event besides its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFacts {
    pub computer: String,
    pub channel: String,
    pub record_id: Option<u64>,
}

/// Why one `w:Event` of a delivery is not an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("an empty w:Event")]
    Empty,
    #[error("not XML: {0}")]
    NotXml(#[source] xml::XmlError),
    #[error("the root element is {name} in namespace {ns:?}, not Event in {EVENT_NS}")]
    NotAnEvent { name: String, ns: String },
    #[error("no System element")]
    NoSystem,
    #[error("no System/Computer")]
    NoComputer,
    #[error("a {0} element in namespace {1:?}, not the event namespace")]
    OtherNamespace(String, String),
    #[error("more than one {0} element")]
    Repeated(String),
    #[error("System is not the first element of Event")]
    SystemNotFirst,
    #[error(
        "a {0} element elsewhere than Event/System/Computer (a decoy for readers going by name)"
    )]
    Misplaced(String),
}
