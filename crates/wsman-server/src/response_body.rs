//! The body of an HTTP response: one buffer, or several written one after another.
//!
//! Why several: the shell engine keeps a command's output as the base64 text a Receive
//! response carries, in shared buffers. The response is the markup around that text, and
//! the text itself goes to the socket from those buffers (hyper writes the pieces with one
//! vectored write) instead of being copied into one buffer first.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// A response body of known length made of one or more pieces.
#[derive(Debug, Default)]
pub struct ResponseBody {
    /// The piece sent first: most answers are this one buffer, kept without a queue (no
    /// allocation besides the buffer's own).
    first: Option<Bytes>,
    /// The pieces after it, in order.
    rest: VecDeque<Bytes>,
    remaining: u64,
}

impl ResponseBody {
    /// A body of one buffer.
    pub fn new(bytes: Bytes) -> Self {
        Self {
            remaining: bytes.len() as u64,
            first: (!bytes.is_empty()).then_some(bytes),
            rest: VecDeque::new(),
        }
    }

    /// A body of `pieces`, in order.
    pub fn pieces(pieces: Vec<Bytes>) -> Self {
        let remaining = pieces.iter().map(|p| p.len() as u64).sum();
        Self {
            first: None,
            rest: pieces.into_iter().filter(|p| !p.is_empty()).collect(),
            remaining,
        }
    }

    /// Bytes not yet handed to the connection.
    pub fn len(&self) -> u64 {
        self.remaining
    }

    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// The pieces not yet handed to the connection, in order (e.g. to seal them where they
    /// lie instead of joining them first).
    pub fn into_pieces(self) -> Vec<Bytes> {
        self.first.into_iter().chain(self.rest).collect()
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        Self::new(bytes)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let next = this.first.take().or_else(|| this.rest.pop_front());
        Poll::Ready(next.map(|piece| {
            this.remaining -= piece.len() as u64;
            Ok(Frame::data(piece))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn pieces_come_out_in_order_with_an_exact_length() {
        let body = ResponseBody::pieces(vec![
            Bytes::from_static(b"<a>"),
            Bytes::new(),
            Bytes::from_static(b"QUJD"),
            Bytes::from_static(b"</a>"),
        ]);
        assert_eq!(body.size_hint().exact(), Some(11));
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"<a>QUJD</a>");
        assert!(ResponseBody::new(Bytes::new()).is_end_stream());
        let one = ResponseBody::new(Bytes::from_static(b"<b/>"));
        assert_eq!(one.size_hint().exact(), Some(4));
        assert_eq!(one.into_pieces(), vec![Bytes::from_static(b"<b/>")]);
    }
}
