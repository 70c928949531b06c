//! Building request envelopes (the client side), with the prefixes Windows clients use.

use std::fmt::Write as _;
use std::time::Duration;

use crate::duration;
use crate::ns;
use crate::xml::{escape_attr, escape_text};

/// Everything a request header can say. Build with [`RequestHeader::new`] and fill fields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestHeader {
    pub to: String,
    pub action: String,
    pub resource_uri: String,
    /// `uuid:` + GUID, chosen by the caller.
    pub message_id: String,
    pub selectors: Vec<(String, String)>,
    /// (name, value, must_comply)
    pub options: Vec<(String, String, bool)>,
    pub operation_timeout: Option<Duration>,
    pub max_envelope_size: Option<u64>,
    pub locale: Option<String>,
    pub session_id: Option<String>,
    /// `e:Identifier`: the reference parameter of a subscription manager's endpoint
    /// reference, sent as a header by Renew, GetStatus and Unsubscribe.
    pub subscription_identifier: Option<String>,
    /// `m:MachineID`: the sender's FQDN, as Windows event forwarders send it with their
    /// Enumerate of a subscription manager and with their deliveries (right after
    /// `w:ResourceURI`, where they put it).
    pub machine_id: Option<String>,
    /// `p:OperationID` (with `p:SequenceId` 1), as Windows event forwarders send them with
    /// their Enumerate; other clients leave it out, as pywinrm and pypsrp do.
    pub operation_id: Option<String>,
}

impl RequestHeader {
    pub fn new(to: &str, action: &str, resource_uri: &str, message_id: &str) -> Self {
        Self {
            to: to.to_owned(),
            action: action.to_owned(),
            resource_uri: resource_uri.to_owned(),
            message_id: message_id.to_owned(),
            selectors: Vec::new(),
            options: Vec::new(),
            operation_timeout: Some(Duration::from_secs(60)),
            max_envelope_size: Some(512_000),
            locale: Some("en-US".to_owned()),
            session_id: None,
            subscription_identifier: None,
            machine_id: None,
            operation_id: None,
        }
    }
}

/// A complete request envelope with `body` (already-serialised XML, may be empty).
pub fn envelope(h: &RequestHeader, body: &str) -> String {
    let mut out = String::with_capacity(1024 + body.len());
    out.push_str("<s:Envelope");
    for (p, uri) in ns::WINDOWS_PREFIXES {
        let _ = write!(out, " xmlns:{p}=\"{uri}\"");
    }
    out.push_str("><s:Header>");
    let _ = write!(out, "<a:To>{}</a:To>", escape_text(&h.to));
    let _ = write!(
        out,
        "<w:ResourceURI s:mustUnderstand=\"true\">{}</w:ResourceURI>",
        escape_text(&h.resource_uri)
    );
    if let Some(machine) = &h.machine_id {
        let _ = write!(
            out,
            "<m:MachineID xmlns:m=\"{}\" s:mustUnderstand=\"false\">{}</m:MachineID>",
            ns::MACHINE_ID,
            escape_text(machine)
        );
    }
    let _ = write!(
        out,
        "<a:ReplyTo><a:Address s:mustUnderstand=\"true\">{}</a:Address></a:ReplyTo>",
        ns::ANONYMOUS
    );
    let _ = write!(
        out,
        "<a:Action s:mustUnderstand=\"true\">{}</a:Action>",
        escape_text(&h.action)
    );
    if let Some(m) = h.max_envelope_size {
        let _ = write!(
            out,
            "<w:MaxEnvelopeSize s:mustUnderstand=\"true\">{m}</w:MaxEnvelopeSize>"
        );
    }
    let _ = write!(
        out,
        "<a:MessageID>{}</a:MessageID>",
        escape_text(&h.message_id)
    );
    if let Some(l) = &h.locale {
        let _ = write!(
            out,
            "<w:Locale xml:lang=\"{}\" s:mustUnderstand=\"false\"/><p:DataLocale xml:lang=\"{}\" s:mustUnderstand=\"false\"/>",
            escape_attr(l),
            escape_attr(l)
        );
    }
    if let Some(s) = &h.session_id {
        let _ = write!(
            out,
            "<p:SessionId s:mustUnderstand=\"false\">{}</p:SessionId>",
            escape_text(s)
        );
    }
    if let Some(id) = &h.operation_id {
        let _ = write!(
            out,
            "<p:OperationID s:mustUnderstand=\"false\">{}</p:OperationID><p:SequenceId s:mustUnderstand=\"false\">1</p:SequenceId>",
            escape_text(id)
        );
    }
    if let Some(id) = &h.subscription_identifier {
        let _ = write!(out, "<e:Identifier>{}</e:Identifier>", escape_text(id));
    }
    if let Some(t) = h.operation_timeout {
        let _ = write!(
            out,
            "<w:OperationTimeout>{}</w:OperationTimeout>",
            duration::format(t)
        );
    }
    if !h.selectors.is_empty() {
        out.push_str("<w:SelectorSet>");
        crate::transfer::write_selectors(&mut out, &h.selectors);
        out.push_str("</w:SelectorSet>");
    }
    if !h.options.is_empty() {
        out.push_str("<w:OptionSet>");
        for (n, v, must) in &h.options {
            let mc = if *must { " MustComply=\"true\"" } else { "" };
            let _ = write!(
                out,
                "<w:Option Name=\"{}\"{mc}>{}</w:Option>",
                escape_attr(n),
                escape_text(v)
            );
        }
        out.push_str("</w:OptionSet>");
    }
    out.push_str("</s:Header>");
    crate::response::close_envelope(&mut out, "<s:Body/>", body);
    out
}
