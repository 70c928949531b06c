//! The `[HTTP]` extension of `config.toml` (not part of winrm/config; `winrm` does not see it):
//! what HTTP.sys, which serves WinRM on Windows, sets outside WinRM's configuration (`netsh
//! http add timeout`), under HTTP.sys's own names. Followed on reload, for new connections.
//!
//! ```toml
//! [HTTP]
//! IdleConnectionTimeout = 120   # seconds; HTTP.sys's default
//! ProxyProtocolFrom = "10.0.0.5, 10.0.1.1-10.0.1.9"   # load balancers sending PROXY v2
//! ProxyProtocolAllowLoopback = false   # may a header claim a loopback client?
//! ```
//!
//! `ProxyProtocolFrom` is wsmand's own (HTTP.sys has no PROXY protocol): the addresses of TCP
//! load balancers (haproxy's `send-proxy-v2`) whose connections start with a PROXY protocol
//! v2 header naming the client. Connections from them must carry one; a header from any
//! other address is refused, so no client can claim another's address. Unset (the default):
//! no address is trusted and no header is read. A trusted balancer can claim any address, and
//! the claim is what every rule on the client's address then sees (AllowRemoteAccess, the
//! collector's allowed addresses, the per-address limits); a header claiming a loopback client
//! is refused unless `ProxyProtocolAllowLoopback` is true (a balancer on this host relaying
//! local clients), since a loopback client passes `AllowRemoteAccess = false`.

use std::fmt::Write as _;

use wsman_safe::net::IpRange;

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
    /// Inclusive address ranges whose connections start with a PROXY protocol v2 header
    /// (empty: none).
    pub proxy_protocol_from: Vec<IpRange>,
    /// Whether a PROXY header may claim a loopback client (default false: refused).
    pub proxy_protocol_allow_loopback: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            idle_connection_timeout: DEFAULT_IDLE_CONNECTION_TIMEOUT,
            proxy_protocol_from: Vec::new(),
            proxy_protocol_allow_loopback: false,
        }
    }
}

/// `ProxyProtocolFrom`'s ranges: addresses and `first-last` ranges of one family, comma
/// separated; `*` is refused (trusting every address lets any client name any address).
fn parse_proxy_from(text: &str) -> Result<Vec<IpRange>, HttpValueError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let v6 = part.contains(':');
        match crate::ip_filter::IpFilter::parse(part, v6) {
            Ok(crate::ip_filter::IpFilter::List(ranges)) => out.extend(ranges),
            _ => return Err(HttpValueError::ProxyProtocolFrom),
        }
    }
    Ok(out)
}

/// Why an `[HTTP]` key of config.toml is refused (the caller adds file and line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HttpValueError {
    #[error("HTTP.IdleConnectionTimeout must be a number of seconds from 1 to 65535")]
    IdleConnectionTimeout,
    #[error("HTTP.ProxyProtocolFrom must be a string of addresses and first-last ranges, comma separated (no *)")]
    ProxyProtocolFrom,
    #[error("HTTP.ProxyProtocolAllowLoopback must be true or false")]
    ProxyProtocolAllowLoopback,
    #[error("unknown key {key:?} in [HTTP] (expected IdleConnectionTimeout, ProxyProtocolFrom, ProxyProtocolAllowLoopback)")]
    UnknownKey { key: String },
}

/// `[HTTP]` as one file sets it (unset keys are `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HttpLayer {
    pub(crate) idle_connection_timeout: Option<u32>,
    /// As written (rendered back the same), checked when set.
    pub(crate) proxy_protocol_from: Option<String>,
    pub(crate) proxy_protocol_allow_loopback: Option<bool>,
}

impl HttpLayer {
    /// Values of `other` win.
    pub(crate) fn overlay(&mut self, other: &HttpLayer) {
        overlay_fields!(
            self,
            other: idle_connection_timeout,
            proxy_protocol_from,
            proxy_protocol_allow_loopback
        );
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
            "ProxyProtocolFrom" => {
                let text = value.as_str().ok_or(HttpValueError::ProxyProtocolFrom)?;
                parse_proxy_from(text)?;
                self.proxy_protocol_from = Some(text.to_owned());
            }
            "ProxyProtocolAllowLoopback" => {
                let allow = value
                    .as_bool()
                    .ok_or(HttpValueError::ProxyProtocolAllowLoopback)?;
                self.proxy_protocol_allow_loopback = Some(allow);
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
            // Checked when set: what was kept parses.
            proxy_protocol_from: self
                .proxy_protocol_from
                .as_deref()
                .and_then(|text| parse_proxy_from(text).ok())
                .unwrap_or_default(),
            proxy_protocol_allow_loopback: self.proxy_protocol_allow_loopback.unwrap_or(false),
        }
    }

    /// The `[HTTP]` table as written back to `config.toml` (nothing when nothing is set).
    pub(crate) fn render(&self, out: &mut String) {
        if self.idle_connection_timeout.is_none()
            && self.proxy_protocol_from.is_none()
            && self.proxy_protocol_allow_loopback.is_none()
        {
            return;
        }
        out.push_str("\n[HTTP]\n");
        if let Some(seconds) = self.idle_connection_timeout {
            let _ = writeln!(out, "IdleConnectionTimeout = {seconds}");
        }
        if let Some(text) = &self.proxy_protocol_from {
            let _ = writeln!(
                out,
                "ProxyProtocolFrom = {}",
                toml_edit::Value::from(text.as_str())
            );
        }
        if let Some(allow) = self.proxy_protocol_allow_loopback {
            let _ = writeln!(out, "ProxyProtocolAllowLoopback = {allow}");
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

    #[test]
    fn proxy_protocol_from_is_checked_and_rendered_back() {
        let mut layer = HttpLayer::default();
        assert!(layer.resolve().proxy_protocol_from.is_empty());
        for bad in [
            "\"*\"",
            "\"10.0.0.1-10.0.0.0\"",
            "\"haproxy\"",
            "5",
            "\"10.0.0.1-::1\"",
        ] {
            assert!(
                layer.set("ProxyProtocolFrom", &value(bad)).is_err(),
                "{bad}"
            );
        }
        layer
            .set(
                "ProxyProtocolFrom",
                &value("\"127.0.0.1, 10.0.0.1-10.0.0.9, ::1\""),
            )
            .unwrap();
        let ranges = layer.resolve().proxy_protocol_from;
        let range = |s: &str| IpRange::parse_range(s).unwrap();
        assert_eq!(
            ranges,
            vec![range("127.0.0.1"), range("10.0.0.1-10.0.0.9"), range("::1")]
        );
        let mut out = String::new();
        layer.render(&mut out);
        assert_eq!(
            out,
            "\n[HTTP]\nProxyProtocolFrom = \"127.0.0.1, 10.0.0.1-10.0.0.9, ::1\"\n"
        );
    }

    #[test]
    fn proxy_protocol_allow_loopback_is_off_unless_set_and_rendered_back() {
        let mut layer = HttpLayer::default();
        assert!(!layer.resolve().proxy_protocol_allow_loopback);
        for bad in ["\"true\"", "1"] {
            assert!(
                layer
                    .set("ProxyProtocolAllowLoopback", &value(bad))
                    .is_err(),
                "{bad}"
            );
        }
        layer
            .set("ProxyProtocolAllowLoopback", &value("true"))
            .unwrap();
        assert!(layer.resolve().proxy_protocol_allow_loopback);
        let mut out = String::new();
        layer.render(&mut out);
        assert_eq!(out, "\n[HTTP]\nProxyProtocolAllowLoopback = true\n");
    }
}
