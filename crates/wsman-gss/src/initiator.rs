//! The client side: a [`KerberosInitiator`] (whose tickets, for which service) and one
//! [`KerberosInitiatorContext`] per connection, for `-a:Kerberos` in the client library.
#![forbid(unsafe_code)]

use std::fmt;

use libgssapi_sys as sys;

use super::cfx::Sender;
use super::ffi::{
    acquire_cred_from, acquire_cred_named_from, acquire_cred_with_password, Credential, GssContext,
    GssName, Mech, Usage,
};
use super::session::{self, Protection};
use super::{
    check_token_len, require_confidentiality, GssError, InitStep, InitiatorMechanism, State,
};

/// Whose tickets to use and which service to ask for. Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct KerberosInitiator {
    /// `None`: the default credential cache (`KRB5CCNAME`).
    cred: Option<Credential>,
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
        let name = GssName::principal(principal)?;
        let cred = acquire_cred_with_password(&name, password)?;
        Self::build(Some(cred), service, host, mechanism)
    }

    /// Act as `principal` (`HTTP/host@REALM`) with its keys from the keytab file `keytab`,
    /// tickets kept in the memory cache `ccache` (`MEMORY:name`, unique per use), to
    /// authenticate to `service/host`. The first step gets a ticket-granting ticket from the
    /// KDC with the keytab's key: what `kinit -k` and `kvno` prove, in-process. Blocking.
    pub fn from_keytab(
        principal: &str,
        keytab: &std::path::Path,
        ccache: &str,
        service: &str,
        host: &str,
        mechanism: InitiatorMechanism,
    ) -> Result<Self, GssError> {
        let keytab = keytab
            .to_str()
            .ok_or(GssError::InvalidArgument("keytab path is not UTF-8"))?;
        let name = GssName::principal(principal)?;
        let cred = acquire_cred_named_from(
            Usage::Initiate,
            Some(&name),
            &[
                ("client_keytab", &format!("FILE:{keytab}")),
                ("ccache", ccache),
            ],
        )?;
        Self::build(Some(cred), service, host, mechanism)
    }

    fn build(
        cred: Option<Credential>,
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
        let target = GssName::host_service(&self.target)?;
        let mech = match self.mechanism {
            InitiatorMechanism::Kerberos => Mech::Krb5,
            InitiatorMechanism::Spnego => Mech::Spnego,
        };
        Ok(KerberosInitiatorContext {
            ctx: GssContext::new(),
            cred: self.cred.clone(),
            target,
            mech,
            channel_bindings,
            state: State::Authenticating,
            protection: Protection::Mit,
        })
    }
}

/// One connection's client-side security context. `Send`, not `Sync`.
pub struct KerberosInitiatorContext {
    ctx: GssContext,
    cred: Option<Credential>,
    target: GssName,
    mech: Mech,
    channel_bindings: Option<Vec<u8>>,
    state: State,
    protection: Protection,
}

/// What the initiator asks for: mutual authentication, replay and sequence detection,
/// confidentiality and integrity.
const REQUESTED_FLAGS: u32 = sys::GSS_C_MUTUAL_FLAG
    | sys::GSS_C_REPLAY_FLAG
    | sys::GSS_C_SEQUENCE_FLAG
    | sys::GSS_C_CONF_FLAG
    | sys::GSS_C_INTEG_FLAG;

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
        let step = self
            .ctx
            .init(
                self.cred.as_ref(),
                &self.target,
                self.mech,
                REQUESTED_FLAGS,
                self.channel_bindings.as_deref(),
                server_token,
            )
            .map_err(|e| GssError::Rejected(e.to_string()))?;
        if !step.complete {
            return Ok(InitStep::Continue(step.token));
        }
        if step.flags & sys::GSS_C_MUTUAL_FLAG == 0 {
            return Err(GssError::InsufficientProtection(
                "the server did not authenticate itself (no mutual authentication)",
            ));
        }
        require_confidentiality(step.flags)?;
        self.protection = session::choose_protection(
            &mut self.ctx,
            Sender::Initiator,
            step.flags,
            self.mech == Mech::Spnego,
        )?;
        Ok(InitStep::Complete {
            token: (!step.token.is_empty()).then_some(step.token),
        })
    }

    sealed_context_methods!(peer: Sender::Acceptor);
}
