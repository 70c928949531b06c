//! Why a shell operation failed. Each variant names the Windows fault the
//! server answers with (reference: wsman-protocol.md §4.10 and §5.3).

use std::path::PathBuf;

use wsman_os::process::ProcessError;

/// A failed shell operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShellError {
    /// `Winrs/AllowRemoteShellAccess` is false.
    /// Fault: `w:InternalError`, code 2150859180.
    #[error("remote shell access is not allowed")]
    RemoteShellAccessDisabled,
    /// `Winrs/MaxShellsPerUser` reached.
    /// Fault: `w:QuotaLimit`, code 2150859173.
    #[error("user {user} already has the maximum of {limit} shells")]
    TooManyShells {
        /// Authenticated user name.
        user: String,
        /// The limit.
        limit: u32,
    },
    /// `Winrs/MaxConcurrentUsers` reached.
    /// Fault: `w:QuotaLimit`, code 2150859179.
    #[error("the maximum of {limit} users with shells is reached")]
    TooManyUsers {
        /// The limit.
        limit: u32,
    },
    /// `Service/MaxConcurrentOperationsPerUser` reached (running commands
    /// plus requests in flight). Fault: `w:QuotaLimit`, code 2150859174.
    #[error("user {user} has the maximum of {limit} operations in flight")]
    TooManyOperations {
        /// Authenticated user name.
        user: String,
        /// The limit.
        limit: u32,
    },
    /// A daemon that is not root can only run shells as itself; the caller
    /// maps to another account. Fault: `w:AccessDenied`.
    #[error("the daemon runs as uid {daemon_uid} and cannot run shells as uid {uid}")]
    RunAsNotPermitted {
        /// The requested account.
        uid: u32,
        /// The daemon's account.
        daemon_uid: u32,
    },
    /// A client-chosen ShellId is not a GUID.
    /// Fault: `w:InvalidParameter` (Windows code 2150859221).
    #[error("shell id {value:?} is not a GUID")]
    InvalidShellId {
        /// The value sent.
        value: String,
    },
    /// A client-chosen ShellId is in use.
    /// Fault: `w:AlreadyExists` (Windows code 2150859223).
    #[error("shell id {shell_id} is already in use")]
    ShellIdInUse {
        /// The id.
        shell_id: String,
    },
    /// A client-chosen CommandId is not a GUID.
    /// Fault: `w:InvalidParameter` (Windows code 2150859220).
    #[error("command id {value:?} is not a GUID")]
    InvalidCommandId {
        /// The value sent.
        value: String,
    },
    /// A client-chosen CommandId is in use in this shell.
    /// Fault: `w:AlreadyExists` (Windows code 2150859222).
    #[error("command id {command_id} is already in use")]
    CommandIdInUse {
        /// The id.
        command_id: String,
    },
    /// No such shell for this caller (never existed, deleted, reaped, or
    /// owned by someone else). Fault: `w:InvalidSelectors`, 2150858843.
    #[error("shell {shell_id} not found")]
    UnknownShell {
        /// The id asked for.
        shell_id: String,
    },
    /// No such command in the shell (never existed or terminated).
    /// Fault: `w:InvalidSelectors`, 2150858843.
    #[error("command {command_id} not found in shell {shell_id}")]
    UnknownCommand {
        /// The shell.
        shell_id: String,
        /// The id asked for.
        command_id: String,
    },
    /// A Send names a stream not in the shell's InputStreams.
    /// Fault: `w:InvalidParameter`.
    #[error("stream {stream:?} is not an input stream of the shell")]
    UnknownInputStream {
        /// The stream name.
        stream: String,
    },
    /// A Receive asks for a stream not in the shell's OutputStreams.
    /// Fault: `w:InvalidParameter`.
    #[error("stream {stream:?} is not an output stream of the shell")]
    UnknownOutputStream {
        /// The stream name.
        stream: String,
    },
    /// A Send larger than the command's whole input queue
    /// ([`crate::ShellLimits::input_buffer_bytes`]): refused, never queued, so the queue
    /// never holds more than its bound. Fault: `w:QuotaLimit`.
    #[error(
        "the input of {bytes} bytes is larger than the command's input queue of {limit} bytes"
    )]
    InputTooLarge {
        /// The Send's bytes (as the command would read them).
        bytes: usize,
        /// The queue's bound.
        limit: usize,
    },
    /// Send after the stream was ended. Fault: `w:InvalidParameter`.
    #[error("input of command {command_id} was already ended")]
    InputAlreadyEnded {
        /// The command.
        command_id: String,
    },
    /// Receive after the final (Done) response was received.
    /// Fault: `w:InvalidSelectors`, 2150858843 (the command is over).
    #[error("command {command_id} has finished and its output was received")]
    CommandAlreadyDone {
        /// The command.
        command_id: String,
    },
    /// An environment variable name is empty or contains `=` or NUL, or a
    /// value contains NUL. Fault: `w:InvalidParameter`.
    #[error("invalid environment variable {name:?}")]
    InvalidEnvironment {
        /// The name.
        name: String,
    },
    /// An empty command, or a NUL byte in it. Fault: `w:InvalidParameter`.
    #[error("invalid command line: {reason}")]
    InvalidCommandLine {
        /// What is wrong.
        reason: &'static str,
    },
    /// Stream names or other shell options that cannot be used.
    /// Fault: `w:InvalidParameter`.
    #[error("invalid shell option: {reason}")]
    InvalidOption {
        /// What is wrong.
        reason: &'static str,
    },
    /// The working directory does not exist or the user may not enter it.
    /// Fault: `w:InternalError` with the provider's message (Windows:
    /// HRESULT 0x8007010B "directory name is invalid").
    #[error("working directory {path:?} is not accessible to the user")]
    WorkingDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// A direct-exec program (WINRS_SKIP_CMD_SHELL) was not found.
    /// Fault: `w:InternalError`, code 2147942402 (file not found).
    #[error("program {program:?} not found")]
    CommandNotFound {
        /// The program.
        program: String,
    },
    /// Starting the process failed otherwise. Fault: `w:InternalError`.
    #[error("starting the command failed: {source}")]
    Spawn {
        /// The cause.
        source: ProcessError,
    },
    /// Writing to the command's stdin failed. Fault: `w:InternalError`.
    #[error("writing to the command's input failed: {source}")]
    Stdin {
        /// The cause.
        source: std::io::Error,
    },
    /// The shell is disconnected: only Get, Enumerate, Delete, Reconnect and Connect reach
    /// it (also a second Disconnect). Fault: `w:InternalError`, code 2150859204
    /// (ERROR_WINRS_SHELL_DISCONNECTED).
    #[error("shell {shell_id} is disconnected")]
    ShellDisconnected {
        /// The shell.
        shell_id: String,
    },
    /// Connect to a connected shell, or Reconnect to one that another client session holds.
    /// Fault: `w:InternalError`, code 2150859213
    /// (ERROR_WINRS_SHELL_CONNECTED_TO_DIFFERENT_CLIENT).
    #[error("shell {shell_id} is connected to another client")]
    ShellConnected {
        /// The shell.
        shell_id: String,
    },
    /// Disconnect, Reconnect or Connect of another user's shell. Fault: `w:AccessDenied`.
    #[error("shell {shell_id} belongs to another user")]
    NotShellOwner {
        /// The shell.
        shell_id: String,
    },
    /// The daemon is shutting down: no shell or command starts.
    /// Fault: `w:InternalError`.
    #[error("the service is shutting down")]
    ShuttingDown,
    /// The engine needs a Tokio runtime. Not a client error.
    #[error("the shell manager must be created inside a Tokio runtime")]
    NoRuntime,
}

impl From<ProcessError> for ShellError {
    fn from(source: ProcessError) -> Self {
        match source {
            ProcessError::WorkingDirectory { path, .. } => Self::WorkingDirectory { path },
            ProcessError::ProgramNotFound { program } => Self::CommandNotFound { program },
            ProcessError::NulByte { .. } => Self::InvalidCommandLine {
                reason: "contains a NUL byte",
            },
            source => Self::Spawn { source },
        }
    }
}
