//! Hand-written declarations for the part of Linux-PAM wsmand uses,
//! checked against `<security/_pam_types.h>` and `<security/pam_appl.h>`
//! (libpam0g-dev). Only what is needed: start, authenticate, account
//! check, end, and a command's session (credentials, open, environment, close).

use std::ffi::{c_char, c_int, c_void};

pub(crate) const PAM_SUCCESS: c_int = 0;
pub(crate) const PAM_CONV_ERR: c_int = 19;
pub(crate) const PAM_BUF_ERR: c_int = 5;

/// Do not emit any messages.
pub(crate) const PAM_SILENT: c_int = 0x8000;
/// Fail authentication if the user has an empty password.
pub(crate) const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x0001;
/// `pam_setcred`: set the user's credentials.
pub(crate) const PAM_ESTABLISH_CRED: c_int = 0x0002;
/// `pam_setcred`: delete them.
pub(crate) const PAM_DELETE_CRED: c_int = 0x0004;

/// `pam_set_item` types.
pub(crate) const PAM_TTY: c_int = 3;
pub(crate) const PAM_RHOST: c_int = 4;

pub(crate) const PAM_PROMPT_ECHO_OFF: c_int = 1;
pub(crate) const PAM_PROMPT_ECHO_ON: c_int = 2;
pub(crate) const PAM_ERROR_MSG: c_int = 3;
pub(crate) const PAM_TEXT_INFO: c_int = 4;

/// Linux-PAM refuses conversations with more messages than this.
pub(crate) const PAM_MAX_NUM_MSG: c_int = 32;

/// `struct pam_message`.
#[repr(C)]
pub(crate) struct PamMessage {
    pub(crate) msg_style: c_int,
    pub(crate) msg: *const c_char,
}

/// `struct pam_response`; PAM frees `resp` and the array with `free`.
#[repr(C)]
pub(crate) struct PamResponse {
    pub(crate) resp: *mut c_char,
    pub(crate) resp_retcode: c_int,
}

/// The conversation callback type of `struct pam_conv`.
pub(crate) type ConversationFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

/// `struct pam_conv`.
#[repr(C)]
pub(crate) struct PamConv {
    pub(crate) conv: Option<ConversationFn>,
    pub(crate) appdata_ptr: *mut c_void,
}

/// Opaque `pam_handle_t`.
#[repr(C)]
pub(crate) struct PamHandle {
    _private: [u8; 0],
}

#[link(name = "pam")]
unsafe extern "C" {
    pub(crate) fn pam_start(
        service_name: *const c_char,
        user: *const c_char,
        pam_conversation: *const PamConv,
        pamh: *mut *mut PamHandle,
    ) -> c_int;
    pub(crate) fn pam_end(pamh: *mut PamHandle, pam_status: c_int) -> c_int;
    pub(crate) fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub(crate) fn pam_acct_mgmt(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub(crate) fn pam_setcred(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub(crate) fn pam_open_session(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub(crate) fn pam_close_session(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub(crate) fn pam_set_item(
        pamh: *mut PamHandle,
        item_type: c_int,
        item: *const c_void,
    ) -> c_int;
    /// A malloc'd NULL-terminated array of malloc'd `NAME=value` strings (the caller frees).
    pub(crate) fn pam_getenvlist(pamh: *mut PamHandle) -> *mut *mut c_char;
}
