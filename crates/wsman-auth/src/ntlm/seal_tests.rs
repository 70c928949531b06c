//! Our NTLM sealing against sspi's, from the same completed handshake, and the refusals.

use super::*;
use crate::initiator::{ClientCredentials, NegotiateInitiator, TokenForm};
use crate::ntlm::{
    nt_hash_of_password, AcceptStep, ChannelBindingPolicy, NegotiateAcceptor, NtHashLookup,
    NtlmAccount,
};
use crate::sealing::MessageSealer;

struct OneAccount;

impl NtHashLookup for OneAccount {
    fn lookup(&self, user: &str) -> Option<NtlmAccount> {
        self.all()
            .into_iter()
            .find(|a| a.name.eq_ignore_ascii_case(user))
    }
    fn all(&self) -> Vec<NtlmAccount> {
        vec![NtlmAccount {
            name: "sealuser".to_owned(),
            hash: nt_hash_of_password("Seal-Pass-1"),
        }]
    }
}

/// Ours and sspi's sealer on each side of one handshake.
struct Sides {
    client: Box<dyn MessageSealer>,
    client_ref: Box<dyn MessageSealer>,
    server: Box<dyn MessageSealer>,
    server_ref: Box<dyn MessageSealer>,
}

fn handshake(form: TokenForm) -> Sides {
    let mut initiator = NegotiateInitiator::new(
        &ClientCredentials::new("sealuser", "Seal-Pass-1"),
        form,
        "server",
        None,
    )
    .unwrap();
    let mut acceptor = NegotiateAcceptor::new(ChannelBindingPolicy::default(), "server");
    let first = initiator.initial_token().unwrap();
    let AcceptStep::Continue(challenge) = acceptor.step(&first, &OneAccount).unwrap() else {
        panic!("expected a challenge");
    };
    let authenticate = initiator.step(&challenge).unwrap();
    let AcceptStep::Complete(mut done) = acceptor.step(&authenticate, &OneAccount).unwrap() else {
        panic!("expected completion");
    };
    let (client, client_ref) = initiator
        .complete_with_reference(done.final_token.as_deref())
        .unwrap();
    let server_ref = done.reference.take().unwrap();
    Sides {
        client,
        client_ref,
        server: done.sealer,
        server_ref,
    }
}

/// Deterministic, non-repeating bytes of `len`.
fn message(len: usize, salt: u8) -> Vec<u8> {
    let mut x = 0x9e37_79b9u32 ^ u32::from(salt);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

const SIZES: &[usize] = &[0, 1, 16 * 1024, 600 * 1024, 37, 0, 16 * 1024 + 3, 1];

fn seq_of(signature: &[u8]) -> u32 {
    u32::from_le_bytes(signature[12..16].try_into().unwrap())
}

/// Seals every size both ways with ours and with sspi's, asserting identical bytes, and
/// unseals each side's output with the other implementation.
fn differential(form: TokenForm, first_seq: u32) {
    let mut s = handshake(form);
    for (index, &len) in SIZES.iter().enumerate() {
        let expected_seq = first_seq + index as u32;
        let plain = message(len, index as u8);

        let (sig, ct) = s.client.wrap(&plain).unwrap();
        let (ref_sig, ref_ct) = s.client_ref.wrap(&plain).unwrap();
        assert_eq!(sig, ref_sig, "client signature {index} ({len} bytes)");
        assert_eq!(ct, ref_ct, "client ciphertext {index} ({len} bytes)");
        assert_eq!(sig.len(), 16);
        assert_eq!(sig[0..4], [1, 0, 0, 0]);
        assert_eq!(seq_of(&sig), expected_seq);
        assert_eq!(ct.len(), len);
        if len > 16 {
            assert_ne!(ct, plain);
        }
        assert_eq!(s.server.unwrap(&ref_sig, &ref_ct).unwrap(), plain);
        assert_eq!(s.server_ref.unwrap(&sig, &ct).unwrap(), plain);

        let reply = message(len, 0x80 | index as u8);
        let (sig, ct) = s.server.wrap(&reply).unwrap();
        let (ref_sig, ref_ct) = s.server_ref.wrap(&reply).unwrap();
        assert_eq!(sig, ref_sig, "server signature {index} ({len} bytes)");
        assert_eq!(ct, ref_ct, "server ciphertext {index} ({len} bytes)");
        assert_eq!(seq_of(&sig), expected_seq);
        assert_eq!(s.client.unwrap(&ref_sig, &ref_ct).unwrap(), reply);
        assert_eq!(s.client_ref.unwrap(&sig, &ct).unwrap(), reply);
    }
}

#[test]
fn raw_ntlm_sealing_matches_sspi_byte_for_byte() {
    differential(TokenForm::RawNtlm, 0);
}

#[test]
fn spnego_sealing_matches_sspi_byte_for_byte() {
    differential(TokenForm::Spnego, 1);
}

#[test]
fn a_tampered_byte_is_refused() {
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        let plain = message(4096, 7);
        // Ciphertext, checksum, sequence number and version, each on a fresh pair of
        // contexts (a failed unwrap leaves the keystream out of step, as it should).
        for position in [0usize, 4095, 4096 + 4, 4096 + 11, 4096 + 12, 4096] {
            let mut s = handshake(form);
            let (mut sig, mut ct) = s.client.wrap(&plain).unwrap();
            if position < ct.len() {
                ct[position] ^= 0x01;
            } else {
                sig[position - ct.len()] ^= 0x01;
            }
            assert!(
                s.server.unwrap(&sig, &ct).is_err(),
                "{form:?}: flipped byte {position} accepted"
            );
        }
        let mut s = handshake(form);
        let (sig, ct) = s.server.wrap(&plain).unwrap();
        assert!(s.client.unwrap(&sig[..15], &ct).is_err());
        let mut ct = ct;
        ct[100] ^= 0x80;
        assert!(s.client.unwrap(&sig, &ct).is_err());
    }
}

#[test]
fn replayed_and_reordered_messages_are_refused() {
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        // Replay: the same body twice.
        let mut s = handshake(form);
        let (sig, ct) = s.client.wrap(b"first").unwrap();
        assert_eq!(s.server.unwrap(&sig, &ct).unwrap(), b"first");
        assert!(
            s.server.unwrap(&sig, &ct).is_err(),
            "{form:?}: replay accepted"
        );

        // Reordering: the second body before the first.
        let mut s = handshake(form);
        let _first = s.server.wrap(b"first").unwrap();
        let (sig, ct) = s.server.wrap(b"second").unwrap();
        assert!(
            s.client.unwrap(&sig, &ct).is_err(),
            "{form:?}: out-of-order body accepted"
        );
    }
}

#[test]
fn sequence_check_comes_before_the_keystream() {
    // A replay refused by its sequence number does not disturb the state: the next message
    // in order still unseals.
    let mut seal_client = NtlmSeal::new(&[7u8; 16], Role::Client, 0);
    let mut seal_server = NtlmSeal::new(&[7u8; 16], Role::Server, 0);
    let (sig0, ct0) = seal_client.wrap(b"zero");
    let (sig1, ct1) = seal_client.wrap(b"one");
    assert_eq!(seal_server.unwrap(&sig0, &ct0).unwrap(), b"zero");
    assert_eq!(seal_server.unwrap(&sig0, &ct0), Err(UnsealError::Sequence));
    assert_eq!(seal_server.unwrap(&sig1, &ct1).unwrap(), b"one");
    let mut wrong_version = sig1;
    wrong_version[0] = 2;
    assert_eq!(
        seal_server.unwrap(&wrong_version, &ct1),
        Err(UnsealError::Version)
    );
    assert_eq!(
        seal_server.unwrap(&sig1[..8], &ct1),
        Err(UnsealError::SignatureLength)
    );
    // The other direction's keys do not open a message.
    let mut other = NtlmSeal::new(&[7u8; 16], Role::Client, 0);
    assert_eq!(other.unwrap(&sig0, &ct0), Err(UnsealError::Checksum));
}

#[test]
fn rc4_known_answer() {
    // RFC 6229, key 0x0102..0x10 (128 bits), keystream offset 0.
    let key: [u8; 16] = std::array::from_fn(|i| i as u8 + 1);
    let mut stream = [0u8; 16];
    Rc4::new(&key).apply(&mut stream);
    assert_eq!(
        stream,
        [
            0x9a, 0xc7, 0xcc, 0x9a, 0x60, 0x9d, 0x1e, 0xf7, 0xb2, 0x93, 0x28, 0x99, 0xcd, 0xe4,
            0x1b, 0x97
        ]
    );
}
