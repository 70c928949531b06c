//! Each subscription's configured outputs, set up from its `[[outputs]]` at every reload, each
//! behind a bounded in-flight budget: a batch beyond it is answered 503 at once (backpressure),
//! never queued.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::journal::JournalOutput;
use crate::kafka::KafkaOutputError;
use crate::kafka::{KafkaCluster, KafkaOutput};
use crate::output::{FileOutput, FileOutputs};
use crate::outputs::{Batch, Output, OutputError, MAX_IN_FLIGHT_BATCHES};
use crate::redis::RedisOutput;
use crate::resp::UrlError;
use crate::secrets::{read_secret, SecretError};
use crate::subscriptions::{KafkaConfig, OutputConfig, RedisConfig, SubscriptionSet};
use crate::tcp::TcpOutput;

/// An output that could not be set up (a Kafka property librdkafka refused, a TLS file that
/// does not read, a Redis URL that does not parse): every batch is
/// answered 503 with the reason, so nothing is acknowledged that went nowhere.
struct NotStarted {
    output: String,
    reason: String,
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

/// A configured output, its in-flight budget and its name in the metrics.
struct Budgeted {
    output: Arc<dyn Output>,
    in_flight: AtomicUsize,
    limit: usize,
    label: String,
}

impl Budgeted {
    fn new(output: Arc<dyn Output>, label: String) -> Budgeted {
        Budgeted {
            output,
            in_flight: AtomicUsize::new(0),
            limit: MAX_IN_FLIGHT_BATCHES,
            label,
        }
    }

    fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(OutputError::Busy {
                output: self.output.describe(),
                limit: self.limit,
            });
        }
        let result = self.output.write(batch);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        result
    }
}

/// Every output of every subscription. Files stay open and Kafka producers stay connected
/// across reloads: a cluster whose settings did not change keeps its producer.
#[derive(Default)]
pub struct Outputs {
    files: Arc<FileOutputs>,
    clusters: Mutex<HashMap<String, Arc<KafkaCluster>>>,
    by_subscription: RwLock<HashMap<String, Arc<Vec<Budgeted>>>>,
    /// `DIR/secrets`, where the secrets outputs name are read (none: a named secret does not
    /// start its output).
    secrets: Option<PathBuf>,
}

/// Why a Kafka or Redis output did not start.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Kafka(#[from] KafkaOutputError),
    #[error(transparent)]
    Redis(#[from] UrlError),
}

/// The lines of outputs that could not start, and each as an output that answers 503.
struct Problems(Vec<String>);

impl Problems {
    fn not_started(&mut self, output: String, reason: String) -> Arc<dyn Output> {
        self.0.push(format!("{output}: {reason}"));
        Arc::new(NotStarted { output, reason })
    }
}

impl Outputs {
    pub fn new() -> Outputs {
        Outputs::default()
    }

    /// Outputs whose named secrets are the files of `dir` (`DIR/secrets`).
    pub fn with_secrets(dir: PathBuf) -> Outputs {
        Outputs {
            secrets: Some(dir),
            ..Outputs::default()
        }
    }

    /// Set up the outputs of `set` (a reload). Returns one line per output that could not
    /// start (its subscription's batches are answered 503 until it is fixed).
    pub fn configure(&self, set: &SubscriptionSet) -> Vec<String> {
        let mut problems = Problems(Vec::new());
        let mut previous = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        let mut clusters: HashMap<String, Arc<KafkaCluster>> = HashMap::new();
        let mut by_subscription = HashMap::new();
        for subscription in &set.subscriptions {
            let mut outputs = Vec::new();
            for (position, config) in subscription.outputs.iter().enumerate() {
                let label = output_label(&subscription.outputs, position);
                let output: Arc<dyn Output> = match config {
                    OutputConfig::File { path, format } => Arc::new(FileOutput::new(
                        Arc::clone(&self.files),
                        path.clone(),
                        *format,
                    )),
                    OutputConfig::Kafka(kafka) => {
                        let started = self.kafka(kafka, &previous, &mut clusters);
                        match started {
                            Ok(output) => output,
                            Err(reason) => {
                                let output = format!(
                                    "kafka output of {} (brokers {})",
                                    subscription.name,
                                    kafka.brokers.join(",")
                                );
                                problems.not_started(output, reason.to_string())
                            }
                        }
                    }
                    OutputConfig::Tcp(tcp) => match TcpOutput::start(tcp) {
                        Ok(output) => Arc::new(output),
                        Err(reason) => {
                            let output =
                                format!("tcp output of {} ({})", subscription.name, tcp.address);
                            problems.not_started(output, reason.to_string())
                        }
                    },
                    OutputConfig::Redis(redis) => match self.redis(redis) {
                        Ok(output) => Arc::new(output),
                        Err(reason) => {
                            let output = format!("redis output of {}", subscription.name);
                            problems.not_started(output, reason.to_string())
                        }
                    },
                    OutputConfig::Journal(journal) => Arc::new(JournalOutput::new(journal)),
                };
                outputs.push(Budgeted::new(output, label));
            }
            by_subscription.insert(subscription.name.clone(), Arc::new(outputs));
        }
        *previous = clusters;
        *self
            .by_subscription
            .write()
            .unwrap_or_else(|p| p.into_inner()) = by_subscription;
        problems.0
    }

    /// A Kafka output on the producer of its cluster: one kept from before or made now (its
    /// secrets read first), or why not.
    fn kafka(
        &self,
        kafka: &KafkaConfig,
        previous: &HashMap<String, Arc<KafkaCluster>>,
        clusters: &mut HashMap<String, Arc<KafkaCluster>>,
    ) -> Result<Arc<dyn Output>, StartError> {
        let secrets = kafka
            .secrets
            .iter()
            .map(|(property, name)| Ok((property.clone(), self.secret(name)?)))
            .collect::<Result<Vec<_>, SecretError>>()?;
        let key = crate::kafka::cluster_key(kafka, &secrets);
        let cluster = match clusters.get(&key).or_else(|| previous.get(&key)) {
            Some(cluster) => Arc::clone(cluster),
            None => Arc::new(KafkaCluster::start(kafka, &secrets)?),
        };
        clusters.insert(key, Arc::clone(&cluster));
        Ok(Arc::new(KafkaOutput::new(cluster, kafka)))
    }

    /// A Redis output with the password its `password_secret` names, or why not.
    fn redis(&self, redis: &RedisConfig) -> Result<RedisOutput, StartError> {
        let password = match &redis.password_secret {
            Some(name) => Some(self.secret(name)?),
            None => None,
        };
        Ok(RedisOutput::start(redis, password)?)
    }

    fn secret(&self, name: &str) -> Result<String, SecretError> {
        read_secret(self.secrets.as_deref(), name)
    }

    /// Close the open files (SIGHUP: rotated files are created anew).
    pub fn reopen(&self) {
        self.files.reopen();
    }

    /// Shutdown: every Kafka producer hands back what it holds ([`KafkaCluster::stop`]), so
    /// no batch waits on a broker past the stop. Returns how many messages were handed back.
    pub fn stop(&self) -> usize {
        let clusters = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        clusters.values().map(|cluster| cluster.stop()).sum()
    }

    /// Store `batch` in every output of its subscription, one after the other; Ok only when
    /// each has it durably (the rule for acknowledging).
    pub fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        self.write_observed(batch, &mut |_, _, _| {})
    }

    /// [`Outputs::write`], telling `observe` each output's label (see [`output_label`]), the
    /// time it took and whether it stored the batch: the per-output metrics. An output after
    /// one that failed is not tried (the batch is answered 503 anyway).
    pub fn write_observed(
        &self,
        batch: &Batch<'_>,
        observe: &mut dyn FnMut(&str, Duration, bool),
    ) -> Result<(), OutputError> {
        if batch.events.is_empty() {
            return Ok(());
        }
        let outputs = self
            .by_subscription
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(batch.subscription)
            .cloned();
        for output in outputs.iter().flat_map(|o| o.iter()) {
            let started = Instant::now();
            let result = output.write(batch);
            observe(&output.label, started.elapsed(), result.is_ok());
            result?;
        }
        Ok(())
    }
}

/// The metrics' name of the output at `position` of `outputs`: its type (`file`, `kafka`,
/// `tcp`, `redis`, `journal`), with `-2`, `-3`, ... for the second and later of that type in
/// the subscription. From the configuration only, so the label set stays small and never
/// carries a path or a secret.
pub fn output_label(outputs: &[OutputConfig], position: usize) -> String {
    let kind = outputs[position].kind();
    let nth = outputs[..position]
        .iter()
        .filter(|o| o.kind() == kind)
        .count();
    if nth == 0 {
        kind.to_owned()
    } else {
        format!("{kind}-{}", nth + 1)
    }
}
