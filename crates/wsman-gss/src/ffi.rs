//! Every GSS-API call of this crate, over libgssapi-sys: credentials from an explicit store
//! (`gss_acquire_cred_from`: our own keytab, replay cache or credential cache, never the
//! process-global defaults), SPNEGO restricted to Kerberos (`gss_set_neg_mechs`), the context
//! handshake, MIT's wrap/unwrap, and MIT's lucid context export, which hands out the
//! context's keys and sequence numbers so that `cfx` can seal without MIT.
//!
//! The context handle is ours (not libgssapi's `ServerCtx`/`ClientCtx`) because the lucid
//! export and `gss_export_sec_context` need the raw handle, which libgssapi keeps private.
//! This file holds all of the crate's `unsafe`.
#![allow(unsafe_code)]

use std::ffi::{c_void, CString};
use std::ptr;
use std::sync::Arc;

use libgssapi::error::{Error as GssStatus, MajorFlags};
use libgssapi_sys as sys;
use zeroize::Zeroizing;

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
    if major != sys::GSS_S_COMPLETE {
        if !cred.is_null() {
            release(cred);
        }
        return Err(GssError::Credential(status_text(major, minor)));
    }
    Ok(Credential(Arc::new(CredHandle(cred))))
}

/// The mechanism an initiator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mech {
    Krb5,
    Spnego,
}

/// What one handshake step produced.
pub(super) struct StepOutput {
    pub(super) complete: bool,
    pub(super) token: Vec<u8>,
    pub(super) flags: u32,
}

/// Who authenticated to whom, read from an established context.
pub(super) struct ContextInfo {
    pub(super) source: String,
    pub(super) local_name: Option<String>,
    pub(super) target: String,
    pub(super) is_krb5: bool,
}

/// The CFX keys and sequence numbers of a lucid context (version 1).
pub(super) struct LucidKeys {
    /// 1: RFC 4121 (CFX); 0: RFC 1964 (RC4, DES3), which we leave to MIT.
    pub(super) protocol: u32,
    pub(super) send_seq: u64,
    pub(super) recv_seq: u64,
    pub(super) ctx_key: (u32, Zeroizing<Vec<u8>>),
    pub(super) acceptor_subkey: Option<(u32, Zeroizing<Vec<u8>>)>,
}

/// `gss_krb5_lucid_key_t`.
#[repr(C)]
struct LucidKey {
    key_type: sys::OM_uint32,
    length: sys::OM_uint32,
    data: *mut c_void,
}

/// `gss_krb5_rfc1964_keydata_t`.
#[repr(C)]
struct Rfc1964KeyData {
    sign_alg: sys::OM_uint32,
    seal_alg: sys::OM_uint32,
    ctx_key: LucidKey,
}

/// `gss_krb5_cfx_keydata_t`.
#[repr(C)]
struct CfxKeyData {
    have_acceptor_subkey: sys::OM_uint32,
    ctx_key: LucidKey,
    acceptor_subkey: LucidKey,
}

/// `gss_krb5_lucid_context_v1_t` (gssapi/gssapi_krb5.h).
#[repr(C)]
struct LucidContextV1 {
    version: sys::OM_uint32,
    initiate: sys::OM_uint32,
    endtime: sys::OM_uint32,
    send_seq: u64,
    recv_seq: u64,
    protocol: sys::OM_uint32,
    rfc1964_kd: Rfc1964KeyData,
    cfx_kd: CfxKeyData,
}

#[link(name = "gssapi_krb5")]
unsafe extern "C" {
    fn gss_krb5_export_lucid_sec_context(
        minor_status: *mut sys::OM_uint32,
        context_handle: *mut sys::gss_ctx_id_t,
        version: sys::OM_uint32,
        kctx: *mut *mut c_void,
    ) -> sys::OM_uint32;
    fn gss_krb5_free_lucid_sec_context(
        minor_status: *mut sys::OM_uint32,
        kctx: *mut c_void,
    ) -> sys::OM_uint32;
    fn gsskrb5_extract_authtime_from_sec_context(
        minor_status: *mut sys::OM_uint32,
        context_handle: sys::gss_ctx_id_t,
        authtime: *mut i32,
    ) -> sys::OM_uint32;
}

/// One security context handle (acceptor or initiator). `Send`, not `Sync`: MIT forbids
/// concurrent calls on one context.
pub(super) struct GssContext {
    ctx: sys::gss_ctx_id_t,
}

// SAFETY: the handle is used by one thread at a time (`&mut self` for every call that can
// change it, and the type is not `Sync`).
unsafe impl Send for GssContext {}

impl Drop for GssContext {
    fn drop(&mut self) {
        self.delete();
    }
}

fn channel_bindings(application_data: &[u8]) -> sys::gss_channel_bindings_struct {
    sys::gss_channel_bindings_struct {
        initiator_addrtype: 0,
        initiator_address: empty_buffer(),
        acceptor_addrtype: 0,
        acceptor_address: empty_buffer(),
        application_data: input_buffer(application_data),
    }
}

fn is_error(major: sys::OM_uint32) -> bool {
    // Routine and calling errors; supplementary bits alone (e.g. a duplicate token) are
    // reported separately by each caller.
    major & 0xffff_0000 != 0
}

impl GssContext {
    pub(super) fn new() -> Self {
        Self {
            ctx: ptr::null_mut(),
        }
    }

    /// Whether a live handle remains (false after switching to our own sealing).
    pub(super) fn is_live(&self) -> bool {
        !self.ctx.is_null()
    }

    /// Delete the handle (idempotent).
    pub(super) fn delete(&mut self) {
        if !self.ctx.is_null() {
            let mut minor: sys::OM_uint32 = 0;
            // SAFETY: `self.ctx` is a live handle we own; MIT sets it to GSS_C_NO_CONTEXT.
            unsafe { sys::gss_delete_sec_context(&mut minor, &mut self.ctx, ptr::null_mut()) };
            self.ctx = ptr::null_mut();
        }
    }

    /// One `gss_accept_sec_context` step.
    pub(super) fn accept(
        &mut self,
        cred: &Credential,
        token: &[u8],
        bindings: Option<&[u8]>,
    ) -> Result<StepOutput, CallError> {
        let mut input = input_buffer(token);
        let mut output = empty_buffer();
        let mut cb = channel_bindings(bindings.unwrap_or_default());
        let cb_ptr: sys::gss_channel_bindings_t = match bindings {
            Some(_) => &mut cb,
            None => ptr::null_mut(),
        };
        let mut minor: sys::OM_uint32 = 0;
        let mut flags: sys::OM_uint32 = 0;
        let mut delegated: sys::gss_cred_id_t = ptr::null_mut();
        // SAFETY: `self.ctx` is ours (NULL on the first call); `cred.0` lives as long as
        // `cred`; `input` and `cb` borrow locals/arguments that outlive the call; `output`
        // is released by take_buffer; the optional name/mech/time outputs are NULL; a
        // delegated credential, if any, is released right after.
        let major = unsafe {
            sys::gss_accept_sec_context(
                &mut minor,
                &mut self.ctx,
                (cred.0).0,
                &mut input,
                cb_ptr,
                ptr::null_mut(),
                ptr::null_mut(),
                &mut output,
                &mut flags,
                ptr::null_mut(),
                &mut delegated,
            )
        };
        if !delegated.is_null() {
            release(delegated);
        }
        let token = take_buffer(&mut output, false);
        if is_error(major) {
            return Err(CallError::status(major, minor));
        }
        Ok(StepOutput {
            complete: major & sys::_GSS_S_CONTINUE_NEEDED == 0,
            token,
            flags,
        })
    }

    /// One `gss_init_sec_context` step.
    pub(super) fn init(
        &mut self,
        cred: Option<&Credential>,
        target: &GssName,
        mech: Mech,
        req_flags: u32,
        bindings: Option<&[u8]>,
        token: Option<&[u8]>,
    ) -> Result<StepOutput, CallError> {
        let mut input = input_buffer(token.unwrap_or_default());
        let input_ptr: sys::gss_buffer_t = match token {
            Some(_) => &mut input,
            None => ptr::null_mut(),
        };
        let mut output = empty_buffer();
        let mut cb = channel_bindings(bindings.unwrap_or_default());
        let cb_ptr: sys::gss_channel_bindings_t = match bindings {
            Some(_) => &mut cb,
            None => ptr::null_mut(),
        };
        let mut mech_oid = match mech {
            Mech::Krb5 => oid(&KRB5_OID),
            Mech::Spnego => oid(&SPNEGO_OID),
        };
        let cred_handle = cred.map_or(ptr::null_mut(), |cred| (cred.0).0);
        let mut minor: sys::OM_uint32 = 0;
        let mut flags: sys::OM_uint32 = 0;
        // SAFETY: as in `accept`: every pointer is a live local, argument or owned handle
        // for the duration of the call; `output` is released by take_buffer.
        let major = unsafe {
            sys::gss_init_sec_context(
                &mut minor,
                cred_handle,
                &mut self.ctx,
                target.0,
                &mut mech_oid,
                req_flags,
                sys::_GSS_C_INDEFINITE,
                cb_ptr,
                input_ptr,
                ptr::null_mut(),
                &mut output,
                &mut flags,
                ptr::null_mut(),
            )
        };
        let token = take_buffer(&mut output, false);
        if is_error(major) {
            return Err(CallError::status(major, minor));
        }
        Ok(StepOutput {
            complete: major & sys::_GSS_S_CONTINUE_NEEDED == 0,
            token,
            flags,
        })
    }

    /// The names and mechanism of the established context.
    pub(super) fn info(&self) -> Result<ContextInfo, GssError> {
        let mut minor: sys::OM_uint32 = 0;
        let mut source: sys::gss_name_t = ptr::null_mut();
        let mut target: sys::gss_name_t = ptr::null_mut();
        let mut mech: sys::gss_OID = ptr::null_mut();
        // SAFETY: `self.ctx` is a live handle; both names are new allocations we wrap in
        // `GssName` (released on drop); `mech` points at static mechanism data; the other
        // outputs are optional (NULL).
        let major = unsafe {
            sys::gss_inquire_context(
                &mut minor,
                self.ctx,
                &mut source,
                &mut target,
                ptr::null_mut(),
                &mut mech,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let source = GssName(source);
        let target = GssName(target);
        if major != sys::GSS_S_COMPLETE {
            return Err(GssError::Rejected(status_text(major, minor)));
        }
        Ok(ContextInfo {
            source: source.display()?,
            local_name: source.local_name(),
            target: target.display()?,
            is_krb5: is_krb5(mech),
        })
    }

    /// The ticket's authentication time (seconds since the epoch, by the KDC's clock): when
    /// the KDC issued the initial ticket the service ticket derives from.
    pub(super) fn authtime(&self) -> Result<i64, CallError> {
        if self.ctx.is_null() {
            return Err(CallError::NoContext);
        }
        let mut minor: sys::OM_uint32 = 0;
        let mut authtime: i32 = 0;
        // SAFETY: `self.ctx` is a live, established handle we own (checked non-null above);
        // `authtime` is a live local `krb5_timestamp` (a 32-bit signed integer) MIT writes.
        let major = unsafe {
            gsskrb5_extract_authtime_from_sec_context(&mut minor, self.ctx, &mut authtime)
        };
        CallError::check(major, minor)?;
        // krb5_timestamp is unsigned in meaning since MIT 1.17 (past 2038).
        Ok(i64::from(authtime as u32))
    }

    /// Take the context's keys through MIT's lucid export, keeping a live copy of the
    /// context: `gss_export_sec_context` (which ends this handle), then two imports, one
    /// consumed by `gss_krb5_export_lucid_sec_context` and one kept as `self`. On any
    /// failure before the export the handle is untouched; after it, a failed import leaves
    /// no live handle (the caller poisons the context).
    pub(super) fn lucid_keys(&mut self) -> Result<LucidKeys, CallError> {
        let mut minor: sys::OM_uint32 = 0;
        let mut exported = empty_buffer();
        // SAFETY: `self.ctx` is a live handle; on success MIT ends it (sets it to NULL) and
        // fills `exported`, which take_buffer zeroes and releases.
        let major =
            unsafe { sys::gss_export_sec_context(&mut minor, &mut self.ctx, &mut exported) };
        let token = Zeroizing::new(take_buffer(&mut exported, true));
        CallError::check(major, minor)?;
        self.ctx = import_context(&token)?;
        let mut copy = import_context(&token)?;
        let mut lucid: *mut c_void = ptr::null_mut();
        // SAFETY: `copy` is a live handle we own, consumed (deleted) by the call; `lucid`
        // receives a structure freed below with gss_krb5_free_lucid_sec_context.
        let major =
            unsafe { gss_krb5_export_lucid_sec_context(&mut minor, &mut copy, 1, &mut lucid) };
        if !copy.is_null() {
            let mut ignored: sys::OM_uint32 = 0;
            // SAFETY: a handle left by a failed export is still ours to delete.
            unsafe { sys::gss_delete_sec_context(&mut ignored, &mut copy, ptr::null_mut()) };
        }
        if major != sys::GSS_S_COMPLETE || lucid.is_null() {
            return Err(CallError::status(major, minor));
        }
        // SAFETY: MIT returned a version-1 lucid context (we asked for version 1, and the
        // version field is checked before anything else is read); key pointers are valid for
        // their lengths until the free below.
        let keys = unsafe {
            let context = &*(lucid as *const LucidContextV1);
            if context.version != 1 {
                None
            } else {
                let key = |key: &LucidKey| {
                    let bytes = if key.data.is_null() {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(key.data as *const u8, key.length as usize)
                            .to_vec()
                    };
                    (key.key_type, Zeroizing::new(bytes))
                };
                let cfx = &context.cfx_kd;
                Some(LucidKeys {
                    protocol: context.protocol,
                    send_seq: context.send_seq,
                    recv_seq: context.recv_seq,
                    ctx_key: if context.protocol == 1 {
                        key(&cfx.ctx_key)
                    } else {
                        key(&context.rfc1964_kd.ctx_key)
                    },
                    acceptor_subkey: (context.protocol == 1 && cfx.have_acceptor_subkey != 0)
                        .then(|| key(&cfx.acceptor_subkey)),
                })
            }
        };
        // SAFETY: `lucid` came from the export above and is freed exactly once (MIT zeroes
        // the key material it frees).
        unsafe { gss_krb5_free_lucid_sec_context(&mut minor, lucid) };
        keys.ok_or(CallError::LucidVersion)
    }

    /// MIT's `gss_wrap_iov` with confidentiality, HEADER | DATA | PADDING: (header,
    /// ciphertext followed by any padding).
    pub(super) fn wrap_iov(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CallError> {
        let mut data = plain.to_vec();
        let mut iov = [
            iov_alloc(sys::GSS_IOV_BUFFER_TYPE_HEADER),
            sys::gss_iov_buffer_desc {
                type_: sys::GSS_IOV_BUFFER_TYPE_DATA,
                buffer: inout_buffer(&mut data),
            },
            iov_alloc(sys::GSS_IOV_BUFFER_TYPE_PADDING),
        ];
        let mut minor: sys::OM_uint32 = 0;
        let mut conf_state = 0;
        // SAFETY: `self.ctx` is live; the DATA buffer points at `data`, which MIT encrypts in
        // place and which outlives the call; HEADER and PADDING are MIT allocations released
        // by release_iov below.
        let major = unsafe {
            sys::gss_wrap_iov(
                &mut minor,
                self.ctx,
                1,
                0,
                &mut conf_state,
                iov.as_mut_ptr(),
                3,
            )
        };
        let header = iov_take(&mut iov[0]);
        let padding = iov_take(&mut iov[2]);
        CallError::check_sealed(major, minor, conf_state)?;
        data.extend_from_slice(&padding);
        Ok((header, data))
    }

    /// MIT's `gss_unwrap_iov` over HEADER | DATA: the plaintext. Refuses integrity-only
    /// tokens and any supplementary status (replay, gap, out of order).
    pub(super) fn unwrap_iov(
        &mut self,
        header: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        let mut header = header.to_vec();
        let mut data = ciphertext.to_vec();
        let mut iov = [
            sys::gss_iov_buffer_desc {
                type_: sys::GSS_IOV_BUFFER_TYPE_HEADER,
                buffer: inout_buffer(&mut header),
            },
            sys::gss_iov_buffer_desc {
                type_: sys::GSS_IOV_BUFFER_TYPE_DATA,
                buffer: inout_buffer(&mut data),
            },
        ];
        let mut minor: sys::OM_uint32 = 0;
        let mut conf_state = 0;
        // SAFETY: `self.ctx` is live; both buffers point at our own copies (`header`,
        // `data`), which MIT decrypts in place and which outlive the call; the QOP output is
        // optional.
        let major = unsafe {
            sys::gss_unwrap_iov(
                &mut minor,
                self.ctx,
                &mut conf_state,
                ptr::null_mut(),
                iov.as_mut_ptr(),
                2,
            )
        };
        let plain_len = iov[1].buffer.length.min(data.len());
        header.clear();
        CallError::check_sealed(major, minor, conf_state)?;
        data.truncate(plain_len);
        Ok(data)
    }

    /// MIT's `gss_wrap` with confidentiality: one whole token.
    pub(super) fn wrap(&mut self, plain: &[u8]) -> Result<Vec<u8>, CallError> {
        let mut input = input_buffer(plain);
        let mut output = empty_buffer();
        let mut minor: sys::OM_uint32 = 0;
        let mut conf_state = 0;
        // SAFETY: `self.ctx` is live; `input` borrows `plain`; `output` is released by
        // take_buffer.
        let major = unsafe {
            sys::gss_wrap(
                &mut minor,
                self.ctx,
                1,
                0,
                &mut input,
                &mut conf_state,
                &mut output,
            )
        };
        let token = take_buffer(&mut output, false);
        CallError::check(major, minor)?;
        Ok(token)
    }

    /// MIT's `gss_unwrap` of one whole token; refuses any supplementary status.
    pub(super) fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, CallError> {
        let mut input = input_buffer(token);
        let mut output = empty_buffer();
        let mut minor: sys::OM_uint32 = 0;
        let mut conf_state = 0;
        // SAFETY: as in `wrap`.
        let major = unsafe {
            sys::gss_unwrap(
                &mut minor,
                self.ctx,
                &mut input,
                &mut output,
                &mut conf_state,
                ptr::null_mut(),
            )
        };
        let plain = take_buffer(&mut output, true);
        CallError::check_sealed(major, minor, conf_state)?;
        Ok(plain)
    }
}

fn import_context(token: &[u8]) -> Result<sys::gss_ctx_id_t, CallError> {
    let mut input = input_buffer(token);
    let mut minor: sys::OM_uint32 = 0;
    let mut ctx: sys::gss_ctx_id_t = ptr::null_mut();
    // SAFETY: `input` borrows `token` for the call; `ctx` receives a new handle we own.
    let major = unsafe { sys::gss_import_sec_context(&mut minor, &mut input, &mut ctx) };
    if major != sys::GSS_S_COMPLETE {
        return Err(CallError::status(major, minor));
    }
    Ok(ctx)
}

fn iov_alloc(kind: u32) -> sys::gss_iov_buffer_desc {
    sys::gss_iov_buffer_desc {
        type_: kind | sys::GSS_IOV_BUFFER_FLAG_ALLOCATE,
        buffer: empty_buffer(),
    }
}

/// Copy out and free a buffer MIT allocated into an iov entry.
fn iov_take(iov: &mut sys::gss_iov_buffer_desc) -> Vec<u8> {
    if iov.type_ & sys::GSS_IOV_BUFFER_FLAG_ALLOCATED != 0 {
        take_buffer(&mut iov.buffer, false)
    } else {
        Vec::new()
    }
}
