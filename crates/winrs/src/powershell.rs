//! `winrs -ps`: run the command line as a PowerShell script in a runspace pool of the host's
//! PowerShell plug-in, write what it writes as text, turn Ctrl-C into a pipeline stop, and
//! close the pool whatever happens.

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use wsman_client::powershell::{
    Pipeline, PipelineEnd, PowerShellOptions, PsOutput, RecordStream, RunspacePool,
};
use wsman_client::{Client, ClientError};

use crate::failure::Failure;
use crate::session::Ending;

/// The exit code of a script that failed or wrote errors (as `pwsh -Command` exits).
pub(crate) const EXIT_HAD_ERRORS: i64 = 1;

/// The script of a command line: COMMAND and ARGS joined with spaces.
pub(crate) fn script(command: &str, arguments: &[String]) -> String {
    std::iter::once(command)
        .chain(arguments.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `script`; the pool is closed afterwards, also when the run fails.
pub(crate) async fn run(client: &Client, script: &str) -> Result<Ending, Failure> {
    let install = |kind: SignalKind| {
        signal(kind).map_err(|e| Failure::local(format!("cannot handle signals: {e}")))
    };
    let mut signals = [
        install(SignalKind::interrupt())?,
        install(SignalKind::terminate())?,
        install(SignalKind::hangup())?,
    ];
    let pool = RunspacePool::open(client, &PowerShellOptions::default()).await?;
    let result = async {
        let pipeline = pool.run(script).await?;
        pump(pipeline, &mut signals).await
    }
    .await;
    let closed = pool.close().await;
    let ending = result?;
    // A failed Delete after the script ended does not change its result: the server reaps
    // the pool after its idle timeout.
    drop(closed);
    Ok(ending)
}

type Event = Result<Option<PsOutput>, ClientError>;

/// Writes the pipeline's events as they arrive and turns signals into a stop, until it ends.
async fn pump(
    pipeline: Pipeline,
    signals: &mut [tokio::signal::unix::Signal; 3],
) -> Result<Ending, Failure> {
    let stopper = pipeline.stopper();
    let (events, mut received) = mpsc::channel::<Event>(16);
    // The Receive long poll runs in a task of its own, so a signal never cancels one
    // half-way.
    let reader = tokio::spawn(async move {
        let mut pipeline = pipeline;
        loop {
            let next = pipeline.next().await;
            let last = !matches!(next, Ok(Some(ref e)) if !matches!(e, PsOutput::Finished(_)));
            if events.send(next).await.is_err() || last {
                pipeline.release().await;
                return;
            }
        }
    });
    let mut had_errors = false;
    let mut finished = false;
    let mut pressed = 0u32;
    let [interrupt, terminate, hangup] = signals;
    let ending = loop {
        tokio::select! {
            event = received.recv() => match event {
                Some(Ok(Some(PsOutput::Finished(end)))) => {
                    finished = true;
                    break finish(end, had_errors).await?;
                }
                Some(Ok(Some(event))) => had_errors |= write_event(event).await?,
                Some(Err(e)) => break Err(e.into()),
                Some(Ok(None)) | None => {
                    let reason = "the pipeline's output ended without its state".to_owned();
                    break Err(ClientError::Protocol { reason }.into())
                }
            },
            _ = terminate.recv() => break Ok(Ending::Stopped { signal: 15 }),
            _ = hangup.recv() => break Ok(Ending::Stopped { signal: 1 }),
            _ = interrupt.recv() => {
                pressed += 1;
                if pressed == 1 {
                    // Best effort: the pipeline then ends Stopped; a failure shows in the output.
                    let _ = stopper.stop().await;
                } else {
                    eprintln!("winrs: closing the runspace pool");
                    break Ok(Ending::Interrupted);
                }
            }
        }
    };
    if finished {
        // Let the reader release the pipeline (terminate) before the pool is deleted.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), reader).await;
    } else {
        reader.abort();
    }
    ending
}

/// How the run ends for a pipeline's end.
async fn finish(end: PipelineEnd, had_errors: bool) -> Result<Result<Ending, Failure>, Failure> {
    Ok(Ok(match end {
        PipelineEnd::Completed if !had_errors => Ending::Exited(0),
        PipelineEnd::Completed => Ending::Exited(EXIT_HAD_ERRORS),
        PipelineEnd::Failed(reason) => {
            if let Some(reason) = reason {
                write_line(&mut tokio::io::stderr(), &reason).await?;
            }
            Ending::Exited(EXIT_HAD_ERRORS)
        }
        PipelineEnd::Stopped => Ending::Interrupted,
        _ => Ending::Exited(EXIT_HAD_ERRORS),
    }))
}

/// Writes one event; true when it was an error record.
async fn write_event(event: PsOutput) -> Result<bool, Failure> {
    let (stdout, line, error) = match event {
        PsOutput::Output(text) => (true, text, false),
        PsOutput::Record { stream, text } => match stream {
            RecordStream::Error => (false, text, true),
            RecordStream::Warning => (false, format!("WARNING: {text}"), false),
            RecordStream::Verbose => (false, format!("VERBOSE: {text}"), false),
            RecordStream::Debug => (false, format!("DEBUG: {text}"), false),
            // Write-Host and Write-Information: what a console host shows on its output.
            RecordStream::Information => (true, text, false),
        },
        _ => return Ok(false),
    };
    if stdout {
        write_line(&mut tokio::io::stdout(), &line).await?;
    } else {
        write_line(&mut tokio::io::stderr(), &line).await?;
    }
    Ok(error)
}

async fn write_line<W: AsyncWrite + Unpin>(w: &mut W, line: &str) -> Result<(), Failure> {
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    let written = match w.write_all(&bytes).await {
        Ok(()) => w.flush().await,
        Err(e) => Err(e),
    };
    written.map_err(|e| Failure::local(format!("cannot write the output: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_the_command_line() {
        assert_eq!(script("Get-Date", &[]), "Get-Date");
        assert_eq!(
            script("Write-Output", &["a".to_owned(), "'b c'".to_owned()]),
            "Write-Output a 'b c'"
        );
    }
}
