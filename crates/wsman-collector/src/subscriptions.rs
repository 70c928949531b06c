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
//! Why one file per subscription: an operator (or configuration management) adds, changes and
//! removes one without touching the others, and a file that does not parse costs only its own
//! subscription (it is reported and left out; the others are served).
//!
//! Each subscription has two GUIDs: its identifier, from its name (stable: the delivery
//! address `/wsman/subscriptions/<identifier>/1` never changes), and its version, from
//! everything a forwarder sees (a forwarder subscribes again when the version it holds is no
//! longer offered, so a changed query reaches it on its next refresh).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha1::{Digest, Sha1};
use wsman_events::{ContentFormat, QueryList};

/// Largest subscription file read.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Most subscription files read from the directory.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// The subscription manager path Windows forwarders are configured with by default.
pub const DEFAULT_URI: &str = "/wsman/SubscriptionManager/WEC";

/// How a file output writes events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Each event's XML, one per line.
    Raw,
    /// Each event as a JSON object, one per line.
    Json,
}

/// Where a subscription's events go.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum OutputConfig {
    /// Append to a file whose path is a template of `{client}` and `{subscription}`.
    File { path: String, format: OutputFormat },
    /// Produce each event as one message to a Kafka topic, keyed by the sending host.
    Kafka(KafkaConfig),
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
pub fn check_topic_template(template: &str) -> Result<(), String> {
    let literal = template
        .replace("{subscription}", "s")
        .replace("{client}", "c");
    // The longest expansion: a subscription name has at most 64 characters, a client's part
    // at most 128.
    let longest = template
        .replace("{subscription}", &"s".repeat(64))
        .replace("{client}", &"c".repeat(128));
    if literal.is_empty() || longest.len() > MAX_TOPIC_LENGTH {
        return Err(format!(
            "topic {template:?}: 1 to {MAX_TOPIC_LENGTH} characters (with {{subscription}} at most 64 and {{client}} at most 128)"
        ));
    }
    if let Some(bad) = literal
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic {template:?}: {bad:?} is not allowed in a Kafka topic (A-Z a-z 0-9 . _ -; placeholders {{subscription}} and {{client}})"
        ));
    }
    if literal == "." || literal == ".." {
        return Err(format!("topic {template:?} is not a topic name"));
    }
    Ok(())
}

/// Why a Kafka output's settings are refused.
pub fn check_kafka(config: &KafkaConfig) -> Result<(), String> {
    if config.brokers.is_empty() {
        return Err("kafka output: no brokers".to_owned());
    }
    for broker in &config.brokers {
        let port = broker
            .rsplit_once(':')
            .map(|(host, port)| (host, port.parse::<u16>()));
        if !matches!(port, Some((host, Ok(p))) if !host.is_empty() && p > 0)
            || broker.contains([',', ' ', '/'])
        {
            return Err(format!("kafka output: broker {broker:?} is not host:port"));
        }
    }
    check_topic_template(&config.topic).map_err(|e| format!("kafka output: {e}"))?;
    if !(1_000..=3_600_000).contains(&config.message_timeout_ms) {
        return Err("kafka output: message_timeout_ms: 1000 to 3600000".to_owned());
    }
    if !(1..=10_000_000).contains(&config.queue_max_messages) {
        return Err("kafka output: queue_max_messages: 1 to 10000000".to_owned());
    }
    if !(1..=2_097_151).contains(&config.queue_max_kbytes) {
        return Err("kafka output: queue_max_kbytes: 1 to 2097151".to_owned());
    }
    for key in config.properties.0.keys() {
        if KAFKA_FIXED_PROPERTIES.contains(&key.as_str()) {
            return Err(format!(
                "kafka output: property {key:?} is set by the collector (use brokers, message_timeout_ms, queue_max_*)"
            ));
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
    pub max_items: Option<u32>,
    pub max_latency: Duration,
    pub heartbeat: Duration,
    pub content_format: ContentFormat,
    pub read_existing_events: bool,
    pub allowed_principals: Vec<String>,
    pub allowed_groups: Vec<String>,
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
    QueryList::parse(&raw.query).map_err(|e| invalid(format!("query: {e}")))?;
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
    for output in &raw.outputs {
        match output {
            OutputConfig::File { path, .. } => {
                if !path.starts_with('/') {
                    return Err(invalid(format!("output path {path:?} is not absolute")));
                }
                if path.split('/').any(|part| part == "..") {
                    return Err(invalid(format!("output path {path:?} contains ..")));
                }
            }
            OutputConfig::Kafka(kafka) => check_kafka(kafka).map_err(invalid)?,
        }
    }
    let mut subscription = Subscription {
        identifier: guid_text(&["identifier", &name]),
        version: String::new(),
        name,
        enabled: raw.enabled,
        uris,
        query: raw.query,
        max_items: raw.max_items,
        max_latency: Duration::from_secs(raw.max_latency_seconds),
        heartbeat: Duration::from_secs(raw.heartbeat_seconds),
        content_format,
        read_existing_events: raw.read_existing_events,
        allowed_principals: raw.allowed_principals,
        allowed_groups: raw.allowed_groups,
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

/// Set `enabled` in the subscription file `file`, rewriting it atomically (temporary file,
/// fsync, rename). The line `enabled = ...` is replaced, or one is added at the top.
pub fn set_enabled(file: &Path, enabled: bool) -> Result<(), SubscriptionError> {
    let io = |e| SubscriptionError::Io(file.into(), e);
    let text = std::fs::read_to_string(file).map_err(io)?;
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
    // The result must still be a valid subscription.
    parse(file, &out)?;
    let temporary = file.with_extension("toml.tmp");
    {
        use std::io::Write as _;
        let mut handle = std::fs::File::create(&temporary).map_err(io)?;
        handle.write_all(out.as_bytes()).map_err(io)?;
        handle.sync_all().map_err(io)?;
    }
    std::fs::rename(&temporary, file).map_err(io)?;
    Ok(())
}
