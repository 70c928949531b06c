//! The physical disk performance classes disk monitoring polls:
//! `Win32_PerfRawData_PerfDisk_PhysicalDisk` (the counters in Windows' units, for a tool's own
//! arithmetic on two samples) and `Win32_PerfFormattedData_PerfDisk_PhysicalDisk` (the rates
//! between two samples), from `/sys/block/<disk>/stat` (the kernel's
//! `Documentation/admin-guide/iostats.rst`).
//!
//! A physical disk is a block device the kernel backs with a device (`/sys/block/<disk>/device`
//! exists): loop, zram, device-mapper and md devices have none and are left out, as Windows'
//! PhysicalDisk object counts disks, not volumes. Instances are named `<n> <disk>` (`0 vda`),
//! n being the disk's place in name order, as Windows names them `<disk number> <drive
//! letters>`, and `_Total` sums them.

use std::path::Path;

use wsman_proto::cim::Instance;

use super::perf::{filetime_now, PreviousSample};
use super::schema::{merged, ClassSchema, Property, WIN32_PERF};
use super::{procfs, Class, Instances};
use crate::{Context, Filter};

/// Bytes in a sector of the block layer's counters, whatever the device's own sector size.
const STAT_SECTOR: u64 = 512;
/// 100 ns intervals in a millisecond: the kernel counts times in ms, Windows in 100 ns.
const HUNDRED_NS_PER_MS: u64 = 10_000;
/// Frequency_PerfTime and Frequency_Sys100NS: the timers count 100 ns.
const FREQUENCY_100NS: u64 = 10_000_000;
/// Name of the instance that sums the disks, as Windows names it.
const TOTAL: &str = "_Total";

/// One block device's counters (`/sys/block/<disk>/stat`), or their sum: the physical disk
/// classes' source, and the logical disk rates' (`disk.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct DiskStat {
    pub(super) reads: u64,
    pub(super) read_sectors: u64,
    pub(super) read_ms: u64,
    pub(super) writes: u64,
    pub(super) written_sectors: u64,
    pub(super) write_ms: u64,
    pub(super) in_flight: u64,
    /// Time the disk had requests in flight (busy).
    pub(super) io_ms: u64,
    /// Time requests spent in flight, summed over them (the queue length integrated).
    pub(super) queue_ms: u64,
}

impl DiskStat {
    /// The first eleven fields of a `stat` file; `None` for fewer.
    pub(super) fn parse(text: &str) -> Option<Self> {
        let n: Vec<u64> = text
            .split_whitespace()
            .take(11)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        (n.len() == 11).then(|| Self {
            reads: n[0],
            read_sectors: n[2],
            read_ms: n[3],
            writes: n[4],
            written_sectors: n[6],
            write_ms: n[7],
            in_flight: n[8],
            io_ms: n[9],
            queue_ms: n[10],
        })
    }

    fn sum(disks: &[(String, DiskStat)]) -> Self {
        disks.iter().fold(Self::default(), |t, (_, d)| Self {
            reads: t.reads.wrapping_add(d.reads),
            read_sectors: t.read_sectors.wrapping_add(d.read_sectors),
            read_ms: t.read_ms.wrapping_add(d.read_ms),
            writes: t.writes.wrapping_add(d.writes),
            written_sectors: t.written_sectors.wrapping_add(d.written_sectors),
            write_ms: t.write_ms.wrapping_add(d.write_ms),
            in_flight: t.in_flight.wrapping_add(d.in_flight),
            io_ms: t.io_ms.wrapping_add(d.io_ms),
            queue_ms: t.queue_ms.wrapping_add(d.queue_ms),
        })
    }

    pub(super) fn read_bytes(&self) -> u64 {
        self.read_sectors.wrapping_mul(STAT_SECTOR)
    }
    pub(super) fn written_bytes(&self) -> u64 {
        self.written_sectors.wrapping_mul(STAT_SECTOR)
    }

    /// What happened between `before` and `self`.
    pub(super) fn since(&self, before: &Self) -> Self {
        Self {
            reads: self.reads.saturating_sub(before.reads),
            read_sectors: self.read_sectors.saturating_sub(before.read_sectors),
            read_ms: self.read_ms.saturating_sub(before.read_ms),
            writes: self.writes.saturating_sub(before.writes),
            written_sectors: self.written_sectors.saturating_sub(before.written_sectors),
            write_ms: self.write_ms.saturating_sub(before.write_ms),
            in_flight: self.in_flight,
            io_ms: self.io_ms.saturating_sub(before.io_ms),
            queue_ms: self.queue_ms.saturating_sub(before.queue_ms),
        }
    }
}

/// The physical disks under `block` (`/sys/block`), named `<n> <disk>`, then `_Total`.
fn disks(block: &Path) -> Vec<(String, DiskStat)> {
    let Ok(dir) = std::fs::read_dir(block) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_owned))
        .filter(|name| block.join(name).join("device").exists())
        .collect();
    names.sort();
    let mut out: Vec<(String, DiskStat)> = names
        .iter()
        .filter_map(|name| {
            let text = procfs::read_text(block.join(name).join("stat")).ok()?;
            Some((name.clone(), DiskStat::parse(&text)?))
        })
        .enumerate()
        .map(|(n, (name, stat))| (format!("{n} {name}"), stat))
        .collect();
    let total = DiskStat::sum(&out);
    out.push((TOTAL.to_owned(), total));
    out
}

/// Time since boot in 100 ns (`/proc/uptime`): the PerfTime timer the raw timers count against.
fn uptime_100ns() -> Option<u64> {
    let text = procfs::read_text("/proc/uptime").ok()?;
    let seconds = text.split_whitespace().next()?;
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, "0"));
    let centis: u64 = format!("{fraction:0<2}").get(..2)?.parse().ok()?;
    Some(
        whole
            .parse::<u64>()
            .ok()?
            .checked_mul(100)?
            .checked_add(centis)?
            * 100_000,
    )
}

/// The low 32 bits of a counter Windows keeps in 32 bits (it wraps there, and a tool's
/// arithmetic on two samples allows for that).
fn low32(value: u64) -> u32 {
    u32::try_from(value & u64::from(u32::MAX)).unwrap_or(u32::MAX)
}

/// `Win32_PerfRawData_PerfDisk_PhysicalDisk`, keyed by Name: the counters since boot. Times are
/// in 100 ns (Frequency_PerfTime 10,000,000): AvgDiskQueueLength and PercentDiskTime are the
/// requests' summed time in flight (a tool divides the change by the change of
/// PercentDiskTime_Base, the PerfTime timer, as for Windows' 100 ns queue-length counters);
/// PercentIdleTime is the time the disk had nothing in flight; AvgDisksecPer* are the time
/// reads or writes took, over the count in the `_Base`; 32-bit counters wrap as Windows'
/// do. SplitIOPerSec has no Linux counterpart (nil).
pub struct PerfRawPhysicalDisk;

/// The raw instance of one disk at `uptime` (100 ns since boot).
fn raw_instance(class: &dyn Class, name: &str, d: &DiskStat, uptime: u64) -> Instance {
    let hundred_ns = |ms: u64| ms.wrapping_mul(HUNDRED_NS_PER_MS);
    let transfers = d.reads.wrapping_add(d.writes);
    let bytes = d.read_bytes().wrapping_add(d.written_bytes());
    let busy = hundred_ns(d.io_ms).min(uptime);
    Instance::new(class.name(), class.namespace())
        .with("AvgDiskBytesPerRead", d.read_bytes())
        .with("AvgDiskBytesPerRead_Base", low32(d.reads))
        .with("AvgDiskBytesPerTransfer", bytes)
        .with("AvgDiskBytesPerTransfer_Base", low32(transfers))
        .with("AvgDiskBytesPerWrite", d.written_bytes())
        .with("AvgDiskBytesPerWrite_Base", low32(d.writes))
        .with("AvgDiskQueueLength", hundred_ns(d.queue_ms))
        .with("AvgDiskReadQueueLength", hundred_ns(d.read_ms))
        .with("AvgDisksecPerRead", low32(hundred_ns(d.read_ms)))
        .with("AvgDisksecPerRead_Base", low32(d.reads))
        .with(
            "AvgDisksecPerTransfer",
            low32(hundred_ns(d.read_ms.wrapping_add(d.write_ms))),
        )
        .with("AvgDisksecPerTransfer_Base", low32(transfers))
        .with("AvgDisksecPerWrite", low32(hundred_ns(d.write_ms)))
        .with("AvgDisksecPerWrite_Base", low32(d.writes))
        .with("AvgDiskWriteQueueLength", hundred_ns(d.write_ms))
        .with("CurrentDiskQueueLength", low32(d.in_flight))
        .with("DiskBytesPersec", bytes)
        .with("DiskReadBytesPersec", d.read_bytes())
        .with("DiskReadsPersec", low32(d.reads))
        .with("DiskTransfersPersec", low32(transfers))
        .with("DiskWriteBytesPersec", d.written_bytes())
        .with("DiskWritesPersec", low32(d.writes))
        .with("Frequency_PerfTime", FREQUENCY_100NS)
        .with("Frequency_Sys100NS", FREQUENCY_100NS)
        .with_key("Name", name)
        .with("PercentDiskReadTime", hundred_ns(d.read_ms))
        .with("PercentDiskReadTime_Base", uptime)
        .with("PercentDiskTime", hundred_ns(d.queue_ms))
        .with("PercentDiskTime_Base", uptime)
        .with("PercentDiskWriteTime", hundred_ns(d.write_ms))
        .with("PercentDiskWriteTime_Base", uptime)
        .with("PercentIdleTime", uptime - busy)
        .with("PercentIdleTime_Base", uptime)
        .with("Timestamp_PerfTime", uptime)
        .with("Timestamp_Sys100NS", filetime_now())
}

const PERF_RAW_PHYSICAL_DISK_PROPERTIES: [Property; 40] = merged(
    &FORMATTED_DISK_COUNTERS,
    &[
        ("AvgDiskBytesPerRead_Base", "uint32"),
        ("AvgDiskBytesPerTransfer_Base", "uint32"),
        ("AvgDiskBytesPerWrite_Base", "uint32"),
        ("AvgDisksecPerRead_Base", "uint32"),
        ("AvgDisksecPerTransfer_Base", "uint32"),
        ("AvgDisksecPerWrite_Base", "uint32"),
        ("PercentDiskReadTime_Base", "uint64"),
        ("PercentDiskTime_Base", "uint64"),
        ("PercentDiskWriteTime_Base", "uint64"),
        ("PercentIdleTime_Base", "uint64"),
    ],
);

const PERF_RAW_PHYSICAL_DISK: ClassSchema = ClassSchema::performance(
    "Win32_PerfRawData_PerfDisk_PhysicalDisk",
    "Win32_PerfRawData",
    &PERF_RAW_PHYSICAL_DISK_PROPERTIES,
);

impl Class for PerfRawPhysicalDisk {
    schema!(PERF_RAW_PHYSICAL_DISK);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let uptime = uptime_100ns().unwrap_or(0);
        Ok(disks(Path::new("/sys/block"))
            .iter()
            .map(|(name, stat)| raw_instance(self, name, stat, uptime))
            .collect())
    }
}

/// `Win32_PerfFormattedData_PerfDisk_PhysicalDisk`, keyed by Name: the rates over the time since
/// the previous query (two samples 250 ms apart without one), as WMI's formatted classes
/// compute from the previous sample. PercentDiskTime is the share of the interval the disk was
/// busy (at most 100, as Win32_PerfFormattedData_PerfDisk_LogicalDisk's) and PercentIdleTime the
/// rest; PercentDiskReadTime and PercentDiskWriteTime the time reads or writes were in flight
/// over the interval (at most 100); AvgDiskQueueLength the requests in flight on average;
/// AvgDisksecPer* whole seconds per request, as Windows' integer property truncates them.
/// The timestamps and frequencies are nil, as in Windows' formatted answers.
#[derive(Default)]
pub struct PerfFormattedPhysicalDisk {
    previous: PreviousSample<Vec<(String, DiskStat)>>,
}

/// The formatted instance of one disk from what it did (`delta`) over `elapsed_ms`.
fn formatted_instance(
    class: &dyn Class,
    name: &str,
    delta: &DiskStat,
    elapsed_ms: u64,
) -> Instance {
    let elapsed_ms = elapsed_ms.max(1);
    let per_second = |count: u64| count.saturating_mul(1000) / elapsed_ms;
    let percent = |ms: u64| (ms.saturating_mul(100) / elapsed_ms).min(100);
    let average = |total: u64, count: u64| total.checked_div(count).unwrap_or(0);
    let seconds_per = |ms: u64, count: u64| low32(average(ms, count) / 1000);
    let transfers = delta.reads + delta.writes;
    let bytes = delta.read_bytes() + delta.written_bytes();
    let busy = percent(delta.io_ms);
    Instance::new(class.name(), class.namespace())
        .with(
            "AvgDiskBytesPerRead",
            average(delta.read_bytes(), delta.reads),
        )
        .with("AvgDiskBytesPerTransfer", average(bytes, transfers))
        .with(
            "AvgDiskBytesPerWrite",
            average(delta.written_bytes(), delta.writes),
        )
        .with("AvgDiskQueueLength", delta.queue_ms / elapsed_ms)
        .with("AvgDiskReadQueueLength", delta.read_ms / elapsed_ms)
        .with("AvgDisksecPerRead", seconds_per(delta.read_ms, delta.reads))
        .with(
            "AvgDisksecPerTransfer",
            seconds_per(delta.read_ms + delta.write_ms, transfers),
        )
        .with(
            "AvgDisksecPerWrite",
            seconds_per(delta.write_ms, delta.writes),
        )
        .with("AvgDiskWriteQueueLength", delta.write_ms / elapsed_ms)
        .with("CurrentDiskQueueLength", low32(delta.in_flight))
        .with("DiskBytesPersec", per_second(bytes))
        .with("DiskReadBytesPersec", per_second(delta.read_bytes()))
        .with("DiskReadsPersec", low32(per_second(delta.reads)))
        .with("DiskTransfersPersec", low32(per_second(transfers)))
        .with("DiskWriteBytesPersec", per_second(delta.written_bytes()))
        .with("DiskWritesPersec", low32(per_second(delta.writes)))
        .with_key("Name", name)
        .with("PercentDiskReadTime", percent(delta.read_ms))
        .with("PercentDiskTime", busy)
        .with("PercentDiskWriteTime", percent(delta.write_ms))
        .with("PercentIdleTime", 100 - busy)
}

/// The counters of a formatted disk class, which the logical disks (with their free space) and
/// the raw physical disks (with the `_Base` of each ratio) declare too.
pub(super) const FORMATTED_DISK_COUNTERS: [Property; 30] = merged(
    WIN32_PERF,
    &[
        ("AvgDiskBytesPerRead", "uint64"),
        ("AvgDiskBytesPerTransfer", "uint64"),
        ("AvgDiskBytesPerWrite", "uint64"),
        ("AvgDiskQueueLength", "uint64"),
        ("AvgDiskReadQueueLength", "uint64"),
        ("AvgDisksecPerRead", "uint32"),
        ("AvgDisksecPerTransfer", "uint32"),
        ("AvgDisksecPerWrite", "uint32"),
        ("AvgDiskWriteQueueLength", "uint64"),
        ("CurrentDiskQueueLength", "uint32"),
        ("DiskBytesPersec", "uint64"),
        ("DiskReadBytesPersec", "uint64"),
        ("DiskReadsPersec", "uint32"),
        ("DiskTransfersPersec", "uint32"),
        ("DiskWriteBytesPersec", "uint64"),
        ("DiskWritesPersec", "uint32"),
        ("PercentDiskReadTime", "uint64"),
        ("PercentDiskTime", "uint64"),
        ("PercentDiskWriteTime", "uint64"),
        ("PercentIdleTime", "uint64"),
        ("SplitIOPerSec", "uint32"),
    ],
);

const PERF_FORMATTED_PHYSICAL_DISK: ClassSchema = ClassSchema::performance(
    "Win32_PerfFormattedData_PerfDisk_PhysicalDisk",
    "Win32_PerfFormattedData",
    &FORMATTED_DISK_COUNTERS,
);

impl Class for PerfFormattedPhysicalDisk {
    schema!(PERF_FORMATTED_PHYSICAL_DISK);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let block = Path::new("/sys/block");
        let (started, before) = self.previous.take_or_sample(|| Ok(disks(block)))?;
        let after = disks(block);
        let elapsed_ms = PreviousSample::<Vec<(String, DiskStat)>>::elapsed_ms(started);
        let out = after
            .iter()
            .map(|(name, now)| {
                let then = before
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(*now, |(_, s)| *s);
                formatted_instance(self, name, &now.since(&then), elapsed_ms)
            })
            .collect();
        self.previous.keep(after);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use wsman_proto::cim::Value;

    /// The example line of the kernel's iostats documentation's field list, as a 5.x kernel
    /// writes it (17 fields; the discard and flush ones are not read).
    const STAT: &str = "    4390     1276   323466     2187     4087     5463   121226     5694        1     6008     7881      0 0 0 0 0 0\n";

    #[test]
    fn a_stat_line_is_read_field_by_field() {
        let d = DiskStat::parse(STAT).unwrap();
        assert_eq!((d.reads, d.read_sectors, d.read_ms), (4390, 323_466, 2187));
        assert_eq!(
            (d.writes, d.written_sectors, d.write_ms),
            (4087, 121_226, 5694)
        );
        assert_eq!((d.in_flight, d.io_ms, d.queue_ms), (1, 6008, 7881));
        assert_eq!(DiskStat::parse("1 2 3"), None);
    }

    /// Disks are the block devices with a device, numbered in name order; `_Total` sums them.
    #[test]
    fn disks_are_backed_block_devices_and_their_total() {
        let root = tempfile::tempdir().unwrap();
        for (name, backed) in [("vdb", true), ("loop0", false), ("sda", true)] {
            let dir = root.path().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("stat"), STAT).unwrap();
            if backed {
                std::fs::create_dir(dir.join("device")).unwrap();
            }
        }
        let found = disks(root.path());
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["0 sda", "1 vdb", "_Total"]);
        assert_eq!(found[2].1.reads, 2 * 4390);
        assert_eq!(found[2].1.queue_ms, 2 * 7881);
    }

    #[test]
    fn raw_counters_are_in_windows_units() {
        let d = DiskStat::parse(STAT).unwrap();
        let i = raw_instance(&PerfRawPhysicalDisk, "0 sda", &d, 90_000_000);
        let get = |p: &str| i.get(p).cloned();
        assert_eq!(
            get("DiskReadBytesPersec"),
            Some(Value::Unsigned(323_466 * 512))
        );
        assert_eq!(
            get("DiskTransfersPersec"),
            Some(Value::Unsigned(4390 + 4087))
        );
        assert_eq!(
            get("AvgDiskQueueLength"),
            Some(Value::Unsigned(7881 * 10_000))
        );
        assert_eq!(
            get("PercentIdleTime"),
            Some(Value::Unsigned(90_000_000 - 6008 * 10_000))
        );
        assert_eq!(get("SplitIOPerSec"), None);
    }

    #[test]
    fn formatted_counters_are_rates_over_the_interval() {
        let before = DiskStat::parse(STAT).unwrap();
        let after = DiskStat {
            reads: before.reads + 50,
            read_sectors: before.read_sectors + 800,
            read_ms: before.read_ms + 100,
            io_ms: before.io_ms + 250,
            queue_ms: before.queue_ms + 1000,
            in_flight: 3,
            ..before
        };
        let i = formatted_instance(
            &PerfFormattedPhysicalDisk::default(),
            "_Total",
            &after.since(&before),
            500,
        );
        let get = |p: &str| i.get(p).cloned();
        assert_eq!(get("DiskReadsPersec"), Some(Value::Unsigned(100)));
        assert_eq!(
            get("DiskReadBytesPersec"),
            Some(Value::Unsigned(800 * 512 * 2))
        );
        assert_eq!(
            get("AvgDiskBytesPerRead"),
            Some(Value::Unsigned(800 * 512 / 50))
        );
        assert_eq!(get("PercentDiskTime"), Some(Value::Unsigned(50)));
        assert_eq!(get("PercentIdleTime"), Some(Value::Unsigned(50)));
        assert_eq!(get("PercentDiskReadTime"), Some(Value::Unsigned(20)));
        assert_eq!(get("AvgDiskQueueLength"), Some(Value::Unsigned(2)));
        assert_eq!(get("CurrentDiskQueueLength"), Some(Value::Unsigned(3)));
        assert_eq!(get("DiskWritesPersec"), Some(Value::Unsigned(0)));
    }
}
