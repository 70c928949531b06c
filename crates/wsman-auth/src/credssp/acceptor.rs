//! The server side of CredSSP (MS-CSSP 3.1.5) for WinRM: our own state machine (sspi's
//! `CredSspServer` drops the final SPNEGO token when pubKeyAuth rides in the same TSRequest,
//! which breaks the default client path). TLS runs in memory ([`super::tls`]); the inner
//! authentication is the crate's NTLM acceptor (the account needs an NT hash), or Kerberos
//! through an [`InnerKerberos`] the caller supplies (the mapped Linux user).
//!
//! Legs: TLS handshake (one or two), then TSRequests inside TLS: negoTokens until the inner
//! authentication completes, pubKeyAuth with it (the public-key binding, version 5 and later
//! with the client's nonce), then authInfo with the delegated `TSPasswordCreds`. The
//! delegated user must be the authenticated account; the caller verifies the delegated
//! password.

use std::fmt;

use super::tls::{self, AcceptorCertificate, TlsError, TlsSealer};
use super::ts_request::{DecodeError, PasswordCredentials, TsRequest, STATUS_LOGON_FAILURE};
use super::{binding_hash, CLIENT_TO_SERVER, SERVER_TO_CLIENT};
use crate::ntlm::{AcceptStep, ChannelBindingPolicy, NegotiateAcceptor, NtHashLookup, NtlmError};
use crate::sealing::{MessageSealer, SealError};

/// Why a CredSSP handshake was refused. No variant carries a password or key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredSspError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("TSRequest: {0}")]
    Decode(#[from] DecodeError),
    #[error("inner authentication: {0}")]
    Inner(#[from] NtlmError),
    #[error("Kerberos inside CredSSP needs Kerberos on the server (a keytab); otherwise use NTLM (an account with an NT hash)")]
    KerberosInside,
    #[error("inner Kerberos: {0}")]
    Kerberos(#[source] InnerKerberosError),
    #[error("out of order: {0}")]
    OutOfOrder(&'static str),
    #[error("the client skipped the public-key binding (no pubKeyAuth)")]
    MissingPublicKeyBinding,
    #[error("version {0} requires the client nonce")]
    MissingNonce(u32),
    #[error("public-key binding does not match this TLS session")]
    PublicKeyMismatch,
    #[error("pubKeyAuth or authInfo could not be sealed or opened with NTLM: {0}")]
    Unseal(#[from] SealError),
    #[error("pubKeyAuth or authInfo could not be sealed or opened with Kerberos: {0}")]
    KerberosUnseal(#[source] InnerKerberosError),
    #[error("pubKeyAuth or authInfo is shorter than an NTLM signature")]
    ShorterThanSignature,
    #[error("the CredSSP version changed mid-handshake ({first} then {now})")]
    VersionChanged { first: u32, now: u32 },
    #[error("delegated user '{delegated}' is not the authenticated account '{account}'")]
    UserMismatch { delegated: String, account: String },
    #[error("the CredSSP context of this connection already completed or failed")]
    Finished,
}

impl CredSspError {
    /// Whether the failure says something about the credentials (throttling counts it).
    pub fn is_credential_failure(&self) -> bool {
        match self {
            Self::Inner(inner) => inner.is_credential_failure(),
            Self::PublicKeyMismatch
            | Self::Unseal(_)
            | Self::KerberosUnseal(_)
            | Self::ShorterThanSignature
            | Self::UserMismatch { .. }
            | Self::Kerberos(_) => true,
            _ => false,
        }
    }
}

/// A refusal, with the TLS records of a TSRequest carrying errorCode when the peer's version
/// defines it (3, 4, 6 and later): send them in the 401's `WWW-Authenticate: CredSSP`.
#[derive(Debug)]
pub struct Refusal {
    pub error: CredSspError,
    pub reply: Option<Vec<u8>>,
}

/// The result of one leg.
pub enum CredSspStep {
    /// Answer 401 with `WWW-Authenticate: CredSSP <base64 records>` (records may be empty).
    Continue(Vec<u8>),
    /// The client delegated its credentials: verify them, then the connection is authenticated.
    Complete(Box<CredSspCompleted>),
}

impl fmt::Debug for CredSspStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Continue(out) => write!(f, "Continue({} bytes)", out.len()),
            Self::Complete(done) => done.fmt(f),
        }
    }
}

/// A finished CredSSP exchange.
pub struct CredSspCompleted {
    /// The account the inner NTLM proved (as stored).
    pub account: String,
    /// The delegated credentials; the password is zeroed on drop.
    pub credentials: PasswordCredentials,
    /// MS-WSMV sealing through the CredSSP TLS session.
    pub sealer: Box<dyn MessageSealer>,
}

impl fmt::Debug for CredSspCompleted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredSspCompleted")
            .field("account", &self.account)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Kerberos inside CredSSP, run by the caller (this crate is pure; the server implements it
/// with the system GSS library). Tokens are raw Kerberos or SPNEGO-wrapped; wrap tokens are
/// whole `gss_wrap` tokens, as CredSSP carries them. Calls may block (keytab, replay cache).
pub trait InnerKerberos: Send {
    /// One negoToken from the client. The error is logged: no secrets.
    fn step(&mut self, token: &[u8]) -> Result<InnerKerberosStep, InnerKerberosError>;
    /// Seal `plain` (the server's pubKeyAuth).
    fn wrap(&mut self, plain: &[u8]) -> Result<Vec<u8>, InnerKerberosError>;
    /// Open a sealed token from the client (pubKeyAuth, authInfo).
    fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, InnerKerberosError>;
}

/// The implementer's own typed error, boxed: this crate stays free of the GSS library's types
/// while the cause chain still reaches the log.
pub type InnerKerberosError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What one [`InnerKerberos::step`] produced.
#[derive(Debug)]
pub enum InnerKerberosStep {
    /// Send this token back in negoTokens.
    Continue(Vec<u8>),
    /// Authenticated as the local `account` (the mapped Linux user); `final_token` is the
    /// mutual-authentication token for the client.
    Complete {
        account: String,
        final_token: Option<Vec<u8>>,
    },
}

enum State {
    /// TLS handshake, then the first TSRequest.
    Negotiating,
    /// NTLM completed without pubKeyAuth in the same message: it must come next.
    AwaitPublicKey,
    /// Binding checked: authInfo next.
    AwaitCredentials,
    Finished,
}

/// One connection's CredSSP acceptor.
pub struct CredSspAcceptor {
    /// `None` once moved into the sealer.
    tls: Option<rustls::Connection>,
    public_key: std::sync::Arc<[u8]>,
    inner: NegotiateAcceptor,
    inner_sealer: Option<Box<dyn MessageSealer>>,
    /// Offered by the caller when Kerberos is configured; used when the client's first
    /// negoToken is Kerberos.
    kerberos: Option<Box<dyn InnerKerberos>>,
    using_kerberos: bool,
    account: Option<String>,
    peer_version: Option<u32>,
    state: State,
}

impl fmt::Debug for CredSspAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredSspAcceptor")
            .field("account", &self.account)
            .field("peer_version", &self.peer_version)
            .finish_non_exhaustive()
    }
}

impl CredSspAcceptor {
    /// A fresh acceptor presenting `certificate`; `host_name` as for the NTLM acceptor.
    pub fn new(certificate: &AcceptorCertificate, host_name: &str) -> Result<Self, CredSspError> {
        let server = rustls::ServerConnection::new(certificate.server_config())
            .map_err(|e| TlsError::Protocol(e.to_string()))?;
        // Channel binding does not apply inside CredSSP: pubKeyAuth is its binding.
        let policy = ChannelBindingPolicy {
            hardening: crate::ntlm::CbtHardening::None,
            expected: None,
        };
        Ok(Self {
            tls: Some(server.into()),
            public_key: certificate.public_key().into(),
            inner: NegotiateAcceptor::new(policy, host_name),
            inner_sealer: None,
            kerberos: None,
            using_kerberos: false,
            account: None,
            peer_version: None,
            state: State::Negotiating,
        })
    }

    /// Accept Kerberos (raw or SPNEGO) as the inner authentication, through `inner`.
    pub fn with_kerberos(mut self, inner: Box<dyn InnerKerberos>) -> Self {
        self.kerberos = Some(inner);
        self
    }

    /// Whether `token` opens a CredSSP exchange (a TLS ClientHello record).
    pub fn is_initial_token(token: &[u8]) -> bool {
        token.len() > 5 && token[0] == 0x16 && token[1] == 3 && token[5] == 0x01
    }

    /// The inner authentication in use, for the log: `"Kerberos"` or `"NTLM"`.
    pub fn inner_mechanism(&self) -> &'static str {
        if self.using_kerberos {
            "Kerberos"
        } else {
            "NTLM"
        }
    }

    /// The user of the inner AUTHENTICATE seen, for the log of a failure.
    pub fn attempted_user(&self) -> Option<&str> {
        self.account
            .as_deref()
            .or_else(|| self.inner.attempted_user())
    }

    /// One leg with the client's token (TLS records). Any error finishes the acceptor.
    pub fn step(
        &mut self,
        token: &[u8],
        lookup: &dyn NtHashLookup,
    ) -> Result<CredSspStep, Refusal> {
        if matches!(self.state, State::Finished) {
            return Err(Refusal {
                error: CredSspError::Finished,
                reply: None,
            });
        }
        match self.step_inner(token, lookup) {
            Ok(step) => Ok(step),
            Err(error) => {
                self.state = State::Finished;
                let reply = self.error_reply(&error);
                Err(Refusal { error, reply })
            }
        }
    }

    fn step_inner(
        &mut self,
        token: &[u8],
        lookup: &dyn NtHashLookup,
    ) -> Result<CredSspStep, CredSspError> {
        let conn = self.tls.as_mut().ok_or(CredSspError::Finished)?;
        let plain = tls::feed(conn, token)?;
        if conn.is_handshaking() || plain.is_empty() {
            if !plain.is_empty() {
                return Err(CredSspError::OutOfOrder(
                    "data before the TLS handshake ended",
                ));
            }
            // A handshake leg: answer with whatever TLS sends, even nothing.
            return Ok(CredSspStep::Continue(tls::produce(conn, &[])?));
        }
        let request = TsRequest::decode(&plain)?;
        match self.peer_version {
            None => self.peer_version = Some(request.version),
            Some(first) if first != request.version => {
                return Err(CredSspError::VersionChanged {
                    first,
                    now: request.version,
                })
            }
            Some(_) => {}
        }
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Negotiating => self.negotiate(request, lookup),
            State::AwaitPublicKey => {
                if !request.nego_tokens.is_empty() {
                    return Err(CredSspError::OutOfOrder("negoTokens after NTLM completed"));
                }
                self.check_public_key(&request, None)
            }
            State::AwaitCredentials => self.credentials(&request),
            State::Finished => Err(CredSspError::Finished),
        }
    }

    fn negotiate(
        &mut self,
        request: TsRequest,
        lookup: &dyn NtHashLookup,
    ) -> Result<CredSspStep, CredSspError> {
        if request.auth_info.is_some() {
            return Err(CredSspError::OutOfOrder("authInfo before authentication"));
        }
        let token = request
            .nego_tokens
            .first()
            .ok_or(CredSspError::OutOfOrder("TSRequest without negoTokens"))?;
        if self.using_kerberos || is_kerberos(token) {
            let kerberos = self.kerberos.as_mut().ok_or(CredSspError::KerberosInside)?;
            self.using_kerberos = true;
            let step = kerberos.step(token).map_err(CredSspError::Kerberos)?;
            return match step {
                InnerKerberosStep::Continue(out) => self.continue_inner(&request, out),
                InnerKerberosStep::Complete {
                    account,
                    final_token,
                } => {
                    self.account = Some(account);
                    self.inner_complete(&request, final_token)
                }
            };
        }
        match self.inner.step(token, lookup)? {
            AcceptStep::Continue(out) => self.continue_inner(&request, out),
            AcceptStep::Complete(done) => {
                self.account = Some(done.account.clone());
                self.inner_sealer = Some(done.sealer);
                self.inner_complete(&request, done.final_token)
            }
        }
    }

    fn continue_inner(
        &mut self,
        request: &TsRequest,
        out: Vec<u8>,
    ) -> Result<CredSspStep, CredSspError> {
        if request.pub_key_auth.is_some() {
            return Err(CredSspError::OutOfOrder("pubKeyAuth before authentication"));
        }
        self.state = State::Negotiating;
        let reply = TsRequest {
            nego_tokens: vec![out],
            ..TsRequest::new()
        };
        Ok(CredSspStep::Continue(self.send(&reply)?))
    }

    fn inner_complete(
        &mut self,
        request: &TsRequest,
        final_token: Option<Vec<u8>>,
    ) -> Result<CredSspStep, CredSspError> {
        let final_token = final_token.filter(|t| !t.is_empty());
        if request.pub_key_auth.is_none() {
            // Some clients send pubKeyAuth in a TSRequest of its own; nothing else
            // may come before it.
            self.state = State::AwaitPublicKey;
            let reply = TsRequest {
                nego_tokens: final_token.into_iter().collect(),
                ..TsRequest::new()
            };
            return Ok(CredSspStep::Continue(self.send(&reply)?));
        }
        self.check_public_key(request, final_token)
    }

    /// Check the client's pubKeyAuth and answer with ours (plus the final SPNEGO token, which
    /// the client needs to check our mechListMIC before it can unwrap our pubKeyAuth).
    fn check_public_key(
        &mut self,
        request: &TsRequest,
        final_token: Option<Vec<u8>>,
    ) -> Result<CredSspStep, CredSspError> {
        let sealed = request
            .pub_key_auth
            .as_deref()
            .ok_or(CredSspError::MissingPublicKeyBinding)?;
        let got = self.unseal(sealed)?;
        let (expected, ours) = if request.version >= 5 {
            let nonce = request
                .client_nonce
                .ok_or(CredSspError::MissingNonce(request.version))?;
            (
                binding_hash(CLIENT_TO_SERVER, &nonce, &self.public_key),
                binding_hash(SERVER_TO_CLIENT, &nonce, &self.public_key),
            )
        } else {
            let mut echo = self.public_key.to_vec();
            if let Some(first) = echo.first_mut() {
                *first = first.wrapping_add(1);
            }
            (self.public_key.to_vec(), echo)
        };
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            got.as_slice(),
            expected.as_slice(),
        )) {
            return Err(CredSspError::PublicKeyMismatch);
        }
        let pub_key_auth = self.seal(&ours)?;
        let reply = TsRequest {
            nego_tokens: final_token.into_iter().collect(),
            pub_key_auth: Some(pub_key_auth),
            ..TsRequest::new()
        };
        self.state = State::AwaitCredentials;
        Ok(CredSspStep::Continue(self.send(&reply)?))
    }

    fn credentials(&mut self, request: &TsRequest) -> Result<CredSspStep, CredSspError> {
        let sealed = request
            .auth_info
            .as_deref()
            .ok_or(CredSspError::OutOfOrder("expected authInfo"))?;
        let plain = zeroize::Zeroizing::new(self.unseal(sealed)?);
        let credentials = PasswordCredentials::decode(&plain)?;
        let account = self
            .account
            .clone()
            .ok_or(CredSspError::OutOfOrder("no authenticated account"))?;
        let delegated = delegated_account_name(&credentials.user);
        if !delegated.eq_ignore_ascii_case(&account) {
            return Err(CredSspError::UserMismatch {
                delegated: delegated.to_owned(),
                account,
            });
        }
        let conn = self.tls.take().ok_or(CredSspError::Finished)?;
        Ok(CredSspStep::Complete(Box::new(CredSspCompleted {
            account,
            credentials,
            sealer: Box::new(TlsSealer::new(conn)),
        })))
    }

    /// Seal with the inner context: NTLM signature + data, or one Kerberos wrap token.
    fn seal(&mut self, plain: &[u8]) -> Result<Vec<u8>, CredSspError> {
        if self.using_kerberos {
            let kerberos = self
                .kerberos
                .as_mut()
                .ok_or(CredSspError::OutOfOrder("no inner context"))?;
            return kerberos.wrap(plain).map_err(CredSspError::KerberosUnseal);
        }
        let sealer = self
            .inner_sealer
            .as_mut()
            .ok_or(CredSspError::OutOfOrder("no inner context"))?;
        Ok(super::seal_with_ntlm(sealer.as_mut(), plain)?)
    }

    fn unseal(&mut self, sealed: &[u8]) -> Result<Vec<u8>, CredSspError> {
        if self.using_kerberos {
            let kerberos = self
                .kerberos
                .as_mut()
                .ok_or(CredSspError::OutOfOrder("no inner context"))?;
            return kerberos
                .unwrap(sealed)
                .map_err(CredSspError::KerberosUnseal);
        }
        let sealer = self
            .inner_sealer
            .as_mut()
            .ok_or(CredSspError::OutOfOrder("no inner context"))?;
        let (signature, data) =
            super::split_ntlm_sealed(sealed).ok_or(CredSspError::ShorterThanSignature)?;
        Ok(sealer.unwrap(signature, data)?)
    }

    fn send(&mut self, reply: &TsRequest) -> Result<Vec<u8>, CredSspError> {
        let conn = self.tls.as_mut().ok_or(CredSspError::Finished)?;
        Ok(tls::produce(conn, &reply.encode())?)
    }

    /// The errorCode TSRequest for `error`, when TLS is up and the peer's version has one.
    fn error_reply(&mut self, error: &CredSspError) -> Option<Vec<u8>> {
        let version = self.peer_version?;
        let conn = self.tls.as_mut()?;
        if !(version == 3 || version == 4 || version >= 6) || conn.is_handshaking() {
            return None;
        }
        if matches!(error, CredSspError::Tls(_) | CredSspError::Finished) {
            return None;
        }
        let reply = TsRequest {
            error_code: Some(STATUS_LOGON_FAILURE),
            ..TsRequest::new()
        };
        tls::produce(conn, &reply.encode()).ok()
    }
}

/// `DOMAIN\user` -> `user`, `user@domain` -> `user`.
pub fn delegated_account_name(user: &str) -> &str {
    let user = user.rsplit('\\').next().unwrap_or(user);
    user.split('@').next().unwrap_or(user)
}

/// A raw Kerberos GSS token (OID 1.2.840.113554.1.2.2), or SPNEGO that offers Kerberos but not
/// NTLM, or that carries an optimistic Kerberos token: the inner NTLM acceptor cannot answer
/// those.
pub(crate) fn is_kerberos(token: &[u8]) -> bool {
    const KRB5_OID: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02,
    ];
    const MS_KRB5_OID: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02,
    ];
    const NTLM_OID: &[u8] = &[
        0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
    ];
    let Some((outer, _)) = crate::ntlm::der::read(token) else {
        return false;
    };
    if outer.tag != 0x60 {
        return false;
    }
    if outer.value.starts_with(KRB5_OID) {
        return true;
    }
    let count = |needle: &[u8]| token.windows(needle.len()).filter(|w| *w == needle).count();
    let kerberos = count(KRB5_OID) + count(MS_KRB5_OID);
    // Offered without NTLM, or with an optimistic AP-REQ as the mechToken (the krb5 OID then
    // appears again inside it): NTLM cannot answer either.
    (count(NTLM_OID) == 0 && kerberos > 0) || count(KRB5_OID) >= 2
}
