//! Negotiate/NTLM on a connection: the handshake legs (one `wsman-auth` acceptor per TCP
//! connection), the principal it proves, and the MS-WSMV sealing of bodies with the context's
//! keys. The pipeline calls [`step`] for an `Authorization: Negotiate|NTLM` header, then
//! [`NegotiateSession::unseal`] / [`NegotiateSession::seal`] around the SOAP processing.
//!
//! After the handshake the connection stays authenticated: later requests carry no
//! Authorization header (as with Windows); a new NEGOTIATE restarts authentication. A failed
//! handshake cannot be continued: a replayed AUTHENTICATE finds no CHALLENGE to answer.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use hyper::header::HeaderValue;
use wsman_auth::authorization::TokenScheme;
use wsman_auth::ntlm::{AcceptStep, ChannelBindingPolicy, NegotiateAcceptor, NtlmError};
use wsman_auth::sealing::{self, MessageSealer, SealError, SealedBody, UnsealedBody};
use wsman_auth::Identity;
use wsman_buffers::BufferPool;

use crate::auth::Principal;
use crate::pipeline::{Connection, Shared};
use crate::settings::{ServiceSettings, Transport};

/// The Negotiate state of one connection.
#[derive(Default)]
pub struct NegotiateSession {
    /// A handshake under way (a CHALLENGE went out).
    handshake: Option<NegotiateAcceptor>,
    /// The completed context.
    established: Option<Established>,
    /// A Kerberos handshake under way (multi-leg SPNEGO), see [`crate::kerberos`].
    kerberos_handshake: Option<wsman_gss::KerberosContext>,
    /// A CredSSP handshake under way, see [`crate::credssp`].
    credssp_handshake: Option<wsman_auth::credssp::CredSspAcceptor>,
}

struct Established {
    principal: Arc<Principal>,
    sealer: Box<dyn MessageSealer>,
}

impl std::fmt::Debug for NegotiateSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NegotiateSession")
            .field("handshake", &self.handshake.is_some())
            .field(
                "principal",
                &self.established.as_ref().map(|e| e.principal.to_string()),
            )
            .finish()
    }
}

impl NegotiateSession {
    /// The principal of the completed handshake, if any.
    pub fn principal(&self) -> Option<Arc<Principal>> {
        self.established.as_ref().map(|e| Arc::clone(&e.principal))
    }

    /// Forget everything (failed unseal, or a new handshake).
    pub fn reset(&mut self) {
        self.handshake = None;
        self.established = None;
        self.kerberos_handshake = None;
        self.credssp_handshake = None;
    }

    /// Authenticated by another engine (Kerberos): its principal and sealer.
    pub(crate) fn establish(&mut self, principal: Arc<Principal>, sealer: Box<dyn MessageSealer>) {
        self.handshake = None;
        self.kerberos_handshake = None;
        self.credssp_handshake = None;
        self.established = Some(Established { principal, sealer });
    }

    /// Whether a Kerberos handshake is under way on this connection.
    pub(crate) fn kerberos_handshake_pending(&self) -> bool {
        self.kerberos_handshake.is_some()
    }

    /// Take the Kerberos handshake under way (the leg runs on the blocking pool).
    pub(crate) fn take_kerberos_handshake(&mut self) -> Option<wsman_gss::KerberosContext> {
        self.established = None;
        self.kerberos_handshake.take()
    }

    /// Take the CredSSP handshake under way (the leg runs on the blocking pool).
    pub(crate) fn take_credssp_handshake(
        &mut self,
    ) -> Option<wsman_auth::credssp::CredSspAcceptor> {
        self.established = None;
        self.credssp_handshake.take()
    }

    /// Keep a CredSSP handshake for its next leg.
    pub(crate) fn set_credssp_handshake(&mut self, acceptor: wsman_auth::credssp::CredSspAcceptor) {
        self.credssp_handshake = Some(acceptor);
    }

    /// Keep a Kerberos handshake for its next leg.
    pub(crate) fn set_kerberos_handshake(&mut self, context: wsman_gss::KerberosContext) {
        self.kerberos_handshake = Some(context);
    }

    /// Decrypt an MS-WSMV body with this connection's context.
    pub fn unseal(
        &mut self,
        content_type: &str,
        body: &[u8],
        max_plain: usize,
    ) -> Result<UnsealedBody, SealError> {
        let Some(established) = self.established.as_mut() else {
            return Err(SealError::Unwrap(
                "no security context on this connection".to_owned(),
            ));
        };
        sealing::unseal_body(established.sealer.as_mut(), content_type, body, max_plain)
    }

    /// Encrypt a response body with this connection's context.
    pub fn seal(
        &mut self,
        original_content_type: &str,
        plain: &[u8],
    ) -> Result<SealedBody, SealError> {
        let Some(established) = self.established.as_mut() else {
            return Err(SealError::Wrap(
                "no security context on this connection".to_owned(),
            ));
        };
        sealing::seal_body(established.sealer.as_mut(), original_content_type, plain)
    }

    /// Encrypt a response body given as the pieces it was rendered in, without joining them,
    /// into a buffer of `sealed_bodies`: the Content-Type and the body to send.
    pub fn seal_parts(
        &mut self,
        original_content_type: &str,
        parts: &[&[u8]],
    ) -> Result<(String, Bytes), SealError> {
        let Some(established) = self.established.as_mut() else {
            return Err(SealError::Wrap(
                "no security context on this connection".to_owned(),
            ));
        };
        let pool = sealed_bodies();
        let total: usize = parts.iter().map(|part| part.len()).sum();
        let mut body = pool.take(total + 512);
        let content_type = sealing::seal_body_parts_into(
            established.sealer.as_mut(),
            original_content_type,
            parts,
            &mut body,
        )?;
        Ok((content_type, pool.lend(body)))
    }
}

/// Sealed response bodies are one Receive answer of up to MaxEnvelopeSize after another while
/// output streams: fresh memory that large is page faults and zeroing every time (under the
/// service's `MALLOC_MMAP_THRESHOLD_` each one is its own mapping), so they come from a pool
/// and go back to it once hyper has written them. Bounded: 4 free buffers of 64 KiB to 2 MiB.
fn sealed_bodies() -> &'static Arc<BufferPool> {
    static POOL: OnceLock<Arc<BufferPool>> = OnceLock::new();
    POOL.get_or_init(|| Arc::new(BufferPool::new(4, 64 * 1024, 2 * 1024 * 1024)))
}

/// The result of one handshake leg, for the pipeline.
pub enum Leg {
    /// Answer 401 with this one `WWW-Authenticate` value.
    Continue(HeaderValue),
    /// Authenticated; the final 200 carries `final_header` when present.
    Authenticated {
        principal: Arc<Principal>,
        final_header: Option<HeaderValue>,
    },
    /// Refused (already logged): answer 401 with the plain challenges.
    Refused,
}

/// Whether Negotiate may be used here at all (Service/Auth/Negotiate, read live).
pub fn enabled(settings: &ServiceSettings) -> bool {
    settings.auth_negotiate
}

/// One handshake leg for `token` (already base64-decoded) on `conn`.
pub async fn step(
    shared: &Shared,
    conn: &Connection,
    settings: &ServiceSettings,
    scheme: TokenScheme,
    token: Vec<u8>,
) -> Leg {
    let initial = NegotiateAcceptor::is_initial_token(&token);
    let acceptor = {
        let mut session = conn.negotiate();
        if initial {
            // A new Authorization header restarts authentication on this connection.
            session.reset();
            let policy = ChannelBindingPolicy {
                hardening: settings.cbt_hardening,
                expected: (conn.transport == Transport::Https)
                    .then_some(conn.channel_binding)
                    .flatten(),
            };
            Some(NegotiateAcceptor::new(policy, &host_short_name()))
        } else {
            session.established = None;
            session.handshake.take()
        }
    };
    let Some(mut acceptor) = acceptor else {
        fail(
            shared,
            conn,
            "",
            "an NTLM token that does not continue a handshake on this connection (replayed, \
             or the handshake already completed or failed)",
            true,
        );
        return Leg::Refused;
    };
    if !initial {
        shared
            .login_throttle
            .delay_before_check(conn.remote.ip(), "Negotiate", &settings.access.throttle)
            .await;
    }
    let config_dir = shared.config_dir.clone();
    let job = tokio::task::spawn_blocking(move || {
        let outcome = run_leg(&mut acceptor, &token, &config_dir);
        (acceptor, outcome)
    });
    let (acceptor, outcome) = match job.await {
        Ok(done) => done,
        Err(error) => {
            tracing::error!(remote = %conn.remote, %error, "NTLM step panicked");
            return Leg::Refused;
        }
    };
    match outcome {
        Ok(LegOutcome::Continue(out)) => {
            conn.negotiate().handshake = Some(acceptor);
            match header(scheme, &out) {
                Some(value) => Leg::Continue(value),
                None => Leg::Refused,
            }
        }
        Ok(LegOutcome::Complete {
            principal,
            sealer,
            final_token,
            wire,
        }) => {
            shared.login_throttle.record_success(conn.remote.ip());
            tracing::info!(remote = %conn.remote, user = %principal, client_user = %wire, scheme = scheme.name(), "authenticated (NTLM)");
            let principal = Arc::new(principal);
            conn.negotiate().established = Some(Established {
                principal: Arc::clone(&principal),
                sealer,
            });
            Leg::Authenticated {
                principal,
                final_header: final_token.as_deref().and_then(|t| header(scheme, t)),
            }
        }
        Err(LegError::Ntlm(error)) => {
            let user = acceptor.attempted_user().unwrap_or("").to_owned();
            let reason = explain(&error, &shared.config_dir);
            fail(shared, conn, &user, &reason, error.is_credential_failure());
            Leg::Refused
        }
        Err(LegError::Backend(reason)) => {
            tracing::error!(remote = %conn.remote, scheme = "Negotiate", %reason, "401: NTLM backend failure");
            Leg::Refused
        }
    }
}

enum LegOutcome {
    Continue(Vec<u8>),
    Complete {
        principal: Principal,
        sealer: Box<dyn MessageSealer>,
        final_token: Option<Vec<u8>>,
        wire: String,
    },
}

enum LegError {
    Ntlm(NtlmError),
    Backend(String),
}

/// Blocking: reads `accounts.toml` and resolves the Linux user.
fn run_leg(
    acceptor: &mut NegotiateAcceptor,
    token: &[u8],
    config_dir: &Path,
) -> Result<LegOutcome, LegError> {
    let store =
        wsman_config::accounts::load(config_dir).map_err(|e| LegError::Backend(e.to_string()))?;
    match acceptor.step(token, &store).map_err(LegError::Ntlm)? {
        AcceptStep::Continue(out) => Ok(LegOutcome::Continue(out)),
        AcceptStep::Complete(done) => {
            let run_as = store.get(&done.account).and_then(|a| a.run_as);
            let identity = Identity::service_account(done.account.clone(), run_as);
            let principal = crate::access::resolve_principal(identity)
                .map_err(|e| LegError::Backend(format!("user lookup: {e}")))?;
            let wire = if done.wire_domain.is_empty() {
                done.wire_user.clone()
            } else {
                format!("{}\\{}", done.wire_domain, done.wire_user)
            };
            Ok(LegOutcome::Complete {
                principal,
                sealer: done.sealer,
                final_token: done.final_token,
                wire,
            })
        }
    }
}

fn fail(shared: &Shared, conn: &Connection, user: &str, reason: &str, counts: bool) {
    if counts {
        shared
            .login_throttle
            .record_failure(conn.remote.ip(), "Negotiate", user, reason);
    } else {
        tracing::warn!(remote = %conn.remote, scheme = "Negotiate", user, reason, "401: authentication refused");
    }
}

/// The reason logged for a refusal; for an unknown user, why NTLM cannot work for it.
fn explain(error: &NtlmError, config_dir: &Path) -> String {
    let NtlmError::UnknownUser { user } = error else {
        return error.to_string();
    };
    let service_account = wsman_config::accounts::load(config_dir)
        .ok()
        .and_then(|store| store.get(user));
    if service_account.is_some() {
        return format!(
            "service account '{user}' has no NT hash: enable NTLM with \
             `wsmand account passwd {user} --password-stdin --ntlm`"
        );
    }
    if wsman_os::lookup_user(user).ok().flatten().is_some() {
        return format!(
            "'{user}' is a Linux (PAM) user: NTLM needs the user's NT hash, which PAM cannot \
             provide; use Basic over HTTPS, or a service account created with --ntlm"
        );
    }
    error.to_string()
}

fn header(scheme: TokenScheme, token: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("{} {}", scheme.name(), STANDARD.encode(token))).ok()
}

/// This host's short name (the NetBIOS-style name local-account clients put as domain).
fn host_short_name() -> String {
    wsman_os::host_name()
        .ok()
        .and_then(|name| name.split('.').next().map(str::to_ascii_uppercase))
        .unwrap_or_default()
}

/// MsvAvChannelBindings of the certificate `thumbprint` under `config_dir/certs` (the HTTPS
/// listener's), `None` when it cannot be read.
pub fn listener_channel_binding(config_dir: &Path, thumbprint: &str) -> Option<[u8; 16]> {
    let path = config_dir
        .join("certs")
        .join(format!("{}.crt", thumbprint.trim().to_ascii_uppercase()));
    let pem = std::fs::read(path).ok()?;
    let certificate = rustls_pemfile::certs(&mut std::io::BufReader::new(&pem[..]))
        .next()?
        .ok()?;
    wsman_auth::channel_binding::ntlm_channel_bindings(certificate.as_ref())
}
