//! The outputs a subscription names (`[[outputs]]`: file, Kafka, TCP, Redis, journal), their
//! settings and the checks every subscription's outputs pass, from a file or a shared store.
//!
//! Kafka: its librdkafka properties by an allow list. Why an allow list rather than
//! librdkafka's whole configuration: its free-form properties load code (`plugin.library.paths`,
//! `ssl.engine.location`), run commands (`sasl.kerberos.kinit.cmd`), read any file as the
//! collector's user and reach addresses no one declared (`sasl.oauthbearer.token.endpoint.url`).
//! A subscription, from a file or from a shared store's row, may set only the TLS, SASL,
//! batching, compression and timing properties listed here; everything else is refused before
//! a producer is made.

use std::collections::BTreeMap;

use serde::Deserialize;

/// How an output writes events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Each event's XML, one per line.
    Raw,
    /// Each event as a JSON object, one per line.
    Json,
    /// The JSON object with the event's XML as it came (`xml`) next to its tree: for readers
    /// that index the JSON and still want the original record.
    #[serde(rename = "raw+json")]
    RawJson,
}

/// Where a subscription's events go.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum OutputConfig {
    /// Append to a file whose path is a template of `{client}` and `{subscription}`.
    File { path: String, format: OutputFormat },
    /// Produce each event as one message to a Kafka topic, keyed by the sending host.
    Kafka(KafkaConfig),
    /// Newline-delimited records over TCP, optionally in TLS.
    Tcp(TcpConfig),
    /// RPUSH to a list or XADD to a stream of a Redis server.
    Redis(RedisConfig),
    /// Structured entries in the local systemd journal (the analogue of ForwardedEvents).
    Journal(JournalConfig),
}

impl OutputConfig {
    /// The output's type as configured (`file`, `kafka`, ...): the metrics' `output` label.
    pub fn kind(&self) -> &'static str {
        match self {
            OutputConfig::File { .. } => "file",
            OutputConfig::Kafka(_) => "kafka",
            OutputConfig::Tcp(_) => "tcp",
            OutputConfig::Redis(_) => "redis",
            OutputConfig::Journal(_) => "journal",
        }
    }

    /// Whether this output reads each event's tree (a JSON record, a journal entry's fields)
    /// rather than writing its text as it came.
    pub fn needs_tree(&self) -> bool {
        let format = match self {
            OutputConfig::File { format, .. } => format,
            OutputConfig::Kafka(kafka) => &kafka.format,
            OutputConfig::Tcp(tcp) => &tcp.format,
            OutputConfig::Redis(redis) => &redis.format,
            OutputConfig::Journal(_) => return true,
        };
        *format != OutputFormat::Raw
    }
}

/// A TCP output: one connection, each event one line (`format`), reconnected with a bounded
/// backoff after a failure.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpConfig {
    /// `host:port` of the receiver.
    pub address: String,
    #[serde(default = "raw_format")]
    pub format: OutputFormat,
    /// Speak TLS (rustls; TLS 1.2 and 1.3) to the receiver.
    #[serde(default)]
    pub tls: bool,
    /// PEM file of the CA certificates that may issue the receiver's certificate (default:
    /// the Mozilla roots compiled in).
    pub ca_file: Option<String>,
    /// PEM file of our client certificate chain, for receivers that want one.
    pub client_certificate: Option<String>,
    /// PEM file of the client certificate's private key (read at start, never logged).
    pub client_key: Option<String>,
    /// The name the receiver's certificate must carry (default: the host of `address`).
    pub server_name: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u32,
    /// A write (or TLS handshake) that takes longer fails the batch (503).
    #[serde(default = "default_io_timeout")]
    pub write_timeout_ms: u32,
    /// Longest wait between reconnection attempts (it doubles from 100 ms up to this).
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u32,
}

/// Where a Redis output writes: a list (RPUSH) or a stream (XADD).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    List,
    Stream,
}

/// A Redis output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[[user]:password@]host[:port][/db]`; its password is never shown.
    pub url: RedisUrl,
    /// The password by the name of a node-local secret file (`DIR/secrets/NAME`), read when
    /// the output starts; the URL then holds none.
    pub password_secret: Option<String>,
    /// List or stream key, a template of `{subscription}` and `{client}`.
    pub key: String,
    #[serde(default = "list_mode")]
    pub mode: RedisMode,
    #[serde(default = "raw_format")]
    pub format: OutputFormat,
    /// After each batch, `WAIT` until this many replicas have it (0: the primary's reply is
    /// enough).
    #[serde(default)]
    pub wait_replicas: u32,
    #[serde(default = "default_wait_timeout")]
    pub wait_timeout_ms: u32,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u32,
    /// A reply that takes longer fails the batch (503).
    #[serde(default = "default_io_timeout")]
    pub reply_timeout_ms: u32,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u32,
}

/// A Redis URL. Its `Debug` hides the password: configurations are logged.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(pub String);

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match crate::resp::Endpoint::parse(&self.0) {
            Ok(endpoint) => write!(f, "{endpoint:?}"),
            Err(_) => f.write_str("(a URL that does not parse)"),
        }
    }
}

/// A journal output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// journald's native socket.
    #[serde(default = "default_journal_socket")]
    pub socket: String,
    /// `SYSLOG_IDENTIFIER` of the entries (`journalctl -t`).
    #[serde(default = "default_syslog_identifier")]
    pub syslog_identifier: String,
    /// Also write the event's XML as `EVENT_XML`.
    #[serde(default)]
    pub event_xml: bool,
    /// A journal that takes longer to take an entry fails the batch (503).
    #[serde(default = "default_io_timeout")]
    pub send_timeout_ms: u32,
}

fn raw_format() -> OutputFormat {
    OutputFormat::Raw
}
fn list_mode() -> RedisMode {
    RedisMode::List
}
fn default_connect_timeout() -> u32 {
    5_000
}
fn default_io_timeout() -> u32 {
    10_000
}
fn default_max_backoff() -> u32 {
    30_000
}
fn default_wait_timeout() -> u32 {
    1_000
}
fn default_journal_socket() -> String {
    "/run/systemd/journal/socket".to_owned()
}
fn default_syslog_identifier() -> String {
    "wsmand-wec".to_owned()
}

/// Why an output's settings are refused (the text names the output type and the setting).
#[derive(Debug, thiserror::Error)]
pub enum OutputSettingError {
    #[error("{what} {address:?} is not host:port")]
    NotHostPort { what: &'static str, address: String },
    #[error("{what}: {} to {}", .range.start(), .range.end())]
    OutOfRange {
        what: &'static str,
        range: std::ops::RangeInclusive<u32>,
    },
    #[error("tcp output: ca_file, client_certificate, client_key and server_name need tls = true")]
    TlsSettingsWithoutTls,
    #[error("tcp output: client_certificate and client_key go together")]
    UnpairedClientKey,
    #[error("tcp output: {0:?} is not an absolute path")]
    RelativeTlsFile(String),
    #[error("redis output: {0}")]
    RedisUrl(#[from] crate::resp::UrlError),
    #[error("redis output: key {0:?}: 1 to 512 characters, one line")]
    RedisKey(String),
    #[error("redis output: reply_timeout_ms must be longer than wait_timeout_ms")]
    ReplyBeforeWait,
    #[error("redis output: a password in the URL and password_secret: one or the other")]
    RedisPasswordTwice,
    #[error("journal output: socket {0:?} is not an absolute path")]
    RelativeJournalSocket(String),
    #[error("journal output: syslog_identifier {0:?}: 1 to 64 characters, no control characters")]
    SyslogIdentifier(String),
    #[error("kafka output: no brokers")]
    NoBrokers,
    #[error("kafka output: {0}")]
    Topic(#[from] TopicError),
    #[error("kafka output: property {0:?} is set by the collector (use brokers, message_timeout_ms, queue_max_*)")]
    FixedProperty(String),
    #[error("kafka output: property {0:?} is not one a subscription may set (TLS, SASL, batching, compression and timing properties only: docs/collector.md)")]
    PropertyNotAllowed(String),
    #[error(
        "kafka output: secrets: {0:?} is not a secret property (sasl.password, ssl.key.password)"
    )]
    NotASecretProperty(String),
    #[error("kafka output: {0:?} is both in properties and in secrets")]
    SecretTwice(String),
    #[error("secret name {0:?}: 1 to 64 of A-Z a-z 0-9 . _ - (a file of DIR/secrets)")]
    SecretName(String),
}

/// Why a `host:port` is refused.
pub(crate) fn check_host_port(what: &'static str, address: &str) -> Result<(), OutputSettingError> {
    let port = address
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    if !matches!(port, Some((host, Ok(p))) if !host.is_empty() && p > 0)
        || address.contains([',', ' ', '/'])
    {
        return Err(OutputSettingError::NotHostPort {
            what,
            address: address.to_owned(),
        });
    }
    Ok(())
}

pub(crate) fn check_range(
    what: &'static str,
    value: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<(), OutputSettingError> {
    if !range.contains(&value) {
        return Err(OutputSettingError::OutOfRange { what, range });
    }
    Ok(())
}

/// Why a TCP output's settings are refused (the files are read when it starts).
pub fn check_tcp(config: &TcpConfig) -> Result<(), OutputSettingError> {
    check_host_port("tcp output: address", &config.address)?;
    if !config.tls
        && (config.ca_file.is_some()
            || config.client_certificate.is_some()
            || config.client_key.is_some()
            || config.server_name.is_some())
    {
        return Err(OutputSettingError::TlsSettingsWithoutTls);
    }
    if config.client_certificate.is_some() != config.client_key.is_some() {
        return Err(OutputSettingError::UnpairedClientKey);
    }
    for file in [
        &config.ca_file,
        &config.client_certificate,
        &config.client_key,
    ]
    .into_iter()
    .flatten()
    {
        if !file.starts_with('/') {
            return Err(OutputSettingError::RelativeTlsFile(file.clone()));
        }
    }
    check_range(
        "tcp output: connect_timeout_ms",
        config.connect_timeout_ms,
        100..=600_000,
    )?;
    check_range(
        "tcp output: write_timeout_ms",
        config.write_timeout_ms,
        100..=600_000,
    )?;
    check_range(
        "tcp output: max_backoff_ms",
        config.max_backoff_ms,
        100..=3_600_000,
    )?;
    Ok(())
}

/// Why a Redis output's settings are refused.
pub fn check_redis(config: &RedisConfig) -> Result<(), OutputSettingError> {
    let endpoint = crate::resp::Endpoint::parse(&config.url.0)?;
    if let Some(name) = &config.password_secret {
        if !valid_name(name) {
            return Err(OutputSettingError::SecretName(name.clone()));
        }
        if endpoint.password.is_some() {
            return Err(OutputSettingError::RedisPasswordTwice);
        }
    }
    let literal = config
        .key
        .replace("{subscription}", "s")
        .replace("{client}", "c");
    if literal.is_empty() || config.key.len() > 512 || config.key.contains(['\r', '\n']) {
        return Err(OutputSettingError::RedisKey(config.key.clone()));
    }
    check_range("redis output: wait_replicas", config.wait_replicas, 0..=64)?;
    check_range(
        "redis output: wait_timeout_ms",
        config.wait_timeout_ms,
        1..=600_000,
    )?;
    check_range(
        "redis output: connect_timeout_ms",
        config.connect_timeout_ms,
        100..=600_000,
    )?;
    check_range(
        "redis output: reply_timeout_ms",
        config.reply_timeout_ms,
        100..=600_000,
    )?;
    check_range(
        "redis output: max_backoff_ms",
        config.max_backoff_ms,
        100..=3_600_000,
    )?;
    if config.wait_replicas > 0 && config.reply_timeout_ms <= config.wait_timeout_ms {
        return Err(OutputSettingError::ReplyBeforeWait);
    }
    Ok(())
}

/// Why a journal output's settings are refused.
pub fn check_journal(config: &JournalConfig) -> Result<(), OutputSettingError> {
    if !config.socket.starts_with('/') {
        return Err(OutputSettingError::RelativeJournalSocket(
            config.socket.clone(),
        ));
    }
    let identifier = &config.syslog_identifier;
    if identifier.is_empty() || identifier.len() > 64 || identifier.chars().any(char::is_control) {
        return Err(OutputSettingError::SyslogIdentifier(identifier.clone()));
    }
    check_range(
        "journal output: send_timeout_ms",
        config.send_timeout_ms,
        100..=600_000,
    )?;
    Ok(())
}

/// A name usable in a file name and a path template: 1 to 64 of `A-Z a-z 0-9 . _ -`, not
/// starting with a dot.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
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
