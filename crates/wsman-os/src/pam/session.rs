//! A PAM session around one command, opened as a login opens one: `pam_start`,
//! `pam_setcred(PAM_ESTABLISH_CRED)`, `pam_open_session`, and on drop `pam_close_session`,
//! `pam_setcred(PAM_DELETE_CRED)`, `pam_end`.
//!
//! Only the session helper (`process::session`, a process of its own per command) opens
//! one: the session stack changes the calling process (pam_limits sets its limits,
//! pam_systemd moves it into a scope), which must never be the daemon.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;

use super::error::{PamCode, PamError, PamStage};
use super::sys::{
    self, PamConv, PamHandle, PamMessage, PamResponse, PAM_CONV_ERR, PAM_DELETE_CRED,
    PAM_ESTABLISH_CRED, PAM_RHOST, PAM_SILENT, PAM_SUCCESS, PAM_TTY,
};

/// An open PAM session; closed (and its credentials deleted) when dropped.
#[derive(Debug)]
pub struct PamSession {
    handle: *mut PamHandle,
    /// The last status, which `pam_end` is given.
    status: c_int,
    credentials: bool,
    open: bool,
}

/// Nobody answers prompts during a session: a module that asks fails its conversation
/// (PAM_SILENT keeps the informational ones from being sent at all).
unsafe extern "C" fn refuse_conversation(
    _num_msg: c_int,
    _msg: *mut *const PamMessage,
    _resp: *mut *mut PamResponse,
    _appdata_ptr: *mut c_void,
) -> c_int {
    PAM_CONV_ERR
}

impl PamSession {
    /// Opens a session of `service` for `user`. `tty` is the terminal's path (`PAM_TTY`),
    /// `remote_host` the client's address (`PAM_RHOST`), as sshd gives them. Must run as
    /// root, in the process the session belongs to.
    pub fn open(
        service: &str,
        user: &str,
        tty: Option<&str>,
        remote_host: Option<&str>,
    ) -> Result<Self, PamError> {
        let nul = |what| move |_| PamError::NulByte { what };
        let service = CString::new(service).map_err(nul("service name"))?;
        let user_c = CString::new(user).map_err(nul("user name"))?;
        let tty = tty.map(CString::new).transpose().map_err(nul("tty"))?;
        let remote_host = remote_host
            .map(CString::new)
            .transpose()
            .map_err(nul("remote host"))?;
        let failed = |stage, code| PamError::Failed {
            stage,
            code: PamCode(code),
            user: user.to_owned(),
        };
        let conversation = PamConv {
            conv: Some(refuse_conversation),
            appdata_ptr: ptr::null_mut(),
        };
        let (handle, code) = super::start(&service, &user_c, &conversation)
            .map_err(|code| failed(PamStage::Start, code))?;
        let mut session = Self {
            handle,
            status: code,
            credentials: false,
            open: false,
        };
        if code != PAM_SUCCESS {
            return Err(failed(PamStage::Start, code));
        }
        for (item, value) in [(PAM_TTY, &tty), (PAM_RHOST, &remote_host)] {
            if let Some(value) = value {
                // SAFETY: a live handle; PAM copies the string.
                session.status = unsafe { sys::pam_set_item(handle, item, value.as_ptr().cast()) };
                if session.status != PAM_SUCCESS {
                    return Err(failed(PamStage::Start, session.status));
                }
            }
        }
        // SAFETY: a live handle from a successful pam_start.
        session.status = unsafe { sys::pam_setcred(handle, PAM_ESTABLISH_CRED | PAM_SILENT) };
        if session.status != PAM_SUCCESS {
            return Err(failed(PamStage::EstablishCredentials, session.status));
        }
        session.credentials = true;
        // SAFETY: as above.
        session.status = unsafe { sys::pam_open_session(handle, PAM_SILENT) };
        if session.status != PAM_SUCCESS {
            return Err(failed(PamStage::OpenSession, session.status));
        }
        session.open = true;
        Ok(session)
    }

    /// The session's environment (`pam_getenvlist`: what pam_env, pam_systemd and others
    /// set), as `NAME=value` byte strings.
    pub fn environment(&self) -> Vec<Vec<u8>> {
        // SAFETY: a live handle; the result is NULL or a malloc'd NULL-terminated array of
        // malloc'd strings that we own and free below.
        let list = unsafe { sys::pam_getenvlist(self.handle) };
        let mut out = Vec::new();
        if list.is_null() {
            return out;
        }
        let mut index = 0;
        loop {
            // SAFETY: within the NULL-terminated array.
            let entry: *mut c_char = unsafe { *list.add(index) };
            if entry.is_null() {
                break;
            }
            // SAFETY: a NUL-terminated string PAM allocated; copied, then freed once.
            unsafe {
                out.push(CStr::from_ptr(entry).to_bytes().to_vec());
                libc::free(entry.cast());
            }
            index += 1;
        }
        // SAFETY: the array itself, freed once after its entries.
        unsafe { libc::free(list.cast()) };
        out
    }
}

impl Drop for PamSession {
    fn drop(&mut self) {
        if self.open {
            // SAFETY: a live handle whose session is open; closed once.
            self.status = unsafe { sys::pam_close_session(self.handle, PAM_SILENT) };
        }
        if self.credentials {
            // SAFETY: as above; the credentials were established.
            let _ = unsafe { sys::pam_setcred(self.handle, PAM_DELETE_CRED | PAM_SILENT) };
        }
        // SAFETY: ended exactly once, here.
        unsafe { sys::pam_end(self.handle, self.status) };
    }
}
