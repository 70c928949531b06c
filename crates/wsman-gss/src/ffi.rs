//! The two GSS-API calls libgssapi 0.11 does not wrap: `gss_acquire_cred_from` (a credential
//! from an explicit credential store: our own keytab, replay cache or credential cache, never
//! the process-global defaults) and `gss_set_neg_mechs` (SPNEGO may only pick Kerberos).
//! This file holds all of the `gss` module's `unsafe`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::ptr;

use libgssapi::credential::Cred;
use libgssapi::error::{Error as GssStatus, MajorFlags};
use libgssapi_sys as sys;

use super::GssError;

/// Kerberos 5 mechanism OID 1.2.840.113554.1.2.2, DER content bytes.
const KRB5_OID: [u8; 9] = *b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";

/// What a credential is acquired for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Usage {
    Accept,
    Initiate,
}

/// `gss_acquire_cred_from(GSS_C_NO_NAME, indefinite, default mechanisms, usage, store)`, then,
/// for an acceptor, `gss_set_neg_mechs({krb5})` so that SPNEGO never negotiates anything
/// else (an installed gss-ntlmssp would otherwise be offered). `store` is a list of MIT
/// credential-store pairs such as `("keytab", "/etc/wsmand/wsman.keytab")`.
pub(super) fn acquire_cred_from(usage: Usage, store: &[(&str, &str)]) -> Result<Cred, GssError> {
    let owned: Vec<(CString, CString)> = store
        .iter()
        .map(|(key, value)| Ok((CString::new(*key)?, CString::new(*value)?)))
        .collect::<Result<_, std::ffi::NulError>>()
        .map_err(|_| GssError::InvalidArgument("credential store value contains a NUL byte"))?;
    let mut elements: Vec<sys::gss_key_value_element_struct> = owned
        .iter()
        .map(|(key, value)| sys::gss_key_value_element_struct {
            key: key.as_ptr(),
            value: value.as_ptr(),
        })
        .collect();
    let count = u32::try_from(elements.len())
        .map_err(|_| GssError::InvalidArgument("too many credential store elements"))?;
    let store_set = sys::gss_key_value_set_struct {
        count,
        elements: elements.as_mut_ptr(),
    };
    let usage_flag = match usage {
        Usage::Accept => sys::GSS_C_ACCEPT,
        Usage::Initiate => sys::GSS_C_INITIATE,
    };
    let mut minor: sys::OM_uint32 = 0;
    let mut cred: sys::gss_cred_id_t = ptr::null_mut();
    // SAFETY: every pointer handed over is valid for the call: `minor` and `cred` are live
    // locals; `store_set` points at `elements`, whose key/value pointers point into `owned`'s
    // NUL-terminated CStrings, all of which outlive the call; the desired name (GSS_C_NO_NAME),
    // mechanism set (default) and both optional outputs are allowed to be NULL by RFC 5588 /
    // MIT's gss_acquire_cred_from. `usage_flag` is GSS_C_ACCEPT or GSS_C_INITIATE (1 or 2),
    // which fits the C int.
    let major = unsafe {
        sys::gss_acquire_cred_from(
            &mut minor,
            ptr::null_mut(),
            sys::_GSS_C_INDEFINITE,
            ptr::null_mut(),
            usage_flag as sys::gss_cred_usage_t,
            &store_set,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if major != sys::GSS_S_COMPLETE {
        if !cred.is_null() {
            release(cred);
        }
        return Err(GssError::Credential(status_text(major, minor)));
    }
    if let Usage::Accept = usage {
        if let Err(error) = restrict_negotiation_to_krb5(cred) {
            release(cred);
            return Err(error);
        }
    }
    // SAFETY: `cred` was just returned by a successful gss_acquire_cred_from and nothing else
    // holds it: ownership moves into the `Cred`, which releases it once when its last clone
    // drops.
    Ok(unsafe { Cred::from_c(cred) })
}

/// `gss_set_neg_mechs(cred, {krb5})`.
fn restrict_negotiation_to_krb5(cred: sys::gss_cred_id_t) -> Result<(), GssError> {
    let mut krb5 = KRB5_OID;
    let mut oid = sys::gss_OID_desc {
        length: KRB5_OID.len() as sys::OM_uint32,
        elements: krb5.as_mut_ptr().cast(),
    };
    let mut set = sys::gss_OID_set_desc {
        count: 1,
        elements: &mut oid,
    };
    let mut minor: sys::OM_uint32 = 0;
    // SAFETY: `cred` is a live credential handle owned by our caller; `set` points at one
    // OID descriptor whose bytes live in the local `krb5`; MIT copies the set, so none of
    // these locals needs to outlive the call.
    let major = unsafe { sys::gss_set_neg_mechs(&mut minor, cred, &mut set) };
    if major == sys::GSS_S_COMPLETE {
        Ok(())
    } else {
        Err(GssError::Credential(status_text(major, minor)))
    }
}

/// Release a credential we have not handed to a `Cred` (error paths only).
fn release(mut cred: sys::gss_cred_id_t) {
    let mut minor: sys::OM_uint32 = 0;
    // SAFETY: `cred` came from gss_acquire_cred_from, was never wrapped, and is released
    // exactly once here; gss_release_cred sets it to GSS_C_NO_CREDENTIAL.
    unsafe {
        sys::gss_release_cred(&mut minor, &mut cred);
    }
}

/// MIT's major and minor status messages, for logs.
pub(super) fn status_text(major: u32, minor: u32) -> String {
    GssStatus {
        major: MajorFlags::from_bits_retain(major),
        minor,
    }
    .to_string()
}
