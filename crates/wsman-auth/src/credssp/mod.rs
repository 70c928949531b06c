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

use crate::sealing::{MessageSealer, SealError};

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
