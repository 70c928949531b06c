//! The producer behind the Kafka output (librdkafka): built with the `kafka` feature only, so
//! that a build without it (`scripts/start.sh`'s local build) compiles no librdkafka.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};
use rdkafka::ClientContext;

use super::{cluster_key, expand_topic, KafkaConfig, KafkaSecrets, KafkaStartError};
use crate::file::render;
use crate::{Batch, Output, OutputError, OutputFormat, Pool, Started};

/// What the producer is identified as to the brokers.
pub const CLIENT_ID: &str = "wsmand-collector";
/// Time allowed beyond `message.timeout.ms` for the last delivery report to arrive; librdkafka
/// reports every message within its timeout, so this only guards against a stuck producer.
const REPORT_GRACE: Duration = Duration::from_secs(5);

/// Why a producer did not start or a batch was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum KafkaOutputError {
    #[error("cannot create the producer: {0}")]
    Create(#[source] KafkaError),
    #[error("{0} delivery report(s) missing after the timeout")]
    ReportsMissing(usize),
    /// The first failed delivery report of the batch.
    #[error("{0}")]
    Delivery(#[source] KafkaError),
    #[error("the collector is stopping: the batch is handed back")]
    Stopping,
}

/// Who is waiting for the delivery reports of one batch.
struct BatchWait {
    state: Mutex<(usize, Option<KafkaError>)>,
    done: Condvar,
}

impl BatchWait {
    fn new(messages: usize) -> BatchWait {
        BatchWait {
            state: Mutex::new((messages, None)),
            done: Condvar::new(),
        }
    }

    /// `count` reports arrived (or will never come), with the first error if any.
    fn reported(&self, count: usize, error: Option<KafkaError>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 = state.0.saturating_sub(count);
        if state.1.is_none() {
            state.1 = error;
        }
        if state.0 == 0 {
            self.done.notify_all();
        }
    }

    /// Wait for every report until `deadline`: Ok when all arrived without error.
    fn wait(&self, deadline: Instant) -> Result<(), KafkaOutputError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while state.0 > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(KafkaOutputError::ReportsMissing(state.0));
            }
            state = self
                .done
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        match state.1.take() {
            Some(error) => Err(KafkaOutputError::Delivery(error)),
            None => Ok(()),
        }
    }
}

/// Hands delivery reports to the batch that waits for them, and librdkafka's log to ours.
struct Reports {
    cluster: String,
}

impl ClientContext for Reports {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(cluster = %self.cluster, facility, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(cluster = %self.cluster, facility, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(cluster = %self.cluster, facility, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(cluster = %self.cluster, facility, "librdkafka: {message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(cluster = %self.cluster, %error, "kafka: {reason}");
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = Arc<BatchWait>;

    fn delivery(&self, result: &DeliveryResult<'_>, wait: Arc<BatchWait>) {
        wait.reported(1, result.as_ref().err().map(|(e, _)| e.clone()));
    }
}

/// librdkafka's settings for a cluster: ours (the delivery guarantee), then the configured
/// properties (each on the allow list below) and the secrets read for it.
pub fn client_config(config: &KafkaConfig, secrets: &KafkaSecrets) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", config.brokers.join(","))
        .set("client.id", CLIENT_ID)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", config.message_timeout_ms.to_string())
        .set(
            "queue.buffering.max.messages",
            config.queue_max_messages.to_string(),
        )
        .set(
            "queue.buffering.max.kbytes",
            config.queue_max_kbytes.to_string(),
        );
    for (name, value) in config
        .properties
        .0
        .iter()
        .chain(secrets.iter().map(|(n, v)| (n, v)))
    {
        client.set(name, value);
    }
    client
}

/// One producer, shared by the Kafka outputs that name the same cluster and settings.
pub struct KafkaCluster {
    producer: ThreadedProducer<Reports>,
    brokers: String,
    report_timeout: Duration,
    /// Set by [`KafkaCluster::stop`]: no batch is taken any more.
    stopping: AtomicBool,
}

impl KafkaCluster {
    /// Create the producer (it connects in the background). An error names the property
    /// librdkafka refused, never its value.
    pub fn start(
        config: &KafkaConfig,
        secrets: &KafkaSecrets,
    ) -> Result<KafkaCluster, KafkaOutputError> {
        let brokers = config.brokers.join(",");
        let producer = client_config(config, secrets)
            .create_with_context(Reports {
                cluster: brokers.clone(),
            })
            .map_err(KafkaOutputError::Create)?;
        tracing::info!(brokers = %brokers, "kafka producer started");
        Ok(KafkaCluster {
            producer,
            brokers,
            report_timeout: Duration::from_millis(config.message_timeout_ms.into()) + REPORT_GRACE,
            stopping: AtomicBool::new(false),
        })
    }

    /// Shutdown: take no more batches and hand back every message queued or in flight (their
    /// delivery reports fail at once, so the batches waiting for them are answered 503 and
    /// resent), rather than wait up to `message.timeout.ms` for a broker that may not answer.
    /// Returns how many messages were handed back.
    pub fn stop(&self) -> usize {
        // Before the purge: a batch queued after it sees the flag and purges itself.
        self.stopping.store(true, Ordering::SeqCst);
        let held = usize::try_from(self.producer.in_flight_count()).unwrap_or(0);
        self.purge();
        if held > 0 {
            tracing::warn!(brokers = %self.brokers, messages = held, "kafka producer stopping: queued and in-flight messages handed back (their batches are answered 503 and resent)");
        }
        held
    }

    fn purge(&self) {
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// One `[[outputs]] type = "kafka"` of a subscription.
pub struct KafkaOutput {
    cluster: Arc<KafkaCluster>,
    topic: String,
    format: OutputFormat,
}

impl KafkaOutput {
    pub fn new(cluster: Arc<KafkaCluster>, config: &KafkaConfig) -> KafkaOutput {
        KafkaOutput {
            cluster,
            topic: config.topic.clone(),
            format: config.format,
        }
    }
}

impl Output for KafkaOutput {
    fn describe(&self) -> String {
        format!(
            "kafka output {} (brokers {})",
            self.topic, self.cluster.brokers
        )
    }

    fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        let topic = expand_topic(&self.topic, batch.client, batch.subscription);
        let deadline = Instant::now() + self.cluster.report_timeout;
        let count = batch.events.len();
        let stopping = || OutputError::Kafka {
            topic: topic.clone(),
            reason: KafkaOutputError::Stopping.to_string(),
        };
        if self.cluster.stopping() {
            return Err(stopping());
        }
        let wait = Arc::new(BatchWait::new(count));
        for (sent, event) in batch.events.iter().enumerate() {
            let payload = render(event, self.format, batch);
            let record = BaseRecord::with_opaque_to(&topic, Arc::clone(&wait))
                .key(batch.client)
                .payload(&payload);
            if let Err((error, _)) = self.cluster.producer.send(record) {
                // Queue full (the bound) or a refused message: answered at once. The ones
                // already queued may still be delivered, and the resend delivers them again
                // (at least once, still in order per host).
                return Err(OutputError::Kafka {
                    topic,
                    reason: format!("message {} of {count} not queued: {error}", sent + 1),
                });
            }
        }
        if self.cluster.stopping() {
            // Stopped while this batch was queued: its messages are handed back too.
            self.cluster.purge();
        }
        wait.wait(deadline).map_err(|reason| OutputError::Kafka {
            topic: topic.clone(),
            reason: reason.to_string(),
        })
    }
}

/// The producers of the Kafka outputs, one per cluster, kept across reloads: a cluster whose
/// settings did not change keeps its producer.
#[derive(Default)]
pub struct KafkaClusters {
    /// The producers of the last reload.
    live: Mutex<HashMap<String, Arc<KafkaCluster>>>,
    /// The producers of the reload under way (kept or new).
    next: Mutex<HashMap<String, Arc<KafkaCluster>>>,
}

impl KafkaClusters {
    /// A Kafka output on the producer of its cluster: one kept from before or made now.
    pub(super) fn output(
        &self,
        config: &KafkaConfig,
        secrets: &KafkaSecrets,
    ) -> Result<Started, KafkaStartError> {
        let key = cluster_key(config, secrets);
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let kept = next.get(&key).cloned().or_else(|| {
            let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            live.get(&key).cloned()
        });
        let cluster = match kept {
            Some(cluster) => cluster,
            None => Arc::new(KafkaCluster::start(config, secrets)?),
        };
        next.insert(key, Arc::clone(&cluster));
        Ok(Some(Arc::new(KafkaOutput::new(cluster, config))))
    }
}

impl Pool for KafkaClusters {
    fn reloaded(&self) {
        let next = std::mem::take(&mut *self.next.lock().unwrap_or_else(|p| p.into_inner()));
        *self.live.lock().unwrap_or_else(|p| p.into_inner()) = next;
    }

    /// Every producer hands back what it holds ([`KafkaCluster::stop`]), so no batch waits on a
    /// broker past the stop.
    fn stop(&self) -> usize {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.values().map(|cluster| cluster.stop()).sum()
    }
}
