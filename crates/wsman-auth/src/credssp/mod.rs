//! CredSSP (MS-CSSP) for WinRM: the TSRequest codec ([`ts_request`]), the in-memory TLS
//! session and its MS-WSMV sealer ([`tls`]), the acceptor ([`acceptor`]) and the initiator
//! ([`initiator`]). The inner authentication is NTLM (raw or SPNEGO) through the crate's own
//! acceptor and initiator. Kerberos inside CredSSP is accepted only through an
//! [`InnerKerberos`] the caller supplies (the server's GSS acceptor); otherwise it is refused
//! with a clear reason.

pub mod acceptor;
pub mod initiator;
pub mod tls;
pub mod ts_request;

pub use acceptor::{
    CredSspAcceptor, CredSspCompleted, CredSspError, CredSspStep, InnerKerberos,
    InnerKerberosError, InnerKerberosStep, Refusal,
};
pub use initiator::{CredSspClientError, CredSspInitiator};
pub use tls::{AcceptorCertificate, TlsError, TlsSealer};
pub use ts_request::{DecodeError, PasswordCredentials, TsRequest};

use sha2::{Digest, Sha256};

use crate::sealing::{MessageSealer, SealError};

/// The labels of the public-key binding hashes (MS-CSSP 3.1.5, version 5 and later).
const CLIENT_TO_SERVER: &[u8] = b"CredSSP Client-To-Server Binding Hash\0";
const SERVER_TO_CLIENT: &[u8] = b"CredSSP Server-To-Client Binding Hash\0";

/// SHA-256 of a binding label, the client's nonce and the TLS public key: what each side
/// seals to prove the TLS channel is the one it authenticated.
fn binding_hash(label: &[u8], nonce: &[u8; 32], public_key: &[u8]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(label);
    hash.update(nonce);
    hash.update(public_key);
    hash.finalize().to_vec()
}

/// The NTLM signature in front of the data of a blob the inner NTLM context seals.
const NTLM_SIGNATURE_LEN: usize = 16;

/// `pubKeyAuth` or `authInfo` sealed with the inner NTLM context: the signature, then the
/// data, in one blob (how both sides carry them).
fn seal_with_ntlm(sealer: &mut dyn MessageSealer, plain: &[u8]) -> Result<Vec<u8>, SealError> {
    let (mut signature, data) = sealer.wrap(plain)?;
    signature.extend_from_slice(&data);
    Ok(signature)
}

/// A blob of [`seal_with_ntlm`]'s form split into signature and data; `None` when it is
/// shorter than a signature.
fn split_ntlm_sealed(sealed: &[u8]) -> Option<(&[u8], &[u8])> {
    (sealed.len() >= NTLM_SIGNATURE_LEN).then(|| sealed.split_at(NTLM_SIGNATURE_LEN))
}

#[cfg(test)]
mod tests;
