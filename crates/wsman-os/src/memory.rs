//! Giving back the file pages that starting the daemon touched.
//!
//! A started daemon's resident set is mostly code and read-only data mapped from its files
//! (its own `.text`, libc, libkrb5, ...): parsing the command line and the configuration,
//! binding listeners and loading TLS certificates fault in megabytes of code that no request
//! runs again, and the kernel maps the neighbours of every page it faults (fault-around).
//! Those pages are the page cache's, shared with every process that maps the same files, but
//! they count in the daemon's RSS until memory pressure takes them.
//!
//! [`release_clean_file_pages`] drops this process's page-table entries for mappings that can
//! only ever hold the file's own bytes: file-backed, not writable, and with no page of their
//! own (`Anonymous: 0` in `/proc/self/smaps`, so no relocation or other write ever made a
//! private copy). The page cache keeps the pages; the next use of any of them is a minor
//! fault that maps the same page again, so what stays resident is what the daemon really
//! runs. Writable mappings and written read-only ones (RELRO, after the dynamic linker's
//! relocations) are never touched: for them `MADV_DONTNEED` would lose the written bytes.

use std::io;

/// What [`release_clean_file_pages`] gave back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// Mappings whose pages were dropped.
    pub mappings: usize,
    /// Resident bytes they held before (from `smaps`).
    pub bytes: u64,
}

/// One mapping of `/proc/self/smaps` that may be released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanMapping {
    pub start: usize,
    pub end: usize,
    /// Resident bytes (`Rss:`).
    pub resident: u64,
}

/// Drop this process's page-table entries for its clean, read-only file mappings (see the
/// module doc). Returns what was resident in them before.
pub fn release_clean_file_pages() -> io::Result<Released> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut released = Released::default();
    for mapping in clean_file_mappings(&smaps) {
        // SAFETY: `start..end` is a whole mapping of this process as the kernel listed it: a
        // private or shared file mapping without write permission and without any anonymous
        // (copied-on-write) page, so every page holds exactly the file's bytes and dropping it
        // loses nothing: the next access faults the same page-cache page in again. A mapping
        // without write permission cannot gain an anonymous page between the read of smaps and
        // this call (that needs a write). If the range was unmapped meanwhile, madvise fails
        // with ENOMEM and nothing happens.
        let rc = unsafe {
            libc::madvise(
                mapping.start as *mut libc::c_void,
                mapping.end - mapping.start,
                libc::MADV_DONTNEED,
            )
        };
        if rc == 0 {
            released.mappings += 1;
            released.bytes += mapping.resident;
        }
    }
    Ok(released)
}

/// The mappings of an smaps text that [`release_clean_file_pages`] may drop: resident,
/// file-backed (inode not 0), not writable, no anonymous page.
pub fn clean_file_mappings(smaps: &str) -> Vec<CleanMapping> {
    /// The mapping being read: its range and residency, whether it may be released so far,
    /// and whether its `Anonymous:` line was seen (a kernel without it: never released).
    struct Reading {
        mapping: CleanMapping,
        eligible: bool,
        anonymous_seen: bool,
    }
    fn keep(reading: Option<Reading>, out: &mut Vec<CleanMapping>) {
        if let Some(r) = reading {
            if r.eligible && r.anonymous_seen && r.mapping.resident > 0 {
                out.push(r.mapping);
            }
        }
    }
    let mut out = Vec::new();
    let mut current: Option<Reading> = None;
    for line in smaps.lines() {
        if let Some((mapping, eligible)) = mapping_header(line) {
            keep(current.take(), &mut out);
            current = Some(Reading {
                mapping,
                eligible,
                anonymous_seen: false,
            });
        } else if let Some(reading) = current.as_mut() {
            if let Some(kb) = field_kb(line, "Rss:") {
                reading.mapping.resident = kb.saturating_mul(1024);
            } else if let Some(kb) = field_kb(line, "Anonymous:") {
                reading.anonymous_seen = true;
                reading.eligible &= kb == 0;
            }
        }
    }
    keep(current, &mut out);
    out
}

/// `start-end perms offset dev inode [path]`: the range, and whether its permissions and
/// inode allow a release (a zero `Anonymous:` is checked later).
fn mapping_header(line: &str) -> Option<(CleanMapping, bool)> {
    let mut fields = line.split_ascii_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?.as_bytes();
    let _offset = fields.next()?;
    let dev = fields.next()?;
    let inode = fields.next()?.parse::<u64>().ok()?;
    if perms.len() != 4 || !dev.contains(':') || end <= start {
        return None;
    }
    let eligible = perms[0] == b'r' && perms[1] != b'w' && inode != 0;
    Some((
        CleanMapping {
            start,
            end,
            resident: 0,
        },
        eligible,
    ))
}

/// The number of `name   123 kB`.
fn field_kb(line: &str, name: &str) -> Option<u64> {
    let rest = line.strip_prefix(name)?;
    rest.split_ascii_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slice of a real `/proc/PID/smaps` (mawk on Linux 6.x), fields the parser does not
    /// use cut.
    const SMAPS: &str = "\
55e1e6ef2000-55e1e6ef6000 r--p 00000000 fe:00 247534                     /usr/bin/mawk
Size:                 16 kB
Rss:                  16 kB
Anonymous:             0 kB
55e1e6ef6000-55e1e6f0f000 r-xp 00004000 fe:00 247534                     /usr/bin/mawk
Size:                100 kB
Rss:                 100 kB
Anonymous:             0 kB
55e1e6f17000-55e1e6f19000 r--p 00024000 fe:00 247534                     /usr/bin/mawk
Size:                  8 kB
Rss:                   8 kB
Anonymous:             8 kB
55e1e6f19000-55e1e6f1a000 rw-p 00026000 fe:00 247534                     /usr/bin/mawk
Size:                  4 kB
Rss:                   4 kB
Anonymous:             0 kB
55e1e9e8c000-55e1e9ead000 rw-p 00000000 00:00 0                          [heap]
Size:                132 kB
Rss:                  36 kB
Anonymous:            36 kB
7f3831c69000-7f3831cdd000 r-xp 00010000 fe:00 326603                     /usr/lib/x86_64-linux-gnu/libm.so.6
Size:                464 kB
Rss:                   0 kB
Anonymous:             0 kB
7f3831d3d000-7f3831d44000 r--s 00000000 fe:00 325745                     /usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache
Size:                 28 kB
Rss:                  28 kB
Anonymous:             0 kB
7f3831d4c000-7f3831d4e000 r-xp 00000000 00:00 0                          [vdso]
Size:                  8 kB
Rss:                   4 kB
Anonymous:             0 kB
7f3831d4f000-7f3831d75000 r-xp 00001000 fe:00 325843                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
Size:                152 kB
Rss:                 152 kB
";

    #[test]
    fn only_clean_read_only_file_mappings_are_chosen() {
        let chosen = clean_file_mappings(SMAPS);
        let starts: Vec<usize> = chosen.iter().map(|m| m.start).collect();
        assert_eq!(
            starts,
            vec![0x55e1e6ef2000, 0x55e1e6ef6000, 0x7f3831d3d000],
            "the two clean mawk mappings and the shared cache; not the relocated one, the \
             writable ones, the empty libm text, the vDSO, nor a mapping without an \
             Anonymous line"
        );
        assert_eq!(chosen[1].end, 0x55e1e6f0f000);
        assert_eq!(chosen[1].resident, 100 * 1024);
    }

    /// Resident kB of the mapping of this process that starts at `start`, from smaps.
    fn resident_kb_at(start: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut counting = false;
        for line in smaps.lines() {
            if let Some((mapping, _)) = mapping_header(line) {
                counting = mapping.start == start;
            } else if counting {
                if let Some(kb) = field_kb(line, "Rss:") {
                    return Some(kb);
                }
            }
        }
        None
    }

    /// A read-only private mapping of a file only this test maps, so no other test thread can
    /// fault its pages back in between the release and the second reading (the test binary's
    /// own code, shared with every concurrent test, made that reading racy).
    #[test]
    fn released_code_pages_leave_the_resident_set_and_still_run() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        const LEN: usize = 64 * 4096;
        let mut file = tempfile::tempfile().unwrap_or_else(|e| panic!("{e}"));
        let bytes: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        file.write_all(&bytes).unwrap_or_else(|e| panic!("{e}"));
        file.flush().unwrap_or_else(|e| panic!("{e}"));
        // SAFETY: a fresh read-only private mapping of a file of LEN bytes this test owns; it
        // is read through `view` only while mapped and unmapped at the end.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "{}", io::Error::last_os_error());
        // SAFETY: `base..base+LEN` is the readable mapping made above.
        let view = unsafe { std::slice::from_raw_parts(base as *const u8, LEN) };
        let sum = |v: &[u8]| v.iter().step_by(512).map(|b| u64::from(*b)).sum::<u64>();
        let expected = sum(&bytes);
        assert_eq!(sum(view), expected, "every page read once");
        let before = resident_kb_at(base as usize).unwrap_or(0);
        assert!(before > 0, "the mapping is resident after reading it");
        let released = release_clean_file_pages().unwrap_or_else(|e| panic!("{e}"));
        assert!(released.mappings > 0 && released.bytes > 0, "{released:?}");
        let after = resident_kb_at(base as usize).unwrap_or(u64::MAX);
        assert_eq!(
            after, 0,
            "the released mapping: {before} kB before, {after} kB after"
        );
        // The same bytes come back on the next read, and code still runs.
        assert_eq!(
            sum(view),
            expected,
            "the page cache still holds the file's bytes"
        );
        let text = format!("{}", 40 + 2);
        assert_eq!(text.parse::<u32>().ok(), Some(42));
        // SAFETY: unmapping the mapping made above; `view` is not used after.
        assert_eq!(unsafe { libc::munmap(base, LEN) }, 0);
    }
}
