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
//! Kerberos is on (a keytab), Kerberos ([`crate::credssp_kerberos`]): the mapped Linux user,
//! whose delegated password is then checked through PAM. Kerberos inside CredSSP without a
//! keytab is refused with that reason in the log.

use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hyper::header::HeaderValue;
use wsman_auth::credssp::{AcceptorCertificate, CredSspAcceptor, CredSspError, CredSspStep};
use wsman_auth::Credentials;

use crate::negotiate::Leg;
use crate::pipeline::{Connection, Shared};
use crate::settings::ServiceSettings;

const SCHEME: &str = "CredSSP";

/// Whether CredSSP may be used (Service/Auth/CredSSP, read live).
pub fn enabled(settings: &ServiceSettings) -> bool {
    settings.auth_credssp
}

/// The inner TLS certificate, generated once per process on first use (an RSA key).
fn certificate() -> Result<&'static AcceptorCertificate, String> {
    static CERTIFICATE: OnceLock<Result<AcceptorCertificate, String>> = OnceLock::new();
    CERTIFICATE
        .get_or_init(|| {
            let host = wsman_os::host_name().unwrap_or_default();
            let short = host.split('.').next().unwrap_or("").to_ascii_uppercase();
            AcceptorCertificate::generate(&short).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// One CredSSP leg for `token` (already base64-decoded).
pub async fn step(
    shared: &Shared,
    conn: &Connection,
    settings: &ServiceSettings,
    token: Vec<u8>,
) -> Leg {
    if !enabled(settings) {
        conn.negotiate().reset();
        tracing::warn!(remote = %conn.remote, scheme = SCHEME, "401: CredSSP is not enabled (Service/Auth/CredSSP)");
        return Leg::Refused;
    }
    let initial = CredSspAcceptor::is_initial_token(&token);
    let pending = {
        let mut session = conn.negotiate();
        if initial {
            session.reset();
            None
        } else {
            session.take_credssp_handshake()
        }
    };
    if !initial && pending.is_none() {
        refuse(
            shared,
            conn,
            "",
            "a CredSSP token that does not continue a handshake on this connection",
            false,
        );
        return Leg::Refused;
    }
    if !initial {
        // The inner NTLM proof is checked on a later leg: slow down an address that failed
        // before, as for Negotiate.
        shared
            .login_throttle
            .delay_before_check(conn.remote.ip(), SCHEME, &settings.access.throttle)
            .await;
    }
    let config_dir = shared.config_dir.clone();
    let kerberos = if crate::kerberos::enabled(shared, settings) {
        shared.kerberos.clone()
    } else {
        None
    };
    let job = tokio::task::spawn_blocking(move || {
        let mut acceptor = match pending {
            Some(acceptor) => acceptor,
            None => {
                let certificate = certificate()?;
                let host = wsman_os::host_name().unwrap_or_default();
                let short = host.split('.').next().unwrap_or("").to_ascii_uppercase();
                let acceptor =
                    CredSspAcceptor::new(certificate, &short).map_err(|e| e.to_string())?;
                match kerberos {
                    Some(service) => acceptor.with_kerberos(Box::new(
                        crate::credssp_kerberos::CredSspKerberos::new(service),
                    )),
                    None => acceptor,
                }
            }
        };
        let store = wsman_config::accounts::load(&config_dir).map_err(|e| e.to_string())?;
        let outcome = acceptor.step(&token, &store);
        Ok::<_, String>((acceptor, outcome))
    });
    let (acceptor, outcome) = match job.await {
        Ok(Ok(done)) => done,
        Ok(Err(reason)) => {
            tracing::error!(remote = %conn.remote, scheme = SCHEME, %reason, "401: CredSSP backend failure");
            return Leg::Refused;
        }
        Err(error) => {
            tracing::error!(remote = %conn.remote, %error, "CredSSP step panicked");
            return Leg::Refused;
        }
    };
    match outcome {
        Ok(CredSspStep::Continue(out)) => {
            conn.negotiate().set_credssp_handshake(acceptor);
            match header(&out) {
                Some(value) => Leg::Continue(value),
                None => Leg::Refused,
            }
        }
        Ok(CredSspStep::Complete(done)) => {
            let done = *done;
            let account = done.account.clone();
            // The delegated password is checked like a Basic one; the inner NTLM already
            // proved the same account, so a mismatch here means the stores disagree.
            let credentials = Credentials::new(&account, done.credentials.password.as_str());
            drop(done.credentials);
            match verify(shared, credentials).await {
                Ok(principal) => {
                    shared.login_throttle.record_success(conn.remote.ip());
                    tracing::info!(remote = %conn.remote, user = %principal, scheme = SCHEME, inner = acceptor.inner_mechanism(), "authenticated (CredSSP, credentials delegated)");
                    let principal = Arc::new(principal);
                    conn.negotiate()
                        .establish(Arc::clone(&principal), done.sealer);
                    Leg::Authenticated {
                        principal,
                        final_header: None,
                    }
                }
                Err(reason) => {
                    refuse(
                        shared,
                        conn,
                        &account,
                        &format!("delegated credentials refused: {reason}"),
                        true,
                    );
                    Leg::Refused
                }
            }
        }
        Err(refusal) => {
            let user = acceptor.attempted_user().unwrap_or("").to_owned();
            let reason = explain(&refusal.error);
            refuse(
                shared,
                conn,
                &user,
                &reason,
                refusal.error.is_credential_failure(),
            );
            // Tell the client why (TSRequest errorCode) when its version allows it.
            match refusal.reply.as_deref().and_then(header) {
                Some(value) => Leg::Continue(value),
                None => Leg::Refused,
            }
        }
    }
}

async fn verify(
    shared: &Shared,
    credentials: Credentials,
) -> Result<crate::auth::Principal, String> {
    let Ok(_permit) = shared.password_checks.acquire().await else {
        return Err("the service is shutting down".to_owned());
    };
    let verifier = Arc::clone(&shared.verifier);
    let job = tokio::task::spawn_blocking(move || verifier.verify_basic(&credentials));
    match job.await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(format!("credential check panicked: {e}")),
    }
}

fn refuse(shared: &Shared, conn: &Connection, user: &str, reason: &str, counts: bool) {
    if counts {
        shared
            .login_throttle
            .record_failure(conn.remote.ip(), SCHEME, user, reason);
    } else {
        tracing::warn!(remote = %conn.remote, scheme = SCHEME, user, reason, "401: authentication refused");
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

fn header(token: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("{SCHEME} {}", STANDARD.encode(token))).ok()
}
