//! Client-side settings and wire helpers for CredSSP: the user's password is delegated to the
//! server (what `-a:CredSSP` is for: the remote commands can reach a second hop with it). The
//! handshake runs in the private `transport` module because it is bound to one TCP connection; the TLS
//! session inside it, the inner NTLM, the public-key binding and the sealing are
//! `wsman_auth::credssp`'s.

use base64::Engine as _;
use wsman_auth::initiator::ClientCredentials;

/// Longest base64 token accepted from a `WWW-Authenticate: CredSSP` header (a TLS server
/// flight with an RSA certificate is under 2 KiB).
const MAX_TOKEN_BASE64: usize = 64 * 1024;

/// How a client authenticates with CredSSP.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CredSspAuth {
    /// The user (`user` or `DOMAIN\user`) and the password that is delegated.
    pub credentials: ClientCredentials,
    /// Encrypt every body over plain HTTP with the CredSSP TLS session (MS-WSMV); off only for
    /// `-unencrypted`. Over HTTPS this is ignored.
    pub encrypt: bool,
    /// Send the public-key binding (always, except in tests proving a server refuses a client
    /// that leaves it out).
    pub public_key_binding: bool,
}

impl CredSspAuth {
    /// Delegate `user`'s `password`, sealing over HTTP.
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            credentials: ClientCredentials::new(user, password),
            encrypt: true,
            public_key_binding: true,
        }
    }

    /// Leave the public-key binding out (for tests of servers only).
    #[doc(hidden)]
    pub fn without_public_key_binding(mut self) -> Self {
        self.public_key_binding = false;
        self
    }
}

/// `CredSSP <base64>` for an `Authorization` header.
pub(crate) fn authorization_value(token: &[u8]) -> String {
    format!(
        "CredSSP {}",
        base64::engine::general_purpose::STANDARD.encode(token)
    )
}

/// The token of the first `CredSSP [<base64>]` challenge among the `WWW-Authenticate` values;
/// a bare `CredSSP` (a TLS leg with nothing to send) is an empty token. `None` when there is
/// none or it is not base64.
pub(crate) fn challenge_token(values: &[String]) -> Option<Vec<u8>> {
    values
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find_map(|challenge| {
            let (scheme, token) = challenge.split_once(' ').unwrap_or((challenge, ""));
            if !scheme.eq_ignore_ascii_case("CredSSP") {
                return None;
            }
            let token = token.trim();
            if token.len() > MAX_TOKEN_BASE64 {
                return None;
            }
            base64::engine::general_purpose::STANDARD.decode(token).ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_tokens() {
        assert_eq!(
            challenge_token(&["CredSSP AQID".to_owned()]),
            Some(vec![1, 2, 3])
        );
        assert_eq!(challenge_token(&["CredSSP ".to_owned()]), Some(vec![]));
        assert_eq!(challenge_token(&["Negotiate AQID".to_owned()]), None);
        assert_eq!(challenge_token(&["CredSSP !!".to_owned()]), None);
        assert_eq!(authorization_value(&[1, 2, 3]), "CredSSP AQID");
    }
}
