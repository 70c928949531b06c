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

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
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
