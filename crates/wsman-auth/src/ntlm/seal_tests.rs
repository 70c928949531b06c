//! Our NTLM sealing against sspi's, from the same completed handshake, and the refusals.

use super::*;
use crate::initiator::{ClientCredentials, NegotiateInitiator, TokenForm};
use crate::ntlm::{
    nt_hash_of_password, AcceptStep, ChannelBindingPolicy, NegotiateAcceptor, NtHashLookup,
    NtlmAccount,
};
use crate::sealing::MessageSealer;
use wsman_mac_beside::PIPELINE_BLOCK;

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
    /// sspi's server context: SPNEGO only (raw NTLM is ours end to end).
    server_ref: Option<Box<dyn MessageSealer>>,
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
    let server_ref = done.reference.take();
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
        if let Some(server_ref) = s.server_ref.as_mut() {
            assert_eq!(server_ref.unwrap(&sig, &ct).unwrap(), plain);
        }

        let reply = message(len, 0x80 | index as u8);
        let (sig, ct) = s.server.wrap(&reply).unwrap();
        assert_eq!(seq_of(&sig), expected_seq);
        // sspi's client unseals ours (raw NTLM), and sspi's server seals the same bytes
        // (SPNEGO).
        if let Some(server_ref) = s.server_ref.as_mut() {
            let (ref_sig, ref_ct) = server_ref.wrap(&reply).unwrap();
            assert_eq!(sig, ref_sig, "server signature {index} ({len} bytes)");
            assert_eq!(ct, ref_ct, "server ciphertext {index} ({len} bytes)");
            assert_eq!(s.client.unwrap(&ref_sig, &ref_ct).unwrap(), reply);
        } else {
            assert_eq!(s.client.unwrap(&sig, &ct).unwrap(), reply);
        }
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

/// The two-thread unseal refuses a flipped byte in any of its pipeline blocks (first, middle,
/// last, the short tail) and leaves the output as it was, with what it decrypted wiped.
#[test]
fn a_tampered_byte_in_a_large_message_is_refused() {
    let len = 5 * PIPELINE_BLOCK + 123;
    assert!(len >= PARALLEL_MIN);
    let plain = message(len, 9);
    for position in [0, PIPELINE_BLOCK - 1, 2 * PIPELINE_BLOCK + 5, len - 1] {
        let mut s = handshake(TokenForm::Spnego);
        let (sig, mut ct) = s.server.wrap(&plain).unwrap();
        ct[position] ^= 0x01;
        let mut out = b"kept".to_vec();
        let refused = s.client.unwrap_into(&sig, &ct, &mut out);
        assert!(refused.is_err(), "flipped byte {position} accepted");
        assert_eq!(out, b"kept");
    }
    // Untampered, the same path gives the plaintext after what was in the buffer.
    let mut s = handshake(TokenForm::Spnego);
    let (sig, ct) = s.server.wrap(&plain).unwrap();
    let mut out = b"kept".to_vec();
    s.client.unwrap_into(&sig, &ct, &mut out).unwrap();
    assert_eq!(&out[..4], b"kept");
    assert_eq!(out[4..], plain[..]);
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

/// The sealing this module had before the word-at-a-time RC4 and the fused passes, kept
/// verbatim as the reference the new code must match byte for byte: a byte-at-a-time RC4 on a
/// byte permutation, the HMAC over the whole plaintext, then the copy and the keystream.
struct OldDirection {
    sign_key: [u8; 16],
    state: [u8; 256],
    i: u8,
    j: u8,
    seq: u32,
}

impl OldDirection {
    fn new(session_key: &[u8], sign_magic: &[u8], seal_magic: &[u8], seq: u32) -> Self {
        let sign_key = *derive(session_key, sign_magic);
        let seal_key = *derive(session_key, seal_magic);
        let mut state: [u8; 256] = std::array::from_fn(|i| i as u8);
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(state[i]).wrapping_add(seal_key[i % 16]);
            state.swap(i, usize::from(j));
        }
        Self {
            sign_key,
            state,
            i: 0,
            j: 0,
            seq,
        }
    }

    fn apply(&mut self, data: &mut [u8]) {
        for byte in data.iter_mut() {
            self.i = self.i.wrapping_add(1);
            let si = self.state[usize::from(self.i)];
            self.j = self.j.wrapping_add(si);
            let sj = self.state[usize::from(self.j)];
            self.state[usize::from(self.i)] = sj;
            self.state[usize::from(self.j)] = si;
            *byte ^= self.state[usize::from(si.wrapping_add(sj))];
        }
    }

    fn wrap(&mut self, plain: &[u8]) -> ([u8; 16], Vec<u8>) {
        let seq = self.seq;
        self.seq += 1;
        let digest = hmac_md5(&self.sign_key, &[&seq.to_le_bytes(), plain]);
        let mut data = plain.to_vec();
        self.apply(&mut data);
        let mut signature = [0u8; 16];
        signature[0..4].copy_from_slice(&1u32.to_le_bytes());
        signature[4..12].copy_from_slice(&digest[0..8]);
        self.apply(&mut signature[4..12]);
        signature[12..16].copy_from_slice(&seq.to_le_bytes());
        (signature, data)
    }
}

/// Sizes around every boundary of the new code: the 8-byte words, the fused blocks.
fn edge_sizes() -> Vec<usize> {
    let mut sizes: Vec<usize> = (0..=70).collect();
    // The fused blocks, the threshold of the two-thread path and its pipeline blocks.
    for base in [
        BLOCK,
        2 * BLOCK,
        64 * 1024,
        PARALLEL_MIN,
        3 * PIPELINE_BLOCK,
        PARALLEL_MIN + PIPELINE_BLOCK,
    ] {
        sizes.extend([
            base - 9,
            base - 8,
            base - 1,
            base,
            base + 1,
            base + 7,
            base + 8,
        ]);
    }
    sizes.extend([100_003, 600 * 1024 + 5]);
    sizes
}

#[test]
fn rc4_matches_the_byte_at_a_time_keystream() {
    for key_salt in 0..8u8 {
        let key: [u8; 16] = std::array::from_fn(|i| (i as u8).wrapping_mul(31) ^ key_salt);
        let mut new = Rc4::new(&key);
        let mut old = OldDirection::new(&key, b"", b"", 0);
        // OldDirection derives its RC4 key; key the reference with `key` itself.
        old.state = std::array::from_fn(|i| i as u8);
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(old.state[i]).wrapping_add(key[i % 16]);
            old.state.swap(i, usize::from(j));
        }
        // One keystream, consumed in pieces of every size in turn (odd splits keep the word
        // loop out of step with the stream position).
        for (index, len) in edge_sizes().into_iter().enumerate() {
            let data = message(len, index as u8 ^ key_salt);
            let mut a = data.clone();
            let mut b = data;
            new.apply(&mut a);
            old.apply(&mut b);
            assert_eq!(a, b, "key {key_salt}, piece {index} of {len} bytes");
        }
    }
}

/// Both directions, every size, the plaintext given whole and in uneven parts: the new seal
/// must produce the old signature and ciphertext, and unseal what the old one sealed.
#[test]
fn sealing_matches_the_previous_implementation_byte_for_byte() {
    let session_key = [0x5au8; 16];
    for first_seq in [0u32, 1] {
        for role in [Role::Client, Role::Server] {
            let (sign, seal, other_sign, other_seal) = match role {
                Role::Client => (
                    CLIENT_SIGN_MAGIC,
                    CLIENT_SEAL_MAGIC,
                    SERVER_SIGN_MAGIC,
                    SERVER_SEAL_MAGIC,
                ),
                Role::Server => (
                    SERVER_SIGN_MAGIC,
                    SERVER_SEAL_MAGIC,
                    CLIENT_SIGN_MAGIC,
                    CLIENT_SEAL_MAGIC,
                ),
            };
            let mut new_whole = NtlmSeal::new(&session_key, role, first_seq);
            let mut new_parts = NtlmSeal::new(&session_key, role, first_seq);
            let peer_role = match role {
                Role::Client => Role::Server,
                Role::Server => Role::Client,
            };
            let mut peer = NtlmSeal::new(&session_key, peer_role, first_seq);
            let mut old = OldDirection::new(&session_key, sign, seal, first_seq);
            let mut old_incoming =
                OldDirection::new(&session_key, other_sign, other_seal, first_seq);
            for (index, len) in edge_sizes().into_iter().enumerate() {
                let plain = message(len, index as u8);
                let (old_sig, old_ct) = old.wrap(&plain);
                let (sig, ct) = new_whole.wrap(&plain);
                assert_eq!((sig, &ct), (old_sig, &old_ct), "{role:?} wrap, {len} bytes");

                // The same bytes as three uneven parts, appended after existing content.
                let cut1 = len / 3;
                let cut2 = len - len / 5;
                let parts = [&plain[..cut1], &plain[cut1..cut2], &plain[cut2..]];
                let mut out = b"prefix".to_vec();
                MessageSealer::wrap_parts_into(&mut new_parts, &parts, &mut out).unwrap();
                assert_eq!(&out[..6], b"prefix");
                assert_eq!(out[6..10], 16u32.to_le_bytes());
                assert_eq!(
                    out[10..26],
                    old_sig,
                    "{role:?} parts signature, {len} bytes"
                );
                assert_eq!(
                    out[26..],
                    old_ct[..],
                    "{role:?} parts ciphertext, {len} bytes"
                );

                // The other direction: what the old code sealed towards us, we unseal.
                let reply = message(len, 0x80 | index as u8);
                let (reply_sig, reply_ct) = old_incoming.wrap(&reply);
                assert_eq!(new_whole.unwrap(&reply_sig, &reply_ct).unwrap(), reply);
                assert_eq!(new_parts.unwrap(&reply_sig, &reply_ct).unwrap(), reply);
                // And the peer unseals ours.
                assert_eq!(peer.unwrap(&sig, &ct).unwrap(), plain);
                let (peer_sig, peer_ct) = peer.wrap(&reply);
                assert_eq!((peer_sig, peer_ct), (reply_sig, reply_ct));
            }
        }
    }
}

/// Decrypting in place is the unseal into a buffer, byte for byte and check for check: the
/// same plaintexts from the same messages on two contexts of one key (the unfused
/// composition), over sizes around every block and the two-thread threshold.
#[test]
fn unwrapping_in_place_is_unwrapping_into_a_buffer() {
    let key = [0x5au8; 16];
    let mut sender = NtlmSeal::new(&key, Role::Client, 1);
    let mut in_place = NtlmSeal::new(&key, Role::Server, 1);
    let mut into = NtlmSeal::new(&key, Role::Server, 1);
    for (index, len) in edge_sizes().into_iter().enumerate() {
        let plain = message(len, index as u8);
        let (sig, ct) = sender.wrap(&plain);
        let mut out = b"kept".to_vec();
        into.unwrap_into(&sig, &ct, &mut out).unwrap();
        let mut data = ct.clone();
        in_place.unwrap_in_place(&sig, &mut data).unwrap();
        assert_eq!(data, out[4..], "{len} bytes");
        assert_eq!(data, plain, "{len} bytes");
    }
    // A replay is refused by both, before any byte is touched.
    let (sig, ct) = sender.wrap(b"once");
    let mut data = ct.clone();
    in_place.unwrap_in_place(&sig, &mut data).unwrap();
    let mut again = ct.clone();
    assert_eq!(
        in_place.unwrap_in_place(&sig, &mut again),
        Err(UnsealError::Sequence)
    );
    assert_eq!(again, ct);
}

/// sspi (an implementation of NTLM that is not ours) seals whole MS-WSMV bodies; ours opens
/// them where they lie, small and pipelined, and a flipped byte anywhere in the ciphertext or
/// the signature is refused with no plaintext left in the body.
#[test]
fn bodies_sealed_by_sspi_unseal_in_place() {
    use crate::sealing::{parse_sealed_body, seal_body, unseal_body_in_place};
    const SOAP: &str = "application/soap+xml;charset=UTF-8";
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        let mut s = handshake(form);
        for (index, &len) in SIZES.iter().enumerate() {
            let plain = message(len, index as u8);
            let sealed = seal_body(s.client_ref.as_mut(), SOAP, &plain).unwrap();
            let mut body = sealed.body.clone();
            let (labels, range) =
                unseal_body_in_place(s.server.as_mut(), &sealed.content_type, &mut body, 1 << 20)
                    .unwrap();
            assert_eq!(labels.original_content_type, SOAP);
            assert_eq!(body[range], plain[..], "{form:?}, {len} bytes");
        }
        for len in [4096, 3 * PIPELINE_BLOCK + 7] {
            let plain = message(len, 3);
            let sealed = seal_body(s.client_ref.as_mut(), SOAP, &plain).unwrap();
            let parts = parse_sealed_body(&sealed.content_type, &sealed.body, 1 << 20).unwrap();
            let ciphertext_at =
                sealed.body.len() - parts.ciphertext.len() - "--Encrypted Boundary--\r\n".len();
            let signature_at = ciphertext_at - SIGNATURE_LEN;
            for position in [signature_at + 5, ciphertext_at, ciphertext_at + len - 1] {
                let mut fresh = handshake(form);
                let mut body = seal_body(fresh.client_ref.as_mut(), SOAP, &plain)
                    .unwrap()
                    .body;
                body[position] ^= 0x01;
                let refused = unseal_body_in_place(
                    fresh.server.as_mut(),
                    &sealed.content_type,
                    &mut body,
                    1 << 20,
                );
                assert!(
                    refused.is_err(),
                    "{form:?}: flipped byte {position} accepted"
                );
                assert!(
                    body[ciphertext_at..ciphertext_at + len]
                        .iter()
                        .all(|&b| b == 0),
                    "{form:?}: plaintext left after a refusal"
                );
            }
        }
    }
}
