//! Allocator tuning for a long-running daemon.
//!
//! Password checks (argon2id) allocate ~19 MiB buffers on whichever blocking thread runs them.
//! glibc raises its mmap threshold after the first such buffer is freed, so later ones come from
//! per-thread arenas and stay resident after they are freed: a burst of logins leaves one
//! buffer per arena behind (hundreds of MiB). Pinning the threshold keeps every large buffer
//! mmap-backed, so freeing it returns the memory to the system at once.

/// Large allocations at or above this size are always mmap-backed (glibc's initial default).
pub const MMAP_THRESHOLD_BYTES: i32 = 128 * 1024;

/// Pin glibc's mmap threshold (and with it the trim threshold) to [`MMAP_THRESHOLD_BYTES`].
/// Returns false when the C library refused (or is not glibc).
pub fn return_large_buffers_to_the_system() -> bool {
    // SAFETY: mallopt only changes allocator parameters; it takes plain integers, is safe to
    // call at any time, and is called here before the daemon starts its threads.
    let rc = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
    rc == 1
}

/// Give the free memory at the top of glibc's heaps (and of every arena) back to the system:
/// called after a large enumeration context is dropped, whose many small rendered items were
/// below the mmap threshold and would otherwise stay resident. Returns whether any was given
/// back.
pub fn trim_free_memory() -> bool {
    // SAFETY: malloc_trim only walks the allocator's own free lists under its locks; it takes
    // a plain integer and may be called from any thread at any time.
    let rc = unsafe { libc::malloc_trim(0) };
    rc == 1
}

/// Bytes the C allocator has handed out and not had back, in every arena and in its own
/// mappings (glibc's `mallinfo2`): what the process's own data holds on the heap, without the
/// free space and fragmentation RSS also counts. For tests and benchmarks that measure what a
/// structure keeps; `None` where the C library is not glibc.
pub fn heap_in_use() -> Option<usize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's statistics under its locks and returns
        // a plain struct by value; it may be called from any thread at any time.
        let info = unsafe { libc::mallinfo2() };
        Some(info.uordblks.saturating_add(info.hblkhd))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_accepts_the_threshold() {
        assert!(return_large_buffers_to_the_system());
    }

    #[test]
    fn the_heap_in_use_counts_what_is_held() {
        let before = heap_in_use().unwrap_or_else(|| panic!("glibc reports no statistics"));
        let held: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 4096]).collect();
        let during = heap_in_use().unwrap_or(0);
        drop(held);
        // Other tests of this binary may allocate meanwhile: only a lower bound is checked.
        assert!(during >= before + 64 * 4096 / 2, "{before} then {during}");
    }

    #[test]
    fn freed_small_allocations_are_trimmed() {
        // Many blocks below the mmap threshold, all freed but the last, which keeps the free
        // space inside the heap (glibc trims only the top of a heap by itself).
        let mut blocks: Vec<Vec<u8>> = (0..5_000).map(|i| vec![(i % 251) as u8; 8000]).collect();
        let last = blocks.pop();
        drop(blocks);
        assert!(trim_free_memory());
        drop(last);
    }
}
