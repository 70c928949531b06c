//! The few SPNEGO (RFC 4178) facts the acceptor needs, read with our own bounded DER reader:
//! whether a token is SPNEGO at all, whether NTLM is offered, the NTLM message inside, and the
//! negState normalisation that works around sspi's parser (a NegTokenResp without negState,
//! as Windows initiators send, is misread by picky-krb 0.13.1).

use super::der;
use super::NtlmError;

/// DER contents of the SPNEGO OID 1.3.6.1.5.5.2.
const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// DER contents of the NTLMSSP OID 1.3.6.1.4.1.311.2.2.10.
const NTLM_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// The most fields or mechanisms one SPNEGO token may list.
const MAX_ITEMS: usize = 16;

/// What kind of token arrived under `Negotiate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    RawNtlm,
    SpnegoInit,
    SpnegoResp,
    Other,
}

pub fn token_kind(token: &[u8]) -> TokenKind {
    if token.starts_with(super::message::SIGNATURE) {
        TokenKind::RawNtlm
    } else if token.first() == Some(&0x60) {
        TokenKind::SpnegoInit
    } else if token.first() == Some(&0xa1) {
        TokenKind::SpnegoResp
    } else {
        TokenKind::Other
    }
}

/// A NegTokenInit, as far as we read it.
#[derive(Debug, PartialEq, Eq)]
pub struct NegTokenInit<'a> {
    pub ntlm_offered: bool,
    pub mech_token: Option<&'a [u8]>,
}

/// Reads `[APPLICATION 0] { OID spnego, [0] NegTokenInit }`.
pub fn parse_init(token: &[u8]) -> Result<NegTokenInit<'_>, NtlmError> {
    let bad = || NtlmError::Malformed("bad SPNEGO NegTokenInit");
    let outer = der::read_only(token, 0x60).ok_or_else(bad)?;
    let (oid, rest) = der::read(outer.value).ok_or_else(bad)?;
    if oid.tag != 0x06 || oid.value != SPNEGO_OID {
        return Err(NtlmError::Unsupported("a GSS token that is not SPNEGO"));
    }
    let init = der::read_only(rest, 0xa0).ok_or_else(bad)?;
    let sequence = der::read_only(init.value, 0x30).ok_or_else(bad)?;
    let mut out = NegTokenInit {
        ntlm_offered: false,
        mech_token: None,
    };
    for field in der::children(sequence.value, MAX_ITEMS).ok_or_else(bad)? {
        match field.tag {
            0xa0 => {
                let list = der::read_only(field.value, 0x30).ok_or_else(bad)?;
                for mech in der::children(list.value, MAX_ITEMS).ok_or_else(bad)? {
                    if mech.tag != 0x06 {
                        return Err(bad());
                    }
                    out.ntlm_offered |= mech.value == NTLM_OID;
                }
            }
            0xa2 => {
                out.mech_token = Some(der::read_only(field.value, 0x04).ok_or_else(bad)?.value);
            }
            0xa1 | 0xa3 => {}
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// A NegTokenResp, as far as we read it.
#[derive(Debug, PartialEq, Eq)]
pub struct NegTokenResp<'a> {
    pub neg_state: Option<u8>,
    pub response_token: Option<&'a [u8]>,
    pub mech_list_mic: Option<&'a [u8]>,
}

/// Reads `[1] SEQUENCE { [0] negState?, [1] supportedMech?, [2] responseToken?, [3] mechListMIC? }`.
pub fn parse_resp(token: &[u8]) -> Result<NegTokenResp<'_>, NtlmError> {
    let bad = || NtlmError::Malformed("bad SPNEGO NegTokenResp");
    let outer = der::read_only(token, 0xa1).ok_or_else(bad)?;
    let sequence = der::read_only(outer.value, 0x30).ok_or_else(bad)?;
    let mut out = NegTokenResp {
        neg_state: None,
        response_token: None,
        mech_list_mic: None,
    };
    for field in der::children(sequence.value, MAX_ITEMS).ok_or_else(bad)? {
        match field.tag {
            0xa0 => {
                let state = der::read_only(field.value, 0x0a).ok_or_else(bad)?;
                let [value] = state.value else {
                    return Err(bad());
                };
                out.neg_state = Some(*value);
            }
            0xa1 => {}
            0xa2 => {
                out.response_token = Some(der::read_only(field.value, 0x04).ok_or_else(bad)?.value);
            }
            0xa3 => {
                out.mech_list_mic = Some(der::read_only(field.value, 0x04).ok_or_else(bad)?.value);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// The same NegTokenResp with `negState accept-incomplete` inserted when the client left it
/// out (RFC 4178 makes it optional after the first reply). The mechListMIC covers only the
/// mechTypes, so this does not disturb it.
pub fn with_neg_state(token: &[u8]) -> Result<Vec<u8>, NtlmError> {
    let parsed = parse_resp(token)?;
    if parsed.neg_state.is_some() {
        return Ok(token.to_vec());
    }
    let bad = || NtlmError::Malformed("bad SPNEGO NegTokenResp");
    let outer = der::read_only(token, 0xa1).ok_or_else(bad)?;
    let sequence = der::read_only(outer.value, 0x30).ok_or_else(bad)?;
    let mut fields = vec![0xa0, 0x03, 0x0a, 0x01, 0x01];
    fields.extend_from_slice(sequence.value);
    Ok(der::write(0xa1, &der::write(0x30, &fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(fields: &[Vec<u8>]) -> Vec<u8> {
        der::write(0xa1, &der::write(0x30, &fields.concat()))
    }

    #[test]
    fn neg_state_is_inserted_only_when_missing() {
        let token = der::write(0xa2, &der::write(0x04, b"NTLMSSP\0\x03\0\0\0"));
        let mic = der::write(0xa3, &der::write(0x04, &[9u8; 16]));
        let without = resp(&[token.clone(), mic.clone()]);
        let fixed = with_neg_state(&without).unwrap();
        let parsed = parse_resp(&fixed).unwrap();
        assert_eq!(parsed.neg_state, Some(1));
        assert_eq!(parsed.response_token, Some(&b"NTLMSSP\0\x03\0\0\0"[..]));
        assert_eq!(parsed.mech_list_mic, Some(&[9u8; 16][..]));
        let state = der::write(0xa0, &der::write(0x0a, &[0]));
        let with = resp(&[state, token, mic]);
        assert_eq!(with_neg_state(&with).unwrap(), with);
    }

    #[test]
    fn init_reports_ntlm_and_the_mech_token() {
        let mechs = der::write(
            0xa0,
            &der::write(
                0x30,
                &[der::write(0x06, &[0x2a, 0x86]), der::write(0x06, NTLM_OID)].concat(),
            ),
        );
        let mech_token = der::write(0xa2, &der::write(0x04, b"NTLMSSP\0\x01\0\0\0"));
        let init = der::write(0xa0, &der::write(0x30, &[mechs, mech_token].concat()));
        let token = der::write(0x60, &[der::write(0x06, SPNEGO_OID), init].concat());
        assert_eq!(token_kind(&token), TokenKind::SpnegoInit);
        let parsed = parse_init(&token).unwrap();
        assert!(parsed.ntlm_offered);
        assert_eq!(parsed.mech_token, Some(&b"NTLMSSP\0\x01\0\0\0"[..]));
        // Truncations of a valid token never parse and never panic.
        for cut in 0..token.len() {
            assert!(parse_init(&token[..cut]).is_err());
        }
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse_resp(&[0xa1, 0x02, 0x30, 0x00, 0x00]).is_err());
        assert!(parse_resp(&[0xa1, 0x04, 0x30, 0x02, 0xa7, 0x00]).is_err());
        assert!(parse_init(&[0x60, 0x02, 0x06, 0x00]).is_err());
        assert_eq!(token_kind(b"\x05abc"), TokenKind::Other);
    }
}
