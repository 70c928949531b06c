//! The `e:Subscribe` request, typed: what a subscriber (or a Windows Event Collector's
//! subscription) asks for, checked once so the engines that serve it work on values, not XML.
//!
//! Windows' collectors write `a:ReferenceProperties` where WS-Addressing 2004/08 also allows
//! `a:ReferenceParameters`; both are accepted, and their children are kept as elements so every
//! one can be echoed as a header of each delivery, as WS-Eventing requires.

use std::sync::Arc;
use std::time::Duration;

use wsman_proto::envelope::OptionSet;
use wsman_proto::ns;
use wsman_proto::ns::{
    CERTIFICATE_THUMBPRINT_TOKEN as THUMBPRINT_TOKEN, WSMAN_AUTHENTICATION as AUTHENTICATION_NS,
    WS_POLICY as POLICY_NS, WS_TRUST as TRUST_NS,
};
use wsman_proto::xml::Element;
use wsman_proto::{duration, Request};

use crate::bookmark::{BookmarkError, BookmarkList, EARLIEST};
use crate::event::ContentFormat;
use crate::query::{QueryList, EVENT_QUERY_DIALECT};
use crate::time::Timestamp;
use crate::xpath::QueryError;

/// The delivery modes of WS-Management eventing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryMode {
    /// One event per message, no acknowledgement.
    Push,
    /// One event per message, each acknowledged.
    PushWithAck,
    /// Batches of events, each acknowledged (Windows Event Forwarding).
    Events,
    /// The subscriber pulls with `n:Pull`.
    Pull,
}

impl DeliveryMode {
    pub const PUSH: &'static str = ns::delivery_mode::PUSH;
    pub const PUSH_WITH_ACK: &'static str = ns::delivery_mode::PUSH_WITH_ACK;
    pub const EVENTS: &'static str = ns::delivery_mode::EVENTS;
    pub const PULL: &'static str = ns::delivery_mode::PULL;

    fn from_uri(uri: &str) -> Option<DeliveryMode> {
        match uri {
            Self::PUSH => Some(DeliveryMode::Push),
            Self::PUSH_WITH_ACK => Some(DeliveryMode::PushWithAck),
            Self::EVENTS => Some(DeliveryMode::Events),
            Self::PULL => Some(DeliveryMode::Pull),
            _ => None,
        }
    }

    /// The mode's URI.
    pub fn uri(self) -> &'static str {
        match self {
            DeliveryMode::Push => Self::PUSH,
            DeliveryMode::PushWithAck => Self::PUSH_WITH_ACK,
            DeliveryMode::Events => Self::EVENTS,
            DeliveryMode::Pull => Self::PULL,
        }
    }
}

/// An endpoint reference: where to send, and what to echo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointReference {
    pub address: String,
    /// The children of `ReferenceProperties`/`ReferenceParameters`, each echoed as a header.
    pub reference_parameters: Vec<Element>,
}

/// One authentication the subscriber accepts for push delivery (`c:Policy` of `NotifyTo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticationProfile {
    /// A security profile URI (`.../secprofile/https/mutual`, `.../http/spnego-kerberos`, ...).
    pub profile: String,
    /// For client certificates: thumbprints of the issuers the collector trusts.
    pub issuer_thumbprints: Vec<String>,
    /// For client certificates: thumbprints of certificates the collector takes as they are
    /// (`Role="certificate"`, MS-WSMV's default role).
    pub certificate_thumbprints: Vec<String>,
    /// For `https/mutual`: the SHA-1 thumbprint of the subscriber's own (server) certificate,
    /// given as DSP0226's `wsman:CertificateThumbprint` token; the source trusts exactly that
    /// certificate instead of the system's roots.
    pub subscriber_thumbprint: Option<String>,
}

/// What to do with an event larger than the delivery's envelope size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopePolicy {
    CancelSubscription,
    Skip,
    Notify,
}

/// When the subscription ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expires {
    After(Duration),
    At(Timestamp),
}

/// Where delivery starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// `.../bookmark/earliest`: everything still in the logs.
    Earliest,
    /// After the positions of this list.
    After(BookmarkList),
}

/// A checked Subscribe request.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscribeRequest {
    pub mode: DeliveryMode,
    pub notify_to: Option<EndpointReference>,
    pub end_to: Option<EndpointReference>,
    pub authentication: Vec<AuthenticationProfile>,
    pub heartbeats: Option<Duration>,
    /// Retries of an unreachable subscriber and the interval between them.
    pub connection_retry: Option<(u32, Duration)>,
    pub max_elements: Option<u32>,
    pub max_time: Option<Duration>,
    pub max_envelope_size: Option<(u64, EnvelopePolicy)>,
    /// `UTF-16` asks for UTF-16 deliveries (Windows' collectors do).
    pub utf16: bool,
    pub expires: Option<Expires>,
    /// `None`: every event of every log the subscriber may read. Shared, not copied, by the
    /// feeds that select with it: a large query is a large tree.
    pub filter: Option<Arc<QueryList>>,
    pub start_at: Option<StartAt>,
    pub send_bookmarks: bool,
    pub content_format: ContentFormat,
    pub read_existing_events: bool,
    /// `IgnoreChannelError`: logs the source does not have are skipped instead of refused.
    pub ignore_channel_error: bool,
    /// The `SubscriptionName` option, for logs and status.
    pub name: Option<String>,
    /// The `Compression` option set to `SLDC` (MS-WSMV 3.1.4.1.30.1, its only valid value):
    /// deliveries are SLDC-compressed and sent with `Content-Encoding: SLDC`, as Windows'
    /// forwarders do for the collectors that ask.
    pub compress_sldc: bool,
}

/// Why a Subscribe was refused; each has its WS-Eventing or WS-Management fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("the body is not an e:Subscribe")]
    NotSubscribe,
    /// `e:DeliveryModeRequestedUnavailable`.
    #[error("delivery mode {0:?} is not supported")]
    DeliveryModeUnavailable(String),
    /// `w:FilterDialectRequestedUnavailable`.
    #[error("filter dialect {0:?} is not supported")]
    FilterDialectUnavailable(String),
    /// `w:CannotProcessFilter`.
    #[error("cannot process the filter: {0}")]
    CannotProcessFilter(QueryError),
    /// `e:InvalidExpirationTime`.
    #[error("invalid expiration time {0:?}")]
    InvalidExpirationTime(String),
    /// `w:InvalidBookmark`.
    #[error("{0}")]
    InvalidBookmark(BookmarkError),
    /// `w:InvalidParameter` (or `w:SchemaValidationError`): a value of the wrong form.
    #[error("invalid {element}: {value:?}")]
    InvalidValue {
        element: &'static str,
        value: String,
    },
    /// A push mode without `e:NotifyTo`.
    #[error("delivery mode {0:?} needs e:NotifyTo")]
    NotifyToMissing(&'static str),
}

/// Most reference parameters one EPR may carry (each becomes a delivery header).
const MAX_REFERENCE_PARAMETERS: usize = 16;
/// Most authentication alternatives in one policy.
const MAX_POLICIES: usize = 16;

/// The Subscribe of a parsed request (body and options).
pub fn parse_subscribe(request: &Request) -> Result<SubscribeRequest, SubscribeError> {
    let body = request.body.as_ref().ok_or(SubscribeError::NotSubscribe)?;
    let subscribe = body
        .child(ns::EVENTING, "Subscribe")
        .or_else(|| body.is(ns::EVENTING, "Subscribe").then_some(body))
        .ok_or(SubscribeError::NotSubscribe)?;
    let mut parsed = parse_subscribe_element(subscribe, &request.options)?;
    let notify_to = parsed.notify_to.as_ref().map(|n| n.address.as_str());
    if let Some(address) = notify_to {
        let pinned = subscriber_thumbprint(&request.headers, address)?;
        for profile in &mut parsed.authentication {
            profile.subscriber_thumbprint.clone_from(&pinned);
        }
    }
    Ok(parsed)
}

/// The `wsman:CertificateThumbprint` token of a `wst:IssuedTokens` header (DSP0226 10.2.2)
/// that applies to `address` (or to no address in particular): the certificate the subscriber
/// will present when the source connects.
fn subscriber_thumbprint(
    headers: &[Element],
    address: &str,
) -> Result<Option<String>, SubscribeError> {
    let tokens = headers
        .iter()
        .filter(|h| h.is(TRUST_NS, "IssuedTokens"))
        .flat_map(|h| h.children_named(TRUST_NS, "RequestSecurityTokenResponse"))
        .take(MAX_POLICIES);
    for token in tokens {
        let kind = token
            .child(TRUST_NS, "TokenType")
            .map(Element::trimmed_text);
        if kind.as_deref() != Some(THUMBPRINT_TOKEN) {
            continue;
        }
        // AppliesTo is WS-Policy's; its namespace varies between versions, its EPR does not.
        let applies_to = token
            .elements()
            .find(|e| e.name == "AppliesTo")
            .and_then(|a| a.child(ns::ADDRESSING, "EndpointReference"))
            .and_then(|r| r.child(ns::ADDRESSING, "Address"))
            .map(Element::trimmed_text);
        if applies_to.is_some_and(|a| a != address) {
            continue;
        }
        let Some(value) = token
            .child(TRUST_NS, "RequestedSecurityToken")
            .and_then(|t| t.child(ns::WSMAN, "CertificateThumbprint"))
            .map(Element::trimmed_text)
        else {
            continue;
        };
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.len() != 40 || !compact.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("w:CertificateThumbprint", &value));
        }
        return Ok(Some(compact.to_ascii_uppercase()));
    }
    Ok(None)
}

/// How the subscriber authenticates deliveries: the policies of `NotifyTo`, or else the
/// profile DSP0226 names with `wsman:Auth` in `Delivery`.
fn delivery_authentication(
    delivery: Option<&Element>,
    notify_to: Option<&Element>,
) -> Result<Vec<AuthenticationProfile>, SubscribeError> {
    let mut authentication = notify_to
        .map(authentication_profiles)
        .transpose()?
        .unwrap_or_default();
    if let Some(profile) = delivery
        .and_then(|d| d.child(ns::WSMAN, "Auth"))
        .and_then(|a| a.attr("Profile"))
        .filter(|_| authentication.is_empty())
    {
        authentication.push(AuthenticationProfile {
            profile: profile.to_owned(),
            issuer_thumbprints: Vec::new(),
            certificate_thumbprints: Vec::new(),
            subscriber_thumbprint: None,
        });
    }
    Ok(authentication)
}

/// The `ContentFormat` option: raw XML (`Raw`, or `Events`, read the same) unless `RenderedText`.
fn content_format(options: &OptionSet) -> Result<ContentFormat, SubscribeError> {
    match options
        .get("ContentFormat")
        .and_then(|o| o.value.as_deref())
    {
        None => Ok(ContentFormat::Raw),
        Some(v) if v.eq_ignore_ascii_case("Raw") || v.eq_ignore_ascii_case("Events") => {
            Ok(ContentFormat::Raw)
        }
        Some(v) if v.eq_ignore_ascii_case("RenderedText") => Ok(ContentFormat::RenderedText),
        Some(other) => Err(invalid("ContentFormat", other)),
    }
}

/// The `Compression` option: SLDC (the one accepted) or none.
fn compress_sldc(options: &OptionSet) -> Result<bool, SubscribeError> {
    match options.get("Compression").map(|o| o.value.as_deref()) {
        None => Ok(false),
        Some(Some(v)) if v.trim().eq_ignore_ascii_case("SLDC") => Ok(true),
        Some(other) => Err(invalid("Compression", other.unwrap_or(""))),
    }
}

/// The Subscribe from its `e:Subscribe` element and the request's options.
pub fn parse_subscribe_element(
    subscribe: &Element,
    options: &OptionSet,
) -> Result<SubscribeRequest, SubscribeError> {
    let delivery = subscribe.child(ns::EVENTING, "Delivery");
    let mode_uri = delivery
        .and_then(|d| d.attr("Mode"))
        .unwrap_or(DeliveryMode::PUSH);
    let mode = DeliveryMode::from_uri(mode_uri)
        .ok_or_else(|| SubscribeError::DeliveryModeUnavailable(mode_uri.to_owned()))?;
    let notify_element = delivery.and_then(|d| d.child(ns::EVENTING, "NotifyTo"));
    let notify_to = notify_element.map(endpoint_reference).transpose()?;
    if notify_to.is_none() && mode != DeliveryMode::Pull {
        return Err(SubscribeError::NotifyToMissing(mode.uri()));
    }
    let authentication = delivery_authentication(delivery, notify_element)?;
    let end_to = subscribe
        .child(ns::EVENTING, "EndTo")
        .map(endpoint_reference)
        .transpose()?;

    let wsman_child = |name: &str| delivery.and_then(|d| d.child(ns::WSMAN, name));
    let heartbeats = wsman_child("Heartbeats")
        .map(|e| positive_duration(e, "w:Heartbeats"))
        .transpose()?;
    let max_time = wsman_child("MaxTime")
        .map(|e| positive_duration(e, "w:MaxTime"))
        .transpose()?;
    let connection_retry = wsman_child("ConnectionRetry")
        .map(connection_retry)
        .transpose()?;
    let max_elements = wsman_child("MaxElements")
        .map(|e| {
            let text = e.trimmed_text();
            text.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("w:MaxElements", &text))
        })
        .transpose()?;
    let max_envelope_size = wsman_child("MaxEnvelopeSize")
        .map(max_envelope_size)
        .transpose()?;
    let utf16 = match wsman_child("ContentEncoding").map(|e| e.trimmed_text()) {
        None => false,
        Some(encoding) if encoding.eq_ignore_ascii_case("UTF-8") => false,
        Some(encoding) if encoding.eq_ignore_ascii_case("UTF-16") => true,
        Some(other) => return Err(invalid("w:ContentEncoding", &other)),
    };

    let expires = subscribe
        .child(ns::EVENTING, "Expires")
        .map(|e| parse_expires(&e.trimmed_text()))
        .transpose()?;

    let filter = subscribe
        .child(ns::WSMAN, "Filter")
        .map(event_query)
        .transpose()?
        .map(Arc::new);
    let start_at = subscribe
        .child(ns::WSMAN, "Bookmark")
        .map(start_at)
        .transpose()?;
    let send_bookmarks = subscribe.child(ns::WSMAN, "SendBookmarks").is_some();

    let content_format = content_format(options)?;
    let read_existing_events = options
        .get_bool("ReadExistingEvents")
        .map_err(|_| invalid("ReadExistingEvents", ""))?
        .unwrap_or(false);
    // Windows sends it as a nil option: present means set.
    let ignore_channel_error = options.get("IgnoreChannelError").is_some_and(|o| {
        o.value
            .as_deref()
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"))
    });
    let name = options
        .get("SubscriptionName")
        .and_then(|o| o.value.clone());
    let compress_sldc = compress_sldc(options)?;

    Ok(SubscribeRequest {
        mode,
        notify_to,
        end_to,
        authentication,
        heartbeats,
        connection_retry,
        max_elements,
        max_time,
        max_envelope_size,
        utf16,
        expires,
        filter,
        start_at,
        send_bookmarks,
        content_format,
        read_existing_events,
        ignore_channel_error,
        name,
        compress_sldc,
    })
}

/// `w:ConnectionRetry`: how many retries (`Total`, one by default), how far apart.
fn connection_retry(e: &Element) -> Result<(u32, Duration), SubscribeError> {
    let interval = positive_duration(e, "w:ConnectionRetry")?;
    let total = e
        .attr("Total")
        .unwrap_or("1")
        .trim()
        .parse::<u32>()
        .map_err(|_| invalid("w:ConnectionRetry/@Total", e.attr("Total").unwrap_or("")))?;
    Ok((total, interval))
}

/// `w:MaxEnvelopeSize` of the deliveries and what to do with an event over it.
fn max_envelope_size(e: &Element) -> Result<(u64, EnvelopePolicy), SubscribeError> {
    let text = e.trimmed_text();
    let size = text
        .parse::<u64>()
        .map_err(|_| invalid("w:MaxEnvelopeSize", &text))?;
    let policy = match e.attr("Policy").unwrap_or("Notify") {
        "CancelSubscription" => EnvelopePolicy::CancelSubscription,
        "Skip" => EnvelopePolicy::Skip,
        "Notify" => EnvelopePolicy::Notify,
        other => return Err(invalid("w:MaxEnvelopeSize/@Policy", other)),
    };
    Ok((size, policy))
}

/// `w:Filter`: an event query list, the only dialect served.
fn event_query(f: &Element) -> Result<QueryList, SubscribeError> {
    let dialect = f.attr("Dialect").unwrap_or(EVENT_QUERY_DIALECT);
    if dialect != EVENT_QUERY_DIALECT {
        return Err(SubscribeError::FilterDialectUnavailable(dialect.to_owned()));
    }
    let list = f.elements().next().ok_or_else(|| {
        SubscribeError::CannotProcessFilter(QueryError {
            position: 0,
            reason: "an empty filter".to_owned(),
        })
    })?;
    QueryList::from_element(list).map_err(SubscribeError::CannotProcessFilter)
}

/// `w:Bookmark`: a bookmark list to resume after, or the earliest event.
fn start_at(b: &Element) -> Result<StartAt, SubscribeError> {
    match b.elements().next() {
        Some(list) => BookmarkList::from_element(list)
            .map(StartAt::After)
            .map_err(SubscribeError::InvalidBookmark),
        None if b.trimmed_text() == EARLIEST => Ok(StartAt::Earliest),
        None => Err(SubscribeError::InvalidValue {
            element: "w:Bookmark",
            value: b.trimmed_text(),
        }),
    }
}

/// A SHA-1 thumbprint as text: 40 hexadecimal digits.
fn is_sha1_hex(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn invalid(element: &'static str, value: &str) -> SubscribeError {
    SubscribeError::InvalidValue {
        element,
        value: value.to_owned(),
    }
}

fn positive_duration(e: &Element, element: &'static str) -> Result<Duration, SubscribeError> {
    let text = e.trimmed_text();
    duration::parse(&text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| invalid(element, &text))
}

/// `e:Expires` is an `xs:duration` or an `xs:dateTime`.
fn parse_expires(text: &str) -> Result<Expires, SubscribeError> {
    if text.starts_with('P') {
        return duration::parse(text)
            .filter(|d| !d.is_zero())
            .map(Expires::After)
            .ok_or_else(|| SubscribeError::InvalidExpirationTime(text.to_owned()));
    }
    Timestamp::parse_system_time(text)
        .map(Expires::At)
        .ok_or_else(|| SubscribeError::InvalidExpirationTime(text.to_owned()))
}

fn endpoint_reference(e: &Element) -> Result<EndpointReference, SubscribeError> {
    let address = e
        .child(ns::ADDRESSING, "Address")
        .map(|a| a.trimmed_text())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("a:Address", ""))?;
    let mut reference_parameters = Vec::new();
    for holder in e.elements().filter(|c| {
        c.ns.as_deref() == Some(ns::ADDRESSING)
            && (c.name == "ReferenceProperties" || c.name == "ReferenceParameters")
    }) {
        for parameter in holder.elements() {
            if reference_parameters.len() >= MAX_REFERENCE_PARAMETERS {
                return Err(invalid("a:ReferenceParameters", "too many"));
            }
            reference_parameters.push(parameter.clone());
        }
    }
    Ok(EndpointReference {
        address,
        reference_parameters,
    })
}

fn authentication_profiles(
    notify_to: &Element,
) -> Result<Vec<AuthenticationProfile>, SubscribeError> {
    let mut profiles = Vec::new();
    let Some(policy) = notify_to.child(POLICY_NS, "Policy") else {
        return Ok(profiles);
    };
    for one_of in policy.children_named(POLICY_NS, "ExactlyOne") {
        for all in one_of.children_named(POLICY_NS, "All") {
            for auth in all.children_named(AUTHENTICATION_NS, "Authentication") {
                if profiles.len() >= MAX_POLICIES {
                    return Err(invalid("c:Policy", "too many alternatives"));
                }
                let thumbprints = |issuer: bool| {
                    auth.children_named(AUTHENTICATION_NS, "ClientCertificate")
                        .flat_map(|c| c.children_named(AUTHENTICATION_NS, "Thumbprint"))
                        // MS-WSMV 2.2.4.1: a Thumbprint without Role names the certificate.
                        .filter(|t| (t.attr("Role") == Some("issuer")) == issuer)
                        .map(|t| {
                            let text = t.text();
                            let compact = text.chars().filter(|c| !c.is_whitespace());
                            compact.collect::<String>().to_ascii_uppercase()
                        })
                        .take(MAX_POLICIES)
                        .collect::<Vec<String>>()
                };
                let (issuers, certificates) = (thumbprints(true), thumbprints(false));
                // A thumbprint names a file of the source's `certs/`: 40 hexadecimal digits
                // (a SHA-1), nothing a path could be made of.
                if let Some(bad) = issuers
                    .iter()
                    .chain(&certificates)
                    .find(|t| !is_sha1_hex(t))
                {
                    return Err(invalid("auth:Thumbprint", bad));
                }
                profiles.push(AuthenticationProfile {
                    profile: auth.attr("Profile").unwrap_or("").to_owned(),
                    issuer_thumbprints: issuers,
                    certificate_thumbprints: certificates,
                    subscriber_thumbprint: None,
                });
            }
        }
    }
    Ok(profiles)
}
