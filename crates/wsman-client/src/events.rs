//! WS-Eventing from the client side, Pull delivery: subscribe to a host's event logs, pull
//! batches of events with the bookmark after them, and end the subscription.
//!
//! Works with wsmand and with Windows hosts (the `EventLog` resource, the event query dialect
//! and Pull mode are Windows' own).

use std::fmt::Write as _;
use std::time::Duration;

use wsman_proto::eventing::EVENT_LOG_URI;
use wsman_proto::ns::{self, action};
use wsman_proto::xml::{self, escape_attr, escape_text, Element, Limits};

use crate::client::{Client, Resource};
use crate::error::ClientError;

use wsman_proto::ns::{
    delivery_mode::PULL as PULL_MODE, BOOKMARK_EARLIEST as EARLIEST, EVENT_QUERY_DIALECT,
};
/// `ERROR_WSMAN_ENUMERATE_TIMED_OUT`: a pull that found nothing within its MaxTime.
const ENUMERATE_TIMED_OUT: u32 = 2150858780;

/// What to subscribe to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// A `QueryList` document (see [`query_list`]).
    pub query: String,
    /// Start with the events already in the logs (else with the next one).
    pub read_existing: bool,
    /// How long the subscription should live (the source may shorten it).
    pub expires: Option<Duration>,
    /// Ask for the bookmark after each batch.
    pub send_bookmarks: bool,
}

/// A `QueryList` selecting `xpath` (`*` for everything) in the log `log`.
pub fn query_list(log: &str, xpath: &str) -> String {
    format!(
        "<QueryList><Query Id=\"0\"><Select Path=\"{}\">{}</Select></Query></QueryList>",
        escape_attr(log),
        escape_text(xpath)
    )
}

/// A live pull subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullSubscription {
    /// The subscription manager's `e:Identifier` (Unsubscribe).
    pub identifier: String,
    /// The EnumerationContext to pull with.
    pub context: String,
    /// When the source will end it, as it said.
    pub expires: String,
}

/// One pulled batch.
#[derive(Clone, Debug)]
pub struct EventBatch {
    /// The `Event` elements, in order.
    pub events: Vec<Element>,
    /// The `BookmarkList` after them, serialised, when bookmarks were asked for.
    pub bookmark: Option<String>,
}

fn subscribe_body(o: &SubscribeOptions) -> String {
    let mut out = String::new();
    let _ = write!(out, "<e:Subscribe><e:Delivery Mode=\"{PULL_MODE}\"/>");
    if let Some(d) = o.expires {
        let _ = write!(
            out,
            "<e:Expires>{}</e:Expires>",
            wsman_proto::duration::format(d)
        );
    }
    let _ = write!(
        out,
        "<w:Filter Dialect=\"{EVENT_QUERY_DIALECT}\">{}</w:Filter>",
        o.query
    );
    if o.read_existing {
        let _ = write!(out, "<w:Bookmark>{EARLIEST}</w:Bookmark>");
    }
    if o.send_bookmarks {
        out.push_str("<w:SendBookmarks/>");
    }
    out.push_str("</e:Subscribe>");
    out
}

impl Client {
    /// Subscribe to the event logs in Pull mode.
    pub async fn subscribe_pull(
        &self,
        options: &SubscribeOptions,
    ) -> Result<PullSubscription, ClientError> {
        xml::parse(&options.query, &Limits::default())
            .map_err(|e| ClientError::configuration(format!("the query is not XML: {e}")))?;
        let header = self.request_header(action::SUBSCRIBE, &Resource::new(EVENT_LOG_URI));
        let body = self
            .send(&header, &subscribe_body(options))
            .await?
            .filter(|b| b.is(ns::EVENTING, "SubscribeResponse"))
            .ok_or_else(|| ClientError::protocol("expected e:SubscribeResponse"))?;
        let identifier = body
            .child(ns::EVENTING, "SubscriptionManager")
            .and_then(|m| m.child(ns::ADDRESSING, "ReferenceParameters"))
            .and_then(|p| p.child(ns::EVENTING, "Identifier"))
            .map(Element::trimmed_text)
            .ok_or_else(|| ClientError::protocol("the SubscribeResponse has no e:Identifier"))?;
        let context = body
            .child(ns::ENUMERATION, "EnumerationContext")
            .map(Element::trimmed_text)
            .ok_or_else(|| {
                ClientError::protocol("the SubscribeResponse has no EnumerationContext")
            })?;
        let expires = body
            .child(ns::EVENTING, "Expires")
            .map(Element::trimmed_text)
            .unwrap_or_default();
        Ok(PullSubscription {
            identifier,
            context,
            expires,
        })
    }

    /// Up to `max_elements` events, waiting up to `max_time` for the first; `None` when none
    /// came in that time.
    pub async fn pull_events(
        &self,
        subscription: &PullSubscription,
        max_elements: u32,
        max_time: Duration,
    ) -> Result<Option<EventBatch>, ClientError> {
        let header = self.request_header(action::PULL, &Resource::new(EVENT_LOG_URI));
        let body = format!(
            "<n:Pull><n:EnumerationContext>{}</n:EnumerationContext><n:MaxTime>{}</n:MaxTime><n:MaxElements>{max_elements}</n:MaxElements></n:Pull>",
            escape_text(&subscription.context),
            wsman_proto::duration::format(max_time)
        );
        let reply = self.send_raw(&header, &body).await?;
        let pulled = match crate::response::interpret(&reply, Some(&header.message_id)) {
            Ok(body) => body,
            Err(ClientError::Fault {
                wsman_code: Some(ENUMERATE_TIMED_OUT),
                ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let items = pulled
            .as_ref()
            .filter(|b| b.is(ns::ENUMERATION, "PullResponse"))
            .and_then(|b| b.child(ns::ENUMERATION, "Items"))
            .ok_or_else(|| ClientError::protocol("expected n:PullResponse with n:Items"))?;
        let events = items.elements().cloned().collect();
        Ok(Some(EventBatch {
            events,
            bookmark: bookmark_of(&reply),
        }))
    }

    /// End the subscription (Unsubscribe to its manager).
    pub async fn unsubscribe(&self, subscription: &PullSubscription) -> Result<(), ClientError> {
        let mut header = self.request_header(action::UNSUBSCRIBE, &Resource::new(EVENT_LOG_URI));
        header.subscription_identifier = Some(subscription.identifier.clone());
        self.send(&header, "<e:Unsubscribe/>").await.map(|_| ())
    }
}

/// The `BookmarkList` in a PullResponse's `w:Bookmark` header.
fn bookmark_of(reply: &crate::transport::HttpReply) -> Option<String> {
    let charset = reply
        .content_type
        .as_deref()
        .and_then(wsman_proto::charset::charset_param);
    let (text, _) = wsman_proto::charset::decode(&reply.body, charset).ok()?;
    let root = xml::parse(&text, &Limits::default()).ok()?;
    let bookmark = root
        .child(ns::SOAP, "Header")?
        .child(ns::WSMAN, "Bookmark")?
        .elements()
        .next()
        .map(Element::to_xml);
    bookmark
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subscribe_body_parses_as_the_source_reads_it() {
        let body = subscribe_body(&SubscribeOptions {
            query: query_list("Application", "*[System[(Level=2)]] and *[System[Level<3]]"),
            read_existing: true,
            expires: Some(Duration::from_secs(600)),
            send_bookmarks: true,
        });
        let envelope = wsman_proto::request::envelope(
            &wsman_proto::request::RequestHeader::new(
                "http://h/wsman",
                action::SUBSCRIBE,
                EVENT_LOG_URI,
                "uuid:00000000-0000-4000-8000-000000000001",
            ),
            &body,
        );
        let request = wsman_proto::parse_request(&envelope, &Limits::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let subscribe = request.body.unwrap_or_else(|| panic!("no body"));
        assert!(subscribe.is(ns::EVENTING, "Subscribe"));
        let filter = subscribe
            .child(ns::WSMAN, "Filter")
            .unwrap_or_else(|| panic!("no filter"));
        assert_eq!(filter.attr("Dialect"), Some(EVENT_QUERY_DIALECT));
        let select = filter
            .elements()
            .next()
            .and_then(|q| q.elements().next())
            .and_then(|q| q.elements().next())
            .unwrap_or_else(|| panic!("no Select"));
        assert_eq!(
            select.trimmed_text(),
            "*[System[(Level=2)]] and *[System[Level<3]]"
        );
        assert!(subscribe.child(ns::WSMAN, "SendBookmarks").is_some());
    }
}
