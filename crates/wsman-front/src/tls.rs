//! A service's TLS configuration from PEM files: the certificate chain and its private key,
//! each read within [`MAX_PEM_BYTES`], served with rustls (ring) over TLS 1.2 and 1.3 with
//! ALPN `http/1.1`. Client certificates are the caller's choice: none (the console), or a
//! verifier that asks for them (the WinRM listener, decided at each handshake). How the key
//! file is judged is the caller's too ([`KeyFile`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::server::danger::ClientCertVerifier;
use tokio_rustls::TlsAcceptor;

/// Largest PEM file read.
pub use wsman_safe::pem::MAX_PEM_BYTES;

/// How the key file is judged before its bytes are used (`wsman_safe::pem`'s rule).
pub use wsman_safe::pem::KeyFile;

/// Why a certificate cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Not read: absent, unreadable, over [`MAX_PEM_BYTES`], or a key file that is no secret.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Read, but not PEM, or without the certificate or key expected.
    #[error("{path} holds no {what}")]
    Missing { path: PathBuf, what: &'static str },
    #[error("certificate {path} rejected: {source}")]
    Rustls {
        path: PathBuf,
        source: rustls::Error,
    },
}

/// A certificate ready to serve.
#[derive(Debug)]
pub struct ServedCertificate {
    pub config: Arc<rustls::ServerConfig>,
    /// The leaf certificate (fingerprints, channel bindings).
    pub leaf: CertificateDer<'static>,
}

impl ServedCertificate {
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.config))
    }
}

impl From<wsman_safe::pem::PemError> for TlsError {
    fn from(error: wsman_safe::pem::PemError) -> Self {
        use wsman_safe::pem::PemError;
        let path = error.path().to_owned();
        match error {
            PemError::NoCertificate { .. } | PemError::Pem { .. } => TlsError::Missing {
                path,
                what: "certificate in PEM",
            },
            PemError::NoKey { .. } => TlsError::Missing {
                path,
                what: "private key",
            },
            PemError::Read { source, .. } => TlsError::Read { path, source },
            PemError::Secret { source, .. } => TlsError::Read {
                path,
                source: source.into_io(),
            },
            other => TlsError::Read {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
            },
        }
    }
}

/// The certificate chain in `cert` and the key in `key` (judged as `key_file` says) as a
/// rustls server configuration; `clients` asks for client certificates.
pub fn load(
    cert: &Path,
    key: &Path,
    key_file: KeyFile,
    clients: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<ServedCertificate, TlsError> {
    let chain = wsman_safe::pem::certificates(cert)?;
    let leaf = chain.first().cloned().ok_or_else(|| TlsError::Missing {
        path: cert.to_owned(),
        what: "certificate",
    })?;
    let private = wsman_safe::pem::private_key(key, key_file)?;
    let rejected = |source| TlsError::Rustls {
        path: cert.to_owned(),
        source,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(rejected)?;
    let mut config = match clients {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    }
    .with_single_cert(chain, private)
    .map_err(rejected)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServedCertificate {
        config: Arc::new(config),
        leaf,
    })
}
