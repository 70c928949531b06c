#![allow(clippy::unwrap_used)]

use super::*;
use crate::ntlm::{
    nt_hash_of_password, AcceptStep, CbtHardening, ChannelBindingPolicy, NegotiateAcceptor,
    NtHashLookup, NtlmAccount, NtlmError,
};
use crate::sealing::{seal_body, unseal_body};

struct OneAccount;

impl NtHashLookup for OneAccount {
    fn lookup(&self, user: &str) -> Option<NtlmAccount> {
        user.eq_ignore_ascii_case("wsmantest")
            .then(|| self.all().remove(0))
    }
    fn all(&self) -> Vec<NtlmAccount> {
        vec![NtlmAccount {
            name: "wsmantest".into(),
            hash: nt_hash_of_password("Wsman-Test-Pass1"),
        }]
    }
}

/// The client's and the server's sealer after one handshake.
type SealerPair = (Box<dyn MessageSealer>, Box<dyn MessageSealer>);

const SOAP: &str = "application/soap+xml;charset=UTF-8";

/// Our initiator and the server's acceptor after the first leg: the NEGOTIATE sent, and the
/// server's CHALLENGE (returned), or the acceptor's error.
fn first_leg(
    user: &str,
    password: &str,
    form: TokenForm,
    client_bindings: Option<Vec<u8>>,
    policy: ChannelBindingPolicy,
) -> Result<(NegotiateInitiator, NegotiateAcceptor, Vec<u8>), NtlmError> {
    let mut initiator = NegotiateInitiator::new(
        &ClientCredentials::new(user, password),
        form,
        "server",
        client_bindings,
    )
    .unwrap();
    let mut acceptor = NegotiateAcceptor::new(policy, "server");
    let first = initiator.initial_token().unwrap();
    match form {
        TokenForm::RawNtlm => assert!(first.starts_with(b"NTLMSSP\0")),
        TokenForm::Spnego => assert_eq!(first[0], 0x60),
    }
    assert!(NegotiateAcceptor::is_initial_token(&first));
    let AcceptStep::Continue(challenge) = acceptor.step(&first, &OneAccount)? else {
        panic!("expected a challenge");
    };
    Ok((initiator, acceptor, challenge))
}

/// Runs a whole handshake between our initiator and the server's acceptor; returns both
/// sealers, or the acceptor's error.
fn handshake(
    user: &str,
    password: &str,
    form: TokenForm,
    client_bindings: Option<Vec<u8>>,
    policy: ChannelBindingPolicy,
) -> Result<SealerPair, NtlmError> {
    let (mut initiator, mut acceptor, challenge) =
        first_leg(user, password, form, client_bindings, policy)?;
    let authenticate = initiator.step(&challenge).unwrap();
    let AcceptStep::Complete(done) = acceptor.step(&authenticate, &OneAccount)? else {
        panic!("expected completion");
    };
    assert_eq!(done.account, "wsmantest");
    assert_eq!(done.final_token.is_some(), form == TokenForm::Spnego);
    let client = initiator.complete(done.final_token.as_deref()).unwrap();
    Ok((client, done.sealer))
}

/// A handshake of the test account in `form` with no channel binding, then sealed exchanges.
fn handshake_and_exchange(form: TokenForm) {
    let (mut client, mut server) = handshake(
        "wsmantest",
        "Wsman-Test-Pass1",
        form,
        None,
        ChannelBindingPolicy::default(),
    )
    .unwrap();
    exchange(client.as_mut(), server.as_mut());
}

fn exchange(client: &mut dyn MessageSealer, server: &mut dyn MessageSealer) {
    for round in 0..3 {
        let request = format!("<s:Envelope>request {round}</s:Envelope>");
        let sealed = seal_body(client, SOAP, request.as_bytes()).unwrap();
        assert!(!sealed.body.windows(7).any(|w| w == b"request"));
        let plain = unseal_body(server, &sealed.content_type, &sealed.body, 1 << 20).unwrap();
        assert_eq!(plain.plain, request.as_bytes());

        let response = format!("<s:Envelope>response {round}</s:Envelope>");
        let sealed = seal_body(server, SOAP, response.as_bytes()).unwrap();
        let plain = unseal_body(client, &sealed.content_type, &sealed.body, 1 << 20).unwrap();
        assert_eq!(plain.plain, response.as_bytes());
    }
}

#[test]
fn raw_ntlm_against_our_acceptor_seals_both_ways() {
    handshake_and_exchange(TokenForm::RawNtlm);
}

#[test]
fn spnego_against_our_acceptor_seals_both_ways() {
    handshake_and_exchange(TokenForm::Spnego);
}

#[test]
fn wrong_password_is_refused_in_both_forms() {
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        let err = handshake(
            "wsmantest",
            "wrong",
            form,
            None,
            ChannelBindingPolicy::default(),
        )
        .err()
        .unwrap();
        assert!(err.is_credential_failure(), "{form:?}: {err}");
    }
}

#[test]
fn channel_bindings_are_checked_by_a_strict_server() {
    let bindings = b"tls-server-end-point:0123456789abcdef0123456789abcdef".to_vec();
    let expected = crate::channel_binding::gss_channel_bindings_md5(&bindings);
    let strict = ChannelBindingPolicy {
        hardening: CbtHardening::Strict,
        expected: Some(expected),
    };
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        handshake(
            "wsmantest",
            "Wsman-Test-Pass1",
            form,
            Some(bindings.clone()),
            strict,
        )
        .unwrap();
        let err = handshake("wsmantest", "Wsman-Test-Pass1", form, None, strict)
            .err()
            .unwrap();
        assert_eq!(err, NtlmError::ChannelBindingMissing, "{form:?}");
        let other = b"tls-server-end-point:something else".to_vec();
        let err = handshake("wsmantest", "Wsman-Test-Pass1", form, Some(other), strict)
            .err()
            .unwrap();
        assert_eq!(err, NtlmError::ChannelBindingMismatch, "{form:?}");
    }
}

#[test]
fn steps_out_of_order_are_refused() {
    let credentials = ClientCredentials::new("wsmantest", "x");
    let mut initiator =
        NegotiateInitiator::new(&credentials, TokenForm::RawNtlm, "h", None).unwrap();
    assert_eq!(
        initiator.step(b"x").unwrap_err(),
        InitiatorError::OutOfSequence
    );
    initiator.initial_token().unwrap();
    assert_eq!(
        initiator.initial_token().unwrap_err(),
        InitiatorError::OutOfSequence
    );
    assert!(matches!(
        initiator.step(b"garbage"),
        Err(InitiatorError::BadServerToken(_))
    ));
    // A failed step finishes the context.
    assert_eq!(
        initiator.step(b"garbage").unwrap_err(),
        InitiatorError::OutOfSequence
    );
    assert!(!format!("{credentials:?}").contains("\"x\""));
}

#[test]
fn spnego_needs_the_servers_final_token() {
    let (mut initiator, _acceptor, challenge) = first_leg(
        "wsmantest",
        "Wsman-Test-Pass1",
        TokenForm::Spnego,
        None,
        ChannelBindingPolicy::default(),
    )
    .unwrap();
    initiator.step(&challenge).unwrap();
    assert_eq!(
        initiator.complete(None).err().unwrap(),
        InitiatorError::MissingFinalToken
    );
}

#[test]
fn channel_binding_structure_layout() {
    let out = sec_channel_bindings(b"abc");
    assert_eq!(out.len(), 35);
    assert_eq!(&out[24..28], &3u32.to_le_bytes());
    assert_eq!(&out[28..32], &32u32.to_le_bytes());
    assert_eq!(&out[32..], b"abc");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// A hostile server's challenge: refused with an error, never a panic.
    #[test]
    fn arbitrary_server_tokens_never_panic(
        token in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        spnego in proptest::prelude::any::<bool>(),
        ntlm_prefix in proptest::prelude::any::<bool>(),
    ) {
        let form = if spnego { TokenForm::Spnego } else { TokenForm::RawNtlm };
        let credentials = ClientCredentials::new("user", "password");
        let mut initiator = NegotiateInitiator::new(&credentials, form, "h", None).unwrap();
        initiator.initial_token().unwrap();
        let mut input = if ntlm_prefix { b"NTLMSSP\0\x02\0\0\0".to_vec() } else { Vec::new() };
        input.extend_from_slice(&token);
        let _ = initiator.step(&input);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// A real CHALLENGE (raw or in SPNEGO) with bytes changed: an error or an AUTHENTICATE,
    /// never a panic.
    #[test]
    fn mutated_challenges_never_panic(
        spnego in proptest::prelude::any::<bool>(),
        edits in proptest::collection::vec((0usize..400, proptest::prelude::any::<u8>()), 1..6),
        cut in 0usize..400,
    ) {
        let form = if spnego { TokenForm::Spnego } else { TokenForm::RawNtlm };
        let credentials = ClientCredentials::new("wsmantest", "Wsman-Test-Pass1");
        let mut initiator = NegotiateInitiator::new(&credentials, form, "h", None).unwrap();
        let first = initiator.initial_token().unwrap();
        let mut acceptor = NegotiateAcceptor::new(ChannelBindingPolicy::default(), "h");
        let Ok(AcceptStep::Continue(mut challenge)) = acceptor.step(&first, &OneAccount) else {
            panic!("no challenge");
        };
        for (at, value) in edits {
            let len = challenge.len();
            challenge[at % len] = value;
        }
        if cut < challenge.len() && cut % 3 == 0 {
            challenge.truncate(cut);
        }
        let _ = initiator.step(&challenge);
    }
}
