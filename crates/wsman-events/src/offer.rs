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
pub const SUBSCRIPTION_NS: &str = ns::SUBSCRIPTION;
/// The resource a forwarder enumerates at the subscription manager.
pub const SUBSCRIPTION_RESOURCE: &str = ns::SUBSCRIPTION_RESOURCE;
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
    #[error(
        "the answer offers more than {MAX_OFFERS} subscriptions or pages; the rest are ignored"
    )]
    TooMany,
}

/// Every item of an EnumerateResponse (`n:EnumerateResponse` or `n:PullResponse`), in order:
/// the offers taken, and why the others were not.
pub fn parse_enumerate_response(body: &Element) -> (Vec<Offer>, Vec<OfferError>) {
    let mut pages = OfferPages::default();
    pages.read(body);
    (pages.offers, pages.errors)
}

/// The offers of an answer read page by page: the EnumerateResponse, then each PullResponse
/// while the collector gives a context, as a collector pages an answer larger than the
/// forwarder's MaxEnvelopeSize. At most [`MAX_OFFERS`] items and as many pages in all, so a
/// collector that pages forever is not followed forever.
#[derive(Debug, Default)]
pub struct OfferPages {
    pub offers: Vec<Offer>,
    pub errors: Vec<OfferError>,
    items: usize,
    pages: usize,
}

impl OfferPages {
    /// Read one page; the context to Pull the next one with, `None` after the last (an
    /// EndOfSequence, no or an empty context, an answer that is not one, or past the bounds).
    pub fn read(&mut self, body: &Element) -> Option<String> {
        let is_enumerate = body.is(ns::ENUMERATION, "EnumerateResponse");
        if !is_enumerate && !body.is(ns::ENUMERATION, "PullResponse") {
            self.errors.push(OfferError::NotEnumerateResponse);
            return None;
        }
        self.pages += 1;
        let items = body
            .child(ns::WSMAN, "Items")
            .or_else(|| body.child(ns::ENUMERATION, "Items"));
        for item in items.into_iter().flat_map(Element::elements) {
            if self.items == MAX_OFFERS {
                self.errors.push(OfferError::TooMany);
                return None;
            }
            self.items += 1;
            match parse_offer(item) {
                Ok(offer) => self.offers.push(offer),
                Err(error) => self.errors.push(error),
            }
        }
        let end = body.child(ns::WSMAN, "EndOfSequence").is_some()
            || body.child(ns::ENUMERATION, "EndOfSequence").is_some();
        let context = body
            .child(ns::ENUMERATION, "EnumerationContext")
            .map(Element::trimmed_text)
            .filter(|c| !c.is_empty() && !end)?;
        if self.pages >= MAX_OFFERS {
            self.errors.push(OfferError::TooMany);
            return None;
        }
        Some(context)
    }
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
