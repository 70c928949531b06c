//! Processes started outside any shell (WMI's `Win32_Process.Create`): the same spawn, user
//! switch, login environment and per-shell limits as a WinRS command, but detached.
//!
//! Why the same path: a method that starts programs is a remote shell by another name, so it
//! gets exactly what a command gets (the authenticated user's ids, a cgroup with
//! MaxProcessesPerShell and MaxMemoryPerShellMB, or their rlimits) and an audit record.
//! Unlike a command, nobody reads its output (stdin, stdout and stderr are `/dev/null`) and it
//! outlives the request; the manager waits for it, so it never stays a zombie, and removes its
//! cgroup once the last process in it has gone.
//!
//! The process is the command's own: a simple command line (one command, no list, pipeline
//! or builtin) is run as `/bin/sh -c 'exec LINE'`, since Debian's dash forks the command of
//! `-c` instead of replacing itself, and Windows' Create answers the program's own process id.
//! [`ShellManager::terminate_launched`] ends it with everything it started: its cgroup holds
//! even what called `setsid`; without cgroups, its session (what left it survives then).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use wsman_os::cgroup::{CgroupError, ShellCgroup};
use wsman_os::process::{
    exit_code, kill_session, LoginSession, PreparedCommand, Program, SpawnRequest,
};

use super::{process_environment, release_shell_slot, take_shell_slot, Inner, ShellManager};
use crate::audit;
use crate::command::wait_for_exit;
use crate::error::ShellError;
use crate::ids::new_id;
use crate::lock;
use crate::types::{ShellLimits, ShellOwner};

/// A process started by [`ShellManager::launch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Launched {
    /// Its process id.
    pub pid: u32,
}

impl ShellManager {
    /// Starts `/bin/sh -c command_line` as `owner`, in `working_directory` (an absolute path;
    /// `None`: the user's home, else `/`), detached from the request: it keeps running after
    /// the answer and is reaped by the manager when it exits. Blocks until the child has
    /// exec'd (or failed to), so call it off the async workers.
    ///
    /// Errors: [`ShellError::ShuttingDown`], [`ShellError::RunAsNotPermitted`] (the daemon is
    /// not root and the owner is another user), [`ShellError::InvalidCommandLine`] (empty, longer
    /// than Windows' 32,767 characters, or with a NUL byte), [`ShellError::WorkingDirectory`] (missing, not absolute, or not
    /// enterable by the user), [`ShellError::Spawn`].
    pub fn launch(
        &self,
        owner: &ShellOwner,
        command_line: &str,
        working_directory: Option<&Path>,
    ) -> Result<Launched, ShellError> {
        let result = self.try_launch(owner, command_line, working_directory);
        if let Err(error) = &result {
            audit::process_launch_failed(&audit::Who::of(owner), command_line, error);
        }
        result
    }

    fn try_launch(
        &self,
        owner: &ShellOwner,
        command_line: &str,
        working_directory: Option<&Path>,
    ) -> Result<Launched, ShellError> {
        let limits = self.limits();
        self.admit(owner, &limits)?;
        if command_line.trim().is_empty() {
            return Err(ShellError::InvalidCommandLine {
                reason: "the command is empty",
            });
        }
        if command_line.encode_utf16().count() > MAX_COMMAND_LINE_UNITS {
            return Err(ShellError::InvalidCommandLine {
                reason: "longer than the 32,767 characters Windows takes",
            });
        }
        let directory = match working_directory {
            Some(path) if !path.is_absolute() => {
                return Err(ShellError::WorkingDirectory {
                    path: path.to_owned(),
                })
            }
            Some(path) => path.to_owned(),
            None if owner.run_as.home.is_dir() => owner.run_as.home.clone(),
            None => PathBuf::from("/"),
        };
        let environment = process_environment(&owner.run_as, false, &[], None);
        // Counted as a shell of its user until everything it started has ended (given back
        // on every early return too, when the slot drops).
        let slot = ShellSlot::take(&self.inner, &owner.run_as.name, &limits)?;
        let group_name = format!("process-{}", new_id().to_ascii_lowercase());
        let (cgroup, resource_limits) = self.shell_limits(&group_name, &limits);
        let mut request = SpawnRequest::new(
            Program::ShellCommandLine {
                line: own_process_line(command_line),
            },
            self.run_as(owner),
            environment,
            directory.clone(),
        );
        request.cgroup = cgroup.as_ref();
        request.resource_limits = resource_limits;
        request.piped = false;
        let session_helper = self.login_session_helper(owner);
        request.session = session_helper.as_ref().map(|helper| LoginSession {
            helper,
            remote_host: owner.client_ip,
        });
        let spawned = PreparedCommand::new(request).and_then(PreparedCommand::spawn);
        let child = match spawned {
            Ok(child) => child,
            Err(error) => {
                if let Some(cgroup) = &cgroup {
                    let _ = cgroup.remove();
                }
                return Err(error.into());
            }
        };
        let pid = child.id();
        let group = cgroup.map(Arc::new);
        lock(&self.inner.launched_groups).push(LaunchedTree {
            leader: pid,
            group: group.clone(),
            _slot: slot,
        });
        let started = Instant::now();
        audit::process_launched(
            &audit::Who::of(owner),
            command_line,
            &directory.to_string_lossy(),
            pid,
        );
        let inner = Arc::downgrade(&self.inner);
        let who = audit::Who::of(owner);
        let command_line = command_line.to_owned();
        self.inner.runtime.spawn(async move {
            let code = wait_for_exit(child).await.map(exit_code).unwrap_or(-1);
            audit::process_ended(&who, &command_line, pid, code, started.elapsed());
            let Some(inner) = inner.upgrade() else {
                return;
            };
            // Without a group the process is all that is known; with one, processes it
            // started in the background may still run in it (the reaper removes it later).
            lock(&inner.launched_groups).retain(|tree| {
                tree.leader != pid
                    || tree
                        .group
                        .as_ref()
                        .is_some_and(|group| !group.remove_if_empty())
            });
        });
        Ok(Launched { pid })
    }

    /// Ends the process [`ShellManager::launch`] started as `pid` and everything it started
    /// (SIGKILL): its whole cgroup, what called `setsid` included; without cgroups, its
    /// session. `None` when `pid` does not name such a process now (never launched here, or
    /// it has ended and the pid may belong to another process): the caller ends that
    /// process alone. Blocks while the group empties (up to about two seconds).
    pub fn terminate_launched(&self, pid: u32) -> Option<Result<usize, CgroupError>> {
        let tree = {
            let trees = lock(&self.inner.launched_groups);
            let tree = trees.iter().find(|tree| tree.leader == pid)?;
            tree.group.clone()
        };
        let Some(group) = tree else {
            // Registered and without a group: the waiter has not yet seen it exit.
            return Some(Ok(kill_session(pid, KILL_ROUNDS)));
        };
        // The pid is the leader's only while the leader is in its group.
        if !group.process_ids().contains(&pid) {
            return None;
        }
        let killed = group.kill_all(KILL_ROUNDS);
        if killed.is_ok() && group.remove_if_empty() {
            lock(&self.inner.launched_groups).retain(|tree| tree.leader != pid);
        }
        Some(killed)
    }
}

/// The longest command line CreateProcess takes, in UTF-16 code units, which Create keeps to:
/// a longer one is refused before anything starts.
const MAX_COMMAND_LINE_UNITS: usize = 32_767;

/// Scans (5 ms apart) while ending a launched tree.
const KILL_ROUNDS: u32 = 400;

/// A process [`ShellManager::launch`] started, and the cgroup that holds all it started.
#[derive(Debug)]
pub(super) struct LaunchedTree {
    /// The launched process's pid.
    leader: u32,
    /// Its cgroup, where the host has them.
    group: Option<Arc<ShellCgroup>>,
    /// Its place in its user's MaxShellsPerUser, held while the tree is listed.
    _slot: ShellSlot,
}

/// One of a user's MaxShellsPerUser places, held by a launched process tree; given back when
/// dropped.
#[derive(Debug)]
struct ShellSlot {
    inner: std::sync::Weak<Inner>,
    user: String,
}

impl ShellSlot {
    /// Takes a place (under the registry lock, where shutdown lists shells), or the quota
    /// error a shell would get.
    fn take(inner: &Arc<Inner>, user: &str, limits: &ShellLimits) -> Result<Self, ShellError> {
        let mut registry = lock(&inner.registry);
        if inner.closing.load(Ordering::Acquire) {
            return Err(ShellError::ShuttingDown);
        }
        take_shell_slot(&mut registry, user, limits)?;
        Ok(Self {
            inner: Arc::downgrade(inner),
            user: user.to_owned(),
        })
    }
}

impl Drop for ShellSlot {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            release_shell_slot(&mut lock(&inner.registry), &self.user);
        }
    }
}

/// Removes the groups of launched processes that have no process left (the reaper's duty).
pub(super) fn remove_empty_launch_groups(inner: &Inner) {
    lock(&inner.launched_groups).retain(|tree| {
        tree.group
            .as_ref()
            .is_none_or(|group| !group.remove_if_empty())
    });
}

/// Shell words that name no program `exec` could run in the shell's place: reserved words and
/// dash's builtins (a quoted builtin name is still the builtin).
const NOT_A_PROGRAM: &[&str] = &[
    "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then",
    "until", "while", ".", ":", "[", "alias", "bg", "break", "cd", "chdir", "command", "continue",
    "echo", "eval", "exec", "exit", "export", "false", "fc", "fg", "getopts", "hash", "jobs",
    "kill", "local", "printf", "pwd", "read", "readonly", "return", "set", "shift", "test",
    "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "wait",
];

/// The line `/bin/sh -c` runs for Create: `exec LINE` when LINE is one simple command whose
/// first word names a program, so that the process is the program's own; else LINE as given
/// (a list, pipeline, compound command, redirection, substitution or builtin needs the shell
/// to stay). Decided on characters alone, conservatively: any character that could start an
/// operator or a substitution anywhere, even quoted, keeps the shell; an assignment first
/// (`NAME=value cmd`) keeps it too, since `exec` would take it for the program.
pub(crate) fn own_process_line(line: &str) -> String {
    let keeps_the_shell = |c: char| {
        matches!(
            c,
            ';' | '&' | '|' | '(' | ')' | '<' | '>' | '`' | '$' | '\\' | '\n' | '\r'
        )
    };
    let first = line.split_ascii_whitespace().next().unwrap_or_default();
    let first_unquoted: String = first.chars().filter(|c| !matches!(c, '\'' | '"')).collect();
    let simple = !first.is_empty()
        && !line.contains(keeps_the_shell)
        && !first.contains('=')
        && !first.starts_with('#')
        && !NOT_A_PROGRAM.contains(&first_unquoted.as_str());
    if simple {
        format!("exec {line}")
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::own_process_line;
    use proptest::prelude::*;

    #[test]
    fn a_simple_command_is_exec_d_and_nothing_else() {
        for line in [
            "sleep 600",
            "  sleep 600.1",
            "'sleep' \"1\"",
            "/bin/sleep 1 # why",
        ] {
            assert_eq!(own_process_line(line), format!("exec {line}"), "{line}");
        }
        for line in [
            "sleep 1; sleep 2",
            "sleep 1 & sleep 2",
            "a | b",
            "(sleep 1)",
            "sleep 1 > /dev/null",
            "echo $HOME",
            "echo `id`",
            "A=1 env",
            "cd /tmp",
            "'cd' /tmp",
            "exit 3",
            "if true",
            "# comment",
            "sleep 1\nsleep 2",
            "",
            "   ",
        ] {
            assert_eq!(own_process_line(line), line, "{line:?}");
        }
    }

    /// dash itself is the oracle: a line runs the same with the rewrite as without (its
    /// output and exit status), for lines made of programs, builtins, assignments, quotes
    /// and every kind of separator.
    fn same_under_dash(line: &str) -> Result<(), TestCaseError> {
        let run = |text: &str| {
            std::process::Command::new("/bin/sh")
                .args(["-c", text])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .current_dir("/")
                .output()
                .unwrap()
        };
        let (plain, rewritten) = (run(line), run(&own_process_line(line)));
        prop_assert_eq!(plain.status.code(), rewritten.status.code(), "{:?}", line);
        prop_assert_eq!(plain.stdout, rewritten.stdout, "{:?}", line);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn the_rewrite_never_changes_what_a_line_does(
            words in proptest::collection::vec(prop::sample::select(vec![
                "echo a", "/bin/echo 'x y'", "printf %s- b", "true", "false", "cat /dev/null",
                "ls -d /", "A=1 env", "exit 3", "cd /tmp", ":", "pwd", "#c", "test -d /",
                "'echo' q", "sh -c 'exit 4'", "env -i", "exec echo z",
            ]), 1..4),
            separators in proptest::collection::vec(prop::sample::select(vec![
                " ", "; ", " && ", " | ", " || ", "\n", " & wait; ", " > /dev/null; ",
            ]), 3),
        ) {
            let mut line = String::new();
            for (index, word) in words.iter().enumerate() {
                if index > 0 {
                    line.push_str(separators[index - 1]);
                }
                line.push_str(word);
            }
            same_under_dash(&line)?;
        }
    }
}
