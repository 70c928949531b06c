//! The client side of CredSSP for WinRM: in-memory TLS (the server's inner certificate is not
//! checked by a CA: the public-key binding ties it to the NTLM session key instead), raw NTLM
//! inside through [`crate::NegotiateInitiator`], the version 6 public-key binding with a fresh
//! nonce, and the delegation of the password as `TSPasswordCreds`.

use std::fmt;
use std::sync::Arc;

use rand::RngCore;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::tls::{self, TlsError, TlsSealer};
use super::ts_request::{PasswordCredentials, TsRequest};
use super::{binding_hash, CLIENT_TO_SERVER, SERVER_TO_CLIENT};
use crate::initiator::{ClientCredentials, InitiatorError, NegotiateInitiator, TokenForm};
use crate::sealing::{MessageSealer, SealError};

/// Why the client side failed. Never carries the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredSspClientError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("inner NTLM: {0}")]
    Inner(#[from] InitiatorError),
    #[error("server TSRequest: {0}")]
    Decode(#[from] super::ts_request::DecodeError),
    #[error("the server refused the logon (NTSTATUS {0:#010x})")]
    ServerError(u32),
    #[error("the server's public-key binding does not match its TLS certificate")]
    PublicKeyMismatch,
    #[error("server message out of order: {0}")]
    OutOfOrder(&'static str),
    #[error("pubKeyAuth could not be sealed or unwrapped: {0}")]
    Unseal(#[from] SealError),
    #[error("the server's pubKeyAuth is shorter than an NTLM signature")]
    ShorterThanSignature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Initial,
    /// TLS handshake under way.
    Handshake,
    /// NTLM NEGOTIATE sent inside TLS.
    AwaitChallenge,
    /// AUTHENTICATE and pubKeyAuth sent.
    AwaitPublicKey,
    /// authInfo sent: the next 200 completes.
    Delegated,
    Failed,
}

/// One connection's CredSSP client context.
pub struct CredSspInitiator {
    tls: Option<rustls::Connection>,
    inner: Option<NegotiateInitiator>,
    inner_sealer: Option<Box<dyn MessageSealer>>,
    credentials: ClientCredentials,
    nonce: [u8; 32],
    state: State,
    bind_public_key: bool,
    /// Test hook: changes every encoded TSRequest before it is encrypted.
    tamper: Option<fn(&mut Vec<u8>)>,
}

impl fmt::Debug for CredSspInitiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredSspInitiator")
            .field("user", &self.credentials.user())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl CredSspInitiator {
    /// A context delegating `credentials` to `host`.
    pub fn new(credentials: &ClientCredentials, host: &str) -> Result<Self, CredSspClientError> {
        let inner = NegotiateInitiator::new(credentials, TokenForm::RawNtlm, host, None)?;
        let provider = tls::provider();
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Protocol(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(BoundByPublicKeyAuth { provider }))
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_owned())
            .or_else(|_| ServerName::try_from("credssp.invalid".to_owned()))
            .map_err(|e| TlsError::Protocol(e.to_string()))?;
        let client = rustls::ClientConnection::new(Arc::new(config), name)
            .map_err(|e| TlsError::Protocol(e.to_string()))?;
        let mut nonce = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut nonce);
        Ok(Self {
            tls: Some(client.into()),
            inner: Some(inner),
            inner_sealer: None,
            credentials: credentials.clone(),
            nonce,
            state: State::Initial,
            bind_public_key: true,
            tamper: None,
        })
    }

    /// Leave out pubKeyAuth, as a broken or malicious client would: only for tests proving
    /// that servers refuse it.
    pub fn without_public_key_binding(mut self) -> Self {
        self.bind_public_key = false;
        self
    }

    /// Change every TSRequest before it is encrypted (e.g. cut it short): only for tests
    /// proving that servers refuse malformed messages cleanly.
    #[doc(hidden)]
    pub fn with_request_tamper(mut self, tamper: fn(&mut Vec<u8>)) -> Self {
        self.tamper = Some(tamper);
        self
    }

    /// The first token: the TLS ClientHello.
    pub fn initial_token(&mut self) -> Result<Vec<u8>, CredSspClientError> {
        if self.state != State::Initial {
            return Err(CredSspClientError::OutOfOrder("initial token twice"));
        }
        self.state = State::Handshake;
        Ok(tls::produce(self.conn()?, &[])?)
    }

    /// The server's token of a 401 leg; returns the next token to send.
    pub fn step(&mut self, server_token: &[u8]) -> Result<Vec<u8>, CredSspClientError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let result = self.step_from(state, server_token);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    /// Whether the delegation went out: a 200 now completes the exchange.
    pub fn delegated(&self) -> bool {
        self.state == State::Delegated
    }

    /// After the final 200: the sealer of this connection (the TLS session).
    pub fn complete(mut self) -> Result<Box<dyn MessageSealer>, CredSspClientError> {
        if self.state != State::Delegated {
            return Err(CredSspClientError::OutOfOrder(
                "server accepted before delegation",
            ));
        }
        let conn = self
            .tls
            .take()
            .ok_or(CredSspClientError::OutOfOrder("no session"))?;
        Ok(Box::new(TlsSealer::new(conn)))
    }

    fn conn(&mut self) -> Result<&mut rustls::Connection, CredSspClientError> {
        self.tls
            .as_mut()
            .ok_or(CredSspClientError::OutOfOrder("no session"))
    }

    fn step_from(&mut self, state: State, token: &[u8]) -> Result<Vec<u8>, CredSspClientError> {
        let conn = self.conn()?;
        let plain = tls::feed(conn, token)?;
        match state {
            State::Handshake => {
                if !plain.is_empty() {
                    return Err(CredSspClientError::OutOfOrder("data during the handshake"));
                }
                let out = tls::produce(conn, &[])?;
                if !out.is_empty() || conn.is_handshaking() {
                    self.state = State::Handshake;
                    return Ok(out);
                }
                let negotiate = self
                    .inner
                    .as_mut()
                    .ok_or(CredSspClientError::OutOfOrder("no inner context"))?
                    .initial_token()?;
                self.state = State::AwaitChallenge;
                self.send(&TsRequest {
                    nego_tokens: vec![negotiate],
                    ..TsRequest::new()
                })
            }
            State::AwaitChallenge => {
                let reply = server_request(&plain)?;
                let challenge = reply
                    .nego_tokens
                    .first()
                    .ok_or(CredSspClientError::OutOfOrder("no NTLM CHALLENGE"))?;
                let mut inner = self
                    .inner
                    .take()
                    .ok_or(CredSspClientError::OutOfOrder("no inner context"))?;
                let authenticate = inner.step(challenge)?;
                let mut sealer = inner.complete(None)?;
                let mut request = TsRequest {
                    nego_tokens: vec![authenticate],
                    client_nonce: Some(self.nonce),
                    ..TsRequest::new()
                };
                if self.bind_public_key {
                    let key = self.server_key()?;
                    let hash = binding_hash(CLIENT_TO_SERVER, &self.nonce, &key);
                    request.pub_key_auth = Some(super::seal_with_ntlm(sealer.as_mut(), &hash)?);
                }
                self.inner_sealer = Some(sealer);
                self.state = State::AwaitPublicKey;
                self.send(&request)
            }
            State::AwaitPublicKey => {
                let reply = server_request(&plain)?;
                if self.bind_public_key {
                    let sealed =
                        reply
                            .pub_key_auth
                            .as_deref()
                            .ok_or(CredSspClientError::OutOfOrder(
                                "no pubKeyAuth from the server",
                            ))?;
                    let key = self.server_key()?;
                    let expected = binding_hash(SERVER_TO_CLIENT, &self.nonce, &key);
                    let got = self.unwrap(sealed)?;
                    if got != expected {
                        return Err(CredSspClientError::PublicKeyMismatch);
                    }
                }
                let (user, domain) = split_user(self.credentials.user());
                let delegated = PasswordCredentials {
                    domain: domain.to_owned(),
                    user: user.to_owned(),
                    password: zeroize::Zeroizing::new(self.credentials.password().to_owned()),
                };
                let encoded = delegated.encode();
                let sealer = self
                    .inner_sealer
                    .as_mut()
                    .ok_or(CredSspClientError::OutOfOrder("no inner context"))?;
                let auth_info = super::seal_with_ntlm(sealer.as_mut(), &encoded)?;
                self.state = State::Delegated;
                self.send(&TsRequest {
                    auth_info: Some(auth_info),
                    ..TsRequest::new()
                })
            }
            State::Initial | State::Delegated | State::Failed => {
                Err(CredSspClientError::OutOfOrder("unexpected server token"))
            }
        }
    }

    fn send(&mut self, request: &TsRequest) -> Result<Vec<u8>, CredSspClientError> {
        let mut encoded = zeroize::Zeroizing::new(request.encode());
        if let Some(tamper) = self.tamper {
            tamper(&mut encoded);
        }
        Ok(tls::produce(self.conn()?, &encoded)?)
    }

    fn server_key(&mut self) -> Result<Vec<u8>, CredSspClientError> {
        let conn = self.conn()?;
        conn.peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| tls::certificate_public_key(cert.as_ref()))
            .ok_or(CredSspClientError::OutOfOrder("no server certificate"))
    }

    fn unwrap(&mut self, sealed: &[u8]) -> Result<Vec<u8>, CredSspClientError> {
        let sealer = self
            .inner_sealer
            .as_mut()
            .ok_or(CredSspClientError::OutOfOrder("no inner context"))?;
        let (signature, data) =
            super::split_ntlm_sealed(sealed).ok_or(CredSspClientError::ShorterThanSignature)?;
        Ok(sealer.unwrap(signature, data)?)
    }
}

fn server_request(plain: &[u8]) -> Result<TsRequest, CredSspClientError> {
    if plain.is_empty() {
        return Err(CredSspClientError::OutOfOrder("expected a TSRequest"));
    }
    let reply = TsRequest::decode(plain)?;
    if let Some(code) = reply.error_code {
        return Err(CredSspClientError::ServerError(code));
    }
    Ok(reply)
}

/// `DOMAIN\user` -> (`user`, `DOMAIN`); `user@domain` and `user` stay whole with no domain.
fn split_user(user: &str) -> (&str, &str) {
    match user.split_once('\\') {
        Some((domain, name)) => (name, domain),
        None => (user, ""),
    }
}

/// The inner TLS server certificate is self-signed by design; what authenticates it is the
/// pubKeyAuth exchange under the NTLM session key. Signatures are still checked, so the peer
/// must hold the certificate's private key.
#[derive(Debug)]
pub(crate) struct BoundByPublicKeyAuth {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for BoundByPublicKeyAuth {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    crate::provider_signature_checks!(provider);
}
