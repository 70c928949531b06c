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

#[cfg(test)]
mod tests;
