//! Turning verified credentials into an [`Identity`]: service accounts from
//! `accounts.toml` first, the system (PAM) for every other name.

use std::net::IpAddr;
use std::sync::Arc;

use crate::accounts::{AccountError, AccountFile, AccountStore};
use crate::basic::Credentials;

/// Checks a password against the operating system's accounts. The daemon
/// plugs PAM in here; tests plug in fakes. Implementations may block (PAM
/// does), so callers run [`Authenticator::authenticate`] off the async
/// executor.
pub trait PasswordChecker: Send + Sync {
    /// `Ok(())` if `password` is right for the Linux user `user` and the
    /// account may log in now.
    fn check(&self, user: &str, password: &str) -> Result<(), AuthError>;

    /// [`Self::check`] for a client at `client` (PAM gets it as `PAM_RHOST`, so its modules
    /// log and decide on where the login comes from). By default the address is not used.
    fn check_from(
        &self,
        user: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let _ = client;
        self.check(user, password)
    }
}

/// Why authentication failed.
///
/// On the wire every variant is a 401 with the challenges; the variants
/// decide what gets logged (never the password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Wrong password, unknown user, or an account that may not log in
    /// (expired, locked, empty password).
    #[error("credentials rejected: {reason}")]
    Rejected {
        /// Short, secret-free description (e.g. `PAM_AUTH_ERR`).
        reason: String,
    },
    /// The system backend failed (PAM misconfigured, service file missing).
    #[error("{backend} could not check the credentials: {detail}")]
    Backend {
        /// Which backend (`PAM`, ...).
        backend: &'static str,
        /// What it reported.
        detail: String,
    },
    /// `accounts.toml` could not be used; authentication fails closed,
    /// because without the file we cannot tell a service account from a
    /// Linux user.
    #[error("accounts file unusable: {source}")]
    Accounts {
        /// The store's error.
        #[from]
        source: AccountError,
    },
}

/// Where an identity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityKind {
    /// A Linux account, verified through PAM.
    LinuxUser,
    /// A service account from `accounts.toml`.
    ServiceAccount,
}

/// Who a connection is authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// The account name (without any `DOMAIN\` or `@realm` the client sent).
    pub name: String,
    /// Linux user or service account.
    pub kind: IdentityKind,
    /// The Linux user that authorization and shells map to: the user itself
    /// for Linux users, `run_as` for service accounts (none: the account
    /// has no Linux rights and is never an administrator).
    pub linux_user: Option<String>,
}

impl Identity {
    /// A Linux user authenticated by the system.
    pub fn linux_user(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            linux_user: Some(name.clone()),
            name,
            kind: IdentityKind::LinuxUser,
        }
    }

    /// A service account, acting as `run_as` if given.
    pub fn service_account(name: impl Into<String>, run_as: Option<String>) -> Self {
        Self {
            name: name.into(),
            kind: IdentityKind::ServiceAccount,
            linux_user: run_as,
        }
    }
}

/// Checks Basic credentials: a name present in `accounts.toml` is checked
/// only there; any other name goes to the system checker.
///
/// The client's `DOMAIN\` or `@realm` qualifier is dropped before lookup
/// (there are no domains yet, so `HOST\alice`, `.\alice` and `alice` are
/// the same local account, as on a stand-alone Windows host). Service
/// account names match case-insensitively, as under NTLM
/// ([`AccountStore::login_name`]); Linux user names go to PAM as sent
/// (Linux names are case-sensitive).
///
/// The accounts file is re-read on every call: it is small, a call happens
/// once per TCP connection and costs an argon2 or PAM check anyway, and
/// this way `wsmand account ...` changes apply to the running daemon
/// without a reload signal.
pub struct Authenticator {
    accounts: Arc<dyn AccountFile>,
    system: Box<dyn PasswordChecker>,
}

impl Authenticator {
    /// `accounts` is `accounts.toml` (`wsman_config::accounts::AccountsFile`); `system` checks
    /// everyone else.
    pub fn new(accounts: Arc<dyn AccountFile>, system: Box<dyn PasswordChecker>) -> Self {
        Self { accounts, system }
    }

    /// Verifies `credentials`. Blocking: argon2 takes tens of milliseconds
    /// and PAM may take longer, so async callers use `spawn_blocking`.
    pub fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthError> {
        let store = AccountStore::open(Arc::clone(&self.accounts))?;
        self.authenticate_from(&store, credentials, None)
    }

    /// [`Self::authenticate`] against a store the caller already holds (a daemon keeps one
    /// parsed store while the file is unchanged instead of reading it per check), for a client
    /// at `client`: the system check is told where the login comes from
    /// ([`PasswordChecker::check_from`]).
    pub fn authenticate_from(
        &self,
        store: &AccountStore,
        credentials: &Credentials,
        client: Option<IpAddr>,
    ) -> Result<Identity, AuthError> {
        let name = credentials.bare_user();
        let password = credentials.password.as_str();
        if let Some(name) = store.login_name(name) {
            return match store.verify(name, password) {
                Some(account) => Ok(Identity::service_account(account.name, account.run_as)),
                None => Err(AuthError::Rejected {
                    reason: "wrong service account password".to_owned(),
                }),
            };
        }
        if password.is_empty() {
            return Err(AuthError::Rejected {
                reason: "empty password".to_owned(),
            });
        }
        self.system.check_from(name, password, client)?;
        Ok(Identity::linux_user(name))
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("accounts", &self.accounts.path())
            .finish_non_exhaustive()
    }
}
