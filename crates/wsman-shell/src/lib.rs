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
//! | Disconnect / Reconnect / Connect | [`ShellManager::disconnect`], [`ShellManager::reconnect`], [`ShellManager::connect`] |
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
//! # Disconnected shells
//!
//! * **Disconnect** marks a shell disconnected; its commands run on and their
//!   output is kept within the same per-stream bounds as ever (when a buffer
//!   is full the engine stops reading that pipe and the command blocks:
//!   nothing is lost, memory stays bounded; `BufferMode` Drop is refused).
//!   Its IdleTimeOut (capped like Create's) replaces the shell's while it is
//!   disconnected, counted from the Disconnect; expiry ends the shell and
//!   kills its processes like Delete.
//! * While disconnected, Command, Send, Receive and Signal are
//!   [`ShellError::ShellDisconnected`]; Get, Enumerate, Delete, Reconnect
//!   and Connect work. Disconnect twice is `ShellDisconnected` too.
//! * **Reconnect** and **Connect** make it connected again, for the owner
//!   only ([`ShellError::NotShellOwner`] for anyone else). On a connected
//!   shell, Connect and a Reconnect from another client session are
//!   [`ShellError::ShellConnected`]; a Reconnect from the session that holds it
//!   is a no-op (MS-WSMV 3.1.4.16).
//! * After a Reconnect or Connect, the first Receive of each command
//!   replays the response the last client had not acknowledged (whatever
//!   SequenceId it carries), so a new client that starts its SequenceIds
//!   again loses nothing; if the previous client had in fact read that
//!   response, it is delivered twice (at least once, never lost).
//!
//! # Semantics the server can rely on
//!
//! * **Ids**: upper-case GUIDs; client-chosen ShellId/CommandId accepted if
//!   they parse as GUIDs (any case), looked up case-insensitively.
//! * **Access**: every call names the authenticated user; a shell of another
//!   user is reported as unknown. Quotas count per authenticated name.
//! * **Receive** returns as soon as output or the final state exists, else
//!   [`ReceiveOutcome::TimedOut`] after the request's timeout (output is
//!   kept). One exception: while a requested stream is in full flow (the
//!   last read from its pipe filled the read buffer) and the response is not
//!   full yet, it waits up to 5 ms for more, so that a command printing flat
//!   out is answered in full responses rather than many small ones. `Done` comes exactly once, after the process exited and its
//!   pipes ended, in the same response as (or after) `end` for every
//!   requested stream. A pipe a background child keeps open is ended
//!   [`ShellLimits::exit_drain_grace`] after the exit. A Receive after
//!   `Done` was received is [`ShellError::CommandAlreadyDone`].
//! * **SequenceId**: with one, the response is kept (and its bytes still
//!   count against the buffer bound) until a Receive with another id
//!   acknowledges it; the same id again replays it, `Done` included.
//! * **Bounded output**: [`ShellLimits::output_buffer_bytes`] per command and
//!   stream; when full the engine stops reading and the child blocks. This
//!   holds for a declared stream the client never asks for too (e.g.
//!   OutputStreams `stdout stderr` but every Receive names only stdout):
//!   its buffer fills, the child blocks writing it, and each Receive still
//!   answers [`ReceiveOutcome::TimedOut`] after its timeout (never hangs);
//!   `Done` comes once the client receives that stream, or the command is
//!   terminated or the shell deleted. Streams the shell did not declare are
//!   read and discarded. All the commands of one Linux user share
//!   [`ShellLimits::output_buffer_bytes_per_user`] beyond a small guarantee
//!   per stream (64 KiB, so receiving one command never waits on another):
//!   many commands whose output nobody reads hold about that, not a buffer each.
//! * **Send** is all-or-nothing: its data is queued whole into the
//!   command's bounded stdin queue ([`ShellLimits::input_buffer_bytes`]),
//!   which a writer task drains into the pipe, or, when the queue stays full
//!   for the request's timeout (the child does not read), refused whole with
//!   [`SendOutcome::TimedOut`] before any byte of it is written, so a client
//!   that retries neither loses nor duplicates input. `end` closes stdin
//!   after everything queued before it. Input to a child that closed its
//!   stdin is discarded; Send after `end` is [`ShellError::InputAlreadyEnded`]. A Send
//!   larger than the whole queue is [`ShellError::InputTooLarge`]: never queued.
//! * **Exit codes**: the exit status; 128+N when signal N killed the
//!   process (137 for SIGKILL, e.g. terminate or the memory limit's OOM
//!   kill; 130 for an untrapped Ctrl+C), as POSIX shells report it.
//! * **Signals**: ctrl_c = SIGINT and ctrl_break = SIGQUIT to the command's
//!   process group; terminate = SIGKILL to its session and process group
//!   and to every descendant of theirs, also one that started a session of
//!   its own (`setsid`), then the CommandId is released. A descendant whose
//!   parent died before the terminate was adopted by init and is ended by
//!   Delete (the cgroup). All succeed on a finished command.
//! * **Delete / reaping** kill every process of the shell: all members of
//!   its cgroup when there is one (nothing escapes), otherwise every
//!   process in its commands' sessions and process groups and their
//!   descendants (a process that calls `setsid` and whose parent has died
//!   escapes; documented weakness of the fallback).
//! * **A daemon that dies** without Delete (SIGKILL, crash): with cgroups,
//!   each manager keeps its shells under a group of its own instance, and
//!   the next manager on the same base ends the processes of instances
//!   whose daemon is gone and removes their groups at start (logged with
//!   counts); live daemons sharing the base are not touched. Without
//!   cgroups nothing identifies those processes afterwards and they
//!   survive (under systemd, `KillMode=control-group` ends them).
//!   [`ShellManager::shutdown`] (SIGTERM) ends every shell and refuses new
//!   ones ([`ShellError::ShuttingDown`]).
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
mod base64_queue;
mod command;
mod error;
mod ids;
mod input;
mod manager;
mod output;
mod pipe;
mod shell;
mod terminal;
mod types;
mod user_output;

pub use audit::AUDIT_TARGET;
pub use error::ShellError;
pub use manager::{Launched, LimitReport, ShellManager};
pub use types::{
    CommandInfo, CommandSpec, CommandState, OutputChunk, ReceiveOutcome, ReceiveOutput,
    ReceiveRequest, SendOutcome, ShellInfo, ShellLimits, ShellOptions, ShellOwner, ShellSignal,
    ShellState, TerminalOptions, WindowSize,
};
pub use wsman_os::cgroup::{CgroupSupport, LimitMechanism};
pub use wsman_principal::{OwnerKey, Principal, PrincipalKind};

/// The crate's one lock of its state: a panic while a lock was held cannot leave the state
/// half-changed in a way later calls trip on, so a poisoned lock is still used. Here, above
/// every module, so that any of them can call it.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
