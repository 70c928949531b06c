//! Listener certificates under `DIR/certs`: `THUMB.crt` + `THUMB.key` (PEM), THUMB being the
//! upper-case hex SHA-1 of the DER certificate, as Windows names certificates by thumbprint.
//!
//! Self-signed certificates are ECDSA P-256 (the `ring` backend cannot generate RSA keys), with
//! the host name as CN and subjectAltName and the Server Authentication EKU Windows requires.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use sha1::{Digest as _, Sha1};

use crate::fsutil::write_atomic;

/// Why a certificate could not be made, found or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot generate a certificate for {hostname:?}: {reason}")]
    Generate { hostname: String, reason: String },
    #[error("no certificate with thumbprint {thumbprint} in {}", dir.display())]
    NotFound { dir: PathBuf, thumbprint: String },
    #[error("{thumbprint:?} is not a certificate thumbprint (40 hexadecimal digits)")]
    InvalidThumbprint { thumbprint: String },
    #[error("{}: no PEM certificate in it", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: holds the certificate {actual}, not {expected}", path.display())]
    ThumbprintMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// Thumbprints as users paste them (spaces, lower case) in the stored spelling.
pub fn normalize_thumbprint(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// True for 40 hex digits: also what keeps a thumbprint from naming a path outside the dir.
pub fn is_valid_thumbprint(thumbprint: &str) -> bool {
    thumbprint.len() == 40 && thumbprint.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Upper-case hex SHA-1 of DER bytes.
pub fn thumbprint_of_der(der: &[u8]) -> String {
    let digest = Sha1::digest(der);
    let mut out = String::with_capacity(40);
    for b in digest {
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// The DER of the first `CERTIFICATE` block of a PEM document.
pub fn first_certificate_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let begin = "-----BEGIN CERTIFICATE-----";
    let start = text.find(begin)? + begin.len();
    let len = text[start..].find("-----END CERTIFICATE-----")?;
    let body: String = text[start..start + len]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Thumbprint of the first certificate of a PEM document.
pub fn thumbprint_of_pem(pem: &[u8]) -> Option<String> {
    first_certificate_der(pem).map(|der| thumbprint_of_der(&der))
}

/// Paths of the certificate and key files for `thumbprint` (already validated).
pub fn paths(certs_dir: &Path, thumbprint: &str) -> (PathBuf, PathBuf) {
    (
        certs_dir.join(format!("{thumbprint}.crt")),
        certs_dir.join(format!("{thumbprint}.key")),
    )
}

/// True when both files for `thumbprint` exist.
pub fn exists(certs_dir: &Path, thumbprint: &str) -> bool {
    if !is_valid_thumbprint(thumbprint) {
        return false;
    }
    let (crt, key) = paths(certs_dir, thumbprint);
    crt.is_file() && key.is_file()
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Generate a self-signed server certificate for `hostname`, store it, return its thumbprint.
pub fn generate_self_signed(certs_dir: &Path, hostname: &str) -> Result<String, CertError> {
    let gen_err = |e: rcgen::Error| CertError::Generate {
        hostname: hostname.to_owned(),
        reason: e.to_string(),
    };
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_owned()]).map_err(gen_err)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, hostname);
    params.distinguished_name = dn;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    let year = current_year();
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let key_pair = rcgen::KeyPair::generate().map_err(gen_err)?;
    let cert = params.self_signed(&key_pair).map_err(gen_err)?;
    let thumbprint = thumbprint_of_der(cert.der());
    fs::create_dir_all(certs_dir).map_err(io_err(certs_dir))?;
    let (crt_path, key_path) = paths(certs_dir, &thumbprint);
    write_atomic(&key_path, key_pair.serialize_pem().as_bytes(), 0o600)
        .map_err(io_err(&key_path))?;
    write_atomic(&crt_path, cert.pem().as_bytes(), 0o644).map_err(io_err(&crt_path))?;
    let marker = generated_marker(certs_dir, &thumbprint);
    write_atomic(&marker, b"", 0o644).map_err(io_err(&marker))?;
    Ok(thumbprint)
}

/// `certs/THUMB.generated`: present when wsmand generated the certificate for a listener, so
/// that deleting the listener may delete it too (an operator's own certificate is never
/// deleted).
fn generated_marker(certs_dir: &Path, thumbprint: &str) -> PathBuf {
    certs_dir.join(format!("{}.generated", normalize_thumbprint(thumbprint)))
}

/// Deletes a certificate wsmand generated (its `.crt`, `.key` and marker); leaves any other
/// alone. True when files were deleted.
pub fn remove_generated(certs_dir: &Path, thumbprint: &str) -> bool {
    let marker = generated_marker(certs_dir, thumbprint);
    if !marker.exists() {
        return false;
    }
    let (crt, key) = paths(certs_dir, thumbprint);
    let _ = fs::remove_file(&key);
    let _ = fs::remove_file(&crt);
    fs::remove_file(&marker).is_ok()
}

fn current_year() -> i32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Mean Gregorian year; off by at most a day around New Year, which a validity of
    // "last January to ten years on" absorbs.
    1970 + i32::try_from(secs / 31_556_952).unwrap_or(0)
}

/// Read `THUMB.crt` and `THUMB.key`; checks that the certificate is the one named.
pub fn load(certs_dir: &Path, thumbprint: &str) -> Result<(Vec<u8>, Vec<u8>), CertError> {
    let thumbprint = normalize_thumbprint(thumbprint);
    if !is_valid_thumbprint(&thumbprint) {
        return Err(CertError::InvalidThumbprint { thumbprint });
    }
    let (crt_path, key_path) = paths(certs_dir, &thumbprint);
    let read = |p: &Path| match fs::read(p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CertError::NotFound {
            dir: certs_dir.to_owned(),
            thumbprint: thumbprint.clone(),
        }),
        other => other.map_err(io_err(p)),
    };
    let cert = read(&crt_path)?;
    let key = read(&key_path)?;
    let actual = thumbprint_of_pem(&cert).ok_or_else(|| CertError::NoCertificate {
        path: crt_path.clone(),
    })?;
    if actual != thumbprint {
        return Err(CertError::ThumbprintMismatch {
            path: crt_path,
            expected: thumbprint,
            actual,
        });
    }
    Ok((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn generate_store_load() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        let thumb = generate_self_signed(&certs, "host.example").unwrap();
        assert!(is_valid_thumbprint(&thumb));
        assert_eq!(thumb, thumb.to_ascii_uppercase());
        let (crt, key) = paths(&certs, &thumb);
        assert_eq!(fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&crt).unwrap().mode() & 0o777, 0o644);
        let (cert_pem, key_pem) = load(&certs, &thumb.to_ascii_lowercase()).unwrap();
        assert_eq!(
            thumbprint_of_pem(&cert_pem).as_deref(),
            Some(thumb.as_str())
        );
        assert!(String::from_utf8(key_pem).unwrap().contains("PRIVATE KEY"));
        assert!(exists(&certs, &thumb));
        // An IP address works as a host name too.
        assert!(generate_self_signed(&certs, "127.0.0.1").is_ok());
    }

    #[test]
    fn thumbprint_is_sha1_of_der() {
        // SHA-1 of the empty string, as a known answer.
        assert_eq!(
            thumbprint_of_der(b""),
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"
        );
        let pem = b"-----BEGIN CERTIFICATE-----\nYWJj\n-----END CERTIFICATE-----\n";
        assert_eq!(first_certificate_der(pem).unwrap(), b"abc");
        assert_eq!(
            thumbprint_of_pem(pem).unwrap(),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
    }

    #[test]
    fn load_refuses_bad_or_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load(dir.path(), "../../etc/passwd"),
            Err(CertError::InvalidThumbprint { .. })
        ));
        assert!(matches!(
            load(dir.path(), &"A".repeat(40)),
            Err(CertError::NotFound { .. })
        ));
        assert_eq!(normalize_thumbprint(" ab cd "), "ABCD");
    }
}
