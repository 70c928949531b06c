//! Reading a sealed body's framing: the outer Content-Type, each group's part headers, and the
//! groups of the multi-encrypted form, delimited by their TLS records. Split from `sealing.rs`
//! (the sealing side and the trait) because parsing untrusted framing is its own concern.

use super::{
    SealError, SealedParts, CREDSSP_PROTOCOL, ENCRYPTED_BOUNDARY, KERBEROS_PROTOCOL,
    MAX_FRAMING_OVERHEAD, MAX_PART_HEADERS, MAX_PART_LINE, MAX_TOKEN_HEADER_LEN,
    MULTIPART_ENCRYPTED, MULTIPART_MULTI_ENCRYPTED, SPNEGO_PROTOCOL,
};

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
/// exercise, and what [`unseal_body`](super::unseal_body) builds on.
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
pub(super) fn media_type(content_type: &str) -> &str {
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

pub(super) fn is_safe_header_text(text: &str) -> bool {
    text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// `application/soap+xml; charset=utf-8` -> `application/soap+xml;charset=utf-8`: the compact
/// form Windows emits, refusing anything that could break the part header.
pub(super) fn normalise_original_type(content_type: &str) -> Result<String, SealError> {
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

pub(super) fn truncated(text: &str) -> String {
    text.chars().take(80).collect()
}
