//! A Kafka output's settings and their checks: the brokers, the topic, the delivery bounds,
//! and the librdkafka properties a subscription may add.
//!
//! Why an allow list rather than librdkafka's whole configuration: its free-form properties
//! load code (`plugin.library.paths`, `ssl.engine.location`), run commands
//! (`sasl.kerberos.kinit.cmd`), read any file as the collector's user and reach addresses no one
//! declared (`sasl.oauthbearer.token.endpoint.url`). A subscription, from a file or from a
//! shared store's row, may set only the TLS, SASL, batching, compression and timing properties
//! listed here; everything else is refused before a producer is made.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::subscriptions::{
    check_host_port, check_range, valid_name, OutputFormat, OutputSettingError,
};

/// A Kafka output: the cluster (brokers and producer settings: subscriptions with equal ones
/// share one producer) and the topic and format of this subscription's messages.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port` of the bootstrap brokers.
    pub brokers: Vec<String>,
    /// Topic name, a template of `{subscription}` and `{client}`.
    pub topic: String,
    #[serde(default = "crate::subscriptions::raw_format")]
    pub format: OutputFormat,
    /// How long librdkafka keeps trying to deliver a message before it reports a failure
    /// (`message.timeout.ms`); the forwarder is then answered 503 and resends.
    #[serde(default = "default_message_timeout")]
    pub message_timeout_ms: u32,
    /// The producer's queue bound (`queue.buffering.max.messages`): a batch that does not
    /// fit is answered 503, never queued without bound.
    #[serde(default = "default_queue_messages")]
    pub queue_max_messages: u32,
    /// The producer's queue bound in KiB (`queue.buffering.max.kbytes`).
    #[serde(default = "default_queue_kbytes")]
    pub queue_max_kbytes: u32,
    /// More librdkafka producer properties (TLS, SASL, `linger.ms`, compression), each one of
    /// [`KAFKA_ALLOWED_PROPERTIES`], [`KAFKA_FILE_PROPERTIES`] or (in root's own files only)
    /// [`KAFKA_SECRET_PROPERTIES`]; never logged.
    #[serde(default)]
    pub properties: KafkaProperties,
    /// Secret properties (`sasl.password`, `ssl.key.password`) by the name of a node-local
    /// secret file, `DIR/secrets/NAME`, read when the producer starts: the password itself is
    /// never in the subscription's text (nor in a shared store's row).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

/// librdkafka properties of a Kafka output. Its `Debug` names the keys only: the values of
/// `sasl.password` or `ssl.key.password` must never reach a log.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct KafkaProperties(pub std::collections::BTreeMap<String, String>);

impl std::fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Properties the collector sets itself: the delivery guarantee rests on them.
pub const KAFKA_FIXED_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
];

/// librdkafka properties a subscription may set: TLS and SASL choices, batching, compression,
/// timeouts and retries. Nothing here loads code, runs a command, reads a file or names an
/// address.
pub const KAFKA_ALLOWED_PROPERTIES: &[&str] = &[
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.kerberos.service.name",
    "sasl.kerberos.principal",
    "ssl.cipher.suites",
    "ssl.curves.list",
    "ssl.sigalgs.list",
    "linger.ms",
    "queue.buffering.max.ms",
    "batch.num.messages",
    "batch.size",
    "compression.type",
    "compression.codec",
    "compression.level",
    "message.max.bytes",
    "socket.timeout.ms",
    "socket.keepalive.enable",
    "socket.connection.setup.timeout.ms",
    "request.timeout.ms",
    "retries",
    "message.send.max.retries",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "connections.max.idle.ms",
    "max.in.flight.requests.per.connection",
    "max.in.flight",
    "topic.metadata.refresh.interval.ms",
    "metadata.max.age.ms",
    "broker.address.family",
    "partitioner",
    "client.rack",
];

/// librdkafka properties that name a file it reads (PEM certificates, keys, a CRL): allowed,
/// and in a shared store's row only under the node's `tls_directories`
/// ([`crate::output_policy`]).
pub const KAFKA_FILE_PROPERTIES: &[&str] = &[
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.crl.location",
];

/// librdkafka properties that hold a secret: named in `secrets` (a node-local file), or written
/// in `properties` only in root's own subscription files, never in a shared store's row.
pub const KAFKA_SECRET_PROPERTIES: &[&str] = &["sasl.password", "ssl.key.password"];

/// The longest Kafka topic name.
pub const MAX_TOPIC_LENGTH: usize = 249;

/// Why a topic template cannot name a Kafka topic.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("topic {0:?}: 1 to {MAX_TOPIC_LENGTH} characters (with {{subscription}} at most 64 and {{client}} at most 128)")]
    Length(String),
    #[error("topic {template:?}: {bad:?} is not allowed in a Kafka topic (A-Z a-z 0-9 . _ -; placeholders {{subscription}} and {{client}})")]
    Character { template: String, bad: char },
    #[error("topic {0:?} is not a topic name")]
    NotAName(String),
}

fn default_message_timeout() -> u32 {
    30_000
}
fn default_queue_messages() -> u32 {
    100_000
}
fn default_queue_kbytes() -> u32 {
    64 * 1024
}

/// Why a topic template cannot name a Kafka topic (`{subscription}` and `{client}` expand to
/// `A-Z a-z 0-9 . _ -`, the characters Kafka allows).
pub fn check_topic_template(template: &str) -> Result<(), TopicError> {
    let literal = template
        .replace("{subscription}", "s")
        .replace("{client}", "c");
    // The longest expansion: a subscription name has at most 64 characters, a client's part
    // at most 128.
    let longest = template
        .replace("{subscription}", &"s".repeat(64))
        .replace("{client}", &"c".repeat(128));
    if literal.is_empty() || longest.len() > MAX_TOPIC_LENGTH {
        return Err(TopicError::Length(template.to_owned()));
    }
    if let Some(bad) = literal
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(TopicError::Character {
            template: template.to_owned(),
            bad,
        });
    }
    if literal == "." || literal == ".." {
        return Err(TopicError::NotAName(template.to_owned()));
    }
    Ok(())
}

/// Why a Kafka output's settings are refused.
pub fn check_kafka(config: &KafkaConfig) -> Result<(), OutputSettingError> {
    if config.brokers.is_empty() {
        return Err(OutputSettingError::NoBrokers);
    }
    for broker in &config.brokers {
        check_host_port("kafka output: broker", broker)?;
    }
    check_topic_template(&config.topic)?;
    check_range(
        "kafka output: message_timeout_ms",
        config.message_timeout_ms,
        1_000..=3_600_000,
    )?;
    check_range(
        "kafka output: queue_max_messages",
        config.queue_max_messages,
        1..=10_000_000,
    )?;
    check_range(
        "kafka output: queue_max_kbytes",
        config.queue_max_kbytes,
        1..=2_097_151,
    )?;
    for key in config.properties.0.keys() {
        check_property(key)?;
    }
    for (key, name) in &config.secrets {
        if !KAFKA_SECRET_PROPERTIES.contains(&key.as_str()) {
            return Err(OutputSettingError::NotASecretProperty(key.clone()));
        }
        if config.properties.0.contains_key(key) {
            return Err(OutputSettingError::SecretTwice(key.clone()));
        }
        if !valid_name(name) {
            return Err(OutputSettingError::SecretName(name.clone()));
        }
    }
    Ok(())
}

/// Why the librdkafka property `key` may not be set by a subscription.
pub fn check_property(key: &str) -> Result<(), OutputSettingError> {
    if KAFKA_FIXED_PROPERTIES.contains(&key) {
        return Err(OutputSettingError::FixedProperty(key.to_owned()));
    }
    if !(KAFKA_ALLOWED_PROPERTIES.contains(&key)
        || KAFKA_FILE_PROPERTIES.contains(&key)
        || KAFKA_SECRET_PROPERTIES.contains(&key))
    {
        return Err(OutputSettingError::PropertyNotAllowed(key.to_owned()));
    }
    Ok(())
}
