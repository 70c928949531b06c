//! [`PreparedCommand`]: every string, path and descriptor the child needs, built in the daemon
//! (the child allocates nothing), and the spawn that turns a failed step reported through the
//! stage pipe into a typed [`ProcessError`]. The PATH search of `execvp` is done here too.

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::errno::Errno;

use super::spawn::{self, stage, Child};
use super::{session, ProcessError, Program, RunAs, SetupStep, SpawnRequest, SHELL_INTERPRETER};
use crate::pam::{PamCode, PamStage};
use crate::terminal::WindowSize;

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
        let under_helper = self.session.is_some();
        let started = self.clone_child(&stdio, &stage_write);
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
        Err(self.stage_error(step, value))
    }

    /// Clones the child with the plan of this command: the command itself, or under a PAM
    /// session the helper, which starts it. Returns its pid and pidfd.
    fn clone_child(
        &self,
        stdio: &spawn::Stdio,
        stage_write: &OwnedFd,
    ) -> Result<(u32, Option<OwnedFd>), ProcessError> {
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
        Ok(spawn::clone_child(&mut plan)?)
    }

    /// The typed error of the failed step `step` that the child reported with `value` (an
    /// errno, or a PAM code for the session's steps).
    fn stage_error(self, step: u8, value: i32) -> ProcessError {
        let errno = Errno::from_raw(value);
        match step {
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
        }
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
pub(super) fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|string| string.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The paths `execvp(program)` would try with `search_path` as PATH, and the errno when
/// there are none, as glibc does it: a name with a slash is used as is; otherwise each PATH
/// entry in turn, an empty entry meaning the current directory.
pub(super) fn exec_candidates(
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
