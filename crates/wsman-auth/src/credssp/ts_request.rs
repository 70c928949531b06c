//! Our bounded DER codec for the CredSSP messages (MS-CSSP 2.2.1): `TSRequest` (versions 2 to
//! 6), `TSCredentials` and `TSPasswordCreds`. Only what WinRM uses is read; smart-card and
//! Remote Guard credentials are refused by type. Every length is checked against the input
//! and against [`MAX_TS_REQUEST_LEN`] before anything is allocated.

use std::fmt;

use zeroize::Zeroizing;

use crate::ntlm::der;
use crate::ntlm::utf16le;

/// The largest TSRequest accepted: a handshake leg carries an NTLM or Kerberos token (a few
/// KiB at most with a PAC) plus 32-byte hashes; 64 KiB leaves room and bounds memory.
pub const MAX_TS_REQUEST_LEN: usize = 64 * 1024;
/// Most negoTokens in one TSRequest (MS-CSSP allows a sequence; every client sends one).
const MAX_NEGO_TOKENS: usize = 4;
/// The version we speak: 6 (MS-CSSP with the SHA-256 binding of version 5 and errorCode).
pub const OUR_VERSION: u32 = 6;
/// NTSTATUS STATUS_LOGON_FAILURE, what Windows puts in errorCode for a refused logon.
pub const STATUS_LOGON_FAILURE: u32 = 0xC000_006D;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;

/// Why a CredSSP structure could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("TSRequest larger than {MAX_TS_REQUEST_LEN} bytes")]
    TooLarge,
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("unsupported credential type {0} (only passwords are accepted)")]
    UnsupportedCredentials(u32),
}

/// One `TSRequest`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TsRequest {
    pub version: u32,
    /// `negoTokens`: SPNEGO or raw NTLM/Kerberos tokens, in order.
    pub nego_tokens: Vec<Vec<u8>>,
    /// `authInfo`: the encrypted TSCredentials.
    pub auth_info: Option<Vec<u8>>,
    /// `pubKeyAuth`: the encrypted public-key binding.
    pub pub_key_auth: Option<Vec<u8>>,
    /// `errorCode` (versions 3, 4 and 6 and later): an NTSTATUS.
    pub error_code: Option<u32>,
    /// `clientNonce` (version 5 and later): 32 random bytes.
    pub client_nonce: Option<[u8; 32]>,
}

impl fmt::Debug for TsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsRequest")
            .field("version", &self.version)
            .field(
                "nego_tokens",
                &self.nego_tokens.iter().map(Vec::len).collect::<Vec<_>>(),
            )
            .field("auth_info", &self.auth_info.as_ref().map(Vec::len))
            .field("pub_key_auth", &self.pub_key_auth.as_ref().map(Vec::len))
            .field("error_code", &self.error_code.map(|c| format!("{c:#x}")))
            .field("client_nonce", &self.client_nonce.is_some())
            .finish()
    }
}

impl TsRequest {
    /// A request of our version carrying nothing yet.
    pub fn new() -> Self {
        Self {
            version: OUR_VERSION,
            ..Self::default()
        }
    }

    /// DER encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = explicit(0, &integer(i64::from(self.version)));
        if !self.nego_tokens.is_empty() {
            let mut items = Vec::new();
            for token in &self.nego_tokens {
                let inner = explicit(0, &der::write(OCTET_STRING, token));
                items.extend(der::write(SEQUENCE, &inner));
            }
            body.extend(explicit(1, &der::write(SEQUENCE, &items)));
        }
        if let Some(auth_info) = &self.auth_info {
            body.extend(explicit(2, &der::write(OCTET_STRING, auth_info)));
        }
        if let Some(pub_key_auth) = &self.pub_key_auth {
            body.extend(explicit(3, &der::write(OCTET_STRING, pub_key_auth)));
        }
        if let Some(code) = self.error_code {
            // An NTSTATUS is a signed 32-bit value on the wire.
            body.extend(explicit(4, &integer(i64::from(code as i32))));
        }
        if let Some(nonce) = &self.client_nonce {
            body.extend(explicit(5, &der::write(OCTET_STRING, nonce)));
        }
        der::write(SEQUENCE, &body)
    }

    /// Reads one TSRequest that fills `input` exactly.
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        if input.len() > MAX_TS_REQUEST_LEN {
            return Err(DecodeError::TooLarge);
        }
        let outer = der::read_only(input, SEQUENCE).ok_or(DecodeError::Malformed("TSRequest"))?;
        let fields = der::children(outer.value, 6).ok_or(DecodeError::Malformed("TSRequest"))?;
        let mut out = Self::default();
        let mut last_tag = None;
        let mut saw_version = false;
        for field in fields {
            // Fields appear once each, in ascending tag order (DER).
            if last_tag.is_some_and(|last| field.tag <= last) {
                return Err(DecodeError::Malformed("TSRequest field order"));
            }
            last_tag = Some(field.tag);
            match field.tag {
                0xA0 => {
                    let version = read_integer(field.value)?;
                    out.version = u32::try_from(version)
                        .ok()
                        .filter(|v| (1..=255).contains(v))
                        .ok_or(DecodeError::Malformed("TSRequest version"))?;
                    saw_version = true;
                }
                0xA1 => out.nego_tokens = read_nego_data(field.value)?,
                0xA2 => out.auth_info = Some(read_octets(field.value)?.to_vec()),
                0xA3 => out.pub_key_auth = Some(read_octets(field.value)?.to_vec()),
                0xA4 => {
                    let code = read_integer(field.value)?;
                    let code = i32::try_from(code)
                        .map(|c| c as u32)
                        .or_else(|_| u32::try_from(code))
                        .map_err(|_| DecodeError::Malformed("TSRequest errorCode"))?;
                    out.error_code = Some(code);
                }
                0xA5 => {
                    let nonce = read_octets(field.value)?;
                    out.client_nonce = Some(
                        nonce
                            .try_into()
                            .map_err(|_| DecodeError::Malformed("clientNonce length"))?,
                    );
                }
                _ => return Err(DecodeError::Malformed("TSRequest field")),
            }
        }
        if !saw_version {
            return Err(DecodeError::Malformed("TSRequest without version"));
        }
        Ok(out)
    }
}

/// Delegated password credentials (`TSPasswordCreds` inside `TSCredentials` type 1), zeroed
/// on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordCredentials {
    pub domain: String,
    pub user: String,
    pub password: Zeroizing<String>,
}

impl fmt::Debug for PasswordCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCredentials")
            .field("domain", &self.domain)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The largest delegated name or password accepted, in UTF-16 code units.
const MAX_CREDENTIAL_FIELD: usize = 1024;

impl PasswordCredentials {
    /// `TSCredentials { credType 1, credentials TSPasswordCreds }` in DER; the returned buffer
    /// holds the password and is zeroed on drop.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let field = |number: u8, text: &str| {
            let raw = Zeroizing::new(utf16le(text));
            let octets = Zeroizing::new(der::write(OCTET_STRING, &raw));
            Zeroizing::new(explicit(number, &octets))
        };
        let (domain, user, password) = (
            field(0, &self.domain),
            field(1, &self.user),
            field(2, &self.password),
        );
        let mut fields = Zeroizing::new(Vec::with_capacity(
            domain.len() + user.len() + password.len(),
        ));
        fields.extend_from_slice(&domain);
        fields.extend_from_slice(&user);
        fields.extend_from_slice(&password);
        let creds = Zeroizing::new(der::write(SEQUENCE, &fields));
        let octets = Zeroizing::new(der::write(OCTET_STRING, &creds));
        let wrapped = Zeroizing::new(explicit(1, &octets));
        let mut body = Zeroizing::new(Vec::with_capacity(wrapped.len() + 8));
        body.extend_from_slice(&explicit(0, &integer(1)));
        body.extend_from_slice(&wrapped);
        Zeroizing::new(der::write(SEQUENCE, &body))
    }

    /// Reads `TSCredentials` and its `TSPasswordCreds`; other credential types are refused.
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        if input.len() > MAX_TS_REQUEST_LEN {
            return Err(DecodeError::TooLarge);
        }
        let outer =
            der::read_only(input, SEQUENCE).ok_or(DecodeError::Malformed("TSCredentials"))?;
        let fields =
            der::children(outer.value, 2).ok_or(DecodeError::Malformed("TSCredentials"))?;
        let [cred_type, credentials] = fields.as_slice() else {
            return Err(DecodeError::Malformed("TSCredentials"));
        };
        if cred_type.tag != 0xA0 || credentials.tag != 0xA1 {
            return Err(DecodeError::Malformed("TSCredentials"));
        }
        let kind = read_integer(cred_type.value)?;
        if kind != 1 {
            return Err(DecodeError::UnsupportedCredentials(
                u32::try_from(kind).unwrap_or(u32::MAX),
            ));
        }
        let creds = read_octets(credentials.value)?;
        let inner =
            der::read_only(creds, SEQUENCE).ok_or(DecodeError::Malformed("TSPasswordCreds"))?;
        let fields =
            der::children(inner.value, 3).ok_or(DecodeError::Malformed("TSPasswordCreds"))?;
        let [domain, user, password] = fields.as_slice() else {
            return Err(DecodeError::Malformed("TSPasswordCreds"));
        };
        if domain.tag != 0xA0 || user.tag != 0xA1 || password.tag != 0xA2 {
            return Err(DecodeError::Malformed("TSPasswordCreds"));
        }
        Ok(Self {
            domain: from_utf16le(read_octets(domain.value)?)?,
            user: from_utf16le(read_octets(user.value)?)?,
            password: Zeroizing::new(from_utf16le(read_octets(password.value)?)?),
        })
    }
}

fn explicit(number: u8, inner: &[u8]) -> Vec<u8> {
    der::write(0xA0 | number, inner)
}

/// Minimal two's-complement INTEGER.
fn integer(value: i64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (first, next) = (bytes[start], bytes[start + 1]);
        if (first == 0 && next & 0x80 == 0) || (first == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    der::write(INTEGER, &bytes[start..])
}

/// An explicit field's INTEGER (at most 8 bytes, sign-extended).
fn read_integer(field: &[u8]) -> Result<i64, DecodeError> {
    let tlv = der::read_only(field, INTEGER).ok_or(DecodeError::Malformed("INTEGER"))?;
    if tlv.value.is_empty() || tlv.value.len() > 8 {
        return Err(DecodeError::Malformed("INTEGER length"));
    }
    let mut value: i64 = if tlv.value[0] & 0x80 != 0 { -1 } else { 0 };
    for &byte in tlv.value {
        value = (value << 8) | i64::from(byte);
    }
    Ok(value)
}

fn read_octets(field: &[u8]) -> Result<&[u8], DecodeError> {
    der::read_only(field, OCTET_STRING)
        .map(|tlv| tlv.value)
        .ok_or(DecodeError::Malformed("OCTET STRING"))
}

/// `NegoData ::= SEQUENCE OF SEQUENCE { negoToken [0] OCTET STRING }`.
fn read_nego_data(field: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let outer = der::read_only(field, SEQUENCE).ok_or(DecodeError::Malformed("NegoData"))?;
    let items =
        der::children(outer.value, MAX_NEGO_TOKENS).ok_or(DecodeError::Malformed("NegoData"))?;
    let mut tokens = Vec::with_capacity(items.len());
    for item in items {
        if item.tag != SEQUENCE {
            return Err(DecodeError::Malformed("NegoData item"));
        }
        let token = der::read_only(item.value, 0xA0).ok_or(DecodeError::Malformed("negoToken"))?;
        tokens.push(read_octets(token.value)?.to_vec());
    }
    if tokens.is_empty() {
        return Err(DecodeError::Malformed("empty NegoData"));
    }
    Ok(tokens)
}

fn from_utf16le(bytes: &[u8]) -> Result<String, DecodeError> {
    if !bytes.len().is_multiple_of(2) || bytes.len() / 2 > MAX_CREDENTIAL_FIELD {
        return Err(DecodeError::Malformed("UTF-16 credential field"));
    }
    let units: Zeroizing<Vec<u16>> = Zeroizing::new(
        bytes
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect(),
    );
    String::from_utf16(&units).map_err(|_| DecodeError::Malformed("UTF-16 credential field"))
}
