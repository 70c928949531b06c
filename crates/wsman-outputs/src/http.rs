//! The HTTP output: each batch one POST over HTTP or HTTPS, acknowledged to the forwarder only
//! when the receiver's answer says it has the events: a 2xx for a generic receiver, HEC's
//! indexer acknowledgement for Splunk ([`hec`]), every item of a `_bulk` answer for
//! Elasticsearch ([`bulk`]). Anything else (a refusal, 503 or 429, no answer within
//! `request_timeout_ms`, a connection that fails) answers the forwarder 503 and it resends.
//!
//! Why presets rather than free templates of requests: what makes a batch durable differs
//! per receiver (HEC answers 200 before indexing; `_bulk` answers 200 with failed items), and
//! a template cannot say that. Splunk, Elastic, Fluentd and Datadog parse Windows' XML
//! themselves, so the presets send it as it came. Credentials (a HEC token, an API key, a
//! Basic password) are node-local secret files named by the settings, never in them.

pub mod bulk;
pub mod client;
pub mod hec;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Method;
use serde::Deserialize;
use wsman_safe::http::{Defaults, HttpAddress, Scheme};

use self::bulk::{Bulk, BulkError};
use self::client::{Client, Exchange, HttpError, Target};
use self::hec::{Hec, HecError};
use crate::file::render_lines;
use crate::output_policy::{OutputsPolicy, PolicyError};
use crate::secrets::{Destination, SecretError};
use crate::settings::{
    check_range, check_timeouts, default_connect_timeout, default_max_backoff, raw_format,
    valid_name,
};
use crate::tls::{client_tls, TlsClientFiles, TlsSetupError};
use crate::{
    failed, Backoff, Batch, Output, OutputError, OutputFormat, OutputSettingError, OutputType,
    StartEnv, Started,
};

/// What the receiver is, and so what a request looks like and what makes a batch durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// POST the events as lines of `format` to `url`; a 2xx answer means stored.
    #[default]
    Generic,
    /// Splunk's HEC raw endpoint, source type `XmlWinEventLog`, indexer acknowledgement.
    SplunkHec,
    /// Elasticsearch's `_bulk` into a data stream.
    ElasticBulk,
}

/// An HTTP output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `http(s)://host[:port][/path]`: the endpoint (generic), or the base the preset's paths
    /// are appended to (a path there is a proxy's prefix). No user or password in it.
    pub url: String,
    #[serde(default)]
    pub preset: Preset,
    /// The lines of a generic output (the presets send the XML as it came).
    #[serde(default = "raw_format")]
    pub format: OutputFormat,
    /// HEC token (`Authorization: Splunk`), or a generic receiver's bearer token: the name of
    /// a file of `DIR/secrets`.
    pub token_secret: Option<String>,
    /// Elasticsearch API key, as Elasticsearch encodes it (`Authorization: ApiKey`).
    pub api_key_secret: Option<String>,
    /// Basic authentication: the user, and the name of its password's secret file.
    pub username: Option<String>,
    pub password_secret: Option<String>,
    /// PEM file of the CA certificates of an `https` receiver (default: the Mozilla roots).
    #[serde(flatten)]
    pub tls_files: TlsClientFiles,
    /// The name the receiver's certificate must carry (default: the URL's host).
    pub server_name: Option<String>,
    /// HEC: the data channel, a GUID (default: a new one each start).
    pub channel: Option<String>,
    /// HEC: the source type (Splunk's Windows add-on parses `XmlWinEventLog`).
    pub sourcetype: Option<String>,
    /// HEC: the index and source (default: the token's).
    pub index: Option<String>,
    pub source: Option<String>,
    /// HEC: wait for indexer acknowledgement (the token must have it enabled).
    pub ack: Option<bool>,
    /// HEC: how long an `ackId` may stay unacknowledged before the batch is answered 503.
    pub ack_timeout_ms: Option<u32>,
    /// Elasticsearch: the data stream (`logs-windows.forwarded-default`).
    pub data_stream: Option<String>,
    /// Elasticsearch: an ingest pipeline for the documents.
    pub pipeline: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u32,
    /// A request whose whole answer has not come within this fails the batch (503).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u32,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u32,
}

fn default_request_timeout() -> u32 {
    30_000
}
const DEFAULT_SOURCETYPE: &str = "XmlWinEventLog";
const DEFAULT_ACK_TIMEOUT_MS: u32 = 120_000;

/// Why an HTTP output's settings are refused.
#[derive(Debug, thiserror::Error)]
pub enum HttpSettingError {
    #[error("url {0:?}: not http(s)://host[:port][/path] without user, query or fragment")]
    Url(String),
    #[error("{setting} is a setting of preset {preset} only")]
    OtherPreset {
        setting: &'static str,
        preset: &'static str,
    },
    #[error("{0} is a setting of https only")]
    TlsOnly(&'static str),
    #[error("client_certificate and client_key go together")]
    UnpairedClientKey,
    #[error("{0:?} is not an absolute path")]
    RelativeFile(String),
    #[error("preset splunk_hec needs token_secret")]
    NoToken,
    #[error("preset elastic_bulk needs data_stream")]
    NoDataStream,
    #[error("data_stream {0:?}: 1 to 255 of a-z 0-9 . _ - not starting with - _ . (Elasticsearch's names)")]
    DataStream(String),
    #[error("channel {0:?} is not a GUID")]
    Channel(String),
    #[error("{what} {value:?}: 1 to 256 characters, no control characters")]
    Text { what: &'static str, value: String },
    #[error("one credential: token_secret, api_key_secret or username with password_secret")]
    Credentials,
    #[error("username and password_secret go together")]
    UnpairedBasic,
    #[error("{0} is not a credential of preset {1}")]
    CredentialNotFor(&'static str, &'static str),
    #[error("format: the presets send the events' XML as it came")]
    FormatOfPreset,
}

fn setting(error: HttpSettingError) -> OutputSettingError {
    OutputSettingError::Setting {
        kind: "http",
        source: Box::new(error),
    }
}

/// The URL's parts: `(https, host, port, path prefix without its last /)`, read by the one
/// HTTP address parser with the web's default ports.
fn parse_url(url: &str) -> Result<(bool, String, u16, String), HttpSettingError> {
    let address = HttpAddress::parse_with(url, false, Defaults::WEB)
        .map_err(|_| HttpSettingError::Url(url.to_owned()))?;
    Ok((
        address.scheme == Scheme::Https,
        address.host,
        address.port,
        address.path.trim_end_matches('/').to_owned(),
    ))
}

/// A value for a query string: everything but unreserved characters percent-encoded.
pub fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn check_text(what: &'static str, value: &Option<String>) -> Result<(), HttpSettingError> {
    match value {
        Some(v) if v.is_empty() || v.chars().count() > 256 || v.chars().any(char::is_control) => {
            Err(HttpSettingError::Text {
                what,
                value: v.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// Whether `name` is a data stream name Elasticsearch takes (lower case, no path or
/// wildcard characters).
fn valid_data_stream(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && !name.starts_with(['-', '_', '.', '+'])
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn valid_guid(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok() && text.len() == 36
}

impl HttpConfig {
    fn check_settings(&self) -> Result<(), HttpSettingError> {
        let (https, ..) = parse_url(&self.url)?;
        self.check_preset_settings()?;
        self.check_credentials()?;
        if !https {
            if let Some((name, _)) = self.tls_files.named().next() {
                return Err(HttpSettingError::TlsOnly(name));
            }
            if self.server_name.is_some() {
                return Err(HttpSettingError::TlsOnly("server_name"));
            }
        }
        if !self.tls_files.paired() {
            return Err(HttpSettingError::UnpairedClientKey);
        }
        if let Some(file) = self.tls_files.relative() {
            return Err(HttpSettingError::RelativeFile(file.to_owned()));
        }
        check_text("server_name", &self.server_name)
    }

    fn check_preset_settings(&self) -> Result<(), HttpSettingError> {
        let hec = [
            ("channel", self.channel.is_some()),
            ("sourcetype", self.sourcetype.is_some()),
            ("index", self.index.is_some()),
            ("source", self.source.is_some()),
            ("ack", self.ack.is_some()),
            ("ack_timeout_ms", self.ack_timeout_ms.is_some()),
        ];
        let bulk = [
            ("data_stream", self.data_stream.is_some()),
            ("pipeline", self.pipeline.is_some()),
        ];
        let foreign = |settings: &[(&'static str, bool)], preset: &'static str| match settings
            .iter()
            .find(|(_, set)| *set)
        {
            Some((name, _)) => Err(HttpSettingError::OtherPreset {
                setting: name,
                preset,
            }),
            None => Ok(()),
        };
        if self.preset != Preset::SplunkHec {
            foreign(&hec, "splunk_hec")?;
        }
        if self.preset != Preset::ElasticBulk {
            foreign(&bulk, "elastic_bulk")?;
        }
        if self.preset != Preset::Generic && self.format != OutputFormat::Raw {
            return Err(HttpSettingError::FormatOfPreset);
        }
        match self.preset {
            Preset::Generic => {}
            Preset::SplunkHec => {
                if let Some(channel) = &self.channel {
                    if !valid_guid(channel) {
                        return Err(HttpSettingError::Channel(channel.clone()));
                    }
                }
                check_text("sourcetype", &self.sourcetype)?;
                check_text("index", &self.index)?;
                check_text("source", &self.source)?;
            }
            Preset::ElasticBulk => {
                let stream = self
                    .data_stream
                    .as_ref()
                    .ok_or(HttpSettingError::NoDataStream)?;
                if !valid_data_stream(stream) {
                    return Err(HttpSettingError::DataStream(stream.clone()));
                }
                check_text("pipeline", &self.pipeline)?;
            }
        }
        Ok(())
    }

    fn check_credentials(&self) -> Result<(), HttpSettingError> {
        if self.username.is_some() != self.password_secret.is_some() {
            return Err(HttpSettingError::UnpairedBasic);
        }
        let given = [
            self.token_secret.is_some(),
            self.api_key_secret.is_some(),
            self.username.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(HttpSettingError::Credentials);
        }
        match self.preset {
            Preset::SplunkHec if self.token_secret.is_none() => {
                return Err(HttpSettingError::NoToken)
            }
            Preset::SplunkHec | Preset::Generic if self.api_key_secret.is_some() => {
                return Err(HttpSettingError::CredentialNotFor(
                    "api_key_secret",
                    self.preset_name(),
                ))
            }
            Preset::ElasticBulk if self.token_secret.is_some() => {
                return Err(HttpSettingError::CredentialNotFor(
                    "token_secret",
                    "elastic_bulk",
                ))
            }
            _ => {}
        }
        check_text("username", &self.username)
    }

    fn preset_name(&self) -> &'static str {
        match self.preset {
            Preset::Generic => "generic",
            Preset::SplunkHec => "splunk_hec",
            Preset::ElasticBulk => "elastic_bulk",
        }
    }
}

/// Why an HTTP output did not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpStartError {
    #[error(transparent)]
    Settings(#[from] HttpSettingError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("secret {0:?} holds characters an HTTP header cannot carry")]
    HeaderValue(String),
}

impl OutputType for HttpConfig {
    const KIND: &'static str = "http";
    type Pool = ();
    type StartError = HttpStartError;

    fn needs_tree(&self) -> bool {
        self.preset == Preset::Generic && self.format != OutputFormat::Raw
    }

    fn check(&self) -> Result<(), OutputSettingError> {
        for name in [
            &self.token_secret,
            &self.api_key_secret,
            &self.password_secret,
        ]
        .into_iter()
        .flatten()
        {
            if !valid_name(name) {
                return Err(OutputSettingError::SecretName(name.clone()));
            }
        }
        self.check_settings().map_err(setting)?;
        check_timeouts(
            "http",
            self.connect_timeout_ms,
            ("request_timeout_ms", self.request_timeout_ms),
            self.max_backoff_ms,
        )?;
        if let Some(ack_timeout) = self.ack_timeout_ms {
            check_range("http output: ack_timeout_ms", ack_timeout, 100..=3_600_000)?;
        }
        Ok(())
    }

    fn admit(&self, policy: &OutputsPolicy) -> Result<(), PolicyError> {
        let (_, host, port, _) = parse_url(&self.url).map_err(|_| PolicyError::Destination {
            kind: "http",
            address: "(a URL that does not parse)".to_owned(),
        })?;
        policy.host_port("http", &host, port)?;
        self.tls_files.admit("http", policy)
    }

    fn secret_destinations(&self) -> Vec<(String, Vec<Destination>)> {
        let Ok((https, host, port, _)) = parse_url(&self.url) else {
            return Vec::new();
        };
        let to = Destination {
            kind: "http",
            host,
            port,
            tls: https,
        };
        [
            &self.token_secret,
            &self.api_key_secret,
            &self.password_secret,
        ]
        .into_iter()
        .flatten()
        .map(|name| (name.clone(), vec![to.clone()]))
        .collect()
    }

    fn summary(&self) -> String {
        format!("http {} ({})", self.url, self.preset_name())
    }

    fn describe(&self, subscription: &str) -> String {
        format!("http output of {subscription} ({})", self.url)
    }

    fn start(&self, _: &Arc<()>, env: &StartEnv<'_>) -> Result<Started, HttpStartError> {
        Ok(Some(Arc::new(HttpOutput::start(self, env)?)))
    }
}

/// What the output posts and how it knows the batch is stored.
enum Kind {
    Generic { path: String, format: OutputFormat },
    Hec(Hec),
    Bulk(Bulk),
}

/// One `[[outputs]] type = "http"` of a subscription.
pub struct HttpOutput {
    url: String,
    kind: Kind,
    client: Client,
    /// The `Authorization` value (marked sensitive: hyper never shows it).
    authorization: Option<HeaderValue>,
    request_timeout: Duration,
    backoff: Mutex<Backoff>,
}

/// The `Authorization` value `scheme SECRET` of secret `name`, if it may be sent `to` there.
fn secret_header(
    env: &StartEnv<'_>,
    name: &str,
    scheme: &str,
    to: &Destination,
) -> Result<HeaderValue, HttpStartError> {
    let secret = zeroize::Zeroizing::new(env.secret(name, to)?);
    let mut value = HeaderValue::from_str(&format!("{scheme} {}", secret.as_str()))
        .map_err(|_| HttpStartError::HeaderValue(name.to_owned()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The `Authorization` value of the credentials `config` names, each secret read only if its
/// binding lets it go `to` the URL's host and port (and in clear only if it says so).
fn authorization(
    config: &HttpConfig,
    env: &StartEnv<'_>,
    to: &Destination,
) -> Result<Option<HeaderValue>, HttpStartError> {
    Ok(
        match (
            &config.token_secret,
            &config.api_key_secret,
            &config.username,
            &config.password_secret,
        ) {
            (Some(token), ..) => {
                let scheme = match config.preset {
                    Preset::SplunkHec => "Splunk",
                    _ => "Bearer",
                };
                Some(secret_header(env, token, scheme, to)?)
            }
            (None, Some(key), ..) => Some(secret_header(env, key, "ApiKey", to)?),
            (None, None, Some(user), Some(password)) => {
                use base64::Engine as _;
                let password = zeroize::Zeroizing::new(env.secret(password, to)?);
                let pair = zeroize::Zeroizing::new(format!("{user}:{}", password.as_str()));
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| HttpStartError::HeaderValue(user.clone()))?;
                value.set_sensitive(true);
                Some(value)
            }
            _ => None,
        },
    )
}

impl HttpOutput {
    /// Read the secrets and TLS files; nothing connects until the first batch.
    pub fn start(config: &HttpConfig, env: &StartEnv<'_>) -> Result<HttpOutput, HttpStartError> {
        let (https, host, port, prefix) = parse_url(&config.url)?;
        let to = Destination {
            kind: "http",
            host: host.clone(),
            port,
            tls: https,
        };
        let authorization = authorization(config, env, &to)?;
        let tls = if https {
            let name = config.server_name.clone().unwrap_or_else(|| host.clone());
            Some(client_tls(&config.tls_files, &name)?)
        } else {
            None
        };
        let default_port = if https { 443 } else { 80 };
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let authority = if port == default_port {
            bracketed
        } else {
            format!("{bracketed}:{port}")
        };
        let kind = match config.preset {
            Preset::Generic => Kind::Generic {
                path: if prefix.is_empty() {
                    "/".to_owned()
                } else {
                    prefix
                },
                format: config.format,
            },
            Preset::SplunkHec => Kind::Hec(Hec {
                prefix,
                channel: config
                    .channel
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string().to_uppercase()),
                sourcetype: config
                    .sourcetype
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SOURCETYPE.to_owned()),
                index: config.index.clone(),
                source: config.source.clone(),
                ack: config.ack.unwrap_or(true),
                ack_timeout: Duration::from_millis(
                    config
                        .ack_timeout_ms
                        .unwrap_or(DEFAULT_ACK_TIMEOUT_MS)
                        .into(),
                ),
            }),
            Preset::ElasticBulk => Kind::Bulk(Bulk {
                prefix,
                data_stream: config.data_stream.clone().unwrap_or_default(),
                pipeline: config.pipeline.clone(),
                stored: Mutex::default(),
            }),
        };
        Ok(HttpOutput {
            url: config.url.clone(),
            kind,
            client: Client::new(
                Target {
                    host,
                    port,
                    authority,
                    tls,
                },
                Duration::from_millis(config.connect_timeout_ms.into()),
            ),
            authorization,
            request_timeout: Duration::from_millis(config.request_timeout_ms.into()),
            backoff: Mutex::new(Backoff::new(Duration::from_millis(
                config.max_backoff_ms.into(),
            ))),
        })
    }

    fn store(&self, batch: &Batch<'_>) -> Result<(), StoreError> {
        match &self.kind {
            Kind::Generic { path, format } => {
                let content_type = match format {
                    OutputFormat::Raw => "text/plain; charset=utf-8",
                    _ => "application/x-ndjson",
                };
                let mut headers = vec![(CONTENT_TYPE, HeaderValue::from_static(content_type))];
                if let Some(authorization) = &self.authorization {
                    headers.push((hyper::header::AUTHORIZATION, authorization.clone()));
                }
                let answer = self.client.send(
                    Exchange {
                        method: Method::POST,
                        path_and_query: path.clone(),
                        headers,
                        body: Bytes::from(render_lines(batch, *format)),
                    },
                    self.request_timeout,
                )?;
                if answer.status.is_success() {
                    Ok(())
                } else {
                    Err(StoreError::Status(answer.status))
                }
            }
            Kind::Hec(hec) => {
                let Some(authorization) = &self.authorization else {
                    return Err(StoreError::Hec(HecError::NoAckId));
                };
                let body = Bytes::from(render_lines(batch, OutputFormat::Raw));
                Ok(hec.store(&self.client, authorization, body, self.request_timeout)?)
            }
            Kind::Bulk(bulk) => Ok(bulk.store(
                &self.client,
                self.authorization.as_ref(),
                batch,
                self.request_timeout,
            )?),
        }
    }
}

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
enum StoreError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("answered {0}")]
    Status(hyper::StatusCode),
    #[error(transparent)]
    Hec(#[from] HecError),
    #[error(transparent)]
    Bulk(#[from] BulkError),
}

impl StoreError {
    /// Whether the next attempts wait ([`Backoff`]): no connection could be made, or the
    /// receiver asked to slow down (HEC's "Server is busy", a 429 or 5xx, a bulk item
    /// rejected for load: Elastic's "Rejected requests" says to retry those with backoff).
    fn wait_before_next(&self) -> bool {
        let http = match self {
            StoreError::Http(e)
            | StoreError::Hec(HecError::Http(e))
            | StoreError::Bulk(BulkError::Http(e)) => e,
            StoreError::Hec(e) => return e.slow_down(),
            StoreError::Bulk(e) => return e.slow_down(),
            StoreError::Status(status) => {
                return *status == hyper::StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
        };
        matches!(
            http,
            HttpError::Connect { .. } | HttpError::ConnectTimeout { .. } | HttpError::Tls { .. }
        )
    }
}

impl Output for HttpOutput {
    fn describe(&self) -> String {
        format!("http output {}", self.url)
    }

    fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        let now = Instant::now();
        if let Err(wait) = self
            .backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ready(now)
        {
            return Err(failed(
                self,
                format!(
                    "unreachable or asked to slow down; next attempt in {} ms",
                    wait.as_millis()
                ),
            ));
        }
        let stored = self.store(batch);
        let mut backoff = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        match stored {
            Ok(()) => {
                backoff.succeeded();
                Ok(())
            }
            Err(error) => {
                if error.wait_before_next() {
                    backoff.failed(now);
                } else {
                    backoff.succeeded();
                }
                Err(failed(self, error.to_string()))
            }
        }
    }
}
