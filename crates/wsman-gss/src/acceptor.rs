//! The server side: one shared [`KerberosAcceptor`] (the keytab credential) and one
//! [`KerberosContext`] per connection.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};

use super::cfx::Sender;
use super::ffi::{acquire_cred_from, Credential, GssContext, Usage};
use super::session::{self, Protection};
use super::{check_token_len, require_confidentiality, AcceptStep, Established, GssError, State};

/// MIT's "channel bindings were supplied by both sides and matched" context flag (1.19+).
const CHANNEL_BOUND_FLAG: u32 = libgssapi_sys::GSS_C_CHANNEL_BOUND_FLAG;

/// Where the acceptor's keys and replay cache live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptorOptions {
    /// A keytab holding exactly the service principals to serve (`HTTP/<fqdn>`,
    /// `WSMAN/<fqdn>`): every key in it is accepted.
    pub keytab: PathBuf,
    /// The replay cache file (MIT `file2` format). `None`: libkrb5's default,
    /// `$KRB5RCACHEDIR/krb5_<euid>.rcache2` or `/var/tmp/...`, which a hardened systemd unit
    /// may not be able to write. Never disabled: it is what refuses a replayed AP-REQ on a
    /// new connection.
    pub replay_cache: Option<PathBuf>,
}

/// The acceptor credential, shared by every connection (cheap to clone, `Send + Sync`).
#[derive(Clone)]
pub struct KerberosAcceptor {
    cred: Credential,
    keytab: PathBuf,
}

impl fmt::Debug for KerberosAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KerberosAcceptor")
            .field("keytab", &self.keytab)
            .finish_non_exhaustive()
    }
}

impl KerberosAcceptor {
    /// An acceptor for every principal in `keytab`, with the default replay cache.
    pub fn from_keytab(keytab: &Path) -> Result<Self, GssError> {
        Self::new(&AcceptorOptions {
            keytab: keytab.to_owned(),
            replay_cache: None,
        })
    }

    /// An acceptor with explicit options. Fails when the keytab cannot be read or holds no
    /// keys. Blocking (reads the keytab).
    pub fn new(options: &AcceptorOptions) -> Result<Self, GssError> {
        let keytab = path_text(&options.keytab)?;
        let keytab_name = format!("FILE:{keytab}");
        let rcache_name = match &options.replay_cache {
            Some(path) => Some(format!("file2:{}", path_text(path)?)),
            None => None,
        };
        let mut store = vec![("keytab", keytab_name.as_str())];
        if let Some(name) = &rcache_name {
            store.push(("rcache", name.as_str()));
        }
        let cred = acquire_cred_from(Usage::Accept, &store)?;
        Ok(Self {
            cred,
            keytab: options.keytab.clone(),
        })
    }

    /// The keytab this acceptor serves.
    pub fn keytab(&self) -> &Path {
        &self.keytab
    }

    /// A new context for one connection. `channel_bindings` is the RFC 5929 application data
    /// (`tls-server-end-point:` + certificate hash) on HTTPS, `None` on HTTP. With bindings, a
    /// client that sends different ones is refused; one that sends none is accepted and
    /// reported as not [`Established::channel_bound`] (the caller decides by its hardening
    /// level).
    pub fn context(&self, channel_bindings: Option<Vec<u8>>) -> KerberosContext {
        KerberosContext {
            ctx: GssContext::new(),
            cred: self.cred.clone(),
            channel_bindings,
            state: State::Authenticating,
            protection: Protection::Mit,
            spnego: false,
            auth_time: None,
        }
    }
}

/// One connection's server-side security context. `Send`, not `Sync`.
pub struct KerberosContext {
    ctx: GssContext,
    cred: Credential,
    channel_bindings: Option<Vec<u8>>,
    state: State,
    protection: Protection,
    /// Whether the handshake is SPNEGO-wrapped (decided by the first token).
    spnego: bool,
    /// The ticket's authentication time, read when the context completes (before our own
    /// sealing may end MIT's handle).
    auth_time: Option<i64>,
}

impl fmt::Debug for KerberosContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KerberosContext")
            .field("state", &self.state)
            .field("channel_bindings", &self.channel_bindings.is_some())
            .finish_non_exhaustive()
    }
}

impl KerberosContext {
    /// Feed one token from the client (`Authorization: Negotiate|Kerberos <token>`, decoded):
    /// a raw Kerberos AP-REQ or a SPNEGO token. Any error makes the context unusable.
    /// Blocking (keytab and replay cache I/O).
    pub fn step(&mut self, token: &[u8]) -> Result<AcceptStep, GssError> {
        if self.state != State::Authenticating {
            return Err(GssError::State(
                "the context has already authenticated or failed",
            ));
        }
        let result = self.step_inner(token);
        self.state = match &result {
            Ok(AcceptStep::Continue(_)) => State::Authenticating,
            Ok(AcceptStep::Complete(_)) => State::Established,
            Err(_) => State::Failed,
        };
        result
    }

    fn step_inner(&mut self, token: &[u8]) -> Result<AcceptStep, GssError> {
        check_token_len(token)?;
        if token.is_empty() {
            return Err(GssError::Rejected("empty token".into()));
        }
        if !self.ctx.is_live() {
            self.spnego = session::is_spnego_token(token);
        }
        let step = self
            .ctx
            .accept(&self.cred, token, self.channel_bindings.as_deref())
            .map_err(|e| GssError::Rejected(e.to_string()))?;
        if !step.complete {
            return Ok(AcceptStep::Continue(step.token));
        }
        let info = self.ctx.info()?;
        if !info.is_krb5 {
            return Err(GssError::InsufficientProtection(
                "the mechanism is not Kerberos",
            ));
        }
        require_confidentiality(step.flags)?;
        self.auth_time = self.ctx.authtime().ok();
        self.protection =
            session::choose_protection(&mut self.ctx, Sender::Acceptor, step.flags, self.spnego)?;
        Ok(AcceptStep::Complete(Established {
            token: (!step.token.is_empty()).then_some(step.token),
            principal: info.source,
            local_name: info.local_name,
            service: info.target,
            channel_bound: step.flags & CHANNEL_BOUND_FLAG != 0,
        }))
    }

    /// When the KDC issued the client's initial ticket, by the KDC's clock (MIT's
    /// `gsskrb5_extract_authtime_from_sec_context`): with a ticket got just now, the
    /// difference to our clock is the clock skew. Only on an established context.
    pub fn ticket_auth_time(&self) -> Result<std::time::SystemTime, GssError> {
        if self.state != State::Established {
            return Err(GssError::State("the context is not established"));
        }
        let seconds = self.auth_time.ok_or(GssError::State(
            "the library did not give the ticket's authentication time",
        ))?;
        Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds.unsigned_abs()))
    }

    sealed_context_methods!(peer: Sender::Initiator);
}

fn path_text(path: &Path) -> Result<&str, GssError> {
    path.to_str()
        .ok_or(GssError::InvalidArgument("path is not valid UTF-8"))
}
