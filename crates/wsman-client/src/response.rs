//! Reading answers: the envelope, its body, RelatesTo, and SOAP faults in the shape WinRM and
//! Windows send them (reference §5.1).

use wsman_proto::ns;
use wsman_proto::xml::{self, Element, Limits, Node};

use crate::error::ClientError;

/// A parsed response envelope.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) action: Option<String>,
    pub(crate) relates_to: Option<String>,
    /// The first element child of `s:Body`, if any.
    pub(crate) body: Option<Element>,
    /// The element children of `s:Body` after the first (a WinRS CreateResponse has two).
    pub(crate) rest: Vec<Element>,
}

/// Decode and parse a response envelope.
pub(crate) fn parse_envelope(
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<Envelope, ClientError> {
    let charset = content_type.and_then(wsman_proto::charset::charset_param);
    let (text, _) = wsman_proto::charset::decode(bytes, charset)
        .map_err(|e| ClientError::protocol(format!("cannot decode the response: {e}")))?;
    let root = xml::parse(&text, &Limits::default())
        .map_err(|e| ClientError::protocol(format!("the response is not valid XML: {e}")))?;
    if !root.is(ns::SOAP, "Envelope") {
        return Err(ClientError::protocol(
            "the response is not a SOAP 1.2 envelope",
        ));
    }
    let header = root.child(ns::SOAP, "Header");
    let relates_to = header
        .and_then(|h| h.child(ns::ADDRESSING, "RelatesTo"))
        .map(Element::trimmed_text);
    let action = header
        .and_then(|h| h.child(ns::ADDRESSING, "Action"))
        .map(Element::trimmed_text);
    let body = root
        .child(ns::SOAP, "Body")
        .ok_or_else(|| ClientError::protocol("the response envelope has no s:Body"))?;
    let mut elements = body.elements().cloned();
    let body = elements.next();
    let rest = elements.collect();
    Ok(Envelope {
        action,
        relates_to,
        body,
        rest,
    })
}

/// A fault from an `s:Fault` element.
pub(crate) fn fault_error(fault: &Element, status: u16) -> ClientError {
    let code_el = fault.child(ns::SOAP, "Code");
    let code = code_el
        .and_then(|c| c.child(ns::SOAP, "Value"))
        .map(Element::trimmed_text)
        .unwrap_or_default();
    let subcode = code_el
        .and_then(|c| c.child(ns::SOAP, "Subcode"))
        .and_then(|s| s.child(ns::SOAP, "Value"))
        .map(Element::trimmed_text);
    let reason = fault
        .child(ns::SOAP, "Reason")
        .and_then(|r| r.child(ns::SOAP, "Text"))
        .map(Element::trimmed_text)
        .unwrap_or_default();
    let detail = fault
        .child(ns::SOAP, "Detail")
        .and_then(|d| d.child(ns::WSMAN_FAULT, "WSManFault"));
    // WMI-backed faults carry `p:MSFT_WmiError` (error_Code, Message) instead.
    let wmi = fault
        .child(ns::SOAP, "Detail")
        .and_then(|d| d.elements().find(|e| e.name == "MSFT_WmiError"));
    let wmi_text = |name: &str| {
        wmi.and_then(|w| w.elements().find(|e| e.name == name))
            .map(Element::trimmed_text)
            .filter(|t| !t.is_empty())
    };
    let wsman_code = detail
        .and_then(|d| d.attr("Code"))
        .and_then(|c| c.trim().parse::<u32>().ok())
        .or_else(|| wmi_text("error_Code").and_then(|c| c.parse::<u32>().ok()));
    let machine = detail.and_then(|d| d.attr("Machine")).map(str::to_owned);
    let message = detail
        .and_then(|d| d.child(ns::WSMAN_FAULT, "Message"))
        .map(deep_text)
        .filter(|m| !m.is_empty())
        .or_else(|| wmi_text("Message"))
        .unwrap_or(reason);
    ClientError::Fault {
        code,
        subcode,
        wsman_code,
        message,
        machine,
        status,
        detail: detail.cloned().map(Box::new),
    }
}

/// All character data below `e`, each run trimmed, joined by single spaces (a provider fault
/// nests its own WSManFault inside `f:Message`).
pub(crate) fn deep_text(e: &Element) -> String {
    fn walk(e: &Element, out: &mut Vec<String>) {
        for n in &e.children {
            match n {
                Node::Text(t) => {
                    let t = t.trim();
                    if !t.is_empty() {
                        out.push(t.to_owned());
                    }
                }
                Node::Element(c) => walk(c, out),
            }
        }
    }
    let mut parts = Vec::new();
    walk(e, &mut parts);
    parts.join(" ")
}

/// Turn an HTTP reply into the body element, or the error it stands for.
pub(crate) fn interpret(
    reply: &crate::transport::HttpReply,
    expected_relates_to: Option<&str>,
) -> Result<Option<Element>, ClientError> {
    interpret_all(reply, expected_relates_to).map(|(first, _)| first)
}

/// Like [`interpret`], also returning the body elements after the first.
pub(crate) fn interpret_all(
    reply: &crate::transport::HttpReply,
    expected_relates_to: Option<&str>,
) -> Result<(Option<Element>, Vec<Element>), ClientError> {
    Ok(interpret_envelope(reply, expected_relates_to)?
        .map(|envelope| (envelope.body, envelope.rest))
        .unwrap_or_default())
}

/// The reply's envelope (`None`: an empty 2xx), or the error it stands for.
pub(crate) fn interpret_envelope(
    reply: &crate::transport::HttpReply,
    expected_relates_to: Option<&str>,
) -> Result<Option<Envelope>, ClientError> {
    let status = reply.status;
    if status == 401 {
        return Err(ClientError::Unauthorized {
            offered: reply.www_authenticate.clone(),
        });
    }
    let success = (200..300).contains(&status);
    if reply.body.is_empty() {
        return if success {
            Ok(None)
        } else {
            Err(ClientError::Http { status })
        };
    }
    let envelope = match parse_envelope(&reply.body, reply.content_type.as_deref()) {
        Ok(e) => e,
        Err(_) if !success => return Err(ClientError::Http { status }),
        Err(e) => return Err(e),
    };
    if let Some(fault) = envelope.body.as_ref().filter(|b| b.is(ns::SOAP, "Fault")) {
        return Err(fault_error(fault, status));
    }
    if !success {
        return Err(ClientError::Http { status });
    }
    if let Some(expected) = expected_relates_to {
        match envelope.relates_to.as_deref() {
            Some(got) if got == expected => {}
            Some(got) => {
                return Err(ClientError::protocol(format!(
                    "RelatesTo {got:?} does not match the request's MessageID {expected:?}"
                )))
            }
            None => return Err(ClientError::protocol("the response has no RelatesTo")),
        }
    }
    Ok(Some(envelope))
}
