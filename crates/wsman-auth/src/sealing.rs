//! MS-WSMV message encryption framing (MS-WSMV 2.2.9.1; protocol reference §7): the
//! `multipart/encrypted` body that carries a SOAP envelope wrapped by the connection's
//! security context, and the [`MessageSealer`] trait such a context implements.
//!
//! Pure and sans-I/O: the caller supplies the bytes of one HTTP body and its Content-Type.
//! Parsing is tolerant of the variants real clients send (leading tab or not before part
//! headers, header-name case, `-- Encrypted Boundary`, any of the SPNEGO, Kerberos and CredSSP
//! protocol labels) but strict about lengths: the 4-byte header length must fit the body
//! exactly, `Length=` must be within the caller's limit and equal the unwrapped plaintext length.
//! Output is always the exact byte form Windows emits, because pywinrm and pypsrp match literal
//! byte strings when they parse it.
//!
//! A sealer that limits the plaintext of one wrap ([`MessageSealer::max_chunk_len`]: CredSSP's
//! TLS records, 16 KiB) gets one group per chunk, and more than one group is the
//! `multipart/x-multi-encrypted` form (MS-WSMV 2.2.9.1.2). Groups of that form are delimited by
//! walking their TLS records, never by searching for the boundary inside ciphertext.

use zeroize::Zeroize;

/// The only boundary WinRM uses.
pub const ENCRYPTED_BOUNDARY: &str = "Encrypted Boundary";
/// Protocol label of a context negotiated under `Negotiate` (SPNEGO, NTLM or Kerberos).
pub const SPNEGO_PROTOCOL: &str = "application/HTTP-SPNEGO-session-encrypted";
/// Protocol label of a context negotiated under the `Kerberos` scheme.
pub const KERBEROS_PROTOCOL: &str = "application/HTTP-Kerberos-session-encrypted";
/// Protocol label of a CredSSP context.
pub const CREDSSP_PROTOCOL: &str = "application/HTTP-CredSSP-session-encrypted";
/// Largest per-message token header accepted (NTLM uses 16 bytes, Kerberos AES 60, CredSSP
/// TLS trailers under 64): anything bigger is a framing error, not a reason to allocate.
pub const MAX_TOKEN_HEADER_LEN: usize = 1024;
/// Bytes of framing around one group beyond the header and ciphertext; used to bound the
/// whole body before looking at it.
const MAX_FRAMING_OVERHEAD: usize = 2048;
/// Longest header line inside the multipart body.
const MAX_PART_LINE: usize = 512;
/// Most header lines in one part (two are defined; a few unknown ones are skipped).
const MAX_PART_HEADERS: usize = 8;

const MULTIPART_ENCRYPTED: &str = "multipart/encrypted";
const MULTIPART_MULTI_ENCRYPTED: &str = "multipart/x-multi-encrypted";

/// One direction-aware security context able to wrap and unwrap messages (NTLM now, Kerberos
/// and CredSSP later). Sequence numbers and cipher state live inside the implementation, so a
/// sealer must be used for one connection only, in message order.
pub trait MessageSealer: Send {
    /// The MS-WSMV protocol label it speaks, e.g. [`SPNEGO_PROTOCOL`].
    fn protocol(&self) -> &str;

    /// Whether a body labelled `protocol` may be unwrapped by this context. Defaults to an
    /// ASCII case-insensitive match with [`MessageSealer::protocol`]; a Kerberos context
    /// overrides it because pywinrm labels Kerberos bodies with the SPNEGO value.
    fn accepts_protocol(&self, protocol: &str) -> bool {
        protocol.eq_ignore_ascii_case(self.protocol())
    }

    /// Encrypt `plain`; returns (header/signature bytes, ciphertext).
    fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SealError>;

    /// Decrypt; `header` is the signature bytes that preceded the ciphertext. Fails with
    /// [`SealError::Unwrap`] on a bad signature or sequence number.
    fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError>;

    /// The most plaintext one [`MessageSealer::wrap`] takes: longer bodies are sealed as one
    /// group per chunk (CredSSP: 16 KiB). `None`: any length in one group.
    fn max_chunk_len(&self) -> Option<usize> {
        None
    }

    /// Wraps the concatenation of `parts` as one message and appends the MS-WSMV data part
    /// to `out`: the 4-byte little-endian header length, the header, the ciphertext. Only
    /// called with at most [`MessageSealer::max_chunk_len`] bytes in all. The default joins
    /// the parts and calls [`MessageSealer::wrap`]; a context that can encrypt where the
    /// bytes land (NTLM) overrides it so that the body is the only copy.
    fn wrap_parts_into(&mut self, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<(), SealError> {
        let joined;
        let plain: &[u8] = match parts {
            [] => &[],
            [one] => one,
            _ => {
                joined = parts.concat();
                &joined
            }
        };
        let (token_header, ciphertext) = self.wrap(plain)?;
        push_token_header(out, &token_header)?;
        out.extend_from_slice(&ciphertext);
        Ok(())
    }

    /// [`MessageSealer::unwrap`], appending the plaintext to `out` (e.g. a pooled buffer).
    /// On failure `out` holds what it held before. The default copies the result of
    /// [`MessageSealer::unwrap`]; NTLM decrypts where the bytes land.
    fn unwrap_into(
        &mut self,
        header: &[u8],
        ciphertext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SealError> {
        let plain = self.unwrap(header, ciphertext)?;
        out.extend_from_slice(&plain);
        Ok(())
    }

    /// Whether [`MessageSealer::unwrap_in_place`] decrypts where the bytes lie (NTLM) rather
    /// than through a buffer of its own: a caller with a pooled buffer keeps
    /// [`MessageSealer::unwrap_into`] for the others, which costs them no fresh memory.
    fn decrypts_in_place(&self) -> bool {
        false
    }

    /// [`MessageSealer::unwrap`] where the ciphertext lies (e.g. the received body itself):
    /// returns the range of `data` that holds the plaintext. On failure no plaintext is left
    /// in `data`. The default unwraps into a new buffer and copies the plaintext over the
    /// start of `data`; NTLM decrypts in place, so the body is the only copy.
    fn unwrap_in_place(
        &mut self,
        header: &[u8],
        data: &mut [u8],
    ) -> Result<std::ops::Range<usize>, SealError> {
        let mut plain = self.unwrap(header, data)?;
        let Some(target) = data.get_mut(..plain.len()) else {
            plain.zeroize();
            return Err(SealError::Unwrap(
                "plaintext longer than its ciphertext".to_owned(),
            ));
        };
        target.copy_from_slice(&plain);
        plain.zeroize();
        Ok(0..target.len())
    }
}

/// The four sealing methods of a [`MessageSealer`] over an established GSS context (the
/// server's Kerberos acceptor context, the client's initiator context), written once: the
/// argument names the field holding the context, whose `wrap`, `unwrap`, `wrap_into` and
/// `unwrap_into` have the signatures of `wsman_gss`'s contexts. The ciphertext is written
/// straight into the body being framed and decrypted where the plaintext lands.
#[macro_export]
macro_rules! gss_context_sealing {
    ($context:ident) => {
        fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), $crate::sealing::SealError> {
            self.$context
                .wrap(plain)
                .map_err(|e| $crate::sealing::SealError::Wrap(e.to_string()))
        }

        fn unwrap(
            &mut self,
            header: &[u8],
            ciphertext: &[u8],
        ) -> Result<Vec<u8>, $crate::sealing::SealError> {
            self.$context
                .unwrap(header, ciphertext)
                .map_err(|e| $crate::sealing::SealError::Unwrap(e.to_string()))
        }

        fn wrap_parts_into(
            &mut self,
            parts: &[&[u8]],
            out: &mut Vec<u8>,
        ) -> Result<(), $crate::sealing::SealError> {
            $crate::sealing::push_data_part_with(out, |out| self.$context.wrap_into(parts, out))
        }

        fn unwrap_into(
            &mut self,
            header: &[u8],
            ciphertext: &[u8],
            out: &mut Vec<u8>,
        ) -> Result<(), $crate::sealing::SealError> {
            self.$context
                .unwrap_into(header, ciphertext, out)
                .map_err(|e| $crate::sealing::SealError::Unwrap(e.to_string()))
        }
    };
}

/// Appends the 4-byte little-endian length of `token_header` and the header itself.
pub(crate) fn push_token_header(out: &mut Vec<u8>, token_header: &[u8]) -> Result<(), SealError> {
    out.extend_from_slice(&header_length_field(token_header.len())?);
    out.extend_from_slice(token_header);
    Ok(())
}

/// The 4-byte little-endian length field of a token header of `len` bytes, refused above
/// [`MAX_TOKEN_HEADER_LEN`].
fn header_length_field(len: usize) -> Result<[u8; 4], SealError> {
    u32::try_from(len)
        .ok()
        .filter(|len| (*len as usize) <= MAX_TOKEN_HEADER_LEN)
        .map(u32::to_le_bytes)
        .ok_or(SealError::Wrap("token header too long".to_owned()))
}

/// Appends an MS-WSMV data part whose token header the sealer writes itself: reserves the
/// 4-byte length, lets `write` append the header then the ciphertext and return the header's
/// length, then fills the length in. For a [`MessageSealer::wrap_parts_into`] that encrypts
/// where the bytes land; its error becomes [`SealError::Wrap`]. On failure `out` holds what
/// it held before.
pub fn push_data_part_with<E: std::fmt::Display>(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<usize, E>,
) -> Result<(), SealError> {
    let start = out.len();
    out.extend_from_slice(&[0u8; 4]);
    let written = write(out).map_err(|e| SealError::Wrap(e.to_string()));
    let field = written.and_then(|header_len| {
        let field = header_length_field(header_len)?;
        // Bounded above: the sum cannot overflow.
        if start + 4 + header_len > out.len() {
            return Err(SealError::Wrap("token header too long".to_owned()));
        }
        Ok(field)
    });
    match field {
        Ok(field) => {
            out[start..start + 4].copy_from_slice(&field);
            Ok(())
        }
        Err(error) => {
            out.truncate(start);
            Err(error)
        }
    }
}

/// Why a body could not be sealed or unsealed. Every variant is a reason to answer 400 (server)
/// or to fail the request (client); none carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The Content-Type is not `multipart/encrypted` or `multipart/x-multi-encrypted`.
    #[error("not an MS-WSMV encrypted body")]
    NotEncrypted,
    /// A sealed form that is recognised but not implemented yet.
    #[error("encrypted body type {0:?} is not supported")]
    UnsupportedType(String),
    /// The `protocol` label is missing, unknown, or not the one of this connection's context.
    #[error("encryption protocol {found:?} does not match this connection ({expected:?})")]
    ProtocolMismatch {
        /// What the connection's context speaks.
        expected: String,
        /// What the body said (cut to a sane length).
        found: String,
    },
    /// Boundary lines, part headers or lengths do not follow MS-WSMV 2.2.9.1.
    #[error("malformed encrypted body: {0}")]
    Malformed(&'static str),
    /// The body or its declared plaintext is larger than the caller allows.
    #[error("encrypted body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// `OriginalContent ... Length=` disagrees with the unwrapped plaintext.
    #[error("declared plaintext length {declared} but unwrapped {actual} bytes")]
    LengthMismatch {
        /// The `Length=` value.
        declared: usize,
        /// The plaintext length after unwrapping.
        actual: usize,
    },
    /// The original content type to announce is empty or contains control characters.
    #[error("invalid original content type")]
    InvalidContentType,
    /// The security context refused the message (bad signature, sequence number, state).
    #[error("message could not be unwrapped: {0}")]
    Unwrap(String),
    /// The security context could not wrap the message.
    #[error("message could not be wrapped: {0}")]
    Wrap(String),
}

/// A sealed HTTP body and the Content-Type header to send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBody {
    /// `multipart/encrypted;protocol="...";boundary="Encrypted Boundary"`.
    pub content_type: String,
    /// The whole multipart body.
    pub body: Vec<u8>,
}

/// The plaintext recovered from a sealed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsealedBody {
    /// The protocol label the peer used; a server answers with the same one.
    pub protocol: String,
    /// The `OriginalContent` type without `type=` and `Length=`, e.g.
    /// `application/soap+xml;charset=UTF-8`.
    pub original_content_type: String,
    /// The decrypted message.
    pub plain: Vec<u8>,
}

/// The framing of one sealed group, borrowed from the body, before any decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedParts<'a> {
    /// The `protocol` label from the Content-Type header.
    pub protocol: &'a str,
    /// `OriginalContent` without `type=` and `Length=`.
    pub original_content_type: &'a str,
    /// The `Length=` value: plaintext bytes expected after unwrapping.
    pub declared_length: usize,
    /// The per-message token header (NTLM: the 16-byte signature).
    pub token_header: &'a [u8],
    /// The encrypted payload.
    pub ciphertext: &'a [u8],
}

/// Whether a Content-Type announces an MS-WSMV encrypted body (either multipart form).
pub fn is_sealed_content_type(content_type: &str) -> bool {
    let media = media_type(content_type);
    media.eq_ignore_ascii_case(MULTIPART_ENCRYPTED)
        || media.eq_ignore_ascii_case(MULTIPART_MULTI_ENCRYPTED)
}

/// Wrap `plain` with `sealer` and frame it as Windows does. `original_content_type` is the
/// SOAP Content-Type the plaintext would have had (e.g. `application/soap+xml;charset=UTF-8`).
pub fn seal_body(
    sealer: &mut dyn MessageSealer,
    original_content_type: &str,
    plain: &[u8],
) -> Result<SealedBody, SealError> {
    seal_body_parts(sealer, original_content_type, &[plain])
}

/// [`seal_body`] of the concatenation of `parts` (e.g. the frames of a response body as they
/// were rendered), without joining them first: a sealer that encrypts in place copies each
/// byte once, into the sealed body.
pub fn seal_body_parts(
    sealer: &mut dyn MessageSealer,
    original_content_type: &str,
    parts: &[&[u8]],
) -> Result<SealedBody, SealError> {
    let mut body = Vec::new();
    let content_type = seal_body_parts_into(sealer, original_content_type, parts, &mut body)?;
    Ok(SealedBody { content_type, body })
}

/// [`seal_body_parts`] into `body` (cleared first; e.g. a pooled buffer, so that a stream of
/// large responses costs no fresh memory); returns the Content-Type to send with it.
pub fn seal_body_parts_into(
    sealer: &mut dyn MessageSealer,
    original_content_type: &str,
    parts: &[&[u8]],
    body: &mut Vec<u8>,
) -> Result<String, SealError> {
    body.clear();
    let original = normalise_original_type(original_content_type)?;
    let protocol = sealer.protocol().to_owned();
    if !is_safe_header_text(&protocol) || protocol.is_empty() {
        return Err(SealError::InvalidContentType);
    }
    let total: usize = parts.iter().map(|part| part.len()).sum();
    let chunk_len = sealer.max_chunk_len().unwrap_or(usize::MAX).max(1);
    let joined;
    let chunks: Vec<Vec<&[u8]>> = if total <= chunk_len {
        vec![parts.to_vec()]
    } else {
        joined = parts.concat();
        joined.chunks(chunk_len).map(|chunk| vec![chunk]).collect()
    };
    body.reserve(total + chunks.len() * 320);
    for chunk in &chunks {
        let chunk_total: usize = chunk.iter().map(|part| part.len()).sum();
        body.extend_from_slice(b"--");
        body.extend_from_slice(ENCRYPTED_BOUNDARY.as_bytes());
        body.extend_from_slice(b"\r\n\tContent-Type: ");
        body.extend_from_slice(protocol.as_bytes());
        body.extend_from_slice(b"\r\n\tOriginalContent: type=");
        body.extend_from_slice(original.as_bytes());
        body.extend_from_slice(b";Length=");
        body.extend_from_slice(chunk_total.to_string().as_bytes());
        body.extend_from_slice(b"\r\n--");
        body.extend_from_slice(ENCRYPTED_BOUNDARY.as_bytes());
        body.extend_from_slice(b"\r\n\tContent-Type: application/octet-stream\r\n");
        sealer.wrap_parts_into(chunk, body)?;
    }
    body.extend_from_slice(b"--");
    body.extend_from_slice(ENCRYPTED_BOUNDARY.as_bytes());
    body.extend_from_slice(b"--\r\n");

    let media = if chunks.len() > 1 {
        MULTIPART_MULTI_ENCRYPTED
    } else {
        MULTIPART_ENCRYPTED
    };
    Ok(format!(
        "{media};protocol=\"{protocol}\";boundary=\"{ENCRYPTED_BOUNDARY}\""
    ))
}

/// Parse and unwrap one sealed body. `max_plain` bounds the declared plaintext (the caller's
/// envelope size limit); the body itself may exceed it only by the framing and token header.
pub fn unseal_body(
    sealer: &mut dyn MessageSealer,
    content_type: &str,
    body: &[u8],
    max_plain: usize,
) -> Result<UnsealedBody, SealError> {
    let mut plain = Vec::new();
    let labels = unseal_body_into(sealer, content_type, body, max_plain, &mut plain)?;
    Ok(UnsealedBody {
        protocol: labels.protocol,
        original_content_type: labels.original_content_type,
        plain,
    })
}

/// The labels of an unsealed body, for [`unseal_body_into`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsealedLabels {
    /// The protocol label the peer used.
    pub protocol: String,
    /// The `OriginalContent` type without `type=` and `Length=`.
    pub original_content_type: String,
}

/// [`unseal_body`] into `plain` (cleared first; e.g. a pooled buffer the caller reuses), so
/// that the decrypted message is the only copy. On failure `plain` is empty.
pub fn unseal_body_into(
    sealer: &mut dyn MessageSealer,
    content_type: &str,
    body: &[u8],
    max_plain: usize,
    plain: &mut Vec<u8>,
) -> Result<UnsealedLabels, SealError> {
    plain.clear();
    let (labels, groups) = sealed_groups_for(&*sealer, content_type, body, max_plain)?;
    plain.reserve(groups.iter().map(|parts| parts.declared_length).sum());
    for parts in &groups {
        let start = plain.len();
        let unwrapped = sealer.unwrap_into(parts.token_header, parts.ciphertext, plain);
        let actual = plain.len() - start;
        let result = match unwrapped {
            Ok(()) if actual != parts.declared_length => Err(SealError::LengthMismatch {
                declared: parts.declared_length,
                actual,
            }),
            other => other,
        };
        if let Err(e) = result {
            plain.zeroize();
            plain.clear();
            return Err(e);
        }
    }
    Ok(labels)
}

/// The framing of every group of a sealed body and the first group's labels, refused unless
/// `sealer` speaks the body's protocol: the one place each way of unsealing checks it.
pub(crate) fn sealed_groups_for<'a>(
    sealer: &dyn MessageSealer,
    content_type: &'a str,
    body: &'a [u8],
    max_plain: usize,
) -> Result<(UnsealedLabels, Vec<SealedParts<'a>>), SealError> {
    let groups = parse_sealed_groups(content_type, body, max_plain)?;
    let first = groups
        .first()
        .ok_or(SealError::Malformed("no encrypted group"))?;
    if !sealer.accepts_protocol(first.protocol) {
        return Err(SealError::ProtocolMismatch {
            expected: sealer.protocol().to_owned(),
            found: truncated(first.protocol),
        });
    }
    let labels = UnsealedLabels {
        protocol: first.protocol.to_owned(),
        original_content_type: first.original_content_type.to_owned(),
    };
    Ok((labels, groups))
}

#[path = "sealing_parse.rs"]
mod parse;
pub use parse::*;
use parse::{is_safe_header_text, media_type, normalise_original_type, truncated};

#[path = "sealing_in_place.rs"]
mod in_place;
pub use in_place::unseal_body_in_place;

#[cfg(test)]
#[path = "sealing_tests.rs"]
mod tests;
