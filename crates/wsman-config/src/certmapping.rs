//! Client certificate mappings (`winrm/config/service/certmapping`, MS-WSMV 2.2.4.3 and
//! 3.1.4.1.29.3): which client certificates authenticate as which account.
//!
//! A mapping is keyed by three selectors, as on Windows:
//! - `Issuer`: the SHA-1 thumbprint of the CA certificate that signed the client certificate.
//!   That CA certificate must be present as `DIR/certs/THUMB.crt` (PEM, no key needed); the
//!   server verifies the client certificate's signature against it.
//! - `Subject`: a pattern matched (without case) against the certificate's names: the UPN
//!   (`otherName` 1.3.6.1.4.1.311.20.2.3) and e-mail addresses of its subjectAltName, and its
//!   subject common name. At most one `*`, first or last (`*` alone matches everything).
//! - `URI`: the resource URI (or a prefix ending in `*`) the mapping applies to; usually `*`.
//!
//! Properties: `UserName` (the account the certificate acts as: a Linux user, or a service
//! account from `accounts.toml`, whose run-as user then applies) and `Enabled`.
//!
//! `Password`: Windows stores the mapped account's password because it must log that account
//! on. wsmand starts processes as the Linux user directly and needs none, and it never stores
//! passwords in the configuration. An empty `Password` (a representation sent back from a Get)
//! is accepted and ignored; a non-empty one is refused, so that nobody believes it was kept.

mod names;

use std::path::{Path, PathBuf};

use crate::certs::{self, CertError};

pub use names::certificate_names;

/// `winrm/config/service/certmapping`: resource URI and element namespace.
pub const CERTMAPPING_URI: &str = wsman_proto::ns::config::CERTMAPPING;

/// Longest Subject, URI or UserName accepted (they come from the network).
const MAX_TEXT: usize = 1024;

/// One certificate mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertMapping {
    /// Upper-case hex SHA-1 thumbprint of the issuing CA certificate.
    pub issuer: String,
    /// Pattern for the certificate's UPN, e-mail or common name.
    pub subject: String,
    /// Resource URI pattern (`*`, a URI, or a prefix ending in `*`).
    pub uri: String,
    /// The account the certificate authenticates as.
    pub user_name: String,
    pub enabled: bool,
}

impl CertMapping {
    /// A mapping that is enabled.
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        uri: impl Into<String>,
        user_name: impl Into<String>,
    ) -> Self {
        Self {
            issuer: certs::normalize_thumbprint(&issuer.into()),
            subject: subject.into(),
            uri: uri.into(),
            user_name: user_name.into(),
            enabled: true,
        }
    }

    /// The selectors that address this mapping: `Issuer`, `Subject`, `URI`.
    pub fn selectors(&self) -> Vec<(String, String)> {
        vec![
            ("Issuer".to_owned(), self.issuer.clone()),
            ("Subject".to_owned(), self.subject.clone()),
            ("URI".to_owned(), self.uri.clone()),
        ]
    }

    /// True when the three keys are these (thumbprint normalised, patterns without case).
    pub fn same_keys(&self, issuer: &str, subject: &str, uri: &str) -> bool {
        self.issuer == certs::normalize_thumbprint(issuer)
            && self.subject.eq_ignore_ascii_case(subject)
            && self.uri.eq_ignore_ascii_case(uri)
    }

    /// True when one of the certificate's `names` matches the Subject pattern.
    pub fn subject_matches<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> bool {
        names
            .into_iter()
            .any(|name| pattern_matches(&self.subject, name))
    }
}

/// `*` alone matches all; `*x` a suffix; `x*` a prefix; otherwise equality. Without case.
pub fn pattern_matches(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    if let Some(suffix) = p.strip_prefix(b"*") {
        return t.len() >= suffix.len() && t[t.len() - suffix.len()..].eq_ignore_ascii_case(suffix);
    }
    if let Some(prefix) = p.strip_suffix(b"*") {
        return t.len() >= prefix.len() && t[..prefix.len()].eq_ignore_ascii_case(prefix);
    }
    p.eq_ignore_ascii_case(t)
}

/// Why a mapping's Subject, URI or UserName is refused (the Display is the reason a fault or a
/// config error shows).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingValueError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} is longer than {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} must not contain control characters")]
    ControlCharacters { what: &'static str },
    #[error("Subject may contain one \"*\", as its first or last character")]
    SubjectWildcard,
    #[error("URI may contain one \"*\", as its last character")]
    UriWildcard,
    #[error("URI must not contain white space or \"?\"")]
    UriCharacters,
    #[error("UserName must not contain white space, \":\" or \"/\"")]
    UserNameCharacters,
}

fn check_text(what: &'static str, text: &str) -> Result<(), MappingValueError> {
    if text.is_empty() {
        return Err(MappingValueError::Empty { what });
    }
    if text.len() > MAX_TEXT {
        return Err(MappingValueError::TooLong {
            what,
            max: MAX_TEXT,
        });
    }
    if text.chars().any(char::is_control) {
        return Err(MappingValueError::ControlCharacters { what });
    }
    Ok(())
}

/// MS-WSMV: at least one character, at most one `*`, first or last.
pub fn check_subject(subject: &str) -> Result<(), MappingValueError> {
    check_text("Subject", subject)?;
    let stars = subject.matches('*').count();
    let placed = subject.starts_with('*') || subject.ends_with('*');
    if stars > 1 || (stars == 1 && !placed) {
        return Err(MappingValueError::SubjectWildcard);
    }
    Ok(())
}

/// MS-WSMV: at least one character, at most one `*` as the last one, no white space, no `?`.
pub fn check_uri(uri: &str) -> Result<(), MappingValueError> {
    check_text("URI", uri)?;
    let stars = uri.matches('*').count();
    if stars > 1 || (stars == 1 && !uri.ends_with('*')) {
        return Err(MappingValueError::UriWildcard);
    }
    if uri.chars().any(|c| c.is_whitespace() || c == '?') {
        return Err(MappingValueError::UriCharacters);
    }
    Ok(())
}

/// A Linux user or service account name: no white space, `:` or control characters.
pub fn check_user_name(name: &str) -> Result<(), MappingValueError> {
    check_text("UserName", name)?;
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == ':' || c == '/')
    {
        return Err(MappingValueError::UserNameCharacters);
    }
    Ok(())
}

/// `DIR/certs/THUMB.crt`, where the issuing CA certificate of a mapping lives.
pub fn issuer_path(certs_dir: &Path, thumbprint: &str) -> PathBuf {
    certs_dir.join(format!("{}.crt", certs::normalize_thumbprint(thumbprint)))
}

/// The DER of the issuer CA certificate `thumbprint` under `certs_dir`, checked to be the
/// certificate the thumbprint names.
pub fn load_issuer(certs_dir: &Path, thumbprint: &str) -> Result<Vec<u8>, CertError> {
    let thumbprint = certs::normalize_thumbprint(thumbprint);
    if !certs::is_valid_thumbprint(&thumbprint) {
        return Err(CertError::InvalidThumbprint { thumbprint });
    }
    let path = issuer_path(certs_dir, &thumbprint);
    let pem = match std::fs::read(&path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CertError::NotFound {
                dir: certs_dir.to_owned(),
                thumbprint,
            })
        }
        Err(source) => return Err(CertError::Io { path, source }),
    };
    let der = certs::first_certificate_der(&pem)
        .ok_or_else(|| CertError::NoCertificate { path: path.clone() })?;
    let actual = certs::thumbprint_of_der(&der);
    if actual != thumbprint {
        return Err(CertError::ThumbprintMismatch {
            path,
            expected: thumbprint,
            actual,
        });
    }
    Ok(der)
}

#[cfg(test)]
#[path = "certmapping_tests.rs"]
mod tests;
