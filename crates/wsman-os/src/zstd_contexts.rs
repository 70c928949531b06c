//! One zstd decompression context kept per thread for libsystemd's journal reads.
//!
//! Why: libsystemd 252 (Debian 12) makes a zstd context for every compressed field it returns
//! and frees it right after (later systemd keeps one). Making a context runs `cpuid` to pick
//! its decoder, and under a hypervisor every `cpuid` traps to the host: about 8 µs a context,
//! 15% of a forwarder's CPU at 1,000 entries a second of 1 KB messages (docs/benchmarks.md).
//!
//! The `wsmand` binary exports [`ZSTD_createDCtx`] and [`ZSTD_freeDCtx`] (its build script
//! names them), so the dynamic linker binds libsystemd's calls to these before libzstd's. A
//! freed context is reset (`ZSTD_reset_session_and_parameters`: the state of a new one) and
//! kept in its thread's slot; the next create on that thread takes it. Everything else goes to
//! libzstd's own functions, found through `dlopen("libzstd.so.1")`. A context grown past
//! [`MAX_KEPT_BYTES`] (streaming buffers for a large value) is freed, not kept, so a thread
//! keeps at most that much. Other binaries linking this crate do not export the symbols, and
//! libzstd's functions stay in use there.

use std::cell::Cell;
use std::ffi::{c_void, CStr};
use std::ptr::null_mut;
use std::sync::OnceLock;

/// A kept context is at most this large (a new one is about 94 KiB).
pub const MAX_KEPT_BYTES: usize = 256 * 1024;

/// `ZSTD_reset_session_and_parameters`.
const RESET_SESSION_AND_PARAMETERS: i32 = 3;

type CreateFn = unsafe extern "C" fn() -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void) -> usize;
type ResetFn = unsafe extern "C" fn(*mut c_void, i32) -> usize;
type SizeofFn = unsafe extern "C" fn(*const c_void) -> usize;
type IsErrorFn = unsafe extern "C" fn(usize) -> u32;

/// libzstd's own functions.
struct Libzstd {
    create: CreateFn,
    free: FreeFn,
    reset: ResetFn,
    size_of: SizeofFn,
    is_error: IsErrorFn,
}

fn libzstd() -> Option<&'static Libzstd> {
    static LIBZSTD: OnceLock<Option<Libzstd>> = OnceLock::new();
    LIBZSTD.get_or_init(load).as_ref()
}

fn load() -> Option<Libzstd> {
    // SAFETY: dlopen takes a NUL-terminated name; the handle is never closed, so the functions
    // found in it stay valid for the life of the process.
    let handle =
        unsafe { libc::dlopen(c"libzstd.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return None;
    }
    let symbol = |name: &CStr| {
        // SAFETY: `handle` is an open library handle and `name` NUL-terminated; looking up
        // in the handle finds libzstd's definition, never this module's.
        let found = unsafe { libc::dlsym(handle, name.as_ptr()) };
        (!found.is_null()).then_some(found)
    };
    // SAFETY: each transmute turns one of libzstd's exported functions into its zstd.h
    // signature (`ZSTD_DCtx*` as `*mut c_void`, `size_t` as `usize`, `ZSTD_ResetDirective`
    // and `unsigned` as 32-bit integers).
    unsafe {
        Some(Libzstd {
            create: std::mem::transmute::<*mut c_void, CreateFn>(symbol(c"ZSTD_createDCtx")?),
            free: std::mem::transmute::<*mut c_void, FreeFn>(symbol(c"ZSTD_freeDCtx")?),
            reset: std::mem::transmute::<*mut c_void, ResetFn>(symbol(c"ZSTD_DCtx_reset")?),
            size_of: std::mem::transmute::<*mut c_void, SizeofFn>(symbol(c"ZSTD_sizeof_DCtx")?),
            is_error: std::mem::transmute::<*mut c_void, IsErrorFn>(symbol(c"ZSTD_isError")?),
        })
    }
}

/// A thread's kept context; freed through libzstd when the thread ends.
struct Spare(Cell<*mut c_void>);

impl Drop for Spare {
    fn drop(&mut self) {
        let context = self.0.replace(null_mut());
        if let (false, Some(zstd)) = (context.is_null(), libzstd()) {
            // SAFETY: a kept context came from libzstd's create and is owned by the slot alone.
            unsafe { (zstd.free)(context) };
        }
    }
}

thread_local! {
    static SPARE: Spare = const { Spare(Cell::new(null_mut())) };
}

/// `ZSTD_createDCtx` for libsystemd: this thread's kept context when it has one, else a new
/// one from libzstd (null when libzstd is missing, which zstd's callers take as no memory).
#[no_mangle]
pub extern "C" fn ZSTD_createDCtx() -> *mut c_void {
    let kept = SPARE
        .try_with(|spare| spare.0.replace(null_mut()))
        .unwrap_or(null_mut());
    if !kept.is_null() {
        return kept;
    }
    match libzstd() {
        // SAFETY: libzstd's create takes no arguments and returns an owned context or null.
        Some(zstd) => unsafe { (zstd.create)() },
        None => null_mut(),
    }
}

/// `ZSTD_freeDCtx` for libsystemd: keeps `context` for this thread's next create when the slot
/// is empty and the context resets and is small; frees it through libzstd otherwise.
///
/// # Safety
/// `context` is null or a context from [`ZSTD_createDCtx`] that the caller no longer uses.
#[no_mangle]
pub unsafe extern "C" fn ZSTD_freeDCtx(context: *mut c_void) -> usize {
    if context.is_null() {
        return 0;
    }
    let Some(zstd) = libzstd() else {
        // Not from libzstd either: a context can only have come from it.
        return 0;
    };
    // SAFETY: `context` is a live context the caller gave up (this function's contract).
    let reusable = unsafe {
        (zstd.is_error)((zstd.reset)(context, RESET_SESSION_AND_PARAMETERS)) == 0
            && (zstd.size_of)(context) <= MAX_KEPT_BYTES
    };
    if reusable {
        let kept = SPARE
            .try_with(|spare| {
                if spare.0.get().is_null() {
                    spare.0.set(context);
                    true
                } else {
                    false
                }
            })
            .unwrap_or(false);
        if kept {
            return 0;
        }
    }
    // SAFETY: as above; nothing keeps `context` after this.
    unsafe { (zstd.free)(context) }
}

#[cfg(test)]
mod tests {
    use super::*;

    type CompressFn = unsafe extern "C" fn(*mut c_void, usize, *const c_void, usize, i32) -> usize;
    type BoundFn = unsafe extern "C" fn(usize) -> usize;
    type DecompressDctxFn =
        unsafe extern "C" fn(*mut c_void, *mut c_void, usize, *const c_void, usize) -> usize;

    #[repr(C)]
    struct InBuffer {
        src: *const c_void,
        size: usize,
        pos: usize,
    }
    #[repr(C)]
    struct OutBuffer {
        dst: *mut c_void,
        size: usize,
        pos: usize,
    }
    type StreamFn = unsafe extern "C" fn(*mut c_void, *mut OutBuffer, *mut InBuffer) -> usize;

    /// libzstd's other functions the tests drive the contexts with.
    struct Codec {
        compress: CompressFn,
        bound: BoundFn,
        decompress: DecompressDctxFn,
        stream: StreamFn,
    }

    fn codec() -> Codec {
        // SAFETY: as in `load`: a never-closed handle and zstd.h's signatures.
        unsafe {
            let handle = libc::dlopen(c"libzstd.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            assert!(
                !handle.is_null(),
                "libzstd.so.1 (a dependency of libsystemd0)"
            );
            let symbol = |name: &CStr| {
                let found = libc::dlsym(handle, name.as_ptr());
                assert!(!found.is_null(), "{name:?}");
                found
            };
            Codec {
                compress: std::mem::transmute::<*mut c_void, CompressFn>(symbol(c"ZSTD_compress")),
                bound: std::mem::transmute::<*mut c_void, BoundFn>(symbol(c"ZSTD_compressBound")),
                decompress: std::mem::transmute::<*mut c_void, DecompressDctxFn>(symbol(
                    c"ZSTD_decompressDCtx",
                )),
                stream: std::mem::transmute::<*mut c_void, StreamFn>(symbol(
                    c"ZSTD_decompressStream",
                )),
            }
        }
    }

    fn compressed(codec: &Codec, input: &[u8]) -> Vec<u8> {
        // SAFETY: the buffers are valid for the lengths passed.
        unsafe {
            let mut out = vec![0u8; (codec.bound)(input.len())];
            let n = (codec.compress)(
                out.as_mut_ptr().cast(),
                out.len(),
                input.as_ptr().cast(),
                input.len(),
                3,
            );
            out.truncate(n);
            out
        }
    }

    /// Text-like input of `length` bytes from a small linear congruential generator.
    fn sample(seed: u64, length: usize) -> Vec<u8> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..length)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                b"event  message x=1;\n"[(state >> 59) as usize % 20]
            })
            .collect()
    }

    #[test]
    fn a_freed_context_is_the_next_one_created_on_its_thread() {
        let first = ZSTD_createDCtx();
        assert!(!first.is_null());
        // SAFETY: `first` came from create and is not used after.
        assert_eq!(unsafe { ZSTD_freeDCtx(first) }, 0);
        let second = ZSTD_createDCtx();
        assert_eq!(second, first);
        // Two live at once: the second is a new one.
        let third = ZSTD_createDCtx();
        assert_ne!(third, second);
        // SAFETY: both came from create and are not used after.
        unsafe {
            ZSTD_freeDCtx(second);
            ZSTD_freeDCtx(third);
            assert_eq!(ZSTD_freeDCtx(null_mut()), 0);
        }
    }

    #[test]
    fn kept_contexts_decompress_as_new_ones_do() {
        let codec = codec();
        let zstd = libzstd().expect("libzstd");
        for round in 0..300u64 {
            let original = sample(round, (round as usize * 37) % 5000 + 1);
            let frame = compressed(&codec, &original);
            let mut out = vec![0u8; original.len() + 64];
            // Every third round abandons a stream half way first: the kept context must start
            // clean after it, as a new one does.
            if round % 3 == 0 {
                let context = ZSTD_createDCtx();
                let mut small = [0u8; 16];
                let mut input = InBuffer {
                    src: frame.as_ptr().cast(),
                    size: frame.len() / 2,
                    pos: 0,
                };
                let mut output = OutBuffer {
                    dst: small.as_mut_ptr().cast(),
                    size: small.len(),
                    pos: 0,
                };
                // SAFETY: valid context and buffers; the context is given up after.
                unsafe {
                    (codec.stream)(context, &mut output, &mut input);
                    ZSTD_freeDCtx(context);
                }
            }
            // The frame decompressed with `context` into `out`.
            let mut decompress = |context: *mut c_void| {
                // SAFETY: a valid context and buffers of the lengths passed.
                let n = unsafe {
                    (codec.decompress)(
                        context,
                        out.as_mut_ptr().cast(),
                        out.len(),
                        frame.as_ptr().cast(),
                        frame.len(),
                    )
                };
                out[..n].to_vec()
            };
            let kept = ZSTD_createDCtx();
            let from_kept = decompress(kept);
            // SAFETY: create has no preconditions.
            let fresh = unsafe { (zstd.create)() };
            let from_new = decompress(fresh);
            // SAFETY: both came from create and are not used after.
            unsafe {
                (zstd.free)(fresh);
                ZSTD_freeDCtx(kept);
            }
            assert_eq!(from_kept, original, "round {round}");
            assert_eq!(from_new, original, "round {round}");
        }
    }

    #[test]
    fn each_thread_keeps_its_own() {
        let here = ZSTD_createDCtx();
        // SAFETY: from create, given up.
        unsafe { ZSTD_freeDCtx(here) };
        let there = std::thread::spawn(|| {
            let context = ZSTD_createDCtx();
            // SAFETY: from create, given up (kept, then freed when the thread ends).
            unsafe { ZSTD_freeDCtx(context) };
            context as usize
        })
        .join()
        .expect("thread");
        assert_ne!(there, here as usize);
        assert_eq!(ZSTD_createDCtx(), here);
        // SAFETY: from create, given up.
        unsafe { ZSTD_freeDCtx(here) };
    }
}
