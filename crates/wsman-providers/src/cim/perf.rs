//! The performance counter classes: raw counters (`Win32_PerfRawData_*`) in Windows' units,
//! so that a monitoring tool's arithmetic on two samples gives the true rate, and the
//! formatted counters: memory, which needs no second sample, and processor percentages over one
//! shared window of two /proc/stat samples ([`CpuSampler`], which Win32_Processor's
//! LoadPercentage reads too).
//!
//! Every time counter is in 100 ns; `Timestamp_Sys100NS` is the sample time as a FILETIME
//! (100 ns since 1601-01-01) and `Frequency_Sys100NS` is 10,000,000, as on Windows.
//! PercentProcessorTime is, like Windows' `PERF_100NSEC_TIMER_INV` counter, the time the
//! processor was idle (idle + iowait): a tool computes `100 * (1 - Δcounter / Δtimestamp)`.
//! The `_Total` instance is the average over the processors, as Windows reports it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use wsman_proto::cim::Instance;
use wsman_proto::Fault;

use super::procfs::{self, HUNDRED_NS_PER_TICK};
use super::schema::{merged, ClassSchema, Property, WIN32_PERF};
use super::{Class, Instances};
use crate::{Context, Filter};

/// `Win32_PerfRawData_PerfOS_Processor`, keyed by Name (`0`, `1`, ..., `_Total`).
pub struct PerfOsProcessor;

/// 100 ns intervals from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// One `cpu` line of /proc/stat, in ticks.
pub(super) struct CpuTimes {
    name: String,
    user: u64,
    nice: u64,
    system: u64,
    idle: u64,
    iowait: u64,
    irq: u64,
    softirq: u64,
}

/// Now as a FILETIME (100 ns since 1601-01-01): the Timestamp_Sys100NS of every sample.
pub(super) fn filetime_now() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| (d.as_nanos() / 100) as u64);
    FILETIME_UNIX_EPOCH + now
}

/// A time in seconds since the Unix epoch as a FILETIME.
pub(super) fn filetime_of_unix(seconds: u64) -> u64 {
    FILETIME_UNIX_EPOCH + seconds * 10_000_000
}

/// The value of `key` in /proc/stat (`ctxt`, `procs_running`).
fn stat_value(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// The instances of the `cpu` lines in Windows' order: the processors first, `_Total` (the
/// first line) last.
fn total_last(mut out: Vec<Instance>) -> Instances {
    if !out.is_empty() {
        out.rotate_left(1);
    }
    Ok(out)
}

fn cpu_lines(stat: &str) -> Vec<CpuTimes> {
    stat.lines()
        .filter(|l| l.starts_with("cpu"))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let label = f.next()?;
            let n: Vec<u64> = f.take(7).map(|v| v.parse().unwrap_or(0)).collect();
            if n.len() < 7 {
                return None;
            }
            let name = match label.strip_prefix("cpu")? {
                "" => "_Total".to_owned(),
                index => index.to_owned(),
            };
            Some(CpuTimes {
                name,
                user: n[0],
                nice: n[1],
                system: n[2],
                idle: n[3],
                iowait: n[4],
                irq: n[5],
                softirq: n[6],
            })
        })
        .collect()
}

/// The Processor object's counters, raw and formatted alike (Windows Server 2019's definition).
const PROCESSOR_COUNTERS: [Property; 24] = merged(
    WIN32_PERF,
    &[
        ("C1TransitionsPersec", "uint64"),
        ("C2TransitionsPersec", "uint64"),
        ("C3TransitionsPersec", "uint64"),
        ("DPCRate", "uint32"),
        ("DPCsQueuedPersec", "uint32"),
        ("InterruptsPersec", "uint32"),
        ("PercentC1Time", "uint64"),
        ("PercentC2Time", "uint64"),
        ("PercentC3Time", "uint64"),
        ("PercentDPCTime", "uint64"),
        ("PercentIdleTime", "uint64"),
        ("PercentInterruptTime", "uint64"),
        ("PercentPrivilegedTime", "uint64"),
        ("PercentProcessorTime", "uint64"),
        ("PercentUserTime", "uint64"),
    ],
);

const PERF_OS_PROCESSOR: ClassSchema = ClassSchema::performance(
    "Win32_PerfRawData_PerfOS_Processor",
    "Win32_PerfRawData",
    &PROCESSOR_COUNTERS,
);

impl Class for PerfOsProcessor {
    schema!(PERF_OS_PROCESSOR);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let stat = procfs::read_required("/proc/stat")?;
        let timestamp = filetime_now();
        let lines = cpu_lines(&stat);
        let processors = lines.iter().filter(|c| c.name != "_Total").count().max(1) as u64;
        let out: Vec<Instance> = lines
            .iter()
            .map(|c| {
                // The aggregate line sums every processor; Windows' _Total is their average.
                let scale = |ticks: u64| {
                    let t = ticks * HUNDRED_NS_PER_TICK;
                    if c.name == "_Total" {
                        t / processors
                    } else {
                        t
                    }
                };
                Instance::new(self.name(), self.namespace())
                    .with("Frequency_Sys100NS", 10_000_000u64)
                    .with_key("Name", c.name.clone())
                    .with("PercentIdleTime", scale(c.idle))
                    .with("PercentInterruptTime", scale(c.irq + c.softirq))
                    .with("PercentPrivilegedTime", scale(c.system))
                    .with("PercentProcessorTime", scale(c.idle + c.iowait))
                    .with("PercentUserTime", scale(c.user + c.nice))
                    .with("Timestamp_Sys100NS", timestamp)
            })
            .collect();
        total_last(out)
    }
}

/// `Win32_PerfRawData_PerfOS_System`: one instance (no keys). SystemUpTime is an elapsed-time
/// counter as on Windows: the boot time as a FILETIME, read against Timestamp_Object with
/// Frequency_Object.
pub struct PerfOsSystem;

const PERF_OS_SYSTEM_PROPERTIES: [Property; 27] = merged(
    WIN32_PERF,
    &[
        ("AlignmentFixupsPersec", "uint32"),
        ("ContextSwitchesPersec", "uint32"),
        ("ExceptionDispatchesPersec", "uint32"),
        ("FileControlBytesPersec", "uint64"),
        ("FileControlOperationsPersec", "uint32"),
        ("FileDataOperationsPersec", "uint32"),
        ("FileReadBytesPersec", "uint64"),
        ("FileReadOperationsPersec", "uint32"),
        ("FileWriteBytesPersec", "uint64"),
        ("FileWriteOperationsPersec", "uint32"),
        ("FloatingEmulationsPersec", "uint32"),
        ("PercentRegistryQuotaInUse", "uint32"),
        ("PercentRegistryQuotaInUse_Base", "uint32"),
        ("Processes", "uint32"),
        ("ProcessorQueueLength", "uint32"),
        ("SystemCallsPersec", "uint32"),
        ("SystemUpTime", "uint64"),
        ("Threads", "uint32"),
    ],
);

const PERF_OS_SYSTEM: ClassSchema = ClassSchema::without_methods(
    "Win32_PerfRawData_PerfOS_System",
    "root/cimv2",
    &[],
    &[],
    "Win32_PerfRawData",
    &PERF_OS_SYSTEM_PROPERTIES,
);

impl Class for PerfOsSystem {
    schema!(PERF_OS_SYSTEM);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let stat = procfs::read_required("/proc/stat")?;
        let timestamp = filetime_now();
        // The fourth field of /proc/loadavg: runnable / all scheduling entities (threads).
        let threads = procfs::read_text("/proc/loadavg").ok().and_then(|l| {
            l.split_whitespace()
                .nth(3)?
                .split_once('/')?
                .1
                .parse::<u64>()
                .ok()
        });
        Ok(vec![Instance::new(self.name(), self.namespace())
            .with("ContextSwitchesPersec", stat_value(&stat, "ctxt"))
            .with("Frequency_Object", 10_000_000u64)
            .with("Frequency_Sys100NS", 10_000_000u64)
            .with("Processes", procfs::pids().len() as u64)
            .with("ProcessorQueueLength", stat_value(&stat, "procs_running"))
            .with("SystemUpTime", procfs::boot_time().map(filetime_of_unix))
            .with("Threads", threads)
            .with("Timestamp_Object", timestamp)
            .with("Timestamp_Sys100NS", timestamp)])
    }
}

/// `Win32_PerfFormattedData_PerfOS_Memory`: one instance (no keys) of the memory counters that
/// need no second sample, from /proc/meminfo (bytes, KB and MB as their names say).
pub struct PerfOsMemory;

const PERF_OS_MEMORY_PROPERTIES: [Property; 45] = merged(
    WIN32_PERF,
    &[
        ("AvailableBytes", "uint64"),
        ("AvailableKBytes", "uint64"),
        ("AvailableMBytes", "uint64"),
        ("CacheBytes", "uint64"),
        ("CacheBytesPeak", "uint64"),
        ("CacheFaultsPersec", "uint32"),
        ("CommitLimit", "uint64"),
        ("CommittedBytes", "uint64"),
        ("DemandZeroFaultsPersec", "uint32"),
        ("FreeAndZeroPageListBytes", "uint64"),
        ("FreeSystemPageTableEntries", "uint32"),
        ("LongTermAverageStandbyCacheLifetimes", "uint32"),
        ("ModifiedPageListBytes", "uint64"),
        ("PageFaultsPersec", "uint32"),
        ("PageReadsPersec", "uint32"),
        ("PagesInputPersec", "uint32"),
        ("PagesOutputPersec", "uint32"),
        ("PagesPersec", "uint32"),
        ("PageWritesPersec", "uint32"),
        ("PercentCommittedBytesInUse", "uint32"),
        ("PoolNonpagedAllocs", "uint32"),
        ("PoolNonpagedBytes", "uint64"),
        ("PoolPagedAllocs", "uint32"),
        ("PoolPagedBytes", "uint64"),
        ("PoolPagedResidentBytes", "uint64"),
        ("StandbyCacheCoreBytes", "uint64"),
        ("StandbyCacheNormalPriorityBytes", "uint64"),
        ("StandbyCacheReserveBytes", "uint64"),
        ("SystemCacheResidentBytes", "uint64"),
        ("SystemCodeResidentBytes", "uint64"),
        ("SystemCodeTotalBytes", "uint64"),
        ("SystemDriverResidentBytes", "uint64"),
        ("SystemDriverTotalBytes", "uint64"),
        ("TransitionFaultsPersec", "uint32"),
        ("TransitionPagesRePurposedPersec", "uint32"),
        ("WriteCopiesPersec", "uint32"),
    ],
);

const PERF_OS_MEMORY: ClassSchema = ClassSchema::without_methods(
    "Win32_PerfFormattedData_PerfOS_Memory",
    "root/cimv2",
    &[],
    &[],
    "Win32_PerfFormattedData",
    &PERF_OS_MEMORY_PROPERTIES,
);

impl Class for PerfOsMemory {
    schema!(PERF_OS_MEMORY);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let meminfo = procfs::read_required("/proc/meminfo")?;
        let kb = |key| procfs::field(&meminfo, key);
        let available = kb("MemAvailable");
        let (committed, limit) = (kb("Committed_AS"), kb("CommitLimit"));
        // Linux overcommits: Committed_AS may pass CommitLimit; Windows' percentage cannot.
        let percent = match (committed, limit) {
            (Some(c), Some(l)) if l > 0 => Some((c.saturating_mul(100) / l).min(100)),
            _ => None,
        };
        Ok(vec![Instance::new(self.name(), self.namespace())
            .with("AvailableBytes", available.map(|k| k * 1024))
            .with("AvailableKBytes", available)
            .with("AvailableMBytes", available.map(|k| k / 1024))
            .with("CacheBytes", kb("Cached").map(|k| k * 1024))
            .with("CommitLimit", limit.map(|k| k * 1024))
            .with("CommittedBytes", committed.map(|k| k * 1024))
            .with("PercentCommittedBytesInUse", percent)])
    }
}

/// `Win32_PerfFormattedData_PerfOS_Processor`, keyed by Name: percentages over the last
/// window of the host's [`CpuSampler`] (two samples of /proc/stat one interval apart, as WMI's
/// formatted classes compute from two raw samples), shared with Win32_Processor's
/// LoadPercentage.
pub struct PerfFormattedOsProcessor {
    sampler: Arc<CpuSampler>,
}

impl PerfFormattedOsProcessor {
    pub fn new(sampler: Arc<CpuSampler>) -> Self {
        Self { sampler }
    }
}

/// The interval between the two samples of a [`CpuSampler`] window: one second, the interval
/// Windows averages Win32_Processor's LoadPercentage over.
pub const CPU_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Two samples of /proc/stat one interval apart, shared by every caller: a window is reused
/// while it ended less than an interval ago, and callers that arrive while one is being taken
/// wait for it, so N concurrent queries cost one window (one pair of reads, one sleep on the
/// blocking pool), not N.
pub struct CpuSampler {
    interval: Duration,
    state: Mutex<SamplerState>,
    taken: Condvar,
    windows: AtomicU64,
}

#[derive(Default)]
struct SamplerState {
    window: Option<CpuWindow>,
    sampling: bool,
}

/// The samples at both ends of one window.
#[derive(Clone)]
pub(super) struct CpuWindow {
    ended: Instant,
    before: Arc<Vec<CpuTimes>>,
    after: Arc<Vec<CpuTimes>>,
}

impl Default for CpuSampler {
    fn default() -> Self {
        Self::new(CPU_SAMPLE_INTERVAL)
    }
}

impl CpuSampler {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(SamplerState::default()),
            taken: Condvar::new(),
            windows: AtomicU64::new(0),
        }
    }

    /// How many windows were sampled so far (each is two reads of /proc/stat).
    pub fn windows_sampled(&self) -> u64 {
        self.windows.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, SamplerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current window: the last one while it is fresh, else the one being taken, else a
    /// new one taken by this caller.
    pub(super) fn window(&self) -> Result<CpuWindow, Fault> {
        let mut state = self.lock();
        loop {
            if let Some(window) = state
                .window
                .as_ref()
                .filter(|w| w.ended.elapsed() < self.interval)
            {
                return Ok(window.clone());
            }
            if !state.sampling {
                break;
            }
            state = self
                .taken
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.sampling = true;
        drop(state);
        let taken = (|| {
            let before = read_cpu_lines()?;
            // Providers run on the blocking pool: the sleep holds no async worker.
            std::thread::sleep(self.interval);
            let after = read_cpu_lines()?;
            Ok(CpuWindow {
                ended: Instant::now(),
                before: Arc::new(before),
                after: Arc::new(after),
            })
        })();
        self.windows.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        state.sampling = false;
        if let Ok(window) = &taken {
            state.window = Some(window.clone());
        }
        self.taken.notify_all();
        taken
    }
}

impl CpuWindow {
    /// The busy share, in percent, of the processors `names` (the /proc/stat numbers) over
    /// the window; `None` when none of them is in both samples.
    pub(super) fn load_percent<'a>(&self, names: impl Iterator<Item = &'a str>) -> Option<u64> {
        let (mut busy, mut total, mut found) = (0, 0, false);
        for name in names {
            let before = self.before.iter().find(|c| c.name == name);
            let after = self.after.iter().find(|c| c.name == name);
            if let (Some(before), Some(after)) = (before, after) {
                busy += after.busy().saturating_sub(before.busy());
                total += after.total().saturating_sub(before.total());
                found = true;
            }
        }
        found.then(|| (busy * 100 / total.max(1)).min(100))
    }
}

/// The sampling window when no recent previous sample exists.
const FORMATTED_WINDOW: std::time::Duration = std::time::Duration::from_millis(250);
/// The oldest previous sample still used.
const FORMATTED_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(10);

/// The sample a formatted class computes its next answer from: the one its previous query
/// kept (at least a quarter of [`FORMATTED_WINDOW`] old), or, without one younger than
/// [`FORMATTED_MAX_AGE`], a fresh one [`FORMATTED_WINDOW`] before now.
pub(super) struct PreviousSample<T>(std::sync::Mutex<Option<(std::time::Instant, T)>>);

impl<T> Default for PreviousSample<T> {
    fn default() -> Self {
        Self(std::sync::Mutex::new(None))
    }
}

impl<T> PreviousSample<T> {
    /// The sample to count from and when it was taken; `read` takes a fresh one.
    pub(super) fn take_or_sample(
        &self,
        read: impl FnOnce() -> Result<T, Fault>,
    ) -> Result<(std::time::Instant, T), Fault> {
        let previous = self
            .slot()
            .take()
            .filter(|(at, _)| at.elapsed() <= FORMATTED_MAX_AGE);
        match previous {
            Some((at, sample)) => {
                // Too recent to mean anything yet: wait until it does, rather than drop what
                // happened since (a quick second query must still see it).
                let shortest = FORMATTED_WINDOW / 4;
                if let Some(wait) = shortest.checked_sub(at.elapsed()) {
                    std::thread::sleep(wait);
                }
                Ok((at, sample))
            }
            None => {
                let sample = (std::time::Instant::now(), read()?);
                // Providers run on the blocking pool: a short sleep holds no async worker.
                std::thread::sleep(FORMATTED_WINDOW);
                Ok(sample)
            }
        }
    }

    /// Milliseconds since `started` (a sample [`Self::take_or_sample`] gave), at least 1: what a
    /// formatted class divides its counts by.
    pub(super) fn elapsed_ms(started: std::time::Instant) -> u64 {
        u64::try_from(started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Keep `sample`, taken now, for the next query.
    pub(super) fn keep(&self, sample: T) {
        *self.slot() = Some((std::time::Instant::now(), sample));
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<(std::time::Instant, T)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CpuTimes {
    fn busy(&self) -> u64 {
        self.user + self.nice + self.system + self.irq + self.softirq
    }
    fn total(&self) -> u64 {
        self.busy() + self.idle + self.iowait
    }
}

fn read_cpu_lines() -> Result<Vec<CpuTimes>, Fault> {
    let stat = procfs::read_required("/proc/stat")?;
    Ok(cpu_lines(&stat))
}

const PERF_FORMATTED_OS_PROCESSOR: ClassSchema = ClassSchema::performance(
    "Win32_PerfFormattedData_PerfOS_Processor",
    "Win32_PerfFormattedData",
    &PROCESSOR_COUNTERS,
);

impl Class for PerfFormattedOsProcessor {
    schema!(PERF_FORMATTED_OS_PROCESSOR);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let window = self.sampler.window()?;
        let before = &window.before;
        let out: Vec<Instance> = window
            .after
            .iter()
            .filter_map(|after| {
                let before = before.iter().find(|b| b.name == after.name)?;
                let total = after.total().saturating_sub(before.total()).max(1);
                let percent = |a: u64, b: u64| (a.saturating_sub(b) * 100 / total).min(100);
                Some(
                    Instance::new(self.name(), self.namespace())
                        .with_key("Name", after.name.clone())
                        .with(
                            "PercentIdleTime",
                            percent(after.idle + after.iowait, before.idle + before.iowait),
                        )
                        .with(
                            "PercentInterruptTime",
                            percent(after.irq + after.softirq, before.irq + before.softirq),
                        )
                        .with(
                            "PercentPrivilegedTime",
                            percent(after.system, before.system),
                        )
                        .with("PercentProcessorTime", percent(after.busy(), before.busy()))
                        .with(
                            "PercentUserTime",
                            percent(after.user + after.nice, before.user + before.nice),
                        ),
                )
            })
            .collect();
        total_last(out)
    }
}

/// `Win32_PerfRawData_Tcpip_NetworkInterface`, keyed by Name (the interface name): the byte,
/// packet, error and discard counters of every interface but loopback (Windows leaves its
/// loopback out of this class too), from `/sys/class/net/<if>/statistics`.
pub struct PerfTcpipNetworkInterface;

const PERF_TCPIP_NETWORK_INTERFACE_PROPERTIES: [Property; 31] = merged(
    WIN32_PERF,
    &[
        ("BytesReceivedPersec", "uint64"),
        ("BytesSentPersec", "uint64"),
        ("BytesTotalPersec", "uint64"),
        ("CurrentBandwidth", "uint64"),
        ("OffloadedConnections", "uint64"),
        ("OutputQueueLength", "uint64"),
        ("PacketsOutboundDiscarded", "uint64"),
        ("PacketsOutboundErrors", "uint64"),
        ("PacketsPersec", "uint64"),
        ("PacketsReceivedDiscarded", "uint64"),
        ("PacketsReceivedErrors", "uint64"),
        ("PacketsReceivedNonUnicastPersec", "uint64"),
        ("PacketsReceivedPersec", "uint64"),
        ("PacketsReceivedUnicastPersec", "uint64"),
        ("PacketsReceivedUnknown", "uint64"),
        ("PacketsSentNonUnicastPersec", "uint64"),
        ("PacketsSentPersec", "uint64"),
        ("PacketsSentUnicastPersec", "uint64"),
        ("TCPActiveRSCConnections", "uint64"),
        ("TCPRSCAveragePacketSize", "uint64"),
        ("TCPRSCCoalescedPacketsPersec", "uint64"),
        ("TCPRSCExceptionsPersec", "uint64"),
    ],
);

const PERF_TCPIP_NETWORK_INTERFACE: ClassSchema = ClassSchema::performance(
    "Win32_PerfRawData_Tcpip_NetworkInterface",
    "Win32_PerfRawData",
    &PERF_TCPIP_NETWORK_INTERFACE_PROPERTIES,
);

impl Class for PerfTcpipNetworkInterface {
    schema!(PERF_TCPIP_NETWORK_INTERFACE);
    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Instances {
        let timestamp = filetime_now();
        let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
            return Ok(Vec::new());
        };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .filter(|name| {
                // ARPHRD_LOOPBACK
                procfs::read_text(format!("/sys/class/net/{name}/type"))
                    .is_ok_and(|t| t.trim() != "772")
            })
            .map(|name| {
                let counter = |file: &str| {
                    procfs::read_text(format!("/sys/class/net/{name}/statistics/{file}"))
                        .ok()
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .unwrap_or(0)
                };
                let (rx_bytes, tx_bytes) = (counter("rx_bytes"), counter("tx_bytes"));
                let (rx_packets, tx_packets) = (counter("rx_packets"), counter("tx_packets"));
                let bandwidth = procfs::read_text(format!("/sys/class/net/{name}/speed"))
                    .ok()
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .and_then(|s| u64::try_from(s).ok())
                    .map(|mbps| mbps * 1_000_000);
                Instance::new(self.name(), self.namespace())
                    .with("BytesReceivedPersec", rx_bytes)
                    .with("BytesSentPersec", tx_bytes)
                    .with("BytesTotalPersec", rx_bytes.wrapping_add(tx_bytes))
                    .with("CurrentBandwidth", bandwidth)
                    .with("Frequency_Sys100NS", 10_000_000u64)
                    .with_key("Name", name.clone())
                    .with("PacketsOutboundDiscarded", counter("tx_dropped"))
                    .with("PacketsOutboundErrors", counter("tx_errors"))
                    .with("PacketsPersec", rx_packets.wrapping_add(tx_packets))
                    .with("PacketsReceivedDiscarded", counter("rx_dropped"))
                    .with("PacketsReceivedErrors", counter("rx_errors"))
                    .with("PacketsReceivedPersec", rx_packets)
                    .with("PacketsSentPersec", tx_packets)
                    .with("Timestamp_Sys100NS", timestamp)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fifty concurrent queries of Win32_Processor and the formatted processor class (released
    /// together) are answered from one window: the samples are counted, not timed. Each load
    /// is a percentage.
    #[test]
    fn fifty_concurrent_queries_take_one_window() {
        let sampler = Arc::new(CpuSampler::default());
        let processor = super::super::system::Processor::new(sampler.clone());
        let formatted = PerfFormattedOsProcessor::new(sampler.clone());
        let start = std::sync::Barrier::new(50);
        std::thread::scope(|scope| {
            for n in 0..50 {
                let (processor, formatted, start) = (&processor, &formatted, &start);
                scope.spawn(move || {
                    let request = wsman_proto::Request::default();
                    let ctx = Context::new(&request, "http://127.0.0.1/wsman");
                    start.wait();
                    if n % 2 == 0 {
                        for instance in processor.instances(&ctx, None).unwrap() {
                            let load = instance.get("LoadPercentage");
                            assert!(
                                matches!(load, Some(wsman_proto::cim::Value::Unsigned(0..=100))),
                                "{load:?}"
                            );
                        }
                    } else {
                        assert!(!formatted.instances(&ctx, None).unwrap().is_empty());
                    }
                });
            }
        });
        assert_eq!(sampler.windows_sampled(), 1);
    }

    #[test]
    fn a_window_loads_the_named_processors_only() {
        let window = CpuWindow {
            ended: Instant::now(),
            before: Arc::new(cpu_lines("cpu0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0\n")),
            after: Arc::new(cpu_lines("cpu0 30 0 10 60 0 0 0\ncpu1 0 0 0 100 0 0 0\n")),
        };
        assert_eq!(window.load_percent(["0"].into_iter()), Some(40));
        assert_eq!(window.load_percent(["0", "1"].into_iter()), Some(20));
        assert_eq!(window.load_percent(["7"].into_iter()), None);
    }

    #[test]
    fn cpu_lines_name_total_and_processors() {
        let lines = cpu_lines("cpu  10 1 5 100 2 0 1 0 0 0\ncpu0 5 1 2 50 1 0 0 0 0 0\nintr 5\n");
        let names: Vec<&str> = lines.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["_Total", "0"]);
        assert_eq!(lines[0].idle + lines[0].iowait, 102);
    }

    #[test]
    fn stat_values_by_key() {
        let stat = "cpu  1 2 3\nctxt 42\nprocs_running 3\n";
        assert_eq!(stat_value(stat, "ctxt"), Some(42));
        assert_eq!(stat_value(stat, "procs_running"), Some(3));
        assert_eq!(stat_value(stat, "missing"), None);
        assert_eq!(filetime_of_unix(0), FILETIME_UNIX_EPOCH);
    }
}
