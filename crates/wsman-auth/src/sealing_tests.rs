#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

/// A stand-in context for framing tests: XOR "encryption" and a 4-byte sequence number as the
/// token header, checked on unwrap like a real context checks its sequence.
struct XorSealer {
    protocol: &'static str,
    send_seq: u32,
    recv_seq: u32,
}

impl XorSealer {
    fn new() -> Self {
        Self {
            protocol: SPNEGO_PROTOCOL,
            send_seq: 0,
            recv_seq: 0,
        }
    }
}

impl MessageSealer for XorSealer {
    fn protocol(&self) -> &str {
        self.protocol
    }
    fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SealError> {
        let header = self.send_seq.to_le_bytes().to_vec();
        self.send_seq += 1;
        Ok((header, plain.iter().map(|b| b ^ 0x5a).collect()))
    }
    fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
        if header != self.recv_seq.to_le_bytes() {
            return Err(SealError::Unwrap("sequence".into()));
        }
        self.recv_seq += 1;
        Ok(ciphertext.iter().map(|b| b ^ 0x5a).collect())
    }
}

/// Hands back fixed bytes: lets a recorded body be re-emitted and compared byte for byte.
struct ReplaySealer {
    header: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl MessageSealer for ReplaySealer {
    fn protocol(&self) -> &str {
        SPNEGO_PROTOCOL
    }
    fn wrap(&mut self, _plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SealError> {
        Ok((self.header.clone(), self.ciphertext.clone()))
    }
    fn unwrap(&mut self, _header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
        Ok(ciphertext.to_vec())
    }
}

const CONTENT_TYPE: &str =
    "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"";

fn fixture() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wsman-proto/tests/fixtures/windows/encryption/spnego-session-encrypted.body.bin"
    );
    std::fs::read(path).unwrap()
}

#[test]
fn windows_sealed_body_parses() {
    let body = fixture();
    let parts = parse_sealed_body(CONTENT_TYPE, &body, 500 * 1024).unwrap();
    assert_eq!(parts.protocol, SPNEGO_PROTOCOL);
    assert_eq!(
        parts.original_content_type,
        "application/soap+xml;charset=UTF-8"
    );
    assert_eq!(parts.declared_length, 2162);
    // NTLMSSP_MESSAGE_SIGNATURE: version 1, checksum, sequence number 0.
    assert_eq!(parts.token_header.len(), 16);
    assert_eq!(&parts.token_header[..4], &[1, 0, 0, 0]);
    assert_eq!(&parts.token_header[12..], &[0, 0, 0, 0]);
    // NTLM sealing keeps the length: the payload is exactly the declared plaintext length.
    assert_eq!(parts.ciphertext.len(), 2162);
}

#[test]
fn windows_sealed_body_is_reproduced_byte_for_byte() {
    let body = fixture();
    let parts = parse_sealed_body(CONTENT_TYPE, &body, 500 * 1024).unwrap();
    let mut replay = ReplaySealer {
        header: parts.token_header.to_vec(),
        ciphertext: parts.ciphertext.to_vec(),
    };
    let plain = vec![b'x'; parts.declared_length];
    let sealed = seal_body(&mut replay, "application/soap+xml;charset=UTF-8", &plain).unwrap();
    assert_eq!(sealed.content_type, CONTENT_TYPE);
    assert_eq!(sealed.body, body);
}

#[test]
fn pywinrm_test_vector_parses() {
    let mut body = b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=19\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n".to_vec();
    body.extend_from_slice(&[4, 0, 0, 0]);
    body.extend_from_slice(b"1234");
    body.extend_from_slice(b"0123456789abcdefghi");
    body.extend_from_slice(b"--Encrypted Boundary--\r\n");
    let parts = parse_sealed_body(CONTENT_TYPE, &body, 1000).unwrap();
    assert_eq!(parts.token_header, b"1234");
    assert_eq!(parts.ciphertext, b"0123456789abcdefghi");
    assert_eq!(parts.declared_length, 19);
}

#[test]
fn round_trip_with_sequence_numbers() {
    let mut client = XorSealer::new();
    let mut server = XorSealer::new();
    for message in [&b"<s:Envelope/>"[..], b"", b"second"] {
        let sealed =
            seal_body(&mut client, "application/soap+xml; charset=UTF-8", message).unwrap();
        assert!(is_sealed_content_type(&sealed.content_type));
        let unsealed =
            unseal_body(&mut server, &sealed.content_type, &sealed.body, 1 << 20).unwrap();
        assert_eq!(unsealed.plain, message);
        assert_eq!(
            unsealed.original_content_type,
            "application/soap+xml;charset=UTF-8"
        );
        assert_eq!(unsealed.protocol, SPNEGO_PROTOCOL);
    }
}

#[test]
fn replayed_body_is_refused_by_the_context() {
    let mut client = XorSealer::new();
    let mut server = XorSealer::new();
    let sealed = seal_body(&mut client, "application/soap+xml;charset=UTF-8", b"a").unwrap();
    unseal_body(&mut server, CONTENT_TYPE, &sealed.body, 100).unwrap();
    let again = unseal_body(&mut server, CONTENT_TYPE, &sealed.body, 100);
    assert!(matches!(again, Err(SealError::Unwrap(_))));
}

/// The variants other clients emit: no tab, lower-case names, unquoted and reordered
/// parameters, a space after the boundary dashes (Exchange), no CRLF after the closing line.
#[test]
fn tolerated_variants() {
    let mut body = b"-- Encrypted Boundary\r\ncontent-type:application/http-spnego-session-encrypted\r\nORIGINALCONTENT: type=application/soap+xml;charset=UTF-16;length=3\r\n--Encrypted Boundary\r\n content-type: Application/Octet-Stream\r\n".to_vec();
    body.extend_from_slice(&[4, 0, 0, 0]);
    body.extend_from_slice(&[0, 0, 0, 0]);
    body.extend_from_slice(&[b'a' ^ 0x5a, b'b' ^ 0x5a, b'c' ^ 0x5a]);
    body.extend_from_slice(b"--Encrypted Boundary--");
    let content_type =
        "Multipart/Encrypted; boundary=Encrypted Boundary ; protocol=application/HTTP-SPNEGO-session-encrypted";
    let unsealed = unseal_body(&mut XorSealer::new(), content_type, &body, 100).unwrap();
    assert_eq!(unsealed.plain, b"abc");
    assert_eq!(
        unsealed.original_content_type,
        "application/soap+xml;charset=UTF-16"
    );
}

#[test]
fn kerberos_label_needs_a_context_that_accepts_it() {
    let mut kerberos = XorSealer::new();
    kerberos.protocol = KERBEROS_PROTOCOL;
    let sealed = seal_body(&mut kerberos, "application/soap+xml;charset=UTF-8", b"k").unwrap();
    assert!(sealed
        .content_type
        .contains("HTTP-Kerberos-session-encrypted"));
    let err = unseal_body(
        &mut XorSealer::new(),
        &sealed.content_type,
        &sealed.body,
        100,
    );
    assert!(matches!(err, Err(SealError::ProtocolMismatch { .. })));
    let mut receiver = XorSealer::new();
    receiver.protocol = KERBEROS_PROTOCOL;
    assert_eq!(
        unseal_body(&mut receiver, &sealed.content_type, &sealed.body, 100)
            .unwrap()
            .plain,
        b"k"
    );
}

fn sealed_abc() -> Vec<u8> {
    seal_body(
        &mut XorSealer::new(),
        "application/soap+xml;charset=UTF-8",
        b"abc",
    )
    .unwrap()
    .body
}

fn unseal(content_type: &str, body: &[u8], max: usize) -> Result<UnsealedBody, SealError> {
    unseal_body(&mut XorSealer::new(), content_type, body, max)
}

#[test]
fn declared_length_must_match_the_plaintext() {
    let body = sealed_abc();
    let text = String::from_utf8_lossy(&body).replace("Length=3", "Length=2");
    let err = unseal(CONTENT_TYPE, text.as_bytes(), 100).unwrap_err();
    assert_eq!(
        err,
        SealError::LengthMismatch {
            declared: 2,
            actual: 3
        }
    );
}

#[test]
fn limits_are_enforced() {
    let body = sealed_abc();
    assert_eq!(
        unseal(CONTENT_TYPE, &body, 2).unwrap_err(),
        SealError::TooLarge { limit: 2 }
    );
    let huge = vec![b'-'; 10_000];
    assert!(matches!(
        unseal(CONTENT_TYPE, &huge, 10),
        Err(SealError::TooLarge { .. })
    ));
    let text = String::from_utf8_lossy(&body).replace("Length=3", "Length=99999999999999999999");
    assert!(matches!(
        unseal(CONTENT_TYPE, text.as_bytes(), 100),
        Err(SealError::Malformed(_))
    ));
}

#[test]
fn token_header_length_must_fit() {
    let body = sealed_abc();
    let at = body.windows(4).position(|w| w == b"eam\r").unwrap() + 5;
    for bad in [u32::MAX, 2000, 8] {
        let mut tampered = body.clone();
        tampered[at..at + 4].copy_from_slice(&bad.to_le_bytes());
        assert!(unseal(CONTENT_TYPE, &tampered, 100).is_err(), "{bad}");
    }
}

#[test]
fn framing_errors() {
    let body = sealed_abc();
    let cases: Vec<(String, Vec<u8>)> = vec![
        // No closing boundary.
        (CONTENT_TYPE.into(), body[..body.len() - 24].to_vec()),
        // Truncated inside the headers.
        (CONTENT_TYPE.into(), body[..40].to_vec()),
        // Empty body.
        (CONTENT_TYPE.into(), Vec::new()),
        // Other boundary declared than used.
        (
            CONTENT_TYPE.replace("Encrypted Boundary", "Other"),
            body.clone(),
        ),
        // Part protocol differs from the header's.
        (CONTENT_TYPE.replace("SPNEGO", "Kerberos"), body.clone()),
        // Unknown protocol.
        (CONTENT_TYPE.replace("SPNEGO", "Foo"), body.clone()),
        // Plain SOAP.
        ("application/soap+xml;charset=UTF-8".into(), body.clone()),
        // Multi-group form: CredSSP only.
        (
            CONTENT_TYPE.replace("multipart/encrypted", "multipart/x-multi-encrypted"),
            body.clone(),
        ),
    ];
    for (content_type, body) in cases {
        assert!(unseal(&content_type, &body, 100).is_err(), "{content_type}");
    }
    let no_original = String::from_utf8_lossy(&body).replace("OriginalContent", "Other");
    assert!(unseal(CONTENT_TYPE, no_original.as_bytes(), 100).is_err());
    let wrong_type = String::from_utf8_lossy(&body).replace("octet-stream", "soap+xml");
    assert!(unseal(CONTENT_TYPE, wrong_type.as_bytes(), 100).is_err());
}

#[test]
fn content_type_detection() {
    assert!(is_sealed_content_type(CONTENT_TYPE));
    assert!(is_sealed_content_type(
        " multipart/x-multi-encrypted;protocol=x"
    ));
    assert!(!is_sealed_content_type(
        "application/soap+xml;charset=UTF-8"
    ));
    assert!(!is_sealed_content_type("multipart/encryptedx"));
    // The multi-group form is CredSSP's only: refused for any other protocol.
    assert!(matches!(
        unseal(
            &CONTENT_TYPE.replace("multipart/encrypted", "multipart/x-multi-encrypted"),
            b"",
            1
        )
        .unwrap_err(),
        SealError::UnsupportedType(_)
    ));
}

#[test]
fn original_type_cannot_inject_headers() {
    let mut sealer = XorSealer::new();
    for bad in ["", "a\r\nb", "application/soap+xml;Length=4", "x\ty"] {
        assert_eq!(
            seal_body(&mut sealer, bad, b"x").unwrap_err(),
            SealError::InvalidContentType
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_messages_round_trip(messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 1..5)) {
        let mut client = XorSealer::new();
        let mut server = XorSealer::new();
        for message in &messages {
            let sealed = seal_body(&mut client, "application/soap+xml;charset=UTF-8", message).unwrap();
            let unsealed = unseal_body(&mut server, &sealed.content_type, &sealed.body, 600).unwrap();
            prop_assert_eq!(&unsealed.plain, message);
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = unseal(CONTENT_TYPE, &body, 300);
        let mut prefixed = sealed_abc()[..170].to_vec();
        prefixed.extend_from_slice(&body);
        let _ = unseal(CONTENT_TYPE, &prefixed, 300);
    }
}

/// A body given as parts is sealed exactly as the same bytes given whole, for a context that
/// takes any length (one group) and one that takes 16 KiB per wrap (several groups, parts
/// crossing their edges).
#[test]
fn sealing_parts_equals_sealing_the_joined_body() {
    struct Chunked(XorSealer);
    impl MessageSealer for Chunked {
        fn protocol(&self) -> &str {
            CREDSSP_PROTOCOL
        }
        fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SealError> {
            self.0.wrap(plain)
        }
        fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
            self.0.unwrap(header, ciphertext)
        }
        fn max_chunk_len(&self) -> Option<usize> {
            Some(16 * 1024)
        }
    }
    const SOAP: &str = "application/soap+xml;charset=UTF-8";
    let plain: Vec<u8> = (0..50_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    for cuts in [
        vec![],
        vec![0],
        vec![1, 2],
        vec![16 * 1024 - 1, 16 * 1024 + 1, 40_000],
    ] {
        let mut parts = Vec::new();
        let mut from = 0;
        for &cut in &cuts {
            parts.push(&plain[from..cut]);
            from = cut;
        }
        parts.push(&plain[from..]);
        for len in [0usize, 10, 50_000] {
            let parts: Vec<&[u8]> = parts
                .iter()
                .map(|p| {
                    let start = (p.as_ptr() as usize - plain.as_ptr() as usize).min(len);
                    &plain[start..(start + p.len()).min(len)]
                })
                .collect();
            let whole = seal_body(&mut XorSealer::new(), SOAP, &plain[..len]).unwrap();
            let pieces = seal_body_parts(&mut XorSealer::new(), SOAP, &parts).unwrap();
            assert_eq!(whole, pieces, "cuts {cuts:?}, {len} bytes");
            let whole = seal_body(&mut Chunked(XorSealer::new()), SOAP, &plain[..len]).unwrap();
            let pieces = seal_body_parts(&mut Chunked(XorSealer::new()), SOAP, &parts).unwrap();
            assert_eq!(whole, pieces, "chunked, cuts {cuts:?}, {len} bytes");
        }
    }
}

/// The length a sealer's own header writer reports is filled in before the header; a writer
/// that fails, or reports more header than it wrote or than MS-WSMV allows, leaves the body as
/// it was.
#[test]
fn a_data_part_written_by_the_sealer_gets_its_header_length() {
    let mut body = b"framing".to_vec();
    push_data_part_with(&mut body, |out| {
        out.extend_from_slice(b"HEADERciphertext");
        Ok::<_, SealError>(6)
    })
    .unwrap();
    assert_eq!(&body[..7], b"framing");
    assert_eq!(&body[7..11], &6u32.to_le_bytes());
    assert_eq!(&body[11..], b"HEADERciphertext");

    let before = body.clone();
    let failing = push_data_part_with(&mut body, |out| {
        out.extend_from_slice(b"half");
        Err(SealError::Wrap("refused".to_owned()))
    });
    assert!(failing.is_err());
    assert_eq!(body, before);
    for claimed in [5, MAX_TOKEN_HEADER_LEN + 1] {
        let overlong = push_data_part_with(&mut body, |out| {
            out.extend_from_slice(b"four");
            Ok::<_, SealError>(claimed)
        });
        assert!(overlong.is_err(), "{claimed}");
        assert_eq!(body, before);
    }
}
