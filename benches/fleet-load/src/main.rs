//! fleet-load: N event forwarders against one collector, as Windows forwarders with client
//! certificates behave: each its own certificate (rcgen, made in the run) and kept-alive TLS
//! connection, an Enumerate of the subscription manager, then Events batches at its share of
//! the total rate (UTF-16, SLDC, a bookmark, each waiting for its Ack) and a Heartbeat when it
//! has been silent for the heartbeat interval. A 503 is waited out (its Retry-After, capped)
//! and a lost connection reconnected and enumerated anew; the unacknowledged batch is sent
//! again, as a forwarder keeps it. Prints one JSON line; `--acked FILE` writes each
//! forwarder's last acknowledged record id, for the caller to count lost and duplicated
//! events in the collector's output (`--resent FILE`: the batches sent again after a connection
//! lost unanswered, which the collector may hold twice). With `--storm-file`, the time from the collector's kill
//! (written there by the caller) until every forwarder is acknowledged again, and the p50, p90
//! and p99 of the forwarders' first Acks after it (how the reconnections spread, not only the
//! last). With `--window-seconds`, the Acks of each window of the run apart (their count, events/s,
//! p50, p99 and longest), so that a long run's first minutes can be set against its last.
//!
//!   fleet-load ca DIR
//!   fleet-load run --ca-dir DIR --server-ca listener.crt --port 5986 --forwarders 2000 ...
#![forbid(unsafe_code)]

mod certs;
mod windows;
mod wire;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tokio::sync::Semaphore;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make the CA that issues the forwarders' certificates: DIR/ca.crt, DIR/ca.key.
    Ca { dir: PathBuf },
    /// Run the forwarders.
    Run(Box<Run>),
}

#[derive(clap::Args, Clone)]
struct Run {
    #[arg(long)]
    ca_dir: PathBuf,
    /// The collector's certificate or its CA (PEM).
    #[arg(long)]
    server_ca: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long)]
    port: u16,
    /// Connect from this local address (forwarders of another network, behind a balancer
    /// that relays their address).
    #[arg(long)]
    source: Option<std::net::IpAddr>,
    #[arg(long, default_value_t = 100)]
    forwarders: usize,
    /// Forwarder i is `fwd<i>.<domain>` (its certificate's name and its events' Computer).
    #[arg(long, default_value = "fleet.test")]
    domain: String,
    /// Events per second across all forwarders.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    #[arg(long, default_value_t = 10)]
    per_batch: u64,
    #[arg(long, default_value_t = 500)]
    event_bytes: usize,
    /// Stop sending new batches after this many seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Each forwarder sends at most this many batches (0: no bound).
    #[arg(long, default_value_t = 0)]
    batches: u64,
    /// A heartbeat after this many seconds without a message.
    #[arg(long, default_value_t = 30)]
    heartbeat_seconds: u64,
    /// Deliveries compressed with SLDC (as the collector's Subscribe asks).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    sldc: bool,
    /// Connections being opened (TLS handshake and Enumerate) at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Longest wait after a 503 or a failed connection, whatever Retry-After says.
    #[arg(long, default_value_t = 5)]
    max_retry_seconds: u64,
    /// Give up on an unacknowledged batch after this many seconds past the end.
    #[arg(long, default_value_t = 120)]
    drain_seconds: u64,
    /// The first record id of every forwarder (another run continues with a higher one).
    #[arg(long, default_value_t = 1)]
    first_record: u64,
    #[arg(long)]
    acked: Option<PathBuf>,
    /// Writes `NAME FIRST LAST` for each batch sent again after a connection lost unanswered.
    #[arg(long)]
    resent: Option<PathBuf>,
    /// A restart storm: the caller writes the time it killed the collector (seconds since the
    /// epoch) to this file; the run then reports how long until every forwarder had an Ack
    /// after that moment.
    #[arg(long)]
    storm_file: Option<PathBuf>,
    /// Report the Events batches' Acks per window of this many seconds of the run (by when each
    /// was acknowledged; 0: none), and the run's start (seconds since the epoch), so that the
    /// caller can set its own samples (memory, descriptors) beside them.
    #[arg(long, default_value_t = 0)]
    window_seconds: u64,
}

/// What all forwarders add up.
#[derive(Default)]
struct Tally {
    ack_micros: Vec<u32>,
    batches: u64,
    events: u64,
    heartbeats: u64,
    refused_503: u64,
    /// Of those, the ones that carried a Retry-After (the connection cap's refusals; a batch
    /// the collector could not store carries none).
    refused_503_retry_after: u64,
    reconnects: u64,
    connected: u64,
    failures: Vec<String>,
    last_acked: Vec<(String, u64)>,
    /// Batches (forwarder, first and last record id) sent again after their connection was
    /// lost unanswered: the collector may have stored them before it died, so a second copy of
    /// these is a resend of an unacknowledged batch, not a duplicated acknowledged event.
    resent: Vec<(String, u64, u64)>,
    /// The latest of the forwarders' first Acks after the storm (ms since the epoch), and how
    /// many forwarders had none.
    last_recovery_ms: u64,
    not_recovered: u64,
    /// Each recovered forwarder's first Ack after the storm (ms since the epoch).
    recoveries_ms: Vec<u64>,
    /// With `--window-seconds`: each Events batch's Ack, (ms since the start, latency in µs).
    timed_acks: Vec<(u32, u32)>,
}

/// Milliseconds since the epoch: the clock the caller's kill time is written in.
fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// When the collector was killed (ms since the epoch, 0 until the caller says so): read from
/// `--storm-file` every 100 ms.
static STORM_AT_MS: AtomicU64 = AtomicU64::new(0);

async fn watch_storm(path: PathBuf) {
    loop {
        if let Ok(text) = tokio::fs::read_to_string(&path).await {
            if let Ok(seconds) = text.trim().parse::<f64>() {
                STORM_AT_MS.store((seconds * 1000.0) as u64, Ordering::Relaxed);
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One forwarder's part.
struct Forwarder {
    name: String,
    connector: tokio_rustls::TlsConnector,
    options: Arc<Run>,
    server: rustls::pki_types::ServerName<'static>,
    /// Whether it has had a session once (the count of forwarders that connected).
    connected: std::sync::atomic::AtomicBool,
    /// Its first Ack after the storm (ms since the epoch; 0: none yet).
    recovered_ms: AtomicU64,
}

/// A delivery's address on a connection: the path and the reference headers to echo.
struct Session {
    link: wire::Link,
    path: String,
    address: String,
    references: String,
}

impl Forwarder {
    async fn connect(&self, gate: &Semaphore) -> anyhow::Result<Session> {
        let _permit = gate.acquire().await?;
        let o = &self.options;
        let mut link =
            wire::Link::open(&self.connector, &o.host, o.port, &self.server, o.source).await?;
        let host = format!("{}:{}", o.host, o.port);
        let answer = link
            .post(
                "/wsman/SubscriptionManager/WEC",
                &wire::encode(&wire::enumerate(&host), false),
                false,
            )
            .await?;
        if answer.status != 200 {
            anyhow::bail!(Refused(answer.status, answer.retry_after));
        }
        let (path, references) = wire::subscription(&answer.text)?;
        Ok(Session {
            link,
            address: format!("https://{host}{path}"),
            path,
            references,
        })
    }

    /// Send `text` until it is acknowledged (reconnecting and waiting out refusals), or give
    /// up at `deadline`; the time the acknowledged attempt took, and whether an earlier attempt
    /// was lost with its connection (unanswered: maybe stored).
    async fn deliver(
        &self,
        session: &mut Option<Session>,
        gate: &Semaphore,
        tally: &Mutex<Tally>,
        build: &(dyn Fn(&Session) -> String + Sync),
        deadline: Instant,
    ) -> anyhow::Result<(Duration, bool)> {
        let o = &self.options;
        let mut unanswered = false;
        loop {
            anyhow::ensure!(Instant::now() < deadline, "gave up: no Ack in time");
            if session.is_none() {
                match self.connect(gate).await {
                    Ok(s) => {
                        *session = Some(s);
                        if !self
                            .connected
                            .swap(true, std::sync::atomic::Ordering::Relaxed)
                        {
                            lock(tally).connected += 1;
                        }
                    }
                    Err(error) => {
                        let refused = match error.downcast_ref::<Refused>() {
                            Some(Refused(503, retry_after)) => {
                                if retry_after.is_some() {
                                    lock(tally).refused_503_retry_after += 1;
                                }
                                true
                            }
                            Some(Refused(status, _)) => {
                                anyhow::bail!("{}: Enumerate answered HTTP {status}", self.name)
                            }
                            None => false,
                        };
                        {
                            let mut t = lock(tally);
                            if refused {
                                t.refused_503 += 1;
                            } else {
                                t.reconnects += 1;
                            }
                        }
                        self.pause(&error, o).await;
                        continue;
                    }
                }
            }
            let Some(s) = session.as_mut() else { continue };
            let body = wire::encode(&build(s), o.sldc);
            let started = Instant::now();
            match s.link.post(&s.path, &body, o.sldc).await {
                Ok(answer) if answer.status == 200 && answer.text.contains("wsman/Ack") => {
                    if answer.close {
                        *session = None;
                    }
                    let storm = STORM_AT_MS.load(Ordering::Relaxed);
                    let now = epoch_ms();
                    if storm != 0 && now >= storm {
                        let _ = self.recovered_ms.compare_exchange(
                            0,
                            now,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                    return Ok((started.elapsed(), unanswered));
                }
                Ok(answer) if answer.status == 503 => {
                    {
                        let mut t = lock(tally);
                        t.refused_503 += 1;
                        t.refused_503_retry_after += u64::from(answer.retry_after.is_some());
                    }
                    *session = None;
                    self.pause(&anyhow::anyhow!(Refused(503, answer.retry_after)), o)
                        .await;
                }
                Ok(answer) if answer.status == 400 && answer.text.contains("ersion") => {
                    // A subscription changed: enumerate anew.
                    *session = None;
                }
                Ok(answer) => anyhow::bail!(
                    "{}: HTTP {} {}",
                    self.name,
                    answer.status,
                    answer.text.chars().take(300).collect::<String>()
                ),
                Err(_) => {
                    unanswered = true;
                    lock(tally).reconnects += 1;
                    *session = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Wait after a refusal: its Retry-After, capped; a second for anything else.
    async fn pause(&self, error: &anyhow::Error, o: &Run) {
        let seconds = error
            .downcast_ref::<Refused>()
            .and_then(|r| r.1)
            .unwrap_or(1)
            .min(o.max_retry_seconds);
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    }

    async fn run(
        self,
        index: usize,
        gate: Arc<Semaphore>,
        tally: Arc<Mutex<Tally>>,
        start: Instant,
    ) {
        let o = Arc::clone(&self.options);
        let interval = Duration::from_secs_f64(o.per_batch as f64 * o.forwarders as f64 / o.rate);
        // Spread the forwarders' batches over the interval.
        let offset = interval.mul_f64(index as f64 / o.forwarders as f64);
        let end = start + Duration::from_secs(o.seconds);
        let drain = end + Duration::from_secs(o.drain_seconds);
        let mut session = None;
        let mut next_record = o.first_record;
        let mut sent = 0u64;
        let mut next_batch = start + offset;
        let mut last_message = Instant::now();
        let heartbeat = Duration::from_secs(o.heartbeat_seconds);
        let mut mine = Vec::new();
        let mut timed = Vec::new();
        let mut resent = Vec::new();
        let outcome: anyhow::Result<()> = async {
            while Instant::now() < end && (o.batches == 0 || sent < o.batches) {
                let now = Instant::now();
                if now >= next_batch {
                    let first = next_record;
                    let build = |s: &Session| {
                        wire::events(
                            &s.address,
                            &s.references,
                            &self.name,
                            first,
                            o.per_batch,
                            o.event_bytes,
                        )
                    };
                    let (took, unanswered) = self
                        .deliver(&mut session, &gate, &tally, &build, drain)
                        .await?;
                    if unanswered {
                        resent.push((first, first + o.per_batch - 1));
                    }
                    let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
                    mine.push(micros);
                    if o.window_seconds > 0 {
                        let at = u32::try_from(start.elapsed().as_millis()).unwrap_or(u32::MAX);
                        timed.push((at, micros));
                    }
                    next_record += o.per_batch;
                    sent += 1;
                    next_batch += interval;
                    last_message = Instant::now();
                } else if now >= last_message + heartbeat {
                    let build = |s: &Session| wire::heartbeat(&s.address, &s.references);
                    self.deliver(&mut session, &gate, &tally, &build, drain)
                        .await?;
                    lock(&tally).heartbeats += 1;
                    last_message = Instant::now();
                } else {
                    let wake = next_batch.min(last_message + heartbeat).min(end);
                    tokio::time::sleep_until(wake.into()).await;
                }
            }
            Ok(())
        }
        .await;
        let mut t = lock(&tally);
        t.ack_micros.extend(mine);
        t.timed_acks.extend(timed);
        t.resent
            .extend(resent.into_iter().map(|(a, b)| (self.name.clone(), a, b)));
        t.batches += sent;
        t.events += sent * o.per_batch;
        t.last_acked.push((self.name.clone(), next_record - 1));
        if let Err(error) = outcome {
            t.failures.push(format!("{}: {error:#}", self.name));
        }
        match self.recovered_ms.load(Ordering::Relaxed) {
            0 => t.not_recovered += 1,
            at => {
                t.last_recovery_ms = t.last_recovery_ms.max(at);
                t.recoveries_ms.push(at);
            }
        }
    }
}

/// A refusal: the status and its Retry-After.
#[derive(Debug)]
struct Refused(u16, Option<u64>);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} (Retry-After {:?})", self.0, self.1)
    }
}

impl std::error::Error for Refused {}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[at]) / 1000.0
}

/// How the forwarders' first Acks after the kill at `storm` (ms since the epoch; 0: no storm)
/// spread: a JSON array of their p50, p90 and p99 in seconds.
fn recovery_spread(recoveries_ms: &[u64], storm: u64) -> String {
    if storm == 0 {
        return String::from("[]");
    }
    let mut after: Vec<u32> = recoveries_ms
        .iter()
        .map(|at| u32::try_from(at.saturating_sub(storm)).unwrap_or(u32::MAX))
        .collect();
    after.sort_unstable();
    // percentile reads thousandths: milliseconds in, seconds out.
    format!(
        "[{:.1},{:.1},{:.1}]",
        percentile(&after, 0.5),
        percentile(&after, 0.9),
        percentile(&after, 0.99)
    )
}

async fn run(o: Run) -> anyhow::Result<()> {
    let authority = certs::Authority::load(&o.ca_dir)?;
    let roots = certs::roots(&o.server_ca)?;
    let server = certs::server_name(&o.host)?;
    let options = Arc::new(o.clone());
    let mut forwarders = Vec::with_capacity(o.forwarders);
    for i in 0..o.forwarders {
        let name = format!("fwd{i}.{}", o.domain);
        let (certificate, key) = authority.issue(&name)?;
        forwarders.push(Forwarder {
            name,
            connector: wire::connector(certs::client_config(&roots, certificate, key)?),
            options: Arc::clone(&options),
            server: server.clone(),
            connected: std::sync::atomic::AtomicBool::new(false),
            recovered_ms: AtomicU64::new(0),
        });
    }
    if let Some(path) = &o.storm_file {
        tokio::spawn(watch_storm(path.clone()));
    }
    let gate = Arc::new(Semaphore::new(o.connect_concurrency.max(1)));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let started_epoch = epoch_ms() as f64 / 1000.0;
    let tasks: Vec<_> = forwarders
        .into_iter()
        .enumerate()
        .map(|(i, f)| tokio::spawn(f.run(i, Arc::clone(&gate), Arc::clone(&tally), start)))
        .collect();
    for task in tasks {
        task.await?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut t = std::mem::take(&mut *lock(&tally));
    t.ack_micros.sort_unstable();
    if let Some(path) = &o.acked {
        let lines: String = t
            .last_acked
            .iter()
            .map(|(name, last)| format!("{name} {last}\n"))
            .collect();
        std::fs::write(path, lines)?;
    }
    if let Some(path) = &o.resent {
        let lines: String = t
            .resent
            .iter()
            .map(|(name, first, last)| format!("{name} {first} {last}\n"))
            .collect();
        std::fs::write(path, lines)?;
    }
    let storm = STORM_AT_MS.load(Ordering::Relaxed);
    let (recovery, not_recovered) = if storm == 0 {
        (0.0, 0)
    } else {
        (
            t.last_recovery_ms.saturating_sub(storm) as f64 / 1000.0,
            t.not_recovered,
        )
    };
    let recovery_spread = recovery_spread(&t.recoveries_ms, storm);
    let windows = windows::json(&windows::summarize(
        &t.timed_acks,
        o.per_batch,
        o.window_seconds,
        o.seconds,
    ));
    println!(
        "{{\"forwarders\":{},\"connected\":{},\"batches_acked\":{},\"events_acked\":{},\"heartbeats\":{},\"seconds\":{:.1},\"events_per_second\":{:.0},\"ack_ms_p50\":{:.1},\"ack_ms_p99\":{:.1},\"ack_ms_max\":{:.1},\"refused_503\":{},\"refused_503_retry_after\":{},\"reconnects\":{},\"storm_recovery_seconds\":{:.1},\"storm_recovery_p50_p90_p99\":{},\"storm_not_recovered\":{},\"failed\":{},\"first_failures\":{:?},\"started_epoch\":{:.3},\"windows\":{}}}",
        o.forwarders,
        t.connected,
        t.batches,
        t.events,
        t.heartbeats,
        seconds,
        t.events as f64 / seconds,
        percentile(&t.ack_micros, 0.5),
        percentile(&t.ack_micros, 0.99),
        percentile(&t.ack_micros, 1.0),
        t.refused_503,
        t.refused_503_retry_after,
        t.reconnects,
        recovery,
        recovery_spread,
        not_recovered,
        t.failures.len(),
        t.failures.iter().take(3).collect::<Vec<_>>(),
        started_epoch,
        windows
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Ca { dir } => certs::Authority::create(&dir),
        Command::Run(o) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run(*o)),
    }
}
