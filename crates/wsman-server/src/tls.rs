//! TLS for HTTPS listeners: the certificate named by the listener's CertificateThumbprint,
//! read from `DIR/certs/THUMB.crt` and `DIR/certs/THUMB.key` (PEM), served with rustls (ring).

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

/// Why an HTTPS listener has no usable certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("HTTPS listener has no CertificateThumbprint")]
    NoThumbprint,
    #[error("CertificateThumbprint {thumbprint:?} is not a hex SHA-1 thumbprint")]
    BadThumbprint { thumbprint: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no certificate or key")]
    Empty { path: PathBuf },
    #[error("certificate {thumbprint} rejected: {source}")]
    Rustls {
        thumbprint: String,
        source: rustls::Error,
    },
}

/// A TLS acceptor for the certificate `thumbprint` under `config_dir/certs`.
pub fn acceptor(config_dir: &Path, thumbprint: &str) -> Result<TlsAcceptor, TlsError> {
    build(config_dir, thumbprint, None)
}

/// Like [`acceptor`], and clients may present a certificate when `client_certificates` asks
/// for one (see [`crate::auth::certificate::ClientCertificateRequest`]: decided at each handshake, so
/// switching Service/Auth/Certificate needs no new acceptor).
pub fn acceptor_requesting_client_certificates(
    config_dir: &Path,
    thumbprint: &str,
    client_certificates: Arc<dyn rustls::server::danger::ClientCertVerifier>,
) -> Result<TlsAcceptor, TlsError> {
    build(config_dir, thumbprint, Some(client_certificates))
}

fn build(
    config_dir: &Path,
    thumbprint: &str,
    client_certificates: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Result<TlsAcceptor, TlsError> {
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
    let crt_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let crt = read(&crt_path)?;
    let key = read(&key_path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut BufReader::new(&crt[..]))
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::Empty { path: crt_path });
    }
    let key = rustls_pemfile::private_key(&mut BufReader::new(&key[..]))
        .ok()
        .flatten()
        .ok_or(TlsError::Empty { path: key_path })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            match client_certificates {
                Some(verifier) => b.with_client_cert_verifier(verifier),
                None => b.with_no_client_auth(),
            }
            .with_single_cert(certs, key)
        })
        .map_err(|source| TlsError::Rustls {
            thumbprint: name.clone(),
            source,
        })?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
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
            Err(TlsError::Read { .. })
        ));
    }
}
