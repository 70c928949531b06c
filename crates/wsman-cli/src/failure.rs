//! Why a `winrm` or `winrs` invocation failed, its exit code and its text on stderr, once for
//! both commands: each says only its own numbers and wording ([`Command`]), so the two map the
//! same client error the same way.

use wsman_client::ClientError;

use crate::{describe_error, error_number, failure_kind, fault_block, FailureKind};

/// One command's exit codes, by what went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitCodes {
    /// The command line is wrong.
    pub usage: u8,
    /// A local operation failed (I/O, a local fault of the configuration store).
    pub local: u8,
    /// The server answered with a WS-Management fault.
    pub fault: u8,
    /// The server's answer is not valid WS-Management.
    pub protocol: u8,
    /// The server refused the credentials (HTTP 401).
    pub unauthorized: u8,
    /// The endpoint given on the command line is wrong.
    pub invalid_endpoint: u8,
    /// This machine's client settings refuse the request.
    pub configuration: u8,
    /// Network, TLS, HTTP or no answer in time.
    pub connection: u8,
    /// With several hosts: some failed.
    pub some_hosts_failed: u8,
    /// With several hosts: every one failed.
    pub all_hosts_failed: u8,
}

/// What differs between the commands: the usage error type, the exit codes and the wording.
pub trait Command {
    /// The command line's error.
    type Usage: std::error::Error + 'static;
    /// The exit codes.
    const EXIT_CODES: ExitCodes;
    /// Put before a usage error's and a local error's text (`winrs: `), or nothing.
    const PREFIX: &'static str;
    /// Put before a local error's text after [`Command::PREFIX`] (`Error: `), or nothing.
    const LOCAL_LABEL: &'static str;
    /// What prints the syntax (`winrm help`).
    const HELP: &'static str;
}

/// Everything that can end an invocation before its work is done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Failure<C: Command> {
    /// The command line is wrong.
    #[error(transparent)]
    Usage(C::Usage),
    /// A WS-Management operation failed. Boxed: a fault carries several strings and an
    /// element.
    #[error(transparent)]
    Client(Box<ClientError>),
    /// A fault produced locally (config store), in the same shape as a remote one.
    #[error("{}", fault.message)]
    LocalFault {
        /// The fault.
        fault: wsman_proto::Fault,
    },
    /// A local operation failed outside WS-Management (file I/O, the terminal, systemctl).
    #[error("{message}")]
    Local {
        /// What failed, for the user.
        message: String,
    },
    /// Hosts of a run on several failed; each was reported with its host, and the summary
    /// printed.
    #[error("{failed} of {total} hosts failed")]
    Hosts {
        /// How many failed.
        failed: usize,
        /// How many there were.
        total: usize,
    },
}

impl<C: Command> From<ClientError> for Failure<C> {
    fn from(e: ClientError) -> Self {
        Self::Client(Box::new(e))
    }
}

impl<C: Command> Failure<C> {
    /// A local failure with `message`.
    pub fn local(message: impl Into<String>) -> Self {
        Self::Local {
            message: message.into(),
        }
    }

    /// The documented exit code.
    pub fn exit_code(&self) -> u8 {
        let codes = C::EXIT_CODES;
        match self {
            Self::Usage(_) => codes.usage,
            Self::LocalFault { .. } | Self::Local { .. } => codes.local,
            Self::Hosts { failed, total } if failed >= total => codes.all_hosts_failed,
            Self::Hosts { .. } => codes.some_hosts_failed,
            Self::Client(c) => match failure_kind(c) {
                FailureKind::Fault => codes.fault,
                FailureKind::Protocol => codes.protocol,
                FailureKind::Unauthorized => codes.unauthorized,
                FailureKind::InvalidEndpoint => codes.invalid_endpoint,
                FailureKind::Configuration => codes.configuration,
                _ => codes.connection,
            },
        }
    }

    /// The text printed to stderr: WS-Management errors as Windows' tools print them.
    pub fn describe(&self) -> String {
        match self {
            Self::Usage(u) => format!("{}{u}\nRun `{}` for the syntax.\n", C::PREFIX, C::HELP),
            Self::LocalFault { fault } => format!(
                "{}\n{}\n{}\n",
                fault_block(fault.message.trim_end()),
                error_number(fault.wsman_code),
                fault.message.trim_end()
            ),
            Self::Local { message } => format!("{}{}{message}\n", C::PREFIX, C::LOCAL_LABEL),
            // Already said, host by host and in the summary.
            Self::Hosts { .. } => String::new(),
            Self::Client(c) => describe_error(c),
        }
    }
}
