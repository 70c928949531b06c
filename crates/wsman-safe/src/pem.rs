//! PEM certificate chains and private keys, read here alone: a key through the secret-file
//! reader ([`read_private`](crate::read_private): no link, a regular file of this user or
//! root, 0600 or stricter, judged on the opened file), a certificate file bounded (it is
//! public: a CA bundle may be anyone's to read), both parsed by rustls' own PEM reader. The
//! daemon's listeners, its outgoing TLS (outputs, stores, forwarder, push deliveries) and the
//! clients call these, so that how a key file is judged is decided once (`clippy.toml` keeps
//! the PEM readers out of every other crate).

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::PrivateFileError;

/// Largest PEM file read (a certificate chain or a key is a few kilobytes; a CA bundle ~200).
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// How a key file is judged before its bytes are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFile {
    /// A secret file ([`read_private`](crate::read_private)): not a link, a regular file owned
    /// by this user or root, mode 0600 or stricter, judged on the opened file.
    Private,
    /// Any readable file, bounded: a key in the root-owned configuration directory's `certs/`
    /// (which `winrm` writes 0600 but an operator may place), whose directory is its guard.
    Readable,
}

/// Why a PEM file gave no certificate or key (names the file, never a key's content).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// Absent or unreadable.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// A key file refused as a secret (link, owner, mode, size).
    #[error("cannot read {}: {source}", path.display())]
    Secret {
        path: PathBuf,
        source: PrivateFileError,
    },
    /// Over [`MAX_PEM_BYTES`].
    #[error("{}: larger than {MAX_PEM_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    /// A PEM section that does not decode.
    #[error("{}: bad PEM: {source}", path.display())]
    Pem {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    /// Read, but without a certificate.
    #[error("{}: no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    /// Read, but without a private key.
    #[error("{}: no PEM private key", path.display())]
    NoKey { path: PathBuf },
}

impl PemError {
    /// True when the file could not be read at all (absent, unreadable, refused, too large),
    /// as opposed to read and found without what was asked for.
    pub fn is_unreadable(&self) -> bool {
        matches!(
            self,
            Self::Read { .. } | Self::Secret { .. } | Self::TooLarge { .. }
        )
    }

    /// The file named.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. }
            | Self::Secret { path, .. }
            | Self::TooLarge { path }
            | Self::Pem { path, .. }
            | Self::NoCertificate { path }
            | Self::NoKey { path } => path,
        }
    }
}

/// The certificates of the PEM file `path` (a chain, leaf first, or a CA bundle), at least
/// one. Blocking.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let bytes = read_bounded(path)?;
    parse_certificates(&bytes).map_err(|error| error.at(path))
}

/// The private key (PKCS#8, PKCS#1 or SEC1) of the PEM file `path`, the file judged as
/// `key_file` says. Blocking.
pub fn private_key(path: &Path, key_file: KeyFile) -> Result<PrivateKeyDer<'static>, PemError> {
    let bytes = match key_file {
        KeyFile::Private => {
            crate::read_private(path, MAX_PEM_BYTES).map_err(|source| match source {
                PrivateFileError::TooLarge { .. } => PemError::TooLarge {
                    path: path.to_owned(),
                },
                source => PemError::Secret {
                    path: path.to_owned(),
                    source,
                },
            })?
        }
        KeyFile::Readable => zeroize::Zeroizing::new(read_bounded(path)?),
    };
    parse_private_key(&bytes).map_err(|error| error.at(path))
}

/// The certificates of PEM text already in memory (a test's CA, a certificate received).
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemError> {
    #[allow(clippy::disallowed_methods)] // The one home of PEM parsing.
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| PemError::Pem {
            path: PathBuf::new(),
            source,
        })?;
    if certificates.is_empty() {
        return Err(PemError::NoCertificate {
            path: PathBuf::new(),
        });
    }
    Ok(certificates)
}

/// The first private key of PEM text already in memory.
pub fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, PemError> {
    #[allow(clippy::disallowed_methods)] // The one home of PEM parsing.
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => PemError::NoKey {
            path: PathBuf::new(),
        },
        source => PemError::Pem {
            path: PathBuf::new(),
            source,
        },
    })
}

/// Whether the PEM file `path` holds a private key (a client's certificate file that carries
/// its key too), judged on its text only: the key is read with [`private_key`] when used.
pub fn holds_private_key(path: &Path) -> Result<bool, PemError> {
    let bytes = zeroize::Zeroizing::new(read_bounded(path)?);
    Ok(parse_private_key(&bytes).is_ok())
}

impl PemError {
    /// This error about the file `path` (the parsers above know no path).
    fn at(self, path: &Path) -> Self {
        let path = path.to_owned();
        match self {
            Self::Pem { source, .. } => Self::Pem { path, source },
            Self::NoCertificate { .. } => Self::NoCertificate { path },
            Self::NoKey { .. } => Self::NoKey { path },
            other => other,
        }
    }
}

/// At most [`MAX_PEM_BYTES`] of the file `path` (one over tells it is too large).
fn read_bounded(path: &Path) -> Result<Vec<u8>, PemError> {
    let read_error = |source| PemError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(PemError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
#[path = "pem_tests.rs"]
mod tests;
