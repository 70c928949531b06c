//! The eventing core, sans I/O: what both event roles of wsmand share (the host as an event
//! source, and the collector of Windows Event Forwarding).
//!
//! - [`event`]: the Windows event model, its element tree and its XML as Windows writes it;
//! - [`journal`]: the journal's export format read incrementally and bounded, and the mapping
//!   of a journal entry to a Windows event (provider, level, channel, record id, user SID);
//! - [`xpath`] and [`query`]: the XPath subset and the `QueryList` of event subscriptions,
//!   bounded, evaluated on the event's tree with "now" passed in;
//! - [`bookmark`]: `BookmarkList`, whose positions only move forward;
//! - [`subscribe`]: the `e:Subscribe` request typed and checked, with its refusals;
//! - [`batch`]: when a batch or a heartbeat is due, one message in flight, nothing lost or
//!   reordered on failure, a bounded queue;
//! - [`offer`]: a collector's subscription manager's offers to a forwarder (`m:Subscription`
//!   items), read bounded;
//! - [`delivery`]: `Events`, `Heartbeat`, `SubscriptionEnd` and `Ack` messages, UTF-8 or
//!   UTF-16LE with a byte-order mark;
//! - [`sldc`]: the SLDC (ECMA-321) bodies of Windows' forwarders, decompressed within a bound;
//! - [`received`]: an event as a collector received it, and its text as Windows writes it;
//! - [`guid`] and [`time`]: GUIDs (with ETW's name-based provider GUID) and event times.
//!
//! No sockets, no files, no clock: the daemon reads the journal and the network, this crate
//! decides what the bytes mean.
#![forbid(unsafe_code)]

pub mod batch;
pub mod bookmark;
pub mod delivery;
pub mod event;
pub mod guid;
pub mod journal;
pub mod offer;
pub mod query;
pub mod received;
pub mod sldc;
pub mod subscribe;
pub mod subscribe_writer;
pub mod time;
pub mod xpath;

pub use bookmark::BookmarkList;
pub use event::{ContentFormat, Event, Level, Provider};
pub use guid::Guid;
pub use journal::{ExportError, ExportLimits, ExportReader, JournalEntry, Mapping};
pub use query::QueryList;
pub use subscribe::{parse_subscribe, DeliveryMode, SubscribeError, SubscribeRequest};
pub use time::Timestamp;
pub use xpath::{QueryError, XPath};
