//! The terminal page's server side: one WinRS shell per (session, host), relayed over a
//! WebSocket. The upgrade is checked in `http` (session, Origin, CSRF token); this module owns
//! what happens after: the registry that bounds terminals and ends them at logout, and the
//! relay, bounded everywhere: frames are capped (a larger one closes the socket with 1009),
//! typed input waits in a small queue (a full queue stops reading the socket, so TCP pushes
//! back on the browser), and output is read from the host only as fast as the socket drains
//! (one Receive ahead at most, one frame queued). Closing the socket, logout, session expiry or
//! the shell's end all close the shell with a Delete, which ends its processes on the host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use hyper::upgrade::Upgraded;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use wsman_client::shell::{Command, Output, OutputReader, Shell};

use crate::sessions::Sessions;
use crate::socket_bounds::{
    end_at_host, finish_writer, send_close, server_socket, Relay, Socket, CLOSE_DEADLINE,
    QUEUED_OUTPUT_FRAMES,
};
use crate::terminal_proto::{self, Control, WindowSize, MAX_INPUT_FRAME};

/// Most terminals one session may have open (one per host).
pub const MAX_TERMINALS_PER_SESSION: usize = 4;
/// Most terminals the service has open (each holds a socket and a remote shell).
pub const MAX_TERMINALS: usize = 64;
/// Input chunks waiting to be sent to the host; when full the socket is not read.
const INPUT_QUEUE: usize = 16;

/// Why a terminal could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The session already has a terminal on this host.
    AlreadyOpen,
    /// The session or the service has as many terminals as allowed.
    TooMany,
}

#[derive(Default)]
struct Registry {
    /// session id -> host -> the terminal's end switch.
    by_session: HashMap<String, HashMap<String, watch::Sender<bool>>>,
    open: usize,
}

/// The open terminals, by session and host. The events page's live streams are bounded by a
/// registry of this type too (one per session and host, the same caps).
#[derive(Default)]
pub struct Terminals {
    registry: Mutex<Registry>,
}

/// A reserved place for one terminal: freed when dropped.
pub struct Slot {
    terminals: Arc<Terminals>,
    session_id: String,
    host: String,
    ended: watch::Receiver<bool>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = self.terminals.lock();
        let registry = &mut *guard;
        let Some(hosts) = registry.by_session.get_mut(&self.session_id) else {
            return;
        };
        if hosts.remove(&self.host).is_some() {
            registry.open -= 1;
        }
        if hosts.is_empty() {
            registry.by_session.remove(&self.session_id);
        }
    }
}

impl Slot {
    /// Changes to `true` when the session's terminals (and event streams) are told to end.
    pub fn ended(&self) -> watch::Receiver<bool> {
        self.ended.clone()
    }
}

impl Terminals {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves the terminal of `session_id` on `host`, before the upgrade is answered.
    pub fn reserve(self: &Arc<Self>, session_id: &str, host: &str) -> Result<Slot, Refusal> {
        let mut guard = self.lock();
        let registry = &mut *guard;
        let open = registry.open;
        let hosts = registry
            .by_session
            .entry(session_id.to_owned())
            .or_default();
        if hosts.contains_key(host) {
            return Err(Refusal::AlreadyOpen);
        }
        if hosts.len() >= MAX_TERMINALS_PER_SESSION || open >= MAX_TERMINALS {
            if hosts.is_empty() {
                registry.by_session.remove(session_id);
            }
            return Err(Refusal::TooMany);
        }
        let (end, ended) = watch::channel(false);
        hosts.insert(host.to_owned(), end);
        registry.open += 1;
        Ok(Slot {
            terminals: Arc::clone(self),
            session_id: session_id.to_owned(),
            host: host.to_owned(),
            ended,
        })
    }

    /// Ends every terminal of a session (logout); returns how many were told to end.
    pub fn end_session(&self, session_id: &str) -> usize {
        let registry = self.lock();
        registry.by_session.get(session_id).map_or(0, |hosts| {
            for end in hosts.values() {
                let _ = end.send(true);
            }
            hosts.len()
        })
    }

    /// Terminals open now.
    pub fn open(&self) -> usize {
        self.lock().open
    }
}

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
            user = %relay.context.user,
            client = %relay.context.client,
            limit = MAX_INPUT_FRAME,
            "terminal socket closed with 1009: a frame too large"
        ),
        End::BadMessage(_) | End::Error(_) => tracing::warn!(
            host = %relay.context.host,
            user = %relay.context.user,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_terminal_per_session_and_host_and_a_cap_per_session() {
        let terminals = Arc::new(Terminals::default());
        let first = terminals.reserve("s1", "a").expect("first");
        assert_eq!(
            terminals.reserve("s1", "a").err(),
            Some(Refusal::AlreadyOpen)
        );
        let others: Vec<Slot> = (1..MAX_TERMINALS_PER_SESSION)
            .map(|n| terminals.reserve("s1", &format!("h{n}")).expect("slot"))
            .collect();
        assert_eq!(terminals.reserve("s1", "z").err(), Some(Refusal::TooMany));
        // Another session is not affected.
        let other_session = terminals.reserve("s2", "a").expect("s2");
        assert_eq!(terminals.open(), MAX_TERMINALS_PER_SESSION + 1);
        assert_eq!(terminals.end_session("s1"), MAX_TERMINALS_PER_SESSION);
        assert!(*first.ended.borrow());
        assert!(!*other_session.ended.borrow());
        drop(first);
        drop(others);
        assert_eq!(terminals.open(), 1);
        assert!(terminals.reserve("s1", "a").is_ok());
    }

    #[test]
    fn the_service_wide_cap_holds() {
        let terminals = Arc::new(Terminals::default());
        let slots: Vec<Slot> = (0..MAX_TERMINALS)
            .map(|n| terminals.reserve(&format!("s{n}"), "a").expect("slot"))
            .collect();
        assert_eq!(terminals.reserve("late", "a").err(), Some(Refusal::TooMany));
        assert_eq!(terminals.lock().by_session.len(), MAX_TERMINALS);
        drop(slots);
        assert_eq!(terminals.open(), 0);
        assert!(terminals.lock().by_session.is_empty());
    }
}
