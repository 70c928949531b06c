//! Why winrs failed locally, the exit code for each reason, and how it is printed (WS-Management
//! errors as Windows' tools print them, through wsman-cli).
//!
//! Exit codes are chosen not to collide with what remote commands commonly return (0-2, 126,
//! 127, 128+N for signals, 255): a script can tell "the command failed" from "winrs failed".

use wsman_cli::failure::{Tool, Why};
#[cfg(test)]
use wsman_client::ClientError;

/// Everything that can end winrs before the remote command's exit code is known.
pub(crate) use wsman_cli::failure::Failure;

/// winrs's exit codes (above 247, see [`Tool::Winrs`]) and wording.
pub(crate) const TOOL: Tool = Tool::Winrs;

/// The command line is wrong.
pub(crate) const EXIT_USAGE: u8 = TOOL.exit_code(Why::Usage);
/// With several hosts: some failed (an error, or an exit code other than 0), some succeeded.
pub(crate) const EXIT_SOME_FAILED: u8 = TOOL.exit_code(Why::SomeHostsFailed);
/// With several hosts: every host failed.
pub(crate) const EXIT_ALL_FAILED: u8 = TOOL.exit_code(Why::AllHostsFailed);
/// The user pressed Ctrl-C twice: the remote command was terminated (as a shell reports a
/// command killed by SIGINT).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// The text printed to stderr.
pub(crate) fn describe(f: &Failure) -> String {
    f.describe(TOOL)
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
    use wsman_cli::FailureKind;

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
        let code = |f: Failure| f.exit_code(TOOL);
        assert_eq!(code(Failure::Usage(crate::args::usage("x"))), 250);
        assert_eq!(
            code(ClientError::Unauthorized { offered: vec![] }.into()),
            251
        );
        assert_eq!(code(ClientError::Timeout { millis: 1 }.into()), 252);
        assert_eq!(code(ClientError::Http { status: 503 }.into()), 252);
        assert_eq!(code(Failure::local("x")), 254);
        let kinds = [
            FailureKind::Fault,
            FailureKind::Protocol,
            FailureKind::Unauthorized,
            FailureKind::InvalidEndpoint,
            FailureKind::Configuration,
            FailureKind::Connection,
        ];
        let others = [
            Why::Usage,
            Why::Local,
            Why::SomeHostsFailed,
            Why::AllHostsFailed,
        ];
        let whys = kinds.map(Why::Client).into_iter().chain(others);
        for c in whys.map(|why| TOOL.exit_code(why)) {
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
