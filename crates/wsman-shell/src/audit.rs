//! The audit trail: one structured record when a shell or command starts
//! and one when it ends, under the tracing target `wsman::audit`. Never
//! stdin contents, never secrets (the engine does not see any).
//!
//! Every record carries `audit = 1` and a message: the daemon writes these
//! records to the journal with its fields prefixed `WSMAN_` (so
//! `journalctl WSMAN_AUDIT=1` selects them, and `WSMAN_USER`,
//! `WSMAN_COMMAND_LINE`, `WSMAN_EXIT_CODE`, ... are match fields), or as JSON
//! lines to a file.

use std::net::IpAddr;
use std::time::Duration;

/// The tracing target of every audit record.
pub const AUDIT_TARGET: &str = "wsman::audit";

fn address(client_ip: Option<IpAddr>) -> String {
    client_ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string())
}

pub(crate) fn shell_created(
    user: &str,
    run_as: &str,
    client_ip: Option<IpAddr>,
    shell_id: &str,
    limits: &str,
) {
    tracing::info!(
        target: AUDIT_TARGET,
        audit = 1,
        event = "shell_created",
        user,
        run_as,
        remote_address = %address(client_ip),
        shell_id,
        limits,
        "shell created"
    );
}

pub(crate) fn shell_ended(
    user: &str,
    client_ip: Option<IpAddr>,
    shell_id: &str,
    reason: &str,
    duration: Duration,
) {
    tracing::info!(
        target: AUDIT_TARGET,
        audit = 1,
        event = "shell_ended",
        user,
        remote_address = %address(client_ip),
        shell_id,
        reason,
        duration_ms = duration.as_millis() as u64,
        "shell ended"
    );
}

pub(crate) fn command_started(
    user: &str,
    client_ip: Option<IpAddr>,
    shell_id: &str,
    command_id: &str,
    command_line: &str,
    pid: Option<u32>,
) {
    tracing::info!(
        target: AUDIT_TARGET,
        audit = 1,
        event = "command_started",
        user,
        remote_address = %address(client_ip),
        shell_id,
        command_id,
        command_line,
        pid,
        "command started"
    );
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn command_ended(
    user: &str,
    client_ip: Option<IpAddr>,
    shell_id: &str,
    command_id: &str,
    command_line: &str,
    exit_code: i32,
    duration: Duration,
    bytes_out: u64,
) {
    tracing::info!(
        target: AUDIT_TARGET,
        audit = 1,
        event = "command_ended",
        user,
        remote_address = %address(client_ip),
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
    user: &str,
    client_ip: Option<IpAddr>,
    shell_id: &str,
    command_line: &str,
    error: &dyn std::fmt::Display,
) {
    tracing::info!(
        target: AUDIT_TARGET,
        audit = 1,
        event = "command_failed",
        user,
        remote_address = %address(client_ip),
        shell_id,
        command_line,
        error = %error,
        "command failed to start"
    );
}

/// A shell left by its client (Disconnect), kept for `idle_timeout`.
pub(crate) fn shell_disconnected(user: &str, shell_id: &str, idle_timeout: Duration) {
    tracing::info!(
        target: AUDIT_TARGET,
        event = "shell_disconnected",
        user,
        shell_id,
        idle_timeout_ms = idle_timeout.as_millis() as u64,
    );
}

/// A disconnected shell taken up again (Reconnect or Connect).
pub(crate) fn shell_reconnected(user: &str, client_ip: Option<IpAddr>, shell_id: &str) {
    tracing::info!(
        target: AUDIT_TARGET,
        event = "shell_reconnected",
        user,
        remote_address = %address(client_ip),
        shell_id,
    );
}

/// A process started outside any shell (Win32_Process Create).
pub(crate) fn process_launched(
    user: &str,
    client_ip: Option<IpAddr>,
    command_line: &str,
    working_directory: &str,
    pid: u32,
) {
    tracing::info!(
        target: AUDIT_TARGET,
        audit = 1,
        event = "process_launched",
        user,
        remote_address = %address(client_ip),
        command_line,
        working_directory,
        pid,
        "process launched"
    );
}

/// A launched process could not start.
pub(crate) fn process_launch_failed(
    user: &str,
    client_ip: Option<IpAddr>,
    command_line: &str,
    error: &dyn std::fmt::Display,
) {
    tracing::info!(
        target: AUDIT_TARGET,
        audit = 1,
        event = "process_launch_failed",
        user,
        remote_address = %address(client_ip),
        command_line,
        error = %error,
        "process failed to start"
    );
}

/// A launched process exited (and was reaped).
pub(crate) fn process_ended(
    user: &str,
    client_ip: Option<IpAddr>,
    command_line: &str,
    pid: u32,
    exit_code: i32,
    duration: Duration,
) {
    tracing::info!(
        target: AUDIT_TARGET,
        audit = 1,
        event = "process_ended",
        user,
        remote_address = %address(client_ip),
        command_line,
        pid,
        exit_code,
        duration_ms = duration.as_millis() as u64,
        "process ended"
    );
}
