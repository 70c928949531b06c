//! Signalling processes, process groups and sessions, scanning `/proc`, and exit codes.
//!
//! Below both [`crate::process`], which starts what these signal (and re-exports them), and
//! [`crate::cgroup`], which kills what is left in a shell's group: neither imports the other
//! for it.

use std::fs;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::errno::Errno;

/// Signals that WinRS asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessSignal {
    /// SIGINT (ctrl_c).
    Interrupt,
    /// SIGQUIT (ctrl_break).
    Quit,
    /// SIGTERM.
    Terminate,
    /// SIGKILL.
    Kill,
}

impl ProcessSignal {
    fn raw(self) -> libc::c_int {
        match self {
            Self::Interrupt => libc::SIGINT,
            Self::Quit => libc::SIGQUIT,
            Self::Terminate => libc::SIGTERM,
            Self::Kill => libc::SIGKILL,
        }
    }
}

/// Sends `signal` to process group `pgid`. `Ok(false)` if the group no
/// longer exists.
pub fn signal_process_group(pgid: u32, signal: ProcessSignal) -> io::Result<bool> {
    // SAFETY: killpg has no memory-safety preconditions; `deliver` passes a pgid > 1 only, so
    // this never addresses "every process" (pgid 0/-1 semantics).
    deliver(pgid, |pgid| unsafe { libc::killpg(pgid, signal.raw()) })
}

/// Sends `signal` to one process. `Ok(false)` if it no longer exists.
pub fn signal_process(pid: u32, signal: ProcessSignal) -> io::Result<bool> {
    // SAFETY: kill has no memory-safety preconditions; `deliver` passes a pid > 1 only.
    deliver(pid, |pid| unsafe { libc::kill(pid, signal.raw()) })
}

/// Calls `send` (kill or killpg) with `id` when it names one process or group (above 1: never
/// init, this group or every process); `Ok(false)` when it does not or no longer exists.
fn deliver(id: u32, send: impl FnOnce(i32) -> libc::c_int) -> io::Result<bool> {
    let Ok(id) = i32::try_from(id) else {
        return Ok(false);
    };
    if id <= 1 {
        return Ok(false);
    }
    if send(id) == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::ESRCH => Ok(false),
        errno => Err(io::Error::from(errno)),
    }
}

/// One line of `/proc/PID/stat`, the fields we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessStat {
    /// Process id.
    pub pid: u32,
    /// State letter (`R`, `S`, `Z`...).
    pub state: char,
    /// Parent.
    pub ppid: u32,
    /// Process group.
    pub pgrp: u32,
    /// Session.
    pub session: u32,
    /// When it started, in clock ticks after boot: with the pid, identifies
    /// a process even after its pid is reused.
    pub start_time: u64,
}

/// Reads `/proc/PID/stat`; `None` if the process is gone.
pub fn process_stat(pid: u32) -> Option<ProcessStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    // Skip tty_nr .. itrealvalue (fields 7 to 21) to starttime (22).
    let start_time = fields.nth(15)?.parse().ok()?;
    Some(ProcessStat {
        pid,
        state,
        ppid,
        pgrp,
        session,
        start_time,
    })
}

/// Every live process (zombies excluded).
pub fn all_processes() -> Vec<ProcessStat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(process_stat)
        .filter(|stat| stat.state != 'Z')
        .collect()
}

/// Kills (SIGKILL) every process in session `sid` or process group `sid`; see
/// [`kill_sessions`].
pub fn kill_session(sid: u32, max_rounds: u32) -> usize {
    kill_sessions(&[sid], max_rounds)
}

/// Kills (SIGKILL) every process in one of the sessions `sids` (a command's session id is its
/// pid) and every descendant of those processes, repeating until none is left (a process may
/// fork while we look), up to `max_rounds` scans 5 ms apart. Returns how many processes were
/// signalled.
///
/// Descendants count because a command may start processes in a session of their own
/// (`setsid sleep 1004 &`): they are still its children, found by their parent pid. The scan
/// starts from session members only, never from the pid `sid` itself, which the kernel may
/// have given to an unrelated process once the command was reaped. A descendant whose own
/// parent died before the scan has been adopted by init and is found no more: the shell's
/// cgroup ends it when the shell is deleted.
///
/// A scan asks the kernel for the session of every pid in `/proc` (`getsid`, one system call
/// that reads no file) and reads `/proc/PID/stat` only for the members, to leave zombies out
/// (a zombie cannot be killed and is not ours to reap). Reading every `stat` instead cost
/// about a millisecond of CPU per scan with 75 processes on the host. A process group lies
/// inside one session (`setpgid` refuses to cross sessions), so the members of process group
/// `sid` are members of session `sid` too.
pub fn kill_sessions(sids: &[u32], max_rounds: u32) -> usize {
    let sids: Vec<u32> = sids.iter().copied().filter(|&sid| sid > 1).collect();
    if sids.is_empty() {
        return 0;
    }
    let mut signalled = 0;
    for _ in 0..max_rounds {
        let members = session_members(&sids);
        if members.is_empty() {
            break;
        }
        for pid in members {
            if matches!(signal_process(pid, ProcessSignal::Kill), Ok(true)) {
                signalled += 1;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    signalled
}

/// The live (not zombie) processes in one of the sessions `sids`, and their descendants.
fn session_members(sids: &[u32]) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect();
    let mut members: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|&pid| session_of(pid).is_some_and(|sid| sids.contains(&sid)))
        .filter(|&pid| {
            process_stat(pid).is_some_and(|stat| stat.state != 'Z' && sids.contains(&stat.session))
        })
        .collect();
    if members.is_empty() {
        return members;
    }
    // Processes outside the sessions, by parent: only they can be descendants that left.
    let mut children: std::collections::HashMap<u32, Vec<u32>> = std::collections::HashMap::new();
    for pid in pids {
        if members.contains(&pid) {
            continue;
        }
        if let Some(stat) = process_stat(pid).filter(|stat| stat.state != 'Z') {
            children.entry(stat.ppid).or_default().push(pid);
        }
    }
    let mut next = 0;
    while next < members.len() {
        if let Some(found) = children.remove(&members[next]) {
            members.extend(found);
        }
        next += 1;
    }
    members
}

/// `getsid(pid)`; `None` once the process is gone.
fn session_of(pid: u32) -> Option<u32> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: getsid takes a pid and touches no memory.
    let sid = unsafe { libc::getsid(pid) };
    u32::try_from(sid).ok()
}

/// The WinRS exit code of a finished process: its exit status, or
/// `128 + N` when signal N killed it (what a POSIX shell reports, so
/// `kill -9` shows as 137 and Ctrl+C as 130).
pub fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => -1,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::process::{PreparedCommand, Program, RunAs, SpawnRequest};
    use std::process::Command;

    /// Starts `line` under `sh` as the daemon, in a session of its own, as a command would be.
    fn spawn_shell(line: &str) -> crate::process::Child {
        let request = SpawnRequest::new(
            Program::ShellCommandLine { line: line.into() },
            RunAs::Daemon,
            vec![("PATH".into(), "/usr/bin:/bin".into())],
            "/".into(),
        );
        PreparedCommand::new(request).unwrap().spawn().unwrap()
    }

    #[test]
    fn exit_codes_and_signals_map_like_a_shell() {
        for (line, expected) in [("exit 0", 0), ("exit 42", 42), ("kill -9 $$", 137)] {
            let status = Command::new("/bin/sh")
                .arg("-c")
                .arg(line)
                .status()
                .unwrap();
            assert_eq!(exit_code(status), expected, "{line}");
        }
    }

    #[test]
    fn kill_session_ends_background_children() {
        let mut child = spawn_shell("sleep 300 & sleep 300 & wait");
        let sid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while all_processes().iter().filter(|p| p.session == sid).count() < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "children never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let stat = process_stat(sid).unwrap();
        assert_eq!(stat.pgrp, sid);
        let own = process_stat(std::process::id()).unwrap();
        assert!(stat.start_time >= own.start_time && own.start_time > 0);
        assert!(kill_session(sid, 100) >= 3);
        child.wait().unwrap();
        assert!(all_processes().iter().all(|p| p.session != sid));
    }

    /// One scan for several sessions; a zombie in a session does not keep the scans going.
    #[test]
    fn kill_sessions_ends_several_sessions_at_once() {
        // The second leaves a zombie: `sleep` never reaps the subshell that exited.
        let mut children = [
            spawn_shell("sleep 300 & sleep 300 & wait"),
            spawn_shell("(exit 0) & exec sleep 301"),
        ];
        let sids: Vec<u32> = children.iter().map(|child| child.id()).collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let count = || {
            all_processes()
                .iter()
                .filter(|p| sids.contains(&p.session))
                .count()
        };
        while count() < 4 {
            assert!(
                std::time::Instant::now() < deadline,
                "children never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let started = std::time::Instant::now();
        assert!(kill_sessions(&sids, 100) >= 4);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        for child in &mut children {
            assert_eq!(exit_code(child.wait().unwrap()), 137);
        }
        assert_eq!(count(), 0);
        assert_eq!(kill_sessions(&[0, 1], 100), 0);
    }

    /// A child that started a session of its own is still the command's: killed with it.
    #[test]
    fn kill_session_ends_descendants_in_their_own_session() {
        let mut child = spawn_shell("setsid sleep 1004 & exec sleep 1005");
        let sid = child.id();
        let escaped = || {
            all_processes()
                .into_iter()
                .filter(|p| p.ppid == sid && p.session != sid)
                .collect::<Vec<_>>()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while escaped().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the setsid child never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let outside = escaped()[0].pid;
        assert!(kill_session(sid, 100) >= 2);
        child.wait().unwrap();
        // Killed; its parent is gone, so init reaps it: wait for that, bounded.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while process_stat(outside).is_some_and(|p| p.state != 'Z' && p.start_time > 0) {
            assert!(
                std::time::Instant::now() < deadline,
                "the child in its own session survived the kill"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
