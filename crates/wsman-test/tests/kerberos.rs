//! The pure Kerberos pieces of wsman-auth against the real thing (scripts/kdc.sh): the keytab
//! parser against keytabs written by MIT's own kadmin, compared with what `klist -k -e` lists,
//! and the Negotiate token router against tokens from MIT's initiator. Skipped with a printed
//! reason when the KDC tools are not installed.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use wsman_auth::keytab::{enctype_name, parse_keytab, read_keytab_file};
use wsman_auth::negotiate_route::{route_initial_token, NegotiateMechanism};
use wsman_auth::sealing::{
    seal_body, unseal_body, MessageSealer, SealError, KERBEROS_PROTOCOL, SPNEGO_PROTOCOL,
};
use wsman_gss::{
    AcceptStep, GssError, InitStep, InitiatorMechanism, KerberosAcceptor, KerberosContext,
    KerberosInitiator, KerberosInitiatorContext,
};
use wsman_test::kdc::Kdc;
use wsman_test::process;

/// One realm for the tests of this binary while any of them runs; the environment libkrb5
/// reads is set only while no test holds the realm.
fn realm() -> Option<Arc<Kdc>> {
    Kdc::shared_realm(|_| {})
}

/// `klist -k -e` rows as (kvno, principal, enctype name).
fn klist_rows(kdc: &Kdc, keytab: &std::path::Path) -> Vec<(u32, String, String)> {
    let mut command = Command::new("klist");
    kdc.apply(&mut command);
    command.arg("-k").arg("-e").arg(keytab);
    let finished = process::run(&mut command, None, Duration::from_secs(30));
    assert!(finished.status.success(), "{}", finished.describe());
    finished
        .stdout
        .lines()
        .filter_map(|line| {
            // "   2 HTTP/localhost@WSMAN.TEST (aes256-cts-hmac-sha1-96) "
            let mut words = line.split_whitespace();
            let kvno = words.next()?.parse().ok()?;
            let principal = words.next()?.to_owned();
            let enctype = words.next()?.trim_matches(['(', ')']).to_owned();
            Some((kvno, principal, enctype))
        })
        .collect()
}

#[test]
fn parser_agrees_with_klist_on_real_keytabs() {
    let Some(kdc) = realm() else { return };
    for keytab in [kdc.keytab(), kdc.other_keytab()] {
        let expected = klist_rows(&kdc, &keytab);
        assert!(!expected.is_empty(), "klist listed nothing for {keytab:?}");
        let parsed = parse_keytab(&std::fs::read(&keytab).unwrap()).unwrap();
        assert_eq!(parsed.version, 2);
        let got: Vec<(u32, String, String)> = parsed
            .entries
            .iter()
            .map(|e| {
                (
                    e.kvno,
                    e.principal.to_string(),
                    enctype_name(e.enctype).unwrap_or("?").to_owned(),
                )
            })
            .collect();
        assert_eq!(got, expected, "{keytab:?}");
    }

    // The service keytab: exactly the two SPNs wsmand serves, 0600 as kdc.sh leaves it.
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(kdc.keytab()).unwrap());
    let keytab = read_keytab_file(&kdc.keytab(), owner).unwrap();
    assert!(keytab.serves("HTTP", kdc.host()));
    assert!(keytab.serves("WSMAN", kdc.host()));
    assert!(!keytab.serves("FOO", kdc.host()));
    assert!(keytab.unexpected_principals(&["HTTP", "WSMAN"]).is_empty());
    let other = parse_keytab(&std::fs::read(kdc.other_keytab()).unwrap()).unwrap();
    let unexpected: Vec<String> = other
        .unexpected_principals(&["HTTP", "WSMAN"])
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        unexpected,
        vec![format!("FOO/{}@{}", kdc.host(), kdc.realm())]
    );
    let principals: Vec<String> = keytab
        .principals()
        .iter()
        .map(|p| p.principal.to_string())
        .collect();
    assert_eq!(
        principals,
        vec![
            format!("HTTP/{}@{}", kdc.host(), kdc.realm()),
            format!("WSMAN/{}@{}", kdc.host(), kdc.realm()),
        ]
    );
}

#[test]
fn router_sends_real_kerberos_tokens_to_kerberos() {
    let Some(kdc) = realm() else { return };
    for (mechanism, spnego) in [
        (InitiatorMechanism::Kerberos, false),
        (InitiatorMechanism::Spnego, true),
    ] {
        let initiator =
            KerberosInitiator::from_ccache("HTTP", kdc.host(), None, mechanism).unwrap();
        let token = match initiator.context(None).unwrap().step(None).unwrap() {
            InitStep::Continue(token) => token,
            other => panic!("{other:?}"),
        };
        let route = route_initial_token(&token).unwrap();
        assert_eq!(
            route.mechanism,
            NegotiateMechanism::Kerberos,
            "{mechanism:?}"
        );
        assert_eq!(route.spnego, spnego, "{mechanism:?}");
    }
}

/// Either side's context, for the adapter below.
trait GssWrap: Send {
    fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), GssError>;
    fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, GssError>;
}

impl GssWrap for KerberosContext {
    fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), GssError> {
        KerberosContext::wrap(self, plain)
    }
    fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, GssError> {
        KerberosContext::unwrap(self, header, ciphertext)
    }
}

impl GssWrap for KerberosInitiatorContext {
    fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), GssError> {
        KerberosInitiatorContext::wrap(self, plain)
    }
    fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, GssError> {
        KerberosInitiatorContext::unwrap(self, header, ciphertext)
    }
}

/// The shape of the adapter the server needs (wsman-os cannot see wsman-auth's trait): a
/// Kerberos context as a `MessageSealer` that answers with the label of the scheme it
/// authenticated under and accepts both Kerberos-capable labels, since pywinrm labels its
/// Kerberos bodies with the SPNEGO one.
struct KerberosSealer<C> {
    context: C,
    protocol: &'static str,
}

impl<C: GssWrap> MessageSealer for KerberosSealer<C> {
    fn protocol(&self) -> &str {
        self.protocol
    }
    fn accepts_protocol(&self, protocol: &str) -> bool {
        protocol.eq_ignore_ascii_case(SPNEGO_PROTOCOL)
            || protocol.eq_ignore_ascii_case(KERBEROS_PROTOCOL)
    }
    fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SealError> {
        self.context
            .wrap(plain)
            .map_err(|e| SealError::Wrap(e.to_string()))
    }
    fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.context
            .unwrap(header, ciphertext)
            .map_err(|e| SealError::Unwrap(e.to_string()))
    }
}

#[test]
fn kerberos_contexts_seal_ms_wsmv_bodies_both_ways() {
    let Some(kdc) = realm() else { return };
    for (label, mechanism) in [
        (SPNEGO_PROTOCOL, InitiatorMechanism::Spnego),
        (KERBEROS_PROTOCOL, InitiatorMechanism::Kerberos),
    ] {
        let acceptor = KerberosAcceptor::from_keytab(&kdc.keytab()).unwrap();
        let mut server = acceptor.context(None);
        let mut client = KerberosInitiator::from_ccache("WSMAN", kdc.host(), None, mechanism)
            .unwrap()
            .context(None)
            .unwrap();
        let InitStep::Continue(token) = client.step(None).unwrap() else {
            panic!("mutual authentication needs a server answer")
        };
        let AcceptStep::Complete(established) = server.step(&token).unwrap() else {
            panic!("one leg expected")
        };
        client.step(established.token.as_deref()).unwrap();
        let mut server = KerberosSealer {
            context: server,
            protocol: label,
        };
        let mut client = KerberosSealer {
            context: client,
            protocol: label,
        };

        let request = "<s:Envelope>Identify</s:Envelope>".repeat(50);
        let sealed = seal_body(
            &mut client,
            "application/soap+xml;charset=UTF-8",
            request.as_bytes(),
        )
        .unwrap();
        assert!(sealed.content_type.contains(label));
        // The Length-Field after the octet-stream part header: 60 for AES (MS-WSMV).
        let marker = b"\tContent-Type: application/octet-stream\r\n";
        let at = sealed
            .body
            .windows(marker.len())
            .position(|w| w == marker)
            .unwrap()
            + marker.len();
        assert_eq!(sealed.body[at..at + 4], 60u32.to_le_bytes());
        let opened = unseal_body(&mut server, &sealed.content_type, &sealed.body, 1 << 20).unwrap();
        assert_eq!(opened.plain, request.as_bytes());
        assert_eq!(opened.protocol, label);

        let response = "<s:Envelope>IdentifyResponse</s:Envelope>";
        let sealed = seal_body(
            &mut server,
            "application/soap+xml;charset=UTF-8",
            response.as_bytes(),
        )
        .unwrap();
        let opened = unseal_body(&mut client, &sealed.content_type, &sealed.body, 1 << 20).unwrap();
        assert_eq!(opened.plain, response.as_bytes());

        // A sealed body replayed on the same connection is refused.
        let again = seal_body(&mut client, "application/soap+xml;charset=UTF-8", b"<x/>").unwrap();
        unseal_body(&mut server, &again.content_type, &again.body, 1 << 20).unwrap();
        let replay = unseal_body(&mut server, &again.content_type, &again.body, 1 << 20);
        assert!(matches!(replay, Err(SealError::Unwrap(_))), "{replay:?}");
    }
}
