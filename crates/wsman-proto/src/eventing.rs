//! The event source's answers to WS-Eventing: SubscribeResponse with the subscription
//! manager's endpoint reference, and the headers a subscription's requests carry.
//!
//! A pull subscription's events travel in a WS-Enumeration PullResponse
//! ([`crate::enumeration::pull_response`]) on the EnumerationContext handed out here; the
//! bookmark, when the subscriber asked for bookmarks, goes in the response header
//! ([`bookmark_header`]) as it does on every push delivery.

use std::fmt::Write as _;

use crate::ns;
use crate::xml::escape_text;
use crate::Request;

pub use crate::ns::EVENT_LOG_URI;

/// What a SubscribeResponse tells the subscriber.
#[derive(Clone, Copy, Debug)]
pub struct Subscribed<'a> {
    /// Where Renew, GetStatus and Unsubscribe go: the address the client used.
    pub manager_address: &'a str,
    /// The `e:Identifier` reference parameter of the subscription manager.
    pub identifier: &'a str,
    /// `e:Expires` as an `xs:dateTime` (the source's actual expiry, which may be earlier than
    /// asked for).
    pub expires: &'a str,
    /// The EnumerationContext to pull with (Pull delivery only).
    pub enumeration_context: Option<&'a str>,
}

/// The `e:SubscribeResponse` body.
pub fn subscribe_response(s: &Subscribed<'_>) -> String {
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "<e:SubscribeResponse><e:SubscriptionManager><a:Address>{}</a:Address><a:ReferenceParameters><w:ResourceURI>{EVENT_LOG_URI}</w:ResourceURI><e:Identifier>{}</e:Identifier></a:ReferenceParameters></e:SubscriptionManager><e:Expires>{}</e:Expires>",
        escape_text(s.manager_address),
        escape_text(s.identifier),
        escape_text(s.expires),
    );
    if let Some(context) = s.enumeration_context {
        let _ = write!(
            out,
            "<n:EnumerationContext>{}</n:EnumerationContext>",
            escape_text(context)
        );
    }
    out.push_str("</e:SubscribeResponse>");
    out
}

/// The `e:Identifier` header of a request to a subscription manager (its reference parameter,
/// which WS-Addressing turns into a header).
pub fn identifier(request: &Request) -> Option<String> {
    request
        .headers
        .iter()
        .find(|h| h.is(ns::EVENTING, "Identifier"))
        .map(|h| h.trimmed_text())
        .filter(|id| !id.is_empty())
}

/// The `w:Bookmark` header block around a serialised `BookmarkList`.
pub fn bookmark_header(bookmark_list_xml: &str) -> String {
    format!("<w:Bookmark>{bookmark_list_xml}</w:Bookmark>")
}
