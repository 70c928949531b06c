//! Our CHALLENGE_MESSAGE for a raw NTLM NEGOTIATE (MS-NLMP 2.2.1.2, 3.2.5.1.1), and the
//! exported session key of the AUTHENTICATE answering it (3.2.5.1.2).
//!
//! Built here rather than by sspi because sspi's server refuses NEGOTIATE flags Windows
//! accepts (it requires REQUEST_TARGET, NTLM and UNICODE: go-ntlmssp sends none of the first
//! two, Node's ntlm-client sends OEM) and echoes every client flag back. We answer as Windows
//! does: the client's requests we support, and never a flag the client did not ask for that
//! would make it fail (go-ntlmssp refuses a CHALLENGE offering KEY_EXCH).

use rand::RngCore;
use zeroize::Zeroizing;

use super::message::{
    FLAG_128, FLAG_56, FLAG_ALWAYS_SIGN, FLAG_EXTENDED_SESSION_SECURITY, FLAG_KEY_EXCH, FLAG_NTLM,
    FLAG_OEM, FLAG_REQUEST_TARGET, FLAG_SEAL, FLAG_SIGN, FLAG_TARGET_INFO, FLAG_TARGET_TYPE_SERVER,
    FLAG_UNICODE, FLAG_VERSION,
};
use super::utf16le;

/// The client requests we grant when asked (and only then). Not granted: LM_KEY (NTLMv1
/// session keys), DATAGRAM, IDENTIFY, ANONYMOUS.
const GRANTED_ON_REQUEST: u32 = FLAG_SIGN
    | FLAG_SEAL
    | FLAG_ALWAYS_SIGN
    | FLAG_EXTENDED_SESSION_SECURITY
    | FLAG_128
    | FLAG_56
    | FLAG_KEY_EXCH
    | FLAG_VERSION;

/// Size of the CHALLENGE's fixed part with the Version field (which we always lay out).
const FIXED_LEN: usize = 56;

/// The Version we report when asked (Windows Server 2019's: 10.0.17763, NTLM revision 15).
const VERSION: [u8; 8] = [10, 0, 0x63, 0x45, 0, 0, 0, 15];

/// The flags our CHALLENGE carries for a NEGOTIATE with `client` flags: Unicode when offered,
/// else OEM; our target name and target info always (NTLMv2 needs the latter); the rest only
/// as requested.
pub(crate) fn challenge_flags(client: u32) -> u32 {
    let charset = if client & FLAG_UNICODE != 0 {
        FLAG_UNICODE
    } else {
        FLAG_OEM
    };
    charset
        | FLAG_REQUEST_TARGET
        | FLAG_NTLM
        | FLAG_TARGET_TYPE_SERVER
        | FLAG_TARGET_INFO
        | (client & GRANTED_ON_REQUEST)
}

/// A CHALLENGE answering a NEGOTIATE with `client_flags`, from `host_name` (the target name,
/// upper-cased as a NetBIOS name), with a fresh random server challenge.
pub(crate) fn build(client_flags: u32, host_name: &str) -> Vec<u8> {
    let mut server_challenge = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut server_challenge);
    build_with(client_flags, host_name, server_challenge, filetime_now())
}

/// [`build`] with the challenge and timestamp given (tests compare exact bytes).
pub(crate) fn build_with(
    client_flags: u32,
    host_name: &str,
    server_challenge: [u8; 8],
    timestamp: u64,
) -> Vec<u8> {
    let flags = challenge_flags(client_flags);
    let netbios = netbios_name(host_name);
    let dns = netbios.to_ascii_lowercase();
    let target_name = if flags & FLAG_UNICODE != 0 {
        utf16le(&netbios)
    } else {
        netbios.as_bytes().to_vec()
    };
    // AV pairs are UTF-16LE whatever the charset (MS-NLMP 2.2.2.1).
    let mut target_info = Vec::new();
    for (id, value) in [
        (2u16, utf16le(&netbios)),
        (1, utf16le(&netbios)),
        (4, utf16le(&dns)),
        (3, utf16le(&dns)),
        (7, timestamp.to_le_bytes().to_vec()),
    ] {
        push_av_pair(&mut target_info, id, &value);
    }
    push_av_pair(&mut target_info, 0, &[]);

    let name_offset = FIXED_LEN;
    let info_offset = name_offset + target_name.len();
    let mut out = Vec::with_capacity(info_offset + target_info.len());
    out.extend_from_slice(super::message::SIGNATURE);
    out.extend_from_slice(&2u32.to_le_bytes());
    push_field(&mut out, target_name.len(), name_offset);
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&server_challenge);
    out.extend_from_slice(&[0u8; 8]);
    push_field(&mut out, target_info.len(), info_offset);
    if flags & FLAG_VERSION != 0 {
        out.extend_from_slice(&VERSION);
    } else {
        out.extend_from_slice(&[0u8; 8]);
    }
    out.extend_from_slice(&target_name);
    out.extend_from_slice(&target_info);
    out
}

/// ExportedSessionKey (MS-NLMP 3.2.5.1.2): the RC4-decrypted EncryptedRandomSessionKey when
/// key exchange was negotiated with signing or sealing, else the KeyExchangeKey itself (for
/// NTLMv2 the SessionBaseKey, `key_exchange_key` here).
pub(crate) fn exported_session_key(
    flags: u32,
    key_exchange_key: &Zeroizing<[u8; 16]>,
    encrypted_session_key: &[u8],
) -> Result<Zeroizing<[u8; 16]>, super::NtlmError> {
    if flags & FLAG_KEY_EXCH != 0 && flags & (FLAG_SIGN | FLAG_SEAL) != 0 {
        let encrypted: [u8; 16] = encrypted_session_key.try_into().map_err(|_| {
            super::NtlmError::Malformed("EncryptedRandomSessionKey is not 16 bytes")
        })?;
        let mut key = Zeroizing::new(encrypted);
        super::rc4::rc4(key_exchange_key, key.as_mut());
        Ok(key)
    } else {
        Ok(key_exchange_key.clone())
    }
}

/// The host's short name upper-cased, ASCII only (a NetBIOS name); `WORKGROUP` when nothing
/// usable is left.
fn netbios_name(host_name: &str) -> String {
    let name: String = host_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if name.is_empty() {
        "WORKGROUP".to_owned()
    } else {
        name
    }
}

fn push_av_pair(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    // Our values are a host name and a timestamp: far below u16::MAX.
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
}

fn push_field(out: &mut Vec<u8>, len: usize, offset: usize) {
    let len = len as u16;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(offset as u32).to_le_bytes());
}

/// Now as a Windows FILETIME (100 ns ticks since 1601-01-01).
fn filetime_now() -> u64 {
    const UNIX_EPOCH_AS_FILETIME: u64 = 116_444_736_000_000_000;
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    UNIX_EPOCH_AS_FILETIME + (since_unix.as_nanos() / 100) as u64
}
