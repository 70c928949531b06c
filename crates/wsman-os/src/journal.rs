//! The systemd journal read in-process through libsystemd's sd-journal API.
//!
//! Why in-process: a reader that stays (a push subscription, a forwarder) otherwise keeps a
//! `journalctl --follow` child whose export text is written, piped and parsed again for
//! every entry; that child was most of a forwarder's CPU at 1,000 entries a second and most
//! of its memory per subscription (docs/benchmarks.md). Here an entry's fields are read from
//! the journal files' mappings directly, and waiting is libsystemd's inotify descriptor.
//!
//! A [`SdJournal`] is one `sd_journal` handle: not thread-safe, but usable from any thread one
//! at a time (libsystemd checks only that the process did not fork), hence `Send` and not
//! `Sync`. Every call returns libsystemd's negative errno as an [`std::io::Error`].

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;
use std::ptr::NonNull;

/// `sd_id128_t`: 16 bytes, passed by value or pointer.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Id128 {
    bytes: [u8; 16],
}

#[allow(non_camel_case_types)]
type sd_journal = c_void;

#[link(name = "systemd")]
extern "C" {
    fn sd_journal_open(ret: *mut *mut sd_journal, flags: c_int) -> c_int;
    fn sd_journal_open_directory(
        ret: *mut *mut sd_journal,
        path: *const c_char,
        flags: c_int,
    ) -> c_int;
    fn sd_journal_close(j: *mut sd_journal);
    fn sd_journal_set_data_threshold(j: *mut sd_journal, sz: usize) -> c_int;
    fn sd_journal_seek_head(j: *mut sd_journal) -> c_int;
    fn sd_journal_seek_cursor(j: *mut sd_journal, cursor: *const c_char) -> c_int;
    fn sd_journal_test_cursor(j: *mut sd_journal, cursor: *const c_char) -> c_int;
    fn sd_journal_next(j: *mut sd_journal) -> c_int;
    fn sd_journal_get_cursor(j: *mut sd_journal, cursor: *mut *mut c_char) -> c_int;
    fn sd_journal_get_realtime_usec(j: *mut sd_journal, usec: *mut u64) -> c_int;
    fn sd_journal_get_monotonic_usec(j: *mut sd_journal, usec: *mut u64, boot: *mut Id128)
        -> c_int;
    fn sd_journal_restart_data(j: *mut sd_journal);
    fn sd_journal_enumerate_data(
        j: *mut sd_journal,
        data: *mut *const c_void,
        length: *mut usize,
    ) -> c_int;
    fn sd_journal_get_fd(j: *mut sd_journal) -> c_int;
    fn sd_journal_reliable_fd(j: *mut sd_journal) -> c_int;
    fn sd_journal_process(j: *mut sd_journal) -> c_int;
}

/// What [`SdJournal::process`] found after the descriptor woke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing that concerns the reader.
    Nothing,
    /// Entries were appended.
    Appended,
    /// Files were added or removed (rotation, vacuuming).
    Invalidated,
}

/// The fields of the entry the journal stands on, as `journalctl --output=export` writes
/// its header: the cursor, both timestamps and the boot id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryHeader {
    pub cursor: String,
    pub realtime_usec: u64,
    pub monotonic_usec: u64,
    /// Lower-case hex, 32 digits, as journalctl writes `_BOOT_ID`.
    pub boot_id: String,
}

/// One open `sd_journal`.
#[derive(Debug)]
pub struct SdJournal {
    handle: NonNull<sd_journal>,
}

// SAFETY: an sd_journal is not used concurrently (every method takes `&mut self` or owns it),
// and libsystemd only refuses use from another *process* (after fork), not another thread.
unsafe impl Send for SdJournal {}

fn result(code: c_int) -> io::Result<c_int> {
    if code < 0 {
        Err(io::Error::from_raw_os_error(-code))
    } else {
        Ok(code)
    }
}

fn c_string(text: &str) -> io::Result<CString> {
    CString::new(text).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

impl SdJournal {
    /// The host's journal, every file the caller may read (as `journalctl` with no switch).
    pub fn open_system() -> io::Result<SdJournal> {
        let mut handle = std::ptr::null_mut();
        // SAFETY: `handle` is a valid out-pointer; flags 0 is "all journals".
        result(unsafe { sd_journal_open(&mut handle, 0) })?;
        Self::from_raw(handle)
    }

    /// The journal files in `directory` and its machine-id subdirectories (`journalctl
    /// --directory`).
    pub fn open_directory(directory: &Path) -> io::Result<SdJournal> {
        use std::os::unix::ffi::OsStrExt as _;
        let path = CString::new(directory.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut handle = std::ptr::null_mut();
        // SAFETY: `handle` is a valid out-pointer and `path` a NUL-terminated string that
        // outlives the call.
        result(unsafe { sd_journal_open_directory(&mut handle, path.as_ptr(), 0) })?;
        Self::from_raw(handle)
    }

    fn from_raw(handle: *mut sd_journal) -> io::Result<SdJournal> {
        install_sigbus_handler();
        NonNull::new(handle)
            .map(|handle| SdJournal { handle })
            .ok_or_else(|| io::Error::other("sd_journal_open returned no journal"))
    }

    fn raw(&mut self) -> *mut sd_journal {
        self.handle.as_ptr()
    }

    /// Compressed values are decompressed only up to `bytes` (a hint: the library may return
    /// more): a huge value is never decompressed whole just to be skipped.
    pub fn set_data_threshold(&mut self, bytes: usize) -> io::Result<()> {
        // SAFETY: the handle is open.
        result(unsafe { sd_journal_set_data_threshold(self.raw(), bytes) }).map(drop)
    }

    /// Before the oldest entry.
    pub fn seek_head(&mut self) -> io::Result<()> {
        // SAFETY: the handle is open.
        result(unsafe { sd_journal_seek_head(self.raw()) }).map(drop)
    }

    /// At the entry of `cursor`, or where it would be if it is gone; the next
    /// [`next_entry`](Self::next_entry) lands on it or the one after.
    pub fn seek_cursor(&mut self, cursor: &str) -> io::Result<()> {
        let cursor = c_string(cursor)?;
        // SAFETY: the handle is open and `cursor` is NUL-terminated for the call.
        result(unsafe { sd_journal_seek_cursor(self.raw(), cursor.as_ptr()) }).map(drop)
    }

    /// Whether the current entry is the one of `cursor`.
    pub fn test_cursor(&mut self, cursor: &str) -> io::Result<bool> {
        let cursor = c_string(cursor)?;
        // SAFETY: the handle is open and `cursor` is NUL-terminated for the call.
        result(unsafe { sd_journal_test_cursor(self.raw(), cursor.as_ptr()) }).map(|r| r > 0)
    }

    /// Moves to the next entry; false at the end.
    pub fn next_entry(&mut self) -> io::Result<bool> {
        // SAFETY: the handle is open.
        result(unsafe { sd_journal_next(self.raw()) }).map(|r| r > 0)
    }

    /// The cursor, timestamps and boot id of the current entry.
    pub fn header(&mut self) -> io::Result<EntryHeader> {
        let mut cursor_ptr: *mut c_char = std::ptr::null_mut();
        // SAFETY: the handle is open; on success `cursor_ptr` is a malloc'd C string we own.
        result(unsafe { sd_journal_get_cursor(self.raw(), &mut cursor_ptr) })?;
        if cursor_ptr.is_null() {
            return Err(io::Error::other("sd_journal_get_cursor returned no cursor"));
        }
        // SAFETY: libsystemd returned a valid NUL-terminated string (checked non-null above).
        let cursor = unsafe { CStr::from_ptr(cursor_ptr) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: the string was allocated by libsystemd with malloc and is not used after.
        unsafe { libc::free(cursor_ptr.cast()) };
        let mut realtime_usec = 0u64;
        // SAFETY: the handle is open and the out-pointer valid.
        result(unsafe { sd_journal_get_realtime_usec(self.raw(), &mut realtime_usec) })?;
        let mut monotonic_usec = 0u64;
        let mut boot = Id128::default();
        // SAFETY: the handle is open and both out-pointers are valid.
        result(unsafe {
            sd_journal_get_monotonic_usec(self.raw(), &mut monotonic_usec, &mut boot)
        })?;
        let mut boot_id = String::with_capacity(32);
        for byte in boot.bytes {
            use std::fmt::Write as _;
            let _ = write!(boot_id, "{byte:02x}");
        }
        Ok(EntryHeader {
            cursor,
            realtime_usec,
            monotonic_usec,
            boot_id,
        })
    }

    /// Each `NAME=value` field of the current entry, in the journal's order.
    pub fn for_each_field(&mut self, on_field: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let journal = self.raw();
        // SAFETY: the handle is open.
        unsafe { sd_journal_restart_data(journal) };
        loop {
            let mut data: *const c_void = std::ptr::null();
            let mut length = 0usize;
            // SAFETY: the handle is open and both out-pointers are valid.
            let found =
                result(unsafe { sd_journal_enumerate_data(journal, &mut data, &mut length) })?;
            if found == 0 || data.is_null() {
                return Ok(());
            }
            // SAFETY: libsystemd returned `length` readable bytes at `data`, valid until the
            // next call on this handle; the slice does not outlive this iteration.
            let field = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), length) };
            on_field(field);
        }
    }

    /// A descriptor that becomes readable when the journal changes: a duplicate of the
    /// journal's inotify descriptor, so the caller may own and register it while the journal
    /// keeps its own. Ask for it before the first read, so that no change between the read and
    /// the wait is missed.
    pub fn wake_fd(&mut self) -> io::Result<OwnedFd> {
        // SAFETY: the handle is open.
        let fd = result(unsafe { sd_journal_get_fd(self.raw()) })?;
        // SAFETY: `fd` is the journal's open inotify descriptor, which stays open while `self`
        // is borrowed; it is only duplicated here.
        unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()
    }

    /// Whether the descriptor alone reports every change (false on file systems without
    /// inotify support: then poll as well).
    pub fn reliable_fd(&mut self) -> bool {
        // SAFETY: the handle is open.
        unsafe { sd_journal_reliable_fd(self.raw()) > 0 }
    }

    /// Takes in what woke the descriptor: call after it became readable.
    pub fn process(&mut self) -> io::Result<Change> {
        // SAFETY: the handle is open.
        Ok(match result(unsafe { sd_journal_process(self.raw()) })? {
            1 => Change::Appended,
            2 => Change::Invalidated,
            _ => Change::Nothing,
        })
    }
}

impl Drop for SdJournal {
    fn drop(&mut self) {
        // SAFETY: the handle is open and is not used after this.
        unsafe { sd_journal_close(self.raw()) };
    }
}

/// Installs (once) a SIGBUS handler that puts a page of zeros where a journal file's mapping
/// lost its page, as journalctl and journald install one.
///
/// Why: libsystemd reads journal files through `mmap`; journald shrinks a file it archives
/// (rotation, `journalctl --rotate`) to its used size, and a reader that touches a mapped page
/// past the new end gets SIGBUS, which killed the daemon (a forwarder behind while the
/// journal was rotated and vacuumed). With the page replaced by zeros the read finds no valid
/// object there and libsystemd drops that file, as in journalctl. The handler is the
/// process's: a file truncated under any other mapping of the daemon reads as zeros too,
/// where it would have ended the daemon.
fn install_sigbus_handler() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: a zeroed sigaction is valid; the handler only calls mmap and abort, both
        // async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction =
                on_sigbus as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
}

/// Maps a private page of zeros over the page that faulted (a file truncated under its
/// mapping); any other SIGBUS (no address) aborts, as the default action would have ended it.
extern "C" fn on_sigbus(_signal: c_int, info: *mut libc::siginfo_t, _context: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo with SA_SIGINFO; sysconf and mmap are
    // async-signal-safe, and the page mapped over is one of a file mapping that has no page
    // there any more.
    unsafe {
        let address = (*info).si_addr() as usize;
        let page = usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)).unwrap_or(4096);
        if address == 0 || (*info).si_code != libc::BUS_ADRERR {
            libc::abort();
        }
        let start = (address & !(page - 1)) as *mut c_void;
        let mapped = libc::mmap(
            start,
            page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        );
        if mapped == libc::MAP_FAILED {
            libc::abort();
        }
    }
}
