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
//!   checked to be a *sealed* RFC 4121 token from the peer before it is unwrapped (MIT would
//!   accept an integrity-only token; see `cfx`);
//! - for aes128/aes256-cts-hmac-sha1-96 keys, messages are sealed by our own RFC 4121 code
//!   (`cfx`, `rfc3961`) with the keys MIT's lucid export hands out, because MIT's built-in
//!   crypto has no AES-NI/SHA-NI and was two thirds of the daemon's CPU on sealed streams;
//!   other enctypes stay with MIT's wrap/unwrap (`session`);
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
//! to the GSS-API only, in the `ffi` module (`ffi.rs`, `ffi/`), every block with a `SAFETY:`
//! comment. It depends on no crate of ours, so both the server and the client library can use
//! it (the client library may not depend on `wsman-os`).
//!
//! Cargo feature `kerberos` (default): without it (a build without libkrb5-dev/libclang),
//! the same API exists and every constructor answers [`GssError::Unavailable`].

// Only `ffi` may use unsafe code (it opts back in); every other module forbids it.
#![deny(unsafe_code)]

/// The message-protection methods of an established context, written once for the acceptor's
/// [`KerberosContext`] and the initiator's [`KerberosInitiatorContext`]: both keep their
/// handle in `ctx`, their life in `state` and their sealer in `protection`, and differ only
/// in whose tokens they open (`peer`). Every call needs an established context and poisons
/// it on error.
#[cfg(feature = "kerberos")]
macro_rules! sealed_context_methods {
    (peer: $peer:expr) => {
        /// Whether [`Self::step`] has completed successfully.
        pub fn is_established(&self) -> bool {
            self.state == $crate::State::Established
        }

        /// Whether messages are sealed by our own RFC 4121 code (AES-SHA1 keys) rather than
        /// MIT's; for logs and tests.
        pub fn seals_natively(&self) -> bool {
            self.protection.is_own()
        }

        /// [`Self::wrap`] of `parts` joined, appending the wrap token header then the
        /// ciphertext to `out` (a body being framed); returns the header's length.
        pub fn wrap_into(
            &mut self,
            parts: &[&[u8]],
            out: &mut Vec<u8>,
        ) -> Result<usize, $crate::GssError> {
            self.state.require_established()?;
            let result =
                $crate::session::wrap_sealed_into(&mut self.ctx, &mut self.protection, parts, out);
            self.state.poison_on_error(result)
        }

        /// [`Self::unwrap`], appending the plaintext to `out`; on failure `out` holds what it
        /// held before.
        pub fn unwrap_into(
            &mut self,
            header: &[u8],
            ciphertext: &[u8],
            out: &mut Vec<u8>,
        ) -> Result<(), $crate::GssError> {
            self.state.require_established()?;
            let result = $crate::session::unwrap_sealed_into(
                &mut self.ctx,
                &mut self.protection,
                header,
                ciphertext,
                $peer,
                out,
            );
            self.state.poison_on_error(result)
        }

        /// Seal a message body for the peer: returns (wrap token header, ciphertext), the
        /// MS-WSMV Length-Field payload and encrypted part.
        pub fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), $crate::GssError> {
            self.state.require_established()?;
            let result = $crate::session::wrap_sealed(&mut self.ctx, &mut self.protection, plain);
            self.state.poison_on_error(result)
        }

        /// Open a message body sealed by the peer. Refuses anything but a sealed RFC 4121
        /// wrap token sent by the peer, and (through MIT) bad checksums, replays and gaps.
        pub fn unwrap(
            &mut self,
            header: &[u8],
            ciphertext: &[u8],
        ) -> Result<Vec<u8>, $crate::GssError> {
            let mut plain = Vec::new();
            self.unwrap_into(header, ciphertext, &mut plain)?;
            Ok(plain)
        }

        /// Seal `plain` as one whole `gss_wrap` token (header, ciphertext and trailer
        /// together), the form CredSSP carries in `pubKeyAuth` and `authInfo`.
        pub fn wrap_token(&mut self, plain: &[u8]) -> Result<Vec<u8>, $crate::GssError> {
            self.state.require_established()?;
            let result = $crate::session::wrap_token(&mut self.ctx, &mut self.protection, plain);
            self.state.poison_on_error(result)
        }

        /// Open one whole `gss_wrap` token from the peer (CredSSP's form). The same checks as
        /// [`Self::unwrap`]: sealed, sent by the peer, AES only, bounded.
        pub fn unwrap_token(&mut self, token: &[u8]) -> Result<Vec<u8>, $crate::GssError> {
            self.state.require_established()?;
            let result =
                $crate::session::unwrap_token(&mut self.ctx, &mut self.protection, token, $peer);
            self.state.poison_on_error(result)
        }
    };
}

#[cfg(feature = "kerberos")]
mod acceptor;
#[cfg(feature = "kerberos")]
mod cfx;
#[cfg(feature = "kerberos")]
mod ffi;
#[cfg(feature = "kerberos")]
mod initiator;
#[cfg(feature = "kerberos")]
mod rfc3961;
#[cfg(feature = "kerberos")]
mod session;
mod steps;
#[cfg(not(feature = "kerberos"))]
mod unavailable;

#[cfg(feature = "kerberos")]
pub use acceptor::{AcceptorOptions, KerberosAcceptor, KerberosContext};
#[cfg(feature = "kerberos")]
pub use initiator::{KerberosInitiator, KerberosInitiatorContext};
pub use steps::{AcceptStep, Established, InitStep, InitiatorMechanism};
#[cfg(not(feature = "kerberos"))]
pub use unavailable::{
    AcceptorOptions, KerberosAcceptor, KerberosContext, KerberosInitiator, KerberosInitiatorContext,
};

/// Entry points for the fuzz targets in `fuzz/` only; not an API.
#[cfg(feature = "kerberos")]
#[doc(hidden)]
pub mod fuzzing {
    /// Open `token` (split after `header_len` bytes) with a sealer over fixed keys, and, when
    /// `seal_first`, first seal `token` with the peer and open a copy damaged at
    /// `header_len`: the unwrap parser on arbitrary bytes and on nearly valid tokens.
    pub fn unwrap_token(selector: u8, token: &[u8]) {
        let (mut initiator, mut acceptor) =
            super::cfx::sealer_pair(selector & 1 != 0, selector & 2 != 0);
        let header_len = usize::from(selector >> 3).min(token.len());
        if selector & 4 != 0 {
            if let Ok((header, data)) = initiator.wrap_split(token) {
                let mut whole: Vec<u8> = header.into_iter().chain(data).collect();
                let at = header_len % whole.len();
                whole[at] ^= 0x5a;
                let _ = acceptor.unwrap(
                    &whole[..header_len.min(whole.len())],
                    &whole[header_len.min(whole.len())..],
                );
            }
        } else {
            let _ = acceptor.unwrap(&token[..header_len], &token[header_len..]);
        }
    }
}

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
fn require_confidentiality(flags: u32) -> Result<(), GssError> {
    let needed = libgssapi_sys::GSS_C_CONF_FLAG | libgssapi_sys::GSS_C_INTEG_FLAG;
    if flags & needed == needed {
        Ok(())
    } else {
        Err(GssError::InsufficientProtection(
            "the context offers no confidentiality or integrity",
        ))
    }
}
