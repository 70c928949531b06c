use std::path::Path;

use super::*;

/// A self-signed client certificate: (certificate PEM, key PEM, thumbprint).
fn client_pem() -> (String, String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.self_signed(&key).unwrap();
    let digest = {
        use std::fmt::Write as _;
        let mut out = String::new();
        // SHA-1 is not a dependency here: name the files with a fake thumbprint instead.
        for b in &cert.der()[..20] {
            let _ = write!(out, "{b:02X}");
        }
        out
    };
    (cert.pem(), key.serialize_pem(), digest)
}

/// A file only its owner may read, as a key the user names must be.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn options(c: ClientCertificate) -> TlsOptions {
    TlsOptions {
        skip_ca_check: true,
        client_certificate: Some(c),
        ..TlsOptions::default()
    }
}

#[test]
fn thumbprint_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, thumb) = client_pem();
    write(dir.path(), &format!("{thumb}.crt"), &cert);
    write(dir.path(), &format!("{thumb}.key"), &key);
    let c = ClientCertificate::from_argument(&thumb.to_ascii_lowercase(), dir.path()).unwrap();
    assert_eq!(c.key, dir.path().join(format!("{thumb}.key")));
    assert!(client_config(&options(c)).is_ok());
    let missing = "0".repeat(40);
    assert!(ClientCertificate::from_argument(&missing, dir.path()).is_err());
    assert!(ClientCertificate::from_directory(dir.path(), "../etc/passwd").is_err());
}

#[test]
fn pem_paths_combined_or_with_a_key_beside() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = client_pem();
    let both = write(dir.path(), "both.pem", &format!("{cert}{key}"));
    let c = ClientCertificate::from_argument(both.to_str().unwrap(), dir.path()).unwrap();
    assert_eq!(c.key, both);
    assert!(client_config(&options(c)).is_ok());

    let alone = write(dir.path(), "client.crt", &cert);
    write(dir.path(), "client.key", &key);
    let c = ClientCertificate::from_argument(alone.to_str().unwrap(), dir.path()).unwrap();
    assert_eq!(c.key, dir.path().join("client.key"));
    assert!(client_config(&options(c)).is_ok());
}

#[test]
fn a_key_the_user_names_is_a_secret_file_and_one_in_a_certificate_directory_is_read() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, thumb) = client_pem();
    let crt = write(dir.path(), &format!("{thumb}.crt"), &cert);
    let key = write(dir.path(), &format!("{thumb}.key"), &key);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = client_config(&options(ClientCertificate::from_files(&crt, &key)))
        .err()
        .unwrap();
    assert!(e.to_string().contains("0644"), "{e}");
    let listed = ClientCertificate::from_directory(dir.path(), &thumb).unwrap();
    assert_eq!(listed.key_file, KeyFile::Readable);
    assert!(client_config(&options(listed)).is_ok());
}

#[test]
fn unusable_files_fail_when_the_configuration_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _, _) = client_pem();
    let crt = write(dir.path(), "c.crt", &cert);
    let not_a_key = write(dir.path(), "k.key", "nothing here");
    let e = client_config(&options(ClientCertificate::from_files(&crt, &not_a_key)))
        .err()
        .unwrap();
    assert!(e.to_string().contains("private key"), "{e}");
    let e = client_config(&options(ClientCertificate::from_files(&not_a_key, &crt)))
        .err()
        .unwrap();
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
    // A key that does not belong to the certificate.
    let (_, other_key, _) = client_pem();
    let wrong = write(dir.path(), "wrong.key", &other_key);
    assert!(client_config(&options(ClientCertificate::from_files(&crt, &wrong))).is_err());
    assert!(ClientCertificate::from_argument("/nonexistent/x.pem", dir.path()).is_err());
}

#[test]
fn a_pinned_server_certificate_is_trusted_as_itself_and_no_other() {
    use rustls::client::danger::ServerCertVerifier as _;
    use sha1::Digest as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let named = rcgen::generate_simple_self_signed(vec!["collector.example".to_owned()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["collector.example".to_owned()]).unwrap();
    let thumbprint: String = sha1::Sha1::digest(named.cert.der())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let verifier = PinnedVerifier::new(&thumbprint, provider).unwrap();
    // Another name than the certificate's: the thumbprint is what is checked.
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let now = rustls::pki_types::UnixTime::now();
    assert!(verifier
        .verify_server_cert(named.cert.der(), &[], &name, &[], now)
        .is_ok());
    assert!(verifier
        .verify_server_cert(other.cert.der(), &[], &name, &[], now)
        .is_err());
    assert!(PinnedVerifier::new("not a thumbprint", verifier.provider.clone()).is_err());
    let options = TlsOptions {
        server_thumbprint: Some(thumbprint),
        ..TlsOptions::default()
    };
    assert!(client_config(&options).is_ok());
}

#[test]
fn a_client_certificate_is_found_by_its_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let ca_thumb: String = {
        use sha1::Digest as _;
        sha1::Sha1::digest(ca.der())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    };
    write(dir.path(), &format!("{ca_thumb}.crt"), &ca.pem());
    // A self-signed certificate with a key: not issued by the CA, so not chosen.
    let (cert, key, _) = client_pem();
    write(dir.path(), "0A.crt", &cert);
    write(dir.path(), "0A.key", &key);
    assert!(ClientCertificate::issued_by(dir.path(), &ca_thumb).is_err());
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = params.signed_by(&client_key, &ca, &ca_key).unwrap();
    write(dir.path(), "0B.crt", &client.pem());
    write(dir.path(), "0B.key", &client_key.serialize_pem());
    let found = ClientCertificate::issued_by(dir.path(), &ca_thumb.to_ascii_lowercase()).unwrap();
    assert_eq!(found.certificate, dir.path().join("0B.crt"));
    assert_eq!(found.key, dir.path().join("0B.key"));
}
