//! Starting WinRS commands as a Linux user, and ending them.
//!
//! [`PreparedCommand`] prepares a command whose child, between its creation
//! and `execve`, does what a login does before running a program, in this
//! order (each step checked, the first failure aborts the spawn):
//!
//! 1. stdin, stdout and stderr: pipes to the daemon, `/dev/null`, or the
//!    peer of a new pseudo-terminal (owned by the user, its window set);
//! 2. `setsid`: its own session and process group (pgid = sid = pid), so a
//!    signal can reach the command and everything it started together; on a
//!    pseudo-terminal, `TIOCSCTTY` makes it the session's controlling terminal;
//! 3. joins the shell's cgroups (while still privileged: the cgroup files
//!    were opened by the daemon);
//! 4. resource limits (the rlimit fallback when there is no cgroup);
//! 5. `setgroups`, `setgid`, `setuid` (when switching user), then verifies
//!    real and effective ids and that uid 0 cannot be regained;
//! 6. umask 022 (what a login gives), then `chdir` to the working
//!    directory *as the user*, so a directory the user may not enter is
//!    refused even though the daemon is root;
//! 7. default dispositions for every signal and an empty signal mask (the
//!    daemon's runtime ignores or blocks some; a child must not inherit that);
//! 8. every inherited descriptor above stderr marked close-on-exec;
//! 9. `execve`, searching PATH as `execvp` does.
//!
//! The child is not a `fork` of the daemon but a `vfork`-style clone that
//! shares its memory until `execve` (see `process/spawn.rs` for why and for
//! the rules its code follows). [`PreparedCommand::spawn`] returns once the
//! child has exec'd, or the typed [`ProcessError`] of the step that failed
//! (reported through a close-on-exec "stage" pipe), so a missing program or
//! directory is an error of the spawn, not an exit code. The [`Child`] gives
//! the pipes' daemon ends and a pidfd for an event loop to wait on.
//!
//! The environment of a login is rebuilt by [`login_environment`]. With a
//! [`LoginSession`] in the request, the command also runs inside a PAM session
//! (pam_limits, pam_env, pam_systemd, ...): the child execs the session helper
//! (as root, steps 5 and 6 left out) instead, which opens the session in its
//! own process and starts the command through the same steps (see
//! `process/session.rs`).
//!
//! Killing: [`signal_process_group`] for Ctrl+C, [`kill_sessions`] for whole
//! command trees when no cgroup tracks them. A process that calls `setsid`
//! itself leaves the session and escapes `kill_sessions`; only a cgroup
//! (see [`crate::cgroup`]) catches those.
//!
//! The login environment ([`login_environment`]) and the daemon's own
//! account live in `process/environment.rs`; signalling, `/proc` scans and
//! exit codes in `signal.rs`; the clone and [`Child`] in
//! `process/spawn.rs`; [`PreparedCommand`] (what the child needs, built in
//! the daemon, and the spawn) in `process/prepare.rs`; the typed errors in
//! `process/error.rs`. Everything is re-exported here.

mod environment;
mod error;
mod prepare;
pub mod session;
mod spawn;

pub use crate::signal::{
    all_processes, exit_code, kill_session, kill_sessions, process_stat, signal_process,
    signal_process_group, ProcessSignal, ProcessStat,
};
pub use environment::{daemon_is_root, daemon_uid, daemon_user, login_environment};
pub use error::{ProcessError, SetupStep};
pub use prepare::PreparedCommand;
use prepare::{exec_candidates, null_terminated};
pub use session::{LoginSession, SessionHelper};
pub use spawn::{reap_orphans, Child};

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::cgroup::ShellCgroup;
pub use crate::terminal::WindowSize;
use crate::users::LinuxUser;

/// Where `/bin/sh -c` lives: our stand-in for `cmd.exe /c`.
pub const SHELL_INTERPRETER: &str = "/bin/sh";

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Program {
    /// `/bin/sh -c LINE` (WinRS' `cmd.exe /c`).
    ShellCommandLine {
        /// The whole command line.
        line: String,
    },
    /// `execvp(program, [program, args...])` (WINRS_SKIP_CMD_SHELL).
    Direct {
        /// Program name or path; looked up in the child's PATH.
        program: String,
        /// Arguments after argv\[0\].
        args: Vec<String>,
    },
}

/// Per-process resource limits, the fallback when no cgroup can limit a
/// shell. Weak by nature: `RLIMIT_NPROC` counts every process of the *user*
/// (not of the shell) and is ignored for root; `RLIMIT_AS` limits each
/// process's address space separately, so N processes may use N times it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceLimits {
    /// `RLIMIT_NPROC`.
    pub max_user_processes: Option<u64>,
    /// `RLIMIT_AS`, bytes.
    pub max_address_space: Option<u64>,
}

impl ResourceLimits {
    /// Limits with the given values (`None` = leave unchanged).
    pub fn new(max_user_processes: Option<u64>, max_address_space: Option<u64>) -> Self {
        Self {
            max_user_processes,
            max_address_space,
        }
    }
}

/// Who the child runs as.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RunAs<'a> {
    /// Switch to this user (the daemon must be root).
    User(&'a LinuxUser),
    /// Keep the daemon's own ids (a daemon that is not root).
    Daemon,
}

/// Everything needed to start one command.
#[derive(Debug)]
#[non_exhaustive]
pub struct SpawnRequest<'a> {
    /// What to run.
    pub program: Program,
    /// Whose ids to take.
    pub run_as: RunAs<'a>,
    /// The complete environment (nothing of the daemon's is inherited).
    pub environment: Vec<(String, String)>,
    /// Entered as the user before exec.
    pub working_directory: PathBuf,
    /// The shell's cgroups to join, if any.
    pub cgroup: Option<&'a ShellCgroup>,
    /// rlimits to set (the fallback when there is no cgroup).
    pub resource_limits: ResourceLimits,
    /// Pipes for stdin/stdout/stderr (true), or /dev/null (false).
    pub piped: bool,
    /// Run on a new pseudo-terminal of this size instead (stdin, stdout and stderr its
    /// peer, which becomes the controlling terminal; `piped` is then ignored): the
    /// [`Child`]'s `terminal` is its master.
    pub terminal: Option<WindowSize>,
    /// Run inside a PAM session (only when switching to a user: the helper needs root).
    pub session: Option<LoginSession<'a>>,
}

impl<'a> SpawnRequest<'a> {
    /// A request with piped stdio and no limits.
    pub fn new(
        program: Program,
        run_as: RunAs<'a>,
        environment: Vec<(String, String)>,
        working_directory: PathBuf,
    ) -> Self {
        Self {
            program,
            run_as,
            environment,
            working_directory,
            cgroup: None,
            resource_limits: ResourceLimits::default(),
            piped: true,
            terminal: None,
            session: None,
        }
    }
}

/// Grows a pipe's kernel buffer to at least `bytes` (`F_SETPIPE_SZ`; the kernel rounds up
/// to a power of two pages), so that a command printing fast keeps writing while the daemon
/// is busy with the data it read before. Returns the new size. Fails without harm (the pipe
/// keeps its size) when the caller's pipe quota (`/proc/sys/fs/pipe-user-pages-*`) or
/// `pipe-max-size` refuses it.
pub fn grow_pipe(pipe: std::os::fd::BorrowedFd<'_>, bytes: usize) -> io::Result<usize> {
    let size = i32::try_from(bytes).unwrap_or(i32::MAX);
    let current = nix::fcntl::fcntl(pipe.as_raw_fd(), nix::fcntl::FcntlArg::F_GETPIPE_SZ)?;
    if usize::try_from(current).unwrap_or(0) >= bytes {
        return Ok(usize::try_from(current).unwrap_or(0));
    }
    let new = nix::fcntl::fcntl(pipe.as_raw_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(size))?;
    Ok(usize::try_from(new).unwrap_or(0))
}

/// Checks that `run_as` may enter `directory`, by starting `/bin/sh -c :`
/// there exactly as a command would start. Blocks until it exits.
pub fn check_working_directory(run_as: RunAs<'_>, directory: &Path) -> Result<(), ProcessError> {
    let program = Program::Direct {
        program: SHELL_INTERPRETER.to_owned(),
        args: vec!["-c".to_owned(), ":".to_owned()],
    };
    let mut request = SpawnRequest::new(program, run_as, Vec::new(), directory.to_owned());
    request.piped = false;
    PreparedCommand::new(request)?.spawn()?.wait()?;
    Ok(())
}

#[cfg(test)]
mod tests;
