//! The security context handle and the calls on it that any GSS-API mechanism has: the
//! handshake steps (`gss_accept_sec_context`, `gss_init_sec_context`), who authenticated
//! (`gss_inquire_context`), and MIT's wrap/unwrap, whole-token and IOV. Apart from its parent
//! `ffi.rs` so the handle's life is read in one place; what only MIT's Kerberos mechanism
//! offers on it is in `krb5.rs`.

use std::ptr;

use libgssapi_sys as sys;

use super::super::GssError;
use super::{
    empty_buffer, inout_buffer, input_buffer, is_krb5, oid, release, status_text, take_buffer,
    CallError, Credential, GssName, KRB5_OID, SPNEGO_OID,
};

/// The mechanism an initiator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mech {
    Krb5,
    Spnego,
}

/// What one handshake step produced.
pub(crate) struct StepOutput {
    pub(crate) complete: bool,
    pub(crate) token: Vec<u8>,
    pub(crate) flags: u32,
}

/// Who authenticated to whom, read from an established context.
pub(crate) struct ContextInfo {
    pub(crate) source: String,
    pub(crate) local_name: Option<String>,
    pub(crate) target: String,
    pub(crate) is_krb5: bool,
}

/// One security context handle (acceptor or initiator). `Send`, not `Sync`: MIT forbids
/// concurrent calls on one context.
pub(crate) struct GssContext {
    /// The raw handle; `krb5.rs` hands it to MIT's extensions.
    pub(super) ctx: sys::gss_ctx_id_t,
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

impl StepOutput {
    /// A handshake call's result: its output token (taken, so freed on failure too), then
    /// routine and calling errors as failures; supplementary bits alone (e.g. a duplicate
    /// token) are reported separately by each caller.
    fn of(
        major: sys::OM_uint32,
        minor: sys::OM_uint32,
        output: &mut sys::gss_buffer_desc,
        flags: u32,
    ) -> Result<Self, CallError> {
        let token = take_buffer(output, false);
        if major & 0xffff_0000 != 0 {
            return Err(CallError::status(major, minor));
        }
        Ok(Self {
            complete: major & sys::_GSS_S_CONTINUE_NEEDED == 0,
            token,
            flags,
        })
    }
}

impl GssContext {
    pub(crate) fn new() -> Self {
        Self {
            ctx: ptr::null_mut(),
        }
    }

    /// Whether a live handle remains (false after switching to our own sealing).
    pub(crate) fn is_live(&self) -> bool {
        !self.ctx.is_null()
    }

    /// Delete the handle (idempotent).
    pub(crate) fn delete(&mut self) {
        if !self.ctx.is_null() {
            let mut minor: sys::OM_uint32 = 0;
            // SAFETY: `self.ctx` is a live handle we own; MIT sets it to GSS_C_NO_CONTEXT.
            unsafe { sys::gss_delete_sec_context(&mut minor, &mut self.ctx, ptr::null_mut()) };
            self.ctx = ptr::null_mut();
        }
    }

    /// One `gss_accept_sec_context` step.
    pub(crate) fn accept(
        &mut self,
        cred: &Credential,
        token: &[u8],
        bindings: Option<&[u8]>,
    ) -> Result<StepOutput, CallError> {
        let mut input = input_buffer(token);
        let mut output = empty_buffer();
        let mut cb = bindings.map(channel_bindings);
        let cb_ptr: sys::gss_channel_bindings_t =
            cb.as_mut().map_or(ptr::null_mut(), ptr::from_mut);
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
        StepOutput::of(major, minor, &mut output, flags)
    }

    /// One `gss_init_sec_context` step.
    pub(crate) fn init(
        &mut self,
        cred: Option<&Credential>,
        target: &GssName,
        mech: Mech,
        req_flags: u32,
        bindings: Option<&[u8]>,
        token: Option<&[u8]>,
    ) -> Result<StepOutput, CallError> {
        let mut input = token.map(input_buffer);
        let input_ptr: sys::gss_buffer_t = input.as_mut().map_or(ptr::null_mut(), ptr::from_mut);
        let mut output = empty_buffer();
        let mut cb = bindings.map(channel_bindings);
        let cb_ptr: sys::gss_channel_bindings_t =
            cb.as_mut().map_or(ptr::null_mut(), ptr::from_mut);
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
        StepOutput::of(major, minor, &mut output, flags)
    }

    /// The names and mechanism of the established context.
    pub(crate) fn info(&self) -> Result<ContextInfo, GssError> {
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

    /// MIT's `gss_wrap_iov` with confidentiality, HEADER | DATA | PADDING: (header,
    /// ciphertext followed by any padding).
    pub(crate) fn wrap_iov(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CallError> {
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
    pub(crate) fn unwrap_iov(
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
    pub(crate) fn wrap(&mut self, plain: &[u8]) -> Result<Vec<u8>, CallError> {
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
    pub(crate) fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, CallError> {
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
