//! What a subscription read from a shared store (a PostgreSQL row) may make this node do: the
//! node's own outputs policy, `[outputs]` of `DIR/collector.toml`, which each output's `OutputType::admit` reads (the secrets outputs name are
//! files of the node's `DIR/secrets`: [`crate::secrets`]).
//!
//! ```toml
//! [outputs]
//! file_directories = ["/var/log/wec"]               # file outputs write under these only
//! destinations = ["kafka1.example.com:9093", "siem.example.com:6514", "redis.example.com:6379"]
//! tls_directories = ["/etc/wsmand/tls"]             # TLS files (CA, certificate, key) read from these only
//! ```
//!
//! Why: whoever can write a row (the database role every node logs in with, a DBA, anyone on
//! the path to a database reached without TLS) is not root of the node, yet the node runs the
//! row's outputs as root. So a row is data checked against root's configuration, never trusted:
//! its file outputs must lie under a listed directory, its TCP, Kafka, Redis and syslog outputs
//! connect only to listed `host:port`s, the TLS files it names lie under a listed directory, its
//! journal output uses journald's own socket, and it holds no password (a secret is named, and
//! read from the node's `DIR/secrets/NAME`). Nothing listed: a row may have only journal outputs.
//! Files of `DIR/subscriptions` are root's and keep their freedom; the Kafka property allow list
//! (the Kafka output's) is the same for both.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::secret_bindings::{BindingRefusal, SecretBindings};
use crate::settings::{check_host_port, host_and_port, listed, OutputSettingError};

/// The node's `[outputs]`: what a stored subscription's outputs may reach.
/// Why a stored subscription's outputs may not run: `OutputsPolicy::admit`, by each output's
/// own `admit` (next to the output's settings, in its module of `outputs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsPolicy {
    /// Directories a stored subscription's file outputs may write under.
    #[serde(default)]
    pub file_directories: Vec<PathBuf>,
    /// `host:port`s a stored subscription's TCP, Kafka (each broker), Redis and syslog outputs may
    /// connect to.
    #[serde(default)]
    pub destinations: Vec<String>,
    /// Directories the TLS files a stored subscription names may be read from (TCP's
    /// `ca_file`, `client_certificate`, `client_key`; Kafka's `ssl.*.location`).
    #[serde(default)]
    pub tls_directories: Vec<PathBuf>,
    /// `[secrets.NAME]` of the same file: where each secret a row names may be sent (a row
    /// that would send one elsewhere, or in clear against its binding, is refused).
    #[serde(skip)]
    pub secrets: SecretBindings,
}

/// journald's socket: the one socket a stored journal output may send to.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Why a stored subscription's output is refused by the node's policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("file output {0:?} is not under a directory of [outputs] file_directories")]
    FileOutside(String),
    #[error("{kind} output: {address:?} is not in [outputs] destinations")]
    Destination { kind: &'static str, address: String },
    #[error("{what} {path:?} is not under a directory of [outputs] tls_directories")]
    TlsFileOutside { what: String, path: String },
    #[error("{0} holds a password: a stored subscription names a secret file instead (secrets, password_secret)")]
    LiteralSecret(&'static str),
    #[error("journal output: socket {0:?} is not journald's ({JOURNAL_SOCKET})")]
    JournalSocket(String),
    #[error(transparent)]
    Secret(#[from] BindingRefusal),
}

/// Why `[outputs]` itself cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicySettingError {
    #[error("[outputs] {0:?} is not an absolute directory without ..")]
    Directory(PathBuf),
    #[error("[outputs] destinations: {0}")]
    Destination(#[from] OutputSettingError),
}

/// Whether `path` is absolute, has no `..` and lies strictly under one of `directories`.
fn under(path: &str, directories: &[PathBuf]) -> bool {
    let path = Path::new(path);
    path.is_absolute()
        && !path.components().any(|c| c == Component::ParentDir)
        && directories.iter().any(|dir| {
            path.starts_with(dir) && path.components().count() > dir.components().count()
        })
}

impl OutputsPolicy {
    /// Check the policy's own settings (at start, with the rest of `collector.toml`).
    pub fn check(&self) -> Result<(), PolicySettingError> {
        for dir in self.file_directories.iter().chain(&self.tls_directories) {
            if !dir.is_absolute() || dir.components().any(|c| c == Component::ParentDir) {
                return Err(PolicySettingError::Directory(dir.clone()));
            }
        }
        for destination in &self.destinations {
            check_host_port("destination", destination)?;
        }
        Ok(())
    }

    /// Whether a file output may write the files of the template `path`.
    pub fn allows_file(&self, path: &str) -> bool {
        under(path, &self.file_directories)
    }

    /// Whether `host`:`port` is one of the destinations (the host compared without case).
    pub fn allows_destination(&self, host: &str, port: u16) -> bool {
        listed(&self.destinations, host, port)
    }

    /// Why a `kind` output may not connect to `address` (`host:port`).
    pub fn destination(&self, kind: &'static str, address: &str) -> Result<(), PolicyError> {
        let allowed =
            host_and_port(address).is_some_and(|(host, port)| self.allows_destination(host, port));
        if allowed {
            Ok(())
        } else {
            Err(PolicyError::Destination {
                kind,
                address: address.to_owned(),
            })
        }
    }

    /// Why a `kind` output may not connect to `host`:`port` (a URL's).
    pub fn host_port(&self, kind: &'static str, host: &str, port: u16) -> Result<(), PolicyError> {
        if self.allows_destination(host, port) {
            Ok(())
        } else {
            Err(PolicyError::Destination {
                kind,
                address: format!("{host}:{port}"),
            })
        }
    }

    /// Why a TLS file (`what` names the setting) may not be read from `path`.
    pub fn tls_file(&self, what: &str, path: &str) -> Result<(), PolicyError> {
        if under(path, &self.tls_directories) {
            Ok(())
        } else {
            Err(PolicyError::TlsFileOutside {
                what: what.to_owned(),
                path: path.to_owned(),
            })
        }
    }
}
