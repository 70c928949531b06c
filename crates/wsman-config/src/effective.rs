//! The typed effective configuration: what the server and the CLI read. Built from the layers
//! (policy > stored > default) by [`crate::ConfigStore`]; `Config::default()` is Windows'
//! defaults with no listener.

use std::time::Duration;

use crate::listener::{Listener, Transport};
use crate::schema::{Container, SettingKey, Value};

/// The whole effective configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    pub max_envelope_size_kb: u32,
    pub max_timeout_ms: u32,
    pub max_batch_items: u32,
    pub max_provider_requests: u32,
    pub client: ClientConfig,
    pub service: ServiceConfig,
    pub winrs: WinrsConfig,
    /// The configured listeners (`winrm/config/listener`), enabled or not, in stored order.
    pub listeners: Vec<Listener>,
    /// The client certificate mappings (`winrm/config/service/certmapping`), in stored order.
    pub cert_mappings: Vec<crate::CertMapping>,
    pub identify: IdentifyConfig,
    /// The `[Security]` extension (shell descriptor, failed-login throttle).
    pub security: crate::security::SecurityConfig,
    /// The `[Metrics]` extension (the metrics endpoint's address).
    pub metrics: crate::metrics::MetricsConfig,
    /// The `[HTTP]` extension (HTTP.sys's IdleConnectionTimeout).
    pub http: crate::http::HttpConfig,
    /// The `[PowerShell]` extension (where pwsh is).
    pub powershell: crate::powershell::PowerShellConfig,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    pub network_delay_ms: u32,
    pub url_prefix: String,
    pub allow_unencrypted: bool,
    pub auth: ClientAuth,
    pub default_ports: DefaultPorts,
    pub trusted_hosts: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientAuth {
    pub basic: bool,
    pub digest: bool,
    pub kerberos: bool,
    pub negotiate: bool,
    pub certificate: bool,
    pub credssp: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DefaultPorts {
    pub http: u16,
    pub https: u16,
}

impl DefaultPorts {
    pub fn for_transport(&self, transport: Transport) -> u16 {
        match transport {
            Transport::Http => self.http,
            Transport::Https => self.https,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceConfig {
    pub root_sddl: String,
    pub max_concurrent_operations: u32,
    pub max_concurrent_operations_per_user: u32,
    pub enumeration_timeout_ms: u32,
    pub max_connections: u32,
    pub max_packet_retrieval_time_seconds: u32,
    pub allow_unencrypted: bool,
    pub auth: ServiceAuth,
    pub default_ports: DefaultPorts,
    pub ipv4_filter: String,
    pub ipv6_filter: String,
    pub enable_compatibility_http_listener: bool,
    pub enable_compatibility_https_listener: bool,
    pub certificate_thumbprint: String,
    pub allow_remote_access: bool,
    /// Event subscriptions alive at once, all users (wsmand's own setting).
    pub max_subscriptions: u32,
    /// Event subscriptions alive at once per user (wsmand's own setting).
    pub max_subscriptions_per_user: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceAuth {
    pub basic: bool,
    pub kerberos: bool,
    pub negotiate: bool,
    pub certificate: bool,
    pub credssp: bool,
    pub cbt_hardening_level: CbtHardeningLevel,
}

/// `Service/Auth/CbtHardeningLevel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CbtHardeningLevel {
    None,
    Relaxed,
    Strict,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WinrsConfig {
    pub allow_remote_shell_access: bool,
    /// Milliseconds.
    pub idle_timeout: u64,
    pub max_concurrent_users: u32,
    /// Milliseconds; read-only and not enforced (as on Windows).
    pub max_shell_run_time: u64,
    /// 0 = unlimited.
    pub max_processes_per_shell: u64,
    /// 0 = unlimited.
    pub max_memory_per_shell_mb: u64,
    /// 0 = unlimited.
    pub max_shells_per_user: u64,
    /// MiB of command output one Linux user's commands hold unreceived, all shells together
    /// (ours; Windows bounds memory per shell only).
    pub max_buffered_output_per_user_mb: u32,
}

/// The `[Identify]` extension: not part of winrm/config.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentifyConfig {
    /// `wsmid:ProductVendor`; default `wsmand`.
    pub product_vendor: String,
    /// `wsmid:ProductVersion`; None means the server fills `OS: <kernel> SP: 0.0 Stack: 3.0`.
    pub product_version: Option<String>,
}

/// Default `ProductVendor` of Identify.
pub const DEFAULT_PRODUCT_VENDOR: &str = "wsmand";

impl Default for IdentifyConfig {
    fn default() -> Self {
        Self {
            product_vendor: DEFAULT_PRODUCT_VENDOR.to_owned(),
            product_version: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::from_resolver(&|key| {
            key.setting()
                .map(|s| s.default.clone())
                .unwrap_or(Value::Number(0))
        })
    }
}

impl Config {
    /// Build the typed view from a value resolver (values already validated by the schema).
    pub(crate) fn from_resolver(get: &dyn Fn(SettingKey) -> Value) -> Self {
        let v = |container: Container, name: &'static str| get(SettingKey { container, name });
        let flag = |c, n| v(c, n).as_bool().unwrap_or(false);
        let num = |c, n| v(c, n).as_number().unwrap_or(0);
        let u32_ = |c, n| u32::try_from(num(c, n)).unwrap_or(u32::MAX);
        let u16_ = |c, n| u16::try_from(num(c, n)).unwrap_or(u16::MAX);
        let text = |c, n| v(c, n).as_text().unwrap_or("").to_owned();
        use Container as C;
        Self {
            max_envelope_size_kb: u32_(C::Config, "MaxEnvelopeSizekb"),
            max_timeout_ms: u32_(C::Config, "MaxTimeoutms"),
            max_batch_items: u32_(C::Config, "MaxBatchItems"),
            max_provider_requests: u32_(C::Config, "MaxProviderRequests"),
            client: ClientConfig {
                network_delay_ms: u32_(C::Client, "NetworkDelayms"),
                url_prefix: text(C::Client, "URLPrefix"),
                allow_unencrypted: flag(C::Client, "AllowUnencrypted"),
                auth: ClientAuth {
                    basic: flag(C::ClientAuth, "Basic"),
                    digest: flag(C::ClientAuth, "Digest"),
                    kerberos: flag(C::ClientAuth, "Kerberos"),
                    negotiate: flag(C::ClientAuth, "Negotiate"),
                    certificate: flag(C::ClientAuth, "Certificate"),
                    credssp: flag(C::ClientAuth, "CredSSP"),
                },
                default_ports: DefaultPorts {
                    http: u16_(C::ClientDefaultPorts, "HTTP"),
                    https: u16_(C::ClientDefaultPorts, "HTTPS"),
                },
                trusted_hosts: text(C::Client, "TrustedHosts"),
            },
            service: ServiceConfig {
                root_sddl: text(C::Service, "RootSDDL"),
                max_concurrent_operations: u32_(C::Service, "MaxConcurrentOperations"),
                max_concurrent_operations_per_user: u32_(
                    C::Service,
                    "MaxConcurrentOperationsPerUser",
                ),
                enumeration_timeout_ms: u32_(C::Service, "EnumerationTimeoutms"),
                max_connections: u32_(C::Service, "MaxConnections"),
                max_packet_retrieval_time_seconds: u32_(
                    C::Service,
                    "MaxPacketRetrievalTimeSeconds",
                ),
                allow_unencrypted: flag(C::Service, "AllowUnencrypted"),
                auth: ServiceAuth {
                    basic: flag(C::ServiceAuth, "Basic"),
                    kerberos: flag(C::ServiceAuth, "Kerberos"),
                    negotiate: flag(C::ServiceAuth, "Negotiate"),
                    certificate: flag(C::ServiceAuth, "Certificate"),
                    credssp: flag(C::ServiceAuth, "CredSSP"),
                    cbt_hardening_level: match v(C::ServiceAuth, "CbtHardeningLevel")
                        .as_text()
                        .unwrap_or("")
                    {
                        "None" => CbtHardeningLevel::None,
                        "Strict" => CbtHardeningLevel::Strict,
                        _ => CbtHardeningLevel::Relaxed,
                    },
                },
                default_ports: DefaultPorts {
                    http: u16_(C::ServiceDefaultPorts, "HTTP"),
                    https: u16_(C::ServiceDefaultPorts, "HTTPS"),
                },
                ipv4_filter: text(C::Service, "IPv4Filter"),
                ipv6_filter: text(C::Service, "IPv6Filter"),
                enable_compatibility_http_listener: flag(
                    C::Service,
                    "EnableCompatibilityHttpListener",
                ),
                enable_compatibility_https_listener: flag(
                    C::Service,
                    "EnableCompatibilityHttpsListener",
                ),
                certificate_thumbprint: text(C::Service, "CertificateThumbprint"),
                allow_remote_access: flag(C::Service, "AllowRemoteAccess"),
                max_subscriptions: u32_(C::Service, "MaxSubscriptions"),
                max_subscriptions_per_user: u32_(C::Service, "MaxSubscriptionsPerUser"),
            },
            winrs: WinrsConfig {
                allow_remote_shell_access: flag(C::Winrs, "AllowRemoteShellAccess"),
                idle_timeout: num(C::Winrs, "IdleTimeout"),
                max_concurrent_users: u32_(C::Winrs, "MaxConcurrentUsers"),
                max_shell_run_time: num(C::Winrs, "MaxShellRunTime"),
                max_processes_per_shell: num(C::Winrs, "MaxProcessesPerShell"),
                max_memory_per_shell_mb: num(C::Winrs, "MaxMemoryPerShellMB"),
                max_shells_per_user: num(C::Winrs, "MaxShellsPerUser"),
                max_buffered_output_per_user_mb: u32_(C::Winrs, "MaxBufferedOutputPerUserMB"),
            },
            listeners: Vec::new(),
            cert_mappings: Vec::new(),
            identify: IdentifyConfig::default(),
            security: crate::security::SecurityConfig::default(),
            metrics: crate::metrics::MetricsConfig::default(),
            http: crate::http::HttpConfig::default(),
            powershell: crate::powershell::PowerShellConfig::default(),
        }
    }

    /// `MaxEnvelopeSizekb` as the Windows getter name reads.
    pub fn max_envelope_size_kb(&self) -> u32 {
        self.max_envelope_size_kb
    }

    /// The service's envelope limit in bytes (`MaxEnvelopeSizekb` * 1024).
    pub fn max_envelope_size_bytes(&self) -> u64 {
        u64::from(self.max_envelope_size_kb) * 1024
    }

    /// `MaxTimeoutms` as a duration: the cap for `w:OperationTimeout`.
    pub fn max_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.max_timeout_ms))
    }

    /// `Service/EnumerationTimeoutms` as a duration: idle lifetime of an enumeration context.
    pub fn enumeration_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.service.enumeration_timeout_ms))
    }

    /// What the server should bind: the enabled configured listeners, then the compatibility
    /// listeners (Address `*`, port 80 / 443, URLPrefix `wsman`; HTTPS uses
    /// `Service/CertificateThumbprint`) when `Service/EnableCompatibilityHttp(s)Listener` is on.
    pub fn active_listeners(&self) -> Vec<Listener> {
        let service = &self.service;
        let https = service.enable_compatibility_https_listener;
        let thumbprint = https.then(|| service.certificate_thumbprint.clone());
        Listener::active(
            &self.listeners,
            service.enable_compatibility_http_listener,
            thumbprint,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_windows_defaults() {
        let c = Config::default();
        assert_eq!(c.max_envelope_size_kb(), 500);
        assert_eq!(c.max_timeout_ms, 60000);
        assert_eq!(c.max_batch_items, 32000);
        assert_eq!(c.max_provider_requests, u32::MAX);
        assert_eq!(c.client.network_delay_ms, 5000);
        assert_eq!(c.client.url_prefix, "wsman");
        assert!(!c.client.allow_unencrypted);
        assert!(c.client.auth.basic && c.client.auth.digest && c.client.auth.kerberos);
        assert!(c.client.auth.negotiate && c.client.auth.certificate && !c.client.auth.credssp);
        assert_eq!(
            (c.client.default_ports.http, c.client.default_ports.https),
            (5985, 5986)
        );
        assert_eq!(c.client.trusted_hosts, "");
        assert_eq!(c.service.root_sddl, crate::schema::DEFAULT_ROOT_SDDL);
        assert_eq!(c.service.max_concurrent_operations, u32::MAX);
        assert_eq!(c.service.max_concurrent_operations_per_user, 1500);
        assert_eq!(c.service.enumeration_timeout_ms, 240000);
        assert_eq!(c.service.max_connections, 300);
        assert_eq!(c.service.max_packet_retrieval_time_seconds, 120);
        assert!(!c.service.allow_unencrypted);
        let a = &c.service.auth;
        assert!(!a.basic && a.kerberos && a.negotiate && !a.certificate && !a.credssp);
        assert_eq!(a.cbt_hardening_level, CbtHardeningLevel::Relaxed);
        assert_eq!(
            c.service.default_ports.for_transport(Transport::Https),
            5986
        );
        assert_eq!(
            (
                c.service.ipv4_filter.as_str(),
                c.service.ipv6_filter.as_str()
            ),
            ("*", "*")
        );
        assert!(!c.service.enable_compatibility_http_listener);
        assert!(!c.service.enable_compatibility_https_listener);
        assert_eq!(c.service.certificate_thumbprint, "");
        assert!(c.service.allow_remote_access);
        let w = &c.winrs;
        assert!(w.allow_remote_shell_access);
        assert_eq!(w.idle_timeout, 180000);
        assert_eq!(w.max_concurrent_users, 10);
        assert_eq!(w.max_shell_run_time, 28800000);
        assert_eq!(w.max_processes_per_shell, 25);
        assert_eq!(w.max_memory_per_shell_mb, 1024);
        assert_eq!(w.max_shells_per_user, 30);
        assert!(c.listeners.is_empty());
        assert_eq!(c.identify.product_vendor, "wsmand");
        assert_eq!(c.identify.product_version, None);
        assert_eq!(c.max_envelope_size_bytes(), 512000);
    }

    #[test]
    fn compatibility_listeners_follow_the_flags() {
        let mut c = Config::default();
        assert!(c.active_listeners().is_empty());
        c.service.enable_compatibility_http_listener = true;
        let l = c.active_listeners();
        assert_eq!(l.len(), 1);
        assert_eq!(
            (l[0].port, l[0].transport, l[0].compatibility),
            (80, Transport::Http, true)
        );
    }
}
