//! Why a `winrm` or `winrs` invocation failed, its exit code and its text on stderr, once for
//! both commands: their numbers and wording differ ([`Tool`]), so the two map the same client
//! error the same way.

use wsman_client::ClientError;

use crate::{describe_error, error_number, failure_kind, fault_block, FailureKind, SwitchError};

/// What went wrong, as far as the exit code is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The command line is wrong.
    Usage,
    /// A local operation failed (I/O, a local fault of the configuration store).
    Local,
    /// A WS-Management operation failed.
    Client(FailureKind),
    /// With several hosts: some failed.
    SomeHostsFailed,
    /// With several hosts: every one failed.
    AllHostsFailed,
}

/// The two commands: the same failures, their own exit codes and wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `winrm`: Windows' small exit codes (0 success, 1 a fault, 2 usage...).
    Winrm,
    /// `winrs`: codes from 248 up, clear of what remote commands commonly return (0-2, 126,
    /// 127, 128+N for signals, 255), so a script can tell "the command failed" from "winrs
    /// failed".
    Winrs,
}

impl Tool {
    /// The documented exit code for `why`.
    pub const fn exit_code(self, why: Why) -> u8 {
        let (winrm, winrs) = match why {
            Why::Usage | Why::Client(FailureKind::InvalidEndpoint) => (2, 250),
            // winrs has no code of its own for this: the settings refuse the command line.
            Why::Client(FailureKind::Configuration) => (5, 250),
            Why::Client(FailureKind::Unauthorized) => (3, 251),
            Why::Client(FailureKind::Connection) => (4, 252),
            Why::Client(FailureKind::Protocol) => (4, 253),
            Why::Client(FailureKind::Fault) => (1, 253),
            Why::Local => (1, 254),
            Why::SomeHostsFailed => (6, 248),
            Why::AllHostsFailed => (7, 249),
        };
        match self {
            Self::Winrm => winrm,
            Self::Winrs => winrs,
        }
    }

    /// Put before a usage error's and a local error's text.
    const fn prefix(self) -> &'static str {
        match self {
            Self::Winrm => "",
            Self::Winrs => "winrs: ",
        }
    }

    /// Put before a local error's text, after [`Tool::prefix`].
    const fn local_label(self) -> &'static str {
        match self {
            Self::Winrm => "Error: ",
            Self::Winrs => "",
        }
    }

    /// What prints the syntax.
    const fn help(self) -> &'static str {
        match self {
            Self::Winrm => "winrm help",
            Self::Winrs => "winrs -?",
        }
    }
}

/// Everything that can end an invocation before its work is done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The command line is wrong.
    #[error(transparent)]
    Usage(SwitchError),
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

impl From<SwitchError> for Failure {
    fn from(e: SwitchError) -> Self {
        Self::Usage(e)
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Self::Client(Box::new(e))
    }
}

impl Failure {
    /// A local failure with `message`.
    pub fn local(message: impl Into<String>) -> Self {
        Self::Local {
            message: message.into(),
        }
    }

    /// `tool`'s documented exit code.
    pub fn exit_code(&self, tool: Tool) -> u8 {
        tool.exit_code(self.why())
    }

    fn why(&self) -> Why {
        match self {
            Self::Usage(_) => Why::Usage,
            Self::LocalFault { .. } | Self::Local { .. } => Why::Local,
            Self::Hosts { failed, total } if failed >= total => Why::AllHostsFailed,
            Self::Hosts { .. } => Why::SomeHostsFailed,
            Self::Client(c) => Why::Client(failure_kind(c)),
        }
    }

    /// The text `tool` prints to stderr: WS-Management errors as Windows' tools print them.
    pub fn describe(&self, tool: Tool) -> String {
        match self {
            Self::Usage(u) => {
                let (prefix, help) = (tool.prefix(), tool.help());
                format!("{prefix}{u}\nRun `{help}` for the syntax.\n")
            }
            Self::LocalFault { fault } => format!(
                "{}\n{}\n{}\n",
                fault_block(fault.message.trim_end()),
                error_number(fault.wsman_code),
                fault.message.trim_end()
            ),
            Self::Local { message } => {
                let (prefix, label) = (tool.prefix(), tool.local_label());
                format!("{prefix}{label}{message}\n")
            }
            // Already said, host by host and in the summary.
            Self::Hosts { .. } => String::new(),
            Self::Client(c) => describe_error(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOL: Tool = Tool::Winrm;

    fn describe(f: &Failure) -> String {
        f.describe(TOOL)
    }

    /// The fault of a recorded Windows answer.
    fn recorded_fault(name: &str) -> ClientError {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../wsman-proto/tests/fixtures");
        let path = format!("{dir}/windows/faults/{name}");
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        wsman_client::fault_from_envelope(&body, 500).unwrap_or_else(|| panic!("{name}: no fault"))
    }

    #[test]
    fn provider_fault_prints_nested_like_windows() {
        let err = recorded_fault("fault.invalid-shellid.xml");
        let msg = "The WS-Management service cannot process the request because the request contained invalid selectors for the resource.";
        assert_eq!(
            describe(&Failure::from(err)),
            format!(
                "WSManFault\n    Message\n        ProviderFault\n            WSManFault\n                Message = {msg}\n\n\
                 Error number:  -2144108453 0x8033805B\n{msg}\n"
            )
        );
    }

    #[test]
    fn simple_fault_fixtures_have_a_message_and_number() {
        for name in [
            "fault.invalid-timeout-header.xml",
            "fault.schema-validation.xml",
            "fault.invalid-parameter.xml",
        ] {
            let f = Failure::from(recorded_fault(name));
            assert_eq!(f.exit_code(TOOL), 1);
            let text = describe(&f);
            assert!(
                text.starts_with("WSManFault\n    Message"),
                "{name}: {text}"
            );
            assert!(text.contains("\nError number:  -"), "{name}: {text}");
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(
            Failure::from(ClientError::Unauthorized { offered: vec![] }).exit_code(TOOL),
            3
        );
        assert_eq!(
            Failure::from(ClientError::Http { status: 503 }).exit_code(TOOL),
            4
        );
        assert_eq!(
            Failure::from(ClientError::Timeout { millis: 1 }).exit_code(TOOL),
            4
        );
        assert_eq!(Failure::Usage(SwitchError::new("x")).exit_code(TOOL), 2);
        assert_eq!(Failure::local("x").exit_code(TOOL), 1);
        assert_eq!(
            Failure::from(ClientError::Configuration {
                reason: "unencrypted traffic is not allowed".into()
            })
            .exit_code(TOOL),
            5
        );
        assert_eq!(
            Failure::LocalFault {
                fault: wsman_proto::Fault::access_denied()
            }
            .exit_code(TOOL),
            1
        );
    }

    #[test]
    fn local_fault_shape() {
        let f = Failure::LocalFault {
            fault: wsman_proto::Fault::destination_unreachable("urn:x"),
        };
        let t = describe(&f);
        assert!(t.starts_with("WSManFault\n    Message = "), "{t}");
        assert!(
            t.contains("\n\nError number:  -2144108526 0x80338012\n"),
            "{t}"
        );
    }
}
