//! The one leg skeleton of every token scheme: route the token to its engine (a new
//! handshake, or the one under way on this connection), wait out the failed-login throttle,
//! run the step on the blocking pool, and turn its outcome into the connection's new state,
//! the 401 challenge or the final header, one log line and one throttle record.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hyper::header::HeaderValue;
use wsman_auth::authorization::TokenScheme;
use wsman_auth::negotiate_route::{route_initial_token, NegotiateMechanism};

use super::credssp::CredSspHandshake;
use super::kerberos::KerberosHandshake;
use super::ntlm::NtlmHandshake;
use super::services::AuthServices;
use super::state::AuthState;
use super::{Channel, Detail, Handshake, Mechanism, Principal, Proof, RefusalKind, Step};
use crate::settings::ServiceSettings;

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

/// Whether any token scheme (Negotiate/NTLM, Kerberos, CredSSP) may be used now.
pub fn token_schemes_enabled(services: &AuthServices, settings: &ServiceSettings) -> bool {
    super::ntlm::enabled(settings)
        || services.kerberos_enabled(settings)
        || super::credssp::enabled(settings)
}

impl Mechanism {
    /// The scheme name in logs and the failed-login throttle.
    fn scheme(self) -> &'static str {
        match self {
            Self::Ntlm => "Negotiate",
            Self::Kerberos => "Kerberos",
            Self::CredSsp => "CredSSP",
        }
    }

    fn display(self) -> &'static str {
        match self {
            Self::Ntlm => "an NTLM",
            Self::Kerberos => "a Kerberos",
            Self::CredSsp => "a CredSSP",
        }
    }
}

/// Where a token goes.
enum Route {
    /// A new handshake of this engine.
    Start(Box<dyn Handshake>),
    /// The next leg of the handshake under way, which must be of this engine.
    Continue(Mechanism),
    /// Nobody may take it.
    Refuse(&'static str),
}

/// Route a token. Kerberos off: everything goes to NTLM (or is refused when Negotiate is off
/// too). The `Kerberos` scheme is Kerberos only. Under `Negotiate`, a first token goes by its
/// form ([`route_initial_token`]); a continuation goes to whichever engine has a handshake
/// under way on this connection.
fn route(
    services: &AuthServices,
    pending: Option<Mechanism>,
    channel: &Channel,
    settings: &ServiceSettings,
    scheme: TokenScheme,
    token: &[u8],
) -> Route {
    if scheme == TokenScheme::CredSsp {
        if !super::credssp::enabled(settings) {
            return Route::Refuse("CredSSP is not enabled (Service/Auth/CredSSP)");
        }
        if !CredSspHandshake::is_initial_token(token) {
            return Route::Continue(Mechanism::CredSsp);
        }
        let kerberos = services
            .kerberos_enabled(settings)
            .then(|| services.kerberos())
            .flatten();
        return Route::Start(Box::new(CredSspHandshake::new(kerberos)));
    }
    let kerberos = services
        .kerberos_enabled(settings)
        .then(|| services.kerberos())
        .flatten();
    let ntlm = || {
        if NtlmHandshake::is_initial_token(token) {
            Route::Start(Box::new(NtlmHandshake::new(channel, settings)))
        } else {
            Route::Continue(Mechanism::Ntlm)
        }
    };
    let ntlm_or_refuse = |why| {
        if super::ntlm::enabled(settings) {
            ntlm()
        } else {
            Route::Refuse(why)
        }
    };
    let start_kerberos = |service| {
        Route::Start(Box::new(KerberosHandshake::new(
            service, channel, settings, scheme,
        )))
    };
    let kerberos_pending = pending == Some(Mechanism::Kerberos);
    match (scheme, kerberos) {
        (TokenScheme::Kerberos, Some(_)) if kerberos_pending => {
            Route::Continue(Mechanism::Kerberos)
        }
        (TokenScheme::Kerberos, Some(service)) => start_kerberos(service),
        (TokenScheme::Kerberos, None) => {
            Route::Refuse("Kerberos is not enabled (no keytab, or Service/Auth/Kerberos is false)")
        }
        (TokenScheme::Negotiate, Some(service)) => match route_initial_token(token) {
            Some(route) if route.mechanism == NegotiateMechanism::Kerberos => {
                start_kerberos(service)
            }
            Some(_) => ntlm_or_refuse("NTLM is not enabled (Service/Auth/Negotiate is false)"),
            None if kerberos_pending => Route::Continue(Mechanism::Kerberos),
            None => ntlm_or_refuse("a Negotiate token that is neither NTLM nor Kerberos"),
        },
        _ => ntlm_or_refuse("Service/Auth/Negotiate is false"),
    }
}

fn lock(state: &Mutex<AuthState>) -> std::sync::MutexGuard<'_, AuthState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// One handshake leg for `token` (already base64-decoded) under `scheme` on the connection
/// whose state is `state`.
pub async fn run(
    services: &AuthServices,
    state: &Mutex<AuthState>,
    channel: &Channel,
    settings: &ServiceSettings,
    scheme: TokenScheme,
    token: Vec<u8>,
) -> Leg {
    let remote = channel.remote;
    let pending = lock(state).pending();
    let (mut handshake, initial) = match route(services, pending, channel, settings, scheme, &token)
    {
        Route::Start(handshake) => {
            // A new Authorization header restarts authentication on this connection.
            lock(state).reset();
            (handshake, true)
        }
        Route::Continue(mechanism) => match lock(state).take_handshake(mechanism) {
            Some(handshake) => (handshake, false),
            None => {
                services.login_throttle.record_failure(
                    remote.ip(),
                    mechanism.scheme(),
                    "",
                    &format!(
                        "{} token that does not continue a handshake on this connection \
                         (replayed, or the handshake already completed or failed)",
                        mechanism.display()
                    ),
                );
                return Leg::Refused;
            }
        },
        Route::Refuse(reason) => {
            lock(state).reset();
            if services.refusal_log.admit(remote) {
                tracing::warn!(remote = %remote, scheme = scheme.name(), reason, "401: authentication refused");
            }
            return Leg::Refused;
        }
    };
    let mechanism = handshake.mechanism();
    if !initial || handshake.first_leg_proves() {
        services
            .login_throttle
            .delay_before_check(remote.ip(), mechanism.scheme(), &settings.access.throttle)
            .await;
    }
    let accounts = Arc::clone(&services.accounts);
    let job = tokio::task::spawn_blocking(move || {
        let step = handshake.step(&token, &accounts);
        (handshake, step)
    });
    let (handshake, step) = match job.await {
        Ok(done) => done,
        Err(error) => {
            tracing::error!(remote = %remote, scheme = mechanism.scheme(), %error, "authentication step panicked");
            return Leg::Refused;
        }
    };
    let done = match step {
        Step::Continue(out) => {
            let challenge = header(scheme, &out);
            *lock(state) = AuthState::Handshake(handshake);
            return challenge.map_or(Leg::Refused, Leg::Continue);
        }
        Step::Complete(done) => done,
        Step::Refused(refusal) => {
            let user = match refusal.user.as_str() {
                "" => handshake.attempted_user().unwrap_or_default(),
                user => user.to_owned(),
            };
            let reason = &refusal.reason;
            match refusal.kind {
                RefusalKind::Credentials => {
                    services.login_throttle.record_failure(
                        remote.ip(),
                        mechanism.scheme(),
                        &user,
                        reason,
                    );
                }
                RefusalKind::Protocol => {
                    tracing::warn!(remote = %remote, scheme = mechanism.scheme(), user, reason, "401: authentication refused");
                }
                RefusalKind::Backend => {
                    tracing::error!(remote = %remote, scheme = mechanism.scheme(), reason, "401: authentication backend failure");
                }
            }
            return refusal
                .reply
                .and_then(|reply| header(scheme, &reply))
                .map_or(Leg::Refused, Leg::Continue);
        }
    };
    let principal = match done.proof {
        Proof::Principal(principal) => principal,
        Proof::DelegatedPassword(credentials) => {
            let user = credentials.user.clone();
            match services.check_password(credentials).await {
                Ok(principal) => principal,
                Err(reason) => {
                    services.login_throttle.record_failure(
                        remote.ip(),
                        mechanism.scheme(),
                        &user,
                        &format!("delegated credentials refused: {reason}"),
                    );
                    return Leg::Refused;
                }
            }
        }
    };
    services.login_throttle.record_success(remote.ip());
    let scheme_name = scheme.name();
    match &done.detail {
        Detail::Ntlm { client_user } => {
            tracing::info!(remote = %remote, user = %principal, client_user = %client_user, scheme = scheme_name, "authenticated (NTLM)");
        }
        Detail::Kerberos {
            principal: kerberos_principal,
            channel_bound,
        } => {
            tracing::info!(remote = %remote, user = %principal, principal = %kerberos_principal, scheme = scheme_name, channel_bound, "authenticated (Kerberos)");
        }
        Detail::CredSsp { inner } => {
            tracing::info!(remote = %remote, user = %principal, scheme = scheme_name, inner, "authenticated (CredSSP, credentials delegated)");
        }
    }
    let principal = Arc::new(principal);
    *lock(state) = AuthState::Established {
        principal: Arc::clone(&principal),
        sealer: done.sealer,
    };
    Leg::Authenticated {
        principal,
        final_header: done.final_token.and_then(|token| header(scheme, &token)),
    }
}

/// `WWW-Authenticate: <scheme> <base64>`, or the bare scheme name for an empty token.
fn header(scheme: TokenScheme, token: &[u8]) -> Option<HeaderValue> {
    let value = if token.is_empty() {
        scheme.name().to_owned()
    } else {
        format!("{} {}", scheme.name(), STANDARD.encode(token))
    };
    HeaderValue::from_str(&value).ok()
}
