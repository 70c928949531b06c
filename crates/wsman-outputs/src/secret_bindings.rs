//! `[secrets.NAME]` of `collector.toml`: where each of the node's secrets may be sent (see
//! [`crate::secrets`]). Below both the settings' reader and the secrets' reader, which use it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::settings::{check_host_port, listed, valid_name, OutputSettingError};

/// Why a secret may not be sent where an output would send it.
#[derive(Debug, thiserror::Error)]
pub enum BindingRefusal {
    #[error("secret {0:?} is bound to no destination: say where it may be sent in collector.toml ([secrets.{0}] destinations = [\"host:port\"])")]
    Unbound(String),
    #[error("secret {name:?} may not be sent to {address} ({kind} output): not in [secrets.{name}] destinations")]
    Destination {
        name: String,
        kind: &'static str,
        address: String,
    },
    #[error("secret {name:?} may not be sent to {address} in clear ({kind} output without TLS): [secrets.{name}] require_tls")]
    Clear {
        name: String,
        kind: &'static str,
        address: String,
    },
}

/// Why `[secrets]` of `collector.toml` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretBindingError {
    #[error("[secrets.{0}]: not a secret name (1 to 64 of A-Z a-z 0-9 . _ -)")]
    Name(String),
    #[error("[secrets.{name}] destinations: {source}")]
    Destination {
        name: String,
        source: OutputSettingError,
    },
    #[error("[secrets.{0}] destinations: none listed")]
    NoDestination(String),
}

/// `[secrets.NAME]`: where secret NAME may be sent.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretBinding {
    /// `host:port`s the secret may be sent to (a Kafka output's bootstrap brokers, a Redis
    /// server, an HTTP URL's host and port).
    pub destinations: Vec<String>,
    /// Only over TLS (the default): a connection without it does not get the secret.
    #[serde(default = "require_tls")]
    pub require_tls: bool,
}

fn require_tls() -> bool {
    true
}

/// Every `[secrets.NAME]` of the node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretBindings(pub BTreeMap<String, SecretBinding>);

impl SecretBindings {
    /// Check the bindings themselves (at start, with the rest of `collector.toml`).
    pub fn check(&self) -> Result<(), SecretBindingError> {
        for (name, binding) in &self.0 {
            if !valid_name(name) {
                return Err(SecretBindingError::Name(name.clone()));
            }
            if binding.destinations.is_empty() {
                return Err(SecretBindingError::NoDestination(name.clone()));
            }
            for destination in &binding.destinations {
                check_host_port("destination", destination).map_err(|source| {
                    SecretBindingError::Destination {
                        name: name.clone(),
                        source,
                    }
                })?;
            }
        }
        Ok(())
    }

    /// Why secret `name` may not go to `to`.
    pub fn allow(&self, name: &str, to: &Destination) -> Result<(), BindingRefusal> {
        let binding = self
            .0
            .get(name)
            .ok_or_else(|| BindingRefusal::Unbound(name.to_owned()))?;
        let address = || format!("{}:{}", to.host, to.port);
        if !listed(&binding.destinations, &to.host, to.port) {
            return Err(BindingRefusal::Destination {
                name: name.to_owned(),
                kind: to.kind,
                address: address(),
            });
        }
        if binding.require_tls && !to.tls {
            return Err(BindingRefusal::Clear {
                name: name.to_owned(),
                kind: to.kind,
                address: address(),
            });
        }
        Ok(())
    }
}

/// Where an output would send a secret: the `kind` of output, the `host` and `port` it
/// connects to, and whether in TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub kind: &'static str,
    pub host: String,
    pub port: u16,
    pub tls: bool,
}
