//! Push delivery to subscribers that check the source's credentials: an HTTPS subscriber
//! (rustls) that requires a client certificate from its CA and presents a certificate the
//! Subscribe names by thumbprint, and an HTTP subscriber that accepts only SPNEGO/Kerberos from
//! the test realm (the project's GSS acceptor over the real MIT KDC) and seals its answers.
//! Checked: every event delivered and acknowledged with the credentials the subscriber checked;
//! a subscriber that answers 401 ends the subscription at once, with SubscriptionEnd
//! (DeliveryFailure) to EndTo; a subscriber certificate other than the one named is refused.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use wsman_auth::sealing::{
    is_sealed_content_type, seal_body, unseal_body, MessageSealer, SealError, SPNEGO_PROTOCOL,
};
use wsman_gss::{AcceptStep, KerberosAcceptor};
use wsman_proto::ns;
use wsman_test::client_certs::{thumbprint, ClientSpec, TestCa};

use crate::eventing::{source_with_env, unsubscribe_request, Source};
use crate::expect_fault;
use crate::push::{
    acknowledged_records, push_subscribe, pushed_subscription, read_delivery, Received,
    APPLICATION_RECORDS, EVENTS_MODE, SUBSCRIPTION_END_ACTION,
};

const POLICY_NS: &str = "http://schemas.xmlsoap.org/ws/2002/12/policy";
const AUTH_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/authentication";
const MUTUAL: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual";
const KERBEROS: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos";
const DELIVERY_FAILURE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryFailure";

/// One request a subscriber took, with who sent it as the subscriber verified it.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    /// The client certificate's thumbprint, or the Kerberos principal.
    client: String,
    message: Received,
}

/// Requests seen by a subscriber; `/refuse` is answered 401, anything else acknowledged.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().expect("lock").clone()
    }

    fn at(&self, path: &str) -> Vec<Received> {
        self.seen()
            .into_iter()
            .filter(|s| s.path == path)
            .map(|s| s.message)
            .collect()
    }

    /// Waits (up to 30 s) until `done` holds for what arrived at `path`.
    fn wait_at(&self, path: &str, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        wsman_test::poll(
            Duration::from_secs(30),
            || Some(self.at(path)).filter(|received| done(received)),
            || format!("timed out waiting for {what}; seen: {:#?}", self.seen()),
        )
    }
}

/// One HTTP request as read off the wire.
struct HttpRequest {
    path: String,
    content_type: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

fn read_request(reader: &mut impl BufRead) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split(' ').nth(1)?.to_owned();
    let (mut length, mut content_type, mut authorization) = (0usize, String::new(), None);
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim().to_owned();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().ok()?,
                "content-type" => content_type = value,
                "authorization" => authorization = Some(value),
                _ => {}
            }
        }
    }
    assert!(length <= 1 << 20, "a request of {length} bytes");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(HttpRequest {
        path,
        content_type,
        authorization,
        body,
    })
}

/// The Ack of `message`, as a subscriber writes it (WS-Management's wsman:Ack).
fn ack(message: &Received) -> String {
    format!(
        "<s:Envelope xmlns:s=\"{}\" xmlns:a=\"{}\"><s:Header><a:To>{}</a:To><a:Action s:mustUnderstand=\"true\">http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack</a:Action><a:MessageID>uuid:00000000-0000-4000-8000-00000000A0C1</a:MessageID><a:RelatesTo>{}</a:RelatesTo></s:Header><s:Body/></s:Envelope>",
        ns::SOAP,
        ns::ADDRESSING,
        ns::ANONYMOUS,
        message.message_id
    )
}

/// An HTTPS subscriber that requires a client certificate issued by `ca`.
struct TlsSubscriber {
    port: u16,
    /// Thumbprint of its own (server) certificate.
    thumbprint: String,
    log: Log,
}

impl TlsSubscriber {
    fn start(ca: &TestCa) -> TlsSubscriber {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
            .expect("a server certificate");
        let server_der = generated.cert.der().clone();
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der());
        let mut roots = rustls::RootCertStore::empty();
        for der in wsman_safe::pem::parse_certificates(ca.pem().as_bytes()).expect("the CA") {
            roots.add(der).expect("a trusted CA");
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .expect("a client verifier");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_client_cert_verifier(verifier)
                .with_single_cert(vec![server_der.clone()], key.into())
                .expect("a server configuration"),
        );
        let (port, log) = serve(move |stream, log| {
            let connection = rustls::ServerConnection::new(config.clone()).expect("a session");
            let mut reader = BufReader::new(rustls::StreamOwned::new(connection, stream));
            while let Some(request) = read_request(&mut reader) {
                let client = reader
                    .get_ref()
                    .conn
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|c| thumbprint(c))
                    .expect("the handshake required a client certificate");
                let mut message = read_delivery(&request.body, &request.content_type);
                message.acknowledged = request.path != "/refuse";
                let answer = answer(&request.path, &message);
                log.0.lock().expect("lock").push(Seen {
                    path: request.path,
                    client,
                    message,
                });
                let stream = reader.get_mut();
                if stream.write_all(answer.as_bytes()).is_err() || stream.flush().is_err() {
                    return;
                }
            }
        });
        TlsSubscriber {
            port,
            thumbprint: thumbprint(&server_der),
            log,
        }
    }

    fn address(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

/// A subscriber on a loopback port: `connection` serves each accepted connection on a thread
/// of its own, recording into the log returned with the port.
fn serve(connection: impl Fn(TcpStream, &Log) + Send + Sync + 'static) -> (u16, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    let log = Log::default();
    let served = log.clone();
    let connection = Arc::new(connection);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (connection, log) = (connection.clone(), served.clone());
            std::thread::spawn(move || connection(stream, &log));
        }
    });
    (port, log)
}

/// The plain HTTP answer of a subscriber to a delivery at `path`.
fn answer(path: &str, message: &Received) -> String {
    if path == "/refuse" {
        return "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".to_owned();
    }
    let ack = ack(message);
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{ack}",
        ack.len()
    )
}

/// A Subscribe whose NotifyTo takes `profile` (with `certificate` constraints inside) and,
/// when `pinned` is given, names the subscriber's certificate by thumbprint (DSP0226's
/// `wsman:CertificateThumbprint` token).
fn subscribe_with(
    notify_to: &str,
    profile: &str,
    certificate: &str,
    pinned: Option<&str>,
    end_to: Option<&str>,
) -> String {
    let policy = format!(
        r#"<c:Policy xmlns:c="{POLICY_NS}" xmlns:auth="{AUTH_NS}"><c:ExactlyOne><c:All><auth:Authentication Profile="{profile}">{certificate}</auth:Authentication></c:All></c:ExactlyOne></c:Policy></e:NotifyTo>"#
    );
    let end_to = end_to
        .map(|a| format!("<e:EndTo><a:Address>{a}</a:Address></e:EndTo>"))
        .unwrap_or_default();
    let text = push_subscribe(
        EVENTS_MODE,
        notify_to,
        "<w:ConnectionRetry Total=\"3\">PT0.2S</w:ConnectionRetry><w:MaxTime>PT0.2S</w:MaxTime>",
        &end_to,
    )
    .replacen("</e:NotifyTo>", &policy, 1);
    match pinned {
        None => text,
        Some(thumbprint) => text.replacen(
            "</s:Header>",
            &format!(
                r#"<wst:IssuedTokens xmlns:wst="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" s:mustUnderstand="true"><wst:RequestSecurityTokenResponse><wst:TokenType>http://schemas.dmtf.org/wbem/wsman/1/wsman/token/certificateThumbprint</wst:TokenType><wst:RequestedSecurityToken><w:CertificateThumbprint>{thumbprint}</w:CertificateThumbprint></wst:RequestedSecurityToken><wsp:AppliesTo><a:EndpointReference><a:Address>{notify_to}</a:Address></a:EndpointReference></wsp:AppliesTo></wst:RequestSecurityTokenResponse></wst:IssuedTokens></s:Header>"#
            ),
            1,
        ),
    }
}

fn issuer_constraint(ca: &TestCa) -> String {
    format!(
        r#"<auth:ClientCertificate><auth:Thumbprint Role="issuer">{}</auth:Thumbprint></auth:ClientCertificate>"#,
        ca.thumbprint
    )
}

/// The source, with a client certificate issued by `ca` in its `certs/` (and `ca` itself,
/// without key); returns the client certificate's thumbprint.
fn source_with_client_certificate(ca: &TestCa) -> Option<(Source, String)> {
    let source = source_with_env(false, |_| {}, &[])?;
    let scratch = tempfile::tempdir().expect("a scratch dir");
    let files = ca.issue(
        &ClientSpec::new("source.push.test"),
        scratch.path(),
        "source",
    );
    let certs = source.config.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs/");
    std::fs::copy(
        &files.certificate,
        certs.join(format!("{}.crt", files.thumbprint)),
    )
    .expect("the client certificate");
    std::fs::copy(&files.key, certs.join(format!("{}.key", files.thumbprint))).expect("its key");
    ca.install(&source.config);
    Some((source, files.thumbprint))
}

/// What the client-certificate tests start from: a CA of the test's, the source with a client
/// certificate it issued (and that certificate's thumbprint), and a TLS subscriber with a
/// certificate of the same CA.
fn mutual_scene() -> Option<(TestCa, Source, String, TlsSubscriber)> {
    let ca = TestCa::new("push subscribers CA");
    let (source, client) = source_with_client_certificate(&ca)?;
    let subscriber = TlsSubscriber::start(&ca);
    Some((ca, source, client, subscriber))
}

/// A push Subscribe with the HTTPS mutual profile, the client certificate to be one `issuer`
/// issued (see [`subscribe_with`] for `pinned` and `end_to`).
fn mutual_subscribe(
    notify_to: &str,
    issuer: &TestCa,
    pinned: Option<&str>,
    end_to: Option<&str>,
) -> String {
    subscribe_with(
        notify_to,
        MUTUAL,
        &issuer_constraint(issuer),
        pinned,
        end_to,
    )
}

/// Polls until the daemon's log says `text` (up to 30 s).
fn wait_for_log(source: &Source, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !source.daemon.stderr().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in the log:\n{}",
            source.daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `source` subscribed to push to `subscriber`'s `path` with a client certificate of `ca`,
/// the subscriber's own certificate pinned and, when given, its `end_path` as EndTo: the
/// subscription's identifier.
fn pushed_to(
    source: &Source,
    ca: &TestCa,
    subscriber: &TlsSubscriber,
    path: &str,
    end_path: Option<&str>,
) -> String {
    let end_to = end_path.map(|end| subscriber.address(end));
    pushed_subscription(&source.post(&mutual_subscribe(
        &subscriber.address(path),
        ca,
        Some(&subscriber.thumbprint),
        end_to.as_deref(),
    )))
}

#[test]
fn a_client_certificate_from_the_named_issuer_delivers_and_a_refusal_ends_the_subscription() {
    let Some((ca, source, client, subscriber)) = mutual_scene() else {
        return;
    };
    let identifier = pushed_to(&source, &ca, &subscriber, "/subscriber", None);
    let received =
        subscriber
            .log
            .wait_at("/subscriber", "every Application event acknowledged", |r| {
                acknowledged_records(r).len() >= APPLICATION_RECORDS.len()
            });
    assert_eq!(acknowledged_records(&received), APPLICATION_RECORDS);
    assert!(
        subscriber.log.seen().iter().all(|s| s.client == client),
        "every delivery over the certificate the issuer constraint chose"
    );
    let ended = source.post(&unsubscribe_request(&identifier));
    assert_eq!(ended.status, 200, "{}", ended.describe());

    // The subscriber refuses the credentials: no retry, SubscriptionEnd to EndTo, gone.
    let identifier = pushed_to(&source, &ca, &subscriber, "/refuse", Some("/end"));
    let ends = subscriber.log.wait_at("/end", "SubscriptionEnd", |r| {
        r.iter().any(|m| m.action == SUBSCRIPTION_END_ACTION)
    });
    assert_eq!(ends[0].status.as_deref(), Some(DELIVERY_FAILURE));
    assert_eq!(
        subscriber.log.at("/refuse").len(),
        1,
        "refused credentials are not tried again (ConnectionRetry is for the network)"
    );
    source.expect_gone(&identifier);
}

#[test]
fn a_subscriber_certificate_other_than_the_named_one_and_unusable_policies_are_refused() {
    let Some((ca, source, _, subscriber)) = mutual_scene() else {
        return;
    };
    let identifier = pushed_subscription(&source.post(&mutual_subscribe(
        &subscriber.address("/subscriber"),
        &ca,
        Some(&"AB".repeat(20)),
        None,
    )));
    wait_for_log(&source, "event delivery refused");
    assert!(
        subscriber.log.seen().is_empty(),
        "nothing reaches a subscriber that is not the certificate named"
    );
    source.expect_gone(&identifier);

    // A client certificate no CA of ours issued, and a certificate over plain HTTP: refused
    // at Subscribe, naming why.
    let other = TestCa::new("someone else's CA");
    let refused = source.post(&mutual_subscribe(
        &subscriber.address("/subscriber"),
        &other,
        None,
        None,
    ));
    let fault = expect_fault(&refused, "UnsupportedFeature");
    assert!(fault.reason.contains(&other.thumbprint), "{fault:?}");
    let refused = source.post(&mutual_subscribe(
        &format!("http://127.0.0.1:{}/subscriber", subscriber.port),
        &ca,
        None,
        None,
    ));
    let fault = expect_fault(&refused, "UnsupportedFeature");
    assert!(fault.reason.contains("https://"), "{fault:?}");
    assert!(subscriber.log.seen().is_empty());
}

/// An established Kerberos context as the MS-WSMV sealer of its connection.
struct KerberosSealer(wsman_gss::KerberosContext);

impl MessageSealer for KerberosSealer {
    fn protocol(&self) -> &str {
        SPNEGO_PROTOCOL
    }
    fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SealError> {
        self.0
            .wrap(plain)
            .map_err(|e| SealError::Wrap(e.to_string()))
    }
    fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.0
            .unwrap(header, ciphertext)
            .map_err(|e| SealError::Unwrap(e.to_string()))
    }
}

/// An HTTP subscriber that takes only SPNEGO/Kerberos for `HTTP/<host>` of the realm's
/// keytab, and only sealed bodies after it, as a Windows collector over HTTP.
fn kerberos_subscriber(keytab: &std::path::Path) -> (u16, Log) {
    let acceptor = Arc::new(KerberosAcceptor::from_keytab(keytab).expect("the realm's keytab"));
    serve(move |stream, log| {
        let mut reader = BufReader::new(stream);
        let mut session: Option<(KerberosSealer, String)> = None;
        while let Some(request) = read_request(&mut reader) {
            let answer = kerberos_answer(&acceptor, &mut session, &request, log);
            if reader.get_mut().write_all(&answer).is_err() {
                return;
            }
        }
    })
}

/// The answer to one request of a Kerberos subscriber's connection.
fn kerberos_answer(
    acceptor: &KerberosAcceptor,
    session: &mut Option<(KerberosSealer, String)>,
    request: &HttpRequest,
    log: &Log,
) -> Vec<u8> {
    const CHALLENGE: &[u8] =
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n";
    let token = request
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Negotiate "))
        .and_then(|t| {
            base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .ok()
        });
    if let Some(token) = token {
        let mut context = acceptor.context(None);
        let Ok(AcceptStep::Complete(established)) = context.step(&token) else {
            return CHALLENGE.to_vec();
        };
        let mutual = established
            .token
            .map(|t| {
                format!(
                    "WWW-Authenticate: Negotiate {}\r\n",
                    base64::engine::general_purpose::STANDARD.encode(t)
                )
            })
            .unwrap_or_default();
        *session = Some((KerberosSealer(context), established.principal));
        return format!("HTTP/1.1 200 OK\r\n{mutual}Content-Length: 0\r\n\r\n").into_bytes();
    }
    let Some((sealer, principal)) = session.as_mut() else {
        return CHALLENGE.to_vec();
    };
    assert!(
        is_sealed_content_type(&request.content_type),
        "a delivery over HTTP is sealed: {}",
        request.content_type
    );
    let opened = unseal_body(sealer, &request.content_type, &request.body, 1 << 20)
        .expect("a body sealed with the session's key");
    let mut message = read_delivery(&opened.plain, &opened.original_content_type);
    message.acknowledged = true;
    let sealed = seal_body(
        sealer,
        "application/soap+xml;charset=UTF-8",
        ack(&message).as_bytes(),
    )
    .expect("seal the Ack");
    log.0.lock().expect("lock").push(Seen {
        path: request.path.clone(),
        client: principal.clone(),
        message,
    });
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
        sealed.content_type,
        sealed.body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&sealed.body);
    answer
}

#[test]
fn kerberos_delivers_sealed_to_a_subscriber_that_accepts_only_the_realm() {
    let Some(kdc) = wsman_test::kdc::Kdc::shared_realm(|_| {}) else {
        return;
    };
    let (port, log) = kerberos_subscriber(&kdc.keytab());
    let env: Vec<(&str, &str)> = kdc
        .env()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let Some(source) = source_with_env(false, |_| {}, &env) else {
        return;
    };
    // The SPN is HTTP/<host of the address>: the realm's host name, which is this machine.
    let address = format!("http://{}:{port}/subscriber", kdc.host());
    let identifier =
        pushed_subscription(&source.post(&subscribe_with(&address, KERBEROS, "", None, None)));
    let received = log.wait_at("/subscriber", "every Application event acknowledged", |r| {
        acknowledged_records(r).len() >= APPLICATION_RECORDS.len()
    });
    assert_eq!(acknowledged_records(&received), APPLICATION_RECORDS);
    let principal = format!("{}@{}", kdc.user(), kdc.realm());
    assert!(
        log.seen().iter().all(|s| s.client == principal),
        "every delivery from the source's own principal {principal}: {:#?}",
        log.seen()
    );
    let ended = source.post(&unsubscribe_request(&identifier));
    assert_eq!(ended.status, 200, "{}", ended.describe());
}
