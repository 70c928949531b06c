//! The server's settings from `wsman-config`, and the default ProductVersion from `wsman-os`.
//! (Credentials and the administrator rule are checked in [`crate::auth`].)

use wsman_config::Config;

use crate::settings::ServiceSettings;

/// `OS: <kernel release> SP: 0.0 Stack: 3.0`, the default authenticated ProductVersion.
pub fn default_product_version() -> String {
    let kernel = wsman_os::kernel_release().unwrap_or_else(|_| "0.0.0".to_owned());
    format!("OS: {kernel} SP: 0.0 Stack: 3.0")
}

/// The server's settings from the effective configuration.
pub fn settings_from_config(config: &Config, default_product_version: &str) -> ServiceSettings {
    let service = &config.service;
    ServiceSettings {
        max_envelope_size_kb: config.max_envelope_size_kb,
        max_timeout_ms: config.max_timeout_ms,
        max_batch_items: config.max_batch_items,
        max_connections: service.max_connections,
        idle_connection_timeout: std::time::Duration::from_secs(u64::from(
            config.http.idle_connection_timeout,
        )),
        proxy_protocol_from: config.http.proxy_protocol_from.clone(),
        proxy_protocol_allow_loopback: config.http.proxy_protocol_allow_loopback,
        max_packet_retrieval_time_seconds: service.max_packet_retrieval_time_seconds,
        enumeration_timeout_ms: service.enumeration_timeout_ms,
        allow_unencrypted: service.allow_unencrypted,
        auth_basic: service.auth.basic,
        auth_negotiate: service.auth.negotiate,
        cbt_hardening: match service.auth.cbt_hardening_level {
            wsman_config::CbtHardeningLevel::None => wsman_auth::ntlm::CbtHardening::None,
            wsman_config::CbtHardeningLevel::Strict => wsman_auth::ntlm::CbtHardening::Strict,
            wsman_config::CbtHardeningLevel::Relaxed => wsman_auth::ntlm::CbtHardening::Relaxed,
        },
        auth_kerberos: service.auth.kerberos,
        kerberos_keytab: false,
        auth_certificate: service.auth.certificate,
        auth_credssp: service.auth.credssp,
        cert_mappings: config.cert_mappings.clone(),
        enable_compatibility_http_listener: service.enable_compatibility_http_listener,
        enable_compatibility_https_listener: service.enable_compatibility_https_listener,
        service_certificate_thumbprint: service.certificate_thumbprint.clone(),
        listeners: config.listeners.clone(),
        product_vendor: config.identify.product_vendor.clone(),
        product_version: config
            .identify
            .product_version
            .clone()
            .unwrap_or_else(|| default_product_version.to_owned()),
        winrs: crate::engines::shells::limits_from_config(config),
        pwsh: config.powershell.path.clone(),
        access: crate::access::AccessPolicy::from_config(config),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_map_to_windows_defaults() {
        let s = settings_from_config(&Config::default(), "OS: x SP: 0.0 Stack: 3.0");
        assert_eq!(s.max_envelope_size_kb, 500);
        assert_eq!(s.max_connections, 300);
        assert!(!s.auth_basic);
        assert!(s.listeners.is_empty());
        assert_eq!(s.product_version, "OS: x SP: 0.0 Stack: 3.0");
    }

    #[test]
    fn product_version_has_the_stack() {
        assert!(default_product_version().ends_with("SP: 0.0 Stack: 3.0"));
    }
}
