//! Small readers of /proc, each bounded (files here are a few KiB at most; anything larger is
//! cut off rather than buffered whole).

use std::io::Read;
use std::path::Path;

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
    fn fields_of_meminfo() {
        let m = "MemTotal:       16000 kB\nMemAvailable:    8000 kB\n";
        assert_eq!(field(m, "MemTotal"), Some(16000));
        assert_eq!(field(m, "MemFree"), None);
    }
}
