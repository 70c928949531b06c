//! Starting the child: a `vfork`-style clone that shares the daemon's memory until `execve`,
//! and the [`Child`] it gives.
//!
//! Why not `fork`: a fork of the daemon copies its page tables and write-protects every page
//! it has, so the daemon then takes a copy-on-write fault for each page it writes (and the
//! child, which only sets up and calls `execve`, needs none of it). With a 10 MB process of
//! five threads that touches 500 pages per spawn, fork+exec+wait of `true` cost 1.7-1.8 ms of
//! CPU per spawn against 1.0 ms for glibc's `posix_spawn` (a clone like this one). The child
//! here is `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own, as `posix_spawn` does: the
//! calling thread sleeps until the child has called `execve` or exited, the daemon's other
//! threads go on.
//!
//! The child shares memory with a multi-threaded process, so its code follows rules:
//! * raw system calls only (`libc::syscall`): glibc's `setuid`/`setgid`/`setgroups` wrappers
//!   make every thread of the *daemon* change ids, and other wrappers may take locks;
//! * no allocation, no locks, no panics: everything it reads (argv, envp, descriptors, ids,
//!   limits) was prepared by the parent and is not touched by anyone until `clone` returns;
//!   the only memory it writes is its own stack, one slot of the script argv (below) and the
//!   parent thread's `errno`, which sleeps meanwhile;
//! * the parent thread blocks every signal around `clone`, so no handler of the daemon runs
//!   in the child; the child gets its own copy of the dispositions (no `CLONE_SIGHAND`) and
//!   sets them all to default before it unblocks signals, right before `execve`;
//! * it gets its own copy of the descriptor table and of cwd/umask (no `CLONE_FILES`, no
//!   `CLONE_FS`), so `dup3`, `close_range`, `chdir` and `umask` do not touch the daemon's;
//! * a failure is reported through the close-on-exec stage pipe (one step byte, the errno as
//!   four bytes), then the child calls `exit_group(127)`.
//!
//! A side effect: before changing ids the child marks the address space it shares, the
//! daemon's, not dumpable (`PR_SET_DUMPABLE` 0; the kernel does the same on a credential
//! change unless `fs.suid_dumpable` is 1). That is what keeps other processes of the user from
//! tracing the child, and through it the daemon's memory, before `execve`; the daemon then
//! writes no core dump after its first shell as another user.

use std::ffi::{c_char, c_int, c_long, c_void, CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Mutex, PoisonError};

/// The step codes written to the stage pipe (see [`super::SetupStep`]).
pub(super) mod stage {
    pub(in super::super) const NEW_SESSION: u8 = 1;
    pub(in super::super) const JOIN_CGROUP: u8 = 2;
    pub(in super::super) const RESOURCE_LIMITS: u8 = 3;
    pub(in super::super) const SUPPLEMENTARY_GROUPS: u8 = 4;
    pub(in super::super) const GROUP_ID: u8 = 5;
    pub(in super::super) const USER_ID: u8 = 6;
    pub(in super::super) const VERIFY_IDS: u8 = 7;
    pub(in super::super) const CHDIR: u8 = 8;
    pub(in super::super) const SIGNALS: u8 = 9;
    pub(in super::super) const EXEC: u8 = 10;
    pub(in super::super) const STDIO: u8 = 11;
    pub(in super::super) const CONTROLLING_TERMINAL: u8 = 12;
    /// The session helper could not be started, or was started wrongly.
    pub(in super::super) const SESSION_HELPER: u8 = 13;
    /// The helper's `pam_start` (or `pam_set_item`) failed; the four bytes are its PAM code.
    pub(in super::super) const PAM_START: u8 = 14;
    /// The helper's `pam_setcred(PAM_ESTABLISH_CRED)` failed (a PAM code follows).
    pub(in super::super) const PAM_CREDENTIALS: u8 = 15;
    /// The helper's `pam_open_session` failed (a PAM code follows).
    pub(in super::super) const PAM_OPEN_SESSION: u8 = 16;
    /// Not a failure: the session helper's report of the command's pid (four bytes).
    pub(in super::super) const COMMAND_PID: u8 = 0xff;
}

/// What `execvp` runs a file with when the kernel does not recognise its format (no `#!`).
pub(super) const SCRIPT_INTERPRETER: &CStr = c"/bin/sh";
/// The kernel's signal set size for `rt_sigaction`/`rt_sigprocmask` (64 signals).
const KERNEL_SIGSET_BYTES: c_long = 8;
/// The child's stack, beyond the guard page: it runs a few small frames only.
const CHILD_STACK_BYTES: usize = 128 * 1024;

/// The ids to take.
pub(super) struct IdPlan<'a> {
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) groups: &'a [u32],
}

/// Everything the child does, prepared by the parent. Lives on the parent's stack while the
/// parent thread sleeps in `clone`.
pub(super) struct ChildPlan<'a> {
    /// Become the child's stdin, stdout and stderr (all above 2).
    pub(super) stdio: [RawFd; 3],
    /// The write end of the stage pipe (close-on-exec).
    pub(super) stage_fd: RawFd,
    /// stdin is a terminal's peer: make it the new session's controlling terminal.
    pub(super) controlling_terminal: bool,
    /// `tasks` (v1) / `cgroup.procs` (v2) of each of the shell's groups, open for writing.
    pub(super) cgroup_fds: &'a [RawFd],
    /// `(resource, limit)` pairs to set.
    pub(super) limits: &'a [(c_int, libc::rlimit)],
    pub(super) switch: Option<IdPlan<'a>>,
    pub(super) directory: &'a CStr,
    /// Paths to try with `execve`, in order (the PATH search of `execvp`, done ahead).
    pub(super) candidates: &'a [CString],
    /// The error when there is nothing to try (empty name: ENOENT; too long: ENAMETOOLONG).
    pub(super) no_candidate_errno: c_int,
    /// NUL-terminated.
    pub(super) argv: *const *const c_char,
    /// NUL-terminated.
    pub(super) envp: *const *const c_char,
    /// `[/bin/sh, <file>, argv[1..], NULL]`: the child fills slot 1 before it uses it.
    pub(super) script_argv: *mut *const c_char,
    /// The umask to set (a login's 022), or `None` to keep the inherited one (the session
    /// helper's, which pam_umask may have set).
    pub(super) umask: Option<u32>,
    /// The step code an `execve` failure is reported with.
    pub(super) exec_step: u8,
    /// Descriptors the exec'd program keeps (the session helper's stage pipe and cgroup
    /// files): their close-on-exec flag is cleared.
    pub(super) inherit_fds: &'a [RawFd],
}

/// Starts the child described by `plan`: its pid, and a pidfd where the kernel gives one
/// (`CLONE_PIDFD`, Linux 5.2; else `pidfd_open`, 5.3). Returns when the child has called
/// `execve` or exited; the caller reads the stage pipe to know which.
pub(super) fn clone_child(plan: &mut ChildPlan<'_>) -> io::Result<(u32, Option<OwnedFd>)> {
    reap_orphans();
    let stack = ChildStack::take()?;
    // Every signal, glibc's internal ones included (as its posix_spawn does: pthread_sigmask
    // would leave those two open), so that no handler of the daemon runs in the child.
    let old = raw::set_signal_mask(u64::MAX).map_err(io::Error::from_raw_os_error)?;
    let mut pidfd: c_int = -1;
    let base_flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    let argument: *mut c_void = (plan as *mut ChildPlan<'_>).cast();
    // SAFETY: `child_main` runs on `stack` (mapped, writable, ours until this function
    // returns) and follows the module's rules for a CLONE_VM child; `plan` outlives the call
    // because CLONE_VFORK keeps this thread asleep until the child has exec'd or exited; the
    // kernel writes the pidfd into `pidfd`, a live local.
    let mut pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            base_flags | libc::CLONE_PIDFD,
            argument,
            &mut pidfd as *mut c_int,
        )
    };
    let mut error = io::Error::last_os_error();
    if pid == -1 && error.raw_os_error() == Some(libc::EINVAL) {
        // A kernel without CLONE_PIDFD.
        pidfd = -1;
        // SAFETY: as above, without the pidfd.
        pid = unsafe { libc::clone(child_main, stack.top(), base_flags, argument) };
        error = io::Error::last_os_error();
    }
    let _ = raw::set_signal_mask(old);
    stack.give_back();
    if pid == -1 {
        return Err(error);
    }
    let pidfd = if pidfd >= 0 {
        // SAFETY: the kernel gave us this descriptor (close-on-exec) and nothing else owns it.
        Some(unsafe { OwnedFd::from_raw_fd(pidfd) })
    } else {
        pidfd_open(pid)
    };
    Ok((pid.unsigned_abs(), pidfd))
}

fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, c_long::from(pid), 0 as c_long) };
    let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: a new descriptor owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An anonymous mapping for the child's stack with a guard page below it, unmapped on drop.
struct ChildStack {
    base: *mut c_void,
    length: usize,
}

// SAFETY: the mapping is owned by this value alone (no other pointer to it is kept once a
// child has exec'd or exited), so it may move between threads.
unsafe impl Send for ChildStack {}

/// Stacks of finished spawns, used again: mapping a new one and unmapping it for every
/// spawn cost a TLB shootdown on every core running a daemon thread (munmap, mprotect and
/// mmap were ~2% of the daemon's samples in the shell benchmark). At most
/// [`KEPT_STACKS`] are kept (a few touched pages each).
static STACKS: Mutex<Vec<ChildStack>> = Mutex::new(Vec::new());
const KEPT_STACKS: usize = 4;

impl ChildStack {
    /// A kept stack, or a new one.
    fn take() -> io::Result<Self> {
        let kept = STACKS.lock().unwrap_or_else(PoisonError::into_inner).pop();
        kept.map_or_else(Self::new, Ok)
    }

    /// Keeps the stack for the next spawn (the child no longer runs on it: it has exec'd or
    /// exited when `clone` returns with CLONE_VFORK), or unmaps it when enough are kept.
    fn give_back(self) {
        let mut kept = STACKS.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < KEPT_STACKS {
            kept.push(self);
        }
    }

    fn new() -> io::Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let length = CHILD_STACK_BYTES + page;
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                length,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Self { base, length };
        // The stack grows down: the lowest page faults instead of overwriting what lies below.
        // SAFETY: the first page of the mapping we just made.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The initial stack pointer (the end of the mapping, page aligned).
    fn top(&self) -> *mut c_void {
        self.base.wrapping_byte_add(self.length)
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our own mapping; the child no longer runs on it (it has exec'd or exited
        // when `clone` returns with CLONE_VFORK).
        unsafe { libc::munmap(self.base, self.length) };
    }
}

/// The system calls of the child, as raw calls (see the module docs): each returns its value
/// or the errno. None allocates or locks; the pointers they pass come from references.
mod raw {
    use std::ffi::{c_char, c_int, c_long, CStr};
    use std::io;

    use super::KERNEL_SIGSET_BYTES;

    pub(super) type Result = std::result::Result<c_long, c_int>;

    fn checked(result: c_long) -> Result {
        if result == -1 {
            Err(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO))
        } else {
            Ok(result)
        }
    }

    pub(super) fn dup3(source: c_int, target: c_int) -> Result {
        // SAFETY: dup3 takes descriptors only.
        checked(unsafe { libc::syscall(libc::SYS_dup3, source as c_long, target as c_long, 0) })
    }

    pub(super) fn setsid() -> Result {
        // SAFETY: no arguments.
        checked(unsafe { libc::syscall(libc::SYS_setsid) })
    }

    /// `ioctl(fd, TIOCSCTTY, 0)`: the terminal on `fd` becomes the controlling terminal of
    /// this session (whose leader the caller is), its process group the foreground one.
    pub(super) fn take_controlling_terminal(fd: c_int) -> Result {
        // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal it from another
        // session).
        checked(unsafe {
            libc::syscall(
                libc::SYS_ioctl,
                fd as c_long,
                libc::TIOCSCTTY as c_long,
                0 as c_long,
            )
        })
    }

    pub(super) fn write(fd: c_int, data: &[u8]) -> Result {
        // SAFETY: the kernel reads `data.len()` bytes from a live slice.
        checked(unsafe { libc::syscall(libc::SYS_write, fd as c_long, data.as_ptr(), data.len()) })
    }

    pub(super) fn set_limit(resource: c_int, limit: &libc::rlimit) -> Result {
        // SAFETY: prlimit64 on ourselves (pid 0) reads the struct behind a reference and
        // writes nothing (NULL old limit).
        checked(unsafe {
            libc::syscall(
                libc::SYS_prlimit64,
                0 as c_long,
                resource as c_long,
                limit as *const libc::rlimit,
                std::ptr::null_mut::<libc::rlimit>(),
            )
        })
    }

    /// `prctl(PR_SET_DUMPABLE, 0)`: no ptrace by the same uid, no core dump.
    pub(super) fn not_dumpable() -> Result {
        // SAFETY: takes integers only; changes a flag of the (shared) address space.
        checked(unsafe {
            libc::syscall(
                libc::SYS_prctl,
                libc::PR_SET_DUMPABLE as c_long,
                0 as c_long,
                0 as c_long,
                0 as c_long,
                0 as c_long,
            )
        })
    }

    pub(super) fn setgroups(groups: &[u32]) -> Result {
        // SAFETY: the kernel reads `groups.len()` gids from a live slice.
        checked(unsafe {
            libc::syscall(libc::SYS_setgroups, groups.len() as c_long, groups.as_ptr())
        })
    }

    pub(super) fn setgid(gid: u32) -> Result {
        // SAFETY: takes an id only; changes this task's credentials alone.
        checked(unsafe { libc::syscall(libc::SYS_setgid, c_long::from(gid)) })
    }

    pub(super) fn setuid(uid: u32) -> Result {
        // SAFETY: takes an id only; changes this task's credentials alone.
        checked(unsafe { libc::syscall(libc::SYS_setuid, c_long::from(uid)) })
    }

    /// Real and effective uid, real and effective gid.
    pub(super) fn ids() -> [c_long; 4] {
        // SAFETY: no arguments; these calls cannot fail.
        unsafe {
            [
                libc::syscall(libc::SYS_getuid),
                libc::syscall(libc::SYS_geteuid),
                libc::syscall(libc::SYS_getgid),
                libc::syscall(libc::SYS_getegid),
            ]
        }
    }

    /// Clears `fd`'s close-on-exec flag.
    pub(super) fn keep_on_exec(fd: c_int) -> Result {
        // SAFETY: F_SETFD changes a descriptor flag only.
        checked(unsafe {
            libc::syscall(
                libc::SYS_fcntl,
                fd as c_long,
                libc::F_SETFD as c_long,
                0 as c_long,
            )
        })
    }

    pub(super) fn umask(mask: u32) {
        // SAFETY: takes a mask only; cannot fail.
        unsafe { libc::syscall(libc::SYS_umask, c_long::from(mask)) };
    }

    pub(super) fn chdir(directory: &CStr) -> Result {
        // SAFETY: the kernel reads a NUL-terminated string behind a reference.
        checked(unsafe { libc::syscall(libc::SYS_chdir, directory.as_ptr()) })
    }

    /// Sets `signal`'s disposition to default.
    pub(super) fn default_disposition(signal: c_int) -> Result {
        // The kernel's struct sigaction, all zero: handler SIG_DFL, no flags, empty mask.
        let action = [0_u64; 4];
        // SAFETY: the kernel reads the struct from a live local (32 bytes, the largest
        // layout of the 64-bit ABIs) and writes no old action (NULL).
        checked(unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal as c_long,
                action.as_ptr(),
                std::ptr::null_mut::<u64>(),
                KERNEL_SIGSET_BYTES,
            )
        })
    }

    /// Sets the signal mask to `mask`; returns the previous one.
    pub(super) fn set_signal_mask(mask: u64) -> std::result::Result<u64, c_int> {
        let mut old = 0_u64;
        // SAFETY: the kernel reads and writes 8-byte sets behind live locals.
        checked(unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK as c_long,
                &mask as *const u64,
                &mut old as *mut u64,
                KERNEL_SIGSET_BYTES,
            )
        })
        .map(|_| old)
    }

    /// Marks every descriptor from 3 up close-on-exec (ENOSYS before Linux 5.11).
    pub(super) fn close_range_on_exec() -> Result {
        // SAFETY: changes descriptor flags only.
        checked(unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3 as c_long,
                c_long::from(u32::MAX),
                libc::CLOSE_RANGE_CLOEXEC as c_long,
            )
        })
    }

    /// `execve`; returns only on failure.
    ///
    /// # Safety
    /// `argv` and `envp` must point to NULL-terminated arrays of NUL-terminated strings.
    pub(super) unsafe fn execve(
        path: *const c_char,
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) -> c_int {
        // SAFETY: the caller's promise; `path` comes from a CStr.
        unsafe { libc::syscall(libc::SYS_execve, path, argv, envp) };
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    }

    /// Ends the child (its own thread group: no CLONE_THREAD).
    pub(super) fn exit_group(code: c_int) {
        // SAFETY: does not return.
        unsafe { libc::syscall(libc::SYS_exit_group, code as c_long) };
    }
}

/// The child's entry point: runs the steps, then exec; on failure reports and exits.
extern "C" fn child_main(argument: *mut c_void) -> c_int {
    // SAFETY: `argument` is the `ChildPlan` the parent passed to clone; it stays valid and
    // unchanged while the parent thread sleeps (CLONE_VFORK).
    let plan = unsafe { &*argument.cast::<ChildPlan<'_>>() };
    let (step, errno) = match run_child(plan) {
        Err(failure) => failure,
        Ok(never) => match never {},
    };
    let errno = errno.to_ne_bytes();
    // One write of fewer than PIPE_BUF bytes to a pipe is atomic.
    let _ = raw::write(
        plan.stage_fd,
        &[step, errno[0], errno[1], errno[2], errno[3]],
    );
    raw::exit_group(127);
    127
}

/// The child's steps in order (see the module docs of `process`); returns only on failure.
fn run_child(plan: &ChildPlan<'_>) -> Result<std::convert::Infallible, (u8, c_int)> {
    let fail = |step: u8| move |errno: c_int| (step, errno);
    for (target, &source) in (0..).zip(plan.stdio.iter()) {
        raw::dup3(source, target).map_err(fail(stage::STDIO))?;
    }
    raw::setsid().map_err(fail(stage::NEW_SESSION))?;
    if plan.controlling_terminal {
        raw::take_controlling_terminal(0).map_err(fail(stage::CONTROLLING_TERMINAL))?;
    }
    for &fd in plan.cgroup_fds {
        // "0" means the writing task: the child, whose only thread this is.
        if raw::write(fd, b"0").map_err(fail(stage::JOIN_CGROUP))? != 1 {
            return Err((stage::JOIN_CGROUP, libc::EIO));
        }
    }
    for (resource, limit) in plan.limits {
        raw::set_limit(*resource, limit).map_err(fail(stage::RESOURCE_LIMITS))?;
    }
    if let Some(switch) = &plan.switch {
        // Before the ids change: once it runs as the user, nothing of the user's may trace
        // this task, which still shares the daemon's memory. The kernel clears the flag on a
        // credential change only when `fs.suid_dumpable` is 0 or 2; this makes it so for 1.
        raw::not_dumpable().map_err(fail(stage::SUPPLEMENTARY_GROUPS))?;
        raw::setgroups(switch.groups).map_err(fail(stage::SUPPLEMENTARY_GROUPS))?;
        raw::setgid(switch.gid).map_err(fail(stage::GROUP_ID))?;
        raw::setuid(switch.uid).map_err(fail(stage::USER_ID))?;
        let wanted = [switch.uid, switch.uid, switch.gid, switch.gid].map(c_long::from);
        if raw::ids() != wanted {
            return Err((stage::VERIFY_IDS, libc::EPERM));
        }
        // A successful setuid(0) here would mean the drop is reversible: refused.
        if switch.uid != 0 && raw::setuid(0).is_ok() {
            return Err((stage::VERIFY_IDS, libc::EPERM));
        }
    }
    // The umask a login gives (login.defs UMASK), not the daemon's.
    if let Some(mask) = plan.umask {
        raw::umask(mask);
    }
    raw::chdir(plan.directory).map_err(fail(stage::CHDIR))?;
    // Every signal is blocked since clone: dispositions to default first (an ignored one
    // would survive execve; a handler of the daemon must not run here), then an empty mask.
    // Errors are ignored: SIGKILL and SIGSTOP cannot be changed.
    for signal in 1..=64 {
        let _ = raw::default_disposition(signal);
    }
    raw::set_signal_mask(0).map_err(fail(stage::SIGNALS))?;
    // Whatever another thread of the daemon opened without O_CLOEXEC is not inherited.
    // Failure (ENOSYS on old kernels) is ignored: std and tokio open everything
    // close-on-exec anyway.
    let _ = raw::close_range_on_exec();
    for &fd in plan.inherit_fds {
        raw::keep_on_exec(fd).map_err(fail(plan.exec_step))?;
    }
    Err((plan.exec_step, exec(plan)))
}

/// `execvp` over the prepared candidates, with glibc's rules: a file the kernel cannot run
/// (ENOEXEC) is run by `/bin/sh`; ENOENT-like errors try the next directory, EACCES too but
/// is remembered; any other error stops the search. Returns only on failure: the errno.
fn exec(plan: &ChildPlan<'_>) -> c_int {
    let mut errno = plan.no_candidate_errno;
    let mut denied = false;
    for path in plan.candidates {
        // SAFETY: argv and envp are the parent's NULL-terminated arrays of CStrings.
        errno = unsafe { raw::execve(path.as_ptr(), plan.argv, plan.envp) };
        if errno == libc::ENOEXEC {
            // SAFETY: slot 1 of the parent's script argv (at least three slots, NULL last),
            // which nothing else reads while the parent sleeps; then execve as above.
            errno = unsafe {
                *plan.script_argv.add(1) = path.as_ptr();
                raw::execve(SCRIPT_INTERPRETER.as_ptr(), plan.script_argv, plan.envp)
            };
        }
        match errno {
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ESTALE | libc::ENOTDIR | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => return errno,
        }
    }
    if denied {
        libc::EACCES
    } else {
        errno
    }
}

/// A started command's process. Its pipes are the parent's ends (close-on-exec, blocking).
/// Dropped before it was reaped, it is reaped later, at a following spawn.
#[derive(Debug)]
pub struct Child {
    /// The process this daemon waits for: the command, or its session helper.
    pid: u32,
    /// The command's process (its session and process group): `pid`, or the session
    /// helper's child.
    command_pid: u32,
    pidfd: Option<OwnedFd>,
    status: Option<ExitStatus>,
    /// The write end of the child's stdin, if piped.
    pub stdin: Option<OwnedFd>,
    /// The read end of the child's stdout, if piped.
    pub stdout: Option<OwnedFd>,
    /// The read end of the child's stderr, if piped.
    pub stderr: Option<OwnedFd>,
    /// The master of the child's pseudo-terminal, when it runs on one (stdin, stdout and
    /// stderr are then all its peer): non-blocking, close-on-exec.
    pub terminal: Option<OwnedFd>,
}

impl Child {
    pub(super) fn new(
        pid: u32,
        pidfd: Option<OwnedFd>,
        stdio: [Option<OwnedFd>; 3],
        terminal: Option<OwnedFd>,
    ) -> Self {
        let [stdin, stdout, stderr] = stdio;
        Self {
            pid,
            command_pid: pid,
            pidfd,
            status: None,
            stdin,
            stdout,
            stderr,
            terminal,
        }
    }

    /// The command's process id (also its session and process group id). Under a PAM
    /// session it is the session helper's child, while [`Child::wait`] waits for the helper
    /// (which ends with the command's status once the session is closed).
    pub fn id(&self) -> u32 {
        self.command_pid
    }

    /// The process the command runs under, when a session helper started it.
    pub(super) fn set_command_pid(&mut self, pid: u32) {
        self.command_pid = pid;
    }

    /// A pidfd of the process (readable once it has exited), where the kernel has them.
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(AsFd::as_fd)
    }

    /// Takes the pidfd out, e.g. to register it with an event loop; [`Child::try_wait`] and
    /// [`Child::wait`] work without it.
    pub fn take_pidfd(&mut self) -> Option<OwnedFd> {
        self.pidfd.take()
    }

    /// Reaps the process if it has exited; `None` while it runs.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.wait_with(libc::WNOHANG)
    }

    /// Waits for the process to exit and reaps it (blocks).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            match self.wait_with(0) {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => continue,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
        }
    }

    fn wait_with(&mut self, options: c_int) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let mut raw = 0;
        let pid = libc::pid_t::try_from(self.pid).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: waitpid for our own child writes its status into a live local.
        let result = unsafe { libc::waitpid(pid, &mut raw, options) };
        match result {
            -1 => Err(io::Error::last_os_error()),
            0 => Ok(None),
            _ => {
                let status = ExitStatus::from_raw(raw);
                self.status = Some(status);
                Ok(Some(status))
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_none() && !matches!(self.try_wait(), Ok(Some(_)) | Err(_)) {
            lock_orphans().push(self.pid);
        }
    }
}

/// Children dropped while they ran: reaped (without blocking) at each following spawn and by
/// [`reap_orphans`], so that a command whose waiter was abandoned does not stay a zombie.
static ORPHANS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn lock_orphans() -> std::sync::MutexGuard<'static, Vec<u32>> {
    ORPHANS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reaps, without blocking, the children dropped before they exited that have exited since.
pub fn reap_orphans() {
    let mut orphans = lock_orphans();
    orphans.retain(|&pid| {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        let mut raw = 0;
        // SAFETY: waitpid for a child of ours, status into a live local.
        unsafe { libc::waitpid(pid, &mut raw, libc::WNOHANG) == 0 }
    });
}

/// Makes sure `fd` is above 2, so that placing the stdio descriptors cannot overwrite it.
pub(super) fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor (>= 3) or -1.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A pipe, both ends close-on-exec: (read, write).
pub(super) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The stdio of a child: the descriptors it gets, and the parent's ends.
pub(super) struct Stdio {
    /// Kept open until the spawn returns: the child dups them onto 0, 1 and 2.
    pub(super) child: [OwnedFd; 3],
    pub(super) parent: [Option<OwnedFd>; 3],
    /// The pseudo-terminal's master, when the child's stdio is its peer.
    pub(super) terminal: Option<OwnedFd>,
}

impl Stdio {
    /// Three pipes, or /dev/null for all three.
    pub(super) fn new(piped: bool) -> io::Result<Self> {
        if !piped {
            let null = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?;
            let null = above_stdio(OwnedFd::from(null))?;
            return Ok(Self {
                child: [null.try_clone()?, null.try_clone()?, null],
                parent: [None, None, None],
                terminal: None,
            });
        }
        let (stdin_read, stdin_write) = pipe()?;
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, stderr_write) = pipe()?;
        Ok(Self {
            child: [
                above_stdio(stdin_read)?,
                above_stdio(stdout_write)?,
                above_stdio(stderr_write)?,
            ],
            parent: [Some(stdin_write), Some(stdout_read), Some(stderr_read)],
            terminal: None,
        })
    }

    /// A new pseudo-terminal of `size`: its peer on all three, given to `owner` (uid, gid)
    /// when the child switches user.
    pub(super) fn terminal(
        size: crate::terminal::WindowSize,
        owner: Option<(u32, u32)>,
    ) -> io::Result<Self> {
        let (master, peer) = crate::terminal::open_pseudo_terminal(size)?;
        if let Some((uid, gid)) = owner {
            crate::terminal::give_terminal_to(peer.as_fd(), uid, gid)?;
        }
        let peer = above_stdio(peer)?;
        Ok(Self {
            child: [peer.try_clone()?, peer.try_clone()?, peer],
            parent: [None, None, None],
            terminal: Some(above_stdio(master)?),
        })
    }
}
