//! The acceptor against what clients Windows accepts really send: go-ntlmssp (the NTLM of
//! masterzen/winrm, so of Packer and Terraform) and Node's ntlm-client (npm's winrm-client),
//! their messages laid out as their sources lay them out (no Version, no MIC, the CHALLENGE's
//! flags echoed, OEM strings for Node), sspi's signing-only client (no key exchange), and
//! MS-NLMP's own known answers for the keys. The Go library itself drives the daemon in
//! wsman-test's `go_winrm` test.

use super::*;
use crate::ntlm::message::{
    FLAG_128, FLAG_56, FLAG_ALWAYS_SIGN, FLAG_EXTENDED_SESSION_SECURITY, FLAG_KEY_EXCH, FLAG_NTLM,
    FLAG_OEM, FLAG_REQUEST_TARGET, FLAG_SEAL, FLAG_SIGN, FLAG_TARGET_INFO, FLAG_VERSION,
};
use crate::ntlm::server_challenge;

/// go-ntlmssp's NEGOTIATE flags (TARGET_INFO, 56, 128, UNICODE, extended session security).
const GO_FLAGS: u32 = 0xa088_0001;
/// Node ntlm-client's NEGOTIATE flags (OEM, REQUEST_TARGET, NTLM, ALWAYS_SIGN, extended
/// session security): OEM strings, not Unicode.
const NODE_FLAGS: u32 = 0x0008_8206;

/// A NEGOTIATE with `flags`: go-ntlmssp's layout (40 bytes, with a Version) or Node's (32,
/// followed by the ASCII domain it names without the DOMAIN_SUPPLIED flag).
fn negotiate_of(flags: u32, version: bool, domain: &str) -> Vec<u8> {
    let fixed: u32 = if version { 40 } else { 32 };
    let mut out = b"NTLMSSP\0".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    let len = domain.len() as u16;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(if len == 0 { 0 } else { fixed }).to_le_bytes());
    out.extend_from_slice(&[0u8; 8]);
    if version {
        out.extend_from_slice(&[6, 1, 0xb1, 0x1d, 0, 0, 0, 15]);
    }
    out.extend_from_slice(domain.as_bytes());
    out
}

/// How the client answers the CHALLENGE.
#[derive(Clone, Copy)]
struct Answer<'a> {
    user: &'a str,
    password: &'a str,
    /// Replace the NT response with one of this length (24: NTLMv1; 0: LM only).
    nt_len: Option<usize>,
    /// Add MsvAvFlags with the MIC bit to the echoed target info (no MIC field is laid out).
    announce_mic: bool,
}

impl Default for Answer<'_> {
    fn default() -> Self {
        Self {
            user: "svc",
            password: PASSWORD,
            nt_len: None,
            announce_mic: false,
        }
    }
}

/// The AUTHENTICATE go-ntlmssp and Node's ntlm-client write for `challenge`: a 64-byte fixed
/// part (no Version, no MIC), the CHALLENGE's flags (less VERSION), its target name as the
/// domain, the NTLMv2 response over its target info echoed unchanged, an LMv2 response, no
/// session key; strings in UTF-16LE or OEM as the CHALLENGE chose.
fn authenticate_like_go_and_node(challenge: &[u8], answer: Answer<'_>) -> Vec<u8> {
    let parsed = message::parse_challenge(challenge).unwrap();
    let flags = parsed.flags & !FLAG_VERSION;
    let unicode = flags & FLAG_UNICODE != 0;
    let name_len = usize::from(u16::from_le_bytes([challenge[12], challenge[13]]));
    let name_at = u32::from_le_bytes(challenge[16..20].try_into().unwrap()) as usize;
    let name_bytes = &challenge[name_at..name_at + name_len];
    let domain: String = if unicode {
        char::decode_utf16(
            name_bytes
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]])),
        )
        .map(Result::unwrap)
        .collect()
    } else {
        String::from_utf8(name_bytes.to_vec()).unwrap()
    };
    let info_len = usize::from(u16::from_le_bytes([challenge[40], challenge[41]]));
    let info_at = u32::from_le_bytes(challenge[44..48].try_into().unwrap()) as usize;
    let mut target_info = challenge[info_at..info_at + info_len].to_vec();
    if answer.announce_mic {
        target_info.truncate(target_info.len() - 4); // MsvAvEOL
        target_info.extend_from_slice(&[6, 0, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    }
    let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
    blob.extend_from_slice(&[0x11; 8]);
    blob.extend_from_slice(&[0x33; 8]);
    blob.extend_from_slice(&[0; 4]);
    blob.extend_from_slice(&target_info);
    blob.extend_from_slice(&[0; 4]);
    let hash = nt_hash_of_password(answer.password);
    let proof = nt_proof(&hash, answer.user, &domain, &parsed.server_challenge, &blob);
    let mut nt = proof.to_vec();
    nt.extend_from_slice(&blob);
    if let Some(len) = answer.nt_len {
        nt = vec![0x5c; len];
    }
    let encode = |text: &str| {
        if unicode {
            utf16(text)
        } else {
            text.as_bytes().to_vec()
        }
    };
    let fields = [
        vec![0x66; 24],
        nt,
        encode(&domain),
        encode(answer.user),
        Vec::new(),
    ];
    let mut out = b"NTLMSSP\0".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    let payload = super::security_buffers(&mut out, &fields, 64);
    out.extend_from_slice(&[0u8; 8]); // EncryptedRandomSessionKey: none
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// A fresh acceptor's CHALLENGE for `negotiate`, then its answer to `answer`.
fn handshake_like(
    negotiate: &[u8],
    answer: Answer<'_>,
) -> (Vec<u8>, Result<AcceptStep, NtlmError>) {
    let accounts = Accounts::one();
    let mut server = acceptor();
    let challenge = expect_continue(server.step(negotiate, &accounts));
    let authenticate = authenticate_like_go_and_node(&challenge, answer);
    (challenge, server.step(&authenticate, &accounts))
}

fn challenge_flags_of(challenge: &[u8]) -> u32 {
    message::parse_challenge(challenge).unwrap().flags
}

/// go-ntlmssp's NEGOTIATE (refused by sspi's server: no REQUEST_TARGET, no NTLM) gets our
/// CHALLENGE without KEY_EXCH (go-ntlmssp refuses a CHALLENGE offering it), and its MIC-less,
/// key-exchange-less AUTHENTICATE logs in; the session seals with the KeyExchangeKey as the
/// exported session key.
#[test]
fn go_ntlmssp_negotiate_and_authenticate_are_accepted() {
    let negotiate = negotiate_of(GO_FLAGS, true, "");
    let (challenge, step) = handshake_like(&negotiate, Answer::default());
    let flags = challenge_flags_of(&challenge);
    assert_eq!(flags & FLAG_KEY_EXCH, 0, "{flags:#x}");
    let wanted = FLAG_UNICODE
        | FLAG_REQUEST_TARGET
        | FLAG_NTLM
        | FLAG_TARGET_INFO
        | FLAG_EXTENDED_SESSION_SECURITY
        | FLAG_128
        | FLAG_56;
    assert_eq!(flags & wanted, wanted, "{flags:#x}");
    assert_eq!(flags & FLAG_OEM, 0, "{flags:#x}");
    let done = match step {
        Ok(AcceptStep::Complete(done)) => done,
        other => panic!("expected Complete, got {other:?}"),
    };
    assert_eq!(done.account, "svc");
    assert_eq!(done.wire_domain, "SERVER");
    assert!(done.final_token.is_none());
}

/// Node's NEGOTIATE, flags 0x00088206 (OEM, not Unicode; refused by sspi's server), gets an
/// OEM CHALLENGE with its target name in ASCII, and Node's OEM AUTHENTICATE logs in. Without
/// 128-bit keys its sealed bodies are refused, with the reason.
#[test]
fn node_ntlm_client_oem_negotiate_is_accepted() {
    let negotiate = negotiate_of(NODE_FLAGS, false, "");
    let (challenge, step) = handshake_like(&negotiate, Answer::default());
    let flags = challenge_flags_of(&challenge);
    assert_eq!(flags & (FLAG_OEM | FLAG_UNICODE), FLAG_OEM, "{flags:#x}");
    assert_eq!(
        flags & (FLAG_KEY_EXCH | FLAG_128 | FLAG_56),
        0,
        "{flags:#x}"
    );
    assert!(
        challenge.windows(6).any(|w| w == b"SERVER"),
        "target name not in ASCII"
    );
    let done = match step {
        Ok(AcceptStep::Complete(done)) => done,
        other => panic!("expected Complete, got {other:?}"),
    };
    assert_eq!(done.account, "svc");
    let mut sealer = done.sealer;
    let error = sealer.wrap(b"<reply/>").unwrap_err();
    assert!(error.to_string().contains("128-bit"), "{error}");
    assert!(sealer.unwrap(&[0u8; 16], b"x").is_err());
}

/// Node's NEGOTIATE naming a domain (at offset 32, without the DOMAIN_SUPPLIED flag) parses.
#[test]
fn node_negotiate_with_a_domain_is_accepted() {
    let negotiate = negotiate_of(NODE_FLAGS, false, "WORKGROUP");
    let (_, step) = handshake_like(&negotiate, Answer::default());
    assert!(matches!(step, Ok(AcceptStep::Complete(_))), "{step:?}");
}

/// Which refusal a case expects.
type Expected = fn(&NtlmError) -> bool;

/// What stays refused with the real clients' layout: a wrong password, NTLMv1 and LM-only
/// responses, and a MIC announced in MsvAvFlags but absent from the message.
#[test]
fn go_and_node_layouts_still_refuse_what_windows_refuses() {
    for flags in [GO_FLAGS, NODE_FLAGS] {
        let negotiate = negotiate_of(flags, flags == GO_FLAGS, "");
        let cases: [(Answer, Expected); 4] = [
            (
                Answer {
                    password: "Wrong-Pass",
                    ..Answer::default()
                },
                |e| matches!(e, NtlmError::WrongPassword { .. }),
            ),
            (
                Answer {
                    nt_len: Some(24),
                    ..Answer::default()
                },
                |e| *e == NtlmError::NotNtlmV2,
            ),
            (
                Answer {
                    nt_len: Some(0),
                    ..Answer::default()
                },
                |e| *e == NtlmError::NotNtlmV2,
            ),
            (
                Answer {
                    announce_mic: true,
                    ..Answer::default()
                },
                |e| *e == NtlmError::MicMissing,
            ),
        ];
        for (answer, expected) in cases {
            let (_, step) = handshake_like(&negotiate, answer);
            let error = step.unwrap_err();
            assert!(expected(&error), "{flags:#x}: {error}");
            // The log line's text says why.
            assert!(!error.to_string().is_empty());
        }
    }
}

/// sspi's client asked to sign but not seal negotiates no key exchange: a real client other
/// than ours deriving the exported session key as MS-NLMP says for that case. Its sealing
/// and ours agree both ways.
#[test]
fn sspi_client_without_key_exchange_seals_with_us() {
    let accounts = Accounts::one();
    let mut client = ntlm_client("svc", PASSWORD);
    client.requirements = ClientRequestFlags::INTEGRITY | ClientRequestFlags::ALLOCATE_MEMORY;
    let mut server = acceptor();
    let (_, negotiate) = client.step(None);
    let client_flags = message::parse_negotiate(&negotiate).unwrap().flags;
    assert_eq!(client_flags & FLAG_KEY_EXCH, 0, "{client_flags:#x}");
    let challenge = expect_continue(server.step(&negotiate, &accounts));
    let (_, authenticate) = client.step(Some(&challenge));
    let parsed = message::parse_authenticate(&authenticate).unwrap();
    assert_eq!(parsed.flags & FLAG_KEY_EXCH, 0);
    assert!(parsed.encrypted_session_key.is_empty() || parsed.flags & FLAG_SIGN != 0);
    let done = match server.step(&authenticate, &accounts) {
        Ok(AcceptStep::Complete(done)) => done,
        other => panic!("expected Complete, got {other:?}"),
    };
    let mut sealer = done.sealer;
    exchange_sealed(&mut client, sealer.as_mut());
}

/// MS-NLMP 4.2.4 (NTLMv2): NTProofStr and SessionBaseKey for User/Domain/Password; without key
/// exchange the exported session key is that SessionBaseKey, with it the RandomSessionKey
/// decrypted from 4.2.4's EncryptedSessionKey.
#[test]
fn exported_session_key_matches_ms_nlmp_known_answers() {
    let hash = nt_hash_of_password("Password");
    let server_challenge = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
    blob.extend_from_slice(&[0u8; 8]); // time
    blob.extend_from_slice(&[0xaa; 8]); // client challenge
    blob.extend_from_slice(&[0; 4]);
    blob.extend_from_slice(&[2, 0, 12, 0]);
    blob.extend_from_slice(&utf16("Domain"));
    blob.extend_from_slice(&[1, 0, 12, 0]);
    blob.extend_from_slice(&utf16("Server"));
    blob.extend_from_slice(&[0, 0, 0, 0]);
    blob.extend_from_slice(&[0; 4]);
    let proof = nt_proof(&hash, "User", "Domain", &server_challenge, &blob);
    assert_eq!(
        *proof,
        [
            0x68, 0xcd, 0x0a, 0xb8, 0x51, 0xe5, 0x1c, 0x96, 0xaa, 0xbc, 0x92, 0x7b, 0xeb, 0xef,
            0x6a, 0x1c
        ]
    );
    let response_key = super::super::verify::ntowf_v2(&hash, "User", "Domain");
    let key_exchange_key = super::super::verify::hmac_md5(&*response_key, &[&proof[..]]);
    let session_base_key = [
        0x8d, 0xe4, 0x0c, 0xca, 0xdb, 0xc1, 0x4a, 0x82, 0xf1, 0x5c, 0xb0, 0xad, 0x0d, 0xe9, 0x5c,
        0xa3,
    ];
    assert_eq!(*key_exchange_key, session_base_key);
    let without = server_challenge::exported_session_key(
        FLAG_SIGN | FLAG_SEAL | FLAG_EXTENDED_SESSION_SECURITY,
        &key_exchange_key,
        &[],
    )
    .unwrap();
    assert_eq!(*without, session_base_key);
    let encrypted = [
        0xc5, 0xda, 0xd2, 0x54, 0x4f, 0xc9, 0x79, 0x90, 0x94, 0xce, 0x1c, 0xe9, 0x0b, 0xc9, 0xd0,
        0x3e,
    ];
    let with = server_challenge::exported_session_key(
        FLAG_KEY_EXCH | FLAG_SEAL,
        &key_exchange_key,
        &encrypted,
    )
    .unwrap();
    assert_eq!(*with, [0x55; 16]);
    // Key exchange without signing or sealing exports the KeyExchangeKey (3.2.5.1.2).
    let unsigned =
        server_challenge::exported_session_key(FLAG_KEY_EXCH, &key_exchange_key, &encrypted)
            .unwrap();
    assert_eq!(*unsigned, session_base_key);
}

/// The CHALLENGE for each NEGOTIATE shape: never a flag the client did not ask for among the
/// negotiable ones, never LM_KEY, always target info; Version laid out.
#[test]
fn challenge_grants_only_what_was_asked() {
    const LM_KEY: u32 = 0x80;
    for client in [GO_FLAGS, NODE_FLAGS, 0, 0xffff_ffff, FLAG_UNICODE | LM_KEY] {
        let challenge = server_challenge::build_with(client, "server", [9; 8], 0);
        let parsed = message::parse_challenge(&challenge).unwrap();
        assert_eq!(parsed.server_challenge, [9; 8]);
        let flags = parsed.flags;
        assert_eq!(flags & LM_KEY, 0, "{client:#x}");
        assert_ne!(flags & FLAG_TARGET_INFO, 0);
        for negotiable in [
            FLAG_KEY_EXCH,
            FLAG_128,
            FLAG_56,
            FLAG_SEAL,
            FLAG_SIGN,
            FLAG_ALWAYS_SIGN,
        ] {
            assert_eq!(flags & negotiable, client & negotiable, "{client:#x}");
        }
        assert_eq!(flags & 0x0000_0800, 0, "anonymous never offered");
    }
}

/// go-ntlmssp's own messages, recorded from the library (the fuzz seeds `go_negotiate` and
/// `go_authenticate`, the latter answering `challenge_without_key_exchange` for svc with
/// [`PASSWORD`]): the NEGOTIATE has go's flags, the AUTHENTICATE no Version, no MIC and no
/// session key, and it passes our shape, proof and MIC checks; a wrong password fails the proof.
#[test]
fn recorded_go_ntlmssp_messages_verify() {
    let negotiate = include_bytes!("../../../../fuzz/seeds/ntlm/go_negotiate");
    let challenge = include_bytes!("../../../../fuzz/seeds/ntlm/challenge_without_key_exchange");
    let authenticate = include_bytes!("../../../../fuzz/seeds/ntlm/go_authenticate");
    assert_eq!(message::parse_negotiate(negotiate).unwrap().flags, GO_FLAGS);
    let server_challenge = message::parse_challenge(challenge)
        .unwrap()
        .server_challenge;
    let parsed = message::parse_authenticate(authenticate).unwrap();
    assert_eq!(
        (parsed.user.as_str(), parsed.domain.as_str()),
        ("svc", "SERVER")
    );
    assert!(parsed.mic.is_none() && parsed.encrypted_session_key.is_empty());
    assert_eq!(parsed.flags & FLAG_KEY_EXCH, 0);
    verify::check_shape(&parsed).unwrap();
    let hash = nt_hash_of_password(PASSWORD);
    verify::check_proof(&parsed, &hash, &server_challenge).unwrap();
    let transcript = verify::Transcript {
        negotiate,
        challenge,
        authenticate,
    };
    verify::check_mic(&parsed, &hash, transcript).unwrap();
    let wrong = nt_hash_of_password("Wrong-Pass");
    assert!(matches!(
        verify::check_proof(&parsed, &wrong, &server_challenge),
        Err(NtlmError::WrongPassword { .. })
    ));
}
