//! NTLM message sealing (MS-NLMP 3.4.4, extended session security, 128-bit, with or without
//! KEY_EXCH):
//! our own `GSS_Wrap`/`GSS_Unwrap` for MS-WSMV bodies, used after sspi completed the handshake.
//!
//! Per direction a SignKey and a SealKey are derived from the exported session key with the
//! client-to-server or server-to-client magic constants; the RC4 state of a direction persists
//! across messages. A message is signed with HMAC_MD5(SignKey, seq ‖ plaintext), the data is
//! RC4-sealed first and the first 8 bytes of the HMAC are encrypted with the same stream
//! afterwards when key exchange was negotiated (without it the checksum is sent as computed,
//! MS-NLMP 3.4.4.2); the 16-byte signature is version 1 ‖ checksum ‖ seq. Unsealing reverses that,
//! checks the sequence number and compares the checksum in constant time.
//!
//! The only copy of a message is the output buffer (the HMAC reads the plaintext where it
//! lies, RC4 runs in place on the output): no temporary copies.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use hmac::Mac;

use super::md5_core;
use super::rc4::Rc4;
#[cfg(test)]
use super::verify::hmac_md5;
use crate::sealing::{push_token_header, MessageSealer, SealError, SPNEGO_PROTOCOL};
use wsman_mac_beside::{decrypt_then_mac, mac_beside, PARALLEL_MIN};

/// Size of the NTLMSSP_MESSAGE_SIGNATURE.
pub(crate) const SIGNATURE_LEN: usize = 16;

const CLIENT_SIGN_MAGIC: &[u8] = b"session key to client-to-server signing key magic constant\0";
const SERVER_SIGN_MAGIC: &[u8] = b"session key to server-to-client signing key magic constant\0";
const CLIENT_SEAL_MAGIC: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const SERVER_SEAL_MAGIC: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// Which end of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
}

/// Why unsealing failed. Carries no key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UnsealError {
    #[error("NTLM signature must be 16 bytes")]
    SignatureLength,
    #[error("unknown NTLM signature version")]
    Version,
    #[error("invalid incoming message sequence number")]
    Sequence,
    #[error("signature verification failed")]
    Checksum,
}

/// Plaintext handled per step of a fused pass (HMAC, copy, RC4): small enough that the block
/// is still in L1 when the second and third pass over it run.
const BLOCK: usize = 8 * 1024;
/// [`BLOCK`], for the benchmark of the algorithms alone ([`super::speed`]).
pub(crate) const SEAL_BLOCK: usize = BLOCK;

/// The name of the HMAC's helper thread for a large message (see [`wsman_mac_beside`]: from
/// [`PARALLEL_MIN`] bytes on, the HMAC runs beside RC4, which costs about the same per byte).
const HELPER_NAME: &str = "ntlm-hmac";

/// The sealing HMAC: over every byte of every sealed message, so on our faster MD5 core
/// ([`md5_core`]); the handshake's few HMACs keep `md-5`'s.
type HmacMd5 = hmac::Hmac<md5_core::Md5>;

/// One direction's keys, keystream and sequence number.
struct Direction {
    sign_key: Zeroizing<[u8; 16]>,
    rc4: Rc4,
    seq: u32,
}

impl Direction {
    fn new(session_key: &[u8], sign_magic: &[u8], seal_magic: &[u8], seq: u32) -> Self {
        let sign_key = derive(session_key, sign_magic);
        let seal_key = derive(session_key, seal_magic);
        Self {
            sign_key,
            rc4: Rc4::new(&seal_key),
            seq,
        }
    }

    /// An HMAC_MD5(SignKey, ...) already fed with the sequence number; the caller feeds the
    /// plaintext block by block.
    fn mac(&self, seq: u32) -> HmacMd5 {
        let mut mac = <HmacMd5 as Mac>::new_from_slice(&*self.sign_key)
            .expect("HMAC takes a key of any length");
        mac.update(&seq.to_le_bytes());
        mac
    }
}

fn derive(session_key: &[u8], magic: &[u8]) -> Zeroizing<[u8; 16]> {
    let mut md5 = Md5::new();
    md5.update(session_key);
    md5.update(magic);
    Zeroizing::new(md5.finalize().into())
}

/// Sealing state of one completed NTLM context.
pub(crate) struct NtlmSeal {
    send: Direction,
    recv: Direction,
    /// Whether the checksum is RC4-encrypted: only when NTLMSSP_NEGOTIATE_KEY_EXCH was
    /// negotiated (MS-NLMP 3.4.4.2).
    seal_checksum: bool,
}

/// NTLM sealing as the MS-WSMV framing uses it, for the server and the client alike (the
/// role chose the keys). The protocol label is always SPNEGO's: Windows' label for NTLM too.
impl MessageSealer for NtlmSeal {
    fn protocol(&self) -> &str {
        SPNEGO_PROTOCOL
    }

    fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SealError> {
        let (signature, data) = NtlmSeal::wrap(self, plain);
        Ok((signature.to_vec(), data))
    }

    fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
        NtlmSeal::unwrap(self, header, ciphertext).map_err(|e| SealError::Unwrap(e.to_string()))
    }

    fn unwrap_into(
        &mut self,
        header: &[u8],
        ciphertext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SealError> {
        NtlmSeal::unwrap_into(self, header, ciphertext, out)
            .map_err(|e| SealError::Unwrap(e.to_string()))
    }

    fn decrypts_in_place(&self) -> bool {
        true
    }

    fn unwrap_in_place(
        &mut self,
        header: &[u8],
        data: &mut [u8],
    ) -> Result<std::ops::Range<usize>, SealError> {
        NtlmSeal::unwrap_in_place(self, header, data)
            .map_err(|e| SealError::Unwrap(e.to_string()))?;
        Ok(0..data.len())
    }

    /// The ciphertext is written straight into the body, after a placeholder for the
    /// signature (which depends on the keystream after the data).
    fn wrap_parts_into(&mut self, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<(), SealError> {
        push_token_header(out, &[0u8; SIGNATURE_LEN])?;
        let signature_at = out.len() - SIGNATURE_LEN;
        let signature = NtlmSeal::wrap_parts_into(self, parts, out);
        out[signature_at..signature_at + SIGNATURE_LEN].copy_from_slice(&signature);
        Ok(())
    }
}

impl NtlmSeal {
    /// [`NtlmSeal::new`] of a completed context's exported session key, `None` unless it is
    /// the 16 bytes NTLM's key derivation makes.
    pub(crate) fn of_session_key(session_key: &[u8], role: Role, first_seq: u32) -> Option<Self> {
        (session_key.len() == 16).then(|| Self::new(session_key, role, first_seq))
    }

    /// From the exported session key. `first_seq` is 0 for raw NTLM; under SPNEGO the
    /// mechListMIC used seq 0 in each direction (without advancing the keystream), so sealed
    /// bodies start at 1 with fresh RC4 states.
    pub(crate) fn new(session_key: &[u8], role: Role, first_seq: u32) -> Self {
        let client = Direction::new(session_key, CLIENT_SIGN_MAGIC, CLIENT_SEAL_MAGIC, first_seq);
        let server = Direction::new(session_key, SERVER_SIGN_MAGIC, SERVER_SEAL_MAGIC, first_seq);
        match role {
            Role::Client => Self {
                send: client,
                recv: server,
                seal_checksum: true,
            },
            Role::Server => Self {
                send: server,
                recv: client,
                seal_checksum: true,
            },
        }
    }

    /// The same keys for a context that negotiated no key exchange: checksums travel
    /// unencrypted (the data is still sealed).
    pub(crate) fn without_key_exchange(mut self) -> Self {
        self.seal_checksum = false;
        self
    }

    /// Seals `plain`: returns the 16-byte signature and the ciphertext (same length).
    pub(crate) fn wrap(&mut self, plain: &[u8]) -> ([u8; SIGNATURE_LEN], Vec<u8>) {
        let mut data = Vec::with_capacity(plain.len());
        let signature = self.wrap_parts_into(&[plain], &mut data);
        (signature, data)
    }

    /// Seals the concatenation of `parts`, appending the ciphertext to `out` (the only copy of
    /// the message: each block is read once for the HMAC, copied once, and encrypted where it
    /// lands); returns the 16-byte signature. The keystream encrypts the data first and the
    /// checksum after it, as MS-NLMP orders them.
    pub(crate) fn wrap_parts_into(
        &mut self,
        parts: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> [u8; SIGNATURE_LEN] {
        let send = &mut self.send;
        let seq = send.seq;
        send.seq = send.seq.wrapping_add(1);
        let total: usize = parts.iter().map(|part| part.len()).sum();
        out.reserve(total);
        let mac = if total >= PARALLEL_MIN {
            // The HMAC reads the plaintext on a helper thread while this one copies and
            // encrypts it: the two passes are independent.
            let keyed = send.mac(seq);
            let rc4 = &mut send.rc4;
            mac_beside(
                HELPER_NAME,
                || keyed.clone(),
                parts,
                || {
                    for part in parts {
                        for block in part.chunks(BLOCK) {
                            let start = out.len();
                            out.extend_from_slice(block);
                            rc4.apply(&mut out[start..]);
                        }
                    }
                },
            )
        } else {
            let mut mac = send.mac(seq);
            for part in parts {
                for block in part.chunks(BLOCK) {
                    mac.update(block);
                    let start = out.len();
                    out.extend_from_slice(block);
                    send.rc4.apply(&mut out[start..]);
                }
            }
            mac
        };
        let digest = Zeroizing::new(<[u8; 16]>::from(mac.finalize().into_bytes()));
        let mut signature = [0u8; SIGNATURE_LEN];
        signature[0..4].copy_from_slice(&1u32.to_le_bytes());
        signature[4..12].copy_from_slice(&digest[0..8]);
        if self.seal_checksum {
            send.rc4.apply(&mut signature[4..12]);
        }
        signature[12..16].copy_from_slice(&seq.to_le_bytes());
        signature
    }

    /// Unseals `ciphertext` under `signature`: checks the version, the sequence number (replays
    /// and reordering are refused) and the checksum.
    pub(crate) fn unwrap(
        &mut self,
        signature: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, UnsealError> {
        let mut plain = Vec::with_capacity(ciphertext.len());
        self.unwrap_into(signature, ciphertext, &mut plain)?;
        Ok(plain)
    }

    /// [`NtlmSeal::unwrap`], appending the plaintext to `out` (decrypted where it lands). On
    /// failure `out` is as it was, the bytes decrypted meanwhile wiped.
    pub(crate) fn unwrap_into(
        &mut self,
        signature: &[u8],
        ciphertext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), UnsealError> {
        let first = out.len();
        out.extend_from_slice(ciphertext);
        let result = self.unwrap_in_place(signature, &mut out[first..]);
        if result.is_err() {
            out.truncate(first);
        }
        result
    }

    /// [`NtlmSeal::unwrap`] where the ciphertext lies: `data` becomes the plaintext (NTLM
    /// keeps the length). The checks come first (signature length, version, sequence number),
    /// the checksum is compared after the whole message is decrypted, and on failure `data`
    /// is wiped, so no plaintext of a refused message is left for anyone to use.
    pub(crate) fn unwrap_in_place(
        &mut self,
        signature: &[u8],
        data: &mut [u8],
    ) -> Result<(), UnsealError> {
        let signature: &[u8; SIGNATURE_LEN] = signature
            .try_into()
            .map_err(|_| UnsealError::SignatureLength)?;
        if signature[0..4] != 1u32.to_le_bytes() {
            return Err(UnsealError::Version);
        }
        let recv = &mut self.recv;
        let mut seq_bytes = [0u8; 4];
        seq_bytes.copy_from_slice(&signature[12..16]);
        let seq = u32::from_le_bytes(seq_bytes);
        if seq != recv.seq {
            return Err(UnsealError::Sequence);
        }
        recv.seq = recv.seq.wrapping_add(1);
        let mac = if data.len() >= PARALLEL_MIN {
            // A pipeline: this thread decrypts block after block and hands each to a helper
            // thread that feeds it to the HMAC while the next one is decrypted.
            let keyed = recv.mac(seq);
            let rc4 = &mut recv.rc4;
            decrypt_then_mac(
                HELPER_NAME,
                || keyed.clone(),
                data,
                |block| rc4.apply(block),
                &[],
            )
        } else {
            // One pass per block: decrypt, then MAC the plaintext while it is still in L1.
            let mut mac = recv.mac(seq);
            for block in data.chunks_mut(BLOCK) {
                recv.rc4.apply(block);
                mac.update(block);
            }
            mac
        };
        let mut checksum = Zeroizing::new([0u8; 8]);
        checksum.copy_from_slice(&signature[4..12]);
        if self.seal_checksum {
            recv.rc4.apply(checksum.as_mut());
        }
        let digest = Zeroizing::new(<[u8; 16]>::from(mac.finalize().into_bytes()));
        if bool::from(digest[0..8].ct_eq(checksum.as_ref())) {
            Ok(())
        } else {
            data.zeroize();
            Err(UnsealError::Checksum)
        }
    }
}

/// sspi's own sealing of a completed context: the reference the differential tests compare
/// ours with, shared by the initiator's and the acceptor's reference sealers.
#[cfg(test)]
pub(crate) fn sspi_wrap<S: sspi::Sspi>(
    context: &mut S,
    plain: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), SealError> {
    let mut signature = vec![0u8; SIGNATURE_LEN];
    let mut data = plain.to_vec();
    context
        .encrypt_message(
            sspi::EncryptionFlags::empty(),
            &mut [
                sspi::SecurityBufferRef::token_buf(&mut signature),
                sspi::SecurityBufferRef::data_buf(&mut data),
            ],
        )
        .map_err(|err| SealError::Wrap(err.description))?;
    Ok((signature, data))
}

/// sspi's own unsealing, the counterpart of [`sspi_wrap`].
#[cfg(test)]
pub(crate) fn sspi_unwrap<S: sspi::Sspi>(
    context: &mut S,
    header: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let mut signature = header.to_vec();
    let mut data = ciphertext.to_vec();
    let mut buffers = [
        sspi::SecurityBufferRef::token_buf(&mut signature),
        sspi::SecurityBufferRef::data_buf(&mut data),
    ];
    context
        .decrypt_message(&mut buffers)
        .map_err(|err| SealError::Unwrap(err.description))?;
    let plain_len = buffers[1].data().len();
    data.truncate(plain_len);
    Ok(data)
}

/// sspi's own sealer of a completed handshake, the reference the differential tests compare
/// ours with. A macro because the initiator's and the acceptor's `Context` differ (only in
/// the credentials kept beside the sspi context); each module expands it for its own.
#[cfg(test)]
macro_rules! sspi_reference_sealer {
    () => {
        /// sspi's own sealing of the completed context.
        pub(crate) struct SspiReferenceSealer {
            context: Context,
        }

        impl $crate::sealing::MessageSealer for SspiReferenceSealer {
            fn protocol(&self) -> &str {
                $crate::sealing::SPNEGO_PROTOCOL
            }

            fn wrap(
                &mut self,
                plain: &[u8],
            ) -> Result<(Vec<u8>, Vec<u8>), $crate::sealing::SealError> {
                match &mut self.context {
                    Context::Ntlm(ntlm, _) => $crate::ntlm::seal::sspi_wrap(ntlm.as_mut(), plain),
                    Context::Spnego(negotiate, _) => {
                        $crate::ntlm::seal::sspi_wrap(negotiate.as_mut(), plain)
                    }
                }
            }

            fn unwrap(
                &mut self,
                header: &[u8],
                ciphertext: &[u8],
            ) -> Result<Vec<u8>, $crate::sealing::SealError> {
                match &mut self.context {
                    Context::Ntlm(ntlm, _) => {
                        $crate::ntlm::seal::sspi_unwrap(ntlm.as_mut(), header, ciphertext)
                    }
                    Context::Spnego(negotiate, _) => {
                        $crate::ntlm::seal::sspi_unwrap(negotiate.as_mut(), header, ciphertext)
                    }
                }
            }
        }
    };
}
#[cfg(test)]
pub(crate) use sspi_reference_sealer;

#[cfg(test)]
#[path = "seal_tests.rs"]
mod tests;
