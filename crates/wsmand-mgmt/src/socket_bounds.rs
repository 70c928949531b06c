//! The bounds both console WebSockets keep, the terminal's (`terminal`) and the events page's
//! live stream (`event_stream`), in one place so that the two relays cannot drift apart: how
//! much waits for a socket, how long a socket may take to close, how often it looks at its
//! session, and how long its upgrade query may be; and the steps both take to open a socket,
//! close it and audit its end.

use std::fmt::Display;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::SinkExt as _;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::audit::AuditTrail;
use crate::sessions::Sessions;
use crate::socket_slots::Slot;

/// Frames waiting for the socket; while one waits, nothing more is asked of the host (no
/// Receive, no Pull), so a slow browser slows the host's side, not the memory.
pub const QUEUED_OUTPUT_FRAMES: usize = 1;
/// Largest write buffer per socket: a queued frame and the close.
pub const MAX_SOCKET_WRITE_BUFFER: usize = 1024 * 1024;
/// How often a socket checks that its session is still live (expiry is lazy elsewhere).
pub const SESSION_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// How long a closing socket, and the Delete or Unsubscribe at the host after it, may take.
pub const CLOSE_DEADLINE: Duration = Duration::from_secs(5);
/// Longest upgrade query (`csrf=TOKEN&...`).
pub const MAX_UPGRADE_QUERY_BYTES: usize = 512;

/// A socket's limits: frames and messages from the browser capped at `max_incoming_frame`
/// (a larger one closes the socket with 1009), and the write buffer at
/// [`MAX_SOCKET_WRITE_BUFFER`].
pub fn socket_config(max_incoming_frame: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(max_incoming_frame))
        .max_message_size(Some(max_incoming_frame))
        .max_write_buffer_size(MAX_SOCKET_WRITE_BUFFER)
        .read_buffer_size(max_incoming_frame)
        .write_buffer_size(0)
}

/// A console WebSocket, the server's side.
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// The server side of an upgraded connection, with [`socket_config`]'s limits.
pub async fn server_socket(upgraded: Upgraded, max_incoming_frame: usize) -> Socket {
    let config = socket_config(max_incoming_frame);
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await
}

/// Ends a socket: `message` (the reason, as the page shows it) as a last text frame, the close
/// frame with `code` and the reason's first 100 characters, then the closing handshake.
pub async fn send_close(
    sink: &mut SplitSink<Socket, Message>,
    message: String,
    code: CloseCode,
    why: &str,
) {
    let _ = sink.send(Message::Text(message.into())).await;
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: why.chars().take(100).collect::<String>().into(),
        })))
        .await;
    let _ = sink.close().await;
}

/// Wait [`CLOSE_DEADLINE`] for the task writing a closing socket, then give up on it.
pub async fn finish_writer<T>(mut writer: JoinHandle<T>) {
    if tokio::time::timeout(CLOSE_DEADLINE, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

/// The host's side of an end (Delete, Unsubscribe) within [`CLOSE_DEADLINE`], as audited:
/// `done`, or `action` failed or timed out.
pub async fn end_at_host<E: Display>(
    end: impl Future<Output = Result<(), E>>,
    done: &str,
    action: &str,
) -> String {
    match tokio::time::timeout(CLOSE_DEADLINE, end).await {
        Ok(Ok(())) => done.to_owned(),
        Ok(Err(error)) => format!("{action} failed: {error}"),
        Err(_) => format!("{action} timed out"),
    }
}

/// Who a socket serves, for its checks and its audit records.
#[derive(Clone, Debug)]
pub struct SocketContext {
    /// The configured host's name.
    pub host: String,
    /// The console user: the logged-in principal.
    pub owner: wsman_principal::OwnerKey,
    /// The client's address.
    pub client: IpAddr,
    /// The session's id (to check it is still live).
    pub session_id: String,
}

impl SocketContext {
    /// Audit the socket's end (`event`, e.g. "terminal closed"): `detail` after the host.
    pub fn audit(&self, audit: &AuditTrail, event: &str, detail: &str) {
        let detail = format!("{}: {detail}", self.host);
        audit.record_on(self.client, &self.owner, event, &self.host, &detail);
    }
}

/// What a relay holds from its upgrade to its end: its slot, who it serves, the sessions (its
/// own is checked while it runs) and the audit trail its end is recorded in.
pub struct Relay {
    pub slot: Slot,
    pub context: SocketContext,
    pub sessions: Arc<Sessions>,
    pub audit: Arc<AuditTrail>,
    /// When the connection was upgraded.
    pub started: Instant,
}

impl Relay {
    /// Resolves when the relay's session ends it: `logout` once its slot is told to end,
    /// `expired` once a check (every [`SESSION_CHECK_INTERVAL`]) finds the session gone.
    pub async fn session_over<E>(&self, logout: E, expired: E) -> E {
        let mut ended = self.slot.ended();
        let mut check = tokio::time::interval(SESSION_CHECK_INTERVAL);
        loop {
            tokio::select! {
                _ = ended.changed() => return logout,
                _ = check.tick() => {
                    if !self.sessions.is_live(&self.context.session_id) {
                        return expired;
                    }
                }
            }
        }
    }

    /// The relay's end: its slot freed, then `event` audited with `detail` of the seconds it
    /// ran.
    pub fn finish(self, event: &str, detail: impl FnOnce(u64) -> String) {
        drop(self.slot);
        let seconds = self.started.elapsed().as_secs();
        self.context.audit(&self.audit, event, &detail(seconds));
    }
}
