//! Building request envelopes (the client side), with the prefixes Windows clients use.

use std::time::Duration;

use crate::duration;
use crate::ns;
use crate::xml::Writer;

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
    let must = ("s:mustUnderstand", "true");
    let may = ("s:mustUnderstand", "false");
    let decls: Vec<(String, &str)> = ns::WINDOWS_PREFIXES
        .iter()
        .map(|(p, uri)| (format!("xmlns:{p}"), *uri))
        .collect();
    let decls: Vec<(&str, &str)> = decls.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let mut w = Writer::new();
    w.start("s:Envelope", &decls).start("s:Header", &[]);
    w.leaf("a:To", &[], &h.to);
    w.leaf("w:ResourceURI", &[must], &h.resource_uri);
    if let Some(machine) = &h.machine_id {
        w.leaf("m:MachineID", &[("xmlns:m", ns::MACHINE_ID), may], machine);
    }
    w.start("a:ReplyTo", &[]);
    w.leaf("a:Address", &[must], ns::ANONYMOUS).end();
    w.leaf("a:Action", &[must], &h.action);
    if let Some(m) = h.max_envelope_size {
        w.leaf("w:MaxEnvelopeSize", &[must], &m.to_string());
    }
    w.leaf("a:MessageID", &[], &h.message_id);
    if let Some(l) = &h.locale {
        w.start("w:Locale", &[("xml:lang", l), may]).end();
        w.start("p:DataLocale", &[("xml:lang", l), may]).end();
    }
    if let Some(s) = &h.session_id {
        w.leaf("p:SessionId", &[may], s);
    }
    if let Some(id) = &h.operation_id {
        w.leaf("p:OperationID", &[may], id);
        w.leaf("p:SequenceId", &[may], "1");
    }
    if let Some(id) = &h.subscription_identifier {
        w.leaf("e:Identifier", &[], id);
    }
    if let Some(t) = h.operation_timeout {
        w.leaf("w:OperationTimeout", &[], &duration::format(t));
    }
    if !h.selectors.is_empty() {
        let mut set = String::new();
        crate::transfer::write_selectors(&mut set, &h.selectors);
        w.start("w:SelectorSet", &[]).raw(&set).end();
    }
    if !h.options.is_empty() {
        w.start("w:OptionSet", &[]);
        for (name, value, must_comply) in &h.options {
            let mut attrs = vec![("Name", name.as_str())];
            if *must_comply {
                attrs.push(("MustComply", "true"));
            }
            w.leaf("w:Option", &attrs, value);
        }
        w.end();
    }
    w.end().start("s:Body", &[]);
    if !body.is_empty() {
        w.raw(body);
    }
    w.finish()
}
