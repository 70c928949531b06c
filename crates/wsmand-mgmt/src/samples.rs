//! The live figures: every configured host sampled by the console at one interval
//! (`SampleIntervalSeconds`, 10 s by default) from the performance classes wsmand and Windows
//! both serve, into a ring of one hour per host (fixed memory: the ring never grows past an
//! hour of points, and an unreachable host adds none).
//!
//! One sample is four reads, made one after another on the host's one kept connection, all
//! four within one host deadline:
//! `Win32_PerfFormattedData_PerfOS_Processor` `_Total` (PercentProcessorTime; where the host
//! answers that it does not serve that class, `Win32_Processor`'s LoadPercentage averaged over
//! the processors, which every Windows host serves),
//! `Win32_OperatingSystem` (FreePhysicalMemory of TotalVisibleMemorySize),
//! `Win32_LogicalDisk` (the fullest local disk, DriveType 3) and
//! `Win32_PerfRawData_Tcpip_NetworkInterface` (BytesTotalPersec summed over the interfaces: a
//! raw counter, so the rate is the difference of two samples over their `Timestamp_Sys100NS`,
//! as a monitoring tool computes it on Windows).
//!
//! Beside the figures, the sampler keeps what the fleet page and a host's overview show of
//! each host ([`Facts`]: Identify, the operating system, the load, the failed services, an
//! account refused), read by the same rounds every [`FACTS_INTERVAL`] (and every round while
//! unread or unreachable), so that no page reads a host while it is being answered: a page of
//! 500 hosts is rendered from memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use wsman_client::{Client, ClientError, Element, EnumerateOptions, Resource};
use wsman_config::mgmt::ManagedHost;

use crate::hosts::{property, Host, HostSummary, HOST_DEADLINE};
use crate::manage::Live;

#[path = "samples_ring.rs"]
mod ring;
pub use ring::Ring;

/// WMI's root/cimv2 as a resource URI prefix.
const CIMV2: &str = wsman_proto::ns::WMI_CIMV2_PREFIX;
/// What the graphs cover.
pub const WINDOW: Duration = Duration::from_secs(3600);
/// `DriveType` of a local fixed disk.
const LOCAL_DISK: &str = "3";
/// How often a host's facts are read again (at least once per round at a longer interval):
/// the failed services cost the host a service enumeration, which need not be as fresh as
/// the figures.
pub const FACTS_INTERVAL: Duration = Duration::from_secs(60);
/// Most hosts sampled at once: bounds the console's memory in a round of a large fleet (the
/// answers being read; the others wait their turn). A sample is about six exchanges one after
/// another, so a round of 5,000 hosts answering in 50 ms each takes about 5,000 x 0.3 s / 256
/// = 6 s, within the default 10 s interval.
pub const HOSTS_AT_ONCE: usize = 256;

/// One sample of a host; a figure the host did not give is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Point {
    /// When it was taken, in seconds since 1970 (UTC).
    pub at: u64,
    /// Processor time, % of all processors (`_Total`).
    pub cpu: Option<f64>,
    /// Physical memory in use, %.
    pub memory: Option<f64>,
    /// Free space of the fullest local disk, %.
    pub disk_free: Option<f64>,
    /// Bytes sent and received per second over every interface since the previous sample.
    pub network: Option<f64>,
}

/// A raw network counter reading: bytes so far, and the host's clock in 100 ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetCounter {
    /// BytesTotalPersec summed over the interfaces (a raw byte count).
    pub bytes: u64,
    /// Timestamp_Sys100NS.
    pub timestamp: u64,
    /// Frequency_Sys100NS (10,000,000 on Windows and wsmand).
    pub frequency: u64,
}

impl NetCounter {
    /// Bytes per second from `earlier` to this reading; `None` when the counter or the clock
    /// went back (a reboot, an interface gone) or did not move.
    pub fn rate_since(&self, earlier: &NetCounter) -> Option<f64> {
        let bytes = self.bytes.checked_sub(earlier.bytes)?;
        let ticks = self.timestamp.checked_sub(earlier.timestamp)?;
        if ticks == 0 || self.frequency == 0 {
            return None;
        }
        Some(bytes as f64 * self.frequency as f64 / ticks as f64)
    }
}

fn number(instance: &Element, name: &str) -> Option<f64> {
    property(instance, name)?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

fn integer(instance: &Element, name: &str) -> Option<u64> {
    property(instance, name)?.parse().ok()
}

/// PercentProcessorTime of the `_Total` instance (clamped to 0–100).
pub fn processor_percent(instances: &[Element]) -> Option<f64> {
    instances
        .iter()
        .find(|i| property(i, "Name").as_deref() == Some("_Total"))
        .and_then(|i| number(i, "PercentProcessorTime"))
        .map(|v| v.clamp(0.0, 100.0))
}

/// Physical memory in use, % (Win32_OperatingSystem's sizes are in KiB).
pub fn memory_percent(instances: &[Element]) -> Option<f64> {
    let os = instances.first()?;
    let total = number(os, "TotalVisibleMemorySize").filter(|t| *t > 0.0)?;
    let free = number(os, "FreePhysicalMemory")?;
    Some((100.0 * (total - free) / total).clamp(0.0, 100.0))
}

/// Free space of the fullest local fixed disk, %: the disk that fills first is the one that
/// matters for health.
pub fn disk_free_percent(instances: &[Element]) -> Option<f64> {
    instances
        .iter()
        .filter(|d| property(d, "DriveType").as_deref() == Some(LOCAL_DISK))
        .filter_map(|d| {
            let size = number(d, "Size").filter(|s| *s > 0.0)?;
            let free = number(d, "FreeSpace")?;
            Some((100.0 * free / size).clamp(0.0, 100.0))
        })
        .min_by(f64::total_cmp)
}

/// Win32_Processor's LoadPercentage averaged over the processors (clamped to 0–100): the
/// processor figure of a host that does not serve the performance class.
pub fn load_percent(instances: &[Element]) -> Option<f64> {
    let loads: Vec<f64> = instances
        .iter()
        .filter_map(|p| number(p, "LoadPercentage"))
        .collect();
    if loads.is_empty() {
        return None;
    }
    let mean = loads.iter().sum::<f64>() / loads.len() as f64;
    // Huge values of both signs can sum to NaN, which no clamp bounds.
    (!mean.is_nan()).then_some(mean.clamp(0.0, 100.0))
}

/// The byte counters of every interface summed, with the first interface's clock.
pub fn network_counter(instances: &[Element]) -> Option<NetCounter> {
    let first = instances.first()?;
    let mut bytes = 0u64;
    for instance in instances {
        bytes = bytes.wrapping_add(integer(instance, "BytesTotalPersec")?);
    }
    Some(NetCounter {
        bytes,
        timestamp: integer(first, "Timestamp_Sys100NS")?,
        frequency: integer(first, "Frequency_Sys100NS")?,
    })
}

/// What the console knows of one host's figures.
#[derive(Debug)]
pub struct HostSeries {
    /// The last hour of points.
    pub ring: Ring,
    /// The last sample reached the host (`None`: not sampled yet).
    pub reachable: Option<bool>,
    /// Why the last sample missed a figure or the host.
    pub error: Option<String>,
    last_net: Option<NetCounter>,
    /// What was last read of the host beyond its figures.
    facts: Option<Facts>,
    /// When the last sample was taken (seconds since 1970).
    tried: Option<u64>,
    /// When a sample last reached the host.
    answered: Option<u64>,
    /// The host's entry the series was sampled with: a host whose entry was changed (its
    /// address, its account) starts a new series.
    entry: Option<ManagedHost>,
    /// Its facts are being read (or wait their turn): not asked again meanwhile.
    facts_pending: bool,
}

impl HostSeries {
    fn new(capacity: usize) -> Self {
        Self {
            ring: Ring::new(capacity),
            reachable: None,
            error: None,
            last_net: None,
            facts: None,
            tried: None,
            answered: None,
            entry: None,
            facts_pending: false,
        }
    }
}

/// What the sampler last read of a host beyond its figures, and when.
#[derive(Clone, Debug)]
pub struct Facts {
    /// When it was read, in seconds since 1970.
    pub at: u64,
    /// Identify, the operating system, the load, the failed services (as the host's own
    /// account).
    pub summary: HostSummary,
}

/// A copy of what the console knows of one host now, for the fleet page and the overview:
/// no ring copied.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// See [`HostSeries::reachable`].
    pub reachable: Option<bool>,
    /// See [`HostSeries::error`].
    pub error: Option<String>,
    /// The newest point.
    pub latest: Option<Point>,
    /// The newest facts.
    pub facts: Option<Facts>,
    /// When the last sample was taken.
    pub tried: Option<u64>,
    /// When a sample last reached the host.
    pub answered: Option<u64>,
}

/// A copy of one host's series for a page or its JSON.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    /// The sampling interval, seconds.
    pub interval: u64,
    /// See [`HostSeries::reachable`].
    pub reachable: Option<bool>,
    /// See [`HostSeries::error`].
    pub error: Option<String>,
    /// The points, oldest first.
    pub points: Vec<Point>,
}

impl Snapshot {
    /// The newest point.
    pub fn latest(&self) -> Option<&Point> {
        self.points.last()
    }
}

/// Every configured host's series, by name. The set follows the hosts configured now (the
/// manager pages add and remove hosts while the service runs): see [`Samples::follow`].
pub struct Samples {
    interval: Duration,
    capacity: usize,
    hosts: RwLock<BTreeMap<String, Arc<Mutex<HostSeries>>>>,
}

impl Samples {
    /// An hour of room for each of `names`, sampled every `interval` (at least 1 s).
    pub fn new<'a>(names: impl Iterator<Item = &'a str>, interval: Duration) -> Self {
        let interval = interval.max(Duration::from_secs(1));
        let capacity = WINDOW.as_secs().div_ceil(interval.as_secs()) as usize;
        let samples = Self {
            interval,
            capacity,
            hosts: RwLock::default(),
        };
        samples.follow(names);
        samples
    }

    /// Keeps the series of `names` (a new name starts empty) and drops every other one, so
    /// memory follows the configured hosts.
    pub fn follow<'a>(&self, names: impl Iterator<Item = &'a str>) {
        let names: std::collections::BTreeSet<&str> = names.collect();
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        hosts.retain(|name, _| names.contains(name.as_str()));
        for name in names {
            if !hosts.contains_key(name) {
                let series = Arc::new(Mutex::new(HostSeries::new(self.capacity)));
                hosts.insert(name.to_owned(), series);
            }
        }
    }

    fn series(&self, name: &str) -> Option<Arc<Mutex<HostSeries>>> {
        let hosts = self.hosts.read().unwrap_or_else(PoisonError::into_inner);
        hosts.get(name).cloned()
    }

    /// The interval between samples.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// A copy of `name`'s series; only the points from `since` on (seconds since 1970) when
    /// given, which is what a page polling for new points asks for.
    pub fn snapshot(&self, name: &str, since: Option<u64>) -> Option<Snapshot> {
        let series = self.series(name)?;
        let series = series.lock().unwrap_or_else(PoisonError::into_inner);
        Some(Snapshot {
            interval: self.interval.as_secs(),
            reachable: series.reachable,
            error: series.error.clone(),
            points: series
                .ring
                .points()
                .filter(|p| since.is_none_or(|s| p.at > s))
                .collect(),
        })
    }

    /// What the console knows of `name` now (see [`Status`]), without copying the ring.
    pub fn status(&self, name: &str) -> Option<Status> {
        let series = self.series(name)?;
        let series = series.lock().unwrap_or_else(PoisonError::into_inner);
        Some(Status {
            reachable: series.reachable,
            error: series.error.clone(),
            latest: series.ring.latest(),
            facts: series.facts.clone(),
            tried: series.tried,
            answered: series.answered,
        })
    }

    /// Whether `host`'s facts are to be read in this round (none yet, the host not reached
    /// last time, or older than [`FACTS_INTERVAL`]); a host whose client changed starts a new
    /// series first. `None`: the host is not followed.
    fn facts_due(&self, host: &Arc<Host>, now: u64) -> Option<bool> {
        let series = self.series(&host.config.name)?;
        let mut series = series.lock().unwrap_or_else(PoisonError::into_inner);
        if series.entry.as_ref() != Some(&host.config) {
            *series = HostSeries::new(self.capacity);
            series.entry = Some(host.config.clone());
        }
        let every = FACTS_INTERVAL.as_secs().max(self.interval.as_secs());
        let stale = series.reachable != Some(true)
            || series
                .facts
                .as_ref()
                .is_none_or(|f| now.saturating_sub(f.at) + 1 >= every);
        Some(stale && !series.facts_pending)
    }

    /// Whether facts of `name` were ever read.
    fn has_facts(&self, name: &str) -> bool {
        self.series(name).is_some_and(|series| {
            let series = series.lock().unwrap_or_else(PoisonError::into_inner);
            series.facts.is_some()
        })
    }

    /// Marks `name`'s facts as being read, until [`Samples::record_facts`].
    fn facts_begun(&self, name: &str) {
        if let Some(series) = self.series(name) {
            series
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .facts_pending = true;
        }
    }

    /// Whether `host` was never sampled with its current entry.
    fn unsampled(&self, host: &Arc<Host>) -> bool {
        self.series(&host.config.name).is_some_and(|series| {
            let series = series.lock().unwrap_or_else(PoisonError::into_inner);
            series.tried.is_none() || series.entry.as_ref() != Some(&host.config)
        })
    }

    fn record_facts(&self, name: &str, facts: Facts) {
        if let Some(series) = self.series(name) {
            let mut series = series.lock().unwrap_or_else(PoisonError::into_inner);
            series.facts = Some(facts);
            series.facts_pending = false;
        }
    }

    /// The newest point and reachability of `name`, without copying the ring.
    pub fn latest(&self, name: &str) -> Option<(Option<bool>, Option<Point>)> {
        let series = self.series(name)?;
        let series = series.lock().unwrap_or_else(PoisonError::into_inner);
        Some((series.reachable, series.ring.latest()))
    }

    fn record(&self, name: &str, read: Read) {
        let Some(series) = self.series(name) else {
            return;
        };
        let mut series = series.lock().unwrap_or_else(PoisonError::into_inner);
        let read_some =
            read.cpu.is_ok() || read.memory.is_ok() || read.disk.is_ok() || read.network.is_ok();
        let reached = read.reached();
        series.reachable = Some(reached);
        series.tried = Some(read.at);
        if reached {
            series.answered = Some(read.at);
        }
        let mut errors = Vec::new();
        let mut keep = |result: Result<Option<f64>, ReadError>| match result {
            Ok(value) => value,
            Err(error) => {
                errors.push(error.message);
                None
            }
        };
        let cpu = keep(read.cpu);
        let memory = keep(read.memory);
        let disk_free = keep(read.disk);
        let counter = match read.network {
            Ok(counter) => counter,
            Err(error) => {
                errors.push(error.message);
                None
            }
        };
        let network = match (counter, series.last_net) {
            (Some(now), Some(before)) => now.rate_since(&before),
            _ => None,
        };
        series.last_net = counter;
        series.error = (!errors.is_empty()).then(|| errors.join("; "));
        // A host that gave no figure (unreachable, or refusing every class) adds no point.
        if read_some {
            series.ring.push(Point {
                at: read.at,
                cpu,
                memory,
                disk_free,
                network,
            });
        }
    }
}

/// Why one read failed (naming the class), and whether the host answered at all (a fault,
/// a refusal): such a host is reachable.
#[derive(Debug)]
struct ReadError {
    message: String,
    answered: bool,
}

impl ReadError {
    #[cfg(test)]
    fn new(message: &str, answered: bool) -> Self {
        Self {
            message: message.to_owned(),
            answered,
        }
    }
}

/// One sample's four reads.
struct Read {
    at: u64,
    cpu: Result<Option<f64>, ReadError>,
    memory: Result<Option<f64>, ReadError>,
    disk: Result<Option<f64>, ReadError>,
    network: Result<Option<NetCounter>, ReadError>,
}

impl Read {
    /// Whether the sample reached the host: a figure read, or a fault or refusal answered.
    fn reached(&self) -> bool {
        let read_some =
            self.cpu.is_ok() || self.memory.is_ok() || self.disk.is_ok() || self.network.is_ok();
        read_some
            || [
                self.cpu.as_ref().err(),
                self.memory.as_ref().err(),
                self.disk.as_ref().err(),
                self.network.as_ref().err(),
            ]
            .into_iter()
            .any(|e| e.is_some_and(|e| e.answered))
    }
}

fn class(name: &str) -> Resource {
    Resource::new(format!("{CIMV2}{name}"))
}

/// Now, in seconds since 1970.
pub fn seconds_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn enumerate(
    client: &Client,
    name: &str,
    deadline: tokio::time::Instant,
) -> Result<Vec<Element>, ReadError> {
    let options = EnumerateOptions::default();
    match tokio::time::timeout_at(deadline, client.enumerate(&class(name), &options)).await {
        Ok(Ok(items)) => Ok(items),
        Ok(Err(error)) => Err(ReadError {
            answered: matches!(
                error,
                ClientError::Fault { .. }
                    | ClientError::Http { .. }
                    | ClientError::Unauthorized { .. }
            ),
            message: format!("{name}: {error}"),
        }),
        Err(_) => Err(ReadError {
            message: format!("{name}: no answer within {} s", HOST_DEADLINE.as_secs()),
            answered: false,
        }),
    }
}

/// The processor figure: the performance class, or, when the host answers that it does not
/// serve it (a fault, a refusal), Win32_Processor's load; the first error when both fail.
async fn processor(
    client: &Client,
    deadline: tokio::time::Instant,
) -> Result<Option<f64>, ReadError> {
    match enumerate(client, "Win32_PerfFormattedData_PerfOS_Processor", deadline).await {
        Ok(items) => Ok(processor_percent(&items)),
        Err(error) if error.answered => {
            match enumerate(client, "Win32_Processor", deadline).await {
                Ok(items) => Ok(load_percent(&items)),
                Err(_) => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// The same failure for a read not made: the host did not answer the one before.
fn not_tried(first: &ReadError) -> ReadError {
    ReadError {
        message: first.message.clone(),
        answered: false,
    }
}

/// One sample of one host: the four reads one after another, on the one connection the host
/// keeps (reads made together took a connection each: four per host, which at thousands of
/// hosts ran the console out of descriptors). A host that does not answer the first read is
/// not asked the others: it costs one deadline, not four.
async fn sample(client: &Client) -> Read {
    let at = seconds_now();
    let deadline = tokio::time::Instant::now() + HOST_DEADLINE;
    let cpu = processor(client, deadline).await;
    let unreached = cpu.as_ref().err().filter(|e| !e.answered);
    if let Some(first) = unreached {
        return Read {
            at,
            memory: Err(not_tried(first)),
            disk: Err(not_tried(first)),
            network: Err(not_tried(first)),
            cpu,
        };
    }
    let os = enumerate(client, "Win32_OperatingSystem", deadline).await;
    let disks = enumerate(client, "Win32_LogicalDisk", deadline).await;
    let net = enumerate(client, "Win32_PerfRawData_Tcpip_NetworkInterface", deadline).await;
    Read {
        at,
        cpu,
        memory: os.map(|i| memory_percent(&i)),
        disk: disks.map(|i| disk_free_percent(&i)),
        network: net.map(|i| network_counter(&i)),
    }
}

/// Most hosts whose facts are read at once: a host's service list is the largest answer the
/// console reads (about 200 KB from Windows, several times that once parsed), and the memory
/// a round takes at its peak stays with the process (256 hosts' lists at once were most of
/// the console's memory); 32 at once still read 5,000 hosts' facts within their minute at
/// 50 ms an answer.
static FACTS_TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(32);

/// One host's sample, then its facts when they are due and the sample reached the host (a
/// host that does not answer costs one sample's reads, not more). The facts are read on
/// their own turn ([`FACTS_TURNS`]): beside the rounds when `beside` and the host has facts
/// already (so that a round of figures never waits for a refresh), else before the sample is
/// recorded (a host with a point has facts).
async fn sample_host(samples: &Arc<Samples>, host: &Arc<Host>, beside: bool) {
    let Some(facts_due) = samples.facts_due(host, seconds_now()) else {
        return;
    };
    let one = host.sampling.lock().await;
    let read = sample(host.client()).await;
    drop(one);
    if facts_due && read.reached() {
        samples.facts_begun(&host.config.name);
        let refresh = beside && samples.has_facts(&host.config.name);
        let (samples, host, at) = (Arc::clone(samples), Arc::clone(host), read.at);
        let facts = async move {
            let _turn = FACTS_TURNS.acquire().await;
            let _one = host.sampling.lock().await;
            // Boxed: a refresh waiting for its turn holds its host and time, not the read's
            // state (the largest of the sampler's futures).
            let summary = Box::pin(host.summary()).await;
            samples.record_facts(&host.config.name, Facts { at, summary });
        };
        // The first facts of a host before its first point, so that a host with a point
        // has facts; later ones beside.
        if refresh {
            tokio::spawn(facts);
        } else {
            facts.await;
        }
    }
    samples.record(&host.config.name, read);
}

/// Samples `hosts`, at most [`HOSTS_AT_ONCE`] at a time. A host's sample is begun only when
/// it has a turn, so a round holds [`HOSTS_AT_ONCE`] hosts' reads, not one per host (each a few
/// tens of KB while it waits: most of a host's memory at thousands of hosts, when every
/// host's read was made at the round's start).
async fn sample_all(samples: &Arc<Samples>, hosts: Vec<Arc<Host>>, beside: bool) {
    use futures_util::StreamExt;
    futures_util::stream::iter(hosts)
        .map(|host| async move { sample_host(samples, &host, beside).await })
        .buffer_unordered(HOSTS_AT_ONCE)
        .for_each(|()| std::future::ready(()))
        .await;
}

/// Samples, now, every host of the current configuration never sampled through its current
/// entry (one just added or changed on the manager pages), so that the fleet shows it when
/// the change is answered rather than one interval later.
pub async fn sample_new(live: &Live, samples: &Arc<Samples>) {
    let now = live.now();
    samples.follow(now.fleet.hosts().map(|h| h.config.name.as_str()));
    let new: Vec<Arc<Host>> = now
        .fleet
        .hosts()
        .filter(|host| samples.unsampled(host))
        .cloned()
        .collect();
    sample_all(samples, new, false).await;
}

/// Samples every host configured now (as its own account) every interval, for as long as the
/// service runs. A host slower than the interval delays the next round, never piles up
/// requests.
pub async fn run(live: &Live, samples: &Arc<Samples>) {
    let mut ticks = tokio::time::interval(samples.interval());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = live.now();
        samples.follow(now.fleet.hosts().map(|h| h.config.name.as_str()));
        sample_all(samples, now.fleet.hosts().cloned().collect(), true).await;
        // A round's answers are read and parsed on every worker thread, each with its own
        // malloc arena, and freed inside them: without a trim the round's peak stays resident
        // (about two thirds of the console's memory per host at 1,000 hosts).
        wsman_os::allocator::trim_free_memory();
    }
}

#[cfg(test)]
#[path = "samples_tests.rs"]
mod tests;
