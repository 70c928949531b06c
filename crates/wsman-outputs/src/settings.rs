//! What every output's settings share: the record format, the defaults of connection-based
//! outputs, the error a refused setting is, and the checks of an address, a range and a name.
//! Each output's own settings, defaults and checks are in its module ([`super`] lists them).

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
    /// OpenWEC's `RawJson` record (`meta` and the XML as it came in `data`), for readers set
    /// up for OpenWEC.
    #[serde(rename = "openwec_raw_json")]
    OpenWecRawJson,
    /// OpenWEC's `Nxlog` record (the fields of NXLog's `im_msvistalog`), for readers set up
    /// for OpenWEC's or NXLog's Windows events.
    #[serde(rename = "openwec_nxlog")]
    OpenWecNxlog,
}

/// The default `format`: the event as it came.
pub(crate) fn raw_format() -> OutputFormat {
    OutputFormat::Raw
}
pub(crate) fn default_connect_timeout() -> u32 {
    5_000
}
pub(crate) fn default_io_timeout() -> u32 {
    10_000
}
pub(crate) fn default_max_backoff() -> u32 {
    30_000
}

/// Why an output's settings are refused (the text names the output type and the setting).
#[derive(Debug, thiserror::Error)]
pub enum OutputSettingError {
    #[error("{what} {address:?} is not host:port")]
    NotHostPort { what: &'static str, address: String },
    #[error("{what}: {} to {}", .range.start(), .range.end())]
    OutOfRange {
        what: String,
        range: std::ops::RangeInclusive<u32>,
    },
    #[error("{0} output: ca_file, client_certificate, client_key and server_name need tls = true")]
    TlsSettingsWithoutTls(&'static str),
    #[error("{0} output: client_certificate and client_key go together")]
    UnpairedClientKey(&'static str),
    #[error("{0} output: {1:?} is not an absolute path")]
    RelativeTlsFile(&'static str, String),
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
    /// An output whose Cargo feature this build left out (`scripts/start.sh`'s local build
    /// leaves out Kafka's librdkafka unless asked).
    #[error("{0} output: this wsmand was built without it (the Cargo feature `{0}`: packages and release builds have it; scripts/start.sh builds it with WSMAND_KAFKA=1)")]
    NotBuilt(&'static str),
    #[error("kafka output: no brokers")]
    NoBrokers,
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
    #[error("output path {0:?} is not absolute")]
    RelativeFilePath(String),
    #[error("output path {0:?} contains ..")]
    FilePathParent(String),
    #[error("file output: group {0:?} is not a group name (1 to 32 of A-Z a-z 0-9 . _ -)")]
    FileGroup(String),
    /// A setting of an output that has its own error type (the text names the output).
    #[error("{kind} output: {source}")]
    Setting {
        kind: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// `host` and `port` of `host:port` (an IPv6 host without its brackets).
fn split_host_port(address: &str) -> Option<(&str, &str)> {
    let (host, port) = address.rsplit_once(':')?;
    Some((host.trim_start_matches('[').trim_end_matches(']'), port))
}

/// Whether `host`:`port` is one of `destinations` (`host:port` each, the host compared without
/// case, IPv6 with or without brackets): the one matcher of `[outputs]` and `[secrets.NAME]`.
pub(crate) fn listed(destinations: &[String], host: &str, port: u16) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    destinations.iter().any(|allowed| {
        split_host_port(allowed)
            .is_some_and(|(h, p)| h.eq_ignore_ascii_case(host) && p.parse() == Ok(port))
    })
}

/// `host` and `port` of an address `host:port` whose port is a number.
pub(crate) fn host_and_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = split_host_port(address)?;
    Some((host, port.parse().ok()?))
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
    what: &str,
    value: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<(), OutputSettingError> {
    if !range.contains(&value) {
        let what = what.to_owned();
        return Err(OutputSettingError::OutOfRange { what, range });
    }
    Ok(())
}

/// Why the timings every connection-based `kind` output has are refused: `connect_timeout_ms`,
/// its I/O timeout (`io`: the setting's name and value) and `max_backoff_ms`.
pub(crate) fn check_timeouts(
    kind: &str,
    connect_timeout_ms: u32,
    (io, io_timeout_ms): (&str, u32),
    max_backoff_ms: u32,
) -> Result<(), OutputSettingError> {
    let what = |setting: &str| format!("{kind} output: {setting}");
    check_range(
        &what("connect_timeout_ms"),
        connect_timeout_ms,
        100..=600_000,
    )?;
    check_range(&what(io), io_timeout_ms, 100..=600_000)?;
    check_range(&what("max_backoff_ms"), max_backoff_ms, 100..=3_600_000)
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
