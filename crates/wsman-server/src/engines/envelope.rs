//! The response envelope every engine answers with: rendered relating to its request and
//! refused (`w:EncodingLimit`) when larger than the request's MaxEnvelopeSize, which each engine
//! sizes its answer within.

use wsman_proto::response::{self, new_message_id, ResponseHeader};
use wsman_proto::{Fault, Request};

use crate::engine::Reply;

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
