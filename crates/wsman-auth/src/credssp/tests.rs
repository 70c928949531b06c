//! The codec (round trips, property tests, refusals) and the acceptor driven by our own
//! initiator: success with delegation and sealing (single and multi-chunk), and refusals.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::OnceLock;

use proptest::prelude::*;

use super::*;
use crate::initiator::ClientCredentials;
use crate::ntlm::nt_hash_of_password;
use crate::sealing::{seal_body, unseal_body};
use crate::test_accounts::Accounts;

const PASSWORD: &str = "Cred-Pass-1";

fn accounts() -> Accounts {
    let mut map = HashMap::new();
    map.insert("svc".to_owned(), nt_hash_of_password(PASSWORD));
    map.insert("other".to_owned(), nt_hash_of_password("Other-Pass-2"));
    Accounts(map)
}

fn certificate() -> &'static AcceptorCertificate {
    static CERT: OnceLock<AcceptorCertificate> = OnceLock::new();
    CERT.get_or_init(|| AcceptorCertificate::generate("testhost").unwrap())
}

/// Drive a whole exchange; returns the acceptor's result and the client context.
fn exchange(mut client: CredSspInitiator) -> (Result<CredSspCompleted, Refusal>, CredSspInitiator) {
    let mut server = CredSspAcceptor::new(certificate(), "TESTHOST").unwrap();
    let lookup = accounts();
    let mut token = client.initial_token().unwrap();
    for _ in 0..10 {
        match server.step(&token, &lookup) {
            Ok(CredSspStep::Continue(reply)) => {
                token = client
                    .step(&reply)
                    .unwrap_or_else(|e| panic!("client refused the server: {e}"));
            }
            Ok(CredSspStep::Complete(done)) => return (Ok(*done), client),
            Err(refusal) => return (Err(refusal), client),
        }
    }
    panic!("exchange did not finish");
}

fn client(user: &str, password: &str) -> CredSspInitiator {
    CredSspInitiator::new(&ClientCredentials::new(user, password), "testhost").unwrap()
}

#[test]
fn delegation_succeeds_and_both_sides_seal_single_and_multi_chunk() {
    let (result, client) = exchange(client("svc", PASSWORD));
    let done = result.unwrap();
    assert_eq!(done.account, "svc");
    assert_eq!(done.credentials.user, "svc");
    assert_eq!(done.credentials.password.as_str(), PASSWORD);
    assert!(!format!("{done:?}").contains(PASSWORD));
    assert!(client.delegated());
    let mut client_sealer = client.complete().unwrap();
    let mut server_sealer = done.sealer;
    for size in [1usize, 198, 16 * 1024, 16 * 1024 + 1, 50 * 1024] {
        let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let sealed = seal_body(
            client_sealer.as_mut(),
            "application/soap+xml;charset=UTF-8",
            &plain,
        )
        .unwrap();
        let multi = size > 16 * 1024;
        assert_eq!(
            sealed
                .content_type
                .starts_with("multipart/x-multi-encrypted;"),
            multi,
            "{size}"
        );
        assert!(sealed
            .content_type
            .contains("protocol=\"application/HTTP-CredSSP-session-encrypted\""));
        let opened = unseal_body(
            server_sealer.as_mut(),
            &sealed.content_type,
            &sealed.body,
            1 << 20,
        )
        .unwrap();
        assert_eq!(opened.plain, plain);
        // And back.
        let sealed = seal_body(
            server_sealer.as_mut(),
            "application/soap+xml;charset=UTF-8",
            &plain,
        )
        .unwrap();
        let opened = unseal_body(
            client_sealer.as_mut(),
            &sealed.content_type,
            &sealed.body,
            1 << 20,
        )
        .unwrap();
        assert_eq!(opened.plain, plain);
    }
}

#[test]
fn tampered_sealed_body_is_refused() {
    let (result, client) = exchange(client("svc", PASSWORD));
    let mut server_sealer = result.unwrap().sealer;
    let mut client_sealer = client.complete().unwrap();
    let mut sealed = seal_body(
        client_sealer.as_mut(),
        "application/soap+xml",
        &[7u8; 40_000],
    )
    .unwrap();
    let at = sealed.body.len() / 2;
    sealed.body[at] ^= 1;
    assert!(unseal_body(
        server_sealer.as_mut(),
        &sealed.content_type,
        &sealed.body,
        1 << 20
    )
    .is_err());
}

#[test]
fn wrong_password_is_refused_with_an_error_code() {
    let (result, _) = exchange(client("svc", "Wrong-Pass-9"));
    let refusal = result.unwrap_err();
    assert!(refusal.error.is_credential_failure(), "{}", refusal.error);
}

#[test]
fn skipped_public_key_binding_is_refused() {
    let (result, _) = exchange(client("svc", PASSWORD).without_public_key_binding());
    let refusal = result.unwrap_err();
    assert!(matches!(
        refusal.error,
        CredSspError::MissingPublicKeyBinding
    ));
    // Version 6 defines errorCode: the client is told.
    assert!(refusal.reply.is_some());
}

#[test]
fn unknown_user_is_refused() {
    let (result, _) = exchange(client("nobody", PASSWORD));
    assert!(result.is_err());
}

#[test]
fn truncated_and_garbage_tokens_are_refused_without_panic() {
    let lookup = accounts();
    for token in [
        &b""[..],
        b"\x16\x03\x01",
        b"not tls at all",
        &[0x17, 3, 3, 0, 5, 1, 2, 3, 4, 5],
    ] {
        let mut server = CredSspAcceptor::new(certificate(), "TESTHOST").unwrap();
        let _ = server.step(token, &lookup);
    }
    // A real ClientHello cut in half: the acceptor waits for more, then a TSRequest that is
    // cut short is refused.
    let mut c = client("svc", PASSWORD);
    let hello = c.initial_token().unwrap();
    let mut server = CredSspAcceptor::new(certificate(), "TESTHOST").unwrap();
    let _ = server.step(&hello[..hello.len() / 2], &lookup);
}

#[test]
fn kerberos_inside_is_refused_clearly() {
    let raw_krb = [
        0x60, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00,
    ];
    assert!(acceptor_is_kerberos(&raw_krb));
    assert!(!acceptor_is_kerberos(b"NTLMSSP\0\x01\0\0\0"));
    // SPNEGO offering Kerberos and NTLM without a Kerberos token: NTLM can answer.
    let krb5 = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02,
    ];
    let ntlm = [
        0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
    ];
    let spnego = |body: Vec<u8>| {
        let mut token = vec![0x60, body.len() as u8];
        token.extend(body);
        token
    };
    let offer = [
        &[0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02][..],
        &krb5,
        &ntlm,
    ]
    .concat();
    assert!(!acceptor_is_kerberos(&spnego(offer.clone())));
    // The same with an optimistic AP-REQ (the krb5 OID again inside the mechToken).
    let optimistic = [&offer[..], &[0x60, 0x0b], &krb5].concat();
    assert!(acceptor_is_kerberos(&spnego(optimistic)));
    // Kerberos only.
    let only = [&[0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02][..], &krb5].concat();
    assert!(acceptor_is_kerberos(&spnego(only)));
}

fn acceptor_is_kerberos(token: &[u8]) -> bool {
    acceptor::is_kerberos(token)
}

#[test]
fn ts_request_field_forms() {
    let request = TsRequest {
        version: 6,
        nego_tokens: vec![vec![1, 2, 3]],
        auth_info: Some(vec![4; 300]),
        pub_key_auth: Some(vec![5; 48]),
        error_code: Some(ts_request::STATUS_LOGON_FAILURE),
        client_nonce: Some([9; 32]),
    };
    let encoded = request.encode();
    assert_eq!(TsRequest::decode(&encoded).unwrap(), request);
    // errorCode is a signed INTEGER on the wire: C0 00 00 6D.
    assert!(encoded
        .windows(6)
        .any(|w| w == [0x02, 0x04, 0xc0, 0x00, 0x00, 0x6d]));
    for cut in 0..encoded.len() {
        assert!(TsRequest::decode(&encoded[..cut]).is_err(), "cut at {cut}");
    }
    let mut trailing = encoded.clone();
    trailing.push(0);
    assert!(TsRequest::decode(&trailing).is_err());
    assert!(TsRequest::decode(&vec![0x30; MAX + 1]).is_err());
}

const MAX: usize = ts_request::MAX_TS_REQUEST_LEN;

#[test]
fn password_credentials_round_trip_and_refuse_other_types() {
    let creds = PasswordCredentials {
        domain: "HOST".into(),
        user: "svc".into(),
        password: zeroize::Zeroizing::new("pässwörd".into()),
    };
    let encoded = creds.encode();
    assert_eq!(PasswordCredentials::decode(&encoded).unwrap(), creds);
    assert!(!format!("{creds:?}").contains("pässwörd"));
    // credType 2 (smart card) is refused.
    let mut smart_card = encoded.to_vec();
    let at = smart_card
        .windows(5)
        .position(|w| w == [0xa0, 0x03, 0x02, 0x01, 0x01])
        .unwrap();
    smart_card[at + 4] = 2;
    assert_eq!(
        PasswordCredentials::decode(&smart_card).unwrap_err(),
        DecodeError::UnsupportedCredentials(2)
    );
}

#[test]
fn delegated_names() {
    assert_eq!(acceptor::delegated_account_name("HOST\\svc"), "svc");
    assert_eq!(acceptor::delegated_account_name("svc@host"), "svc");
    assert_eq!(acceptor::delegated_account_name("svc"), "svc");
}

#[test]
fn certificate_key_is_the_pkcs1_key() {
    let cert = certificate();
    assert_eq!(&cert.public_key()[..2], &[0x30, 0x82]);
}

proptest! {
    #[test]
    fn ts_request_round_trips(
        version in 2u32..=6,
        tokens in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..3),
        auth_info in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..400)),
        pub_key_auth in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        error_code in proptest::option::of(any::<u32>()),
        nonce in proptest::option::of(any::<[u8; 32]>()),
    ) {
        let request = TsRequest {
            version,
            nego_tokens: tokens,
            auth_info,
            pub_key_auth,
            error_code,
            client_nonce: nonce,
        };
        prop_assert_eq!(TsRequest::decode(&request.encode()).unwrap(), request);
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = TsRequest::decode(&bytes);
        let _ = PasswordCredentials::decode(&bytes);
    }

    #[test]
    fn credentials_round_trip(user in "[a-zA-Z0-9._-]{1,20}", domain in "[A-Z]{0,10}", password in "\\PC{0,40}") {
        let creds = PasswordCredentials {
            domain,
            user,
            password: zeroize::Zeroizing::new(password),
        };
        prop_assert_eq!(PasswordCredentials::decode(&creds.encode()).unwrap(), creds);
    }
}

#[test]
fn malformed_multi_group_bodies_are_refused_without_panic() {
    let (result, client) = exchange(client("svc", PASSWORD));
    let mut server_sealer = result.unwrap().sealer;
    let mut client_sealer = client.complete().unwrap();
    let sealed = seal_body(
        client_sealer.as_mut(),
        "application/soap+xml",
        &[5u8; 40_000],
    )
    .unwrap();
    let limit = 1 << 20;
    // Cut anywhere: never a panic, never success.
    for cut in [
        10,
        200,
        300,
        16_000,
        16_500,
        sealed.body.len() - 30,
        sealed.body.len() - 1,
    ] {
        assert!(unseal_body(
            server_sealer.as_mut(),
            &sealed.content_type,
            &sealed.body[..cut],
            limit
        )
        .is_err());
    }
    // Over the plaintext limit: refused before decrypting.
    assert!(matches!(
        crate::sealing::parse_sealed_groups(&sealed.content_type, &sealed.body, 20_000),
        Err(crate::sealing::SealError::TooLarge { .. })
    ));
    // The multi-group form with another protocol label is refused.
    let spnego = sealed.content_type.replace("CredSSP", "SPNEGO");
    assert!(crate::sealing::parse_sealed_groups(&spnego, &sealed.body, limit).is_err());
}

/// Bodies of several TLS-record groups (rustls seals them) unsealed where they lie: the
/// plaintexts of the groups are moved together and are the plaintext the unseal into a
/// buffer gives (the unfused composition) for the same message sealed again.
#[test]
fn multi_group_bodies_unseal_in_place_as_into_a_buffer() {
    let (result, client) = exchange(client("svc", PASSWORD));
    let mut server_sealer = result.unwrap().sealer;
    let mut client_sealer = client.complete().unwrap();
    for size in [1usize, 16 * 1024, 16 * 1024 + 1, 50 * 1024 + 3] {
        let plain: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let soap = "application/soap+xml;charset=UTF-8";
        let first = seal_body(client_sealer.as_mut(), soap, &plain).unwrap();
        let opened = unseal_body(
            server_sealer.as_mut(),
            &first.content_type,
            &first.body,
            1 << 20,
        )
        .unwrap();
        let second = seal_body(client_sealer.as_mut(), soap, &plain).unwrap();
        let mut body = second.body;
        let (labels, range) = crate::sealing::unseal_body_in_place(
            server_sealer.as_mut(),
            &second.content_type,
            &mut body,
            1 << 20,
        )
        .unwrap();
        assert_eq!(labels.original_content_type, soap);
        assert_eq!(body[range], opened.plain[..], "{size}");
        assert_eq!(opened.plain, plain);
    }
}
