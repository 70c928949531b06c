//! The `e:Subscribe` request written from its typed form ([`SubscribeRequest`]), the inverse of
//! [`crate::subscribe::parse_subscribe`], in the shape a Windows Event Collector gives its
//! forwarders (MS-WSMV 2.2.4.41; openwec's `doc/protocol.md` records one): the envelope
//! declares Windows' prefixes, `a:ReferenceProperties`, one `c:All` per authentication
//! alternative, `w:Locale` and `p:DataLocale` before `w:ContentEncoding`.
//!
//! Written in pieces, in message order, so that a template can leave holes for what changes
//! per recipient: the message and operation ids, `ReadExistingEvents` and the bookmark
//! ([`subscribe_envelope`] puts them together). `subscriber_thumbprint` travels in a
//! `wst:IssuedTokens` header that is not written here.

use std::fmt::Write as _;
use std::time::Duration;

use wsman_proto::duration;
use wsman_proto::ns::{self, action};
use wsman_proto::xml::{escape_attr, escape_text};

use crate::bookmark::BookmarkList;
use crate::event::ContentFormat;
use crate::subscribe::{
    AuthenticationProfile, EndpointReference, EnvelopePolicy, Expires, StartAt, SubscribeRequest,
};

/// The envelope's `MaxEnvelopeSize`, as Windows' collector writes it.
const MAX_ENVELOPE: u32 = 512_000;
/// The locale of the envelope and of the deliveries, as Windows' collector writes it.
macro_rules! locale {
    () => {
        "<w:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>\
         <p:DataLocale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"
    };
}

/// The whole Subscribe envelope.
pub fn subscribe_envelope(
    request: &SubscribeRequest,
    message_id: &str,
    operation_id: &str,
) -> String {
    let mut out = head();
    out.push_str(&escape_text(message_id));
    out.push_str(BETWEEN_IDS);
    out.push_str(&escape_text(operation_id));
    out.push_str(&options(request));
    out.push_str(read_existing(request));
    out.push_str(&body(request));
    if let Some(start_at) = &request.start_at {
        out.push_str(&bookmark(start_at));
    }
    out.push_str(tail(request));
    out
}

/// From the envelope's start to `<a:MessageID>`.
pub fn head() -> String {
    let mut out = String::from("<s:Envelope");
    for (prefix, uri) in ENVELOPE_PREFIXES {
        let _ = write!(out, " xmlns:{prefix}=\"{uri}\"");
    }
    let _ = write!(
        out,
        "><s:Header><a:To>{anonymous}</a:To>\
         <w:ResourceURI s:mustUnderstand=\"true\">{resource}</w:ResourceURI>\
         <a:ReplyTo><a:Address s:mustUnderstand=\"true\">{anonymous}</a:Address></a:ReplyTo>\
         <a:Action s:mustUnderstand=\"true\">{subscribe}</a:Action>\
         <w:MaxEnvelopeSize s:mustUnderstand=\"true\">{MAX_ENVELOPE}</w:MaxEnvelopeSize>\
         <a:MessageID>",
        anonymous = ns::ANONYMOUS,
        resource = ns::EVENT_LOG_URI,
        subscribe = action::SUBSCRIBE,
    );
    out
}

/// The prefixes the envelope declares (Windows' set, without transfer's).
const ENVELOPE_PREFIXES: [(&str, &str); 6] = [
    ("s", ns::SOAP),
    ("a", ns::ADDRESSING),
    ("e", ns::EVENTING),
    ("n", ns::ENUMERATION),
    ("w", ns::WSMAN),
    ("p", ns::MS_WSMAN),
];

/// Between the message id and the operation id.
pub const BETWEEN_IDS: &str = concat!(
    "</a:MessageID>",
    locale!(),
    "<p:OperationID s:mustUnderstand=\"false\">"
);

/// From the operation id's end through the option set's options, but `ReadExistingEvents`
/// ([`read_existing`]), which a template writes per recipient.
pub fn options(request: &SubscribeRequest) -> String {
    let mut out = format!(
        "</p:OperationID><p:SequenceId s:mustUnderstand=\"false\">1</p:SequenceId>\
         <w:OptionSet xmlns:xsi=\"{}\">",
        ns::XSI
    );
    if let Some(name) = &request.name {
        let _ = write!(
            out,
            "<w:Option Name=\"SubscriptionName\">{}</w:Option>",
            escape_text(name)
        );
    }
    if request.compress_sldc {
        out.push_str("<w:Option Name=\"Compression\">SLDC</w:Option>");
    }
    // Events come as CDATA sections, as Windows' collector asks.
    out.push_str("<w:Option Name=\"CDATA\" xsi:nil=\"true\"/>");
    let format = match request.content_format {
        ContentFormat::Raw => "Raw",
        ContentFormat::RenderedText => "RenderedText",
    };
    let _ = write!(out, "<w:Option Name=\"ContentFormat\">{format}</w:Option>");
    if request.ignore_channel_error {
        out.push_str("<w:Option Name=\"IgnoreChannelError\" xsi:nil=\"true\"/>");
    }
    out
}

/// The `ReadExistingEvents` option.
pub const READ_EXISTING: &str = "<w:Option Name=\"ReadExistingEvents\">true</w:Option>";

/// The `ReadExistingEvents` option, when asked for.
pub fn read_existing(request: &SubscribeRequest) -> &'static str {
    if request.read_existing_events {
        READ_EXISTING
    } else {
        ""
    }
}

/// From the option set's end through `w:Filter`: what comes before the bookmark.
pub fn body(request: &SubscribeRequest) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str("</w:OptionSet></s:Header><s:Body><e:Subscribe>");
    if let Some(end_to) = &request.end_to {
        endpoint(&mut out, "e:EndTo", end_to, &[]);
    }
    delivery(&mut out, request);
    match request.expires {
        Some(Expires::After(d)) => {
            let _ = write!(out, "<e:Expires>{}</e:Expires>", duration::format(d));
        }
        Some(Expires::At(t)) => {
            let _ = write!(out, "<e:Expires>{}</e:Expires>", t.to_system_time());
        }
        None => {}
    }
    if let Some(filter) = &request.filter {
        let _ = write!(
            out,
            "<w:Filter Dialect=\"{}\">{}</w:Filter>",
            ns::EVENT_QUERY_DIALECT,
            filter.to_xml()
        );
    }
    out
}

/// `e:Delivery`: the mode, NotifyTo with its policy, and the batching and retry settings.
fn delivery(out: &mut String, request: &SubscribeRequest) {
    let _ = write!(out, "<e:Delivery Mode=\"{}\">", request.mode.uri());
    if let Some(heartbeats) = request.heartbeats {
        let _ = write!(
            out,
            "<w:Heartbeats>{}</w:Heartbeats>",
            duration::format(heartbeats)
        );
    }
    if let Some(notify_to) = &request.notify_to {
        endpoint(out, "e:NotifyTo", notify_to, &request.authentication);
    }
    if let Some((total, interval)) = request.connection_retry {
        let _ = write!(
            out,
            "<w:ConnectionRetry Total=\"{total}\">{}</w:ConnectionRetry>",
            retry_interval(interval)
        );
    }
    if let Some(items) = request.max_elements {
        let _ = write!(out, "<w:MaxElements>{items}</w:MaxElements>");
    }
    if let Some(time) = request.max_time {
        let _ = write!(out, "<w:MaxTime>{}</w:MaxTime>", duration::format(time));
    }
    if let Some((size, policy)) = request.max_envelope_size {
        let policy = match policy {
            EnvelopePolicy::CancelSubscription => "CancelSubscription",
            EnvelopePolicy::Skip => "Skip",
            EnvelopePolicy::Notify => "Notify",
        };
        let _ = write!(
            out,
            "<w:MaxEnvelopeSize Policy=\"{policy}\">{size}</w:MaxEnvelopeSize>"
        );
    }
    out.push_str(locale!());
    let encoding = if request.utf16 { "UTF-16" } else { "UTF-8" };
    let _ = write!(
        out,
        "<w:ContentEncoding>{encoding}</w:ContentEncoding></e:Delivery>"
    );
}

/// `PT60.0S`, as Windows' collector writes the retry interval, unless it needs milliseconds.
fn retry_interval(interval: Duration) -> String {
    if interval.subsec_millis().is_multiple_of(100) {
        format!(
            "PT{}.{}S",
            interval.as_secs(),
            interval.subsec_millis() / 100
        )
    } else {
        duration::format(interval)
    }
}

/// An endpoint reference as `element`, with its reference parameters (in the envelope's
/// prefixes) and, for NotifyTo, the authentication policy.
fn endpoint(
    out: &mut String,
    element: &str,
    to: &EndpointReference,
    authentication: &[AuthenticationProfile],
) {
    let _ = write!(
        out,
        "<{element}><a:Address>{}</a:Address>",
        escape_text(&to.address)
    );
    if !to.reference_parameters.is_empty() {
        out.push_str("<a:ReferenceProperties>");
        for parameter in &to.reference_parameters {
            out.push_str(&parameter.to_xml_in(&ENVELOPE_PREFIXES));
        }
        out.push_str("</a:ReferenceProperties>");
    }
    if !authentication.is_empty() {
        policy(out, authentication);
    }
    let _ = write!(out, "</{element}>");
}

/// `c:Policy`: one `c:All` for each authentication the subscriber accepts.
fn policy(out: &mut String, authentication: &[AuthenticationProfile]) {
    let _ = write!(
        out,
        "<c:Policy xmlns:c=\"{}\" xmlns:auth=\"{}\"><c:ExactlyOne>",
        ns::WS_POLICY,
        ns::WSMAN_AUTHENTICATION
    );
    for profile in authentication {
        let _ = write!(
            out,
            "<c:All><auth:Authentication Profile=\"{}\">",
            escape_attr(&profile.profile)
        );
        if !profile.issuer_thumbprints.is_empty() || !profile.certificate_thumbprints.is_empty() {
            out.push_str("<auth:ClientCertificate>");
            for issuer in &profile.issuer_thumbprints {
                let _ = write!(
                    out,
                    "<auth:Thumbprint Role=\"issuer\">{}</auth:Thumbprint>",
                    escape_text(issuer)
                );
            }
            for certificate in &profile.certificate_thumbprints {
                let _ = write!(
                    out,
                    "<auth:Thumbprint Role=\"certificate\">{}</auth:Thumbprint>",
                    escape_text(certificate)
                );
            }
            out.push_str("</auth:ClientCertificate>");
        }
        out.push_str("</auth:Authentication></c:All>");
    }
    out.push_str("</c:ExactlyOne></c:Policy>");
}

/// `w:Bookmark`: where delivery starts.
pub fn bookmark(start_at: &StartAt) -> String {
    match start_at {
        StartAt::Earliest => format!("<w:Bookmark>{}</w:Bookmark>", ns::BOOKMARK_EARLIEST),
        StartAt::After(list) => bookmark_after(list),
    }
}

/// `w:Bookmark`: delivery starts after `list`.
pub fn bookmark_after(list: &BookmarkList) -> String {
    format!("<w:Bookmark>{}</w:Bookmark>", list.to_xml())
}

/// After the bookmark, when bookmarks are asked for: `w:SendBookmarks` and the envelope's end.
pub const TAIL_WITH_BOOKMARKS: &str = "<w:SendBookmarks/></e:Subscribe></s:Body></s:Envelope>";

/// After the bookmark: `w:SendBookmarks` when asked for, and the envelope's end.
pub fn tail(request: &SubscribeRequest) -> &'static str {
    if request.send_bookmarks {
        TAIL_WITH_BOOKMARKS
    } else {
        "</e:Subscribe></s:Body></s:Envelope>"
    }
}
