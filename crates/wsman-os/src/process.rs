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
//! `process/spawn.rs`. Everything is re-exported here.

mod environment;
pub mod session;
mod spawn;

pub use crate::signal::{
    all_processes, exit_code, kill_session, kill_sessions, process_stat, signal_process,
    signal_process_group, ProcessSignal, ProcessStat,
};
pub use environment::{daemon_is_root, daemon_uid, daemon_user, login_environment};
pub use session::{LoginSession, SessionHelper};
pub use spawn::{reap_orphans, Child};

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::cgroup::ShellCgroup;
use crate::pam::{PamCode, PamStage};
pub use crate::terminal::WindowSize;
use crate::users::LinuxUser;
use spawn::stage;

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
    /// Placing the pipes (or `/dev/null`) on stdin, stdout and stderr.
    Stdio,
    /// Taking the pseudo-terminal as the session's controlling terminal (`TIOCSCTTY`).
    ControllingTerminal,
    /// Starting the PAM session helper.
    SessionHelper,
}

impl SetupStep {
    fn from_code(code: u8) -> Option<Self> {
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

/// A command ready to spawn; see the module docs for what the child does.
#[derive(Debug)]
pub struct PreparedCommand {
    /// argv: the program as given, then the arguments.
    args: Vec<CString>,
    /// Where `execve` is tried, in order: the PATH search of `execvp`, done here so that the
    /// child needs no allocation.
    candidates: Vec<CString>,
    /// The errno when `candidates` is empty.
    no_candidate_errno: libc::c_int,
    /// `NAME=value`, sorted by name, one per name (the last value given wins).
    environment: Vec<CString>,
    piped: bool,
    terminal: Option<WindowSize>,
    /// Open for writing: the child joins each group by writing "0" to it.
    cgroup_files: Vec<OwnedFd>,
    limits: Vec<(libc::c_int, libc::rlimit)>,
    switch: Option<IdSwitch>,
    directory: CString,
    program_name: String,
    working_directory: PathBuf,
    /// Start the session helper, which starts the command.
    session: Option<session::HelperCall>,
}

#[derive(Debug)]
struct IdSwitch {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

/// Where `execvp` searches when the environment has no PATH (glibc's default).
const DEFAULT_SEARCH_PATH: &str = "/bin:/usr/bin";
/// The longest file name `execvp` searches PATH for (NAME_MAX).
const NAME_MAX: usize = 255;

impl PreparedCommand {
    /// Builds the command: every string the child needs, the PATH search, the cgroup files
    /// (opened now, in the daemon, so the child needs no allocation or path lookup to join).
    pub fn new(request: SpawnRequest<'_>) -> Result<Self, ProcessError> {
        let nul = |what: &'static str| move |_| ProcessError::NulByte { what };
        let (program_name, args) = match &request.program {
            Program::ShellCommandLine { line } => {
                let args = [SHELL_INTERPRETER, "-c", line.as_str()]
                    .into_iter()
                    .map(CString::new)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(nul("command line"))?;
                (SHELL_INTERPRETER.to_owned(), args)
            }
            Program::Direct { program, args } => {
                let args = std::iter::once(program)
                    .chain(args)
                    .map(|arg| CString::new(arg.as_str()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(nul("command or argument"))?;
                (program.clone(), args)
            }
        };
        // As std's Command::env does: sorted by name, the last value of a name wins.
        let mut by_name = std::collections::BTreeMap::new();
        for (name, value) in &request.environment {
            if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
                return Err(ProcessError::NulByte {
                    what: "environment variable",
                });
            }
            by_name.insert(name.as_str(), value.as_str());
        }
        let search_path = by_name.get("PATH").copied();
        let environment = by_name
            .iter()
            .map(|(name, value)| CString::new(format!("{name}={value}")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(nul("environment variable"))?;
        let (candidates, no_candidate_errno) = exec_candidates(&program_name, search_path)?;
        let cgroup_files = match request.cgroup {
            Some(cgroup) => cgroup
                .open_procs_files()?
                .into_iter()
                .map(|file| spawn::above_stdio(OwnedFd::from(file)))
                .collect::<io::Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        let directory = CString::new(request.working_directory.as_os_str().as_encoded_bytes())
            .map_err(nul("working directory"))?;
        let switch = match request.run_as {
            RunAs::User(user) => Some(IdSwitch {
                uid: user.uid,
                gid: user.gid,
                groups: user.groups.clone(),
            }),
            RunAs::Daemon => None,
        };
        let wanted = [
            (
                libc::RLIMIT_NPROC,
                request.resource_limits.max_user_processes,
            ),
            (libc::RLIMIT_AS, request.resource_limits.max_address_space),
        ];
        let limits = wanted
            .into_iter()
            .filter_map(|(resource, value)| {
                let value = value?.min(hard_limit(resource));
                let limit = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                Some((libc::c_int::try_from(resource).ok()?, limit))
            })
            .collect();
        Ok(Self {
            args,
            candidates,
            no_candidate_errno,
            environment,
            piped: request.piped,
            terminal: request.terminal,
            cgroup_files,
            limits,
            switch,
            directory,
            program_name,
            working_directory: request.working_directory,
            session: match (request.session, request.run_as) {
                (Some(login), RunAs::User(user)) => Some(session::HelperCall::new(&login, user)?),
                _ => None,
            },
        })
    }

    /// Starts the process (see the module docs for how) and turns a failed step into a typed
    /// error. Returns once the child has called `execve` (so a missing program is an error
    /// here, not an exit code).
    pub fn spawn(self) -> Result<Child, ProcessError> {
        let stdio = match self.terminal {
            Some(size) => spawn::Stdio::terminal(
                size,
                self.switch.as_ref().map(|switch| (switch.uid, switch.gid)),
            )?,
            None => spawn::Stdio::new(self.piped)?,
        };
        let (stage_read, stage_write) = spawn::pipe()?;
        let stage_write = spawn::above_stdio(stage_write)?;
        let cgroup_fds: Vec<RawFd> = self.cgroup_files.iter().map(AsRawFd::as_raw_fd).collect();
        // Under a PAM session the child execs the helper, as root, with a fixed environment
        // (the client chooses variables of the command's: LD_PRELOAD must never reach a
        // program run as root); the command's environment follows in a memfd. The helper
        // takes it, the stage pipe and the cgroup files with it and does the rest of the
        // steps in the command's process (see `process/session.rs`).
        let environment_file = match &self.session {
            Some(_) => Some(session::environment_file(&self.environment)?),
            None => None,
        };
        let helper = match (&self.session, &environment_file) {
            (Some(call), Some(file)) => Some(call.arguments(
                stage_write.as_raw_fd(),
                file.as_raw_fd(),
                &cgroup_fds,
                &self.limits,
                self.terminal.is_some(),
                &self.directory,
                &self.args,
            )?),
            _ => None,
        };
        let (args, candidates) = match (&helper, &self.session) {
            (Some(arguments), Some(call)) => (arguments.as_slice(), call.path()),
            _ => (self.args.as_slice(), self.candidates.as_slice()),
        };
        let argv = null_terminated(args);
        let envp = if helper.is_some() {
            null_terminated(session::helper_environment())
        } else {
            null_terminated(&self.environment)
        };
        let mut script_argv = Vec::with_capacity(args.len() + 2);
        script_argv.push(spawn::SCRIPT_INTERPRETER.as_ptr());
        script_argv.push(std::ptr::null());
        script_argv.extend(args.iter().skip(1).map(|arg| arg.as_ptr()));
        script_argv.push(std::ptr::null());
        let inherit_fds: Vec<RawFd> = std::iter::once(stage_write.as_raw_fd())
            .chain(environment_file.as_ref().map(AsRawFd::as_raw_fd))
            .chain(cgroup_fds.iter().copied())
            .collect();
        let under_helper = helper.is_some();
        let [stdin, stdout, stderr] = &stdio.child;
        let mut plan = spawn::ChildPlan {
            stdio: [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()],
            stage_fd: stage_write.as_raw_fd(),
            controlling_terminal: self.terminal.is_some() && !under_helper,
            cgroup_fds: if under_helper { &[] } else { &cgroup_fds },
            // Under a session the command sets them, after pam_limits (the helper, root,
            // runs unlimited by them).
            limits: if under_helper { &[] } else { &self.limits },
            switch: match &self.switch {
                Some(switch) if !under_helper => Some(spawn::IdPlan {
                    uid: switch.uid,
                    gid: switch.gid,
                    groups: &switch.groups,
                }),
                _ => None,
            },
            directory: if under_helper { c"/" } else { &self.directory },
            candidates,
            no_candidate_errno: self.no_candidate_errno,
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            script_argv: script_argv.as_mut_ptr(),
            umask: Some(0o022),
            exec_step: if under_helper {
                stage::SESSION_HELPER
            } else {
                stage::EXEC
            },
            inherit_fds: if under_helper { &inherit_fds } else { &[] },
        };
        let started = spawn::clone_child(&mut plan);
        drop(stage_write);
        let spawn::Stdio {
            child,
            parent,
            terminal,
        } = stdio;
        drop(child);
        let (pid, pidfd) = started?;
        let mut child = Child::new(pid, pidfd, parent, terminal);
        let (command_pid, failure) = read_stage_reports(stage_read, under_helper);
        let Some((step, value)) = failure else {
            if let Some(command_pid) = command_pid {
                child.set_command_pid(command_pid);
            }
            return Ok(child);
        };
        // The child exited (or the helper is closing its session and exits): reap it now.
        let _ = child.wait();
        let errno = Errno::from_raw(value);
        Err(match step {
            stage::CHDIR => ProcessError::WorkingDirectory {
                path: self.working_directory,
                errno,
            },
            stage::EXEC if errno == Errno::ENOENT => ProcessError::ProgramNotFound {
                program: self.program_name,
            },
            stage::EXEC => ProcessError::Exec {
                program: self.program_name,
                errno,
            },
            stage::PAM_START | stage::PAM_CREDENTIALS | stage::PAM_OPEN_SESSION => {
                ProcessError::Session {
                    stage: match step {
                        stage::PAM_START => PamStage::Start,
                        stage::PAM_CREDENTIALS => PamStage::EstablishCredentials,
                        _ => PamStage::OpenSession,
                    },
                    code: PamCode(value),
                }
            }
            code => match SetupStep::from_code(code) {
                Some(step) => ProcessError::Setup { step, errno },
                None => ProcessError::Io {
                    source: io::Error::from(errno),
                },
            },
        })
    }
}

/// Reads the stage pipe to its end (every writer closed it: the child exec'd or exited):
/// the command's pid a session helper reported, and the first failure (step code and errno,
/// or PAM code), if any. Five bytes a report, at most three read (bounded).
fn read_stage_reports(stage_read: OwnedFd, under_helper: bool) -> (Option<u32>, Option<(u8, i32)>) {
    const REPORT: usize = 5;
    let mut reader = fs::File::from(stage_read);
    let mut reports = [0u8; 3 * REPORT];
    let mut length = 0;
    while length < reports.len() {
        match reader.read(&mut reports[length..]) {
            Ok(0) => break,
            Ok(read) => length += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return (None, Some((0, error.raw_os_error().unwrap_or(libc::EIO)))),
        }
    }
    let mut command_pid = None;
    let mut failure = None;
    for report in reports[..length].chunks(REPORT) {
        let [step, value @ ..] = report else {
            continue;
        };
        let Ok(value) = <[u8; 4]>::try_from(value) else {
            failure.get_or_insert((0, libc::EIO));
            continue;
        };
        let value = i32::from_ne_bytes(value);
        match *step {
            stage::COMMAND_PID if under_helper => command_pid = u32::try_from(value).ok(),
            step => {
                failure.get_or_insert((step, value));
            }
        }
    }
    if under_helper && failure.is_none() && command_pid.is_none() {
        // The helper ended without starting anything (killed, or not our helper).
        failure = Some((stage::SESSION_HELPER, libc::EIO));
    }
    (command_pid, failure)
}

/// Pointers to `strings`, then NULL: an argv or envp array (valid while `strings` lives).
fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|string| string.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The paths `execvp(program)` would try with `search_path` as PATH, and the errno when
/// there are none, as glibc does it: a name with a slash is used as is; otherwise each PATH
/// entry in turn, an empty entry meaning the current directory.
fn exec_candidates(
    program: &str,
    search_path: Option<&str>,
) -> Result<(Vec<CString>, libc::c_int), ProcessError> {
    let nul = |_| ProcessError::NulByte {
        what: "command or argument",
    };
    if program.is_empty() {
        return Ok((Vec::new(), libc::ENOENT));
    }
    if program.contains('/') {
        return Ok((vec![CString::new(program).map_err(nul)?], libc::ENOENT));
    }
    if program.len() > NAME_MAX {
        return Ok((Vec::new(), libc::ENAMETOOLONG));
    }
    let candidates = search_path
        .unwrap_or(DEFAULT_SEARCH_PATH)
        .split(':')
        .map(|directory| match directory {
            "" => CString::new(program),
            directory => CString::new(format!("{directory}/{program}")),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(nul)?;
    Ok((candidates, libc::ENOENT))
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::users::lookup_user;

    fn root() -> LinuxUser {
        lookup_user("root").unwrap().unwrap()
    }

    /// Closes stdin, reads stdout and stderr to the end, reaps: (status, stdout, stderr).
    pub(crate) fn finish(mut child: Child) -> (std::process::ExitStatus, String, String) {
        drop(child.stdin.take());
        let read = |pipe: Option<OwnedFd>| {
            let mut text = String::new();
            if let Some(pipe) = pipe {
                fs::File::from(pipe).read_to_string(&mut text).unwrap();
            }
            text
        };
        let stderr = child.stderr.take();
        let stderr = std::thread::spawn(move || read(stderr));
        let stdout = read(child.stdout.take());
        let status = child.wait().unwrap();
        (status, stdout, stderr.join().unwrap())
    }

    fn path_only() -> Vec<(String, String)> {
        vec![("PATH".into(), "/usr/bin:/bin".into())]
    }

    fn start(program: Program, environment: Vec<(String, String)>) -> Result<Child, ProcessError> {
        let request = SpawnRequest::new(program, RunAs::Daemon, environment, "/".into());
        PreparedCommand::new(request).unwrap().spawn()
    }

    fn shell_line(line: &str) -> Program {
        Program::ShellCommandLine { line: line.into() }
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
        let child = PreparedCommand::new(request).unwrap().spawn().unwrap();
        let (_, text, _) = finish(child);
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
        let error = PreparedCommand::new(request).unwrap().spawn().unwrap_err();
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
        let error = PreparedCommand::new(request).unwrap().spawn().unwrap_err();
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
        let child = PreparedCommand::new(request).unwrap().spawn().unwrap();
        let (_, text, _) = finish(child);
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
    #[test]
    fn exit_codes_pipes_and_stderr() {
        for (line, expected) in [("exit 0", 0), ("exit 42", 42), ("kill -9 $$", 137)] {
            let (status, _, _) = finish(start(shell_line(line), path_only()).unwrap());
            assert_eq!(exit_code(status), expected, "{line}");
        }
        let mut child = start(shell_line("cat; echo oops >&2; exit 3"), path_only()).unwrap();
        let stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut fs::File::from(stdin), b"through the pipe\n").unwrap();
        let (status, stdout, stderr) = finish(child);
        assert_eq!(
            (exit_code(status), stdout.as_str(), stderr.as_str()),
            (3, "through the pipe\n", "oops\n")
        );
        // Not piped: /dev/null on all three, and no pipe ends for the daemon.
        let mut request =
            SpawnRequest::new(shell_line("cat"), RunAs::Daemon, path_only(), "/".into());
        request.piped = false;
        let mut child = PreparedCommand::new(request).unwrap().spawn().unwrap();
        assert!(child.stdin.is_none() && child.stdout.is_none() && child.stderr.is_none());
        assert!(child.pidfd().is_some(), "this kernel gives pidfds");
        assert_eq!(exit_code(child.wait().unwrap()), 0);
    }

    /// PATH search as `execvp` does it: missing directories skipped, a file without `#!`
    /// run by /bin/sh, a file without execute permission refused with EACCES.
    #[test]
    fn direct_exec_searches_path_like_execvp() {
        let dir = std::env::temp_dir().join(format!("wsman-os-exec-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let script = dir.join("wsman-script");
        fs::write(&script, "echo \"from script: $1 $2\"\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let plain = dir.join("wsman-not-executable");
        fs::write(&plain, "echo never\n").unwrap();
        let search = format!("/nonexistent-wsman-dir:{}", dir.display());
        let environment = vec![("PATH".to_owned(), search)];
        let direct = |program: &str| Program::Direct {
            program: program.to_owned(),
            args: vec!["a b".to_owned(), "c".to_owned()],
        };
        let found = start(direct("wsman-script"), environment.clone()).map(finish);
        let by_path = start(direct(&script.display().to_string()), Vec::new()).map(finish);
        let denied = start(direct("wsman-not-executable"), environment.clone());
        let missing = start(direct("wsman-no-such-program"), environment);
        fs::remove_dir_all(&dir).unwrap();
        let (status, stdout, _) = found.unwrap();
        assert_eq!(
            (exit_code(status), stdout.as_str()),
            (0, "from script: a b c\n")
        );
        let (_, stdout, _) = by_path.unwrap();
        assert_eq!(stdout, "from script: a b c\n");
        assert!(
            matches!(
                denied,
                Err(ProcessError::Exec {
                    errno: Errno::EACCES,
                    ..
                })
            ),
            "{denied:?}"
        );
        assert!(
            matches!(missing, Err(ProcessError::ProgramNotFound { .. })),
            "{missing:?}"
        );
        // glibc's default search path when the environment has none.
        let (_, stdout, _) = finish(
            start(
                Program::Direct {
                    program: "echo".into(),
                    args: vec!["default path".into()],
                },
                Vec::new(),
            )
            .unwrap(),
        );
        assert_eq!(stdout, "default path\n");
    }

    /// The child starts with default signal dispositions, an empty mask (the daemon ignores
    /// SIGPIPE, and its spawning thread blocks everything around the clone), and none of the
    /// daemon's descriptors beyond 0-2, close-on-exec or not.
    #[test]
    fn child_inherits_no_signal_state_and_no_descriptors() {
        // SAFETY: dup of stderr gives a new descriptor without close-on-exec.
        let leaked = unsafe { libc::dup(2) };
        assert!(leaked > 2);
        let direct = |program: &str, args: &[&str]| Program::Direct {
            program: program.to_owned(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        // The programs read their own status: run directly, not through sh (whose own mask
        // changes while it starts a command).
        let status_lines = direct("grep", &["-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
        let (_, signals, _) = finish(start(status_lines, path_only()).unwrap());
        let fd = format!("/proc/self/fd/{leaked}");
        let (status, _, _) = finish(start(direct("test", &["-e", &fd]), path_only()).unwrap());
        let (control, _, _) =
            finish(start(direct("test", &["-e", "/proc/self/fd/2"]), path_only()).unwrap());
        // SAFETY: closes the descriptor duplicated above.
        unsafe { libc::close(leaked) };
        assert_eq!(
            signals,
            "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
        );
        assert_eq!(
            (exit_code(status), exit_code(control)),
            (1, 0),
            "descriptor {leaked} inherited"
        );
    }

    /// Several threads spawning at once each get their own child stack and plan.
    #[test]
    fn concurrent_spawns() {
        let threads: Vec<_> = (0..6)
            .map(|thread| {
                std::thread::spawn(move || {
                    for round in 0..20 {
                        let line = format!("echo {thread}.{round}");
                        let (status, stdout, _) =
                            finish(start(shell_line(&line), path_only()).unwrap());
                        assert_eq!(
                            (exit_code(status), stdout),
                            (0, format!("{line}\n")[5..].to_owned())
                        );
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }

    /// A child dropped while it runs is reaped by a later spawn, not left a zombie.
    #[test]
    fn dropped_child_is_reaped_later() {
        let child = start(shell_line("sleep 0.5"), path_only()).unwrap();
        let pid = child.id();
        drop(child);
        // Still running when dropped: nothing could reap it then.
        assert!(process_stat(pid).is_some_and(|stat| stat.state != 'Z'));
        // Once it has exited it is a zombie, until a spawn (here or in a test running beside
        // this one) reaps it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while process_stat(pid).is_some_and(|stat| stat.state != 'Z') {
            assert!(std::time::Instant::now() < deadline, "sleep never ended");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (status, _, _) = finish(start(shell_line("exit 0"), path_only()).unwrap());
        assert!(status.success());
        assert_eq!(process_stat(pid), None);
    }
}
