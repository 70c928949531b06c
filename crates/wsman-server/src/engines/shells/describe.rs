//! Engine values -> protocol values: shell descriptions, command items, and the engine's
//! limits from the configuration.

use std::time::Duration;

use wsman_config::Config;
use wsman_proto::shell::{self, CommandItem, ShellDescription};
use wsman_proto::Request;
use wsman_shell::{CommandInfo, CommandState, ShellInfo, ShellLimits};

/// `winrm/config/winrs` (with our MaxBufferedOutputPerUserMB) and
/// Service/MaxConcurrentOperationsPerUser as engine limits.
pub fn limits_from_config(config: &Config) -> ShellLimits {
    let winrs = &config.winrs;
    let mut limits = ShellLimits::default();
    limits.allow_remote_shell_access = winrs.allow_remote_shell_access;
    limits.max_shells_per_user = saturate(winrs.max_shells_per_user);
    limits.max_concurrent_users = winrs.max_concurrent_users;
    limits.max_concurrent_operations_per_user = config.service.max_concurrent_operations_per_user;
    limits.max_processes_per_shell = saturate(winrs.max_processes_per_shell);
    limits.max_memory_per_shell_mb = winrs.max_memory_per_shell_mb;
    limits.output_buffer_bytes_per_user =
        usize::try_from(u64::from(winrs.max_buffered_output_per_user_mb) << 20)
            .unwrap_or(usize::MAX);
    limits.idle_timeout = Duration::from_millis(winrs.idle_timeout);
    limits.max_shell_run_time =
        (winrs.max_shell_run_time > 0).then(|| Duration::from_millis(winrs.max_shell_run_time));
    // No Send carries more than one envelope: one Send always fits an empty stdin queue.
    limits.input_buffer_bytes =
        usize::try_from(config.max_envelope_size_bytes()).unwrap_or(usize::MAX);
    limits
}

fn saturate(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn base(info: &ShellInfo) -> ShellDescription {
    let ip = info.client_ip.map(|i| i.to_string()).unwrap_or_default();
    let mut d = ShellDescription::new(&info.shell_id, shell::uri::CMD, &info.owner, &ip);
    d.idle_timeout = info.idle_timeout;
    d.input_streams = info.input_streams.clone();
    d.output_streams = info.output_streams.clone();
    d.shell_run_time = info.run_time;
    d.shell_inactivity = info.inactivity;
    d.environment = info.environment.clone();
    d
}

/// The `rsp:Shell` of a CreateResponse: what Windows echoes (no Name, no Lifetime; the
/// WorkingDirectory only when the client sent one).
pub(super) fn created(info: &ShellInfo, asked_directory: Option<&str>) -> ShellDescription {
    let mut d = base(info);
    d.working_directory = asked_directory.map(str::to_owned);
    d
}

/// The `rsp:Shell` of Get and Enumerate, with the fields a Windows server reports.
pub(super) fn full(info: &ShellInfo, request: &Request, limits: &ShellLimits) -> ShellDescription {
    let mut d = base(info);
    d.name = info.name.clone();
    d.working_directory = Some(info.working_directory.to_string_lossy().into_owned());
    d.lifetime = info.lifetime;
    d.max_idle_timeout = Some(limits.idle_timeout);
    let locale = request.locale.clone().unwrap_or_else(|| "en-US".to_owned());
    d.locale = Some(locale.clone());
    d.data_locale = Some(locale);
    d.compression_mode = Some("NoCompression".to_owned());
    d.profile_loaded = Some(!info.no_profile);
    d.encoding = Some("UTF8".to_owned());
    d.buffer_mode = Some("Block".to_owned());
    d.state = Some(info.state.as_str().to_owned());
    d.memory_used = info
        .memory_used
        .map(|bytes| format!("{}MB", bytes / (1024 * 1024)));
    d.child_processes = Some(u32::try_from(info.process_count).unwrap_or(u32::MAX));
    d
}

/// A command of the `.../windows/shell/Command` enumeration.
pub(super) fn command_item(c: &CommandInfo) -> CommandItem {
    let state = match c.state {
        CommandState::Done { .. } => "Done",
        _ => "Running",
    };
    CommandItem::new(&c.command_id, &c.command_line, state)
}

/// A pipeline of a PowerShell shell in the `.../windows/shell/Command` enumeration (its
/// command line is the pipeline's CREATE_PIPELINE, which the bridge does not read).
pub(super) fn pipeline_item(command_id: &str, ended: bool) -> CommandItem {
    CommandItem::new(command_id, "", if ended { "Done" } else { "Running" })
}
