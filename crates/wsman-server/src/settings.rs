//! The typed snapshot of configuration the server runs on.
//!
//! Why a separate struct: the request path must never read a file or take a config lock, so
//! every value it needs is copied into one immutable [`ServiceSettings`] that is swapped as a
//! whole (an `Arc`) when the configuration changes. The daemon builds it from the config tree.

use std::time::Duration;

/// HTTP or HTTPS: the config tree's own, so a listener needs no translation on its way in.
pub use wsman_config::Transport;

/// One `winrm/config/listener` entry: the config tree's own type, every property resolved.
pub use wsman_config::{Listener, ListenerAddress};

/// Everything the request path reads from the configuration, copied once per change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceSettings {
    pub max_envelope_size_kb: u32,
    pub max_timeout_ms: u32,
    pub max_batch_items: u32,
    pub max_connections: u32,
    /// `[HTTP] IdleConnectionTimeout`: how long a kept-alive connection may stay idle (and a
    /// client may take to send a request's headers), as HTTP.sys keeps WinRM's connections.
    pub idle_connection_timeout: std::time::Duration,
    /// `[HTTP] ProxyProtocolFrom`: load balancers whose connections start with a PROXY
    /// protocol v2 header naming the client (inclusive ranges; empty: none).
    pub proxy_protocol_from: Vec<wsman_safe::net::IpRange>,
    /// `[HTTP] ProxyProtocolAllowLoopback`: a PROXY header may claim a loopback client.
    pub proxy_protocol_allow_loopback: bool,
    pub max_packet_retrieval_time_seconds: u32,
    pub enumeration_timeout_ms: u32,
    pub allow_unencrypted: bool,
    pub auth_basic: bool,
    /// Service/Auth/Negotiate: NTLM (raw or SPNEGO) with message encryption.
    pub auth_negotiate: bool,
    /// Service/Auth/CbtHardeningLevel: channel binding for Negotiate over HTTPS.
    pub cbt_hardening: wsman_auth::ntlm::CbtHardening,
    /// Service/Auth/Kerberos (Windows' default: true).
    pub auth_kerberos: bool,
    /// A Kerberos keytab was loaded at start (set by the server, not the configuration):
    /// Kerberos is used only when this and `auth_kerberos` are both true.
    pub kerberos_keytab: bool,
    /// Service/Auth/Certificate: client certificates requested on HTTPS and accepted.
    pub auth_certificate: bool,
    /// Service/Auth/CredSSP (Windows' default: false): delegated credentials, see
    /// [`crate::auth::credssp`].
    pub auth_credssp: bool,
    /// `winrm/config/service/certmapping`, in configuration order.
    pub cert_mappings: Vec<wsman_config::CertMapping>,
    pub enable_compatibility_http_listener: bool,
    pub enable_compatibility_https_listener: bool,
    /// Service/CertificateThumbprint: the certificate of the HTTPS compatibility listener
    /// (when empty, that of the first HTTPS listener that names one).
    pub service_certificate_thumbprint: String,
    pub listeners: Vec<Listener>,
    /// `[Identify]` ProductVendor.
    pub product_vendor: String,
    /// `[Identify]` ProductVersion (authenticated Identify).
    pub product_version: String,
    /// `winrm/config/winrs` (and the per-user operation quota) as the shell engine's limits.
    pub winrs: wsman_shell::ShellLimits,
    /// `[PowerShell] Path`: the pwsh the PowerShell plug-in runs (`None`: `pwsh` on PATH).
    pub pwsh: Option<std::path::PathBuf>,
    /// IP filters, AllowRemoteAccess, RootSDDL, the shell descriptor, the login throttle.
    pub access: crate::access::AccessPolicy,
}

impl Default for ServiceSettings {
    /// Windows' defaults (reference §6.3), except that Basic is off as on stock Windows.
    fn default() -> Self {
        Self {
            max_envelope_size_kb: 500,
            max_timeout_ms: 60_000,
            max_batch_items: 32_000,
            max_connections: 300,
            idle_connection_timeout: std::time::Duration::from_secs(u64::from(
                wsman_config::DEFAULT_IDLE_CONNECTION_TIMEOUT,
            )),
            proxy_protocol_from: Vec::new(),
            proxy_protocol_allow_loopback: false,
            max_packet_retrieval_time_seconds: 120,
            enumeration_timeout_ms: 240_000,
            allow_unencrypted: false,
            auth_basic: false,
            // On by default in the configuration (system.rs); off here so that settings built
            // for tests advertise only what they switch on.
            auth_negotiate: false,
            cbt_hardening: wsman_auth::ntlm::CbtHardening::Relaxed,
            auth_kerberos: false,
            kerberos_keytab: false,
            auth_certificate: false,
            auth_credssp: false,
            cert_mappings: Vec::new(),
            enable_compatibility_http_listener: false,
            enable_compatibility_https_listener: false,
            service_certificate_thumbprint: String::new(),
            listeners: Vec::new(),
            product_vendor: "wsmand".to_owned(),
            product_version: "OS: 0.0.0 SP: 0.0 Stack: 3.0".to_owned(),
            winrs: wsman_shell::ShellLimits::default(),
            pwsh: None,
            access: crate::access::AccessPolicy::default(),
        }
    }
}

impl ServiceSettings {
    /// Kerberos is usable: Service/Auth/Kerberos and a keytab loaded at start.
    pub fn kerberos_enabled(&self) -> bool {
        self.auth_kerberos && self.kerberos_keytab
    }

    /// The request size limit in bytes (MaxEnvelopeSizekb × 1024).
    pub fn max_envelope_bytes(&self) -> u64 {
        u64::from(self.max_envelope_size_kb) * 1024
    }

    /// The time budget for receiving one request body.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.max_packet_retrieval_time_seconds.max(1)))
    }

    /// The cap on OperationTimeout.
    pub fn max_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.max_timeout_ms))
    }

    /// Idle lifetime of an enumeration context.
    pub fn enumeration_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.enumeration_timeout_ms))
    }

    /// The authentication policy of a connection of this transport: which schemes may be used
    /// and which challenges a 401 carries (decided by `wsman-auth`, reference §1.5).
    pub fn challenge_config(&self, transport: Transport) -> wsman_auth::ChallengeConfig {
        wsman_auth::ChallengeConfig {
            basic: self.auth_basic,
            negotiate: self.auth_negotiate,
            kerberos: self.kerberos_enabled(),
            certificate: self.auth_certificate,
            credssp: self.auth_credssp,
            https: transport == Transport::Https,
            allow_unencrypted: self.allow_unencrypted,
        }
    }

    /// The listeners to run: the enabled configured ones plus the compatibility listeners.
    pub fn effective_listeners(&self) -> Vec<Listener> {
        // Service/CertificateThumbprint, else the certificate of an HTTPS listener.
        let thumbprint = || {
            if self.service_certificate_thumbprint.trim().is_empty() {
                self.listeners
                    .iter()
                    .find(|l| {
                        l.transport == Transport::Https && !l.certificate_thumbprint.is_empty()
                    })
                    .map(|l| l.certificate_thumbprint.clone())
                    .unwrap_or_default()
            } else {
                self.service_certificate_thumbprint.clone()
            }
        };
        let https = self.enable_compatibility_https_listener.then(thumbprint);
        Listener::active(
            &self.listeners,
            self.enable_compatibility_http_listener,
            https,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_over_http_needs_allow_unencrypted() {
        let mut s = ServiceSettings {
            auth_basic: true,
            ..ServiceSettings::default()
        };
        assert!(s.challenge_config(Transport::Https).basic_allowed());
        assert_eq!(
            s.challenge_config(Transport::Https).challenges(),
            vec![wsman_auth::BASIC_CHALLENGE]
        );
        assert!(!s.challenge_config(Transport::Http).basic_allowed());
        assert!(s.challenge_config(Transport::Http).challenges().is_empty());
        s.allow_unencrypted = true;
        assert!(s.challenge_config(Transport::Http).basic_allowed());
        assert_eq!(s.challenge_config(Transport::Http).challenges().len(), 1);
        s.auth_basic = false;
        assert!(!s.challenge_config(Transport::Https).basic_allowed());
        assert!(s.challenge_config(Transport::Https).challenges().is_empty());
    }

    #[test]
    fn compatibility_listeners_and_disabled_ones() {
        let mut disabled = Listener::new(ListenerAddress::Any, Transport::Http, 5985);
        disabled.enabled = false;
        let s = ServiceSettings {
            enable_compatibility_http_listener: true,
            listeners: vec![disabled],
            ..ServiceSettings::default()
        };
        let l = s.effective_listeners();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].port, 80);
        assert!(l[0].compatibility);
    }
}
