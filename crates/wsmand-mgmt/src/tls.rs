//! The service's certificate: `auto` (WMSVC's self-signed one: generated for the host name and
//! its addresses, kept in `DIR/mgmt-certs/`, renewed when it has under 30 days left or the
//! names changed) or PEM files, served through the front door (`wsman_front::tls`: TLS 1.2
//! and 1.3 only, the key file judged as a secret).

use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use sha2::{Digest as _, Sha256};
use wsman_config::mgmt::MgmtSettings;
use wsman_front::tls::KeyFile;

/// Validity of a generated certificate.
const AUTO_VALIDITY_DAYS: i64 = 365;
/// A generated certificate with fewer days left is replaced at start.
const RENEW_BEFORE_DAYS: i64 = 30;

/// The certificate the service presents, and its SHA-256 fingerprint for the log.
pub struct ServiceCertificate {
    /// The TLS configuration.
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the leaf certificate, colon-separated hex (as browsers show it).
    pub fingerprint: String,
    /// Where the certificate came from.
    pub source: PathBuf,
}

/// Days since 1970-01-01 to the civil date in UTC (jiff's calendar, not our own arithmetic).
fn civil_from_days(days: i64) -> anyhow::Result<(i32, u8, u8)> {
    let date = jiff::Timestamp::from_second(days.saturating_mul(86_400))?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    Ok((
        i32::from(date.year()),
        u8::try_from(date.month())?,
        u8::try_from(date.day())?,
    ))
}

fn today() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs / 86_400).unwrap_or(0)
}

/// The names a generated certificate covers: the host name, `localhost`, the loopback
/// addresses and every explicit bind address.
pub fn certificate_names(settings: &MgmtSettings) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(host) = nix::unistd::gethostname() {
        if let Some(host) = host.to_str().filter(|h| !h.is_empty()) {
            names.push(host.to_owned());
        }
    }
    names.extend([
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ]);
    for address in &settings.bind_addresses {
        if address != "*" && !names.contains(address) {
            names.push(address.clone());
        }
    }
    names
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    wsman_safe::write_atomic(path, data, mode).with_context(|| format!("write {}", path.display()))
}

/// The generated certificate's files in `config_dir`, made or renewed as needed.
fn auto_certificate(config_dir: &Path, names: &[String]) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = config_dir.join("mgmt-certs");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("create {}", dir.display()))?;
    let (cert, key, stamp) = (
        dir.join("auto.crt"),
        dir.join("auto.key"),
        dir.join("auto.renew"),
    );
    // The stamp: the day the certificate expires, then the names it covers.
    let wanted_names = names.join(",");
    let current = fs::read_to_string(&stamp).ok().and_then(|text| {
        let (day, covered) = text.trim().split_once(' ')?;
        Some((day.parse::<i64>().ok()?, covered.to_owned()))
    });
    let fresh = current.is_some_and(|(expires, covered)| {
        expires - today() > RENEW_BEFORE_DAYS && covered == wanted_names
    }) && cert.is_file()
        && key.is_file();
    if fresh {
        return Ok((cert, key));
    }
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    let (y, m, d) = civil_from_days(today() - 1)?;
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let expires = today() + AUTO_VALIDITY_DAYS;
    let (y, m, d) = civil_from_days(expires)?;
    params.not_after = rcgen::date_time_ymd(y, m, d);
    let key_pair = rcgen::KeyPair::generate()?;
    let generated = params.self_signed(&key_pair)?;
    write_file(&key, key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_file(&cert, generated.pem().as_bytes(), 0o644)?;
    write_file(
        &stamp,
        format!("{expires} {wanted_names}\n").as_bytes(),
        0o644,
    )?;
    tracing::info!(names = %wanted_names, "generated the management service's self-signed certificate");
    Ok((cert, key))
}

/// The certificate the settings name (generating `auto`'s), as a rustls configuration.
pub fn load(settings: &MgmtSettings, config_dir: &Path) -> anyhow::Result<ServiceCertificate> {
    let (cert_path, key_path) = match settings.certificate.as_str() {
        "file" => match (&settings.certificate_file, &settings.key_file) {
            (Some(cert), Some(key)) => (cert.clone(), key.clone()),
            _ => bail!("Certificate = file needs CertificateFile and KeyFile"),
        },
        _ => auto_certificate(config_dir, &certificate_names(settings))?,
    };
    // The private key: judged on the opened file (not a link, owned by us or root, 0600).
    let served = wsman_front::tls::load(&cert_path, &key_path, KeyFile::Private, None)?;
    let fingerprint = Sha256::digest(served.leaf.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok(ServiceCertificate {
        config: served.config,
        fingerprint,
        source: cert_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compared with coreutils' `date`, an independent calendar.
    #[test]
    fn civil_dates_agree_with_date() {
        for days in [0i64, 11_016, 20_415, 24_837, -1] {
            let output = std::process::Command::new("date")
                .args(["-u", "-d", &format!("@{}", days * 86_400), "+%Y %m %d"])
                .output()
                .expect("date");
            let text = String::from_utf8_lossy(&output.stdout);
            let fields: Vec<i64> = text
                .split_whitespace()
                .map(|f| f.parse().expect("number"))
                .collect();
            let (y, m, d) = civil_from_days(days).unwrap();
            assert_eq!(
                vec![i64::from(y), i64::from(m), i64::from(d)],
                fields,
                "{days}"
            );
        }
    }
}
