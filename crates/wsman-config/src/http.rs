//! The `[HTTP]` extension of `config.toml` (not part of winrm/config; `winrm` does not see it):
//! what HTTP.sys, which serves WinRM on Windows, sets outside WinRM's configuration (`netsh
//! http add timeout`), under HTTP.sys's own names. Followed on reload, for new connections.
//!
//! ```toml
//! [HTTP]
//! IdleConnectionTimeout = 120   # seconds; HTTP.sys's default
//! ```

use std::fmt::Write as _;

/// HTTP.sys's default IdleConnectionTimeout, in seconds.
pub const DEFAULT_IDLE_CONNECTION_TIMEOUT: u32 = 120;
/// The largest IdleConnectionTimeout `netsh http add timeout` takes (65,535 seconds).
const MAX_IDLE_CONNECTION_TIMEOUT: i64 = 65_535;

/// The effective `[HTTP]` values.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Seconds a kept-alive connection may stay idle between requests (and a client may take
    /// to send a request's headers) before the service closes it.
    pub idle_connection_timeout: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            idle_connection_timeout: DEFAULT_IDLE_CONNECTION_TIMEOUT,
        }
    }
}

/// Why an `[HTTP]` key of config.toml is refused (the caller adds file and line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HttpValueError {
    #[error("HTTP.IdleConnectionTimeout must be a number of seconds from 1 to 65535")]
    IdleConnectionTimeout,
    #[error("unknown key {key:?} in [HTTP] (expected IdleConnectionTimeout)")]
    UnknownKey { key: String },
}

/// `[HTTP]` as one file sets it (unset keys are `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HttpLayer {
    pub(crate) idle_connection_timeout: Option<u32>,
}

impl HttpLayer {
    /// Values of `other` win.
    pub(crate) fn overlay(&mut self, other: &HttpLayer) {
        overlay_fields!(self, other: idle_connection_timeout);
    }

    /// Set one key from its TOML value; the error is the reason (the caller adds file/line).
    pub(crate) fn set(
        &mut self,
        key: &str,
        value: &toml_edit::Value,
    ) -> Result<(), HttpValueError> {
        match key {
            "IdleConnectionTimeout" => {
                let seconds = value
                    .as_integer()
                    .filter(|n| (1..=MAX_IDLE_CONNECTION_TIMEOUT).contains(n))
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or(HttpValueError::IdleConnectionTimeout)?;
                self.idle_connection_timeout = Some(seconds);
            }
            other => {
                return Err(HttpValueError::UnknownKey {
                    key: other.to_owned(),
                })
            }
        }
        Ok(())
    }

    pub(crate) fn resolve(&self) -> HttpConfig {
        HttpConfig {
            idle_connection_timeout: self
                .idle_connection_timeout
                .unwrap_or(DEFAULT_IDLE_CONNECTION_TIMEOUT),
        }
    }

    /// The `[HTTP]` table as written back to `config.toml` (nothing when nothing is set).
    pub(crate) fn render(&self, out: &mut String) {
        if let Some(seconds) = self.idle_connection_timeout {
            let _ = write!(out, "\n[HTTP]\nIdleConnectionTimeout = {seconds}\n");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::toml_value as value;

    #[test]
    fn idle_connection_timeout_is_checked_and_rendered_back() {
        let mut layer = HttpLayer::default();
        assert_eq!(layer.resolve().idle_connection_timeout, 120);
        let mut out = String::new();
        layer.render(&mut out);
        assert_eq!(out, "");
        for bad in ["0", "65536", "-1", "\"120\"", "1.5"] {
            assert!(
                layer.set("IdleConnectionTimeout", &value(bad)).is_err(),
                "{bad}"
            );
        }
        assert!(layer.set("HeaderWaitTimeout", &value("5")).is_err());
        layer.set("IdleConnectionTimeout", &value("300")).unwrap();
        assert_eq!(layer.resolve().idle_connection_timeout, 300);
        layer.render(&mut out);
        assert_eq!(out, "\n[HTTP]\nIdleConnectionTimeout = 300\n");
    }
}
