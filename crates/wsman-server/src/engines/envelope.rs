//! What every engine shares: the [`Engine`] trait the catalog ([`crate::catalog`]) routes
//! to, the [`Call`] an engine receives, the operation budget (OperationTimeout capped at
//! MaxTimeoutms), the request's MaxEnvelopeSize, and envelope rendering. The engines' adapters
//! are in [`crate::engines`]: WS-Transfer, WS-Enumeration and Invoke over a provider
//! ([`transfer::TransferEngine`]), the WinRS shells, WS-Eventing ([`crate::eventing`]) and the
//! collector ([`crate::collector`]); each sizes its own responses within the envelope, and
//! enumeration contexts are paged in one place ([`paging`]).

pub mod full_duplex;
pub mod paging;
pub mod transfer;

use std::time::Duration;

use wsman_proto::response::{self, ResponseHeader};
use wsman_proto::{Fault, Request};

pub use crate::engine::{Call, Engine, Exchange, Refused, Reply, ReplyFuture};
use crate::settings::ServiceSettings;

/// OperationTimeout, or MaxTimeoutms when absent or larger.
pub fn operation_budget(request: &Request, settings: &ServiceSettings) -> Duration {
    let cap = settings.max_timeout();
    request.operation_timeout.map_or(cap, |t| t.min(cap))
}

/// The request's MaxEnvelopeSize, or the service's when absent or larger.
pub fn max_envelope(request: &Request, settings: &ServiceSettings) -> u64 {
    let service = settings.max_envelope_bytes();
    request
        .max_envelope_size
        .map_or(service, |m| m.min(service))
}

/// The response envelope, refused when larger than the request's MaxEnvelopeSize.
pub(crate) fn finish(
    request: &Request,
    response_action: &str,
    extra: &str,
    body: &str,
    max_envelope: u64,
) -> Result<Reply, Fault> {
    let envelope = render(request, response_action, extra, body);
    within_envelope(envelope.len(), max_envelope)?;
    Ok(Reply::Envelope(envelope))
}

/// [`finish`] for a body the caller hands over: the envelope is built in the body's buffer
/// (see [`response::envelope_owned`]), so the body is not copied again.
pub(crate) fn finish_owned(
    request: &Request,
    response_action: &str,
    body: String,
    max_envelope: u64,
) -> Result<Reply, Fault> {
    let id = new_message_id();
    let envelope = response::envelope_owned(&response_header(request, response_action, &id), body);
    within_envelope(envelope.len(), max_envelope)?;
    Ok(Reply::Envelope(envelope))
}

/// The header of the response to `request` (no extra header blocks).
pub(crate) fn response_header<'a>(
    request: &'a Request,
    response_action: &'a str,
    message_id: &'a str,
) -> ResponseHeader<'a> {
    ResponseHeader {
        action: response_action,
        message_id,
        relates_to: request.message_id.as_deref(),
        operation_id: request.operation_id.as_deref(),
        sequence_id: request.sequence_id.as_deref(),
        extra: "",
    }
}

/// Refuses a response envelope of `length` bytes that is larger than the client accepts.
pub(crate) fn within_envelope(length: usize, max_envelope: u64) -> Result<(), Fault> {
    if length as u64 > max_envelope {
        return Err(Fault::max_envelope_size_exceeded(length, max_envelope));
    }
    Ok(())
}

/// A response envelope relating to `request`.
pub fn render(request: &Request, response_action: &str, extra: &str, body: &str) -> String {
    let id = new_message_id();
    response::envelope(
        &ResponseHeader {
            action: response_action,
            message_id: &id,
            relates_to: request.message_id.as_deref(),
            operation_id: request.operation_id.as_deref(),
            sequence_id: request.sequence_id.as_deref(),
            extra,
        },
        body,
    )
}

pub use wsman_proto::response::new_message_id;

#[cfg(test)]
mod tests;
