//! Processes started outside any shell (WMI's `Win32_Process.Create`): the same spawn, user
//! switch, login environment and per-shell limits as a WinRS command, but detached.
//!
//! Why the same path: a method that starts programs is a remote shell by another name, so it
//! gets exactly what a command gets (the authenticated user's ids, a cgroup with
//! MaxProcessesPerShell and MaxMemoryPerShellMB, or their rlimits) and an audit record.
//! Unlike a command, nobody reads its output (stdin, stdout and stderr are `/dev/null`) and it
//! outlives the request; the manager waits for it, so it never stays a zombie, and removes its
//! cgroup once the last process in it has gone.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use wsman_os::process::{exit_code, LoginSession, PreparedCommand, Program, SpawnRequest};

use super::{process_environment, Inner, ShellManager};
use crate::audit;
use crate::command::wait_for_exit;
use crate::error::ShellError;
use crate::ids::new_id;
use crate::shell::lock;
use crate::types::ShellOwner;

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
    /// not root and the owner is another user), [`ShellError::InvalidCommandLine`] (empty or
    /// with a NUL byte), [`ShellError::WorkingDirectory`] (missing, not absolute, or not
    /// enterable by the user), [`ShellError::Spawn`].
    pub fn launch(
        &self,
        owner: &ShellOwner,
        command_line: &str,
        working_directory: Option<&Path>,
    ) -> Result<Launched, ShellError> {
        let result = self.try_launch(owner, command_line, working_directory);
        if let Err(error) = &result {
            audit::process_launch_failed(&owner.user_name, owner.client_ip, command_line, error);
        }
        result
    }

    fn try_launch(
        &self,
        owner: &ShellOwner,
        command_line: &str,
        working_directory: Option<&Path>,
    ) -> Result<Launched, ShellError> {
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(ShellError::ShuttingDown);
        }
        if !self.inner.switch_user && owner.run_as.uid != self.inner.daemon_uid {
            return Err(ShellError::RunAsNotPermitted {
                uid: owner.run_as.uid,
                daemon_uid: self.inner.daemon_uid,
            });
        }
        if command_line.trim().is_empty() {
            return Err(ShellError::InvalidCommandLine {
                reason: "the command is empty",
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
        let limits = self.limits();
        let group_name = format!("process-{}", new_id().to_ascii_lowercase());
        let (cgroup, resource_limits) = self.shell_limits(&group_name, &limits);
        let mut request = SpawnRequest::new(
            Program::ShellCommandLine {
                line: command_line.to_owned(),
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
        let started = Instant::now();
        audit::process_launched(
            &owner.user_name,
            owner.client_ip,
            command_line,
            &directory.to_string_lossy(),
            pid,
        );
        let inner = Arc::downgrade(&self.inner);
        let user = owner.user_name.clone();
        let client_ip = owner.client_ip;
        let command_line = command_line.to_owned();
        self.inner.runtime.spawn(async move {
            let code = wait_for_exit(child).await.map(exit_code).unwrap_or(-1);
            audit::process_ended(
                &user,
                client_ip,
                &command_line,
                pid,
                code,
                started.elapsed(),
            );
            let Some(cgroup) = cgroup else {
                return;
            };
            // Processes it started in the background may still run in its group.
            if cgroup.process_ids().is_empty() && cgroup.remove().is_ok() {
                return;
            }
            if let Some(inner) = inner.upgrade() {
                lock(&inner.launched_groups).push(cgroup);
            }
        });
        Ok(Launched { pid })
    }
}

/// Removes the groups of launched processes that have no process left (the reaper's duty).
pub(super) fn remove_empty_launch_groups(inner: &Inner) {
    lock(&inner.launched_groups)
        .retain(|group| !(group.process_ids().is_empty() && group.remove().is_ok()));
}
