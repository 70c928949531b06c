//! PAM return codes and the error type.

#![forbid(unsafe_code)]

use std::fmt;

/// A PAM return code, printed by its `<security/_pam_types.h>` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PamCode(pub i32);

impl PamCode {
    /// The constant's name, e.g. `PAM_AUTH_ERR`.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 32] = [
            "PAM_SUCCESS",
            "PAM_OPEN_ERR",
            "PAM_SYMBOL_ERR",
            "PAM_SERVICE_ERR",
            "PAM_SYSTEM_ERR",
            "PAM_BUF_ERR",
            "PAM_PERM_DENIED",
            "PAM_AUTH_ERR",
            "PAM_CRED_INSUFFICIENT",
            "PAM_AUTHINFO_UNAVAIL",
            "PAM_USER_UNKNOWN",
            "PAM_MAXTRIES",
            "PAM_NEW_AUTHTOK_REQD",
            "PAM_ACCT_EXPIRED",
            "PAM_SESSION_ERR",
            "PAM_CRED_UNAVAIL",
            "PAM_CRED_EXPIRED",
            "PAM_CRED_ERR",
            "PAM_NO_MODULE_DATA",
            "PAM_CONV_ERR",
            "PAM_AUTHTOK_ERR",
            "PAM_AUTHTOK_RECOVERY_ERR",
            "PAM_AUTHTOK_LOCK_BUSY",
            "PAM_AUTHTOK_DISABLE_AGING",
            "PAM_TRY_AGAIN",
            "PAM_IGNORE",
            "PAM_ABORT",
            "PAM_AUTHTOK_EXPIRED",
            "PAM_MODULE_UNKNOWN",
            "PAM_BAD_ITEM",
            "PAM_CONV_AGAIN",
            "PAM_INCOMPLETE",
        ];
        usize::try_from(self.0)
            .ok()
            .and_then(|index| NAMES.get(index))
            .copied()
            .unwrap_or("PAM_UNKNOWN_CODE")
    }

    /// Whether the code means "these credentials may not log in" (wrong
    /// password, unknown or locked or expired account), as opposed to PAM
    /// itself failing (bad configuration, missing module, out of memory).
    pub fn is_credential_failure(self) -> bool {
        matches!(
            self.name(),
            "PAM_PERM_DENIED"
                | "PAM_AUTH_ERR"
                | "PAM_CRED_INSUFFICIENT"
                | "PAM_USER_UNKNOWN"
                | "PAM_MAXTRIES"
                | "PAM_NEW_AUTHTOK_REQD"
                | "PAM_ACCT_EXPIRED"
                | "PAM_CRED_EXPIRED"
                | "PAM_AUTHTOK_EXPIRED"
        )
    }
}

impl fmt::Display for PamCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Which PAM call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PamStage {
    /// `pam_acct_mgmt`: the password was right but the account may not log
    /// in now (expired, locked, password change required).
    AccountManagement,
    /// `pam_authenticate`: the credentials were checked and refused, or a
    /// module failed.
    Authenticate,
    /// `pam_start`: PAM could not be set up for the service.
    Start,
    /// `pam_setcred(PAM_ESTABLISH_CRED)` before a command's session.
    EstablishCredentials,
    /// `pam_open_session`: a module of the session stack refused or failed.
    OpenSession,
}

impl fmt::Display for PamStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AccountManagement => "pam_acct_mgmt",
            Self::Authenticate => "pam_authenticate",
            Self::Start => "pam_start",
            Self::EstablishCredentials => "pam_setcred",
            Self::OpenSession => "pam_open_session",
        })
    }
}

/// Why a PAM check did not succeed. Never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PamError {
    /// A PAM call returned an error code.
    #[error("{stage} failed for user '{user}': {code}")]
    Failed {
        /// Which call.
        stage: PamStage,
        /// What it returned.
        code: PamCode,
        /// The user being checked (safe to log).
        user: String,
    },
    /// The service, user or password contains a NUL byte and cannot be
    /// passed to C; no PAM call was made.
    #[error("{what} contains a NUL byte")]
    NulByte {
        /// `service name`, `user name` or `password`.
        what: &'static str,
    },
}

impl PamError {
    /// Whether this is a refusal of the credentials (answer 401) rather
    /// than PAM failing to work (also 401, but worth an error log).
    pub fn is_credential_failure(&self) -> bool {
        match self {
            Self::Failed { code, .. } => code.is_credential_failure(),
            Self::NulByte { .. } => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_header_values() {
        assert_eq!(PamCode(0).name(), "PAM_SUCCESS");
        assert_eq!(PamCode(7).name(), "PAM_AUTH_ERR");
        assert_eq!(PamCode(10).name(), "PAM_USER_UNKNOWN");
        assert_eq!(PamCode(19).name(), "PAM_CONV_ERR");
        assert_eq!(PamCode(31).name(), "PAM_INCOMPLETE");
        assert_eq!(PamCode(32).name(), "PAM_UNKNOWN_CODE");
        assert_eq!(PamCode(-1).name(), "PAM_UNKNOWN_CODE");
        assert_eq!(PamCode(7).to_string(), "PAM_AUTH_ERR (7)");
    }

    #[test]
    fn classifies_credential_failures() {
        assert!(PamCode(7).is_credential_failure());
        assert!(PamCode(13).is_credential_failure());
        assert!(!PamCode(4).is_credential_failure());
        assert!(!PamCode(19).is_credential_failure());
    }
}
