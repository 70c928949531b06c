//! CredSSP on a connection (`Authorization: CredSSP <base64 TLS records>`): one `wsman-auth`
//! acceptor per connection, stepped on the blocking pool; every 401 leg carries the single
//! `WWW-Authenticate: CredSSP <token>` header. When the client has delegated its password,
//! the password is verified like a Basic credential (the account store for service accounts,
//! PAM otherwise), the connection is authenticated as that account, and the CredSSP TLS
//! session seals MS-WSMV bodies (`application/HTTP-CredSSP-session-encrypted`, one group per
//! 16 KiB). The delegated password is never logged and is zeroed when the check is done.
//!
//! Inert unless `Service/Auth/CredSSP` is true (read live; Windows' default is false). The
//! inner authentication is NTLM (service accounts with an NT hash, `--ntlm`) or, when
//! Kerberos is on (a keytab), Kerberos ([`super::credssp_kerberos`]): the mapped Linux user,
//! whose delegated password is then checked through PAM. Kerberos inside CredSSP without a
//! keytab is refused with that reason in the log.

use std::sync::{Arc, OnceLock};

use wsman_auth::credssp::{
    AcceptorCertificate, CredSspAcceptor, CredSspError, CredSspStep, TlsError,
};
use wsman_auth::Credentials;

use super::accounts::AccountCache;
use super::kerberos::KerberosService;
use super::{Completed, Detail, Handshake, Mechanism, Proof, Refusal, RefusalKind, Step};
use crate::settings::ServiceSettings;

/// Whether CredSSP may be used (Service/Auth/CredSSP, read live).
pub fn enabled(settings: &ServiceSettings) -> bool {
    settings.auth_credssp
}

/// Why this process cannot run a CredSSP acceptor at all (our side, not the client's).
#[derive(Debug, thiserror::Error)]
enum SetupError {
    #[error("CredSSP's inner TLS certificate could not be made: {0}")]
    Certificate(#[source] TlsError),
    #[error("CredSSP acceptor: {0}")]
    Acceptor(#[from] CredSspError),
}

/// The inner TLS certificate, generated once per process on first use (an RSA key).
fn certificate() -> Result<&'static AcceptorCertificate, SetupError> {
    static CERTIFICATE: OnceLock<Result<AcceptorCertificate, TlsError>> = OnceLock::new();
    CERTIFICATE
        .get_or_init(|| AcceptorCertificate::generate(&short_host_name()))
        .as_ref()
        .map_err(|error| SetupError::Certificate(error.clone()))
}

/// The NetBIOS-style host name CredSSP's certificate and NTLM target info carry.
fn short_host_name() -> String {
    let host = wsman_os::host_name().unwrap_or_default();
    host.split('.').next().unwrap_or("").to_ascii_uppercase()
}

/// One CredSSP handshake. The acceptor is made on the first leg, on the blocking pool (the
/// process's first one generates the inner certificate).
pub struct CredSspHandshake {
    acceptor: Option<CredSspAcceptor>,
    /// Kerberos inside CredSSP, when Kerberos is on.
    kerberos: Option<Arc<KerberosService>>,
}

impl CredSspHandshake {
    pub fn new(kerberos: Option<Arc<KerberosService>>) -> Self {
        Self {
            acceptor: None,
            kerberos,
        }
    }

    fn acceptor(&mut self) -> Result<&mut CredSspAcceptor, SetupError> {
        if let Some(ref mut acceptor) = self.acceptor {
            return Ok(acceptor);
        }
        let acceptor = CredSspAcceptor::new(certificate()?, &short_host_name())?;
        Ok(self.acceptor.insert(match self.kerberos.clone() {
            Some(service) => acceptor.with_kerberos(Box::new(
                super::credssp_kerberos::CredSspKerberos::new(service),
            )),
            None => acceptor,
        }))
    }
}

impl Handshake for CredSspHandshake {
    fn mechanism(&self) -> Mechanism {
        Mechanism::CredSsp
    }

    fn attempted_user(&self) -> Option<String> {
        self.acceptor
            .as_ref()
            .and_then(|a| a.attempted_user())
            .map(str::to_owned)
    }

    fn step(&mut self, token: &[u8], accounts: &AccountCache) -> Step {
        let store = match accounts.current() {
            Ok(store) => store,
            Err(error) => return Step::Refused(Refusal::backend(error.to_string())),
        };
        let acceptor = match self.acceptor() {
            Ok(acceptor) => acceptor,
            Err(error) => return Step::Refused(Refusal::backend(error.to_string())),
        };
        match acceptor.step(token, &*store) {
            Ok(CredSspStep::Continue(out)) => Step::Continue(out),
            Ok(CredSspStep::Complete(done)) => {
                let done = *done;
                // The delegated password is checked like a Basic one; the inner NTLM already
                // proved the same account, so a mismatch here means the stores disagree.
                let credentials =
                    Credentials::new(&done.account, done.credentials.password.as_str());
                drop(done.credentials);
                Step::Complete(Completed {
                    proof: Proof::DelegatedPassword(credentials),
                    sealer: done.sealer,
                    final_token: None,
                    detail: Detail::CredSsp {
                        inner: acceptor.inner_mechanism(),
                    },
                })
            }
            Err(refusal) => {
                let kind = if refusal.error.is_credential_failure() {
                    RefusalKind::Credentials
                } else {
                    RefusalKind::Protocol
                };
                let user = acceptor.attempted_user().unwrap_or("").to_owned();
                Step::Refused(Refusal {
                    // Tell the client why (TSRequest errorCode) when its version allows it.
                    reply: refusal.reply.clone(),
                    ..Refusal::new(user, explain(&refusal.error), kind)
                })
            }
        }
    }
}

fn explain(error: &CredSspError) -> String {
    match error {
        CredSspError::Inner(wsman_auth::ntlm::NtlmError::UnknownUser { user }) => format!(
            "no NTLM-enabled account '{user}': CredSSP's inner NTLM needs a service account \
             with an NT hash (`wsmand account passwd {user} --password-stdin --ntlm`); Linux \
             (PAM) users need Kerberos inside CredSSP (a keytab on the server)"
        ),
        other => other.to_string(),
    }
}
