//! MIT's GSS-API (libgssapi) as the peer of our Kerberos code, shared by the test binaries.
#![allow(dead_code)] // each test binary uses a part

use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext};
use libgssapi::name::Name;
use libgssapi::oid::{GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE};
use libgssapi::util::{GssIov, GssIovType};
use wsman_test::kdc::Kdc;

/// An MIT raw Kerberos initiator for `SERVICE@host` of the realm, asking for mutual
/// authentication, replay and sequence detection, confidentiality and integrity.
pub(crate) fn mit_krb5_client(kdc: &Kdc, service: &str) -> ClientCtx {
    let flags = CtxFlags::GSS_C_MUTUAL_FLAG
        | CtxFlags::GSS_C_REPLAY_FLAG
        | CtxFlags::GSS_C_SEQUENCE_FLAG
        | CtxFlags::GSS_C_CONF_FLAG
        | CtxFlags::GSS_C_INTEG_FLAG;
    mit_krb5_client_with(kdc, service, flags)
}

/// An MIT raw Kerberos initiator for `SERVICE@host` of the realm asking for `flags`.
pub(crate) fn mit_krb5_client_with(kdc: &Kdc, service: &str, flags: CtxFlags) -> ClientCtx {
    let target = Name::new(
        format!("{service}@{}", kdc.host()).as_bytes(),
        Some(GSS_NT_HOSTBASED_SERVICE),
    )
    .unwrap();
    ClientCtx::new(None, target, flags, Some(GSS_MECH_KRB5))
}

/// MIT's MS-WSMV wrap (`encrypt`: sealed, else signed only): HEADER | DATA | PADDING, as
/// header and the rest.
pub(crate) fn mit_wrap_iov<C: SecurityContext>(
    ctx: &mut C,
    encrypt: bool,
    plain: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let mut data = plain.to_vec();
    let (header, padding) = {
        let mut iov = [
            GssIov::new_alloc(GssIovType::Header),
            GssIov::new(GssIovType::Data, &mut data),
            GssIov::new_alloc(GssIovType::Padding),
        ];
        ctx.wrap_iov(encrypt, &mut iov).unwrap();
        (iov[0].to_vec(), iov[2].to_vec())
    };
    data.extend_from_slice(&padding);
    (header, data)
}
