//! Push delivery of event subscriptions over this daemon's HTTP client: the event source
//! ([`wsman_eventsource::push`]) decides what to send and when; this opens the subscriber's
//! address with `wsman-client`, so deliveries share its one HTTP and TLS stack.
//!
//! Only what can be honoured is accepted: an `http://` or `https://` address (HTTPS checked
//! against the system's roots) and no authentication profile. A subscriber that asks the
//! source to authenticate (Kerberos, a client certificate) is refused at Subscribe, naming the
//! profile, rather than sent events it would reject.

use wsman_client::{Client, ClientOptions, Endpoint};
use wsman_events::subscribe::{AuthenticationProfile, EndpointReference};
use wsman_eventsource::push::{Connector, DeliveryError, DeliveryFuture, Subscriber};

/// Why a subscriber cannot be delivered to.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SubscriberError {
    #[error("the subscriber asks the source to authenticate with {0}, which this source does not do for push delivery; subscribe without an authentication profile, or pull")]
    Authentication(String),
    #[error(transparent)]
    Client(#[from] wsman_client::ClientError),
}

/// Opens subscribers with `wsman-client`.
#[derive(Debug, Default)]
pub(crate) struct HttpConnector;

impl Connector for HttpConnector {
    fn connect(
        &self,
        to: &EndpointReference,
        authentication: &[AuthenticationProfile],
    ) -> Result<Box<dyn Subscriber>, DeliveryError> {
        if let Some(profile) = authentication.first() {
            return Err(SubscriberError::Authentication(profile.profile.clone()).into());
        }
        let endpoint = Endpoint::parse(&to.address, false).map_err(SubscriberError::from)?;
        let client =
            Client::new(endpoint, ClientOptions::default()).map_err(SubscriberError::from)?;
        Ok(Box::new(HttpSubscriber { client }))
    }
}

/// One subscriber address over a `wsman-client` connection pool.
pub(crate) struct HttpSubscriber {
    client: Client,
}

impl HttpSubscriber {
    pub(crate) fn new(client: Client) -> HttpSubscriber {
        HttpSubscriber { client }
    }
}

impl Subscriber for HttpSubscriber {
    fn send<'a>(
        &'a self,
        body: Vec<u8>,
        content_type: &'static str,
        content_encoding: Option<&'static str>,
        message_id: &'a str,
    ) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let reply = self
                .client
                .deliver(body, content_type, content_encoding, message_id)
                .await
                .map_err(SubscriberError::from)?;
            Ok(reply.action)
        })
    }
}
