//! Negotiate/NTLM on the raw wire against the real daemon: the handshake legs (one challenge
//! header each, the final 200 of a handshake-only request), sealed requests and responses, and
//! the bad input of the issue: malformed Negotiate headers, NTLM messages with bad lengths or
//! offsets, a replayed AUTHENTICATE, a connection reused after a failed login, an undecryptable
//! body. The client side is `wsman-auth`'s own initiator.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use wsman_auth::sealing::{seal_body, unseal_body, MessageSealer};
use wsman_auth::{ClientCredentials, NegotiateInitiator, TokenForm};
use wsman_test::http::{Connection, Response};
use wsman_test::{soap, Fixture};

const NTLM_USER: &str = "ntlm-svc";
const NTLM_PASSWORD: &str = "Ntlm-Test-Pass-5!";
const SOAP_UTF8: &str = "application/soap+xml;charset=UTF-8";

/// HTTP with AllowUnencrypted=false (so NTLM must seal), plus an NTLM-enabled account.
fn fixture() -> Fixture {
    fixture_with(false)
}

fn fixture_with(allow_unencrypted: bool) -> Fixture {
    let fixture = Fixture::http_with(|config| {
        let value = if allow_unencrypted { "true" } else { "false" };
        config.set("Config.Service", "AllowUnencrypted", value);
    });
    fixture
        .config
        .add_ntlm_account(NTLM_USER, NTLM_PASSWORD, "root");
    fixture
}

fn post(
    connection: &mut Connection,
    authorization: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Response {
    let mut head = format!(
        "POST /wsman HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(value) = authorization {
        head.push_str(&format!("Authorization: {value}\r\n"));
    }
    head.push_str("\r\n");
    connection.send_raw(head.as_bytes()).expect("send head");
    connection.send_raw(body).expect("send body");
    connection.read_response().expect("response")
}

fn negotiate(token: &[u8]) -> String {
    format!("Negotiate {}", STANDARD.encode(token))
}

/// One handshake-only request: `token` in the Authorization header, no body.
fn handshake_leg(connection: &mut Connection, token: &[u8]) -> Response {
    post(connection, Some(&negotiate(token)), SOAP_UTF8, b"")
}

/// An Identify in plain text, with `authorization` if given.
fn plain_identify(connection: &mut Connection, authorization: Option<&str>) -> Response {
    post(
        connection,
        authorization,
        SOAP_UTF8,
        soap::identify().as_bytes(),
    )
}

/// Asserts the daemon logged `text`.
fn assert_logged(fixture: &Fixture, text: &str) {
    let log = fixture.daemon.stderr();
    assert!(log.contains(text), "{text:?} not logged:\n{log}");
}

/// The token of the one `WWW-Authenticate: Negotiate <token>` header of a challenge leg.
fn challenge_token(response: &Response) -> Vec<u8> {
    let headers = response.headers_named("www-authenticate");
    assert_eq!(headers.len(), 1, "{}", response.describe());
    let value = headers[0]
        .strip_prefix("Negotiate ")
        .unwrap_or_else(|| panic!("{}", response.describe()));
    STANDARD.decode(value).expect("base64 token")
}

/// A full handshake on `connection` (handshake-only requests); the client's sealer.
fn handshake(
    connection: &mut Connection,
    form: TokenForm,
    password: &str,
) -> Result<Box<dyn MessageSealer>, Response> {
    let credentials = ClientCredentials::new(NTLM_USER, password);
    let mut initiator =
        NegotiateInitiator::new(&credentials, form, "127.0.0.1", None).expect("initiator");
    let first = initiator.initial_token().expect("NEGOTIATE");
    let response = handshake_leg(connection, &first);
    assert_eq!(response.status, 401, "{}", response.describe());
    let challenge = challenge_token(&response);
    let authenticate = initiator.step(&challenge).expect("AUTHENTICATE");
    let response = handshake_leg(connection, &authenticate);
    if response.status != 200 {
        return Err(response);
    }
    assert!(response.body.is_empty(), "{}", response.describe());
    let final_token = response
        .header("www-authenticate")
        .and_then(|v| v.strip_prefix("Negotiate "))
        .map(|v| STANDARD.decode(v).expect("base64"));
    Ok(initiator
        .complete(final_token.as_deref())
        .expect("complete"))
}

fn sealed_identify(connection: &mut Connection, sealer: &mut dyn MessageSealer) -> Response {
    let sealed = seal_body(sealer, SOAP_UTF8, soap::identify().as_bytes()).expect("seal");
    post(connection, None, &sealed.content_type, &sealed.body)
}

/// Logs in on `connection` with the right password and checks a sealed Identify succeeds.
fn assert_logs_in_and_serves(connection: &mut Connection, form: TokenForm) {
    let mut sealer = handshake(connection, form, NTLM_PASSWORD).expect("handshake");
    let response = sealed_identify(connection, sealer.as_mut());
    assert_eq!(response.status, 200, "{}", response.describe());
}

fn unseal(response: &Response, sealer: &mut dyn MessageSealer) -> String {
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with(
            "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\""
        ),
        "{}",
        response.describe()
    );
    let plain = unseal_body(sealer, content_type, &response.body, 1 << 20).expect("unseal");
    String::from_utf8(plain.plain).expect("UTF-8")
}

#[test]
fn raw_ntlm_and_spnego_handshakes_then_sealed_requests_on_the_same_connection() {
    let fixture = fixture();
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        let mut connection = fixture.connect();
        let mut sealer = handshake(&mut connection, form, NTLM_PASSWORD)
            .unwrap_or_else(|r| panic!("{form:?}: {}", r.describe()));
        for _ in 0..3 {
            // No Authorization header: the connection is authenticated.
            let response = sealed_identify(&mut connection, sealer.as_mut());
            assert_eq!(response.status, 200, "{}", response.describe());
            assert!(unseal(&response, sealer.as_mut()).contains("IdentifyResponse"));
        }
        // A fault is sealed too.
        let body = soap::request(
            "http://schemas.example.invalid/NoSuchAction",
            soap::CONFIG_URI,
            &[],
            "",
        );
        let sealed = seal_body(sealer.as_mut(), SOAP_UTF8, body.as_bytes()).expect("seal");
        let response = post(&mut connection, None, &sealed.content_type, &sealed.body);
        assert_eq!(response.status, 500, "{}", response.describe());
        assert!(unseal(&response, sealer.as_mut()).contains("ActionNotSupported"));
    }
}

#[test]
fn plaintext_on_an_ntlm_connection_over_http_is_refused() {
    let fixture = fixture();
    let mut connection = fixture.connect();
    handshake(&mut connection, TokenForm::RawNtlm, NTLM_PASSWORD).expect("handshake");
    let response = plain_identify(&mut connection, None);
    assert_eq!(response.status, 500, "{}", response.describe());
    assert_logged(&fixture, "unencrypted request on an NTLM connection");
}

#[test]
fn undecryptable_body_is_400_and_drops_the_context() {
    let fixture = fixture();
    let mut connection = fixture.connect();
    let mut sealer =
        handshake(&mut connection, TokenForm::RawNtlm, NTLM_PASSWORD).expect("handshake");
    let mut sealed =
        seal_body(sealer.as_mut(), SOAP_UTF8, soap::identify().as_bytes()).expect("seal");
    let last = sealed.body.len() - "--Encrypted Boundary--\r\n".len() - 1;
    sealed.body[last] ^= 0x55;
    let response = post(&mut connection, None, &sealed.content_type, &sealed.body);
    assert_eq!(response.status, 400, "{}", response.describe());
    assert!(response.body.is_empty());
    assert_logged(&fixture, "undecryptable encrypted body");
    // The context is gone: the next sealed body on this connection is unauthenticated.
    let sealed = seal_body(sealer.as_mut(), SOAP_UTF8, soap::identify().as_bytes()).expect("seal");
    let response = post(&mut connection, None, &sealed.content_type, &sealed.body);
    assert_eq!(response.status, 401, "{}", response.describe());
    // Garbage framing on a fresh authenticated connection: 400 as well.
    let mut connection = fixture.connect();
    handshake(&mut connection, TokenForm::RawNtlm, NTLM_PASSWORD).expect("handshake");
    let response = post(
        &mut connection,
        None,
        "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"",
        b"--Encrypted Boundary\r\nnot what MS-WSMV says\r\n",
    );
    assert_eq!(response.status, 400, "{}", response.describe());
}

#[test]
fn wrong_password_then_the_same_connection_is_reused() {
    let fixture = fixture();
    let mut connection = fixture.connect();
    let refused = handshake(&mut connection, TokenForm::RawNtlm, "Wrong-Password-1").err();
    let refused = refused.expect("wrong password must be refused");
    assert_eq!(refused.status, 401, "{}", refused.describe());
    assert!(refused
        .headers_named("www-authenticate")
        .contains(&"Negotiate"));
    let log = fixture.daemon.stderr();
    assert!(log.contains("wrong password for 'ntlm-svc'"), "{log}");
    assert!(!log.contains("Wrong-Password-1"));
    // The same connection, a new handshake with the right password.
    assert_logs_in_and_serves(&mut connection, TokenForm::Spnego);
}

#[test]
fn replayed_authenticate_is_refused() {
    let fixture = fixture();
    let credentials = ClientCredentials::new(NTLM_USER, NTLM_PASSWORD);
    let mut initiator =
        NegotiateInitiator::new(&credentials, TokenForm::RawNtlm, "127.0.0.1", None)
            .expect("initiator");
    let mut connection = fixture.connect();
    let first = initiator.initial_token().expect("NEGOTIATE");
    let challenge = challenge_token(&handshake_leg(&mut connection, &first));
    let authenticate = initiator.step(&challenge).expect("AUTHENTICATE");
    let response = handshake_leg(&mut connection, &authenticate);
    assert_eq!(response.status, 200, "{}", response.describe());
    // Again on the same connection (completed context) and on a new one (no challenge).
    let response = handshake_leg(&mut connection, &authenticate);
    assert_eq!(response.status, 401, "{}", response.describe());
    let mut other = fixture.connect();
    let response = handshake_leg(&mut other, &authenticate);
    assert_eq!(response.status, 401, "{}", response.describe());
    assert_logged(&fixture, "does not continue a handshake");
}

#[test]
fn malformed_negotiate_headers_and_ntlm_messages_are_401_never_a_crash() {
    let fixture = fixture();
    let mut bad_offsets = b"NTLMSSP\0\x03\0\0\0".to_vec();
    bad_offsets.extend_from_slice(&[0xff; 80]);
    let mut bad_negotiate = b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2".to_vec();
    bad_negotiate.extend_from_slice(&[0x10, 0, 0x10, 0, 0xf0, 0xff, 0xff, 0xff]);
    bad_negotiate.extend_from_slice(&[0; 8]);
    let values = [
        "Negotiate".to_owned(),
        "Negotiate ".to_owned(),
        "Negotiate ***not-base64***".to_owned(),
        negotiate(b"NTLMSSP\0"),
        negotiate(&bad_offsets),
        negotiate(&bad_negotiate),
        negotiate(&[0x60, 0x84, 0xff, 0xff, 0xff, 0xff]),
        negotiate(&[0xa1, 0x03, 0x30, 0x01, 0x00]),
        format!("NTLM {}", STANDARD.encode(&bad_offsets)),
        format!("Negotiate {}", "A".repeat(7000)),
    ];
    let mut connection = fixture.connect();
    for value in &values {
        let response = plain_identify(&mut connection, Some(value));
        assert_eq!(response.status, 401, "{value:.40}: {}", response.describe());
        assert!(response.body.is_empty());
    }
    assert_logged(&fixture, "malformed token");
    // Still serving, on the same connection.
    assert_logs_in_and_serves(&mut connection, TokenForm::RawNtlm);
}

#[test]
fn negotiate_is_advertised_and_can_be_switched_off_live() {
    // AllowUnencrypted on, so that `winrm set` can use Basic over HTTP.
    let fixture = fixture_with(true);
    let mut connection = fixture.connect();
    let response = plain_identify(&mut connection, None);
    assert_eq!(response.status, 401);
    let challenges = response.headers_named("www-authenticate");
    assert_eq!(
        challenges.first(),
        Some(&"Negotiate"),
        "{}",
        response.describe()
    );
    let mut sealer =
        handshake(&mut connection, TokenForm::RawNtlm, NTLM_PASSWORD).expect("handshake");
    let finished =
        fixture.winrm_remote(&["set", "winrm/config/service/auth", "@{Negotiate=\"false\"}"]);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    let mut refused = false;
    for _ in 0..50 {
        let response = sealed_identify(&mut connection, sealer.as_mut());
        if response.status == 401 {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        refused,
        "Negotiate still accepted after it was switched off"
    );
}
