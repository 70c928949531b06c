//! Splunk's HTTP Event Collector (HEC): a batch is one request to its raw endpoint, each
//! event's XML one line of source type `XmlWinEventLog` (the type Splunk's Windows add-on
//! parses), and, with indexer acknowledgement, durable only when the ack endpoint says the
//! request's `ackId` is indexed.
//!
//! Why the raw endpoint: Splunk breaks the body into events itself, as it does for its own
//! forwarders' `XmlWinEventLog` input; nothing is wrapped that it must unwrap. Why indexer
//! acknowledgement: HEC answers 200 when the data looks valid, before it enters the indexing
//! pipeline; only the ack says it was indexed (Splunk's "About HTTP Event Collector Indexer
//! Acknowledgment"). An ack that does not come true within `ack_timeout_ms` answers the
//! forwarder 503 and the batch is sent again (at least once).

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use serde::Deserialize;

use super::client::{Answer, Client, Exchange, HttpError};
use super::query_value;

/// The header naming the data channel (a GUID of the client's choosing).
pub const CHANNEL_HEADER: &str = "x-splunk-request-channel";
/// First wait between two ack queries; it doubles up to [`MAX_ACK_POLL`].
const FIRST_ACK_POLL: Duration = Duration::from_millis(50);
const MAX_ACK_POLL: Duration = Duration::from_secs(1);

/// Why HEC did not take a batch.
#[derive(Debug, thiserror::Error)]
pub enum HecError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// An answer other than success, with HEC's status code and text when it sent them
    /// (`{"text":"Server is busy","code":9}`: 503), and what the code asks of the operator
    /// ([`remedy`]).
    #[error("HEC answered {status}: {text} (code {code}): {}", remedy(*code, *status))]
    Refused {
        status: StatusCode,
        code: i64,
        text: String,
    },
    #[error("HEC answered {status} with a body that is not its status object")]
    Unreadable { status: StatusCode },
    #[error("HEC gave no ackId: indexer acknowledgement is not enabled for this token (set ack = false to rely on the 200 alone)")]
    NoAckId,
    #[error("HEC has not acknowledged ackId {ack_id} within {timeout_ms} ms")]
    NotAcknowledged { ack_id: u64, timeout_ms: u128 },
}

impl HecError {
    /// Whether HEC asked to be left alone for a while (busy, failing, throttling): the
    /// output then waits before its next request ([`crate::Backoff`]).
    pub fn slow_down(&self) -> bool {
        match self {
            HecError::Refused { status, code, .. } => matches!(code, 8 | 9) || transient(*status),
            HecError::Unreadable { status } => transient(*status),
            _ => false,
        }
    }
}

fn transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// What an answer of HEC's status code table means for the batch and the operator. The
/// codes and their texts are Splunk's ("Troubleshoot HTTP Event Collector", its status code
/// table): 1 to 4 the token, 7 the index, 10 and 11 the data channel, 14 acknowledgement off
/// for the token, all settings only an operator can fix; 5, 6, 12 and 13 the data; 8 and 9
/// Splunk itself. Every refusal answers the forwarder 503 and it resends the batch (at least
/// once); the text says whether resending can help.
pub fn remedy(code: i64, status: StatusCode) -> &'static str {
    match code {
        1..=4 => "the token is refused: check token_secret against the token in Splunk (enabled, not deleted); batches are refused until it is fixed",
        7 => "the index is refused: check index against the token's allowed indexes; batches are refused until it is fixed",
        10 | 11 => "the data channel is refused: check channel (a GUID) and the token's indexer acknowledgement; batches are refused until it is fixed",
        14 => "indexer acknowledgement is disabled for this token: enable it in Splunk, or set ack = false",
        5 | 6 | 12 | 13 => "Splunk refused the batch's data; the forwarder resends it unchanged, so it is refused again",
        8 | 9 => "Splunk is busy or failing: the batch is resent later",
        _ if transient(status) => "the batch is resent later",
        _ => "not a code of Splunk's status table; the batch is resent later",
    }
}

/// HEC's status object (`{"text":"Success","code":0}`, with `ackId` when acknowledgement is
/// on).
#[derive(Deserialize)]
struct Status {
    text: String,
    code: i64,
    #[serde(rename = "ackId")]
    ack_id: Option<u64>,
}

/// The ack endpoint's answer: `{"acks":{"0":true}}`.
#[derive(Deserialize)]
struct Acks {
    acks: std::collections::BTreeMap<String, bool>,
}

/// The settings of one HEC output.
pub struct Hec {
    /// The URL's path prefix (empty, or `/prefix` for a proxy).
    pub prefix: String,
    pub channel: String,
    pub sourcetype: String,
    pub index: Option<String>,
    pub source: Option<String>,
    pub ack: bool,
    pub ack_timeout: Duration,
}

impl Hec {
    /// The raw endpoint's path and query.
    pub fn raw_path(&self) -> String {
        let mut path = format!(
            "{}/services/collector/raw?channel={}&sourcetype={}",
            self.prefix,
            query_value(&self.channel),
            query_value(&self.sourcetype)
        );
        for (name, value) in [("index", &self.index), ("source", &self.source)] {
            if let Some(value) = value {
                path.push_str(&format!("&{name}={}", query_value(value)));
            }
        }
        path
    }

    /// A POST of `body` (`content_type`) to `path_and_query`, with the token and the channel.
    fn post(
        &self,
        authorization: &HeaderValue,
        path_and_query: String,
        content_type: &'static str,
        body: Bytes,
    ) -> Exchange {
        let mut headers = vec![(hyper::header::AUTHORIZATION, authorization.clone())];
        if let Ok(channel) = HeaderValue::from_str(&self.channel) {
            headers.push((HeaderName::from_static(CHANNEL_HEADER), channel));
        }
        headers.push((CONTENT_TYPE, HeaderValue::from_static(content_type)));
        Exchange {
            method: Method::POST,
            path_and_query,
            headers,
            body,
        }
    }

    /// Send the events' lines; return when HEC has them indexed (with `ack`) or accepted.
    pub fn store(
        &self,
        client: &Client,
        authorization: &HeaderValue,
        body: Bytes,
        timeout: Duration,
    ) -> Result<(), HecError> {
        let raw = self.post(authorization, self.raw_path(), "text/plain", body);
        let answer = client.send(raw, timeout)?;
        let status = success(&answer)?;
        if !self.ack {
            return Ok(());
        }
        let ack_id = status.ack_id.ok_or(HecError::NoAckId)?;
        self.wait_for_ack(client, authorization, ack_id, timeout)
    }

    /// Query the ack endpoint until `ack_id` is indexed or `ack_timeout` has passed.
    fn wait_for_ack(
        &self,
        client: &Client,
        authorization: &HeaderValue,
        ack_id: u64,
        timeout: Duration,
    ) -> Result<(), HecError> {
        let deadline = Instant::now() + self.ack_timeout;
        let mut pause = FIRST_ACK_POLL;
        let path = format!(
            "{}/services/collector/ack?channel={}",
            self.prefix,
            query_value(&self.channel)
        );
        loop {
            let body = Bytes::from(format!("{{\"acks\":[{ack_id}]}}"));
            let query = self.post(authorization, path.clone(), "application/json", body);
            let acks: Acks = ok_json(&client.send(query, timeout)?)?;
            if acks.acks.get(&ack_id.to_string()) == Some(&true) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(HecError::NotAcknowledged {
                    ack_id,
                    timeout_ms: self.ack_timeout.as_millis(),
                });
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(MAX_ACK_POLL);
        }
    }
}

/// HEC's status object of a 200 with code 0, or why not.
fn success(answer: &Answer) -> Result<Status, HecError> {
    let status: Status = ok_json(answer)?;
    if status.code != 0 {
        return Err(HecError::Refused {
            status: answer.status,
            code: status.code,
            text: status.text.chars().take(200).collect(),
        });
    }
    Ok(status)
}

/// The JSON body of a 200 answer, or why not: HEC's refusal, or a body that does not read.
fn ok_json<T: serde::de::DeserializeOwned>(answer: &Answer) -> Result<T, HecError> {
    if answer.status != StatusCode::OK {
        return Err(refusal(answer));
    }
    serde_json::from_slice(&answer.body).map_err(|_| HecError::Unreadable {
        status: answer.status,
    })
}

/// The error of an answer that is not a success (HEC's code and text when the body has them).
fn refusal(answer: &Answer) -> HecError {
    match serde_json::from_slice::<Status>(&answer.body) {
        Ok(status) => HecError::Refused {
            status: answer.status,
            code: status.code,
            text: status.text.chars().take(200).collect(),
        },
        Err(_) => HecError::Unreadable {
            status: answer.status,
        },
    }
}
