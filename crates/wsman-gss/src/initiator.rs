//! The client side: a [`KerberosInitiator`] (whose tickets, for which service) and one
//! [`KerberosInitiatorContext`] per connection, for `-a:Kerberos` in the client library.
#![forbid(unsafe_code)]

use std::fmt;

use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{
    GSS_MECH_KRB5, GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE, GSS_NT_KRB5_PRINCIPAL,
};

use super::cfx::Sender;
use super::ffi::{acquire_cred_from, Usage};
use super::{
    check_token_len, require_confidentiality, unwrap_sealed, wrap_sealed, GssError, State,
};

/// Which token form the initiator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitiatorMechanism {
    /// Raw Kerberos GSS tokens (the `Kerberos` scheme, or pywinrm-style `Negotiate`).
    Kerberos,
    /// SPNEGO-wrapped Kerberos (the `Negotiate` scheme as Windows sends it).
    Spnego,
}

/// Whose tickets to use and which service to ask for. Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct KerberosInitiator {
    /// `None`: the default credential cache (`KRB5CCNAME`).
    cred: Option<Cred>,
    /// Host-based service name, `HTTP@host`.
    target: String,
    mechanism: InitiatorMechanism,
}

impl fmt::Debug for KerberosInitiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KerberosInitiator")
            .field("target", &self.target)
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

impl KerberosInitiator {
    /// Use the tickets in `ccache` (a credential cache name such as `FILE:/tmp/krb5cc_1000`),
    /// or in the caller's default cache (`KRB5CCNAME`, else libkrb5's default) when `None`,
    /// to authenticate to `service/host` (`service` is `HTTP` or `WSMAN`). A missing cache
    /// is reported by the first [`KerberosInitiatorContext::step`] when `ccache` is `None`.
    pub fn from_ccache(
        service: &str,
        host: &str,
        ccache: Option<&str>,
        mechanism: InitiatorMechanism,
    ) -> Result<Self, GssError> {
        let cred = match ccache {
            Some(name) => Some(acquire_cred_from(Usage::Initiate, &[("ccache", name)])?),
            None => None,
        };
        Self::build(cred, service, host, mechanism)
    }

    /// Get a ticket-granting ticket for `principal` (`user@REALM`, or `user` in the default
    /// realm) with `password`, held in memory only, and authenticate with it to
    /// `service/host`. Contacts the KDC (blocking).
    pub fn with_password(
        principal: &str,
        password: &str,
        service: &str,
        host: &str,
        mechanism: InitiatorMechanism,
    ) -> Result<Self, GssError> {
        let name = Name::new(principal.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL)).map_err(|e| {
            GssError::Name {
                name: principal.to_owned(),
                detail: e.to_string(),
            }
        })?;
        let cred =
            Cred::acquire_with_password(Some(&name), password, None, CredUsage::Initiate, None)
                .map_err(|e| GssError::Credential(e.to_string()))?;
        Self::build(Some(cred), service, host, mechanism)
    }

    fn build(
        cred: Option<Cred>,
        service: &str,
        host: &str,
        mechanism: InitiatorMechanism,
    ) -> Result<Self, GssError> {
        let valid = |part: &str| !part.is_empty() && !part.contains(['@', '/', '\0']);
        if !valid(service) || !valid(host) {
            return Err(GssError::InvalidArgument(
                "service and host must be plain names",
            ));
        }
        Ok(Self {
            cred,
            target: format!("{service}@{host}"),
            mechanism,
        })
    }

    /// A new context for one connection. `channel_bindings`: the RFC 5929 application data
    /// of the server's certificate on HTTPS, `None` on HTTP.
    pub fn context(
        &self,
        channel_bindings: Option<Vec<u8>>,
    ) -> Result<KerberosInitiatorContext, GssError> {
        let target =
            Name::new(self.target.as_bytes(), Some(GSS_NT_HOSTBASED_SERVICE)).map_err(|e| {
                GssError::Name {
                    name: self.target.clone(),
                    detail: e.to_string(),
                }
            })?;
        let mech = match self.mechanism {
            InitiatorMechanism::Kerberos => GSS_MECH_KRB5,
            InitiatorMechanism::Spnego => GSS_MECH_SPNEGO,
        };
        let flags = CtxFlags::GSS_C_MUTUAL_FLAG
            | CtxFlags::GSS_C_REPLAY_FLAG
            | CtxFlags::GSS_C_SEQUENCE_FLAG
            | CtxFlags::GSS_C_CONF_FLAG
            | CtxFlags::GSS_C_INTEG_FLAG;
        Ok(KerberosInitiatorContext {
            ctx: ClientCtx::new(self.cred.clone(), target, flags, Some(mech)),
            channel_bindings,
            state: State::Authenticating,
        })
    }
}

/// What one call of [`KerberosInitiatorContext::step`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitStep {
    /// Send this token (`Authorization: <scheme> <token>`) and feed the server's answer back.
    Continue(Vec<u8>),
    /// The server is authenticated (mutual authentication done); send `token` if there is one.
    Complete {
        /// A last token for the server (SPNEGO mechListMIC), rarely present.
        token: Option<Vec<u8>>,
    },
}

/// One connection's client-side security context. `Send`, not `Sync`.
pub struct KerberosInitiatorContext {
    ctx: ClientCtx,
    channel_bindings: Option<Vec<u8>>,
    state: State,
}

impl fmt::Debug for KerberosInitiatorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KerberosInitiatorContext")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl KerberosInitiatorContext {
    /// First call with `None`; then with each token the server returned. Any error makes the
    /// context unusable. Blocking (may contact the KDC for a service ticket).
    pub fn step(&mut self, server_token: Option<&[u8]>) -> Result<InitStep, GssError> {
        if self.state != State::Authenticating {
            return Err(GssError::State(
                "the context has already authenticated or failed",
            ));
        }
        let result = self.step_inner(server_token);
        self.state = match &result {
            Ok(InitStep::Continue(_)) => State::Authenticating,
            Ok(InitStep::Complete { .. }) => State::Established,
            Err(_) => State::Failed,
        };
        result
    }

    fn step_inner(&mut self, server_token: Option<&[u8]>) -> Result<InitStep, GssError> {
        if let Some(token) = server_token {
            check_token_len(token)?;
        }
        let output = self
            .ctx
            .step(server_token, self.channel_bindings.as_deref())
            .map_err(|e| GssError::Rejected(e.to_string()))?
            .map(|buf| buf.to_vec());
        if !self.ctx.is_complete() {
            return Ok(InitStep::Continue(output.unwrap_or_default()));
        }
        let flags = self
            .ctx
            .flags()
            .map_err(|e| GssError::Rejected(e.to_string()))?;
        if !flags.contains(CtxFlags::GSS_C_MUTUAL_FLAG) {
            return Err(GssError::InsufficientProtection(
                "the server did not authenticate itself (no mutual authentication)",
            ));
        }
        require_confidentiality(flags)?;
        Ok(InitStep::Complete { token: output })
    }

    /// Whether [`KerberosInitiatorContext::step`] has completed successfully.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Seal a request body: returns (wrap token header, ciphertext).
    pub fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), GssError> {
        self.state.require_established()?;
        let result = wrap_sealed(&mut self.ctx, plain);
        self.state.poison_on_error(result)
    }

    /// Open a response body sealed by the server (sealed tokens from the acceptor only).
    pub fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, GssError> {
        self.state.require_established()?;
        let result = unwrap_sealed(&mut self.ctx, header, ciphertext, Sender::Acceptor);
        self.state.poison_on_error(result)
    }
}
