//! A service's TLS configuration from PEM files: the certificate chain and its private key,
//! each read within [`MAX_PEM_BYTES`], served with rustls (ring) over TLS 1.2 and 1.3 with
//! ALPN `http/1.1`. Client certificates are the caller's choice: none (the console), or a
//! verifier that asks for them (the WinRM listener, decided at each handshake). How the key
//! file is judged is the caller's too ([`KeyFile`]).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use tokio_rustls::TlsAcceptor;

/// Largest PEM file read.
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// How the key file is judged before its bytes are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFile {
    /// A secret file: not a link, a regular file owned by this user or root, mode 0600 or
    /// stricter, judged on the opened file (`wsman_safe::read_private`).
    Private,
    /// Any readable file (the WinRM listener's `certs/THUMB.key` under the root-owned
    /// configuration directory, which `winrm` writes 0600 but an operator may place).
    Readable,
}

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

fn read_pem(path: &Path, key_file: KeyFile) -> Result<zeroize::Zeroizing<Vec<u8>>, TlsError> {
    let read = match key_file {
        KeyFile::Private => wsman_safe::read_private(path, MAX_PEM_BYTES).map_err(|e| e.into_io()),
        KeyFile::Readable => std::fs::File::open(path).and_then(|file| {
            let mut bytes = Vec::new();
            file.take(MAX_PEM_BYTES + 1).read_to_end(&mut bytes)?;
            match bytes.len() as u64 > MAX_PEM_BYTES {
                true => Err(std::io::Error::other(format!(
                    "larger than {MAX_PEM_BYTES} bytes"
                ))),
                false => Ok(bytes.into()),
            }
        }),
    };
    read.map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The certificate chain in `cert` and the key in `key` (judged as `key_file` says) as a
/// rustls server configuration; `clients` asks for client certificates.
pub fn load(
    cert: &Path,
    key: &Path,
    key_file: KeyFile,
    clients: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<ServedCertificate, TlsError> {
    let missing = |path: &Path, what| TlsError::Missing {
        path: path.to_owned(),
        what,
    };
    let cert_pem = read_pem(cert, KeyFile::Readable)?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|_| missing(cert, "certificate in PEM"))?;
    let leaf = chain
        .first()
        .cloned()
        .ok_or_else(|| missing(cert, "certificate"))?;
    let key_pem = read_pem(key, key_file)?;
    let private: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| missing(key, "private key"))?;
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
