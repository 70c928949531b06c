//! Elasticsearch's `_bulk` API into a data stream: one `create` action per event (the only
//! action a data stream takes), NDJSON, and durable when every item of the answer succeeded.
//!
//! Why each action carries an `_id` (the SHA-1 of the event's XML as it came): a bulk answer
//! can hold failures next to successes (`"errors": true`, each item with its own `status`).
//! The batch is then answered 503 and resent whole; with the same `_id`, the items already
//! stored fail with 409 (the document exists) instead of being stored twice, and 409 counts
//! as stored. A data stream checks `_id`s within its current write index only: a resend after
//! a rollover is stored again (at least once).

use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha1::{Digest as _, Sha1};

use super::client::{Client, Exchange, HttpError};
use crate::ingest::ReceivedEvent;
use crate::outputs::Batch;

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
    },
}

impl BulkError {
    /// Whether Elasticsearch asked to slow down (429, or an unavailable node): Elastic's
    /// "Rejected requests" says to retry these "with exponential backoff"; the output then
    /// waits before its next request ([`crate::outputs::Backoff`]).
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

/// The settings of one bulk output.
pub struct Bulk {
    /// The URL's path prefix (empty, or `/prefix` for a proxy).
    pub prefix: String,
    pub data_stream: String,
    pub pipeline: Option<String>,
}

/// The `_id` of an event: the SHA-1 of its XML as it came, in hex.
pub fn document_id(event: &ReceivedEvent) -> String {
    let digest = Sha1::digest(event.xml.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
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
    pub fn body(batch: &Batch<'_>) -> Bytes {
        let mut body = String::with_capacity(batch.events.len() * 1200);
        for event in batch.events {
            let action = serde_json::json!({ "create": { "_id": document_id(event) } });
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

    pub fn store(
        &self,
        client: &Client,
        authorization: Option<&HeaderValue>,
        batch: &Batch<'_>,
        timeout: Duration,
    ) -> Result<(), BulkError> {
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
                body: Self::body(batch),
            },
            timeout,
        )?;
        if !answer.status.is_success() {
            return Err(BulkError::Refused {
                status: answer.status,
                reason: request_error(&answer.body),
            });
        }
        let parsed: BulkAnswer =
            serde_json::from_slice(&answer.body).map_err(|_| BulkError::Unreadable {
                status: answer.status,
            })?;
        check_items(&parsed, batch.events.len())
    }
}

/// Every item stored (201), or already there from an earlier send of the batch (409); or
/// how many were not and why the first was not.
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
    for item in &answer.items {
        // Each item is `{"<action>": {...}}`.
        let result = item.values().next();
        let status = result
            .and_then(|r| r.get("status"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if (200..300).contains(&status) || status == 409 {
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
