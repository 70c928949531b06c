//! Authentication on the server side, in one place: reading the `Authorization` header,
//! checking credentials (service accounts, then PAM), the administrator rule, and the
//! per-connection cache. The parsing, challenge policy, account store and constant-time,
//! zeroizing cache are `wsman-auth`'s; this module only wires them to the OS and the pipeline.
//!
//! Why per connection: Negotiate, Kerberos and CredSSP bind their security context to the TCP
//! connection, and PAM is far too slow to run per request. Basic is verified once; later
//! requests on the same connection compare their Authorization value with the verified one in
//! constant time. Any different Authorization value restarts authentication (reference §1.4).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::header::{HeaderMap, AUTHORIZATION};
use wsman_auth::{
    parse_basic_authorization, AuthError, Authenticator, Credentials, Identity, IdentityKind,
    PasswordChecker,
};
use wsman_os::{PamAuthenticator, PamError};

use crate::settings::{ServiceSettings, Transport};

/// The authenticated user of a connection, resolved once (admin check included).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// Who proved the credentials (service account or Linux user).
    pub identity: Identity,
    /// Windows' BA: the identity's Linux user is uid 0 or a member of `wsmand-admins`.
    pub is_administrator: bool,
    /// The SIDs RootSDDL is evaluated against (see [`crate::access`]).
    pub sids: Arc<[wsman_config::Sid]>,
}

impl Principal {
    /// A principal with the SIDs every authenticated caller has (plus BA for an
    /// administrator); [`crate::access::resolve_principal`] adds the Linux user's.
    pub fn new(identity: Identity, is_administrator: bool) -> Self {
        Self {
            identity,
            is_administrator,
            sids: crate::access::base_sids(is_administrator).into(),
        }
    }

    /// Builder-style SID setter.
    pub fn with_sids(mut self, sids: Vec<wsman_config::Sid>) -> Self {
        self.sids = sids.into();
        self
    }
}

/// The name logs show: the account, and for a service account its run-as user.
impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.identity.kind, &self.identity.linux_user) {
            (IdentityKind::ServiceAccount, Some(linux_user)) => {
                write!(f, "{} (as {linux_user})", self.identity.name)
            }
            _ => f.write_str(&self.identity.name),
        }
    }
}

/// PAM as `wsman-auth`'s system password check.
struct PamChecker {
    pam: PamAuthenticator,
}

impl PasswordChecker for PamChecker {
    fn check(&self, user: &str, password: &str) -> Result<(), AuthError> {
        self.pam.authenticate(user, password).map_err(|error| {
            if error.is_credential_failure() {
                AuthError::Rejected {
                    reason: error.to_string(),
                }
            } else {
                AuthError::Backend {
                    backend: "PAM",
                    detail: error.to_string(),
                }
            }
        })
    }
}

/// The server's one credential check: a name in `DIR/accounts.toml` is checked only there,
/// any other name through PAM; then the administrator rule (a service account counts as its
/// run-as user, and without one is not an administrator). Blocking: the pipeline calls it on
/// the blocking thread pool.
#[derive(Debug)]
pub struct CredentialVerifier {
    authenticator: Authenticator,
}

impl CredentialVerifier {
    /// Service accounts under `config_dir`, everyone else through PAM service `pam_service`
    /// (normally [`wsman_os::DEFAULT_PAM_SERVICE`]).
    pub fn new(config_dir: impl Into<PathBuf>, pam_service: &str) -> Result<Self, PamError> {
        let pam = PamAuthenticator::new(pam_service)?;
        Ok(Self::with_system(config_dir, Box::new(PamChecker { pam })))
    }

    /// Service accounts under `config_dir`, everyone else through `system` (tests use fakes).
    pub fn with_system(config_dir: impl Into<PathBuf>, system: Box<dyn PasswordChecker>) -> Self {
        let config_dir: PathBuf = config_dir.into();
        let accounts = wsman_config::accounts::AccountsFile::in_dir(&config_dir);
        Self {
            authenticator: Authenticator::new(Arc::new(accounts), system),
        }
    }

    /// Checks Basic credentials and resolves the principal. Errors carry no secret.
    pub fn verify_basic(&self, credentials: &Credentials) -> Result<Principal, AuthError> {
        let identity = self.authenticator.authenticate(credentials)?;
        crate::access::resolve_principal(identity).map_err(|error| AuthError::Backend {
            backend: "user lookup",
            detail: error.to_string(),
        })
    }
}

/// The Authorization value verified on one connection (kept by `wsman-auth`'s zeroizing,
/// constant-time [`wsman_auth::ConnectionAuth`]) and the principal it proved. Later: the
/// Negotiate/Kerberos/CredSSP contexts and the sealing keys bound to this connection.
#[derive(Debug)]
pub struct VerifiedConnection {
    authorization: wsman_auth::ConnectionAuth,
    principal: Arc<Principal>,
}

impl VerifiedConnection {
    /// Remember that `authorization` (the raw header value) proved `principal`.
    pub fn new(authorization: &[u8], principal: Arc<Principal>) -> Self {
        Self {
            authorization: wsman_auth::ConnectionAuth::new(
                authorization,
                principal.identity.clone(),
            ),
            principal,
        }
    }

    /// The principal if `authorization` is byte-for-byte the verified value.
    pub fn principal_for(&self, authorization: &[u8]) -> Option<Arc<Principal>> {
        self.authorization
            .matches(authorization)
            .map(|_| Arc::clone(&self.principal))
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
    /// TLS client certificate is checked by [`crate::certauth`].
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
    if crate::certauth::is_mutual_authorization(value.as_bytes()) {
        return crate::certauth::presented(settings, transport);
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
    fn refusals_never_carry_the_password() {
        let h = basic("alice:Secret-Pw-91");
        let refused = presented(&h, &settings(true, false), Transport::Http);
        assert!(!format!("{refused:?}").contains("Secret-Pw-91"));
        let accepted = presented(&h, &settings(true, true), Transport::Http);
        assert!(!format!("{accepted:?}").contains("Secret-Pw-91"));
    }

    #[test]
    fn cache_matches_only_the_same_value() {
        let principal = Arc::new(Principal::new(Identity::linux_user("root"), true));
        let verified = VerifiedConnection::new(b"Basic abc", principal);
        assert!(verified.principal_for(b"Basic abc").is_some());
        assert!(verified.principal_for(b"Basic abd").is_none());
        assert!(verified.principal_for(b"Basic ab").is_none());
        assert!(!format!("{verified:?}").contains("abc"));
    }

    /// A fake system where `root` / `root-pw` and `nobody` / `nobody-pw` log in.
    struct FakeSystem;

    impl PasswordChecker for FakeSystem {
        fn check(&self, user: &str, password: &str) -> Result<(), AuthError> {
            if password == format!("{user}-pw") {
                Ok(())
            } else {
                Err(AuthError::Rejected {
                    reason: "PAM_AUTH_ERR".to_owned(),
                })
            }
        }
    }

    fn verify(verifier: &CredentialVerifier, user: &str, password: &str) -> Option<Principal> {
        match verifier.verify_basic(&Credentials::new(user, password)) {
            Ok(principal) => Some(principal),
            Err(AuthError::Rejected { .. }) => None,
            Err(other) => panic!("unexpected backend error: {other}"),
        }
    }

    #[test]
    fn verifier_checks_accounts_then_the_system_and_resolves_administrators() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = wsman_config::accounts::load(dir.path()).unwrap();
        store.add("admin-svc", "pw", Some("root".into())).unwrap();
        store.add("plain-svc", "pw", None).unwrap();
        store
            .add("nobody-svc", "pw", Some("nobody".into()))
            .unwrap();
        let verifier = CredentialVerifier::with_system(dir.path(), Box::new(FakeSystem));

        let principal = verify(&verifier, "admin-svc", "pw").unwrap();
        assert_eq!(principal.to_string(), "admin-svc (as root)");
        assert_eq!(
            principal.identity,
            Identity::service_account("admin-svc", Some("root".to_owned()))
        );
        assert!(principal.is_administrator);
        // The run-as user's SIDs: BA, and root's Unix SID.
        assert!(principal
            .sids
            .contains(&wsman_config::Sid::builtin_administrators()));
        assert!(principal.sids.contains(&wsman_config::Sid::unix_user(0)));
        let principal = verify(&verifier, "plain-svc", "pw").unwrap();
        assert_eq!(principal.to_string(), "plain-svc");
        assert_eq!(
            principal,
            Principal::new(Identity::service_account("plain-svc", None), false)
        );
        let principal = verify(&verifier, "nobody-svc", "pw").unwrap();
        assert!(!principal.is_administrator);
        let principal = verify(&verifier, r"HOST\root", "root-pw").unwrap();
        assert_eq!(principal.to_string(), "root");
        assert_eq!(principal.identity, Identity::linux_user("root"));
        assert!(principal.is_administrator);
        assert!(principal.sids.contains(&wsman_config::Sid::unix_group(0)));
        // A service account is checked only against accounts.toml, never the system.
        assert!(verify(&verifier, "admin-svc", "admin-svc-pw").is_none());
        assert!(verify(&verifier, "root", "wrong").is_none());
        assert!(verify(&verifier, "wsmand-no-such-user-x9", "whatever").is_none());
    }

    #[test]
    fn administrator_rule_follows_the_linux_user() {
        let resolve = |identity| crate::access::resolve_principal(identity).unwrap();
        assert!(!resolve(Identity::service_account("svc", None)).is_administrator);
        assert!(
            resolve(Identity::service_account("svc", Some("root".to_owned()))).is_administrator
        );
        let unknown = resolve(Identity::linux_user("wsmand-no-such-user-x9"));
        assert!(!unknown.is_administrator);
        assert!(!unknown.sids.contains(&wsman_config::Sid::builtin_users()));
    }

    #[test]
    fn pam_checker_maps_unknown_user_to_rejected() {
        let checker = PamChecker {
            pam: PamAuthenticator::new(wsman_os::DEFAULT_PAM_SERVICE).unwrap(),
        };
        assert!(matches!(
            checker.check("wsmand-no-such-user-x7", "pw"),
            Err(AuthError::Rejected { .. })
        ));
    }

    #[test]
    fn security_profiles_follow_basic() {
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
