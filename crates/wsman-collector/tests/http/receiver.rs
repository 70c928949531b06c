//! The receiver the HTTP output's tests (`http.rs`, `http_bulk.rs`) send to: a real HTTP or
//! HTTPS server in the test process on 127.0.0.1 (hyper, rustls), answering from a script and
//! recording every request, and the subscription with an HTTP output that writes to it.
#![allow(dead_code)] // each test binary uses a part

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::subscription_outputs::Outputs;
use wsman_outputs::secrets::{SecretBinding, SecretBindings};

use crate::common::{logon, set, write};

pub(crate) const CLIENT: &str = "web01.example.com";
/// Splunk's example token and channel (fixtures/http/hec-raw-request.txt).
pub(crate) const HEC_TOKEN: &str = "CF179AE4-3C99-45F5-A7CC-3284AA91CF67";
pub(crate) const HEC_CHANNEL: &str = "00872DC6-AC83-4EDE-8AFE-8413C3825C4C";
pub(crate) const API_KEY: &str = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";

pub(crate) fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/http")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One request as the receiver read it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Bytes,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// What the receiver answers a request.
#[derive(Clone)]
pub(crate) enum Reply {
    Answer(u16, String),
    /// Read the request, never answer.
    Stall,
}

#[derive(Default)]
pub(crate) struct Script {
    pub(crate) replies: VecDeque<Reply>,
    /// The answer once `replies` is used up.
    pub(crate) otherwise: Option<Reply>,
    pub(crate) requests: Vec<Recorded>,
}

/// An HTTP(S) receiver on a free port of 127.0.0.1, answering from its script.
pub(crate) struct Receiver {
    pub(crate) address: SocketAddr,
    pub(crate) script: Arc<Mutex<Script>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    pub(crate) fn start(tls: Option<Arc<ServerConfig>>) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let script = Arc::new(Mutex::new(Script::default()));
        let serving = Arc::clone(&script);
        runtime.spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let script = Arc::clone(&serving);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve(TokioIo::new(socket), script).await,
                        Some(config) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(config);
                            if let Ok(stream) = acceptor.accept(socket).await {
                                serve(TokioIo::new(stream), script).await;
                            }
                        }
                    }
                });
            }
        });
        Receiver {
            address,
            script,
            _runtime: runtime,
        }
    }

    pub(crate) fn reply(&self, status: u16, body: &str) {
        self.lock()
            .replies
            .push_back(Reply::Answer(status, body.to_owned()));
    }

    pub(crate) fn otherwise(&self, reply: Reply) {
        self.lock().otherwise = Some(reply);
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.lock().requests)
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) async fn serve<I>(io: I, script: Arc<Mutex<Script>>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let script = Arc::clone(&script);
        async move {
            let (head, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let reply = {
                let mut script = script.lock().unwrap_or_else(|p| p.into_inner());
                script.requests.push(Recorded {
                    method: head.method.to_string(),
                    target: head.uri.to_string(),
                    headers: head.headers,
                    body,
                });
                script
                    .replies
                    .pop_front()
                    .or_else(|| script.otherwise.clone())
                    .unwrap_or(Reply::Answer(500, "unscripted".to_owned()))
            };
            match reply {
                Reply::Answer(status, body) => {
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() = StatusCode::from_u16(status).expect("status");
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, hyper::Error>(response)
                }
                Reply::Stall => std::future::pending().await,
            }
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

/// A server certificate for `elastic.test` from a CA of this test; the CA's PEM file.
pub(crate) fn tls_receiver_config(dir: &Path) -> (Arc<ServerConfig>, String) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["elastic.test".to_owned()]).expect("params");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let certificate = params.signed_by(&key, &ca, &ca_key).expect("signed");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("CA file");
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(certificate.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config");
    (Arc::new(config), ca_file.display().to_string())
}

/// `DIR/secrets` with the files `secrets` names (mode 0600).
pub(crate) fn secrets(dir: &Path, secrets: &[(&str, &str)]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let secrets_dir = dir.join("secrets");
    std::fs::create_dir_all(&secrets_dir).expect("secrets dir");
    for (name, value) in secrets {
        let path = secrets_dir.join(name);
        std::fs::write(&path, format!("{value}\n")).expect("secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("mode");
    }
    secrets_dir
}

/// `[secrets.NAME]` for each of `names`: sent to `address` only, in TLS when `require_tls`.
pub(crate) fn bound(names: &[&str], address: &str, require_tls: bool) -> SecretBindings {
    let binding = SecretBinding {
        destinations: vec![address.to_owned()],
        require_tls,
    };
    SecretBindings(
        names
            .iter()
            .map(|name| ((*name).to_owned(), binding.clone()))
            .collect(),
    )
}

/// Outputs of `sec` with the one `[[outputs]]` table `output`, started, its secrets bound by
/// `bindings`.
pub(crate) fn outputs(secrets_dir: PathBuf, bindings: SecretBindings, output: &str) -> Outputs {
    let outputs = Outputs::with_secrets(secrets_dir, bindings);
    let problems = outputs.configure(&set(output));
    assert!(problems.is_empty(), "{problems:?}");
    outputs
}

/// A receiver and an HTTP output to it (`http://ADDRESS{path}`, then `settings`, TOML lines),
/// with the secrets `secrets`; the directory lives as long as the output.
pub(crate) fn http_output(
    secrets_of: &[(&str, &str)],
    path: &str,
    settings: &str,
) -> (tempfile::TempDir, Receiver, Outputs) {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = Receiver::start(None);
    // The receiver speaks plain HTTP: its secrets are bound to it in clear.
    let names: Vec<&str> = secrets_of.iter().map(|(name, _)| *name).collect();
    let outputs = outputs(
        secrets(dir.path(), secrets_of),
        bound(&names, &receiver.address.to_string(), false),
        &format!(
            "[[outputs]]\ntype = \"http\"\nurl = \"http://{}{path}\"\n{settings}",
            receiver.address
        ),
    );
    (dir, receiver, outputs)
}

/// A Splunk HEC output to a receiver, its token the secret `hec`, with `settings` (TOML lines)
/// after the ones every HEC test sets.
pub(crate) fn hec(settings: &str) -> (tempfile::TempDir, Receiver, Outputs) {
    let settings = format!("preset = \"splunk_hec\"\ntoken_secret = \"hec\"\n{settings}");
    http_output(&[("hec", HEC_TOKEN)], "", &settings)
}

/// The error of a write of `batch` that must fail (`why`: what the test expects).
pub(crate) fn error_of(outputs: &Outputs, batch: &[ReceivedEvent], why: &str) -> String {
    write(outputs, CLIENT, batch).expect_err(why).to_string()
}

pub(crate) fn events(records: std::ops::RangeInclusive<u64>) -> Vec<ReceivedEvent> {
    records.map(|n| logon(n, CLIENT)).collect()
}

/// The events' XML, one per line, each line ended.
pub(crate) fn lines(events: &[ReceivedEvent]) -> String {
    events.iter().map(|e| format!("{}\n", e.xml)).collect()
}
