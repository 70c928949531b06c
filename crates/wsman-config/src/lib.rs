//! The winrm/config tree for wsmand: Windows' names, types and defaults ([`schema`]), the typed
//! effective view the server and CLI read ([`Config`]), the on-disk store with its policy
//! overlay ([`ConfigStore`]), the cfg XML of the config resources (Get, Put, Create, Delete,
//! Enumerate on [`ConfigStore`]), and the listener certificates ([`certs`]).
//!
//! A pure leaf: std file I/O only, no async runtime, no sockets, no libc. The server and the
//! local `winrm` CLI call the same resource operations, so both print the same thing.
#![forbid(unsafe_code)]

/// Overlays one configuration layer on another: each named `Option` field that `$other` sets
/// wins over `$layer`'s (policy over the stored file, a later file over an earlier one).
macro_rules! overlay_fields {
    ($layer:ident, $other:ident: $($field:ident),+ $(,)?) => {
        $(
            if $other.$field.is_some() {
                $layer.$field.clone_from(&$other.$field);
            }
        )+
    };
}

pub mod accounts;
pub mod certmapping;
mod certmapping_ops;
pub mod certs;
pub mod control;
mod effective;
pub mod fsutil;
mod http;
mod ip_filter;
mod listener;
mod listener_ops;
mod metrics;
pub mod mgmt;
pub mod plugin;
mod plugin_ops;
mod powershell;
mod resource;
pub mod runtime;
pub mod schema;
pub mod sddl;
pub mod sddl_edit;
mod security;
mod store;
mod toml_file;

use std::path::PathBuf;

pub use certmapping::{CertMapping, CERTMAPPING_URI};
pub use certmapping_ops::render_cert_mapping;
pub use effective::{
    CbtHardeningLevel, ClientAuth, ClientConfig, Config, DefaultPorts, IdentifyConfig, ServiceAuth,
    ServiceConfig, WinrsConfig, DEFAULT_PRODUCT_VENDOR,
};
pub use http::{HttpConfig, DEFAULT_IDLE_CONNECTION_TIMEOUT};
pub use ip_filter::{IpFilter, IpFilterError};
pub use listener::{AddressError, Listener, ListenerAddress, Transport, DEFAULT_URL_PREFIX};
pub use listener_ops::render_listener;
pub use metrics::MetricsConfig;
pub use plugin::{PLUGIN_URI, WMI_NAMESPACE_URI, WMI_PLUGIN_NAME};
pub use powershell::PowerShellConfig;
pub use resource::{body_from_values, resource, ConfigResource, EnumItem, LISTENER_URI};
pub use schema::{Container, SettingKey, Value, ValueError};
pub use sddl::{Access, SddlError, SecurityDescriptor, Sid};
pub use security::{
    default_event_store_sddl, default_powershell_sddl, default_wmi_sddl, normalize_namespace,
    SecurityConfig, WmiSddlError, DEFAULT_FAILED_LOGIN_MAX_DELAY_MS, DEFAULT_SHELL_SDDL,
    EVENT_READERS_GROUP, EVENT_STORE_ADMINS_SDDL, REMOTE_USERS_GROUP, WINDOWS_POWERSHELL_SDDL,
    WMI_PLUGIN_KEY, WMI_USERS_GROUP,
};
pub use store::{ConfigStore, Source};

/// Why the configuration could not be read or written. The daemon refuses to start with it, so
/// the Display names the file (and the line, for content errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A syntax error, an unknown key, a wrong type or an out-of-range value.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        message: String,
    },
}

/// A TOML value from its text, for the unit tests of the layers' `set`.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
fn toml_value(text: &str) -> toml_edit::Value {
    text.parse().unwrap()
}
