//! The run's certificates, made with rcgen: a CA (written once, `fleet-load ca`, so the
//! collector can be told to trust it before the run) and one client certificate per
//! forwarder, as Windows forwarders each present their machine's.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// The CA's subject: the same each time it is rebuilt from its key, so certificates issued by
/// a later process chain to the certificate `ca` wrote.
const CA_NAME: &str = "fleet-load forwarders CA";

/// The CA that issues the forwarders' certificates.
pub(crate) struct Authority {
    key: KeyPair,
    certificate: Certificate,
}

fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

impl Authority {
    /// A new CA, written to `dir/ca.crt` and `dir/ca.key`.
    pub(crate) fn create(dir: &Path) -> anyhow::Result<()> {
        let key = KeyPair::generate()?;
        let certificate = ca_params()?.self_signed(&key)?;
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.crt"), certificate.pem())?;
        std::fs::write(dir.join("ca.key"), key.serialize_pem())?;
        Ok(())
    }

    /// The CA of `dir/ca.key`.
    pub(crate) fn load(dir: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read_to_string(dir.join("ca.key")).context("read ca.key")?;
        let key = KeyPair::from_pem(&pem)?;
        let certificate = ca_params()?.self_signed(&key)?;
        Ok(Self { key, certificate })
    }

    /// A client certificate for `name` (subject CN and DNS name, client authentication) and
    /// its key.
    pub(crate) fn issue(
        &self,
        name: &str,
    ) -> anyhow::Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![name.to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let certificate = params.signed_by(&key, &self.certificate, &self.key)?;
        Ok((
            certificate.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ))
    }
}

/// The collector's certificate (or its CA), from a PEM file.
pub(crate) fn roots(path: &Path) -> anyhow::Result<Arc<rustls::RootCertStore>> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in wsman_safe::pem::certificates(path)? {
        roots.add(certificate)?;
    }
    anyhow::ensure!(!roots.is_empty(), "no certificate in {}", path.display());
    Ok(Arc::new(roots))
}

/// A TLS client presenting `certificate`, trusting `roots`.
pub(crate) fn client_config(
    roots: &Arc<rustls::RootCertStore>,
    certificate: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(Arc::clone(roots))
        .with_client_auth_cert(vec![certificate], key)?;
    Ok(Arc::new(config))
}

/// The name the collector's certificate is checked against: an IP address or a host name.
pub(crate) fn server_name(host: &str) -> anyhow::Result<ServerName<'static>> {
    Ok(ServerName::try_from(host.to_owned())?)
}
