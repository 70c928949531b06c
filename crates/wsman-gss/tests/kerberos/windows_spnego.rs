//! Windows-shaped SPNEGO, built by hand around a raw krb5 client: the token shapes a Windows
//! initiator sends, which MIT's own SPNEGO initiator never produces.

use libgssapi::context::{ClientCtx, SecurityContext};
use libgssapi::util::{GssIov, GssIovType};
use wsman_gss::{AcceptStep, KerberosContext};
use wsman_test::kdc::Kdc;

use crate::{client_wrap, our_server, realm, user_principal};

const SPNEGO_OID: &[u8] = b"\x2b\x06\x01\x05\x05\x02";
const KRB5_OID: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
const MS_KRB5_OID: &[u8] = b"\x2a\x86\x48\x82\xf7\x12\x01\x02\x02";
const NEGOEX_OID: &[u8] = b"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x1e";
const NTLM_OID: &[u8] = b"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a";

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else {
        let bytes = u32::try_from(len).unwrap().to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | u8::try_from(4 - skip).unwrap());
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// Reads one TLV: (tag, value, rest).
fn read_tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, start) = if input[1] < 0x80 {
        (usize::from(input[1]), 2)
    } else {
        let count = usize::from(input[1] & 0x7f);
        let len = input[2..2 + count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + count)
    };
    (tag, &input[start..start + len], &input[start + len..])
}

/// The fields of a NegTokenResp by context tag: 0 negState, 1 supportedMech, 2 responseToken,
/// 3 mechListMIC (the inner values, unwrapped from their ENUMERATED / OID / OCTET STRING).
fn neg_token_resp_fields(token: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let (tag, resp, _) = read_tlv(token);
    assert_eq!(tag, 0xa1, "a NegTokenResp");
    let (tag, mut fields, _) = read_tlv(resp);
    assert_eq!(tag, 0x30);
    let mut out = Vec::new();
    while !fields.is_empty() {
        let (tag, value, rest) = read_tlv(fields);
        let (_, inner, _) = read_tlv(value);
        out.push((tag & 0x1f, inner.to_vec()));
        fields = rest;
    }
    out
}

fn field(fields: &[(u8, Vec<u8>)], number: u8) -> Option<&[u8]> {
    fields
        .iter()
        .find(|(n, _)| *n == number)
        .map(|(_, v)| v.as_slice())
}

fn mech_type_list(mechs: &[&[u8]]) -> Vec<u8> {
    let oids: Vec<u8> = mechs.iter().flat_map(|m| tlv(0x06, m)).collect();
    tlv(0x30, &oids)
}

fn neg_token_init(mech_list: &[u8], mech_token: &[u8]) -> Vec<u8> {
    let mut fields = tlv(0xa0, mech_list);
    fields.extend(tlv(0xa2, &tlv(0x04, mech_token)));
    let mut inner = tlv(0x06, SPNEGO_OID);
    inner.extend(tlv(0xa0, &tlv(0x30, &fields)));
    tlv(0x60, &inner)
}

/// A NegTokenResp without negState, as Windows sends its later legs: field `number` only.
fn neg_token_resp(number: u8, value: &[u8]) -> Vec<u8> {
    tlv(0xa1, &tlv(0x30, &tlv(0xa0 | number, &tlv(0x04, value))))
}

fn raw_krb5_client(kdc: &Kdc) -> ClientCtx {
    crate::common::mit_krb5_client(kdc, "WSMAN")
}

/// Sealing both ways between a raw libgssapi client and our server context.
fn assert_raw_client_sealing(client: &mut ClientCtx, server: &mut KerberosContext) {
    let request = b"<s:Envelope>Identify</s:Envelope>";
    let (header, ciphertext) = client_wrap(client, true, request);
    assert_eq!(server.unwrap(&header, &ciphertext).unwrap(), request);
    let response = b"<s:Envelope>IdentifyResponse</s:Envelope>";
    let (mut header, mut data) = server.wrap(response).unwrap();
    {
        let mut iov = [
            GssIov::new(GssIovType::Header, &mut header),
            GssIov::new(GssIovType::Data, &mut data),
        ];
        client.unwrap_iov(&mut iov).unwrap();
    }
    assert_eq!(data, response);
}

#[test]
fn windows_shaped_spnego_with_ms_krb5_first_completes_in_one_leg() {
    let Some(kdc) = realm() else { return };
    let mut server = our_server(&kdc);
    let mut client = raw_krb5_client(&kdc);
    let ap_req = client.step(None, None).unwrap().unwrap().to_vec();
    let mechs = mech_type_list(&[MS_KRB5_OID, KRB5_OID, NEGOEX_OID, NTLM_OID]);
    let AcceptStep::Complete(established) = server.step(&neg_token_init(&mechs, &ap_req)).unwrap()
    else {
        panic!("an optimistic krb5 token completes in one leg")
    };
    assert_eq!(established.principal, user_principal(&kdc));
    let fields = neg_token_resp_fields(&established.token.unwrap());
    assert_eq!(field(&fields, 0), Some(&[0u8][..]), "accept-completed");
    assert_eq!(
        field(&fields, 1),
        Some(MS_KRB5_OID),
        "the client's own OID echoed"
    );
    assert_eq!(
        field(&fields, 3),
        None,
        "no mechListMIC: the first mech was chosen"
    );
    let ap_rep = field(&fields, 2).unwrap();
    assert!(client.step(Some(ap_rep), None).unwrap().is_none());
    assert_raw_client_sealing(&mut client, &mut server);
}

#[test]
fn windows_shaped_spnego_with_negoex_first_takes_three_legs() {
    let Some(kdc) = realm() else { return };
    let mut server = our_server(&kdc);
    let mut client = raw_krb5_client(&kdc);
    let mechs = mech_type_list(&[NEGOEX_OID, MS_KRB5_OID, KRB5_OID, NTLM_OID]);

    // Leg 1: a NEGOEX optimistic token we cannot use: MIT asks for Kerberos plus a MIC.
    let AcceptStep::Continue(first) = server
        .step(&neg_token_init(&mechs, b"NEGOEXTS\0\0\0\0\0\0\0\0"))
        .unwrap()
    else {
        panic!("a NEGOEX-first init cannot complete at once")
    };
    let fields = neg_token_resp_fields(&first);
    assert_eq!(field(&fields, 0), Some(&[3u8][..]), "request-mic");
    assert_eq!(field(&fields, 1), Some(MS_KRB5_OID));
    assert_eq!(field(&fields, 2), None);

    // Leg 2: the AP-REQ in a NegTokenResp without negState (what Windows sends).
    let ap_req = client.step(None, None).unwrap().unwrap().to_vec();
    let AcceptStep::Continue(second) = server.step(&neg_token_resp(2, &ap_req)).unwrap() else {
        panic!("the server still waits for the client's mechListMIC")
    };
    let fields = neg_token_resp_fields(&second);
    assert_eq!(field(&fields, 0), Some(&[1u8][..]), "accept-incomplete");
    assert!(client
        .step(Some(field(&fields, 2).unwrap()), None)
        .unwrap()
        .is_none());
    client
        .verify_mic(&mechs, field(&fields, 3).unwrap())
        .unwrap();

    // Leg 3: the client's mechListMIC; the server completes with no token for the 200.
    let mic = client.get_mic(&mechs).unwrap().to_vec();
    let AcceptStep::Complete(established) = server.step(&neg_token_resp(3, &mic)).unwrap() else {
        panic!("the MIC completes the exchange")
    };
    assert_eq!(established.token, None);
    assert_eq!(established.principal, user_principal(&kdc));
    assert_raw_client_sealing(&mut client, &mut server);
}
