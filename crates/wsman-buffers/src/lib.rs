//! A small bounded pool of large byte buffers, lent out as [`Bytes`] and given back when the
//! last reference is dropped.
//!
//! Why: streaming output moves one Receive response after another, each a few hundred KiB.
//! A fresh buffer that large is new pages every time, which the kernel faults in, zeroes,
//! charges to the memory cgroup and unmaps again; that was the largest single cost of the
//! shell engine's output and the client's bodies alike. Each of them keeps a pool of its own
//! (the bounds differ), and memory stays bounded: at most `kept` free buffers of at most
//! `max_capacity` bytes each.

#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;

/// Free buffers, and the bounds on what is kept.
#[derive(Debug)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    kept: usize,
    min_capacity: usize,
    max_capacity: usize,
}

impl BufferPool {
    /// A pool keeping up to `kept` free buffers whose capacity lies in
    /// `min_capacity..=max_capacity`; buffers outside those bounds are simply freed.
    pub const fn new(kept: usize, min_capacity: usize, max_capacity: usize) -> Self {
        Self {
            free: Mutex::new(Vec::new()),
            kept,
            min_capacity,
            max_capacity,
        }
    }

    /// An empty buffer with room for at least `capacity` bytes: a kept one when there is one.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let mut buffer = self.lock().pop().unwrap_or_default();
        buffer.reserve_exact(capacity);
        buffer
    }

    /// Keeps `buffer` (emptied) for a later [`Self::take`] if its size is worth keeping and
    /// there is room; frees it otherwise.
    pub fn give_back(&self, mut buffer: Vec<u8>) {
        if !(self.min_capacity..=self.max_capacity).contains(&buffer.capacity()) {
            return;
        }
        buffer.clear();
        let mut free = self.lock();
        if free.len() < self.kept {
            free.push(buffer);
        }
    }

    /// `buffer` as [`Bytes`]: given back to this pool when the last clone or slice is dropped
    /// (freed instead if the pool is gone by then). A buffer too small to keep is simply owned
    /// by the bytes.
    pub fn lend(self: &Arc<Self>, buffer: Vec<u8>) -> Bytes {
        if buffer.capacity() < self.min_capacity {
            return Bytes::from(buffer);
        }
        Bytes::from_owner(Lent {
            buffer,
            pool: Arc::downgrade(self),
        })
    }

    /// The capacities of the free buffers (for tests and diagnostics).
    pub fn free_capacities(&self) -> Vec<usize> {
        self.lock().iter().map(Vec::capacity).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A buffer on loan to a [`Bytes`].
struct Lent {
    buffer: Vec<u8>,
    pool: Weak<BufferPool>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.give_back(std::mem::take(&mut self.buffer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_when_its_last_reference_is_dropped() {
        let pool = Arc::new(BufferPool::new(2, 16, 1024));
        let mut buffer = pool.take(64);
        buffer.extend_from_slice(b"reply");
        let capacity = buffer.capacity();
        let bytes = pool.lend(buffer);
        let slice = bytes.slice(1..3);
        drop(bytes);
        assert!(
            pool.free_capacities().is_empty(),
            "still referenced by the slice"
        );
        assert_eq!(&slice[..], b"ep");
        drop(slice);
        assert_eq!(pool.free_capacities(), vec![capacity]);
        // The next take reuses it, empty.
        let again = pool.take(10);
        assert!(again.is_empty() && again.capacity() == capacity);
        assert!(pool.free_capacities().is_empty());
    }

    #[test]
    fn the_pool_stays_bounded_and_keeps_no_buffer_out_of_bounds() {
        let pool = Arc::new(BufferPool::new(2, 16, 1024));
        let lent: Vec<Bytes> = (0..6).map(|_| pool.lend(Vec::with_capacity(64))).collect();
        drop(lent);
        assert_eq!(pool.free_capacities().len(), 2);
        let pool = Arc::new(BufferPool::new(2, 16, 1024));
        pool.give_back(Vec::with_capacity(8));
        pool.give_back(Vec::with_capacity(2048));
        drop(pool.lend(Vec::with_capacity(8)));
        assert!(pool.free_capacities().is_empty());
    }

    #[test]
    fn a_buffer_outliving_its_pool_is_freed() {
        let pool = Arc::new(BufferPool::new(2, 0, 1024));
        let bytes = pool.lend(b"data".to_vec());
        drop(pool);
        assert_eq!(&bytes[..], b"data");
        drop(bytes);
    }
}
