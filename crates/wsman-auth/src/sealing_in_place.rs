//! Unsealing a body where it lies: the received body is decrypted in place, so a sealed
//! answer is not copied into a second buffer before it is read (one pass less over every
//! byte a client receives).

use std::ops::Range;

use zeroize::Zeroize;

use super::{sealed_groups_for, MessageSealer, SealError, UnsealedLabels};

/// Where one group's pieces lie in the body, found before any byte is decrypted.
struct Group {
    header: Range<usize>,
    ciphertext: Range<usize>,
    declared_length: usize,
}

/// [`super::unseal_body_into`] without a second buffer: each group's ciphertext is decrypted
/// where it lies in `body` ([`MessageSealer::unwrap_in_place`]) and the plaintexts are moved
/// together behind the first (a one-group body, NTLM's, moves nothing). Returns the labels and
/// the range of `body` that holds the whole plaintext. The same framing checks and bounds as
/// [`super::unseal_body_into`] (it is the same parser), the same per-group length check; on
/// failure no plaintext is left in `body`.
pub fn unseal_body_in_place(
    sealer: &mut dyn MessageSealer,
    content_type: &str,
    body: &mut [u8],
    max_plain: usize,
) -> Result<(UnsealedLabels, Range<usize>), SealError> {
    let (labels, groups) = locate(sealer, content_type, body, max_plain)?;
    let start = groups.first().map_or(0, |group| group.ciphertext.start);
    let mut end = start;
    for group in &groups {
        let (before, after) = body.split_at_mut(group.ciphertext.start);
        let data = &mut after[..group.ciphertext.len()];
        let result = sealer
            .unwrap_in_place(&before[group.header.clone()], data)
            .and_then(|plain| {
                if plain.len() == group.declared_length {
                    Ok(plain)
                } else {
                    Err(SealError::LengthMismatch {
                        declared: group.declared_length,
                        actual: plain.len(),
                    })
                }
            });
        match result {
            Ok(plain) => {
                let from = group.ciphertext.start + plain.start;
                if from != end {
                    body.copy_within(from..from + plain.len(), end);
                }
                end += plain.len();
            }
            Err(error) => {
                body[start..].zeroize();
                return Err(error);
            }
        }
    }
    Ok((labels, start..end))
}

/// The labels and every group's place in `body`, after the protocol check.
fn locate(
    sealer: &dyn MessageSealer,
    content_type: &str,
    body: &[u8],
    max_plain: usize,
) -> Result<(UnsealedLabels, Vec<Group>), SealError> {
    let (labels, parts) = sealed_groups_for(sealer, content_type, body, max_plain)?;
    let base = body.as_ptr() as usize;
    let range_of = |piece: &[u8]| {
        let at = piece.as_ptr() as usize - base;
        at..at + piece.len()
    };
    let groups = parts
        .iter()
        .map(|part| Group {
            header: range_of(part.token_header),
            ciphertext: range_of(part.ciphertext),
            declared_length: part.declared_length,
        })
        .collect();
    Ok((labels, groups))
}
