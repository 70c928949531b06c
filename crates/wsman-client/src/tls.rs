//! TLS client configuration: trust the system roots or a given CA/certificate file, the two
//! checks `winrm.cmd` lets a user switch off (`-skipCAcheck`, `-skipCNcheck`), and the client
//! certificate of `-a:Certificate -certificate:THUMB|PATH` ([`ClientCertificate`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

pub use wsman_safe::pem::KeyFile;

use crate::error::{ClientError, TlsFailure};

/// How to check the server's certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsOptions {
    /// A PEM file of trusted certificates (a CA, or the server's own self-signed certificate).
    /// When absent, the system's root store is used.
    pub ca_file: Option<PathBuf>,
    /// Accept a certificate no trusted root vouches for. Dangerous: anyone on the path can
    /// pose as the server. The host name is still checked unless `skip_cn_check` is set too.
    pub skip_ca_check: bool,
    /// Accept a certificate issued for another host name. Dangerous: a certificate for any
    /// other host signed by a trusted CA is accepted.
    pub skip_cn_check: bool,
    /// A certificate (and its key) to present when the server asks for one: the certificate
    /// profile (`Authorization: http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual`).
    pub client_certificate: Option<ClientCertificate>,
    /// Trust exactly the server certificate with this SHA-1 thumbprint (40 hex digits), in
    /// place of any root: a push subscriber names its own certificate so (DSP0226's
    /// `wsman:CertificateThumbprint`). Neither chain, name nor dates are checked (the
    /// subscriber named this very certificate); the handshake's signatures are.
    pub server_thumbprint: Option<String>,
}

/// The `Authorization` value that selects client certificate authentication (the certificate
/// profile); sent on every request over HTTPS together with [`TlsOptions::client_certificate`].
pub const CERTIFICATE_AUTHORIZATION: &str = wsman_proto::ns::secprofile::HTTPS_MUTUAL;

/// A client certificate and its private key, both PEM files (they may be the same file).
/// Read when the TLS configuration is built, so a missing or wrong file fails early.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCertificate {
    /// The certificate, optionally followed by its chain.
    pub certificate: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// How the key file is judged: a secret file when named by the user or the configuration,
    /// any readable file in a certificate directory (the listener's rule for `certs/`).
    pub key_file: KeyFile,
}

impl ClientCertificate {
    /// Certificate and key in separate files.
    pub fn from_files(certificate: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            certificate: certificate.into(),
            key: key.into(),
            key_file: KeyFile::Private,
        }
    }

    /// `THUMB` in a certificate directory: `DIR/THUMB.crt` and `DIR/THUMB.key`, the layout of
    /// wsmand's `certs/` directory.
    pub fn from_directory(certs_dir: &Path, thumbprint: &str) -> Result<Self, ClientError> {
        let thumb: String = thumbprint
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        if !is_thumbprint(&thumb) {
            return Err(ClientError::configuration(format!(
                "{thumbprint:?} is not a certificate thumbprint (40 hexadecimal digits)"
            )));
        }
        let certificate = certs_dir.join(format!("{thumb}.crt"));
        let key = certs_dir.join(format!("{thumb}.key"));
        for path in [&certificate, &key] {
            if !path.is_file() {
                return Err(ClientError::configuration(format!(
                    "no client certificate {thumb}: {} does not exist",
                    path.display()
                )));
            }
        }
        Ok(Self {
            certificate,
            key,
            key_file: KeyFile::Readable,
        })
    }

    /// A certificate of `certs_dir` (`THUMB.crt` with its `THUMB.key`) issued directly by the
    /// CA `certs_dir/ISSUER.crt` for client authentication, as a Windows source picks one from
    /// its store for a subscriber that names the issuer; the first by file name.
    pub fn issued_by(certs_dir: &Path, issuer: &str) -> Result<Self, ClientError> {
        let issuer = issuer.to_ascii_uppercase();
        // The issuer names a file of `certs_dir`: a thumbprint, never a path.
        if !is_thumbprint(&issuer) {
            return Err(ClientError::configuration(format!(
                "{issuer:?} is not an issuer thumbprint (40 hexadecimal digits)"
            )));
        }
        let ca = read_pem_certs(&certs_dir.join(format!("{issuer}.crt")))?;
        let ca = ca
            .first()
            .ok_or_else(|| ClientError::configuration(format!("no issuer certificate {issuer}")))?;
        let anchor = webpki::anchor_from_trusted_cert(ca).map_err(|e| {
            ClientError::configuration(format!("issuer {issuer} cannot be a trust anchor: {e}"))
        })?;
        let mut names: Vec<PathBuf> = std::fs::read_dir(certs_dir)
            .map_err(|e| {
                ClientError::configuration(format!("cannot read {}: {e}", certs_dir.display()))
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        names.sort();
        let now = rustls::pki_types::UnixTime::now();
        let algorithms = rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all;
        for certificate in names {
            let key = certificate.with_extension("key");
            if !key.is_file() {
                continue;
            }
            let Ok(chain) = read_pem_certs(&certificate) else {
                continue;
            };
            let Some(Ok(end_entity)) = chain.first().map(webpki::EndEntityCert::try_from) else {
                continue;
            };
            let issued = end_entity.verify_for_usage(
                algorithms,
                std::slice::from_ref(&anchor),
                &[],
                now,
                webpki::KeyUsage::client_auth(),
                None,
                None,
            );
            if issued.is_ok() {
                return Ok(Self {
                    certificate,
                    key,
                    key_file: KeyFile::Readable,
                });
            }
        }
        Err(ClientError::configuration(format!(
            "no client certificate with a key in {} is issued by {issuer}",
            certs_dir.display()
        )))
    }

    /// What `-certificate:` names: a thumbprint (40 hex digits) found in `certs_dir`, else a
    /// PEM file path. A PEM file holding a private key is used for both; otherwise the key
    /// is looked for next to it, with the extension `.key`.
    pub fn from_argument(argument: &str, certs_dir: &Path) -> Result<Self, ClientError> {
        let compact: String = argument.chars().filter(|c| !c.is_whitespace()).collect();
        if is_thumbprint(&compact) && !Path::new(argument).is_file() {
            return Self::from_directory(certs_dir, &compact);
        }
        let certificate = PathBuf::from(argument);
        let has_key = wsman_safe::pem::holds_private_key(&certificate).map_err(pem_error)?;
        let key = if has_key {
            certificate.clone()
        } else {
            certificate.with_extension("key")
        };
        Ok(Self::from_files(certificate, key))
    }

    /// The chain and key, parsed.
    fn load(
        &self,
    ) -> Result<
        (
            Vec<CertificateDer<'static>>,
            rustls::pki_types::PrivateKeyDer<'static>,
        ),
        ClientError,
    > {
        let chain = read_pem_certs(&self.certificate)?;
        let key = wsman_safe::pem::private_key(&self.key, self.key_file).map_err(pem_error)?;
        Ok((chain, key))
    }
}

fn is_thumbprint(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Bundles of system roots, by distribution (Debian/Ubuntu first).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Build the rustls configuration for these options (ring provider).
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::configuration(format!("TLS setup failed: {e}")))?;
    let roots = if options.skip_ca_check || options.server_thumbprint.is_some() {
        None
    } else {
        Some(Arc::new(load_roots(options.ca_file.as_deref())?))
    };
    let client_certificate = match &options.client_certificate {
        Some(c) => Some(c.load()?),
        None => None,
    };
    let builder = if let Some(thumbprint) = &options.server_thumbprint {
        let verifier = PinnedVerifier::new(thumbprint, provider)?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    } else if let (Some(roots), false) = (roots.as_ref(), options.skip_cn_check) {
        builder.with_root_certificates(roots.clone())
    } else {
        let verifier = danger::RelaxedVerifier::new(roots, options.skip_cn_check, provider)?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    };
    let config = match client_certificate {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            ClientError::configuration(format!("the client certificate cannot be used: {e}"))
        })?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn load_roots(ca_file: Option<&Path>) -> Result<RootCertStore, ClientError> {
    let mut store = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = read_pem_certs(path)?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(ClientError::configuration(format!(
                    "no usable certificate in {}",
                    path.display()
                )));
            }
        }
        None => {
            let env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
            let candidates = env
                .into_iter()
                .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from));
            for path in candidates {
                if let Ok(certs) = read_pem_certs(&path) {
                    store.add_parsable_certificates(certs);
                    if !store.is_empty() {
                        break;
                    }
                }
            }
            if store.is_empty() {
                return Err(ClientError::configuration(
                    "no trusted root certificates found on this system (install ca-certificates, \
                     or give the server's CA certificate file)",
                ));
            }
        }
    }
    Ok(store)
}

/// The certificates of a PEM file, at least one.
fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    wsman_safe::pem::certificates(path).map_err(pem_error)
}

fn pem_error(error: wsman_safe::pem::PemError) -> ClientError {
    ClientError::configuration(error.to_string())
}

/// Trusts the one server certificate a thumbprint names ([`TlsOptions::server_thumbprint`]).
#[derive(Debug)]
struct PinnedVerifier {
    thumbprint: [u8; 20],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl PinnedVerifier {
    fn new(
        thumbprint: &str,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, ClientError> {
        let compact: String = thumbprint.chars().filter(|c| !c.is_whitespace()).collect();
        let mut bytes = [0u8; 20];
        let parsed = is_thumbprint(&compact)
            && bytes.iter_mut().enumerate().all(|(i, b)| {
                u8::from_str_radix(&compact[2 * i..2 * i + 2], 16)
                    .map(|v| *b = v)
                    .is_ok()
            });
        if !parsed {
            return Err(ClientError::configuration(format!(
                "{thumbprint:?} is not a certificate thumbprint (40 hexadecimal digits)"
            )));
        }
        Ok(Self {
            thumbprint: bytes,
            provider,
        })
    }
}

impl rustls::client::danger::ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use sha1::Digest as _;
        if sha1::Sha1::digest(end_entity.as_ref()).as_slice() != self.thumbprint {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    wsman_auth::provider_signature_checks!(provider);
}

/// Classify a handshake error for the user (and for the CLI's error numbers).
pub(crate) fn classify(err: &rustls::Error) -> TlsFailure {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer | C::BadSignature => TlsFailure::UnknownIssuer,
            C::NotValidForName | C::NotValidForNameContext { .. } => TlsFailure::NameMismatch,
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => TlsFailure::Expired,
            _ => TlsFailure::Other,
        },
        _ => TlsFailure::Other,
    }
}

/// Certificate verifiers that switch checks off. Everything in here weakens TLS; it exists
/// because `winrm.cmd` offers `-skipCAcheck` and `-skipCNcheck` for lab hosts with
/// self-signed certificates. Handshake signatures are always verified.
pub mod danger {
    use std::sync::Arc;

    use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
    use rustls::client::WebPkiServerVerifier;
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::server::ParsedCertificate;
    use rustls::{CertificateError, Error, RootCertStore};

    use crate::error::ClientError;

    /// A verifier that skips the chain check (when built without roots), the name check
    /// (when `skip_name` is set), or both.
    #[derive(Debug)]
    pub struct RelaxedVerifier {
        chain: Option<Arc<WebPkiServerVerifier>>,
        skip_name: bool,
        provider: Arc<CryptoProvider>,
    }

    impl RelaxedVerifier {
        /// `roots: None` skips the CA check; `skip_name` skips the host-name check.
        pub fn new(
            roots: Option<Arc<RootCertStore>>,
            skip_name: bool,
            provider: Arc<CryptoProvider>,
        ) -> Result<Self, ClientError> {
            let chain = match roots {
                Some(r) => Some(
                    WebPkiServerVerifier::builder_with_provider(r, provider.clone())
                        .build()
                        .map_err(|e| {
                            ClientError::configuration(format!("TLS verifier setup failed: {e}"))
                        })?,
                ),
                None => None,
            };
            Ok(Self {
                chain,
                skip_name,
                provider,
            })
        }
    }

    impl ServerCertVerifier for RelaxedVerifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            match &self.chain {
                Some(chain) => {
                    match chain.verify_server_cert(
                        end_entity,
                        intermediates,
                        server_name,
                        ocsp_response,
                        now,
                    ) {
                        Ok(v) => Ok(v),
                        // The name is checked after the chain: this error means the chain was good.
                        Err(Error::InvalidCertificate(
                            CertificateError::NotValidForName
                            | CertificateError::NotValidForNameContext { .. },
                        )) if self.skip_name => Ok(ServerCertVerified::assertion()),
                        Err(e) => Err(e),
                    }
                }
                None => {
                    if !self.skip_name {
                        let parsed = ParsedCertificate::try_from(end_entity)?;
                        rustls::client::verify_server_name(&parsed, server_name)?;
                    }
                    Ok(ServerCertVerified::assertion())
                }
            }
        }

        wsman_auth::provider_signature_checks!(provider);
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
