//! Where to connect: the `-r:` forms of `winrm.cmd` (`http(s)://host[:port][/path]`, `host`,
//! `host:port`, IPv6 in brackets) with WinRM's default ports (5985 / 5986) and path (`/wsman`).

use std::fmt;

use crate::error::ClientError;

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

/// A parsed WS-Management endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// HTTP or HTTPS.
    pub scheme: Scheme,
    /// Host name or IP address; IPv6 addresses without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Request path, always starting with `/` (default `/wsman`).
    pub path: String,
}

/// The URL path WinRM listeners use unless URLPrefix says otherwise.
pub const DEFAULT_PATH: &str = "/wsman";

impl Endpoint {
    /// An endpoint from parts, with the default path.
    pub fn new(scheme: Scheme, host: &str, port: u16) -> Self {
        Self {
            scheme,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path: DEFAULT_PATH.to_owned(),
        }
    }

    /// Parse a `-r:` value. `use_ssl` (`-usessl`) selects HTTPS for forms without a scheme;
    /// combined with an explicit `http://` URL it is refused as contradictory.
    pub fn parse(input: &str, use_ssl: bool) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::InvalidEndpoint {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
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
            if use_ssl {
                return Err(bad("-usessl contradicts an http:// URL"));
            }
            (Scheme::Http, &text[7..])
        } else if lower.contains("://") {
            return Err(bad("only http:// and https:// are supported"));
        } else if use_ssl {
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
        let (host, port) = split_host_port(authority).map_err(&bad)?;
        if host.is_empty() {
            return Err(bad("no host name"));
        }
        let path = if path.is_empty() || path == "/" {
            DEFAULT_PATH.to_owned()
        } else {
            path.to_owned()
        };
        Ok(Self {
            scheme,
            host: host.to_owned(),
            port: port.unwrap_or(scheme.default_port()),
            path,
        })
    }

    /// True when the host is an IPv6 literal (printed in brackets).
    pub fn is_ipv6(&self) -> bool {
        self.host.contains(':')
    }

    /// `host:port` with IPv6 in brackets: the Host header and the TCP target.
    pub fn authority(&self) -> String {
        if self.is_ipv6() {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The full URL, also used as `wsa:To`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.path
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
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
mod tests {
    use super::*;

    fn ok(input: &str, ssl: bool) -> Endpoint {
        Endpoint::parse(input, ssl).unwrap_or_else(|e| panic!("{input}: {e}"))
    }

    #[test]
    fn host_only_uses_defaults() {
        let e = ok("server1", false);
        assert_eq!(e.url(), "http://server1:5985/wsman");
        let e = ok("server1", true);
        assert_eq!(e.url(), "https://server1:5986/wsman");
    }

    #[test]
    fn host_and_port() {
        assert_eq!(ok("server1:8080", false).url(), "http://server1:8080/wsman");
        assert_eq!(
            ok("10.0.0.1:5986", true).url(),
            "https://10.0.0.1:5986/wsman"
        );
    }

    #[test]
    fn urls() {
        assert_eq!(ok("http://h", false).url(), "http://h:5985/wsman");
        assert_eq!(ok("HTTPS://h", false).url(), "https://h:5986/wsman");
        assert_eq!(
            ok("https://h:443/custom/path", false).url(),
            "https://h:443/custom/path"
        );
        assert_eq!(ok("http://h:1/", false).path, "/wsman");
        assert_eq!(ok("https://h", true).scheme, Scheme::Https);
    }

    #[test]
    fn ipv6() {
        let e = ok("[::1]", false);
        assert_eq!(e.host, "::1");
        assert_eq!(e.url(), "http://[::1]:5985/wsman");
        assert_eq!(ok("[fe80::1]:6000", false).port, 6000);
        assert_eq!(
            ok("https://[2001:db8::5]:7000/wsman", false).authority(),
            "[2001:db8::5]:7000"
        );
        assert_eq!(ok("::1", false).url(), "http://[::1]:5985/wsman");
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "h:0",
            "h:70000",
            "h:x",
            "[::1",
            "[zz]:1",
            "ftp://h",
            "http://u@h",
            "a b",
            "http://h/p?x=1",
            "fe80::1:99999x",
        ] {
            assert!(Endpoint::parse(bad, false).is_err(), "{bad:?} accepted");
        }
        assert!(Endpoint::parse("http://h", true).is_err());
    }
}
