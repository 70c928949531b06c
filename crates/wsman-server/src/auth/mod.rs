//! Authentication on the server side: one seam for every scheme.
//!
//! - [`Handshake`]: a scheme that takes several legs over one connection (Negotiate/NTLM in
//!   [`ntlm`], Kerberos in [`kerberos`], CredSSP in [`credssp`]): a token in; continue with a
//!   token, complete with a principal and a sealer, or refused. A handshake never sees the
//!   pipeline: what it needs of the connection is a [`Channel`], what it needs of the service
//!   is [`services::AuthServices`] (verifier, password-check permits, throttle, Kerberos,
//!   account store).
//! - [`leg`]: the one skeleton every leg runs through (routing a token to its scheme, the
//!   throttle's wait, the blocking step, the one log line and throttle record of its outcome).
//! - [`state::AuthState`]: what one connection has proved so far (nothing, a verified Basic
//!   value, a handshake under way, or an established context with its sealer).
//! - [`basic`] (the Basic check and its per-connection cache) and [`certificate`] (client
//!   certificates) prove a request from its headers in one step; [`gate`] reads a request's
//!   headers and runs whichever applies.
//!
//! Why per connection: Negotiate, Kerberos and CredSSP bind their security context to the TCP
//! connection, and PAM is far too slow to run per request. Basic is verified once; later
//! requests on the same connection compare their Authorization value with the verified one in
//! constant time. Any different Authorization value restarts authentication (reference §1.4).

use std::net::SocketAddr;
use std::sync::Arc;

use wsman_auth::sealing::MessageSealer;
use wsman_auth::Credentials;

pub use crate::principal::Principal;
use crate::settings::{ServiceSettings, Transport};

pub mod accounts;
pub mod basic;
pub mod certificate;
pub mod credssp;
pub mod credssp_kerberos;
pub mod gate;
pub mod kerberos;
pub mod leg;
pub mod ntlm;
pub mod services;
pub mod state;

/// What a handshake may know of its connection.
#[derive(Clone, Debug)]
pub struct Channel {
    pub remote: SocketAddr,
    pub transport: Transport,
    /// MsvAvChannelBindings a Negotiate client must send here (HTTPS: from our certificate).
    pub channel_binding: Option<[u8; 16]>,
    /// RFC 5929 channel binding application data a Kerberos client binds to (HTTPS).
    pub end_point_binding: Option<Arc<[u8]>>,
}

/// The engines behind the token schemes; a continuation token goes only to a handshake of
/// the engine it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    Ntlm,
    Kerberos,
    CredSsp,
}

/// A multi-leg authentication under way on one connection.
pub trait Handshake: Send + 'static {
    /// Which engine this is.
    fn mechanism(&self) -> Mechanism;

    /// Whether the first leg already carries a proof (Kerberos' AP-REQ), so that the
    /// failed-login throttle's wait applies to it too; NTLM and CredSSP prove on a later leg.
    fn first_leg_proves(&self) -> bool {
        false
    }

    /// The account name the client tried, for the log of a refusal.
    fn attempted_user(&self) -> Option<String> {
        None
    }

    /// One leg. Blocking (NSS, keytab, replay cache, argon2-free NT hash lookups): the
    /// skeleton in [`leg`] runs it on the blocking pool.
    fn step(&mut self, token: &[u8], accounts: &accounts::AccountCache) -> Step;
}

/// The outcome of one leg.
pub enum Step {
    /// Answer 401 with this token.
    Continue(Vec<u8>),
    /// The client proved who it is.
    Complete(Completed),
    /// Refused: the reason is logged (never a secret), the connection's state is dropped.
    Refused(Refusal),
}

/// A finished handshake.
pub struct Completed {
    pub proof: Proof,
    /// Seals and unseals MS-WSMV bodies on this connection from now on.
    pub sealer: Box<dyn MessageSealer>,
    /// The token the final 200 carries (Kerberos' mutual authentication), if any.
    pub final_token: Option<Vec<u8>>,
    /// What the success log line adds to the principal.
    pub detail: Detail,
}

/// What a scheme's success log line says besides the principal.
pub enum Detail {
    /// The user name as the client sent it (`DOMAIN\user`).
    Ntlm { client_user: String },
    /// The Kerberos principal and whether the context is bound to the TLS channel.
    Kerberos {
        principal: String,
        channel_bound: bool,
    },
    /// The mechanism inside CredSSP (NTLM or Kerberos).
    CredSsp { inner: &'static str },
}

/// Who a finished handshake proved.
pub enum Proof {
    /// The handshake resolved the principal itself (NTLM, Kerberos).
    Principal(Principal),
    /// The client delegated a password (CredSSP): checked like a Basic one before the
    /// connection counts as authenticated.
    DelegatedPassword(Credentials),
}

/// Why a leg was refused.
pub struct Refusal {
    /// The user the client tried, when known.
    pub user: String,
    pub reason: String,
    pub kind: RefusalKind,
    /// A token the 401 still carries (CredSSP tells the client why in a TSRequest).
    pub reply: Option<Vec<u8>>,
}

/// How a refusal is accounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// A wrong proof: counted by the failed-login throttle.
    Credentials,
    /// Malformed or out of place: logged, not counted.
    Protocol,
    /// Our side failed (a file, NSS): logged at error.
    Backend,
}

impl Refusal {
    pub fn new(user: impl Into<String>, reason: impl Into<String>, kind: RefusalKind) -> Self {
        Self {
            user: user.into(),
            reason: reason.into(),
            kind,
            reply: None,
        }
    }

    pub fn backend(reason: impl Into<String>) -> Self {
        Self::new("", reason, RefusalKind::Backend)
    }
}

/// Security profiles of an authenticated Identify (MS-WSMV 3.1.4.1.23).
pub fn security_profiles(settings: &ServiceSettings) -> Vec<String> {
    let mut out = Vec::new();
    if settings.auth_basic {
        out.push(wsman_proto::ns::secprofile::HTTP_BASIC.to_owned());
        out.push(wsman_proto::ns::secprofile::HTTPS_BASIC.to_owned());
    }
    if settings.auth_negotiate || settings.kerberos_enabled() {
        out.push(wsman_proto::ns::secprofile::HTTP_SPNEGO_KERBEROS.to_owned());
        out.push(wsman_proto::ns::secprofile::HTTPS_SPNEGO_KERBEROS.to_owned());
    }
    if settings.auth_certificate {
        out.push(wsman_proto::ns::secprofile::HTTPS_MUTUAL.to_owned());
    }
    out
}

/// A system password check that refuses everyone: tests that must not reach PAM.
#[cfg(test)]
pub(crate) struct NoSystemUsers;

#[cfg(test)]
impl wsman_auth::PasswordChecker for NoSystemUsers {
    fn check(&self, _user: &str, _password: &str) -> Result<(), wsman_auth::AuthError> {
        Err(wsman_auth::AuthError::Rejected {
            reason: "no system users here".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_profiles_follow_basic() {
        let settings = |basic, unencrypted| ServiceSettings {
            auth_basic: basic,
            allow_unencrypted: unencrypted,
            ..ServiceSettings::default()
        };
        assert_eq!(security_profiles(&settings(true, false)).len(), 2);
        assert!(security_profiles(&settings(false, true)).is_empty());
        let negotiate = ServiceSettings {
            auth_negotiate: true,
            ..ServiceSettings::default()
        };
        assert_eq!(
            security_profiles(&negotiate),
            vec![
                wsman_proto::ns::secprofile::HTTP_SPNEGO_KERBEROS.to_owned(),
                wsman_proto::ns::secprofile::HTTPS_SPNEGO_KERBEROS.to_owned()
            ]
        );
    }
}
