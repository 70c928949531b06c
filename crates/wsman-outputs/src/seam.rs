//! The output seam: every place a checked batch can be stored implements [`Output`]
//! (`subscription_outputs` holds each subscription's, each behind a bounded in-flight budget).
//!
//! Why blocking calls on the blocking pool rather than an async trait: a delivery already runs
//! on tokio's blocking pool, under the lock that keeps a (client, subscription)'s batches one
//! at a time from bookmark read to bookmark store; the file output is blocking I/O (`write`,
//! `fsync`), and the Kafka output waits for delivery reports that librdkafka's own thread
//! hands over. A blocking `write` keeps that whole sequence one plain function, and the
//! threads it holds are bounded by the in-flight budgets (a full budget is answered 503 at
//! once, never queued).

use std::any::{Any, TypeId};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::settings::OutputSettingError;
use crate::output_policy::{OutputsPolicy, PolicyError};
use crate::secrets::{read_secret, Destination, ReadPrivate, SecretBindings, SecretError};
use wsman_events::received::ReceivedEvent;

/// Most batches one configured output takes at once; one more is answered 503.
pub const MAX_IN_FLIGHT_BATCHES: usize = 64;

/// One checked batch of a forwarder for a subscription: the events not stored before.
pub struct Batch<'a> {
    pub subscription: &'a str,
    /// The sender's authenticated name (Kerberos principal, certificate name or account).
    pub client: &'a str,
    pub events: &'a [&'a ReceivedEvent],
    /// Arrival time written into JSON records.
    pub received: &'a str,
}

/// Why an output did not take a batch (the forwarder is told 503 and resends).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("file output {path}: {source}")]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("kafka output (topic {topic}): {reason}")]
    Kafka { topic: String, reason: String },
    #[error("{output}: {limit} batches in flight already (backpressure)")]
    Busy { output: String, limit: usize },
    /// A TCP, Redis or journal output that failed (connection lost, refused, timed out, an
    /// error reply).
    #[error("{output}: {reason}")]
    Failed { output: String, reason: String },
    #[error("{output} did not start: {reason}")]
    NotStarted { output: String, reason: String },
}

/// Why no TCP connection to a network output's server (TCP, Redis) could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot resolve: {0}")]
    Resolve(#[source] std::io::Error),
    #[error("the name has no address")]
    NoAddress,
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("{address}: {source}")]
    Socket {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// The first address of `target` that accepts a connection within `connect_timeout`, with
/// `io_timeout` on its reads and writes and Nagle off (a batch is one write, its reply
/// awaited); the error of the last address tried when none does.
pub(crate) fn connect_first(
    target: impl ToSocketAddrs,
    connect_timeout: Duration,
    io_timeout: Duration,
) -> Result<(TcpStream, SocketAddr), ConnectError> {
    let mut last = ConnectError::NoAddress;
    for address in target.to_socket_addrs().map_err(ConnectError::Resolve)? {
        match TcpStream::connect_timeout(&address, connect_timeout) {
            Ok(socket) => {
                socket
                    .set_read_timeout(Some(io_timeout))
                    .and_then(|()| socket.set_write_timeout(Some(io_timeout)))
                    .and_then(|()| socket.set_nodelay(true))
                    .map_err(|source| ConnectError::Socket { address, source })?;
                return Ok((socket, address));
            }
            Err(source) => last = ConnectError::Connect { address, source },
        }
    }
    Err(last)
}

/// A place that stores batches durably.
pub trait Output: Send + Sync {
    /// What it is, for logs (never a secret).
    fn describe(&self) -> String;
    /// Store `batch`; return only when it is durable there (on disk, acknowledged by the
    /// cluster), or with why not. Called on the blocking pool.
    fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError>;
}

/// When a connection-based output (TCP, Redis) may try to connect again: right away after
/// one failure, then after waits doubling from [`Backoff::FIRST`] up to a maximum. A batch
/// that arrives during the wait is answered 503 at once: a receiver that is down costs the
/// forwarders one quick refusal each, not a connection attempt each.
#[derive(Debug)]
pub struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    max: Duration,
}

impl Backoff {
    /// The first wait after two failures in a row.
    pub const FIRST: Duration = Duration::from_millis(100);

    pub fn new(max: Duration) -> Backoff {
        Backoff {
            failures: 0,
            retry_at: None,
            max,
        }
    }

    /// `Err(wait left)` while a reconnection must not be tried yet.
    pub fn ready(&self, now: Instant) -> Result<(), Duration> {
        match self.retry_at {
            Some(at) if at > now => Err(at - now),
            _ => Ok(()),
        }
    }

    /// A connection attempt or a write failed.
    pub fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let wait = if self.failures <= 1 {
            Duration::ZERO
        } else {
            let doublings = (self.failures - 2).min(20);
            (Backoff::FIRST * 2u32.pow(doublings)).min(self.max)
        };
        self.retry_at = Some(now + wait);
    }

    /// A connection was made.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }
}

/// The connection of a connection-based output (TCP, syslog, Redis) with its [`Backoff`]:
/// one place that drops a connection the receiver closed, makes a new one when the backoff
/// allows, and after a failure waits before the next.
pub(crate) struct Link<C> {
    connection: Option<C>,
    backoff: Backoff,
}

impl<C> Link<C> {
    pub(crate) fn new(max_backoff: Duration) -> Link<C> {
        Link {
            connection: None,
            backoff: Backoff::new(max_backoff),
        }
    }

    /// The open connection of `output` (`kind` names it in logs): one that `still_open` says
    /// the receiver closed is dropped, and one is made with `connect` when there is none and
    /// the backoff allows.
    pub(crate) fn open<E: std::fmt::Display>(
        &mut self,
        output: &dyn Output,
        kind: &str,
        still_open: impl FnOnce(&mut C) -> bool,
        connect: impl FnOnce() -> Result<C, E>,
    ) -> Result<&mut C, OutputError> {
        if self.connection.as_mut().is_some_and(|c| !still_open(c)) {
            tracing::warn!(output = %output.describe(), "{kind} output: the receiver closed the connection; reconnecting");
            self.connection = None;
        }
        if self.connection.is_none() {
            let now = Instant::now();
            if let Err(wait) = self.backoff.ready(now) {
                return Err(failed(
                    output,
                    format!("not connected; next attempt in {} ms", wait.as_millis()),
                ));
            }
            match connect() {
                Ok(connection) => {
                    tracing::info!(output = %output.describe(), "{kind} output: connected");
                    self.backoff.succeeded();
                    self.connection = Some(connection);
                }
                Err(reason) => {
                    self.backoff.failed(now);
                    return Err(failed(output, reason.to_string()));
                }
            }
        }
        self.connection
            .as_mut()
            .ok_or_else(|| failed(output, "not connected".to_owned()))
    }

    /// A write failed: the next batch starts on a new connection, after the backoff.
    pub(crate) fn broken(&mut self) {
        self.connection = None;
        self.backoff.failed(Instant::now());
    }
}

/// `output` failed for `reason` (the batch is answered 503).
pub(crate) fn failed(output: &(impl Output + ?Sized), reason: String) -> OutputError {
    OutputError::Failed {
        output: output.describe(),
        reason,
    }
}

/// One type of output (`type = "..."` of `[[outputs]]`), implemented by its settings in its own
/// module: its checks, what a stored subscription may ask of it, and how it starts. The
/// registry ([`super::OutputConfig`]) calls these, so nothing else names an output type.
pub trait OutputType {
    /// The `type` of `[[outputs]]`, and the metrics' `output` label.
    const KIND: &'static str;
    /// What all outputs of this type share, kept across reloads (open files, producers); `()`
    /// when nothing is.
    type Pool: Pool + Default;
    /// Why it did not start (its subscription's batches are answered 503 with it).
    type StartError: std::fmt::Display;

    /// Whether it reads each event's tree (a JSON record, a journal entry's fields) rather than
    /// writing its text as it came.
    fn needs_tree(&self) -> bool;
    /// Why these settings are refused, whoever wrote them (a file or a shared store's row).
    fn check(&self) -> Result<(), OutputSettingError>;
    /// Why a subscription read from a shared store may not have it on this node (`[outputs]`
    /// of `collector.toml`: [`crate::output_policy`]); deny by default.
    fn admit(&self, policy: &OutputsPolicy) -> Result<(), PolicyError>;
    /// One line for listings and logs (never a secret).
    fn summary(&self) -> String;
    /// Each secret it names and where it would send it: checked against the secret's
    /// `[secrets.NAME]` binding when a stored subscription is admitted (and again, for files
    /// and rows alike, when the secret is read at start).
    fn secret_destinations(&self) -> Vec<(String, Vec<Destination>)> {
        Vec::new()
    }
    /// What it is in the line of an output of `subscription` that did not start (never a
    /// secret).
    fn describe(&self, subscription: &str) -> String {
        format!("{} output of {subscription}", Self::KIND)
    }
    /// The output of these (checked) settings; `None` for the event store, which is no
    /// output: a delivery hands its records to the claim's commit (the collector's `delivery`).
    fn start(
        &self,
        pool: &Arc<Self::Pool>,
        env: &StartEnv<'_>,
    ) -> Result<Started, Self::StartError>;
}

/// A started output, if its type makes one ([`OutputType::start`]).
pub type Started = Option<Arc<dyn Output>>;

/// An output that could not be set up (a Kafka property librdkafka refused, a TLS file that
/// does not read, a Redis URL that does not parse): every batch is answered 503 with the
/// reason, so nothing is acknowledged that went nowhere.
#[derive(Debug, thiserror::Error)]
#[error("{output}: {reason}")]
pub struct NotStarted {
    /// What it is (never a secret).
    pub output: String,
    pub reason: String,
}

impl Output for NotStarted {
    fn describe(&self) -> String {
        self.output.clone()
    }
    fn write(&self, _: &Batch<'_>) -> Result<(), OutputError> {
        Err(OutputError::NotStarted {
            output: self.output.clone(),
            reason: self.reason.clone(),
        })
    }
}

/// What an output may use when it starts besides its settings.
pub struct StartEnv<'a> {
    /// `DIR/secrets` (none: a named secret does not start its output).
    pub secrets: Option<&'a Path>,
    /// `[secrets.NAME]` of `collector.toml`: where each secret may be sent.
    pub bindings: &'a SecretBindings,
    /// The gid of a group by name (the file output's `group`), as the daemon looks groups up;
    /// `None`: no lookup, so an output naming a group does not start.
    pub groups: Option<GroupLookup>,
    /// How a secret's file is read (the collector's reader of private files).
    pub read_private: ReadPrivate,
}

/// A group's gid by name (`Ok(None)`: no such group). The collector makes no account lookups
/// itself: the daemon hands it the operating system's.
pub type GroupLookup = fn(&str) -> std::io::Result<Option<u32>>;

impl StartEnv<'_> {
    /// The node-local secret `name` ([`crate::secrets`]) for an output that sends it `to`
    /// there: only where its binding allows, so no subscription chooses where it goes.
    pub fn secret(&self, name: &str, to: &Destination) -> Result<String, SecretError> {
        self.secret_for_all(name, std::slice::from_ref(to))
    }

    /// [`Self::secret`] for an output that may send it to any of `to` (Kafka's brokers).
    pub fn secret_for_all(&self, name: &str, to: &[Destination]) -> Result<String, SecretError> {
        for destination in to {
            self.bindings.allow(name, destination)?;
        }
        read_secret(self.secrets, name, self.read_private)
    }
}

/// What all outputs of one type share across reloads; told of reloads, SIGHUP and shutdown.
pub trait Pool: Send + Sync + 'static {
    /// Every output of a reload has started: drop what none of them uses any more.
    fn reloaded(&self) {}
    /// SIGHUP: close open files (rotated ones are created anew).
    fn reopen(&self) {}
    /// Shutdown: hand back what is held; how many messages were.
    fn stop(&self) -> usize {
        0
    }
}

impl Pool for () {}

type PoolEntry = (TypeId, Arc<dyn Any + Send + Sync>, Arc<dyn Pool>);

/// The pools of the output types in use, one per type, made when its first output starts.
#[derive(Default)]
pub struct Pools(Mutex<Vec<PoolEntry>>);

impl Pools {
    /// The pool of type `P`, made now if none is.
    pub fn get<P: Pool + Default>(&self) -> Arc<P> {
        let mut pools = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let found = pools
            .iter()
            .find(|(id, _, _)| *id == TypeId::of::<P>())
            .map(|(_, any, _)| Arc::clone(any));
        if let Some(Ok(pool)) = found.map(Arc::downcast::<P>) {
            return pool;
        }
        let pool = Arc::new(P::default());
        pools.push((TypeId::of::<P>(), pool.clone(), pool.clone()));
        pool
    }

    /// Every pool made so far.
    pub fn all(&self) -> Vec<Arc<dyn Pool>> {
        let pools = self.0.lock().unwrap_or_else(|p| p.into_inner());
        pools.iter().map(|(_, _, pool)| Arc::clone(pool)).collect()
    }
}
