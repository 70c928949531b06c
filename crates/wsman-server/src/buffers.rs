//! Large response buffers used again instead of fresh ones.
//!
//! A command printing flat out is answered with one Receive response after another, each up
//! to MaxEnvelopeSize (500 KB by default). The service's allocator maps buffers that large
//! afresh every time (see `dist/wsmand.service`), so every response cost new pages that the
//! kernel faults in, zeroes, charges to the memory cgroup and unmaps again. Responses are
//! rendered into a buffer [`take`]n from here instead, and [`into_body`] makes the HTTP body
//! whose last reference (hyper drops it once written) gives the buffer back. The pool is
//! small and bounded: at most [`KEPT`] buffers of at most [`MAX_KEPT`] bytes each are kept;
//! anything beyond is freed as before.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

/// Buffers smaller than this are not worth keeping (ordinary responses are a few KB).
const MIN_KEPT: usize = 64 * 1024;
/// Capacity above which a buffer is freed rather than kept.
const MAX_KEPT: usize = 2 * 1024 * 1024;
/// Free buffers kept: one response being written while the next is rendered, for a few
/// streams at once.
const KEPT: usize = 4;

static FREE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty string, with the capacity of a buffer given back earlier when there is one.
pub fn take() -> String {
    let reused = FREE.lock().unwrap_or_else(PoisonError::into_inner).pop();
    // An empty vector is valid UTF-8.
    String::from_utf8(reused.unwrap_or_default()).unwrap_or_default()
}

/// Keep `buffer` for a later [`take`] if it is of a size worth keeping and there is room.
fn give_back(mut buffer: Vec<u8>) {
    if !(MIN_KEPT..=MAX_KEPT).contains(&buffer.capacity()) {
        return;
    }
    buffer.clear();
    let mut free = FREE.lock().unwrap_or_else(PoisonError::into_inner);
    if free.len() < KEPT {
        free.push(buffer);
    }
}

/// The bytes of a response as an HTTP body. A large buffer goes back to the pool when the
/// body's last reference is dropped; a small one is simply owned by the body.
pub fn into_body(buffer: Vec<u8>) -> Bytes {
    if buffer.capacity() < MIN_KEPT {
        return Bytes::from(buffer);
    }
    Bytes::from_owner(Pooled(buffer))
}

/// A buffer on loan to a [`Bytes`].
struct Pooled(Vec<u8>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_body_gives_its_buffer_back_once_dropped() {
        let mut text = take();
        text.reserve(300 * 1024);
        text.push_str("response");
        let capacity = text.capacity();
        let body = into_body(text.into_bytes());
        let copy = body.clone();
        assert_eq!(&body[..], b"response");
        drop(body);
        drop(copy);
        // Other tests may take buffers concurrently: look for ours among the kept ones.
        let kept = FREE.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(kept
            .iter()
            .any(|b| b.capacity() == capacity && b.is_empty()));
        assert!(kept.len() <= KEPT);
    }

    #[test]
    fn small_and_huge_buffers_are_not_kept() {
        for size in [1024, 4 * 1024 * 1024] {
            let body = into_body(Vec::with_capacity(size));
            drop(body);
            let kept = FREE.lock().unwrap_or_else(PoisonError::into_inner);
            assert!(kept
                .iter()
                .all(|b| (MIN_KEPT..=MAX_KEPT).contains(&b.capacity())));
        }
    }

    #[test]
    fn the_pool_stays_bounded() {
        let bodies: Vec<Bytes> = (0..3 * KEPT)
            .map(|_| into_body(Vec::with_capacity(128 * 1024)))
            .collect();
        drop(bodies);
        assert!(FREE.lock().unwrap_or_else(PoisonError::into_inner).len() <= KEPT);
    }
}
