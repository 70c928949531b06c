//! The PAM conversation callback: answers password prompts with the
//! password and user-name prompts with the user name, non-interactively.

use std::ffi::{c_char, c_int, c_void, CString};
use std::{mem, ptr, slice};

use zeroize::{Zeroize, Zeroizing};

use super::sys::{
    PamMessage, PamResponse, PAM_BUF_ERR, PAM_CONV_ERR, PAM_ERROR_MSG, PAM_MAX_NUM_MSG,
    PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_SUCCESS, PAM_TEXT_INFO,
};

/// What the conversation answers with. It lives on the caller's stack for
/// the whole PAM transaction (from `pam_start` to `pam_end`), and PAM gets
/// a pointer to it as `appdata_ptr`.
pub(crate) struct ConversationData {
    pub(crate) user: CString,
    /// The password followed by one NUL byte, with no NUL before it.
    pub(crate) password: Zeroizing<Vec<u8>>,
}

impl ConversationData {
    /// Builds the data, refusing NUL bytes (C would cut the string there).
    /// The password is copied exactly once, into a buffer sized up front,
    /// so no unwiped reallocation of it is left behind.
    pub(crate) fn new(user: &str, password: &str) -> Result<Self, &'static str> {
        let user = CString::new(user).map_err(|_| "user name")?;
        if password.as_bytes().contains(&0) {
            return Err("password");
        }
        let mut terminated = Zeroizing::new(Vec::with_capacity(password.len() + 1));
        terminated.extend_from_slice(password.as_bytes());
        terminated.push(0);
        Ok(Self {
            user,
            password: terminated,
        })
    }
}

/// `struct pam_conv`'s callback.
///
/// Replies are allocated with `malloc`/`calloc` because PAM releases them
/// with `free`. Informational messages get no reply; any other prompt
/// style (radio, binary) fails the conversation, as no human is there to
/// answer it.
///
/// # Safety
///
/// Must only be called by Linux-PAM with `appdata_ptr` pointing at a live
/// [`ConversationData`], `msg` pointing at `num_msg` message pointers, and
/// `resp` writable.
pub(crate) unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int {
    if !(1..=PAM_MAX_NUM_MSG).contains(&num_msg)
        || msg.is_null()
        || resp.is_null()
        || appdata_ptr.is_null()
    {
        return PAM_CONV_ERR;
    }
    // SAFETY: `PamAuthenticator::authenticate` passes a pointer to a
    // `ConversationData` that outlives the PAM transaction; we only read it.
    let data = unsafe { &*appdata_ptr.cast::<ConversationData>() };
    let count = num_msg.unsigned_abs() as usize;
    // SAFETY: calloc with a non-zero count and element size; the result is
    // checked for NULL before use. Zeroed memory is a valid `PamResponse`
    // (NULL `resp`, zero `resp_retcode`).
    let replies =
        unsafe { libc::calloc(count, mem::size_of::<PamResponse>()) }.cast::<PamResponse>();
    if replies.is_null() {
        return PAM_BUF_ERR;
    }
    for index in 0..count {
        // SAFETY: Linux-PAM passes `msg` as an array of `num_msg` pointers
        // (checked non-NULL above), and `index < num_msg`.
        let message = unsafe { *msg.add(index) };
        if message.is_null() {
            // SAFETY: `replies` holds `count` entries, the first `index` filled by us.
            unsafe { free_replies(replies, index) };
            return PAM_CONV_ERR;
        }
        // SAFETY: `message` is a non-NULL pointer to a `pam_message` owned by PAM.
        let style = unsafe { (*message).msg_style };
        let answer: Option<&[u8]> = match style {
            PAM_PROMPT_ECHO_OFF => Some(data.password.as_slice()),
            PAM_PROMPT_ECHO_ON => Some(data.user.as_bytes_with_nul()),
            PAM_ERROR_MSG | PAM_TEXT_INFO => None,
            _ => {
                // SAFETY: as above.
                unsafe { free_replies(replies, index) };
                return PAM_CONV_ERR;
            }
        };
        let Some(answer) = answer else { continue };
        let Some(copy) = malloc_copy(answer) else {
            // SAFETY: as above.
            unsafe { free_replies(replies, index) };
            return PAM_BUF_ERR;
        };
        // SAFETY: `index < count`, so the entry is inside the calloc'd array.
        unsafe { (*replies.add(index)).resp = copy };
    }
    // SAFETY: `resp` is non-NULL and writable per PAM's contract; ownership
    // of `replies` passes to PAM, which frees it.
    unsafe { *resp = replies };
    PAM_SUCCESS
}

/// A `malloc`ed copy of the NUL-terminated `bytes` for PAM to own and free.
fn malloc_copy(bytes: &[u8]) -> Option<*mut c_char> {
    // SAFETY: malloc of a non-zero size (at least the NUL); checked below.
    let copy = unsafe { libc::malloc(bytes.len()) }.cast::<c_char>();
    if copy.is_null() {
        return None;
    }
    // SAFETY: `copy` has room for `bytes.len()` bytes and does not overlap
    // `bytes`, which we borrow.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), copy, bytes.len()) };
    Some(copy)
}

/// Wipes and frees the first `filled` replies and the array itself, on a
/// failed conversation (PAM does not free replies when we return an error).
///
/// # Safety
///
/// `replies` must come from `calloc` in [`converse`], with at least `filled`
/// entries whose `resp` is NULL or a NUL-terminated `malloc`ed string.
unsafe fn free_replies(replies: *mut PamResponse, filled: usize) {
    for index in 0..filled {
        // SAFETY: `index < filled`, within the array per the contract.
        let text = unsafe { (*replies.add(index)).resp };
        if text.is_null() {
            continue;
        }
        // SAFETY: `text` is a NUL-terminated string we allocated, so strlen
        // stays inside it and the slice covers memory we own exclusively.
        unsafe { slice::from_raw_parts_mut(text.cast::<u8>(), libc::strlen(text)).zeroize() };
        // SAFETY: allocated with malloc in `malloc_copy`, freed once.
        unsafe { libc::free(text.cast()) };
    }
    // SAFETY: allocated with calloc in `converse`, freed once.
    unsafe { libc::free(replies.cast()) };
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    fn data() -> ConversationData {
        ConversationData::new("alice", "s3cret").unwrap()
    }

    #[test]
    fn nul_bytes_are_refused() {
        assert_eq!(ConversationData::new("a\0", "pw").err(), Some("user name"));
        assert_eq!(ConversationData::new("a", "p\0w").err(), Some("password"));
        assert_eq!(data().password.as_slice(), b"s3cret\0");
    }

    /// Calls `converse` as PAM would and returns the code and answers,
    /// freeing what PAM would free.
    fn run(styles: &[c_int]) -> (c_int, Vec<Option<String>>) {
        let mut data = data();
        let prompt = CString::new("Password: ").unwrap();
        let messages: Vec<PamMessage> = styles
            .iter()
            .map(|&msg_style| PamMessage {
                msg_style,
                msg: prompt.as_ptr(),
            })
            .collect();
        let mut pointers: Vec<*const PamMessage> = messages.iter().map(|m| m as *const _).collect();
        let mut replies: *mut PamResponse = ptr::null_mut();
        let count = c_int::try_from(styles.len()).unwrap();
        // SAFETY: arguments set up exactly as Linux-PAM would pass them.
        let code = unsafe {
            converse(
                count,
                pointers.as_mut_ptr(),
                &mut replies,
                ptr::from_mut(&mut data).cast(),
            )
        };
        let mut answers = Vec::new();
        if code == PAM_SUCCESS {
            for index in 0..styles.len() {
                // SAFETY: on success `replies` has `styles.len()` entries.
                let text = unsafe { (*replies.add(index)).resp };
                if text.is_null() {
                    answers.push(None);
                } else {
                    // SAFETY: a NUL-terminated string from `malloc_copy`.
                    let owned = unsafe { CStr::from_ptr(text) }.to_str().unwrap().to_owned();
                    answers.push(Some(owned));
                }
            }
            // SAFETY: what PAM does with a successful reply array.
            unsafe { free_replies(replies, styles.len()) };
        } else {
            assert!(replies.is_null(), "no replies handed out on failure");
        }
        (code, answers)
    }

    #[test]
    fn answers_password_and_user_prompts() {
        let (code, answers) = run(&[PAM_TEXT_INFO, PAM_PROMPT_ECHO_ON, PAM_PROMPT_ECHO_OFF]);
        assert_eq!(code, PAM_SUCCESS);
        assert_eq!(
            answers,
            [None, Some("alice".to_owned()), Some("s3cret".to_owned())]
        );
    }

    #[test]
    fn refuses_unknown_styles_and_bad_counts() {
        assert_eq!(run(&[PAM_PROMPT_ECHO_OFF, 5]).0, PAM_CONV_ERR);
        assert_eq!(run(&[]).0, PAM_CONV_ERR);
        assert_eq!(run(&[PAM_TEXT_INFO; 33]).0, PAM_CONV_ERR);
    }

    #[test]
    fn refuses_null_pointers() {
        // SAFETY: every pointer is NULL, which converse checks first.
        let code = unsafe { converse(1, ptr::null_mut(), ptr::null_mut(), ptr::null_mut()) };
        assert_eq!(code, PAM_CONV_ERR);
    }
}
