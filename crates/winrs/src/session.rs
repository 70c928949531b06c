//! One winrs run: open the shell, start the command, then three activities until it ends:
//! output to stdout/stderr (its own task, so a Receive is never cancelled half-way), stdin to
//! the command (its own task: EOF becomes Send with End), and Ctrl-C to signals. Afterwards
//! the command is terminated (Windows clients always send it) and the shell deleted.

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use wsman_client::shell::{
    list_shells, Command, CommandOptions, Output, Shell, ShellOptions, Signal, MAX_SEND_CHUNK,
};
use wsman_client::{Client, ClientError};

use crate::args::ShellSwitches;
use crate::failure::Failure;

/// How the remote command ended, from winrs's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// It exited with this code.
    Exited(i64),
    /// The user pressed Ctrl-C twice; it was terminated.
    Interrupted,
    /// winrs got SIGTERM or SIGHUP (its terminal went away); the command was terminated.
    Stopped {
        /// The signal number.
        signal: i32,
    },
}

/// The local signals winrs acts on, installed before the shell exists: a Ctrl-C while the
/// shell opens is then sent as ctrl_c once the command runs, and SIGTERM/SIGHUP no longer
/// kill winrs without deleting its shell.
pub(crate) struct LocalSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl LocalSignals {
    fn install() -> Result<Self, Failure> {
        let install = |kind: SignalKind| {
            signal(kind).map_err(|e| Failure::local(format!("cannot handle signals: {e}")))
        };
        Ok(Self {
            interrupt: install(SignalKind::interrupt())?,
            terminate: install(SignalKind::terminate())?,
            hangup: install(SignalKind::hangup())?,
        })
    }
}

/// The shell options for these switches.
pub(crate) fn shell_options(s: &ShellSwitches) -> ShellOptions {
    let mut o = ShellOptions::default();
    o.working_directory = s.directory.clone();
    o.environment = s.environment.clone();
    o.no_profile = s.no_profile;
    if s.codepage.is_some() {
        o.codepage = s.codepage;
    }
    o
}

/// The command options for these switches.
pub(crate) fn command_options(s: &ShellSwitches) -> CommandOptions {
    let mut o = CommandOptions::default();
    o.skip_cmd_shell = s.skip_cmd_shell;
    o.console_mode_stdin = !s.no_echo;
    o
}

/// Run `command arguments` in a new shell; the shell is deleted whatever happens.
pub(crate) async fn run(
    client: &Client,
    switches: &ShellSwitches,
    command: &str,
    arguments: &[String],
) -> Result<Ending, Failure> {
    let mut signals = LocalSignals::install()?;
    let mut options = shell_options(switches);
    if switches.pty {
        options.terminal = Some(crate::terminal::describe_local()?);
    }
    let shell = Shell::open(client, &options).await?;
    let outcome = {
        // Raw only while the command runs: the password prompt of -u: and the shell's
        // creation see the terminal as the user left it; dropped on every way out.
        let raw = match switches.pty {
            true => Some(crate::terminal::RawMode::enter()),
            false => None,
        };
        match raw.transpose() {
            Ok(_raw) => run_in(&shell, switches, command, arguments, &mut signals).await,
            Err(e) => Err(e),
        }
    };
    let closed = shell.close().await;
    let ending = outcome?;
    // A failed Delete after the command finished does not change its result: the server
    // reaps the shell after its idle timeout.
    drop(closed);
    Ok(ending)
}

/// `-detach`: start the command with its stdin closed, print the ShellId, disconnect. The
/// shell is deleted only when starting the command fails.
pub(crate) async fn detach(
    client: &Client,
    switches: &ShellSwitches,
    command_line: &str,
    arguments: &[String],
    idle_timeout: Option<std::time::Duration>,
) -> Result<Ending, Failure> {
    let shell = Shell::open(client, &shell_options(switches)).await?;
    let started = async {
        let command = shell
            .run(command_line, arguments, &command_options(switches))
            .await?;
        // Nobody will type into a detached command: it sees end of input at once.
        command.send(&[], true).await?;
        shell.disconnect(idle_timeout).await
    }
    .await;
    if let Err(e) = started {
        let _ = shell.close().await;
        return Err(e.into());
    }
    let mut stdout = tokio::io::stdout();
    write_all(&mut stdout, format!("{}\n", shell.id()).as_bytes())
        .await
        .map_err(|e| Failure::local(format!("cannot write the ShellId: {e}")))?;
    Ok(Ending::Exited(0))
}

/// `-attach:SHELLID`: Connect, then stream the shell's command like a run; at its end the
/// command is terminated and the shell deleted. SIGTERM/SIGHUP disconnect again instead.
pub(crate) async fn attach(client: &Client, shell_id: &str) -> Result<Ending, Failure> {
    let mut signals = LocalSignals::install()?;
    let shell = Shell::connect(client, shell_id).await?;
    let commands = shell.commands().await?;
    // The command winrs started there (a shell of -detach has one); a Done one still has
    // output and its exit code to deliver.
    let Some(item) = commands.first() else {
        let _ = shell.close().await;
        return Err(Failure::local(format!(
            "shell {shell_id} has no command to attach to"
        )));
    };
    let command = shell.command(&item.command_id);
    let (mut received, output_task) = read_output(&command)?;
    let result = pump(&command, &mut received, &mut signals).await;
    output_task.abort();
    if let Ok(Ending::Stopped { .. }) = result {
        // Leave it running, disconnected, for a later -attach.
        shell.disconnect(None).await?;
        return result;
    }
    let _ = command.signal(Signal::Terminate).await;
    let _ = shell.close().await;
    result
}

/// `-list`: the caller's shells, one line each, then one indented line per command.
pub(crate) async fn list(client: &Client) -> Result<Ending, Failure> {
    let mut text = String::new();
    for described in list_shells(client).await? {
        let state = described.state.as_deref().unwrap_or("Connected");
        text.push_str(&format!(
            "{}  {:<12}  {}\n",
            described.shell_id,
            state,
            run_time(described.shell_run_time)
        ));
        let shell = Shell::connectionless(client, &described.shell_id)?;
        for command in shell.commands().await? {
            text.push_str(&format!(
                "    {}  {:<8}  {}\n",
                command.command_id, command.state, command.command_line
            ));
        }
    }
    let mut stdout = tokio::io::stdout();
    write_all(&mut stdout, text.as_bytes())
        .await
        .map_err(|e| Failure::local(format!("cannot write the list: {e}")))?;
    Ok(Ending::Exited(0))
}

/// A run time as `1h02m03s`.
fn run_time(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!("{}h{:02}m{:02}s", s / 3600, (s % 3600) / 60, s % 60)
}

async fn run_in(
    shell: &Shell,
    switches: &ShellSwitches,
    command_line: &str,
    arguments: &[String],
    signals: &mut LocalSignals,
) -> Result<Ending, Failure> {
    let command = shell
        .run(command_line, arguments, &command_options(switches))
        .await?;
    // Stdin already at its end (`< /dev/null`, an empty file, a closed pipe): its end goes
    // before the first Receive, so no Send waits beside that Receive for a connection of its
    // own. Otherwise stdin streams as it is read.
    let stdin_task = if crate::stdin::at_end() {
        // Failures are the Receive's to report, as for the End the stdin task sends.
        let _ = command.send(&[], true).await;
        None
    } else {
        Some(tokio::spawn(forward_stdin(command.clone())))
    };
    let resize_task = switches
        .pty
        .then(|| tokio::spawn(follow_window_size(command.clone())));
    let (mut received, output_task) = read_output(&command)?;
    let result = pump(&command, &mut received, signals).await;
    if let Some(task) = stdin_task {
        task.abort();
    }
    output_task.abort();
    if let Some(task) = resize_task {
        task.abort();
    }
    // Windows clients end every command with terminate, also after Done: it releases the
    // CommandId. It fails harmlessly when the command is already gone.
    let _ = command.signal(Signal::Terminate).await;
    result
}

type Event = Result<Option<Output>, ClientError>;

/// The command's output, read by a task of its own (aborted by the caller) into a channel
/// that ends after the first event that is not data.
fn read_output(
    command: &Command,
) -> Result<(mpsc::Receiver<Event>, tokio::task::JoinHandle<()>), Failure> {
    let (events, received) = mpsc::channel(4);
    let mut reader = command.output()?;
    let task = tokio::spawn(async move {
        loop {
            let next = reader.next().await;
            let last = !matches!(next, Ok(Some(Output::Data { .. })));
            if events.send(next).await.is_err() || last {
                return;
            }
        }
    });
    Ok((received, task))
}

/// Write output as it arrives and turn Ctrl-C into signals, until the command ends (or winrs
/// is told to stop).
async fn pump(
    command: &Command,
    received: &mut mpsc::Receiver<Event>,
    signals: &mut LocalSignals,
) -> Result<Ending, Failure> {
    let local =
        LocalOutput::new().map_err(|e| Failure::local(format!("cannot write the output: {e}")))?;
    let mut pressed = 0u32;
    loop {
        tokio::select! {
            event = received.recv() => match event {
                Some(Ok(Some(Output::Data { stream, data }))) => {
                    let to_stderr = stream.eq_ignore_ascii_case("stderr");
                    local.write(to_stderr, data).await.map_err(|e| {
                        Failure::local(format!("cannot write the {stream} output: {e}"))
                    })?;
                }
                Some(Ok(Some(Output::Exited { exit_code }))) => return Ok(Ending::Exited(exit_code)),
                // Kinds of output this winrs does not know: nothing to show.
                Some(Ok(Some(_))) => {}
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(None)) | None => {
                    return Err(ClientError::Protocol {
                        reason: "the output ended without an exit code".to_owned(),
                    }
                    .into())
                }
            },
            _ = signals.terminate.recv() => return Ok(Ending::Stopped { signal: 15 }),
            _ = signals.hangup.recv() => return Ok(Ending::Stopped { signal: 1 }),
            _ = signals.interrupt.recv() => {
                pressed += 1;
                if pressed == 1 {
                    // Best effort: a failure here shows up in the output loop too.
                    let _ = command.signal(Signal::CtrlC).await;
                } else {
                    eprintln!("winrs: terminating the remote command");
                    return Ok(Ending::Interrupted);
                }
            }
        }
    }
}

/// winrs's own stdout and stderr for the remote command's output: each received buffer is
/// written by a blocking-pool thread as it is, so the runtime stays free for the next Receive
/// and for Ctrl-C. Why not `tokio::io::stdout()`: it copies every buffer into one of its own
/// and writes through std's line-buffered stdout, which scans every byte for a newline, two
/// passes over all the output that nothing needs (the command's bytes are written as they
/// came, and each write is whole before the next starts, as before).
struct LocalOutput {
    stdout: std::sync::Arc<std::fs::File>,
    stderr: std::sync::Arc<std::fs::File>,
}

impl LocalOutput {
    /// Duplicates of descriptors 1 and 2 (std's own handles are left as they are).
    fn new() -> std::io::Result<Self> {
        use std::os::fd::AsFd;
        let duplicate = |fd: std::os::fd::BorrowedFd<'_>| {
            fd.try_clone_to_owned()
                .map(|owned| std::sync::Arc::new(std::fs::File::from(owned)))
        };
        Ok(Self {
            stdout: duplicate(std::io::stdout().as_fd())?,
            stderr: duplicate(std::io::stderr().as_fd())?,
        })
    }

    #[cfg(test)]
    fn of(stdout: std::fs::File, stderr: std::fs::File) -> Self {
        Self {
            stdout: std::sync::Arc::new(stdout),
            stderr: std::sync::Arc::new(stderr),
        }
    }

    /// Writes all of `data` to stdout (or stderr), whole, before returning.
    async fn write(&self, to_stderr: bool, data: Vec<u8>) -> std::io::Result<()> {
        use std::io::Write;
        let file = std::sync::Arc::clone(if to_stderr {
            &self.stderr
        } else {
            &self.stdout
        });
        tokio::task::spawn_blocking(move || (&*file).write_all(&data))
            .await
            .map_err(std::io::Error::other)?
    }
}

async fn write_all<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> std::io::Result<()> {
    w.write_all(data).await?;
    w.flush().await
}

/// `-pty`: every change of the local window (SIGWINCH) is sent as wsmand's resize signal.
/// A failed resize is not worth ending the run for (a host without the extension faults).
async fn follow_window_size(command: Command) {
    let Ok(mut changes) = signal(SignalKind::window_change()) else {
        return;
    };
    while changes.recv().await.is_some() {
        let (rows, columns) = crate::terminal::window_size();
        let _ = command.resize(rows, columns).await;
    }
}

/// `f:WSManFault/@Code` of `w:InvalidSelectors`: the command (or shell) is gone.
const INVALID_SELECTORS: u32 = 2_150_858_843;

/// Forward stdin as it is read (a terminal delivers it line by line), then End at EOF. Stops
/// quietly when the command is gone. When a Send fails otherwise (typically `w:TimedOut`: the
/// command did not read its stdin within the operation timeout, and the server may have taken
/// part of the chunk), forwarding stops with a warning and the command's stdin is closed, so
/// that it sees EOF instead of waiting forever.
async fn forward_stdin(command: Command) {
    let mut stdin = tokio::io::stdin();
    let mut buffer = vec![0u8; MAX_SEND_CHUNK];
    loop {
        let sent = match stdin.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                let _ = command.send(&[], true).await;
                return;
            }
            Ok(n) => command.send(&buffer[..n], false).await,
        };
        match sent {
            Ok(()) => {}
            Err(ClientError::Fault {
                wsman_code: Some(INVALID_SELECTORS),
                ..
            }) => return,
            Err(e) => {
                eprintln!("winrs: stdin forwarding stopped, closing the command's input: {e}");
                let _ = command.send(&[], true).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LocalOutput;
    use std::io::Read;

    /// Every byte of every buffer arrives, in order, on the stream it was meant for: buffers
    /// with and without newlines, larger than a pipe holds, and empty.
    #[tokio::test]
    async fn output_is_written_whole_and_in_order_to_its_stream() {
        let (mut out_reader, out_writer) = std::io::pipe().unwrap();
        let (mut err_reader, err_writer) = std::io::pipe().unwrap();
        let file =
            |writer: std::io::PipeWriter| std::fs::File::from(std::os::fd::OwnedFd::from(writer));
        let local = LocalOutput::of(file(out_writer), file(err_writer));
        let readers = std::thread::spawn(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let err_thread = std::thread::spawn(move || {
                err_reader.read_to_end(&mut err).unwrap();
                err
            });
            out_reader.read_to_end(&mut out).unwrap();
            (out, err_thread.join().unwrap())
        });
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut expected_out = Vec::new();
        for data in [
            b"no newline".to_vec(),
            b"one\ntwo\n".to_vec(),
            big.clone(),
            Vec::new(),
        ] {
            expected_out.extend_from_slice(&data);
            local.write(false, data).await.unwrap();
        }
        local.write(true, b"on stderr\n".to_vec()).await.unwrap();
        drop(local);
        let (out, err) = readers.join().unwrap();
        assert_eq!(out, expected_out);
        assert_eq!(err, b"on stderr\n");
    }
}
