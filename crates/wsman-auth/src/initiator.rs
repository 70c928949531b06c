//! The client side of `Negotiate` authentication with NTLM: one [`NegotiateInitiator`] per TCP
//! connection, producing the tokens the client sends in `Authorization: Negotiate <base64>` and,
//! once the server accepted, a [`MessageSealer`] for MS-WSMV message encryption.
//!
//! Two token forms, because the clients we must mirror differ:
//! * [`TokenForm::RawNtlm`]: bare NTLMSSP messages under `Negotiate`, as pywinrm/requests_ntlm
//!   and pypsrp `ntlm` send them;
//! * [`TokenForm::Spnego`]: NTLM inside SPNEGO (RFC 4178) with the mechListMIC exchange, as
//!   Windows' own client and pypsrp `negotiate` send them. Only NTLM is offered (no Kerberos
//!   yet), so no KDC is ever contacted.
//!
//! Channel binding: over HTTPS pass the server certificate's RFC 5929 `tls-server-end-point`
//! application data (see [`crate::channel_binding`]); its MD5 goes into the AUTHENTICATE message
//! so a server with CbtHardeningLevel Strict accepts us and a relaying attacker is refused.
//!
//! sspi (pinned) does the NTLMv2 computation, the MIC and the session key; message sealing is
//! ours (`ntlm::seal`), keyed from the exported session key. No sspi type leaves
//! this module.

use std::fmt;

use sspi::{
    AuthIdentity, AuthIdentityBuffers, BufferType, ClientRequestFlags, CredentialUse,
    CredentialsBuffers, DataRepresentation, Negotiate, NegotiateConfig, Ntlm, SecurityBuffer,
    SecurityStatus, Sspi, SspiImpl, Username,
};
use zeroize::Zeroizing;

use crate::ntlm::seal::{NtlmSeal, Role};
use crate::sealing::MessageSealer;

/// How the NTLM messages travel under the `Negotiate` scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenForm {
    /// Bare NTLMSSP messages (pywinrm, pypsrp `ntlm`).
    RawNtlm,
    /// NTLM wrapped in SPNEGO with a mechListMIC (Windows, pypsrp `negotiate`).
    Spnego,
}

/// Why the client-side handshake failed. Messages never contain the password or keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InitiatorError {
    /// The user name cannot be used (empty, or a form sspi does not understand).
    #[error("invalid user name for NTLM: {0}")]
    InvalidUser(String),
    /// A step was called out of order (e.g. twice, or after a failure).
    #[error("NTLM handshake step out of order")]
    OutOfSequence,
    /// The server's token was malformed or refused by the NTLM/SPNEGO layer.
    #[error("server token rejected: {0}")]
    BadServerToken(String),
    /// SPNEGO: the server's final token (accept-completed with its mechListMIC) is missing.
    #[error("the server did not confirm the session (no final SPNEGO token)")]
    MissingFinalToken,
    /// The security layer failed for another reason.
    #[error("NTLM security layer: {0}")]
    Internal(String),
}

/// The client user as typed: `user`, `DOMAIN\user` or `user@domain`, with its password.
#[derive(Clone)]
pub struct ClientCredentials {
    user: String,
    password: Zeroizing<String>,
}

impl ClientCredentials {
    /// Credentials for `user` (any of the three forms) and `password`.
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            user: user.to_owned(),
            password: Zeroizing::new(password.to_owned()),
        }
    }

    /// The user name as given.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password, for CredSSP's delegation (never logged).
    pub(crate) fn password(&self) -> &str {
        self.password.as_str()
    }

    fn identity(&self) -> Result<AuthIdentity, InitiatorError> {
        if self.user.is_empty() {
            return Err(InitiatorError::InvalidUser("empty".into()));
        }
        let username = Username::parse(&self.user)
            .map_err(|err| InitiatorError::InvalidUser(err.to_string()))?;
        Ok(AuthIdentity {
            username,
            password: self.password.as_str().to_owned().into(),
        })
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::basic::debug_redacted(f, "ClientCredentials", &self.user)
    }
}

/// One client-side NTLM security context (one per TCP connection).
pub struct NegotiateInitiator {
    context: Context,
    form: TokenForm,
    target_name: String,
    channel_bindings: Option<Vec<u8>>,
    state: State,
}

impl fmt::Debug for NegotiateInitiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NegotiateInitiator")
            .field("form", &self.form)
            .field("target_name", &self.target_name)
            .field("channel_bindings", &self.channel_bindings.is_some())
            .field("state", &self.state)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing sent yet.
    Initial,
    /// NEGOTIATE sent; waiting for the CHALLENGE.
    AwaitChallenge,
    /// AUTHENTICATE sent; waiting for the server's verdict (and, SPNEGO, its mechListMIC).
    AwaitVerdict,
    /// Finished or failed: the context cannot be stepped again.
    Done,
}

enum Context {
    Ntlm(Box<Ntlm>, Option<AuthIdentityBuffers>),
    Spnego(Box<Negotiate>, Option<CredentialsBuffers>),
}

impl NegotiateInitiator {
    /// A context for `credentials` against `host` (used for the SPNEGO target name
    /// `HTTP/host`). `channel_bindings` is the RFC 5929 application data
    /// (`tls-server-end-point:` + hash) when the connection is TLS.
    pub fn new(
        credentials: &ClientCredentials,
        form: TokenForm,
        host: &str,
        channel_bindings: Option<Vec<u8>>,
    ) -> Result<Self, InitiatorError> {
        let identity = credentials.identity()?;
        let context = match form {
            TokenForm::RawNtlm => {
                let mut ntlm = Ntlm::new();
                if let Some(bindings) = &channel_bindings {
                    ntlm.set_channel_bindings(bindings);
                }
                let handle = outbound_credentials(&mut ntlm, &identity).map_err(internal)?;
                Context::Ntlm(Box::new(ntlm), handle)
            }
            TokenForm::Spnego => {
                let config = NegotiateConfig::new(
                    Box::new(sspi::ntlm::NtlmConfig::default()),
                    Some("ntlm".to_owned()),
                    String::new(),
                );
                let mut negotiate = Negotiate::new_client(config).map_err(internal)?;
                let credentials = sspi::Credentials::from(identity);
                let handle =
                    outbound_credentials(&mut negotiate, &credentials).map_err(internal)?;
                Context::Spnego(Box::new(negotiate), handle)
            }
        };
        Ok(Self {
            context,
            form,
            target_name: format!("HTTP/{host}"),
            channel_bindings,
            state: State::Initial,
        })
    }

    /// The token form this context speaks.
    pub fn form(&self) -> TokenForm {
        self.form
    }

    /// The first token (NTLM NEGOTIATE, or a NegTokenInit carrying it).
    pub fn initial_token(&mut self) -> Result<Vec<u8>, InitiatorError> {
        if self.state != State::Initial {
            return Err(InitiatorError::OutOfSequence);
        }
        self.state = State::Done;
        let (status, token) = self.initialize(None)?;
        if status != SecurityStatus::ContinueNeeded {
            return Err(InitiatorError::Internal(format!(
                "unexpected status {status:?}"
            )));
        }
        self.state = State::AwaitChallenge;
        Ok(token)
    }

    /// Answer the server's CHALLENGE (raw, or in a NegTokenResp) with the AUTHENTICATE.
    pub fn step(&mut self, server_token: &[u8]) -> Result<Vec<u8>, InitiatorError> {
        if self.state != State::AwaitChallenge {
            return Err(InitiatorError::OutOfSequence);
        }
        self.state = State::Done;
        let (_status, token) = self.initialize(Some(server_token))?;
        if token.is_empty() {
            return Err(InitiatorError::BadServerToken(
                "no AUTHENTICATE produced for the challenge".into(),
            ));
        }
        self.state = State::AwaitVerdict;
        Ok(token)
    }

    /// The server accepted (HTTP 200). `final_token` is the token of its
    /// `WWW-Authenticate: Negotiate` header, if any; SPNEGO requires it (it carries the
    /// server's mechListMIC, which proves it knew the session key). Returns the sealer for
    /// this connection.
    pub fn complete(
        self,
        final_token: Option<&[u8]>,
    ) -> Result<Box<dyn MessageSealer>, InitiatorError> {
        let context = self.finish(final_token)?;
        let seal = client_seal(&context)?;
        Ok(Box::new(seal))
    }

    /// [`Self::complete`], also returning sspi's own sealer of the same context (the
    /// reference the differential tests compare ours with).
    #[cfg(test)]
    pub(crate) fn complete_with_reference(
        self,
        final_token: Option<&[u8]>,
    ) -> Result<(Box<dyn MessageSealer>, ReferenceSealer), InitiatorError> {
        let context = self.finish(final_token)?;
        let seal = client_seal(&context)?;
        Ok((Box::new(seal), Box::new(SspiReferenceSealer { context })))
    }

    fn finish(mut self, final_token: Option<&[u8]>) -> Result<Context, InitiatorError> {
        if self.state != State::AwaitVerdict {
            return Err(InitiatorError::OutOfSequence);
        }
        if matches!(self.context, Context::Spnego(..)) {
            let token = final_token.ok_or(InitiatorError::MissingFinalToken)?;
            let (status, _) = self.initialize(Some(token))?;
            if status != SecurityStatus::Ok {
                return Err(InitiatorError::BadServerToken(
                    "SPNEGO did not complete".into(),
                ));
            }
        }
        self.state = State::Done;
        Ok(self.context)
    }

    /// One InitializeSecurityContext call: returns the status and the output token.
    fn initialize(
        &mut self,
        input: Option<&[u8]>,
    ) -> Result<(SecurityStatus, Vec<u8>), InitiatorError> {
        let mut requirements = ClientRequestFlags::CONFIDENTIALITY
            | ClientRequestFlags::INTEGRITY
            | ClientRequestFlags::ALLOCATE_MEMORY;
        let mut input_buffers = Vec::new();
        if let Some(token) = input {
            input_buffers.push(SecurityBuffer::new(token.to_vec(), BufferType::Token));
            if let Some(bindings) = &self.channel_bindings {
                input_buffers.push(SecurityBuffer::new(
                    sec_channel_bindings(bindings),
                    BufferType::ChannelBindings,
                ));
            }
        }
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let target_name = &self.target_name;
        // The same call on either context (sspi's NTLM and Negotiate builders have different
        // types, so a macro rather than a function).
        macro_rules! initialize {
            ($context:expr, $handle:expr) => {{
                let mut builder = $context
                    .initialize_security_context()
                    .with_credentials_handle($handle)
                    .with_context_requirements(requirements)
                    .with_target_data_representation(DataRepresentation::Native)
                    .with_target_name(target_name)
                    .with_output(&mut output);
                if input.is_some() {
                    builder = builder.with_input(&mut input_buffers);
                }
                $context
                    .initialize_security_context_impl(&mut builder)
                    .and_then(|mut generator| generator.resolve_to_result())
                    .map_err(rejected)?
                    .status
            }};
        }
        let status = match &mut self.context {
            Context::Ntlm(ntlm, handle) => initialize!(ntlm, handle),
            Context::Spnego(negotiate, handle) => {
                // Makes sspi send its own mechListMIC with the AUTHENTICATE: Windows and our
                // server require it whenever the NTLM message carries a MIC (it always does).
                requirements |= ClientRequestFlags::USE_SESSION_KEY;
                initialize!(negotiate, handle)
            }
        };
        let token = output
            .into_iter()
            .find(|buffer| buffer.buffer_type.buffer_type == BufferType::Token)
            .map(|buffer| buffer.buffer)
            .unwrap_or_default();
        Ok((status, token))
    }
}

/// SEC_CHANNEL_BINDINGS with empty addresses and `application_data`: the 32-byte header of
/// (type, length, offset) triples, offsets pointing just past it.
fn sec_channel_bindings(application_data: &[u8]) -> Vec<u8> {
    const HEADER: u32 = 32;
    let mut out = Vec::with_capacity(32 + application_data.len());
    for value in [
        0,
        0,
        HEADER,
        0,
        0,
        HEADER,
        application_data.len() as u32,
        HEADER,
    ] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(application_data);
    out
}

/// A client's credentials handle of `context` for `auth`: the same sspi call for NTLM and
/// SPNEGO.
pub(crate) fn outbound_credentials<C>(
    context: &mut C,
    auth: &C::AuthenticationData,
) -> sspi::Result<C::CredentialsHandle>
where
    C: SspiImpl + Sspi,
{
    Ok(context
        .acquire_credentials_handle()
        .with_credential_use(CredentialUse::Outbound)
        .with_auth_data(auth)
        .execute(context)?
        .credentials_handle)
}

fn internal(err: sspi::Error) -> InitiatorError {
    InitiatorError::Internal(err.description)
}

fn rejected(err: sspi::Error) -> InitiatorError {
    InitiatorError::BadServerToken(err.description)
}

/// The client's sealing state: seq 0 for raw NTLM, 1 under SPNEGO (the mechListMIC used 0
/// and sspi restored the RC4 states afterwards).
fn client_seal(context: &Context) -> Result<NtlmSeal, InitiatorError> {
    let (keys, first_seq) = match context {
        Context::Ntlm(ntlm, _) => (ntlm.query_context_session_key(), 0),
        Context::Spnego(negotiate, _) => (negotiate.query_context_session_key(), 1),
    };
    let keys = keys.map_err(internal)?;
    NtlmSeal::of_session_key(keys.session_key.as_ref(), Role::Client, first_seq)
        .ok_or_else(|| InitiatorError::Internal("session key is not 16 bytes".into()))
}

/// sspi's own sealer of a completed context, for the differential tests.
#[cfg(test)]
pub(crate) type ReferenceSealer = Box<dyn MessageSealer>;

// sspi's own sealing of the completed context: the reference the differential tests compare
// ours with.
#[cfg(test)]
crate::ntlm::seal::sspi_reference_sealer!();

#[cfg(test)]
#[path = "initiator_tests.rs"]
mod tests;
