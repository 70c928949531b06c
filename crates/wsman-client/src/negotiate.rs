//! Client-side policy and wire helpers for `Negotiate` (NTLM) authentication: which token form
//! to send, the `WWW-Authenticate` token parsing, Windows' TrustedHosts rule, and the channel
//! binding of an HTTPS connection, and the handshake as an `Initiator` (the private
//! `transport` module runs its legs on the one TCP connection it is bound to).

use wsman_auth::initiator::{ClientCredentials, NegotiateInitiator, TokenForm};

use crate::error::ClientError;
use crate::initiator::{refused, unexpected_leg, Initiator, LegAnswer, Next, Pending, TokenScheme};

/// Negotiate's tokens in headers: the longest accepted is 16 KiB of base64 (NTLM CHALLENGE
/// messages and SPNEGO answers are a few hundred bytes); a challenge without a token has none.
const NEGOTIATE: TokenScheme = TokenScheme {
    name: "Negotiate",
    max_base64: 16 * 1024,
    bare_is_empty: false,
};

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

/// One NTLM handshake: NEGOTIATE, then AUTHENTICATE in answer to the 401's CHALLENGE;
/// SPNEGO's final token on the 200 is verified before the context counts as established.
pub(crate) struct NtlmHandshake {
    initiator: Pending<NegotiateInitiator>,
    /// Legs sent so far.
    sent: u8,
}

impl NtlmHandshake {
    /// A handshake with `host`, bound to `channel_bindings` (HTTPS).
    pub(crate) fn new(
        auth: &NegotiateAuth,
        host: &str,
        channel_bindings: Option<Vec<u8>>,
    ) -> Result<Self, ClientError> {
        let initiator =
            NegotiateInitiator::new(&auth.credentials, auth.form, host, channel_bindings)
                .map_err(|e| ClientError::configuration(e.to_string()))?;
        Ok(Self {
            initiator: Pending::new("Negotiate", initiator),
            sent: 0,
        })
    }
}

fn initiator_error(e: wsman_auth::initiator::InitiatorError) -> ClientError {
    ClientError::Authentication {
        reason: e.to_string(),
    }
}

impl Initiator for NtlmHandshake {
    fn scheme(&self) -> &'static str {
        "Negotiate"
    }

    /// NTLM is a few hashes over the password and the challenge, in memory.
    fn blocks(&self) -> bool {
        false
    }

    fn step(&mut self, answer: Option<&LegAnswer>) -> Result<Next, ClientError> {
        let token = match (self.sent, answer) {
            (0, _) => self
                .initiator
                .get()?
                .initial_token()
                .map_err(initiator_error)?,
            (1, Some(answer)) => {
                if answer.status != 401 {
                    return Err(unexpected_leg(answer.status));
                }
                let challenge = NEGOTIATE
                    .challenge_token(&answer.www_authenticate)
                    .ok_or_else(|| refused(answer))?;
                self.initiator
                    .get()?
                    .step(&challenge)
                    .map_err(initiator_error)?
            }
            (_, Some(answer)) => {
                match answer.status {
                    200..=299 => {}
                    401 => return Err(refused(answer)),
                    status => return Err(unexpected_leg(status)),
                }
                let final_token = NEGOTIATE.challenge_token(&answer.www_authenticate);
                let sealer = self
                    .initiator
                    .take()?
                    .complete(final_token.as_deref())
                    .map_err(initiator_error)?;
                return Ok(Next::Established(sealer));
            }
            (_, None) => return Err(ClientError::protocol("a Negotiate leg without an answer")),
        };
        self.sent += 1;
        Ok(Next::Send(NEGOTIATE.authorization_value(&token)))
    }
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
        assert_eq!(
            NEGOTIATE.challenge_token(&values).unwrap(),
            b"NTLMSSP\0\x02"
        );
        let joined = vec!["Negotiate, Basic realm=\"WSMAN\"".to_owned()];
        assert_eq!(NEGOTIATE.challenge_token(&joined), None);
        assert_eq!(
            NEGOTIATE.challenge_token(&["negotiate !!".to_owned()]),
            None
        );
        assert_eq!(
            NEGOTIATE.authorization_value(b"NTLMSSP\0\x02"),
            "Negotiate TlRMTVNTUAAC"
        );
    }
}
