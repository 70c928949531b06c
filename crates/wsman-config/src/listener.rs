//! Listeners (`winrm/config/listener`): the address and transport keys, and the stored and
//! effective forms of a listener (reference §6.6).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use wsman_safe::net::IpRange;

/// The `Address` key: `*`, `IP:a.b.c.d` or `IP:a.b.c.d-e.f.g.h` (IPv6 too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListenerAddress {
    Any,
    Ip(IpAddr),
    /// Inclusive range; both ends of the same family, first <= last.
    Range(IpAddr, IpAddr),
}

/// Why an `Address` selector or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    #[error("listener address {text:?} is not \"*\", \"IP:address\" or \"IP:first-last\"")]
    Syntax { text: String },
    #[error("listener address range {text:?} mixes families or is reversed")]
    BadRange { text: String },
}

impl FromStr for ListenerAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        if t == "*" {
            return Ok(Self::Any);
        }
        let syntax = || AddressError::Syntax {
            text: text.to_owned(),
        };
        let rest = match t.get(..3) {
            Some(p) if p.eq_ignore_ascii_case("IP:") => &t[3..],
            _ => return Err(syntax()),
        };
        if let Ok(ip) = rest.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        let (first, last) = rest.split_once('-').ok_or_else(syntax)?;
        let first: IpAddr = first.trim().parse().map_err(|_| syntax())?;
        let last: IpAddr = last.trim().parse().map_err(|_| syntax())?;
        if first.is_ipv4() != last.is_ipv4() || first > last {
            return Err(AddressError::BadRange {
                text: text.to_owned(),
            });
        }
        Ok(Self::Range(first, last))
    }
}

impl fmt::Display for ListenerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Ip(ip) => write!(f, "IP:{ip}"),
            Self::Range(a, b) => write!(f, "IP:{a}-{b}"),
        }
    }
}

impl ListenerAddress {
    /// True when `ip` is covered by this address (for choosing which local addresses to bind).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match self {
            Self::Any => true,
            Self::Ip(a) => *a == ip,
            Self::Range(a, b) => IpRange::new(*a, *b).is_ok_and(|range| range.contains(ip)),
        }
    }
}

/// The `Transport` key, HTTP or HTTPS: the one transport type of the workspace (the server's
/// listeners use it too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Http,
    Https,
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("HTTP") {
            Ok(Self::Http)
        } else if t.eq_ignore_ascii_case("HTTPS") {
            Ok(Self::Https)
        } else {
            Err(format!("transport {text:?} is not HTTP or HTTPS"))
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Transport {
    /// The spelling used in the config tree and in listener selectors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
        }
    }

    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// An effective listener: every property resolved (Port from `Service/DefaultPorts` when not
/// stored).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listener {
    pub address: ListenerAddress,
    pub transport: Transport,
    pub port: u16,
    /// Empty when not set; for HTTPS it should match the certificate's name.
    pub hostname: String,
    pub enabled: bool,
    /// Path segment clients post to (`/wsman`); no slashes.
    pub url_prefix: String,
    /// Upper-case hex SHA-1 of the certificate in `DIR/certs`; empty for HTTP.
    pub certificate_thumbprint: String,
    /// True for the listeners implied by `Service/EnableCompatibilityHttp(s)Listener`
    /// (ports 80/443); these are not in `winrm/config/listener`.
    pub compatibility: bool,
}

impl Listener {
    /// What a server binds: the enabled ones of `configured`, then the compatibility listeners
    /// `Service/EnableCompatibilityHttp(s)Listener` asks for (Address `*`, port 80 / 443,
    /// URLPrefix `wsman`; the HTTPS one with `https_thumbprint`).
    pub fn active(
        configured: &[Listener],
        compatibility_http: bool,
        compatibility_https: Option<String>,
    ) -> Vec<Listener> {
        let mut out: Vec<Listener> = configured.iter().filter(|l| l.enabled).cloned().collect();
        let implied = |transport, port| {
            let mut l = Listener::new(ListenerAddress::Any, transport, port);
            l.compatibility = true;
            l
        };
        if compatibility_http {
            out.push(implied(Transport::Http, 80));
        }
        if let Some(thumbprint) = compatibility_https {
            let mut https = implied(Transport::Https, 443);
            https.certificate_thumbprint = thumbprint;
            out.push(https);
        }
        out
    }

    /// A listener with defaults for everything but the keys and port.
    pub fn new(address: ListenerAddress, transport: Transport, port: u16) -> Self {
        Self {
            address,
            transport,
            port,
            hostname: String::new(),
            enabled: true,
            url_prefix: DEFAULT_URL_PREFIX.to_owned(),
            certificate_thumbprint: String::new(),
            compatibility: false,
        }
    }

    /// The selectors that address this listener: `Address`, `Transport`.
    pub fn selectors(&self) -> Vec<(String, String)> {
        vec![
            ("Address".to_owned(), self.address.to_string()),
            ("Transport".to_owned(), self.transport.to_string()),
        ]
    }
}

/// Default `URLPrefix` of a listener.
pub const DEFAULT_URL_PREFIX: &str = "wsman";

/// A listener as stored in `config.toml`: keys plus only the properties that were set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredListener {
    pub(crate) address: ListenerAddress,
    pub(crate) transport: Transport,
    pub(crate) port: Option<u16>,
    pub(crate) hostname: Option<String>,
    pub(crate) enabled: Option<bool>,
    pub(crate) url_prefix: Option<String>,
    pub(crate) certificate_thumbprint: Option<String>,
}

impl StoredListener {
    pub(crate) fn new(address: ListenerAddress, transport: Transport) -> Self {
        Self {
            address,
            transport,
            port: None,
            hostname: None,
            enabled: None,
            url_prefix: None,
            certificate_thumbprint: None,
        }
    }

    pub(crate) fn resolve(&self, default_http: u16, default_https: u16) -> Listener {
        let port = self.port.unwrap_or(match self.transport {
            Transport::Http => default_http,
            Transport::Https => default_https,
        });
        Listener {
            address: self.address,
            transport: self.transport,
            port,
            hostname: self.hostname.clone().unwrap_or_default(),
            enabled: self.enabled.unwrap_or(true),
            url_prefix: self
                .url_prefix
                .clone()
                .unwrap_or_else(|| DEFAULT_URL_PREFIX.to_owned()),
            certificate_thumbprint: self.certificate_thumbprint.clone().unwrap_or_default(),
            compatibility: false,
        }
    }

    pub(crate) fn same_keys(&self, address: &ListenerAddress, transport: Transport) -> bool {
        self.address == *address && self.transport == transport
    }
}

/// A URLPrefix that is not one URL path segment.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("URLPrefix {prefix:?} must be a non-empty URL path segment (letters, digits, - _ . ~)")]
pub(crate) struct UrlPrefixError {
    pub(crate) prefix: String,
}

/// Checked where a URLPrefix enters: it becomes a URL path segment.
pub(crate) fn check_url_prefix(prefix: &str) -> Result<(), UrlPrefixError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 255
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if ok {
        Ok(())
    } else {
        Err(UrlPrefixError {
            prefix: prefix.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_render() {
        for text in ["*", "IP:127.0.0.1", "IP:10.0.0.1-10.0.0.9", "IP:::1"] {
            let a: ListenerAddress = text.parse().unwrap();
            assert_eq!(a.to_string(), text);
        }
        assert_eq!(
            "ip:127.0.0.1".parse::<ListenerAddress>().unwrap(),
            ListenerAddress::Ip("127.0.0.1".parse().unwrap())
        );
        assert!("MAC:00-11-22-33-44-55".parse::<ListenerAddress>().is_err());
        assert!("IP:10.0.0.9-10.0.0.1".parse::<ListenerAddress>().is_err());
        assert!("IP:10.0.0.1-::1".parse::<ListenerAddress>().is_err());
        assert!("127.0.0.1".parse::<ListenerAddress>().is_err());
    }

    #[test]
    fn range_contains() {
        let a: ListenerAddress = "IP:10.0.0.1-10.0.0.9".parse().unwrap();
        assert!(a.contains("10.0.0.5".parse().unwrap()));
        assert!(!a.contains("10.0.0.10".parse().unwrap()));
        assert!(!a.contains("::1".parse().unwrap()));
        assert!(ListenerAddress::Any.contains("::1".parse().unwrap()));
    }

    #[test]
    fn transport_any_case() {
        assert_eq!("https".parse::<Transport>(), Ok(Transport::Https));
        assert!("ftp".parse::<Transport>().is_err());
    }
}
