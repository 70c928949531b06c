//! The PowerShell plug-in (`http://schemas.microsoft.com/powershell/Microsoft.PowerShell`)
//! bridged to `pwsh -s`, PowerShell's server mode, whose out-of-process transport is what SSH
//! remoting uses.
//!
//! | WinRM | `pwsh -s` |
//! |---|---|
//! | Create (`creationXml`: the pool's first fragments) | start `pwsh -s -NoLogo -NoProfile`, then `<Data PSGuid=nil>` |
//! | Command (CommandId chosen by the client = the pipeline's id, `Arguments`: its first fragments) | `<Command PSGuid>`, `<Data PSGuid>` |
//! | Send `stdin` / `pr` (with or without CommandId) | `<Data Stream='Default'/'PromptResponse'>` |
//! | Receive `stdout` (with a CommandId: the pipeline's, else the pool's) | the host's `<Data>` for that PSGuid, whole fragments, within MaxEnvelopeSize |
//! | Signal `powershell/signal/crtl_c` | `<Signal PSGuid>` |
//! | Signal terminate | `<Signal>` if the pipeline still runs, then `<Close PSGuid>`; the CommandId is released |
//! | Delete | `<Close PSGuid=nil>` (within the Delete's OperationTimeout), then the shell's processes are ended |
//! | Disconnect, Reconnect | the engine's: pwsh runs on, its output is read and held (bounded) |
//! | Connect (`connectXml`) | answered by the bridge (see [`connect`]): pwsh -s has no connect |
//!
//! The host is a command of an ordinary engine shell: it runs as the authenticated user, in
//! the PAM session and the shell's cgroup, under every WinRS quota (MaxShellsPerUser,
//! MaxProcessesPerShell, memory, IdleTimeout, MaxShellRunTime); when the engine ends the shell,
//! the host goes with it and the bridge forgets the session. A pipeline ends when its
//! PIPELINE_STATE message has arrived whole (only fragment headers are read). A host that
//! exits, writes what is not the protocol, or writes an endless line is terminated; Receives
//! then deliver what was held and answer with a fault naming why.

mod compression;
mod connect;
mod message;
#[cfg(test)]
mod owner_tests;
mod session;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use base64::Engine as _;
use uuid::Uuid;
use wsman_principal::OwnerKey;
use wsman_proto::ns::action;
use wsman_proto::operation::Action;
use wsman_proto::refusal_log::{RefusalLimits, RefusalLog};
use wsman_proto::shell::psrp::{DataStream, Packet};
use wsman_proto::shell::requests::{CommandLine, Receive, Send, ShellCreate, Signal};
use wsman_proto::shell::responses::{
    self, CommandResponse, CommandStateValue, CreateResponse, ReceiveResponse,
};
use wsman_proto::shell::{self, SignalCode, StreamData};
use wsman_proto::xml::Element;
use wsman_proto::{Fault, Request};
use wsman_shell::{CommandSpec, SendOutcome, ShellError, ShellManager, ShellOptions, ShellOwner};
use wsman_work::{Lane, WorkPool};

use super::describe;
use super::request::{
    self, no_command_id, not_supported, receive_capacity, run_as_user, shell_id, Budget,
};
use crate::error::{pipelines_quota_fault, psrp_input_fault, pwsh_broken_fault, shell_fault};
use compression::{Compression, InputBudget};
use session::{PipelineRefused, Session, Taken};
use wsman_proto::shell::psrp_input::{InputError, InputOrder};
use wsman_providers::Caller;

/// The configuration names served: Windows' default session configuration.
pub(super) const CONFIGURATION: &str = "microsoft.powershell";
/// The PSRP namespace of `creationXml`.
const PSRP_NS: &str = wsman_proto::ns::POWERSHELL;

type Sessions = Arc<Mutex<HashMap<String, Arc<Session>>>>;
/// A response's Action and body.
type Answer = (&'static str, String);

/// One request to a PowerShell shell: what every handler is given.
pub(super) struct Op<'a> {
    pub(super) manager: &'a ShellManager,
    pub(super) request: &'a Request,
    pub(super) caller: &'a Caller,
    pub(super) budget: Budget,
}

/// The PowerShell shells of the service.
#[derive(Clone)]
pub struct PowerShellBridge {
    sessions: Sessions,
    /// Refused client fragments, logged a line per user at most every 10 s.
    refusals: Arc<RefusalLog<String>>,
    /// The configured path of pwsh; `None`: looked up on PATH at each Create.
    pwsh: Arc<RwLock<Option<PathBuf>>>,
}

impl Default for PowerShellBridge {
    fn default() -> Self {
        Self {
            sessions: Sessions::default(),
            refusals: Arc::new(RefusalLog::new(RefusalLimits {
                interval: std::time::Duration::from_secs(10),
                per_key: 1,
                total: 20,
                max_keys: 256,
            })),
            pwsh: Arc::default(),
        }
    }
}

impl std::fmt::Debug for PowerShellBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerShellBridge").finish_non_exhaustive()
    }
}

impl PowerShellBridge {
    /// Sets where pwsh is (`None`: found on PATH).
    pub fn set_pwsh(&self, path: Option<PathBuf>) {
        *self.pwsh.write().unwrap_or_else(PoisonError::into_inner) = path;
    }

    /// The ResourceURI of a bridged shell and its pipelines with whether each has ended
    /// (Enumerate); `None` for a shell the bridge does not serve.
    pub(super) fn inventory(&self, shell_id: &str) -> Option<(String, Vec<(String, bool)>)> {
        let session = self.lock().get(&shell_id.to_ascii_uppercase()).cloned()?;
        let pipelines = session.pipelines();
        let pipelines = pipelines.into_iter().map(|(id, ended)| (upper(id), ended));
        Some((session.resource_uri.clone(), pipelines.collect()))
    }

    /// Every request of the plug-in: Create, Disconnect, Reconnect and Connect, else a
    /// request on a bridged shell of the caller's.
    pub(super) async fn operate(&self, op: &Op<'_>, address: &str) -> Result<Answer, Fault> {
        let (manager, request, caller) = (op.manager, op.request, op.caller);
        match &request.operation.action {
            Action::Create => self.create(op, address).await,
            Action::Disconnect => request::disconnect(manager, request, caller),
            Action::Reconnect => request::reconnect(manager, request, caller),
            Action::Connect => self.connect(op),
            Action::Command | Action::Send | Action::Receive | Action::Signal | Action::Delete => {
                let session = self.session(caller, request)?;
                self.on_session(op, &session).await
            }
            _ => Err(not_supported(request)),
        }
    }

    /// A request on a bridged shell of the caller's.
    async fn on_session(&self, op: &Op<'_>, session: &Arc<Session>) -> Result<Answer, Fault> {
        match &op.request.operation.action {
            Action::Command => self.command(op, session).await,
            Action::Send => self.send(op, session).await,
            Action::Receive => self.receive(op, session).await,
            Action::Signal => self.signal(op, session).await,
            _ => {
                // A second of the Delete's time is left for ending the processes.
                let close_within = op
                    .budget
                    .remaining()
                    .saturating_sub(CLOSE_AT_LEAST)
                    .max(CLOSE_AT_LEAST);
                self.delete_session(op.manager, session, close_within).await;
                Ok((action::DELETE_RESPONSE, String::new()))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn session(&self, caller: &Caller, request: &Request) -> Result<Arc<Session>, Fault> {
        let id = shell_id(&request.selectors)?.to_ascii_uppercase();
        match self.lock().get(&id) {
            Some(s) if s.owner.is(&caller.owner_key()) => Ok(Arc::clone(s)),
            _ => Err(shell_fault(ShellError::UnknownShell { shell_id: id })),
        }
    }

    /// The pwsh to start: the configured one, else `pwsh` on PATH.
    fn pwsh(&self) -> Result<PathBuf, Fault> {
        let configured = self
            .pwsh
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let found = match &configured {
            Some(path) => is_executable(path).then(|| path.clone()),
            None => std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("pwsh"))
                    .find(|p| is_executable(p))
            }),
        };
        found.ok_or_else(|| {
            let what = match &configured {
                Some(path) => format!("the configured pwsh {} is not an executable file", path.display()),
                None => "pwsh was not found on the service's PATH".to_owned(),
            };
            tracing::warn!(reason = %what, "PowerShell shell refused");
            Fault::internal_error(format!(
                "The WS-Management service cannot create a PowerShell shell: PowerShell is not installed ({what}). Install PowerShell 7 (pwsh) or set the plug-in's pwsh path. "
            ))
        })
    }

    /// Create: a shell of the engine whose one command is `pwsh -s`, fed the `creationXml`.
    async fn create(&self, op: &Op<'_>, address: &str) -> Result<Answer, Fault> {
        let (manager, request, caller) = (op.manager, op.request, op.caller);
        check_configuration(request)?;
        let body = ShellCreate::parse(request.body.as_ref())?;
        let creation = creation_xml(request.body.as_ref())?;
        let compression = Compression::of_create(request)?;
        let order = self.checked(caller, InputOrder::default(), &creation)?;
        let pwsh = self.pwsh()?;
        let run_as = run_as_user(caller).await?;
        let mut options = ShellOptions::default();
        options.shell_id = body.shell_id.clone();
        options.name = body.name.clone();
        options.idle_timeout = body.idle_timeout;
        options.lifetime = body.lifetime;
        options.input_streams = vec!["stdin".to_owned(), "pr".to_owned()];
        options.output_streams = vec!["stdout".to_owned()];
        options.client_session = request.session_id.clone();
        options.no_profile = true;
        let mut owner = ShellOwner::new(&caller.principal, run_as, caller.client_ip);
        owner.linux_account = caller.linux_account;
        let info = manager
            .create_shell(owner, options)
            .await
            .map_err(shell_fault)?;
        let mut spec = CommandSpec::new(
            pwsh.to_string_lossy().into_owned(),
            ["-s", "-NoLogo", "-NoProfile"].map(str::to_owned).to_vec(),
        );
        spec.skip_cmd_shell = true;
        let host = match manager
            .run_command(&caller.owner_key(), &info.shell_id, spec)
            .await
        {
            Ok(host) => host,
            Err(error) => {
                let _ = manager
                    .delete_shell(&caller.owner_key(), &info.shell_id)
                    .await;
                return Err(shell_fault(error));
            }
        };
        let limit = manager.limits().output_buffer_bytes;
        let mut session = Session::new(
            info.shell_id.clone(),
            caller.owner_key(),
            host,
            limit,
            compression,
        );
        session.runspaces = (
            message::clixml_u32(&creation, "MinRunspaces").unwrap_or(1),
            message::clixml_u32(&creation, "MaxRunspaces").unwrap_or(1),
        );
        session.resource_uri = request.resource_uri.clone().unwrap_or_default();
        session.set_input_order(Uuid::nil(), false, order);
        let session = Arc::new(session);
        self.lock()
            .insert(info.shell_id.clone(), Arc::clone(&session));
        tokio::spawn(session::pump(
            manager.clone(),
            Arc::clone(&session),
            Arc::downgrade(&self.sessions),
        ));
        let packet = Packet::Data {
            stream: DataStream::Default,
            guid: Uuid::nil(),
            data: creation,
        };
        if let Err(fault) = write(
            manager,
            &session,
            &[packet],
            std::time::Duration::from_secs(10),
        )
        .await
        {
            self.delete_session(manager, &session, CLOSE_AT_LEAST).await;
            return Err(fault);
        }
        let mut description = describe::created(&info, None);
        description.resource_uri = request.resource_uri.clone().unwrap_or_default();
        description.compression_mode = Some(compression.mode().to_owned());
        Ok((
            action::CREATE_RESPONSE,
            CreateResponse::new(address, description).to_xml(),
        ))
    }

    /// Command: a pipeline whose id is the CommandId (the client's, or a new one).
    async fn command(&self, op: &Op<'_>, session: &Session) -> Result<Answer, Fault> {
        let line = CommandLine::parse(op.request.body.as_ref())?;
        let id = match &line.command_id {
            Some(id) => parse_guid(id)?,
            None => Uuid::new_v4(),
        };
        let mut data = Vec::new();
        for argument in &line.arguments {
            data.extend(decode(argument)?);
        }
        let order = self.checked(op.caller, InputOrder::default(), &data)?;
        session.add_pipeline(id).map_err(|refused| match refused {
            PipelineRefused::InUse => shell_fault(ShellError::CommandIdInUse {
                command_id: upper(id),
            }),
            PipelineRefused::TooMany(limit) => pipelines_quota_fault(limit),
        })?;
        let packets = [
            Packet::Command(id),
            Packet::Data {
                stream: DataStream::Default,
                guid: id,
                data,
            },
        ];
        write(op.manager, session, &packets, op.budget.remaining())
            .await
            .inspect_err(|_| {
                session.remove_pipeline(id);
            })?;
        session.set_input_order(id, false, order);
        Ok((
            shell::action::COMMAND_RESPONSE,
            CommandResponse {
                command_id: upper(id),
            }
            .to_xml(),
        ))
    }

    /// Send: each stream's data as one Data packet of its pipeline (or of the pool), all of
    /// them within one [`InputBudget`] of the shell's input queue.
    async fn send(&self, op: &Op<'_>, session: &Session) -> Result<Answer, Fault> {
        let send = Send::parse(op.request.body.as_ref())?;
        let mut budget = InputBudget::of_queue(op.manager.limits().input_buffer_bytes);
        let deadline = op.budget.deadline;
        let mut packets = Vec::new();
        // Where each stream's fragments will stand once pwsh has taken this Send.
        let mut orders: Vec<((Uuid, bool), InputOrder)> = Vec::new();
        for stream in send.streams {
            let stream_type = match stream.name.as_str() {
                "stdin" => Ok(DataStream::Default),
                "pr" => Ok(DataStream::PromptResponse),
                other => Err(shell_fault(ShellError::UnknownInputStream {
                    stream: other.to_owned(),
                })),
            }?;
            let guid = match &stream.command_id {
                Some(id) => self.known_pipeline(session, id)?,
                None => Uuid::nil(),
            };
            if !stream.data.is_empty() {
                let key = (guid, stream_type == DataStream::PromptResponse);
                let before = match orders.iter().rev().find(|(k, _)| *k == key) {
                    Some((_, order)) => *order,
                    None => session.input_order(key.0, key.1),
                };
                // The fragments are checked as pwsh would read them: decompressed first.
                let mut packet = Packet::Data {
                    stream: stream_type,
                    guid,
                    data: Vec::new(),
                };
                let markup = packet.to_line().len();
                let (compression, data) = (session.compression, stream.data);
                let data = match compression {
                    Compression::None => compression.inflate(data, &budget, markup)?,
                    Compression::Xpress => {
                        let inflate = move || compression.inflate(data, &budget, markup);
                        bulk(&session.owner, deadline, inflate).await??
                    }
                };
                budget.spend(markup, data.len());
                orders.push((key, self.checked(op.caller, before, &data)?));
                if let Packet::Data { data: slot, .. } = &mut packet {
                    *slot = data;
                }
                packets.push(packet);
            }
        }
        write(op.manager, session, &packets, op.budget.remaining()).await?;
        for ((guid, prompt), order) in orders {
            session.set_input_order(guid, prompt, order);
        }
        Ok((shell::action::SEND_RESPONSE, responses::send_response()))
    }

    /// The order after the client's `data`, or the fault refusing it (logged, rate-limited):
    /// nothing of it reaches pwsh.
    fn checked(
        &self,
        caller: &Caller,
        order: InputOrder,
        data: &[u8],
    ) -> Result<InputOrder, Fault> {
        order.after(data).map_err(|error| {
            self.log_refused(caller, &error);
            psrp_input_fault(&error)
        })
    }

    /// Logs a refusal of PSRP data, at a bounded rate per user.
    fn log_refused(&self, caller: &Caller, error: &InputError) {
        let admission = self
            .refusals
            .admit(caller.user.clone(), "psrp", std::time::Instant::now());
        for left in &admission.ended {
            tracing::warn!(
                user = left.key.as_deref().unwrap_or("(other users)"),
                refused = left.count,
                "more PSRP data refused (not logged one by one)"
            );
        }
        if admission.log {
            tracing::warn!(user = %caller.user, %error, "PSRP data refused");
        }
    }

    fn known_pipeline(&self, session: &Session, id: &str) -> Result<Uuid, Fault> {
        let guid = parse_guid(id)?;
        if session.has_pipeline(guid) {
            Ok(guid)
        } else {
            Err(shell_fault(ShellError::UnknownCommand {
                shell_id: session.shell_id.clone(),
                command_id: id.to_owned(),
            }))
        }
    }

    /// Receive: whole fragments of the pipeline's (or the pool's) output; a pipeline's
    /// response that carries its PIPELINE_STATE says Done.
    async fn receive(&self, op: &Op<'_>, session: &Session) -> Result<Answer, Fault> {
        // The bridge holds the output itself: a disconnected shell's is kept for whoever
        // reconnects or connects.
        op.manager
            .ensure_connected(&op.caller.owner_key(), &session.shell_id)
            .map_err(shell_fault)?;
        let budget = op.budget;
        let receive = Receive::parse(op.request.body.as_ref())?;
        let command_id = receive.command_id.as_deref();
        let guid = command_id.map(parse_guid).transpose()?.unwrap_or_default();
        let (taken, capacity) = receive_capacity(
            op.request,
            budget,
            &receive.streams,
            command_id.unwrap_or(""),
        )?;
        let capacity = session.compression.capacity(capacity);
        let unknown = || {
            shell_fault(ShellError::UnknownCommand {
                shell_id: session.shell_id.clone(),
                command_id: command_id.unwrap_or("").to_owned(),
            })
        };
        let (data, ended) = match session.take(guid, capacity, budget.deadline).await {
            Taken::Output { data, ended } => Ok((data, ended)),
            Taken::TimedOut => Err(Fault::timed_out()),
            Taken::Unknown => Err(unknown()),
            Taken::AlreadyDone => Err(shell_fault(ShellError::CommandAlreadyDone {
                command_id: command_id.unwrap_or("").to_owned(),
            })),
            Taken::Broken(reason) => Err(pwsh_broken_fault(&reason)),
            // Too short to cut: the envelope (render::room's length) with its base64.
            Taken::TooLarge(size) => Err(Fault::max_envelope_size_exceeded(
                taken.saturating_add(wsman_proto::shell::encoded_base64_len(size)),
                budget.max_envelope,
            )),
        }?;
        let state = command_id.map(|id| {
            let value = if ended {
                CommandStateValue::Done { exit_code: Some(0) }
            } else {
                CommandStateValue::Running
            };
            (Some(id.to_ascii_uppercase()), value)
        });
        let command_id = command_id.map(str::to_owned);
        let compression = session.compression;
        let build = move || {
            let data = compression.deflate(data);
            // No `End`: Windows' recorded PSRP answers (`psrp-receive.streams`, `.failed`) end
            // a pipeline with CommandState Done alone; its stream never ends apart from it.
            let stream = StreamData::new("stdout", command_id.as_deref(), data, false);
            ReceiveResponse::new(vec![stream], state).to_xml()
        };
        let deadline = budget.deadline;
        let body = bulk(&session.owner, deadline, build).await?;
        Ok((shell::action::RECEIVE_RESPONSE, body))
    }

    /// Signal: stop (`crtl_c`) or terminate (stop if running, then release) a pipeline.
    async fn signal(&self, op: &Op<'_>, session: &Session) -> Result<Answer, Fault> {
        let signal = Signal::parse(op.request.body.as_ref())?;
        let id = signal.command_id.as_deref().ok_or_else(no_command_id)?;
        let guid = self.known_pipeline(session, id)?;
        let packets = match signal.code {
            SignalCode::PsrpStop | SignalCode::CtrlC => Ok(vec![Packet::Signal(guid)]),
            // pypsrp sends the stop code relative: `powershell/signal/ctrl_c`.
            SignalCode::Other(ref code) if is_stop_code(code) => Ok(vec![Packet::Signal(guid)]),
            SignalCode::Terminate => {
                let ended = session.remove_pipeline(guid).unwrap_or(true);
                let mut packets = Vec::new();
                if !ended {
                    packets.push(Packet::Signal(guid));
                }
                packets.push(Packet::Close(guid));
                Ok(packets)
            }
            _ => Err(Fault::invalid_parameter(format!(
                "The signal code {:?} is not supported by the PowerShell plug-in. ",
                signal.code.uri()
            ))),
        }?;
        if session.broken().is_none() {
            write(op.manager, session, &packets, op.budget.remaining()).await?;
        }
        Ok((shell::action::SIGNAL_RESPONSE, responses::signal_response()))
    }

    /// Delete: Close to pwsh, queued within `close_within` (a Delete's: what is left of its
    /// OperationTimeout), then the engine ends the shell and its processes. Why not a fixed
    /// second: under CPU load pwsh reads its stdin late, the queue before the Close stays full,
    /// and the pool was ended without its Close; a Close not queued in time is logged.
    async fn delete_session(
        &self,
        manager: &ShellManager,
        session: &Arc<Session>,
        close_within: std::time::Duration,
    ) {
        session.close();
        if session.broken().is_none() {
            let close = [Packet::Close(Uuid::nil())];
            if let Err(fault) = write(manager, session, &close, close_within).await {
                tracing::warn!(shell_id = %session.shell_id, %fault, waited_ms = u64::try_from(close_within.as_millis()).unwrap_or(u64::MAX), "the runspace pool's Close did not reach pwsh's input in time: its processes are ended without it");
            }
        }
        self.lock().remove(&session.shell_id);
        if let Err(error) = manager
            .delete_shell(&session.owner, &session.shell_id)
            .await
        {
            tracing::debug!(shell_id = %session.shell_id, %error, "PowerShell shell already gone");
        }
    }
}

/// The least time a Close to pwsh is given to be queued (a Delete whose OperationTimeout is
/// spent, a Create that failed).
const CLOSE_AT_LEAST: std::time::Duration = std::time::Duration::from_secs(1);

/// `work`, whose cost the client's or pwsh's data chooses (inflating a Send, compressing and
/// encoding a Receive's output, cutting pwsh's lines), in the work pool's bulk lane: at the
/// lowest priority and at most half of its turns for one user, so that it never holds up the
/// async workers nor, beyond its share, other users. Past `deadline` without a turn:
/// `w:TimedOut`.
pub(super) async fn bulk<T: std::marker::Send + 'static>(
    owner: &OwnerKey,
    deadline: std::time::Instant,
    work: impl FnOnce() -> T + std::marker::Send + 'static,
) -> Result<T, Fault> {
    WorkPool::shared()
        .run(
            Lane::Bulk,
            &owner.to_string(),
            deadline,
            move |_| Ok(work()),
        )
        .await
}

/// Writes packets to the host's stdin, whole or not at all.
async fn write(
    manager: &ShellManager,
    session: &Session,
    packets: &[Packet],
    timeout: std::time::Duration,
) -> Result<(), Fault> {
    if let Some(reason) = session.broken() {
        return Err(pwsh_broken_fault(&reason));
    }
    if packets.is_empty() {
        return Ok(());
    }
    let lines: String = packets.iter().map(Packet::to_line).collect();
    let outcome = manager
        .send(
            &session.owner,
            &session.shell_id,
            &session.host,
            "stdin",
            lines.as_bytes(),
            false,
            timeout,
        )
        .await
        .map_err(shell_fault)?;
    match outcome {
        SendOutcome::Accepted => Ok(()),
        // The input queue stayed full for the whole timeout.
        _ => Err(Fault::timed_out()),
    }
}

/// Only `microsoft.powershell` is configured; another configuration name is Windows' fault
/// for an unknown session configuration.
fn check_configuration(request: &Request) -> Result<(), Fault> {
    let uri = request.resource_uri.as_deref().unwrap_or("");
    let name = uri.rsplit('/').next().unwrap_or("");
    if name.eq_ignore_ascii_case(CONFIGURATION) {
        Ok(())
    } else {
        Err(Fault::destination_unreachable(uri).with_message(format!(
            "The WS-Management service cannot process the request. Cannot find the {name} session configuration in the WSMan: drive on the localhost computer. "
        )))
    }
}

/// The decoded `creationXml` of a Create body.
fn creation_xml(body: Option<&Element>) -> Result<Vec<u8>, Fault> {
    let creation = body
        .into_iter()
        .flat_map(Element::elements)
        .find(|e| e.name == "creationXml" && e.ns.as_deref() == Some(PSRP_NS))
        .ok_or_else(|| {
            Fault::invalid_parameter(
                "A PowerShell shell's Create must carry the runspace pool's creationXml. ",
            )
        })?;
    decode(&creation.text())
}

fn decode(text: &str) -> Result<Vec<u8>, Fault> {
    let compact: String = text.split_ascii_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(crate::error::psrp_base64_fault)
}

fn parse_guid(id: &str) -> Result<Uuid, Fault> {
    Uuid::parse_str(id.trim()).map_err(|_| {
        shell_fault(ShellError::InvalidCommandId {
            value: id.to_owned(),
        })
    })
}

/// A PSRP stop code however it is spelt: `crtl_c` (Windows' own typo) or `ctrl_c`, as a whole
/// URI or relative (`powershell/signal/ctrl_c`).
fn is_stop_code(code: &str) -> bool {
    let code = code.trim().to_ascii_lowercase();
    code.ends_with("powershell/signal/ctrl_c") || code.ends_with("powershell/signal/crtl_c")
}

fn upper(id: Uuid) -> String {
    id.to_string().to_ascii_uppercase()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
