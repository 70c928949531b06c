//! The checks we make ourselves on an AUTHENTICATE before sspi sees it: NTLMv2 only, no
//! anonymous or guest logon, a MIC required, NTProofStr recomputed from the stored NT hash
//! (sspi 0.23.1 skips this when the MIC is absent), and channel bindings per
//! CbtHardeningLevel.

use hmac::{Hmac, Mac};
use md5::Md5;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::message::{
    AuthenticateMessage, AV_FLAG_MIC_PRESENT, FLAG_128, FLAG_ANONYMOUS,
    FLAG_EXTENDED_SESSION_SECURITY, FLAG_KEY_EXCH, MIC_OFFSET,
};
use super::rc4::rc4;
use super::{CbtHardening, ChannelBindingPolicy, NtHash, NtlmError};

pub(crate) type HmacMd5 = Hmac<Md5>;

/// NT hash of a password: MD4(UTF-16LE(password)) (MS-NLMP 3.3.1).
pub fn nt_hash_of_password(password: &str) -> NtHash {
    use md4::{Digest, Md4};
    let utf16: Zeroizing<Vec<u8>> =
        Zeroizing::new(password.encode_utf16().flat_map(u16::to_le_bytes).collect());
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

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
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

/// Refuses what must never reach the lookup: anonymous, NTLMv1, no MIC.
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
    let mic_flagged = message
        .av_flags
        .is_some_and(|flags| flags & AV_FLAG_MIC_PRESENT != 0);
    let mic_nonzero = message.mic.is_some_and(|mic| mic != [0u8; 16]);
    if !mic_flagged || !mic_nonzero {
        return Err(NtlmError::MicMissing);
    }
    // Our sealer (`seal`) implements extended session security with key exchange and 128-bit
    // keys, which every WinRM client negotiates; anything weaker is refused here, clearly,
    // instead of failing later at the first sealed body.
    let required = FLAG_EXTENDED_SESSION_SECURITY | FLAG_KEY_EXCH | FLAG_128;
    if message.flags & required != required {
        return Err(NtlmError::Unsupported(
            "session security without extended session security, key exchange and 128-bit keys",
        ));
    }
    Ok(())
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

/// Verifies the AUTHENTICATE's MIC ourselves (MS-NLMP 3.2.5.1.2): HMAC_MD5 under the exported
/// session key over NEGOTIATE ‖ CHALLENGE ‖ AUTHENTICATE with the MIC zeroed. sspi checks it
/// only when the client keeps NEGOTIATE_TARGET_INFO set, so a client could skip it there.
pub fn check_mic(
    message: &AuthenticateMessage,
    hash: &NtHash,
    transcript: Transcript<'_>,
) -> Result<(), NtlmError> {
    let (Some(mic), Some(proof)) = (message.mic, message.nt_proof()) else {
        return Err(NtlmError::MicMissing);
    };
    let response_key = ntowf_v2(hash, &message.user, &message.domain);
    let key_exchange_key = hmac_md5(&*response_key, &[proof]);
    let exported = if message.flags & FLAG_KEY_EXCH != 0 {
        let encrypted: [u8; 16] = message
            .encrypted_session_key
            .as_slice()
            .try_into()
            .map_err(|_| NtlmError::Malformed("EncryptedRandomSessionKey is not 16 bytes"))?;
        let mut key = Zeroizing::new(encrypted);
        rc4(&key_exchange_key, key.as_mut());
        key
    } else {
        key_exchange_key
    };
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
