//! Which `WWW-Authenticate` challenges a 401 carries, and whether Basic
//! credentials may be accepted on a listener.
//!
//! This is policy only: the server asks these functions and sends the
//! answer. Keeping both decisions here means the advertised schemes and the
//! accepted schemes cannot drift apart.

/// The `WWW-Authenticate` value for Basic. Windows and OMI send exactly this;
/// clients ignore the realm.
pub const BASIC_CHALLENGE: &str = "Basic realm=\"WSMAN\"";

/// The schemes switched on in `winrm/config/service/auth` plus the facts
/// about the listener that decide which of them may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChallengeConfig {
    /// `Service/Auth/Basic`.
    pub basic: bool,
    /// `Service/Auth/Negotiate` (not implemented yet: never advertised).
    pub negotiate: bool,
    /// `Service/Auth/Kerberos` (not implemented yet: never advertised).
    pub kerberos: bool,
    /// `Service/Auth/Certificate` (not implemented yet: never advertised).
    pub certificate: bool,
    /// `Service/Auth/CredSSP` (not implemented yet: never advertised).
    pub credssp: bool,
    /// The request arrived on an HTTPS listener.
    pub https: bool,
    /// `Service/AllowUnencrypted`: Basic over plain HTTP is permitted.
    pub allow_unencrypted: bool,
}

impl ChallengeConfig {
    /// Whether a Basic `Authorization` header may be checked at all on this
    /// listener: Basic must be enabled, and the channel must be TLS unless
    /// `AllowUnencrypted` is set (protocol reference §1.5). When this is
    /// false the server answers 401 without looking at the credentials.
    pub fn basic_allowed(&self) -> bool {
        self.basic && (self.https || self.allow_unencrypted)
    }

    /// The `WWW-Authenticate` values for a 401, one header each, in the
    /// order Windows sends them (Negotiate, Kerberos, certificate, Basic,
    /// CredSSP). Only schemes we implement and that are usable on this
    /// listener appear; today that is at most Basic.
    pub fn challenges(&self) -> Vec<&'static str> {
        let mut values = Vec::with_capacity(1);
        // Negotiate: "Negotiate" once SPNEGO/NTLM is implemented.
        // Kerberos: "Kerberos" once implemented.
        // Certificate: CERTIFICATE_CHALLENGE, HTTPS only, once implemented.
        if self.basic_allowed() {
            values.push(BASIC_CHALLENGE);
        }
        // CredSSP: "CredSSP" once implemented.
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_advertised_over_https_when_enabled() {
        let config = ChallengeConfig {
            basic: true,
            https: true,
            ..ChallengeConfig::default()
        };
        assert_eq!(config.challenges(), vec!["Basic realm=\"WSMAN\""]);
        assert!(config.basic_allowed());
    }

    #[test]
    fn basic_over_http_needs_allow_unencrypted() {
        let mut config = ChallengeConfig {
            basic: true,
            ..ChallengeConfig::default()
        };
        assert!(config.challenges().is_empty());
        assert!(!config.basic_allowed());
        config.allow_unencrypted = true;
        assert_eq!(config.challenges(), vec![BASIC_CHALLENGE]);
        assert!(config.basic_allowed());
    }

    #[test]
    fn disabled_basic_and_unimplemented_schemes_are_not_advertised() {
        let config = ChallengeConfig {
            basic: false,
            negotiate: true,
            kerberos: true,
            certificate: true,
            credssp: true,
            https: true,
            allow_unencrypted: true,
        };
        assert!(config.challenges().is_empty());
        assert!(!config.basic_allowed());
    }
}
