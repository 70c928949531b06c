//! [`ShellManager`]: the shells of every user, quotas, and the reaper.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use wsman_os::cgroup::{CgroupLimits, CgroupSupport, LimitMechanism, ShellCgroup};
use wsman_os::process::{
    check_working_directory, daemon_is_root, login_environment, LoginSession, ProcessSignal,
    Program, ResourceLimits, RunAs, SessionHelper, SpawnRequest,
};

mod attach;
mod host;
mod housekeeping;
mod launch;
mod options;
mod quota;

use housekeeping::{claim_cgroups, reap};
pub use launch::Launched;
use options::normalize_options;
use quota::{release_shell_slot, take_shell_slot, Registry};

use crate::audit;
use crate::command::{kill_trees_blocking, Buffers, Command, Seat};
use crate::error::ShellError;
use crate::ids::{canonical_id, new_id};
use crate::lock;
use crate::output::STREAM_NAMES;
use crate::shell::{Attachment, Busy, Shell, KILL_WAIT};
use wsman_principal::OwnerKey;

use crate::types::{
    CommandSpec, ReceiveOutcome, ReceiveRequest, SendOutcome, ShellInfo, ShellLimits, ShellOptions,
    ShellOwner, ShellSignal,
};
use crate::user_output::UserOutputs;

/// Which mechanisms enforce the per-shell limits on this host (for the
/// startup log line and `winrm get winrm/config/winrs` notes).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitReport {
    /// MaxProcessesPerShell.
    pub processes: LimitMechanism,
    /// MaxMemoryPerShellMB.
    pub memory: LimitMechanism,
    /// Whether each shell gets a cgroup (exact process tracking for Delete).
    pub cgroups: bool,
    /// Whether commands run as the shell owner (daemon is root) or as the
    /// daemon's own user.
    pub switch_user: bool,
    /// Human-readable detail (paths).
    pub detail: String,
}

/// All WinRS shells of the daemon. Cheap to clone (shared). Must be
/// created inside a Tokio runtime: it starts the idle reaper there, which
/// stops when the last clone is dropped. Dropping the last clone kills every
/// process of every shell.
#[derive(Debug, Clone)]
pub struct ShellManager {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limits: RwLock<ShellLimits>,
    cgroups: CgroupSupport,
    /// Set by [`ShellManager::shutdown`]: no new shell or command starts.
    closing: AtomicBool,
    switch_user: bool,
    daemon_uid: u32,
    registry: Mutex<Registry>,
    /// Where launched processes are waited for ([`ShellManager::launch`]).
    runtime: tokio::runtime::Handle,
    /// The processes [`ShellManager::launch`] started, with their cgroups: for Terminate,
    /// and, once the first process has exited and the group is empty, removed (by its waiter
    /// or the reaper).
    launched_groups: Mutex<Vec<launch::LaunchedTree>>,
    /// Run the commands of Linux accounts inside a PAM session through this helper.
    login_sessions: RwLock<Option<SessionHelper>>,
    /// Each user's budget of buffered command output, across that user's commands.
    user_outputs: UserOutputs,
}

impl ShellManager {
    /// A manager with `limits`; `cgroup_base_name` names the directory that
    /// holds the shells' cgroups (e.g. `wsmand`). Detects cgroups now, then
    /// does what [`ShellManager::with_cgroups`] does.
    pub fn new(limits: ShellLimits, cgroup_base_name: &str) -> Result<Self, ShellError> {
        let cgroups = CgroupSupport::detect(cgroup_base_name);
        Self::with_cgroups(limits, cgroups)
    }

    /// A manager with the given cgroup support (tests pass
    /// [`CgroupSupport::unavailable`] to exercise the fallback).
    ///
    /// With cgroups, it first ends the shells an earlier daemon instance
    /// left behind (killed with SIGKILL, crashed): their groups under the
    /// base are found, their processes killed, the groups removed, and the
    /// count logged. Then it takes a group of its own for this instance
    /// ([`CgroupSupport::instance_scope`]), so that a later instance can do
    /// the same for it, while live daemons sharing the base are left alone.
    /// Without cgroups, nothing identifies the processes of a dead daemon's
    /// shells (they were reparented to init), so they survive it; under
    /// systemd, the unit's `KillMode=control-group` (the default) ends them
    /// when the daemon's process dies. Blocks briefly (cgroupfs).
    pub fn with_cgroups(limits: ShellLimits, cgroups: CgroupSupport) -> Result<Self, ShellError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ShellError::NoRuntime)?;
        let cgroups = claim_cgroups(cgroups);
        let reap_interval = limits.reap_interval;
        let inner = Arc::new(Inner {
            limits: RwLock::new(limits),
            cgroups,
            closing: AtomicBool::new(false),
            switch_user: daemon_is_root(),
            daemon_uid: wsman_os::process::daemon_uid(),
            registry: Mutex::new(Registry::default()),
            runtime: runtime.clone(),
            launched_groups: Mutex::new(Vec::new()),
            login_sessions: RwLock::new(None),
            user_outputs: UserOutputs::default(),
        });
        let report = Self::report_of(&inner);
        tracing::info!(
            processes = %report.processes,
            memory = %report.memory,
            switch_user = report.switch_user,
            detail = %report.detail,
            "how the WinRS shell limits are enforced:"
        );
        runtime.spawn(reap(Arc::downgrade(&inner), reap_interval));
        Ok(Self { inner })
    }

    fn report_of(inner: &Inner) -> LimitReport {
        LimitReport {
            processes: inner.cgroups.process_limit_mechanism(),
            memory: inner.cgroups.memory_limit_mechanism(),
            cgroups: inner.cgroups.is_available(),
            switch_user: inner.switch_user,
            detail: inner.cgroups.to_string(),
        }
    }

    /// Which mechanisms enforce the limits here.
    pub fn limit_report(&self) -> LimitReport {
        Self::report_of(&self.inner)
    }

    /// The limits in force.
    pub fn limits(&self) -> ShellLimits {
        self.inner
            .limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the limits (config changed); existing shells keep theirs
    /// except quotas, which apply from now on.
    pub fn set_limits(&self, limits: ShellLimits) {
        *self
            .inner
            .limits
            .write()
            .unwrap_or_else(PoisonError::into_inner) = limits;
    }

    /// The one admission check of every way a process starts (a shell, a PowerShell pool, a
    /// process a method launches): refused while shutting down, while AllowRemoteShellAccess
    /// is false, and for another account than the daemon's when it cannot switch users. The
    /// quotas are counted after, under the registry lock.
    pub(crate) fn admit(&self, owner: &ShellOwner, limits: &ShellLimits) -> Result<(), ShellError> {
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(ShellError::ShuttingDown);
        }
        if !limits.allow_remote_shell_access {
            return Err(ShellError::RemoteShellAccessDisabled);
        }
        if !self.inner.switch_user && owner.run_as.uid != self.inner.daemon_uid {
            return Err(ShellError::RunAsNotPermitted {
                uid: owner.run_as.uid,
                daemon_uid: self.inner.daemon_uid,
            });
        }
        Ok(())
    }

    /// Creates a shell (WS-Transfer Create on `.../windows/shell/cmd`).
    pub async fn create_shell(
        &self,
        owner: ShellOwner,
        options: ShellOptions,
    ) -> Result<ShellInfo, ShellError> {
        let limits = self.limits();
        self.admit(&owner, &limits)?;
        let id = match &options.shell_id {
            Some(value) => canonical_id(value).ok_or_else(|| ShellError::InvalidShellId {
                value: value.clone(),
            })?,
            None => new_id(),
        };
        let options = normalize_options(options)?;
        let working_directory = match &options.working_directory {
            Some(directory) => {
                let run_as_user = owner.run_as.clone();
                let switch = self.inner.switch_user;
                let directory = directory.clone();
                let checked = directory.clone();
                tokio::task::spawn_blocking(move || {
                    let run_as = if switch {
                        RunAs::User(&run_as_user)
                    } else {
                        RunAs::Daemon
                    };
                    check_working_directory(run_as, &checked)
                })
                .await
                .map_err(|_| ShellError::WorkingDirectory {
                    path: directory.clone(),
                })??;
                directory
            }
            None if owner.run_as.home.is_dir() => owner.run_as.home.clone(),
            None => PathBuf::from("/"),
        };
        let mut environment = process_environment(
            &owner.run_as,
            options.no_profile,
            &options.environment,
            options.codepage,
        );
        if let Some(terminal) = &options.terminal {
            environment.retain(|(name, _)| name != "TERM");
            environment.push(("TERM".to_owned(), terminal.term.clone()));
        }
        let idle_timeout = options
            .idle_timeout
            .map_or(limits.idle_timeout, |asked| asked.min(limits.idle_timeout));

        let mut registry = lock(&self.inner.registry);
        // Checked again under the lock that shutdown takes to list shells.
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(ShellError::ShuttingDown);
        }
        if registry.shells.contains_key(&id) {
            return Err(ShellError::ShellIdInUse { shell_id: id });
        }
        take_shell_slot(&mut registry, &owner.run_as.name, &limits)?;
        let (cgroup, resource_limits) = self.shell_limits(&id, &limits);
        let client_session = options.client_session.clone();
        let window = options.terminal.as_ref().map(|terminal| terminal.window);
        let shell = Arc::new(Shell {
            id: id.clone(),
            owner,
            options,
            created_at: SystemTime::now(),
            created: Instant::now(),
            idle_timeout,
            last_activity: Mutex::new(Instant::now()),
            in_flight: Mutex::new(0),
            working_directory,
            environment,
            cgroup,
            resource_limits,
            commands: Mutex::new(HashMap::new()),
            attachment: Mutex::new(Attachment {
                client_session,
                disconnected: None,
            }),
            window: Mutex::new(window),
        });
        // Taken before the shell is registered, so that no Command can have started in it.
        let info = shell.fresh_info();
        registry.shells.insert(id.clone(), shell.clone());
        drop(registry);
        let limits_text = match &shell.cgroup {
            Some(cgroup) => format!("cgroup {:?}", cgroup.paths()),
            None => format!("{:?}", shell.resource_limits),
        };
        audit::shell_created(
            &audit::Who::of(&shell.owner),
            &shell.owner.run_as.name,
            &shell.id,
            &limits_text,
        );
        Ok(info)
    }

    /// Runs every later command of a Linux account (not of a service account) inside a PAM
    /// session opened by `helper` (`None`: no sessions, the default). Only a root daemon
    /// opens sessions: the helper needs root, and a daemon that cannot switch users runs
    /// commands as itself.
    pub fn set_login_sessions(&self, helper: Option<SessionHelper>) {
        *self
            .inner
            .login_sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner) = helper;
    }

    /// The session helper for `owner`'s commands, if they get a PAM session.
    fn login_session_helper(&self, owner: &ShellOwner) -> Option<SessionHelper> {
        if !(self.inner.switch_user && owner.linux_account) {
            return None;
        }
        self.inner
            .login_sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn run_as<'a>(&self, owner: &'a ShellOwner) -> RunAs<'a> {
        if self.inner.switch_user {
            RunAs::User(&owner.run_as)
        } else {
            RunAs::Daemon
        }
    }

    /// The shell's cgroup (with limits) if the host has cgroups, and the
    /// rlimits that stand in for what no cgroup enforces.
    fn shell_limits(
        &self,
        id: &str,
        limits: &ShellLimits,
    ) -> (Option<ShellCgroup>, ResourceLimits) {
        let max_processes = (limits.max_processes_per_shell > 0)
            .then_some(u64::from(limits.max_processes_per_shell));
        let max_memory = (limits.max_memory_per_shell_mb > 0)
            .then(|| limits.max_memory_per_shell_mb.saturating_mul(1024 * 1024));
        let cgroups = &self.inner.cgroups;
        let cgroup = match cgroups
            .create_shell_group(id, CgroupLimits::new(max_processes, max_memory))
        {
            Ok(cgroup) => cgroup,
            Err(error) => {
                tracing::warn!(shell_id = %id, %error, "no cgroup for this shell; using rlimits");
                None
            }
        };
        let with_cgroup = cgroup.is_some();
        let processes_by_rlimit =
            !with_cgroup || cgroups.process_limit_mechanism() == LimitMechanism::Rlimits;
        let memory_by_rlimit =
            !with_cgroup || cgroups.memory_limit_mechanism() == LimitMechanism::Rlimits;
        // RLIMIT_NPROC counts every process of the user; for the daemon's
        // own user that includes the daemon, so it is only set after a
        // switch to another account.
        let nproc = (processes_by_rlimit && self.inner.switch_user)
            .then_some(max_processes)
            .flatten();
        let address_space = memory_by_rlimit.then_some(max_memory).flatten();
        (cgroup, ResourceLimits::new(nproc, address_space))
    }

    fn shell(&self, caller: &OwnerKey, shell_id: &str) -> Result<Arc<Shell>, ShellError> {
        let unknown = || ShellError::UnknownShell {
            shell_id: shell_id.to_owned(),
        };
        let id = canonical_id(shell_id).ok_or_else(unknown)?;
        let registry = lock(&self.inner.registry);
        let shell = registry.shells.get(&id).ok_or_else(unknown)?;
        if !shell.owner.key.is(caller) {
            return Err(unknown());
        }
        Ok(shell.clone())
    }

    /// Starts a command in a shell (`rsp:CommandLine`); returns its
    /// CommandId. `caller` must own the shell.
    pub async fn run_command(
        &self,
        caller: &OwnerKey,
        shell_id: &str,
        spec: CommandSpec,
    ) -> Result<String, ShellError> {
        let shell = self.shell(caller, shell_id)?;
        shell.ensure_connected()?;
        let _busy = Busy::new(&shell);
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(ShellError::ShuttingDown);
        }
        if spec.command.trim().is_empty() {
            return Err(ShellError::InvalidCommandLine {
                reason: "the command is empty",
            });
        }
        let id = match &spec.command_id {
            Some(value) => canonical_id(value).ok_or_else(|| ShellError::InvalidCommandId {
                value: value.clone(),
            })?,
            None => new_id(),
        };
        if lock(&shell.commands).contains_key(&id) {
            return Err(ShellError::CommandIdInUse { command_id: id });
        }
        let slot = self.acquire_operation(caller)?;
        // Starting blocks until the child has exec'd, and inside a PAM session until the
        // session stack has run (pam_systemd may wait for logind to start the user's
        // manager): on the blocking pool, never on an async worker, whatever the runtime.
        // The start registers the command itself, so a request dropped meanwhile leaves no
        // process the shell does not know.
        let (manager, starting) = (self.clone(), Arc::clone(&shell));
        // The request's subscriber and span go along: the start's audit record is the request's.
        let (dispatch, span) = (
            tracing::dispatcher::get_default(Clone::clone),
            tracing::Span::current(),
        );
        let started = tokio::task::spawn_blocking(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                span.in_scope(|| manager.start(&starting, id, spec, slot))
            })
        });
        match started.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(ShellError::ShuttingDown),
        }
    }

    /// Starts `spec` as command `id` of `shell` and registers it (blocking: see
    /// [`ShellManager::run_command`]).
    fn start(
        &self,
        shell: &Arc<Shell>,
        id: String,
        spec: CommandSpec,
        slot: quota::OperationSlot,
    ) -> Result<String, ShellError> {
        let command_line = spec.command_line();
        let program = if spec.skip_cmd_shell {
            Program::Direct {
                program: spec.command.clone(),
                args: spec.arguments.clone(),
            }
        } else {
            Program::ShellCommandLine {
                line: command_line.clone(),
            }
        };
        let mut request = SpawnRequest::new(
            program,
            self.run_as(&shell.owner),
            shell.environment.clone(),
            shell.working_directory.clone(),
        );
        let group = shell.command_group(&id);
        request.cgroup = group.as_deref().or(shell.cgroup.as_ref());
        request.resource_limits = shell.resource_limits;
        request.terminal = *lock(&shell.window);
        let session_helper = self.login_session_helper(&shell.owner);
        request.session = session_helper.as_ref().map(|helper| LoginSession {
            helper,
            remote_host: shell.owner.client_ip,
        });
        let declared =
            STREAM_NAMES.map(|name| shell.options.output_streams.iter().any(|s| s == name));
        let limits = self.limits();
        let audit_order = audit::StartFirst::default();
        let who = audit::Who::of(&shell.owner);
        let on_finished = {
            let audit_order = audit_order.clone();
            let who = who.clone();
            let shell_id = shell.id.clone();
            let command_id = id.clone();
            let command_line = command_line.clone();
            Box::new(move |exit_code: i32, duration: Duration, bytes_out: u64| {
                audit_order.after_start(move || {
                    audit::command_ended(
                        &who,
                        &shell_id,
                        &command_id,
                        &command_line,
                        exit_code,
                        duration,
                        bytes_out,
                    );
                });
                drop(slot);
            })
        };
        let started = Command::start(
            id.clone(),
            command_line.clone(),
            request,
            declared,
            Buffers {
                output_bytes: limits.output_buffer_bytes,
                user_output: self.inner.user_outputs.for_user(
                    &shell.owner.run_as.name,
                    limits.output_buffer_bytes_per_user,
                ),
                input_bytes: limits.input_buffer_bytes,
            },
            limits.exit_drain_grace,
            on_finished,
            Seat {
                user: shell.owner.run_as.name.clone(),
                client_ip: shell.owner.client_ip,
            },
            group.clone(),
        );
        let command = match started {
            Ok(command) => command,
            Err(error) => {
                if let Some(group) = group {
                    let _ = group.remove();
                }
                audit::command_failed(&who, &shell.id, &command_line, &error);
                return Err(error);
            }
        };
        audit::command_started(&who, &shell.id, &id, &command_line, command.pid);
        audit_order.started();
        let mut commands = lock(&shell.commands);
        let closing = self.inner.closing.load(Ordering::Acquire);
        if commands.contains_key(&id) || closing {
            // A concurrent Command with the same client-chosen id won, or
            // shutdown began (and may already have closed this shell).
            drop(commands);
            let command = command.clone();
            tokio::task::spawn_blocking(move || command.kill_tree_blocking());
            if closing {
                return Err(ShellError::ShuttingDown);
            }
            return Err(ShellError::CommandIdInUse { command_id: id });
        }
        commands.insert(id.clone(), command);
        Ok(id)
    }

    /// Queues `data` for a command's input stream (`rsp:Send`) whole, or
    /// refuses it whole ([`SendOutcome::TimedOut`]) when the input queue
    /// stays full for `timeout`; `end` closes the stream after the queued
    /// data. Cancel-safe: dropped before it returns, nothing was queued.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        caller: &OwnerKey,
        shell_id: &str,
        command_id: &str,
        stream: &str,
        data: &[u8],
        end: bool,
        timeout: Duration,
    ) -> Result<SendOutcome, ShellError> {
        let shell = self.shell(caller, shell_id)?;
        shell.ensure_connected()?;
        let _busy = Busy::new(&shell);
        if !shell.options.input_streams.iter().any(|s| s == stream) {
            return Err(ShellError::UnknownInputStream {
                stream: stream.to_owned(),
            });
        }
        let command = shell.command(command_id)?;
        let _slot = self.acquire_operation(caller)?;
        command.send(data, end, timeout).await
    }

    /// The Receive long poll: returns as soon as output or the final state
    /// exists, or [`ReceiveOutcome::TimedOut`] after `request.timeout`.
    pub async fn receive(
        &self,
        caller: &OwnerKey,
        shell_id: &str,
        command_id: &str,
        request: &ReceiveRequest,
    ) -> Result<ReceiveOutcome, ShellError> {
        let shell = self.shell(caller, shell_id)?;
        shell.ensure_connected()?;
        let _busy = Busy::new(&shell);
        let command = shell.command(command_id)?;
        let streams = shell.output_indices(&request.streams)?;
        let _slot = self.acquire_operation(caller)?;
        command.receive(&streams, request).await
    }

    /// `rsp:Signal`. Succeeds on a command that already finished.
    /// Terminate kills the command's process tree and releases its id.
    pub async fn signal(
        &self,
        caller: &OwnerKey,
        shell_id: &str,
        command_id: &str,
        signal: ShellSignal,
    ) -> Result<(), ShellError> {
        let shell = self.shell(caller, shell_id)?;
        shell.ensure_connected()?;
        let _busy = Busy::new(&shell);
        let command = shell.command(command_id)?;
        match signal {
            ShellSignal::CtrlC => command.signal_group(ProcessSignal::Interrupt),
            ShellSignal::CtrlBreak => command.signal_group(ProcessSignal::Quit),
            ShellSignal::WindowSize(size) => {
                let Some(window) = &mut *lock(&shell.window) else {
                    return Err(ShellError::InvalidOption {
                        reason: "the shell has no terminal to resize",
                    });
                };
                *window = size;
                if let Err(error) = command.resize(size) {
                    tracing::warn!(command_id = %command.id, %error, "resizing the terminal failed");
                }
            }
            ShellSignal::Terminate => {
                lock(&shell.commands).remove(&command.id);
                let killer = command.clone();
                let emptied = tokio::task::spawn_blocking(move || killer.kill_group_blocking())
                    .await
                    .unwrap_or(false);
                // The session sweep (a scan of /proc) catches what left both the session and
                // the group. After an emptied group only a process that moved itself out can
                // be left, so the sweep runs after the answer, as Delete's does; otherwise it
                // is the kill itself and runs before.
                let sweep = command.clone();
                let swept =
                    tokio::task::spawn_blocking(move || kill_trees_blocking(&[sweep.as_ref()]));
                if !emptied {
                    let _ = swept.await;
                }
                command.finish(KILL_WAIT).await;
                tracing::debug!(
                    command_id = %command.id,
                    ran_for_ms = command.running_for().as_millis() as u64,
                    "command terminated"
                );
            }
        }
        Ok(())
    }

    /// Deletes a shell: kills every process it started, drops its output,
    /// releases its quota.
    pub async fn delete_shell(&self, caller: &OwnerKey, shell_id: &str) -> Result<(), ShellError> {
        let shell = self.shell(caller, shell_id)?;
        if !self.remove(&shell.id) {
            return Err(ShellError::UnknownShell {
                shell_id: shell_id.to_owned(),
            });
        }
        shell.close("deleted").await;
        Ok(())
    }

    /// Takes a shell out of the registry; false if someone else did first.
    fn remove(&self, shell_id: &str) -> bool {
        remove_shell(&self.inner, shell_id).is_some()
    }

    /// One shell of `caller`.
    pub fn shell_info(&self, caller: &OwnerKey, shell_id: &str) -> Result<ShellInfo, ShellError> {
        Ok(self.shell(caller, shell_id)?.info())
    }

    /// The shells of `caller` (Enumerate), oldest first.
    pub fn list_shells(&self, caller: &OwnerKey) -> Vec<ShellInfo> {
        self.collect(|shell| shell.owner.key.is(caller))
    }

    /// How many shells are open and how many commands they hold, without reading any
    /// process state (for the metrics endpoint, scraped often).
    pub fn census(&self) -> (usize, usize) {
        let registry = lock(&self.inner.registry);
        let commands = registry
            .shells
            .values()
            .map(|shell| lock(&shell.commands).len())
            .sum();
        (registry.shells.len(), commands)
    }

    /// Every shell (Enumerate by an administrator), oldest first.
    pub fn list_all_shells(&self) -> Vec<ShellInfo> {
        self.collect(|_| true)
    }

    fn collect(&self, filter: impl Fn(&Shell) -> bool) -> Vec<ShellInfo> {
        let shells: Vec<Arc<Shell>> = lock(&self.inner.registry)
            .shells
            .values()
            .filter(|shell| filter(shell))
            .cloned()
            .collect();
        let mut infos: Vec<ShellInfo> = shells.iter().map(|shell| shell.info()).collect();
        infos.sort_by_key(|info| info.created_at);
        infos
    }

    /// Deletes every shell and kills its processes (daemon shutdown, e.g.
    /// SIGTERM); from then on no shell or command starts
    /// ([`ShellError::ShuttingDown`]), so a request still in flight cannot
    /// leave a process behind. Removes this instance's cgroup directory.
    pub async fn shutdown(&self) {
        self.inner.closing.store(true, Ordering::Release);
        let ids: Vec<String> = lock(&self.inner.registry).shells.keys().cloned().collect();
        for id in ids {
            if let Some(shell) = remove_shell(&self.inner, &id) {
                shell.close("shutdown").await;
            }
        }
        let cgroups = self.inner.cgroups.clone();
        let removed = tokio::task::spawn_blocking(move || cgroups.remove_instance_scope()).await;
        if let Ok(Err(error)) = removed {
            tracing::warn!(%error, "removing this instance's cgroup directory");
        }
    }
}

/// The environment every process the manager starts gets: the user's login environment,
/// then the client's variables, and a UTF-8 locale when the code page is UTF-8 (WinRS text is
/// UTF-8, code page 65001, our default: without a locale, programs would print non-ASCII as
/// '?').
fn process_environment(
    run_as: &wsman_os::LinuxUser,
    no_profile: bool,
    extra: &[(String, String)],
    codepage: Option<u32>,
) -> Vec<(String, String)> {
    let mut environment = login_environment(run_as, no_profile);
    for (name, value) in extra {
        environment.retain(|(existing, _)| existing != name);
        environment.push((name.clone(), value.clone()));
    }
    let utf8 = matches!(codepage, None | Some(65001));
    if utf8
        && !environment
            .iter()
            .any(|(name, _)| name == "LANG" || name == "LC_ALL")
    {
        environment.push(("LANG".to_owned(), "C.UTF-8".to_owned()));
    }
    environment
}

fn remove_shell(inner: &Inner, shell_id: &str) -> Option<Arc<Shell>> {
    let mut registry = lock(&inner.registry);
    let shell = registry.shells.remove(shell_id)?;
    release_shell_slot(&mut registry, &shell.owner.run_as.name);
    Some(shell)
}

impl Drop for Inner {
    fn drop(&mut self) {
        let registry = self
            .registry
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, shell) in registry.shells.drain() {
            shell.kill_now();
        }
        let _ = self.cgroups.remove_instance_scope();
    }
}
