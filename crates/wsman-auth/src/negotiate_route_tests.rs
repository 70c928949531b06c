#![allow(clippy::unwrap_used)]

use super::*;
use crate::ntlm::der::write;
use proptest::prelude::*;

fn oid(contents: &[u8]) -> Vec<u8> {
    write(0x06, contents)
}

/// A GSS InitialContextToken for `mech` around `inner`.
fn gss(mech: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut value = oid(mech);
    value.extend_from_slice(inner);
    write(0x60, &value)
}

fn krb5_ap_req() -> Vec<u8> {
    // TOK_ID 01 00, then a stand-in for the AP-REQ.
    gss(KRB5_OID, b"\x01\x00\x6e\x03\x02\x01\x05")
}

fn neg_token_init(mechs: &[&[u8]], optimistic: Option<&[u8]>) -> Vec<u8> {
    let list: Vec<u8> = mechs.iter().flat_map(|m| oid(m)).collect();
    let mut fields = write(0xa0, &write(0x30, &list));
    if let Some(token) = optimistic {
        fields.extend(write(0xa2, &write(0x04, token)));
    }
    gss(SPNEGO_OID, &write(0xa0, &write(0x30, &fields)))
}

const NEGOEX_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e];
const KRB: Route = Route::raw(NegotiateMechanism::Kerberos);
const NTLM: Route = Route::raw(NegotiateMechanism::Ntlm);
const SPNEGO_KRB: Route = Route::spnego(NegotiateMechanism::Kerberos);
const SPNEGO_NTLM: Route = Route::spnego(NegotiateMechanism::Ntlm);

#[test]
fn raw_tokens() {
    assert_eq!(
        route_initial_token(b"NTLMSSP\0\x01\0\0\0\x07\x82"),
        Some(NTLM)
    );
    assert_eq!(route_initial_token(&krb5_ap_req()), Some(KRB));
    assert_eq!(
        route_initial_token(&gss(MS_KRB5_OID, b"\x01\x00")),
        Some(KRB)
    );
}

#[test]
fn spnego_optimistic_token_decides() {
    let ntlm_first = neg_token_init(&[NTLM_OID, KRB5_OID], Some(b"NTLMSSP\0\x01\0\0\0"));
    assert_eq!(route_initial_token(&ntlm_first), Some(SPNEGO_NTLM));
    let krb_first = neg_token_init(&[KRB5_OID, NTLM_OID], Some(&krb5_ap_req()));
    assert_eq!(route_initial_token(&krb_first), Some(SPNEGO_KRB));
}

#[test]
fn spnego_without_optimistic_token_takes_the_first_known_mechanism() {
    let windows = neg_token_init(&[NEGOEX_OID, MS_KRB5_OID, KRB5_OID, NTLM_OID], None);
    assert_eq!(route_initial_token(&windows), Some(SPNEGO_KRB));
    // A NEGOEX optimistic token is not ours to read: the mechanism list decides.
    let negoex_token = neg_token_init(&[NEGOEX_OID, MS_KRB5_OID, NTLM_OID], Some(b"NEGOEXTS"));
    assert_eq!(route_initial_token(&negoex_token), Some(SPNEGO_KRB));
    let ntlm_only = neg_token_init(&[NTLM_OID], None);
    assert_eq!(route_initial_token(&ntlm_only), Some(SPNEGO_NTLM));
    assert_eq!(
        route_initial_token(&neg_token_init(&[NEGOEX_OID], None)),
        None
    );
    assert_eq!(route_initial_token(&neg_token_init(&[], None)), None);
}

#[test]
fn other_tokens_have_no_route() {
    assert_eq!(route_initial_token(b""), None);
    assert_eq!(route_initial_token(b"\xa1\x03\x30\x01\x00"), None); // NegTokenResp
    assert_eq!(
        route_initial_token(&gss(b"\x2b\x06\x01\x05\x05\x0e", b"")),
        None
    );
    let mut truncated = krb5_ap_req();
    truncated.pop();
    assert_eq!(route_initial_token(&truncated), None);
    let mut bad_list = neg_token_init(&[KRB5_OID], None);
    let at = bad_list.iter().rposition(|&b| b == 0x06).unwrap();
    bad_list[at] = 0x04; // a mechanism that is not an OID
    assert_eq!(route_initial_token(&bad_list), None);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = route_initial_token(&data);
    }

    #[test]
    fn damaged_spnego_never_panics(cut in 0usize..80, flip in any::<(usize, u8)>()) {
        let mut token = neg_token_init(&[NEGOEX_OID, KRB5_OID, NTLM_OID], Some(&krb5_ap_req()));
        let at = flip.0 % token.len();
        token[at] ^= flip.1;
        token.truncate(cut.min(token.len()));
        let _ = route_initial_token(&token);
    }
}
