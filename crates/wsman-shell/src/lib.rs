//! The WinRS remote-shell engine: shells, the commands running in them, their
//! bounded output and the limits around them. It knows nothing of HTTP or
//! SOAP: the server parses a `.../windows/shell/cmd` message, calls one method
//! of [`ShellManager`], and renders the result (or maps the [`ShellError`] to
//! the fault its docs name).
//!
//! | Message | Call |
//! |---|---|
//! | Create | [`ShellManager::create_shell`] |
//! | Command | [`ShellManager::run_command`] |
//! | Send | [`ShellManager::send`] |
//! | Receive | [`ShellManager::receive`] ([`ReceiveOutcome::TimedOut`] -> `w:TimedOut`) |
//! | Signal | [`ShellManager::signal`] |
//! | Delete | [`ShellManager::delete_shell`] |
//! | Get / Enumerate | [`ShellManager::shell_info`], [`ShellManager::list_shells`], [`ShellManager::list_all_shells`] |
//!
//! Processes run as the shell owner's Linux account (see
//! [`wsman_os::process`] for exactly how a child is set up) in their own
//! session, one cgroup per shell where the host allows it
//! ([`wsman_os::cgroup`]), else rlimits. A command's exit code is its exit
//! status, or 128+N when signal N killed it.
//!
//! Shells do not belong to a connection: they live until Delete, the idle
//! reaper (IdleTimeout without a request) or MaxShellRunTime.
//!
//! # Semantics the server can rely on
//!
//! * **Ids**: upper-case GUIDs; client-chosen ShellId/CommandId accepted if
//!   they parse as GUIDs (any case), looked up case-insensitively.
//! * **Access**: every call names the authenticated user; a shell of another
//!   user is reported as unknown. Quotas count per authenticated name.
//! * **Receive** returns as soon as output or the final state exists, else
//!   [`ReceiveOutcome::TimedOut`] after the request's timeout (output is
//!   kept). `Done` comes exactly once, after the process exited and its
//!   pipes ended, in the same response as (or after) `end` for every
//!   requested stream. A pipe a background child keeps open is ended
//!   [`ShellLimits::exit_drain_grace`] after the exit. A Receive after
//!   `Done` was received is [`ShellError::CommandAlreadyDone`].
//! * **SequenceId**: with one, the response is kept (and its bytes still
//!   count against the buffer bound) until a Receive with another id
//!   acknowledges it; the same id again replays it, `Done` included.
//! * **Bounded output**: [`ShellLimits::output_buffer_bytes`] per command and
//!   stream; when full the engine stops reading and the child blocks.
//! * **Send** blocks while the child does not read its stdin (the server
//!   bounds it with the OperationTimeout); input to a child that closed its
//!   stdin is discarded; Send after `end` is [`ShellError::InputAlreadyEnded`].
//! * **Exit codes**: the exit status; 128+N when signal N killed the
//!   process (137 for SIGKILL, e.g. terminate or the memory limit's OOM
//!   kill; 130 for an untrapped Ctrl+C), as POSIX shells report it.
//! * **Signals**: ctrl_c = SIGINT and ctrl_break = SIGQUIT to the command's
//!   process group; terminate = SIGKILL to its session and process group,
//!   then the CommandId is released. All succeed on a finished command.
//! * **Delete / reaping** kill every process of the shell: all members of
//!   its cgroup when there is one (nothing escapes), otherwise every
//!   process in its commands' sessions and process groups (a process that
//!   calls `setsid` itself escapes; documented weakness of the fallback).
//! * **Limits**: MaxProcessesPerShell and MaxMemoryPerShellMB by cgroup
//!   (v2 if delegated, else v1), else rlimits: `RLIMIT_AS` per process (N
//!   processes may use N times the limit) and `RLIMIT_NPROC`, which counts
//!   all processes of the *user* and is therefore set only when commands
//!   run as another account than the daemon's. [`ShellManager::limit_report`]
//!   says which is in force; [`ShellManager::new`] logs it.
//! * **Options**: WINRS_CODEPAGE is stored, bytes pass unchanged (LANG is
//!   C.UTF-8 unless the login environment or the client sets a locale);
//!   WINRS_CONSOLEMODE_STDIN is accepted, stdin is always a pipe.
//!
//! Every shell and command leaves an audit record under the tracing target
//! [`AUDIT_TARGET`]: user, remote address, shell and command ids, command
//! line, exit code, duration, bytes out. Never stdin contents.

#![forbid(unsafe_code)]

mod audit;
mod command;
mod error;
mod ids;
mod manager;
mod output;
mod shell;
mod types;

pub use audit::AUDIT_TARGET;
pub use error::ShellError;
pub use manager::{LimitReport, ShellManager};
pub use types::{
    CommandInfo, CommandSpec, CommandState, OutputChunk, ReceiveOutcome, ReceiveOutput,
    ReceiveRequest, ShellInfo, ShellLimits, ShellOptions, ShellOwner, ShellSignal,
};
pub use wsman_os::cgroup::{CgroupSupport, LimitMechanism};
