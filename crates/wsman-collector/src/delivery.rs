//! One delivery decided, without a socket or a runtime: [`deliver`] takes the request a
//! forwarder sent to a subscription, who it proved to be and the time, and answers with a
//! [`Decision`] after checking, in this order, the delivery itself, the subscription's version,
//! its allow list, its addresses and the events' Computers (no forging), then, for events,
//! claiming the forwarder's bookmark, leaving out what it already stored, writing the rest to
//! every output and committing the new bookmark with the event store's records in one
//! transaction. The server runs it on its blocking pool and turns the decision into a reply,
//! metrics and logs; the rules that make a batch stored exactly once are all here.
//!
//! Why the pair lock is here too: a (client, subscription)'s batches are stored one at a time
//! from claim to commit, so two copies of a batch sent on two connections cannot both be
//! written; different forwarders go on in parallel.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wsman_events::Timestamp;
use wsman_proto::Request;

use crate::ingest::{self, DeliveryKind, ReceivedEvent, Sender};
use crate::store::{events::StoreRecord, Store};
use crate::subscription_outputs::{output_label, Outputs};
use crate::subscriptions::{Subscription, SubscriptionSet};
use wsman_outputs::{Batch, OutputConfig};

/// Why a delivery was refused: the metrics' `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// The body did not decompress (`Content-Encoding: SLDC`).
    BadSldc,
    /// Not XML, not a delivery, no identifier, a bad bookmark or event (400).
    Malformed,
    /// No enabled subscription with that identifier.
    UnknownSubscription,
    /// The delivery names a version the subscription no longer has.
    StaleVersion,
    /// The subscription does not allow this forwarder.
    NotAllowed,
    /// The subscription's `allowed_addresses` do not hold the forwarder's address (behind a
    /// trusted balancer, the one its PROXY header carried).
    AddressNotAllowed,
    /// An event's Computer is not the sender.
    ForgedComputer,
    /// An output did not take the batch (503).
    OutputError,
    /// The bookmark store failed (503).
    StoreError,
}

impl Refusal {
    /// The metrics' `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::BadSldc => "bad_sldc",
            Refusal::Malformed => "malformed",
            Refusal::UnknownSubscription => "unknown_subscription",
            Refusal::StaleVersion => "stale_version",
            Refusal::NotAllowed => "not_allowed",
            Refusal::AddressNotAllowed => "address_not_allowed",
            Refusal::ForgedComputer => "forged_computer",
            Refusal::OutputError => "output_error",
            Refusal::StoreError => "store_error",
        }
    }
}

/// What a delivery reads and writes: the subscriptions served, the bookmark store, the
/// outputs and the pair locks.
pub struct Collector<'a> {
    pub subscriptions: &'a SubscriptionSet,
    pub store: &'a dyn Store,
    pub outputs: &'a Outputs,
    pub pairs: &'a PairLocks,
}

/// Who sent a delivery, as the connection proved it.
pub struct Forwarder<'a> {
    pub sender: &'a Sender,
    /// Its address (behind a trusted balancer, the PROXY header's); `None` when unknown.
    pub remote: Option<IpAddr>,
    /// Whether it is a member of a Linux group (the allow list's `allowed_groups`).
    pub in_group: &'a dyn Fn(&str) -> bool,
}

/// What became of a delivery.
#[derive(Debug)]
pub struct Decision {
    /// The enabled subscription the delivery's address names, if any.
    pub subscription: Option<String>,
    /// How many events it carried, once read and its subscription known.
    pub received: Option<usize>,
    /// Each output's label, the time its write took and whether it stored the batch.
    pub writes: Vec<(String, Duration, bool)>,
    pub outcome: Outcome,
}

/// The answer a delivery gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or nothing to store): acknowledge `message_id`.
    Acknowledged { message_id: String, stored: Stored },
    /// Refused for good (a fault): resending the same delivery is refused again.
    Refused { why: Refusal, reason: String },
    /// The subscription does not allow this forwarder or its address (access denied).
    Denied { why: Refusal, reason: String },
    /// Not stored now (503): the forwarder resends it.
    Unavailable { why: Refusal, error: String },
}

/// What an acknowledged delivery stored.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// Events: `new` written, `already_stored` left out (a resent or replayed batch).
    Events {
        new: usize,
        already_stored: usize,
    },
    Heartbeat,
    /// The forwarder ended its subscription.
    SubscriptionEnd,
}

/// The lock of one (client, subscription).
type PairLock = Arc<Mutex<()>>;

/// One lock per (client, subscription) with a delivery under way.
#[derive(Default)]
pub struct PairLocks(Mutex<HashMap<(String, String), PairLock>>);

impl PairLocks {
    /// The lock of this (client, subscription); entries nobody holds are dropped, so the map
    /// is bounded by the deliveries under way.
    fn of(&self, client: &str, subscription: &str) -> PairLock {
        let mut locks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(
            locks
                .entry((client.to_owned(), subscription.to_owned()))
                .or_default(),
        )
    }
}

/// Decide the delivery `request` to the subscription `identifier` from `forwarder` at `now`.
pub fn deliver(
    collector: &Collector<'_>,
    identifier: &str,
    request: &Request,
    forwarder: &Forwarder<'_>,
    now: Timestamp,
) -> Decision {
    let subscription = collector
        .subscriptions
        .by_identifier(identifier)
        .filter(|s| s.enabled);
    let mut reached = Reached::default();
    let outcome = decide(
        collector,
        subscription,
        identifier,
        request,
        forwarder,
        now,
        &mut reached,
    );
    Decision {
        subscription: subscription.map(|s| s.name.clone()),
        received: reached.received,
        writes: reached.writes,
        outcome,
    }
}

/// How far a delivery got: read (its events counted), written (each output's write).
#[derive(Default)]
struct Reached {
    received: Option<usize>,
    writes: Vec<(String, Duration, bool)>,
}

/// [`deliver`]'s checks in order, then the store.
fn decide(
    collector: &Collector<'_>,
    subscription: Option<&Subscription>,
    identifier: &str,
    request: &Request,
    forwarder: &Forwarder<'_>,
    now: Timestamp,
    reached: &mut Reached,
) -> Outcome {
    let refused = |why, reason: String| Outcome::Refused { why, reason };
    // The events' trees only for an output that reads them (JSON, the journal); Raw outputs
    // write each event's text, checked in one pass over it.
    let with_trees = subscription.is_some_and(|s| s.outputs.iter().any(|o| o.needs_tree()));
    let delivery = match ingest::read_delivery(request, with_trees) {
        Ok(delivery) => delivery,
        Err(e) => return refused(Refusal::Malformed, e.to_string()),
    };
    let Some(subscription) = subscription else {
        return refused(
            Refusal::UnknownSubscription,
            format!("no enabled subscription {identifier}"),
        );
    };
    reached.received = Some(delivery.events.len());
    let client = forwarder.sender.client_name();
    if !delivery.version.eq_ignore_ascii_case(&subscription.version) {
        return refused(Refusal::StaleVersion, format!(
            "subscription {} is at version {}, the delivery names {} (the forwarder subscribes again at its next refresh)",
            subscription.name, subscription.version, delivery.version
        ));
    }
    if !subscription.allows(&client, forwarder.in_group) {
        return Outcome::Denied {
            why: Refusal::NotAllowed,
            reason: "the subscription's allow list does not name this forwarder (access denied)"
                .to_owned(),
        };
    }
    if !subscription.allows_address(forwarder.remote) {
        return Outcome::Denied {
            why: Refusal::AddressNotAllowed,
            reason: "the forwarder's address is not in the subscription's allowed_addresses"
                .to_owned(),
        };
    }
    if let Err(e) = ingest::check_computers(
        &delivery,
        forwarder.sender,
        subscription.mapped_computers(&client),
    ) {
        return refused(Refusal::ForgedComputer, e.to_string());
    }
    let stored = match delivery.kind {
        DeliveryKind::Heartbeat => collector
            .store
            .heartbeat(&client, &subscription.name, now)
            .map(|()| Stored::Heartbeat)
            .map_err(|e| store_failed(&e)),
        DeliveryKind::SubscriptionEnd => Ok(Stored::SubscriptionEnd),
        DeliveryKind::Events => store_events(
            collector,
            subscription,
            &client,
            &delivery,
            now,
            &mut reached.writes,
        ),
    };
    match stored {
        Ok(stored) => Outcome::Acknowledged {
            message_id: delivery.message_id,
            stored,
        },
        Err(unavailable) => unavailable,
    }
}

fn store_failed(error: &crate::store::StoreError) -> Outcome {
    Outcome::Unavailable {
        why: Refusal::StoreError,
        error: error.to_string(),
    }
}

/// Claim, leave out what is stored, write the rest, commit: under the pair's lock, so the
/// batches of one forwarder and subscription are stored one at a time.
fn store_events(
    collector: &Collector<'_>,
    subscription: &Subscription,
    client: &str,
    delivery: &ingest::Delivery,
    now: Timestamp,
    writes: &mut Vec<(String, Duration, bool)>,
) -> Result<Stored, Outcome> {
    let pair = collector.pairs.of(client, &subscription.name);
    let _one_at_a_time = pair.lock().unwrap_or_else(|p| p.into_inner());
    // The claim first: a delivery the store refuses (another collector holds this
    // forwarder) has written nothing.
    let claim = collector
        .store
        .claim(client, &subscription.name)
        .map_err(|e| store_failed(&e))?;
    let fresh = ingest::unseen(delivery, claim.stored());
    // The event store's records first: a batch over the forwarder's share writes nothing.
    let records = event_records(collector.store, subscription, client, &fresh, now, writes)?;
    let received = now.to_system_time();
    collector
        .outputs
        .write_observed(
            &Batch {
                subscription: &subscription.name,
                client,
                events: &fresh,
                received: &received,
            },
            &mut |output, elapsed, ok| writes.push((output.to_owned(), elapsed, ok)),
        )
        .map_err(|e| Outcome::Unavailable {
            why: Refusal::OutputError,
            error: e.to_string(),
        })?;
    // The bookmark past the batch and its records for the event store: one transaction.
    claim
        .commit(
            &ingest::reached(delivery, &subscription.channels),
            now,
            records,
        )
        .map_err(|e| store_failed(&e))?;
    Ok(Stored::Events {
        new: fresh.len(),
        already_stored: delivery.events.len() - fresh.len(),
    })
}

/// The records of `fresh` for the event store, when `subscription` has a `store` output:
/// taken from the forwarder's share of it (past it, 503 and nothing written), observed in
/// `writes` under the output's label as the outputs' writes are.
fn event_records(
    store: &dyn Store,
    subscription: &Subscription,
    client: &str,
    fresh: &[&ReceivedEvent],
    now: Timestamp,
    writes: &mut Vec<(String, Duration, bool)>,
) -> Result<Vec<StoreRecord>, Outcome> {
    let outputs = &subscription.outputs;
    let position = outputs
        .iter()
        .position(|o| matches!(o, OutputConfig::Store(_)));
    let (Some(position), false) = (position, fresh.is_empty()) else {
        return Ok(Vec::new());
    };
    let started = Instant::now();
    let records = match store.events() {
        Some(events) => events
            .admit((client, &subscription.name), fresh, now)
            .map_err(|e| format!("event store: {e}")),
        None => Err(format!(
            "event store output of {}: the event store is not open",
            subscription.name
        )),
    };
    let label = output_label(outputs, position);
    writes.push((label, started.elapsed(), records.is_ok()));
    records.map_err(|error| Outcome::Unavailable {
        why: Refusal::OutputError,
        error,
    })
}

#[cfg(test)]
mod tests;
