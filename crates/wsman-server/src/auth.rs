//! Authentication on the server side: what the pipeline asks of a credential backend, and the
//! per-connection cache that makes authentication a once-per-connection cost.
//!
//! Why per connection: Negotiate, Kerberos and CredSSP bind their security context to the TCP
//! connection, and PAM is far too slow to run per request. Basic is verified once; later
//! requests on the same connection compare their Authorization value with the verified one in
//! constant time. Any different Authorization value restarts authentication (reference §1.4).

use std::sync::Arc;

use hyper::header::{HeaderMap, AUTHORIZATION};
use wsman_auth::{parse_basic_authorization, Credentials};

use crate::settings::{ServiceSettings, Transport};

/// The authenticated user of a connection, resolved once (admin check included).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// The user name as logged (never a password).
    pub user: String,
    /// Windows' BA: uid 0 or member of `wsmand-admins` (for a service account: its run-as
    /// user). Every operation except Identify needs it.
    pub is_administrator: bool,
}

impl Principal {
    pub fn new(user: impl Into<String>, is_administrator: bool) -> Self {
        Self {
            user: user.into(),
            is_administrator,
        }
    }
}

/// Why credentials were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("credential backend failed: {reason}")]
    Backend { reason: String },
}

/// A credential backend (service accounts, then PAM). Blocking: the pipeline calls it on the
/// blocking thread pool.
pub trait CredentialVerifier: Send + Sync + 'static {
    fn verify_basic(&self, user: &str, password: &str) -> Result<Principal, VerifyError>;
}

/// The per-connection security state. Today: the verified Basic credential (kept by
/// `wsman-auth`'s zeroizing, constant-time [`wsman_auth::ConnectionAuth`]) and the principal
/// resolved from it. Later: the Negotiate/Kerberos/CredSSP contexts and the sealing keys
/// bound to this connection.
#[derive(Default)]
pub struct ConnectionAuth {
    verified: Option<(wsman_auth::ConnectionAuth, Arc<Principal>)>,
}

impl ConnectionAuth {
    /// The cached principal if `authorization` is byte-for-byte the verified value
    /// (compared in constant time).
    pub fn cached(&self, authorization: &[u8]) -> Option<Arc<Principal>> {
        let (cache, principal) = self.verified.as_ref()?;
        cache.matches(authorization).map(|_| Arc::clone(principal))
    }

    /// Remember a verified Authorization value for the rest of the connection.
    pub fn remember(&mut self, authorization: &[u8], principal: Arc<Principal>) {
        let identity = wsman_auth::Identity::linux_user(principal.user.clone());
        self.verified = Some((
            wsman_auth::ConnectionAuth::new(authorization, identity),
            principal,
        ));
    }

    /// Drop the cached credential (a failed attempt restarts authentication).
    pub fn forget(&mut self) {
        self.verified = None;
    }
}

/// What the request's headers say about authentication, before any backend call.
#[derive(Debug)]
pub enum Presented {
    /// No Authorization header.
    Nothing,
    /// A Basic credential that may be used on this connection.
    Basic {
        credentials: Credentials,
        raw: Vec<u8>,
    },
    /// A scheme we do not accept here (or Basic where it is not allowed), with the user name
    /// when one was readable, for the log.
    Refused {
        user: Option<String>,
        why: &'static str,
    },
}

/// Read the Authorization header. Basic is accepted over HTTPS when Service/Auth/Basic is set,
/// over HTTP only when Service/AllowUnencrypted is set too.
pub fn presented(
    headers: &HeaderMap,
    settings: &ServiceSettings,
    transport: Transport,
) -> Presented {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Presented::Nothing;
    };
    let raw = value.as_bytes();
    match parse_basic_authorization(raw) {
        Ok(credentials) => {
            if settings.basic_allowed(transport) {
                Presented::Basic {
                    credentials,
                    raw: raw.to_vec(),
                }
            } else {
                Presented::Refused {
                    user: Some(credentials.user.clone()),
                    why: "Basic is not enabled for this transport",
                }
            }
        }
        Err(_) => Presented::Refused {
            user: None,
            why: "unsupported or malformed Authorization",
        },
    }
}

/// The `WWW-Authenticate` values for a 401 on this transport: one per enabled scheme.
pub fn challenges(settings: &ServiceSettings, transport: Transport) -> Vec<&'static str> {
    let mut out = Vec::with_capacity(1);
    if settings.basic_allowed(transport) {
        out.push(wsman_auth::BASIC_CHALLENGE);
    }
    out
}

/// Security profiles of an authenticated Identify (MS-WSMV 3.1.4.1.23).
pub fn security_profiles(settings: &ServiceSettings) -> Vec<String> {
    let mut out = Vec::new();
    if settings.auth_basic {
        out.push(wsman_proto::ns::secprofile::HTTP_BASIC.to_owned());
        out.push(wsman_proto::ns::secprofile::HTTPS_BASIC.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use hyper::header::HeaderValue;

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
    fn cache_matches_only_the_same_value() {
        let mut c = ConnectionAuth::default();
        assert!(c.cached(b"Basic abc").is_none());
        c.remember(b"Basic abc", Arc::new(Principal::new("root", true)));
        assert!(c.cached(b"Basic abc").is_some());
        assert!(c.cached(b"Basic abd").is_none());
        assert!(c.cached(b"Basic ab").is_none());
        c.forget();
        assert!(c.cached(b"Basic abc").is_none());
    }

    #[test]
    fn challenges_follow_settings() {
        assert_eq!(
            challenges(&settings(true, false), Transport::Https).len(),
            1
        );
        assert!(challenges(&settings(true, false), Transport::Http).is_empty());
        assert!(challenges(&settings(false, true), Transport::Http).is_empty());
    }
}
