#![allow(clippy::unwrap_used)]
//! The client's Negotiate transport against an in-test HTTP server on 127.0.0.1 built on the
//! server-side NTLM acceptor of wsman-auth: one handshake per connection (raw NTLM and SPNEGO),
//! every later body sealed both ways, a sealed 500 fault decrypted, a wrong password refused,
//! and the bytes on the wire never holding the plaintext (a spy on the server's raw view).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::http::request::Parts;
use wsman_auth::ntlm::{
    nt_hash_of_password, AcceptStep, ChannelBindingPolicy, NegotiateAcceptor, NtHashLookup,
    NtlmAccount,
};
use wsman_auth::sealing::{self, MessageSealer};
use wsman_client::{
    Auth, Client, ClientError, ClientOptions, Endpoint, NegotiateAuth, Resource, TokenForm,
};

const USER: &str = "wsmantest";
const PASSWORD: &str = "Wsman-Test-Pass1";
const SOAP: &str = "application/soap+xml;charset=UTF-8";

struct Accounts;

impl NtHashLookup for Accounts {
    fn lookup(&self, user: &str) -> Option<NtlmAccount> {
        user.eq_ignore_ascii_case(USER)
            .then(|| self.all().remove(0))
    }
    fn all(&self) -> Vec<NtlmAccount> {
        vec![NtlmAccount {
            name: USER.into(),
            hash: nt_hash_of_password(PASSWORD),
        }]
    }
}

/// What one connection of the server knows.
#[derive(Default)]
struct ConnectionState {
    acceptor: Option<NegotiateAcceptor>,
    sealer: Option<Box<dyn MessageSealer>>,
}

/// Everything the server saw, raw, for the assertions.
#[derive(Default)]
struct Spy {
    /// (connection, Authorization present, request Content-Type, raw request body).
    requests: Vec<(usize, bool, String, Vec<u8>)>,
    /// Raw response bodies as written to the wire.
    responses: Vec<Vec<u8>>,
}

struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    spy: Arc<Mutex<Spy>>,
}

fn fixture(rel: &str) -> String {
    let path = format!(
        "{}/../wsman-proto/tests/fixtures/windows/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap()
}

fn response(
    status: u16,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One request on connection `id`: a handshake leg, or a sealed SOAP request answered (sealed)
/// with an IdentifyResponse, or with a fault for anything else.
fn serve(
    id: usize,
    state: &mut ConnectionState,
    spy: &Mutex<Spy>,
    headers: &hyper::HeaderMap,
    body: Vec<u8>,
) -> hyper::Response<Full<Bytes>> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    spy.lock().unwrap().requests.push((
        id,
        authorization.is_some(),
        content_type.clone(),
        body.clone(),
    ));
    if let Some(value) = authorization {
        let token = value
            .strip_prefix("Negotiate ")
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
            .unwrap_or_default();
        if NegotiateAcceptor::is_initial_token(&token) {
            state.acceptor = Some(NegotiateAcceptor::new(
                ChannelBindingPolicy::default(),
                "srv",
            ));
        }
        let Some(acceptor) = state.acceptor.as_mut() else {
            return response(401, &[("www-authenticate", "Negotiate".into())], Vec::new());
        };
        return match acceptor.step(&token, &Accounts) {
            Ok(AcceptStep::Continue(challenge)) => response(
                401,
                &[("www-authenticate", format!("Negotiate {}", b64(&challenge)))],
                Vec::new(),
            ),
            Ok(AcceptStep::Complete(done)) => {
                state.sealer = Some(done.sealer);
                let headers: Vec<(&str, String)> = done
                    .final_token
                    .iter()
                    .map(|t| ("www-authenticate", format!("Negotiate {}", b64(t))))
                    .collect();
                response(200, &headers, Vec::new())
            }
            Err(_) => response(401, &[("www-authenticate", "Negotiate".into())], Vec::new()),
        };
    }
    let Some(sealer) = state.sealer.as_mut() else {
        return response(401, &[("www-authenticate", "Negotiate".into())], Vec::new());
    };
    let Ok(plain) = sealing::unseal_body(sealer.as_mut(), &content_type, &body, 1 << 20) else {
        return response(400, &[], Vec::new());
    };
    let text = String::from_utf8_lossy(&plain.plain).into_owned();
    if text.contains("forget-me") {
        // The server dropped the context (a restart of its state): 401 without a token.
        state.sealer = None;
        return response(401, &[("www-authenticate", "Negotiate".into())], Vec::new());
    }
    if text.contains("break-me") {
        // What a server does with a body it cannot trust: 400, empty, context dropped.
        state.sealer = None;
        return response(400, &[], Vec::new());
    }
    let (status, answer) = if text.contains("wsmanidentity.xsd") {
        (
            200,
            fixture("identify/identify.response.anonymous.server2012r2.xml"),
        )
    } else {
        (500, fixture("faults/fault.invalid-shellid.xml"))
    };
    let sealed = sealing::seal_body(sealer.as_mut(), SOAP, answer.as_bytes()).unwrap();
    spy.lock().unwrap().responses.push(sealed.body.clone());
    response(
        status,
        &[("content-type", sealed.content_type)],
        sealed.body,
    )
}

async fn start() -> Server {
    let connections = Arc::new(AtomicUsize::new(0));
    let spy = Arc::new(Mutex::new(Spy::default()));
    let (counter, spy2) = (connections.clone(), spy.clone());
    let addr = common::http_server(None, move || {
        let id = counter.fetch_add(1, Ordering::SeqCst);
        let state = Mutex::new(ConnectionState::default());
        let spy = spy2.clone();
        move |parts: Parts, body: Bytes| {
            let mut state = state.lock().unwrap();
            std::future::ready(serve(id, &mut state, &spy, &parts.headers, body.to_vec()))
        }
    })
    .await;
    Server {
        addr,
        connections,
        spy,
    }
}

fn client(server: &Server, password: &str, form: TokenForm) -> Client {
    let endpoint = Endpoint::parse(&format!("http://{}/wsman", server.addr), false).unwrap();
    let mut options = ClientOptions::default();
    options.auth = Auth::Negotiate(NegotiateAuth::new(USER, password).with_form(form));
    Client::new(endpoint, options).unwrap()
}

#[tokio::test]
async fn sealed_requests_and_responses_in_both_token_forms() {
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        let server = start().await;
        let client = client(&server, PASSWORD, form);
        for _ in 0..3 {
            let identify = client.identify().await.unwrap();
            assert_eq!(identify.name, "IdentifyResponse");
        }
        // One connection, authenticated once: two handshake legs, then three sealed bodies.
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
        let spy = server.spy.lock().unwrap();
        let legs: Vec<_> = spy.requests.iter().filter(|r| r.1).collect();
        assert_eq!(legs.len(), 2, "{form:?}");
        assert!(legs.iter().all(|r| r.3.is_empty()));
        let sealed: Vec<_> = spy.requests.iter().filter(|r| !r.1).collect();
        assert_eq!(sealed.len(), 3);
        for (_, _, content_type, body) in sealed {
            assert!(content_type.starts_with(
                "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\""
            ));
            assert!(!String::from_utf8_lossy(body).contains("Identify"));
        }
        // The spy on the wire: the responses hold none of the plaintext.
        for body in &spy.responses {
            let text = String::from_utf8_lossy(body);
            assert!(!text.contains("IdentifyResponse") && !text.contains("ProductVendor"));
        }
    }
}

#[tokio::test]
async fn a_sealed_fault_is_decrypted() {
    let server = start().await;
    let client = client(&server, PASSWORD, TokenForm::Spnego);
    let err = client
        .get(&Resource::new(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd",
        ))
        .await
        .unwrap_err();
    match err {
        ClientError::Fault {
            status, message, ..
        } => {
            assert_eq!(status, 500);
            assert!(!message.is_empty());
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    // The connection survived the fault and is used again without a new handshake.
    client.identify().await.unwrap();
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn wrong_password_is_unauthorized() {
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        let server = start().await;
        let err = client(&server, "wrong", form).identify().await.unwrap_err();
        assert!(
            matches!(err, ClientError::Unauthorized { .. }),
            "{form:?}: {err:?}"
        );
        assert!(server.spy.lock().unwrap().responses.is_empty());
    }
}

#[tokio::test]
async fn each_new_connection_authenticates_again() {
    let server = start().await;
    let client = client(&server, PASSWORD, TokenForm::RawNtlm);
    client.identify().await.unwrap();
    client.disconnect().await;
    client.identify().await.unwrap();
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    let spy = server.spy.lock().unwrap();
    for connection in 0..2 {
        let legs = spy
            .requests
            .iter()
            .filter(|r| r.0 == connection && r.1)
            .count();
        assert_eq!(legs, 2, "connection {connection}");
    }
}

#[tokio::test]
async fn trusted_hosts_is_checked_before_connecting() {
    let server = start().await;
    let endpoint = Endpoint::parse(&format!("http://{}/wsman", server.addr), false).unwrap();
    let mut options = ClientOptions::default();
    options.auth = Auth::Negotiate(NegotiateAuth::new(USER, PASSWORD));
    options.trusted_hosts = Some("other-host".into());
    let err = Client::new(endpoint.clone(), options.clone()).unwrap_err();
    assert!(err.to_string().contains("TrustedHosts"), "{err}");
    options.trusted_hosts = Some("*".into());
    Client::new(endpoint, options)
        .unwrap()
        .identify()
        .await
        .unwrap();
}

/// A fresh server, a client of it in `form` that made an Identify, and the error of its Get of
/// `http://example.invalid/{what}` (which the server is made to refuse).
async fn get_refused_after_identify(form: TokenForm, what: &str) -> (Server, Client, ClientError) {
    let server = start().await;
    let client = client(&server, PASSWORD, form);
    client.identify().await.unwrap();
    let err = client
        .get(&Resource::new(format!("http://example.invalid/{what}")))
        .await
        .unwrap_err();
    (server, client, err)
}

#[tokio::test]
async fn a_connection_whose_context_failed_is_not_reused() {
    let (server, client, err) = get_refused_after_identify(TokenForm::Spnego, "break-me").await;
    assert!(matches!(err, ClientError::Http { status: 400 }), "{err:?}");
    // The next request authenticates on a new connection.
    client.identify().await.unwrap();
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_dropped_context_is_renegotiated_once_on_a_new_connection() {
    // The server forgets the context on the kept connection: the request is sent again, once,
    // on a new, newly authenticated connection; refused there too, the 401 comes back.
    let (server, client, err) = get_refused_after_identify(TokenForm::RawNtlm, "forget-me").await;
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    client.identify().await.unwrap();
}
