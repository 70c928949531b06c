//! Fan-out: one operation on many hosts at once, each with its own endpoint, credentials and
//! options, at most [`FanOutOptions::parallel`] at a time, the results handed back as each
//! host finishes.
//!
//! ```no_run
//! # async fn demo(targets: Vec<wsman_client::fanout::Target>) {
//! use wsman_client::fanout::{run_command, FanOutOptions};
//! use wsman_client::shell::{CommandOptions, ShellOptions};
//! let mut results = run_command(
//!     targets,
//!     "uptime",
//!     &[],
//!     &ShellOptions::default(),
//!     &CommandOptions::default(),
//!     &FanOutOptions::default(),
//! );
//! while let Some(host) = results.next().await {
//!     match &host.outcome {
//!         Ok(out) => println!("{}: exit {}", host.name, out.exit_code),
//!         Err(e) => println!("{}: {e}", host.name),
//!     }
//! }
//! # }
//! ```
//!
//! Why each host is a task of its own with its own [`Client`] (so its own connections and
//! authentication): a host that does not answer holds one slot of the bound and nothing else,
//! and the per-host connect timeout ([`ClientOptions::connect_timeout`]) and deadline
//! ([`FanOutOptions::host_timeout`]) end it. Nothing here is a second HTTP stack: every host
//! goes through the same client and shell code as a single one.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use crate::client::{Client, ClientOptions};
use crate::endpoint::Endpoint;
use crate::error::ClientError;
use crate::shell::{CommandOptions, Output, Shell, ShellOptions, Signal};

/// Hosts at once unless told otherwise (`winrs -parallel:`'s default, as pssh's 32 halved for
/// WinRM's heavier first request: a password check per connection).
pub const DEFAULT_PARALLEL: usize = 16;

/// Default [`FanOutOptions::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`FanOutOptions::max_output_bytes`]: per host and stream.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

/// How long a command that ran out of time may take to be terminated and its shell deleted
/// (best effort: the server's idle timeout reaps a shell whose deletion failed).
const CLEANUP_GRACE: Duration = Duration::from_secs(5);

/// One host to run on.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Target {
    /// How results name it (usually the host as the user wrote it).
    pub name: String,
    /// Where it is.
    pub endpoint: Endpoint,
    /// Its own credentials and settings.
    pub options: ClientOptions,
}

impl Target {
    /// A host named `name` at `endpoint` with `options`.
    pub fn new(name: impl Into<String>, endpoint: Endpoint, options: ClientOptions) -> Self {
        Self {
            name: name.into(),
            endpoint,
            options,
        }
    }
}

/// How a fan-out runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FanOutOptions {
    /// Hosts worked on at once (at least 1).
    pub parallel: usize,
    /// Longest wait for each new connection; set on every target's options that has none.
    pub connect_timeout: Duration,
    /// Longest time one host may take from its first request to its result; `None`: no limit
    /// beyond each request's own (operation timeout plus network delay).
    pub host_timeout: Option<Duration>,
    /// Output kept per host and stream by [`run_command`]; more is dropped and the result
    /// marked truncated, so a chatty host cannot exhaust this process's memory.
    pub max_output_bytes: usize,
    /// What [`run_command`] gives every host's command on stdin, the same bytes to each
    /// (then end of input); empty: end of input at once. Shared, not copied per host: the
    /// caller bounds it (winrs reads at most [`MAX_FAN_OUT_STDIN`] bytes).
    pub stdin: Arc<[u8]>,
}

/// The most stdin `winrs` reads for a fan-out: it is held in memory whole (every host gets
/// all of it, each as fast as its command reads), so it is bounded; 16 MiB.
pub const MAX_FAN_OUT_STDIN: usize = 16 * 1024 * 1024;

impl Default for FanOutOptions {
    fn default() -> Self {
        Self {
            parallel: DEFAULT_PARALLEL,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            host_timeout: None,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            stdin: Arc::from(Vec::new()),
        }
    }
}

/// One host's result.
#[derive(Debug)]
#[non_exhaustive]
pub struct HostResult<T> {
    /// The target's name.
    pub name: String,
    /// The target's position in the list given (results arrive in completion order).
    pub index: usize,
    /// What the operation returned, or why it failed (a host that ran out of time:
    /// [`ClientError::Timeout`]).
    pub outcome: Result<T, ClientError>,
    /// From the host's first request to its result.
    pub duration: Duration,
}

/// Counts of a fan-out under way, for a progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Hosts in the list.
    pub total: usize,
    /// Results produced so far, failures included.
    pub done: usize,
    /// Of those, the ones whose outcome was an error.
    pub failed: usize,
    /// Hosts being worked on now.
    pub running: usize,
}

#[derive(Default)]
struct Counters {
    done: AtomicUsize,
    failed: AtomicUsize,
    running: AtomicUsize,
}

/// The results of a fan-out, as a stream: [`FanOut::next`] yields each host's result when it
/// is complete, `None` once every host has one. Dropping it aborts the hosts still running.
pub struct FanOut<T> {
    results: mpsc::UnboundedReceiver<HostResult<T>>,
    total: usize,
    counters: Arc<Counters>,
    tasks: tokio::task::JoinSet<()>,
}

impl<T> std::fmt::Debug for FanOut<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOut")
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}

impl<T> FanOut<T> {
    /// The next host's result, in completion order; `None` when all are in.
    pub async fn next(&mut self) -> Option<HostResult<T>> {
        self.results.recv().await
    }

    /// Where the fan-out stands.
    pub fn progress(&self) -> Progress {
        Progress {
            total: self.total,
            done: self.counters.done.load(Ordering::Acquire),
            failed: self.counters.failed.load(Ordering::Acquire),
            running: self.counters.running.load(Ordering::Acquire),
        }
    }
}

impl<T> Drop for FanOut<T> {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Run `operation` on every target, at most `options.parallel` at a time, on the current Tokio
/// runtime. `operation` gets a client for the target and the host's deadline (from
/// `options.host_timeout`), which it may use to clean up before the deadline ends it; the
/// fan-out itself gives up on the host a little after the deadline.
pub fn fan_out<T, F, Fut>(targets: Vec<Target>, options: &FanOutOptions, operation: F) -> FanOut<T>
where
    T: Send + 'static,
    F: Fn(Client, Option<Instant>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ClientError>> + Send + 'static,
{
    let (sender, results) = mpsc::unbounded_channel();
    let total = targets.len();
    let counters = Arc::new(Counters::default());
    let permits = Arc::new(Semaphore::new(options.parallel.max(1)));
    let operation = Arc::new(operation);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, target) in targets.into_iter().enumerate() {
        let sender = sender.clone();
        let counters = counters.clone();
        let permits = permits.clone();
        let operation = operation.clone();
        let connect_timeout = options.connect_timeout;
        let host_timeout = options.host_timeout;
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring fails only if it were.
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            counters.running.fetch_add(1, Ordering::AcqRel);
            let start = Instant::now();
            let deadline = host_timeout.map(|limit| start + limit);
            let mut client_options = target.options;
            client_options.connect_timeout =
                Some(client_options.connect_timeout.unwrap_or(connect_timeout));
            let work = async {
                let client = Client::new(target.endpoint, client_options)?;
                operation(client, deadline).await
            };
            let outcome = match deadline {
                None => work.await,
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline + CLEANUP_GRACE, work).await {
                        Ok(outcome) => outcome,
                        Err(_) => Err(timed_out(host_timeout)),
                    }
                }
            };
            counters.running.fetch_sub(1, Ordering::AcqRel);
            if outcome.is_err() {
                counters.failed.fetch_add(1, Ordering::AcqRel);
            }
            counters.done.fetch_add(1, Ordering::AcqRel);
            let _ = sender.send(HostResult {
                name: target.name,
                index,
                outcome,
                duration: start.elapsed(),
            });
        });
    }
    FanOut {
        results,
        total,
        counters,
        tasks,
    }
}

fn timed_out(limit: Option<Duration>) -> ClientError {
    ClientError::Timeout {
        millis: limit.unwrap_or_default().as_millis(),
    }
}

/// What one host's command printed and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostOutput {
    /// The exit code (see [`Output::Exited`]).
    pub exit_code: i64,
    /// `stdout`, at most [`FanOutOptions::max_output_bytes`].
    pub stdout: Vec<u8>,
    /// `stderr`, at most [`FanOutOptions::max_output_bytes`].
    pub stderr: Vec<u8>,
    /// Some output was dropped at the bound.
    pub truncated: bool,
}

/// Run `command arguments` on every target, each in a shell of its own with
/// [`FanOutOptions::stdin`] on its stdin (sent while its output is read, so a command that
/// echoes its input never stalls on a full pipe), as [`crate::shell::run_command`] does for
/// one host. A host whose deadline passes while its
/// command runs gets the command terminated and the shell deleted (within a short grace),
/// and a [`ClientError::Timeout`] result.
pub fn run_command(
    targets: Vec<Target>,
    command: &str,
    arguments: &[String],
    shell_options: &ShellOptions,
    command_options: &CommandOptions,
    options: &FanOutOptions,
) -> FanOut<HostOutput> {
    let job = Arc::new(CommandJob {
        command: command.to_owned(),
        arguments: arguments.to_vec(),
        shell_options: shell_options.clone(),
        command_options: command_options.clone(),
        max_output_bytes: options.max_output_bytes,
        host_timeout: options.host_timeout,
        stdin: options.stdin.clone(),
    });
    fan_out(targets, options, move |client, deadline| {
        let job = job.clone();
        async move { job.run(&client, deadline).await }
    })
}

struct CommandJob {
    command: String,
    arguments: Vec<String>,
    shell_options: ShellOptions,
    command_options: CommandOptions,
    max_output_bytes: usize,
    host_timeout: Option<Duration>,
    stdin: Arc<[u8]>,
}

/// `future` within `deadline` (none: unbounded); `None` when the deadline passed.
async fn within<F: Future>(deadline: Option<Instant>, future: F) -> Option<F::Output> {
    match deadline {
        None => Some(future.await),
        Some(deadline) => tokio::time::timeout_at(deadline, future).await.ok(),
    }
}

impl CommandJob {
    async fn run(
        &self,
        client: &Client,
        deadline: Option<Instant>,
    ) -> Result<HostOutput, ClientError> {
        let shell = within(deadline, Shell::open(client, &self.shell_options))
            .await
            .ok_or_else(|| timed_out(self.host_timeout))??;
        let ran = within(deadline, self.run_in(&shell)).await;
        let closed = tokio::time::timeout(CLEANUP_GRACE, shell.close()).await;
        let output = ran.ok_or_else(|| timed_out(self.host_timeout))??;
        // A failed Delete after the command finished does not change its result: the server
        // reaps the shell after its idle timeout.
        drop(closed);
        Ok(output)
    }

    async fn run_in(&self, shell: &Shell) -> Result<HostOutput, ClientError> {
        let command = shell
            .run(&self.command, &self.arguments, &self.command_options)
            .await?;
        let mut reader = command.output()?;
        let input = async {
            // A command that ends before reading all of its input makes the rest of the Send
            // fail (as a pipe's EPIPE): not an error of the host. Any other failure closes the
            // input, so that the command sees end of input instead of waiting for the rest.
            if command.send(&self.stdin, true).await.is_err() {
                let _ = command.send(&[], true).await;
            }
        };
        let collected = async {
            let mut out = HostOutput::default();
            while let Some(event) = reader.next().await? {
                match event {
                    Output::Data { stream, data } => {
                        let kept = if stream.eq_ignore_ascii_case("stderr") {
                            &mut out.stderr
                        } else {
                            &mut out.stdout
                        };
                        let room = self.max_output_bytes.saturating_sub(kept.len());
                        out.truncated |= data.len() > room;
                        kept.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    Output::Exited { exit_code } => out.exit_code = exit_code,
                }
            }
            Ok(out)
        };
        // When the deadline passes this is dropped and deleting the shell ends the command;
        // otherwise it is terminated here, as Windows clients end every command.
        let out = if self.stdin.is_empty() {
            // End of input before the first Receive: one connection does everything (a
            // Send beside the Receive's long poll would open a second one, and authenticate
            // again).
            match command.send(&[], true).await {
                Ok(()) => collected.await,
                Err(e) => Err(e),
            }
        } else {
            // Once the output is complete the command is done: input not yet taken is
            // abandoned.
            let mut input = std::pin::pin!(input);
            let mut collected = std::pin::pin!(collected);
            let mut input_done = false;
            loop {
                tokio::select! {
                    () = &mut input, if !input_done => input_done = true,
                    out = &mut collected => break out,
                }
            }
        };
        let _ = tokio::time::timeout(CLEANUP_GRACE, command.signal(Signal::Terminate)).await;
        out
    }
}
