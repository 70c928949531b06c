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

use std::time::Duration;

use wsman_events::subscribe::{
    AuthenticationProfile, EndpointReference, EnvelopePolicy, SubscribeRequest,
};
use wsman_events::subscribe_writer as writer;
use wsman_events::{BookmarkList, DeliveryMode};
use wsman_proto::ns::{self, secprofile};
use wsman_proto::xml::{escape_attr, Element, Node};

use crate::subscriptions::Subscription;

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

/// The delivery address of `subscription` under `base`.
pub fn delivery_address(base: &str, subscription: &Subscription) -> String {
    format!("{base}/subscriptions/{}/1", subscription.identifier)
}

/// An `m:Subscription` item rendered once for one subscription version, delivery base and
/// authentication, with the holes a forwarder's offer fills ([`ItemTemplate::render`]): the
/// message and operation ids, `ReadExistingEvents` (only without a bookmark) and the
/// bookmark. Why: a fleet enumerates at every refresh, and the rest of the item (query,
/// options, policy) is the same for every forwarder until the subscription changes.
#[derive(Clone, Debug)]
pub struct ItemTemplate {
    /// Up to `<a:MessageID>`.
    head: String,
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
        let request = subscribe_request(subscription, base, auth);
        ItemTemplate {
            head: format!(
                "<m:Subscription xmlns:m=\"{}\"><m:Version>uuid:{}</m:Version>{}",
                ns::SUBSCRIPTION,
                subscription.version,
                writer::head()
            ),
            options: writer::options(&request),
            read_existing: request.read_existing_events,
            body: writer::body(&request),
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
        out.push_str(writer::BETWEEN_IDS);
        out.push_str(&escape_attr(operation_id));
        out.push_str(&self.options);
        if self.read_existing && bookmark.is_none() {
            out.push_str(writer::READ_EXISTING);
        }
        out.push_str(&self.body);
        if let Some(bookmark) = bookmark {
            out.push_str(&writer::bookmark_after(bookmark));
        }
        out.push_str(writer::TAIL_WITH_BOOKMARKS);
        out.push_str("</m:Subscription>");
        out
    }
}

/// The `e:Identifier` reference parameter naming a subscription's `version`: a forwarder sends
/// it back with each delivery, and a delivery naming an older version is refused.
pub fn version_identifier(version: &str) -> Element {
    let mut identifier = Element::new(Some(ns::EVENTING), "Identifier");
    identifier.prefix = Some("e".to_owned());
    identifier.children.push(Node::Text(version.to_owned()));
    identifier
}

/// The Subscribe a forwarder is to act on: Events delivery to the subscription's address,
/// with the `e:Identifier` of its version, as Windows' collector asks (heartbeats, batching,
/// five retries a minute apart, UTF-16, SLDC, bookmarks).
fn subscribe_request(
    subscription: &Subscription,
    base: &str,
    auth: &DeliveryAuth,
) -> SubscribeRequest {
    let to = EndpointReference {
        address: delivery_address(base, subscription),
        reference_parameters: vec![version_identifier(&subscription.version)],
    };
    let (profile, issuers) = match auth {
        DeliveryAuth::Kerberos => (secprofile::HTTP_SPNEGO_KERBEROS, Vec::new()),
        DeliveryAuth::Basic { https: true } => (secprofile::HTTPS_BASIC, Vec::new()),
        DeliveryAuth::Basic { https: false } => (secprofile::HTTP_BASIC, Vec::new()),
        DeliveryAuth::Certificate { issuers } => (secprofile::HTTPS_MUTUAL, issuers.clone()),
    };
    SubscribeRequest {
        mode: DeliveryMode::Events,
        notify_to: Some(to.clone()),
        end_to: Some(to),
        authentication: vec![AuthenticationProfile {
            profile: profile.to_owned(),
            issuer_thumbprints: issuers,
            certificate_thumbprints: Vec::new(),
            subscriber_thumbprint: None,
        }],
        heartbeats: Some(subscription.heartbeat),
        connection_retry: Some((5, Duration::from_secs(60))),
        max_elements: subscription.max_items,
        max_time: Some(subscription.max_latency),
        max_envelope_size: Some((512_000, EnvelopePolicy::Notify)),
        utf16: true,
        expires: None,
        filter: Some(subscription.filter.clone()),
        start_at: None,
        send_bookmarks: true,
        content_format: subscription.content_format,
        read_existing_events: subscription.read_existing_events,
        ignore_channel_error: true,
        name: Some(subscription.name.clone()),
        compress_sldc: true,
    }
}
