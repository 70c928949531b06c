//! The acceptor driven by sspi's own NTLM and SPNEGO initiators (the happy paths, sealing in
//! both directions) and by crafted AUTHENTICATE messages (everything an attacker can send).

use std::collections::HashMap;

use sspi::ntlm::NtlmConfig;
use sspi::{
    AuthIdentity, BufferType, ClientRequestFlags, DataRepresentation, EncryptionFlags, Negotiate,
    NegotiateConfig, Ntlm, SecurityBuffer, SecurityBufferRef, SecurityStatus, Sspi, SspiImpl,
    Username,
};

use super::message::{self, FLAG_UNICODE};
use super::spnego;
use super::verify::{nt_hash_of_password, nt_proof};
use super::*;
use crate::channel_binding::gss_channel_bindings_md5;
use crate::initiator::outbound_credentials;
use crate::sealing::MessageSealer;
use crate::test_accounts::Accounts;

const PASSWORD: &str = "Right-Pass-1";

impl Accounts {
    fn one() -> Self {
        let mut map = HashMap::new();
        map.insert("svc".to_owned(), nt_hash_of_password(PASSWORD));
        Self(map)
    }
}

/// An sspi initiator (raw NTLM or SPNEGO) for `user`/`password`.
struct Client<C: Sspi + SspiImpl> {
    context: C,
    creds: C::CredentialsHandle,
    /// What the client asks for: sealing (sspi then adds key exchange) or signing only.
    requirements: ClientRequestFlags,
}

const SEALING: ClientRequestFlags = ClientRequestFlags::CONFIDENTIALITY
    .union(ClientRequestFlags::INTEGRITY)
    .union(ClientRequestFlags::ALLOCATE_MEMORY);

fn identity(user: &str, password: &str) -> AuthIdentity {
    AuthIdentity {
        username: Username::parse(user).unwrap(),
        password: password.to_owned().into(),
    }
}

fn ntlm_client(user: &str, password: &str) -> Client<Ntlm> {
    let mut context = Ntlm::new();
    let creds = outbound_credentials(&mut context, &identity(user, password)).unwrap();
    Client {
        context,
        creds,
        requirements: SEALING,
    }
}

fn spnego_client(user: &str, password: &str) -> Client<Negotiate> {
    let config = NegotiateConfig::new(
        Box::new(NtlmConfig::default()),
        Some("ntlm".to_owned()),
        "client".to_owned(),
    );
    let mut context = Negotiate::new_client(config).unwrap();
    let auth = sspi::Credentials::AuthIdentity(identity(user, password));
    let creds = outbound_credentials(&mut context, &auth).unwrap();
    Client {
        context,
        creds,
        requirements: SEALING,
    }
}

impl<C: Sspi + SspiImpl> Client<C> {
    fn step(&mut self, input: Option<&[u8]>) -> (SecurityStatus, Vec<u8>) {
        let mut output = [SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut inputs: Vec<SecurityBuffer> = input
            .map(|t| vec![SecurityBuffer::new(t.to_vec(), BufferType::Token)])
            .unwrap_or_default();
        let mut builder = self
            .context
            .initialize_security_context()
            .with_credentials_handle(&mut self.creds)
            .with_context_requirements(self.requirements)
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name("HTTP/server")
            .with_input(&mut inputs)
            .with_output(&mut output);
        let result = self
            .context
            .initialize_security_context_impl(&mut builder)
            .unwrap()
            .resolve_to_result()
            .unwrap();
        let [out] = output;
        (result.status, out.buffer)
    }

    fn seal(&mut self, plain: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut signature = vec![0u8; 16];
        let mut data = plain.to_vec();
        self.context
            .encrypt_message(
                EncryptionFlags::empty(),
                &mut [
                    SecurityBufferRef::token_buf(&mut signature),
                    SecurityBufferRef::data_buf(&mut data),
                ],
            )
            .unwrap();
        (signature, data)
    }

    fn unseal(&mut self, signature: &[u8], ciphertext: &[u8]) -> Vec<u8> {
        let mut signature = signature.to_vec();
        let mut data = ciphertext.to_vec();
        self.context
            .decrypt_message(&mut [
                SecurityBufferRef::token_buf(&mut signature),
                SecurityBufferRef::data_buf(&mut data),
            ])
            .unwrap();
        data
    }
}

fn acceptor() -> NegotiateAcceptor {
    NegotiateAcceptor::new(ChannelBindingPolicy::default(), "server")
}

fn expect_continue(step: Result<AcceptStep, NtlmError>) -> Vec<u8> {
    match step {
        Ok(AcceptStep::Continue(token)) => token,
        other => panic!("expected Continue, got {other:?}"),
    }
}

/// Sealed traffic both ways, several messages, through the acceptor's sealer.
/// A fresh acceptor and the client's second leg (its AUTHENTICATE, raw or in SPNEGO) after
/// its first token and the acceptor's challenge.
fn second_leg<C: Sspi + SspiImpl>(
    client: &mut Client<C>,
    accounts: &Accounts,
) -> (NegotiateAcceptor, Vec<u8>) {
    let mut server = acceptor();
    let (_, first) = client.step(None);
    let challenge = expect_continue(server.step(&first, accounts));
    let (_, authenticate) = client.step(Some(&challenge));
    (server, authenticate)
}

fn exchange_sealed<C: Sspi + SspiImpl>(client: &mut Client<C>, sealer: &mut dyn MessageSealer) {
    for round in 0..3 {
        let request = format!("<request n='{round}'/>");
        let (sig, ct) = client.seal(request.as_bytes());
        assert_ne!(ct, request.as_bytes());
        assert_eq!(sealer.unwrap(&sig, &ct).unwrap(), request.as_bytes());
        let reply = vec![b'x'; 1000 + round];
        let (sig, ct) = sealer.wrap(&reply).unwrap();
        assert_eq!(sig.len(), 16);
        assert_eq!(client.unseal(&sig, &ct), reply);
    }
}

#[test]
fn raw_ntlm_handshake_and_sealing() {
    let accounts = Accounts::one();
    let mut client = ntlm_client("svc", PASSWORD);
    let mut server = acceptor();
    let (_, negotiate) = client.step(None);
    assert!(NegotiateAcceptor::is_initial_token(&negotiate));
    let challenge = expect_continue(server.step(&negotiate, &accounts));
    let (_, authenticate) = client.step(Some(&challenge));
    let done = match server.step(&authenticate, &accounts) {
        Ok(AcceptStep::Complete(done)) => done,
        other => panic!("expected Complete, got {other:?}"),
    };
    assert_eq!(done.account, "svc");
    assert!(done.final_token.is_none());
    let mut sealer = done.sealer;
    exchange_sealed(&mut client, sealer.as_mut());
    // A tampered body is refused; so is a replayed one (sequence number).
    let (sig, mut ct) = client.seal(b"<tampered/>");
    ct[0] ^= 1;
    assert!(sealer.unwrap(&sig, &ct).is_err());
    // Replay: the completed context cannot be stepped again.
    assert_eq!(
        server.step(&authenticate, &accounts).unwrap_err(),
        NtlmError::Finished
    );
}

#[test]
fn raw_ntlm_user_name_case_and_domain_do_not_matter() {
    let accounts = Accounts::one();
    let mut client = ntlm_client(r"WORKGROUP\SVC", PASSWORD);
    let (mut server, authenticate) = second_leg(&mut client, &accounts);
    assert!(matches!(
        server.step(&authenticate, &accounts),
        Ok(AcceptStep::Complete(done)) if done.account == "svc" && done.wire_domain == "WORKGROUP"
    ));
}

#[test]
fn raw_ntlm_wrong_password_and_unknown_user_refused() {
    let accounts = Accounts::one();
    for (user, password, expected) in [
        ("svc", "Wrong-Pass", "wrong password"),
        ("nobody", PASSWORD, "no NTLM-enabled account"),
    ] {
        let mut client = ntlm_client(user, password);
        let (mut server, authenticate) = second_leg(&mut client, &accounts);
        let error = server.step(&authenticate, &accounts).unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
        assert_eq!(server.attempted_user(), Some(user));
        // The failed context is finished: a retry on it is refused too.
        assert_eq!(
            server.step(&authenticate, &accounts).unwrap_err(),
            NtlmError::Finished
        );
    }
}

#[test]
fn spnego_handshake_mech_list_mic_and_sealing() {
    let accounts = Accounts::one();
    let mut client = spnego_client("svc", PASSWORD);
    let mut server = acceptor();
    let (_, init) = client.step(None);
    assert_eq!(init[0], 0x60);
    assert!(NegotiateAcceptor::is_initial_token(&init));
    let mut token = expect_continue(server.step(&init, &accounts));
    let done = loop {
        let (_, next) = client.step(Some(&token));
        match server.step(&next, &accounts).unwrap() {
            AcceptStep::Continue(more) => token = more,
            AcceptStep::Complete(done) => break done,
        }
    };
    assert_eq!(done.account, "svc");
    let final_token = done.final_token.clone().expect("SPNEGO final token");
    // The client verifies our mechListMIC.
    let (status, _) = client.step(Some(&final_token));
    assert_eq!(status, SecurityStatus::Ok);
    let mut sealer = done.sealer;
    exchange_sealed(&mut client, sealer.as_mut());
}

/// The same NegTokenResp without its negState (as Windows initiators send it).
fn without_neg_state(token: &[u8]) -> Vec<u8> {
    let outer = super::der::read_only(token, 0xa1).unwrap();
    let sequence = super::der::read_only(outer.value, 0x30).unwrap();
    let kept: Vec<u8> = super::der::children(sequence.value, 8)
        .unwrap()
        .into_iter()
        .filter(|field| field.tag != 0xa0)
        .flat_map(|field| field.raw.to_vec())
        .collect();
    super::der::write(0xa1, &super::der::write(0x30, &kept))
}

#[test]
fn spnego_without_neg_state_is_normalised_and_accepted() {
    let accounts = Accounts::one();
    let mut client = spnego_client("svc", PASSWORD);
    let (mut server, authenticate) = second_leg(&mut client, &accounts);
    let stripped = without_neg_state(&authenticate);
    assert_ne!(
        stripped, authenticate,
        "the client sent a negState to strip"
    );
    assert_eq!(spnego::parse_resp(&stripped).unwrap().neg_state, None);
    let done = match server.step(&stripped, &accounts) {
        Ok(AcceptStep::Complete(done)) => done,
        other => panic!("expected Complete, got {other:?}"),
    };
    let (status, _) = client.step(done.final_token.as_deref());
    assert_eq!(status, SecurityStatus::Ok);
    let mut sealer = done.sealer;
    exchange_sealed(&mut client, sealer.as_mut());
}

#[test]
fn spnego_domain_outside_the_local_forms_is_refused_with_the_reason() {
    let accounts = Accounts::one();
    let mut client = spnego_client(r"OTHERDOMAIN\svc", PASSWORD);
    let (mut server, authenticate) = second_leg(&mut client, &accounts);
    assert!(matches!(
        server.step(&authenticate, &accounts).unwrap_err(),
        NtlmError::DomainNotAccepted { domain, .. } if domain == "OTHERDOMAIN"
    ));
    // The host name is one of the accepted forms.
    let mut client = spnego_client(r"SERVER\svc", PASSWORD);
    let (mut server, authenticate) = second_leg(&mut client, &accounts);
    assert!(matches!(
        server.step(&authenticate, &accounts),
        Ok(AcceptStep::Complete(_))
    ));
}

#[test]
fn spnego_wrong_password_refused() {
    let accounts = Accounts::one();
    let mut client = spnego_client("svc", "Wrong-Pass");
    let (mut server, authenticate) = second_leg(&mut client, &accounts);
    let error = server.step(&authenticate, &accounts).unwrap_err();
    assert!(matches!(error, NtlmError::WrongPassword { .. }), "{error}");
}

// ---- crafted AUTHENTICATE messages ----

struct Craft<'a> {
    user: &'a str,
    domain: &'a str,
    password: &'a str,
    /// MsvAvFlags MIC bit and a (correct) MIC.
    mic: bool,
    /// Replace the MIC with garbage.
    forge_mic: bool,
    channel_bindings: Option<[u8; 16]>,
    nt_response_override: Option<Vec<u8>>,
    /// Leave NTLMSSP_NEGOTIATE_KEY_EXCH and NTLMSSP_NEGOTIATE_128 out of the flags.
    weak_session: bool,
    /// Announce and compute the MIC, then zero it.
    strip_mic: bool,
}

impl Default for Craft<'_> {
    fn default() -> Self {
        Self {
            user: "svc",
            domain: "",
            password: PASSWORD,
            mic: true,
            forge_mic: false,
            channel_bindings: None,
            nt_response_override: None,
            weak_session: false,
            strip_mic: false,
        }
    }
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn craft_authenticate(negotiate: &[u8], challenge: &[u8], craft: &Craft<'_>) -> Vec<u8> {
    let server_challenge = message::parse_challenge(challenge)
        .unwrap()
        .server_challenge;
    let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
    blob.extend_from_slice(&[0x11; 8]); // timestamp
    blob.extend_from_slice(&[0x22; 8]); // client challenge
    blob.extend_from_slice(&[0; 4]);
    if craft.mic {
        blob.extend_from_slice(&[6, 0, 4, 0, 2, 0, 0, 0]);
    }
    if let Some(cb) = craft.channel_bindings {
        blob.extend_from_slice(&[10, 0, 16, 0]);
        blob.extend_from_slice(&cb);
    }
    blob.extend_from_slice(&[0; 4]); // MsvAvEOL
    blob.extend_from_slice(&[0; 4]);
    let hash = nt_hash_of_password(craft.password);
    let proof = nt_proof(&hash, craft.user, craft.domain, &server_challenge, &blob);
    let response_key = super::verify::ntowf_v2(&hash, craft.user, craft.domain);
    let key_exchange_key = super::verify::hmac_md5(&*response_key, &[&proof[..]]);
    // With key exchange the client picks the session key and sends it encrypted; without it
    // the exported session key is the KeyExchangeKey (MS-NLMP 3.1.5.1.2).
    let mut exported = [0x5au8; 16];
    let mut encrypted_key = exported;
    super::rc4::rc4(&key_exchange_key, &mut encrypted_key);
    if craft.weak_session {
        exported.copy_from_slice(&*key_exchange_key);
    }
    let mut nt = proof.to_vec();
    nt.extend_from_slice(&blob);
    if let Some(forced) = &craft.nt_response_override {
        nt = forced.clone();
    }
    let fields: [Vec<u8>; 6] = [
        vec![0; 24],
        nt,
        utf16(craft.domain),
        utf16(craft.user),
        utf16("WS"),
        if craft.weak_session {
            Vec::new()
        } else {
            encrypted_key.to_vec()
        },
    ];
    let mut out = b"NTLMSSP\0".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    let payload = security_buffers(&mut out, &fields, 88);
    let strong = message::FLAG_KEY_EXCH | message::FLAG_128;
    let flags = FLAG_UNICODE
        | message::FLAG_SIGN
        | message::FLAG_SEAL
        | message::FLAG_EXTENDED_SESSION_SECURITY
        | if craft.weak_session { 0 } else { strong };
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&[10, 0, 0x63, 0x45, 0, 0, 0, 15]);
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&payload);
    if craft.mic {
        let mic = super::verify::hmac_md5(&exported, &[negotiate, challenge, &out]);
        out[72..88].copy_from_slice(&*mic);
    }
    if craft.forge_mic {
        out[72..88].copy_from_slice(&[0x44; 16]);
    }
    if craft.strip_mic {
        out[72..88].fill(0);
    }
    out
}

/// NEGOTIATE and the server's CHALLENGE.
fn challenged(server: &mut NegotiateAcceptor, accounts: &Accounts) -> (Vec<u8>, Vec<u8>) {
    let (_, negotiate) = ntlm_client("svc", PASSWORD).step(None);
    let challenge = expect_continue(server.step(&negotiate, accounts));
    (negotiate, challenge)
}

/// A fresh acceptor after NEGOTIATE and its CHALLENGE, and an AUTHENTICATE crafted as `craft`
/// answering that challenge (not yet stepped).
fn crafted(craft: &Craft) -> (NegotiateAcceptor, Accounts, Vec<u8>) {
    let accounts = Accounts::one();
    let mut server = acceptor();
    let (negotiate, challenge) = challenged(&mut server, &accounts);
    let authenticate = craft_authenticate(&negotiate, &challenge, craft);
    (server, accounts, authenticate)
}

/// The acceptor's refusal of an AUTHENTICATE crafted as `craft`.
fn refusal_of(craft: &Craft) -> NtlmError {
    let (mut server, accounts, authenticate) = crafted(craft);
    server.step(&authenticate, &accounts).unwrap_err()
}

/// The required test: sspi alone accepts this (issue 172); we must not. Without a MIC our
/// NTProofStr check is what refuses it.
#[test]
fn no_mic_wrong_password_is_refused() {
    let error = refusal_of(&Craft {
        password: "Wrong-Pass",
        mic: false,
        ..Craft::default()
    });
    assert!(matches!(error, NtlmError::WrongPassword { .. }), "{error}");
}

/// No MIC announced and none sent, right password: accepted, as Windows accepts it.
#[test]
fn no_mic_unannounced_right_password_is_accepted() {
    let (mut server, accounts, authenticate) = crafted(&Craft {
        mic: false,
        ..Craft::default()
    });
    let step = server.step(&authenticate, &accounts);
    assert!(matches!(step, Ok(AcceptStep::Complete(_))), "{step:?}");
}

/// A MIC announced in MsvAvFlags but zeroed (stripped) is refused before the lookup.
#[test]
fn stripped_but_announced_mic_is_refused() {
    let error = refusal_of(&Craft {
        strip_mic: true,
        ..Craft::default()
    });
    assert_eq!(error, NtlmError::MicMissing);
}

/// An attacker who strips the MIC and clears its MsvAvFlags bit changes the NTLMv2 client
/// challenge, which NTProofStr covers: refused as a wrong password.
#[test]
fn stripped_mic_with_its_flag_cleared_fails_the_proof() {
    let (mut server, accounts, mut authenticate) = crafted(&Craft::default());
    let flag_at = authenticate
        .windows(8)
        .position(|w| w == [6, 0, 4, 0, 2, 0, 0, 0])
        .expect("MsvAvFlags");
    authenticate[flag_at + 4] = 0;
    authenticate[72..88].fill(0);
    let error = server.step(&authenticate, &accounts).unwrap_err();
    assert!(matches!(error, NtlmError::WrongPassword { .. }), "{error}");
}

#[test]
fn wrong_password_with_a_forged_mic_is_refused_by_our_proof_check() {
    let error = refusal_of(&Craft {
        password: "Wrong-Pass",
        ..Craft::default()
    });
    assert!(matches!(error, NtlmError::WrongPassword { .. }));
}

#[test]
fn right_proof_but_forged_mic_is_refused() {
    let error = refusal_of(&Craft {
        forge_mic: true,
        ..Craft::default()
    });
    assert_eq!(error, NtlmError::MicInvalid);
}

#[test]
fn anonymous_guest_and_ntlmv1_refused() {
    for (craft, expected) in [
        (
            Craft {
                user: "",
                ..Craft::default()
            },
            NtlmError::Anonymous,
        ),
        (
            Craft {
                user: "Guest",
                ..Craft::default()
            },
            NtlmError::Guest,
        ),
        (
            Craft {
                nt_response_override: Some(vec![0x55; 24]),
                ..Craft::default()
            },
            NtlmError::NotNtlmV2,
        ),
    ] {
        assert_eq!(refusal_of(&craft), expected);
    }
}

#[test]
fn replayed_authenticate_on_a_new_connection_meets_a_new_challenge() {
    let accounts = Accounts::one();
    let mut client = ntlm_client("svc", PASSWORD);
    let mut first = acceptor();
    let (_, negotiate) = client.step(None);
    let challenge = expect_continue(first.step(&negotiate, &accounts));
    let (_, authenticate) = client.step(Some(&challenge));
    assert!(matches!(
        first.step(&authenticate, &accounts),
        Ok(AcceptStep::Complete(_))
    ));
    // Replayed as the first token of a new connection: out of order.
    let mut second = acceptor();
    assert!(matches!(
        second.step(&authenticate, &accounts).unwrap_err(),
        NtlmError::OutOfOrder(_)
    ));
    // Replayed after a fresh NEGOTIATE: the new challenge makes the proof wrong.
    let mut third = acceptor();
    let (_, negotiate) = ntlm_client("svc", PASSWORD).step(None);
    let new_challenge = expect_continue(third.step(&negotiate, &accounts));
    assert_ne!(new_challenge, challenge);
    assert!(matches!(
        third.step(&authenticate, &accounts).unwrap_err(),
        NtlmError::WrongPassword { .. }
    ));
}

#[test]
fn channel_binding_hardening_levels() {
    let accounts = Accounts::one();
    let expected = gss_channel_bindings_md5(b"tls-server-end-point:right");
    let wrong = gss_channel_bindings_md5(b"tls-server-end-point:wrong");
    let cases = [
        (
            CbtHardening::Strict,
            None,
            Some(NtlmError::ChannelBindingMissing),
        ),
        (
            CbtHardening::Strict,
            Some(wrong),
            Some(NtlmError::ChannelBindingMismatch),
        ),
        (CbtHardening::Strict, Some(expected), None),
        (CbtHardening::Relaxed, None, None),
        (
            CbtHardening::Relaxed,
            Some(wrong),
            Some(NtlmError::ChannelBindingMismatch),
        ),
        (CbtHardening::None, Some(wrong), None),
    ];
    for (hardening, sent, refusal) in cases {
        let policy = ChannelBindingPolicy {
            hardening,
            expected: Some(expected),
        };
        let mut server = NegotiateAcceptor::new(policy, "server");
        let (negotiate, challenge) = challenged(&mut server, &accounts);
        let authenticate = craft_authenticate(
            &negotiate,
            &challenge,
            &Craft {
                channel_bindings: sent,
                ..Craft::default()
            },
        );
        let step = server.step(&authenticate, &accounts);
        if refusal.is_none() {
            assert!(
                matches!(step, Ok(AcceptStep::Complete(_))),
                "{hardening:?}: {step:?}"
            );
            continue;
        }
        let error = step.unwrap_err();
        match refusal {
            None => panic!("{hardening:?}: {error}"),
            Some(refusal) => assert_eq!(error, refusal, "{hardening:?}"),
        }
    }
}

#[test]
fn bad_lengths_and_offsets_are_refused_without_panic() {
    let (mut server, accounts, good) = crafted(&Craft {
        domain: "WG",
        ..Craft::default()
    });
    // Every truncation, and every length/offset field pushed out of range.
    for cut in 0..good.len() {
        assert!(message::parse_authenticate(&good[..cut]).is_err() || cut >= 88);
    }
    for at in [12usize, 20, 28, 36, 44, 52] {
        let mut bad = good.clone();
        bad[at..at + 2].copy_from_slice(&0xffffu16.to_le_bytes());
        assert!(message::parse_authenticate(&bad).is_err(), "length at {at}");
        let mut bad = good.clone();
        bad[at + 4..at + 8].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert!(message::parse_authenticate(&bad).is_err(), "offset at {at}");
        let mut bad = good.clone();
        bad[at + 4..at + 8].copy_from_slice(&8u32.to_le_bytes());
        assert!(
            message::parse_authenticate(&bad).is_err(),
            "offset into header at {at}"
        );
    }
    let mut bad = good.clone();
    bad[8] = 9;
    let error = server.step(&bad, &accounts).unwrap_err();
    assert!(matches!(error, NtlmError::Malformed(_)));
    assert_eq!(
        server.step(&good, &accounts).unwrap_err(),
        NtlmError::Finished
    );
}

#[test]
fn nt_hash_hex_round_trip_and_redaction() {
    let hash = nt_hash_of_password("password");
    // MS-NLMP's well-known NT hash of "password".
    assert_eq!(&*hash.to_hex(), "8846f7eaee8fb117ad06bdd830b7586c");
    assert_eq!(NtHash::from_hex(&hash.to_hex()), Some(hash.clone()));
    assert!(NtHash::from_hex("zz46f7eaee8fb117ad06bdd830b7586c").is_none());
    assert!(NtHash::from_hex("8846").is_none());
    assert!(!format!("{hash:?}").contains("8846"));
}

// ---- our own initiator (the client library's) against our acceptor ----

fn with_our_initiator(
    form: crate::initiator::TokenForm,
    user: &str,
    application_data: Option<&[u8]>,
    policy: ChannelBindingPolicy,
) -> Result<(), NtlmError> {
    use crate::initiator::{ClientCredentials, NegotiateInitiator};
    let accounts = Accounts::one();
    let credentials = ClientCredentials::new(user, PASSWORD);
    let mut client = NegotiateInitiator::new(
        &credentials,
        form,
        "server",
        application_data.map(<[u8]>::to_vec),
    )
    .unwrap();
    let mut server = NegotiateAcceptor::new(policy, "server");
    let challenge = expect_continue(server.step(&client.initial_token().unwrap(), &accounts));
    let authenticate = client.step(&challenge).unwrap();
    let done = match server.step(&authenticate, &accounts)? {
        AcceptStep::Complete(done) => done,
        AcceptStep::Continue(_) => panic!("expected the handshake to complete"),
    };
    let mut client_sealer = client.complete(done.final_token.as_deref()).unwrap();
    let mut server_sealer = done.sealer;
    for round in 0..3 {
        let request = format!("<request n='{round}'/>");
        let (sig, ct) = client_sealer.wrap(request.as_bytes()).unwrap();
        assert_eq!(server_sealer.unwrap(&sig, &ct).unwrap(), request.as_bytes());
        let (sig, ct) = server_sealer.wrap(b"<reply/>").unwrap();
        assert_eq!(client_sealer.unwrap(&sig, &ct).unwrap(), b"<reply/>");
    }
    Ok(())
}

#[test]
fn our_initiator_and_acceptor_interoperate_with_channel_binding() {
    use crate::initiator::TokenForm;
    let application_data = b"tls-server-end-point:0123456789abcdef0123456789abcdef";
    let strict = ChannelBindingPolicy {
        hardening: CbtHardening::Strict,
        expected: Some(gss_channel_bindings_md5(application_data)),
    };
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        with_our_initiator(form, "svc", None, ChannelBindingPolicy::default()).unwrap();
        with_our_initiator(form, "svc", Some(application_data), strict).unwrap();
        assert_eq!(
            with_our_initiator(form, "svc", Some(b"tls-server-end-point:other"), strict),
            Err(NtlmError::ChannelBindingMismatch),
            "{form:?}"
        );
        assert_eq!(
            with_our_initiator(form, "svc", None, strict),
            Err(NtlmError::ChannelBindingMissing),
            "{form:?}"
        );
    }
}

/// Key exchange and 128-bit keys are not required (Windows accepts their absence): a crafted
/// client without them, with the right password and MIC, logs in.
#[test]
fn session_security_without_key_exchange_is_accepted() {
    let (mut server, accounts, authenticate) = crafted(&Craft {
        weak_session: true,
        ..Craft::default()
    });
    let step = server.step(&authenticate, &accounts);
    assert!(matches!(step, Ok(AcceptStep::Complete(_))), "{step:?}");
}

/// Appends an AUTHENTICATE message's security buffer headers for `fields` (length, maximum
/// length, offset from `first_offset` on) to `out`, and returns the payload they point into.
fn security_buffers(out: &mut Vec<u8>, fields: &[Vec<u8>], first_offset: u32) -> Vec<u8> {
    let mut offset = first_offset;
    let mut payload = Vec::new();
    for field in fields {
        let len = field.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset += u32::from(len);
        payload.extend_from_slice(field);
    }
    payload
}

#[path = "real_client_tests.rs"]
mod real_clients;
