//! Elasticsearch's `_bulk` API into a data stream: one `create` action per event (the only
//! action a data stream takes), NDJSON, and durable when every item of the answer succeeded.
//!
//! A bulk answer can hold failures next to successes (`"errors": true`, each item with its own
//! `status`). The batch is then answered 503 and the forwarder resends it whole; as Elastic's
//! guidance says, only the items not stored are sent to Elasticsearch again: the items it took
//! (201, or 409 for a `create` whose document exists) are remembered by `_id` ([`StoredItems`])
//! and left out of the resend. Why: a data stream checks `_id`s within its current write index
//! only, so items resent after a rollover were stored twice. Items rejected for load (429,
//! 5xx) are resent; items refused (other 4xx) are resent too, and refused again, as before.
//!
//! Why each action still carries an `_id` (the SHA-1 of the event's XML as it came): it is what
//! the remembered items are known by, and when they were forgotten (bounded in number and
//! time) a resend of a stored item fails with 409 (the document exists) within the same write
//! index, which counts as stored: at least once, never lost.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha1::{Digest as _, Sha1};

use super::client::{Client, Exchange, HttpError};
use crate::Batch;
use wsman_events::received::ReceivedEvent;

/// Why Elasticsearch did not take a batch.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The whole request refused (429: too many requests; 401/403; 400), with the error's
    /// type and reason when the body has them.
    #[error("_bulk answered {status}: {reason}{}", request_remedy(*status))]
    Refused { status: StatusCode, reason: String },
    #[error("_bulk answered {status} with a body that is not a bulk answer")]
    Unreadable { status: StatusCode },
    #[error("_bulk answered {items} items for {sent} events")]
    ItemCount { items: usize, sent: usize },
    /// Some items failed: how many, of them how many Elasticsearch rejected for load (429,
    /// 5xx: resending stores them) and how many it refused (other 4xx: resending refuses them
    /// again), each kind's first status, type and reason.
    #[error("{} of {sent} events not stored{}{}", rejected.count + refused.count, rejected.describe("rejected for load, resent later with backoff"), refused.describe("refused; resending refuses them again"))]
    Items {
        sent: usize,
        rejected: FailedItems,
        refused: FailedItems,
        /// The items of the request that were stored (their places in it): left out of the
        /// resend.
        taken: Vec<usize>,
    },
}

impl BulkError {
    /// Whether Elasticsearch asked to slow down (429, or an unavailable node): Elastic's
    /// "Rejected requests" says to retry these "with exponential backoff"; the output then
    /// waits before its next request ([`crate::Backoff`]).
    pub fn slow_down(&self) -> bool {
        match self {
            BulkError::Refused { status, .. } | BulkError::Unreadable { status } => {
                transient(u64::from(status.as_u16()))
            }
            BulkError::Items { rejected, .. } => rejected.count > 0,
            _ => false,
        }
    }
}

/// Items of one kind of failure: how many, and the first one's status and `type: reason`.
#[derive(Debug, Default)]
pub struct FailedItems {
    count: usize,
    first: Option<(u64, String)>,
}

impl FailedItems {
    fn add(&mut self, status: u64, error: Option<&Value>) {
        self.count += 1;
        self.first
            .get_or_insert_with(|| (status, describe_error(error)));
    }

    fn describe(&self, what: &str) -> String {
        match &self.first {
            Some((status, reason)) => {
                format!("; {} {what} (the first: {status} {reason})", self.count)
            }
            None => String::new(),
        }
    }
}

/// A status Elasticsearch answers for load rather than for the request: 429 (a full queue,
/// `es_rejected_execution_exception`) and the 5xx of a node or shard not available.
fn transient(status: u64) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// What a whole-request refusal asks of the operator, after its reason.
fn request_remedy(status: StatusCode) -> &'static str {
    match status.as_u16() {
        429 => " (too many requests: resent later with backoff)",
        401 | 403 => " (the credential is refused: check api_key_secret, or username and password_secret, and its privileges on the data stream)",
        s if transient(u64::from(s)) => " (resent later with backoff)",
        _ => "",
    }
}

#[derive(Deserialize)]
struct BulkAnswer {
    errors: bool,
    items: Vec<Map<String, Value>>,
}

/// The settings of one bulk output, and the items it remembers as stored.
pub struct Bulk {
    /// The URL's path prefix (empty, or `/prefix` for a proxy).
    pub prefix: String,
    pub data_stream: String,
    pub pipeline: Option<String>,
    /// Items of batches not wholly stored that Elasticsearch took.
    pub stored: Mutex<StoredItems>,
}

/// The `_id` of an event: the SHA-1 of its XML as it came, in hex.
pub fn document_id(event: &ReceivedEvent) -> String {
    hex(&digest(event))
}

fn hex(id: &Digest) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// An event's `_id` as bytes: what [`StoredItems`] keeps.
type Digest = [u8; 20];

fn digest(event: &ReceivedEvent) -> Digest {
    Sha1::digest(event.xml.as_bytes()).into()
}

/// Most items remembered as stored: 20 bytes and a sequence number each, a few MiB at most.
pub const MAX_REMEMBERED: usize = 100_000;
/// How long an item is remembered: a forwarder resends a batch within minutes
/// (`ConnectionRetry`); one resent later is sent whole again, its stored items then answered
/// 409 within the same write index.
pub const REMEMBER_FOR: Duration = Duration::from_secs(3600);

/// The items Elasticsearch stored of batches it did not store whole, by `_id`, until the
/// batch is resent and stored (then forgotten), [`REMEMBER_FOR`] has passed, or
/// [`MAX_REMEMBERED`] newer ones pushed them out (oldest first).
#[derive(Debug, Default)]
pub struct StoredItems {
    /// Each remembered `_id`, with the sequence number of its entry in `order`.
    by_id: HashMap<Digest, u64>,
    /// Entries in the order remembered; one whose sequence number is no longer its `_id`'s (it
    /// was forgotten or remembered again) is skipped when it comes out.
    order: VecDeque<(Digest, u64, Instant)>,
    next: u64,
}

impl StoredItems {
    fn contains(&self, id: &Digest) -> bool {
        self.by_id.contains_key(id)
    }

    fn remember(&mut self, id: Digest, now: Instant) {
        let sequence = self.next;
        self.next += 1;
        self.by_id.insert(id, sequence);
        self.order.push_back((id, sequence, now));
        // Entries of forgotten items count too, so `order` is bounded as well.
        while self.by_id.len() > MAX_REMEMBERED || self.order.len() > 2 * MAX_REMEMBERED {
            self.pop_oldest();
        }
    }

    fn forget(&mut self, id: &Digest) {
        self.by_id.remove(id);
        // Its entry in `order` goes when it comes out; without any remembered, all go now.
        if self.by_id.is_empty() {
            self.order.clear();
        }
    }

    /// Forgets what was remembered [`REMEMBER_FOR`] ago or longer.
    fn expire(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(_, _, at)| now.saturating_duration_since(*at) >= REMEMBER_FOR)
        {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((id, sequence, _)) = self.order.pop_front() {
            if self.by_id.get(&id) == Some(&sequence) {
                self.by_id.remove(&id);
            }
        }
    }

    /// How many items are remembered.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

impl Bulk {
    pub fn path(&self) -> String {
        let mut path = format!("{}/{}/_bulk", self.prefix, self.data_stream);
        if let Some(pipeline) = &self.pipeline {
            path.push_str(&format!("?pipeline={}", super::query_value(pipeline)));
        }
        path
    }

    /// The NDJSON body: per event a `create` action and its document (`@timestamp`, the
    /// arrival time; `message`, the event's XML as it came, which Elastic's
    /// `decode_xml_wineventlog` reads; who sent it under `wec`).
    /// `ids`: the events' `_id`s, in order (hashed once per store).
    fn body(batch: &Batch<'_>, ids: &[Digest]) -> Bytes {
        let mut body = String::with_capacity(batch.events.len() * 1200);
        for (event, id) in batch.events.iter().zip(ids) {
            let action = serde_json::json!({ "create": { "_id": hex(id) } });
            let document = serde_json::json!({
                "@timestamp": batch.received,
                "message": event.xml,
                "wec": {
                    "client": batch.client,
                    "subscription": batch.subscription,
                },
            });
            body.push_str(&action.to_string());
            body.push('\n');
            body.push_str(&document.to_string());
            body.push('\n');
        }
        Bytes::from(body)
    }

    /// Sends the events of `batch` Elasticsearch has not stored yet (all but those remembered
    /// from an earlier send of it); stored when every item is. Not stored: the items it took
    /// are remembered, so the forwarder's resend carries only the others.
    pub fn store(
        &self,
        client: &Client,
        authorization: Option<&HeaderValue>,
        batch: &Batch<'_>,
        timeout: Duration,
    ) -> Result<(), BulkError> {
        let ids: Vec<Digest> = batch.events.iter().map(|e| digest(e)).collect();
        let pending: Vec<usize> = {
            let mut stored = self.stored();
            stored.expire(Instant::now());
            (0..ids.len())
                .filter(|&i| !stored.contains(&ids[i]))
                .collect()
        };
        let events: Vec<&ReceivedEvent> = pending.iter().map(|&i| batch.events[i]).collect();
        if !events.is_empty() {
            let body = Self::body(
                &Batch {
                    events: &events,
                    ..*batch
                },
                &pending.iter().map(|&i| ids[i]).collect::<Vec<_>>(),
            );
            let answer = self.send(client, authorization, body, timeout)?;
            if let Err(error) = check_items(&answer, events.len()) {
                if let BulkError::Items { taken, .. } = &error {
                    let now = Instant::now();
                    let mut stored = self.stored();
                    for &item in taken {
                        stored.remember(ids[pending[item]], now);
                    }
                }
                return Err(error);
            }
        }
        // Stored whole: nothing of it needs remembering any more.
        let mut stored = self.stored();
        for id in &ids {
            stored.forget(id);
        }
        Ok(())
    }

    fn stored(&self) -> std::sync::MutexGuard<'_, StoredItems> {
        self.stored.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One `_bulk` request of `body`: its answer, read.
    fn send(
        &self,
        client: &Client,
        authorization: Option<&HeaderValue>,
        body: Bytes,
        timeout: Duration,
    ) -> Result<BulkAnswer, BulkError> {
        let mut headers: Vec<(HeaderName, HeaderValue)> = vec![(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )];
        if let Some(authorization) = authorization {
            headers.push((hyper::header::AUTHORIZATION, authorization.clone()));
        }
        let answer = client.send(
            Exchange {
                method: Method::POST,
                path_and_query: self.path(),
                headers,
                body,
            },
            timeout,
        )?;
        if !answer.status.is_success() {
            return Err(BulkError::Refused {
                status: answer.status,
                reason: request_error(&answer.body),
            });
        }
        serde_json::from_slice(&answer.body).map_err(|_| BulkError::Unreadable {
            status: answer.status,
        })
    }
}

/// Every item stored (201), or already there from an earlier send (409); or how many were not
/// and why the first was not, with the items that were ([`BulkError::Items`]'s `taken`).
fn check_items(answer: &BulkAnswer, sent: usize) -> Result<(), BulkError> {
    if answer.items.len() != sent {
        return Err(BulkError::ItemCount {
            items: answer.items.len(),
            sent,
        });
    }
    if !answer.errors {
        return Ok(());
    }
    let mut rejected = FailedItems::default();
    let mut refused = FailedItems::default();
    let mut taken = Vec::new();
    for (index, item) in answer.items.iter().enumerate() {
        // Each item is `{"<action>": {...}}`.
        let result = item.values().next();
        let status = result
            .and_then(|r| r.get("status"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if (200..300).contains(&status) || status == 409 {
            taken.push(index);
            continue;
        }
        let error = result.and_then(|r| r.get("error"));
        if transient(status) {
            rejected.add(status, error);
        } else {
            refused.add(status, error);
        }
    }
    if rejected.count + refused.count == 0 {
        return Ok(());
    }
    Err(BulkError::Items {
        sent,
        rejected,
        refused,
        taken,
    })
}

/// `type: reason` of an error object (its first 200 characters).
fn describe_error(error: Option<&Value>) -> String {
    let field = |name: &str| {
        error
            .and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    format!("{}: {}", field("type"), field("reason"))
        .chars()
        .take(200)
        .collect()
}

/// The error of a refused request (`{"error":{"type":..,"reason":..},"status":..}`).
fn request_error(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => describe_error(value.get("error")),
        Err(_) => "(no error object)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> Digest {
        let mut id = [0u8; 20];
        id[..4].copy_from_slice(&n.to_be_bytes());
        id
    }

    /// Remembered items are bounded in number (the oldest go first, entries of forgotten
    /// items counted) and in time, and one forgotten and remembered again is kept as new.
    #[test]
    fn remembered_items_are_bounded_in_number_and_time() {
        let start = Instant::now();
        let mut stored = StoredItems::default();
        for n in 0..=u32::try_from(MAX_REMEMBERED).unwrap_or(u32::MAX) {
            stored.remember(id(n), start);
        }
        assert_eq!(stored.len(), MAX_REMEMBERED);
        assert!(!stored.contains(&id(0)), "the oldest went first");
        assert!(stored.contains(&id(1)));
        // Forgotten, then remembered again later: its first entry no longer counts.
        stored.forget(&id(1));
        stored.remember(id(1), start + REMEMBER_FOR / 2);
        stored.expire(start + REMEMBER_FOR);
        assert_eq!(stored.len(), 1, "only the one remembered later is left");
        assert!(stored.contains(&id(1)));
        assert!(stored.order.len() <= 2 * MAX_REMEMBERED);
        stored.expire(start + REMEMBER_FOR + REMEMBER_FOR / 2);
        assert!(stored.is_empty() && stored.order.is_empty());
        // Forgetting the last one forgets every entry at once.
        stored.remember(id(7), start);
        stored.forget(&id(7));
        assert!(stored.order.is_empty());
    }
}
