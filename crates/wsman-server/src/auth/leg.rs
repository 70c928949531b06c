//! The one leg skeleton of every token scheme: route the token to its engine (a new
//! handshake, or the one under way on this connection), wait out the failed-login throttle,
//! run the step on the blocking pool, and turn its outcome into the connection's new state,
//! the 401 challenge or the final header, one log line and one throttle record.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hyper::header::HeaderValue;
use wsman_auth::authorization::TokenScheme;
use wsman_auth::credssp::CredSspAcceptor;
use wsman_auth::negotiate_route::{route_initial_token, NegotiateMechanism};
use wsman_auth::ntlm::NegotiateAcceptor;

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
    let kerberos = services
        .kerberos_enabled(settings)
        .then(|| services.kerberos())
        .flatten();
    if scheme == TokenScheme::CredSsp {
        if !super::credssp::enabled(settings) {
            return Route::Refuse("CredSSP is not enabled (Service/Auth/CredSSP)");
        }
        if !CredSspAcceptor::is_initial_token(token) {
            return Route::Continue(Mechanism::CredSsp);
        }
        return Route::Start(Box::new(CredSspHandshake::new(kerberos)));
    }
    let ntlm = || {
        if NegotiateAcceptor::is_initial_token(token) {
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
    let pending = AuthState::lock(state).pending();
    let (handshake, initial) = match route(services, pending, channel, settings, scheme, &token) {
        Route::Start(handshake) => {
            // A new Authorization header restarts authentication on this connection.
            AuthState::lock(state).reset();
            (handshake, true)
        }
        Route::Continue(mechanism) => match AuthState::lock(state).take_handshake(mechanism) {
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
            AuthState::lock(state).reset();
            if services.refusal_log.admit(remote) {
                tracing::warn!(remote = %remote, scheme = scheme.name(), reason, "401: authentication refused");
            }
            return Leg::Refused;
        }
    };
    drive(
        services, state, channel, settings, scheme, handshake, initial, token,
    )
    .await
}

/// A refused step's leg: a failure of the credentials counted by the login throttle, one of
/// the protocol or the backend logged; the 401 carries the token the mechanism still sends.
fn refused(
    services: &AuthServices,
    remote: std::net::SocketAddr,
    scheme: TokenScheme,
    mechanism: Mechanism,
    handshake: &dyn Handshake,
    refusal: super::Refusal,
) -> Leg {
    let user = match refusal.user.as_str() {
        "" => handshake.attempted_user().unwrap_or_default(),
        user => user.to_owned(),
    };
    let reason = &refusal.reason;
    match refusal.kind {
        RefusalKind::Credentials => {
            services
                .login_throttle
                .record_failure(remote.ip(), mechanism.scheme(), &user, reason);
        }
        RefusalKind::Protocol => {
            tracing::warn!(remote = %remote, scheme = mechanism.scheme(), user, reason, "401: authentication refused");
        }
        RefusalKind::Backend => {
            tracing::error!(remote = %remote, scheme = mechanism.scheme(), reason, "401: authentication backend failure");
        }
    }
    refusal
        .reply
        .and_then(|reply| header(scheme, &reply))
        .map_or(Leg::Refused, Leg::Continue)
}

/// The leg of `handshake` (new when `initial`, else taken from the connection's state) for
/// `token`: everything after routing.
#[allow(clippy::too_many_arguments)]
async fn drive(
    services: &AuthServices,
    state: &Mutex<AuthState>,
    channel: &Channel,
    settings: &ServiceSettings,
    scheme: TokenScheme,
    mut handshake: Box<dyn Handshake>,
    initial: bool,
    token: Vec<u8>,
) -> Leg {
    let remote = channel.remote;
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
            *AuthState::lock(state) = AuthState::Handshake(handshake);
            return challenge.map_or(Leg::Refused, Leg::Continue);
        }
        Step::Complete(done) => done,
        Step::Refused(refusal) => {
            return refused(
                services,
                remote,
                scheme,
                mechanism,
                handshake.as_ref(),
                refusal,
            )
        }
    };
    let principal = match done.proof {
        Proof::Principal(principal) => principal,
        Proof::DelegatedPassword(credentials) => {
            let user = credentials.user.clone();
            match services.check_password(credentials, remote.ip()).await {
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
    services
        .login_throttle
        .record_success(remote.ip(), mechanism.scheme());
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
    *AuthState::lock(state) = AuthState::Established {
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::net::SocketAddr;

    use wsman_auth::sealing::{MessageSealer, SealError};
    use wsman_auth::Identity;

    use super::super::accounts::AccountCache;
    use super::super::basic::CredentialVerifier;
    use super::super::{Completed, Refusal};
    use super::*;
    use crate::settings::Transport;

    /// The tokens a scripted handshake was given.
    type Seen = Arc<Mutex<Vec<Vec<u8>>>>;

    /// A handshake that answers its legs from a script (the engines' own tests are against
    /// real peers; this is the skeleton's).
    struct Scripted {
        mechanism: Mechanism,
        steps: VecDeque<Step>,
        tokens: Seen,
    }

    impl Handshake for Scripted {
        fn mechanism(&self) -> Mechanism {
            self.mechanism
        }

        fn attempted_user(&self) -> Option<String> {
            Some("scripted-user".to_owned())
        }

        fn step(&mut self, token: &[u8], _accounts: &AccountCache) -> Step {
            self.tokens.lock().unwrap().push(token.to_vec());
            self.steps.pop_front().expect("a scripted step")
        }
    }

    struct Plain;

    impl MessageSealer for Plain {
        fn protocol(&self) -> &str {
            "application/HTTP-SPNEGO-session-encrypted"
        }

        fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SealError> {
            Ok((vec![0; 16], plain.to_vec()))
        }

        fn unwrap(&mut self, _header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
            Ok(ciphertext.to_vec())
        }
    }

    fn services(dir: &std::path::Path) -> AuthServices {
        let verifier = Arc::new(CredentialVerifier::with_system(
            dir,
            Box::new(crate::auth::NoSystemUsers),
        ));
        AuthServices::new(dir.to_owned(), verifier, None)
    }

    fn channel() -> Channel {
        Channel {
            remote: SocketAddr::from(([127, 0, 0, 1], 40000)),
            transport: Transport::Http,
            channel_binding: None,
            end_point_binding: None,
        }
    }

    fn completed(user: &str) -> Step {
        Step::Complete(Completed {
            proof: Proof::Principal(Principal::new(Identity::linux_user(user), false)),
            sealer: Box::new(Plain),
            final_token: Some(Vec::new()),
            detail: Detail::Kerberos {
                principal: format!("{user}@TEST"),
                channel_bound: false,
            },
        })
    }

    /// One leg on [`channel`] with the default settings, for a one-byte `token`.
    async fn drive_once(
        services: &AuthServices,
        state: &Mutex<AuthState>,
        scheme: TokenScheme,
        handshake: Box<dyn Handshake>,
        initial: bool,
        token: u8,
    ) -> Leg {
        let settings = ServiceSettings::default();
        let token = vec![token];
        drive(
            services,
            state,
            &channel(),
            &settings,
            scheme,
            handshake,
            initial,
            token,
        )
        .await
    }

    fn scripted(steps: Vec<Step>) -> (Box<dyn Handshake>, Seen) {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let handshake = Scripted {
            mechanism: Mechanism::Kerberos,
            steps: steps.into(),
            tokens: Arc::clone(&tokens),
        };
        (Box::new(handshake), tokens)
    }

    #[tokio::test]
    async fn a_continued_handshake_is_kept_and_its_completion_authenticates() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path());
        let state = Mutex::new(AuthState::default());
        let (handshake, tokens) = scripted(vec![Step::Continue(vec![1, 2, 3]), completed("alice")]);

        let first = drive_once(
            &services,
            &state,
            TokenScheme::Negotiate,
            handshake,
            true,
            9,
        )
        .await;
        let Leg::Continue(challenge) = first else {
            panic!("the first leg continues")
        };
        assert_eq!(challenge, "Negotiate AQID");
        assert_eq!(
            *tokens.lock().unwrap(),
            vec![vec![9]],
            "the token reached the step"
        );
        assert_eq!(AuthState::lock(&state).pending(), Some(Mechanism::Kerberos));

        // The next leg takes the handshake from the state, never another engine's.
        assert!(AuthState::lock(&state)
            .take_handshake(Mechanism::Ntlm)
            .is_none());
        assert_eq!(
            AuthState::lock(&state).pending(),
            None,
            "a mismatched token drops it"
        );
        let (handshake, _) = scripted(vec![Step::Continue(vec![1]), completed("alice")]);
        *AuthState::lock(&state) = AuthState::Handshake(handshake);
        let pending = AuthState::lock(&state)
            .take_handshake(Mechanism::Kerberos)
            .unwrap();
        let leg = drive_once(&services, &state, TokenScheme::Kerberos, pending, false, 8).await;
        assert!(matches!(leg, Leg::Continue(_)));
        let pending = AuthState::lock(&state)
            .take_handshake(Mechanism::Kerberos)
            .unwrap();
        let leg = drive_once(&services, &state, TokenScheme::Kerberos, pending, false, 7).await;
        let Leg::Authenticated {
            principal,
            final_header,
        } = leg
        else {
            panic!("the last leg authenticates")
        };
        assert_eq!(principal.to_string(), "alice");
        // An empty final token is the bare scheme name.
        assert_eq!(final_header.unwrap(), "Kerberos");
        assert_eq!(
            AuthState::lock(&state)
                .context_principal()
                .map(|p| p.to_string()),
            Some("alice".to_owned())
        );
        assert!(AuthState::lock(&state)
            .seal_parts("application/soap+xml", &[b"x"])
            .is_ok());
    }

    #[tokio::test]
    async fn refusals_are_counted_by_kind_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path());
        let state = Mutex::new(AuthState::default());
        let ip = channel().remote.ip();

        let (handshake, _) = scripted(vec![Step::Refused(Refusal::new(
            "",
            "bad proof",
            RefusalKind::Credentials,
        ))]);
        let leg = drive_once(&services, &state, TokenScheme::Kerberos, handshake, true, 1).await;
        assert!(matches!(leg, Leg::Refused));
        assert_eq!(services.login_throttle.failures(ip), 1);
        assert_eq!(AuthState::lock(&state).pending(), None);

        // Malformed input is logged, not counted; a reply token still goes back in a 401.
        let refusal = Refusal {
            reply: Some(vec![0xAB]),
            ..Refusal::new("x", "truncated", RefusalKind::Protocol)
        };
        let (handshake, _) = scripted(vec![Step::Refused(refusal)]);
        let leg = drive_once(&services, &state, TokenScheme::CredSsp, handshake, true, 1).await;
        let Leg::Continue(reply) = leg else {
            panic!("the reply token is sent")
        };
        assert_eq!(reply, "CredSSP qw==");
        assert_eq!(services.login_throttle.failures(ip), 1);
        assert!(AuthState::lock(&state).context_principal().is_none());

        // A password delegated to us is checked like Basic: refused here, and counted.
        let (handshake, _) = scripted(vec![Step::Complete(Completed {
            proof: Proof::DelegatedPassword(wsman_auth::Credentials::new("bob", "pw")),
            sealer: Box::new(Plain),
            final_token: None,
            detail: Detail::CredSsp { inner: "NTLM" },
        })]);
        let leg = drive_once(&services, &state, TokenScheme::CredSsp, handshake, true, 1).await;
        assert!(matches!(leg, Leg::Refused));
        assert_eq!(services.login_throttle.failures(ip), 2);
        assert!(AuthState::lock(&state).context_principal().is_none());
    }

    #[tokio::test]
    async fn a_continuation_without_a_handshake_under_way_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path());
        let state = Mutex::new(AuthState::default());
        let settings = ServiceSettings {
            auth_negotiate: true,
            ..ServiceSettings::default()
        };
        // An NTLM AUTHENTICATE message (type 3) on a connection that sent no NEGOTIATE.
        let mut authenticate = b"NTLMSSP\0".to_vec();
        authenticate.extend_from_slice(&3u32.to_le_bytes());
        authenticate.resize(64, 0);
        let leg = run(
            &services,
            &state,
            &channel(),
            &settings,
            TokenScheme::Ntlm,
            authenticate,
        )
        .await;
        assert!(matches!(leg, Leg::Refused));
        assert_eq!(services.login_throttle.failures(channel().remote.ip()), 1);
    }
}
