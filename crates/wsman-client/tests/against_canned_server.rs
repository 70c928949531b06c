//! The client against a tiny in-test HTTP server on 127.0.0.1 that answers with recorded
//! Windows responses (crates/wsman-proto/tests/fixtures/windows), adjusted only where a response must echo the
//! request (RelatesTo).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::http::request::Parts;
use wsman_client::tls::TlsOptions;
use wsman_client::{
    Auth, Client, ClientError, ClientOptions, Credentials, Endpoint, EnumerateOptions, Resource,
    TlsFailure,
};
use wsman_proto::ns;
use wsman_proto::xml::Limits;

/// What the handler sees of a request.
#[derive(Clone, Debug)]
struct Seen {
    headers: hyper::HeaderMap,
    body: String,
}

impl Seen {
    fn message_id(&self) -> String {
        let req = wsman_proto::parse_request(&self.body, &Limits::default())
            .unwrap_or_else(|e| panic!("request does not parse: {e:?}\n{}", self.body));
        req.message_id.unwrap_or_default()
    }
    fn request(&self) -> wsman_proto::Request {
        wsman_proto::parse_request(&self.body, &Limits::default())
            .unwrap_or_else(|e| panic!("request does not parse: {e:?}"))
    }
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16, body: String) -> Reply {
    Reply {
        status,
        headers: vec![(
            "content-type",
            "application/soap+xml;charset=UTF-8".to_owned(),
        )],
        body,
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// The handler's reply to one request, recorded in `seen`.
fn handle(
    parts: Parts,
    bytes: Bytes,
    handler: &Handler,
    seen: &Mutex<Vec<Seen>>,
) -> hyper::Response<Full<Bytes>> {
    let s = Seen {
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    let r = handler(&s);
    if let Ok(mut v) = seen.lock() {
        v.push(s);
    }
    let mut b = hyper::Response::builder().status(r.status);
    for (k, v) in r.headers {
        b = b.header(k, v);
    }
    b.body(Full::new(Bytes::from(r.body))).unwrap_or_default()
}

async fn start(handler: Handler, tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c2, s2) = (connections.clone(), seen.clone());
    let addr = common::http_server(tls, move || {
        c2.fetch_add(1, Ordering::SeqCst);
        let (h, s) = (handler.clone(), s2.clone());
        move |parts, bytes| std::future::ready(handle(parts, bytes, &h, &s))
    })
    .await;
    Server {
        addr,
        connections,
        seen,
    }
}

impl Server {
    /// A client of this server with Basic credentials over plain HTTP.
    fn basic_client(&self) -> Client {
        Client::new(endpoint(self.addr, false), basic_options()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The requests the server saw so far.
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

fn fixture(rel: &str) -> String {
    let path = format!(
        "{}/../wsman-proto/tests/fixtures/windows/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every request answered with the Windows fixture `rel` as it is.
fn canned(rel: &'static str) -> Handler {
    Arc::new(move |_s: &Seen| reply(200, fixture(rel)))
}

/// Every request answered with HTTP `status` and the Windows fixture `rel`, its RelatesTo the
/// request's MessageID.
fn replaying(status: u16, rel: &'static str) -> Handler {
    Arc::new(move |s: &Seen| reply(status, relate(&fixture(rel), &s.message_id())))
}

/// Replace the recorded RelatesTo with the MessageID of this request.
fn relate(xml: &str, message_id: &str) -> String {
    let start = xml
        .find("<a:RelatesTo>")
        .unwrap_or_else(|| panic!("no RelatesTo"))
        + "<a:RelatesTo>".len();
    let end = start
        + xml[start..]
            .find("</a:RelatesTo>")
            .unwrap_or_else(|| panic!("unclosed"));
    format!("{}{}{}", &xml[..start], message_id, &xml[end..])
}

fn endpoint(addr: SocketAddr, https: bool) -> Endpoint {
    let scheme = if https { "https" } else { "http" };
    Endpoint::parse(&format!("{scheme}://{addr}/wsman"), false).unwrap_or_else(|e| panic!("{e}"))
}

fn basic_options() -> ClientOptions {
    let mut o = ClientOptions::default();
    o.auth = Auth::Basic(Credentials::new("admin", "s3cret"));
    o.allow_unencrypted = true;
    o
}

const CONFIG_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/config";

#[tokio::test]
async fn anonymous_identify_sends_the_header_and_no_credentials() {
    let server = start(
        canned("identify/identify.response.anonymous.server2012r2.xml"),
        None,
    )
    .await;
    let client = Client::new(endpoint(server.addr, false), ClientOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let r = client.identify().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(r.is(ns::IDENTITY, "IdentifyResponse"));
    let vendor = r
        .child(ns::IDENTITY, "ProductVendor")
        .map(|e| e.trimmed_text());
    assert_eq!(vendor.as_deref(), Some("Microsoft Corporation"));
    let seen = server.seen();
    assert_eq!(
        seen[0]
            .headers
            .get("wsmanidentify")
            .and_then(|v| v.to_str().ok()),
        Some("unauthenticated")
    );
    assert!(seen[0].headers.get("authorization").is_none());
    assert!(seen[0].body.contains("<wsmid:Identify/>"));
}

#[tokio::test]
async fn get_sends_a_windows_shaped_request_and_checks_relates_to() {
    let server = start(replaying(200, "config/get-config.response.xml"), None).await;
    let client = server.basic_client();
    let r = Resource::new(CONFIG_URI).with_selector("Name", "x");
    let body = client.get(&r).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(body.is(CONFIG_URI, "Config"));
    // A second request reuses the connection.
    client.get(&r).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);

    let seen = server.seen();
    let req = seen[0].request();
    assert_eq!(req.action.as_deref(), Some(ns::action::GET));
    assert_eq!(req.resource_uri.as_deref(), Some(CONFIG_URI));
    assert_eq!(req.selectors.get("name"), Some("x"));
    assert_eq!(req.max_envelope_size, Some(512_000));
    assert!(req.message_id.as_deref().is_some_and(
        |m| m.starts_with("uuid:") && m == m.to_ascii_uppercase().replace("UUID:", "uuid:")
    ));
    let auth = seen[0]
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(auth, "Basic YWRtaW46czNjcmV0");
    assert_eq!(
        seen[0]
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/soap+xml;charset=UTF-8")
    );
}

#[tokio::test]
async fn a_wrong_relates_to_is_refused() {
    // The recorded response relates to the recorded request, not to ours.
    let server = start(canned("config/get-config.response.xml"), None).await;
    let client = server.basic_client();
    let err = client.get(&Resource::new(CONFIG_URI)).await.err();
    assert!(matches!(err, Some(ClientError::Protocol { .. })), "{err:?}");
}

#[tokio::test]
async fn faults_are_parsed_from_the_windows_shape() {
    let server = start(replaying(500, "faults/fault.invalid-shellid.xml"), None).await;
    let client = server.basic_client();
    match client
        .delete(&Resource::new(ns::SHELL).with_selector("ShellId", "x"))
        .await
    {
        Err(ClientError::Fault {
            code,
            subcode,
            wsman_code,
            message,
            machine,
            status,
            detail,
        }) => {
            assert_eq!(code, "s:Sender");
            assert_eq!(subcode.as_deref(), Some("w:InvalidSelectors"));
            assert_eq!(wsman_code, Some(2150858843));
            assert_eq!(machine.as_deref(), Some("127.0.0.1"));
            assert_eq!(status, 500);
            assert!(message.starts_with("The WS-Management service cannot process the request because the request contained invalid selectors"));
            assert!(detail.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unauthorized_and_other_statuses() {
    let server = start(
        Arc::new(|s: &Seen| {
            if s.headers.get("authorization").is_some() {
                Reply {
                    status: 401,
                    headers: vec![("www-authenticate", "Basic realm=\"WSMAN\"".to_owned())],
                    body: String::new(),
                }
            } else {
                Reply {
                    status: 503,
                    headers: vec![],
                    body: String::new(),
                }
            }
        }),
        None,
    )
    .await;
    let client = server.basic_client();
    match client.get(&Resource::new(CONFIG_URI)).await {
        Err(ClientError::Unauthorized { offered }) => {
            assert_eq!(offered, vec!["Basic realm=\"WSMAN\"".to_owned()])
        }
        other => panic!("{other:?}"),
    }
    let anon = Client::new(endpoint(server.addr, false), ClientOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        anon.get(&Resource::new(CONFIG_URI)).await,
        Err(ClientError::Http { status: 503 })
    ));
}

#[tokio::test]
async fn enumerate_pulls_until_end_of_sequence() {
    let handler = |s: &Seen| {
        let req = s.request();
        let n = ns::ENUMERATION;
        let w = ns::WSMAN;
        let (action, body) = if req.action.as_deref() == Some(ns::action::ENUMERATE) {
            let e = req.body.as_ref().unwrap_or_else(|| panic!("no body"));
            assert!(e.child(w, "OptimizeEnumeration").is_some());
            assert_eq!(
                e.child(w, "EnumerationMode")
                    .map(|m| m.trimmed_text())
                    .as_deref(),
                Some("EnumerateEPR")
            );
            (ns::action::ENUMERATE_RESPONSE, "<n:EnumerateResponse><n:EnumerationContext>uuid:CTX</n:EnumerationContext><w:Items><i>1</i></w:Items></n:EnumerateResponse>".to_owned())
        } else {
            assert_eq!(req.action.as_deref(), Some(ns::action::PULL));
            let ctx = req
                .body
                .as_ref()
                .and_then(|b| b.child(n, "EnumerationContext"))
                .map(|c| c.trimmed_text());
            assert_eq!(ctx.as_deref(), Some("uuid:CTX"));
            (ns::action::PULL_RESPONSE, "<n:PullResponse><n:Items><i>2</i><i>3</i></n:Items><n:EndOfSequence/></n:PullResponse>".to_owned())
        };
        let env = format!(
            "<s:Envelope xmlns:s=\"{}\" xmlns:a=\"{}\" xmlns:n=\"{n}\" xmlns:w=\"{w}\"><s:Header><a:Action>{action}</a:Action><a:RelatesTo>{}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>",
            ns::SOAP, ns::ADDRESSING, s.message_id()
        );
        reply(200, env)
    };
    let server = start(Arc::new(handler), None).await;
    let client = server.basic_client();
    let mut o = EnumerateOptions::default();
    o.mode = wsman_client::EnumerationMode::Epr;
    let items = client
        .enumerate(&Resource::new(CONFIG_URI), &o)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let texts: Vec<String> = items.iter().map(|i| i.trimmed_text()).collect();
    assert_eq!(texts, vec!["1", "2", "3"]);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn reconnects_when_the_server_closes() {
    let server = start(
        Arc::new(|s: &Seen| {
            let mut r = reply(
                200,
                relate(&fixture("config/get-config.response.xml"), &s.message_id()),
            );
            r.headers.push(("connection", "close".to_owned()));
            r
        }),
        None,
    )
    .await;
    let client = server.basic_client();
    for _ in 0..3 {
        client
            .get(&Resource::new(CONFIG_URI))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
}

/// A raw server that answers one request per connection with a keep-alive response and then
/// closes the socket, as a server does when its idle timeout expires.
#[tokio::test]
async fn reconnects_after_an_idle_close_without_connection_close() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (listener, addr) = common::loopback_listener().await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        for _ in 0..3 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = Vec::new();
            // Read until the whole body (Content-Length) is in.
            loop {
                let n = stream.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).into_owned();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if got.len() >= head_end + 4 + len {
                        break;
                    }
                }
            }
            let body = fixture("identify/identify.response.anonymous.server2012r2.xml");
            let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            let _ = stream.write_all(resp.as_bytes()).await;
            // Close a little later, while the client is idle between requests.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = stream.shutdown().await;
        }
    });
    let client = Client::new(endpoint(addr, false), ClientOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..3 {
        client.identify().await.unwrap_or_else(|e| panic!("{e}"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let server = start(
        Arc::new(|_s: &Seen| reply(200, "x".repeat(64 * 1024))),
        None,
    )
    .await;
    let mut o = basic_options();
    o.max_response_bytes = 16 * 1024;
    let client = Client::new(endpoint(server.addr, false), o).unwrap_or_else(|e| panic!("{e}"));
    let err = client.get(&Resource::new(CONFIG_URI)).await.err();
    assert!(
        matches!(&err, Some(ClientError::Protocol { reason }) if reason.contains("larger")),
        "{err:?}"
    );
}

#[tokio::test]
async fn silence_times_out() {
    let (listener, addr) = common::loopback_listener().await;
    let held = tokio::spawn(async move {
        // Accept and never answer.
        let conn = listener.accept().await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(conn);
    });
    let mut o = basic_options();
    o.operation_timeout = Duration::from_millis(100);
    o.network_delay = Duration::from_millis(100);
    let client = Client::new(endpoint(addr, false), o).unwrap_or_else(|e| panic!("{e}"));
    let err = client.get(&Resource::new(CONFIG_URI)).await.err();
    assert!(matches!(err, Some(ClientError::Timeout { .. })), "{err:?}");
    held.abort();
}

#[test]
fn basic_over_http_needs_explicit_consent() {
    let mut o = basic_options();
    o.allow_unencrypted = false;
    let e = Endpoint::parse("http://127.0.0.1:5985", false).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        Client::new(e, o.clone()),
        Err(ClientError::Configuration { .. })
    ));
    let e = Endpoint::parse("https://127.0.0.1:5986", false).unwrap_or_else(|e| panic!("{e}"));
    let mut tls = TlsOptions::default();
    tls.skip_ca_check = true;
    o.tls = tls;
    assert!(Client::new(e, o).is_ok());
}

fn tls_server_config(name: &str) -> (tokio_rustls::TlsAcceptor, String) {
    let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let params =
        rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap_or_else(|e| panic!("{e}"));
    let cert = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}"));
    let pem = cert.pem();
    let der = rustls::pki_types::CertificateDer::from(cert.der().to_vec());
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .unwrap_or_else(|e| panic!("{e}"));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap_or_else(|e| panic!("{e}"))
    .with_no_client_auth()
    .with_single_cert(vec![der], key_der)
    .unwrap_or_else(|e| panic!("{e}"));
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), pem)
}

async fn tls_identify(
    name_in_cert: &str,
    tls: impl FnOnce(&mut TlsOptions, &std::path::Path),
) -> Result<(), ClientError> {
    let (acceptor, pem) = tls_server_config(name_in_cert);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ca = dir.path().join("server.crt");
    std::fs::write(&ca, pem).unwrap_or_else(|e| panic!("{e}"));
    let server = start(
        canned("identify/identify.response.anonymous.server2012r2.xml"),
        Some(acceptor),
    )
    .await;
    let mut o = ClientOptions::default();
    let mut t = TlsOptions::default();
    tls(&mut t, &ca);
    o.tls = t;
    let client = Client::new(endpoint(server.addr, true), o)?;
    client.identify().await.map(|_| ())
}

#[tokio::test]
async fn tls_checks_and_their_switches() {
    // The system roots do not vouch for a self-signed certificate.
    let e = tls_identify("127.0.0.1", |_, _| {}).await.err();
    assert!(
        matches!(
            e,
            Some(ClientError::Tls {
                kind: TlsFailure::UnknownIssuer,
                ..
            }) | Some(ClientError::Configuration { .. })
        ),
        "{e:?}"
    );
    type Setup = fn(&mut TlsOptions, &std::path::Path);
    let trust: Setup = |t, ca| t.ca_file = Some(ca.to_owned());
    let trust_any_name: Setup = |t, ca| {
        t.ca_file = Some(ca.to_owned());
        t.skip_cn_check = true;
    };
    let any_issuer: Setup = |t, _| t.skip_ca_check = true;
    let anything: Setup = |t, _| {
        t.skip_ca_check = true;
        t.skip_cn_check = true;
    };
    let cases: [(&str, &str, Setup, Option<TlsFailure>); 6] = [
        (
            "trusted via the given file, name matches (127.0.0.1 is an IP SAN here)",
            "127.0.0.1",
            trust,
            None,
        ),
        (
            "trusted, wrong name: refused",
            "other.example",
            trust,
            Some(TlsFailure::NameMismatch),
        ),
        (
            "trusted, wrong name, the name check skipped",
            "other.example",
            trust_any_name,
            None,
        ),
        (
            "untrusted, the CA check skipped",
            "127.0.0.1",
            any_issuer,
            None,
        ),
        (
            "untrusted, wrong name: skipping the CA check still checks the name",
            "other.example",
            any_issuer,
            Some(TlsFailure::NameMismatch),
        ),
        ("both checks skipped", "other.example", anything, None),
    ];
    for (what, name_in_cert, setup, refused) in cases {
        let result = tls_identify(name_in_cert, setup).await;
        match refused {
            None => assert!(result.is_ok(), "{what}: {result:?}"),
            Some(expected) => assert!(
                matches!(&result, Err(ClientError::Tls { kind, .. }) if *kind == expected),
                "{what}: {result:?}"
            ),
        }
    }
}

/// The blocking client polls its connection only inside calls, so a close that happened while
/// it was idle is seen only at the next call; it must still reconnect.
#[test]
fn blocking_client_reconnects_after_an_idle_close() {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(3) {
            let Ok(stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(&stream);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let answer = fixture("identify/identify.response.anonymous.server2012r2.xml");
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            );
            let mut w = &stream;
            let _ = w.write_all(resp.as_bytes());
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
    let client = wsman_client::BlockingClient::new(endpoint(addr, false), ClientOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..3 {
        client.identify().unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[test]
fn every_recorded_windows_fault_parses() {
    let dir = format!(
        "{}/../wsman-proto/tests/fixtures/windows/faults",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let path = entry.map(|e| e.path()).unwrap_or_else(|e| panic!("{e}"));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        if !name.ends_with(".xml") || name.ends_with(".request.xml") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        match wsman_client::fault_from_envelope(&bytes, 500) {
            Some(ClientError::Fault {
                code,
                subcode,
                wsman_code,
                message,
                ..
            }) => {
                assert!(code.starts_with("s:"), "{name}: {code}");
                assert!(subcode.is_some(), "{name}");
                assert!(wsman_code.is_some(), "{name}");
                if name == "fault.quota-max-shells-per-user.xml" {
                    // MSFT_WmiError detail instead of f:WSManFault.
                    assert_eq!(wsman_code, Some(2150859173));
                    assert!(
                        message.contains("maximum number of 30 concurrent shells"),
                        "{message}"
                    );
                }
                assert!(!message.is_empty(), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        count += 1;
    }
    assert!(count >= 10, "only {count} fault fixtures found");
}
