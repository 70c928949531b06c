//! The real backends: credentials through `wsman-auth` (service accounts, then PAM via
//! `wsman-os`), administrators through `wsman-os`, and settings from `wsman-config`.

use std::path::PathBuf;

use wsman_auth::{AuthError, Authenticator, Credentials, Identity, PasswordChecker};
use wsman_config::Config;
use wsman_os::PamAuthenticator;

use crate::auth::{CredentialVerifier, Principal, VerifyError};
use crate::settings::{ListenerConfig, ServiceSettings, Transport};

/// PAM as `wsman-auth`'s system password checker.
struct PamChecker {
    pam: PamAuthenticator,
}

impl PasswordChecker for PamChecker {
    fn check(&self, user: &str, password: &str) -> Result<(), AuthError> {
        self.pam.authenticate(user, password).map_err(|e| {
            if e.is_credential_failure() {
                AuthError::Rejected {
                    reason: e.to_string(),
                }
            } else {
                AuthError::Backend {
                    backend: "PAM",
                    detail: e.to_string(),
                }
            }
        })
    }
}

/// Service accounts from `DIR/accounts.toml`, else Linux accounts through PAM (`wsmand`).
pub struct SystemVerifier {
    authenticator: Authenticator,
}

impl SystemVerifier {
    /// A verifier for the accounts under `config_dir` and the PAM service `pam_service`.
    pub fn new(config_dir: impl Into<PathBuf>, pam_service: &str) -> Result<Self, VerifyError> {
        let pam = PamAuthenticator::new(pam_service).map_err(|e| VerifyError::Backend {
            reason: e.to_string(),
        })?;
        Ok(Self {
            authenticator: Authenticator::new(config_dir, Box::new(PamChecker { pam })),
        })
    }
}

impl CredentialVerifier for SystemVerifier {
    fn verify_basic(&self, user: &str, password: &str) -> Result<Principal, VerifyError> {
        let credentials = Credentials::new(user, password);
        let identity = self
            .authenticator
            .authenticate(&credentials)
            .map_err(|e| match e {
                AuthError::Rejected { .. } => VerifyError::BadCredentials,
                other => VerifyError::Backend {
                    reason: other.to_string(),
                },
            })?;
        Ok(Principal::new(
            identity.name.clone(),
            identity_is_administrator(&identity),
        ))
    }
}

/// A service account counts as its run-as user; without one it is not an administrator.
fn identity_is_administrator(identity: &Identity) -> bool {
    let Some(linux) = identity.linux_user.as_deref() else {
        return false;
    };
    match wsman_os::lookup_user(linux) {
        Ok(Some(user)) => wsman_os::is_administrator(&user).unwrap_or_else(|e| {
            tracing::warn!(user = linux, error = %e, "group lookup failed: not an administrator");
            false
        }),
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(user = linux, error = %e, "user lookup failed: not an administrator");
            false
        }
    }
}

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
        max_packet_retrieval_time_seconds: service.max_packet_retrieval_time_seconds,
        enumeration_timeout_ms: service.enumeration_timeout_ms,
        allow_unencrypted: service.allow_unencrypted,
        auth_basic: service.auth.basic,
        enable_compatibility_http_listener: service.enable_compatibility_http_listener,
        enable_compatibility_https_listener: service.enable_compatibility_https_listener,
        service_certificate_thumbprint: service.certificate_thumbprint.clone(),
        listeners: config
            .listeners
            .iter()
            .map(|l| ListenerConfig {
                address: l.address.to_string(),
                transport: match l.transport {
                    wsman_config::Transport::Http => Transport::Http,
                    wsman_config::Transport::Https => Transport::Https,
                },
                port: l.port,
                hostname: l.hostname.clone(),
                enabled: l.enabled,
                url_prefix: l.url_prefix.clone(),
                certificate_thumbprint: l.certificate_thumbprint.clone(),
            })
            .collect(),
        product_vendor: config.identify.product_vendor.clone(),
        product_version: config
            .identify
            .product_version
            .clone()
            .unwrap_or_else(|| default_product_version.to_owned()),
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
    fn service_account_without_run_as_is_not_admin() {
        assert!(!identity_is_administrator(&Identity::service_account(
            "svc", None
        )));
        assert!(identity_is_administrator(&Identity::service_account(
            "svc",
            Some("root".to_owned())
        )));
        assert!(!identity_is_administrator(&Identity::linux_user(
            "wsmand-no-such-user-x9"
        )));
    }

    #[test]
    fn product_version_has_the_stack() {
        assert!(default_product_version().ends_with("SP: 0.0 Stack: 3.0"));
    }
}
