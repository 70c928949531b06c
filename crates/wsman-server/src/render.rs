//! The one writer of response envelopes: an engine's typed [`Answer`] rendered relating to its
//! request and sized once, from what was written, against the request's MaxEnvelopeSize
//! (`w:EncodingLimit` when larger). The router renders every engine's answer here
//! ([`crate::catalog::Routed::serve`]), as axum turns a handler's value into its response;
//! engines only ask the `room` their items have (an item too large is named with the envelope's
//! length the room measured). No other module writes an envelope: the workspace's `clippy.toml`
//! bans `wsman_proto::response::envelope*` everywhere but here (`fault_envelope` but in
//! `response.rs`).

use bytes::Bytes;
use wsman_proto::response::{self, new_message_id, ResponseHeader, ENVELOPE_END};
use wsman_proto::shell::action::RECEIVE_RESPONSE;
use wsman_proto::shell::responses::{CommandStateValue, ReceiveResponse, StreamHead};
use wsman_proto::{Fault, Request};
use wsman_shell::{CommandState, ReceiveOutput};

use crate::engine::{Answer, Reply};

/// `answer` as what goes on the wire: an envelope relating to `request`, refused when larger
/// than `max_envelope`; an answer written whole elsewhere passes as it is.
pub(crate) fn reply(request: &Request, answer: Answer, max_envelope: u64) -> Result<Reply, Fault> {
    let (length, reply) = match answer {
        Answer::Reply(reply) => return Ok(reply),
        Answer::Body {
            action,
            extra,
            body,
        } => {
            #[allow(clippy::disallowed_methods, reason = "the one writer of envelopes")]
            let envelope = response::envelope_owned(
                &header(request, &action, &extra, &new_message_id()),
                body,
            );
            (envelope.len(), Reply::Envelope(envelope))
        }
        Answer::Receive { output, command_id } => {
            #[allow(clippy::disallowed_methods, reason = "the one writer of envelopes")]
            let start =
                response::envelope_start(&header(request, RECEIVE_RESPONSE, "", &new_message_id()));
            let pieces = receive_pieces(&output, &command_id, start);
            (pieces.iter().map(Bytes::len).sum(), Reply::Pieces(pieces))
        }
    };
    if length as u64 > max_envelope {
        return Err(Fault::max_envelope_size_exceeded(length, max_envelope));
    }
    Ok(reply)
}

/// The room an answer to `request` leaves for its items: the length of its envelope around
/// `body` (the answer without items) and `markup` (what the items bring around them), and what
/// `max_envelope` leaves after that (`w:EncodingLimit` when nothing).
pub(crate) fn room(
    request: &Request,
    (action, extra, body): (&str, &str, &str),
    markup: usize,
    max_envelope: u64,
) -> Result<(usize, usize), Fault> {
    let id = new_message_id();
    let header = header(request, action, extra, &id);
    #[allow(clippy::disallowed_methods, reason = "the one writer of envelopes")]
    let taken = response::envelope(&header, body).len() + markup;
    let space = usize::try_from(max_envelope)
        .ok()
        .and_then(|m| m.checked_sub(taken))
        .ok_or_else(|| Fault::max_envelope_size_exceeded(taken, max_envelope))?;
    Ok((taken, space))
}

/// The header of the response to `request`.
fn header<'a>(
    request: &'a Request,
    action: &'a str,
    extra: &'a str,
    message_id: &'a str,
) -> ResponseHeader<'a> {
    ResponseHeader {
        action,
        message_id,
        relates_to: request.message_id.as_deref(),
        operation_id: request.operation_id.as_deref(),
        sequence_id: request.sequence_id.as_deref(),
        extra,
    }
}

/// A Receive's envelope in pieces to write in order: `start`, the ReceiveResponse's markup
/// with every chunk tagged with the CommandId and the state, and between it the engine's
/// base64 text as the engine holds it (shared, not copied: see [`crate::response_body`]).
fn receive_pieces(output: &ReceiveOutput, command_id: &str, start: String) -> Vec<Bytes> {
    let heads: Vec<StreamHead<'_>> = output
        .chunks
        .iter()
        .map(|c| StreamHead {
            name: &c.stream,
            command_id: Some(command_id),
            end: c.end,
        })
        .collect();
    let state = match output.state {
        CommandState::Done { exit_code } => CommandStateValue::Done {
            exit_code: Some(i64::from(exit_code)),
        },
        _ => CommandStateValue::Running,
    };
    let mut markup =
        ReceiveResponse::render_around(&heads, Some((Some(command_id), &state)), start);
    if let Some(last) = markup.last_mut() {
        last.push_str(ENVELOPE_END);
    }
    let mut markup = markup.into_iter().map(Bytes::from);
    let mut pieces = Vec::with_capacity(
        2 * output.chunks.len() + 1 + output.chunks.iter().map(|c| c.base64.len()).sum::<usize>(),
    );
    for chunk in &output.chunks {
        pieces.extend(markup.next());
        pieces.extend(chunk.base64.iter().cloned());
    }
    pieces.extend(markup);
    pieces
}
