//! Large response buffers used again instead of fresh ones.
//!
//! A command printing flat out is answered with one Receive response after another, each up
//! to MaxEnvelopeSize (500 KB by default). The service's allocator maps buffers that large
//! afresh every time (see `dist/wsmand.service`), so every response cost new pages that the
//! kernel faults in, zeroes, charges to the memory cgroup and unmaps again. Responses are
//! rendered into a buffer [`take`]n from here instead, and [`into_body`] makes the HTTP body
//! whose last reference (hyper drops it once written) gives the buffer back. The pool is
//! small and bounded: at most `KEPT` buffers of at most `MAX_KEPT` bytes each are kept;
//! anything beyond is freed as before.

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use wsman_buffers::BufferPool;

/// Buffers smaller than this are not worth keeping (ordinary responses are a few KB).
const MIN_KEPT: usize = 64 * 1024;
/// Capacity above which a buffer is freed rather than kept.
const MAX_KEPT: usize = 2 * 1024 * 1024;
/// Free buffers kept: one response being written while the next is rendered, for a few
/// streams at once.
const KEPT: usize = 4;

static POOL: LazyLock<Arc<BufferPool>> =
    LazyLock::new(|| Arc::new(BufferPool::new(KEPT, MIN_KEPT, MAX_KEPT)));

/// An empty string, with the capacity of a buffer given back earlier when there is one.
pub fn take() -> String {
    // An empty vector is valid UTF-8.
    String::from_utf8(POOL.take(0)).unwrap_or_default()
}

/// The bytes of a response as an HTTP body. A large buffer goes back to the pool when the
/// body's last reference is dropped; a small one is simply owned by the body.
pub fn into_body(buffer: Vec<u8>) -> Bytes {
    POOL.lend(buffer)
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
        let kept = POOL.free_capacities();
        assert!(kept.contains(&capacity));
        assert!(kept.len() <= KEPT);
    }

    #[test]
    fn small_and_huge_buffers_are_not_kept() {
        for size in [1024, 4 * 1024 * 1024] {
            let body = into_body(Vec::with_capacity(size));
            drop(body);
            let kept = POOL.free_capacities();
            assert!(kept.iter().all(|c| (MIN_KEPT..=MAX_KEPT).contains(c)));
        }
    }

    #[test]
    fn the_pool_stays_bounded() {
        let bodies: Vec<Bytes> = (0..3 * KEPT)
            .map(|_| into_body(Vec::with_capacity(128 * 1024)))
            .collect();
        drop(bodies);
        assert!(POOL.free_capacities().len() <= KEPT);
    }
}
