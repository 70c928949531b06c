//! Throwaway certificate authorities and client certificates for the certificate profile
//! tests: a CA installed as `certs/THUMB.crt` in a config dir, and client certificates it
//! signs, written as PEM files for curl, the CLIs and the Python clients.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use crate::ConfigDir;

/// OID of the Microsoft UPN `otherName` that Windows client certificates carry.
const UPN_OID: [u64; 10] = [1, 3, 6, 1, 4, 1, 311, 20, 2, 3];

/// A CA that exists only for one test.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    /// Upper-case hex SHA-1 of the CA certificate: the certmapping `Issuer`.
    pub thumbprint: String,
}

/// What a client certificate looks like.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    /// The subjectAltName UPN (what a certmapping `Subject` matches).
    pub upn: String,
    /// Carries the Client Authentication EKU (Windows and wsmand require it).
    pub client_auth: bool,
    /// Validity ended in 2002.
    pub expired: bool,
}

impl ClientSpec {
    /// A valid client certificate for `upn`.
    pub fn new(upn: &str) -> Self {
        Self {
            upn: upn.to_owned(),
            client_auth: true,
            expired: false,
        }
    }
}

/// A client certificate and key on disk (separate PEM files, and both in one).
#[derive(Clone, Debug)]
pub struct ClientFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// Certificate then key, in one PEM file.
    pub combined: PathBuf,
    /// Upper-case hex SHA-1 of the client certificate.
    pub thumbprint: String,
}

/// A certificate's thumbprint as WinRM names it: the SHA-1 of its DER, in upper-case hex.
pub fn thumbprint(der: &[u8]) -> String {
    Sha1::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

impl TestCa {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Self {
        Self::signed_by(name, None)
    }

    /// A CA named `name` that this one signs (an intermediate).
    pub fn intermediate(&self, name: &str) -> Self {
        Self::signed_by(name, Some(self))
    }

    fn signed_by(name: &str, issuer: Option<&TestCa>) -> Self {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = match issuer {
            None => params.self_signed(&key),
            Some(issuer) => issuer.sign(params, &key),
        }
        .expect("CA certificate");
        let thumbprint = thumbprint(cert.der());
        Self {
            cert,
            key,
            thumbprint,
        }
    }

    /// The CA certificate as PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate (for a chain that carries it).
    pub fn certificate(&self) -> &rcgen::Certificate {
        &self.cert
    }

    /// The certificate of `params` for `key`, signed by this CA.
    pub fn sign(
        &self,
        params: rcgen::CertificateParams,
        key: &rcgen::KeyPair,
    ) -> Result<rcgen::Certificate, rcgen::Error> {
        params.signed_by(key, &self.cert, &self.key)
    }

    /// Turns on certificate authentication in `config` with an HTTPS listener on `https_port`
    /// and this CA trusted for client certificates.
    pub fn enable_for(&self, config: &mut ConfigDir, https_port: u16) {
        config.add_https_listener(https_port);
        config.set("Config.Service.Auth", "Certificate", "true");
        self.install(config);
    }

    /// Install as `certs/THUMB.crt` in `config` (no key: the server only verifies with it).
    pub fn install(&self, config: &ConfigDir) -> String {
        config.write_raw(&format!("certs/{}.crt", self.thumbprint), &self.pem());
        self.thumbprint.clone()
    }

    /// Issue a client certificate and write it under `dir` as `NAME.crt`, `NAME.key` and
    /// `NAME.pem` (both).
    pub fn issue(&self, spec: &ClientSpec, dir: &Path, name: &str) -> ClientFiles {
        let key = rcgen::KeyPair::generate().expect("client key");
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, spec.upn.as_str());
        params.subject_alt_names = vec![rcgen::SanType::OtherName((
            UPN_OID.to_vec(),
            rcgen::OtherNameValue::Utf8String(spec.upn.clone()),
        ))];
        params.extended_key_usages = if spec.client_auth {
            vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth]
        } else {
            vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth]
        };
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        if spec.expired {
            params.not_before = rcgen::date_time_ymd(2001, 1, 1);
            params.not_after = rcgen::date_time_ymd(2002, 1, 1);
        } else {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2090, 1, 1);
        }
        let cert = self.sign(params, &key).expect("sign client certificate");
        std::fs::create_dir_all(dir).expect("client certificate dir");
        let files = ClientFiles {
            certificate: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
            combined: dir.join(format!("{name}.pem")),
            thumbprint: thumbprint(cert.der()),
        };
        let key_pem = key.serialize_pem();
        std::fs::write(&files.certificate, cert.pem()).expect("write client certificate");
        std::fs::write(&files.key, &key_pem).expect("write client key");
        std::fs::write(&files.combined, format!("{}{key_pem}", cert.pem()))
            .expect("write combined PEM");
        // A key the user names is a secret file: this user's, 0600.
        for secret in [&files.key, &files.combined] {
            std::fs::set_permissions(secret, std::fs::Permissions::from_mode(0o600))
                .expect("chmod client key");
        }
        files
    }
}
