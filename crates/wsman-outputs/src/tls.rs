//! The TLS client of the network outputs (TCP, syslog, HTTP) and of the PostgreSQL stores:
//! its files as one settings struct ([`TlsClientFiles`], flattened into each output's settings
//! under the keys `ca_file`, `client_certificate`, `client_key`), and the rustls client built
//! from them. The files are read by `wsman_safe::pem`: the key as a secret file (no link, this
//! account's or root's, 0600 or stricter), the certificates bounded.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use serde::Deserialize;
use wsman_safe::pem::{KeyFile, PemError};

use super::OutputSettingError;
use crate::output_policy::{OutputsPolicy, PolicyError};

/// The TLS files of an output that speaks TLS to its receiver.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct TlsClientFiles {
    /// PEM file of the CA certificates that may issue the receiver's certificate (default:
    /// the Mozilla roots compiled in).
    pub ca_file: Option<String>,
    /// PEM file of our client certificate chain, for receivers that want one.
    pub client_certificate: Option<String>,
    /// PEM file of the client certificate's private key: a secret file, read at start, never
    /// logged.
    pub client_key: Option<String>,
}

impl TlsClientFiles {
    /// Each file named, with its setting's name.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("ca_file", &self.ca_file),
            ("client_certificate", &self.client_certificate),
            ("client_key", &self.client_key),
        ]
        .into_iter()
        .filter_map(|(setting, file)| file.as_deref().map(|file| (setting, file)))
    }

    /// Whether no file is named.
    pub fn is_empty(&self) -> bool {
        self.named().next().is_none()
    }

    /// Whether the client certificate comes with its key (or neither is named).
    pub fn paired(&self) -> bool {
        self.client_certificate.is_some() == self.client_key.is_some()
    }

    /// The first file named by a relative path (the files are read when the output starts,
    /// from wherever the daemon runs).
    pub fn relative(&self) -> Option<&str> {
        self.named()
            .map(|(_, file)| file)
            .find(|file| !file.starts_with('/'))
    }

    /// Why the node's `[outputs]` policy refuses one of these files to a `kind` output.
    pub(crate) fn admit(&self, kind: &str, policy: &OutputsPolicy) -> Result<(), PolicyError> {
        for (setting, file) in self.named() {
            policy.tls_file(&format!("{kind} output: {setting}"), file)?;
        }
        Ok(())
    }
}

/// Why a TLS setting of an output cannot be used (names the file, never a key's content).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error(transparent)]
    Pem(#[from] PemError),
    #[error("{path}: {source}")]
    Refused { path: String, source: rustls::Error },
    #[error("TLS: {0}")]
    Tls(#[source] rustls::Error),
    #[error("server name {0:?} is not a DNS name or an IP address")]
    ServerName(String),
}

fn refused(path: &str) -> impl FnOnce(rustls::Error) -> TlsSetupError + '_ {
    move |source| TlsSetupError::Refused {
        path: path.to_owned(),
        source,
    }
}

/// Why the TLS settings of a `kind` output are refused: TLS files or a server name without
/// `tls`, a certificate without its key, a relative path.
pub(crate) fn check_tls_settings(
    kind: &'static str,
    tls: bool,
    files: &TlsClientFiles,
    server_name: Option<&str>,
) -> Result<(), OutputSettingError> {
    if !tls && (!files.is_empty() || server_name.is_some()) {
        return Err(OutputSettingError::TlsSettingsWithoutTls(kind));
    }
    if !files.paired() {
        return Err(OutputSettingError::UnpairedClientKey(kind));
    }
    match files.relative() {
        Some(file) => Err(OutputSettingError::RelativeTlsFile(kind, file.to_owned())),
        None => Ok(()),
    }
}

/// A TLS client of a network output: the CA of `files` (or the compiled-in roots), its
/// client certificate when given, and `server_name`, the name the server's certificate must
/// carry.
pub(crate) fn client_tls(
    files: &TlsClientFiles,
    server_name: &str,
) -> Result<(Arc<ClientConfig>, ServerName<'static>), TlsSetupError> {
    let client = client_config(files)?;
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|_| TlsSetupError::ServerName(server_name.to_owned()))?;
    Ok((Arc::new(client), name))
}

/// The TLS client configuration of `client_tls`, for a client that names the server itself
/// (the PostgreSQL stores').
pub fn client_config(files: &TlsClientFiles) -> Result<ClientConfig, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    match files.ca_file.as_deref() {
        Some(path) => {
            for certificate in wsman_safe::pem::certificates(Path::new(path))? {
                roots.add(certificate).map_err(refused(path))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(TlsSetupError::Tls)?
            .with_root_certificates(roots);
    Ok(
        match (
            files.client_certificate.as_deref(),
            files.client_key.as_deref(),
        ) {
            (Some(chain), Some(key)) => {
                let key = wsman_safe::pem::private_key(Path::new(key), KeyFile::Private)?;
                let chain_path = Path::new(chain);
                builder
                    .with_client_auth_cert(wsman_safe::pem::certificates(chain_path)?, key)
                    .map_err(refused(chain))?
            }
            _ => builder.with_no_client_auth(),
        },
    )
}
