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

/// Most groups in one `multipart/x-multi-encrypted` body (16 KiB each: 64 MiB, far beyond any
/// envelope limit; the plaintext limit applies first).
const MAX_GROUPS: usize = 4096;

/// The framing of every group of a sealed body, either form, without decrypting. The
/// multi-group form is only defined for CredSSP: each group's payload is delimited by walking
/// its TLS records (the Length-Field is not trusted; header and payload together are the
/// records).
pub fn parse_sealed_groups<'a>(
    content_type: &'a str,
    body: &'a [u8],
    max_plain: usize,
) -> Result<Vec<SealedParts<'a>>, SealError> {
    let outer = parse_outer_content_type(content_type)?;
    if !outer.multi {
        return parse_sealed_body(content_type, body, max_plain).map(|parts| vec![parts]);
    }
    if !outer.protocol.eq_ignore_ascii_case(CREDSSP_PROTOCOL) {
        return Err(SealError::UnsupportedType(format!(
            "{MULTIPART_MULTI_ENCRYPTED} with {}",
            truncated(outer.protocol)
        )));
    }
    let per_group = MAX_TOKEN_HEADER_LEN + MAX_FRAMING_OVERHEAD;
    let limit = max_plain.saturating_add((max_plain / 1024 + 2).saturating_mul(per_group));
    if body.len() > limit {
        return Err(SealError::TooLarge { limit });
    }
    let mut groups = Vec::new();
    let mut total = 0usize;
    let mut pos = 0usize;
    loop {
        if groups.len() == MAX_GROUPS {
            return Err(SealError::Malformed("too many encrypted groups"));
        }
        let rest = &body[pos..];
        let group = parse_group(rest, outer.boundary, max_plain)?;
        if !group.protocol.eq_ignore_ascii_case(outer.protocol) {
            return Err(SealError::ProtocolMismatch {
                expected: truncated(outer.protocol),
                found: truncated(group.protocol),
            });
        }
        total = total.saturating_add(group.declared_length);
        if total > max_plain {
            return Err(SealError::TooLarge { limit: max_plain });
        }
        let data_start = group.payload_start - group.token_header.len();
        let records = tls_records_len(&rest[data_start..]).ok_or(SealError::Malformed(
            "encrypted group holds no whole TLS records",
        ))?;
        if records < group.token_header.len() {
            return Err(SealError::Malformed(
                "token header longer than the TLS records",
            ));
        }
        let end = data_start + records;
        groups.push(SealedParts {
            protocol: outer.protocol,
            original_content_type: group.original_content_type,
            declared_length: group.declared_length,
            token_header: group.token_header,
            ciphertext: &rest[group.payload_start..end],
        });
        pos += end;
        let after = &body[pos..];
        if closing_boundary_start(after, outer.boundary) == Some(0) {
            return Ok(groups);
        }
    }
}

/// The length of the run of whole TLS records (content types 20 to 23, version 3.x) at the
/// start of `data`, stopping before anything else; `None` if there is none or one is cut.
fn tls_records_len(data: &[u8]) -> Option<usize> {
    let mut pos = 0;
    while let Some(header) = data.get(pos..pos + 5) {
        if !(20..=23).contains(&header[0]) || header[1] != 3 {
            break;
        }
        let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if length > 16 * 1024 + 2048 || data.len() < pos + 5 + length {
            return None;
        }
        pos += 5 + length;
    }
    (pos > 0).then_some(pos)
}

/// The framing of a sealed body without decrypting it: what the fuzz target and golden tests
/// exercise, and what [`unseal_body`] builds on.
pub fn parse_sealed_body<'a>(
    content_type: &'a str,
    body: &'a [u8],
    max_plain: usize,
) -> Result<SealedParts<'a>, SealError> {
    let limit = max_plain.saturating_add(MAX_TOKEN_HEADER_LEN + MAX_FRAMING_OVERHEAD);
    if body.len() > limit {
        return Err(SealError::TooLarge { limit });
    }
    let outer = parse_outer_content_type(content_type)?;
    if outer.multi {
        return Err(SealError::UnsupportedType(
            MULTIPART_MULTI_ENCRYPTED.to_owned(),
        ));
    }
    let group = parse_group(body, outer.boundary, max_plain)?;
    if !group.protocol.eq_ignore_ascii_case(outer.protocol) {
        return Err(SealError::ProtocolMismatch {
            expected: truncated(outer.protocol),
            found: truncated(group.protocol),
        });
    }
    let rest = &body[group.payload_start..];
    let payload_len = closing_boundary_start(rest, outer.boundary).ok_or(SealError::Malformed(
        "body does not end with the closing boundary",
    ))?;
    Ok(SealedParts {
        protocol: outer.protocol,
        original_content_type: group.original_content_type,
        declared_length: group.declared_length,
        token_header: group.token_header,
        ciphertext: &rest[..payload_len],
    })
}

/// The parameters of the outer Content-Type header that matter.
struct OuterContentType<'a> {
    protocol: &'a str,
    boundary: &'a str,
    /// `multipart/x-multi-encrypted`.
    multi: bool,
}

fn parse_outer_content_type(content_type: &str) -> Result<OuterContentType<'_>, SealError> {
    if content_type.len() > MAX_PART_LINE {
        return Err(SealError::Malformed("Content-Type header too long"));
    }
    let media = media_type(content_type);
    let multi = media.eq_ignore_ascii_case(MULTIPART_MULTI_ENCRYPTED);
    if !multi && !media.eq_ignore_ascii_case(MULTIPART_ENCRYPTED) {
        return Err(SealError::NotEncrypted);
    }
    let mut protocol = None;
    let mut boundary = None;
    for param in split_params(content_type).skip(1) {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match name.trim() {
            n if n.eq_ignore_ascii_case("protocol") => protocol = Some(value),
            n if n.eq_ignore_ascii_case("boundary") => boundary = Some(value),
            _ => {}
        }
    }
    let protocol = protocol.ok_or(SealError::ProtocolMismatch {
        expected: SPNEGO_PROTOCOL.to_owned(),
        found: String::new(),
    })?;
    if !is_known_protocol(protocol) {
        return Err(SealError::ProtocolMismatch {
            expected: SPNEGO_PROTOCOL.to_owned(),
            found: truncated(protocol),
        });
    }
    // Every WinRM implementation uses this boundary; a missing parameter means the same.
    let boundary = boundary.unwrap_or(ENCRYPTED_BOUNDARY);
    if boundary.is_empty() || boundary.len() > 70 || !is_safe_header_text(boundary) {
        return Err(SealError::Malformed("invalid boundary parameter"));
    }
    Ok(OuterContentType {
        protocol,
        boundary,
        multi,
    })
}

/// One parsed group: its part headers and the token header; the payload starts at
/// `payload_start` and its end is decided by the caller (closing boundary or next group).
#[derive(Debug)]
struct Group<'a> {
    protocol: &'a str,
    original_content_type: &'a str,
    declared_length: usize,
    token_header: &'a [u8],
    payload_start: usize,
}

/// Parse the group starting at the beginning of `body` up to the start of its payload.
fn parse_group<'a>(
    body: &'a [u8],
    boundary: &str,
    max_plain: usize,
) -> Result<Group<'a>, SealError> {
    let mut pos = 0;
    let line = next_line(body, &mut pos)?;
    if !is_boundary_line(line, boundary) {
        return Err(SealError::Malformed(
            "body does not start with the boundary",
        ));
    }

    // Part 1: the protocol label and OriginalContent, up to the next boundary line.
    let mut protocol = None;
    let mut original = None;
    let mut headers = 0;
    loop {
        let line = next_line(body, &mut pos)?;
        if is_boundary_line(line, boundary) {
            break;
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        headers += 1;
        if headers > MAX_PART_HEADERS {
            return Err(SealError::Malformed("too many part headers"));
        }
        let (name, value) = split_header(line)?;
        if name.eq_ignore_ascii_case("Content-Type") {
            protocol = Some(value);
        } else if name.eq_ignore_ascii_case("OriginalContent") {
            original = Some(value);
        }
    }
    let protocol = protocol.ok_or(SealError::Malformed("first part has no Content-Type"))?;
    let original = original.ok_or(SealError::Malformed("first part has no OriginalContent"))?;
    let (original_content_type, declared_length) = parse_original_content(original, max_plain)?;

    // Part 2: exactly one header line, then the binary data with no blank line between.
    let line = next_line(body, &mut pos)?;
    let (name, value) = split_header(line)?;
    if !name.eq_ignore_ascii_case("Content-Type")
        || !value.eq_ignore_ascii_case("application/octet-stream")
    {
        return Err(SealError::Malformed(
            "second part is not Content-Type: application/octet-stream",
        ));
    }
    let length_field: [u8; 4] = body
        .get(pos..pos + 4)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(SealError::Malformed("missing token header length"))?;
    let header_len = u32::from_le_bytes(length_field) as usize;
    pos += 4;
    if header_len > MAX_TOKEN_HEADER_LEN {
        return Err(SealError::Malformed("token header length too large"));
    }
    let token_header = body
        .get(pos..pos + header_len)
        .ok_or(SealError::Malformed("token header longer than the body"))?;
    Ok(Group {
        protocol,
        original_content_type,
        declared_length,
        token_header,
        payload_start: pos + header_len,
    })
}

/// What follows `prefix` in `text` (the prefix compared ignoring ASCII case), trimmed; the
/// two parts of OriginalContent are read alike.
fn after_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| text[prefix.len()..].trim())
}

/// `type=application/soap+xml;charset=UTF-8;Length=N` -> (`application/soap+xml;charset=UTF-8`, N).
fn parse_original_content(value: &str, max_plain: usize) -> Result<(&str, usize), SealError> {
    let (before, length) = value
        .rsplit_once(';')
        .ok_or(SealError::Malformed("OriginalContent has no Length"))?;
    let length = length.trim();
    let digits = after_prefix_ignoring_case(length, "Length=").ok_or(SealError::Malformed(
        "OriginalContent does not end with Length=",
    ))?;
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SealError::Malformed(
            "OriginalContent Length is not a number",
        ));
    }
    let declared: usize = digits
        .parse()
        .map_err(|_| SealError::Malformed("OriginalContent Length is not a number"))?;
    if declared > max_plain {
        return Err(SealError::TooLarge { limit: max_plain });
    }
    let before = before.trim();
    let original = after_prefix_ignoring_case(before, "type=").ok_or(SealError::Malformed(
        "OriginalContent does not start with type=",
    ))?;
    if original.is_empty() {
        return Err(SealError::Malformed("OriginalContent type is empty"));
    }
    Ok((original, declared))
}

/// Where the closing boundary (`--B--`, optionally followed by CRLF) starts, if `rest` ends
/// with it. Length-driven: the payload is everything before it, never searched for.
fn closing_boundary_start(rest: &[u8], boundary: &str) -> Option<usize> {
    let trimmed = rest
        .strip_suffix(b"\r\n")
        .or_else(|| rest.strip_suffix(b"\n"))
        .unwrap_or(rest);
    let without_dashes = trimmed.strip_suffix(b"--")?;
    let without_boundary = without_dashes.strip_suffix(boundary.as_bytes())?;
    let start = without_boundary
        .strip_suffix(b"-- ")
        .or_else(|| without_boundary.strip_suffix(b"--"))?;
    Some(start.len())
}

/// The next line (without its CR LF or LF) starting at `*pos`; advances `*pos` past it.
fn next_line<'a>(body: &'a [u8], pos: &mut usize) -> Result<&'a [u8], SealError> {
    let rest = body
        .get(*pos..)
        .ok_or(SealError::Malformed("body ends inside the part headers"))?;
    let window = &rest[..rest.len().min(MAX_PART_LINE + 2)];
    let end = window
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(SealError::Malformed("part header line missing or too long"))?;
    *pos += end + 1;
    let line = &rest[..end];
    Ok(line.strip_suffix(b"\r").unwrap_or(line))
}

fn is_boundary_line(line: &[u8], boundary: &str) -> bool {
    let line = trim_ascii_end(line);
    match line.strip_prefix(b"--") {
        Some(rest) => {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            rest == boundary.as_bytes()
        }
        None => false,
    }
}

/// `[SP|HT]* Name ":" [SP|HT]* value` -> (name, value), both UTF-8 and trimmed.
fn split_header(line: &[u8]) -> Result<(&str, &str), SealError> {
    let text =
        std::str::from_utf8(line).map_err(|_| SealError::Malformed("part header is not text"))?;
    let (name, value) = text
        .trim_start_matches([' ', '\t'])
        .split_once(':')
        .ok_or(SealError::Malformed("part header has no colon"))?;
    Ok((name.trim(), value.trim()))
}

fn trim_ascii_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    &line[..end]
}

/// The `type/subtype` part of a Content-Type value, trimmed.
fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Split a header value on `;` outside double quotes.
fn split_params(value: &str) -> impl Iterator<Item = &str> {
    let mut in_quotes = false;
    value.split(move |c: char| {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        c == ';' && !in_quotes
    })
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

fn is_known_protocol(protocol: &str) -> bool {
    [SPNEGO_PROTOCOL, KERBEROS_PROTOCOL, CREDSSP_PROTOCOL]
        .iter()
        .any(|known| protocol.eq_ignore_ascii_case(known))
}

fn is_safe_header_text(text: &str) -> bool {
    text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// `application/soap+xml; charset=utf-8` -> `application/soap+xml;charset=utf-8`: the compact
/// form Windows emits, refusing anything that could break the part header.
fn normalise_original_type(content_type: &str) -> Result<String, SealError> {
    if content_type.len() > MAX_PART_LINE / 2 || !is_safe_header_text(content_type) {
        return Err(SealError::InvalidContentType);
    }
    let parts: Vec<&str> = content_type
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty()
        || parts
            .iter()
            .any(|p| p.len() >= 7 && p[..7].eq_ignore_ascii_case("Length="))
    {
        return Err(SealError::InvalidContentType);
    }
    Ok(parts.join(";"))
}

fn truncated(text: &str) -> String {
    text.chars().take(80).collect()
}

#[path = "sealing_in_place.rs"]
mod in_place;
pub use in_place::unseal_body_in_place;

#[cfg(test)]
#[path = "sealing_tests.rs"]
mod tests;
