//! Benchmark (d): the `winrs` command running `true` against `ssh HOST true` to a throwaway
//! sshd on the same host, both as an operator types them (a new process, a new connection and
//! a login each time), interleaved, medians (target: winrs at most 0.03x ssh). Then where the
//! time of `winrs true` goes, phase by phase: the same run, plaintext (`-un`: Negotiate
//! authenticates, nothing is sealed) through a timing relay ([`crate::relay`]) that records
//! each exchange: the NTLM legs, Create, Command, Send, each Receive, Signal, Delete, and
//! before and after them winrs's own start-up and exit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::relay::{Exchange, Kind, Relay};
use crate::{millis, verdict};

/// The target for `winrs true` against `ssh true`.
const TARGET_RATIO: f64 = 0.03;

/// How to run both sides.
pub(crate) struct Setup {
    /// The winrs binary.
    pub(crate) winrs: PathBuf,
    /// Another winrs build run sealed in the same rounds (`--winrs-compare`).
    pub(crate) compare: Option<PathBuf>,
    /// Its client configuration (`WSMAND_CONFIG_DIR`: TrustedHosts, AllowUnencrypted).
    pub(crate) config_dir: Option<PathBuf>,
    /// The daemon's URL.
    pub(crate) endpoint: String,
    /// The account (with an NT hash: winrs authenticates with Negotiate).
    pub(crate) user: String,
    /// Its password.
    pub(crate) password: String,
    /// The ssh command line without the remote command (`true` is appended); none: the ssh
    /// side is left out (no sshd).
    pub(crate) ssh: Option<Vec<String>>,
    /// Runs per case.
    pub(crate) runs: u32,
}

/// The cases, in the order each round runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Case {
    Ssh,
    /// winrs's default with `-u:`: Negotiate (NTLM), every message sealed.
    Winrs,
    /// `-un`: NTLM authenticates, the envelopes are plaintext.
    WinrsPlain,
    /// `-un` through the relay.
    WinrsRelayed,
    /// The `--winrs-compare` build, sealed.
    WinrsCompare,
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Self::Ssh => "ssh HOST true",
            Self::Winrs => "winrs true (Negotiate, sealed)",
            Self::WinrsPlain => "winrs -un true (Negotiate, plaintext)",
            Self::WinrsRelayed => "winrs -un true through the relay",
            Self::WinrsCompare => "winrs true, the --winrs-compare build",
        }
    }
}

impl Setup {
    fn argv(&self, case: Case, relay: &str) -> Vec<String> {
        let winrs = |endpoint: &str, plain: bool| {
            let binary = match (case, &self.compare) {
                (Case::WinrsCompare, Some(other)) => other,
                _ => &self.winrs,
            };
            let mut argv = vec![
                binary.display().to_string(),
                format!("-r:{endpoint}"),
                format!("-u:{}", self.user),
                format!("-p:{}", self.password),
            ];
            if plain {
                argv.push("-un".to_owned());
            }
            argv.push("true".to_owned());
            argv
        };
        match case {
            Case::Ssh => {
                let mut argv = self.ssh.clone().unwrap_or_default();
                argv.push("true".to_owned());
                argv
            }
            Case::Winrs | Case::WinrsCompare => winrs(&self.endpoint, false),
            Case::WinrsPlain => winrs(&self.endpoint, true),
            Case::WinrsRelayed => winrs(relay, true),
        }
    }

    /// One run of `argv`: (spawned, exited); fails unless it exits 0.
    fn run(&self, argv: &[String]) -> anyhow::Result<(Instant, Instant)> {
        let (program, arguments) = argv.split_first().context("an empty command line")?;
        let mut process = Process::new(program);
        process
            .args(arguments)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.config_dir {
            process.env("WSMAND_CONFIG_DIR", dir);
        }
        let spawned = Instant::now();
        let output = process
            .output()
            .with_context(|| format!("running {program}"))?;
        let exited = Instant::now();
        if !output.status.success() {
            bail!(
                "{program} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok((spawned, exited))
    }
}

/// A phase's figures over the relayed runs: when it began after the spawn, how long it took.
#[derive(Default)]
struct Phase {
    starts: Vec<Duration>,
    took: Vec<Duration>,
}

/// Names the exchanges of one relayed run (connections renumbered from 1 in the order the run
/// used them; handshake legs and Receives numbered) and adds them to `phases`, with winrs's
/// start-up before the first request and its exit after the last answer.
fn add_run(
    phases: &mut BTreeMap<String, Phase>,
    spawned: Instant,
    exited: Instant,
    mut exchanges: Vec<Exchange>,
) {
    exchanges.retain(|e| e.start >= spawned && e.end <= exited);
    exchanges.sort_by_key(|e| e.start);
    let mut connections: Vec<usize> = Vec::new();
    let mut legs: BTreeMap<usize, u32> = BTreeMap::new();
    let mut receives = 0;
    let mut add = |name: String, start: Instant, end: Instant| {
        let phase = phases.entry(name).or_default();
        phase.starts.push(start.saturating_duration_since(spawned));
        phase.took.push(end.saturating_duration_since(start));
    };
    if let Some(first) = exchanges.first() {
        add(
            "winrs start-up: exec to first request".to_owned(),
            spawned,
            first.start,
        );
    }
    let last_end = exchanges.iter().map(|e| e.end).max();
    for exchange in &exchanges {
        let connection = match connections.iter().position(|&c| c == exchange.connection) {
            Some(index) => index + 1,
            None => {
                connections.push(exchange.connection);
                connections.len()
            }
        };
        let name = match exchange.kind {
            Kind::AuthLeg => {
                let leg = legs.entry(connection).or_default();
                *leg += 1;
                format!("NTLM leg {leg} (-> {})", exchange.status)
            }
            Kind::Receive => {
                receives += 1;
                format!("Receive {receives}")
            }
            kind => format!("{kind:?}"),
        };
        add(
            format!("{name}, connection {connection}"),
            exchange.start,
            exchange.end,
        );
    }
    if let Some(last) = last_end {
        add("winrs exit: last answer to exit".to_owned(), last, exited);
    }
    add("total".to_owned(), spawned, exited);
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn percentile(values: &mut [Duration], p: usize) -> Duration {
    values.sort_unstable();
    // Nearest rank, rounded up: never below the median.
    let index = (values.len().saturating_sub(1) * p).div_ceil(100);
    values.get(index).copied().unwrap_or_default()
}

/// Runs benchmark (d) and prints its figures and the phase table.
pub(crate) async fn versus_ssh(setup: Setup) -> anyhow::Result<()> {
    println!(
        "\n== (d) `winrs true` against `ssh true`: a new process, connection and login each run, \
         {} runs per case, interleaved",
        setup.runs
    );
    let endpoint = wsman_client::Endpoint::parse(&setup.endpoint, false)?;
    let upstream = tokio::net::lookup_host(endpoint.authority())
        .await?
        .next()
        .context("the endpoint's address")?;
    let relay = Relay::start(upstream).await?;
    let relay_url = format!("http://{}{}", relay.address, endpoint.path);
    let mut cases = vec![Case::Winrs, Case::WinrsPlain, Case::WinrsRelayed];
    if setup.compare.is_some() {
        cases.insert(1, Case::WinrsCompare);
    }
    if setup.ssh.is_some() {
        cases.insert(0, Case::Ssh);
    } else {
        println!("  no ssh command given (no sshd here): the ssh side is left out");
    }
    let setup = std::sync::Arc::new(setup);
    let mut times: BTreeMap<Case, Vec<Duration>> = BTreeMap::new();
    let mut phases: BTreeMap<String, Phase> = BTreeMap::new();
    for round in 0..setup.runs + 2 {
        for &case in &cases {
            let argv = setup.argv(case, &relay_url);
            let runner = setup.clone();
            relay.take();
            let (spawned, exited) =
                tokio::task::spawn_blocking(move || runner.run(&argv)).await??;
            // Two warm-up rounds: page cache, the daemon's first allocations.
            if round < 2 {
                continue;
            }
            times.entry(case).or_default().push(exited - spawned);
            if case == Case::WinrsRelayed {
                add_run(&mut phases, spawned, exited, relay.take());
            }
        }
    }
    print_cases(&mut times);
    print_phases(&mut phases, setup.runs);
    Ok(())
}

fn print_cases(times: &mut BTreeMap<Case, Vec<Duration>>) {
    let ssh = times.get_mut(&Case::Ssh).map(|t| median(t));
    println!(
        "  {:<40}{:>10}{:>10}{:>10}{:>10}{:>10}  verdict",
        "wall time per run", "median ms", "p10 ms", "p90 ms", "ratio", "target"
    );
    for (case, samples) in times.iter_mut() {
        let med = median(samples);
        let ratio = ssh.map(|ssh| med.as_secs_f64() / ssh.as_secs_f64().max(1e-9));
        let (ratio_text, target, judged) = match (case, ratio) {
            (Case::Winrs, Some(ratio)) => (
                format!("{ratio:.4}"),
                format!("<= {TARGET_RATIO}x"),
                verdict(ratio <= TARGET_RATIO),
            ),
            (Case::Ssh, _) | (_, None) => (String::new(), String::new(), ""),
            (_, Some(ratio)) => (format!("{ratio:.4}"), String::new(), ""),
        };
        println!(
            "  {:<40}{:>10.3}{:>10.3}{:>10.3}{:>10}{:>10}  {}",
            case.label(),
            millis(med),
            millis(percentile(samples, 10)),
            millis(percentile(samples, 90)),
            ratio_text,
            target,
            judged
        );
    }
}

fn print_phases(phases: &mut BTreeMap<String, Phase>, runs: u32) {
    println!(
        "  where `winrs -un true` spends its time, through the relay (medians of {runs} runs; \
         start: after the spawn; the relay sees a request's head and its whole answer)"
    );
    println!(
        "  {:<48}{:>6}{:>12}{:>12}{:>12}",
        "phase", "runs", "start ms", "took ms", "p90 ms"
    );
    let mut rows: Vec<(Duration, String, usize, Duration, Duration)> = phases
        .iter_mut()
        .map(|(name, phase)| {
            let count = phase.took.len();
            let start = median(&mut phase.starts);
            let took = median(&mut phase.took);
            let p90 = percentile(&mut phase.took, 90);
            (start, name.clone(), count, took, p90)
        })
        .collect();
    // In the order of the run; the total last.
    rows.sort_by_key(|(start, name, ..)| (name == "total", *start));
    for (start, name, count, took, p90) in rows {
        println!(
            "  {:<48}{:>6}{:>12.3}{:>12.3}{:>12.3}",
            name,
            count,
            millis(start),
            millis(took),
            millis(p90)
        );
    }
}
