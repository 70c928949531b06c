//! Checking a Linux user's password through PAM, non-interactively.
//!
//! One call runs one PAM transaction: `pam_start` with the service name
//! (`wsmand`, so `/etc/pam.d/wsmand` decides the policy), `PAM_RHOST` set to the
//! client's address when there is one (modules log it, `pam_access` and
//! `pam_faillock` decide on it), `pam_authenticate`
//! and `pam_acct_mgmt` with `PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK`, then
//! `pam_end`. The password reaches PAM only through the conversation
//! callback; our copy is wiped when the call returns.
//!
//! A command's login session (`session`) is opened by the session helper, never in the
//! daemon.
//!
//! Blocking: PAM modules may sleep (failure delays) or talk to a directory
//! server. Call it from a blocking thread.

mod conversation;
mod error;
pub mod session;
pub mod stack;
mod sys;

use std::ffi::{c_int, CStr, CString};
use std::ptr;

use self::conversation::{converse, ConversationData};
pub use self::error::{PamCode, PamError, PamStage};
use self::sys::{
    PamConv, PamHandle, PAM_DISALLOW_NULL_AUTHTOK, PAM_RHOST, PAM_SILENT, PAM_SUCCESS,
};

/// The PAM service wsmand uses: `/etc/pam.d/wsmand`.
pub const DEFAULT_PAM_SERVICE: &str = "wsmand";

/// Checks passwords against PAM under one service name.
#[derive(Debug, Clone)]
pub struct PamAuthenticator {
    service: CString,
}

impl PamAuthenticator {
    /// A checker for `service` (normally [`DEFAULT_PAM_SERVICE`]).
    pub fn new(service: &str) -> Result<Self, PamError> {
        let service = CString::new(service).map_err(|_| PamError::NulByte {
            what: "service name",
        })?;
        Ok(Self { service })
    }

    /// `Ok(())` if PAM accepts `password` for `user` and the account may log
    /// in now (`pam_acct_mgmt`: not expired, not locked, no forced password
    /// change, which a WinRM client could not perform).
    pub fn authenticate(&self, user: &str, password: &str) -> Result<(), PamError> {
        self.authenticate_from(user, password, None)
    }

    /// [`Self::authenticate`] for a client at `remote_host` (its address, as text), which
    /// PAM gets as `PAM_RHOST` before any module runs.
    pub fn authenticate_from(
        &self,
        user: &str,
        password: &str,
        remote_host: Option<&str>,
    ) -> Result<(), PamError> {
        let remote_host =
            remote_host
                .map(CString::new)
                .transpose()
                .map_err(|_| PamError::NulByte {
                    what: "remote host",
                })?;
        let data =
            ConversationData::new(user, password).map_err(|what| PamError::NulByte { what })?;
        let conversation = PamConv {
            conv: Some(converse),
            appdata_ptr: ptr::from_ref(&data).cast_mut().cast(),
        };
        let failed = |stage, code| PamError::Failed {
            stage,
            code: PamCode(code),
            user: user.to_owned(),
        };

        // `data` (the conversation's appdata) outlives the transaction because `transaction`
        // below is declared after it and so dropped first.
        let (handle, code) = start(&self.service, &data.user, &conversation)
            .map_err(|code| failed(PamStage::Start, code))?;
        let mut transaction = Transaction {
            handle,
            status: code,
        };
        if code != PAM_SUCCESS {
            return Err(failed(PamStage::Start, code));
        }
        if let Some(remote_host) = &remote_host {
            // SAFETY: a live handle from a successful pam_start; PAM copies the string.
            transaction.status =
                unsafe { sys::pam_set_item(handle, PAM_RHOST, remote_host.as_ptr().cast()) };
            if transaction.status != PAM_SUCCESS {
                return Err(failed(PamStage::Start, transaction.status));
            }
        }

        let flags: c_int = PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK;
        // SAFETY: `handle` is a live handle from a successful pam_start.
        transaction.status = unsafe { sys::pam_authenticate(handle, flags) };
        if transaction.status != PAM_SUCCESS {
            return Err(failed(PamStage::Authenticate, transaction.status));
        }
        // SAFETY: as above; the user has just been authenticated.
        transaction.status = unsafe { sys::pam_acct_mgmt(handle, flags) };
        if transaction.status != PAM_SUCCESS {
            return Err(failed(PamStage::AccountManagement, transaction.status));
        }
        Ok(())
    }
}

/// `pam_start` of `service` for `user`: the handle and its status (a handle that is not
/// `PAM_SUCCESS` must still be ended), or the status alone when PAM gave no handle. The
/// caller keeps the conversation's appdata alive until the handle is ended.
fn start(
    service: &CStr,
    user: &CStr,
    conversation: &PamConv,
) -> Result<(*mut PamHandle, c_int), c_int> {
    let mut handle: *mut PamHandle = ptr::null_mut();
    // SAFETY: `service` and `user` are valid NUL-terminated strings and `conversation` a
    // valid `pam_conv`, which PAM copies.
    let code =
        unsafe { sys::pam_start(service.as_ptr(), user.as_ptr(), conversation, &mut handle) };
    if handle.is_null() {
        return Err(code);
    }
    Ok((handle, code))
}

/// Ends the PAM transaction (with the last status, as PAM asks) however
/// `authenticate` returns.
struct Transaction {
    handle: *mut PamHandle,
    status: c_int,
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // SAFETY: `handle` came from pam_start, is non-NULL, and is ended
        // exactly once, here.
        unsafe { sys::pam_end(self.handle, self.status) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_are_refused_before_pam() {
        assert!(matches!(
            PamAuthenticator::new("ws\0mand"),
            Err(PamError::NulByte { .. })
        ));
        let pam = PamAuthenticator::new(DEFAULT_PAM_SERVICE).unwrap();
        assert_eq!(
            pam.authenticate("a\0b", "pw"),
            Err(PamError::NulByte { what: "user name" })
        );
        assert_eq!(
            pam.authenticate("root", "p\0w"),
            Err(PamError::NulByte { what: "password" })
        );
    }

    #[test]
    fn unknown_user_is_refused() {
        let pam = PamAuthenticator::new(DEFAULT_PAM_SERVICE).unwrap();
        let error = pam
            .authenticate("wsmand-no-such-user-x7", "whatever")
            .unwrap_err();
        assert!(error.is_credential_failure(), "{error}");
    }

    /// Real PAM check, run when CI provides a test account.
    #[test]
    fn real_pam_accepts_right_password_and_refuses_wrong_one() {
        let (Ok(user), Ok(password)) = (
            std::env::var("WSMAN_TEST_PAM_USER"),
            std::env::var("WSMAN_TEST_PAM_PASSWORD"),
        ) else {
            eprintln!(
                "skipped: set WSMAN_TEST_PAM_USER and WSMAN_TEST_PAM_PASSWORD \
                 to a Linux account to test real PAM"
            );
            return;
        };
        let pam = PamAuthenticator::new(DEFAULT_PAM_SERVICE).unwrap();
        pam.authenticate(&user, &password)
            .expect("right password must pass");
        let error = pam
            .authenticate(&user, &format!("{password}-wrong"))
            .unwrap_err();
        assert!(
            matches!(
                error,
                PamError::Failed {
                    stage: PamStage::Authenticate,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.is_credential_failure(), "{error}");
        let error = pam.authenticate(&user, "").unwrap_err();
        assert!(error.is_credential_failure(), "{error}");
    }
}
