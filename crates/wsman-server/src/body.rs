//! The size guard: request bodies are bounded before and while they are read.
//!
//! A declared Content-Length over the limit is refused before one body byte is read; a chunked
//! body is counted frame by frame and cut off as soon as it passes the limit; the whole read is
//! bounded by Service/MaxPacketRetrievalTimeSeconds. Bodies of refused (401) requests are
//! drained without being kept.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

use crate::error::ServiceError;

/// Check the declared length against the limit. `Ok(None)` when no length was declared
/// (chunked). The length is the one hyper read from the Content-Length header (it answers 400
/// itself to an invalid or conflicting one, and drops it beside `Transfer-Encoding`), not
/// parsed again.
pub fn check_declared<B: Body>(body: &B, limit: u64) -> Result<Option<u64>, ServiceError> {
    let declared = body.size_hint().exact();
    if declared.is_some_and(|length| length > limit) {
        return Err(ServiceError::PayloadTooLarge { limit });
    }
    Ok(declared)
}

/// Read a whole body of at most `limit` bytes within `timeout`. `declared` (a checked
/// Content-Length) sizes the buffer up front; otherwise it grows with the data.
pub async fn read_limited<B>(
    body: B,
    limit: u64,
    declared: Option<u64>,
    timeout: Duration,
) -> Result<Bytes, ServiceError>
where
    B: Body<Data = Bytes> + Unpin,
{
    let capacity = declared.unwrap_or(0).min(limit);
    let mut collect = std::pin::pin!(collect_frames(
        body,
        limit,
        usize::try_from(capacity).unwrap_or(0),
        true
    ));
    // A body that came with its headers (most envelopes) is read whole by this first poll,
    // which does not wait, and then needs no timer (nor a clock reading); one that must be
    // waited for has `timeout` from here.
    let first = std::future::poll_fn(|cx| Poll::Ready(collect.as_mut().poll(cx))).await;
    if let Poll::Ready(result) = first {
        return result;
    }
    match tokio::time::timeout(timeout, collect).await {
        Ok(result) => result,
        Err(_) => Err(ServiceError::BodyTimeout {
            seconds: timeout.as_secs(),
        }),
    }
}

/// Read and throw away a body of at most `limit` bytes within `timeout`, so that the
/// connection stays usable after an answer that does not look at the body (401).
pub async fn drain_limited<B>(body: B, limit: u64, timeout: Duration) -> Result<(), ServiceError>
where
    B: Body<Data = Bytes> + Unpin,
{
    match tokio::time::timeout(timeout, collect_frames(body, limit, 0, false)).await {
        Ok(result) => result.map(|_| ()),
        Err(_) => Err(ServiceError::BodyTimeout {
            seconds: timeout.as_secs(),
        }),
    }
}

async fn collect_frames<B>(
    mut body: B,
    limit: u64,
    capacity: usize,
    keep: bool,
) -> Result<Bytes, ServiceError>
where
    B: Body<Data = Bytes> + Unpin,
{
    // A body that arrives as one frame (a small envelope read with its headers) is kept as
    // that frame, without a copy; a second frame starts the joined buffer.
    let mut first: Option<Bytes> = None;
    let mut buffer = BytesMut::new();
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ServiceError::BadRequest {
            reason: "request body could not be read".to_owned(),
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing we use
        };
        seen = seen.saturating_add(data.len() as u64);
        if seen > limit {
            return Err(ServiceError::PayloadTooLarge { limit });
        }
        if keep && !data.is_empty() {
            match first.take() {
                None if buffer.is_empty() => first = Some(data),
                None => buffer.extend_from_slice(&data),
                Some(earlier) => {
                    buffer.reserve(capacity.max(earlier.len() + data.len()));
                    buffer.extend_from_slice(&earlier);
                    buffer.extend_from_slice(&data);
                }
            }
        }
        // A body that says it has ended (hyper's, once its Content-Length is read) is not
        // asked again for a frame it has not got.
        if body.is_end_stream() {
            break;
        }
    }
    Ok(first.unwrap_or_else(|| buffer.freeze()))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use http_body_util::Full;
    use hyper::body::Frame;

    use super::*;

    #[test]
    fn a_declared_length_over_limit_is_413() {
        let declared = |body: &[u8]| check_declared(&Full::new(Bytes::copy_from_slice(body)), 4);
        assert!(matches!(
            declared(b"abcde"),
            Err(ServiceError::PayloadTooLarge { limit: 4 })
        ));
        assert_eq!(declared(b"abcd").ok(), Some(Some(4)));
        assert_eq!(check_declared(&chunked(9, 9), 4).ok(), Some(None));
    }

    /// A body of the given frames, in order, of unknown total size, like
    /// `Transfer-Encoding: chunked`.
    struct Frames<I>(I);

    impl<I: Iterator<Item = Bytes> + Unpin> Body for Frames<I> {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.next().map(|data| Ok(Frame::data(data))))
        }
    }

    /// `count` frames of `size` bytes.
    fn chunked(count: usize, size: usize) -> Frames<impl Iterator<Item = Bytes> + Unpin> {
        Frames(std::iter::repeat_n(Bytes::from(vec![b'a'; size]), count))
    }

    #[tokio::test]
    async fn chunked_body_is_cut_at_the_limit() {
        let body = chunked(5, 300);
        let err = read_limited(body, 1024, None, Duration::from_secs(5)).await;
        assert!(matches!(
            err,
            Err(ServiceError::PayloadTooLarge { limit: 1024 })
        ));
        let body = chunked(3, 300);
        let ok = read_limited(body, 1024, None, Duration::from_secs(5)).await;
        assert_eq!(ok.map(|b| b.len()).ok(), Some(900));
    }

    #[tokio::test]
    async fn frames_are_joined_in_order_and_one_frame_is_kept_as_it_came() {
        let frames = |parts: &[&'static [u8]]| {
            Frames(
                parts
                    .iter()
                    .map(|p| Bytes::from_static(p))
                    .collect::<Vec<_>>()
                    .into_iter(),
            )
        };
        for parts in [
            &[&b"<s:Envelope/>"[..]][..],
            &[b"<s:Env", b"", b"elope", b"/>"],
            &[b"", b"<s:Envelope/>"],
            &[],
        ] {
            let expected = parts.concat();
            let declared = Some(expected.len() as u64);
            for declared in [declared, None] {
                let read = read_limited(frames(parts), 1024, declared, Duration::from_secs(5))
                    .await
                    .ok();
                assert_eq!(read.as_deref(), Some(&expected[..]), "{parts:?}");
            }
        }
        let single = Bytes::from_static(b"<s:Envelope/>");
        let read = read_limited(
            Frames([single.clone()].into_iter()),
            1024,
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(read.as_ptr(), single.as_ptr(), "one frame: not copied");
    }

    /// One frame, then the end said by `is_end_stream` (as hyper's body says it once its
    /// Content-Length is read); asked for a frame after that, it fails.
    struct SaysItEnded(Option<Bytes>);

    impl Body for SaysItEnded {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(Some(match self.0.take() {
                Some(data) => Ok(Frame::data(data)),
                None => Err(std::io::Error::other("polled after its end")),
            }))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_none()
        }
    }

    #[tokio::test]
    async fn a_body_that_said_it_ended_is_not_polled_again() {
        let envelope = Bytes::from_static(b"<s:Envelope/>");
        let read = read_limited(
            SaysItEnded(Some(envelope.clone())),
            1024,
            Some(13),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(read.ok(), Some(envelope));
        let drained = drain_limited(
            SaysItEnded(Some(Bytes::from_static(b"abc"))),
            3,
            Duration::from_secs(1),
        );
        assert!(drained.await.is_ok());
    }

    #[tokio::test]
    async fn an_endless_chunked_body_stops_at_the_limit() {
        let body = chunked(usize::MAX, 4096);
        let err = read_limited(body, 500 * 1024, None, Duration::from_secs(5)).await;
        assert!(matches!(err, Err(ServiceError::PayloadTooLarge { .. })));
    }

    #[tokio::test]
    async fn drain_counts_too() {
        let ok = drain_limited(
            Full::new(Bytes::from_static(b"abc")),
            3,
            Duration::from_secs(1),
        );
        assert!(ok.await.is_ok());
        let big = drain_limited(
            Full::new(Bytes::from_static(b"abcd")),
            3,
            Duration::from_secs(1),
        );
        assert!(matches!(
            big.await,
            Err(ServiceError::PayloadTooLarge { .. })
        ));
    }
}
