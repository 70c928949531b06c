//! The Windows Event Collector side of wsmand: what a collector of Windows Event Forwarding
//! must never lose.
//!
//! - [`subscriptions`]: source-initiated subscriptions, one TOML file each (or stored in the
//!   PostgreSQL store, shared by several collectors), with a stable identifier and a version
//!   that changes with their content;
//! - [`address_range`]: a subscription's allowed forwarder addresses (CIDR);
//! - [`manager`]: the subscription manager's Enumerate answer (each subscription's Subscribe,
//!   with the forwarder's bookmark);
//! - [`ingest`]: a delivery (Events, Heartbeat, SubscriptionEnd) read and checked, the
//!   `Computer` of each event against who the sender proved to be;
//! - [`event_scan`]: the same checks of an event in one pass over its text, without its tree,
//!   for subscriptions whose outputs write the text as it came;
//! - [`outputs`]: the output seam, a batch stored durably or refused;
//! - [`subscription_outputs`]: each subscription's outputs, each bounded in flight, all of which
//!   must have a batch durably before it is acknowledged;
//! - [`output`]: the file output, on disk before the acknowledgement;
//! - [`kafka`]: the Kafka output, acknowledged by the cluster (acks=all, idempotent) before
//!   the forwarder is;
//! - [`output_settings`]: every output's settings and their checks (librdkafka properties by an
//!   allow list);
//! - [`output_policy`]: what a subscription read from a shared store may make this node do
//!   (`[outputs]` of `collector.toml`); [`secrets`]: the node-local secret files outputs name;
//! - [`tcp`]: newline-delimited records over TCP or TLS, written and flushed before the
//!   acknowledgement, a broken connection answered 503 and reconnected with a bounded backoff;
//! - [`redis`] (over [`resp`], our bounded reader of Redis replies): RPUSH or XADD, the
//!   server's reply (and optionally `WAIT` for replicas) before the acknowledgement;
//! - [`fleet`]: forwarders silent for more than a few heartbeat intervals, counted in memory
//!   per subscription so that a scrape reads no database;
//! - [`refusal_log`]: refused delivery bodies logged once per forwarder and interval;
//! - [`journal`]: structured entries in the local systemd journal through its native socket,
//!   accepted by journald before the acknowledgement;
//! - [`bookmarks`]: where each forwarder has got to in each subscription, per log, stored
//!   durably (SQLite with synchronous writes, or PostgreSQL shared by several collectors) and
//!   merged so that a position never moves backwards, whatever order batches arrive in. A collector acknowledges a batch only after its outputs
//!   and its bookmark are stored, so a restart resumes exactly there.
#![forbid(unsafe_code)]

pub mod address_range;
pub mod bookmarks;
pub mod event_facts;
pub mod event_scan;
pub mod event_store;
pub mod fleet;
pub mod ingest;
pub mod journal;
pub mod kafka;
pub mod manager;
pub mod output;
pub mod output_policy;
pub mod output_settings;
pub mod outputs;
pub mod redis;
pub mod refusal_log;
pub mod resp;
pub mod secrets;
pub mod subscription_outputs;
pub mod subscriptions;
pub mod tcp;
