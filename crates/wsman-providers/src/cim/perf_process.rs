//! `Win32_PerfRawData_PerfProc_Process`: the raw per-process counters of /proc in Windows'
//! units (times in 100 ns, sizes in bytes, ElapsedTime as the start FILETIME), so that a tool's
//! arithmetic on two samples gives each process's CPU use as on Windows.
//!
//! Names follow Windows: the process name, and `name#1`, `name#2`, ... for the second and
//! later processes of the same name (in pid order); `Idle` (pid 0: the idle time of every
//! processor) and `_Total` (the sum of all, Idle included) close the list.

use std::collections::HashMap;

use wsman_proto::cim::{Instance, Value};

use super::perf::{filetime_now, filetime_of_unix};
use super::process::Viewer;
use super::procfs::{self, Stat, HUNDRED_NS_PER_TICK};
use super::schema::{merged, ClassSchema, Property, WIN32_PERF};
use super::{Class, Instances};
use crate::{Context, Filter};

/// The counters of one process; `None` where /proc does not let the daemon read them.
#[derive(Default)]
struct Counters {
    pid: u64,
    parent: u64,
    name: String,
    start: Option<u64>,
    handles: Option<u64>,
    io: Option<[u64; 4]>,
    page_faults: u64,
    swap: Option<u64>,
    kernel: u64,
    user: u64,
    threads: u64,
    virtual_bytes: u64,
    virtual_peak: Option<u64>,
    working_set: Option<u64>,
    working_set_peak: Option<u64>,
}

/// `/proc/<pid>/io`: rchar, syscr, wchar, syscw (readable for the daemon's own processes and
/// by root).
fn io(pid: u32) -> Option<[u64; 4]> {
    let text = procfs::read_text(format!("/proc/{pid}/io")).ok()?;
    let get = |key: &str| procfs::field(&text, key);
    Some([get("rchar")?, get("syscr")?, get("wchar")?, get("syscw")?])
}

/// The uid and gid that own `/proc/<pid>` (its effective ids, root's when not dumpable).
fn owner(pid: u32) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}"))
        .ok()
        .map(|m| (m.uid(), m.gid()))
}

fn counters(pid: u32, boot_time: Option<u64>, viewer: Viewer) -> Option<Counters> {
    let stat = Stat::read(pid)?;
    let status = procfs::read_text(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| procfs::field(&status, key).map(|v| v * 1024);
    let start = boot_time.map(|boot| filetime_of_unix(boot) + stat.get(22) * HUNDRED_NS_PER_TICK);
    Some(Counters {
        pid: u64::from(pid),
        parent: stat.get(4),
        name: stat.comm.clone(),
        start,
        handles: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .ok()
            .map(|d| d.count() as u64),
        // Linux shows a process's I/O counters to its owner and root only: so do we.
        io: viewer.sees(|| owner(pid)).then(|| io(pid)).flatten(),
        page_faults: stat.get(10) + stat.get(12),
        swap: kb("VmSwap"),
        kernel: stat.get(15) * HUNDRED_NS_PER_TICK,
        user: stat.get(14) * HUNDRED_NS_PER_TICK,
        threads: stat.get(20),
        virtual_bytes: stat.get(23),
        virtual_peak: kb("VmPeak"),
        working_set: kb("VmRSS"),
        working_set_peak: kb("VmHWM"),
    })
}

/// Windows' instance names: `name`, then `name#1`, `name#2` for later processes of that name.
fn instance_names(names: &[&str]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    names
        .iter()
        .map(|&name| {
            let count = seen.entry(name).or_insert(0);
            let out = if *count == 0 {
                name.to_owned()
            } else {
                format!("{name}#{count}")
            };
            *count += 1;
            out
        })
        .collect()
}

/// `Win32_PerfRawData_PerfProc_Process`, keyed by Name.
pub struct PerfProcProcess;

const PERF_PROC_PROCESS_PROPERTIES: [Property; 37] = merged(
    WIN32_PERF,
    &[
        ("CreatingProcessID", "uint32"),
        ("ElapsedTime", "uint64"),
        ("HandleCount", "uint32"),
        ("IDProcess", "uint32"),
        ("IODataBytesPersec", "uint64"),
        ("IODataOperationsPersec", "uint64"),
        ("IOOtherBytesPersec", "uint64"),
        ("IOOtherOperationsPersec", "uint64"),
        ("IOReadBytesPersec", "uint64"),
        ("IOReadOperationsPersec", "uint64"),
        ("IOWriteBytesPersec", "uint64"),
        ("IOWriteOperationsPersec", "uint64"),
        ("PageFaultsPersec", "uint32"),
        ("PageFileBytes", "uint64"),
        ("PageFileBytesPeak", "uint64"),
        ("PercentPrivilegedTime", "uint64"),
        ("PercentProcessorTime", "uint64"),
        ("PercentUserTime", "uint64"),
        ("PoolNonpagedBytes", "uint32"),
        ("PoolPagedBytes", "uint32"),
        ("PriorityBase", "uint32"),
        ("PrivateBytes", "uint64"),
        ("ThreadCount", "uint32"),
        ("VirtualBytes", "uint64"),
        ("VirtualBytesPeak", "uint64"),
        ("WorkingSet", "uint64"),
        ("WorkingSetPeak", "uint64"),
        ("WorkingSetPrivate", "uint64"),
    ],
);

const PERF_PROC_PROCESS: ClassSchema = ClassSchema::performance(
    "Win32_PerfRawData_PerfProc_Process",
    "Win32_PerfRawData",
    &PERF_PROC_PROCESS_PROPERTIES,
);

impl Class for PerfProcProcess {
    schema!(PERF_PROC_PROCESS);
    fn instances(&self, ctx: &Context<'_>, _: Option<&Filter>) -> Instances {
        let viewer = Viewer::of(ctx);
        let timestamp = filetime_now();
        let boot_time = procfs::boot_time();
        let mut all: Vec<Counters> = procfs::pids()
            .into_iter()
            .filter_map(|pid| counters(pid, boot_time, viewer))
            .collect();
        // Idle: the time every processor spent idle, as pid 0.
        let stat = procfs::read_text("/proc/stat").unwrap_or_default();
        let idle_ticks = stat
            .lines()
            .find(|l| l.starts_with("cpu "))
            .map(|l| {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .skip(1)
                    .map(|v| v.parse().unwrap_or(0))
                    .collect();
                f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0)
            })
            .unwrap_or(0);
        all.push(Counters {
            name: "Idle".to_owned(),
            kernel: idle_ticks * HUNDRED_NS_PER_TICK,
            start: boot_time.map(filetime_of_unix),
            ..Counters::default()
        });
        let sum = |f: &dyn Fn(&Counters) -> u64| all.iter().map(f).sum::<u64>();
        let total = Counters {
            name: "_Total".to_owned(),
            start: boot_time.map(filetime_of_unix),
            handles: Some(sum(&|c| c.handles.unwrap_or(0))),
            page_faults: sum(&|c| c.page_faults),
            swap: Some(sum(&|c| c.swap.unwrap_or(0))),
            kernel: sum(&|c| c.kernel),
            user: sum(&|c| c.user),
            threads: sum(&|c| c.threads),
            virtual_bytes: sum(&|c| c.virtual_bytes),
            working_set: Some(sum(&|c| c.working_set.unwrap_or(0))),
            ..Counters::default()
        };
        all.push(total);
        let names = instance_names(&all.iter().map(|c| c.name.as_str()).collect::<Vec<_>>());
        Ok(all
            .iter()
            .zip(names)
            .map(|(c, name)| {
                let io = |i: usize| c.io.map_or(Value::Null, |io| Value::from(io[i]));
                Instance::new(self.name(), self.namespace())
                    .with("CreatingProcessID", c.parent)
                    .with("ElapsedTime", c.start)
                    .with("Frequency_Object", 10_000_000u64)
                    .with("Frequency_Sys100NS", 10_000_000u64)
                    .with("HandleCount", c.handles)
                    .with("IDProcess", c.pid)
                    .with("IOReadBytesPersec", io(0))
                    .with("IOReadOperationsPersec", io(1))
                    .with("IOWriteBytesPersec", io(2))
                    .with("IOWriteOperationsPersec", io(3))
                    .with_key("Name", name)
                    .with("PageFaultsPersec", c.page_faults)
                    .with("PageFileBytes", c.swap)
                    .with("PercentPrivilegedTime", c.kernel)
                    .with("PercentProcessorTime", c.kernel + c.user)
                    .with("PercentUserTime", c.user)
                    .with("ThreadCount", c.threads)
                    .with("Timestamp_Object", timestamp)
                    .with("Timestamp_Sys100NS", timestamp)
                    .with("VirtualBytes", c.virtual_bytes)
                    .with("VirtualBytesPeak", c.virtual_peak)
                    .with("WorkingSet", c.working_set)
                    .with("WorkingSetPeak", c.working_set_peak)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_names_are_numbered_as_windows_numbers_them() {
        assert_eq!(
            instance_names(&["sh", "sleep", "sh", "sleep", "sleep"]),
            ["sh", "sleep", "sh#1", "sleep#1", "sleep#2"]
        );
    }
}
