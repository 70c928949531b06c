//! Which `WWW-Authenticate` challenges a 401 carries, and whether Basic
//! credentials may be accepted on a listener.
//!
//! This is policy only: the server asks these functions and sends the
//! answer. Keeping both decisions here means the advertised schemes and the
//! accepted schemes cannot drift apart.

/// The `WWW-Authenticate` value for Basic. Windows and OMI send exactly this;
/// clients ignore the realm.
pub const BASIC_CHALLENGE: &str = "Basic realm=\"WSMAN\"";

/// The `WWW-Authenticate` value for Negotiate (SPNEGO or raw NTLM): the bare scheme, as
/// Windows sends it. Usable over HTTP without AllowUnencrypted: the traffic is sealed.
pub const NEGOTIATE_CHALLENGE: &str = "Negotiate";

/// The `WWW-Authenticate` value for CredSSP, last in Windows' order; usable over HTTP without
/// AllowUnencrypted (the traffic is sealed by the CredSSP TLS session).
pub const CREDSSP_CHALLENGE: &str = "CredSSP";

/// The `WWW-Authenticate` value for Kerberos (raw Kerberos GSS tokens), as Windows sends it.
pub const KERBEROS_CHALLENGE: &str = "Kerberos";

/// The `WWW-Authenticate` value for client certificates: the profile URI itself, as Windows
/// sends it on HTTPS listeners with `Service/Auth/Certificate` enabled.
pub const CERTIFICATE_CHALLENGE: &str = wsman_proto::ns::secprofile::HTTPS_MUTUAL;

/// The schemes switched on in `winrm/config/service/auth` plus the facts
/// about the listener that decide which of them may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChallengeConfig {
    /// `Service/Auth/Basic`.
    pub basic: bool,
    /// `Service/Auth/Negotiate` (NTLM, raw or SPNEGO-wrapped).
    pub negotiate: bool,
    /// `Service/Auth/Kerberos` with a keytab: advertises `Negotiate` (Kerberos inside SPNEGO
    /// or raw) and `Kerberos`.
    pub kerberos: bool,
    /// `Service/Auth/Certificate`: never advertised in a 401, since a client certificate is
    /// asked for in the TLS handshake, not in an HTTP challenge.
    pub certificate: bool,
    /// `Service/Auth/CredSSP`.
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
        if self.negotiate || self.kerberos {
            values.push(NEGOTIATE_CHALLENGE);
        }
        if self.kerberos {
            values.push(KERBEROS_CHALLENGE);
        }
        if self.certificate && self.https {
            values.push(CERTIFICATE_CHALLENGE);
        }
        if self.basic_allowed() {
            values.push(BASIC_CHALLENGE);
        }
        if self.credssp {
            values.push(CREDSSP_CHALLENGE);
        }
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
            kerberos: false,
            certificate: true,
            credssp: false,
            https: true,
            allow_unencrypted: true,
        };
        assert_eq!(
            config.challenges(),
            vec![NEGOTIATE_CHALLENGE, CERTIFICATE_CHALLENGE]
        );
        let with_credssp = ChallengeConfig {
            credssp: true,
            basic: true,
            ..config
        };
        assert_eq!(
            with_credssp.challenges(),
            vec![
                NEGOTIATE_CHALLENGE,
                CERTIFICATE_CHALLENGE,
                BASIC_CHALLENGE,
                CREDSSP_CHALLENGE
            ],
            "Windows' order: CredSSP last"
        );
        assert!(!config.basic_allowed());
    }

    #[test]
    fn kerberos_advertises_negotiate_and_kerberos_in_windows_order() {
        let mut config = ChallengeConfig {
            kerberos: true,
            basic: true,
            https: true,
            ..ChallengeConfig::default()
        };
        assert_eq!(
            config.challenges(),
            vec![NEGOTIATE_CHALLENGE, KERBEROS_CHALLENGE, BASIC_CHALLENGE]
        );
        config.negotiate = true;
        assert_eq!(
            config.challenges(),
            vec![NEGOTIATE_CHALLENGE, KERBEROS_CHALLENGE, BASIC_CHALLENGE],
            "Negotiate once, whichever engine it leads to"
        );
    }

    #[test]
    fn certificate_is_advertised_on_https_only() {
        let mut config = ChallengeConfig {
            certificate: true,
            basic: true,
            https: true,
            ..ChallengeConfig::default()
        };
        assert_eq!(
            config.challenges(),
            vec![CERTIFICATE_CHALLENGE, BASIC_CHALLENGE]
        );
        config.https = false;
        config.allow_unencrypted = true;
        assert_eq!(config.challenges(), vec![BASIC_CHALLENGE]);
    }
}
