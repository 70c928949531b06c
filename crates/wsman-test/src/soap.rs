//! Request envelopes the tests send, and reading faults out of responses.

use wsman_proto::ns;
use wsman_proto::request::{self, RequestHeader};
use wsman_proto::xml::{self, Element, Limits};

/// The resource URI of `winrm/config`.
pub const CONFIG_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/config";
/// The resource URI of `winrm/config/listener`.
pub const LISTENER_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/listener";
/// The MessageID every harness request carries (echoed in RelatesTo).
pub const MESSAGE_ID: &str = "uuid:0A4B7C2E-1D3F-4E5A-9B6C-7D8E9F0A1B2C";

/// The Identify request a client sends.
pub fn identify() -> String {
    wsman_proto::identify::request()
}

/// A request with the given action and resource URI, selectors and body.
pub fn request(action: &str, resource_uri: &str, selectors: &[(&str, &str)], body: &str) -> String {
    let mut header = RequestHeader::new(
        "http://127.0.0.1:5985/wsman",
        action,
        resource_uri,
        MESSAGE_ID,
    );
    header.selectors = selectors
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    request::envelope(&header, body)
}

/// An Enumerate of `resource_uri` with the `n:Enumerate` element `body`.
pub fn enumerate(resource_uri: &str, body: &str) -> String {
    request(ns::action::ENUMERATE, resource_uri, &[], body)
}

/// A Get of `resource_uri`.
pub fn get(resource_uri: &str, selectors: &[(&str, &str)]) -> String {
    request(ns::action::GET, resource_uri, selectors, "")
}

/// What a fault response says, in the terms tests assert on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultSummary {
    /// Local name of `s:Code/s:Value` (`Sender`, `Receiver`, `VersionMismatch`, ...).
    pub code: String,
    /// Local name of `s:Subcode/s:Value` (`ActionNotSupported`, ...), if any.
    pub subcode: Option<String>,
    /// `f:WSManFault/@Code`, if any.
    pub wsman_code: Option<String>,
    /// `s:Reason/s:Text`.
    pub reason: String,
}

fn local(qname: &str) -> String {
    qname.rsplit(':').next().unwrap_or(qname).to_owned()
}

/// Parse a SOAP fault envelope; None when `body` is not one.
pub fn fault(body: &str) -> Option<FaultSummary> {
    let root = xml::parse(body, &Limits::default()).ok()?;
    let fault = root.child(ns::SOAP, "Body")?.child(ns::SOAP, "Fault")?;
    let code = fault.child(ns::SOAP, "Code")?;
    let mut summary = FaultSummary {
        code: local(&code.child(ns::SOAP, "Value")?.trimmed_text()),
        ..FaultSummary::default()
    };
    summary.subcode = code
        .child(ns::SOAP, "Subcode")
        .and_then(|s| s.child(ns::SOAP, "Value"))
        .map(|v| local(&v.trimmed_text()));
    summary.reason = fault
        .child(ns::SOAP, "Reason")
        .and_then(|r| r.child(ns::SOAP, "Text"))
        .map(Element::trimmed_text)
        .unwrap_or_default();
    summary.wsman_code = fault
        .child(ns::SOAP, "Detail")
        .and_then(|d| d.child(ns::WSMAN_FAULT, "WSManFault"))
        .and_then(|w| w.attr("Code"))
        .map(str::to_owned);
    Some(summary)
}

/// The text of the first descendant element with local name `name` (any namespace).
pub fn find_text(body: &str, name: &str) -> Option<String> {
    find_element(body, name).map(|e| e.trimmed_text())
}

/// The first descendant element with local name `name` (any namespace).
pub fn find_element(body: &str, name: &str) -> Option<Element> {
    let root = xml::parse(body, &Limits::default()).ok()?;
    find(&root, name).cloned()
}

fn find<'a>(element: &'a Element, name: &str) -> Option<&'a Element> {
    if element.name == name {
        return Some(element);
    }
    element.elements().find_map(|child| find(child, name))
}

/// The `a:RelatesTo` of a response, if any.
pub fn relates_to(body: &str) -> Option<String> {
    let root = xml::parse(body, &Limits::default()).ok()?;
    root.child(ns::SOAP, "Header")?
        .child(ns::ADDRESSING, "RelatesTo")
        .map(|e| e.text())
}
