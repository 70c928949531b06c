//! Why a command could not be started: [`ProcessError`], and [`SetupStep`] for the step of
//! the child between its creation and `execve` that failed (reported through the stage pipe
//! as a code, turned back into a step here).

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

use super::spawn::stage;
use crate::pam::{PamCode, PamStage};

/// Which setup step of the child failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupStep {
    /// `setsid`.
    NewSession,
    /// Writing to a cgroup's `tasks` (v1) or `cgroup.procs` (v2).
    JoinCgroup,
    /// `setrlimit`.
    ResourceLimits,
    /// `setgroups`.
    SupplementaryGroups,
    /// `setgid`.
    GroupId,
    /// `setuid`.
    UserId,
    /// The ids after switching were not the requested ones, or root could be
    /// regained.
    VerifyIds,
    /// Resetting signal dispositions and mask.
    Signals,
    /// Placing the pipes (or `/dev/null`) on stdin, stdout and stderr.
    Stdio,
    /// Taking the pseudo-terminal as the session's controlling terminal (`TIOCSCTTY`).
    ControllingTerminal,
    /// Starting the PAM session helper.
    SessionHelper,
}

impl SetupStep {
    pub(super) fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            stage::NEW_SESSION => Self::NewSession,
            stage::JOIN_CGROUP => Self::JoinCgroup,
            stage::RESOURCE_LIMITS => Self::ResourceLimits,
            stage::SUPPLEMENTARY_GROUPS => Self::SupplementaryGroups,
            stage::GROUP_ID => Self::GroupId,
            stage::USER_ID => Self::UserId,
            stage::VERIFY_IDS => Self::VerifyIds,
            stage::SIGNALS => Self::Signals,
            stage::STDIO => Self::Stdio,
            stage::CONTROLLING_TERMINAL => Self::ControllingTerminal,
            stage::SESSION_HELPER => Self::SessionHelper,
            _ => return None,
        })
    }
}

impl std::fmt::Display for SetupStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Self::NewSession => "setsid",
            Self::JoinCgroup => "joining the shell's cgroup",
            Self::ResourceLimits => "setrlimit",
            Self::SupplementaryGroups => "setgroups",
            Self::GroupId => "setgid",
            Self::UserId => "setuid",
            Self::VerifyIds => "verifying the new ids",
            Self::Signals => "resetting signals",
            Self::Stdio => "connecting stdin, stdout and stderr",
            Self::ControllingTerminal => "taking the pseudo-terminal as controlling terminal",
            Self::SessionHelper => "starting the PAM session helper",
        };
        f.write_str(text)
    }
}

/// Why a command could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The working directory does not exist or the user may not enter it.
    #[error("working directory {path:?} is not accessible: {errno}")]
    WorkingDirectory {
        /// The directory.
        path: PathBuf,
        /// `chdir`'s error as the user.
        errno: Errno,
    },
    /// A direct-exec program was not found in PATH.
    #[error("program {program:?} not found")]
    ProgramNotFound {
        /// The program name.
        program: String,
    },
    /// `execve` failed for another reason (permission, format...).
    #[error("program {program:?} cannot be executed: {errno}")]
    Exec {
        /// The program name.
        program: String,
        /// `execve`'s error.
        errno: Errno,
    },
    /// A setup step in the child failed.
    #[error("starting the command failed at {step}: {errno}")]
    Setup {
        /// The failed step.
        step: SetupStep,
        /// Its error.
        errno: Errno,
    },
    /// A value passed to the child contains a NUL byte.
    #[error("{what} contains a NUL byte")]
    NulByte {
        /// Which value.
        what: &'static str,
    },
    /// `clone`, pipe creation or another system call in the daemon failed.
    #[error("starting the command failed: {source}")]
    Io {
        /// The error.
        #[from]
        source: io::Error,
    },
    /// The command's PAM session could not be opened (a module of the session stack
    /// refused: pam_access, pam_nologin, a missing module...).
    #[error("the PAM session could not be opened: {stage} returned {code}")]
    Session {
        /// The PAM call that failed.
        stage: PamStage,
        /// What it returned.
        code: PamCode,
    },
    /// The daemon's own account could not be looked up.
    #[error("the daemon's own user (uid {uid}) has no passwd entry")]
    NoDaemonUser {
        /// The effective uid.
        uid: u32,
    },
}
