//! The API of a build without the `kerberos` feature: the same types, every constructor
//! answering [`GssError::Unavailable`], so callers need no `cfg` of their own. The context
//! types cannot exist (they hold an uninhabited value), so their methods are unreachable.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use super::{AcceptStep, GssError, InitStep, InitiatorMechanism};

/// The sealing methods of a context that cannot exist, for both context types (the same
/// signatures as the `kerberos` build's).
macro_rules! never_sealed_methods {
    () => {
        /// Unreachable.
        pub fn is_established(&self) -> bool {
            match self.never {}
        }

        /// Unreachable.
        pub fn seals_natively(&self) -> bool {
            match self.never {}
        }

        /// Unreachable.
        pub fn wrap_into(
            &mut self,
            _parts: &[&[u8]],
            _out: &mut Vec<u8>,
        ) -> Result<usize, GssError> {
            match self.never {}
        }

        /// Unreachable.
        pub fn unwrap_into(
            &mut self,
            _header: &[u8],
            _ciphertext: &[u8],
            _out: &mut Vec<u8>,
        ) -> Result<(), GssError> {
            match self.never {}
        }

        /// Unreachable.
        pub fn wrap(&mut self, _plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), GssError> {
            match self.never {}
        }

        /// Unreachable.
        pub fn unwrap(&mut self, _header: &[u8], _ciphertext: &[u8]) -> Result<Vec<u8>, GssError> {
            match self.never {}
        }

        /// Unreachable.
        pub fn wrap_token(&mut self, _plain: &[u8]) -> Result<Vec<u8>, GssError> {
            match self.never {}
        }

        /// Unreachable.
        pub fn unwrap_token(&mut self, _token: &[u8]) -> Result<Vec<u8>, GssError> {
            match self.never {}
        }
    };
}

/// A value that cannot exist: no acceptor or initiator can be built in this configuration.
#[derive(Debug, Clone, Copy)]
enum Never {}

/// Where the acceptor's keys and replay cache live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptorOptions {
    /// The keytab.
    pub keytab: PathBuf,
    /// The replay cache file.
    pub replay_cache: Option<PathBuf>,
}

/// The acceptor credential (never built here).
#[derive(Debug, Clone)]
pub struct KerberosAcceptor {
    never: Never,
}

impl KerberosAcceptor {
    /// Always [`GssError::Unavailable`].
    pub fn from_keytab(_keytab: &Path) -> Result<Self, GssError> {
        Err(GssError::Unavailable)
    }

    /// Always [`GssError::Unavailable`].
    pub fn new(_options: &AcceptorOptions) -> Result<Self, GssError> {
        Err(GssError::Unavailable)
    }

    /// Unreachable.
    pub fn keytab(&self) -> &Path {
        match self.never {}
    }

    /// Unreachable.
    pub fn context(&self, _channel_bindings: Option<Vec<u8>>) -> KerberosContext {
        match self.never {}
    }
}

/// One connection's server context (never built here).
#[derive(Debug)]
pub struct KerberosContext {
    never: Never,
}

impl KerberosContext {
    /// Unreachable.
    pub fn step(&mut self, _token: &[u8]) -> Result<AcceptStep, GssError> {
        match self.never {}
    }

    /// Unreachable.
    pub fn ticket_auth_time(&self) -> Result<std::time::SystemTime, GssError> {
        match self.never {}
    }

    never_sealed_methods!();
}

/// The initiator credential (never built here).
#[derive(Debug, Clone)]
pub struct KerberosInitiator {
    never: Never,
}

impl KerberosInitiator {
    /// Always [`GssError::Unavailable`].
    pub fn from_ccache(
        _service: &str,
        _host: &str,
        _ccache: Option<&str>,
        _mechanism: InitiatorMechanism,
    ) -> Result<Self, GssError> {
        Err(GssError::Unavailable)
    }

    /// Always [`GssError::Unavailable`].
    pub fn from_keytab(
        _principal: &str,
        _keytab: &Path,
        _ccache: &str,
        _service: &str,
        _host: &str,
        _mechanism: InitiatorMechanism,
    ) -> Result<Self, GssError> {
        Err(GssError::Unavailable)
    }

    /// Always [`GssError::Unavailable`].
    pub fn with_password(
        _principal: &str,
        _password: &str,
        _service: &str,
        _host: &str,
        _mechanism: InitiatorMechanism,
    ) -> Result<Self, GssError> {
        Err(GssError::Unavailable)
    }

    /// Unreachable.
    pub fn context(
        &self,
        _channel_bindings: Option<Vec<u8>>,
    ) -> Result<KerberosInitiatorContext, GssError> {
        match self.never {}
    }
}

/// One connection's client context (never built here).
#[derive(Debug)]
pub struct KerberosInitiatorContext {
    never: Never,
}

impl KerberosInitiatorContext {
    /// Unreachable.
    pub fn step(&mut self, _server_token: Option<&[u8]>) -> Result<InitStep, GssError> {
        match self.never {}
    }

    never_sealed_methods!();
}
