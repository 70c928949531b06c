//! Authentication of one request from its headers alone (guard 9, `authentication`, of the
//! crate doc): a token scheme's leg ([`super::leg`]), the connection's established context, the verified Basic
//! value, or a first check of Basic or of a client certificate. The body is never looked at
//! here.

use std::sync::Arc;

use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use wsman_auth::authorization::{parse_authorization, token_scheme, Authorization, TokenScheme};
use wsman_auth::{parse_basic_authorization, Credentials};

use super::basic::VerifiedConnection;
use super::leg::{self, Leg};
use super::state::AuthState;
use super::Principal;
use crate::connection::{Connection, Shared};
use crate::settings::{ServiceSettings, Transport};

/// What the headers of one request proved.
pub enum Outcome {
    /// Authenticated as `principal`.
    Authenticated {
        principal: Arc<Principal>,
        /// By the connection's security context (its bodies may be sealed).
        by_context: bool,
        /// This request completed a handshake (an empty body is then answered 200 at once);
        /// the 200 carries `final_header` when present.
        handshake_completed: bool,
        final_header: Option<HeaderValue>,
    },
    /// A handshake leg: answer 401 with this one challenge.
    Challenge(HeaderValue),
    /// No credentials at all: only an anonymous Identify may proceed.
    Nothing,
    /// Refused (already logged): 401 with the plain challenges.
    Refused,
}

/// Authenticate the request whose headers are `headers` on `conn`; `authorization` is their
/// one Authorization value (looked up once, by the guard before: every later step reads it).
pub async fn authenticate(
    shared: &Shared,
    conn: &Connection,
    headers: &HeaderMap,
    authorization: Option<&HeaderValue>,
    settings: &ServiceSettings,
) -> Outcome {
    let services = &shared.auth;
    let mut handshake = None;
    // The fast path of every request after the first on a connection: the Authorization
    // value is the one verified earlier (constant-time compare) and Basic is still allowed
    // here. Such a value is never a token scheme's, so it is looked at first.
    let cached = verified_basic(conn, authorization, settings);
    if cached.is_none() {
        if let Some((scheme, token)) = token_header(authorization, shared, settings) {
            let channel = conn.channel();
            match leg::run(services, &conn.auth, &channel, settings, scheme, token).await {
                Leg::Continue(challenge) => return Outcome::Challenge(challenge),
                Leg::Refused => return Outcome::Refused,
                Leg::Authenticated {
                    principal,
                    final_header,
                } => handshake = Some((principal, final_header)),
            }
        } else if authorization.is_some() {
            // Any other Authorization header restarts authentication on this connection; on
            // a Basic connection its value is checked below and replaces the verified one.
            let mut state = conn.auth_state();
            if !matches!(*state, AuthState::Basic(_)) {
                state.reset();
            }
        }
    }
    if let Some((principal, final_header)) = handshake {
        return Outcome::Authenticated {
            principal,
            by_context: true,
            handshake_completed: true,
            final_header,
        };
    }
    if authorization.is_none() && leg::token_schemes_enabled(services, settings) {
        if let Some(principal) = conn.auth_state().context_principal() {
            return Outcome::Authenticated {
                principal,
                by_context: true,
                handshake_completed: false,
                final_header: None,
            };
        }
    }
    let principal = match cached {
        Some(principal) => principal,
        None => match first_check(shared, conn, headers, settings).await {
            Some(Some(principal)) => principal,
            Some(None) => return Outcome::Refused,
            None => return Outcome::Nothing,
        },
    };
    Outcome::Authenticated {
        principal,
        by_context: false,
        handshake_completed: false,
        final_header: None,
    }
}

/// The principal of the Basic value verified earlier on this connection when `authorization`
/// is byte for byte that value and Basic is still allowed here (constant-time compare, under
/// the lock that reads the state). Looked at first: it is every kept-alive request of a Basic
/// client, and such a value is never a token scheme's.
fn verified_basic(
    conn: &Connection,
    authorization: Option<&HeaderValue>,
    settings: &ServiceSettings,
) -> Option<Arc<Principal>> {
    let value = authorization?;
    let state = conn.auth_state();
    if !matches!(*state, AuthState::Basic(_))
        || !settings.challenge_config(conn.transport).basic_allowed()
    {
        return None;
    }
    state.basic_principal(value.as_bytes())
}

/// A Negotiate/NTLM/Kerberos/CredSSP Authorization header, when one of them is enabled: its
/// scheme and token.
fn token_header(
    authorization: Option<&HeaderValue>,
    shared: &Shared,
    settings: &ServiceSettings,
) -> Option<(TokenScheme, Vec<u8>)> {
    let value = authorization?;
    if !leg::token_schemes_enabled(&shared.auth, settings) {
        return None;
    }
    // Basic (every kept-alive request of a Basic client) stops at the scheme word: decoding
    // its credentials here would only be thrown away.
    token_scheme(value.as_bytes())?;
    match parse_authorization(value.as_bytes()) {
        Ok(Authorization::Token {
            scheme:
                scheme @ (TokenScheme::Negotiate
                | TokenScheme::Ntlm
                | TokenScheme::Kerberos
                | TokenScheme::CredSsp),
            token,
        }) => Some((scheme, token)),
        _ => None,
    }
}

/// What the request's headers say about authentication, before any backend call.
#[derive(Debug)]
pub enum Presented {
    /// No Authorization header.
    Nothing,
    /// A Basic credential that may be used on this connection.
    Basic { credentials: Credentials },
    /// The client certificate profile header, on HTTPS with Certificate auth enabled: the
    /// TLS client certificate is checked by [`super::certificate`].
    Certificate,
    /// A scheme we do not accept here (or Basic where it is not allowed), with the user name
    /// when one was readable, for the log.
    Refused { user: Option<String>, why: String },
}

/// Read the Authorization header. Basic is accepted when [`wsman_auth::ChallengeConfig::basic_allowed`]
/// says so for this transport (HTTPS, or HTTP with Service/AllowUnencrypted).
pub fn presented(
    headers: &HeaderMap,
    settings: &ServiceSettings,
    transport: Transport,
) -> Presented {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Presented::Nothing;
    };
    if super::certificate::is_mutual_authorization(value.as_bytes()) {
        return match super::certificate::unusable(settings, transport) {
            None => Presented::Certificate,
            Some(why) => Presented::Refused {
                user: None,
                why: why.to_owned(),
            },
        };
    }
    match parse_basic_authorization(value.as_bytes()) {
        Ok(credentials) if settings.challenge_config(transport).basic_allowed() => {
            Presented::Basic { credentials }
        }
        Ok(credentials) => Presented::Refused {
            user: Some(credentials.user.clone()),
            why: "Basic is not enabled for this transport".to_owned(),
        },
        Err(error) => Presented::Refused {
            user: None,
            why: error.to_string(),
        },
    }
}

/// The slow path: parse the credentials and verify them (once per connection). `None`: no
/// credentials at all; `Some(None)`: refused. Every refusal is logged at warn with the remote
/// address and the user name, never the password.
async fn first_check(
    shared: &Shared,
    conn: &Connection,
    headers: &HeaderMap,
    settings: &ServiceSettings,
) -> Option<Option<Arc<Principal>>> {
    let services = &shared.auth;
    let principal = match presented(headers, settings, conn.transport) {
        Presented::Nothing => return None,
        Presented::Certificate => {
            super::certificate::authenticate_request(
                services,
                conn.remote,
                conn.peer_certificate.as_ref(),
                settings,
            )
            .await
        }
        Presented::Refused { user, why } => {
            // Refused on the headers alone (no password checked): as cheap for a client to
            // repeat as no credentials at all, so rate-limited like it.
            if services.refusal_log.admit(conn.remote) {
                tracing::warn!(remote = %conn.remote, user = user.as_deref().unwrap_or(""), reason = %why, "401: authentication refused");
            }
            None
        }
        Presented::Basic { credentials } => {
            let user = credentials.user.clone();
            let throttle = &services.login_throttle;
            throttle
                .delay_before_check(conn.remote, "Basic", &settings.access.throttle)
                .await;
            match services.check_password(credentials, conn.remote.ip()).await {
                Ok(principal) => {
                    throttle.record_success(conn.remote, "Basic");
                    tracing::info!(remote = %conn.remote, user = %principal, "authenticated (Basic)");
                    let principal = Arc::new(principal);
                    if let Some(value) = headers.get(AUTHORIZATION) {
                        *conn.auth_state() = AuthState::Basic(VerifiedConnection::new(
                            value.as_bytes(),
                            Arc::clone(&principal),
                        ));
                    }
                    return Some(Some(principal));
                }
                Err(reason) => {
                    throttle.record_failure(conn.remote, "Basic", &user, &reason.to_string());
                    None
                }
            }
        }
    };
    if principal.is_none() {
        conn.auth_state().reset();
    }
    Some(principal)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    use super::*;

    fn basic(user_pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode(user_pass));
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(AUTHORIZATION, v);
        }
        h
    }

    fn settings(basic: bool, unencrypted: bool) -> ServiceSettings {
        ServiceSettings {
            auth_basic: basic,
            allow_unencrypted: unencrypted,
            ..ServiceSettings::default()
        }
    }

    #[test]
    fn basic_is_transport_gated() {
        let h = basic("alice:pw");
        assert!(matches!(
            presented(&h, &settings(true, false), Transport::Http),
            Presented::Refused { user: Some(_), .. }
        ));
        assert!(matches!(
            presented(&h, &settings(true, false), Transport::Https),
            Presented::Basic { .. }
        ));
        assert!(matches!(
            presented(&h, &settings(true, true), Transport::Http),
            Presented::Basic { .. }
        ));
        assert!(matches!(
            presented(&HeaderMap::new(), &settings(true, true), Transport::Http),
            Presented::Nothing
        ));
    }

    #[test]
    fn other_schemes_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Negotiate TlRMTVNTUAAB"),
        );
        assert!(matches!(
            presented(&h, &settings(true, true), Transport::Http),
            Presented::Refused { user: None, .. }
        ));
    }

    #[test]
    fn refusals_never_carry_the_password() {
        let h = basic("alice:Secret-Pw-91");
        let refused = presented(&h, &settings(true, false), Transport::Http);
        assert!(!format!("{refused:?}").contains("Secret-Pw-91"));
        let accepted = presented(&h, &settings(true, true), Transport::Http);
        assert!(!format!("{accepted:?}").contains("Secret-Pw-91"));
    }
}
