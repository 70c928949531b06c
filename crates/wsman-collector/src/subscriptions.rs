//! Source-initiated subscriptions, one TOML file each in `DIR/subscriptions/`.
//!
//! ```toml
//! # DIR/subscriptions/security.toml (the subscription's name is the file's stem)
//! enabled = true
//! uris = ["/wsman/SubscriptionManager/WEC"]
//! query = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
//! max_items = 100
//! max_latency_seconds = 30
//! heartbeat_seconds = 3600
//! content_format = "Raw"            # or "RenderedText"
//! read_existing_events = false
//! allowed_principals = []           # empty with allowed_groups empty: every authenticated forwarder
//! allowed_groups = []
//! allowed_addresses = []            # forwarders' addresses or networks (CIDR); empty: any
//! [computers]                       # Computers a forwarder speaks for besides its own full name
//! "WEB01$@EXAMPLE.COM" = ["web01.ad.example.net"]
//! [[outputs]]
//! type = "file"
//! path = "/var/log/wec/{subscription}/{client}.log"
//! format = "raw"                    # or "json"
//! [[outputs]]
//! type = "kafka"
//! brokers = ["kafka1.example.com:9092"]
//! topic = "wec-{subscription}"
//! format = "json"
//! ```
//!
//! The TCP, Redis and journal outputs (`type = "tcp"`, `"redis"`, `"journal"`) are described
//! with their settings in `docs/collector.md`.
//!
//! Why one file per subscription: an operator (or configuration management) adds, changes and
//! removes one without touching the others, and a file that does not parse costs only its own
//! subscription (it is reported and left out; the others are served).
//!
//! Each subscription has two GUIDs: its identifier, from its name (stable: the delivery
//! address `/wsman/subscriptions/<identifier>/1` never changes), and its version, from
//! everything a forwarder sees (a forwarder subscribes again when the version it holds is no
//! longer offered, so a changed query reaches it on its next refresh).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha1::{Digest, Sha1};

pub use crate::address_range::AddressRange;
use wsman_events::{ContentFormat, QueryList};

/// Largest subscription file read.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Most subscription files read from the directory.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// The subscription manager path Windows forwarders are configured with by default.
pub const DEFAULT_URI: &str = "/wsman/SubscriptionManager/WEC";

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
    /// More librdkafka producer properties (TLS, SASL, `linger.ms`, compression): passed
    /// through as they are, never logged (they hold passwords).
    #[serde(default)]
    pub properties: KafkaProperties,
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

/// The longest Kafka topic name.
pub const MAX_TOPIC_LENGTH: usize = 249;

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
}

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

/// Why a `host:port` is refused.
fn check_host_port(what: &'static str, address: &str) -> Result<(), OutputSettingError> {
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

fn check_range(
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
    crate::resp::Endpoint::parse(&config.url.0)?;
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
        if KAFKA_FIXED_PROPERTIES.contains(&key.as_str()) {
            return Err(OutputSettingError::FixedProperty(key.clone()));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionFile {
    name: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    uris: Option<Vec<String>>,
    query: String,
    max_items: Option<u32>,
    #[serde(default = "default_latency")]
    max_latency_seconds: u64,
    #[serde(default = "default_heartbeat")]
    heartbeat_seconds: u64,
    #[serde(default = "raw")]
    content_format: String,
    #[serde(default)]
    read_existing_events: bool,
    #[serde(default)]
    allowed_principals: Vec<String>,
    #[serde(default)]
    allowed_groups: Vec<String>,
    #[serde(default)]
    allowed_addresses: Vec<String>,
    #[serde(default)]
    computers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    outputs: Vec<OutputConfig>,
}

fn yes() -> bool {
    true
}
fn default_latency() -> u64 {
    30
}
fn default_heartbeat() -> u64 {
    3600
}
fn raw() -> String {
    "Raw".to_owned()
}

/// One subscription, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    pub name: String,
    /// Stable identifier (from the name), upper-case GUID text: the delivery path's part.
    pub identifier: String,
    /// Changes with everything a forwarder sees, upper-case GUID text.
    pub version: String,
    pub enabled: bool,
    /// Subscription manager paths that offer it.
    pub uris: Vec<String>,
    /// The QueryList text as configured.
    pub query: String,
    /// The logs the query names: the only ones a forwarder's bookmark rows may be for.
    pub channels: std::collections::BTreeSet<String>,
    pub max_items: Option<u32>,
    pub max_latency: Duration,
    pub heartbeat: Duration,
    pub content_format: ContentFormat,
    pub read_existing_events: bool,
    pub allowed_principals: Vec<String>,
    pub allowed_groups: Vec<String>,
    /// The forwarder addresses (as the connection proved them: behind a trusted balancer, the
    /// PROXY header's) that may have it; empty: any.
    pub allowed_addresses: Vec<AddressRange>,
    /// The explicit map of the Computer check: a forwarder (by its client name) to the
    /// Computers it may send events for besides its own full name (`ingest::Sender`).
    pub computers: BTreeMap<String, Vec<String>>,
    pub outputs: Vec<OutputConfig>,
    /// The file it was read from.
    pub file: PathBuf,
}

/// Why a subscription file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: larger than {MAX_FILE_BYTES} bytes")]
    TooLarge(PathBuf),
    #[error("{0}: {1}")]
    Toml(PathBuf, String),
    #[error("{0}: {1}")]
    Invalid(PathBuf, String),
    #[error("{0}: {1}")]
    Output(PathBuf, OutputSettingError),
    #[error("more than {MAX_SUBSCRIPTIONS} subscription files; the rest are not read")]
    TooMany,
}

/// The subscriptions of a directory, and the files that were refused.
#[derive(Debug, Default)]
pub struct SubscriptionSet {
    pub subscriptions: Vec<Subscription>,
    pub errors: Vec<SubscriptionError>,
}

impl SubscriptionSet {
    /// The subscription with this identifier.
    pub fn by_identifier(&self, identifier: &str) -> Option<&Subscription> {
        self.subscriptions
            .iter()
            .find(|s| s.identifier.eq_ignore_ascii_case(identifier))
    }

    /// The subscription with this name.
    pub fn by_name(&self, name: &str) -> Option<&Subscription> {
        self.subscriptions.iter().find(|s| s.name == name)
    }
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

/// Read every `*.toml` of `dir` (sorted by name; a missing directory is no subscription).
pub fn load_dir(dir: &Path) -> SubscriptionSet {
    let mut set = SubscriptionSet::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return set,
        Err(e) => {
            set.errors.push(SubscriptionError::Io(dir.to_owned(), e));
            return set;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if files.len() > MAX_SUBSCRIPTIONS {
        files.truncate(MAX_SUBSCRIPTIONS);
        set.errors.push(SubscriptionError::TooMany);
    }
    for file in files {
        match load_file(&file) {
            Ok(subscription) => set.subscriptions.push(subscription),
            Err(e) => set.errors.push(e),
        }
    }
    set
}

/// Read one subscription file.
pub fn load_file(file: &Path) -> Result<Subscription, SubscriptionError> {
    use std::io::Read as _;
    let handle = std::fs::File::open(file).map_err(|e| SubscriptionError::Io(file.into(), e))?;
    let mut text = String::new();
    handle
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| SubscriptionError::Io(file.into(), e))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(SubscriptionError::TooLarge(file.into()));
    }
    parse(file, &text)
}

/// Parse the text of one subscription file named `file`.
pub fn parse(file: &Path, text: &str) -> Result<Subscription, SubscriptionError> {
    let invalid = |reason: String| SubscriptionError::Invalid(file.into(), reason);
    let raw: SubscriptionFile =
        toml::from_str(text).map_err(|e| SubscriptionError::Toml(file.into(), e.to_string()))?;
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    let name = raw.name.unwrap_or_else(|| stem.clone());
    if name != stem {
        return Err(invalid(format!(
            "name {name:?} differs from the file's name {stem:?}"
        )));
    }
    if !valid_name(&name) {
        return Err(invalid(format!(
            "{name:?} is not a subscription name (1 to 64 of A-Z a-z 0-9 . _ -)"
        )));
    }
    let channels = QueryList::parse(&raw.query)
        .map_err(|e| invalid(format!("query: {e}")))?
        .channels();
    let content_format = match raw.content_format.as_str() {
        "Raw" | "Events" => ContentFormat::Raw,
        "RenderedText" => ContentFormat::RenderedText,
        other => {
            return Err(invalid(format!(
                "content_format {other:?}: Raw or RenderedText"
            )))
        }
    };
    let uris = raw.uris.unwrap_or_else(|| vec![DEFAULT_URI.to_owned()]);
    for uri in &uris {
        if !uri.starts_with('/') || uri.contains(['?', '#', ' ']) || uri.len() > 256 {
            return Err(invalid(format!("uri {uri:?} is not an absolute path")));
        }
    }
    if raw.max_items == Some(0) {
        return Err(invalid("max_items must be at least 1".to_owned()));
    }
    if !(1..=86_400).contains(&raw.max_latency_seconds) {
        return Err(invalid("max_latency_seconds: 1 to 86400".to_owned()));
    }
    if !(1..=86_400).contains(&raw.heartbeat_seconds) {
        return Err(invalid("heartbeat_seconds: 1 to 86400".to_owned()));
    }
    if let Some(bad) =
        raw.computers.values().flatten().find(|c| {
            c.trim().is_empty() || c.contains(['*', ' ']) || c.chars().any(char::is_control)
        })
    {
        return Err(invalid(format!(
            "computers: {bad:?} is not a full computer name (no patterns)"
        )));
    }
    let allowed_addresses = raw
        .allowed_addresses
        .iter()
        .map(|a| AddressRange::parse(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("allowed_addresses: {e}")))?;
    for output in &raw.outputs {
        match output {
            OutputConfig::File { path, .. } => {
                if !path.starts_with('/') {
                    return Err(invalid(format!("output path {path:?} is not absolute")));
                }
                if path.split('/').any(|part| part == "..") {
                    return Err(invalid(format!("output path {path:?} contains ..")));
                }
                Ok(())
            }
            OutputConfig::Kafka(kafka) => check_kafka(kafka),
            OutputConfig::Tcp(tcp) => check_tcp(tcp),
            OutputConfig::Redis(redis) => check_redis(redis),
            OutputConfig::Journal(journal) => check_journal(journal),
        }
        .map_err(|e| SubscriptionError::Output(file.into(), e))?;
    }
    let mut subscription = Subscription {
        identifier: guid_text(&["identifier", &name]),
        version: String::new(),
        name,
        enabled: raw.enabled,
        uris,
        query: raw.query,
        channels,
        max_items: raw.max_items,
        max_latency: Duration::from_secs(raw.max_latency_seconds),
        heartbeat: Duration::from_secs(raw.heartbeat_seconds),
        content_format,
        read_existing_events: raw.read_existing_events,
        allowed_principals: raw.allowed_principals,
        allowed_groups: raw.allowed_groups,
        allowed_addresses,
        computers: raw.computers,
        outputs: raw.outputs,
        file: file.to_owned(),
    };
    subscription.version = subscription.compute_version();
    Ok(subscription)
}

impl Subscription {
    /// The version from everything the embedded Subscribe carries.
    fn compute_version(&self) -> String {
        let mut facts = String::new();
        let _ = write!(
            facts,
            "{}\0{}\0{:?}\0{}\0{}\0{:?}\0{}",
            self.name,
            self.query,
            self.max_items,
            self.max_latency.as_secs(),
            self.heartbeat.as_secs(),
            self.content_format,
            self.read_existing_events
        );
        guid_text(&["version", &facts])
    }

    /// The version as served from a shared store: the content's version mixed with the
    /// store's revision of the subscription, so every change an operator makes there (an
    /// enable or a disable included) gives forwarders a new version to subscribe to, as
    /// Windows' collector does when a subscription is saved.
    pub fn with_revision(mut self, revision: i64) -> Subscription {
        self.version = guid_text(&["version", &self.version, &revision.to_string()]);
        self
    }

    /// Whether a forwarder connecting from `address` may have this subscription; `None` (no
    /// address known) passes only when no address is listed.
    pub fn allows_address(&self, address: Option<std::net::IpAddr>) -> bool {
        self.allowed_addresses.is_empty()
            || address.is_some_and(|ip| self.allowed_addresses.iter().any(|r| r.contains(ip)))
    }

    /// The Computers the explicit map lets `client` send events for (its name compared
    /// without case, as the allow list compares it).
    pub fn mapped_computers(&self, client: &str) -> &[String] {
        self.computers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(client))
            .map_or(&[], |(_, computers)| computers.as_slice())
    }

    /// Whether a forwarder known as `client` (its authenticated name), member of the Linux
    /// groups for which `in_group` answers true, may have this subscription. Nothing listed:
    /// every authenticated forwarder.
    pub fn allows(&self, client: &str, in_group: impl Fn(&str) -> bool) -> bool {
        if self.allowed_principals.is_empty() && self.allowed_groups.is_empty() {
            return true;
        }
        self.allowed_principals
            .iter()
            .any(|p| p.eq_ignore_ascii_case(client))
            || self.allowed_groups.iter().any(|g| in_group(g))
    }
}

/// A name-based GUID (SHA-1, version 5 bits) over `parts`, upper-case text.
fn guid_text(parts: &[&str]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(b"wsmand-wec\0");
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0F) | 0x50;
    b[8] = (b[8] & 0x3F) | 0x80;
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

/// Set `enabled` in the subscription file `file`, rewriting it atomically
/// ([`wsman_safe::write_atomic`]: temporary file, fsync, rename, directory fsync). The line `enabled = ...` is replaced, or one is added at the top.
pub fn set_enabled(file: &Path, enabled: bool) -> Result<(), SubscriptionError> {
    let io = |e| SubscriptionError::Io(file.into(), e);
    let text = std::fs::read_to_string(file).map_err(io)?;
    let out = with_enabled(&text, enabled);
    // The result must still be a valid subscription.
    parse(file, &out)?;
    // The file keeps its mode (it may hold an output's credentials).
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(file).map_err(io)?.permissions(),
    ) & 0o7777;
    wsman_safe::write_atomic(file, out.as_bytes(), mode).map_err(io)
}

/// The subscription text `text` with `enabled` set: its line `enabled = ...` replaced, or one
/// added at the top (comments and the rest kept as written).
pub fn with_enabled(text: &str, enabled: bool) -> String {
    let mut replaced = false;
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        if !replaced && key == "enabled" && !line.trim_start().starts_with('#') {
            let _ = writeln!(out, "enabled = {enabled}");
            replaced = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        out = format!("enabled = {enabled}\n{out}");
    }
    out
}
