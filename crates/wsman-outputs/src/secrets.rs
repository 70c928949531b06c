//! Secrets outputs name (Kafka's `secrets`, Redis' `password_secret`, HTTP's `token_secret`,
//! `api_key_secret`, `password_secret`): files of the node's `DIR/secrets`, read when an output
//! starts, each sent only where root bound it. Why by name: a subscription's text may be shared
//! (a database row every node reads, a file others may read), a password must not be; the name
//! says which of the node's own files to read, and nothing else can be named (no path).
//!
//! Why bound: the name alone lets whoever writes a subscription (a row of the shared store)
//! choose where the secret goes, e.g. the node's HEC token over plain HTTP to a host of its
//! own. So root's `collector.toml` says, per secret, where it may be sent and whether only over
//! TLS, and an output whose destination is not that does not start:
//!
//! ```toml
//! [secrets.hec-prod]
//! destinations = ["hec.example.com:8088"]   # host:port the secret may be sent to
//! require_tls = true                        # the default: never in clear
//! ```
//!
//! A secret without `[secrets.NAME]` is sent nowhere: the output does not start and the
//! reason tells the operator to bind it.

use std::path::Path;

use zeroize::Zeroizing;

pub use crate::secret_bindings::{
    BindingRefusal, Destination, SecretBinding, SecretBindingError, SecretBindings,
};
use crate::settings::valid_name;

/// Why a secret file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {0:?}: not a secret name (1 to 64 of A-Z a-z 0-9 . _ -)")]
    Name(String),
    #[error("secret {0:?}: this collector has no secrets directory")]
    NoDirectory(String),
    #[error("secret {name:?}: {source}")]
    Read {
        name: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("secret {0:?}: the file is empty")]
    Empty(String),
    #[error(transparent)]
    Refused(#[from] BindingRefusal),
}

/// How a file that holds a secret is read: the collector's reader of private files (refused
/// unless only its owner may read it), handed in so that its errors stay the collector's.
pub type ReadPrivate =
    fn(&Path) -> Result<Zeroizing<String>, Box<dyn std::error::Error + Send + Sync>>;

/// Read secret `name` of `dir` (`DIR/secrets/NAME`) with `read`, a file no one but its owner
/// may read; its last line break dropped. The value is never logged. Outputs read it through
/// `StartEnv::secret`, which checks its binding first.
pub fn read_secret(
    dir: Option<&Path>,
    name: &str,
    read: ReadPrivate,
) -> Result<String, SecretError> {
    if !valid_name(name) {
        return Err(SecretError::Name(name.to_owned()));
    }
    let dir = dir.ok_or_else(|| SecretError::NoDirectory(name.to_owned()))?;
    let path = dir.join(name);
    let text = read(&path).map_err(|source| SecretError::Read {
        name: name.to_owned(),
        source,
    })?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(SecretError::Empty(name.to_owned()));
    }
    Ok(value.to_owned())
}
