//! Win32_PerfRawData_PerfOS_Processor: the raw CPU time counters of /proc/stat in Windows'
//! units, so that a monitoring tool's arithmetic on two samples gives the true CPU use.
//!
//! Every time counter is in 100 ns; `Timestamp_Sys100NS` is the sample time as a FILETIME
//! (100 ns since 1601-01-01) and `Frequency_Sys100NS` is 10,000,000, as on Windows.
//! PercentProcessorTime is, like Windows' `PERF_100NSEC_TIMER_INV` counter, the time the
//! processor was idle (idle + iowait): a tool computes `100 * (1 - Δcounter / Δtimestamp)`.
//! The `_Total` instance is the average over the processors, as Windows reports it.

use wsman_proto::cim::Instance;
use wsman_proto::Fault;

use super::procfs::{self, USER_HZ};
use super::Class;
use crate::{Context, Filter};

/// `Win32_PerfRawData_PerfOS_Processor`, keyed by Name (`0`, `1`, ..., `_Total`).
pub struct PerfOsProcessor;

/// 100 ns units per clock tick.
const HUNDRED_NS_PER_TICK: u64 = 10_000_000 / USER_HZ;
/// 100 ns intervals from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// One `cpu` line of /proc/stat, in ticks.
struct CpuTimes {
    name: String,
    user: u64,
    nice: u64,
    system: u64,
    idle: u64,
    iowait: u64,
    irq: u64,
    softirq: u64,
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

impl Class for PerfOsProcessor {
    fn name(&self) -> &'static str {
        "Win32_PerfRawData_PerfOS_Processor"
    }
    fn keys(&self) -> &'static [&'static str] {
        &["Name"]
    }
    fn properties(&self) -> &'static [&'static str] {
        &[
            "Frequency_Sys100NS",
            "Name",
            "PercentIdleTime",
            "PercentInterruptTime",
            "PercentPrivilegedTime",
            "PercentProcessorTime",
            "PercentUserTime",
            "Timestamp_Sys100NS",
        ]
    }

    fn instances(&self, _: &Context<'_>, _: Option<&Filter>) -> Result<Vec<Instance>, Fault> {
        let stat = procfs::read_text("/proc/stat")
            .map_err(|e| Fault::internal_error(format!("/proc/stat: {e}. ")))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| (d.as_nanos() / 100) as u64);
        let timestamp = FILETIME_UNIX_EPOCH + now;
        let lines = cpu_lines(&stat);
        let processors = lines.iter().filter(|c| c.name != "_Total").count().max(1) as u64;
        let mut out: Vec<Instance> = lines
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
        // Windows lists the processors first and _Total last.
        if !out.is_empty() {
            out.rotate_left(1);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lines_name_total_and_processors() {
        let lines = cpu_lines("cpu  10 1 5 100 2 0 1 0 0 0\ncpu0 5 1 2 50 1 0 0 0 0 0\nintr 5\n");
        let names: Vec<&str> = lines.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["_Total", "0"]);
        assert_eq!(lines[0].idle + lines[0].iowait, 102);
    }
}
