//! Our own bounded parser of the three NTLM messages (MS-NLMP 2.2.1): every length and offset
//! is checked against the message before a byte is read, strings are decoded strictly, and the
//! NTLMv2 client challenge's AV pairs are walked with the same care. This is what lets us
//! verify the AUTHENTICATE ourselves before sspi sees it.

use super::NtlmError;

/// `NTLMSSP\0`.
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
/// The largest NTLM message accepted (real ones are a few hundred bytes).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;

/// NTLMSSP_NEGOTIATE_UNICODE.
pub const FLAG_UNICODE: u32 = 0x0000_0001;
/// NTLM_NEGOTIATE_OEM.
pub const FLAG_OEM: u32 = 0x0000_0002;
/// NTLMSSP_REQUEST_TARGET.
pub const FLAG_REQUEST_TARGET: u32 = 0x0000_0004;
/// NTLMSSP_NEGOTIATE_SIGN.
pub const FLAG_SIGN: u32 = 0x0000_0010;
/// NTLMSSP_NEGOTIATE_SEAL.
pub const FLAG_SEAL: u32 = 0x0000_0020;
/// NTLMSSP_NEGOTIATE_NTLM.
pub const FLAG_NTLM: u32 = 0x0000_0200;
/// NTLMSSP_NEGOTIATE_ALWAYS_SIGN.
pub const FLAG_ALWAYS_SIGN: u32 = 0x0000_8000;
/// NTLMSSP_TARGET_TYPE_SERVER.
pub const FLAG_TARGET_TYPE_SERVER: u32 = 0x0002_0000;
/// NTLMSSP_NEGOTIATE_TARGET_INFO.
pub const FLAG_TARGET_INFO: u32 = 0x0080_0000;
/// NTLMSSP_NEGOTIATE_VERSION.
pub const FLAG_VERSION: u32 = 0x0200_0000;
/// NTLMSSP_NEGOTIATE_56.
pub const FLAG_56: u32 = 0x8000_0000;
/// NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY.
pub const FLAG_EXTENDED_SESSION_SECURITY: u32 = 0x0008_0000;
/// NTLMSSP_NEGOTIATE_KEY_EXCH.
pub const FLAG_KEY_EXCH: u32 = 0x4000_0000;
/// NTLMSSP_NEGOTIATE_128.
pub const FLAG_128: u32 = 0x2000_0000;
/// NTLMSSP_NEGOTIATE_ANONYMOUS.
pub const FLAG_ANONYMOUS: u32 = 0x0000_0800;

/// AV pair ids (MS-NLMP 2.2.2.1).
const AV_EOL: u16 = 0x0000;
const AV_FLAGS: u16 = 0x0006;
const AV_CHANNEL_BINDINGS: u16 = 0x000A;
/// MsvAvFlags bit: the AUTHENTICATE carries a MIC.
pub const AV_FLAG_MIC_PRESENT: u32 = 0x0000_0002;

/// Where the MIC lies in an AUTHENTICATE (after the 8-byte Version).
pub const MIC_OFFSET: usize = 72;
/// NTProofStr (16) + NTLMv2_CLIENT_CHALLENGE up to its AV pairs (28).
const NTLMV2_FIXED: usize = 44;

/// Which of the three messages a token holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Negotiate,
    Challenge,
    Authenticate,
}

/// The type of an NTLM message, after checking its signature and size.
pub fn message_type(message: &[u8]) -> Result<MessageType, NtlmError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(malformed("message too large"));
    }
    if message.len() < 12 || &message[..8] != SIGNATURE {
        return Err(malformed("not an NTLMSSP message"));
    }
    match u32_at(message, 8)? {
        1 => Ok(MessageType::Negotiate),
        2 => Ok(MessageType::Challenge),
        3 => Ok(MessageType::Authenticate),
        _ => Err(malformed("unknown NTLM message type")),
    }
}

/// A NEGOTIATE_MESSAGE: only its flags matter to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateMessage {
    pub flags: u32,
}

/// Parses a NEGOTIATE_MESSAGE (the optional domain and workstation fields are bounds-checked
/// when present).
pub fn parse_negotiate(message: &[u8]) -> Result<NegotiateMessage, NtlmError> {
    if message_type(message)? != MessageType::Negotiate || message.len() < 16 {
        return Err(malformed("bad NEGOTIATE message"));
    }
    let flags = u32_at(message, 12)?;
    if message.len() >= 32 {
        field(message, 16, 32)?;
        field(message, 24, 32)?;
    }
    Ok(NegotiateMessage { flags })
}

/// A CHALLENGE_MESSAGE: the server challenge the AUTHENTICATE must answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeMessage {
    pub flags: u32,
    pub server_challenge: [u8; 8],
}

/// Parses a CHALLENGE_MESSAGE (ours, produced by sspi, or a crafted one in tests).
pub fn parse_challenge(message: &[u8]) -> Result<ChallengeMessage, NtlmError> {
    if message_type(message)? != MessageType::Challenge || message.len() < 48 {
        return Err(malformed("bad CHALLENGE message"));
    }
    field(message, 12, 48)?;
    field(message, 40, 48)?;
    let mut server_challenge = [0u8; 8];
    server_challenge.copy_from_slice(&message[24..32]);
    Ok(ChallengeMessage {
        flags: u32_at(message, 20)?,
        server_challenge,
    })
}

/// An AUTHENTICATE_MESSAGE as far as verification needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthenticateMessage {
    pub flags: u32,
    pub lm_response_len: usize,
    pub nt_response: Vec<u8>,
    pub domain: String,
    pub user: String,
    pub workstation: String,
    /// The MIC field (bytes 72..88), present when the payload starts after it.
    pub mic: Option<[u8; 16]>,
    /// EncryptedRandomSessionKey (empty without key exchange).
    pub encrypted_session_key: Vec<u8>,
    /// MsvAvFlags from the NTLMv2 client challenge, if the response is NTLMv2 and has it.
    pub av_flags: Option<u32>,
    /// MsvAvChannelBindings from the NTLMv2 client challenge, if present.
    pub channel_bindings: Option<[u8; 16]>,
}

/// The response bytes are secret-derived: keep them out of debug output.
impl std::fmt::Debug for AuthenticateMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticateMessage")
            .field("flags", &format_args!("{:#010x}", self.flags))
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("workstation", &self.workstation)
            .field("nt_response_len", &self.nt_response.len())
            .field("mic", &self.mic.is_some())
            .field("av_flags", &self.av_flags)
            .finish_non_exhaustive()
    }
}

impl AuthenticateMessage {
    /// Whether the NT response has the NTLMv2 shape (longer than the 24 bytes of NTLMv1).
    pub fn is_ntlmv2(&self) -> bool {
        self.nt_response.len() >= NTLMV2_FIXED
    }

    /// NTProofStr: the first 16 bytes of the NTLMv2 response.
    pub fn nt_proof(&self) -> Option<&[u8]> {
        self.is_ntlmv2().then(|| &self.nt_response[..16])
    }

    /// The NTLMv2_CLIENT_CHALLENGE ("temp") that NTProofStr covers.
    pub fn client_challenge_blob(&self) -> Option<&[u8]> {
        self.is_ntlmv2().then(|| &self.nt_response[16..])
    }
}

/// Parses an AUTHENTICATE_MESSAGE. Every payload field must lie inside the message; strings
/// must decode (UTF-16LE when NEGOTIATE_UNICODE is set, else ASCII).
pub fn parse_authenticate(message: &[u8]) -> Result<AuthenticateMessage, NtlmError> {
    if message_type(message)? != MessageType::Authenticate || message.len() < 64 {
        return Err(malformed("bad AUTHENTICATE message"));
    }
    let flags = u32_at(message, 60)?;
    let lm = field(message, 12, 64)?;
    let nt = field(message, 20, 64)?;
    let domain = field(message, 28, 64)?;
    let user = field(message, 36, 64)?;
    let workstation = field(message, 44, 64)?;
    let session_key = field(message, 52, 64)?;
    // The payload starts at the smallest offset of a non-empty field; the MIC is there only
    // when the fixed part (with Version and MIC) ends before it.
    let payload_start = [lm, nt, domain, user, workstation, session_key]
        .iter()
        .filter(|f| f.len > 0)
        .map(|f| f.offset)
        .min()
        .unwrap_or(message.len());
    let mic = if payload_start >= MIC_OFFSET + 16 {
        let mut mic = [0u8; 16];
        mic.copy_from_slice(&message[MIC_OFFSET..MIC_OFFSET + 16]);
        Some(mic)
    } else {
        None
    };
    let unicode = flags & FLAG_UNICODE != 0;
    let nt_response = nt.bytes(message).to_vec();
    let mut parsed = AuthenticateMessage {
        flags,
        lm_response_len: lm.len,
        nt_response,
        domain: decode_string(domain.bytes(message), unicode)?,
        user: decode_string(user.bytes(message), unicode)?,
        workstation: decode_string(workstation.bytes(message), unicode)?,
        mic,
        encrypted_session_key: session_key.bytes(message).to_vec(),
        av_flags: None,
        channel_bindings: None,
    };
    if parsed.is_ntlmv2() {
        let blob = &parsed.nt_response[16..];
        if blob[0] != 1 || blob[1] != 1 {
            return Err(malformed("unknown NTLMv2 client challenge version"));
        }
        let (av_flags, channel_bindings) = read_av_pairs(&blob[28..])?;
        parsed.av_flags = av_flags;
        parsed.channel_bindings = channel_bindings;
    }
    Ok(parsed)
}

/// Walks the AV pairs up to MsvAvEOL (which must be there) and returns MsvAvFlags and
/// MsvAvChannelBindings.
fn read_av_pairs(mut pairs: &[u8]) -> Result<(Option<u32>, Option<[u8; 16]>), NtlmError> {
    let mut flags = None;
    let mut bindings = None;
    loop {
        if pairs.len() < 4 {
            return Err(malformed("AV pairs without MsvAvEOL"));
        }
        let id = u16::from_le_bytes([pairs[0], pairs[1]]);
        let len = usize::from(u16::from_le_bytes([pairs[2], pairs[3]]));
        let value = pairs
            .get(4..4 + len)
            .ok_or_else(|| malformed("AV pair longer than the response"))?;
        match id {
            AV_EOL => return Ok((flags, bindings)),
            AV_FLAGS => {
                let bytes: [u8; 4] = value
                    .try_into()
                    .map_err(|_| malformed("MsvAvFlags is not 4 bytes"))?;
                flags = Some(u32::from_le_bytes(bytes));
            }
            AV_CHANNEL_BINDINGS => {
                let bytes: [u8; 16] = value
                    .try_into()
                    .map_err(|_| malformed("MsvAvChannelBindings is not 16 bytes"))?;
                bindings = Some(bytes);
            }
            _ => {}
        }
        pairs = &pairs[4 + len..];
    }
}

/// A (Len, MaxLen, Offset) field, checked to lie inside the message and after the fixed part.
#[derive(Debug, Clone, Copy)]
struct Field {
    len: usize,
    offset: usize,
}

impl Field {
    fn bytes(self, message: &[u8]) -> &[u8] {
        &message[self.offset..self.offset + self.len]
    }
}

fn field(message: &[u8], at: usize, fixed_end: usize) -> Result<Field, NtlmError> {
    let len = usize::from(u16::from_le_bytes([
        *message.get(at).ok_or_else(|| malformed("truncated"))?,
        *message.get(at + 1).ok_or_else(|| malformed("truncated"))?,
    ]));
    let offset = usize::try_from(u32_at(message, at + 4)?).map_err(|_| malformed("offset"))?;
    if len == 0 {
        return Ok(Field { len, offset: 0 });
    }
    let end = offset
        .checked_add(len)
        .ok_or_else(|| malformed("field offset overflows"))?;
    if offset < fixed_end || end > message.len() {
        return Err(malformed("field offset or length outside the message"));
    }
    Ok(Field { len, offset })
}

fn u32_at(message: &[u8], at: usize) -> Result<u32, NtlmError> {
    let bytes: [u8; 4] = message
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("truncated"))?;
    Ok(u32::from_le_bytes(bytes))
}

fn decode_string(bytes: &[u8], unicode: bool) -> Result<String, NtlmError> {
    if unicode {
        if !bytes.len().is_multiple_of(2) {
            return Err(malformed("odd-length UTF-16 string"));
        }
        let units = bytes
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| malformed("invalid UTF-16 string"))
    } else if bytes.is_ascii() {
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        Err(malformed("non-ASCII OEM string"))
    }
}

fn malformed(what: &'static str) -> NtlmError {
    NtlmError::Malformed(what)
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
