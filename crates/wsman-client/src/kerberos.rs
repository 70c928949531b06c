//! Client-side Kerberos (`-a:Kerberos`): whose tickets (the caller's credential cache, or a
//! ticket got with a user name and password, kept in memory), which service principal
//! (`HTTP/<host>` by default, as pywinrm; `WSMAN/<host>` as Windows and pypsrp), and the
//! MS-WSMV sealer over the established `wsman-gss` context, and the handshake as an
//! `Initiator` (the private `transport` module runs its legs on the one TCP connection it
//! is bound to).
//!
//! Under Kerberos the server proves itself (mutual authentication), so Windows' TrustedHosts
//! rule for plain HTTP does not apply.

use std::sync::Arc;

use wsman_auth::sealing::{MessageSealer, KERBEROS_PROTOCOL, SPNEGO_PROTOCOL};
use wsman_gss::{InitiatorMechanism, KerberosInitiator, KerberosInitiatorContext};
use zeroize::Zeroizing;

use crate::error::ClientError;
use crate::initiator::{refused, unexpected_leg, Initiator, LegAnswer, Next, TokenScheme};

/// Longest base64 token accepted from a `WWW-Authenticate` header (an AP-REP is ~200 bytes).
const MAX_TOKEN_BASE64: usize = 64 * 1024;

/// The HTTP scheme and token form the client authenticates with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KerberosScheme {
    /// `Authorization: Kerberos <raw Kerberos token>`; bodies labelled
    /// `application/HTTP-Kerberos-session-encrypted` (Windows' `-a:Kerberos`).
    Kerberos,
    /// `Authorization: Negotiate <SPNEGO token>` with Kerberos inside; bodies labelled
    /// `application/HTTP-SPNEGO-session-encrypted` (Windows' `-a:Default` in a domain).
    Negotiate,
}

impl KerberosScheme {
    fn name(self) -> &'static str {
        match self {
            Self::Kerberos => "Kerberos",
            Self::Negotiate => "Negotiate",
        }
    }
}

/// How a client authenticates with Kerberos.
#[derive(Clone)]
#[non_exhaustive]
pub struct KerberosAuth {
    /// `Some((principal, password))`: get a ticket with them (in memory only); `None`: the
    /// caller's credential cache (`KRB5CCNAME` or libkrb5's default).
    pub credentials: Option<(String, Arc<Zeroizing<String>>)>,
    /// The service part of the SPN: `HTTP` (default) or `WSMAN`.
    pub service: String,
    /// The scheme and token form.
    pub scheme: KerberosScheme,
    /// Send RFC 5929 `tls-server-end-point` channel bindings over HTTPS.
    pub channel_binding: bool,
    /// Encrypt every body over plain HTTP (MS-WSMV); off only for `-unencrypted`.
    pub encrypt: bool,
    /// The initiator, made once per client on the first connection (it may ask the KDC).
    initiator: Arc<tokio::sync::OnceCell<KerberosInitiator>>,
}

impl std::fmt::Debug for KerberosAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosAuth")
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("service", &self.service)
            .field("scheme", &self.scheme)
            .field("channel_binding", &self.channel_binding)
            .field("encrypt", &self.encrypt)
            .finish_non_exhaustive()
    }
}

impl KerberosAuth {
    /// The caller's credential cache, SPN `HTTP/<host>`, the `Kerberos` scheme, channel
    /// binding over HTTPS and sealing over HTTP.
    pub fn from_ccache() -> Self {
        Self {
            credentials: None,
            service: "HTTP".to_owned(),
            scheme: KerberosScheme::Kerberos,
            channel_binding: true,
            encrypt: true,
            initiator: Arc::default(),
        }
    }

    /// The same, with a ticket got for `principal` (`user` or `user@REALM`) with `password`.
    pub fn with_password(principal: &str, password: &str) -> Self {
        Self {
            credentials: Some((
                principal.to_owned(),
                Arc::new(Zeroizing::new(password.to_owned())),
            )),
            ..Self::from_ccache()
        }
    }

    /// Builder-style: the SPN's service part (`HTTP` or `WSMAN`).
    pub fn with_service(mut self, service: &str) -> Self {
        self.service = service.to_owned();
        self
    }

    /// Builder-style: the scheme.
    pub fn with_scheme(mut self, scheme: KerberosScheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// A new security context for one connection to `host` (blocking work on the blocking
    /// pool: getting the ticket-granting ticket the first time).
    pub(crate) async fn context(
        &self,
        host: &str,
        channel_bindings: Option<Vec<u8>>,
    ) -> Result<KerberosInitiatorContext, ClientError> {
        let initiator = self
            .initiator
            .get_or_try_init(|| {
                let credentials = self.credentials.clone();
                let service = self.service.clone();
                let host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                let mechanism = match self.scheme {
                    KerberosScheme::Kerberos => InitiatorMechanism::Kerberos,
                    KerberosScheme::Negotiate => InitiatorMechanism::Spnego,
                };
                async move {
                    let job = tokio::task::spawn_blocking(move || match &credentials {
                        Some((user, password)) => KerberosInitiator::with_password(
                            user, password, &service, &host, mechanism,
                        ),
                        None => KerberosInitiator::from_ccache(&service, &host, None, mechanism),
                    });
                    match job.await {
                        Ok(result) => result.map_err(authentication_error),
                        Err(e) => Err(ClientError::Authentication {
                            reason: format!("getting Kerberos credentials failed: {e}"),
                        }),
                    }
                }
            })
            .await?;
        initiator
            .context(channel_bindings)
            .map_err(authentication_error)
    }

    /// How this scheme's tokens travel in headers.
    fn tokens(&self) -> TokenScheme {
        TokenScheme {
            name: self.scheme.name(),
            max_base64: MAX_TOKEN_BASE64,
            bare_is_empty: false,
        }
    }

    /// The `Authorization` value for `token`.
    pub(crate) fn authorization_value(&self, token: &[u8]) -> String {
        self.tokens().authorization_value(token)
    }

    /// The server's token in this scheme's `WWW-Authenticate` values, if any.
    pub(crate) fn server_token(&self, values: &[String]) -> Option<Vec<u8>> {
        self.tokens().challenge_token(values)
    }

    /// The sealer over an established context.
    pub(crate) fn sealer(&self, context: KerberosInitiatorContext) -> Box<dyn MessageSealer> {
        Box::new(KerberosSealer {
            context,
            label: match self.scheme {
                KerberosScheme::Kerberos => KERBEROS_PROTOCOL,
                KerberosScheme::Negotiate => SPNEGO_PROTOCOL,
            },
        })
    }
}

pub(crate) fn authentication_error(e: wsman_gss::GssError) -> ClientError {
    ClientError::Authentication {
        reason: e.to_string(),
    }
}

/// One Kerberos handshake: the AP-REQ, then the AP-REP on the 200, which must prove the
/// server; SPNEGO may take more legs for its mechListMIC exchange.
pub(crate) struct KerberosHandshake {
    auth: KerberosAuth,
    /// `None` once handed to the sealer.
    context: Option<KerberosInitiatorContext>,
}

impl KerberosHandshake {
    /// A new context for one connection to `host`, bound to `channel_bindings` (HTTPS).
    pub(crate) async fn new(
        auth: &KerberosAuth,
        host: &str,
        channel_bindings: Option<Vec<u8>>,
    ) -> Result<Self, ClientError> {
        let context = auth.context(host, channel_bindings).await?;
        Ok(Self {
            auth: auth.clone(),
            context: Some(context),
        })
    }

    fn context(&mut self) -> Result<&mut KerberosInitiatorContext, ClientError> {
        self.context
            .as_mut()
            .ok_or_else(|| ClientError::protocol("the Kerberos context was already used"))
    }

    fn is_established(&self) -> bool {
        self.context.as_ref().is_some_and(|c| c.is_established())
    }

    /// Step the context with the server's token; a token to send, or established.
    fn advance(&mut self, server_token: Option<&[u8]>) -> Result<Next, ClientError> {
        use wsman_gss::InitStep;
        match self
            .context()?
            .step(server_token)
            .map_err(authentication_error)?
        {
            InitStep::Continue(token) | InitStep::Complete { token: Some(token) } => {
                Ok(Next::Send(self.auth.authorization_value(&token)))
            }
            InitStep::Complete { token: None } => self.established(),
        }
    }

    fn established(&mut self) -> Result<Next, ClientError> {
        match self.context.take() {
            Some(context) if context.is_established() => {
                Ok(Next::Established(self.auth.sealer(context)))
            }
            _ => Err(ClientError::Authentication {
                reason: "the Kerberos handshake did not complete".to_owned(),
            }),
        }
    }
}

impl Initiator for KerberosHandshake {
    fn scheme(&self) -> &'static str {
        "Kerberos"
    }

    /// Blocking: the GSS steps.
    fn step(&mut self, answer: Option<&LegAnswer>) -> Result<Next, ClientError> {
        let Some(answer) = answer else {
            return self.advance(None);
        };
        let server_token = self.auth.server_token(&answer.www_authenticate);
        match answer.status {
            200..=299 if self.is_established() => self.established(),
            200..=299 if server_token.is_none() => Err(ClientError::Authentication {
                reason: "the server accepted the Kerberos ticket without proving itself (no \
                         mutual authentication token on the 200)"
                    .to_owned(),
            }),
            200..=299 => self.advance(server_token.as_deref()),
            401 if server_token.is_some() && !self.is_established() => {
                self.advance(server_token.as_deref())
            }
            401 => Err(refused(answer)),
            status => Err(unexpected_leg(status)),
        }
    }
}

/// An established client context as an MS-WSMV sealer; accepts the server's answer under
/// either Kerberos label (servers mirror ours, but both name the same context).
struct KerberosSealer {
    context: KerberosInitiatorContext,
    label: &'static str,
}

impl MessageSealer for KerberosSealer {
    fn protocol(&self) -> &str {
        self.label
    }

    fn accepts_protocol(&self, protocol: &str) -> bool {
        protocol.eq_ignore_ascii_case(SPNEGO_PROTOCOL)
            || protocol.eq_ignore_ascii_case(KERBEROS_PROTOCOL)
    }

    wsman_auth::gss_context_sealing!(context);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_the_chosen_scheme() {
        let auth = KerberosAuth::from_ccache();
        assert_eq!(auth.authorization_value(b"\x60\x01"), "Kerberos YAE=");
        let values = vec![
            "Negotiate oQcwBaADCgEA".to_owned(),
            "Kerberos YAE=".to_owned(),
        ];
        assert_eq!(auth.server_token(&values).unwrap(), b"\x60\x01");
        let negotiate = auth.clone().with_scheme(KerberosScheme::Negotiate);
        assert_eq!(
            negotiate.server_token(&values).unwrap(),
            b"\xa1\x07\x30\x05\xa0\x03\x0a\x01\x00"
        );
        assert_eq!(auth.server_token(&["Kerberos".to_owned()]), None);
        assert!(!format!("{:?}", KerberosAuth::with_password("u", "secret")).contains("secret"));
    }
}
