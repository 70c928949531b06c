//! The Kerberos acceptor and initiator against a real MIT KDC (scripts/kdc.sh, realm
//! WSMAN.TEST on 127.0.0.1): handshakes raw and SPNEGO-wrapped, sealing both ways, and the
//! refusals (wrong service, replay, integrity-only token, stale keytab, damaged tokens).
//! Skipped with a printed reason when the KDC tools are not installed.
#![cfg(feature = "kerberos")]
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;
mod windows_spnego;

use std::path::Path;
use std::sync::Arc;

use libgssapi::context::{ClientCtx, CtxFlags};
use wsman_gss::{
    AcceptStep, AcceptorOptions, Established, GssError, InitStep, InitiatorMechanism,
    KerberosAcceptor, KerberosContext, KerberosInitiator, KerberosInitiatorContext, MAX_TOKEN_LEN,
};
use wsman_test::kdc::Kdc;

/// The realm every test of this binary shares while any of them runs. libkrb5 reads its
/// configuration from the process environment, so the environment is set only here, under
/// the lock, while no other test holds the realm (and so while none makes Kerberos calls).
fn realm() -> Option<Arc<Kdc>> {
    Kdc::shared_realm(|_| {})
}

fn user_principal(kdc: &Kdc) -> String {
    format!("{}@{}", kdc.user(), kdc.realm())
}

/// A fresh context of our acceptor for the realm's keytab, without channel bindings.
fn our_server(kdc: &Kdc) -> KerberosContext {
    KerberosAcceptor::from_keytab(&kdc.keytab())
        .unwrap()
        .context(None)
}

fn initiator(kdc: &Kdc, service: &str, mechanism: InitiatorMechanism) -> KerberosInitiator {
    KerberosInitiator::from_ccache(service, kdc.host(), None, mechanism).unwrap()
}

/// A context of our initiator for `service` and its first token.
fn first_token(
    kdc: &Kdc,
    service: &str,
    mechanism: InitiatorMechanism,
) -> (KerberosInitiatorContext, Vec<u8>) {
    let mut client = initiator(kdc, service, mechanism).context(None).unwrap();
    let token = match client.step(None).unwrap() {
        InitStep::Continue(token) => token,
        other => panic!("{other:?}"),
    };
    (client, token)
}

/// Run the token exchange to the end; returns the acceptor's result. Bounded in legs.
fn handshake(
    client: &mut KerberosInitiatorContext,
    server: &mut KerberosContext,
) -> Result<Established, GssError> {
    let mut to_server = match client.step(None)? {
        InitStep::Continue(token) => token,
        InitStep::Complete { .. } => panic!("mutual authentication needs a server answer"),
    };
    for _leg in 0..5 {
        match server.step(&to_server)? {
            AcceptStep::Continue(token) => match client.step(Some(&token))? {
                InitStep::Continue(next) | InitStep::Complete { token: Some(next) } => {
                    to_server = next;
                }
                InitStep::Complete { token: None } => panic!("client done before the server"),
            },
            AcceptStep::Complete(established) => {
                let token = established.token.as_deref().expect("mutual auth token");
                match client.step(Some(token))? {
                    InitStep::Complete { token: None } => {}
                    other => panic!("client not complete after the server's last token: {other:?}"),
                }
                assert!(client.is_established() && server.is_established());
                return Ok(established);
            }
        }
    }
    panic!("handshake did not finish in 5 legs");
}

/// Both directions, several messages each, interleaved as HTTP does.
fn assert_sealing_works(client: &mut KerberosInitiatorContext, server: &mut KerberosContext) {
    for round in 0..3 {
        let request = format!("<s:Envelope>request {round}</s:Envelope>").repeat(round + 1);
        let (header, ciphertext) = client.wrap(request.as_bytes()).unwrap();
        assert_eq!(
            header.len(),
            60,
            "AES-SHA1 wrap token header (MS-WSMV L = 60)"
        );
        assert_eq!(header[0..2], [0x05, 0x04]);
        assert_eq!(header[2] & 0x03, 0x02, "sealed, sent by the initiator");
        assert_eq!(ciphertext.len(), request.len(), "AES: no padding");
        assert_ne!(ciphertext, request.as_bytes());
        assert_eq!(
            server.unwrap(&header, &ciphertext).unwrap(),
            request.as_bytes()
        );

        let response = format!("<s:Envelope>response {round}</s:Envelope>");
        let (header, ciphertext) = server.wrap(response.as_bytes()).unwrap();
        assert_eq!(header.len(), 60);
        assert_eq!(header[2] & 0x03, 0x03, "sealed, sent by the acceptor");
        assert_eq!(
            client.unwrap(&header, &ciphertext).unwrap(),
            response.as_bytes()
        );
    }
}

fn established_pair(
    kdc: &Kdc,
    service: &str,
    mechanism: InitiatorMechanism,
) -> (KerberosInitiatorContext, KerberosContext, Established) {
    let mut server = our_server(kdc);
    let mut client = initiator(kdc, service, mechanism).context(None).unwrap();
    let established = handshake(&mut client, &mut server).unwrap();
    (client, server, established)
}

#[test]
fn raw_kerberos_handshake_is_mutual_and_seals_both_ways() {
    let Some(kdc) = realm() else { return };
    for service in ["HTTP", "WSMAN"] {
        let (mut client, mut server, established) =
            established_pair(&kdc, service, InitiatorMechanism::Kerberos);
        assert_eq!(established.principal, user_principal(&kdc));
        assert_eq!(established.local_name.as_deref(), Some(kdc.user()));
        assert_eq!(
            established.service,
            format!("{service}/{}@{}", kdc.host(), kdc.realm())
        );
        assert!(!established.channel_bound);
        // The AP-REP is a raw krb5 GSS token: 0x60, then the krb5 OID.
        let token = established.token.as_deref().unwrap();
        assert_eq!(token[0], 0x60);
        assert!(contains(
            token,
            b"\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"
        ));
        assert_sealing_works(&mut client, &mut server);
    }
}

#[test]
fn spnego_wrapped_kerberos_is_accepted() {
    let Some(kdc) = realm() else { return };
    let mut server = our_server(&kdc);
    let (mut client, first) = first_token(&kdc, "HTTP", InitiatorMechanism::Spnego);
    // A NegTokenInit: 0x60, then the SPNEGO OID 1.3.6.1.5.5.2.
    assert_eq!(first[0], 0x60);
    assert!(contains(&first[..16], b"\x06\x06\x2b\x06\x01\x05\x05\x02"));
    let established = match server.step(&first).unwrap() {
        AcceptStep::Complete(established) => established,
        AcceptStep::Continue(_) => panic!("optimistic krb5 token should complete in one leg"),
    };
    assert_eq!(established.principal, user_principal(&kdc));
    // The answer is a NegTokenResp (0xa1), not a raw AP-REP.
    let answer = established.token.clone().unwrap();
    assert_eq!(answer[0], 0xa1);
    assert!(matches!(
        client.step(Some(&answer)).unwrap(),
        InitStep::Complete { token: None }
    ));
    assert_sealing_works(&mut client, &mut server);
}

#[test]
fn password_initiator_gets_its_own_ticket() {
    let Some(kdc) = realm() else { return };
    let initiator = KerberosInitiator::with_password(
        &user_principal(&kdc),
        kdc.password(),
        "WSMAN",
        kdc.host(),
        InitiatorMechanism::Kerberos,
    )
    .unwrap();
    let mut server = our_server(&kdc);
    let mut client = initiator.context(None).unwrap();
    let established = handshake(&mut client, &mut server).unwrap();
    assert_eq!(established.principal, user_principal(&kdc));

    let wrong = KerberosInitiator::with_password(
        &user_principal(&kdc),
        "not-the-password",
        "WSMAN",
        kdc.host(),
        InitiatorMechanism::Kerberos,
    );
    assert!(matches!(wrong, Err(GssError::Credential(_))), "{wrong:?}");
}

#[test]
fn ticket_for_another_service_is_refused() {
    let Some(kdc) = realm() else { return };
    // FOO/localhost exists in the realm but not in our keytab.
    let acceptor = KerberosAcceptor::from_keytab(&kdc.keytab()).unwrap();
    let mut client = initiator(&kdc, "FOO", InitiatorMechanism::Kerberos)
        .context(None)
        .unwrap();
    let mut server = acceptor.context(None);
    let error = handshake(&mut client, &mut server).unwrap_err();
    assert!(
        matches!(&error, GssError::Rejected(text) if text.contains("FOO")),
        "{error}"
    );
    // The failed context stays failed.
    assert!(matches!(server.step(b"\x60\x00"), Err(GssError::State(_))));
    assert!(matches!(server.wrap(b"x"), Err(GssError::State(_))));

    // And the other way round: an acceptor holding only FOO refuses an HTTP ticket.
    let foo_only = KerberosAcceptor::from_keytab(&kdc.other_keytab()).unwrap();
    let mut client = initiator(&kdc, "HTTP", InitiatorMechanism::Kerberos)
        .context(None)
        .unwrap();
    let error = handshake(&mut client, &mut foo_only.context(None)).unwrap_err();
    assert!(matches!(error, GssError::Rejected(_)), "{error}");
}

#[test]
fn replayed_ap_req_is_refused_on_a_new_context() {
    let Some(kdc) = realm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let replay_cache = dir.path().join("acceptor.rcache2");
    let acceptor = KerberosAcceptor::new(&AcceptorOptions {
        keytab: kdc.keytab(),
        replay_cache: Some(replay_cache.clone()),
    })
    .unwrap();
    let (_client, ap_req) = first_token(&kdc, "HTTP", InitiatorMechanism::Kerberos);
    assert!(matches!(
        acceptor.context(None).step(&ap_req),
        Ok(AcceptStep::Complete(_))
    ));
    assert!(replay_cache.exists(), "the configured replay cache is used");
    let replay = acceptor.context(None).step(&ap_req);
    assert!(
        matches!(&replay, Err(GssError::Rejected(text)) if text.contains("replay")),
        "{replay:?}"
    );
    // Completed contexts refuse further tokens (a new Authorization needs a new context).
    let mut fresh_client = initiator(&kdc, "HTTP", InitiatorMechanism::Kerberos)
        .context(None)
        .unwrap();
    let mut server = acceptor.context(None);
    handshake(&mut fresh_client, &mut server).unwrap();
    assert!(matches!(server.step(&ap_req), Err(GssError::State(_))));
}

#[test]
fn integrity_only_wrap_tokens_are_refused() {
    let Some(kdc) = realm() else { return };
    let mut server = our_server(&kdc);
    // A plain libgssapi client, so that it can wrap without confidentiality.
    let flags = CtxFlags::GSS_C_MUTUAL_FLAG
        | CtxFlags::GSS_C_SEQUENCE_FLAG
        | CtxFlags::GSS_C_CONF_FLAG
        | CtxFlags::GSS_C_INTEG_FLAG;
    let mut client = common::mit_krb5_client_with(&kdc, "HTTP", flags);
    let ap_req = client.step(None, None).unwrap().unwrap().to_vec();
    let ap_rep = match server.step(&ap_req).unwrap() {
        AcceptStep::Complete(established) => established.token.unwrap(),
        AcceptStep::Continue(_) => panic!("one leg expected"),
    };
    assert!(client.step(Some(&ap_rep), None).unwrap().is_none());

    let plain = b"<s:Envelope>plaintext that must not be served</s:Envelope>".to_vec();
    let (header, payload) = client_wrap(&mut client, false, &plain);
    assert_eq!(header[2] & 0x02, 0, "really an integrity-only token");
    let refused = server.unwrap(&header, &payload);
    assert!(
        matches!(refused, Err(GssError::NotSealed(_))),
        "{refused:?}"
    );
    // The context is dropped after a refused message, as Windows does.
    assert!(matches!(
        server.unwrap(&header, &payload),
        Err(GssError::State(_))
    ));
}

#[test]
fn tampered_replayed_and_reflected_messages_are_refused() {
    let Some(kdc) = realm() else { return };
    let (mut client, mut server, _) = established_pair(&kdc, "HTTP", InitiatorMechanism::Kerberos);
    let (header, mut ciphertext) = client.wrap(b"<s:Envelope/>").unwrap();
    ciphertext[3] ^= 0x01;
    assert!(matches!(
        server.unwrap(&header, &ciphertext),
        Err(GssError::Unwrap(_))
    ));

    let (mut client, mut server, _) = established_pair(&kdc, "HTTP", InitiatorMechanism::Kerberos);
    let (header, ciphertext) = client.wrap(b"<s:Envelope/>").unwrap();
    server.unwrap(&header, &ciphertext).unwrap();
    let replay = server.unwrap(&header, &ciphertext);
    assert!(matches!(replay, Err(GssError::Unwrap(_))), "{replay:?}");

    // The server's own token sent back to it: refused by the direction check.
    let (mut _client, mut server, _) = established_pair(&kdc, "HTTP", InitiatorMechanism::Kerberos);
    let (header, ciphertext) = server.wrap(b"<s:Envelope/>").unwrap();
    assert!(matches!(
        server.unwrap(&header, &ciphertext),
        Err(GssError::NotSealed(_))
    ));
}

#[test]
fn stale_or_foreign_keytab_is_refused() {
    let Some(kdc) = realm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // The right principals with a key version the KDC never issued.
        ("wrong-kvno", kdc.realm().to_owned(), 9),
        // The same names in another realm.
        ("other-realm", "OTHER.TEST".to_owned(), 1),
    ];
    for (name, realm, kvno) in cases {
        let path = dir.path().join(format!("{name}.keytab"));
        write_keytab(&path, &realm, kdc.host(), kvno);
        let acceptor = KerberosAcceptor::from_keytab(&path).unwrap();
        let mut client = initiator(&kdc, "HTTP", InitiatorMechanism::Kerberos)
            .context(None)
            .unwrap();
        let error = handshake(&mut client, &mut acceptor.context(None)).unwrap_err();
        assert!(matches!(error, GssError::Rejected(_)), "{name}: {error}");
    }
    // A keytab that does not exist, or a directory: refused when the acceptor is made.
    let empty = dir.path().join("empty.keytab");
    std::fs::write(&empty, [5u8, 2]).unwrap();
    for path in [
        dir.path().join("missing.keytab"),
        dir.path().to_owned(),
        empty,
    ] {
        let made = KerberosAcceptor::from_keytab(&path);
        assert!(
            matches!(made, Err(GssError::Credential(_))),
            "{path:?}: {made:?}"
        );
    }
}

#[test]
fn damaged_tokens_are_refused_without_panic() {
    let Some(kdc) = realm() else { return };
    let acceptor = KerberosAcceptor::from_keytab(&kdc.keytab()).unwrap();
    let (_client, ap_req) = first_token(&kdc, "HTTP", InitiatorMechanism::Kerberos);
    let mut cuts: Vec<usize> = (0..ap_req.len()).step_by(37).collect();
    cuts.extend([1, 2, ap_req.len() - 1]);
    for cut in cuts {
        let result = acceptor.context(None).step(&ap_req[..cut]);
        assert!(
            matches!(result, Err(GssError::Rejected(_))),
            "cut {cut}: {result:?}"
        );
    }
    let mut flipped = ap_req.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    assert!(acceptor.context(None).step(&flipped).is_err());
    assert!(acceptor.context(None).step(b"NTLMSSP\0\x01\0\0\0").is_err());
    let huge = vec![0x60; MAX_TOKEN_LEN + 1];
    assert!(matches!(
        acceptor.context(None).step(&huge),
        Err(GssError::TooLarge { .. })
    ));

    // Damaged wrap tokens on an established context.
    let (mut client, mut server, _) = established_pair(&kdc, "HTTP", InitiatorMechanism::Kerberos);
    let (header, ciphertext) = client.wrap(b"<s:Envelope/>").unwrap();
    for cut in [0, 1, 15, 16, 59] {
        let mut fresh = established_pair(&kdc, "HTTP", InitiatorMechanism::Kerberos);
        let (header, ciphertext) = fresh.0.wrap(b"<s:Envelope/>").unwrap();
        assert!(
            fresh.1.unwrap(&header[..cut], &ciphertext).is_err(),
            "header cut {cut}"
        );
    }
    assert!(server
        .unwrap(&header, &ciphertext[..ciphertext.len() - 1])
        .is_err());
    assert!(server.unwrap(&vec![0x05; 300], &ciphertext).is_err());
    // Wrapping before the handshake is a state error, not a crash.
    let mut unused = acceptor.context(None);
    assert!(matches!(
        unused.unwrap(&header, &ciphertext),
        Err(GssError::State(_))
    ));
}

#[test]
fn channel_bindings_must_match_when_sent() {
    let Some(kdc) = realm() else { return };
    let acceptor = KerberosAcceptor::from_keytab(&kdc.keytab()).unwrap();
    let bindings = b"tls-server-end-point:0123456789abcdef0123456789abcdef".to_vec();
    let krb = initiator(&kdc, "HTTP", InitiatorMechanism::Kerberos);

    let mut client = krb.context(Some(bindings.clone())).unwrap();
    let established =
        handshake(&mut client, &mut acceptor.context(Some(bindings.clone()))).unwrap();
    assert!(established.channel_bound);

    let mut client = krb.context(None).unwrap();
    let established =
        handshake(&mut client, &mut acceptor.context(Some(bindings.clone()))).unwrap();
    assert!(
        !established.channel_bound,
        "a client without bindings is reported, not refused"
    );

    let mut wrong = bindings.clone();
    wrong[30] ^= 1;
    let mut client = krb.context(Some(wrong)).unwrap();
    let error = handshake(&mut client, &mut acceptor.context(Some(bindings))).unwrap_err();
    assert!(matches!(error, GssError::Rejected(_)), "{error}");
}

#[test]
fn one_acceptor_serves_concurrent_connections() {
    let Some(kdc) = realm() else { return };
    let acceptor = KerberosAcceptor::from_keytab(&kdc.keytab()).unwrap();
    let krb = initiator(&kdc, "WSMAN", InitiatorMechanism::Kerberos);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (acceptor, krb) = (acceptor.clone(), krb.clone());
            std::thread::spawn(move || {
                let mut server = acceptor.context(None);
                let mut client = krb.context(None).unwrap();
                handshake(&mut client, &mut server).unwrap();
                assert_sealing_works(&mut client, &mut server);
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

fn client_wrap(client: &mut ClientCtx, encrypt: bool, plain: &[u8]) -> (Vec<u8>, Vec<u8>) {
    common::mit_wrap_iov(client, encrypt, plain)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A version 0x0502 keytab with HTTP/ and WSMAN/`host`@`realm`, AES256 and AES128 keys of
/// random bytes at `kvno`: keys the KDC never issued.
fn write_keytab(path: &Path, realm: &str, host: &str, kvno: u32) {
    let mut out = vec![5u8, 2];
    for service in ["HTTP", "WSMAN"] {
        for (enctype, key_len) in [(18u16, 32usize), (17, 16)] {
            let mut body = Vec::new();
            body.extend_from_slice(&2u16.to_be_bytes());
            for part in [realm, service, host] {
                body.extend_from_slice(&u16::try_from(part.len()).unwrap().to_be_bytes());
                body.extend_from_slice(part.as_bytes());
            }
            body.extend_from_slice(&1u32.to_be_bytes()); // KRB5_NT_PRINCIPAL
            body.extend_from_slice(&1_700_000_000u32.to_be_bytes());
            body.push(u8::try_from(kvno).unwrap());
            body.extend_from_slice(&enctype.to_be_bytes());
            body.extend_from_slice(&u16::try_from(key_len).unwrap().to_be_bytes());
            body.extend(random_bytes(key_len));
            body.extend_from_slice(&kvno.to_be_bytes());
            out.extend_from_slice(&i32::try_from(body.len()).unwrap().to_be_bytes());
            out.extend_from_slice(&body);
        }
    }
    std::fs::write(path, out).unwrap();
}

fn random_bytes(len: usize) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = vec![0; len];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    bytes
}

#[test]
fn shared_parts_are_sync_and_contexts_move_between_threads() {
    fn shared<T: Clone + Send + Sync + 'static>() {}
    fn per_connection<T: Send + 'static>() {}
    shared::<KerberosAcceptor>();
    shared::<KerberosInitiator>();
    per_connection::<KerberosContext>();
    per_connection::<KerberosInitiatorContext>();
}

#[test]
fn initiator_uses_a_named_credential_cache() {
    let Some(kdc) = realm() else { return };
    let named = KerberosInitiator::from_ccache(
        "WSMAN",
        kdc.host(),
        Some(kdc.var("KRB5CCNAME")),
        InitiatorMechanism::Kerberos,
    )
    .unwrap();
    let acceptor = KerberosAcceptor::from_keytab(&kdc.keytab()).unwrap();
    let established = handshake(
        &mut named.context(None).unwrap(),
        &mut acceptor.context(None),
    )
    .unwrap();
    assert_eq!(established.principal, user_principal(&kdc));

    let dir = tempfile::tempdir().unwrap();
    let empty = format!("FILE:{}", dir.path().join("no-such-ccache").display());
    let missing = KerberosInitiator::from_ccache(
        "WSMAN",
        kdc.host(),
        Some(&empty),
        InitiatorMechanism::Kerberos,
    );
    assert!(
        matches!(missing, Err(GssError::Credential(_))),
        "{missing:?}"
    );
}

#[test]
fn initiator_refuses_names_with_separators() {
    for (service, host) in [
        ("", "h"),
        ("HTTP", ""),
        ("HTTP/x", "h"),
        ("HTTP", "h@EVIL"),
        ("HTTP", "h\0"),
    ] {
        let made =
            KerberosInitiator::from_ccache(service, host, None, InitiatorMechanism::Kerberos);
        assert!(
            matches!(made, Err(GssError::InvalidArgument(_))),
            "{service:?} {host:?}"
        );
    }
}
