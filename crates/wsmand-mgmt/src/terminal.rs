//! The terminal page's server side: one WinRS shell per (session, host), relayed over a
//! WebSocket. The upgrade is checked in `http` (session, Origin, CSRF token); this module owns
//! what happens after: the registry that bounds terminals and ends them at logout, and the
//! relay, bounded everywhere: frames are capped (a larger one closes the socket with 1009),
//! typed input waits in a small queue (a full queue stops reading the socket, so TCP pushes
//! back on the browser), and output is read from the host only as fast as the socket drains
//! (one Receive ahead at most, one frame queued). Closing the socket, logout, session expiry or
//! the shell's end all close the shell with a Delete, which ends its processes on the host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use hyper::upgrade::Upgraded;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use wsman_client::shell::{Command, Output, OutputReader, Shell};

use crate::sessions::Sessions;
use crate::socket_bounds::{
    end_at_host, finish_writer, send_close, server_socket, Relay, Socket, CLOSE_DEADLINE,
    QUEUED_OUTPUT_FRAMES,
};
pub use crate::socket_slots::{Refusal, Slot, Terminals, MAX_TERMINALS, MAX_TERMINALS_PER_SESSION};
use crate::terminal_proto::{self, Control, WindowSize, MAX_INPUT_FRAME};

/// Input chunks waiting to be sent to the host; when full the socket is not read.
const INPUT_QUEUE: usize = 16;

/// What ended a terminal, as audited.
#[derive(Debug)]
enum End {
    ClientClosed,
    ShellEnded,
    Logout,
    SessionExpired,
    TooLarge,
    BadMessage(&'static str),
    Error(String),
}

impl End {
    fn describe(&self) -> String {
        match self {
            Self::ClientClosed => "the browser closed the socket".to_owned(),
            Self::ShellEnded => "the shell ended".to_owned(),
            Self::Logout => "logout".to_owned(),
            Self::SessionExpired => "the session expired".to_owned(),
            Self::TooLarge => format!("a frame larger than {MAX_INPUT_FRAME} bytes"),
            Self::BadMessage(why) => format!("a malformed message: {why}"),
            Self::Error(error) => format!("error: {error}"),
        }
    }

    fn close_code(&self) -> CloseCode {
        match self {
            Self::ClientClosed | Self::ShellEnded => CloseCode::Normal,
            Self::Logout | Self::SessionExpired => CloseCode::Policy,
            Self::TooLarge => CloseCode::Size,
            Self::BadMessage(_) => CloseCode::Invalid,
            Self::Error(_) => CloseCode::Error,
        }
    }
}

/// Input for the host, in the order typed.
enum Input {
    Bytes(Vec<u8>),
    Resize(WindowSize),
}

/// What the socket writer sends.
enum Outgoing {
    Output(Vec<u8>),
    Close(CloseCode, String),
}

/// Reads the socket into the input queue until the browser closes it or sends something
/// refused.
async fn read_socket(
    mut stream: futures_util::stream::SplitStream<Socket>,
    input: mpsc::Sender<Input>,
    sessions: Arc<Sessions>,
    session_id: String,
) -> End {
    let mut last_touch = Instant::now();
    while let Some(message) = stream.next().await {
        let item = match message {
            Ok(Message::Binary(bytes)) => Input::Bytes(bytes.to_vec()),
            Ok(Message::Text(text)) => match terminal_proto::parse_control(text.as_str()) {
                Ok(Control::Resize(size)) => Input::Resize(size),
                Err(error) => {
                    return End::BadMessage(match error {
                        terminal_proto::ProtoError::TooLarge => "too large",
                        terminal_proto::ProtoError::Malformed => "not a resize",
                        terminal_proto::ProtoError::BadSize => "window size out of range",
                    })
                }
            },
            Ok(Message::Close(_)) => return End::ClientClosed,
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Err(WsError::Capacity(_)) => return End::TooLarge,
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return End::ClientClosed,
            Err(error) => return End::Error(format!("socket: {error}")),
        };
        // Typing is activity: the session's idle clock restarts (at most once a second).
        if last_touch.elapsed() >= Duration::from_secs(1) {
            last_touch = Instant::now();
            if sessions.touch(&session_id).is_none() {
                return End::SessionExpired;
            }
        }
        if input.send(item).await.is_err() {
            break;
        }
    }
    End::ClientClosed
}

/// Sends queued input to the command (consecutive typed chunks coalesced into one Send).
async fn send_input(mut input: mpsc::Receiver<Input>, command: Command) -> End {
    while let Some(item) = input.recv().await {
        let result = match item {
            Input::Bytes(mut bytes) => {
                while bytes.len() < wsman_client::shell::MAX_SEND_CHUNK {
                    match input.try_recv() {
                        Ok(Input::Bytes(more)) => bytes.extend_from_slice(&more),
                        Ok(Input::Resize(size)) => {
                            if let Err(error) = command.send(&bytes, false).await {
                                return End::Error(format!("send: {error}"));
                            }
                            bytes.clear();
                            if let Err(error) = command.resize(size.rows, size.cols).await {
                                tracing::debug!(%error, "terminal resize refused by the host");
                            }
                        }
                        Err(_) => break,
                    }
                }
                if bytes.is_empty() {
                    Ok(())
                } else {
                    command.send(&bytes, false).await
                }
            }
            Input::Resize(size) => {
                // Windows answers the unknown signal with a fault: not an error here.
                if let Err(error) = command.resize(size.rows, size.cols).await {
                    tracing::debug!(%error, "terminal resize refused by the host");
                }
                Ok(())
            }
        };
        if let Err(error) = result {
            return End::Error(format!("send: {error}"));
        }
    }
    // The queue closes only when the socket reader has ended, and the reader's end says why (a
    // frame too large, a bad message, the client's close). Ending here as well would race it
    // in the relay's select and could close a 1009 case with 1000: this task never ends the
    // terminal on its own for that.
    std::future::pending().await
}

/// Reads the command's output into the socket's queue; waits while the queue is full.
async fn read_output(mut reader: OutputReader, output: mpsc::Sender<Outgoing>) -> End {
    loop {
        match reader.next().await {
            Ok(Some(Output::Data { data, .. })) => {
                if data.is_empty() {
                    continue;
                }
                if output.send(Outgoing::Output(data)).await.is_err() {
                    return End::ClientClosed;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return End::ShellEnded,
            Err(error) => return End::Error(format!("receive: {error}")),
        }
    }
}

/// Writes queued frames to the socket; a close frame ends it.
async fn write_socket(
    mut sink: futures_util::stream::SplitSink<Socket, Message>,
    mut output: mpsc::Receiver<Outgoing>,
) {
    while let Some(item) = output.recv().await {
        match item {
            Outgoing::Output(bytes) => {
                if sink.send(Message::Binary(bytes.into())).await.is_err() {
                    return;
                }
            }
            Outgoing::Close(code, why) => {
                send_close(&mut sink, terminal_proto::closed_message(&why), code, &why).await;
                return;
            }
        }
    }
}

/// Runs one terminal from the upgraded connection to its end, then closes the shell and
/// audits how long it was open and why it ended.
pub async fn run(upgraded: Upgraded, relay: Relay, shell: Shell, command: Command) {
    let socket = server_socket(upgraded, MAX_INPUT_FRAME).await;
    let (sink, stream) = socket.split();
    let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE);
    let (output_tx, output_rx) = mpsc::channel(QUEUED_OUTPUT_FRAMES);
    let writer = tokio::spawn(write_socket(sink, output_rx));
    let mut reader = tokio::spawn(read_socket(
        stream,
        input_tx,
        Arc::clone(&relay.sessions),
        relay.context.session_id.clone(),
    ));
    let mut sender = tokio::spawn(send_input(input_rx, command.clone()));
    let end = match command.output() {
        Ok(output_reader) => {
            let mut output = tokio::spawn(read_output(output_reader, output_tx.clone()));
            let end = tokio::select! {
                end = &mut reader => end.unwrap_or_else(|e| End::Error(e.to_string())),
                end = &mut sender => end.unwrap_or_else(|e| End::Error(e.to_string())),
                end = &mut output => end.unwrap_or_else(|e| End::Error(e.to_string())),
                end = relay.session_over(End::Logout, End::SessionExpired) => end,
            };
            output.abort();
            end
        }
        Err(error) => End::Error(format!("receive: {error}")),
    };
    reader.abort();
    sender.abort();
    let why = end.describe();
    match &end {
        End::TooLarge => tracing::warn!(
            host = %relay.context.host,
            user = %relay.context.owner,
            client = %relay.context.client,
            limit = MAX_INPUT_FRAME,
            "terminal socket closed with 1009: a frame too large"
        ),
        End::BadMessage(_) | End::Error(_) => tracing::warn!(
            host = %relay.context.host,
            user = %relay.context.owner,
            client = %relay.context.client,
            why = %why,
            "terminal ended"
        ),
        _ => {}
    }
    if !writer.is_finished() {
        // The queue holds at most one frame: a socket that drains nothing is given up on.
        let close = Outgoing::Close(end.close_code(), why.clone());
        let _ = tokio::time::timeout(CLOSE_DEADLINE, output_tx.send(close)).await;
    }
    drop(output_tx);
    finish_writer(writer).await;
    // Delete ends every process the shell started on the host.
    let closed = end_at_host(shell.close(), "shell deleted", "shell delete").await;
    relay.finish("terminal closed", |seconds| {
        format!("{seconds} s: {why}; {closed}")
    });
}
