//! The one parser of an HTTP address (`http(s)://host[:port][/path]`, `host`, `host:port`,
//! IPv6 in brackets), its defaults a parameter ([`Defaults`]): WinRM's ports (5985 / 5986) and
//! path (`/wsman`) for the client's endpoint, a push subscription's NotifyTo and EndTo; the
//! web's (80 / 443) for the collector's HTTP outputs and the console's reading of a host's URL. A policy about where the daemon connects
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

/// What an address may leave out, and so the one parser's defaults: WinRM's ([`Defaults::WINRM`])
/// for the client's endpoint and a push delivery's NotifyTo, the web's ([`Defaults::WEB`]) for
/// an HTTP output's URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaults {
    /// Whether `http://` or `https://` must be written (else a form without one is HTTP, or
    /// HTTPS with `use_tls`).
    pub scheme_required: bool,
    /// The port of an `http` address that names none.
    pub http_port: u16,
    /// The port of an `https` address that names none.
    pub https_port: u16,
    /// The path of an address without one (or with `/` alone).
    pub path: &'static str,
}

impl Defaults {
    /// WinRM's: 5985 / 5986 and `/wsman`, the scheme optional.
    pub const WINRM: Defaults = Defaults {
        scheme_required: false,
        http_port: 5985,
        https_port: 5986,
        path: DEFAULT_PATH,
    };
    /// The web's: 80 / 443 and `/`, the scheme required.
    pub const WEB: Defaults = Defaults {
        scheme_required: true,
        http_port: 80,
        https_port: 443,
        path: "/",
    };

    fn port(&self, scheme: Scheme) -> u16 {
        match scheme {
            Scheme::Http => self.http_port,
            Scheme::Https => self.https_port,
        }
    }
}

impl HttpAddress {
    /// Parse an address with WinRM's defaults. `use_tls` selects HTTPS for forms without a
    /// scheme; combined with an explicit `http://` URL it is refused as contradictory.
    pub fn parse(input: &str, use_tls: bool) -> Result<HttpAddress, HttpAddressError> {
        Self::parse_with(input, use_tls, Defaults::WINRM)
    }

    /// Parse an address, what it leaves out taken from `defaults`.
    pub fn parse_with(
        input: &str,
        use_tls: bool,
        defaults: Defaults,
    ) -> Result<HttpAddress, HttpAddressError> {
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
        } else if defaults.scheme_required {
            return Err(bad("not an http:// or https:// URL"));
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
            defaults.path.to_owned()
        } else {
            path.to_owned()
        };
        Ok(HttpAddress {
            scheme,
            host: host.to_owned(),
            port: port.unwrap_or(defaults.port(scheme)),
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
    let (host, port) = match authority.matches(':').count() {
        0 => (authority, None),
        1 => {
            let (h, p) = authority.split_once(':').unwrap_or((authority, ""));
            (h, Some(parse_port(p)?))
        }
        // A bare IPv6 address without a port.
        _ if authority.parse::<std::net::Ipv6Addr>().is_ok() => return Ok((authority, None)),
        _ => return Err("an IPv6 address with a port must be written in brackets"),
    };
    if !host.bytes().all(is_name_byte) {
        return Err("the host name holds a character a URL's host may not");
    }
    Ok((host, port))
}

/// RFC 3986's `reg-name`: unreserved, percent-encoded and sub-delimiter characters.
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&byte)
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
