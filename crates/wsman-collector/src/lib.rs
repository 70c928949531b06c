//! The Windows Event Collector side of wsmand: what a collector of Windows Event Forwarding
//! must never lose.
//!
//! - [`subscriptions`]: source-initiated subscriptions, one TOML file each (or stored in the
//!   PostgreSQL store, shared by several collectors), with a stable identifier and a version
//!   that changes with their content;
//! - [`subscription_source`]: the files and the stored subscriptions joined by one rule (a
//!   stored one wins over a file of its name);
//! - [`address_range`]: a subscription's allowed forwarder addresses (CIDR);
//! - [`manager`]: the subscription manager's Enumerate answer (each subscription's Subscribe,
//!   with the forwarder's bookmark);
//! - [`delivery`]: one delivery decided without a socket or a runtime (version, allow list,
//!   addresses, Computers, claim, dedupe, write, commit), the server mapping the decision to
//!   its reply;
//! - [`ingest`]: a delivery (Events, Heartbeat, SubscriptionEnd) read and checked, the
//!   `Computer` of each event against who the sender proved to be;
//! - [`event_scan`]: the same checks of an event in one pass over its text, without its tree,
//!   for subscriptions whose outputs write the text as it came;
//! - the outputs, below the collector in their own crate ([`wsman_outputs`]): the output seam
//!   (a batch stored durably or refused), the registry of the outputs, each in its own module,
//!   the node's `[outputs]` policy and the secrets outputs name;
//! - [`subscription_outputs`]: each subscription's outputs, each bounded in flight, all of which
//!   must have a batch durably before it is acknowledged;
//! - [`fleet`]: forwarders silent for more than a few heartbeat intervals, counted in memory
//!   per subscription so that a scrape reads no database;
//! - [`refusal_log`]: refused delivery bodies logged once per forwarder and interval;
//! - [`store`]: the store a collector commits to, one folder per backend (SQLite with
//!   synchronous writes, or PostgreSQL shared by several collectors): where each forwarder has
//!   got to in each subscription, per log, merged so that a position never moves backwards,
//!   whatever order batches arrive in, and the event store, written by the same commit. A
//!   collector acknowledges a batch only after its outputs, its bookmark and its events are
//!   stored, so a restart resumes exactly there.
#![forbid(unsafe_code)]

pub mod address_range;
pub mod delivery;
pub mod event_facts;
pub mod event_scan;
pub mod fleet;
pub mod ingest;
pub mod manager;
pub mod refusal_log;
pub mod store;
pub mod subscription_outputs;
pub mod subscription_source;
pub mod subscriptions;
