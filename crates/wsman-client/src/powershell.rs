//! PowerShell remoting (MS-PSRP) over WinRM: open a runspace pool on a host's PowerShell
//! plug-in (Windows' `microsoft.powershell`, or wsmand's bridge to `pwsh`), run scripts in it,
//! read what they write as text, stop them, close the pool.
//!
//! ```no_run
//! # async fn demo(client: &wsman_client::Client) -> Result<(), wsman_client::ClientError> {
//! use wsman_client::powershell::{PsOutput, RunspacePool, PowerShellOptions};
//! let pool = RunspacePool::open(client, &PowerShellOptions::default()).await?;
//! let mut pipeline = pool.run("Get-Date").await?;
//! while let Some(event) = pipeline.next().await? {
//!     if let PsOutput::Output(text) = event {
//!         println!("{text}");
//!     }
//! }
//! pool.close().await?;
//! # Ok(()) }
//! ```
//!
//! The pool is a WinRS shell of the plug-in's resource URI whose ShellId is the pool's id and
//! whose `creationXml` carries the pool's first messages; each pipeline is a Command whose
//! CommandId is the pipeline's id and whose `Arguments` carry CREATE_PIPELINE; Receive brings
//! the server's messages on `stdout`; a stop is the `powershell/signal/crtl_c` Signal; Delete
//! closes the pool. The messages are built and read sans I/O by
//! [`wsman_proto::shell::psrp_client`]. The pool offers the server no host: a script that
//! prompts (Read-Host, confirmations) fails on the server instead of waiting for an answer.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use uuid::Uuid;
use wsman_proto::duration;
use wsman_proto::ns::action;
use wsman_proto::shell::psrp_client::{
    pipeline_state, pool_state, Defragmenter, PoolClient, PsEvent, MAX_BLOB,
};
use wsman_proto::shell::{
    CommandLine, CommandStateValue, Receive, ReceiveResponse, Send, SignalCode, StreamData,
    WinrsOptions,
};
use wsman_proto::xml::Writer;

use crate::client::{Client, Resource};
use crate::error::ClientError;
use crate::shell::{is_timed_out, EventQueue};

/// The streams of records besides output.
pub use wsman_proto::shell::psrp_client::RecordStream;

/// The resource URI of Windows' default PowerShell session configuration.
pub const POWERSHELL_URI: &str = wsman_proto::ns::POWERSHELL_DEFAULT;
/// The namespace of `creationXml`.
const PSRP_NS: &str = wsman_proto::ns::POWERSHELL;
/// Base64 bytes of fragments put in a Command's `Arguments`; the rest of a long script's
/// CREATE_PIPELINE goes as `stdin` (well inside the default 150 KiB envelope pypsrp and
/// Windows clients use).
const MAX_ARGUMENTS: usize = 96 * 1024;

/// How a pool is opened.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PowerShellOptions {
    /// The session configuration's resource URI ([`POWERSHELL_URI`]).
    pub resource_uri: String,
    /// `rsp:IdleTimeOut`: how long the server keeps the pool without requests.
    pub idle_timeout: Option<Duration>,
}

impl Default for PowerShellOptions {
    fn default() -> Self {
        Self {
            resource_uri: POWERSHELL_URI.to_owned(),
            idle_timeout: None,
        }
    }
}

/// What a pipeline wrote, as text, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PsOutput {
    /// One object of the output stream (a string as is; another object by its ToString).
    Output(String),
    /// One record of another stream.
    Record { stream: RecordStream, text: String },
    /// The pipeline ended; always the last event.
    Finished(PipelineEnd),
}

/// How a pipeline ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PipelineEnd {
    Completed,
    /// Failed (a terminating error), with the error's text.
    Failed(Option<String>),
    /// Stopped by [`Stopper::stop`].
    Stopped,
}

struct PoolShared {
    control: Client,
    id: String,
    resource_uri: String,
    psrp: Mutex<PoolClient>,
}

impl PoolShared {
    fn resource(&self) -> Resource {
        Resource::new(self.resource_uri.clone()).with_selector("ShellId", self.id.clone())
    }

    /// Receives `stdout` of the pool (`command_id` `None`) or of one pipeline until an
    /// answer arrives (`w:TimedOut` answers are asked again); the answer's data and whether
    /// the command is done.
    async fn receive(
        &self,
        client: &Client,
        command_id: Option<&str>,
        sequence_id: u64,
    ) -> Result<(Vec<u8>, bool), ClientError> {
        let mut resource = self.resource();
        let mut winrs = WinrsOptions::default();
        winrs.keepalive = Some(true);
        resource.options = winrs.to_options();
        let mut receive = Receive::new(command_id, &["stdout"]);
        receive.sequence_id = Some(sequence_id);
        let body = receive.to_xml();
        loop {
            let header = client.request_header(action::SHELL_RECEIVE, &resource);
            let answer = match client.send(&header, &body).await {
                Err(e) if is_timed_out(&e) => continue,
                other => other?,
            };
            let answer = answer
                .ok_or_else(|| ClientError::protocol("the Receive response has an empty body"))?;
            let response = ReceiveResponse::parse(&answer)
                .map_err(|e| ClientError::protocol(e.to_string()))?;
            let ours = |id: &Option<String>| match (id, command_id) {
                (Some(id), Some(want)) => id.eq_ignore_ascii_case(want),
                (None, _) => true,
                (Some(_), None) => false,
            };
            let data = response
                .streams
                .into_iter()
                .filter(|s| ours(&s.command_id))
                .flat_map(|s| s.data)
                .collect();
            let done = matches!(response.state, Some((ref id, CommandStateValue::Done { .. })) if ours(id));
            return Ok((data, done));
        }
    }

    async fn signal(&self, command_id: &str, code: SignalCode) -> Result<(), ClientError> {
        let header = self
            .control
            .request_header(action::SHELL_SIGNAL, &self.resource());
        let body = wsman_proto::shell::Signal::new(Some(command_id), code).to_xml();
        self.control.send(&header, &body).await.map(|_| ())
    }
}

fn psrp_error(e: impl std::fmt::Display) -> ClientError {
    ClientError::protocol(format!("PowerShell remoting: {e}"))
}

fn base64(fragments: &[Vec<u8>]) -> String {
    base64::engine::general_purpose::STANDARD.encode(fragments.concat())
}

/// An open runspace pool. Cloning shares it. Dropping it does not close it on the server:
/// call [`RunspacePool::close`], or the server's idle timeout ends it.
#[derive(Clone)]
pub struct RunspacePool {
    shared: Arc<PoolShared>,
}

impl std::fmt::Debug for RunspacePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunspacePool")
            .field("id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl RunspacePool {
    /// Creates the pool's shell and waits until the server reports the pool opened. The
    /// shell is deleted again when the pool does not open.
    pub async fn open(client: &Client, options: &PowerShellOptions) -> Result<Self, ClientError> {
        let control = client.fork()?;
        let id = Uuid::new_v4();
        let mut psrp = PoolClient::new(id, MAX_BLOB);
        let creation = base64(&psrp.open());
        let shell_id = id.to_string().to_uppercase();
        let mut resource = Resource::new(options.resource_uri.clone());
        resource.options = vec![("protocolversion".to_owned(), "2.3".to_owned(), true)];
        let mut w = Writer::new();
        w.start(
            "rsp:Shell",
            &[
                ("xmlns:rsp", wsman_proto::ns::SHELL),
                ("ShellId", &shell_id),
            ],
        );
        w.leaf("rsp:InputStreams", &[], "stdin pr");
        w.leaf("rsp:OutputStreams", &[], "stdout");
        if let Some(t) = options.idle_timeout {
            w.leaf("rsp:IdleTimeOut", &[], &duration::format(t));
        }
        w.leaf("creationXml", &[("xmlns", PSRP_NS)], &creation);
        let header = control.request_header(action::CREATE, &resource);
        control.send_for_body(&header, &w.finish()).await?;
        let pool = Self {
            shared: Arc::new(PoolShared {
                control,
                id: shell_id,
                resource_uri: options.resource_uri.clone(),
                psrp: Mutex::new(psrp),
            }),
        };
        match pool.wait_opened().await {
            Ok(()) => Ok(pool),
            Err(e) => {
                let _ = pool.clone().close().await;
                Err(e)
            }
        }
    }

    async fn wait_opened(&self) -> Result<(), ClientError> {
        let client = self.shared.control.fork()?;
        let mut defragmenter = Defragmenter::default();
        for sequence_id in 0.. {
            let (data, done) = self.shared.receive(&client, None, sequence_id).await?;
            for message in defragmenter.feed(&data).map_err(psrp_error)? {
                match PsEvent::from_message(&message).map_err(psrp_error)? {
                    PsEvent::PoolState(report) if report.state == pool_state::OPENED => {
                        return Ok(())
                    }
                    PsEvent::PoolState(report) => {
                        return Err(psrp_error(format!(
                            "the runspace pool did not open (state {}){}",
                            report.state,
                            report.reason.map(|r| format!(": {r}")).unwrap_or_default()
                        )))
                    }
                    _ => {}
                }
            }
            if done {
                break;
            }
        }
        Err(psrp_error("the pool's output ended before it opened"))
    }

    /// The pool's id (the shell's ShellId).
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Starts `script` in a new pipeline.
    pub async fn run(&self, script: &str) -> Result<Pipeline, ClientError> {
        let shared = &self.shared;
        let (pid, fragments) = shared
            .psrp
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .create_pipeline(script);
        let command_id = pid.to_string().to_uppercase();
        // Whole fragments in the Arguments while they fit; the others follow as stdin.
        let mut first = 1;
        while first < fragments.len() && base64(&fragments[..=first]).len() <= MAX_ARGUMENTS {
            first += 1;
        }
        let mut line = CommandLine::new("", vec![base64(&fragments[..first])]);
        line.command_id = Some(command_id.clone());
        let header = shared
            .control
            .request_header(action::SHELL_COMMAND, &shared.resource());
        shared.control.send(&header, &line.to_xml()).await?;
        for fragment in &fragments[first..] {
            let stream = StreamData::new("stdin", Some(&command_id), fragment.clone(), false);
            let header = shared
                .control
                .request_header(action::SHELL_SEND, &shared.resource());
            let body = Send::new(vec![stream]).to_xml();
            shared.control.send(&header, &body).await?;
        }
        Ok(Pipeline {
            shared: shared.clone(),
            receiver: shared.control.fork()?,
            command_id,
            pid,
            sequence_id: 0,
            defragmenter: Defragmenter::default(),
            events: EventQueue::new(),
        })
    }

    /// Deletes the pool's shell: the server closes the pool and ends its pipelines.
    pub async fn close(self) -> Result<(), ClientError> {
        self.shared.control.delete(&self.shared.resource()).await
    }
}

/// A running pipeline: its output as [`PsOutput`] events.
pub struct Pipeline {
    shared: Arc<PoolShared>,
    /// A fork of the pool's client: a Receive holds its connection while it waits.
    receiver: Client,
    command_id: String,
    pid: Uuid,
    sequence_id: u64,
    defragmenter: Defragmenter,
    events: EventQueue<PsOutput>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("id", &self.command_id)
            .finish_non_exhaustive()
    }
}

/// Stops a pipeline from another task while its output is read.
#[derive(Clone)]
pub struct Stopper {
    shared: Arc<PoolShared>,
    command_id: String,
}

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopper")
            .field("id", &self.command_id)
            .finish_non_exhaustive()
    }
}

impl Stopper {
    /// Asks the server to stop the pipeline (MS-PSRP's stop signal); its output then ends
    /// with [`PipelineEnd::Stopped`].
    pub async fn stop(&self) -> Result<(), ClientError> {
        self.shared
            .signal(&self.command_id, SignalCode::PsrpStop)
            .await
    }
}

impl Pipeline {
    /// The pipeline's id (the Command's CommandId).
    pub fn id(&self) -> &str {
        &self.command_id
    }

    /// A handle that stops this pipeline.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            shared: self.shared.clone(),
            command_id: self.command_id.clone(),
        }
    }

    /// The next event; `Ok(None)` after [`PsOutput::Finished`].
    pub async fn next(&mut self) -> Result<Option<PsOutput>, ClientError> {
        loop {
            if let Some(next) = self.events.next() {
                return Ok(next);
            }
            let (data, done) = self
                .shared
                .receive(&self.receiver, Some(&self.command_id), self.sequence_id)
                .await?;
            self.sequence_id += 1;
            for message in self.defragmenter.feed(&data).map_err(psrp_error)? {
                let event = PsEvent::from_message(&message).map_err(psrp_error)?;
                self.absorb(event)?;
            }
            if done && !self.events.is_finished() {
                return Err(psrp_error("the pipeline ended without its state"));
            }
        }
    }

    fn absorb(&mut self, event: PsEvent) -> Result<(), ClientError> {
        match event {
            PsEvent::Output { text, .. } => self.events.push(PsOutput::Output(text)),
            PsEvent::Record { stream, text, .. } => self.events.push(PsOutput::Record { stream, text }),
            PsEvent::PipelineState { pid, report } if pid == self.pid => {
                let end = match report.state {
                    pipeline_state::COMPLETED => PipelineEnd::Completed,
                    pipeline_state::STOPPED => PipelineEnd::Stopped,
                    pipeline_state::FAILED => PipelineEnd::Failed(report.reason),
                    // Running and the like: not an end (Windows sends none of them).
                    _ => return Ok(()),
                };
                self.events.finish(PsOutput::Finished(end));
            }
            PsEvent::HostCall { .. } => {
                return Err(psrp_error(
                    "the script asked the client's host for something (a prompt?); this client offers no host",
                ))
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads every event until the end; output and error texts, and how it ended.
    pub async fn collect(mut self) -> Result<PipelineResult, ClientError> {
        let mut result = PipelineResult::default();
        while let Some(event) = self.next().await? {
            match event {
                PsOutput::Output(text) => result.output.push(text),
                PsOutput::Record {
                    stream: RecordStream::Error,
                    text,
                } => result.errors.push(text),
                PsOutput::Record { .. } => {}
                PsOutput::Finished(end) => result.end = Some(end),
            }
        }
        self.release().await;
        Ok(result)
    }

    /// Windows clients end each pipeline with the terminate signal, also after its end: it
    /// releases the CommandId. It fails harmlessly when the pipeline is already gone.
    pub async fn release(&self) {
        let _ = self
            .shared
            .signal(&self.command_id, SignalCode::Terminate)
            .await;
    }
}

/// Everything a pipeline wrote to its output and error streams, and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipelineResult {
    pub output: Vec<String>,
    pub errors: Vec<String>,
    pub end: Option<PipelineEnd>,
}

impl PipelineResult {
    /// Failed, or wrote an error record: what PowerShell's `HadErrors` says.
    pub fn had_errors(&self) -> bool {
        !self.errors.is_empty() || matches!(self.end, Some(PipelineEnd::Failed(_)))
    }
}
