//! What a collector's subscription manager offers a forwarder (source-initiated subscriptions,
//! MS-WSMV 2.2.4.41 SubscriptionType): each `m:Subscription` item of its EnumerateResponse,
//! with its `m:Version` and the complete Subscribe envelope the forwarder is to act on.
//!
//! The answer comes from a remote host, so it is read as untrusted: at most
//! [`MAX_OFFERS`] items, each envelope parsed with the protocol crate's XML limits and the
//! Subscribe reader's checks; an item that does not parse is reported on its own and the
//! others are still offered.

use wsman_proto::xml::{Element, Limits};
use wsman_proto::{ns, parse_request};

use crate::subscribe::{parse_subscribe, DeliveryMode, SubscribeError, SubscribeRequest};

/// Namespace of `m:Subscription` and `m:Version`.
pub const SUBSCRIPTION_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/subscription";
/// The resource a forwarder enumerates at the subscription manager.
pub const SUBSCRIPTION_RESOURCE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription";
/// Most subscriptions taken from one answer (Windows collectors offer a handful).
pub const MAX_OFFERS: usize = 256;
/// Longest `m:Version` kept (a GUID with its `uuid:` prefix takes 41).
const MAX_VERSION: usize = 128;

/// One subscription as offered.
#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    /// `m:Version` without its `uuid:` prefix: a new version replaces the running one.
    pub version: String,
    pub subscribe: SubscribeRequest,
}

impl Offer {
    /// What the forwarder keeps the subscription under across versions: its name when the
    /// collector gives one, else its delivery address.
    pub fn key(&self) -> String {
        match (&self.subscribe.name, &self.subscribe.notify_to) {
            (Some(name), _) => name.clone(),
            (None, Some(to)) => to.address.clone(),
            (None, None) => String::new(),
        }
    }
}

/// Why an offered item was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    #[error("the answer is not an EnumerateResponse")]
    NotEnumerateResponse,
    #[error("an item is {0}, not m:Subscription")]
    NotSubscription(String),
    #[error("an m:Subscription has no usable m:Version")]
    NoVersion,
    #[error("an m:Subscription has no s:Envelope")]
    NoEnvelope,
    #[error("the embedded envelope does not parse: {0}")]
    Envelope(String),
    #[error("the embedded Subscribe is refused: {0}")]
    Subscribe(SubscribeError),
    #[error("the subscription asks for {0} delivery; forwarders deliver Events")]
    NotEvents(&'static str),
    #[error("the answer offers more than {MAX_OFFERS} subscriptions; the rest are ignored")]
    TooMany,
}

/// Every item of an EnumerateResponse (`n:EnumerateResponse` or `n:PullResponse`), in order:
/// the offers taken, and why the others were not.
pub fn parse_enumerate_response(body: &Element) -> (Vec<Offer>, Vec<OfferError>) {
    let items = (body.is(ns::ENUMERATION, "EnumerateResponse")
        || body.is(ns::ENUMERATION, "PullResponse"))
    .then(|| {
        body.child(ns::WSMAN, "Items")
            .or_else(|| body.child(ns::ENUMERATION, "Items"))
    });
    let Some(items) = items else {
        return (Vec::new(), vec![OfferError::NotEnumerateResponse]);
    };
    let mut offers = Vec::new();
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().flat_map(Element::elements).enumerate() {
        if index == MAX_OFFERS {
            errors.push(OfferError::TooMany);
            break;
        }
        match parse_offer(item) {
            Ok(offer) => offers.push(offer),
            Err(error) => errors.push(error),
        }
    }
    (offers, errors)
}

/// One `m:Subscription` item.
pub fn parse_offer(item: &Element) -> Result<Offer, OfferError> {
    if !item.is(SUBSCRIPTION_NS, "Subscription") {
        return Err(OfferError::NotSubscription(item.name.clone()));
    }
    let version = item
        .child(SUBSCRIPTION_NS, "Version")
        .map(Element::trimmed_text)
        .map(|v| v.strip_prefix("uuid:").map(str::to_owned).unwrap_or(v))
        .filter(|v| !v.is_empty() && v.len() <= MAX_VERSION)
        .ok_or(OfferError::NoVersion)?;
    let envelope = item
        .child(ns::SOAP, "Envelope")
        .ok_or(OfferError::NoEnvelope)?;
    // The envelope read as a request of its own, so its options (SubscriptionName,
    // ContentFormat, ReadExistingEvents, ...) are read as a Subscribe's always are.
    let request = parse_request(&envelope.to_xml(), &Limits::default())
        .map_err(|e| OfferError::Envelope(e.to_string()))?;
    let subscribe = parse_subscribe(&request).map_err(OfferError::Subscribe)?;
    if subscribe.mode != DeliveryMode::Events {
        return Err(OfferError::NotEvents(subscribe.mode.uri()));
    }
    Ok(Offer { version, subscribe })
}
