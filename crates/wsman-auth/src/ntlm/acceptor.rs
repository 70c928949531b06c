//! The per-connection acceptor state machine and the sspi calls behind it.

use std::fmt;

use sspi::{
    AuthIdentity, BufferType, CredentialUse, DataRepresentation, Negotiate, NegotiateConfig,
    Secret, SecurityBuffer, SecurityStatus, ServerRequestFlags, Sspi, SspiImpl, Username,
};
use zeroize::Zeroizing;

use sspi::ntlm::NtlmConfig;

use super::message::{self, MessageType};
use super::seal::{NtlmSeal, Role};
use super::server_challenge;
use super::spnego::{self, TokenKind};
use super::verify;
use super::{ChannelBindingPolicy, NtHashLookup, NtlmError};
use crate::sealing::MessageSealer;

/// Domain forms a local-account client sends besides the host name (see the module doc).
const LOCAL_DOMAINS: &[&str] = &[".", "WORKGROUP"];

/// The result of one handshake leg.
pub enum AcceptStep {
    /// Answer 401 with `WWW-Authenticate: <scheme> <base64 token>`.
    Continue(Vec<u8>),
    /// The client is authenticated.
    Complete(Box<Completed>),
}

/// A finished handshake.
pub struct Completed {
    /// The account (as stored) the client proved.
    pub account: String,
    /// The user and domain as the client sent them (for logs).
    pub wire_user: String,
    pub wire_domain: String,
    /// The token for the final 200 (`WWW-Authenticate: Negotiate <token>`): SPNEGO's
    /// accept-completed with the mechListMIC; `None` for raw NTLM.
    pub final_token: Option<Vec<u8>>,
    /// Seals and unseals MS-WSMV bodies on this connection.
    pub sealer: Box<dyn MessageSealer>,
    /// sspi's sealing of the same context (tests compare ours with it).
    #[cfg(test)]
    pub(crate) reference: Option<Box<dyn MessageSealer>>,
}

impl fmt::Debug for Completed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completed")
            .field("account", &self.account)
            .field("wire_user", &self.wire_user)
            .field("wire_domain", &self.wire_domain)
            .field("final_token", &self.final_token.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AcceptStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Continue(token) => write!(f, "Continue({} bytes)", token.len()),
            Self::Complete(done) => done.fmt(f),
        }
    }
}

/// Raw NTLM (entirely ours) or the sspi context of SPNEGO.
enum Context {
    Raw,
    Spnego(
        Box<Negotiate>,
        Box<<Negotiate as SspiImpl>::CredentialsHandle>,
    ),
}

enum State {
    /// No token seen yet.
    Fresh,
    /// Mid-handshake; `challenge` once our CHALLENGE went out; `verified` once the
    /// AUTHENTICATE passed our own checks (SPNEGO may need one more leg for the MIC).
    InProgress {
        context: Context,
        /// SPNEGO: the NTLM NEGOTIATE seen, before the CHALLENGE exists.
        negotiate: Option<Vec<u8>>,
        challenge: Option<Handshake>,
        verified: Option<Verified>,
    },
    /// Completed or failed: never stepped again.
    Finished,
}

/// NEGOTIATE and CHALLENGE as sent: the AUTHENTICATE's MIC covers them.
struct Handshake {
    negotiate: Vec<u8>,
    challenge: Vec<u8>,
}

struct Verified {
    account: String,
    wire_user: String,
    wire_domain: String,
}

/// One connection's Negotiate/NTLM acceptor.
pub struct NegotiateAcceptor {
    policy: ChannelBindingPolicy,
    host_name: String,
    state: State,
    attempted_user: Option<String>,
}

impl fmt::Debug for NegotiateAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Fresh => "fresh",
            State::InProgress { .. } => "in progress",
            State::Finished => "finished",
        };
        f.debug_struct("NegotiateAcceptor")
            .field("state", &state)
            .field("attempted_user", &self.attempted_user)
            .finish_non_exhaustive()
    }
}

impl NegotiateAcceptor {
    /// A fresh acceptor. `host_name` is this machine's short name, one of the domain forms
    /// accepted under SPNEGO.
    pub fn new(policy: ChannelBindingPolicy, host_name: &str) -> Self {
        Self {
            policy,
            host_name: host_name.to_owned(),
            state: State::Fresh,
            attempted_user: None,
        }
    }

    /// Whether `token` opens a handshake (NTLM NEGOTIATE or SPNEGO NegTokenInit): the server
    /// then starts a new acceptor rather than stepping the old one.
    pub fn is_initial_token(token: &[u8]) -> bool {
        match spnego::token_kind(token) {
            TokenKind::RawNtlm => message::message_type(token) == Ok(MessageType::Negotiate),
            TokenKind::SpnegoInit => true,
            _ => false,
        }
    }

    /// The user name of the AUTHENTICATE seen, for the log of a failure.
    pub fn attempted_user(&self) -> Option<&str> {
        self.attempted_user.as_deref()
    }

    /// One leg. Any error finishes the acceptor: it is never stepped again.
    pub fn step(
        &mut self,
        token: &[u8],
        lookup: &dyn NtHashLookup,
    ) -> Result<AcceptStep, NtlmError> {
        let state = std::mem::replace(&mut self.state, State::Finished);
        let result = self.step_from(state, token, lookup);
        if result.is_err() {
            self.state = State::Finished;
        }
        result
    }

    fn step_from(
        &mut self,
        state: State,
        token: &[u8],
        lookup: &dyn NtHashLookup,
    ) -> Result<AcceptStep, NtlmError> {
        if token.len() > message::MAX_MESSAGE_LEN {
            return Err(NtlmError::Malformed("token too large"));
        }
        match (state, spnego::token_kind(token)) {
            (State::Finished, _) => Err(NtlmError::Finished),
            (State::Fresh, TokenKind::RawNtlm) => self.start_raw(token),
            (State::Fresh, TokenKind::SpnegoInit) => self.start_spnego(token, lookup),
            (State::Fresh, _) => Err(NtlmError::OutOfOrder(
                "the handshake must start with NEGOTIATE",
            )),
            (
                State::InProgress {
                    context: Context::Raw,
                    challenge: Some(challenge),
                    ..
                },
                TokenKind::RawNtlm,
            ) => self.authenticate_raw(&challenge, token, lookup),
            (
                state @ State::InProgress {
                    context: Context::Spnego(..),
                    ..
                },
                TokenKind::SpnegoResp,
            ) => self.spnego_leg(state, token, lookup),
            (State::InProgress { .. }, _) => Err(NtlmError::OutOfOrder("token of the wrong form")),
        }
    }

    /// A raw NTLM NEGOTIATE: our CHALLENGE, built by us for whatever flags a real client
    /// sends (see [`server_challenge`]).
    fn start_raw(&mut self, token: &[u8]) -> Result<AcceptStep, NtlmError> {
        if message::message_type(token)? != MessageType::Negotiate {
            return Err(NtlmError::OutOfOrder("expected an NTLM NEGOTIATE"));
        }
        let negotiate = message::parse_negotiate(token)?;
        let output = server_challenge::build(negotiate.flags, &self.host_name);
        self.state = State::InProgress {
            context: Context::Raw,
            negotiate: None,
            challenge: Some(Handshake {
                negotiate: token.to_vec(),
                challenge: output.clone(),
            }),
            verified: None,
        };
        Ok(AcceptStep::Continue(output))
    }

    /// A SPNEGO NegTokenInit offering NTLM, perhaps with the NEGOTIATE inside: the
    /// NegTokenResp around our CHALLENGE.
    fn start_spnego(
        &mut self,
        token: &[u8],
        lookup: &dyn NtHashLookup,
    ) -> Result<AcceptStep, NtlmError> {
        let init = spnego::parse_init(token)?;
        if !init.ntlm_offered {
            return Err(NtlmError::Unsupported("SPNEGO without NTLM (Kerberos)"));
        }
        let mut negotiate_msg = None;
        if let Some(mech_token) = init.mech_token {
            if mech_token.starts_with(message::SIGNATURE) {
                message::parse_negotiate(mech_token)?;
                negotiate_msg = Some(mech_token.to_vec());
            }
        }
        let identities = self.spnego_identities(lookup);
        let config = NegotiateConfig::new(
            Box::new(NtlmConfig::default()),
            Some("ntlm".to_owned()),
            self.host_name.clone(),
        );
        let mut negotiate = Box::new(
            Negotiate::new_server(config, identities)
                .map_err(|e| NtlmError::Rejected(e.to_string()))?,
        );
        let mut creds = Box::new(acquire(negotiate.as_mut())?);
        let (status, output) = accept(negotiate.as_mut(), creds.as_mut(), token.to_vec())?;
        if status != SecurityStatus::ContinueNeeded {
            return Err(NtlmError::Rejected(format!("unexpected status {status:?}")));
        }
        let challenge = handshake_in_resp(negotiate_msg.as_deref(), &output)?;
        self.state = State::InProgress {
            context: Context::Spnego(negotiate, creds),
            negotiate: negotiate_msg,
            challenge,
            verified: None,
        };
        Ok(AcceptStep::Continue(output))
    }

    /// A raw NTLM AUTHENTICATE answering `challenge`: verified by us, sealed with the
    /// exported session key we derive.
    fn authenticate_raw(
        &mut self,
        challenge: &Handshake,
        token: &[u8],
        lookup: &dyn NtHashLookup,
    ) -> Result<AcceptStep, NtlmError> {
        if message::message_type(token)? != MessageType::Authenticate {
            return Err(NtlmError::OutOfOrder("expected an NTLM AUTHENTICATE"));
        }
        let (verified, parsed, account) = self.verify_authenticate(token, challenge, lookup)?;
        let exported = verify::exported_session_key(&parsed, &account.hash)?;
        let seal = raw_sealer(&exported, parsed.flags)?;
        Ok(AcceptStep::Complete(Box::new(Completed {
            account: verified.account,
            wire_user: verified.wire_user,
            wire_domain: verified.wire_domain,
            final_token: None,
            sealer: seal,
            #[cfg(test)]
            reference: None,
        })))
    }

    /// A SPNEGO NegTokenResp mid-handshake: the NEGOTIATE (when the init had none), the
    /// AUTHENTICATE (checked by us) or the last leg of the MIC exchange.
    fn spnego_leg(
        &mut self,
        state: State,
        token: &[u8],
        lookup: &dyn NtHashLookup,
    ) -> Result<AcceptStep, NtlmError> {
        let State::InProgress {
            context: Context::Spnego(mut negotiate, mut creds),
            negotiate: mut negotiate_msg,
            challenge,
            verified,
        } = state
        else {
            return Err(NtlmError::OutOfOrder("token of the wrong form"));
        };
        let token = spnego::with_neg_state(token)?;
        let resp = spnego::parse_resp(&token)?;
        let inner = resp.response_token.unwrap_or_default();
        let mut verified = verified;
        if inner.starts_with(message::SIGNATURE)
            && message::message_type(inner)? == MessageType::Authenticate
        {
            let Some(handshake) = &challenge else {
                return Err(NtlmError::OutOfOrder("AUTHENTICATE before CHALLENGE"));
            };
            if verified.is_some() {
                return Err(NtlmError::OutOfOrder("a second AUTHENTICATE"));
            }
            let (checked, parsed, _) = self.verify_authenticate(inner, handshake, lookup)?;
            verify::check_spnego_engine_needs(&parsed)?;
            if !self.spnego_domain_accepted(&checked.wire_domain) {
                return Err(NtlmError::DomainNotAccepted {
                    user: checked.wire_user,
                    domain: checked.wire_domain,
                });
            }
            verified = Some(checked);
        } else if inner.starts_with(message::SIGNATURE) {
            if negotiate_msg.is_some() || challenge.is_some() {
                return Err(NtlmError::OutOfOrder("a second NEGOTIATE"));
            }
            message::parse_negotiate(inner)?;
            negotiate_msg = Some(inner.to_vec());
        }
        let (status, output) = accept(negotiate.as_mut(), creds.as_mut(), token)?;
        match (status, verified) {
            (SecurityStatus::Ok, Some(verified)) => {
                let final_token = (!output.is_empty()).then_some(output);
                complete(verified, final_token, Context::Spnego(negotiate, creds))
            }
            (SecurityStatus::Ok, None) => Err(NtlmError::Rejected(
                "completed without a verified AUTHENTICATE".to_owned(),
            )),
            (SecurityStatus::ContinueNeeded, verified) => {
                let challenge = match challenge {
                    Some(known) => Some(known),
                    None => handshake_in_resp(negotiate_msg.as_deref(), &output)?,
                };
                self.state = State::InProgress {
                    context: Context::Spnego(negotiate, creds),
                    negotiate: negotiate_msg,
                    challenge,
                    verified,
                };
                Ok(AcceptStep::Continue(output))
            }
            (status, _) => Err(NtlmError::Rejected(format!("unexpected status {status:?}"))),
        }
    }

    /// Our own checks, then the lookup and NTProofStr: what sspi is not trusted to do.
    fn verify_authenticate(
        &mut self,
        token: &[u8],
        handshake: &Handshake,
        lookup: &dyn NtHashLookup,
    ) -> Result<(Verified, message::AuthenticateMessage, super::NtlmAccount), NtlmError> {
        let server_challenge = message::parse_challenge(&handshake.challenge)?.server_challenge;
        let parsed = message::parse_authenticate(token)?;
        self.attempted_user = Some(parsed.user.clone());
        verify::check_shape(&parsed)?;
        let Some(account) = lookup.lookup(&parsed.user) else {
            return Err(NtlmError::UnknownUser { user: parsed.user });
        };
        verify::check_proof(&parsed, &account.hash, &server_challenge).map_err(|_| {
            NtlmError::WrongPassword {
                user: parsed.user.clone(),
            }
        })?;
        let transcript = verify::Transcript {
            negotiate: &handshake.negotiate,
            challenge: &handshake.challenge,
            authenticate: token,
        };
        verify::check_mic(&parsed, &account.hash, transcript)?;
        verify::check_channel_bindings(&parsed, &self.policy)?;
        let verified = Verified {
            account: account.name.clone(),
            wire_user: parsed.user.clone(),
            wire_domain: parsed.domain.clone(),
        };
        Ok((verified, parsed, account))
    }

    fn spnego_domains(&self) -> Vec<Option<String>> {
        let mut out: Vec<Option<String>> = vec![None];
        out.extend(LOCAL_DOMAINS.iter().map(|d| Some((*d).to_owned())));
        if !self.host_name.is_empty() {
            out.push(Some(self.host_name.clone()));
        }
        out
    }

    fn spnego_domain_accepted(&self, domain: &str) -> bool {
        domain.is_empty()
            || self
                .spnego_domains()
                .iter()
                .flatten()
                .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Every NTLM-enabled account under every accepted domain form.
    fn spnego_identities(&self, lookup: &dyn NtHashLookup) -> Vec<AuthIdentity> {
        let mut out = Vec::new();
        for account in lookup.all() {
            let password = format!("{}{}", sspi::NTLM_HASH_PREFIX, &*account.hash.to_hex());
            for domain in self.spnego_domains() {
                if let Ok(username) = Username::new(&account.name, domain.as_deref()) {
                    out.push(AuthIdentity {
                        username,
                        password: Secret::new(password.clone()),
                    });
                }
            }
        }
        out
    }
}

fn complete(
    verified: Verified,
    final_token: Option<Vec<u8>>,
    context: Context,
) -> Result<AcceptStep, NtlmError> {
    let seal = server_seal(&context)?;
    Ok(AcceptStep::Complete(Box::new(Completed {
        account: verified.account,
        wire_user: verified.wire_user,
        wire_domain: verified.wire_domain,
        final_token,
        sealer: Box::new(seal),
        #[cfg(test)]
        reference: Some(Box::new(SspiReferenceSealer { context })),
    })))
}

/// The NEGOTIATE/CHALLENGE pair once a NegTokenResp of ours carries the CHALLENGE (none when
/// sspi answered an optimistic non-NTLM first token with accept-incomplete alone).
fn handshake_in_resp(
    negotiate: Option<&[u8]>,
    output: &[u8],
) -> Result<Option<Handshake>, NtlmError> {
    let resp = spnego::parse_resp(output)?;
    match (negotiate, resp.response_token) {
        (Some(negotiate), Some(token)) if token.starts_with(message::SIGNATURE) => {
            message::parse_challenge(token)?;
            Ok(Some(Handshake {
                negotiate: negotiate.to_vec(),
                challenge: token.to_vec(),
            }))
        }
        (None, Some(token)) if token.starts_with(message::SIGNATURE) => {
            Err(NtlmError::OutOfOrder("CHALLENGE without a NEGOTIATE"))
        }
        _ => Ok(None),
    }
}

fn acquire<C>(context: &mut C) -> Result<C::CredentialsHandle, NtlmError>
where
    C: SspiImpl + Sspi,
{
    let result = context
        .acquire_credentials_handle()
        .with_credential_use(CredentialUse::Inbound)
        .execute(context)
        .map_err(|e| NtlmError::Rejected(e.to_string()))?;
    Ok(result.credentials_handle)
}

fn accept<C>(
    context: &mut C,
    creds: &mut C::CredentialsHandle,
    token: Vec<u8>,
) -> Result<(SecurityStatus, Vec<u8>), NtlmError>
where
    C: SspiImpl + Sspi,
{
    let mut input = [SecurityBuffer::new(token, BufferType::Token)];
    let mut output = [SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let builder = context
        .accept_security_context()
        .with_credentials_handle(creds)
        .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
        .with_target_data_representation(DataRepresentation::Native)
        .with_input(&mut input)
        .with_output(&mut output);
    let result = context
        .accept_security_context_impl(builder)
        .and_then(|mut generator| generator.resolve_to_result())
        .map_err(|e| NtlmError::Rejected(e.to_string()))?;
    let [out] = output;
    Ok((result.status, out.buffer))
}

/// The server's sealing state from the completed context: seq 0 for raw NTLM, 1 under SPNEGO
/// (the mechListMIC used 0 and sspi restored the RC4 states afterwards).
fn server_seal(context: &Context) -> Result<NtlmSeal, NtlmError> {
    let Context::Spnego(negotiate, _) = context else {
        return Err(NtlmError::Rejected(
            "raw NTLM derives its own session key".to_owned(),
        ));
    };
    let keys = negotiate
        .query_context_session_key()
        .map_err(|_| NtlmError::Rejected("no session key".to_owned()))?;
    NtlmSeal::of_session_key(keys.session_key.as_ref(), Role::Server, 1)
        .ok_or_else(|| NtlmError::Rejected("session key is not 16 bytes".to_owned()))
}

/// The sealer of a raw NTLM context (sequence numbers from 0). Our sealer speaks extended
/// session security with 128-bit keys; a client that did not negotiate 128-bit keys (Node's
/// ntlm-client asks for neither 128 nor 56) is authenticated, and may use HTTPS or
/// AllowUnencrypted, but its sealed bodies are refused rather than protected by a 40- or
/// 56-bit key.
fn raw_sealer(
    exported: &Zeroizing<[u8; 16]>,
    flags: u32,
) -> Result<Box<dyn MessageSealer>, NtlmError> {
    if flags & message::FLAG_128 == 0 {
        return Ok(Box::new(WeakKeySealer));
    }
    let seal = NtlmSeal::of_session_key(&**exported, Role::Server, 0)
        .ok_or_else(|| NtlmError::Rejected("session key is not 16 bytes".to_owned()))?;
    if flags & message::FLAG_KEY_EXCH == 0 {
        return Ok(Box::new(seal.without_key_exchange()));
    }
    Ok(Box::new(seal))
}

/// The sealer of a context without 128-bit keys: every seal and unseal refused, with the
/// reason.
struct WeakKeySealer;

const WEAK_KEYS: &str = "the NTLM context did not negotiate 128-bit keys (NTLMSSP_NEGOTIATE_128): message encryption refused";

impl MessageSealer for WeakKeySealer {
    fn protocol(&self) -> &str {
        crate::sealing::SPNEGO_PROTOCOL
    }

    fn wrap(&mut self, _plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), crate::sealing::SealError> {
        Err(crate::sealing::SealError::Wrap(WEAK_KEYS.to_owned()))
    }

    fn unwrap(
        &mut self,
        _header: &[u8],
        _ciphertext: &[u8],
    ) -> Result<Vec<u8>, crate::sealing::SealError> {
        Err(crate::sealing::SealError::Unwrap(WEAK_KEYS.to_owned()))
    }
}

// sspi's own sealing of a completed SPNEGO context: the reference the differential tests
// compare ours with (raw NTLM has no sspi context).
#[cfg(test)]
pub(crate) struct SspiReferenceSealer {
    context: Context,
}

#[cfg(test)]
impl MessageSealer for SspiReferenceSealer {
    fn protocol(&self) -> &str {
        crate::sealing::SPNEGO_PROTOCOL
    }

    fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), crate::sealing::SealError> {
        match &mut self.context {
            Context::Spnego(negotiate, _) => super::seal::sspi_wrap(negotiate.as_mut(), plain),
            Context::Raw => Err(crate::sealing::SealError::Wrap(
                "no sspi context".to_owned(),
            )),
        }
    }

    fn unwrap(
        &mut self,
        header: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, crate::sealing::SealError> {
        match &mut self.context {
            Context::Spnego(negotiate, _) => {
                super::seal::sspi_unwrap(negotiate.as_mut(), header, ciphertext)
            }
            Context::Raw => Err(crate::sealing::SealError::Unwrap(
                "no sspi context".to_owned(),
            )),
        }
    }
}
