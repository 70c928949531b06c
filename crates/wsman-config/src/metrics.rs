//! The `[Metrics]` extension of `config.toml` (not part of winrm/config; `winrm` does not see
//! it): where the daemon serves its Prometheus metrics, read at start.
//!
//! ```toml
//! [Metrics]
//! Address = "127.0.0.1:9101"   # off when absent
//! AllowRemote = false          # a non-loopback Address is refused unless true
//! ```
//!
//! The endpoint has no authentication, hence loopback unless the operator says otherwise.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// The effective `[Metrics]` values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Where to serve `GET /metrics`; `None`: no endpoint.
    pub address: Option<SocketAddr>,
    /// Whether an address other hosts can reach is accepted.
    pub allow_remote: bool,
}

/// Why a `[Metrics]` key of config.toml is refused (the caller adds file and line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MetricsValueError {
    #[error("Metrics.Address must be an IP address and port, e.g. \"127.0.0.1:9101\"")]
    Address,
    #[error("Metrics.AllowRemote must be true or false")]
    AllowRemoteNotBoolean,
    #[error("unknown key {key:?} in [Metrics] (expected Address, AllowRemote)")]
    UnknownKey { key: String },
}

/// `[Metrics]` as one file sets it (unset keys are `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MetricsLayer {
    pub(crate) address: Option<SocketAddr>,
    pub(crate) allow_remote: Option<bool>,
}

impl MetricsLayer {
    /// Values of `other` win.
    pub(crate) fn overlay(&mut self, other: &MetricsLayer) {
        overlay_fields!(self, other: address, allow_remote);
    }

    /// Set one key from its TOML value; the error is the reason (the caller adds file/line).
    pub(crate) fn set(
        &mut self,
        key: &str,
        value: &toml_edit::Value,
    ) -> Result<(), MetricsValueError> {
        match key {
            "Address" => {
                let address = value
                    .as_str()
                    .and_then(|text| text.trim().parse::<SocketAddr>().ok())
                    .ok_or(MetricsValueError::Address)?;
                self.address = Some(address);
            }
            "AllowRemote" => {
                self.allow_remote = Some(
                    value
                        .as_bool()
                        .ok_or(MetricsValueError::AllowRemoteNotBoolean)?,
                );
            }
            other => {
                return Err(MetricsValueError::UnknownKey {
                    key: other.to_owned(),
                })
            }
        }
        Ok(())
    }

    pub(crate) fn resolve(&self) -> MetricsConfig {
        MetricsConfig {
            address: self.address,
            allow_remote: self.allow_remote.unwrap_or(false),
        }
    }

    /// The `[Metrics]` table as written back to `config.toml` (nothing when nothing is set).
    pub(crate) fn render(&self, out: &mut String) {
        if *self == Self::default() {
            return;
        }
        out.push_str("\n[Metrics]\n");
        if let Some(address) = self.address {
            let _ = writeln!(out, "Address = \"{address}\"");
        }
        if let Some(allow) = self.allow_remote {
            let _ = writeln!(out, "AllowRemote = {allow}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::toml_value as value;

    #[test]
    fn keys_are_checked_and_rendered_back() {
        let mut layer = MetricsLayer::default();
        assert_eq!(layer.resolve(), MetricsConfig::default());
        layer.set("Address", &value("\"127.0.0.1:9101\"")).unwrap();
        layer.set("AllowRemote", &value("true")).unwrap();
        let resolved = layer.resolve();
        assert_eq!(resolved.address, Some("127.0.0.1:9101".parse().unwrap()));
        assert!(resolved.allow_remote);
        assert!(layer.set("Address", &value("\"localhost\"")).is_err());
        assert!(layer.set("Address", &value("9101")).is_err());
        assert!(layer.set("AllowRemote", &value("\"yes\"")).is_err());
        assert!(layer.set("Port", &value("1")).is_err());
        let mut out = String::new();
        layer.render(&mut out);
        assert_eq!(
            out,
            "\n[Metrics]\nAddress = \"127.0.0.1:9101\"\nAllowRemote = true\n"
        );
    }
}
