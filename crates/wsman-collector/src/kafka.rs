//! The Kafka output: each event one message, keyed by the sending host so that each host's
//! events stay in order (one partition per key, an idempotent producer), with `acks=all`; a
//! batch is durable when the delivery report of every one of its messages arrived without
//! error. A failed or late report answers the forwarder 503 and it resends (at least once).
//!
//! Why one producer per cluster: a producer holds connections to every broker and a queue;
//! subscriptions that name the same brokers and settings share it, so a collector with many
//! subscriptions keeps one set of connections. The producer's queue is bounded
//! (`queue.buffering.max.messages` / `kbytes`): a batch that does not fit is answered 503.
//!
//! At shutdown ([`KafkaCluster::stop`]) the producer hands back what it holds instead of waiting
//! for `message.timeout.ms`: every queued and in-flight message is purged, so each batch waiting
//! for its reports is answered 503 at once and the forwarder resends it to a collector that is
//! up (at least once, as after any failed report).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};
use rdkafka::ClientContext;

use crate::output::{client_path_part, render};
use crate::outputs::{Batch, Output, OutputError};
use crate::subscriptions::{KafkaConfig, OutputFormat};

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

/// A Kafka output's secret properties as read from their files: (property, value).
pub type KafkaSecrets = [(String, String)];

/// The settings that make two Kafka outputs share a producer (kept in memory only: it holds
/// the properties' and the secrets' values, so a changed secret file makes a new producer).
pub fn cluster_key(config: &KafkaConfig, secrets: &KafkaSecrets) -> String {
    let mut key = format!(
        "{}\0{}\0{}\0{}",
        config.brokers.join(","),
        config.message_timeout_ms,
        config.queue_max_messages,
        config.queue_max_kbytes
    );
    for (name, value) in config
        .properties
        .0
        .iter()
        .chain(secrets.iter().map(|(n, v)| (n, v)))
    {
        key.push('\0');
        key.push_str(name);
        key.push('=');
        key.push_str(value);
    }
    key
}

/// librdkafka's settings for a cluster: ours (the delivery guarantee), then the configured
/// properties (each on the allow list, `crate::output_settings`) and the secrets read for it.
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

/// The topic of `template` for this client and subscription.
pub fn expand_topic(template: &str, client: &str, subscription: &str) -> String {
    template
        .replace("{client}", &client_path_part(client))
        .replace("{subscription}", subscription)
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
