//! WinRS remote shells (`.../windows/shell/cmd`): open a shell, run commands in it, feed their
//! standard input, read their output as it is produced, signal them, close the shell. The
//! messages are the ones Windows' own client (winrs) sends, so this works against Windows
//! hosts as well as wsmand.
//!
//! ```no_run
//! # async fn demo(client: &wsman_client::Client) -> Result<(), wsman_client::ClientError> {
//! use wsman_client::shell::{CommandOptions, Output, Shell, ShellOptions};
//! let shell = Shell::open(client, &ShellOptions::default()).await?;
//! let command = shell.run("echo", &["hi".to_owned()], &CommandOptions::default()).await?;
//! command.send(b"", true).await?;
//! let mut output = command.output()?;
//! while let Some(event) = output.next().await? {
//!     match event {
//!         Output::Data { stream, data } => println!("{stream}: {}", String::from_utf8_lossy(&data)),
//!         Output::Exited { exit_code } => println!("exit {exit_code}"),
//!         _ => {}
//!     }
//! }
//! command.signal(wsman_client::shell::Signal::Terminate).await?;
//! shell.close().await?;
//! # Ok(()) }
//! ```
//!
//! Connections: a shell's requests go through forks of the client that opened it, which share
//! its pool of idle kept-alive connections (see [`Client::fork`]). A Receive is a long poll
//! that holds its connection for up to the operation timeout; a Send, Signal or Delete sent
//! meanwhile takes another connection from the pool (or opens one), so it never waits behind
//! the poll. When nothing runs concurrently, every request reuses one connection and the
//! server checks the password once. All share one `p:SessionId`.

use std::sync::Arc;
use std::time::Duration;

use wsman_proto::ns::{self, action};
use wsman_proto::shell::{
    CommandItem, CommandLine, CommandResponse, Connect, ConnectResponse, CreateResponse,
    Disconnect, Reconnect, Send, ShellCreate, ShellDescription, StreamData, WinrsOptions,
};
use wsman_proto::xml::{Element, Node};

use crate::client::{Client, Resource};
use crate::error::ClientError;

mod output;

pub(crate) use output::EventQueue;
pub use output::OutputReader;

/// Whether a `TERM` value is one [`Terminal::term`] may carry (a terminfo name).
pub use wsman_proto::shell::is_terminal_type;
pub use wsman_proto::shell::SignalCode as Signal;

/// The resource URI of the text command shell (cmd.exe on Windows, `/bin/sh -c` on wsmand).
pub const CMD_SHELL_URI: &str = wsman_proto::shell::uri::CMD;

/// `f:WSManFault/@Code` of `w:TimedOut`: a Receive found no output within the operation
/// timeout. Not an error: clients ask again.
pub const TIMED_OUT_CODE: u32 = 2_150_858_793;

/// Largest stdin chunk per Send (before base64): well inside Windows' default 500 KB envelope.
pub const MAX_SEND_CHUNK: usize = 64 * 1024;

/// How often a Receive whose answer was lost (connection dropped, no answer in time) is sent
/// again with the same SequenceId before the error is returned.
const MAX_RECEIVE_RESENDS: u32 = 3;

/// How a shell is created (the `rsp:Shell` body and the Create options).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ShellOptions {
    /// The shell resource URI ([`CMD_SHELL_URI`]).
    pub resource_uri: String,
    /// `rsp:WorkingDirectory`: where commands start (default: the user's home directory).
    pub working_directory: Option<String>,
    /// `rsp:Environment`: extra environment variables, in order.
    pub environment: Vec<(String, String)>,
    /// `WINRS_NOPROFILE`: do not load the user's profile (login scripts).
    pub no_profile: bool,
    /// `WINRS_CODEPAGE`: the code page of stream bytes. 65001 (UTF-8) by default, which is what
    /// a Linux terminal expects; Windows' winrs sends the console's code page (often 437).
    pub codepage: Option<u32>,
    /// `rsp:IdleTimeOut`: how long the shell may stay without requests before the server
    /// deletes it (the server caps it by its Winrs/IdleTimeout).
    pub idle_timeout: Option<Duration>,
    /// `rsp:InputStreams` (default `stdin`).
    pub input_streams: Vec<String>,
    /// `rsp:OutputStreams` (default `stdout stderr`).
    pub output_streams: Vec<String>,
    /// wsmand's terminal extension: run the shell's commands on a pseudo-terminal of this
    /// type and size (their output then all arrives on `stdout`; resize with
    /// [`Command::resize`]). Sent without MustComply: a server that does not know it
    /// (Windows) gives pipes.
    pub terminal: Option<Terminal>,
}

/// The terminal a shell's commands run on (wsmand's extension).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Terminal {
    /// `TERM` (a terminfo name such as `xterm-256color`).
    pub term: String,
    /// Rows of the window.
    pub rows: u16,
    /// Columns of the window.
    pub columns: u16,
}

impl Terminal {
    /// A terminal of type `term`, `rows` by `columns`.
    pub fn new(term: impl Into<String>, rows: u16, columns: u16) -> Self {
        Self {
            term: term.into(),
            rows,
            columns,
        }
    }
}

impl Default for ShellOptions {
    fn default() -> Self {
        Self {
            resource_uri: CMD_SHELL_URI.to_owned(),
            working_directory: None,
            environment: Vec::new(),
            no_profile: false,
            codepage: Some(65001),
            idle_timeout: None,
            input_streams: vec!["stdin".to_owned()],
            output_streams: vec!["stdout".to_owned(), "stderr".to_owned()],
            terminal: None,
        }
    }
}

/// How a command is started (the Command options).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CommandOptions {
    /// `WINRS_SKIP_CMD_SHELL`: run the program directly with its arguments instead of through
    /// the shell interpreter (cmd.exe /c on Windows, /bin/sh -c on wsmand).
    pub skip_cmd_shell: bool,
    /// `WINRS_CONSOLEMODE_STDIN`: stdin behaves like a console rather than a pipe (Windows;
    /// wsmand always uses a pipe). winrs sends TRUE.
    pub console_mode_stdin: bool,
}

impl Default for CommandOptions {
    fn default() -> Self {
        Self {
            skip_cmd_shell: false,
            console_mode_stdin: true,
        }
    }
}

/// One event of a command's output.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Bytes of one output stream (`stdout`, `stderr`), exactly as the command wrote them.
    Data {
        /// The stream name.
        stream: String,
        /// The bytes (never empty).
        data: Vec<u8>,
    },
    /// The command finished; always the last event.
    Exited {
        /// The exit code as the server reports it (on Windows a DWORD, possibly an NTSTATUS
        /// such as 3221225786; on wsmand the exit status, or 128+N after signal N).
        exit_code: i64,
    },
}

/// Everything a command printed, and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandOutput {
    /// All `stdout` bytes.
    pub stdout: Vec<u8>,
    /// All `stderr` bytes.
    pub stderr: Vec<u8>,
    /// The exit code (see [`Output::Exited`]).
    pub exit_code: i64,
}

struct ShellShared {
    /// Create, Command, Signal, Delete.
    control: Client,
    /// Send. A fork of `control`: the same pool, but each request in flight has its own
    /// connection, so a Send that blocks (the remote command does not read its stdin) delays
    /// nothing else.
    input: Client,
    id: String,
    resource_uri: String,
    input_stream: String,
    output_streams: Vec<String>,
}

impl ShellShared {
    fn resource(&self) -> Resource {
        Resource::new(self.resource_uri.clone()).with_selector("ShellId", self.id.clone())
    }
}

/// An open remote shell. Cloning shares it. Dropping it does not delete it on the server
/// (that needs a request): call [`Shell::close`], or the server's idle timeout reaps it.
#[derive(Clone)]
pub struct Shell {
    shared: Arc<ShellShared>,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("id", &self.shared.id)
            .field("resource_uri", &self.shared.resource_uri)
            .finish_non_exhaustive()
    }
}

fn protocol(e: impl std::fmt::Display) -> ClientError {
    ClientError::protocol(e.to_string())
}

/// The ShellId of a CreateResponse (the body's elements): the ShellId selector of the EPR.
/// Windows before 2012 sends the EPR without the `rsp:Shell` description the protocol crate's
/// parser requires, so the selector is looked up directly when that parser refuses.
fn created_shell_id(elements: Vec<Element>) -> Result<String, ClientError> {
    let mut body = Element::new(Some(ns::SOAP), "Body");
    body.children = elements.into_iter().map(Node::Element).collect();
    if let Ok(created) = CreateResponse::parse(&body) {
        return Ok(created.selector_shell_id);
    }
    body.child(ns::TRANSFER, "ResourceCreated")
        .and_then(|c| c.child(ns::ADDRESSING, "ReferenceParameters"))
        .and_then(|r| r.child(ns::WSMAN, "SelectorSet"))
        .and_then(|set| {
            set.children_named(ns::WSMAN, "Selector").find(|s| {
                s.attr("Name")
                    .is_some_and(|n| n.eq_ignore_ascii_case("ShellId"))
            })
        })
        .map(Element::trimmed_text)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ClientError::protocol("the Create response names no ShellId"))
}

impl Shell {
    /// Create a shell on `client`'s endpoint (WS-Transfer Create). The shell uses forks of
    /// `client`, sharing its idle connections (see the module docs).
    pub async fn open(client: &Client, options: &ShellOptions) -> Result<Self, ClientError> {
        let control = client.fork()?;
        let mut resource = Resource::new(options.resource_uri.clone());
        let mut winrs = WinrsOptions::default();
        winrs.no_profile = Some(options.no_profile);
        winrs.codepage = options.codepage;
        winrs.terminal =
            options
                .terminal
                .as_ref()
                .map(|terminal| wsman_proto::shell::TerminalRequest {
                    term: terminal.term.clone(),
                    size: wsman_proto::shell::TerminalSize {
                        rows: terminal.rows,
                        columns: terminal.columns,
                    },
                });
        resource.options = winrs.to_options();
        let mut create = ShellCreate::default();
        create.input_streams = options.input_streams.clone();
        create.output_streams = options.output_streams.clone();
        create.working_directory = options.working_directory.clone();
        create.environment = options.environment.clone();
        create.idle_timeout = options.idle_timeout;
        let header = control.request_header(action::CREATE, &resource);
        let created = control.send_for_body(&header, &create.to_xml()).await?;
        let id = created_shell_id(created)?;
        let input = control.fork()?;
        Ok(Self {
            shared: Arc::new(ShellShared {
                control,
                input,
                id,
                resource_uri: options.resource_uri.clone(),
                input_stream: options
                    .input_streams
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "stdin".to_owned()),
                output_streams: options.output_streams.clone(),
            }),
        })
    }

    /// The ShellId the server assigned.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Start `command` with `arguments` (one `rsp:Arguments` element each; the server joins
    /// them with spaces for the shell interpreter, or passes them as argv with
    /// [`CommandOptions::skip_cmd_shell`]).
    pub async fn run(
        &self,
        command: &str,
        arguments: &[String],
        options: &CommandOptions,
    ) -> Result<Command, ClientError> {
        let shared = &self.shared;
        let mut resource = shared.resource();
        let mut winrs = WinrsOptions::default();
        winrs.console_mode_stdin = Some(options.console_mode_stdin);
        winrs.skip_cmd_shell = Some(options.skip_cmd_shell);
        resource.options = winrs.to_options();
        let header = shared
            .control
            .request_header(action::SHELL_COMMAND, &resource);
        let line = CommandLine::new(command, arguments.to_vec());
        let body = shared
            .control
            .send(&header, &line.to_xml())
            .await?
            .ok_or_else(|| ClientError::protocol("the Command response has an empty body"))?;
        let response = CommandResponse::parse(&body).map_err(protocol)?;
        Ok(Command {
            shell: shared.clone(),
            id: response.command_id,
        })
    }

    /// Delete the shell: the server ends every process it started.
    pub async fn close(self) -> Result<(), ClientError> {
        self.shared.control.delete(&self.shared.resource()).await
    }

    /// Disconnect (MS-WSMV 3.1.4.15): the shell and its commands stay on the server, their
    /// output kept there, until a [`Shell::reconnect`] or [`Shell::connect`] from this or
    /// another client, or until `idle_timeout` (the server caps it; `None` keeps the shell's
    /// own) ends the shell. Stop reading output before: a Receive in flight on a disconnected
    /// shell fails.
    pub async fn disconnect(&self, idle_timeout: Option<Duration>) -> Result<(), ClientError> {
        let shared = &self.shared;
        let header = shared
            .control
            .request_header(action::SHELL_DISCONNECT, &shared.resource());
        shared
            .control
            .send(&header, &Disconnect::new(idle_timeout).to_xml())
            .await
            .map(|_| ())
    }

    /// Reconnect (MS-WSMV 3.1.4.16) to a disconnected shell this client knows: its id and
    /// streams. A new client without that knowledge uses [`Shell::connect`].
    pub async fn reconnect(
        client: &Client,
        shell_id: &str,
        options: &ShellOptions,
    ) -> Result<Self, ClientError> {
        let shell = Self::attached(
            client,
            shell_id,
            &options.resource_uri,
            options.input_streams.clone(),
            options.output_streams.clone(),
        )?;
        let header = shell
            .shared
            .control
            .request_header(action::SHELL_RECONNECT, &shell.shared.resource());
        shell
            .shared
            .control
            .send(&header, &Reconnect::default().to_xml())
            .await?;
        Ok(shell)
    }

    /// Connect (MS-WSMV 3.1.4.17) to a disconnected shell of the cmd resource by its id, from
    /// a client that knows nothing else of it: the server answers with the shell's streams.
    pub async fn connect(client: &Client, shell_id: &str) -> Result<Self, ClientError> {
        let control = client.fork()?;
        let resource = Resource::new(CMD_SHELL_URI).with_selector("ShellId", shell_id);
        let header = control.request_header(action::SHELL_CONNECT, &resource);
        let body = control
            .send(&header, &Connect::default().to_xml())
            .await?
            .ok_or_else(|| ClientError::protocol("the Connect response has an empty body"))?;
        let connected = ConnectResponse::parse(&body).map_err(protocol)?;
        Self::attached(
            client,
            shell_id,
            CMD_SHELL_URI,
            connected.input_streams,
            connected.output_streams,
        )
    }

    /// A handle on a shell of the cmd resource by its id, without a request: for reading its
    /// inventory ([`Shell::commands`]) whatever its state.
    pub fn connectionless(client: &Client, shell_id: &str) -> Result<Self, ClientError> {
        Self::attached(
            client,
            shell_id,
            CMD_SHELL_URI,
            vec!["stdin".to_owned()],
            vec!["stdout".to_owned(), "stderr".to_owned()],
        )
    }

    fn attached(
        client: &Client,
        shell_id: &str,
        resource_uri: &str,
        input_streams: Vec<String>,
        output_streams: Vec<String>,
    ) -> Result<Self, ClientError> {
        let control = client.fork()?;
        let input = control.fork()?;
        Ok(Self {
            shared: Arc::new(ShellShared {
                control,
                input,
                id: shell_id.to_owned(),
                resource_uri: resource_uri.to_owned(),
                input_stream: input_streams
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "stdin".to_owned()),
                output_streams,
            }),
        })
    }

    /// The commands of this shell (Enumerate of `.../windows/shell/Command` with a
    /// SelectorFilter on the ShellId), oldest first as the server lists them.
    pub async fn commands(&self) -> Result<Vec<CommandItem>, ClientError> {
        let options = crate::enumerate::EnumerateOptions {
            filter: Some(crate::enumerate::Filter {
                dialect: crate::enumerate::dialect::SELECTOR.to_owned(),
                body: crate::enumerate::FilterBody::Selectors(vec![(
                    "ShellId".to_owned(),
                    self.shared.id.clone(),
                )]),
            }),
            ..crate::enumerate::EnumerateOptions::default()
        };
        let resource = Resource::new(wsman_proto::shell::uri::COMMANDS);
        let items = self.shared.control.enumerate(&resource, &options).await?;
        items
            .iter()
            .map(|item| CommandItem::parse(item).map_err(protocol))
            .collect()
    }

    /// A command of this shell by its id (one started by an earlier client, found through
    /// [`Shell::commands`]), to read its output or signal it.
    pub fn command(&self, command_id: &str) -> Command {
        Command {
            shell: self.shared.clone(),
            id: command_id.to_owned(),
        }
    }
}

/// The caller's shells on the server (Enumerate of `.../windows/shell`), each with its
/// `State` (`Connected` or `Disconnected`).
pub async fn list_shells(client: &Client) -> Result<Vec<ShellDescription>, ClientError> {
    let resource = Resource::new(wsman_proto::shell::uri::SHELLS);
    let items = client
        .enumerate(&resource, &crate::enumerate::EnumerateOptions::default())
        .await?;
    items
        .iter()
        .map(|item| ShellDescription::parse(item).map_err(protocol))
        .collect()
}

/// A command running in a shell. Cloning shares it (e.g. one task sends stdin while another
/// reads the output).
#[derive(Clone)]
pub struct Command {
    shell: Arc<ShellShared>,
    id: String,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command")
            .field("shell", &self.shell.id)
            .field("id", &self.id)
            .finish()
    }
}

impl Command {
    /// The CommandId the server assigned.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Send `data` to the command's stdin, in chunks of at most [`MAX_SEND_CHUNK`] bytes;
    /// `end` closes its stdin after the data (EOF). Empty `data` with `end` only closes it.
    pub async fn send(&self, data: &[u8], end: bool) -> Result<(), ClientError> {
        let shell = &self.shell;
        let resource = shell.resource();
        let mut chunks: Vec<&[u8]> = data.chunks(MAX_SEND_CHUNK).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let stream = StreamData::new(
                &shell.input_stream,
                Some(&self.id),
                chunk.to_vec(),
                end && i == last,
            );
            let body = Send::new(vec![stream]).to_xml();
            let header = shell.input.request_header(action::SHELL_SEND, &resource);
            shell.input.send(&header, &body).await?;
        }
        Ok(())
    }

    /// Send a signal. Windows clients send [`Signal::Terminate`] after a command is done.
    pub async fn signal(&self, signal: Signal) -> Result<(), ClientError> {
        let shell = &self.shell;
        let header = shell
            .control
            .request_header(action::SHELL_SIGNAL, &shell.resource());
        let body = wsman_proto::shell::Signal::new(Some(&self.id), signal).to_xml();
        shell.control.send(&header, &body).await.map(|_| ())
    }

    /// Tell the command's terminal its new window size (wsmand's resize signal; a shell
    /// opened with [`ShellOptions::terminal`]). Zero rows or columns are sent as one.
    pub async fn resize(&self, rows: u16, columns: u16) -> Result<(), ClientError> {
        let shell = &self.shell;
        let header = shell
            .control
            .request_header(action::SHELL_SIGNAL, &shell.resource());
        let size = wsman_proto::shell::TerminalSize {
            rows: rows.max(1),
            columns: columns.max(1),
        };
        let body = wsman_proto::shell::Signal::window_size(&self.id, size).to_xml();
        shell.control.send(&header, &body).await.map(|_| ())
    }

    /// A reader of the command's output streams. Each Receive takes a connection of its own
    /// from the shared pool while it waits. Use one reader per command until it returns
    /// `None`: while the command runs, a reader has the next Receive in flight (see
    /// [`OutputReader`]), so output answered to a reader that is then dropped is not
    /// delivered to a later one.
    pub fn output(&self) -> Result<OutputReader, ClientError> {
        Ok(OutputReader::new(
            self.shell.control.fork()?,
            self.shell.clone(),
            self.id.clone(),
        ))
    }

    /// Read all output until the command exits.
    pub async fn collect(&self) -> Result<CommandOutput, ClientError> {
        self.collect_from(self.output()?).await
    }

    async fn collect_from(&self, mut reader: OutputReader) -> Result<CommandOutput, ClientError> {
        let mut out = CommandOutput::default();
        while let Some(event) = reader.next().await? {
            match event {
                Output::Data { stream, data } if stream == "stderr" => {
                    out.stderr.extend_from_slice(&data)
                }
                Output::Data { data, .. } => out.stdout.extend_from_slice(&data),
                Output::Exited { exit_code } => out.exit_code = exit_code,
            }
        }
        Ok(out)
    }
}

/// Run one command to completion in a shell of its own, as pywinrm's `run_cmd` does: Create,
/// Command, `stdin` then End, Receive until Done, Signal terminate, Delete. The shell is
/// deleted even when the command fails.
pub async fn run_command(
    client: &Client,
    command: &str,
    arguments: &[String],
    stdin: &[u8],
    shell_options: &ShellOptions,
    command_options: &CommandOptions,
) -> Result<CommandOutput, ClientError> {
    let shell = Shell::open(client, shell_options).await?;
    let result = async {
        let running = shell.run(command, arguments, command_options).await?;
        let reader = running.output()?;
        // Input and output at once: a command may fill its output before reading all input.
        let (sent, output) = tokio::join!(running.send(stdin, true), running.collect_from(reader));
        let output = output?;
        // Input refused because the command exited first is not an error of the run.
        drop(sent);
        let _ = running.signal(Signal::Terminate).await;
        Ok(output)
    }
    .await;
    let closed = shell.close().await;
    let output = result?;
    closed.map(|()| output)
}

/// True for the `w:TimedOut` fault a Receive gets when there is no output yet.
pub fn is_timed_out(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Fault {
            wsman_code: Some(TIMED_OUT_CODE),
            ..
        }
    )
}
