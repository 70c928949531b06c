//! One running command: its process, stdin, output and Receive state.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;
use tokio::time::timeout_at;

use std::net::IpAddr;
use std::os::fd::AsFd;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::unix::pipe;

use wsman_os::cgroup::ShellCgroup;
use wsman_os::login_record::LoginRecord;
use wsman_os::process::{
    exit_code, kill_sessions, signal_process_group, Child, PreparedCommand, ProcessSignal,
    SpawnRequest,
};

use crate::error::ShellError;
use crate::input::{write_input, Input, Queued};
use crate::lock;
use crate::output::{pump, Output};
use crate::pipe::QuietPipe;
use crate::terminal::{MasterIo, TerminalControl, END_OF_INPUT};
use crate::types::{
    CommandInfo, CommandState, ReceiveOutcome, ReceiveOutput, ReceiveRequest, SendOutcome,
};
use crate::user_output::UserOutput;

/// Who a command's terminal is a login seat of (utmp/wtmp), used when it runs on one.
#[derive(Debug, Clone)]
pub(crate) struct Seat {
    /// The Linux account the command runs as.
    pub(crate) user: String,
    /// Where the client connected from.
    pub(crate) client_ip: Option<IpAddr>,
}

/// Scans of `/proc` when killing a session.
const KILL_ROUNDS: u32 = 200;
/// Scans of a command's cgroup, 5 ms apart, when killing it.
const CGROUP_KILL_ROUNDS: u32 = 400;
/// Longest a Receive waits for a flowing stream to fill its response (see
/// `Output::worth_waiting`): far below what a person notices, far above the time to read the
/// next block from the pipe.
const FILL_WAIT: Duration = Duration::from_millis(5);

#[derive(Debug, Default)]
struct ReceiveState {
    /// The last response sent with a SequenceId, kept until acknowledged.
    retained: Option<Retained>,
    /// The final (Done) response reached the client.
    done_delivered: bool,
}

#[derive(Debug)]
struct Retained {
    sequence_id: u64,
    output: ReceiveOutput,
    held: Vec<(usize, usize)>,
}

/// Per-command buffer sizes.
#[derive(Debug, Clone)]
pub(crate) struct Buffers {
    /// Per output stream.
    pub(crate) output_bytes: usize,
    /// Shared by the output of all the user's commands.
    pub(crate) user_output: Arc<UserOutput>,
    /// The stdin queue.
    pub(crate) input_bytes: usize,
}

/// The output of a new command: its declared streams, each within the buffer size, all within
/// the user's shared budget.
fn new_output(declared_streams: [bool; 2], buffers: &Buffers) -> Arc<Output> {
    Arc::new(
        Output::new(declared_streams, buffers.output_bytes)
            .with_user_budget(buffers.user_output.clone()),
    )
}

/// Kills a child the runtime could not take on (the command cannot be served; it has just
/// exec'd, alone in its process group, and once dropped it is reaped later) and says why.
fn abandon(pid: u32, error: std::io::Error) -> ShellError {
    let _ = signal_process_group(pid, ProcessSignal::Kill);
    ShellError::from(wsman_os::process::ProcessError::from(error))
}

/// Called once when the command's process has exited and its pipes ended.
pub(crate) type OnFinished = Box<dyn FnOnce(i32, Duration, u64) + Send>;

#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) id: String,
    pub(crate) command_line: String,
    pub(crate) pid: Option<u32>,
    started: Instant,
    output: Arc<Output>,
    input: Arc<Input>,
    receive: tokio::sync::Mutex<ReceiveState>,
    /// Set by Reconnect/Connect: the next Receive replays the retained response whatever
    /// its SequenceId (a new client starts its ids again).
    resumed: std::sync::atomic::AtomicBool,
    tasks: Mutex<Tasks>,
    /// On a pseudo-terminal: the command's hold on its master, let go when the process has
    /// exited and its output ended.
    terminal: Arc<Mutex<Option<TerminalControl>>>,
    /// The command's own cgroup inside its shell's, where the host has cgroups: Terminate
    /// ends everything in it, including what left the command's session (`setsid`).
    group: Option<Arc<ShellCgroup>>,
}

/// The command's background tasks, stopped by [`Command::finish`].
#[derive(Debug, Default)]
struct Tasks {
    pumps: Vec<AbortHandle>,
    writer: Option<AbortHandle>,
    waiter: Option<AbortHandle>,
}

impl Command {
    /// Spawns the process and its pump and wait tasks. `on_finished` runs
    /// when it is over (it releases the operation slot and writes the audit
    /// record).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        id: String,
        command_line: String,
        request: SpawnRequest<'_>,
        declared_streams: [bool; 2],
        buffers: Buffers,
        drain_grace: Duration,
        on_finished: OnFinished,
        seat: Seat,
        group: Option<Arc<ShellCgroup>>,
    ) -> Result<Arc<Self>, ShellError> {
        let mut child = PreparedCommand::new(request)?.spawn()?;
        let on_finished = remove_group_when_empty(group.clone(), on_finished);
        if let Some(master) = child.terminal.take() {
            return Self::start_on_terminal(
                id,
                command_line,
                child,
                master,
                seat,
                declared_streams,
                buffers,
                drain_grace,
                on_finished,
                group,
            );
        }
        let started = Instant::now();
        let pid = Some(child.id());
        let output = new_output(declared_streams, &buffers);
        let mut tasks = Tasks::default();
        let stdin = child
            .stdin
            .take()
            .map(pipe::Sender::from_owned_fd)
            .transpose();
        let receiver = |fd: Option<_>| fd.map(QuietPipe::new).transpose();
        let stdout = receiver(child.stdout.take());
        let stderr = receiver(child.stderr.take());
        let (stdin, stdout, stderr) = match (stdin, stdout, stderr) {
            (Ok(stdin), Ok(stdout), Ok(stderr)) => (stdin, stdout, stderr),
            (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
                return Err(abandon(child.id(), error));
            }
        };
        let input = match stdin {
            Some(pipe) => {
                let input = Arc::new(Input::new(buffers.input_bytes));
                let writer = tokio::spawn(write_input(input.clone(), pipe, &[]));
                tasks.writer = Some(writer.abort_handle());
                input
            }
            None => Arc::new(Input::closed(buffers.input_bytes)),
        };
        let mut pumps = Vec::new();
        if let Some(stdout) = stdout {
            pumps.push(tokio::spawn(pump(output.clone(), 0, stdout, drain_grace)));
        } else {
            output.end_all();
        }
        if let Some(stderr) = stderr {
            pumps.push(tokio::spawn(pump(output.clone(), 1, stderr, drain_grace)));
        }
        tasks.pumps = pumps.iter().map(|task| task.abort_handle()).collect();
        let waiter_output = output.clone();
        let waiter = tokio::spawn(async move {
            let status = wait_for_exit(child).await;
            let code = status.map(exit_code).unwrap_or(-1);
            waiter_output.set_exit(code);
            for pump in pumps {
                let _ = pump.await;
            }
            // Pumps that were aborted (terminate/delete) end nothing.
            waiter_output.end_all();
            on_finished(code, started.elapsed(), waiter_output.bytes_out());
        });
        tasks.waiter = Some(waiter.abort_handle());
        Ok(Arc::new(Self {
            id,
            command_line,
            pid,
            started,
            output,
            input,
            receive: tokio::sync::Mutex::new(ReceiveState::default()),
            resumed: std::sync::atomic::AtomicBool::new(false),
            tasks: Mutex::new(tasks),
            terminal: Arc::new(Mutex::new(None)),
            group,
        }))
    }

    /// [`Command::start`] for a child on a pseudo-terminal: one output stream (stdout; the
    /// terminal merges stderr into it, so stderr ends at once), stdin written to the master,
    /// and a third descriptor of the master for resizes and interrupts. Every descriptor of
    /// the master is closed once the process has exited and the output ended.
    #[allow(clippy::too_many_arguments)]
    fn start_on_terminal(
        id: String,
        command_line: String,
        child: Child,
        master: std::os::fd::OwnedFd,
        seat: Seat,
        declared_streams: [bool; 2],
        buffers: Buffers,
        drain_grace: Duration,
        on_finished: OnFinished,
        group: Option<Arc<ShellCgroup>>,
    ) -> Result<Arc<Self>, ShellError> {
        let started = Instant::now();
        let pid = child.id();
        // The terminal is a login seat while the command runs (utmp/wtmp); the record lives
        // in the waiter, so the logout is written when the command is over, or when the
        // waiter is dropped (Signal terminate, shell deleted).
        let login = match LoginRecord::open(master.as_fd(), &seat.user, pid, seat.client_ip) {
            Ok(record) => Some(record),
            Err(error) => {
                tracing::warn!(%error, "no utmp record for the command's terminal");
                None
            }
        };
        let registered = (|| {
            let writer = MasterIo::new(master.try_clone()?)?;
            let control = TerminalControl::new(master.try_clone()?);
            Ok::<_, std::io::Error>((MasterIo::new(master)?, writer, control))
        })();
        let (reader, writer, control) = match registered {
            Ok(parts) => parts,
            Err(error) => return Err(abandon(pid, error)),
        };
        let output = new_output(declared_streams, &buffers);
        output.finish_stream(1);
        let input = Arc::new(Input::new(buffers.input_bytes));
        let writer = tokio::spawn(write_input(input.clone(), writer, END_OF_INPUT));
        let pump_task = tokio::spawn(pump(output.clone(), 0, reader, drain_grace));
        let tasks = Tasks {
            pumps: vec![pump_task.abort_handle()],
            writer: Some(writer.abort_handle()),
            waiter: None,
        };
        let terminal = Arc::new(Mutex::new(Some(control)));
        let waiter_output = output.clone();
        let waiter_input = input.clone();
        let waiter_terminal = terminal.clone();
        let waiter = tokio::spawn(async move {
            let status = wait_for_exit(child).await;
            let code = status.map(exit_code).unwrap_or(-1);
            waiter_output.set_exit(code);
            let _ = pump_task.await;
            waiter_output.end_all();
            // The master's last descriptors: the writer's and the command's own.
            waiter_input.hang_up();
            lock(&waiter_terminal).take();
            drop(login);
            on_finished(code, started.elapsed(), waiter_output.bytes_out());
        });
        let tasks = Tasks {
            waiter: Some(waiter.abort_handle()),
            ..tasks
        };
        Ok(Arc::new(Self {
            id,
            command_line,
            pid: Some(pid),
            started,
            output,
            input,
            receive: tokio::sync::Mutex::new(ReceiveState::default()),
            resumed: std::sync::atomic::AtomicBool::new(false),
            tasks: Mutex::new(tasks),
            terminal,
            group,
        }))
    }

    /// Sets the window size of the command's terminal; `Ok(false)` when it has none (it runs
    /// on pipes, or has exited).
    pub(crate) fn resize(&self, size: wsman_os::terminal::WindowSize) -> std::io::Result<bool> {
        match &*lock(&self.terminal) {
            Some(control) => control.resize(size).map(|()| true),
            None => Ok(false),
        }
    }

    /// A client reconnected: see the `resumed` field.
    pub(crate) fn resume(&self) {
        self.resumed
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn info(&self) -> CommandInfo {
        let state = match (self.output.is_finished(), self.output.exit_code()) {
            (true, Some(exit_code)) => CommandState::Done { exit_code },
            _ => CommandState::Running,
        };
        CommandInfo {
            command_id: self.id.clone(),
            command_line: self.command_line.clone(),
            state,
            process_id: self.pid,
            bytes_out: self.output.bytes_out(),
            peak_buffered_bytes: self.output.peak_buffered(),
            peak_input_queued_bytes: self.input.peak_queued(),
        }
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.output.exit_code().is_some()
    }

    pub(crate) fn running_for(&self) -> Duration {
        self.started.elapsed()
    }

    /// Queues `data` for stdin whole, or refuses it whole when the input
    /// queue stays full for `timeout` (see [`crate::input`]); `end`
    /// closes stdin after the queued data.
    pub(crate) async fn send(
        &self,
        data: &[u8],
        end: bool,
        timeout: Duration,
    ) -> Result<SendOutcome, ShellError> {
        let deadline = tokio::time::Instant::now() + timeout;
        match self.input.send(data, end, deadline).await {
            Queued::Accepted => Ok(SendOutcome::Accepted),
            Queued::TimedOut => Ok(SendOutcome::TimedOut),
            Queued::AlreadyEnded => Err(ShellError::InputAlreadyEnded {
                command_id: self.id.clone(),
            }),
            Queued::TooLarge => Err(ShellError::InputTooLarge {
                bytes: data.len(),
                limit: self.input.capacity(),
            }),
        }
    }

    /// The Receive long poll; see [`ReceiveRequest`] for the SequenceId
    /// rules. `streams` are indices into the output streams.
    pub(crate) async fn receive(
        &self,
        streams: &[usize],
        request: &ReceiveRequest,
    ) -> Result<ReceiveOutcome, ShellError> {
        let deadline = tokio::time::Instant::now() + request.timeout;
        let Ok(mut state) = timeout_at(deadline, self.receive.lock()).await else {
            return Ok(ReceiveOutcome::TimedOut);
        };
        if self
            .resumed
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            if let Some(retained) = state.retained.as_mut() {
                if let Some(sequence_id) = request.sequence_id {
                    retained.sequence_id = sequence_id;
                    retained.output.sequence_id = Some(sequence_id);
                    return Ok(ReceiveOutcome::Output(retained.output.clone()));
                }
                if let Some(retained) = state.retained.take() {
                    self.output.release(&retained.held);
                    state.done_delivered =
                        matches!(retained.output.state, CommandState::Done { .. });
                    let mut output = retained.output;
                    output.sequence_id = None;
                    return Ok(ReceiveOutcome::Output(output));
                }
            }
        }
        if let Some(retained) = state.retained.take() {
            if request.sequence_id == Some(retained.sequence_id) {
                let output = retained.output.clone();
                state.retained = Some(retained);
                return Ok(ReceiveOutcome::Output(output));
            }
            self.output.release(&retained.held);
            if matches!(retained.output.state, CommandState::Done { .. }) {
                state.done_delivered = true;
            }
        }
        if state.done_delivered {
            return Err(ShellError::CommandAlreadyDone {
                command_id: self.id.clone(),
            });
        }
        let hold = request.sequence_id.is_some();
        // While the command prints flat out, a response is allowed to fill up for at most
        // this long (see `Output::worth_waiting`).
        let mut fill_deadline: Option<tokio::time::Instant> = None;
        loop {
            let notified = self.output.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = tokio::time::Instant::now();
            if self
                .output
                .worth_waiting(streams, request.max_bytes.max(1), now)
            {
                let until = *fill_deadline.get_or_insert(now + FILL_WAIT);
                if now < until && now < deadline {
                    let _ = timeout_at(until.min(deadline), notified).await;
                    continue;
                }
            }
            let taken = self.output.take(streams, request.max_bytes.max(1), hold);
            if taken.is_ready() {
                let output = ReceiveOutput {
                    chunks: taken.chunks,
                    state: match taken.done {
                        Some(exit_code) => CommandState::Done { exit_code },
                        None => CommandState::Running,
                    },
                    sequence_id: request.sequence_id,
                };
                match request.sequence_id {
                    Some(sequence_id) => {
                        state.retained = Some(Retained {
                            sequence_id,
                            output: output.clone(),
                            held: taken.held,
                        });
                    }
                    None => state.done_delivered = taken.done.is_some(),
                }
                return Ok(ReceiveOutcome::Output(output));
            }
            if timeout_at(deadline, notified).await.is_err() {
                return Ok(ReceiveOutcome::TimedOut);
            }
        }
    }

    /// Sends `signal` to the command's process group (nothing if it ended). On a terminal,
    /// Ctrl+C and Ctrl+Break are typed as the terminal's interrupt and quit characters (see
    /// [`TerminalControl::interrupt`]), so they reach its foreground job as a key would.
    pub(crate) fn signal_group(&self, signal: ProcessSignal) {
        if self.has_exited() {
            return;
        }
        let typed = match &*lock(&self.terminal) {
            Some(control) if signal == ProcessSignal::Interrupt => Some(control.interrupt()),
            Some(control) if signal == ProcessSignal::Quit => Some(control.quit()),
            _ => None,
        };
        match typed {
            Some(None) => return,
            Some(Some(group)) => {
                if let Err(error) = signal_process_group(group, signal) {
                    tracing::warn!(command_id = %self.id, %error, "signalling the foreground job failed");
                }
                return;
            }
            None => {}
        }
        if let Some(pid) = self.pid {
            if let Err(error) = signal_process_group(pid, signal) {
                tracing::warn!(command_id = %self.id, %error, "signalling the command failed");
            }
        }
    }

    /// Kills everything the command started: its cgroup where it has one (what left its
    /// session too), then its session and process group (blocking scans of cgroupfs and
    /// /proc, so run on a blocking thread).
    pub(crate) fn kill_tree_blocking(&self) {
        self.kill_group_blocking();
        kill_trees_blocking(std::slice::from_ref(self));
    }

    /// Kills everything in the command's own cgroup and removes the group (blocking). True
    /// when the group was emptied: everything the command started is dead, what left its
    /// session included, and only a process that moved itself out of the group (which takes
    /// root, or a group the user may write to) can remain for the session sweep. False
    /// without a group of its own, or when killing failed: the sweep is all there is.
    pub(crate) fn kill_group_blocking(&self) -> bool {
        let Some(group) = &self.group else {
            return false;
        };
        if let Err(error) = group.kill_all(CGROUP_KILL_ROUNDS) {
            tracing::warn!(command_id = %self.id, %error, "killing the command's cgroup");
            return false;
        }
        if let Err(error) = group.remove() {
            tracing::warn!(command_id = %self.id, %error, "removing the command's cgroup");
        }
        true
    }

    /// Waits up to `limit` for the main process to be reaped, then stops
    /// the pumps and the stdin writer (dropping the pipes).
    pub(crate) async fn finish(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.output.wait_exit()).await;
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks.pumps.iter().chain(&tasks.writer) {
            task.abort();
        }
        self.output.end_all();
        // Let the waiter record the exit first if it can.
        if let Some(waiter) = tasks.waiter {
            if !self.has_exited() {
                waiter.abort();
            }
        }
    }
}

/// Wraps `on_finished` so that the command's own group is removed when the command has
/// ended and nothing it started runs on in it (else the shell's Delete or the command's
/// Terminate removes it).
fn remove_group_when_empty(group: Option<Arc<ShellCgroup>>, on_finished: OnFinished) -> OnFinished {
    let Some(group) = group else {
        return on_finished;
    };
    Box::new(move |code, duration, bytes_out| {
        group.remove_if_empty();
        on_finished(code, duration, bytes_out);
    })
}

/// Kills the sessions of `commands` with one scan of /proc per round (blocking, so run on a
/// blocking thread).
pub(crate) fn kill_trees_blocking<C: std::borrow::Borrow<Command>>(commands: &[C]) {
    let sids: Vec<u32> = commands
        .iter()
        .filter_map(|command| command.borrow().pid)
        .collect();
    if !sids.is_empty() {
        kill_sessions(&sids, KILL_ROUNDS);
    }
}

/// Waits for the child to exit and reaps it: woken by its pidfd where the kernel has them,
/// else on a blocking thread.
pub(crate) async fn wait_for_exit(mut child: Child) -> std::io::Result<std::process::ExitStatus> {
    let Some(pidfd) = child.take_pidfd() else {
        return tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap_or_else(|error| Err(std::io::Error::other(error)));
    };
    // tokio deprecated the safe constructor because a generic `AsRawFd` may change or close
    // its descriptor while registered (its `unsafe` replacement states that contract). An
    // `OwnedFd` owned by the `AsyncFd` cannot: the contract holds without `unsafe` here.
    #[allow(deprecated)]
    let pidfd = AsyncFd::with_interest(pidfd, Interest::READABLE)?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        pidfd.readable().await?.clear_ready();
    }
}
