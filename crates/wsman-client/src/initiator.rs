//! The client side of every connection-oriented scheme behind one trait, the mirror of the
//! server's `Handshake`: the server's answer to the last leg in; send another token, complete
//! with a sealer, or refused. The transport runs the legs (empty-body POSTs on the one TCP
//! connection the context is bound to) and keeps the sealer; the schemes (Negotiate/NTLM in
//! [`crate::negotiate`], Kerberos in [`crate::kerberos`], CredSSP in [`crate::credssp`]) know
//! nothing of connections.

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
