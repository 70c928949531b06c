//! One shell: its owner, options, commands, cgroup; and how it ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use wsman_os::cgroup::ShellCgroup;
use wsman_os::process::{all_processes, ResourceLimits};

use crate::audit;
use crate::command::{kill_trees_blocking, Command};
use crate::error::ShellError;
use crate::ids::canonical_id;
use crate::lock;
use crate::output::STREAM_NAMES;
use crate::types::{ShellInfo, ShellOptions, ShellOwner, ShellState};

/// How long Delete and terminate wait for killed processes to be reaped.
pub(crate) const KILL_WAIT: Duration = Duration::from_secs(10);
/// Rounds of kill-and-rescan for a cgroup.
const CGROUP_KILL_ROUNDS: u32 = 400;

/// A shell and everything it owns. Shared between the registry and the
/// requests in flight on it.
#[derive(Debug)]
pub(crate) struct Shell {
    pub(crate) id: String,
    pub(crate) owner: ShellOwner,
    pub(crate) options: ShellOptions,
    pub(crate) created_at: SystemTime,
    pub(crate) created: Instant,
    pub(crate) idle_timeout: Duration,
    pub(crate) last_activity: Mutex<Instant>,
    pub(crate) in_flight: Mutex<u32>,
    pub(crate) working_directory: PathBuf,
    pub(crate) environment: Vec<(String, String)>,
    pub(crate) cgroup: Option<ShellCgroup>,
    pub(crate) resource_limits: ResourceLimits,
    pub(crate) commands: Mutex<HashMap<String, Arc<Command>>>,
    pub(crate) attachment: Mutex<Attachment>,
    /// The window size of the client's terminal, for a shell whose commands run on a
    /// pseudo-terminal: the size at Create, then the last resize.
    pub(crate) window: Mutex<Option<crate::types::WindowSize>>,
}

/// Who the shell is attached to: the client session, or nobody since a Disconnect.
#[derive(Debug, Default)]
pub(crate) struct Attachment {
    /// The `p:SessionId` of the client that created, reconnected or connected it.
    pub(crate) client_session: Option<String>,
    /// Set by Disconnect: the idle timeout that applies now, and since when.
    pub(crate) disconnected: Option<(Duration, Instant)>,
}

impl Shell {
    pub(crate) fn touch(&self) {
        *lock(&self.last_activity) = Instant::now();
    }

    /// Refuses an operation that needs a client attached (Command, Send, Receive, Signal).
    pub(crate) fn ensure_connected(&self) -> Result<(), ShellError> {
        if lock(&self.attachment).disconnected.is_some() {
            return Err(ShellError::ShellDisconnected {
                shell_id: self.id.clone(),
            });
        }
        Ok(())
    }

    /// The idle timeout in force and the instant it counts from: the Disconnect's while
    /// disconnected (requests in flight do not keep a disconnected shell alive), else the
    /// shell's own from its last request (`None` while a request runs).
    pub(crate) fn idle_deadline(&self) -> Option<(Duration, Instant)> {
        if let Some(disconnected) = lock(&self.attachment).disconnected {
            return Some(disconnected);
        }
        if *lock(&self.in_flight) > 0 {
            return None;
        }
        Some((self.idle_timeout, *lock(&self.last_activity)))
    }

    pub(crate) fn command(&self, command_id: &str) -> Result<Arc<Command>, ShellError> {
        let unknown = || ShellError::UnknownCommand {
            shell_id: self.id.clone(),
            command_id: command_id.to_owned(),
        };
        let id = canonical_id(command_id).ok_or_else(unknown)?;
        lock(&self.commands).get(&id).cloned().ok_or_else(unknown)
    }

    pub(crate) fn output_indices(&self, requested: &[String]) -> Result<Vec<usize>, ShellError> {
        let names: Vec<&String> = if requested.is_empty() {
            self.options.output_streams.iter().collect()
        } else {
            requested.iter().collect()
        };
        let mut indices = Vec::new();
        for name in names {
            let declared = self.options.output_streams.iter().any(|s| s == name);
            let index = STREAM_NAMES.iter().position(|s| s == name);
            match (declared, index) {
                (true, Some(index)) if !indices.contains(&index) => indices.push(index),
                (true, Some(_)) => {}
                // A declared stream no pipe feeds: it never has output.
                (true, None) => {}
                (false, _) => {
                    return Err(ShellError::UnknownOutputStream {
                        stream: name.clone(),
                    })
                }
            }
        }
        Ok(indices)
    }

    pub(crate) fn info(&self) -> ShellInfo {
        self.describe(true)
    }

    /// The info of a shell that has not started a command yet (Create): no process, so no
    /// process count to read and no limit that could have been hit.
    pub(crate) fn fresh_info(&self) -> ShellInfo {
        self.describe(false)
    }

    fn describe(&self, started: bool) -> ShellInfo {
        let commands: Vec<_> = lock(&self.commands).values().map(|c| c.info()).collect();
        let process_count = match (&self.cgroup, started) {
            (_, false) => 0,
            (Some(cgroup), true) => cgroup.process_ids().len(),
            (None, true) => {
                let sessions: Vec<u32> = commands.iter().filter_map(|c| c.process_id).collect();
                all_processes()
                    .iter()
                    .filter(|p| sessions.contains(&p.session))
                    .count()
            }
        };
        let attachment = lock(&self.attachment);
        let (state, idle_timeout) = match attachment.disconnected {
            Some((timeout, _)) => (ShellState::Disconnected, timeout),
            None => (ShellState::Connected, self.idle_timeout),
        };
        drop(attachment);
        ShellInfo {
            state,
            shell_id: self.id.clone(),
            name: self.options.name.clone(),
            owner: self.owner.user_name.clone(),
            run_as_user: self.owner.run_as.name.clone(),
            client_ip: self.owner.client_ip,
            created_at: self.created_at,
            idle_timeout,
            lifetime: self.options.lifetime,
            run_time: self.created.elapsed(),
            inactivity: lock(&self.last_activity).elapsed(),
            input_streams: self.options.input_streams.clone(),
            output_streams: self.options.output_streams.clone(),
            working_directory: self.working_directory.clone(),
            environment: self.options.environment.clone(),
            no_profile: self.options.no_profile,
            codepage: self.options.codepage,
            process_count,
            memory_used: self.cgroup.as_ref().and_then(ShellCgroup::memory_used),
            process_limit_hits: match &self.cgroup {
                Some(cgroup) if started => cgroup.process_limit_hits(),
                _ => 0,
            },
            memory_limit_hit: started
                && self
                    .cgroup
                    .as_ref()
                    .is_some_and(ShellCgroup::memory_limit_hit),
            commands,
        }
    }

    /// Kills every process of the shell, stops its commands and removes
    /// its cgroup.
    pub(crate) async fn close(self: Arc<Self>, reason: &str) {
        let commands: Vec<Arc<Command>> = lock(&self.commands).drain().map(|(_, c)| c).collect();
        let shell = self.clone();
        let killer_commands = commands.clone();
        let emptied = tokio::task::spawn_blocking(move || {
            let emptied = match &shell.cgroup {
                Some(cgroup) => match cgroup.kill_all(CGROUP_KILL_ROUNDS) {
                    Ok(_) => true,
                    Err(error) => {
                        tracing::warn!(shell_id = %shell.id, %error, "killing the shell's cgroup");
                        false
                    }
                },
                None => false,
            };
            match (&shell.cgroup, emptied) {
                // Empty: removed now, on this thread, instead of by a second blocking task.
                (Some(cgroup), true) => shell.remove_cgroup(cgroup),
                // Without a cgroup the sessions are all we know of.
                _ => kill_trees_blocking(&killer_commands),
            }
            emptied
        })
        .await;
        match emptied {
            // Every process the shell started joined its cgroup before exec, and the group
            // is empty now. The session sweep (one scan of /proc for all the shell's
            // commands) is only for a process that moved itself out of the group, which
            // takes root or a group the user may write to: it runs after the answer instead
            // of delaying it.
            Ok(true) if !commands.is_empty() => {
                let sweep = commands.clone();
                tokio::task::spawn_blocking(move || kill_trees_blocking(&sweep));
            }
            Ok(true) => {}
            Ok(false) => {}
            Err(_) => tracing::warn!(shell_id = %self.id, "the kill task failed"),
        }
        for command in &commands {
            command.finish(KILL_WAIT).await;
        }
        if !matches!(emptied, Ok(true)) {
            let shell = self.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(cgroup) = &shell.cgroup {
                    shell.remove_cgroup(cgroup);
                }
            })
            .await;
        }
        audit::shell_ended(
            &audit::Who::of(&self.owner),
            &self.id,
            reason,
            self.created.elapsed(),
        );
    }

    /// Removes the shell's cgroup directories (blocking), logging a failure.
    fn remove_cgroup(&self, cgroup: &ShellCgroup) {
        if let Err(error) = cgroup.remove() {
            tracing::warn!(shell_id = %self.id, %error, "removing the shell's cgroup");
        }
    }

    /// A new cgroup for one command inside the shell's (named after the command id), so
    /// that Terminate ends everything the command started and nothing of the shell's other
    /// commands. `None` without a shell cgroup, or when the group cannot be made (logged: the
    /// command then runs in the shell's group, ended with the shell).
    pub(crate) fn command_group(&self, command_id: &str) -> Option<Arc<ShellCgroup>> {
        let shell_group = self.cgroup.as_ref()?;
        match shell_group.create_child(&command_id.to_ascii_lowercase()) {
            Ok(group) => Some(Arc::new(group)),
            Err(error) => {
                tracing::warn!(shell_id = %self.id, command_id, %error, "no cgroup of its own for this command");
                None
            }
        }
    }

    /// Best effort without a runtime (the manager is being dropped).
    pub(crate) fn kill_now(&self) {
        if let Some(cgroup) = &self.cgroup {
            let _ = cgroup.kill_all(50);
        }
        let commands: Vec<Arc<Command>> = lock(&self.commands).values().cloned().collect();
        kill_trees_blocking(&commands);
        if let Some(cgroup) = &self.cgroup {
            let _ = cgroup.remove();
        }
    }
}

/// Marks a shell busy (not idle) while a request runs on it.
pub(crate) struct Busy<'a>(&'a Shell);

impl<'a> Busy<'a> {
    pub(crate) fn new(shell: &'a Shell) -> Self {
        *lock(&shell.in_flight) += 1;
        shell.touch();
        Self(shell)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.0.in_flight);
        *in_flight = in_flight.saturating_sub(1);
        drop(in_flight);
        self.0.touch();
    }
}
