//! The server side of `Negotiate`/`NTLM` authentication: one [`NegotiateAcceptor`] per TCP
//! connection, raw NTLMSSP or SPNEGO-wrapped NTLM (NTLMv2 with extended session security),
//! ending in a [`MessageSealer`](crate::sealing::MessageSealer) for MS-WSMV message
//! encryption.
//!
//! Raw NTLM is entirely ours, accepted as Windows accepts it: our CHALLENGE for whatever
//! flags a real client sends (`server_challenge`: sspi's server refuses go-ntlmssp's and
//! Node's NEGOTIATE), the AUTHENTICATE verified by us, the MIC verified when the client
//! announces one, key exchange optional (the exported session key is then the
//! KeyExchangeKey). Under SPNEGO, sspi (pinned) builds the CHALLENGE, derives the session key
//! and checks the SPNEGO mechListMIC; it never appears outside this module. Message sealing
//! is ours (`seal`, MS-NLMP 3.4.4), keyed from the exported session key: sspi's makes three
//! or four temporary copies of every message, which showed in sealed streaming
//! (docs/benchmarks.md). Around sspi we keep what it gets wrong or leaves out: our own
//! bounded NTLM parser ([`message`]), our own NTProofStr check with the NT hash we looked up
//! (sspi accepts any password when the client omits the MIC), our own MIC check, no LM or
//! NTLMv1, anonymous or guest logon, channel bindings per CbtHardeningLevel, the SPNEGO
//! negState normalisation, and a state machine that cannot be stepped again once it completed
//! or failed (a replayed AUTHENTICATE finds no CHALLENGE to answer).
//!
//! SPNEGO and the user lookup: sspi's SPNEGO acceptor only takes a list of identities fixed
//! when the context is created (it has no per-user callback, and it matches the domain
//! exactly). We give it every NTLM-enabled account under the domain forms clients send for a
//! local account (none, `.`, the host name, `WORKGROUP`), and verify the password ourselves
//! first. Writing our own SPNEGO layer instead would mean re-implementing the mechListMIC and
//! the RC4 reset after it, whose sspi entry points are private; the identity list costs one
//! read of the account store per handshake and is documented as the limitation it is (a client
//! naming another domain is refused with a clear reason).

use std::fmt;

use zeroize::Zeroizing;

pub mod der;
mod md5_core;
pub mod message;
mod rc4;
pub(crate) mod seal;
pub(crate) mod server_challenge;
#[doc(hidden)]
pub mod speed;
pub mod spnego;
pub mod verify;

mod acceptor;

pub use acceptor::{AcceptStep, Completed, NegotiateAcceptor};
pub use verify::nt_hash_of_password;

/// An NT hash (MD4 of the UTF-16LE password), zeroed on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct NtHash(pub(crate) Zeroizing<[u8; 16]>);

impl NtHash {
    /// From the 32 hex digits `accounts.toml` stores.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 32 {
            return None;
        }
        let mut out = Zeroizing::new([0u8; 16]);
        for (index, pair) in bytes.chunks_exact(2).enumerate() {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            out[index] = (high * 16 + low) as u8;
        }
        Some(Self(out))
    }

    /// The 32 lowercase hex digits `accounts.toml` stores.
    pub fn to_hex(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(32));
        for byte in self.0.iter() {
            out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
        }
        out
    }
}

impl fmt::Debug for NtHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NtHash(<redacted>)")
    }
}

/// An account that may log in with NTLM: its name and NT hash.
#[derive(Debug, Clone)]
pub struct NtlmAccount {
    pub name: String,
    pub hash: NtHash,
}

/// Where the acceptor finds NT hashes (the server reads `accounts.toml`; tests use a map).
pub trait NtHashLookup {
    /// The NTLM-enabled account a client's user name means (ASCII case-insensitive, as NTLM
    /// user names are), if any.
    fn lookup(&self, user: &str) -> Option<NtlmAccount>;
    /// Every NTLM-enabled account (SPNEGO needs them up front).
    fn all(&self) -> Vec<NtlmAccount>;
}

/// `Service/Auth/CbtHardeningLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CbtHardening {
    /// Channel bindings are ignored.
    None,
    /// Missing bindings are accepted, wrong ones refused (Windows' default).
    #[default]
    Relaxed,
    /// Missing or wrong bindings are refused.
    Strict,
}

impl CbtHardening {
    /// Parses the config value (case-insensitive), `None` when unknown.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "relaxed" => Some(Self::Relaxed),
            "strict" => Some(Self::Strict),
            _ => None,
        }
    }
}

/// What the acceptor checks about channel bindings on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelBindingPolicy {
    pub hardening: CbtHardening,
    /// MD5 of the `gss_channel_bindings` of our TLS certificate
    /// ([`crate::channel_binding::ntlm_channel_bindings`]); `None` on plain HTTP.
    pub expected: Option<[u8; 16]>,
}

/// Why a handshake step was refused. No variant carries key material or a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NtlmError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    #[error("anonymous NTLM logon refused")]
    Anonymous,
    #[error("guest NTLM logon refused")]
    Guest,
    #[error("only NTLMv2 is accepted")]
    NotNtlmV2,
    #[error("the AUTHENTICATE message announces a MIC (MsvAvFlags) but carries none")]
    MicMissing,
    #[error("the AUTHENTICATE message's MIC is wrong")]
    MicInvalid,
    #[error("no NTLM-enabled account '{user}'")]
    UnknownUser { user: String },
    #[error("wrong password for '{user}'")]
    WrongPassword { user: String },
    #[error("channel binding required (CbtHardeningLevel=Strict) but not sent")]
    ChannelBindingMissing,
    #[error("channel binding does not match this TLS connection")]
    ChannelBindingMismatch,
    #[error("out of order: {0}")]
    OutOfOrder(&'static str),
    #[error("the authentication context of this connection already completed or failed")]
    Finished,
    #[error("'{user}' is not accepted under domain '{domain}' with SPNEGO (use no domain, '.', the host name or WORKGROUP)")]
    DomainNotAccepted { user: String, domain: String },
    #[error("rejected by the NTLM engine: {0}")]
    Rejected(String),
}

impl NtlmError {
    /// Whether the client proved nothing wrong about a password (malformed, out of order):
    /// useful for deciding whether a failure counts toward login throttling.
    pub fn is_credential_failure(&self) -> bool {
        matches!(
            self,
            Self::WrongPassword { .. }
                | Self::UnknownUser { .. }
                | Self::Anonymous
                | Self::Guest
                | Self::MicMissing
                | Self::MicInvalid
                | Self::Rejected(_)
        )
    }
}

/// A string as UTF-16LE, the encoding of NTLM's and CredSSP's Unicode fields.
pub(crate) fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

#[cfg(test)]
mod tests;
