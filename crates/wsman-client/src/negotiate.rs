//! Client-side policy and wire helpers for `Negotiate` (NTLM) authentication: which token form
//! to send, the `WWW-Authenticate` token parsing, Windows' TrustedHosts rule, and the channel
//! binding of an HTTPS connection. The handshake itself runs in the private `transport` module because
//! it is bound to one TCP connection.

use base64::Engine as _;
use wsman_auth::initiator::{ClientCredentials, TokenForm};

/// Longest base64 token accepted from a `WWW-Authenticate` header (NTLM CHALLENGE messages and
/// SPNEGO answers are a few hundred bytes).
const MAX_TOKEN_BASE64: usize = 16 * 1024;

/// How a client authenticates with `Negotiate`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NegotiateAuth {
    /// The user (`user`, `DOMAIN\user` or `user@domain`) and password.
    pub credentials: ClientCredentials,
    /// SPNEGO-wrapped (what Windows sends; the default) or raw NTLMSSP (what pywinrm sends).
    pub form: TokenForm,
    /// Send RFC 5929 `tls-server-end-point` channel bindings over HTTPS (Windows does; a server
    /// with CbtHardeningLevel=Strict requires them).
    pub channel_binding: bool,
    /// Encrypt every body over plain HTTP (MS-WSMV); off only for `-unencrypted`, which the
    /// server must allow too. Over HTTPS TLS protects the bodies and this is ignored.
    pub encrypt: bool,
}

impl NegotiateAuth {
    /// SPNEGO with channel binding, as Windows' client authenticates.
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            credentials: ClientCredentials::new(user, password),
            form: TokenForm::Spnego,
            channel_binding: true,
            encrypt: true,
        }
    }

    /// The same with another token form.
    pub fn with_form(mut self, form: TokenForm) -> Self {
        self.form = form;
        self
    }
}

/// `Negotiate <base64>` for an `Authorization` header.
pub(crate) fn authorization_value(token: &[u8]) -> String {
    format!(
        "Negotiate {}",
        base64::engine::general_purpose::STANDARD.encode(token)
    )
}

/// The token of the first `Negotiate <base64>` challenge among the `WWW-Authenticate` values
/// (each may hold several comma-separated challenges). `None` when there is none, when the
/// token is too long or not base64.
pub(crate) fn challenge_token(values: &[String]) -> Option<Vec<u8>> {
    values
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find_map(|challenge| {
            let (scheme, token) = challenge.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("Negotiate") {
                return None;
            }
            let token = token.trim();
            if token.is_empty() || token.len() > MAX_TOKEN_BASE64 {
                return None;
            }
            base64::engine::general_purpose::STANDARD.decode(token).ok()
        })
}

/// Whether `host` matches Windows' `Client/TrustedHosts` list: comma-separated entries, each a
/// host name or IP address compared case-insensitively, `*` wildcards anywhere in an entry
/// (`*` alone trusts every host, `*.example.com` a domain, `192.168.1.*` a range of names), and
/// `<local>` for every name without a dot. An empty list trusts nothing.
pub fn trusted_hosts_allows(list: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            if entry.eq_ignore_ascii_case("<local>") {
                return !host.contains('.') && !host.contains(':');
            }
            wildcard_match(&entry.to_ascii_lowercase(), &host.to_ascii_lowercase())
        })
}

/// `*` matches any run of characters (including none); everything else literally.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*` at all: the whole text must equal the pattern.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_hosts_like_windows() {
        assert!(!trusted_hosts_allows("", "server"));
        assert!(trusted_hosts_allows("*", "10.0.0.1"));
        assert!(trusted_hosts_allows("a, Server ,c", "server"));
        assert!(!trusted_hosts_allows("a,server2", "server"));
        assert!(trusted_hosts_allows("*.example.com", "Host.Example.com"));
        assert!(!trusted_hosts_allows("*.example.com", "example.com"));
        assert!(trusted_hosts_allows("192.168.1.*", "192.168.1.20"));
        assert!(!trusted_hosts_allows("192.168.1.*", "192.168.10.2"));
        assert!(trusted_hosts_allows("web*01", "web-frontend-01"));
        assert!(trusted_hosts_allows("<local>", "server"));
        assert!(!trusted_hosts_allows("<local>", "server.example.com"));
        assert!(trusted_hosts_allows("::1", "[::1]"));
    }

    #[test]
    fn challenge_tokens() {
        let values = vec![
            "Basic realm=\"WSMAN\"".to_owned(),
            "Negotiate TlRMTVNTUAAC".to_owned(),
        ];
        assert_eq!(challenge_token(&values).unwrap(), b"NTLMSSP\0\x02");
        let joined = vec!["Negotiate, Basic realm=\"WSMAN\"".to_owned()];
        assert_eq!(challenge_token(&joined), None);
        assert_eq!(challenge_token(&["negotiate !!".to_owned()]), None);
        assert_eq!(
            authorization_value(b"NTLMSSP\0\x02"),
            "Negotiate TlRMTVNTUAAC"
        );
    }
}
