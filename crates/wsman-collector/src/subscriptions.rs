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
//! Every output's settings are in its module of [`wsman_outputs`], and described in
//! `docs/collector.md`.
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
pub use wsman_outputs::kafka::{check_topic_template, TopicError, MAX_TOPIC_LENGTH};
pub use wsman_outputs::settings::valid_name;
pub use wsman_outputs::{OutputConfig, OutputFormat, OutputSettingError};

/// Largest subscription file read.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Most subscription files read from the directory.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// The subscription manager path Windows forwarders are configured with by default.
pub const DEFAULT_URI: &str = "/wsman/SubscriptionManager/WEC";

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
    /// The QueryList, read once: what the Subscribe of every offer carries.
    pub filter: std::sync::Arc<QueryList>,
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
    /// A stored subscription whose outputs the node's `[outputs]` policy does not allow.
    #[error("{0}: refused by this node's [outputs] policy: {1}")]
    Policy(PathBuf, wsman_outputs::output_policy::PolicyError),
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
    let filter = QueryList::parse(&raw.query).map_err(|e| invalid(format!("query: {e}")))?;
    let channels = filter.channels();
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
        output
            .check()
            .map_err(|e| SubscriptionError::Output(file.into(), e))?;
    }
    let mut subscription = Subscription {
        identifier: guid_text(&["identifier", &name]),
        version: String::new(),
        name,
        enabled: raw.enabled,
        uris,
        query: raw.query,
        filter: std::sync::Arc::new(filter),
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
