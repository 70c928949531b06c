//! What MIT's Kerberos mechanism adds on an established context beyond GSS-API, from
//! `libgssapi_krb5`: the lucid export, which hands out the context's keys and sequence numbers
//! so that `cfx` can seal without MIT, and the ticket's authentication time. Their C
//! declarations are here because libgssapi-sys does not bind them.

use std::ffi::c_void;
use std::ptr;

use libgssapi_sys as sys;
use zeroize::Zeroizing;

use super::context::GssContext;
use super::{empty_buffer, input_buffer, take_buffer, CallError};

/// The CFX keys and sequence numbers of a lucid context (version 1).
pub(crate) struct LucidKeys {
    /// 1: RFC 4121 (CFX); 0: RFC 1964 (RC4, DES3), which we leave to MIT.
    pub(crate) protocol: u32,
    pub(crate) send_seq: u64,
    pub(crate) recv_seq: u64,
    pub(crate) ctx_key: (u32, Zeroizing<Vec<u8>>),
    pub(crate) acceptor_subkey: Option<(u32, Zeroizing<Vec<u8>>)>,
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

impl GssContext {
    /// The ticket's authentication time (seconds since the epoch, by the KDC's clock): when
    /// the KDC issued the initial ticket the service ticket derives from.
    pub(crate) fn authtime(&self) -> Result<i64, CallError> {
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
    pub(crate) fn lucid_keys(&mut self) -> Result<LucidKeys, CallError> {
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
