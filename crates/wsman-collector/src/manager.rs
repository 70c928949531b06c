//! The subscription manager's answer to a forwarder's Enumerate: every subscription it may
//! have, each an `m:Subscription` with its `m:Version` and a complete Subscribe envelope.
//!
//! The shape is that of a Windows collector's answer as openwec's `doc/protocol.md` records
//! it (MS-WSMV 2.2.4.41 SubscriptionType): an empty `n:EnumerationContext` and
//! `w:EndOfSequence` when it fits one envelope (the server pages a larger one), the EventLog
//! resource, the WEF options (`SubscriptionName`, `Compression` SLDC, `CDATA`,
//! `ContentFormat`, `IgnoreChannelError`, `ReadExistingEvents`), NotifyTo and EndTo at
//! `/wsman/subscriptions/<identifier>/1` with the version as `e:Identifier`, the
//! authentication policy the forwarder must use there, heartbeats, batching, UTF-16, and the
//! forwarder's stored bookmark. Message ids are passed in: no randomness here.

use std::fmt::Write as _;

use wsman_events::{BookmarkList, ContentFormat};
use wsman_proto::xml::escape_attr;

use crate::subscriptions::Subscription;

const EVENT_LOG_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog";
const SUBSCRIPTION_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/subscription";
const PROFILE_KERBEROS: &str =
    "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos";
const PROFILE_MUTUAL: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual";
const PROFILE_BASIC_HTTPS: &str =
    "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic";
const PROFILE_BASIC_HTTP: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic";

/// How the forwarder must authenticate its deliveries: as it authenticated the Enumerate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryAuth {
    /// Kerberos (SPNEGO), Windows' default for domain members.
    Kerberos,
    /// A client certificate issued by one of these CAs (SHA-1 thumbprints, lower case hex).
    Certificate { issuers: Vec<String> },
    /// Basic, for forwarders with a service account (not Windows: its forwarders use only
    /// Kerberos or certificates); `https` says which profile.
    Basic { https: bool },
}

/// What one subscription item needs besides the subscription.
#[derive(Clone, Debug)]
pub struct Offer<'a> {
    /// `scheme://host:port` + URL prefix the forwarder addressed (`https://c:5986/wsman`).
    pub base: &'a str,
    pub auth: &'a DeliveryAuth,
    /// The forwarder's stored position, if it delivered before.
    pub bookmark: Option<&'a BookmarkList>,
    pub message_id: &'a str,
    pub operation_id: &'a str,
}

/// The delivery address of `subscription` under `base`.
pub fn delivery_address(base: &str, subscription: &Subscription) -> String {
    format!("{base}/subscriptions/{}/1", subscription.identifier)
}

/// One `m:Subscription` item.
pub fn subscription_item(subscription: &Subscription, offer: &Offer<'_>) -> String {
    ItemTemplate::new(subscription, offer.base, offer.auth).render(
        offer.bookmark,
        offer.message_id,
        offer.operation_id,
    )
}

/// The end of every item, after the bookmark.
const ITEM_TAIL: &str = "<w:SendBookmarks/></e:Subscribe></s:Body></s:Envelope></m:Subscription>";

/// An `m:Subscription` item rendered once for one subscription version, delivery base and
/// authentication, with the holes a forwarder's offer fills ([`ItemTemplate::render`]): the
/// message and operation ids, `ReadExistingEvents` (only without a bookmark) and the
/// bookmark. Why: a fleet enumerates at every refresh, and the rest of the item (query,
/// options, policy) is the same for every forwarder until the subscription changes.
#[derive(Clone, Debug)]
pub struct ItemTemplate {
    /// Up to `<a:MessageID>`.
    head: String,
    /// Between the message id and the operation id.
    between_ids: String,
    /// From the operation id to the option set's last fixed option.
    options: String,
    /// Whether an offer without a bookmark asks for the events already in the logs.
    read_existing: bool,
    /// From the option set's end to the filter; the bookmark, if any, follows.
    body: String,
}

impl ItemTemplate {
    /// The parts of `subscription`'s item delivered under `base` with `auth`.
    pub fn new(subscription: &Subscription, base: &str, auth: &DeliveryAuth) -> ItemTemplate {
        let address = escape_attr(&delivery_address(base, subscription)).into_owned();
        let identifier = &subscription.version;
        let head = format!(
            "<m:Subscription xmlns:m=\"{SUBSCRIPTION_NS}\"><m:Version>uuid:{identifier}</m:Version>\
         <s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" \
         xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
         xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\"><s:Header>\
         <a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>\
         <w:ResourceURI s:mustUnderstand=\"true\">{EVENT_LOG_URI}</w:ResourceURI>\
         <a:ReplyTo><a:Address s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>\
         <a:Action s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe</a:Action>\
         <w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000</w:MaxEnvelopeSize>\
         <a:MessageID>",
        );
        let between_ids = "</a:MessageID>\
         <w:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>\
         <p:DataLocale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>\
         <p:OperationID s:mustUnderstand=\"false\">"
            .to_owned();
        let options = format!(
            "</p:OperationID>\
         <p:SequenceId s:mustUnderstand=\"false\">1</p:SequenceId>\
         <w:OptionSet xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
         <w:Option Name=\"SubscriptionName\">{}</w:Option>\
         <w:Option Name=\"Compression\">SLDC</w:Option>\
         <w:Option Name=\"CDATA\" xsi:nil=\"true\"/>\
         <w:Option Name=\"ContentFormat\">{}</w:Option>\
         <w:Option Name=\"IgnoreChannelError\" xsi:nil=\"true\"/>",
            escape_attr(&subscription.name),
            match subscription.content_format {
                ContentFormat::Raw => "Raw",
                ContentFormat::RenderedText => "RenderedText",
            },
        );
        let mut out = String::with_capacity(4096);
        let _ = write!(
            out,
            "</w:OptionSet></s:Header><s:Body><e:Subscribe>\
             <e:EndTo><a:Address>{address}</a:Address><a:ReferenceProperties><e:Identifier>{identifier}</e:Identifier></a:ReferenceProperties></e:EndTo>\
             <e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\">\
             <w:Heartbeats>PT{}.000S</w:Heartbeats>\
             <e:NotifyTo><a:Address>{address}</a:Address><a:ReferenceProperties><e:Identifier>{identifier}</e:Identifier></a:ReferenceProperties>\
             <c:Policy xmlns:c=\"http://schemas.xmlsoap.org/ws/2002/12/policy\" xmlns:auth=\"http://schemas.microsoft.com/wbem/wsman/1/authentication\"><c:ExactlyOne><c:All>",
            subscription.heartbeat.as_secs(),
        );
        match auth {
            DeliveryAuth::Kerberos => {
                let _ = write!(
                    out,
                    "<auth:Authentication Profile=\"{PROFILE_KERBEROS}\"></auth:Authentication>"
                );
            }
            DeliveryAuth::Basic { https } => {
                let profile = if *https {
                    PROFILE_BASIC_HTTPS
                } else {
                    PROFILE_BASIC_HTTP
                };
                let _ = write!(
                    out,
                    "<auth:Authentication Profile=\"{profile}\"></auth:Authentication>"
                );
            }
            DeliveryAuth::Certificate { issuers } => {
                let _ = write!(
                    out,
                    "<auth:Authentication Profile=\"{PROFILE_MUTUAL}\"><auth:ClientCertificate>"
                );
                for issuer in issuers {
                    let _ = write!(
                        out,
                        "<auth:Thumbprint Role=\"issuer\">{}</auth:Thumbprint>",
                        escape_attr(issuer)
                    );
                }
                out.push_str("</auth:ClientCertificate></auth:Authentication>");
            }
        }
        out.push_str("</c:All></c:ExactlyOne></c:Policy></e:NotifyTo>");
        out.push_str("<w:ConnectionRetry Total=\"5\">PT60.0S</w:ConnectionRetry>");
        if let Some(items) = subscription.max_items {
            let _ = write!(out, "<w:MaxElements>{items}</w:MaxElements>");
        }
        let _ = write!(
            out,
            "<w:MaxTime>PT{}.000S</w:MaxTime>\
             <w:MaxEnvelopeSize Policy=\"Notify\">512000</w:MaxEnvelopeSize>\
             <w:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>\
             <p:DataLocale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>\
             <w:ContentEncoding>UTF-16</w:ContentEncoding></e:Delivery>\
             <w:Filter Dialect=\"http://schemas.microsoft.com/win/2004/08/events/eventquery\">{}</w:Filter>",
            subscription.max_latency.as_secs(),
            subscription.query.trim(),
        );
        ItemTemplate {
            head,
            between_ids,
            options,
            read_existing: subscription.read_existing_events,
            body: out,
        }
    }

    /// The item for one offer: these ids and this forwarder's stored bookmark.
    pub fn render(
        &self,
        bookmark: Option<&BookmarkList>,
        message_id: &str,
        operation_id: &str,
    ) -> String {
        let mut out =
            String::with_capacity(self.head.len() + self.options.len() + self.body.len() + 512);
        out.push_str(&self.head);
        out.push_str(&escape_attr(message_id));
        out.push_str(&self.between_ids);
        out.push_str(&escape_attr(operation_id));
        out.push_str(&self.options);
        if self.read_existing && bookmark.is_none() {
            out.push_str("<w:Option Name=\"ReadExistingEvents\">true</w:Option>");
        }
        out.push_str(&self.body);
        if let Some(bookmark) = bookmark {
            let _ = write!(out, "<w:Bookmark>{}</w:Bookmark>", bookmark.to_xml());
        }
        out.push_str(ITEM_TAIL);
        out
    }
}

/// The EnumerateResponse body of an answer that fits one envelope: the items, an empty
/// context and EndOfSequence (a larger answer is paged by the server, with a context).
pub fn enumerate_response_body(items: &[String]) -> String {
    wsman_proto::enumeration::enumerate_response(None, Some(items), true)
}
