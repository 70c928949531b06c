//! Small readers of /proc, each bounded (files here are a few KiB at most; anything larger is
//! cut off rather than buffered whole).

use std::ffi::CStr;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{openat, readlinkat, statat, AtFlags, Dir, Mode, OFlags, CWD};

/// Longest /proc file read (cmdline can be up to ARG_MAX; a longer one is cut here).
const MAX_FILE: u64 = 256 * 1024;

/// Clock ticks per second of the times in `/proc/<pid>/stat`: USER_HZ, which the kernel fixes
/// at 100 for user space on every architecture Linux still supports.
pub const USER_HZ: u64 = 100;

/// 100 ns units (Windows' time unit) per clock tick.
pub const HUNDRED_NS_PER_TICK: u64 = 10_000_000 / USER_HZ;

/// A /proc file as bytes, at most `MAX_FILE` of them.
pub fn read(path: impl AsRef<Path>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// A /proc file as text (lossy).
pub fn read_text(path: impl AsRef<Path>) -> std::io::Result<String> {
    read(path).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A /proc file a class cannot answer without: its text, or `w:InternalError` naming it.
pub fn read_required(path: &str) -> Result<String, wsman_proto::Fault> {
    read_text(path).map_err(|e| crate::faults::proc_fault(path, &e))
}

/// The value of `key:` in a `Key: value [kB]` file (meminfo, status), as a number.
pub fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.split_whitespace().next()?.parse().ok())?
    })
}

/// `btime` of /proc/stat: the boot time in seconds since the epoch.
pub fn boot_time() -> Option<u64> {
    let stat = read_text("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

/// The fields of `/proc/<pid>/stat` after the command name: `fields[0]` is field 3 (state).
pub struct Stat {
    pub comm: String,
    fields: Vec<u64>,
    pub state: char,
}

impl Stat {
    pub fn read(pid: u32) -> Option<Self> {
        Self::parse(&read_text(format!("/proc/{pid}/stat")).ok()?)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let open = text.find('(')?;
        let close = text.rfind(')')?;
        let comm = text.get(open + 1..close)?.to_owned();
        let mut rest = text.get(close + 1..)?.split_whitespace();
        let state = rest.next()?.chars().next()?;
        // Fields 4.. are numbers (some signed: priority, nice); negative ones read as 0 here
        // and are read signed through [`Stat::signed`].
        let fields = rest
            .map(|f| f.parse::<i64>().map_or(0, |v| v as u64))
            .collect();
        Some(Self {
            comm,
            fields,
            state,
        })
    }

    /// Field `n` of proc(5) (1-based), from 4 on.
    pub fn get(&self, n: usize) -> u64 {
        n.checked_sub(4)
            .and_then(|i| self.fields.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Field `n` read as signed.
    pub fn signed(&self, n: usize) -> i64 {
        self.get(n) as i64
    }
}

/// The numeric entries of /proc: every process id.
pub fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

/// One process's directory, `/proc/<pid>`, opened once (`O_PATH`) so that its files are
/// opened relative to it: one path walk per process instead of one per file, and every file
/// read is of the same process (a pid reused meanwhile fails the reads instead of mixing two).
pub struct ProcessDir(OwnedFd);

impl ProcessDir {
    /// `/proc/<pid>` under `proc` (an fd of `/proc`); `None` when the process is gone.
    pub fn open(proc: &OwnedFd, pid: u32) -> Option<Self> {
        let mut name = [0; 10];
        let name = format_pid(&mut name, pid);
        openat(
            proc,
            name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .map(Self)
    }

    /// The file `name` of this process into `buf` (cleared first, its capacity reused), at
    /// most `MAX_FILE` bytes.
    pub fn read(&self, name: &CStr, buf: &mut Vec<u8>) -> std::io::Result<()> {
        buf.clear();
        let file = openat(
            &self.0,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        loop {
            let room = (MAX_FILE as usize).saturating_sub(buf.len());
            if room == 0 {
                return Ok(());
            }
            if buf.capacity() == buf.len() {
                buf.reserve_exact(room.min(buf.len().max(4096)));
            }
            let spare = buf.capacity() - buf.len();
            let read = rustix::io::read(&file, rustix::buffer::spare_capacity(buf))?;
            // /proc's files are made whole at each read: a read that did not fill the room
            // it had is the end, so the usual extra read that returns 0 is saved.
            if read == 0 || read < spare {
                buf.truncate((MAX_FILE as usize).min(buf.len()));
                return Ok(());
            }
        }
    }

    /// The uid and gid that own the process's directory: its effective ids, or root's when
    /// the process is not dumpable (setuid programs), which is whom Linux shows its private
    /// files.
    pub fn owner(&self) -> Option<(u32, u32)> {
        rustix::fs::fstat(&self.0)
            .ok()
            .map(|s| (s.st_uid, s.st_gid))
    }

    /// Where the `exe` link points (readable for the daemon's own processes, or all as root),
    /// with `buf` reused for the name; `None` when unreadable or a kernel thread.
    pub fn exe(&self, buf: &mut Vec<u8>) -> Option<String> {
        let target = readlinkat(&self.0, c"exe", std::mem::take(buf)).ok()?;
        let path = target.to_string_lossy().into_owned();
        *buf = target.into_bytes();
        Some(path)
    }

    /// How many files the process has open. Since Linux 6.2 the `st_size` of `/proc/<pid>/fd`
    /// is that number (one `stat`, no directory read); on an older kernel (`size_is_count`
    /// false) the entries are counted. `None` when the directory is not readable.
    pub fn open_files(&self, size_is_count: bool) -> Option<u64> {
        if size_is_count {
            return statat(&self.0, c"fd", AtFlags::empty())
                .ok()
                .map(|st| st.st_size as u64);
        }
        let fd = openat(
            &self.0,
            c"fd",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let mut count = 0;
        for entry in Dir::read_from(&fd).ok()? {
            let name = entry.ok()?.file_name().to_bytes().to_owned();
            if name != b"." && name != b".." {
                count += 1;
            }
        }
        Some(count)
    }
}

/// `/proc` as a directory fd, for [`ProcessDir::open`].
pub fn proc_dir() -> std::io::Result<OwnedFd> {
    Ok(openat(
        CWD,
        c"/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Whether the `st_size` of `/proc/<pid>/fd` counts the open files: Linux 6.2 and later
/// (`release` as in `/proc/sys/kernel/osrelease`, e.g. `6.18.0-1-amd64`).
pub fn fd_dir_size_is_count(release: &str) -> bool {
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let major = numbers.next().unwrap_or(0);
    let minor = numbers.next().unwrap_or(0);
    (major, minor) >= (6, 2)
}

/// `pid` in decimal, in `buf` (no allocation per process).
fn format_pid(buf: &mut [u8; 10], mut pid: u32) -> &str {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (pid % 10) as u8;
        pid /= 10;
        if pid == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[start..]).unwrap_or("0")
}

/// The host name the kernel reports.
pub fn host_name() -> String {
    read_text("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_the_name() {
        let s =
            Stat::parse("42 (a) b) S 1 42 42 0 -1 4194560 10 0 2 0 7 3 0 0 20 0 1 0 500 1000 5");
        let s = s.unwrap_or_else(|| panic!("parses"));
        assert_eq!(s.comm, "a) b");
        assert_eq!(s.state, 'S');
        assert_eq!(s.get(4), 1);
        assert_eq!(s.get(14), 7);
        assert_eq!(s.get(22), 500);
        assert_eq!(s.signed(8), -1);
    }

    #[test]
    fn pids_in_decimal() {
        for pid in [0, 7, 10, 4_194_304, u32::MAX] {
            assert_eq!(format_pid(&mut [0; 10], pid), pid.to_string());
        }
    }

    #[test]
    fn kernels_whose_fd_directory_size_counts() {
        assert!(fd_dir_size_is_count("6.2.0"));
        assert!(fd_dir_size_is_count("6.18.0-1-amd64"));
        assert!(fd_dir_size_is_count("7.0"));
        assert!(!fd_dir_size_is_count("6.1.0-26-amd64"));
        assert!(!fd_dir_size_is_count("5.15.0"));
        assert!(!fd_dir_size_is_count(""));
    }

    /// A sleeping child: its files do not change while they are read twice.
    struct Child(std::process::Child);

    impl Child {
        /// `sleep 30`, returned once it is asleep (state `S`): `spawn` returns when the exec
        /// has passed its point of no return, before the kernel has set up the new argument
        /// area, so `cmdline` can still read empty just after it.
        fn sleeping() -> Self {
            let child = Child(
                std::process::Command::new("sleep")
                    .arg("30")
                    .spawn()
                    .unwrap_or_else(|e| panic!("sleep: {e}")),
            );
            let stat = format!("/proc/{}/stat", child.0.id());
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::fs::read_to_string(&stat)
                .ok()
                .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('S')))
                != Some(true)
            {
                assert!(std::time::Instant::now() < deadline, "sleep did not settle");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            child
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_process_read_through_its_directory_reads_as_its_paths_do() {
        let child = Child::sleeping();
        let pid = child.0.id();
        let proc = proc_dir().unwrap_or_else(|e| panic!("/proc: {e}"));
        let dir = ProcessDir::open(&proc, pid).unwrap_or_else(|| panic!("/proc/{pid}"));
        let mut buf = Vec::new();
        for name in [c"cmdline", c"status", c"stat"] {
            dir.read(name, &mut buf)
                .unwrap_or_else(|e| panic!("{name:?}: {e}"));
            let path = format!("/proc/{pid}/{}", name.to_string_lossy());
            assert_eq!(buf, std::fs::read(&path).unwrap_or_default(), "{path}");
        }
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        assert_eq!(dir.exe(&mut buf), Some(exe.to_string_lossy().into_owned()));
        let entries = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as u64)
            .ok();
        assert!(entries.is_some_and(|n| n > 0));
        assert_eq!(dir.open_files(false), entries);
        let release = read_text("/proc/sys/kernel/osrelease").unwrap_or_default();
        if fd_dir_size_is_count(&release) {
            assert_eq!(dir.open_files(true), entries);
        }
        drop(child);
        // Gone (reaped): its directory and files are gone with it.
        assert!(ProcessDir::open(&proc, pid).is_none());
        assert!(dir.read(c"stat", &mut buf).is_err());
    }

    #[test]
    fn fields_of_meminfo() {
        let m = "MemTotal:       16000 kB\nMemAvailable:    8000 kB\n";
        assert_eq!(field(m, "MemTotal"), Some(16000));
        assert_eq!(field(m, "MemFree"), None);
    }
}
