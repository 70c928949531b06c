//! Starting WinRS commands as a Linux user, and ending them.
//!
//! [`PreparedCommand`] builds a `std::process::Command` whose child, between
//! `fork` and `exec`, does what a login does before running a program, in
//! this order (each step checked, the first failure aborts the spawn):
//!
//! 1. `setsid`: its own session and process group (pgid = sid = pid), so a
//!    signal can reach the command and everything it started together;
//! 2. joins the shell's cgroups (while still privileged: the cgroup files
//!    were opened by the daemon);
//! 3. resource limits (the rlimit fallback when there is no cgroup);
//! 4. `setgroups`, `setgid`, `setuid` (when switching user), then verifies
//!    real and effective ids and that uid 0 cannot be regained;
//! 5. umask 022 (what a login gives), then `chdir` to the working
//!    directory *as the user*, so a directory the user may not enter is
//!    refused even though the daemon is root;
//! 6. default dispositions for every signal and an empty signal mask (the
//!    daemon's runtime ignores or blocks some; a child must not inherit that);
//! 7. every inherited descriptor above stderr marked close-on-exec.
//!
//! No PAM session is opened (no pam_limits, pam_systemd or session
//! accounting): the environment of a login is rebuilt by
//! [`login_environment`] instead.
//!
//! The caller spawns it with the runtime of its choice
//! ([`PreparedCommand::spawn_with`]); a failing step is reported as a typed
//! [`ProcessError`] through a one-byte "stage" pipe.
//!
//! Killing: [`signal_process_group`] for Ctrl+C, [`kill_session`] for a whole
//! command tree when no cgroup tracks it. A process that calls `setsid`
//! itself leaves the session and escapes `kill_session`; only a cgroup
//! (see [`crate::cgroup`]) catches those.

//!
//! The login environment ([`login_environment`]) and the daemon's own
//! account live in `process/environment.rs`; signalling, `/proc` scans and
//! exit codes in `process/signals.rs`. Everything is re-exported here.

mod environment;
mod signals;

pub use environment::{daemon_is_root, daemon_uid, daemon_user, login_environment};
pub use signals::{
    all_processes, exit_code, kill_session, process_stat, signal_process, signal_process_group,
    ProcessSignal, ProcessStat,
};

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::errno::Errno;

use crate::cgroup::ShellCgroup;
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
}

impl SetupStep {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::NewSession,
            2 => Self::JoinCgroup,
            3 => Self::ResourceLimits,
            4 => Self::SupplementaryGroups,
            5 => Self::GroupId,
            6 => Self::UserId,
            7 => Self::VerifyIds,
            9 => Self::Signals,
            _ => return None,
        })
    }
}

const STAGE_CHDIR: u8 = 8;

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
    /// `fork`, pipe creation or another system call in the daemon failed.
    #[error("starting the command failed: {source}")]
    Io {
        /// The error.
        #[from]
        source: io::Error,
    },
    /// The daemon's own account could not be looked up.
    #[error("the daemon's own user (uid {uid}) has no passwd entry")]
    NoDaemonUser {
        /// The effective uid.
        uid: u32,
    },
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
        }
    }
}

/// A command ready to spawn; see the module docs for what the child does.
#[derive(Debug)]
pub struct PreparedCommand {
    command: Command,
    stage_read: OwnedFd,
    /// Kept open until the spawn returns: the child writes to its copy.
    stage_write: OwnedFd,
    /// Kept open until the spawn returns: the child writes to its copies.
    cgroup_files: Vec<fs::File>,
    program_name: String,
    working_directory: PathBuf,
}

impl PreparedCommand {
    /// Builds the command. Opens the cgroup files now, in the daemon, so the
    /// child needs no allocation or path lookup to join.
    pub fn new(request: SpawnRequest<'_>) -> Result<Self, ProcessError> {
        let (program_name, mut command) = match &request.program {
            Program::ShellCommandLine { line } => {
                if line.contains('\0') {
                    return Err(ProcessError::NulByte {
                        what: "command line",
                    });
                }
                let mut command = Command::new(SHELL_INTERPRETER);
                command.arg("-c").arg(line);
                (SHELL_INTERPRETER.to_owned(), command)
            }
            Program::Direct { program, args } => {
                if program.contains('\0') || args.iter().any(|arg| arg.contains('\0')) {
                    return Err(ProcessError::NulByte {
                        what: "command or argument",
                    });
                }
                let mut command = Command::new(program);
                command.args(args);
                (program.clone(), command)
            }
        };
        command.env_clear();
        for (name, value) in &request.environment {
            if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
                return Err(ProcessError::NulByte {
                    what: "environment variable",
                });
            }
            command.env(name, value);
        }
        if request.piped {
            command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        } else {
            command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        }

        let cgroup_files = match request.cgroup {
            Some(cgroup) => cgroup.open_procs_files()?,
            None => Vec::new(),
        };
        let (stage_read, stage_write) = stage_pipe()?;
        let directory = CString::new(request.working_directory.as_os_str().as_encoded_bytes())
            .map_err(|_| ProcessError::NulByte {
                what: "working directory",
            })?;
        let switch = match request.run_as {
            RunAs::User(user) => Some(IdSwitch {
                uid: user.uid,
                gid: user.gid,
                groups: user.groups.clone(),
            }),
            RunAs::Daemon => None,
        };
        let limits = ResourceLimits {
            max_user_processes: request
                .resource_limits
                .max_user_processes
                .map(|value| value.min(hard_limit(libc::RLIMIT_NPROC))),
            max_address_space: request
                .resource_limits
                .max_address_space
                .map(|value| value.min(hard_limit(libc::RLIMIT_AS))),
        };
        let child_setup = ChildSetup {
            stage_fd: stage_write.as_raw_fd(),
            cgroup_fds: cgroup_files.iter().map(AsRawFd::as_raw_fd).collect(),
            limits,
            switch,
            directory,
        };
        // SAFETY: the closure runs in the forked child before exec. It calls
        // only async-signal-safe system calls (setsid, write, setrlimit,
        // setgroups, setgid, setuid, get*id, chdir, signal, sigprocmask,
        // close_range) on data prepared and owned before the fork; it
        // allocates nothing and takes no locks.
        unsafe {
            command.pre_exec(move || child_setup.run());
        }
        Ok(Self {
            command,
            stage_read,
            stage_write,
            cgroup_files,
            program_name,
            working_directory: request.working_directory,
        })
    }

    /// Spawns through `spawn` (e.g. `|c| tokio::process::Command::from(c).spawn()`)
    /// and turns a failure into the step that failed.
    pub fn spawn_with<T>(
        self,
        spawn: impl FnOnce(Command) -> io::Result<T>,
    ) -> Result<T, ProcessError> {
        let Self {
            command,
            stage_read,
            stage_write,
            cgroup_files,
            program_name,
            working_directory,
        } = self;
        let result = spawn(command);
        drop(stage_write);
        drop(cgroup_files);
        let error = match result {
            Ok(child) => return Ok(child),
            Err(error) => error,
        };
        let errno = Errno::from_raw(error.raw_os_error().unwrap_or(0));
        let mut stage = [0u8; 1];
        let mut reader = fs::File::from(stage_read);
        let stage_code = match reader.read(&mut stage) {
            Ok(1) => Some(stage[0]),
            _ => None,
        };
        Err(match stage_code {
            Some(STAGE_CHDIR) => ProcessError::WorkingDirectory {
                path: working_directory,
                errno,
            },
            Some(code) => match SetupStep::from_code(code) {
                Some(step) => ProcessError::Setup { step, errno },
                None => ProcessError::Io { source: error },
            },
            None if errno == Errno::ENOENT => ProcessError::ProgramNotFound {
                program: program_name,
            },
            None if error.raw_os_error().is_some() => ProcessError::Exec {
                program: program_name,
                errno,
            },
            None => ProcessError::Io { source: error },
        })
    }
}

/// The part of the setup that runs in the child; owns only plain data.
struct ChildSetup {
    stage_fd: RawFd,
    cgroup_fds: Vec<RawFd>,
    limits: ResourceLimits,
    switch: Option<IdSwitch>,
    directory: CString,
}

struct IdSwitch {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

impl ChildSetup {
    /// Runs in the forked child. On failure writes the stage code to the
    /// stage pipe and returns the errno, which std reports to the parent.
    fn run(&self) -> io::Result<()> {
        self.steps().map_err(|(stage, errno)| {
            let byte = [stage];
            // SAFETY: write(2) on a descriptor we own (inherited copy of the
            // stage pipe) from a live stack buffer of length 1.
            unsafe { libc::write(self.stage_fd, byte.as_ptr().cast(), 1) };
            io::Error::from_raw_os_error(errno as i32)
        })
    }

    fn steps(&self) -> Result<(), (u8, Errno)> {
        // SAFETY: setsid has no memory-safety preconditions.
        check(1, unsafe { libc::setsid() })?;
        for &fd in &self.cgroup_fds {
            // "0" means the writing process.
            // SAFETY: write(2) on a descriptor owned by the parent's
            // PreparedCommand (open until the spawn returns) from a static.
            let written = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
            if written != 1 {
                return Err((2, Errno::last()));
            }
        }
        let limits = [
            (libc::RLIMIT_NPROC, self.limits.max_user_processes),
            (libc::RLIMIT_AS, self.limits.max_address_space),
        ];
        for (resource, value) in limits {
            if let Some(value) = value {
                let limit = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                // SAFETY: setrlimit reads the struct we pass by reference.
                check(3, unsafe { libc::setrlimit(resource, &limit) })?;
            }
        }
        if let Some(switch) = &self.switch {
            // SAFETY: setgroups reads `len` gids from a live slice.
            check(4, unsafe {
                libc::setgroups(switch.groups.len(), switch.groups.as_ptr())
            })?;
            // SAFETY: setgid/setuid have no memory-safety preconditions.
            check(5, unsafe { libc::setgid(switch.gid) })?;
            // SAFETY: as above.
            check(6, unsafe { libc::setuid(switch.uid) })?;
            // SAFETY: the get*id calls cannot fail and touch no memory.
            let ids = unsafe {
                (
                    libc::getuid(),
                    libc::geteuid(),
                    libc::getgid(),
                    libc::getegid(),
                )
            };
            if ids != (switch.uid, switch.uid, switch.gid, switch.gid) {
                return Err((7, Errno::EPERM));
            }
            // SAFETY: as above; a successful setuid(0) here means the drop
            // is reversible, which we refuse.
            if switch.uid != 0 && unsafe { libc::setuid(0) } == 0 {
                return Err((7, Errno::EPERM));
            }
        }
        // The umask a login gives (login.defs UMASK), not the daemon's.
        // SAFETY: umask has no preconditions and cannot fail.
        unsafe { libc::umask(0o022) };
        // SAFETY: chdir reads a NUL-terminated string owned by `self`.
        check(STAGE_CHDIR, unsafe { libc::chdir(self.directory.as_ptr()) })?;
        for signal in 1..=64 {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            // SAFETY: installing SIG_DFL has no preconditions; signals the
            // libc reserves fail harmlessly with EINVAL.
            unsafe { libc::signal(signal, libc::SIG_DFL) };
        }
        // SAFETY: sigemptyset initialises the set we then pass by reference.
        let result = unsafe {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut())
        };
        check(9, result)?;
        // SAFETY: close_range with CLOEXEC only sets flags; ENOSYS on old
        // kernels is ignored (std and tokio open everything CLOEXEC anyway).
        unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        Ok(())
    }
}

/// The current hard limit of `resource` (a child may only lower it).
fn hard_limit(resource: libc::__rlimit_resource_t) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass by reference.
    if unsafe { libc::getrlimit(resource, &mut limit) } == 0 {
        limit.rlim_max
    } else {
        libc::RLIM_INFINITY
    }
}

fn check(stage: u8, result: libc::c_int) -> Result<(), (u8, Errno)> {
    if result == -1 {
        Err((stage, Errno::last()))
    } else {
        Ok(())
    }
}

fn stage_pipe() -> Result<(OwnedFd, OwnedFd), ProcessError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    let result = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if result == -1 {
        return Err(io::Error::last_os_error().into());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    let pair = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok(pair)
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
    let mut child = PreparedCommand::new(request)?.spawn_with(|mut command| command.spawn())?;
    child.wait()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::users::lookup_user;

    fn root() -> LinuxUser {
        lookup_user("root").unwrap().unwrap()
    }

    #[test]
    fn runs_shell_command_line_with_clean_environment() {
        let user = root();
        let mut environment = login_environment(&user, false);
        environment.push(("EXTRA".to_owned(), "x y".to_owned()));
        let program = Program::ShellCommandLine {
            line: "echo \"$EXTRA|$HOME|$USER|$(pwd)\"; env | wc -l".to_owned(),
        };
        let request = SpawnRequest::new(program, RunAs::Daemon, environment, "/tmp".into());
        let child = PreparedCommand::new(request)
            .unwrap()
            .spawn_with(|mut command| command.spawn())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), "x y|/root|root|/tmp");
        // HOME USER LOGNAME SHELL PATH EXTRA + PWD (sh sets it)
        let count: usize = lines.next().unwrap().trim().parse().unwrap();
        assert!(count <= 8, "environment not clean: {count} variables");
    }

    #[test]
    fn missing_directory_and_program_are_typed() {
        let request = SpawnRequest::new(
            Program::ShellCommandLine {
                line: "true".into(),
            },
            RunAs::Daemon,
            Vec::new(),
            "/nonexistent-wsman-dir".into(),
        );
        let error = PreparedCommand::new(request)
            .unwrap()
            .spawn_with(|mut command| command.spawn())
            .unwrap_err();
        assert!(
            matches!(
                error,
                ProcessError::WorkingDirectory {
                    errno: Errno::ENOENT,
                    ..
                }
            ),
            "{error:?}"
        );
        let request = SpawnRequest::new(
            Program::Direct {
                program: "wsman-no-such-program".into(),
                args: vec![],
            },
            RunAs::Daemon,
            vec![("PATH".into(), "/usr/bin:/bin".into())],
            "/".into(),
        );
        let error = PreparedCommand::new(request)
            .unwrap()
            .spawn_with(|mut command| command.spawn())
            .unwrap_err();
        assert!(
            matches!(error, ProcessError::ProgramNotFound { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn switches_to_the_user_and_checks_the_directory_as_the_user() {
        if !daemon_is_root() {
            eprintln!("skipped: switching users needs root");
            return;
        }
        let Some(nobody) = lookup_user("nobody").unwrap() else {
            eprintln!("skipped: no 'nobody' user here");
            return;
        };
        let program = Program::ShellCommandLine {
            line: "id -u; id -g; id -G".into(),
        };
        let environment = vec![("PATH".into(), "/usr/bin:/bin".into())];
        let request = SpawnRequest::new(program, RunAs::User(&nobody), environment, "/".into());
        let child = PreparedCommand::new(request)
            .unwrap()
            .spawn_with(|mut command| command.spawn())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let groups: Vec<String> = nobody.groups.iter().map(u32::to_string).collect();
        let expected = format!("{}\n{}\n{}\n", nobody.uid, nobody.gid, groups.join(" "));
        assert_eq!(text, expected);
        // Root may enter a 0700 directory of its own; nobody may not.
        let private = std::env::temp_dir().join(format!("wsman-os-private-{}", std::process::id()));
        fs::create_dir_all(&private).unwrap();
        std::fs::set_permissions(
            &private,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let denied = check_working_directory(RunAs::User(&nobody), &private);
        let allowed = check_working_directory(RunAs::Daemon, &private);
        fs::remove_dir(&private).unwrap();
        assert!(
            matches!(
                denied,
                Err(ProcessError::WorkingDirectory {
                    errno: Errno::EACCES,
                    ..
                })
            ),
            "{denied:?}"
        );
        allowed.unwrap();
    }
}
