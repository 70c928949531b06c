//! What the acceptor's and initiator's steps produce, and which token form the initiator
//! sends: the same types with or without the `kerberos` feature.

/// Which token form the initiator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitiatorMechanism {
    /// Raw Kerberos GSS tokens (the `Kerberos` scheme, or pywinrm-style `Negotiate`).
    Kerberos,
    /// SPNEGO-wrapped Kerberos (the `Negotiate` scheme as Windows sends it).
    Spnego,
}

/// What one call of [`KerberosContext::step`](crate::KerberosContext::step) produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptStep {
    /// Send this token in a 401 (`WWW-Authenticate: <scheme> <token>`) and wait for the next.
    Continue(Vec<u8>),
    /// Authenticated; the context can now wrap and unwrap.
    Complete(Established),
}

/// Who authenticated, and the token that proves the server to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Established {
    /// The mutual-authentication token (AP-REP, or a SPNEGO NegTokenResp around it) for the
    /// 200's `WWW-Authenticate`; `None` when the client asked for none.
    pub token: Option<Vec<u8>>,
    /// The client principal, `user@REALM`.
    pub principal: String,
    /// The local account libkrb5's `auth_to_local` rules map the principal to (by default
    /// `user` for principals of the default realm); `None` when no rule applies.
    pub local_name: Option<String>,
    /// The service principal the ticket was for, e.g. `HTTP/host@REALM`.
    pub service: String,
    /// Whether the client's channel bindings were present and matched ours.
    pub channel_bound: bool,
}

/// What one call of [`KerberosInitiatorContext::step`](crate::KerberosInitiatorContext::step) produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitStep {
    /// Send this token (`Authorization: <scheme> <token>`) and feed the server's answer back.
    Continue(Vec<u8>),
    /// The server is authenticated (mutual authentication done); send `token` if there is one.
    Complete {
        /// A last token for the server (SPNEGO mechListMIC), rarely present.
        token: Option<Vec<u8>>,
    },
}
