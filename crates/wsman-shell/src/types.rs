//! The values that cross the engine's API: what the server passes in after
//! parsing a message, and what it turns back into XML.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub use wsman_os::terminal::WindowSize;
use wsman_os::LinuxUser;
use wsman_principal::{OwnerKey, Principal, PrincipalKind};

/// Limits from `winrm/config/winrs` and `winrm/config/service`, plus the
/// engine's own tuning. Windows' defaults; 0 means unlimited where noted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShellLimits {
    /// `Winrs/AllowRemoteShellAccess`.
    pub allow_remote_shell_access: bool,
    /// `Winrs/MaxShellsPerUser` (0 = unlimited), counted per Linux user: a service account
    /// run as a Linux user shares that user's quota (the limit bounds the user's resources).
    pub max_shells_per_user: u32,
    /// `Winrs/MaxConcurrentUsers` (0 = unlimited): Linux users with shells.
    pub max_concurrent_users: u32,
    /// `Service/MaxConcurrentOperationsPerUser` (0 = unlimited): running
    /// commands plus engine calls in flight.
    pub max_concurrent_operations_per_user: u32,
    /// `Winrs/MaxProcessesPerShell` (0 = unlimited). With cgroups this
    /// counts tasks (threads included).
    pub max_processes_per_shell: u32,
    /// `Winrs/MaxMemoryPerShellMB` (0 = unlimited).
    pub max_memory_per_shell_mb: u64,
    /// `Winrs/IdleTimeout`: the cap for a shell's IdleTimeOut.
    pub idle_timeout: Duration,
    /// `Winrs/MaxShellRunTime` (None = unlimited). Windows no longer
    /// enforces it; we do, in the reaper.
    pub max_shell_run_time: Option<Duration>,
    /// Bytes buffered per command and output stream (delivered-but-not-
    /// acknowledged bytes included). When full, the engine stops reading the
    /// pipe and the child blocks. The default is a little under three
    /// Receives at the usual MaxEnvelopeSize (512000 bytes of envelope hold
    /// ~375 KiB of output in base64): one response awaiting its
    /// acknowledgement, the next one filling while it travels, and room to
    /// go on reading, so a command printing flat out does not stall between
    /// two Receives of a client that keeps up; a buffer grows to this only
    /// while its client falls behind the command.
    pub output_buffer_bytes: usize,
    /// Bytes buffered across all the commands of one Linux user, counted as
    /// `output_buffer_bytes` is. Past it the user's commands block on their
    /// pipes until a client receives: a user running many commands whose
    /// output nobody reads holds this much, not a buffer per command.
    pub output_buffer_bytes_per_user: usize,
    /// Bytes of accepted stdin queued per command and not yet read by the
    /// child. A Send that does not fit within its timeout is refused whole
    /// ([`SendOutcome::TimedOut`]); a chunk larger than this is refused
    /// ([`crate::ShellError::InputTooLarge`]). The server sets it to MaxEnvelopeSizekb
    /// (no Send carries more), so one Send always fits an empty queue.
    pub input_buffer_bytes: usize,
    /// After the command's process exits, how long a pipe may stay silent
    /// (held open by a background child) before its stream is ended.
    pub exit_drain_grace: Duration,
    /// How often the reaper looks for idle or expired shells.
    pub reap_interval: Duration,
}

impl Default for ShellLimits {
    fn default() -> Self {
        Self {
            allow_remote_shell_access: true,
            max_shells_per_user: 30,
            max_concurrent_users: 10,
            max_concurrent_operations_per_user: 1500,
            max_processes_per_shell: 2_147_483_647,
            max_memory_per_shell_mb: 2_147_483_647,
            idle_timeout: Duration::from_millis(7_200_000),
            max_shell_run_time: None,
            output_buffer_bytes: 1024 * 1024,
            output_buffer_bytes_per_user: 64 * 1024 * 1024,
            input_buffer_bytes: 500 * 1024,
            exit_drain_grace: Duration::from_secs(2),
            reap_interval: Duration::from_secs(1),
        }
    }
}

/// Who owns a shell: the account its processes run as, and the identity
/// the client authenticated with (quotas and access are per authenticated
/// name).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ShellOwner {
    /// The authenticated name (a Linux account or a service account), as shown and audited.
    pub user_name: String,
    /// Who owns the shell: only this principal may list, use, reconnect or delete it (a
    /// Kerberos user is not the service account of the same name).
    pub key: OwnerKey,
    /// The Linux account the processes run as.
    pub run_as: LinuxUser,
    /// The client's address, for the audit log and `rsp:ClientIP`.
    pub client_ip: Option<IpAddr>,
    /// The identity is a Linux account (its commands run inside a PAM session when the
    /// manager has a session helper); false for a service account, which never logged in
    /// through PAM.
    pub linux_account: bool,
}

impl ShellOwner {
    /// The owner `principal`, whose processes run as `run_as`. A service account's commands
    /// get no PAM session; anyone else's do (see [`ShellOwner::linux_account`]).
    pub fn new(principal: &Principal, run_as: LinuxUser, client_ip: Option<IpAddr>) -> Self {
        Self {
            user_name: principal.name().to_owned(),
            key: principal.owner_key(),
            run_as,
            client_ip,
            linux_account: principal.kind() != PrincipalKind::ServiceAccount,
        }
    }
}

/// The `rsp:Shell` body and Create options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShellOptions {
    /// Client-chosen ShellId (`rsp:Shell@ShellId`); must be a GUID.
    pub shell_id: Option<String>,
    /// `rsp:Name`.
    pub name: Option<String>,
    /// `rsp:WorkingDirectory`; default: the user's home (or `/`).
    pub working_directory: Option<PathBuf>,
    /// `rsp:Environment/rsp:Variable`, in order; later ones win.
    pub environment: Vec<(String, String)>,
    /// WINRS_NOPROFILE.
    pub no_profile: bool,
    /// WINRS_CODEPAGE. Stored and reported; bytes pass through unchanged
    /// (65001 is what Linux programs speak).
    pub codepage: Option<u32>,
    /// `rsp:IdleTimeOut`, capped by [`ShellLimits::idle_timeout`].
    pub idle_timeout: Option<Duration>,
    /// `rsp:Lifetime` (stored and reported only, as on Windows).
    pub lifetime: Option<Duration>,
    /// `rsp:InputStreams`; default `stdin`.
    pub input_streams: Vec<String>,
    /// `rsp:OutputStreams`; default `stdout stderr`.
    pub output_streams: Vec<String>,
    /// The client's `p:SessionId`: a Reconnect from the same client session to a shell that is
    /// still connected is a no-op, as MS-WSMV asks; from another session it is refused.
    pub client_session: Option<String>,
    /// Run each command on a pseudo-terminal (a Linux extension the client asks for; without
    /// it commands get pipes).
    pub terminal: Option<TerminalOptions>,
}

/// A shell whose commands run on a pseudo-terminal: what the client's terminal is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TerminalOptions {
    /// `TERM` for the commands (the client's terminal type, e.g. `xterm-256color`).
    pub term: String,
    /// The window size at Create; a resize signal changes it for the running command and
    /// every later one.
    pub window: WindowSize,
}

impl TerminalOptions {
    /// A terminal of type `term` and size `window`.
    pub fn new(term: impl Into<String>, window: WindowSize) -> Self {
        Self {
            term: term.into(),
            window,
        }
    }
}

/// `rsp:CommandLine` and Command options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandSpec {
    /// Client-chosen CommandId; must be a GUID.
    pub command_id: Option<String>,
    /// `rsp:Command`.
    pub command: String,
    /// `rsp:Arguments`, each element one entry.
    pub arguments: Vec<String>,
    /// WINRS_SKIP_CMD_SHELL: exec `command` with `arguments` as argv
    /// instead of `/bin/sh -c "command arguments..."`.
    pub skip_cmd_shell: bool,
    /// WINRS_CONSOLEMODE_STDIN: accepted; stdin is always a pipe.
    pub console_mode_stdin: bool,
}

impl CommandSpec {
    /// A command run through `/bin/sh -c`.
    pub fn new(command: impl Into<String>, arguments: Vec<String>) -> Self {
        Self {
            command: command.into(),
            arguments,
            ..Self::default()
        }
    }

    /// The command line as `/bin/sh -c` gets it and the audit log shows it:
    /// the command and the arguments joined by single spaces.
    pub fn command_line(&self) -> String {
        let mut line = self.command.clone();
        for argument in &self.arguments {
            line.push(' ');
            line.push_str(argument);
        }
        line
    }
}

/// A `rsp:Receive`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiveRequest {
    /// `rsp:DesiredStream` names (empty = all output streams).
    pub streams: Vec<String>,
    /// `rsp:Receive@SequenceId`. With it, a response stays stored until a
    /// Receive with a different id arrives, and a Receive repeating the id
    /// gets the same response again (the first was lost on the way).
    /// Without it, output is released as soon as it is returned.
    pub sequence_id: Option<u64>,
    /// How long to wait for output (the OperationTimeout).
    pub timeout: Duration,
    /// Most stream bytes to return (before base64), from MaxEnvelopeSize.
    pub max_bytes: usize,
}

impl ReceiveRequest {
    /// A request for `streams` waiting up to `timeout`, at most 64 KiB.
    pub fn new(streams: Vec<String>, timeout: Duration) -> Self {
        Self {
            streams,
            sequence_id: None,
            timeout,
            max_bytes: 64 * 1024,
        }
    }
}

/// Output of one stream in a Receive response, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutputChunk {
    /// Stream name (`stdout`, `stderr`).
    pub stream: String,
    /// The bytes as standard padded base64, in pieces to be written one after another: their
    /// concatenation is one valid base64 string (empty when `end` is set). Shared, not
    /// copied, between the response and the copy kept for a SequenceId replay.
    pub base64: Vec<bytes::Bytes>,
    /// How many bytes the text encodes.
    pub len: usize,
    /// The stream has ended (`End="true"`): sent once per stream, as Windows sends it, on a
    /// chunk without data, in the response that says `Done`.
    pub end: bool,
}

impl OutputChunk {
    /// The bytes themselves (decoded from [`Self::base64`]).
    pub fn decoded(&self) -> Vec<u8> {
        let text: Vec<u8> = self.base64.concat();
        // The engine only ever stores text it encoded itself.
        base64_simd::STANDARD
            .decode_to_vec(&text)
            .expect("the engine's own base64")
    }
}

/// `rsp:CommandState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandState {
    /// Still running (or its output is not all delivered).
    Running,
    /// Finished; sent exactly once.
    Done {
        /// Exit status, or 128+N when killed by signal N.
        exit_code: i32,
    },
}

/// A Receive answer with output or the final state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiveOutput {
    /// Output, per stream, in order.
    pub chunks: Vec<OutputChunk>,
    /// The command's state after this response.
    pub state: CommandState,
    /// The request's SequenceId, echoed.
    pub sequence_id: Option<u64>,
}

/// What a Receive returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiveOutcome {
    /// Output and/or the final state.
    Output(ReceiveOutput),
    /// Nothing within the timeout: the server answers `w:TimedOut`
    /// (2150858793) and the client asks again; nothing is lost.
    TimedOut,
}

/// What a Send returns. A Send is all-or-nothing: its data was either
/// queued whole for the command's stdin, or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendOutcome {
    /// Queued whole; it reaches stdin in order, before any later Send and
    /// before `End`.
    Accepted,
    /// The input queue stayed full (the child does not read) for the whole
    /// timeout: nothing of this Send was taken. The server answers
    /// `w:TimedOut`; the client may send the same data again.
    TimedOut,
}

/// `rsp:Signal/rsp:Code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShellSignal {
    /// `.../signal/ctrl_c`: SIGINT to the command's process group.
    CtrlC,
    /// `.../signal/ctrl_break`: SIGQUIT to the command's process group.
    CtrlBreak,
    /// `.../signal/terminate`: SIGKILL to the command's session and
    /// process group and their descendants (`setsid` ones too); the
    /// CommandId is released.
    Terminate,
    /// The client's terminal changed size (a Linux extension): the command's pseudo-terminal
    /// gets it (its foreground job gets SIGWINCH), and so do later commands of the shell.
    WindowSize(WindowSize),
}

/// A command as Get/Enumerate show it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandInfo {
    /// CommandId.
    pub command_id: String,
    /// The command line.
    pub command_line: String,
    /// Running or Done (Done as soon as the process exited and its output
    /// was read, whether or not the client has received it).
    pub state: CommandState,
    /// The main process id (its session and process group id too).
    pub process_id: Option<u32>,
    /// Bytes read from its stdout and stderr so far.
    pub bytes_out: u64,
    /// The most bytes ever buffered for one of its streams (the bound under
    /// test: never above [`ShellLimits::output_buffer_bytes`]).
    pub peak_buffered_bytes: usize,
    /// The most stdin bytes ever queued for it (never above
    /// [`ShellLimits::input_buffer_bytes`]).
    pub peak_input_queued_bytes: usize,
}

/// A shell as Create, Get and Enumerate show it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShellInfo {
    /// ShellId (upper-case GUID).
    pub shell_id: String,
    /// `rsp:Name`.
    pub name: Option<String>,
    /// The authenticated owner.
    pub owner: String,
    /// The Linux account its processes run as.
    pub run_as_user: String,
    /// The client's address at Create.
    pub client_ip: Option<IpAddr>,
    /// When it was created.
    pub created_at: SystemTime,
    /// The effective idle timeout.
    pub idle_timeout: Duration,
    /// `rsp:Lifetime` as asked.
    pub lifetime: Option<Duration>,
    /// Time since Create.
    pub run_time: Duration,
    /// Time since the last request on it.
    pub inactivity: Duration,
    /// Input stream names.
    pub input_streams: Vec<String>,
    /// Output stream names.
    pub output_streams: Vec<String>,
    /// Working directory of its commands.
    pub working_directory: PathBuf,
    /// The client's Environment variables.
    pub environment: Vec<(String, String)>,
    /// WINRS_NOPROFILE.
    pub no_profile: bool,
    /// WINRS_CODEPAGE.
    pub codepage: Option<u32>,
    /// Processes now running in it (cgroup members, or session members).
    pub process_count: usize,
    /// Memory charged to its cgroup, if one accounts memory.
    pub memory_used: Option<u64>,
    /// Forks refused by MaxProcessesPerShell (cgroup only; else 0).
    pub process_limit_hits: u64,
    /// Whether MaxMemoryPerShellMB made the kernel refuse memory or kill a
    /// process (cgroup only; else false).
    pub memory_limit_hit: bool,
    /// Its commands.
    pub commands: Vec<CommandInfo>,
    /// Connected, or disconnected and waiting for a Reconnect or Connect.
    pub state: ShellState,
}

/// Whether a client is attached to a shell (`rsp:State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShellState {
    /// A client uses it (the state after Create, Reconnect and Connect).
    Connected,
    /// Disconnected: its commands run on and their output is kept within the shell's bounds
    /// until a Reconnect or Connect, or until the disconnected shell's idle timeout ends it.
    Disconnected,
}

impl ShellState {
    /// `Connected` / `Disconnected`, as `rsp:State` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "Connected",
            Self::Disconnected => "Disconnected",
        }
    }
}
