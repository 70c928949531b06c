use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;

/// A file with `text` and permission bits `mode` in `dir`.
fn file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

/// A self-signed certificate and its key, in PEM.
fn pair() -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let certificate = params.self_signed(&key).expect("certificate");
    (certificate.pem(), key.serialize_pem())
}

#[test]
fn reads_a_chain_and_refuses_a_file_without_one() {
    let dir = tempfile::tempdir().expect("dir");
    let (one, _) = pair();
    let (two, _) = pair();
    let chain = file(dir.path(), "chain.pem", &format!("{one}{two}"), 0o644);
    assert_eq!(certificates(&chain).expect("chain").len(), 2);
    let none = file(dir.path(), "none.pem", "nothing here\n", 0o644);
    let error = certificates(&none).expect_err("no certificate");
    assert!(matches!(error, PemError::NoCertificate { .. }), "{error}");
    assert!(error.to_string().contains("none.pem: no PEM certificate"));
    let missing = certificates(&dir.path().join("absent.pem")).expect_err("absent");
    assert!(missing.is_unreadable() && missing.path().ends_with("absent.pem"));
    let big = file(
        dir.path(),
        "big.pem",
        &"x".repeat(MAX_PEM_BYTES as usize + 1),
        0o644,
    );
    assert!(matches!(certificates(&big), Err(PemError::TooLarge { .. })));
}

#[test]
fn a_private_key_is_read_as_a_secret_file() {
    let dir = tempfile::tempdir().expect("dir");
    let (certificate, key) = pair();
    let open = file(dir.path(), "open.key", &key, 0o644);
    let error = private_key(&open, KeyFile::Private).expect_err("0644 is no secret");
    assert!(
        matches!(
            error,
            PemError::Secret {
                source: PrivateFileError::Mode { .. },
                ..
            }
        ),
        "{error}"
    );
    // The same file where its directory guards it.
    assert!(private_key(&open, KeyFile::Readable).is_ok());
    let secret = file(dir.path(), "secret.key", &key, 0o600);
    assert!(private_key(&secret, KeyFile::Private).is_ok());
    let link = dir.path().join("link.key");
    std::os::unix::fs::symlink(&secret, &link).expect("symlink");
    assert!(matches!(
        private_key(&link, KeyFile::Private),
        Err(PemError::Secret {
            source: PrivateFileError::Link,
            ..
        })
    ));
    let no_key = file(dir.path(), "cert.key", &certificate, 0o600);
    let error = private_key(&no_key, KeyFile::Private).expect_err("no key");
    assert!(
        error.to_string().ends_with("cert.key: no PEM private key"),
        "{error}"
    );
}

#[test]
fn tells_a_certificate_file_that_carries_its_key() {
    let dir = tempfile::tempdir().expect("dir");
    let (certificate, key) = pair();
    let both = file(
        dir.path(),
        "both.pem",
        &format!("{certificate}{key}"),
        0o600,
    );
    let alone = file(dir.path(), "alone.pem", &certificate, 0o644);
    assert!(holds_private_key(&both).expect("read"));
    assert!(!holds_private_key(&alone).expect("read"));
}
