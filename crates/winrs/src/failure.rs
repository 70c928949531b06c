//! Why winrs failed locally, the exit code for each reason, and how it is printed (WS-Management
//! errors as Windows' tools print them, through wsman-cli).
//!
//! Exit codes are chosen not to collide with what remote commands commonly return (0-2, 126,
//! 127, 128+N for signals, 255): a script can tell "the command failed" from "winrs failed".

use wsman_cli::failure::ExitCodes;
#[cfg(test)]
use wsman_client::ClientError;

use crate::args::UsageError;

/// The command line is wrong.
pub(crate) const EXIT_USAGE: u8 = 250;
/// The server refused the credentials (HTTP 401).
pub(crate) const EXIT_AUTH: u8 = 251;
/// No connection: network, TLS, HTTP error or no answer in time.
pub(crate) const EXIT_CONNECTION: u8 = 252;
/// The server answered with a WS-Management fault (e.g. shells not allowed, quota) or an
/// answer that is not valid WS-Management.
pub(crate) const EXIT_FAULT: u8 = 253;
/// A local error: reading stdin or the password, writing stdout or stderr.
pub(crate) const EXIT_LOCAL: u8 = 254;
/// With several hosts: some failed (an error, or an exit code other than 0), some succeeded.
pub(crate) const EXIT_SOME_FAILED: u8 = 248;
/// With several hosts: every host failed.
pub(crate) const EXIT_ALL_FAILED: u8 = 249;
/// The user pressed Ctrl-C twice: the remote command was terminated (as a shell reports a
/// command killed by SIGINT).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// The `winrs` command's numbers and wording for the failures `wsman-cli` maps.
#[derive(Debug)]
pub(crate) struct Winrs;

impl wsman_cli::failure::Command for Winrs {
    type Usage = UsageError;
    const EXIT_CODES: ExitCodes = ExitCodes {
        usage: EXIT_USAGE,
        local: EXIT_LOCAL,
        fault: EXIT_FAULT,
        protocol: EXIT_FAULT,
        unauthorized: EXIT_AUTH,
        invalid_endpoint: EXIT_USAGE,
        configuration: EXIT_USAGE,
        connection: EXIT_CONNECTION,
        some_hosts_failed: EXIT_SOME_FAILED,
        all_hosts_failed: EXIT_ALL_FAILED,
    };
    const PREFIX: &'static str = "winrs: ";
    const LOCAL_LABEL: &'static str = "";
    const HELP: &'static str = "winrs -?";
}

/// Everything that can end winrs before the remote command's exit code is known.
pub(crate) type Failure = wsman_cli::failure::Failure<Winrs>;

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Self::Usage(e)
    }
}

/// The text printed to stderr.
pub(crate) fn describe(f: &Failure) -> String {
    f.describe()
}

/// The process exit code for a remote exit code: 0-255 as is; anything else (a Windows
/// NTSTATUS such as 3221225786, or a negative value) as 255, so that a failure never reads as
/// success the way a plain truncation to 8 bits could (256 -> 0).
pub(crate) fn exit_status(remote: i64) -> u8 {
    u8::try_from(remote).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_codes_pass_through_or_saturate() {
        for (remote, local) in [
            (0, 0),
            (1, 1),
            (42, 42),
            (255, 255),
            (256, 255),
            (3_221_225_786, 255),
            (-1, 255),
        ] {
            assert_eq!(exit_status(remote), local, "{remote}");
        }
    }

    #[test]
    fn exit_codes_by_failure() {
        assert_eq!(
            Failure::Usage(crate::args::usage("x")).exit_code(),
            EXIT_USAGE
        );
        assert_eq!(
            Failure::from(ClientError::Unauthorized { offered: vec![] }).exit_code(),
            EXIT_AUTH
        );
        assert_eq!(
            Failure::from(ClientError::Timeout { millis: 1 }).exit_code(),
            EXIT_CONNECTION
        );
        assert_eq!(
            Failure::from(ClientError::Http { status: 503 }).exit_code(),
            EXIT_CONNECTION
        );
        assert_eq!(Failure::local("x").exit_code(), EXIT_LOCAL);
        let codes = [
            EXIT_SOME_FAILED,
            EXIT_ALL_FAILED,
            EXIT_USAGE,
            EXIT_AUTH,
            EXIT_CONNECTION,
            EXIT_FAULT,
            EXIT_LOCAL,
        ];
        for c in codes {
            assert!(
                c > 128 + 64 && c < 255,
                "{c} collides with common remote codes"
            );
        }
    }

    #[test]
    fn faults_print_like_winrm() {
        let text = describe(&Failure::from(ClientError::Unauthorized {
            offered: vec![],
        }));
        assert!(
            text.starts_with("WSManFault\n    Message = Access is denied."),
            "{text}"
        );
        assert!(
            text.contains("\nError number:  -2147024891 0x80070005\n"),
            "{text}"
        );
    }
}
