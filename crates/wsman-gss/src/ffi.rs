//! Every GSS-API call of this crate, over libgssapi-sys: credentials from an explicit store
//! (`gss_acquire_cred_from`: our own keytab, replay cache or credential cache, never the
//! process-global defaults), SPNEGO restricted to Kerberos (`gss_set_neg_mechs`), the context
//! handshake, MIT's wrap/unwrap, and MIT's lucid context export, which hands out the
//! context's keys and sequence numbers so that `cfx` can seal without MIT.
//!
//! The context handle is ours (not libgssapi's `ServerCtx`/`ClientCtx`) because the lucid
//! export and `gss_export_sec_context` need the raw handle, which libgssapi keeps private.
//! This module holds all of the crate's `unsafe`: this file (credentials, names, buffers,
//! statuses), `ffi/context.rs` (the context handle: handshake, inquiry, wrap/unwrap) and
//! `ffi/krb5.rs` (what MIT's Kerberos mechanism adds: the lucid export, the authtime).
#![allow(unsafe_code)]

use std::ffi::{c_void, CString};
use std::ptr;
use std::sync::Arc;

use libgssapi::error::{Error as GssStatus, MajorFlags};
use libgssapi_sys as sys;

use super::GssError;

mod context;
mod krb5;

pub(super) use context::{GssContext, Mech};

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
pub(super) fn acquire_cred_from(
    usage: Usage,
    store: &[(&str, &str)],
) -> Result<Credential, GssError> {
    acquire_cred_named_from(usage, None, store)
}

/// [`acquire_cred_from`] for the principal `name` (`None`: GSS_C_NO_NAME, the store's
/// default): an initiator whose keys come from a client keytab (`client_keytab`) names the
/// principal it acts as.
pub(super) fn acquire_cred_named_from(
    usage: Usage,
    name: Option<&GssName>,
    store: &[(&str, &str)],
) -> Result<Credential, GssError> {
    let desired_name = name.map_or(ptr::null_mut(), |n| n.0);
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
    // NUL-terminated CStrings, all of which outlive the call; the desired name is a live name
    // borrowed from the caller for the call (MIT copies it) or GSS_C_NO_NAME; the mechanism
    // set (default) and both optional outputs are allowed to be NULL by RFC 5588 / MIT's
    // gss_acquire_cred_from. `usage_flag` is GSS_C_ACCEPT or GSS_C_INITIATE (1 or 2), which
    // fits the C int.
    let major = unsafe {
        sys::gss_acquire_cred_from(
            &mut minor,
            desired_name,
            sys::_GSS_C_INDEFINITE,
            ptr::null_mut(),
            usage_flag as sys::gss_cred_usage_t,
            &store_set,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    let cred = acquired(major, minor, cred)?;
    if let Usage::Accept = usage {
        if let Err(error) = restrict_negotiation_to_krb5(cred) {
            release(cred);
            return Err(error);
        }
    }
    Ok(Credential(Arc::new(CredHandle(cred))))
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

/// Why one call on a live context failed. Internal: the modules above carry its text in the
/// [`GssError`] variant that fits the call (`Rejected`, `Wrap`, `Unwrap`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum CallError {
    /// The library refused the call; its major and minor status as MIT words them.
    #[error("{text}")]
    Status {
        /// MIT's message.
        text: String,
    },
    /// There is no live context handle (the export ended it, or it was never made).
    #[error("no live context")]
    NoContext,
    /// The lucid export is of a version other than the one asked for.
    #[error("unexpected lucid context version")]
    LucidVersion,
    /// The library opened a token that was not sealed (integrity only).
    #[error("the wrap token is not sealed")]
    NotSealed,
}

impl CallError {
    fn status(major: u32, minor: u32) -> Self {
        Self::Status {
            text: status_text(major, minor),
        }
    }

    /// A call's status: `Ok` when it completed.
    fn check(major: u32, minor: u32) -> Result<(), Self> {
        match major {
            sys::GSS_S_COMPLETE => Ok(()),
            _ => Err(Self::status(major, minor)),
        }
    }

    /// A sealing call's status: completed, and with confidentiality (`conf_state` set; an
    /// integrity-only token is refused).
    fn check_sealed(major: u32, minor: u32, conf_state: std::ffi::c_int) -> Result<(), Self> {
        Self::check(major, minor)?;
        match conf_state {
            0 => Err(Self::NotSealed),
            _ => Ok(()),
        }
    }
}

/// Kerberos principal name type 1.2.840.113554.1.2.2.1 (GSS_KRB5_NT_PRINCIPAL_NAME).
const KRB5_PRINCIPAL_NAME_OID: [u8; 10] = *b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";
/// Host-based service name type 1.2.840.113554.1.2.1.4 (GSS_C_NT_HOSTBASED_SERVICE).
const HOSTBASED_SERVICE_OID: [u8; 10] = *b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04";
/// SPNEGO 1.3.6.1.5.5.2.
const SPNEGO_OID: [u8; 6] = *b"\x2b\x06\x01\x05\x05\x02";

/// An owned credential handle, shared by every context made with it.
struct CredHandle(sys::gss_cred_id_t);

// SAFETY: a GSS credential handle is only read by the calls that take it (accept/init), and
// MIT's credentials are internally locked for the replay cache and ccache; libgssapi's `Cred`
// makes the same promise. It is released once, in `Drop`.
unsafe impl Send for CredHandle {}
// SAFETY: as above: shared use is read-only from our side.
unsafe impl Sync for CredHandle {}

impl Drop for CredHandle {
    fn drop(&mut self) {
        release(self.0);
    }
}

/// A credential (acceptor keytab or initiator tickets), cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub(super) struct Credential(Arc<CredHandle>);

/// A `gss_OID_desc` over static bytes, for calls that take an OID by pointer.
fn oid(bytes: &'static [u8]) -> sys::gss_OID_desc {
    sys::gss_OID_desc {
        length: bytes.len() as sys::OM_uint32,
        elements: bytes.as_ptr() as *mut c_void,
    }
}

/// Whether a library-owned OID is Kerberos 5.
fn is_krb5(mech: sys::gss_OID) -> bool {
    if mech.is_null() {
        return false;
    }
    // SAFETY: `mech` is a non-null OID returned by MIT (static mechanism data that is never
    // freed); its `elements` points at `length` bytes.
    let bytes = unsafe {
        let desc = &*mech;
        std::slice::from_raw_parts(desc.elements as *const u8, desc.length as usize)
    };
    bytes == KRB5_OID
}

/// Copy a library-allocated buffer out and release it (zeroing it first when it may hold
/// secrets).
fn take_buffer(buffer: &mut sys::gss_buffer_desc, secret: bool) -> Vec<u8> {
    let bytes = if buffer.value.is_null() || buffer.length == 0 {
        Vec::new()
    } else {
        // SAFETY: MIT filled `buffer` with `length` bytes at `value`, which stay valid until
        // gss_release_buffer below.
        let view = unsafe { std::slice::from_raw_parts(buffer.value as *const u8, buffer.length) };
        view.to_vec()
    };
    if secret && !buffer.value.is_null() {
        // SAFETY: the same `length` bytes, writable (MIT allocated them with malloc).
        unsafe { ptr::write_bytes(buffer.value as *mut u8, 0, buffer.length) };
    }
    let mut minor: sys::OM_uint32 = 0;
    // SAFETY: `buffer` was filled by MIT (or is empty); releasing it once is the contract.
    unsafe { sys::gss_release_buffer(&mut minor, buffer) };
    bytes
}

/// A buffer MIT transforms in place (wrap/unwrap IOV DATA).
fn inout_buffer(bytes: &mut [u8]) -> sys::gss_buffer_desc {
    sys::gss_buffer_desc {
        length: bytes.len(),
        value: bytes.as_mut_ptr().cast(),
    }
}

fn empty_buffer() -> sys::gss_buffer_desc {
    sys::gss_buffer_desc {
        length: 0,
        value: ptr::null_mut(),
    }
}

/// A borrowed input buffer. MIT's prototypes take `gss_buffer_t` (non-const) for inputs but
/// never write through them.
fn input_buffer(bytes: &[u8]) -> sys::gss_buffer_desc {
    sys::gss_buffer_desc {
        length: bytes.len(),
        value: bytes.as_ptr() as *mut c_void,
    }
}

/// An owned GSS name.
pub(super) struct GssName(sys::gss_name_t);

// SAFETY: a name is used by one context at a time; MIT names are plain heap data.
unsafe impl Send for GssName {}

impl Drop for GssName {
    fn drop(&mut self) {
        if !self.0.is_null() {
            let mut minor: sys::OM_uint32 = 0;
            // SAFETY: the name came from gss_import_name/gss_inquire_context and is released
            // exactly once.
            unsafe { sys::gss_release_name(&mut minor, &mut self.0) };
        }
    }
}

impl GssName {
    /// A host-based service name, `service@host`.
    pub(super) fn host_service(text: &str) -> Result<Self, GssError> {
        Self::import(text, &HOSTBASED_SERVICE_OID)
    }

    /// A Kerberos principal, `user@REALM`.
    pub(super) fn principal(text: &str) -> Result<Self, GssError> {
        Self::import(text, &KRB5_PRINCIPAL_NAME_OID)
    }

    fn import(text: &str, name_type: &'static [u8]) -> Result<Self, GssError> {
        let mut buffer = input_buffer(text.as_bytes());
        let mut name_type = oid(name_type);
        let mut minor: sys::OM_uint32 = 0;
        let mut name: sys::gss_name_t = ptr::null_mut();
        // SAFETY: `buffer` borrows `text` for the call; `name_type` points at static bytes;
        // `name` receives a new name we own.
        let major =
            unsafe { sys::gss_import_name(&mut minor, &mut buffer, &mut name_type, &mut name) };
        let name = Self(name);
        if major != sys::GSS_S_COMPLETE {
            return Err(GssError::Name {
                name: text.to_owned(),
                detail: status_text(major, minor),
            });
        }
        Ok(name)
    }

    fn display(&self) -> Result<String, GssError> {
        let mut minor: sys::OM_uint32 = 0;
        let mut buffer = empty_buffer();
        // SAFETY: `self.0` is a live name; `buffer` receives a library allocation released by
        // take_buffer; the name type output is optional (NULL).
        let major =
            unsafe { sys::gss_display_name(&mut minor, self.0, &mut buffer, ptr::null_mut()) };
        let bytes = take_buffer(&mut buffer, false);
        if major != sys::GSS_S_COMPLETE {
            return Err(GssError::Rejected(status_text(major, minor)));
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// libkrb5's `auth_to_local` mapping, `None` when no rule applies.
    fn local_name(&self) -> Option<String> {
        let mut minor: sys::OM_uint32 = 0;
        let mut buffer = empty_buffer();
        let krb5 = oid(&KRB5_OID);
        // SAFETY: `self.0` is a live name, `krb5` a static OID, `buffer` an output released
        // by take_buffer.
        let major = unsafe { sys::gss_localname(&mut minor, self.0, &krb5, &mut buffer) };
        let bytes = take_buffer(&mut buffer, false);
        if major != sys::GSS_S_COMPLETE {
            return None;
        }
        String::from_utf8(bytes)
            .ok()
            .filter(|name| !name.is_empty())
    }
}

/// `gss_acquire_cred_with_password` for an initiator: a TGT held in memory only.
pub(super) fn acquire_cred_with_password(
    principal: &GssName,
    password: &str,
) -> Result<Credential, GssError> {
    let mut secret = input_buffer(password.as_bytes());
    let mut minor: sys::OM_uint32 = 0;
    let mut cred: sys::gss_cred_id_t = ptr::null_mut();
    // SAFETY: `principal.0` is a live name; `secret` borrows `password` for the call; the
    // mechanism set (default) and the optional outputs are NULL; `cred` receives a handle we
    // own.
    let major = unsafe {
        sys::gss_acquire_cred_with_password(
            &mut minor,
            principal.0,
            &mut secret,
            sys::_GSS_C_INDEFINITE,
            ptr::null_mut(),
            sys::GSS_C_INITIATE as sys::gss_cred_usage_t,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    Ok(Credential(Arc::new(CredHandle(acquired(
        major, minor, cred,
    )?))))
}

/// The handle a `gss_acquire_cred*` call returned with status `major`: on failure the
/// handle MIT may still have set is released and the status is the error.
fn acquired(
    major: sys::OM_uint32,
    minor: sys::OM_uint32,
    cred: sys::gss_cred_id_t,
) -> Result<sys::gss_cred_id_t, GssError> {
    if major == sys::GSS_S_COMPLETE {
        return Ok(cred);
    }
    if !cred.is_null() {
        release(cred);
    }
    Err(GssError::Credential(status_text(major, minor)))
}
