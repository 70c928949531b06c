//! Basic: the one password check (service accounts, then PAM) with the administrator rule,
//! and the per-connection cache of a verified Authorization value. The parsing, account store
//! and constant-time, zeroizing cache are `wsman-auth`'s; this module wires them to the OS.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use wsman_auth::{AuthError, Authenticator, Credentials, PasswordChecker};
use wsman_os::{PamAuthenticator, PamError};

use super::accounts::AccountCache;
use super::Principal;

/// PAM as `wsman-auth`'s system password check.
struct PamChecker {
    pam: PamAuthenticator,
}

impl PasswordChecker for PamChecker {
    fn check(&self, user: &str, password: &str) -> Result<(), AuthError> {
        self.check_from(user, password, None)
    }

    fn check_from(
        &self,
        user: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let rhost = client.map(|ip| ip.to_string());
        let checked = self.pam.authenticate_from(user, password, rhost.as_deref());
        checked.map_err(|error| {
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
    accounts: Arc<AccountCache>,
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
        let config_dir = config_dir.into();
        Self {
            accounts: Arc::new(AccountCache::new(config_dir.clone())),
            authenticator: Authenticator::new(
                Arc::new(wsman_config::accounts::AccountsFile::in_dir(&config_dir)),
                system,
            ),
        }
    }

    /// The service accounts this verifier checks, shared with the handshakes.
    pub fn accounts(&self) -> &Arc<AccountCache> {
        &self.accounts
    }

    /// Checks Basic credentials and resolves the principal. Errors carry no secret.
    /// `client` is the peer's address, which PAM gets as `PAM_RHOST`.
    pub fn verify_basic(
        &self,
        credentials: &Credentials,
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let store = self.accounts.current()?;
        let identity = self
            .authenticator
            .authenticate_from(&store, credentials, client)?;
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

#[cfg(test)]
mod tests {
    use wsman_auth::Identity;

    use super::*;

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
        match verifier.verify_basic(&Credentials::new(user, password), None) {
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
}
