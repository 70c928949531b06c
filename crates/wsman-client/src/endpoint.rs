//! Where to connect: the `-r:` forms of `winrm.cmd` (`http(s)://host[:port][/path]`, `host`,
//! `host:port`, IPv6 in brackets) with WinRM's default ports (5985 / 5986) and path (`/wsman`),
//! parsed by the workspace's one HTTP address parser ([`wsman_safe::http::HttpAddress`]).

use std::fmt;

use crate::error::ClientError;

use wsman_safe::http::HttpAddress;
pub use wsman_safe::http::{Scheme, DEFAULT_PATH};

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
        let address =
            HttpAddress::parse(input, use_ssl).map_err(|reason| ClientError::InvalidEndpoint {
                input: input.to_owned(),
                reason: reason.to_string(),
            })?;
        Ok(Self {
            scheme: address.scheme,
            host: address.host,
            port: address.port,
            path: address.path,
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
    fn refusals_name_the_input_and_the_reason() {
        // The parser's refusals are tested with it (`wsman_safe::http`); here, what this
        // front end makes of one, and the forms only `-r:` is known for.
        for bad in ["h:x", "fe80::1:99999x", "ftp://h"] {
            match Endpoint::parse(bad, false) {
                Err(ClientError::InvalidEndpoint { input, reason }) => {
                    assert_eq!(input, bad);
                    assert!(!reason.is_empty(), "{bad:?}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
