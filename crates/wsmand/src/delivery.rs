//! Push delivery of event subscriptions over this daemon's HTTP client: the event source
//! ([`wsman_eventsource::push`]) decides what to send and when; this opens the subscriber's
//! address with `wsman-client`, so deliveries share its one HTTP and TLS stack.
//!
//! Only what can be honoured is accepted: an `http://` or `https://` address (HTTPS checked
//! against the system's roots, or against the subscriber's own certificate when the Subscribe
//! names its thumbprint), and of the authentication profiles the subscriber offers the first
//! this source can do:
//!
//! - `https/mutual`: the client certificate of `certs/` the policy names (`Role="certificate"`)
//!   or one issued by a CA it names (`Role="issuer"`), as a Windows source picks one from its
//!   machine store;
//! - `http/spnego-kerberos`, `https/spnego-kerberos`: Kerberos (SPNEGO) with the daemon's own
//!   credentials to `HTTP/<host>`, bodies sealed over HTTP as WinRM seals them.
//!
//! Any other profile is refused at Subscribe, naming it, rather than sent events the
//! subscriber would reject. A subscriber that later refuses the credentials (HTTP 401 or 403)
//! or is not the certificate named ends the subscription at once ([`CredentialsRefused`]).

use std::path::PathBuf;

use wsman_client::tls::ClientCertificate;
use wsman_client::{
    Auth, Client, ClientError, ClientOptions, Endpoint, KerberosAuth, KerberosScheme,
};
use wsman_events::subscribe::{AuthenticationProfile, EndpointReference};
use wsman_eventsource::push::{
    Connector, CredentialsRefused, DeliveryError, DeliveryFuture, DeliveryRefused, Subscriber,
};

use wsman_proto::ns::secprofile::{
    HTTPS_MUTUAL as PROFILE_MUTUAL, HTTPS_SPNEGO_KERBEROS as PROFILE_KERBEROS_HTTPS,
    HTTP_SPNEGO_KERBEROS as PROFILE_KERBEROS_HTTP,
};

/// Why a subscriber cannot be delivered to.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SubscriberError {
    #[error("the subscriber asks the source to authenticate with {0}, which this source does not do for push delivery; subscribe with https/mutual or spnego-kerberos, without an authentication profile, or pull")]
    Authentication(String),
    #[error("the subscriber asks for a client certificate ({0}), which needs an https:// address")]
    CertificateOverHttp(String),
    #[error("no client certificate for the subscriber: {0}")]
    NoCertificate(String),
    #[error(transparent)]
    Client(Box<ClientError>),
}

impl From<ClientError> for SubscriberError {
    fn from(error: ClientError) -> Self {
        SubscriberError::Client(Box::new(error))
    }
}

/// Opens subscribers with `wsman-client`; client certificates come from `certs_dir`.
#[derive(Debug)]
pub(crate) struct HttpConnector {
    certs_dir: PathBuf,
}

impl HttpConnector {
    pub(crate) fn new(certs_dir: PathBuf) -> HttpConnector {
        HttpConnector { certs_dir }
    }

    /// The client options of the first profile this source can do.
    fn options(
        &self,
        address: &str,
        authentication: &[AuthenticationProfile],
    ) -> Result<ClientOptions, SubscriberError> {
        let mut options = ClientOptions::default();
        let Some(first) = authentication.first() else {
            return Ok(options);
        };
        let usable = authentication.iter().find(|p| {
            [
                PROFILE_MUTUAL,
                PROFILE_KERBEROS_HTTP,
                PROFILE_KERBEROS_HTTPS,
            ]
            .contains(&p.profile.as_str())
        });
        let Some(profile) = usable else {
            return Err(SubscriberError::Authentication(first.profile.clone()));
        };
        options.tls.server_thumbprint = profile.subscriber_thumbprint.clone();
        if profile.profile == PROFILE_MUTUAL {
            let https = address
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
            if !https {
                return Err(SubscriberError::CertificateOverHttp(address.to_owned()));
            }
            options.auth = Auth::Certificate;
            options.tls.client_certificate = Some(self.client_certificate(profile)?);
        } else {
            options.auth =
                Auth::Kerberos(KerberosAuth::from_ccache().with_scheme(KerberosScheme::Negotiate));
        }
        Ok(options)
    }

    /// The certificate the policy names, else the first issued by a CA it names.
    fn client_certificate(
        &self,
        profile: &AuthenticationProfile,
    ) -> Result<ClientCertificate, SubscriberError> {
        let named = profile
            .certificate_thumbprints
            .iter()
            .find_map(|t| ClientCertificate::from_directory(&self.certs_dir, t).ok());
        let issued = || {
            profile
                .issuer_thumbprints
                .iter()
                .find_map(|t| ClientCertificate::issued_by(&self.certs_dir, t).ok())
        };
        named.or_else(issued).ok_or_else(|| {
            let wanted: Vec<&str> = profile
                .certificate_thumbprints
                .iter()
                .chain(&profile.issuer_thumbprints)
                .map(String::as_str)
                .collect();
            SubscriberError::NoCertificate(if wanted.is_empty() {
                "the policy names no certificate or issuer".to_owned()
            } else {
                format!(
                    "none in {} is, or is issued by, {}",
                    self.certs_dir.display(),
                    wanted.join(", ")
                )
            })
        })
    }
}

impl Connector for HttpConnector {
    fn connect(
        &self,
        to: &EndpointReference,
        authentication: &[AuthenticationProfile],
    ) -> Result<Box<dyn Subscriber>, DeliveryError> {
        let options = self.options(&to.address, authentication)?;
        let pinned = options.tls.server_thumbprint.is_some();
        let endpoint = Endpoint::parse(&to.address, false).map_err(SubscriberError::from)?;
        let client = Client::new(endpoint, options).map_err(SubscriberError::from)?;
        Ok(Box::new(HttpSubscriber { client, pinned }))
    }
}

/// One subscriber address over a `wsman-client` connection pool.
pub(crate) struct HttpSubscriber {
    client: Client,
    /// The subscriber's certificate is named: a TLS failure means it is not that one.
    pinned: bool,
}

impl HttpSubscriber {
    pub(crate) fn new(client: Client) -> HttpSubscriber {
        HttpSubscriber {
            client,
            pinned: false,
        }
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
            match self
                .client
                .deliver(body, content_type, content_encoding, message_id)
                .await
            {
                Ok(reply) => Ok(reply.action),
                Err(error) if refused(&error, self.pinned) => {
                    Err(CredentialsRefused(error.to_string()).into())
                }
                Err(error) => Err(match refusal_reason(&error) {
                    Some(reason) => DeliveryRefused(reason).into(),
                    None => SubscriberError::from(error).into(),
                }),
            }
        })
    }
}

/// The reason of a `w:DeliveryRefused` fault (the collector refusing the delivery itself, not
/// the credentials), `None` for any other failure.
fn refusal_reason(error: &ClientError) -> Option<String> {
    match error {
        ClientError::Fault {
            subcode: Some(subcode),
            message,
            ..
        } if subcode.rsplit(':').next() == Some("DeliveryRefused") => Some(message.clone()),
        _ => None,
    }
}

/// Whether sending again with the same credentials cannot help.
fn refused(error: &ClientError, pinned: bool) -> bool {
    match error {
        ClientError::Unauthorized { .. } => true,
        ClientError::Http { status } | ClientError::Fault { status, .. } => *status == 403,
        ClientError::Tls { .. } => pinned,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(subcode: &str, status: u16) -> ClientError {
        ClientError::Fault {
            code: "s:Receiver".to_owned(),
            subcode: Some(subcode.to_owned()),
            wsman_code: Some(2150858804),
            message: "event 0 claims Computer \"h.example.test\", but the sender is h".to_owned(),
            machine: None,
            status,
            detail: None,
        }
    }

    /// The collector's `w:DeliveryRefused` reaches the event source as its reason (logged once
    /// per reason there); any other fault or a bare status stays a delivery failure.
    #[test]
    fn a_delivery_refused_fault_is_the_refusal_and_its_reason() {
        let reason = refusal_reason(&fault("w:DeliveryRefused", 400));
        assert_eq!(
            reason.as_deref(),
            Some("event 0 claims Computer \"h.example.test\", but the sender is h")
        );
        assert_eq!(refusal_reason(&fault("w:AccessDenied", 500)), None);
        assert_eq!(refusal_reason(&ClientError::Http { status: 400 }), None);
    }
}
