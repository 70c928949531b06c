//! The outputs a subscription names (`[[outputs]]`), one module each, and this registry of
//! them: the one place that lists output types. Everything else (the checks of a subscription,
//! a stored subscription's policy, starting, the metrics' labels, listings) goes through
//! [`OutputConfig`]'s methods, which hand each output's settings to its [`OutputType`].
//!
//! # Adding an output (2 files)
//!
//! 1. `src/NAME.rs`: its settings struct (`#[derive(Clone, Debug, PartialEq, Eq,
//!    Deserialize)]`, `#[serde(deny_unknown_fields)]`, its defaults as `#[serde(default = ..)]`
//!    functions of the module; shared ones and [`OutputFormat`] in [`settings`]), `impl
//!    OutputType for` it (`KIND` = its `type`; `check`; `admit` against the node's
//!    `[outputs]` policy with [`OutputsPolicy`]'s `destination`, `allows_destination`,
//!    `tls_file` and `allows_file`, refusing what the policy does not list; `start` building
//!    its [`Output`] from the settings, its [`Pool`] (`()` when none) and [`StartEnv`]'s
//!    secrets; a secret is named, never written in the settings), and its [`Output`]
//!    (`write` returns only when the batch is durable there; a connection-based output holds
//!    its connection in a `Link`, made with `connect_first`, reconnected with [`Backoff`]; one
//!    that speaks TLS flattens in [`tls::TlsClientFiles`] and builds its client with `tls`'s
//!    functions, which read the files through `wsman_safe::pem`). A refused setting is an [`OutputSettingError`] (`Setting` wraps the output's own error
//!    type); a failed write an [`OutputError`] (`Failed`).
//! 2. Here: `pub mod NAME;`, its variant in [`OutputConfig`] (`Name(NAME::NameConfig)`, the
//!    variant's lower-case name is the `type`), and its arm in `with_type!` below.
//!
//! Then its section in `docs/collector.md` and a test against the real receiver.
//!
//! The outputs: each with its settings, checks and start in its own module: [`file`](mod@file)
//! (on disk before the acknowledgement), [`kafka`] (acknowledged by the cluster,
//! acks=all, idempotent; librdkafka properties by an allow list), [`tcp`]
//! (newline-delimited records over TCP or TLS, flushed before the acknowledgement, reconnected
//! with a bounded backoff), [`redis`] (RPUSH or XADD over [`resp`], our bounded
//! reader of Redis replies), [`journal`] (the local systemd journal's native socket),
//! [`syslog`] (RFC 5424 over TCP, TLS, UDP or RELP, whose answers acknowledge);
//! [`http`] (one POST per batch: generic, Splunk HEC with indexer acknowledgement,
//! Elasticsearch `_bulk` item by item); [`openwec`]: OpenWEC's `RawJson` and `Nxlog` records.
//!
//! Beside them, what the outputs and the collector share (the event they write is
//! [`wsman_events::received::ReceivedEvent`]):
//! [`output_policy`]: what a subscription read from a shared store may make this node do
//! (`[outputs]` of `collector.toml`); [`secrets`]: the node-local secret files outputs name,
//! each sent only where [`secret_bindings`] (`[secrets.NAME]` of `collector.toml`) allow.
#![forbid(unsafe_code)]

pub mod file;
pub mod http;
pub mod journal;
pub mod kafka;
pub mod openwec;
pub mod output_policy;
pub mod redis;
pub mod resp;
mod seam;
pub mod secret_bindings;
pub mod secrets;
pub mod settings;
pub mod store;
pub mod syslog;
pub mod tcp;
pub mod tls;

use serde::Deserialize;

use crate::output_policy::{OutputsPolicy, PolicyError};
pub(crate) use seam::{connect_first, failed, Link};
pub use seam::{
    Backoff, Batch, ConnectError, GroupLookup, NotStarted, Output, OutputError, OutputType, Pool,
    Pools, StartEnv, Started, MAX_IN_FLIGHT_BATCHES,
};
pub use settings::{OutputFormat, OutputSettingError};

/// Where a subscription's events go: one variant per output type.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum OutputConfig {
    /// Append to a file whose path is a template of `{client}` and `{subscription}`; files
    /// 0600 in directories 0700, or 0640 and 0750 of `group` (a SIEM reader's) when set.
    File {
        path: String,
        format: OutputFormat,
        #[serde(default)]
        group: Option<String>,
    },
    /// Produce each event as one message to a Kafka topic, keyed by the sending host.
    Kafka(kafka::KafkaConfig),
    /// Newline-delimited records over TCP, optionally in TLS.
    Tcp(tcp::TcpConfig),
    /// RPUSH to a list or XADD to a stream of a Redis server.
    Redis(redis::RedisConfig),
    /// Structured entries in the local systemd journal (the analogue of ForwardedEvents).
    Journal(journal::JournalConfig),
    /// One POST per batch: generic, Splunk HEC or Elasticsearch `_bulk`.
    /// (Boxed: its settings are several times the size of the others'.)
    Http(Box<http::HttpConfig>),
    /// RFC 5424 syslog messages over TCP, TLS, UDP or RELP.
    Syslog(syslog::SyslogConfig),
    /// The collector's event store, searched over WS-Management (`docs/event-search.md`).
    Store(store::StoreConfig),
}

/// `$body` with `$settings` bound to the [`OutputType`] of `$config`'s variant.
macro_rules! with_type {
    ($config:expr, $settings:ident => $body:expr) => {
        match $config {
            OutputConfig::File {
                path,
                format,
                group,
            } => {
                let $settings = &file::FileSettings {
                    path,
                    format: *format,
                    group: group.as_deref(),
                };
                $body
            }
            OutputConfig::Kafka($settings) => $body,
            OutputConfig::Tcp($settings) => $body,
            OutputConfig::Redis($settings) => $body,
            OutputConfig::Journal($settings) => $body,
            OutputConfig::Http(boxed) => {
                let $settings = &**boxed;
                $body
            }
            OutputConfig::Syslog($settings) => $body,
            OutputConfig::Store($settings) => $body,
        }
    };
}

impl OutputConfig {
    /// The output's type as configured (`file`, `kafka`, ...): the metrics' `output` label.
    pub fn kind(&self) -> &'static str {
        with_type!(self, settings => kind_of(settings))
    }

    /// Whether this output reads each event's tree (a JSON record, a journal entry's fields)
    /// rather than writing its text as it came.
    pub fn needs_tree(&self) -> bool {
        with_type!(self, settings => settings.needs_tree())
    }

    /// Why these settings are refused (every subscription, from a file or a shared store).
    pub fn check(&self) -> Result<(), OutputSettingError> {
        with_type!(self, settings => settings.check())
    }

    /// Why a subscription read from a shared store may not have this output on this node.
    pub fn admit(&self, policy: &OutputsPolicy) -> Result<(), PolicyError> {
        with_type!(self, settings => settings.admit(policy))
    }

    /// Each secret it names and where it would send it.
    pub fn secret_destinations(&self) -> Vec<(String, Vec<crate::secrets::Destination>)> {
        with_type!(self, settings => settings.secret_destinations())
    }

    /// One line for listings (never a secret).
    pub fn summary(&self) -> String {
        with_type!(self, settings => settings.summary())
    }

    /// The started output of `subscription` (`None`: the event store), or why not.
    pub fn start(
        &self,
        pools: &Pools,
        env: &StartEnv<'_>,
        subscription: &str,
    ) -> Result<Started, NotStarted> {
        with_type!(self, settings => start(settings, pools, env, subscription))
    }
}

impl OutputsPolicy {
    /// Why the outputs of a subscription read from a shared store may not run on this node
    /// (`outputs` already passed the checks every subscription passes).
    pub fn admit(&self, outputs: &[OutputConfig]) -> Result<(), PolicyError> {
        outputs.iter().try_for_each(|output| {
            output.admit(self)?;
            for (name, destinations) in output.secret_destinations() {
                for to in &destinations {
                    self.secrets.allow(&name, to)?;
                }
            }
            Ok(())
        })
    }
}

fn kind_of<T: OutputType>(_: &T) -> &'static str {
    T::KIND
}

fn start<T: OutputType>(
    settings: &T,
    pools: &Pools,
    env: &StartEnv<'_>,
    subscription: &str,
) -> Result<Started, NotStarted> {
    settings
        .start(&pools.get::<T::Pool>(), env)
        .map_err(|reason| NotStarted {
            output: settings.describe(subscription),
            reason: reason.to_string(),
        })
}
