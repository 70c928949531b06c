//! What the authentication schemes use of the service, and nothing more: the credential
//! verifier, the permits that bound password checks, the failed-login throttle and the
//! refusal logs, the Kerberos acceptor, and the account store.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::sync::{Semaphore, SemaphorePermit};
use wsman_auth::{AuthError, Credentials};

use super::accounts::AccountCache;
use super::basic::CredentialVerifier;
use super::kerberos::KerberosService;
use super::Principal;
use crate::settings::ServiceSettings;
use crate::throttle::{LoginThrottle, RefusalRateLog, UnauthenticatedPacing};

/// Shared by every connection of the service.
pub struct AuthServices {
    pub verifier: Arc<CredentialVerifier>,
    /// `accounts.toml`, parsed while unchanged (the verifier's).
    pub accounts: Arc<AccountCache>,
    /// Bounds the password checks running at once. Each argon2id verification holds a 19 MiB
    /// buffer and a blocking thread; without a bound, a flood of logins (right or wrong) grows
    /// memory and threads without limit. Checks beyond the bound wait their turn.
    password_checks: Semaphore,
    /// Failed logins per remote address: logged, and repeated ones slowed down.
    pub login_throttle: LoginThrottle,
    /// Refusals of unauthenticated requests and connections: logged per address at a
    /// bounded rate.
    pub refusal_log: RefusalRateLog,
    /// Unauthenticated requests (no credentials at all) paced per address.
    pub unauthenticated_pacing: UnauthenticatedPacing,
    /// DIR: the issuer certificates of client certificate mappings (`certs/`).
    pub config_dir: PathBuf,
    /// The Kerberos acceptor, when `DIR/krb5.keytab` is loaded ([`super::kerberos`]);
    /// replaced on reload.
    kerberos: RwLock<Option<Arc<KerberosService>>>,
}

impl AuthServices {
    pub fn new(
        config_dir: PathBuf,
        verifier: Arc<CredentialVerifier>,
        kerberos: Option<Arc<KerberosService>>,
    ) -> Self {
        // One password check per core: more cannot run faster, only use more memory.
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            accounts: Arc::clone(verifier.accounts()),
            verifier,
            password_checks: Semaphore::new(cores),
            login_throttle: LoginThrottle::default(),
            refusal_log: RefusalRateLog::default(),
            unauthenticated_pacing: UnauthenticatedPacing::default(),
            config_dir,
            kerberos: RwLock::new(kerberos),
        }
    }

    /// The Kerberos acceptor in force, if any.
    pub fn kerberos(&self) -> Option<Arc<KerberosService>> {
        self.kerberos
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replace the Kerberos acceptor (a reload); handshakes under way keep the one they began
    /// with.
    pub fn set_kerberos(&self, kerberos: Option<Arc<KerberosService>>) {
        *self.kerberos.write().unwrap_or_else(|p| p.into_inner()) = kerberos;
    }

    /// Whether Kerberos may be used now: a keytab is loaded and Service/Auth/Kerberos (live).
    pub fn kerberos_enabled(&self, settings: &ServiceSettings) -> bool {
        settings.auth_kerberos && self.kerberos.read().is_ok_and(|k| k.is_some())
    }

    /// A turn among the bounded blocking checks (`None`: the service is shutting down).
    pub async fn check_permit(&self) -> Option<SemaphorePermit<'_>> {
        self.password_checks.acquire().await.ok()
    }

    /// The one password check (Basic, and the password CredSSP delegates): on the blocking
    /// pool (PAM blocks), one bounded turn at a time. The credentials (and with them the
    /// zeroizing password) are dropped on that thread; the error says why, never with a
    /// secret. `client` is the peer's address (PAM's `PAM_RHOST`).
    pub async fn check_password(
        &self,
        credentials: Credentials,
        client: std::net::IpAddr,
    ) -> Result<Principal, PasswordCheckError> {
        let Some(_permit) = self.check_permit().await else {
            return Err(PasswordCheckError::ShuttingDown);
        };
        let verifier = Arc::clone(&self.verifier);
        let job =
            tokio::task::spawn_blocking(move || verifier.verify_basic(&credentials, Some(client)));
        Ok(job.await??)
    }
}

/// Why [`AuthServices::check_password`] did not yield a principal. Never carries the password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordCheckError {
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Refused(#[from] AuthError),
    #[error("the credential check stopped: {0}")]
    Stopped(#[from] tokio::task::JoinError),
}
