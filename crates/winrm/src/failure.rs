//! Errors of the CLI, their exit codes, and their Windows-style printing:
//!
//! ```text
//! WSManFault
//!     Message = <text>
//!
//! Error number:  -2144108526 0x80338012
//! <text>
//! ```

use wsman_cli::failure::ExitCodes;
#[cfg(test)]
use wsman_client::ClientError;

use crate::syntax::UsageError;

/// Exit status: success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: a WS-Management fault or another operation error.
pub(crate) const EXIT_FAULT: u8 = 1;
/// Exit status: the command line is wrong.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status: authentication failed (HTTP 401).
pub(crate) const EXIT_AUTH: u8 = 3;
/// Exit status: connection, TLS or HTTP error.
pub(crate) const EXIT_CONNECTION: u8 = 4;
/// Exit status: the client configuration refuses the request (unencrypted traffic not
/// allowed, a host not in TrustedHosts, an unreadable CA file): the command line is right, the
/// machine's client settings say no.
pub(crate) const EXIT_CONFIGURATION: u8 = 5;
/// Exit status with `-r:` of several hosts: some failed.
pub(crate) const EXIT_SOME_HOSTS_FAILED: u8 = 6;
/// Exit status with `-r:` of several hosts: every host failed.
pub(crate) const EXIT_ALL_HOSTS_FAILED: u8 = 7;

/// The `winrm` command's numbers and wording for the failures `wsman-cli` maps.
#[derive(Debug)]
pub(crate) struct Winrm;

impl wsman_cli::failure::Command for Winrm {
    type Usage = UsageError;
    const EXIT_CODES: ExitCodes = ExitCodes {
        usage: EXIT_USAGE,
        local: EXIT_FAULT,
        fault: EXIT_FAULT,
        protocol: EXIT_CONNECTION,
        unauthorized: EXIT_AUTH,
        invalid_endpoint: EXIT_USAGE,
        configuration: EXIT_CONFIGURATION,
        connection: EXIT_CONNECTION,
        some_hosts_failed: EXIT_SOME_HOSTS_FAILED,
        all_hosts_failed: EXIT_ALL_HOSTS_FAILED,
    };
    const PREFIX: &'static str = "";
    const LOCAL_LABEL: &'static str = "Error: ";
    const HELP: &'static str = "winrm help";
}

/// Everything that can go wrong in one invocation.
pub(crate) type Failure = wsman_cli::failure::Failure<Winrm>;

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Self::Usage(e)
    }
}

/// The text printed to stderr for a failure.
pub(crate) fn describe(f: &Failure) -> String {
    f.describe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_cli::error_number;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../wsman-proto/tests/fixtures/windows/faults/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn error_numbers_like_windows() {
        assert_eq!(
            error_number(2150858770),
            "Error number:  -2144108526 0x80338012"
        );
        assert_eq!(error_number(5), "Error number:  -2147024891 0x80070005");
        assert_eq!(
            error_number(2147942402),
            "Error number:  -2147024894 0x80070002"
        );
    }

    #[test]
    fn provider_fault_prints_nested_like_windows() {
        let Some(err) =
            wsman_client::fault_from_envelope(&fixture("fault.invalid-shellid.xml"), 500)
        else {
            panic!("no fault parsed")
        };
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
            let Some(err) = wsman_client::fault_from_envelope(&fixture(name), 500) else {
                panic!("{name}: no fault")
            };
            let f = Failure::from(err);
            assert_eq!(f.exit_code(), EXIT_FAULT);
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
            Failure::from(ClientError::Unauthorized { offered: vec![] }).exit_code(),
            EXIT_AUTH
        );
        assert_eq!(
            Failure::from(ClientError::Http { status: 503 }).exit_code(),
            EXIT_CONNECTION
        );
        assert_eq!(
            Failure::from(ClientError::Timeout { millis: 1 }).exit_code(),
            EXIT_CONNECTION
        );
        assert_eq!(
            Failure::Usage(crate::syntax::usage("x")).exit_code(),
            EXIT_USAGE
        );
        assert_eq!(Failure::local("x").exit_code(), EXIT_FAULT);
        assert_eq!(
            Failure::from(ClientError::Configuration {
                reason: "unencrypted traffic is not allowed".into()
            })
            .exit_code(),
            EXIT_CONFIGURATION
        );
        assert_eq!(
            Failure::LocalFault {
                fault: wsman_proto::Fault::access_denied()
            }
            .exit_code(),
            EXIT_FAULT
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
