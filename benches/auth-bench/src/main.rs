//! Authentication and message-encryption benchmarks against a running wsmand, through the
//! client library, each figure next to Basic over HTTPS measured in the same run (the ratio is
//! what to compare across hosts):
//!
//! * (1) authenticated Identify on a kept-alive connection, after the handshake: req/s and p50
//!   on one connection and on N concurrent connections (one client, so one connection, each),
//!   plus what a new connection's first request costs (connect, TLS and/or the NTLM legs, the
//!   password check) and the handshake alone (that minus a kept-connection p50);
//! * (2) stdout streaming: `head -c SIZE /dev/zero` through Receive, MiB/s, with the CPU the
//!   daemon and this client spent per GiB.
//!
//! Every measurement runs `--runs` times (cases interleaved, so a change in the host's load
//! hits all of them alike) and the median of each figure is printed, with the load average.
//!
//! The cases are one table ([`cases`]): to benchmark another scheme (a Kerberos-sealed
//! Identify, say) add one [`Case`] there; the tables and ratios pick it up.
//!
//! Started by `benches/auth.sh`, which builds the daemon, configures an HTTP and an HTTPS
//! listener and an account with an NT hash, and starts it. The password comes from the
//! environment (`WSMAN_BENCH_PASSWORD`), never from argv.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use wsman_client::shell::{CommandOptions, Output, Shell, ShellOptions};
use wsman_client::tls::TlsOptions;
use wsman_client::{Auth, Client, ClientOptions, Credentials, Endpoint, NegotiateAuth};

/// Command-line switches.
#[derive(Parser, Debug)]
#[command(about = "Authentication and message-encryption benchmarks against a running wsmand")]
struct Args {
    /// The daemon's plain HTTP URL, e.g. http://127.0.0.1:5985/wsman.
    #[arg(long)]
    http: String,
    /// The daemon's HTTPS URL, e.g. https://127.0.0.1:5986/wsman.
    #[arg(long)]
    https: String,
    /// PEM file to trust for the HTTPS listener (its self-signed certificate).
    #[arg(long)]
    ca_file: PathBuf,
    /// The account (with an NT hash, `wsmand account add NAME --ntlm`); its password is in
    /// WSMAN_BENCH_PASSWORD. Used for every scheme.
    #[arg(long)]
    user: String,
    /// The daemon's process id, for its CPU time in /proc.
    #[arg(long)]
    daemon_pid: u32,
    /// Runs of every measurement; the median of each figure is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds of each Identify load phase (one connection, then N).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Concurrent connections of the second Identify phase.
    #[arg(long, default_value_t = 10)]
    connections: usize,
    /// New connections per run for the handshake cost (median).
    #[arg(long, default_value_t = 10)]
    handshakes: usize,
    /// The `head -c` size of the streaming benchmark (256M = 2^28 bytes).
    #[arg(long, default_value = "256M")]
    bytes: String,
    /// Benchmarks to run: `identify`, `stream` or both (comma-separated).
    #[arg(long, default_value = "identify,stream")]
    only: String,
    /// Cases to run, by key (comma-separated; see the table printed); all by default.
    #[arg(long)]
    cases: Option<String>,
    /// Worker threads of the client's runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The daemon's plain HTTP URL under the host name of its Kerberos keytab (e.g.
    /// http://localhost:5985/wsman): adds the case `kerberos-sealed-http`, authenticated from
    /// the caller's credential cache (KRB5CCNAME). Set up by benches/kerberos.sh.
    #[arg(long)]
    kerberos_http: Option<String>,
}

/// The case every ratio is taken against.
const BASELINE: &str = "basic-https";

/// One way of reaching the daemon: an endpoint plus client settings, and the benchmarks it
/// takes part in.
struct Case {
    /// Short name (`--cases`).
    key: &'static str,
    /// What the tables print.
    label: &'static str,
    endpoint: Endpoint,
    options: ClientOptions,
    identify: bool,
    stream: bool,
}

impl Case {
    fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(self.endpoint.clone(), self.options.clone())?)
    }
}

/// Every case, the baseline first. Add a scheme here.
fn cases(args: &Args, password: &str) -> anyhow::Result<Vec<Case>> {
    let http = Endpoint::parse(&args.http, false)?;
    let https = Endpoint::parse(&args.https, true)?;
    let base = {
        let mut options = ClientOptions::default();
        options.operation_timeout = Duration::from_secs(20);
        let mut tls = TlsOptions::default();
        tls.ca_file = Some(args.ca_file.clone());
        options.tls = tls;
        options
    };
    let with_auth = |auth: Auth| {
        let mut options = base.clone();
        options.auth = auth;
        options
    };
    let basic = || Auth::Basic(Credentials::new(args.user.clone(), password.to_owned()));
    // SPNEGO-wrapped NTLM, as Windows' client sends it; sealing over HTTP, channel binding
    // over HTTPS.
    let negotiate = |encrypt: bool| {
        let mut auth = NegotiateAuth::new(&args.user, password);
        auth.encrypt = encrypt;
        Auth::Negotiate(auth)
    };
    let mut basic_http = with_auth(basic());
    basic_http.allow_unencrypted = true;
    let mut kerberos = Vec::new();
    if let Some(url) = &args.kerberos_http {
        // Kerberos (raw tokens, the `Kerberos` scheme, SPN HTTP/<host>), sealed over HTTP.
        kerberos.push(Case {
            key: "kerberos-sealed-http",
            label: "Kerberos, sealed, over HTTP",
            endpoint: Endpoint::parse(url, false)?,
            options: with_auth(Auth::Kerberos(wsman_client::KerberosAuth::from_ccache())),
            identify: true,
            stream: false,
        });
    }
    let mut all = vec![
        Case {
            key: BASELINE,
            label: "Basic over HTTPS",
            endpoint: https.clone(),
            options: with_auth(basic()),
            identify: true,
            stream: true,
        },
        Case {
            key: "ntlm-sealed-http",
            label: "NTLM, sealed, over HTTP",
            endpoint: http.clone(),
            options: with_auth(negotiate(true)),
            identify: true,
            stream: true,
        },
        Case {
            key: "ntlm-plain-http",
            label: "NTLM, unsealed, over HTTP",
            endpoint: http.clone(),
            options: with_auth(negotiate(false)),
            identify: true,
            stream: true,
        },
        Case {
            key: "ntlm-https",
            label: "NTLM over HTTPS (bound)",
            endpoint: https,
            options: with_auth(negotiate(true)),
            identify: true,
            stream: true,
        },
        Case {
            key: "basic-http",
            label: "Basic over HTTP",
            endpoint: http,
            options: basic_http,
            identify: true,
            stream: true,
        },
    ];
    all.extend(kerberos);
    Ok(all)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median_duration(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_owned())
}

/// User + system CPU time of a process so far (`/proc/PID/stat`, clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Ok((user + system) as f64 / 100.0),
        _ => bail!("unexpected /proc/{pid}/stat"),
    }
}

/// One run of benchmark (1) for one case.
struct IdentifyRun {
    rps_one: f64,
    p50_one: Duration,
    rps_many: f64,
    p50_many: Duration,
    first_request: Duration,
}

/// Sequential authenticated Identify requests on `client` until `deadline`: their latencies.
async fn identify_loop(client: Client, deadline: Instant) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        client.identify().await?;
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

/// Requests per second and p50 of `clients` (each already authenticated) looping
/// concurrently for `seconds`.
async fn identify_load(clients: Vec<Client>, seconds: f64) -> anyhow::Result<(f64, Duration)> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(identify_loop(client, deadline)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    let rps = latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9);
    Ok((rps, median_duration(&mut latencies)))
}

async fn identify_run(case: &Case, args: &Args) -> anyhow::Result<IdentifyRun> {
    // A new client has a pool of its own: its first request opens (and authenticates) a
    // connection. Dropping it closes that connection.
    let mut first = Vec::with_capacity(args.handshakes);
    for _ in 0..args.handshakes {
        let client = case.client()?;
        let started = Instant::now();
        client.identify().await?;
        first.push(started.elapsed());
    }
    let one = case.client()?;
    one.identify().await?;
    let (rps_one, p50_one) = identify_load(vec![one], args.seconds).await?;
    let mut many = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let client = case.client()?;
        client.identify().await?;
        many.push(client);
    }
    let (rps_many, p50_many) = identify_load(many, args.seconds).await?;
    Ok(IdentifyRun {
        rps_one,
        p50_one,
        rps_many,
        p50_many,
        first_request: median_duration(&mut first),
    })
}

/// Benchmark (1)'s medians over the runs of one case (milliseconds, requests per second).
struct IdentifyMedians {
    label: &'static str,
    rps_one: f64,
    p50_one: f64,
    rps_many: f64,
    p50_many: f64,
    first: f64,
    handshake: f64,
}

/// The median of each figure over `runs` (one list per case, in the order of `cases`); the
/// handshake is a new connection's first request less the kept connection's p50.
fn identify_medians(cases: &[&Case], runs: &[Vec<IdentifyRun>]) -> Vec<IdentifyMedians> {
    cases
        .iter()
        .zip(runs)
        .map(|(case, results)| {
            let pick =
                |f: fn(&IdentifyRun) -> f64| median(&results.iter().map(f).collect::<Vec<_>>());
            let p50_one = pick(|r| millis(r.p50_one));
            let first = pick(|r| millis(r.first_request));
            IdentifyMedians {
                label: case.label,
                rps_one: pick(|r| r.rps_one),
                p50_one,
                rps_many: pick(|r| r.rps_many),
                p50_many: pick(|r| millis(r.p50_many)),
                first,
                handshake: first - p50_one,
            }
        })
        .collect()
}

/// The table of medians, then each case's ratios against the baseline's when it ran; `n`
/// connections in the second phase.
fn print_identify_medians(cases: &[&Case], rows: &[IdentifyMedians], n: usize) {
    println!("\n  medians");
    println!(
        "  {:<28}{:>11}{:>11}{:>11}{:>11}{:>12}{:>12}",
        "case",
        "req/s 1c",
        "p50ms 1c",
        format!("req/s {n}c"),
        format!("p50ms {n}c"),
        "1st req ms",
        "handshake"
    );
    for row in rows {
        println!(
            "  {:<28}{:>11.0}{:>11.3}{:>11.0}{:>11.3}{:>12.3}{:>12.3}",
            row.label,
            row.rps_one,
            row.p50_one,
            row.rps_many,
            row.p50_many,
            row.first,
            row.handshake
        );
    }
    if let Some(base) = cases
        .iter()
        .position(|c| c.key == BASELINE)
        .and_then(|i| rows.get(i))
    {
        println!(
            "\n  ratios against {} (req/s: above 1 is faster; p50 and handshake: above 1 is slower)",
            base.label
        );
        for row in rows {
            println!(
                "  {:<28}{:>11.2}{:>11.2}{:>11.2}{:>11.2}{:>12.2}{:>12.2}",
                row.label,
                row.rps_one / base.rps_one,
                row.p50_one / base.p50_one,
                row.rps_many / base.rps_many,
                row.p50_many / base.p50_many,
                row.first / base.first,
                row.handshake / base.handshake
            );
        }
    }
    println!(
        "  (handshake = a new connection's first request minus the kept-connection p50: TCP, \
         TLS and/or the NTLM legs, and the password check: argon2id for Basic, the NT hash for NTLM)"
    );
}

/// Benchmark (1).
async fn identify(cases: &[&Case], args: &Args) -> anyhow::Result<()> {
    println!(
        "\n== (1) authenticated Identify on kept-alive connections, after the handshake \
         ({} runs of {}s per phase; load average before: {})",
        args.runs,
        args.seconds,
        load_average()
    );
    let mut runs: Vec<Vec<IdentifyRun>> = cases.iter().map(|_| Vec::new()).collect();
    for run in 1..=args.runs {
        for (case, results) in cases.iter().zip(runs.iter_mut()) {
            let result = identify_run(case, args)
                .await
                .with_context(|| format!("Identify, {}", case.label))?;
            println!(
                "  run {run} {:<28} 1 conn {:>7.0} req/s p50 {:.3} ms | {} conns {:>7.0} req/s \
                 p50 {:.3} ms | first request {:.3} ms",
                case.label,
                result.rps_one,
                millis(result.p50_one),
                args.connections,
                result.rps_many,
                millis(result.p50_many),
                millis(result.first_request)
            );
            results.push(result);
        }
    }
    println!("  load average after: {}", load_average());

    let rows = identify_medians(cases, &runs);
    print_identify_medians(cases, &rows, args.connections);
    Ok(())
}

/// One run of benchmark (2) for one case.
struct StreamRun {
    mib_per_second: f64,
    daemon_cpu_per_gib: f64,
    client_cpu_per_gib: f64,
}

/// `head -c SIZE /dev/zero` through a shell: time from Command to the end of the output.
async fn stream_run(case: &Case, args: &Args) -> anyhow::Result<StreamRun> {
    let client = case.client()?;
    let shell = Shell::open(&client, &ShellOptions::default()).await?;
    let arguments = vec!["-c".to_owned(), args.bytes.clone(), "/dev/zero".to_owned()];
    let daemon_before = cpu_seconds(args.daemon_pid)?;
    let own_before = cpu_seconds(std::process::id())?;
    let started = Instant::now();
    let command = shell
        .run("head", &arguments, &CommandOptions::default())
        .await?;
    let mut reader = command.output()?;
    let mut total = 0_u64;
    let mut exit_code = None;
    while let Some(event) = reader.next().await? {
        match event {
            Output::Data { data, .. } => total += data.len() as u64,
            Output::Exited { exit_code: code } => exit_code = Some(code),
            _ => {}
        }
    }
    let elapsed = started.elapsed();
    let daemon_cpu = cpu_seconds(args.daemon_pid)? - daemon_before;
    let own_cpu = cpu_seconds(std::process::id())? - own_before;
    shell.close().await?;
    if exit_code != Some(0) {
        bail!("remote head ended with {exit_code:?}");
    }
    let gib = total as f64 / f64::from(1u32 << 30);
    if total == 0 {
        bail!("no output arrived");
    }
    Ok(StreamRun {
        mib_per_second: gib * 1024.0 / elapsed.as_secs_f64().max(1e-9),
        daemon_cpu_per_gib: daemon_cpu / gib,
        client_cpu_per_gib: own_cpu / gib,
    })
}

/// Benchmark (2).
async fn stream(cases: &[&Case], args: &Args) -> anyhow::Result<()> {
    println!(
        "\n== (2) stdout of `head -c {} /dev/zero` through Receive ({} runs; load average \
         before: {})",
        args.bytes,
        args.runs,
        load_average()
    );
    let mut runs: Vec<Vec<StreamRun>> = cases.iter().map(|_| Vec::new()).collect();
    for run in 1..=args.runs {
        for (case, results) in cases.iter().zip(runs.iter_mut()) {
            let result = stream_run(case, args)
                .await
                .with_context(|| format!("streaming, {}", case.label))?;
            println!(
                "  run {run} {:<28} {:>8.1} MiB/s, CPU per GiB: wsmand {:.2} s, client {:.2} s",
                case.label,
                result.mib_per_second,
                result.daemon_cpu_per_gib,
                result.client_cpu_per_gib
            );
            results.push(result);
        }
    }
    println!("  load average after: {}", load_average());
    let medians: Vec<(f64, f64, f64)> = runs
        .iter()
        .map(|results| {
            let pick =
                |f: fn(&StreamRun) -> f64| median(&results.iter().map(f).collect::<Vec<_>>());
            (
                pick(|r| r.mib_per_second),
                pick(|r| r.daemon_cpu_per_gib),
                pick(|r| r.client_cpu_per_gib),
            )
        })
        .collect();
    let base = cases
        .iter()
        .position(|c| c.key == BASELINE)
        .and_then(|i| medians.get(i))
        .map(|m| m.0);
    println!("\n  medians");
    println!(
        "  {:<28}{:>10}{:>14}{:>16}{:>16}",
        "case", "MiB/s", "ratio (base)", "wsmand CPU/GiB", "client CPU/GiB"
    );
    for (case, (rate, daemon, own)) in cases.iter().zip(&medians) {
        let ratio = base.map_or(f64::NAN, |base| rate / base);
        println!(
            "  {:<28}{:>10.1}{:>14.2}{:>15.2}s{:>15.2}s",
            case.label, rate, ratio, daemon, own
        );
    }
    let rate_of = |key: &str| {
        cases
            .iter()
            .position(|c| c.key == key)
            .and_then(|i| medians.get(i))
            .map(|m| m.0)
    };
    if let (Some(sealed), Some(plain)) = (rate_of("ntlm-sealed-http"), rate_of("ntlm-plain-http")) {
        println!(
            "  NTLM sealed / NTLM unsealed over HTTP: {:.2} (what message encryption costs)",
            sealed / plain
        );
    }
    Ok(())
}

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
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let password = std::env::var("WSMAN_BENCH_PASSWORD")
        .context("WSMAN_BENCH_PASSWORD must hold the account's password")?;
    let all = cases(&args, &password)?;
    let wanted = |case: &&Case| {
        args.cases
            .as_deref()
            .is_none_or(|list| list.split(',').any(|key| key.trim() == case.key))
    };
    let selected: Vec<&Case> = all.iter().filter(wanted).collect();
    if selected.is_empty() {
        let keys: Vec<&str> = all.iter().map(|c| c.key).collect();
        bail!("no case selected; the cases are {}", keys.join(", "));
    }
    println!("cases:");
    for case in &selected {
        println!(
            "  {:<18} {} ({})",
            case.key,
            case.label,
            case.endpoint.url()
        );
        // Fail early, with the case named, when a scheme is not set up.
        case.client()?
            .identify()
            .await
            .with_context(|| format!("authenticated Identify with {} failed", case.label))?;
    }
    let benchmarks: Vec<&str> = args.only.split(',').map(str::trim).collect();
    if benchmarks.contains(&"identify") {
        let chosen: Vec<&Case> = selected.iter().copied().filter(|c| c.identify).collect();
        identify(&chosen, &args).await?;
    }
    if benchmarks.contains(&"stream") {
        let chosen: Vec<&Case> = selected.iter().copied().filter(|c| c.stream).collect();
        stream(&chosen, &args).await?;
    }
    Ok(())
}
