//! Kerberos through the system's GSS-API (MIT krb5, via libgssapi), behind our own small API:
//! the server-side [`KerberosAcceptor`] and the client-side [`KerberosInitiator`], each making
//! one security context per connection that authenticates (raw Kerberos or SPNEGO-wrapped
//! tokens) and then wraps and unwraps MS-WSMV message bodies.
//!
//! What this module adds to plain GSS-API, and why:
//! - the acceptor credential comes from an explicit keytab (`gss_acquire_cred_from`), never
//!   from `KRB5_KTNAME` or `/etc/krb5.keytab`, so only the SPNs in that keytab are served;
//! - SPNEGO is restricted to Kerberos (`gss_set_neg_mechs`): NTLM is handled elsewhere;
//! - a completed context must offer confidentiality and integrity, and every wrap token is
//!   checked to be a *sealed* RFC 4121 token from the peer before MIT unwraps it (MIT would
//!   accept an integrity-only token; see `cfx`);
//! - a context authenticates once: steps after completion are refused, and any error leaves
//!   the context unusable (the caller starts a new one on the next `Authorization`).
//!
//! Blocking: `step` may read the keytab and write the replay cache (disk I/O), and the
//! initiator may contact the KDC; async callers use `spawn_blocking`. `wrap`/`unwrap` are CPU
//! only. A context is `Send`, not `Sync`: one connection, one thread at a time.
//!
//! The krb5 library reads `KRB5_CONFIG` (realm and KDC locations, `auth_to_local` rules) from
//! the process environment; everything else is passed explicitly.

//!
//! This crate is, with `wsman-os`, one of the two in the workspace allowed `unsafe`: the FFI
//! to libgssapi only, in `ffi.rs`, every block with a `SAFETY:` comment. It depends on no
//! crate of ours, so both the server and the client library can use it (the client library
//! may not depend on `wsman-os`).
//!
//! Cargo feature `kerberos` (default): without it (a build without libkrb5-dev/libclang),
//! the same API exists and every constructor answers [`GssError::Unavailable`].

// Only `ffi` may use unsafe code (it opts back in); every other module forbids it.
#![deny(unsafe_code)]

#[cfg(feature = "kerberos")]
mod acceptor;
#[cfg(feature = "kerberos")]
mod cfx;
#[cfg(feature = "kerberos")]
mod ffi;
#[cfg(feature = "kerberos")]
mod initiator;
#[cfg(not(feature = "kerberos"))]
mod unavailable;

#[cfg(feature = "kerberos")]
pub use acceptor::{AcceptStep, AcceptorOptions, Established, KerberosAcceptor, KerberosContext};
#[cfg(feature = "kerberos")]
pub use initiator::{InitStep, InitiatorMechanism, KerberosInitiator, KerberosInitiatorContext};
#[cfg(not(feature = "kerberos"))]
pub use unavailable::{
    AcceptStep, AcceptorOptions, Established, InitStep, InitiatorMechanism, KerberosAcceptor,
    KerberosContext, KerberosInitiator, KerberosInitiatorContext,
};

#[cfg(feature = "kerberos")]
use libgssapi::context::SecurityContext;
#[cfg(feature = "kerberos")]
use libgssapi::util::{GssIov, GssIovType};

/// Whether this build can speak Kerberos (cargo feature `kerberos`).
pub const AVAILABLE: bool = cfg!(feature = "kerberos");

/// Largest authentication token accepted: Windows' MaxTokenSize default is 48000 bytes (a
/// ticket with a large PAC); anything above this is not Kerberos.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;
/// Largest wrap token header accepted (AES-SHA1: 60 bytes, AES-SHA2: 72).
pub const MAX_WRAP_HEADER_LEN: usize = 256;

/// Why a Kerberos operation failed. The texts carry MIT's status messages, which are good
/// for the log and must not be sent to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GssError {
    /// A path or name could not be passed to the library (e.g. contains a NUL byte).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The keytab or credential cache could not be used.
    #[error("cannot acquire Kerberos credentials: {0}")]
    Credential(String),
    /// A principal or service name was refused by the library.
    #[error("invalid Kerberos name {name:?}: {detail}")]
    Name {
        /// The name as given.
        name: String,
        /// MIT's message.
        detail: String,
    },
    /// The peer's token was refused: wrong service, replay, bad checksum, clock skew,
    /// malformed token, channel binding mismatch, ...
    #[error("Kerberos authentication failed: {0}")]
    Rejected(String),
    /// A token or message is larger than this module accepts.
    #[error("token of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The call does not fit the context's state (step after completion, wrap before it,
    /// or use after an error).
    #[error("security context misuse: {0}")]
    State(&'static str),
    /// The completed context does not offer confidentiality and integrity, or is not Kerberos.
    #[error("security context refused: {0}")]
    InsufficientProtection(&'static str),
    /// A wrap token was refused by our own header check before decryption.
    #[error("wrap token refused: {0}")]
    NotSealed(&'static str),
    /// MIT refused a wrap token (bad checksum, replayed, out of sequence).
    #[error("message could not be unwrapped: {0}")]
    Unwrap(String),
    /// MIT could not wrap a message.
    #[error("message could not be wrapped: {0}")]
    Wrap(String),
    /// This build has no Kerberos (cargo feature `kerberos` off).
    #[error("Kerberos is not available in this build (cargo feature `kerberos`)")]
    Unavailable,
}

/// Refuse tokens above [`MAX_TOKEN_LEN`].
/// Where one security context is in its life, the same for acceptor and initiator: only an
/// established context seals, and any failure (handshake or message) poisons it for good.
#[cfg(feature = "kerberos")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Authenticating,
    Established,
    Failed,
}

#[cfg(feature = "kerberos")]
impl State {
    fn require_established(self) -> Result<(), GssError> {
        match self {
            State::Established => Ok(()),
            State::Authenticating => Err(GssError::State("the context is not established")),
            State::Failed => Err(GssError::State("the context failed")),
        }
    }

    /// Pass `result` through, marking the context failed when it is an error.
    fn poison_on_error<T>(&mut self, result: Result<T, GssError>) -> Result<T, GssError> {
        if result.is_err() {
            *self = State::Failed;
        }
        result
    }
}

#[cfg(feature = "kerberos")]
fn check_token_len(token: &[u8]) -> Result<(), GssError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(GssError::TooLarge {
            len: token.len(),
            limit: MAX_TOKEN_LEN,
        });
    }
    Ok(())
}

/// The flags every established context must carry.
#[cfg(feature = "kerberos")]
fn require_confidentiality(flags: libgssapi::context::CtxFlags) -> Result<(), GssError> {
    use libgssapi::context::CtxFlags;
    let needed = CtxFlags::GSS_C_CONF_FLAG | CtxFlags::GSS_C_INTEG_FLAG;
    if flags.contains(needed) {
        Ok(())
    } else {
        Err(GssError::InsufficientProtection(
            "the context offers no confidentiality or integrity",
        ))
    }
}

/// `gss_wrap_iov` with confidentiality, HEADER | DATA | PADDING: returns (header, ciphertext
/// followed by any padding), the MS-WSMV layout (Length-Field = header length).
#[cfg(feature = "kerberos")]
fn wrap_sealed<C: SecurityContext>(
    ctx: &mut C,
    plain: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), GssError> {
    let mut data = plain.to_vec();
    let (header, padding) = {
        let mut iov = [
            GssIov::new_alloc(GssIovType::Header),
            GssIov::new(GssIovType::Data, &mut data),
            GssIov::new_alloc(GssIovType::Padding),
        ];
        ctx.wrap_iov(true, &mut iov)
            .map_err(|e| GssError::Wrap(e.to_string()))?;
        (iov[0].to_vec(), iov[2].to_vec())
    };
    data.extend_from_slice(&padding);
    Ok((header, data))
}

/// Check that `header` starts a sealed wrap token from `sender`, then `gss_unwrap_iov` with
/// HEADER | DATA; returns the plaintext.
#[cfg(feature = "kerberos")]
fn unwrap_sealed<C: SecurityContext>(
    ctx: &mut C,
    header: &[u8],
    ciphertext: &[u8],
    sender: cfx::Sender,
) -> Result<Vec<u8>, GssError> {
    if header.len() > MAX_WRAP_HEADER_LEN {
        return Err(GssError::TooLarge {
            len: header.len(),
            limit: MAX_WRAP_HEADER_LEN,
        });
    }
    cfx::check_sealed_wrap_header(header, sender).map_err(GssError::NotSealed)?;
    let mut header = header.to_vec();
    let mut data = ciphertext.to_vec();
    let plain_len = {
        let mut iov = [
            GssIov::new(GssIovType::Header, &mut header),
            GssIov::new(GssIovType::Data, &mut data),
        ];
        ctx.unwrap_iov(&mut iov)
            .map_err(|e| GssError::Unwrap(e.to_string()))?;
        iov[1].len()
    };
    data.truncate(plain_len);
    Ok(data)
}
