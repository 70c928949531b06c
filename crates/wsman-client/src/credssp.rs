//! Client-side settings and wire helpers for CredSSP: the user's password is delegated to the
//! server (what `-a:CredSSP` is for: the remote commands can reach a second hop with it). The
//! handshake is an `Initiator` whose legs the private `transport` module runs on the one TCP
//! connection it is bound to; the TLS session inside it, the inner NTLM, the public-key binding
//! and the sealing are `wsman_auth::credssp`'s.

use wsman_auth::credssp::{CredSspClientError, CredSspInitiator};
use wsman_auth::initiator::ClientCredentials;

use crate::error::ClientError;
use crate::initiator::{refused, unexpected_leg, Initiator, LegAnswer, Next, Pending, TokenScheme};

/// CredSSP's tokens in headers: the longest accepted is 64 KiB of base64 (a TLS server flight
/// with an RSA certificate is under 2 KiB); a bare `CredSSP` (a TLS leg with nothing to send)
/// is an empty token.
const CREDSSP: TokenScheme = TokenScheme {
    name: "CredSSP",
    max_base64: 64 * 1024,
    bare_is_empty: true,
};

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

/// One CredSSP handshake: TLS records in `CredSSP` legs, a 401 with one
/// `WWW-Authenticate: CredSSP <token>` per leg, and the 200 after the delegation; the TLS
/// session then seals bodies.
pub(crate) struct CredSspHandshake {
    initiator: Pending<CredSspInitiator>,
}

impl CredSspHandshake {
    /// A handshake with `host` delegating `auth`'s credentials.
    pub(crate) fn new(auth: &CredSspAuth, host: &str) -> Result<Self, ClientError> {
        let mut initiator = CredSspInitiator::new(&auth.credentials, host)
            .map_err(|e| ClientError::configuration(e.to_string()))?;
        if !auth.public_key_binding {
            initiator = initiator.without_public_key_binding();
        }
        Ok(Self {
            initiator: Pending::new("CredSSP", initiator),
        })
    }
}

fn credssp_error(e: CredSspClientError) -> ClientError {
    match e {
        CredSspClientError::ServerError(_) => ClientError::Authentication {
            reason: format!("CredSSP: {e} (wrong user name or password?)"),
        },
        other => ClientError::Authentication {
            reason: format!("CredSSP: {other}"),
        },
    }
}

impl Initiator for CredSspHandshake {
    fn scheme(&self) -> &'static str {
        "CredSSP"
    }

    fn step(&mut self, answer: Option<&LegAnswer>) -> Result<Next, ClientError> {
        let Some(answer) = answer else {
            let token = self
                .initiator
                .get()?
                .initial_token()
                .map_err(credssp_error)?;
            return Ok(Next::Send(CREDSSP.authorization_value(&token)));
        };
        match answer.status {
            200..=299 if self.initiator.get()?.delegated() => {
                let sealer = self.initiator.take()?.complete().map_err(credssp_error)?;
                Ok(Next::Established(sealer))
            }
            // A leg carries exactly one challenge; the plain list means "refused".
            401 if answer.www_authenticate.len() == 1 && !self.initiator.get()?.delegated() => {
                let server = CREDSSP
                    .challenge_token(&answer.www_authenticate)
                    .ok_or_else(|| refused(answer))?;
                let token = self.initiator.get()?.step(&server).map_err(credssp_error)?;
                Ok(Next::Send(CREDSSP.authorization_value(&token)))
            }
            401 => Err(refused(answer)),
            status => Err(unexpected_leg(status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_tokens() {
        assert_eq!(
            CREDSSP.challenge_token(&["CredSSP AQID".to_owned()]),
            Some(vec![1, 2, 3])
        );
        assert_eq!(
            CREDSSP.challenge_token(&["CredSSP ".to_owned()]),
            Some(vec![])
        );
        assert_eq!(
            CREDSSP.challenge_token(&["Negotiate AQID".to_owned()]),
            None
        );
        assert_eq!(CREDSSP.challenge_token(&["CredSSP !!".to_owned()]), None);
        assert_eq!(CREDSSP.authorization_value(&[1, 2, 3]), "CredSSP AQID");
    }
}
