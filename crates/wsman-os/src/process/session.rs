//! Commands inside a PAM session, as a login runs them: the session helper.
//!
//! `pam_open_session` changes the process that calls it (pam_limits sets its limits,
//! pam_systemd moves it into the session's scope, pam_env and pam_systemd fill the
//! session's environment), so it never runs in the daemon. Per command, the daemon's spawn
//! child (its own session, the command's stdio) execs the helper as root instead of the
//! command (`wsmand-session`, whose `main` is [`run_helper`]). The helper:
//!
//! 1. opens the session (`pam_start` for the user, `PAM_TTY` and `PAM_RHOST` as sshd gives
//!    them, `pam_setcred(PAM_ESTABLISH_CRED)`, `pam_open_session`);
//! 2. starts the command with the daemon's own spawn steps (new session and controlling
//!    terminal, the shell's cgroup, the user's ids, the working directory entered as the
//!    user, default signals, `execve` with the PATH search), in an environment of the
//!    daemon's login environment overlaid with `pam_getenvlist`, and the limits and umask
//!    the session left on the helper;
//! 3. reports the command's pid to the daemon over the stage pipe, which the command's
//!    failure report (missing program, working directory) also reaches, as without a
//!    session, and lets go of the stage pipe and the command's stdio;
//! 4. waits for the command, forwarding SIGTERM, SIGHUP, SIGINT and SIGQUIT to its process
//!    group; then closes the session (`pam_close_session`, `pam_setcred(PAM_DELETE_CRED)`,
//!    `pam_end`) and ends with the command's status (re-raising its signal).
//!
//! The helper is outside the command's session and cgroup, so Signal terminate and Delete,
//! which kill those, leave it to close the session. It is the command's parent (`$PPID`).
//! Its arguments are written by `HelperCall` and read by [`run_helper`] only: one
//! version of both is always installed together.

use std::ffi::{c_int, CString, OsString};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use super::spawn::{self, stage};
use super::{exec_candidates, null_terminated, ProcessError};
use crate::pam::session::PamSession;
use crate::pam::{PamError, PamStage};
use crate::users::LinuxUser;

/// The helper program and the PAM service its sessions use (`/etc/pam.d/SERVICE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHelper {
    /// The `wsmand-session` executable.
    pub path: PathBuf,
    /// The PAM service name.
    pub service: String,
}

/// A command's session: which helper, and the client it is for (`PAM_RHOST`).
#[derive(Debug, Clone, Copy)]
pub struct LoginSession<'a> {
    /// The helper and the service.
    pub helper: &'a SessionHelper,
    /// The client's address.
    pub remote_host: Option<IpAddr>,
}

/// The fixed arguments of the helper, prepared with the command.
#[derive(Debug)]
pub(super) struct HelperCall {
    path: [CString; 1],
    /// service, user, uid, gid, groups: the first arguments after argv[0].
    identity: [CString; 5],
    remote_host: CString,
}

/// argv\[0\] of the helper, and the name of its program.
pub const HELPER_NAME: &str = "wsmand-session";
/// Arguments before the command's argv: see [`HelperCall::arguments`].
const FIXED_ARGUMENTS: usize = 13;
/// The most environment the helper reads (the daemon bounds a shell's environment far below).
const MAX_ENVIRONMENT_BYTES: u64 = 4 << 20;

/// The helper's own environment: fixed, nothing of the client's (the dynamic loader of a
/// program run as root would honour LD_PRELOAD and the like).
pub(super) fn helper_environment() -> &'static [CString] {
    static ENVIRONMENT: std::sync::OnceLock<[CString; 1]> = std::sync::OnceLock::new();
    ENVIRONMENT.get_or_init(|| [c"PATH=/usr/sbin:/usr/bin:/sbin:/bin".to_owned()])
}

/// The command's environment for the helper: a memfd (close-on-exec) holding each
/// `NAME=value` followed by a NUL byte.
pub(super) fn environment_file(environment: &[CString]) -> Result<OwnedFd, ProcessError> {
    // SAFETY: memfd_create takes a NUL-terminated name and flags; returns a new descriptor.
    let fd =
        unsafe { libc::memfd_create(c"wsmand-session-environment".as_ptr(), libc::MFD_CLOEXEC) };
    if fd == -1 {
        return Err(io::Error::last_os_error().into());
    }
    // SAFETY: a new descriptor owned by nobody else.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut writer = io::BufWriter::new(&file);
    for entry in environment {
        io::Write::write_all(&mut writer, entry.as_bytes_with_nul())?;
    }
    io::Write::flush(&mut writer)?;
    drop(writer);
    let file = super::spawn::above_stdio(OwnedFd::from(file))?;
    Ok(file)
}

/// Reads the environment the daemon wrote (see [`environment_file`]) and closes it.
fn read_environment_file(fd: RawFd) -> Vec<Vec<u8>> {
    // SAFETY: the descriptor the daemon passed for this process alone; owned from here.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut bytes = Vec::new();
    let read = io::Seek::rewind(&mut file).and_then(|()| {
        io::Read::read_to_end(
            &mut io::Read::take(&mut file, MAX_ENVIRONMENT_BYTES),
            &mut bytes,
        )
    });
    if read.is_err() {
        return Vec::new();
    }
    bytes
        .split(|&byte| byte == 0)
        .filter(|entry| !entry.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

impl HelperCall {
    pub(super) fn new(login: &LoginSession<'_>, user: &LinuxUser) -> Result<Self, ProcessError> {
        let nul = |what| move |_| ProcessError::NulByte { what };
        let groups: Vec<String> = user.groups.iter().map(u32::to_string).collect();
        Ok(Self {
            path: [
                CString::new(login.helper.path.as_os_str().as_encoded_bytes())
                    .map_err(nul("session helper path"))?,
            ],
            identity: [
                CString::new(login.helper.service.as_str()).map_err(nul("PAM service"))?,
                CString::new(user.name.as_str()).map_err(nul("user name"))?,
                CString::new(user.uid.to_string()).map_err(nul("uid"))?,
                CString::new(user.gid.to_string()).map_err(nul("gid"))?,
                CString::new(groups.join(",")).map_err(nul("groups"))?,
            ],
            remote_host: CString::new(
                login
                    .remote_host
                    .map(|address| address.to_string())
                    .unwrap_or_default(),
            )
            .map_err(nul("remote host"))?,
        })
    }

    /// The helper's path, as the one exec candidate.
    pub(super) fn path(&self) -> &[CString] {
        &self.path
    }

    /// The helper's argv: its name, service, user, uid, gid, groups, working directory,
    /// `terminal` or `pipes`, remote host, stage pipe descriptor, environment descriptor,
    /// cgroup descriptors, the rlimits (`RESOURCE:VALUE,...`); then the command's argv.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn arguments(
        &self,
        stage_fd: RawFd,
        environment_fd: RawFd,
        cgroup_fds: &[RawFd],
        limits: &[(c_int, libc::rlimit)],
        terminal: bool,
        directory: &CString,
        command: &[CString],
    ) -> Result<Vec<CString>, ProcessError> {
        let number = |value: String| {
            CString::new(value).map_err(|_| ProcessError::NulByte { what: "descriptor" })
        };
        let cgroups: Vec<String> = cgroup_fds.iter().map(RawFd::to_string).collect();
        let mut out = Vec::with_capacity(FIXED_ARGUMENTS + command.len());
        out.push(number(HELPER_NAME.to_owned())?);
        out.extend(self.identity.iter().cloned());
        out.push(directory.clone());
        out.push(number(
            if terminal { "terminal" } else { "pipes" }.to_owned(),
        )?);
        out.push(self.remote_host.clone());
        out.push(number(stage_fd.to_string())?);
        out.push(number(environment_fd.to_string())?);
        out.push(number(cgroups.join(","))?);
        let limits: Vec<String> = limits
            .iter()
            .map(|(resource, limit)| format!("{resource}:{}", limit.rlim_max))
            .collect();
        out.push(number(limits.join(","))?);
        out.extend(command.iter().cloned());
        Ok(out)
    }
}

/// What the helper was asked to do.
struct HelperArguments {
    service: String,
    user: String,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    directory: CString,
    terminal: bool,
    remote_host: Option<String>,
    stage_fd: RawFd,
    /// The memfd with the command's environment.
    environment_fd: RawFd,
    cgroup_fds: Vec<RawFd>,
    /// wsmand's rlimit fallback of the shell's limits: set on the command after the
    /// session's (pam_limits may lower them, never raise them above these).
    limits: Vec<(c_int, u64)>,
    command: Vec<CString>,
}

/// A comma-separated list of numbers (empty for none); `None` if one is not a number.
fn numbers<T: std::str::FromStr>(list: &str) -> Option<Vec<T>> {
    list.split(',')
        .filter(|n| !n.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<T>, _>>()
        .ok()
}

fn parse_arguments(arguments: Vec<OsString>) -> Option<HelperArguments> {
    let mut strings = arguments.into_iter().map(OsString::into_vec);
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).ok();
    let _name = strings.next()?;
    let service = text(strings.next()?)?;
    let user = text(strings.next()?)?;
    let uid = text(strings.next()?)?.parse().ok()?;
    let gid = text(strings.next()?)?.parse().ok()?;
    let groups: Vec<u32> = numbers(&text(strings.next()?)?)?;
    let directory = CString::new(strings.next()?).ok()?;
    let terminal = match text(strings.next()?)?.as_str() {
        "terminal" => true,
        "pipes" => false,
        _ => return None,
    };
    let remote_host = Some(text(strings.next()?)?).filter(|host| !host.is_empty());
    let stage_fd = text(strings.next()?)?.parse().ok().filter(|fd| *fd > 2)?;
    let environment_fd = text(strings.next()?)?
        .parse()
        .ok()
        .filter(|fd| *fd > 2 && *fd != stage_fd)?;
    let cgroup_fds: Vec<RawFd> = numbers(&text(strings.next()?)?)?;
    let limits = text(strings.next()?)?
        .split(',')
        .filter(|limit| !limit.is_empty())
        .map(|limit| {
            let (resource, value) = limit.split_once(':')?;
            Some((resource.parse().ok()?, value.parse().ok()?))
        })
        .collect::<Option<Vec<(c_int, u64)>>>()?;
    let command = strings
        .map(CString::new)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    if command.is_empty() {
        return None;
    }
    Some(HelperArguments {
        service,
        user,
        uid,
        gid,
        groups,
        directory,
        terminal,
        remote_host,
        stage_fd,
        environment_fd,
        cgroup_fds,
        limits,
        command,
    })
}

/// The command's process group, for the signal forwarder (0 until it runs).
static COMMAND_GROUP: AtomicI32 = AtomicI32::new(0);
/// What the helper forwards to the command instead of dying of it.
const FORWARDED: [c_int; 4] = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT];

extern "C" fn forward_signal(signal: c_int) {
    let group = COMMAND_GROUP.load(Ordering::Relaxed);
    if group > 0 {
        // SAFETY: kill is async-signal-safe; it only signals.
        unsafe { libc::kill(-group, signal) };
    }
}

/// Writes one report (step code, four bytes) to the stage pipe.
fn report(stage_fd: RawFd, step: u8, value: i32) {
    let value = value.to_ne_bytes();
    let message = [step, value[0], value[1], value[2], value[3]];
    // SAFETY: writes a live local array to a descriptor; one write of 5 bytes is atomic.
    unsafe { libc::write(stage_fd, message.as_ptr().cast(), message.len()) };
}

/// `main` of `wsmand-session`: see the module docs. Returns the exit code when the command
/// exited; re-raises its signal when it was killed by one. Refuses (exit code 2, a line on
/// stderr) when its arguments are not the daemon's.
pub fn run_helper(arguments: Vec<OsString>) -> i32 {
    let Some(arguments) = parse_arguments(arguments) else {
        eprintln!("{HELPER_NAME}: started by wsmand for each command of a PAM session; not a command to run by hand");
        return 2;
    };
    let stage_fd = arguments.stage_fd;
    // Whatever a PAM module forks (pam_exec) must not keep the stage pipe open; the
    // command's process drops them at its exec.
    let environment = read_environment_file(arguments.environment_fd);
    for &fd in std::iter::once(&stage_fd).chain(&arguments.cgroup_fds) {
        // SAFETY: sets a descriptor flag only.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
            return 2;
        }
    }
    let tty = if arguments.terminal {
        std::fs::read_link("/proc/self/fd/0")
            .ok()
            .and_then(|path| path.to_str().map(str::to_owned))
    } else {
        None
    };
    let session = match PamSession::open(
        &arguments.service,
        &arguments.user,
        tty.as_deref(),
        arguments.remote_host.as_deref(),
    ) {
        Ok(session) => session,
        Err(error) => {
            let (step, code) = match error {
                PamError::Failed { stage, code, .. } => (
                    match stage {
                        PamStage::EstablishCredentials => stage::PAM_CREDENTIALS,
                        PamStage::OpenSession => stage::PAM_OPEN_SESSION,
                        _ => stage::PAM_START,
                    },
                    code.0,
                ),
                PamError::NulByte { .. } => (stage::SESSION_HELPER, libc::EINVAL),
            };
            report(stage_fd, step, code);
            return 127;
        }
    };
    let status = match start_command(&arguments, environment, &session) {
        Ok(pid) => {
            report(stage_fd, stage::COMMAND_PID, pid);
            release_descriptors(&arguments);
            wait_for(pid)
        }
        Err((step, errno)) => {
            report(stage_fd, step, errno);
            None
        }
    };
    drop(session);
    match status {
        Some(status) if libc::WIFSIGNALED(status) => reraise(libc::WTERMSIG(status)),
        Some(status) => libc::WEXITSTATUS(status),
        None => 127,
    }
}

/// The daemon's environment for the command (its login environment and the shell's
/// variables) overlaid with the session's.
fn command_environment(daemon: Vec<Vec<u8>>, session: &PamSession) -> Vec<CString> {
    let mut by_name = std::collections::BTreeMap::new();
    for entry in daemon.into_iter().chain(session.environment()) {
        let Some(split) = entry.iter().position(|&byte| byte == b'=') else {
            continue;
        };
        if split == 0 {
            continue;
        }
        by_name.insert(entry[..split].to_vec(), entry);
    }
    by_name
        .into_values()
        .filter_map(|entry| CString::new(entry).ok())
        .collect()
}

/// Starts the command with the spawn child of `spawn.rs` (the same steps as without a
/// session, but the umask and limits the session left); its pid, or the failed step.
fn start_command(
    arguments: &HelperArguments,
    daemon_environment: Vec<Vec<u8>>,
    session: &PamSession,
) -> Result<i32, (u8, c_int)> {
    let environment = command_environment(daemon_environment, session);
    let search_path = environment
        .iter()
        .find_map(|entry| entry.to_bytes().strip_prefix(b"PATH="))
        .and_then(|path| std::str::from_utf8(path).ok());
    let program = arguments.command[0]
        .to_str()
        .map_err(|_| (stage::EXEC, libc::ENOENT))?;
    let (candidates, no_candidate_errno) =
        exec_candidates(program, search_path).map_err(|_| (stage::EXEC, libc::EINVAL))?;
    // The command's stdio are this process's 0, 1 and 2, which the child places again.
    let stdio = [0, 1, 2].map(|fd| {
        // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor (>= 3) or -1.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        // SAFETY: a new descriptor owned by nobody else (checked below).
        (copy >= 0).then(|| unsafe { OwnedFd::from_raw_fd(copy) })
    });
    let [Some(stdin), Some(stdout), Some(stderr)] = stdio else {
        return Err((stage::STDIO, libc::EBADF));
    };
    // wsmand's limits, lowered further where the session's are lower.
    let limits: Vec<(c_int, libc::rlimit)> = arguments
        .limits
        .iter()
        .map(|&(resource, value)| {
            let value = value.min(current_hard_limit(resource));
            let limit = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            (resource, limit)
        })
        .collect();
    let argv = null_terminated(&arguments.command);
    let envp = null_terminated(&environment);
    let mut script_argv = Vec::with_capacity(arguments.command.len() + 2);
    script_argv.push(spawn::SCRIPT_INTERPRETER.as_ptr());
    script_argv.push(std::ptr::null());
    script_argv.extend(arguments.command.iter().skip(1).map(|arg| arg.as_ptr()));
    script_argv.push(std::ptr::null());
    let mut plan = spawn::ChildPlan {
        stdio: [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()],
        stage_fd: arguments.stage_fd,
        controlling_terminal: arguments.terminal,
        cgroup_fds: &arguments.cgroup_fds,
        limits: &limits,
        switch: Some(spawn::IdPlan {
            uid: arguments.uid,
            gid: arguments.gid,
            groups: &arguments.groups,
        }),
        directory: &arguments.directory,
        candidates: &candidates,
        no_candidate_errno,
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        script_argv: script_argv.as_mut_ptr(),
        umask: None,
        exec_step: stage::EXEC,
        inherit_fds: &[],
    };
    // Forwarded signals wait (blocked) until the forwarder knows the command's group.
    let forwarded = signal_set(&FORWARDED);
    let mut previous = empty_signal_set();
    // SAFETY: changes this thread's mask from live locals.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &forwarded, &mut previous) };
    let started = spawn::clone_child(&mut plan);
    let pid = match started {
        Ok((pid, _pidfd)) => i32::try_from(pid).map_err(|_| (stage::SESSION_HELPER, libc::EIO)),
        Err(error) => Err((
            stage::SESSION_HELPER,
            error.raw_os_error().unwrap_or(libc::EIO),
        )),
    };
    if let Ok(pid) = pid {
        COMMAND_GROUP.store(pid, Ordering::Relaxed);
        for signal in FORWARDED {
            // SAFETY: a zeroed sigaction is valid; the handler is an extern "C" fn that
            // only calls kill.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = forward_signal as extern "C" fn(c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    }
    // SAFETY: restores the mask saved above.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
    pid
}

/// The hard limit of `resource` now (after pam_limits).
fn current_hard_limit(resource: c_int) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a live local.
    if unsafe { libc::getrlimit(resource as libc::__rlimit_resource_t, &mut limit) } == 0 {
        limit.rlim_max
    } else {
        libc::RLIM_INFINITY
    }
}

fn empty_signal_set() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is a valid argument to sigemptyset, which initialises it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        set
    }
}

fn signal_set(signals: &[c_int]) -> libc::sigset_t {
    let mut set = empty_signal_set();
    for &signal in signals {
        // SAFETY: adds a valid signal number to an initialised set.
        unsafe { libc::sigaddset(&mut set, signal) };
    }
    set
}

/// Lets go of the stage pipe, the cgroup files and the command's stdio (the daemon sees the
/// command's output end when the command's own copies close, not the helper's).
fn release_descriptors(arguments: &HelperArguments) {
    for &fd in std::iter::once(&arguments.stage_fd).chain(&arguments.cgroup_fds) {
        // SAFETY: descriptors handed to this process for it alone; closed once.
        unsafe { libc::close(fd) };
    }
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..=2 {
            // SAFETY: replaces stdio with /dev/null; `null` stays open until after.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// Waits for the command (forwarding signals meanwhile); its wait status.
fn wait_for(pid: i32) -> Option<c_int> {
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child, status into a live local.
        let result = unsafe { libc::waitpid(pid, &mut status, 0) };
        if result == pid {
            return Some(status);
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return None;
        }
    }
}

/// Ends this process with `signal`, as the command ended (without a core dump of the
/// helper); 128 + signal if that fails.
fn reraise(signal: c_int) -> i32 {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on this process with live locals.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(signal, libc::SIG_DFL);
        let set = signal_set(&[signal]);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
    128 + signal
}

/// Where the helper is: beside `daemon` (a build tree, or a package installing both
/// together), else `/usr/lib/wsmand/wsmand-session` (the package's place).
pub fn find_helper(daemon: &Path) -> Option<PathBuf> {
    let beside = daemon.parent().map(|directory| directory.join(HELPER_NAME));
    beside
        .into_iter()
        .chain(std::iter::once(
            PathBuf::from("/usr/lib/wsmand").join(HELPER_NAME),
        ))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn user() -> LinuxUser {
        LinuxUser {
            name: "alice".into(),
            uid: 1234,
            gid: 1235,
            home: "/home/alice".into(),
            shell: "/bin/sh".into(),
            groups: vec![1235, 27],
        }
    }

    /// What the daemon writes is what the helper reads, field for field.
    #[test]
    fn helper_arguments_round_trip() {
        let helper = SessionHelper {
            path: "/usr/lib/wsmand/wsmand-session".into(),
            service: "wsmand".into(),
        };
        let login = LoginSession {
            helper: &helper,
            remote_host: Some("192.0.2.7".parse().unwrap()),
        };
        let call = HelperCall::new(&login, &user()).unwrap();
        let command = ["/bin/sh", "-c", "echo a b"].map(|arg| CString::new(arg).unwrap());
        let arguments = call
            .arguments(
                9,
                12,
                &[10, 11],
                &[(
                    6,
                    libc::rlimit {
                        rlim_cur: 40,
                        rlim_max: 40,
                    },
                )],
                true,
                &CString::new("/tmp").unwrap(),
                &command,
            )
            .unwrap();
        let parsed = parse_arguments(
            arguments
                .into_iter()
                .map(|arg| OsString::from_vec(arg.into_bytes()))
                .collect(),
        )
        .unwrap();
        assert_eq!(
            (
                parsed.service.as_str(),
                parsed.user.as_str(),
                parsed.uid,
                parsed.gid,
                parsed.groups.as_slice(),
            ),
            ("wsmand", "alice", 1234, 1235, &[1235, 27][..])
        );
        assert_eq!(parsed.directory.as_bytes(), b"/tmp");
        assert!(parsed.terminal);
        assert_eq!(parsed.remote_host.as_deref(), Some("192.0.2.7"));
        assert_eq!(
            (parsed.stage_fd, parsed.cgroup_fds.as_slice()),
            (9, &[10, 11][..])
        );
        assert_eq!(
            (parsed.environment_fd, parsed.limits.as_slice()),
            (12, &[(6, 40)][..])
        );
        assert_eq!(parsed.command, command);
    }

    /// Run by hand (or with anything but the daemon's arguments), the helper does nothing.
    #[test]
    fn the_helper_refuses_other_arguments() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(run_helper(args(&[HELPER_NAME])), 2);
        assert_eq!(run_helper(args(&[HELPER_NAME, "--help"])), 2);
        // The stage pipe must be above stdio, and a command must follow.
        let fixed = [
            HELPER_NAME,
            "wsmand",
            "alice",
            "1",
            "1",
            "",
            "/",
            "pipes",
            "",
            "2",
            "4",
            "",
            "",
        ];
        assert!(parse_arguments(args(&[&fixed[..], &["true"]].concat())).is_none());
        let mut fixed = fixed;
        fixed[9] = "3";
        assert!(parse_arguments(args(&fixed)).is_none());
        assert!(parse_arguments(args(&[&fixed[..], &["true"]].concat())).is_some());
        fixed[7] = "tty";
        assert!(parse_arguments(args(&[&fixed[..], &["true"]].concat())).is_none());
    }
}
