//! A connection past the cap answered (the WinRM listener's 503 with a Retry-After, over HTTPS
//! inside a TLS session) without holding a connection slot, so every client learns why it was
//! turned away and when to come back. Answers in flight are bounded by [`MAX_ANSWERS_IN_FLIGHT`].

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::slots::ConnectionSlots;

/// Most refused connections being answered at once (each waits up to `READ_WAIT` for the
/// request, and over TLS first does a handshake). Beyond, a plain connection still gets the
/// answer, written at once without reading the request (the client may then see a reset
/// instead if its request arrives after the close); a TLS one is closed, as there is no TLS
/// session to answer in.
pub const MAX_ANSWERS_IN_FLIGHT: usize = 512;
/// How long an answer waits for the request, so that closing does not reset the connection
/// before the client has read the answer.
const READ_WAIT: Duration = Duration::from_millis(500);
/// Longest time an answer may take in all, TLS handshake included.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(3);

/// Answers `stream`, past the cap of `slots`, with `answer` (given the refusal's sequence
/// number, to spread a Retry-After), then closes it. A service that only closes drops it.
pub fn refuse(
    stream: TcpStream,
    slots: &Arc<ConnectionSlots>,
    tls: Option<&TlsAcceptor>,
    answer: fn(u64) -> Vec<u8>,
) {
    let sequence = slots.refused.fetch_add(1, Ordering::AcqRel);
    if slots.answering.fetch_add(1, Ordering::AcqRel) >= MAX_ANSWERS_IN_FLIGHT {
        slots.answering.fetch_sub(1, Ordering::AcqRel);
        if tls.is_none() {
            // A short answer fits any socket buffer: written without waiting.
            let _ = stream.try_write(&answer(sequence));
        }
        return;
    }
    let slots = Arc::clone(slots);
    let tls = tls.cloned();
    tokio::spawn(async move {
        let bytes = answer(sequence);
        let _ = tokio::time::timeout(ANSWER_DEADLINE, async move {
            match tls {
                None => write_answer(stream, &bytes).await,
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        write_answer(tls, &bytes).await;
                    }
                }
            }
        })
        .await;
        slots.answering.fetch_sub(1, Ordering::AcqRel);
    });
}

async fn write_answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, answer: &[u8]) {
    // Read what the client sent first (bounded), so closing does not reset the connection
    // before the client sees the answer.
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(READ_WAIT, stream.read(&mut buf)).await;
    let _ = stream.write_all(answer).await;
    let _ = stream.shutdown().await;
}
