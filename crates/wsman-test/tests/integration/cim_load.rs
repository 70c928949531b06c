//! Win32_Processor's LoadPercentage as Windows computes it: the busy share of the processors
//! over one sample interval (two reads of /proc/stat a second apart), one window shared by
//! every caller. The oracle is the kernel's own counters, read by the test around each request,
//! and the daemon's own reads of /proc/stat, counted by strace. Nothing is timed.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::ops::RangeInclusive;
use std::process::{Command, Stdio};

use wsman_proto::ns::action;
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::http::{self, Connection};
use wsman_test::soap;
use wsman_test::Fixture;

const PROCESSOR: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Processor";

/// The daemon's sample interval (`CPU_SAMPLE_INTERVAL`), in seconds.
const INTERVAL_SECONDS: u64 = 1;

/// The LoadPercentage of every Win32_Processor instance in an answer.
fn loads_in(text: &str) -> Vec<u64> {
    fn collect(e: &Element, out: &mut Vec<u64>) {
        for c in e.elements() {
            if c.name == "LoadPercentage" {
                out.push(
                    c.trimmed_text()
                        .parse()
                        .expect("LoadPercentage is a number"),
                );
            }
            collect(c, out);
        }
    }
    let envelope = xml::parse(text, &Limits::default()).expect("XML");
    let mut out = Vec::new();
    collect(&envelope, &mut out);
    assert!(!out.is_empty(), "no LoadPercentage:\n{text}");
    out
}

/// The LoadPercentage of every Win32_Processor instance, read through the daemon.
fn loads(f: &Fixture) -> Vec<u64> {
    let body = "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><w:OptimizeEnumeration/>\
         <w:MaxElements>100</w:MaxElements></n:Enumerate>";
    let r = f.post(&soap::request(action::ENUMERATE, PROCESSOR, &[], body));
    assert_eq!(r.status, 200, "{}", r.describe());
    loads_in(&r.text())
}

/// A package's processors' lines of /proc/stat summed: the first seven fields as the daemon
/// reads them (user nice system idle iowait irq softirq), and steal, which neither side counts
/// as busy or idle.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    busy: u64,
    idle: u64,
    steal: u64,
    processors: u64,
}

/// The processors of each package (`physical id` in /proc/cpuinfo, 0 without one), in the
/// order of the daemon's Win32_Processor instances.
fn packages() -> BTreeMap<u32, Vec<String>> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("/proc/cpuinfo");
    let mut out: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for block in cpuinfo.split("\n\n").filter(|b| b.contains("processor")) {
        let field = |name: &str| {
            block.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_owned())
            })
        };
        let package = field("physical id")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        out.entry(package).or_default().extend(field("processor"));
    }
    out
}

/// Each package's counters now.
fn counters() -> Vec<Counters> {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    packages()
        .values()
        .map(|processors| {
            let mut sum = Counters::default();
            for line in stat.lines() {
                let mut fields = line.split_whitespace();
                let number = fields.next().and_then(|l| l.strip_prefix("cpu"));
                if !number.is_some_and(|n| processors.iter().any(|p| p == n)) {
                    continue;
                }
                let n: Vec<u64> = fields.map(|v| v.parse().expect("a counter")).collect();
                sum.busy += n[0] + n[1] + n[2] + n[5] + n[6];
                sum.idle += n[3] + n[4];
                sum.steal += n.get(7).copied().unwrap_or(0);
                sum.processors += 1;
            }
            sum
        })
        .collect()
}

/// The loads the daemon may answer for a package's window it took inside `before`..`after`:
/// its window is at least one interval long, so it holds at least that much time of each of
/// the package's processors (less what went to steal), of which at most the busy ticks and at
/// most the idle ticks seen over the whole span. Two ticks per processor allow for counters
/// read mid-tick.
fn possible_loads(before: Counters, after: Counters) -> RangeInclusive<u64> {
    let hz: u64 = String::from_utf8(
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .expect("getconf")
            .stdout,
    )
    .expect("UTF-8")
    .trim()
    .parse()
    .expect("CLK_TCK");
    let busy = after.busy - before.busy;
    let idle = after.idle - before.idle;
    let least_window = ((hz * INTERVAL_SECONDS).saturating_sub(2) * after.processors)
        .saturating_sub(after.steal - before.steal)
        .max(1);
    let low = 100u64.saturating_sub((idle * 100).div_ceil(least_window));
    let high = (busy * 100 / least_window).min(100);
    low.saturating_sub(1)..=high
}

/// The loads a fresh daemon answers, one per package, and the loads /proc/stat allows for
/// each over the same request.
fn sampled_load(f: &Fixture) -> (Vec<u64>, Vec<RangeInclusive<u64>>) {
    let before = counters();
    let loads = loads(f);
    let after = counters();
    assert_eq!(loads.len(), before.len(), "one Win32_Processor per package");
    let bounds = before
        .into_iter()
        .zip(after)
        .map(|(b, a)| possible_loads(b, a))
        .collect();
    (loads, bounds)
}

/// LoadPercentage is the busy share over the daemon's window: with nothing added and with a
/// busy loop on every processor, each daemon's first answer (a window taken during that
/// request) lies within what the kernel's counters over the request allow, so it follows the
/// load; under the loops it is near 100.
#[test]
fn processor_load_percentage_follows_proc_stat() {
    let quiet = Fixture::http();
    let (idle, idle_bounds) = sampled_load(&quiet);
    let busy = Fixture::http();
    let processors = std::thread::available_parallelism().map_or(1, usize::from);
    let mut loops: Vec<std::process::Child> = (0..processors)
        .map(|n| {
            Command::new("taskset")
                .args(["-c", &n.to_string(), "sh", "-c", "while :; do :; done"])
                .spawn()
                .expect("run taskset")
        })
        .collect();
    let (spinning, spinning_bounds) = sampled_load(&busy);
    for child in &mut loops {
        let _ = child.kill();
        let _ = child.wait();
    }
    eprintln!(
        "idle {idle:?} within {idle_bounds:?}; spinning {spinning:?} within {spinning_bounds:?}"
    );
    for (loads, bounds) in [(&idle, &idle_bounds), (&spinning, &spinning_bounds)] {
        for (load, bound) in loads.iter().zip(bounds) {
            assert!(bound.contains(load), "{load} outside {bound:?}");
        }
    }
    assert!(
        spinning.iter().all(|l| *l >= 80),
        "under busy loops: {spinning:?}"
    );
    for ((idle, idle_bound), (spinning, spinning_bound)) in idle
        .iter()
        .zip(&idle_bounds)
        .zip(spinning.iter().zip(&spinning_bounds))
    {
        if idle_bound.end() < spinning_bound.start() {
            assert!(idle < spinning, "the load changed");
        }
    }
}

/// strace attached to the daemon, writing its openat calls to a file until dropped.
struct OpenTrace {
    child: std::process::Child,
    output: tempfile::NamedTempFile,
}

impl OpenTrace {
    /// Attached to every thread of `pid` and those it starts: returns once strace says so.
    fn attach(pid: u32) -> Self {
        let output = tempfile::NamedTempFile::new().expect("temporary file");
        let mut child = Command::new("strace")
            .args(["-f", "-e", "trace=openat", "-e", "signal=none", "-o"])
            .arg(output.path())
            .args(["-p", &pid.to_string()])
            .stderr(Stdio::piped())
            .spawn()
            .expect("run strace");
        // "Process N attached with T threads": every thread is traced from then on, and
        // those started later too (-f). strace reports each later thread on stderr as well:
        // read it to the end, or strace dies of SIGPIPE.
        let stderr = child.stderr.take().expect("strace's stderr");
        let (said, first) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut said = Some(said);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("attached") || line.contains("Operation not permitted") {
                    if let Some(said) = said.take() {
                        let _ = said.send(line);
                    }
                }
            }
        });
        let first = first.recv().unwrap_or_default();
        assert!(
            first.contains("attached"),
            "strace did not attach: {first:?}"
        );
        Self { child, output }
    }

    /// Detach and return how often `path` was opened.
    fn opens_of(mut self, path: &str) -> usize {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(self.output.path())
            .expect("strace's output")
            .lines()
            .filter(|l| l.contains(&format!("\"{path}\"")))
            .count()
    }
}

/// Fifty Gets of Win32_Processor at once, on connections already authenticated, take one
/// window: the daemon opens /proc/stat twice (the window's two samples) for all of them, and
/// every answer has the same load; a Get after that window has aged takes a new one.
#[test]
fn fifty_concurrent_gets_take_one_sample() {
    const CALLERS: usize = 50;
    let f = Fixture::http();
    let auth = http::basic_auth(wsman_test::SERVICE_ACCOUNT, wsman_test::SERVICE_PASSWORD);
    // Basic is verified once per connection: authenticate each before the Gets.
    let warm_up = soap::get(
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_UTCTime",
        &[],
    );
    let mut connections: Vec<Connection> = (0..CALLERS)
        .map(|_| {
            let mut c = Connection::open(f.port).expect("connect");
            let r = c.post(Some(&auth), warm_up.as_bytes()).expect("answer");
            assert_eq!(r.status, 200, "{}", r.describe());
            c
        })
        .collect();
    let trace = OpenTrace::attach(f.daemon.pid());
    let get = soap::get(PROCESSOR, &[("DeviceID", "CPU0")]);
    let start = std::sync::Barrier::new(CALLERS);
    let answers: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = connections
            .iter_mut()
            .map(|c| {
                let (start, get, auth) = (&start, &get, &auth);
                scope.spawn(move || {
                    start.wait();
                    let r = c.post(Some(auth), get.as_bytes()).expect("answer");
                    assert_eq!(r.status, 200, "{}", r.describe());
                    r.text()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a caller"))
            .collect()
    });
    let opens = trace.opens_of("/proc/stat");
    let loads: Vec<u64> = answers.iter().flat_map(|a| loads_in(a)).collect();
    assert_eq!(loads.len(), CALLERS);
    assert!(loads.iter().all(|l| *l <= 100), "{loads:?}");
    assert!(
        loads.windows(2).all(|w| w[0] == w[1]),
        "one window: {loads:?}"
    );
    assert_eq!(
        opens, 2,
        "the daemon's reads of /proc/stat for {CALLERS} Gets"
    );
    // The count sees every sample: one more Get once that window is older than an interval
    // takes a window of its own.
    std::thread::sleep(std::time::Duration::from_millis(1_100 * INTERVAL_SECONDS));
    let trace = OpenTrace::attach(f.daemon.pid());
    let r = connections[0]
        .post(Some(&auth), get.as_bytes())
        .expect("answer");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(trace.opens_of("/proc/stat"), 2, "a later Get's window");
}
