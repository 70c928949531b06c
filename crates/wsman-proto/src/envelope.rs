//! Request envelopes: SOAP 1.2 + WS-Addressing + WS-Management headers, parsed by namespace.
//!
//! Parsing is "full recognition before processing": the whole envelope is parsed and every
//! header checked before the caller sees a [`Request`]. Header order and prefixes do not
//! matter; `wsa:To` is kept but never validated; unknown headers are ignored unless they carry
//! `s:mustUnderstand="true"` (the SOAP attribute, not the unqualified one some clients send).

use std::time::Duration;

use crate::duration;
use crate::fault::from_errors::NumberError;
use crate::fault::Fault;
pub use crate::headers::{parse_bool, OptionSet, Selector, SelectorSet, SelectorValue, WsOption};
use crate::ns;
use crate::xml::{self, Element, Limits, XmlError};

/// A parsed request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    pub action: Option<String>,
    pub message_id: Option<String>,
    pub to: Option<String>,
    pub resource_uri: Option<String>,
    pub selectors: SelectorSet,
    pub options: OptionSet,
    pub operation_timeout: Option<Duration>,
    pub max_envelope_size: Option<u64>,
    pub locale: Option<String>,
    pub session_id: Option<String>,
    pub operation_id: Option<String>,
    pub sequence_id: Option<String>,
    pub request_total_items_count_estimate: bool,
    /// `rsp:CompressionType` (`xpress`): only a PowerShell shell's Create may carry it with
    /// mustUnderstand (see [`crate::xpress`]); elsewhere it is still not understood.
    pub compression_type: Option<String>,
    /// `w:FragmentTransfer`, kept whole for the handler to refuse or serve.
    pub fragment_transfer: Option<Element>,
    /// Every header block, for handlers that read extension headers.
    pub headers: Vec<Element>,
    /// The first element child of `s:Body` (None for an empty body).
    pub body: Option<Element>,
    /// Action and ResourceURI, classified once here: the server routes on this.
    pub operation: crate::operation::Operation,
}

impl Request {
    /// Identify is recognised by its body, with or without an Action.
    pub fn is_identify(&self) -> bool {
        self.body
            .as_ref()
            .is_some_and(|b| b.is(ns::IDENTITY, "Identify"))
    }
}

/// Why a request was refused before dispatch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Not XML at all: HTTP 400 with no body.
    #[error("not XML: {0}")]
    NotXml(#[from] XmlError),
    /// XML, but refused with a SOAP fault. `message_id` is the request's, when it was readable,
    /// so the fault can relate to it.
    #[error("{fault}")]
    Fault {
        fault: Box<Fault>,
        message_id: Option<String>,
    },
}

fn fault(f: Fault, message_id: &Option<String>) -> RequestError {
    RequestError::Fault {
        fault: Box::new(f),
        message_id: message_id.clone(),
    }
}

/// Headers this service processes; any other header with mustUnderstand="true" is a fault.
const UNDERSTOOD: &[(&str, &str)] = &[
    (ns::ADDRESSING, "To"),
    (ns::ADDRESSING, "Action"),
    (ns::ADDRESSING, "MessageID"),
    (ns::ADDRESSING, "ReplyTo"),
    (ns::ADDRESSING, "FaultTo"),
    (ns::ADDRESSING, "RelatesTo"),
    (ns::WSMAN, "ResourceURI"),
    (ns::WSMAN, "SelectorSet"),
    (ns::WSMAN, "OptionSet"),
    (ns::WSMAN, "OperationTimeout"),
    (ns::WSMAN, "MaxEnvelopeSize"),
    (ns::WSMAN, "Locale"),
    (ns::WSMAN, "FragmentTransfer"),
    (ns::WSMAN, "RequestTotalItemsCountEstimate"),
    (ns::MS_WSMAN, "DataLocale"),
    (ns::MS_WSMAN, "SessionId"),
    (ns::MS_WSMAN, "OperationID"),
    (ns::MS_WSMAN, "SequenceId"),
    (ns::SHELL, "CompressionType"),
    // DSP0226's delivery credentials of a Subscribe, read by the eventing core.
    (ns::WS_TRUST, "IssuedTokens"),
];

fn must_understand(e: &Element) -> bool {
    e.attr_ns(ns::SOAP, "mustUnderstand")
        .and_then(parse_bool)
        .unwrap_or(false)
}

/// Parse a decoded request envelope.
pub fn parse_request(text: &str, limits: &Limits) -> Result<Request, RequestError> {
    let root = xml::parse(text, limits)?;
    if root.name == "Envelope" && root.ns.as_deref() != Some(ns::SOAP) {
        return Err(fault(Fault::version_mismatch(), &None));
    }
    if !root.is(ns::SOAP, "Envelope") {
        return Err(fault(
            Fault::schema_validation_error(
                "The SOAP XML in the message does not match the corresponding XML schema definition. The root element is not a SOAP 1.2 Envelope. ",
            ),
            &None,
        ));
    }
    let mut req = Request::default();
    // The tree is ours: header blocks and the body element are moved into the request, never
    // copied. Only the first Header and the first Body count, as `Element::child` would find.
    let mut header: Option<Element> = None;
    let mut body: Option<Element> = None;
    for node in root.children {
        let xml::Node::Element(e) = node else {
            continue;
        };
        if header.is_none() && e.is(ns::SOAP, "Header") {
            header = Some(e);
        } else if body.is_none() && e.is(ns::SOAP, "Body") {
            body = Some(e);
        }
    }
    // Read MessageID first so that every later fault can relate to it.
    if let Some(h) = &header {
        if let Some(id) = h.child(ns::ADDRESSING, "MessageID") {
            req.message_id = Some(id.trimmed_text());
        }
    }
    let mid = req.message_id.clone();
    let body = body.ok_or_else(|| {
        fault(
            Fault::invalid_message_information_header(
                "The WS-Management service cannot process the request. The SOAP packet that WS-Management received did not contain a valid Body element. ",
            ),
            &mid,
        )
    })?;
    req.body = body.children.into_iter().find_map(|n| match n {
        xml::Node::Element(e) => Some(e),
        xml::Node::Text(_) => None,
    });

    if let Some(h) = header {
        for node in h.children {
            let xml::Node::Element(e) = node else {
                continue;
            };
            read_header(&mut req, &e).map_err(|f| fault(f, &mid))?;
            req.headers.push(e);
        }
    }

    req.operation = crate::operation::Operation::parse(
        req.action.as_deref(),
        req.resource_uri.as_deref(),
        &req.selectors,
    );
    refuse_misplaced_compression(&req).map_err(|f| fault(f, &mid))?;
    if req.is_identify() {
        return Ok(req);
    }
    if req.action.is_none() {
        return Err(fault(
            Fault::message_information_header_required("Action"),
            &mid,
        ));
    }
    if req.message_id.is_none() {
        return Err(fault(
            Fault::message_information_header_required("MessageID"),
            &mid,
        ));
    }
    Ok(req)
}

/// `rsp:CompressionType` is understood on the Create of a PowerShell shell, the one place
/// the stream data it compresses is handled; anywhere else a mustUnderstand one is refused as
/// before (winrs.exe `-compression` on a cmd shell gets the answer of a server without it).
fn refuse_misplaced_compression(req: &Request) -> Result<(), Fault> {
    let powershell_create = req.operation.action == crate::operation::Action::Create
        && req.operation.resource
            == crate::operation::Resource::Shell(crate::operation::ShellResource::PowerShell);
    if powershell_create {
        return Ok(());
    }
    match req
        .headers
        .iter()
        .find(|e| e.is(ns::SHELL, "CompressionType"))
    {
        Some(e) if must_understand(e) => Err(Fault::must_understand(ns::SHELL, "CompressionType")),
        _ => Ok(()),
    }
}

fn read_header(req: &mut Request, e: &Element) -> Result<(), Fault> {
    let known = UNDERSTOOD
        .iter()
        .any(|(n, l)| e.name == *l && e.ns.as_deref() == Some(*n));
    if !known {
        if must_understand(e) {
            return Err(Fault::must_understand(
                e.ns.as_deref().unwrap_or(""),
                &e.name,
            ));
        }
        return Ok(());
    }
    let ns_uri = e.ns.as_deref().unwrap_or("");
    match (ns_uri, e.name.as_str()) {
        (ns::ADDRESSING, "To") => req.to = Some(e.trimmed_text()),
        (ns::ADDRESSING, "Action") => req.action = Some(e.trimmed_text()),
        (ns::ADDRESSING, "ReplyTo") => {
            let addr = e
                .child(ns::ADDRESSING, "Address")
                .map(|a| a.trimmed_text())
                .unwrap_or_default();
            if addr != ns::ANONYMOUS {
                return Err(Fault::unsupported_feature(
                    "AddressingMode",
                    "The WS-Management service only supports the anonymous ReplyTo address. ",
                ));
            }
        }
        (ns::WSMAN, "ResourceURI") => req.resource_uri = Some(e.trimmed_text()),
        (ns::WSMAN, "SelectorSet") => req.selectors = SelectorSet::from_element(e)?,
        (ns::WSMAN, "OptionSet") => {
            req.options.must_understand = must_understand(e);
            for o in e.children_named(ns::WSMAN, "Option") {
                let Some(name) = o.attr("Name") else {
                    return Err(Fault::invalid_options_value(""));
                };
                let nil = o
                    .attr_ns(ns::XSI, "nil")
                    .and_then(parse_bool)
                    .unwrap_or(false);
                req.options.options.push(crate::headers::WsOption {
                    name: name.to_owned(),
                    value: (!nil).then(|| o.trimmed_text()),
                    must_comply: o.attr("MustComply").and_then(parse_bool).unwrap_or(false),
                });
            }
        }
        (ns::WSMAN, "OperationTimeout") => {
            let text = e.trimmed_text();
            req.operation_timeout = Some(duration::parse(&text).ok_or_else(|| {
                Fault::invalid_message_information_header(format!(
                    "The WS-Management service cannot process the request. The XML contains an invalid timeout field in the SOAP header: {text}. "
                ))
            })?);
        }
        (ns::WSMAN, "MaxEnvelopeSize") => {
            let text = e.trimmed_text();
            let v: u64 = text
                .parse()
                .map_err(|_| NumberError::MaxEnvelopeSize(text.clone()))?;
            if v < 8192 {
                return Err(Fault::min_envelope_size(v));
            }
            req.max_envelope_size = Some(v);
        }
        (ns::WSMAN, "Locale") => {
            if must_understand(e) {
                return Err(Fault::locale_must_understand());
            }
            req.locale = e.attr_ns(ns::XML, "lang").map(str::to_owned);
        }
        (ns::WSMAN, "FragmentTransfer") => req.fragment_transfer = Some(e.clone()),
        (ns::WSMAN, "RequestTotalItemsCountEstimate") => {
            req.request_total_items_count_estimate = true
        }
        (ns::MS_WSMAN, "SessionId") => req.session_id = Some(e.trimmed_text()),
        (ns::MS_WSMAN, "OperationID") => req.operation_id = Some(e.trimmed_text()),
        (ns::MS_WSMAN, "SequenceId") => req.sequence_id = Some(e.trimmed_text()),
        (ns::SHELL, "CompressionType") => req.compression_type = Some(e.trimmed_text()),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
