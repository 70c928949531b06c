//! The bounds both console WebSockets keep, the terminal's (`terminal`) and the events page's
//! live stream (`event_stream`), in one place so that the two relays cannot drift apart: how
//! much waits for a socket, how long a socket may take to close, how often it looks at its
//! session, and how long its upgrade query may be.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

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
