//! WinRS remote shells over WS-Management: the `.../windows/shell/cmd` resource (Create,
//! Delete, Get, Command, Send, Receive, Signal), the shell inventory `.../windows/shell`
//! (Enumerate the caller's shells, Get one) and the command inventory
//! `.../windows/shell/Command` (Enumerate with a ShellId SelectorFilter).
//!
//! One [`ShellManager`] serves the whole service, so shells outlive the TCP connection that
//! created them. Shell operations are open to any authenticated identity that maps to a Linux
//! user (the shell runs as that user); ownership is checked by the engine, which reports
//! another user's shell as unknown. Every [`ShellError`] becomes its Windows fault in
//! [`crate::error::shell_fault`].
//!
//! Send is all-or-nothing: the engine queues its data whole into the command's bounded stdin
//! queue (MaxEnvelopeSizekb), or, when the child does not read and the queue stays full for the
//! operation budget, refuses it whole with `w:TimedOut` before any byte of it is written, so a
//! client's retry neither loses nor duplicates input.
//!
//! A declared output stream the client never asks for fills its bounded buffer and then blocks
//! the child; each Receive still answers `w:TimedOut` in time.
//!
//! Disconnect, Reconnect and Connect (MS-WSMV 3.1.4.15-17) act on the cmd shell as the
//! engine documents (see `wsman_shell`'s "Disconnected shells"); the client session is the
//! request's `p:SessionId`. Enumerate and Get report each shell's `rsp:State`.
//!
//! Receive is a long poll bounded by the operation budget (OperationTimeout capped by
//! MaxTimeoutms). It runs inside the request's future, never in a detached task: if the client
//! disconnects, the future is dropped before any output is taken (the engine takes output and
//! returns in one step), so nothing is lost; a response lost after that is replayed through the
//! Receive SequenceId.

use wsman_proto::envelope::SelectorSet;
use wsman_proto::ns::action;
use wsman_proto::operation::ShellResource::{Cmd, Commands, PowerShell, Shells};
use wsman_proto::operation::{Action, Resource, ShellResource};
use wsman_proto::shell::requests::{CommandLine, Receive, Send, ShellCreate, Signal, WinrsOptions};
use wsman_proto::shell::responses::{self, CommandResponse, CreateResponse};
use wsman_proto::shell::SignalCode;
use wsman_proto::shell::{self, Connect, ConnectResponse};
use wsman_proto::{Fault, Request};
use wsman_providers::Item;
use wsman_shell::{
    CommandSpec, ReceiveOutcome, ReceiveRequest, SendOutcome, ShellError, ShellLimits,
    ShellManager, ShellOptions, ShellOwner, ShellSignal, TerminalOptions, WindowSize,
};

use super::request::{
    disconnect, no_command_id, not_supported, receive_capacity, reconnect, run_as_user, shell_id,
    Budget,
};
use super::{describe, psrp, PowerShellBridge};
use crate::engine::Answer;
use crate::error::shell_fault;
use wsman_providers::Caller;

/// The shell subsystem of the service.
#[derive(Debug, Clone)]
pub struct ShellService {
    manager: ShellManager,
    powershell: PowerShellBridge,
}

impl ShellService {
    /// Starts the engine (inside the Tokio runtime); it logs which mechanism enforces the
    /// per-shell limits on this host.
    pub fn start(limits: ShellLimits) -> Result<Self, ShellError> {
        let manager = ShellManager::new(limits, "wsmand")?;
        let report = manager.limit_report();
        tracing::info!(
            processes = %report.processes,
            memory = %report.memory,
            cgroups = report.cgroups,
            switch_user = report.switch_user,
            "WinRS shells ready"
        );
        Ok(Self {
            manager,
            powershell: PowerShellBridge::default(),
        })
    }

    /// The engine (tests and diagnostics).
    pub fn manager(&self) -> &ShellManager {
        &self.manager
    }

    /// The PowerShell plug-in's shells.
    pub fn powershell(&self) -> &PowerShellBridge {
        &self.powershell
    }

    /// Apply changed `winrm/config/winrs` limits (quotas apply from now on).
    pub fn set_limits(&self, limits: ShellLimits) {
        if self.manager.limits() != limits {
            self.manager.set_limits(limits);
        }
    }

    /// Every operation but Enumerate and Receive ([`Self::receive_answer`]). Returns the
    /// response Action and body.
    pub async fn operate(
        &self,
        request: &Request,
        caller: &Caller,
        address: &str,
        budget: Budget,
    ) -> Result<(&'static str, String), Fault> {
        match request.operation.resource {
            // The PowerShell plug-in ([`psrp`]): its `protocolversion` option is PSRP's, not a
            // WinRS option.
            Resource::Shell(PowerShell) => {
                let op = psrp::Op {
                    manager: &self.manager,
                    request,
                    caller,
                    budget,
                };
                self.powershell.operate(&op, address).await
            }
            Resource::Shell(resource) => {
                self.winrs_operate(request, resource, caller, address, budget)
                    .await
            }
            _ => Err(not_supported(request)),
        }
    }

    /// A request of a WinRS resource (`resource`), after its WinRS options.
    async fn winrs_operate(
        &self,
        request: &Request,
        resource: ShellResource,
        caller: &Caller,
        address: &str,
        budget: Budget,
    ) -> Result<(&'static str, String), Fault> {
        let options = WinrsOptions::parse(&request.options)?;
        match (&request.operation.action, resource) {
            (Action::Create, Cmd) => self.create(request, caller, address, &options).await,
            (Action::Delete, Cmd) => {
                let id = shell_id(&request.selectors)?;
                self.manager
                    .delete_shell(&caller.owner_key(), &id)
                    .await
                    .map_err(shell_fault)?;
                Ok((action::DELETE_RESPONSE, String::new()))
            }
            (Action::Get, Cmd | Shells) => {
                let id = shell_id(&request.selectors)?;
                let info = self
                    .manager
                    .shell_info(&caller.owner_key(), &id)
                    .map_err(shell_fault)?;
                let limits = self.manager.limits();
                Ok((
                    action::GET_RESPONSE,
                    describe::full(&info, request, &limits).to_xml(),
                ))
            }
            (Action::Command, Cmd) => self.command(request, caller, &options).await,
            (Action::Send, Cmd) => self.send(request, caller, budget).await,
            (Action::Signal, Cmd) => self.signal(request, caller).await,
            (Action::Disconnect, Cmd) => disconnect(&self.manager, request, caller),
            (Action::Reconnect, Cmd) => reconnect(&self.manager, request, caller),
            (Action::Connect, Cmd) => {
                let id = shell_id(&request.selectors)?;
                Connect::parse(request.body.as_ref())?;
                let info = self
                    .manager
                    .connect(&caller.owner_key(), &id, request.session_id.as_deref())
                    .map_err(shell_fault)?;
                Ok((
                    shell::action::CONNECT_RESPONSE,
                    ConnectResponse::new(info.input_streams, info.output_streams).to_xml(),
                ))
            }
            _ => Err(not_supported(request)),
        }
    }

    /// Enumerate items of the shell inventory or of a shell's commands.
    pub fn enumerate(
        &self,
        request: &Request,
        caller: &Caller,
        filter: Option<SelectorSet>,
    ) -> Result<Vec<Item>, Fault> {
        let limits = self.manager.limits();
        match request.operation.resource {
            Resource::Shell(Shells) => Ok(self
                .manager
                .list_shells(&caller.owner_key())
                .iter()
                .map(|info| {
                    let mut described = describe::full(info, request, &limits);
                    // A PowerShell shell is its plug-in's, as Windows lists it (its plug-in
                    // host has no working directory of the client's).
                    if let Some((uri, _)) = self.powershell.inventory(&info.shell_id) {
                        described.resource_uri = uri;
                        described.working_directory = None;
                    }
                    Item::Xml {
                        xml: described.to_xml(),
                        resource_uri: shell::uri::SHELLS.to_owned(),
                        selectors: vec![("ShellId".to_owned(), info.shell_id.clone())],
                    }
                })
                .collect()),
            Resource::Shell(Commands) => self.enumerate_commands(caller, filter),
            _ => Err(Fault::action_not_supported(action::ENUMERATE)),
        }
    }

    /// The commands of the shell a SelectorFilter names (a PowerShell shell's: its pipelines).
    fn enumerate_commands(
        &self,
        caller: &Caller,
        filter: Option<SelectorSet>,
    ) -> Result<Vec<Item>, Fault> {
        let id = filter
            .as_ref()
            .and_then(|f| f.get("ShellId").map(str::to_owned))
            .ok_or_else(|| {
                Fault::invalid_parameter(
                    "The WS-Management service cannot enumerate shell commands without a SelectorFilter naming the ShellId. ",
                )
                .with_code(ENUMERATE_SHELLCOMMANDS_FILTER_EXPECTED)
            })?;
        let info = self
            .manager
            .shell_info(&caller.owner_key(), &id)
            .map_err(shell_fault)?;
        // A PowerShell shell's commands are its pipelines, not its pwsh.
        let item = |command_id: String, xml: String| Item::Xml {
            xml,
            resource_uri: shell::uri::COMMANDS.to_owned(),
            selectors: vec![
                ("ShellId".to_owned(), info.shell_id.clone()),
                ("CommandId".to_owned(), command_id),
            ],
        };
        Ok(match self.powershell.inventory(&info.shell_id) {
            Some((_, pipelines)) => pipelines
                .into_iter()
                .map(|(id, ended)| {
                    let xml = describe::pipeline_item(&id, ended).to_xml();
                    item(id, xml)
                })
                .collect(),
            None => info
                .commands
                .iter()
                .map(|c| item(c.command_id.clone(), describe::command_item(c).to_xml()))
                .collect(),
        })
    }

    async fn create(
        &self,
        request: &Request,
        caller: &Caller,
        address: &str,
        options: &WinrsOptions,
    ) -> Result<(&'static str, String), Fault> {
        let body = ShellCreate::parse(request.body.as_ref())?;
        let run_as = run_as_user(caller).await?;
        let mut shell_options = ShellOptions::default();
        shell_options.shell_id = body.shell_id.clone();
        shell_options.name = body.name.clone();
        shell_options.working_directory = body.working_directory.as_ref().map(Into::into);
        shell_options.environment = body.environment.clone();
        shell_options.no_profile = options.no_profile.unwrap_or(false);
        shell_options.codepage = options.codepage;
        shell_options.idle_timeout = body.idle_timeout;
        shell_options.lifetime = body.lifetime;
        shell_options.input_streams = body.input_streams.clone();
        shell_options.output_streams = body.output_streams.clone();
        shell_options.client_session = request.session_id.clone();
        shell_options.terminal = options.terminal.as_ref().map(|terminal| {
            TerminalOptions::new(
                terminal.term.clone(),
                WindowSize::new(terminal.size.rows, terminal.size.columns),
            )
        });
        let mut owner = ShellOwner::new(&caller.principal, run_as, caller.client_ip);
        owner.linux_account = caller.linux_account;
        let info = self
            .manager
            .create_shell(owner, shell_options)
            .await
            .map_err(shell_fault)?;
        let description = describe::created(&info, body.working_directory.as_deref());
        Ok((
            action::CREATE_RESPONSE,
            CreateResponse::new(address, description).to_xml(),
        ))
    }

    async fn command(
        &self,
        request: &Request,
        caller: &Caller,
        options: &WinrsOptions,
    ) -> Result<(&'static str, String), Fault> {
        let id = shell_id(&request.selectors)?;
        let line = CommandLine::parse(request.body.as_ref())?;
        let mut spec = CommandSpec::new(line.command, line.arguments);
        spec.command_id = line.command_id;
        spec.skip_cmd_shell = options.skip_cmd_shell.unwrap_or(false);
        spec.console_mode_stdin = options.console_mode_stdin.unwrap_or(false);
        let command_id = self
            .manager
            .run_command(&caller.owner_key(), &id, spec)
            .await
            .map_err(shell_fault)?;
        Ok((
            shell::action::COMMAND_RESPONSE,
            CommandResponse { command_id }.to_xml(),
        ))
    }

    async fn send(
        &self,
        request: &Request,
        caller: &Caller,
        budget: Budget,
    ) -> Result<(&'static str, String), Fault> {
        let id = shell_id(&request.selectors)?;
        let send = Send::parse(request.body.as_ref())?;
        // Each Send is all-or-nothing: the engine queues a chunk whole or refuses it whole
        // (w:TimedOut) when the command's input queue stays full for the operation timeout, so a
        // client that retries neither loses nor duplicates input. Streams of one Send that
        // address the same command and stream are merged into one chunk, so the whole Send is
        // taken or refused as one.
        let mut targets: Vec<(String, String, Vec<u8>, bool)> = Vec::new();
        for stream in &send.streams {
            let command_id = stream.command_id.as_deref().ok_or_else(no_command_id)?;
            match targets.last_mut() {
                Some((id, name, data, end))
                    if id.eq_ignore_ascii_case(command_id) && *name == stream.name && !*end =>
                {
                    data.extend_from_slice(&stream.data);
                    *end = stream.end;
                }
                _ => targets.push((
                    command_id.to_owned(),
                    stream.name.clone(),
                    stream.data.clone(),
                    stream.end,
                )),
            }
        }
        for (command_id, stream, data, end) in &targets {
            let left = budget.remaining();
            let outcome = self
                .manager
                .send(
                    &caller.owner_key(),
                    &id,
                    command_id,
                    stream,
                    data,
                    *end,
                    left,
                )
                .await
                .map_err(shell_fault)?;
            if outcome != SendOutcome::Accepted {
                return Err(Fault::timed_out());
            }
        }
        Ok((shell::action::SEND_RESPONSE, responses::send_response()))
    }

    /// A Receive of the cmd shell, answered with the output as the engine holds it (the
    /// renderer writes the ReceiveResponse around it).
    pub async fn receive_answer(
        &self,
        request: &Request,
        caller: &Caller,
        budget: Budget,
    ) -> Result<Answer, Fault> {
        // The request read whole (options, then body) before the shell it names is looked up.
        WinrsOptions::parse(&request.options)?;
        let receive = Receive::parse(request.body.as_ref())?;
        let command_id = receive.command_id.clone().ok_or_else(no_command_id)?;
        let id = shell_id(&request.selectors)?;
        let mut wanted = ReceiveRequest::new(receive.streams.clone(), budget.remaining());
        wanted.sequence_id = receive.sequence_id;
        (_, wanted.max_bytes) = receive_capacity(request, budget, &receive.streams, &command_id)?;
        let outcome = self
            .manager
            .receive(&caller.owner_key(), &id, &command_id, &wanted)
            .await
            .map_err(shell_fault)?;
        match outcome {
            ReceiveOutcome::Output(output) => Ok(Answer::Receive { output, command_id }),
            // Nothing within the budget.
            _ => Err(Fault::timed_out()),
        }
    }

    async fn signal(
        &self,
        request: &Request,
        caller: &Caller,
    ) -> Result<(&'static str, String), Fault> {
        let id = shell_id(&request.selectors)?;
        let signal = Signal::parse(request.body.as_ref())?;
        let command_id = signal.command_id.as_deref().ok_or_else(no_command_id)?;
        let code = match signal.code {
            SignalCode::CtrlC => Ok(ShellSignal::CtrlC),
            SignalCode::CtrlBreak => Ok(ShellSignal::CtrlBreak),
            SignalCode::Terminate => Ok(ShellSignal::Terminate),
            // Parsing made sure the size is there.
            SignalCode::WindowSize => signal
                .window_size
                .map(|size| ShellSignal::WindowSize(WindowSize::new(size.rows, size.columns)))
                .ok_or_else(|| Fault::invalid_parameter("The parameter is incorrect. ")),
            SignalCode::PsrpStop | SignalCode::Other(_) => Err(Fault::invalid_parameter(format!(
                "The signal code {:?} is not supported by the cmd shell. ",
                signal.code.uri()
            ))),
        }?;
        self.manager
            .signal(&caller.owner_key(), &id, command_id, code)
            .await
            .map_err(shell_fault)?;
        Ok((shell::action::SIGNAL_RESPONSE, responses::signal_response()))
    }
}

/// `ERROR_WSMAN_ENUMERATE_SHELLCOMAMNDS_FILTER_EXPECTED` (sic).
const ENUMERATE_SHELLCOMMANDS_FILTER_EXPECTED: u32 = 2150859200;
