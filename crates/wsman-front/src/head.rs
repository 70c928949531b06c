//! A request head too large answered with the service's own page (the console's: a 1 MiB
//! search string in the address is told to shorten it), not the HTTP parser's bare 431. The
//! guard watches the bytes of each connection on their way to hyper: request heads (counted),
//! bodies (skipped by their Content-Length); a head over [`TooLarge::limit`] is not passed on,
//! the page is written and the connection ends. A request hyper frames otherwise (chunked, an
//! upgrade to a WebSocket) turns the guard off for the rest of the connection: hyper's own
//! bounds apply. Nothing is buffered beyond one header line's first bytes. Untrusted input:
//! fuzzed (the `mgmt_http` target) and property-tested.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes read and dropped after the page (the rest of a 1 MiB address fits).
const MAX_DRAINED_BYTES: usize = 2 << 20;
/// The header name bytes looked at (`transfer-encoding:` is the longest needed).
const NAME_BYTES: usize = 20;

/// A service's answer to a head too large.
#[derive(Clone, Copy, Debug)]
pub struct TooLarge {
    /// Largest request head passed on: below hyper's buffer ([`crate::http::HeadLimits`]'s
    /// `max_bytes`), so the guard answers before hyper refuses.
    pub limit: usize,
    /// The whole answer, status line to body (`Connection: close`).
    pub answer: &'static [u8],
}

/// Where the scanner is in the connection's bytes.
#[derive(Debug, PartialEq, Eq)]
enum State {
    /// In a request head: its bytes so far, the current line's first bytes (lower case).
    Head {
        bytes: usize,
        line: Vec<u8>,
        line_bytes: usize,
        content_length: u64,
        other_framing: bool,
    },
    /// In a body: bytes still to skip.
    Body(u64),
    /// Framing the guard does not follow: everything passes.
    Off,
}

impl State {
    fn head() -> Self {
        State::Head {
            bytes: 0,
            line: Vec::new(),
            line_bytes: 0,
            content_length: 0,
            other_framing: false,
        }
    }
}

/// What the scanner says of a chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on.
    Pass,
    /// A head is too large: answer with the page, pass nothing more.
    TooLarge,
}

/// The pure part: request heads counted, bodies skipped, across chunks.
#[derive(Debug)]
pub struct HeadScanner {
    state: State,
    limit: usize,
}

impl HeadScanner {
    /// Heads up to `limit` bytes pass.
    pub fn new(limit: usize) -> Self {
        Self {
            state: State::head(),
            limit,
        }
    }

    /// Passes everything (no guard).
    fn off() -> Self {
        Self {
            state: State::Off,
            limit: usize::MAX,
        }
    }

    /// Follows `chunk`, the connection's next bytes.
    pub fn scan(&mut self, chunk: &[u8]) -> Verdict {
        let mut rest = chunk;
        while !rest.is_empty() {
            match &mut self.state {
                State::Off => return Verdict::Pass,
                State::Body(remaining) => {
                    let skipped = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    *remaining -= skipped as u64;
                    rest = &rest[skipped..];
                    if *remaining == 0 {
                        self.state = State::head();
                    }
                }
                State::Head { .. } => {
                    let byte = rest[0];
                    rest = &rest[1..];
                    if let Some(verdict) = self.head_byte(byte) {
                        return verdict;
                    }
                }
            }
        }
        Verdict::Pass
    }

    /// One byte of a head; `Some` when the chunk's verdict is decided.
    fn head_byte(&mut self, byte: u8) -> Option<Verdict> {
        let State::Head {
            bytes,
            line,
            line_bytes,
            content_length,
            other_framing,
        } = &mut self.state
        else {
            return None;
        };
        *bytes += 1;
        if *bytes > self.limit {
            return Some(Verdict::TooLarge);
        }
        if byte != b'\n' {
            if byte != b'\r' {
                *line_bytes += 1;
                if line.len() < NAME_BYTES + 24 {
                    line.push(byte.to_ascii_lowercase());
                }
            }
            return None;
        }
        // A line ended: an empty one ends the head (a leading empty line, which HTTP lets a
        // client send before the request line, is not counted as an end).
        if *line_bytes == 0 {
            if *bytes <= 2 {
                *bytes = 0;
                return None;
            }
            let (length, other) = (*content_length, *other_framing);
            self.state = if other {
                State::Off
            } else if length > 0 {
                State::Body(length)
            } else {
                State::head()
            };
            return None;
        }
        let text = std::mem::take(line);
        *line_bytes = 0;
        if let Some(value) = text.strip_prefix(b"content-length:") {
            match std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(length) => *content_length = length,
                // Hyper refuses it; the guard need not follow.
                None => *other_framing = true,
            }
        } else if text.starts_with(b"transfer-encoding:") || text.starts_with(b"upgrade:") {
            *other_framing = true;
        }
        None
    }
}

/// A connection's stream with its request heads guarded.
pub struct HeadGuard<S> {
    inner: S,
    scanner: HeadScanner,
    answer: &'static [u8],
    /// The page's bytes written so far, once a head was too large.
    refusing: Option<usize>,
    /// The client's bytes read and dropped after the page (0: not yet shut down).
    drained: usize,
}

impl<S> HeadGuard<S> {
    /// Guards `inner` as `too_large` says; `None`: passes every byte (hyper's bounds only).
    pub fn new(inner: S, too_large: Option<TooLarge>) -> Self {
        Self {
            inner,
            scanner: too_large.map_or_else(HeadScanner::off, |t| HeadScanner::new(t.limit)),
            answer: too_large.map_or(&[][..], |t| t.answer),
            refusing: None,
            drained: 0,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> HeadGuard<S> {
    /// Writes the page and ends the sending side, then reads and drops what the client is
    /// still sending (at most [`MAX_DRAINED_BYTES`], within hyper's head deadline): closing
    /// with unread bytes would reset the connection and lose the page on its way. Then the
    /// reader sees the end.
    fn poll_refuse(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(written) = self.refusing.filter(|w| *w < self.answer.len()) {
            let n = std::task::ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.answer[written..])
            )?;
            if n == 0 {
                return Poll::Ready(Ok(()));
            }
            self.refusing = Some(written + n);
        }
        if self.drained == 0 {
            std::task::ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            // Counted as one byte: shut down once.
            self.drained = 1;
        }
        let mut scratch = [0u8; 8192];
        while self.drained < MAX_DRAINED_BYTES {
            let mut buf = ReadBuf::new(&mut scratch);
            match std::task::ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => self.drained += buf.filled().len(),
                _ => break,
            }
        }
        self.drained = MAX_DRAINED_BYTES;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusing.is_some() {
            return this.poll_refuse(cx);
        }
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if this.scanner.scan(&buf.filled()[before..]) == Verdict::TooLarge {
            buf.set_filled(before);
            this.refusing = Some(0);
            return this.poll_refuse(cx);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    /// Forwarded, so that hyper writes a response's head and body with one vectored write
    /// where the stream can, instead of copying the body behind the head first.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
