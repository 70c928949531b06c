//! Response envelopes: headers as Windows writes them, bodies supplied by the caller.
//!
//! Sans-I/O: the response MessageID is passed in (the caller owns randomness).

use std::fmt::Write as _;

use crate::fault::Fault;
use crate::ns;
use crate::xml::{escape_attr, escape_text};

/// What goes into a response's `s:Header`.
#[derive(Clone, Copy, Debug)]
pub struct ResponseHeader<'a> {
    pub action: &'a str,
    /// The response's own `a:MessageID` (`uuid:` + upper-case GUID).
    pub message_id: &'a str,
    /// The request's MessageID, echoed byte for byte.
    pub relates_to: Option<&'a str>,
    /// Echoed `p:OperationID` / `p:SequenceId`, when the request carried them.
    pub operation_id: Option<&'a str>,
    pub sequence_id: Option<&'a str>,
    /// Already-serialised extra header blocks (e.g. `w:TotalItemsCountEstimate`).
    pub extra: &'a str,
}

fn open_envelope(out: &mut String) {
    out.push_str("<s:Envelope xml:lang=\"en-US\"");
    for (p, uri) in ns::WINDOWS_PREFIXES {
        let _ = write!(out, " xmlns:{p}=\"{uri}\"");
    }
    out.push('>');
}

fn write_header(out: &mut String, h: &ResponseHeader<'_>) {
    out.push_str("<s:Header>");
    let _ = write!(out, "<a:Action>{}</a:Action>", escape_text(h.action));
    let _ = write!(
        out,
        "<a:MessageID>{}</a:MessageID>",
        escape_text(h.message_id)
    );
    if let Some(op) = h.operation_id {
        let _ = write!(
            out,
            "<p:OperationID s:mustUnderstand=\"false\">{}</p:OperationID>",
            escape_text(op)
        );
    }
    if let Some(seq) = h.sequence_id {
        let _ = write!(out, "<p:SequenceId>{}</p:SequenceId>", escape_text(seq));
    }
    let _ = write!(out, "<a:To>{}</a:To>", ns::ANONYMOUS);
    if let Some(rel) = h.relates_to {
        let _ = write!(out, "<a:RelatesTo>{}</a:RelatesTo>", escape_text(rel));
    }
    out.push_str(h.extra);
    out.push_str("</s:Header>");
}

/// A complete response envelope with `body` (already-serialised XML, may be empty).
pub fn envelope(header: &ResponseHeader<'_>, body: &str) -> String {
    let mut out = String::with_capacity(1024 + body.len());
    open_envelope(&mut out);
    write_header(&mut out, header);
    // An empty body is written `<s:Body></s:Body>`, as Windows writes it.
    out.push_str("<s:Body>");
    out.push_str(body);
    out.push_str(ENVELOPE_END);
    out
}

/// Spare capacity a large body should be rendered with so that [`envelope_owned`] can wrap it
/// in place (the envelope's start: namespaces and header, well under this).
pub const ENVELOPE_HEADROOM: usize = 4096;

/// The start of an [`envelope`], up to and including `<s:Body>`: a large body (a
/// ReceiveResponse full of output) is then written after it into the same buffer and closed
/// with [`ENVELOPE_END`], with no copy of the body. Start + body + end is [`envelope`]'s text
/// for a non-empty body.
pub fn envelope_start(header: &ResponseHeader<'_>) -> String {
    start(header)
}

/// [`envelope_start`]'s text, for the writers of this module.
fn start(header: &ResponseHeader<'_>) -> String {
    let mut out = String::with_capacity(1024);
    open_envelope(&mut out);
    write_header(&mut out, header);
    out.push_str("<s:Body>");
    out
}

/// What closes an [`envelope_start`] and its body.
pub const ENVELOPE_END: &str = "</s:Body></s:Envelope>";

/// [`envelope`] around a body the caller no longer needs, built in the body's own buffer when it
/// has [`ENVELOPE_HEADROOM`] to spare: a large body (a ReceiveResponse full of output) is then
/// moved once within its allocation instead of copied into a new one. Same text as
/// [`envelope`].
pub fn envelope_owned(header: &ResponseHeader<'_>, mut body: String) -> String {
    let start = start(header);
    body.reserve(start.len() + ENVELOPE_END.len());
    body.insert_str(0, &start);
    body.push_str(ENVELOPE_END);
    body
}

/// A fault envelope. `machine` is the host name the client addressed (`f:WSManFault/@Machine`).
pub fn fault_envelope(
    fault: &Fault,
    message_id: &str,
    relates_to: Option<&str>,
    machine: &str,
) -> String {
    let mut out = String::with_capacity(2048);
    open_envelope(&mut out);
    let header = ResponseHeader {
        action: fault.action(),
        message_id,
        relates_to,
        operation_id: None,
        sequence_id: None,
        extra: "",
    };
    if let Some((nsu, name)) = &fault.not_understood {
        // s:NotUnderstood goes in the fault's header (SOAP 1.2 §5.4.8).
        let extra = format!(
            "<s:NotUnderstood qname=\"q:{}\" xmlns:q=\"{}\"/>",
            escape_attr(name),
            escape_attr(nsu)
        );
        write_header(
            &mut out,
            &ResponseHeader {
                extra: &extra,
                ..header
            },
        );
    } else {
        write_header(&mut out, &header);
    }
    out.push_str("<s:Body><s:Fault><s:Code>");
    let _ = write!(out, "<s:Value>{}</s:Value>", fault.code.qname());
    if let Some(sub) = &fault.subcode {
        let _ = write!(
            out,
            "<s:Subcode><s:Value>{}</s:Value></s:Subcode>",
            sub.qname()
        );
    }
    out.push_str("</s:Code>");
    let _ = write!(
        out,
        "<s:Reason><s:Text xml:lang=\"en-US\">{}</s:Text></s:Reason>",
        escape_text(&fault.message)
    );
    out.push_str("<s:Detail>");
    if let Some(d) = fault.detail {
        let _ = write!(
            out,
            "<w:FaultDetail>{}{}</w:FaultDetail>",
            ns::FAULT_DETAIL,
            d
        );
    }
    let _ = write!(
        out,
        "<f:WSManFault xmlns:f=\"{}\" Code=\"{}\" Machine=\"{}\"><f:Message>{}</f:Message></f:WSManFault>",
        ns::WSMAN_FAULT,
        fault.wsman_code,
        escape_attr(machine),
        escape_text(&fault.message)
    );
    out.push_str("</s:Detail></s:Fault></s:Body></s:Envelope>");
    out
}

/// Format a GUID-like id as Windows does for response MessageIDs: `uuid:` + upper case.
pub fn message_id_from(uuid_text: &str) -> String {
    format!("uuid:{}", uuid_text.to_ascii_uppercase())
}

/// A fresh random MessageID in the form Windows peers send (`uuid:` + upper-case GUID), for every
/// request, response and event message this project originates.
pub fn new_message_id() -> String {
    message_id_from(&uuid::Uuid::new_v4().to_string())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "the writers' own test")]
mod tests {
    use super::*;

    /// The three ways to build a response envelope write the same text.
    #[test]
    fn start_body_end_is_the_envelope() {
        let header = ResponseHeader {
            action: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse",
            message_id: "uuid:1",
            relates_to: Some("uuid:<2>"),
            operation_id: Some("uuid:3"),
            sequence_id: Some("4"),
            extra: "",
        };
        let body = "<rsp:ReceiveResponse/>";
        let whole = envelope(&header, body);
        let mut built = envelope_start(&header);
        built.push_str(body);
        built.push_str(ENVELOPE_END);
        assert_eq!(built, whole);
        assert_eq!(envelope_owned(&header, body.to_owned()), whole);
    }
}
