//! The one parser of an HTTP address (`http(s)://host[:port][/path]`, `host`, `host:port`,
//! IPv6 in brackets) with WinRM's default ports (5985 / 5986) and path (`/wsman`): the client's
//! endpoint, a push subscription's NotifyTo and EndTo. A policy about where the daemon connects
//! (which subscribers it may authenticate to) parses with this same parser, so it decides on
//! the host and port the connection will use, not on its own reading of the text.

use std::fmt;

/// HTTP or HTTPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (default port 5985).
    Http,
    /// HTTP over TLS (default port 5986).
    Https,
}

impl Scheme {
    /// WinRM's default port for this scheme.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 5985,
            Self::Https => 5986,
        }
    }

    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// The URL path WinRM listeners use unless URLPrefix says otherwise.
pub const DEFAULT_PATH: &str = "/wsman";

/// A parsed HTTP address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAddress {
    /// HTTP or HTTPS.
    pub scheme: Scheme,
    /// Host name or IP address; IPv6 addresses without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Request path, always starting with `/` (default `/wsman`).
    pub path: String,
}

/// Why an address was refused: the reason, in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HttpAddressError(pub &'static str);

impl HttpAddress {
    /// Parse an address. `use_tls` selects HTTPS for forms without a scheme; combined with an
    /// explicit `http://` URL it is refused as contradictory.
    pub fn parse(input: &str, use_tls: bool) -> Result<HttpAddress, HttpAddressError> {
        let bad = HttpAddressError;
        let text = input.trim();
        if text.is_empty() {
            return Err(bad("empty"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains white space"));
        }
        let lower = text.to_ascii_lowercase();
        let (scheme, rest) = if lower.starts_with("https://") {
            (Scheme::Https, &text[8..])
        } else if lower.starts_with("http://") {
            if use_tls {
                return Err(bad("-usessl contradicts an http:// URL"));
            }
            (Scheme::Http, &text[7..])
        } else if lower.contains("://") {
            return Err(bad("only http:// and https:// are supported"));
        } else if use_tls {
            (Scheme::Https, text)
        } else {
            (Scheme::Http, text)
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if path.contains(['?', '#']) {
            return Err(bad("query strings and fragments are not allowed"));
        }
        if authority.contains('@') {
            return Err(bad("user names go in -u:, not in the URL"));
        }
        let (host, port) = split_host_port(authority).map_err(bad)?;
        if host.is_empty() {
            return Err(bad("no host name"));
        }
        let path = if path.is_empty() || path == "/" {
            DEFAULT_PATH.to_owned()
        } else {
            path.to_owned()
        };
        Ok(HttpAddress {
            scheme,
            host: host.to_owned(),
            port: port.unwrap_or(scheme.default_port()),
            path,
        })
    }

    /// Whether `name` (`host`, `host:port` or `[v6]:port`, compared without case) names this
    /// address's host, and its port when it gives one.
    pub fn is_named_by(&self, name: &str) -> bool {
        let name = name.trim();
        if name.eq_ignore_ascii_case(&self.host) {
            return true;
        }
        let with_port = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        name.eq_ignore_ascii_case(&with_port)
    }
}

impl fmt::Display for HttpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.scheme.as_str();
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
    if let Some(inner) = authority.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err("unclosed '[' in IPv6 address");
        };
        let host = &inner[..close];
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("not an IPv6 address inside brackets");
        }
        let after = &inner[close + 1..];
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(parse_port(p)?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err("unexpected text after ']'"),
        };
    }
    match authority.matches(':').count() {
        0 => Ok((authority, None)),
        1 => {
            let (h, p) = authority.split_once(':').unwrap_or((authority, ""));
            Ok((h, Some(parse_port(p)?)))
        }
        // A bare IPv6 address without a port.
        _ if authority.parse::<std::net::Ipv6Addr>().is_ok() => Ok((authority, None)),
        _ => Err("an IPv6 address with a port must be written in brackets"),
    }
}

fn parse_port(p: &str) -> Result<u16, &'static str> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err("the port must be a number from 1 to 65535"),
        Ok(n) => Ok(n),
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
