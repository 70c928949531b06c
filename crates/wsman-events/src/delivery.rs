//! Delivery messages, source to subscriber: `Events` batches, `Heartbeat`, `SubscriptionEnd`,
//! and the subscriber's `Ack`, in the shape Windows' forwarders send them.
//!
//! The envelope carries every reference parameter of the subscriber's `NotifyTo` (or `EndTo`) as
//! a header, the bookmark when asked for, and `w:AckRequested` for the acknowledged modes. Events
//! go inside `w:Event` elements as CDATA, or as child elements, with no whitespace between them;
//! a body is UTF-8 or UTF-16LE with a byte-order mark, as the subscription asked.

use std::fmt::Write as _;

use wsman_proto::charset::{self, Encoding};
use wsman_proto::xml::{escape_text, Element};
use wsman_proto::{duration, ns};

use crate::bookmark::BookmarkList;
use crate::subscribe::EndpointReference;

/// Action of a batch of events.
pub const EVENTS_ACTION: &str = ns::action::EVENTS;
/// Action of a heartbeat.
pub const HEARTBEAT_ACTION: &str = ns::action::HEARTBEAT;
/// Action of one event (each `w:Event`'s `Action` attribute).
pub const EVENT_ACTION: &str = ns::action::EVENT;
/// Action of an acknowledgement.
pub const ACK_ACTION: &str = ns::action::ACK;
/// Action of the end of a subscription.
pub const SUBSCRIPTION_END_ACTION: &str = ns::action::SUBSCRIPTION_END;
/// Windows' machine-id header namespace.
pub const MACHINE_ID_NS: &str = ns::MACHINE_ID;

/// Why a subscription ended (`e:Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndStatus {
    DeliveryFailure,
    SourceShuttingDown,
    SourceCancelling,
}

impl EndStatus {
    pub fn uri(self) -> &'static str {
        match self {
            EndStatus::DeliveryFailure => ns::action::DELIVERY_FAILURE,
            EndStatus::SourceShuttingDown => ns::action::SOURCE_SHUTTING_DOWN,
            EndStatus::SourceCancelling => ns::action::SOURCE_CANCELLING,
        }
    }
}

/// How events sit inside `w:Event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Embedding {
    /// `<![CDATA[<Event ...>]]>` (the `CDATA` option; what Windows collectors ask for).
    Cdata,
    /// The event element itself.
    Element,
}

/// The headers of one delivery message. Message ids are passed in: no randomness here.
#[derive(Clone, Debug)]
pub struct DeliveryHeaders<'a> {
    pub to: &'a EndpointReference,
    pub message_id: &'a str,
    pub operation_id: &'a str,
    /// `p:SessionId`: one per subscription run; Windows' forwarders send it with every
    /// delivery of a subscription.
    pub session_id: Option<&'a str>,
    pub sequence_id: u64,
    /// `m:MachineID`: the source's FQDN (Windows' forwarders send it).
    pub machine_id: &'a str,
    pub max_envelope_size: u64,
    pub operation_timeout: std::time::Duration,
    pub bookmark: Option<&'a BookmarkList>,
    pub ack_requested: bool,
}

/// `MaxEnvelopeSize` of a delivery when the subscription names none (Windows' 512000).
pub const DEFAULT_MAX_ENVELOPE: u64 = 512_000;
/// `w:OperationTimeout` of a delivery.
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl<'a> DeliveryHeaders<'a> {
    /// A delivery as Windows' forwarders send one: an operation of its own (SequenceId 1),
    /// the default envelope size and operation timeout, acknowledgement requested, no session
    /// and no bookmark. The others are set by struct update, so every sender builds it alike.
    pub fn new(
        to: &'a EndpointReference,
        message_id: &'a str,
        operation_id: &'a str,
        machine_id: &'a str,
    ) -> Self {
        DeliveryHeaders {
            to,
            message_id,
            operation_id,
            session_id: None,
            sequence_id: 1,
            machine_id,
            max_envelope_size: DEFAULT_MAX_ENVELOPE,
            operation_timeout: OPERATION_TIMEOUT,
            bookmark: None,
            ack_requested: true,
        }
    }
}

/// A batch of events (each one's XML) as an `Events` message.
pub fn events_envelope(
    headers: &DeliveryHeaders<'_>,
    events: &[impl AsRef<str>],
    embedding: Embedding,
) -> String {
    let mut body = String::from("<s:Body><w:Events>");
    for event in events {
        let event = event.as_ref();
        let _ = write!(body, "<w:Event Action=\"{EVENT_ACTION}\">");
        match embedding {
            Embedding::Cdata => {
                body.push_str("<![CDATA[");
                // "]]>" cannot stand inside one CDATA section: close and reopen around it.
                body.push_str(&event.replace("]]>", "]]]]><![CDATA[>"));
                body.push_str("]]>");
            }
            Embedding::Element => body.push_str(event),
        }
        body.push_str("</w:Event>");
    }
    body.push_str("</w:Events></s:Body>");
    envelope(headers, EVENTS_ACTION, &body)
}

/// A heartbeat: the same headers, an empty `w:Events`.
pub fn heartbeat_envelope(headers: &DeliveryHeaders<'_>) -> String {
    envelope(
        headers,
        HEARTBEAT_ACTION,
        "<s:Body><w:Events></w:Events></s:Body>",
    )
}

/// `SubscriptionEnd` to the subscriber's `EndTo`, naming the subscription manager.
pub fn subscription_end_envelope(
    headers: &DeliveryHeaders<'_>,
    manager: &EndpointReference,
    status: EndStatus,
    reason: &str,
) -> String {
    let mut body = String::from("<s:Body><e:SubscriptionEnd><e:SubscriptionManager>");
    write_epr_body(manager, &mut body);
    let _ = write!(
        body,
        "</e:SubscriptionManager><e:Status>{}</e:Status><e:Reason xml:lang=\"en-US\">{}</e:Reason></e:SubscriptionEnd></s:Body>",
        status.uri(),
        escape_text(reason)
    );
    envelope(headers, SUBSCRIPTION_END_ACTION, &body)
}

/// The bytes of a delivery body in the subscription's encoding (UTF-16LE with a BOM, or UTF-8),
/// with its Content-Type.
pub fn encode(xml: &str, utf16: bool) -> (Vec<u8>, &'static str) {
    let encoding = if utf16 {
        Encoding::Utf16Le
    } else {
        Encoding::Utf8
    };
    (charset::encode(xml, encoding), encoding.content_type())
}

/// A body as [`encode`] writes it, compressed with SLDC ([`crate::sldc::compress`]): UTF-16 in
/// the same pass as the compression, UTF-8 as it is; no encoded copy of the body is made.
pub fn encode_compressed(xml: &str, utf16: bool) -> (Vec<u8>, &'static str) {
    if utf16 {
        let body = crate::sldc::compress_utf16le(xml);
        (body, Encoding::Utf16Le.content_type())
    } else {
        let body = crate::sldc::compress(xml.as_bytes());
        (body, Encoding::Utf8.content_type())
    }
}

/// The acknowledgement a subscriber sends for a delivery.
pub fn ack_envelope(delivery_message_id: &str, message_id: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"{}\" xmlns:a=\"{}\" xmlns:w=\"{}\"><s:Header>\
         <a:To>{}</a:To><a:Action s:mustUnderstand=\"true\">{ACK_ACTION}</a:Action>\
         <a:MessageID>{}</a:MessageID><a:RelatesTo>{}</a:RelatesTo></s:Header><s:Body/></s:Envelope>",
        ns::SOAP,
        ns::ADDRESSING,
        ns::WSMAN,
        ns::ANONYMOUS,
        escape_text(message_id),
        escape_text(delivery_message_id)
    )
}

fn envelope(headers: &DeliveryHeaders<'_>, action: &str, body: &str) -> String {
    let mut out = String::with_capacity(1024 + body.len());
    let _ = write!(
        out,
        "<s:Envelope xmlns:s=\"{}\" xmlns:a=\"{}\" xmlns:e=\"{}\" xmlns:w=\"{}\" xmlns:p=\"{}\"><s:Header>",
        ns::SOAP,
        ns::ADDRESSING,
        ns::EVENTING,
        ns::WSMAN,
        ns::MS_WSMAN
    );
    let _ = write!(
        out,
        "<a:To>{}</a:To>\
         <m:MachineID xmlns:m=\"{MACHINE_ID_NS}\" s:mustUnderstand=\"false\">{}</m:MachineID>\
         <a:ReplyTo><a:Address s:mustUnderstand=\"true\">{}</a:Address></a:ReplyTo>\
         <a:Action s:mustUnderstand=\"true\">{action}</a:Action>\
         <w:MaxEnvelopeSize s:mustUnderstand=\"true\">{}</w:MaxEnvelopeSize>\
         <a:MessageID>{}</a:MessageID>\
         <w:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>\
         <p:DataLocale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>\
         {}\
         <p:OperationID s:mustUnderstand=\"false\">{}</p:OperationID>\
         <p:SequenceId s:mustUnderstand=\"false\">{}</p:SequenceId>\
         <w:OperationTimeout>{}</w:OperationTimeout>",
        escape_text(&headers.to.address),
        escape_text(headers.machine_id),
        ns::ANONYMOUS,
        headers.max_envelope_size,
        escape_text(headers.message_id),
        headers.session_id.map_or(String::new(), |id| format!(
            "<p:SessionId s:mustUnderstand=\"false\">{}</p:SessionId>",
            escape_text(id)
        )),
        escape_text(headers.operation_id),
        headers.sequence_id,
        duration::format(headers.operation_timeout),
    );
    for parameter in &headers.to.reference_parameters {
        out.push_str(&parameter.to_xml());
    }
    if let Some(bookmark) = headers.bookmark {
        let _ = write!(out, "<w:Bookmark>{}</w:Bookmark>", bookmark.to_xml());
    }
    if headers.ack_requested {
        out.push_str("<w:AckRequested/>");
    }
    out.push_str("</s:Header>");
    out.push_str(body);
    out.push_str("</s:Envelope>");
    out
}

fn write_epr_body(epr: &EndpointReference, out: &mut String) {
    let _ = write!(out, "<a:Address>{}</a:Address>", escape_text(&epr.address));
    if !epr.reference_parameters.is_empty() {
        out.push_str("<a:ReferenceParameters>");
        for parameter in &epr.reference_parameters {
            out.push_str(&parameter.to_xml());
        }
        out.push_str("</a:ReferenceParameters>");
    }
}

/// An endpoint reference from an address and reference-parameter elements (for tests and for
/// the subscription manager EPR this side hands out).
pub fn endpoint(address: &str, reference_parameters: Vec<Element>) -> EndpointReference {
    EndpointReference {
        address: address.to_owned(),
        reference_parameters,
    }
}
