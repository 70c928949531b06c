//! TLS for HTTPS listeners: the certificate named by the listener's CertificateThumbprint,
//! `DIR/certs/THUMB.crt` and `DIR/certs/THUMB.key` (PEM), loaded by the front door
//! (`wsman_front::tls`).

use std::path::Path;
use std::sync::Arc;

use rustls::server::danger::ClientCertVerifier;
use tokio_rustls::TlsAcceptor;
use wsman_front::tls::{KeyFile, ServedCertificate};

/// Why an HTTPS listener has no usable certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("HTTPS listener has no CertificateThumbprint")]
    NoThumbprint,
    #[error("CertificateThumbprint {thumbprint:?} is not a hex SHA-1 thumbprint")]
    BadThumbprint { thumbprint: String },
    #[error(transparent)]
    Load(#[from] wsman_front::tls::TlsError),
}

/// A TLS acceptor for the certificate `thumbprint` under `config_dir/certs`.
pub fn acceptor(config_dir: &Path, thumbprint: &str) -> Result<TlsAcceptor, TlsError> {
    Ok(certificate(config_dir, thumbprint, None)?.acceptor())
}

/// The certificate `thumbprint` under `config_dir/certs`, served; clients may present a
/// certificate when `client_certificates` asks for one (see
/// [`crate::auth::certificate::ClientCertificateRequest`]: decided at each handshake, so
/// switching Service/Auth/Certificate needs no new acceptor).
pub fn certificate(
    config_dir: &Path,
    thumbprint: &str,
    client_certificates: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<ServedCertificate, TlsError> {
    let thumbprint = thumbprint.trim();
    if thumbprint.is_empty() {
        return Err(TlsError::NoThumbprint);
    }
    if thumbprint.len() != 40 || !thumbprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TlsError::BadThumbprint {
            thumbprint: thumbprint.to_owned(),
        });
    }
    let name = thumbprint.to_ascii_uppercase();
    let dir = config_dir.join("certs");
    Ok(wsman_front::tls::load(
        &dir.join(format!("{name}.crt")),
        &dir.join(format!("{name}.key")),
        KeyFile::Readable,
        client_certificates,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        let dir = std::env::temp_dir();
        assert!(matches!(acceptor(&dir, ""), Err(TlsError::NoThumbprint)));
        assert!(matches!(
            acceptor(&dir, "xyz"),
            Err(TlsError::BadThumbprint { .. })
        ));
        assert!(matches!(
            acceptor(&dir, "0000000000000000000000000000000000000000"),
            Err(TlsError::Load(wsman_front::tls::TlsError::Read { .. }))
        ));
    }
}
