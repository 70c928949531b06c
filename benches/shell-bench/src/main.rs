//! WinRS shell benchmarks against a running wsmand, through the client library, each next to
//! a local baseline measured in the same run (the ratio is what to compare across hosts):
//!
//! * (a) latency: Create + Command + Receive until Done + Delete of `true`, against a local
//!   fork+exec of `true` (target: at most 3x);
//! * (b) throughput: stdout of `head -c 1G /dev/zero` through Receive, against the same
//!   command into a local pipe (target: at least 0.5x);
//! * (c) memory: the daemon's VmRSS growth per idle shell with 1,000 shells open (target: at
//!   most 64 KiB each beyond child processes; the shells run nothing, so there are none);
//! * (d) the `winrs` command running `true` against `ssh HOST true` (target: at most 0.03x),
//!   and where winrs's time goes, phase by phase ([`versus_ssh`], through [`relay`]).
//!
//! Started by `benches/shell.sh`, which builds the daemon, configures and starts it. The
//! password comes from the environment (`WSMAN_BENCH_PASSWORD`), never from argv.
#![forbid(unsafe_code)]

mod relay;
mod versus_ssh;

use std::io::Read;
use std::process::{Command as LocalCommand, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use wsman_client::shell::{CommandOptions, Output, Shell, ShellOptions, CMD_SHELL_URI};
use wsman_client::{Auth, Client, ClientOptions, Credentials, Endpoint, Resource};

/// Command-line switches (all have defaults except the endpoint, user and daemon pid).
#[derive(Parser, Debug)]
#[command(about = "WinRS shell benchmarks against a running wsmand")]
struct Args {
    /// The daemon's URL, e.g. http://127.0.0.1:5985/wsman.
    #[arg(long)]
    endpoint: String,
    /// The account to authenticate as (Basic); its password is in WSMAN_BENCH_PASSWORD.
    #[arg(long)]
    user: String,
    /// The daemon's process id, for its VmRSS in /proc (benchmark c).
    #[arg(long)]
    daemon_pid: u32,
    /// Remote shells run for benchmark (a), after a few warm-up runs.
    #[arg(long, default_value_t = 100)]
    iterations: u32,
    /// Local fork+execs of `true` for the baseline of (a).
    #[arg(long, default_value_t = 1000)]
    baseline_iterations: u32,
    /// The `head -c` size for benchmark (b), as head reads it (1G = 2^30 bytes).
    #[arg(long, default_value = "1G")]
    bytes: String,
    /// Runs of benchmark (b), local and remote alternating; the ratio is of the medians (one
    /// run of either side is at the mercy of the moment's load).
    #[arg(long, default_value_t = 3)]
    throughput_runs: u32,
    /// Idle shells opened for benchmark (c).
    #[arg(long, default_value_t = 1000)]
    shells: u32,
    /// Worker threads of the client's runtime (1: a single-threaded runtime). With more than
    /// one, (a) is measured again at the end on a single-threaded runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Run only these benchmarks (letters, e.g. `ab`); all by default ((d) needs `--winrs`).
    #[arg(long, default_value = "abcd")]
    only: String,
    /// The winrs binary, for benchmark (d); the account needs an NT hash (Negotiate).
    #[arg(long)]
    winrs: Option<std::path::PathBuf>,
    /// Another winrs build (e.g. the one before a change), run sealed in the same rounds as
    /// `--winrs`, interleaved, so both see the same load.
    #[arg(long)]
    winrs_compare: Option<std::path::PathBuf>,
    /// winrs's client configuration directory (WSMAND_CONFIG_DIR: TrustedHosts and
    /// AllowUnencrypted for HTTP to the loopback address).
    #[arg(long)]
    winrs_config_dir: Option<std::path::PathBuf>,
    /// The ssh command line of (d) without the remote command, words separated by spaces
    /// (`true` is appended); without it (d) runs winrs only.
    #[arg(long)]
    ssh: Option<String>,
    /// Runs per case of (d), after two warm-up rounds.
    #[arg(long, default_value_t = 50)]
    process_runs: u32,
}

/// Targets from the issue, printed next to the figures.
const LATENCY_TARGET_RATIO: f64 = 3.0;
const THROUGHPUT_TARGET_RATIO: f64 = 0.5;
const IDLE_SHELL_TARGET_KIB: f64 = 64.0;

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn mean(samples: &[Duration]) -> Duration {
    let count = u32::try_from(samples.len()).unwrap_or(u32::MAX).max(1);
    samples.iter().sum::<Duration>() / count
}

fn client(args: &Args, password: &str) -> anyhow::Result<Client> {
    let endpoint = Endpoint::parse(&args.endpoint, false)?;
    let mut options = ClientOptions::default();
    options.auth = Auth::Basic(Credentials::new(args.user.clone(), password.to_owned()));
    options.allow_unencrypted = true;
    Ok(Client::new(endpoint, options)?)
}

/// Where the time of one remote run of `true` went.
#[derive(Default, Clone, Copy)]
struct Phases {
    open: Duration,
    run: Duration,
    receive: Duration,
    close: Duration,
}

impl Phases {
    fn total(&self) -> Duration {
        self.open + self.run + self.receive + self.close
    }
}

/// One Create + Command + Receive-until-Done + Delete of `true`.
async fn remote_true(client: &Client, skip_cmd_shell: bool) -> anyhow::Result<Phases> {
    let mut command_options = CommandOptions::default();
    command_options.skip_cmd_shell = skip_cmd_shell;
    let started = Instant::now();
    let shell = Shell::open(client, &ShellOptions::default()).await?;
    let opened = Instant::now();
    let command = shell.run("true", &[], &command_options).await?;
    let ran = Instant::now();
    let output = command.collect().await?;
    let received = Instant::now();
    shell.close().await?;
    let closed = Instant::now();
    if output.exit_code != 0 {
        bail!("remote `true` exited with {}", output.exit_code);
    }
    Ok(Phases {
        open: opened - started,
        run: ran - opened,
        receive: received - ran,
        close: closed - received,
    })
}

fn local_true() -> anyhow::Result<Duration> {
    let started = Instant::now();
    let status = LocalCommand::new("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running `true` locally")?;
    let elapsed = started.elapsed();
    if !status.success() {
        bail!("local `true` failed: {status}");
    }
    Ok(elapsed)
}

/// What a new connection costs: (first authenticated request on it, a second one). A new
/// `Client` has its own connection pool (forks share theirs), so its first request connects.
async fn connection_cost(client: &Client) -> anyhow::Result<(Duration, Duration)> {
    let fresh = Client::new(client.endpoint().clone(), client.options().clone())?;
    let started = Instant::now();
    fresh.identify().await?;
    let first = started.elapsed();
    let started = Instant::now();
    fresh.identify().await?;
    Ok((first, started.elapsed()))
}

/// Benchmark (a). Prints the figures; returns nothing, the verdicts are printed. `runtime`
/// names the client's runtime in the heading.
async fn latency(args: &Args, client: &Client, runtime: &str) -> anyhow::Result<()> {
    println!(
        "\n== (a) Create + Command + Receive until Done + Delete of `true`, client on {runtime}"
    );
    // Blocking work on a thread of the blocking pool, not on a runtime worker.
    let iterations = args.baseline_iterations;
    let mut local: Vec<Duration> = tokio::task::spawn_blocking(move || {
        for _ in 0..iterations.min(50) {
            local_true()?;
        }
        (0..iterations)
            .map(|_| local_true())
            .collect::<anyhow::Result<Vec<Duration>>>()
    })
    .await??;
    let local_median = median(&mut local);
    let local_mean = mean(&local);

    let mut rows = Vec::new();
    for (label, skip_cmd_shell) in [
        ("exec `true` (WINRS_SKIP_CMD_SHELL)", true),
        ("/bin/sh -c true (default)", false),
    ] {
        for _ in 0..3 {
            remote_true(client, skip_cmd_shell).await?;
        }
        let mut runs = Vec::new();
        let cpu_before = cpu_with_children(args.daemon_pid)?;
        for _ in 0..args.iterations {
            runs.push(remote_true(client, skip_cmd_shell).await?);
        }
        let cpu_after = cpu_with_children(args.daemon_pid)?;
        let mut totals: Vec<Duration> = runs.iter().map(Phases::total).collect();
        let remote_median = median(&mut totals);
        let phase = |pick: fn(&Phases) -> Duration| {
            let mut values: Vec<Duration> = runs.iter().map(pick).collect();
            millis(median(&mut values))
        };
        let per_run = |seconds: f64| seconds * 1000.0 / f64::from(args.iterations.max(1));
        println!(
            "  remote, {label}: {} runs, median {:.3} ms, mean {:.3} ms \
             (median per phase: open {:.3}, command {:.3}, receive {:.3}, delete {:.3} ms); \
             CPU per run: wsmand {:.3} ms, its commands {:.3} ms",
            args.iterations,
            millis(remote_median),
            millis(mean(&totals)),
            phase(|p| p.open),
            phase(|p| p.run),
            phase(|p| p.receive),
            phase(|p| p.close),
            per_run(cpu_after.0 - cpu_before.0),
            per_run(cpu_after.1 - cpu_before.1),
        );
        rows.push((label, remote_median));
    }
    let mut first = Vec::new();
    let mut kept = Vec::new();
    for _ in 0..10 {
        let (new_connection, kept_connection) = connection_cost(client).await?;
        first.push(new_connection);
        kept.push(kept_connection);
    }
    println!(
        "  authenticated Identify, median of 10: {:.3} ms as a new connection's first request \
         (connect + password check), {:.3} ms on a kept connection; a shell's requests share \
         the client's pool of kept connections",
        millis(median(&mut first)),
        millis(median(&mut kept))
    );
    println!(
        "  local fork+exec of `true`: {} runs, median {:.3} ms, mean {:.3} ms",
        args.baseline_iterations,
        millis(local_median),
        millis(local_mean)
    );
    println!(
        "  {:<38}{:>12}{:>12}{:>10}{:>10}  verdict",
        "median", "remote ms", "local ms", "ratio", "target"
    );
    for (label, remote_median) in rows {
        let ratio = remote_median.as_secs_f64() / local_median.as_secs_f64().max(1e-9);
        println!(
            "  {:<38}{:>12.3}{:>12.3}{:>10.1}{:>10}  {}",
            label,
            millis(remote_median),
            millis(local_median),
            ratio,
            format!("<= {LATENCY_TARGET_RATIO}x"),
            verdict(ratio <= LATENCY_TARGET_RATIO)
        );
    }
    Ok(())
}

/// `head -c SIZE /dev/zero` into a local pipe, read in 64 KiB blocks: (bytes, time).
fn local_head(size: &str) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let mut child = LocalCommand::new("head")
        .args(["-c", size, "/dev/zero"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("running head locally")?;
    let mut stdout = child.stdout.take().context("head has no stdout pipe")?;
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut total = 0_u64;
    loop {
        let read = stdout.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        total += read as u64;
    }
    let status = child.wait()?;
    let elapsed = started.elapsed();
    if !status.success() {
        bail!("local head failed: {status}");
    }
    Ok((total, elapsed))
}

/// The same through a shell: time from Command to the final state, output counted, not kept.
async fn remote_head(client: &Client, size: &str) -> anyhow::Result<(u64, Duration, u64)> {
    let shell = Shell::open(client, &ShellOptions::default()).await?;
    let arguments = vec!["-c".to_owned(), size.to_owned(), "/dev/zero".to_owned()];
    let started = Instant::now();
    let command = shell
        .run("head", &arguments, &CommandOptions::default())
        .await?;
    let mut reader = command.output()?;
    let mut total = 0_u64;
    let mut events = 0_u64;
    let mut exit_code = None;
    while let Some(event) = reader.next().await? {
        match event {
            Output::Data { data, .. } => {
                total += data.len() as u64;
                events += 1;
            }
            Output::Exited { exit_code: code } => exit_code = Some(code),
            _ => {}
        }
    }
    let elapsed = started.elapsed();
    shell.close().await?;
    if exit_code != Some(0) {
        bail!("remote head ended with {exit_code:?}");
    }
    Ok((total, elapsed, events))
}

fn mib_per_second(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64().max(1e-9)
}

/// Benchmark (b).
async fn throughput(args: &Args, client: &Client) -> anyhow::Result<()> {
    println!(
        "\n== (b) stdout throughput of `head -c {} /dev/zero`, {} local and {} remote runs \
         alternating (medians)",
        args.bytes, args.throughput_runs, args.throughput_runs
    );
    let mut local_rates = Vec::new();
    let mut remote_rates = Vec::new();
    for run in 1..=args.throughput_runs.max(1) {
        let size = args.bytes.clone();
        let (local_bytes, local_time) =
            tokio::task::spawn_blocking(move || local_head(&size)).await??;
        let local_rate = mib_per_second(local_bytes, local_time);
        println!(
            "  run {run}, local pipe: {local_bytes} bytes in {:.3} s = {local_rate:.1} MiB/s",
            local_time.as_secs_f64()
        );
        let daemon_cpu_before = cpu_seconds(args.daemon_pid)?;
        let own_cpu_before = cpu_seconds(std::process::id())?;
        let (remote_bytes, remote_time, events) = remote_head(client, &args.bytes).await?;
        let daemon_cpu = cpu_seconds(args.daemon_pid)? - daemon_cpu_before;
        let own_cpu = cpu_seconds(std::process::id())? - own_cpu_before;
        let remote_rate = mib_per_second(remote_bytes, remote_time);
        println!(
            "  run {run}, through Receive: {remote_bytes} bytes in {:.3} s = {remote_rate:.1} \
             MiB/s ({events} data parts, {:.1} KiB each on average); CPU: wsmand {daemon_cpu:.2} \
             s (its children excluded), this client {own_cpu:.2} s, on {} cores",
            remote_time.as_secs_f64(),
            remote_bytes as f64 / 1024.0 / events.max(1) as f64,
            std::thread::available_parallelism().map_or(1, usize::from)
        );
        if remote_bytes != local_bytes {
            bail!("received {remote_bytes} bytes, the local run produced {local_bytes}");
        }
        local_rates.push(local_rate);
        remote_rates.push(remote_rate);
    }
    let local_rate = median_f64(&mut local_rates);
    let remote_rate = median_f64(&mut remote_rates);
    let ratio = remote_rate / local_rate.max(1e-9);
    println!(
        "  {:<38}{:>12}{:>12}{:>10}{:>10}  verdict",
        "median", "remote MiB/s", "local MiB/s", "ratio", "target"
    );
    println!(
        "  {:<38}{:>12.1}{:>12.1}{:>10.3}{:>10}  {}",
        "throughput",
        remote_rate,
        local_rate,
        ratio,
        format!(">= {THROUGHPUT_TARGET_RATIO}x"),
        verdict(ratio >= THROUGHPUT_TARGET_RATIO)
    );
    Ok(())
}

/// The median of `values` (the upper one of the middle two for an even count).
fn median_f64(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// User + system CPU time of a process so far (`/proc/PID/stat`, clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    Ok(cpu_with_children(pid)?.0)
}

/// CPU seconds (user + system) of a process, and of its children that it reaped (a shell's
/// commands, for wsmand): from `/proc/PID/stat`, in clock ticks of 10 ms.
fn cpu_with_children(pid: u32) -> anyhow::Result<(f64, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime and cstime are fields 14 to 17 of the line, 12 to 15 after the name.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (ticks(11), ticks(12), ticks(13), ticks(14)) {
        (Some(user), Some(system), Some(children_user), Some(children_system)) => Ok((
            (user + system) as f64 / 100.0,
            (children_user + children_system) as f64 / 100.0,
        )),
        _ => bail!("unexpected /proc/{pid}/stat"),
    }
}

/// A field of `/proc/PID/status` in KiB (VmRSS, VmHWM).
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Kernel memory of the whole host that per-shell cgroups use: Slab + Percpu + PageTables (KiB).
fn kernel_kib() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(field("Slab") + field("Percpu") + field("PageTables"))
}

/// The daemon's direct children (a shell without a command should have none).
fn child_count(pid: u32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .map(|children| children.split_whitespace().count())
        .sum()
}

/// Open files of the daemon (sockets included), to see that shell connections were closed.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// Benchmark (c). Each shell is opened over its own connection (as `Shell::open` does) and
/// the `Shell` is dropped right away, which closes that connection: what stays in the daemon
/// is the idle shell itself. They are deleted at the end by id over one connection.
async fn idle_shells(args: &Args, client: &Client) -> anyhow::Result<()> {
    println!(
        "\n== (c) daemon RSS per idle shell, {} shells that run nothing",
        args.shells
    );
    let pid = args.daemon_pid;
    // Warm up the paths a shell takes (first allocations, lazy statics, thread pool).
    for _ in 0..5 {
        Shell::open(client, &ShellOptions::default())
            .await?
            .close()
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_kib = status_kib(pid, "VmRSS")?;
    let before_fds = fd_count(pid);
    let before_kernel_kib = kernel_kib()?;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(args.shells as usize);
    for _ in 0..args.shells {
        let shell = Shell::open(client, &ShellOptions::default()).await?;
        ids.push(shell.id().to_owned());
    }
    let open_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_kib = status_kib(pid, "VmRSS")?;
    let after_fds = fd_count(pid);
    let after_kernel_kib = kernel_kib()?;
    let children = child_count(pid);

    let deleting = Instant::now();
    let mut delete_failures = 0_u32;
    for id in &ids {
        let resource = Resource::new(CMD_SHELL_URI).with_selector("ShellId", id.clone());
        if client.delete(&resource).await.is_err() {
            delete_failures += 1;
        }
    }
    let delete_time = deleting.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deleted_kib = status_kib(pid, "VmRSS")?;

    let per_shell_kib = after_kib.saturating_sub(before_kib) as f64 / f64::from(args.shells.max(1));
    println!(
        "  opened {} shells in {:.1} s ({:.1} ms each, over the client's pooled connections)",
        args.shells,
        open_time.as_secs_f64(),
        millis(open_time) / f64::from(args.shells.max(1))
    );
    println!(
        "  daemon VmRSS: {before_kib} KiB before, {after_kib} KiB with the shells open, \
         {deleted_kib} KiB after deleting them ({:.1} s, {delete_failures} failures)",
        delete_time.as_secs_f64()
    );
    println!(
        "  daemon children with the shells open: {children}; open fds {before_fds} before, \
         {after_fds} with the shells open"
    );
    println!(
        "  not in the daemon's RSS: host kernel memory (Slab + Percpu + PageTables, host-wide, \
         other processes included) grew by {} KiB = {:.1} KiB per shell (each shell's cgroups)",
        after_kernel_kib.saturating_sub(before_kernel_kib),
        after_kernel_kib.saturating_sub(before_kernel_kib) as f64 / f64::from(args.shells.max(1))
    );
    println!(
        "  {:<38}{:>12}{:>12}{:>10}{:>10}  verdict",
        "", "KiB/shell", "", "", "target"
    );
    println!(
        "  {:<38}{:>12.1}{:>12}{:>10}{:>10}  {}",
        "RSS growth per idle shell",
        per_shell_kib,
        "",
        "",
        format!("<= {IDLE_SHELL_TARGET_KIB}"),
        verdict(per_shell_kib <= IDLE_SHELL_TARGET_KIB)
    );
    if delete_failures > 0 {
        bail!("{delete_failures} shells could not be deleted");
    }
    Ok(())
}

/// A multi-threaded runtime, as the `winrs` command runs its client: a Receive in flight and
/// the decoding of the previous answer can then use both cores (`--threads 1`: one thread).
fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    // The benchmarks run as a task on the runtime's workers, as in any program built on the
    // library, not in `block_on` on this thread: there each output event would be handed
    // from a worker to this thread, a wake-up and a context switch per Receive answer.
    let args = runtime.block_on(async { tokio::spawn(run(args)).await? })?;
    // (a) is a strictly sequential exchange of requests, which a program would as well run
    // on a single thread; measured that way too (after everything else, so that (c) still
    // sees a fresh daemon), and reported next to the multi-threaded figure.
    if args.only.contains('a') && args.threads > 1 {
        let single = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        single.block_on(async {
            let client = client(&args, &password()?)?;
            client.identify().await?;
            latency(&args, &client, "a current-thread runtime").await
        })?;
    }
    Ok(())
}

fn password() -> anyhow::Result<String> {
    std::env::var("WSMAN_BENCH_PASSWORD")
        .context("WSMAN_BENCH_PASSWORD must hold the account's password")
}

fn runtime_name(threads: usize) -> String {
    if threads <= 1 {
        "a current-thread runtime".to_owned()
    } else {
        format!("{threads} worker threads")
    }
}

async fn run(args: Args) -> anyhow::Result<Args> {
    let client = client(&args, &password()?)?;
    client
        .identify()
        .await
        .context("authenticated Identify failed (is wsmand up?)")?;
    // Memory first, on a daemon that has only been warmed up: later benchmarks leave freed
    // heap behind that new shells would reuse, which would flatter the figure.
    if args.only.contains('c') {
        idle_shells(&args, &client).await?;
    }
    if args.only.contains('a') {
        latency(&args, &client, &runtime_name(args.threads)).await?;
    }
    if args.only.contains('b') {
        throughput(&args, &client).await?;
    }
    if args.only.contains('d') {
        match &args.winrs {
            Some(winrs) => {
                versus_ssh::versus_ssh(versus_ssh::Setup {
                    winrs: winrs.clone(),
                    compare: args.winrs_compare.clone(),
                    config_dir: args.winrs_config_dir.clone(),
                    endpoint: args.endpoint.clone(),
                    user: args.user.clone(),
                    password: password()?,
                    ssh: args
                        .ssh
                        .as_ref()
                        .map(|line| line.split_whitespace().map(str::to_owned).collect()),
                    runs: args.process_runs,
                })
                .await?
            }
            None => println!("\n== (d) left out: no --winrs"),
        }
    }
    Ok(args)
}
