//! The full-duplex messages of MS-WSMV's enhanced CIM operations (3.2.4.2), answered as 4.11.1
//! shows: `End` (3.1.4.19) with HTTP 200, an empty body and the connection closed, and
//! `InteractiveResponse` (2.2.2.5) with HTTP 200 and an empty body.
//!
//! No operation of ours prompts (we send no `InteractiveEvent` and keep no CimOperations
//! table), so an `End` has nothing to cancel and an `InteractiveResponse` nothing to answer:
//! both are acknowledged as Windows acknowledges them, after the body of an
//! `InteractiveResponse` is checked against its schema (2.2.4.48).

use wsman_proto::operation::Action;
use wsman_proto::{ns, Fault, Request};

use crate::engine::Reply;

/// The answer to a full-duplex message at the WS-Management endpoint; `None`: `request` is
/// not one.
pub(super) fn answer(request: &Request) -> Option<Result<Reply, Fault>> {
    match request.operation.action {
        Action::End => Some(Ok(Reply::Empty { close: true })),
        Action::InteractiveResponse => Some(check_interactive_response(request).map(|()| {
            tracing::debug!(
                operation = request.operation_id.as_deref().unwrap_or(""),
                "InteractiveResponse: no operation of this server prompts"
            );
            Reply::Empty { close: false }
        })),
        _ => None,
    }
}

/// The answers a prompt takes (`ResponseType`, MS-WSMV 2.2.4.48 and its schema).
const RESPONSES: [&str; 4] = ["yes", "no", "yesToAll", "noToAll"];

/// `i:InteractiveResponse` with an `i:EventType` and an `i:Response` of [`RESPONSES`], in that
/// order; anything else is `w:SchemaValidationError`.
fn check_interactive_response(request: &Request) -> Result<(), Fault> {
    let invalid = |what: &str| {
        Fault::schema_validation_error(format!(
            "The InteractiveResponse does not follow its schema: {what}. "
        ))
    };
    let body = request
        .body
        .as_ref()
        .filter(|b| b.ns.as_deref() == Some(ns::INTERACTIVE) && b.name == "InteractiveResponse")
        .ok_or_else(|| invalid("the body is no i:InteractiveResponse"))?;
    let mut children = body.elements();
    let mut next = |name: &str| {
        children
            .next()
            .filter(|e| e.ns.as_deref() == Some(ns::INTERACTIVE) && e.name == name)
            .map(|e| e.trimmed_text())
            .ok_or_else(|| invalid(&format!("i:{name} is missing or out of place")))
    };
    if next("EventType")?.is_empty() {
        return Err(invalid("i:EventType is empty"));
    }
    let response = next("Response")?;
    if !RESPONSES.contains(&response.as_str()) {
        return Err(invalid("i:Response is none of yes, no, yesToAll, noToAll"));
    }
    if children.next().is_some() {
        return Err(invalid("elements follow i:Response"));
    }
    Ok(())
}
