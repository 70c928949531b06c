//! The client side of every connection-oriented scheme behind one trait, the mirror of the
//! server's `Handshake`: the server's answer to the last leg in; send another token, complete
//! with a sealer, or refused. The transport runs the legs (empty-body POSTs on the one TCP
//! connection the context is bound to) and keeps the sealer; the schemes (Negotiate/NTLM in
//! [`crate::negotiate`], Kerberos in [`crate::kerberos`], CredSSP in [`crate::credssp`]) know
//! nothing of connections.

use base64::Engine as _;
use wsman_auth::sealing::MessageSealer;

use crate::error::ClientError;

/// The server's answer to one handshake leg: what a scheme reads of it.
#[derive(Debug)]
pub(crate) struct LegAnswer {
    pub(crate) status: u16,
    pub(crate) www_authenticate: Vec<String>,
}

/// What a scheme does next.
pub(crate) enum Next {
    /// Send this `Authorization` value in another empty-body leg.
    Send(String),
    /// The context is established: its sealer (used when bodies are encrypted).
    Established(Box<dyn MessageSealer>),
}

/// One handshake on one connection.
pub(crate) trait Initiator: Send + 'static {
    /// The scheme's name, for errors.
    fn scheme(&self) -> &'static str;

    /// The first leg's token (`answer` is `None`), or the step after the server's `answer`
    /// to the last leg. May block (Kerberos): the transport runs it on the blocking pool.
    fn step(&mut self, answer: Option<&LegAnswer>) -> Result<Next, ClientError>;

    /// Whether a step may block (a library call, a file, the network): it then runs on the
    /// blocking pool; a step that only computes runs in place, without the thread hop.
    fn blocks(&self) -> bool {
        true
    }
}

/// A leg answered with a status no handshake expects.
pub(crate) fn unexpected_leg(status: u16) -> ClientError {
    ClientError::Authentication {
        reason: format!("the server answered a Negotiate handshake request with HTTP {status}"),
    }
}

/// The refusal of a leg: 401 with the challenges the server offers.
pub(crate) fn refused(answer: &LegAnswer) -> ClientError {
    ClientError::Unauthorized {
        offered: answer.www_authenticate.clone(),
    }
}

/// How one scheme's tokens travel in headers: `Authorization: <name> <base64>` out, the first
/// `<name> <base64>` challenge among the `WWW-Authenticate` values in. One parser for every
/// scheme, so Negotiate, Kerberos and CredSSP bound and split challenges alike.
pub(crate) struct TokenScheme {
    /// The scheme's name, compared case-insensitively.
    pub(crate) name: &'static str,
    /// Longest base64 token accepted from the server.
    pub(crate) max_base64: usize,
    /// Whether a bare `<name>` (no token) is an empty token (CredSSP's TLS leg with nothing
    /// to send) rather than no token.
    pub(crate) bare_is_empty: bool,
}

impl TokenScheme {
    /// `<name> <base64>` for an `Authorization` header.
    pub(crate) fn authorization_value(&self, token: &[u8]) -> String {
        format!(
            "{} {}",
            self.name,
            base64::engine::general_purpose::STANDARD.encode(token)
        )
    }

    /// The token of the first challenge in this scheme among the `WWW-Authenticate` values
    /// (each may hold several comma-separated challenges). `None` when there is none, when the
    /// token is too long or not base64, or empty where that is not allowed.
    pub(crate) fn challenge_token(&self, values: &[String]) -> Option<Vec<u8>> {
        values
            .iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .find_map(|challenge| {
                let (scheme, token) = challenge.split_once(' ').unwrap_or((challenge, ""));
                if !scheme.eq_ignore_ascii_case(self.name) {
                    return None;
                }
                let token = token.trim();
                if (token.is_empty() && !self.bare_is_empty) || token.len() > self.max_base64 {
                    return None;
                }
                base64::engine::general_purpose::STANDARD.decode(token).ok()
            })
    }
}

/// A scheme's state machine until its handshake completes and hands it over to the sealer: a
/// leg after that is a protocol error.
pub(crate) struct Pending<T> {
    state: Option<T>,
    scheme: &'static str,
}

impl<T> Pending<T> {
    pub(crate) fn new(scheme: &'static str, state: T) -> Self {
        Self {
            state: Some(state),
            scheme,
        }
    }

    /// The state machine, while the handshake runs.
    pub(crate) fn get(&mut self) -> Result<&mut T, ClientError> {
        let scheme = self.scheme;
        self.state.as_mut().ok_or_else(|| completed(scheme))
    }

    /// The state machine, handed over when the handshake completes.
    pub(crate) fn take(&mut self) -> Result<T, ClientError> {
        self.state.take().ok_or_else(|| completed(self.scheme))
    }
}

fn completed(scheme: &str) -> ClientError {
    ClientError::protocol(format!("the {scheme} handshake already completed"))
}
