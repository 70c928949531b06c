//! One established context's message protection, the same for acceptor and initiator: our
//! own RFC 4121 sealing ([`CfxSealer`]) when the context's keys are AES-SHA1, MIT's
//! `gss_wrap_iov`/`gss_unwrap_iov` otherwise (aes-sha2, RC4, DES3, or a library without the
//! lucid export). The choice is made once, right after the handshake, and never mixed:
//! both paths keep their own sequence numbers.
#![forbid(unsafe_code)]

use super::cfx::{check_sealed_wrap_header, CfxKeyData, CfxSealer, Sender, SequenceCheck};
use super::ffi::GssContext;
use super::{GssError, MAX_TOKEN_LEN, MAX_WRAP_HEADER_LEN};

/// GSS_C_REPLAY_FLAG and GSS_C_SEQUENCE_FLAG.
const REPLAY_FLAG: u32 = 4;
const SEQUENCE_FLAG: u32 = 8;

/// Who seals this context's messages.
pub(super) enum Protection {
    /// MIT, through the live context handle.
    Mit,
    /// Our own implementation; the MIT handle is gone.
    Own(Box<CfxSealer>),
}

impl Protection {
    /// Which implementation sealing goes through, for tests and logs.
    pub(super) fn is_own(&self) -> bool {
        matches!(self, Protection::Own(_))
    }
}

/// Decide how an established context is protected: take its keys out of MIT when the
/// enctype is one of ours; otherwise (or when the export is not possible) keep MIT.
/// `negotiated_flags` are the context flags from the last handshake step; `spnego` whether
/// the handshake was SPNEGO-wrapped (and so may have ended with a mechListMIC).
pub(super) fn choose_protection(
    ctx: &mut GssContext,
    we_are: Sender,
    negotiated_flags: u32,
    spnego: bool,
) -> Result<Protection, GssError> {
    if std::env::var_os("WSMAN_GSS_MIT_SEALING").is_some() {
        return Ok(Protection::Mit);
    }
    let keys = match ctx.lucid_keys() {
        Ok(keys) => keys,
        // The export failed before the handle was ended: MIT keeps sealing.
        Err(_) if ctx.is_live() => return Ok(Protection::Mit),
        Err(detail) => return Err(GssError::Rejected(detail.to_string())),
    };
    if keys.protocol != 1 {
        return Ok(Protection::Mit);
    }
    let check = if negotiated_flags & SEQUENCE_FLAG != 0 {
        SequenceCheck::Strict
    } else if negotiated_flags & REPLAY_FLAG != 0 {
        SequenceCheck::NoReplay
    } else {
        SequenceCheck::None
    };
    let data = CfxKeyData {
        enctype_number: keys.ctx_key.0,
        initiator_key: &keys.ctx_key.1,
        acceptor_subkey: keys
            .acceptor_subkey
            .as_ref()
            .map(|(enctype, key)| (*enctype, key.as_slice())),
        send_seq: keys.send_seq,
        recv_seq: keys.recv_seq,
        handshake_mic_window: u64::from(spnego),
    };
    match CfxSealer::new(&data, we_are, check) {
        Some(sealer) => {
            // One implementation per context: the MIT copy is not needed any more.
            ctx.delete();
            Ok(Protection::Own(Box::new(sealer)))
        }
        None => Ok(Protection::Mit),
    }
}

/// Seal `plain` for MS-WSMV: (wrap token header, ciphertext).
pub(super) fn wrap_sealed(
    ctx: &mut GssContext,
    protection: &mut Protection,
    plain: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), GssError> {
    match protection {
        Protection::Own(sealer) => sealer
            .wrap_split(plain)
            .map_err(|e| GssError::Wrap(e.into())),
        Protection::Mit => ctx
            .wrap_iov(plain)
            .map_err(|e| GssError::Wrap(e.to_string())),
    }
}

/// [`wrap_sealed`] of `parts` joined, appending the wrap token header then the ciphertext to
/// `out`; returns the header's length. Our own sealing encrypts where the bytes land; MIT's
/// joins and copies.
pub(super) fn wrap_sealed_into(
    ctx: &mut GssContext,
    protection: &mut Protection,
    parts: &[&[u8]],
    out: &mut Vec<u8>,
) -> Result<usize, GssError> {
    match protection {
        Protection::Own(sealer) => sealer
            .wrap_split_into(parts, out)
            .map_err(|e| GssError::Wrap(e.into())),
        Protection::Mit => {
            let (header, ciphertext) = ctx
                .wrap_iov(&parts.concat())
                .map_err(|e| GssError::Wrap(e.to_string()))?;
            out.extend_from_slice(&header);
            out.extend_from_slice(&ciphertext);
            Ok(header.len())
        }
    }
}

/// Check that `header` starts a sealed wrap token from `sender`, then open it, appending the
/// plaintext to `out`; on failure `out` holds what it held before.
pub(super) fn unwrap_sealed_into(
    ctx: &mut GssContext,
    protection: &mut Protection,
    header: &[u8],
    ciphertext: &[u8],
    sender: Sender,
    out: &mut Vec<u8>,
) -> Result<(), GssError> {
    check_sealed_header_part(header, sender)?;
    match protection {
        Protection::Own(sealer) => sealer
            .unwrap_into(header, ciphertext, out)
            .map_err(|e| GssError::Unwrap(e.into())),
        Protection::Mit => {
            let plain = ctx
                .unwrap_iov(header, ciphertext)
                .map_err(|e| GssError::Unwrap(e.to_string()))?;
            // Into an empty buffer (`unwrap`), MIT's plaintext is moved rather than copied.
            if out.is_empty() {
                *out = plain;
            } else {
                out.extend_from_slice(&plain);
            }
            Ok(())
        }
    }
}

/// The checks on a token's header part before anything is decrypted: bounded, sealed, from
/// `sender`, AES only.
fn check_sealed_header_part(header: &[u8], sender: Sender) -> Result<(), GssError> {
    if header.len() > MAX_WRAP_HEADER_LEN {
        return Err(GssError::TooLarge {
            len: header.len(),
            limit: MAX_WRAP_HEADER_LEN,
        });
    }
    check_sealed_wrap_header(header, sender).map_err(GssError::NotSealed)
}

/// Seal `plain` as one whole token (CredSSP's form).
pub(super) fn wrap_token(
    ctx: &mut GssContext,
    protection: &mut Protection,
    plain: &[u8],
) -> Result<Vec<u8>, GssError> {
    match protection {
        Protection::Own(sealer) => sealer
            .wrap_token(plain)
            .map_err(|e| GssError::Wrap(e.into())),
        Protection::Mit => ctx.wrap(plain).map_err(|e| GssError::Wrap(e.to_string())),
    }
}

/// Open one whole token from `sender`: bounded, sealed, right direction.
pub(super) fn unwrap_token(
    ctx: &mut GssContext,
    protection: &mut Protection,
    token: &[u8],
    sender: Sender,
) -> Result<Vec<u8>, GssError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(GssError::TooLarge {
            len: token.len(),
            limit: MAX_TOKEN_LEN,
        });
    }
    check_sealed_wrap_header(token, sender).map_err(GssError::NotSealed)?;
    match protection {
        Protection::Own(sealer) => sealer
            .unwrap(token, &[])
            .map_err(|e| GssError::Unwrap(e.into())),
        Protection::Mit => ctx
            .unwrap(token)
            .map_err(|e| GssError::Unwrap(e.to_string())),
    }
}

/// SPNEGO 1.3.6.1.5.5.2 as a DER OID.
const SPNEGO_OID_DER: [u8; 8] = [0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];

/// Whether a client's first token is SPNEGO (an InitialContextToken with the SPNEGO OID,
/// or a bare NegTokenResp) rather than a raw Kerberos AP-REQ.
pub(super) fn is_spnego_token(token: &[u8]) -> bool {
    match token.first() {
        Some(0xa1) => true,
        Some(0x60) => token
            .iter()
            .take(8)
            .position(|&byte| byte == 0x06)
            .is_some_and(|at| token[at..].starts_with(&SPNEGO_OID_DER)),
        _ => false,
    }
}
