//! The one error type of the client, with enough structure for callers (and the `winrm` CLI)
//! to tell an authentication failure from a WS-Management fault from a network problem.

use wsman_proto::xml::Element;

/// Why a WS-Management operation did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// HTTP 401: the server refused the credentials (or wanted some).
    #[error("the server refused the credentials (HTTP 401)")]
    Unauthorized {
        /// The schemes offered in `WWW-Authenticate`, as sent.
        offered: Vec<String>,
    },
    /// A non-2xx HTTP status without a SOAP fault in the body.
    #[error("the server answered with HTTP status {status}")]
    Http {
        /// The HTTP status code.
        status: u16,
    },
    /// A SOAP fault (any status; WinRM sends them with 500).
    #[error("WS-Management fault {}: {message}", subcode.as_deref().unwrap_or(code))]
    Fault {
        /// `s:Code/s:Value`, e.g. `s:Sender`.
        code: String,
        /// `s:Code/s:Subcode/s:Value`, e.g. `w:InvalidSelectors`, as written on the wire.
        subcode: Option<String>,
        /// `f:WSManFault/@Code`.
        wsman_code: Option<u32>,
        /// `f:Message` text (including provider faults), else `s:Reason/s:Text`.
        message: String,
        /// `f:WSManFault/@Machine`.
        machine: Option<String>,
        /// The HTTP status the fault came with.
        status: u16,
        /// The `f:WSManFault` element itself, for callers that print it in full.
        detail: Option<Box<Element>>,
    },
    /// The TLS handshake failed (certificate not trusted, name mismatch, protocol error).
    #[error("TLS error: {message}")]
    Tls {
        /// What went wrong, as rustls reports it.
        message: String,
        /// What kind of failure it was, for callers that map it to an error number.
        kind: TlsFailure,
    },
    /// Connecting, reading or writing failed.
    #[error("connection to {target} failed: {source}")]
    Io {
        /// `host:port`.
        target: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No complete answer within the operation timeout plus the network delay.
    #[error("no answer within {millis} ms")]
    Timeout {
        /// The budget that expired.
        millis: u128,
    },
    /// The answer is not a valid WS-Management message (bad XML, wrong RelatesTo, too big).
    #[error("invalid response: {reason}")]
    Protocol {
        /// What is wrong with it.
        reason: String,
    },
    /// The endpoint string could not be understood.
    #[error("invalid endpoint {input:?}: {reason}")]
    InvalidEndpoint {
        /// The text given.
        input: String,
        /// Why it is refused.
        reason: String,
    },
    /// The client-side authentication layer gave up (a malformed or unverifiable server
    /// token, a handshake answered out of order); distinct from the server refusing (401).
    #[error("authentication failed: {reason}")]
    Authentication {
        /// What went wrong, without secrets.
        reason: String,
    },
    /// The options given do not make a usable client (e.g. Basic over plain HTTP without
    /// allowing unencrypted traffic, or an unreadable CA file).
    #[error("{reason}")]
    Configuration {
        /// What is wrong.
        reason: String,
    },
}

/// Kinds of TLS failures that users act on differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The certificate chain does not lead to a trusted root.
    UnknownIssuer,
    /// The certificate is not valid for the host name used.
    NameMismatch,
    /// The certificate is expired or not yet valid.
    Expired,
    /// Anything else.
    Other,
}

impl ClientError {
    pub(crate) fn protocol(reason: impl Into<String>) -> Self {
        Self::Protocol {
            reason: reason.into(),
        }
    }

    pub(crate) fn configuration(reason: impl Into<String>) -> Self {
        Self::Configuration {
            reason: reason.into(),
        }
    }
}
