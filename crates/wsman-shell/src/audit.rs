//! The audit trail: one structured record when a shell or command starts
//! and one when it ends, under the tracing target `wsman::audit`. Never
//! stdin contents, never secrets (the engine does not see any).
//!
//! Every record carries `audit = 1` and a message: the daemon writes these
//! records to the journal with its fields prefixed `WSMAN_` (so
//! `journalctl WSMAN_AUDIT=1` selects them, and `WSMAN_USER`,
//! `WSMAN_COMMAND_LINE`, `WSMAN_EXIT_CODE`, ... are match fields), or as JSON
//! lines to a file.
//!
//! `user` is the account name; `principal` says which account of that name it was
//! (`kerberos:alice@EXAMPLE.COM`, `account:backup`, `linux:alice`), since a name alone does
//! not tell a Kerberos user from the service account of the same name.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lock;
use crate::types::ShellOwner;

/// The tracing target of every audit record.
pub const AUDIT_TARGET: &str = "wsman::audit";

fn address(client_ip: Option<IpAddr>) -> String {
    client_ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string())
}

/// Who a record is about: the account name, its principal and the client's address.
#[derive(Clone, Debug)]
pub(crate) struct Who {
    user: String,
    principal: String,
    client_ip: Option<IpAddr>,
}

impl Who {
    pub(crate) fn of(owner: &ShellOwner) -> Self {
        Self {
            user: owner.user_name.clone(),
            principal: owner.key.to_string(),
            client_ip: owner.client_ip,
        }
    }
}

/// One audit record: the marker, the event name, the user, its principal and the client's
/// address that every record carries, then the event's own fields and its message.
macro_rules! record {
    ($event:literal, $who:expr, $($fields:tt)+) => {
        tracing::info!(
            target: AUDIT_TARGET,
            audit = 1,
            event = $event,
            user = $who.user.as_str(),
            principal = $who.principal.as_str(),
            remote_address = %address($who.client_ip),
            $($fields)+
        )
    };
}

pub(crate) fn shell_created(who: &Who, run_as: &str, shell_id: &str, limits: &str) {
    record!(
        "shell_created",
        who,
        run_as,
        shell_id,
        limits,
        "shell created"
    );
}

pub(crate) fn shell_ended(who: &Who, shell_id: &str, reason: &str, duration: Duration) {
    record!(
        "shell_ended",
        who,
        shell_id,
        reason,
        duration_ms = duration.as_millis() as u64,
        "shell ended"
    );
}

pub(crate) fn command_started(
    who: &Who,
    shell_id: &str,
    command_id: &str,
    command_line: &str,
    pid: Option<u32>,
) {
    record!(
        "command_started",
        who,
        shell_id,
        command_id,
        command_line,
        pid,
        "command started"
    );
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn command_ended(
    who: &Who,
    shell_id: &str,
    command_id: &str,
    command_line: &str,
    exit_code: i32,
    duration: Duration,
    bytes_out: u64,
) {
    record!(
        "command_ended",
        who,
        shell_id,
        command_id,
        command_line,
        exit_code,
        duration_ms = duration.as_millis() as u64,
        bytes_out,
        "command ended"
    );
}

pub(crate) fn command_failed(
    who: &Who,
    shell_id: &str,
    command_line: &str,
    error: &dyn std::fmt::Display,
) {
    record!(
        "command_failed",
        who,
        shell_id,
        command_line,
        error = %error,
        "command failed to start"
    );
}

/// A shell left by its client (Disconnect), kept for `idle_timeout`. The address is the one the
/// shell was created from.
pub(crate) fn shell_disconnected(who: &Who, shell_id: &str, idle_timeout: Duration) {
    record!(
        "shell_disconnected",
        who,
        shell_id,
        idle_timeout_ms = idle_timeout.as_millis() as u64,
        "shell disconnected"
    );
}

/// A disconnected shell taken up again (Reconnect or Connect).
pub(crate) fn shell_reconnected(who: &Who, shell_id: &str) {
    record!("shell_reconnected", who, shell_id, "shell reconnected");
}

/// A process started outside any shell (Win32_Process Create).
pub(crate) fn process_launched(who: &Who, command_line: &str, working_directory: &str, pid: u32) {
    record!(
        "process_launched",
        who,
        command_line,
        working_directory,
        pid,
        "process launched"
    );
}

/// A launched process could not start.
pub(crate) fn process_launch_failed(who: &Who, command_line: &str, error: &dyn std::fmt::Display) {
    record!(
        "process_launch_failed",
        who,
        command_line,
        error = %error,
        "process failed to start"
    );
}

/// A launched process exited (and was reaped).
pub(crate) fn process_ended(
    who: &Who,
    command_line: &str,
    pid: u32,
    exit_code: i32,
    duration: Duration,
) {
    record!(
        "process_ended",
        who,
        command_line,
        pid,
        exit_code,
        duration_ms = duration.as_millis() as u64,
        "process ended"
    );
}

/// A record held back until another is written.
type HeldRecord = Box<dyn FnOnce() + Send>;

/// Keeps a command's records in order. Its end is recorded by the task that waits for the
/// process, its start by the request once the process is spawned; a command as short as
/// `exit 4` can end first, so its end waits for its start.
#[derive(Clone, Default)]
pub(crate) struct StartFirst(Arc<Mutex<StartGate>>);

#[derive(Default)]
struct StartGate {
    started: bool,
    held: Option<HeldRecord>,
}

impl StartFirst {
    /// Writes `end` now when the start is recorded, or right after it otherwise.
    pub(crate) fn after_start(&self, end: impl FnOnce() + Send + 'static) {
        let mut gate = lock(&self.0);
        if gate.started {
            drop(gate);
            end();
        } else {
            gate.held = Some(Box::new(end));
        }
    }

    /// The start is recorded: writes an end that came before it.
    pub(crate) fn started(&self) {
        let held = {
            let mut gate = lock(&self.0);
            gate.started = true;
            gate.held.take()
        };
        if let Some(end) = held {
            end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written() -> (
        Arc<Mutex<Vec<&'static str>>>,
        impl Fn(&'static str) -> HeldRecord,
    ) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let log = Arc::clone(&log);
            move |name: &'static str| -> HeldRecord {
                let log = Arc::clone(&log);
                Box::new(move || log.lock().unwrap().push(name))
            }
        };
        (log, writer)
    }

    #[test]
    fn an_end_before_the_start_is_written_after_it() {
        let (log, record) = written();
        let order = StartFirst::default();
        order.after_start(record("ended"));
        assert!(log.lock().unwrap().is_empty());
        record("started")();
        order.started();
        assert_eq!(*log.lock().unwrap(), ["started", "ended"]);
    }

    #[test]
    fn an_end_after_the_start_is_written_at_once() {
        let (log, record) = written();
        let order = StartFirst::default();
        record("started")();
        order.started();
        order.after_start(record("ended"));
        assert_eq!(*log.lock().unwrap(), ["started", "ended"]);
    }
}
