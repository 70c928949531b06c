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
//!
//! Kafka: its librdkafka properties by an allow list. Why an allow list rather than
//! librdkafka's whole configuration: its free-form properties load code (`plugin.library.paths`,
//! `ssl.engine.location`), run commands (`sasl.kerberos.kinit.cmd`), read any file as the
//! collector's user and reach addresses no one declared (`sasl.oauthbearer.token.endpoint.url`).
//! A subscription, from a file or from a shared store's row, may set only the TLS, SASL,
//! batching, compression and timing properties listed here; everything else is refused before
//! a producer is made.
//!
//! The producer (`producer.rs`) is librdkafka, built with the crate's `kafka` feature (on by
//! default, in packages and release builds). Without it the settings are still parsed, and a
//! Kafka output is refused by its check ([`OutputSettingError::NotBuilt`]) before anything
//! starts.

#[cfg(feature = "kafka")]
mod producer;
#[cfg(feature = "kafka")]
pub use producer::{
    client_config, KafkaCluster, KafkaClusters, KafkaOutput, KafkaOutputError, CLIENT_ID,
};
#[cfg(not(feature = "kafka"))]
mod absent;
#[cfg(not(feature = "kafka"))]
pub use absent::{KafkaClusters, KafkaOutputError};

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::file::client_path_part;
use super::settings::host_and_port;
use super::settings::{check_host_port, check_range, raw_format, valid_name};
use super::{OutputFormat, OutputSettingError, OutputType};
use super::{StartEnv, Started};
use crate::output_policy::{OutputsPolicy, PolicyError};
use crate::secrets::{Destination, SecretError};

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

/// The topic of `template` for this client and subscription.
pub fn expand_topic(template: &str, client: &str, subscription: &str) -> String {
    template
        .replace("{client}", &client_path_part(client))
        .replace("{subscription}", subscription)
}

/// A Kafka output: the cluster (brokers and producer settings: subscriptions with equal ones
/// share one producer) and the topic and format of this subscription's messages.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port` of the bootstrap brokers.
    pub brokers: Vec<String>,
    /// Topic name, a template of `{subscription}` and `{client}`.
    pub topic: String,
    #[serde(default = "raw_format")]
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

impl KafkaConfig {
    /// Where the producer sends its secrets: every bootstrap broker, in TLS when
    /// `security.protocol` is `SSL` or `SASL_SSL` (librdkafka's default is plaintext).
    fn brokers_of_secrets(&self) -> Vec<Destination> {
        let tls =
            self.properties.0.get("security.protocol").is_some_and(|p| {
                p.eq_ignore_ascii_case("ssl") || p.eq_ignore_ascii_case("sasl_ssl")
            });
        self.brokers
            .iter()
            .map(|broker| {
                // Brokers are checked `host:port`s; one that is not matches no binding.
                let (host, port) = host_and_port(broker).unwrap_or((broker.as_str(), 0));
                Destination {
                    kind: "kafka",
                    host: host.to_owned(),
                    port,
                    tls,
                }
            })
            .collect()
    }
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

/// Why a Kafka output did not start.
#[derive(Debug, thiserror::Error)]
pub enum KafkaStartError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Kafka(#[from] KafkaOutputError),
}

impl OutputType for KafkaConfig {
    const KIND: &'static str = "kafka";
    type Pool = KafkaClusters;
    type StartError = KafkaStartError;

    fn needs_tree(&self) -> bool {
        self.format != OutputFormat::Raw
    }

    /// Why a Kafka output's settings are refused.
    fn check(&self) -> Result<(), OutputSettingError> {
        if !cfg!(feature = "kafka") {
            return Err(OutputSettingError::NotBuilt(Self::KIND));
        }
        if self.brokers.is_empty() {
            return Err(OutputSettingError::NoBrokers);
        }
        for broker in &self.brokers {
            check_host_port("kafka output: broker", broker)?;
        }
        check_topic_template(&self.topic).map_err(|e| OutputSettingError::Setting {
            kind: "kafka",
            source: Box::new(e),
        })?;
        check_range(
            "kafka output: message_timeout_ms",
            self.message_timeout_ms,
            1_000..=3_600_000,
        )?;
        check_range(
            "kafka output: queue_max_messages",
            self.queue_max_messages,
            1..=10_000_000,
        )?;
        check_range(
            "kafka output: queue_max_kbytes",
            self.queue_max_kbytes,
            1..=2_097_151,
        )?;
        for key in self.properties.0.keys() {
            check_property(key)?;
        }
        for (key, name) in &self.secrets {
            if !KAFKA_SECRET_PROPERTIES.contains(&key.as_str()) {
                return Err(OutputSettingError::NotASecretProperty(key.clone()));
            }
            if self.properties.0.contains_key(key) {
                return Err(OutputSettingError::SecretTwice(key.clone()));
            }
            if !valid_name(name) {
                return Err(OutputSettingError::SecretName(name.clone()));
            }
        }
        Ok(())
    }

    fn admit(&self, policy: &OutputsPolicy) -> Result<(), PolicyError> {
        for broker in &self.brokers {
            policy.destination("kafka", broker)?;
        }
        for (key, value) in &self.properties.0 {
            if KAFKA_SECRET_PROPERTIES.contains(&key.as_str()) {
                return Err(PolicyError::LiteralSecret("a kafka property"));
            }
            if KAFKA_FILE_PROPERTIES.contains(&key.as_str()) {
                policy.tls_file(&format!("kafka output: {key}"), value)?;
            }
        }
        Ok(())
    }

    fn secret_destinations(&self) -> Vec<(String, Vec<Destination>)> {
        let to = self.brokers_of_secrets();
        self.secrets
            .values()
            .map(|name| (name.clone(), to.clone()))
            .collect()
    }

    fn summary(&self) -> String {
        format!(
            "kafka topic {} at {} ({:?})",
            self.topic,
            self.brokers.join(","),
            self.format
        )
    }

    fn describe(&self, subscription: &str) -> String {
        format!(
            "kafka output of {subscription} (brokers {})",
            self.brokers.join(",")
        )
    }

    /// On the producer of its cluster: one kept from before or made now (its secrets read
    /// first).
    fn start(
        &self,
        pool: &Arc<KafkaClusters>,
        env: &StartEnv<'_>,
    ) -> Result<Started, KafkaStartError> {
        let to = self.brokers_of_secrets();
        let secrets = self
            .secrets
            .iter()
            .map(|(property, name)| Ok((property.clone(), env.secret_for_all(name, &to)?)))
            .collect::<Result<Vec<_>, SecretError>>()?;
        pool.output(self, &secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> KafkaConfig {
        KafkaConfig {
            brokers: vec!["k1.example.com:9092".into()],
            topic: "wec-{subscription}".into(),
            format: OutputFormat::Raw,
            message_timeout_ms: default_message_timeout(),
            queue_max_messages: default_queue_messages(),
            queue_max_kbytes: default_queue_kbytes(),
            properties: KafkaProperties::default(),
            secrets: BTreeMap::new(),
        }
    }

    /// The same settings pass the check in a build with the producer and are refused, naming
    /// the feature and how to get it, in one without (`cargo test -p wsman-outputs
    /// --no-default-features`, a stage of the test command).
    #[test]
    fn a_kafka_output_is_refused_by_its_check_only_where_the_producer_was_left_out() {
        let checked = settings().check();
        if cfg!(feature = "kafka") {
            assert!(checked.is_ok(), "{checked:?}");
        } else {
            let error = checked.expect_err("a build without librdkafka accepted a Kafka output");
            assert!(matches!(error, OutputSettingError::NotBuilt("kafka")));
            let text = error.to_string();
            assert!(
                text.contains("`kafka`") && text.contains("WSMAND_KAFKA=1"),
                "{text}"
            );
        }
    }
}
