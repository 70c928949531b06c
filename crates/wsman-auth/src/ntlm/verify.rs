//! The checks we make ourselves on an AUTHENTICATE: NTLMv2 only, no anonymous or guest logon,
//! a MIC verified whenever the client announces one, NTProofStr recomputed from the stored NT
//! hash (sspi 0.23.1 skips this when the MIC is absent), and channel bindings per
//! CbtHardeningLevel.

use hmac::{Hmac, Mac};
use md5::Md5;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::message::{
    AuthenticateMessage, AV_FLAG_MIC_PRESENT, FLAG_128, FLAG_ANONYMOUS,
    FLAG_EXTENDED_SESSION_SECURITY, FLAG_KEY_EXCH, MIC_OFFSET,
};
use super::server_challenge;
use super::utf16le;
use super::{CbtHardening, ChannelBindingPolicy, NtHash, NtlmError};

pub(crate) type HmacMd5 = Hmac<Md5>;

/// NT hash of a password: MD4(UTF-16LE(password)) (MS-NLMP 3.3.1).
pub fn nt_hash_of_password(password: &str) -> NtHash {
    use md4::{Digest, Md4};
    let utf16 = Zeroizing::new(utf16le(password));
    let mut hash = Zeroizing::new([0u8; 16]);
    hash.copy_from_slice(&Md4::digest(&*utf16));
    NtHash(hash)
}

pub(crate) fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 16]> {
    // HMAC takes keys of any length: new_from_slice cannot fail here.
    let mut mac = match HmacMd5::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return Zeroizing::new([0u8; 16]),
    };
    for part in parts {
        mac.update(part);
    }
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// NTOWFv2 = HMAC_MD5(NT hash, UTF-16LE(UPPERCASE(user) ‖ domain)).
pub fn ntowf_v2(hash: &NtHash, user: &str, domain: &str) -> Zeroizing<[u8; 16]> {
    let user = utf16le(&user.to_uppercase());
    let domain = utf16le(domain);
    hmac_md5(&*hash.0, &[&user, &domain])
}

/// NTProofStr for `blob` (the NTLMv2 client challenge) under `server_challenge`.
pub fn nt_proof(
    hash: &NtHash,
    user: &str,
    domain: &str,
    server_challenge: &[u8; 8],
    blob: &[u8],
) -> Zeroizing<[u8; 16]> {
    let key = ntowf_v2(hash, user, domain);
    hmac_md5(&*key, &[server_challenge, blob])
}

/// Refuses what must never reach the lookup: anonymous, guest, LM and NTLMv1 responses, a MIC
/// announced (MsvAvFlags bit 0x2) but not sent, and session security without extended session
/// security (the only kind our sealer speaks, and what every NTLMv2 client sets). A MIC the
/// client does not announce is not required, and key exchange and 128-bit keys are not
/// either: Windows accepts such clients (go-ntlmssp, Node's ntlm-client) and so do we.
pub fn check_shape(message: &AuthenticateMessage) -> Result<(), NtlmError> {
    if message.user.is_empty() || message.flags & FLAG_ANONYMOUS != 0 {
        return Err(NtlmError::Anonymous);
    }
    if message.user.eq_ignore_ascii_case("guest") {
        return Err(NtlmError::Guest);
    }
    if !message.is_ntlmv2() {
        return Err(NtlmError::NotNtlmV2);
    }
    if mic_announced(message) && message.mic.is_none_or(|mic| mic == [0u8; 16]) {
        return Err(NtlmError::MicMissing);
    }
    if message.flags & FLAG_EXTENDED_SESSION_SECURITY == 0 {
        return Err(NtlmError::Unsupported(
            "session security without extended session security",
        ));
    }
    Ok(())
}

/// What sspi's SPNEGO engine needs on top of [`check_shape`]: it reads a MIC at the fixed
/// offset whenever NEGOTIATE_TARGET_INFO is set, so a MIC-less AUTHENTICATE would be misread
/// there, and it was only ever proven with key exchange and 128-bit keys (what every SPNEGO
/// client sends). Raw NTLM does not go through sspi and does not need this.
pub fn check_spnego_engine_needs(message: &AuthenticateMessage) -> Result<(), NtlmError> {
    if !mic_announced(message) {
        return Err(NtlmError::Unsupported(
            "SPNEGO-wrapped NTLM without a MIC (raw NTLM accepts it)",
        ));
    }
    let required = FLAG_KEY_EXCH | FLAG_128;
    if message.flags & required != required {
        return Err(NtlmError::Unsupported(
            "SPNEGO-wrapped NTLM without key exchange and 128-bit keys (raw NTLM accepts it)",
        ));
    }
    Ok(())
}

/// Whether the client says it sent a MIC (MsvAvFlags bit 0x2, covered by NTProofStr, so an
/// attacker cannot clear it without failing the proof).
pub fn mic_announced(message: &AuthenticateMessage) -> bool {
    message
        .av_flags
        .is_some_and(|flags| flags & AV_FLAG_MIC_PRESENT != 0)
}

/// Recomputes NTProofStr with the stored hash and compares in constant time.
pub fn check_proof(
    message: &AuthenticateMessage,
    hash: &NtHash,
    server_challenge: &[u8; 8],
) -> Result<(), NtlmError> {
    let (Some(proof), Some(blob)) = (message.nt_proof(), message.client_challenge_blob()) else {
        return Err(NtlmError::NotNtlmV2);
    };
    let expected = nt_proof(hash, &message.user, &message.domain, server_challenge, blob);
    if bool::from(expected.ct_eq(proof)) {
        Ok(())
    } else {
        Err(NtlmError::WrongPassword {
            user: message.user.clone(),
        })
    }
}

/// The exported session key of a verified NTLMv2 AUTHENTICATE: KeyExchangeKey is the
/// SessionBaseKey, HMAC_MD5(ResponseKeyNT, NTProofStr); see
/// `server_challenge::exported_session_key` for the rest.
pub fn exported_session_key(
    message: &AuthenticateMessage,
    hash: &NtHash,
) -> Result<Zeroizing<[u8; 16]>, NtlmError> {
    let proof = message.nt_proof().ok_or(NtlmError::NotNtlmV2)?;
    let response_key = ntowf_v2(hash, &message.user, &message.domain);
    let key_exchange_key = hmac_md5(&*response_key, &[proof]);
    server_challenge::exported_session_key(
        message.flags,
        &key_exchange_key,
        &message.encrypted_session_key,
    )
}

/// Verifies the AUTHENTICATE's MIC ourselves when the client announces one (MS-NLMP
/// 3.2.5.1.2): HMAC_MD5 under the exported session key over NEGOTIATE ‖ CHALLENGE ‖
/// AUTHENTICATE with the MIC zeroed. Without the announcement there is nothing to verify (as
/// on Windows); an announced MIC that is absent or wrong is refused.
pub fn check_mic(
    message: &AuthenticateMessage,
    hash: &NtHash,
    transcript: Transcript<'_>,
) -> Result<(), NtlmError> {
    if !mic_announced(message) {
        return Ok(());
    }
    let Some(mic) = message.mic else {
        return Err(NtlmError::MicMissing);
    };
    let exported = exported_session_key(message, hash)?;
    if transcript.authenticate.len() < MIC_OFFSET + 16 {
        return Err(NtlmError::MicMissing);
    }
    let mut zeroed = transcript.authenticate.to_vec();
    zeroed[MIC_OFFSET..MIC_OFFSET + 16].fill(0);
    let expected = hmac_md5(
        &*exported,
        &[transcript.negotiate, transcript.challenge, &zeroed],
    );
    if bool::from(expected.ct_eq(&mic)) {
        Ok(())
    } else {
        Err(NtlmError::MicInvalid)
    }
}

/// The three messages of one handshake, as sent.
#[derive(Debug, Clone, Copy)]
pub struct Transcript<'a> {
    pub negotiate: &'a [u8],
    pub challenge: &'a [u8],
    pub authenticate: &'a [u8],
}

/// CbtHardeningLevel: None ignores bindings; Relaxed accepts missing ones but refuses wrong
/// ones; Strict refuses both. Without an expected value (plain HTTP) nothing is checked.
pub fn check_channel_bindings(
    message: &AuthenticateMessage,
    policy: &ChannelBindingPolicy,
) -> Result<(), NtlmError> {
    let Some(expected) = policy.expected else {
        return Ok(());
    };
    let sent = message.channel_bindings.filter(|cb| *cb != [0u8; 16]);
    match (policy.hardening, sent) {
        (CbtHardening::None, _) => Ok(()),
        (CbtHardening::Relaxed, None) => Ok(()),
        (CbtHardening::Strict, None) => Err(NtlmError::ChannelBindingMissing),
        (_, Some(sent)) if bool::from(sent.ct_eq(&expected)) => Ok(()),
        (_, Some(_)) => Err(NtlmError::ChannelBindingMismatch),
    }
}
