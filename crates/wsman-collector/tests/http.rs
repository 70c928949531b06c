//! The HTTP output against real HTTP and HTTPS receivers in this process on 127.0.0.1 (hyper's
//! server, rustls), serving the answers Splunk's and Elastic's documentation publish
//! (`tests/fixtures/http/`, with their sources): the requests the output sends are checked
//! against the published request examples, and each published answer (a refusal, a busy
//! server, an indexer acknowledgement not yet given, a bulk answer with failed items, a 429)
//! is read as those documents say. A receiver that never answers fails the batch at the
//! request timeout instead of holding it.

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::{logon, set, write};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use serde_json::Value;
use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::secrets::{SecretBinding, SecretBindings};
use wsman_collector::subscription_outputs::Outputs;
use wsman_collector::subscriptions;

const CLIENT: &str = "web01.example.com";
/// Splunk's example token and channel (fixtures/http/hec-raw-request.txt).
const HEC_TOKEN: &str = "CF179AE4-3C99-45F5-A7CC-3284AA91CF67";
const HEC_CHANNEL: &str = "00872DC6-AC83-4EDE-8AFE-8413C3825C4C";
const API_KEY: &str = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/http")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One request as the receiver read it.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    target: String,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// What the receiver answers a request.
#[derive(Clone)]
enum Reply {
    Answer(u16, String),
    /// Read the request, never answer.
    Stall,
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    /// The answer once `replies` is used up.
    otherwise: Option<Reply>,
    requests: Vec<Recorded>,
}

/// An HTTP(S) receiver on a free port of 127.0.0.1, answering from its script.
struct Receiver {
    address: SocketAddr,
    script: Arc<Mutex<Script>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    fn start(tls: Option<Arc<ServerConfig>>) -> Receiver {
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

    fn reply(&self, status: u16, body: &str) {
        self.lock()
            .replies
            .push_back(Reply::Answer(status, body.to_owned()));
    }

    fn otherwise(&self, reply: Reply) {
        self.lock().otherwise = Some(reply);
    }

    fn requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.lock().requests)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn serve<I>(io: I, script: Arc<Mutex<Script>>)
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
fn tls_receiver_config(dir: &Path) -> (Arc<ServerConfig>, String) {
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
fn secrets(dir: &Path, secrets: &[(&str, &str)]) -> PathBuf {
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
fn bound(names: &[&str], address: &str, require_tls: bool) -> SecretBindings {
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
fn outputs(secrets_dir: PathBuf, bindings: SecretBindings, output: &str) -> Outputs {
    let outputs = Outputs::with_secrets(secrets_dir, bindings);
    let problems = outputs.configure(&set(output));
    assert!(problems.is_empty(), "{problems:?}");
    outputs
}

/// A receiver and an HTTP output to it (`http://ADDRESS{path}`, then `settings`, TOML lines),
/// with the secrets `secrets`; the directory lives as long as the output.
fn http_output(
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
fn hec(settings: &str) -> (tempfile::TempDir, Receiver, Outputs) {
    let settings = format!("preset = \"splunk_hec\"\ntoken_secret = \"hec\"\n{settings}");
    http_output(&[("hec", HEC_TOKEN)], "", &settings)
}

/// The error of a write of `batch` that must fail (`why`: what the test expects).
fn error_of(outputs: &Outputs, batch: &[ReceivedEvent], why: &str) -> String {
    write(outputs, CLIENT, batch).expect_err(why).to_string()
}

fn events(records: std::ops::RangeInclusive<u64>) -> Vec<ReceivedEvent> {
    records.map(|n| logon(n, CLIENT)).collect()
}

/// The events' XML, one per line, each line ended.
fn lines(events: &[ReceivedEvent]) -> String {
    events.iter().map(|e| format!("{}\n", e.xml)).collect()
}

#[test]
fn hec_sends_the_published_raw_request_and_waits_for_the_indexer_acknowledgement() {
    let (_dir, receiver, outputs) = hec(&format!(
        "channel = \"{HEC_CHANNEL}\"\nsourcetype = \"splunkd_access\"\nindex = \"main\"\n"
    ));
    // Splunk's success with ackId 7; Splunk's ack answer, which does not name 7 (not yet);
    // then 7 true, in that answer's shape.
    receiver.reply(200, &fixture("hec-ack-id.json"));
    receiver.reply(200, &fixture("hec-ack-answer.json"));
    receiver.reply(200, r#"{"acks":{"7":true}}"#);
    let batch = events(1..=3);
    write(&outputs, CLIENT, &batch).expect("stored once acknowledged");

    let requests = receiver.requests();
    assert_eq!(
        requests.len(),
        3,
        "the raw request, then the ack query until true"
    );
    let published = fixture("hec-raw-request.txt");
    let mut published = published.lines();
    let (method, target) = published
        .next()
        .and_then(|l| l.split_once(' '))
        .expect("request line");
    let (_, authorization) = published
        .next()
        .and_then(|l| l.split_once(": "))
        .expect("authorization");
    let raw = &requests[0];
    assert_eq!((raw.method.as_str(), raw.target.as_str()), (method, target));
    assert_eq!(raw.header("authorization"), authorization);
    assert_eq!(raw.header("x-splunk-request-channel"), HEC_CHANNEL);
    assert_eq!(
        raw.body,
        lines(&batch).as_bytes(),
        "each event's XML, one per line"
    );

    // The published query's bytes but for its ids (`{"acks":[` ids `]}`, no spaces).
    let published_query = fixture("hec-ack-request.json");
    let (open, rest) = published_query.split_at(published_query.find('[').expect("[") + 1);
    let close = &rest[rest.find(']').expect("]")..];
    for ack in &requests[1..] {
        assert_eq!(ack.method, "POST");
        assert_eq!(
            ack.target,
            format!("/services/collector/ack?channel={HEC_CHANNEL}")
        );
        assert_eq!(ack.header("authorization"), authorization);
        assert_eq!(
            std::str::from_utf8(&ack.body).expect("UTF-8"),
            format!("{open}7{close}"),
            "the ackId HEC gave, as the published query writes its ids"
        );
    }
}

/// Each row of HEC's status code table (`fixtures/http/hec-status-codes.tsv`) answered with
/// its HTTP status and status object: the batch is not stored, the error names Splunk's
/// code and text and says what the row means: the token (1 to 4), the index (7), the data
/// channel (10, 11), acknowledgement off (14), the data (5, 6, 12, 13), or Splunk busy or
/// failing (8, 9), the batch then resent. Code 14 also as the ack endpoint's answer.
#[test]
fn hec_answers_of_splunks_status_code_table_are_read_as_the_table_says() {
    let (_dir, receiver, outputs) = hec("max_backoff_ms = 100\n");
    let batch = events(1..=2);
    let table = fixture("hec-status-codes.tsv");
    let mut rows = 0;
    for row in table.lines().skip(2) {
        let columns: Vec<&str> = row.split('\t').collect();
        let [code, status, _, text] = columns[..] else {
            panic!("row {row:?}")
        };
        let code: u16 = code.parse().expect("code");
        let meaning = match code {
            1..=4 => "the token is refused",
            7 => "the index is refused",
            10 | 11 => "the data channel is refused",
            14 => "indexer acknowledgement is disabled for this token",
            5 | 6 | 12 | 13 => "Splunk refused the batch's data",
            8 | 9 => "Splunk is busy or failing: the batch is resent later",
            _ => panic!("a code the table did not have: {code}"),
        };
        let answer = format!(r#"{{"text":"{text}","code":{code}}}"#);
        // Past a wait for an earlier "busy", the request is made.
        let refused = loop {
            receiver.reply(status.parse().expect("status"), &answer);
            let error = error_of(&outputs, &batch, text);
            if !error.contains("next attempt in") {
                break error;
            }
            receiver.lock().replies.clear();
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(
            refused.contains(&format!("HEC answered {status}"))
                && refused.contains(&format!("{text} (code {code}): {meaning}")),
            "{row}: {refused}"
        );
        rows += 1;
    }
    assert_eq!(rows, 14, "codes 1 to 14");
    // ACK is disabled, as the ack endpoint's answer to the query.
    loop {
        receiver.lock().replies.clear();
        receiver.reply(200, &fixture("hec-ack-id.json"));
        receiver.reply(400, r#"{"text":"ACK is disabled","code":14}"#);
        let error = error_of(&outputs, &batch, "ack off");
        if !error.contains("next attempt in") {
            assert!(
                error.contains("enable it in Splunk, or set ack = false"),
                "{error}"
            );
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Splunk's "Server is busy" (503, code 9) answered again and again: each resend waits
/// longer (100 ms, doubling), and a batch that comes during the wait is answered 503 at once,
/// without a request to Splunk. (After six answers the wait is 1.6 s: the batch written right
/// after cannot come after it.)
#[test]
fn a_busy_hec_is_left_alone_for_a_while() {
    let (_dir, receiver, outputs) = hec("max_backoff_ms = 60000\n");
    let batch = events(1..=2);
    receiver.otherwise(Reply::Answer(503, fixture("hec-busy.json")));
    let mut answered = 0;
    while answered < 6 {
        let error = error_of(&outputs, &batch, "busy");
        if error.contains("Server is busy (code 9)") {
            answered += 1;
        } else {
            assert!(error.contains("next attempt in"), "{error}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    assert_eq!(receiver.requests().len(), 6);
    let waiting = error_of(&outputs, &batch, "in the wait");
    assert!(
        waiting.contains("asked to slow down; next attempt in"),
        "{waiting}"
    );
    assert!(receiver.requests().is_empty(), "no request during the wait");
}

#[test]
fn hec_refusals_and_a_missing_acknowledgement_are_answered_503() {
    let (_dir, receiver, outputs) = hec("ack_timeout_ms = 300\n");
    let batch = events(1..=2);
    let refused = |status: u16, answer: &str| {
        receiver.reply(status, answer);
        let error = error_of(&outputs, &batch, "refused");
        assert!(!error.contains(HEC_TOKEN), "{error}");
        error
    };
    let busy = refused(503, &fixture("hec-busy.json"));
    assert!(busy.contains("Server is busy (code 9)"), "{busy}");
    let token = refused(403, &fixture("hec-invalid-token.json"));
    assert!(token.contains("403") && token.contains("code 4"), "{token}");
    let no_ack = refused(200, &fixture("hec-success.json"));
    assert!(no_ack.contains("no ackId"), "{no_ack}");
    // Splunk's ack answer does not name 7: never acknowledged.
    receiver.otherwise(Reply::Answer(200, fixture("hec-ack-answer.json")));
    let unacknowledged = refused(200, &fixture("hec-ack-id.json"));
    assert!(
        unacknowledged.contains("not acknowledged ackId 7"),
        "{unacknowledged}"
    );
    // The resend once Splunk is well again is stored.
    receiver.reply(200, &fixture("hec-ack-id.json"));
    receiver.reply(200, r#"{"acks":{"7":true}}"#);
    receiver.requests();
    write(&outputs, CLIENT, &batch).expect("stored");
    let requests = receiver.requests();
    assert_eq!(requests[0].body, lines(&batch).as_bytes());
}

#[test]
fn bulk_sends_create_actions_over_tls_and_reads_failed_items() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tls, ca_file) = tls_receiver_config(dir.path());
    let receiver = Receiver::start(Some(tls));
    let address = format!("127.0.0.1:{}", receiver.address.port());
    let outputs = outputs(
        secrets(dir.path(), &[("es", API_KEY)]),
        bound(&["es"], &address, true),
        &format!(
            r#"[[outputs]]
type = "http"
preset = "elastic_bulk"
url = "https://127.0.0.1:{}"
server_name = "elastic.test"
ca_file = "{ca_file}"
api_key_secret = "es"
data_stream = "logs-windows.forwarded-default"
"#,
            receiver.address.port()
        ),
    );
    let batch = events(1..=3);
    // The published answer with failed actions: two items 404, one created.
    receiver.reply(200, &fixture("bulk-failed-actions.json"));
    let failed = error_of(&outputs, &batch, "items failed");
    assert!(
        failed.contains("2 of 3 events not stored")
            && failed.contains("404 document_missing_exception: [_doc][5]: document missing"),
        "{failed}"
    );
    // The resend carries the two items not created; the whole request refused (429).
    receiver.reply(429, &fixture("bulk-rejected.json"));
    let rejected = error_of(&outputs, &batch, "429");
    assert!(
        rejected.contains("429") && rejected.contains("es_rejected_execution_exception"),
        "{rejected}"
    );
    // The next resend, the same two: one answered 409 (its _id exists: stored by an earlier
    // send), which is stored, and one created.
    receiver.reply(
        200,
        r#"{"took":3,"errors":true,"items":[{"create":{"_id":"a","status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}},{"create":{"_id":"b","status":201}}]}"#,
    );
    write(&outputs, CLIENT, &batch).expect("stored");
    assert!(!rejected.contains(API_KEY) && !failed.contains(API_KEY));

    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    let published = fixture("bulk-data-stream-request.ndjson");
    let published: Vec<Value> = published
        .lines()
        .map(|l| serde_json::from_str(l).expect("published line"))
        .collect();
    // The first request carries the three events; each resend the two not created.
    for (request, events) in requests.iter().zip([3, 2, 2]) {
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/logs-windows.forwarded-default/_bulk");
        assert_eq!(request.header("content-type"), "application/x-ndjson");
        assert_eq!(request.header("authorization"), format!("ApiKey {API_KEY}"));
        let text = std::str::from_utf8(&request.body).expect("UTF-8");
        assert!(text.ends_with('\n'), "NDJSON ends with a line feed");
        let sent: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(sent.len(), 2 * events, "an action and a document per event");
        for (pair, ours) in sent.chunks(2).enumerate() {
            let theirs = &published[2 * (pair % (published.len() / 2))..][..2];
            let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
            assert_eq!(keys(&ours[0]), keys(&theirs[0]), "a create action");
            assert!(ours[1]["@timestamp"].is_string() && theirs[1]["@timestamp"].is_string());
            assert_eq!(ours[1]["message"], batch[pair].xml.as_str());
            let id = ours[0]["create"]["_id"].as_str().expect("_id");
            assert_eq!(id.len(), 40, "SHA-1 of the XML: {id}");
        }
    }
}

/// The `_id` and message of each event of a `_bulk` request body, in order.
fn bulk_items(body: &[u8]) -> Vec<(String, String)> {
    let text = std::str::from_utf8(body).expect("UTF-8");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    lines
        .chunks(2)
        .map(|pair| {
            let id = pair[0]["create"]["_id"].as_str().expect("_id").to_owned();
            let message = pair[1]["message"].as_str().expect("message").to_owned();
            (id, message)
        })
        .collect()
}

/// Elastic's guidance for a bulk answer with items rejected for load: resend only those. A
/// batch of four whose answer creates two and rejects two (429) is not stored (the forwarder is
/// answered 503 and resends it whole); the resend reaches Elasticsearch as exactly the two
/// rejected items, so the two created are not sent again (after a data stream's rollover their
/// 409 would not come, and they would be stored twice). The resend stored, the batch is.
#[test]
fn bulk_resends_only_the_items_rejected() {
    let (_dir, receiver, outputs) = http_output(
        &[],
        "",
        "preset = \"elastic_bulk\"\ndata_stream = \"logs-windows.forwarded-default\"\n",
    );
    let created = r#"{"create":{"_index":".ds-logs-windows.forwarded-default-2099.03.08-000001","_id":"x","_version":1,"result":"created","status":201}}"#;
    let rejected = r#"{"create":{"_index":".ds-logs-windows.forwarded-default-2099.03.08-000001","_id":"x","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}}"#;
    receiver.reply(
        200,
        &format!(
            r#"{{"took":12,"errors":true,"items":[{created},{rejected},{created},{rejected}]}}"#
        ),
    );
    receiver.reply(
        200,
        &format!(r#"{{"took":5,"errors":false,"items":[{created},{created}]}}"#),
    );
    let batch = events(1..=4);
    let error = error_of(&outputs, &batch, "two items rejected");
    assert!(
        error.contains("2 of 4 events not stored") && error.contains("2 rejected for load"),
        "{error}"
    );
    write(&outputs, CLIENT, &batch).expect("the rejected items stored: the batch is");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "one request, one resend");
    let first = bulk_items(&requests[0].body);
    let messages: Vec<&str> = first.iter().map(|(_, m)| m.as_str()).collect();
    let xml: Vec<&str> = batch.iter().map(|e| e.xml.as_str()).collect();
    assert_eq!(messages, xml, "the first request carries the batch");
    assert_eq!(
        bulk_items(&requests[1].body),
        vec![first[1].clone(), first[3].clone()],
        "the resend carries exactly the items answered 429"
    );
}

/// A bulk answer whose failed items are of both kinds (`fixtures/http/bulk-item-failures.json`:
/// one created, one 429 `es_rejected_execution_exception`, one 400): the batch is not
/// stored, and the error tells the item Elasticsearch rejected for load (Elastic: retry
/// 429 with backoff) from the one it refused (resending refuses it again), each with its
/// status, type and reason.
#[test]
fn bulk_items_rejected_for_load_are_told_from_items_refused() {
    let (_dir, receiver, outputs) = http_output(
        &[],
        "",
        "preset = \"elastic_bulk\"\ndata_stream = \"logs-windows.forwarded-default\"\n",
    );
    receiver.reply(200, &fixture("bulk-item-failures.json"));
    let error = error_of(&outputs, &events(1..=3), "two items failed");
    assert!(
        error.contains("2 of 3 events not stored")
            && error.contains("1 rejected for load, resent later with backoff (the first: 429 es_rejected_execution_exception: rejected execution of coordinating operation)")
            && error.contains("1 refused; resending refuses them again (the first: 400 document_parsing_exception: "),
        "{error}"
    );
    // The bulk API's published answer with `"errors": false` (its delete item 404
    // `not_found` included): every item stored. Events of another batch: of the batch above,
    // the item created is not sent again.
    receiver.reply(200, &fixture("bulk-example-answer.json"));
    write(&outputs, CLIENT, &events(11..=14)).expect("errors false: stored");
}

#[test]
fn a_receiver_that_never_answers_fails_the_batch_at_the_timeout() {
    let (_dir, receiver, outputs) = http_output(
        &[],
        "/ingest",
        "format = \"json\"\nrequest_timeout_ms = 300\n",
    );
    let batch = events(1..=2);
    receiver.otherwise(Reply::Stall);
    let stalled = error_of(&outputs, &batch, "no answer");
    assert!(
        stalled.contains("no complete answer within 300 ms"),
        "{stalled}"
    );
    receiver.lock().otherwise = None;
    // An answer past the 8 MiB bound is refused, not buffered.
    receiver.reply(200, &"x".repeat(8 * 1024 * 1024 + 1));
    let large = error_of(&outputs, &batch, "too large");
    assert!(large.contains("larger than 8388608 bytes"), "{large}");
    receiver.reply(500, "");
    write(&outputs, CLIENT, &batch).expect_err("500 is not stored");
    receiver.reply(204, "");
    write(&outputs, CLIENT, &batch).expect("2xx: stored");
    let requests = receiver.requests();
    let last = requests.last().expect("a request");
    assert_eq!(last.target, "/ingest");
    assert_eq!(last.header("content-type"), "application/x-ndjson");
    let records: Vec<Value> = std::str::from_utf8(&last.body)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["client"], CLIENT);
    assert_eq!(records[1]["record_id"], 2);
}

fn parse_error(output: &str) -> String {
    let file = Path::new("/etc/wsmand/subscriptions/sec.toml");
    match subscriptions::parse(file, &format!("{}\n{output}", common::QUERY)) {
        Ok(_) => panic!("accepted: {output}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn http_settings_are_checked() {
    let hec = "type = \"http\"\npreset = \"splunk_hec\"\nurl = \"https://splunk.example.com:8088\"";
    for (extra, why) in [
        (
            "token_secret = \"hec\"\nchannel = \"not-a-guid\"",
            "is not a GUID",
        ),
        ("", "needs token_secret"),
        (
            "token_secret = \"hec\"\napi_key_secret = \"es\"",
            "one credential",
        ),
        (
            "token_secret = \"hec\"\ndata_stream = \"logs\"",
            "preset elastic_bulk only",
        ),
        ("token_secret = \"/etc/shadow\"", "secret name"),
        (
            "token_secret = \"hec\"\nformat = \"json\"",
            "XML as it came",
        ),
    ] {
        let error = parse_error(&format!("[[outputs]]\n{hec}\n{extra}\n"));
        assert!(error.contains(why), "{extra}: {error}");
    }
    for (output, why) in [
        (
            "type = \"http\"\nurl = \"https://user:pw@siem.example.com/\"",
            "without user",
        ),
        ("type = \"http\"\nurl = \"ftp://siem.example.com/\"", "not http(s)"),
        (
            "type = \"http\"\nurl = \"http://siem.example.com/\"\nca_file = \"/etc/ca.pem\"",
            "https only",
        ),
        (
            "type = \"http\"\npreset = \"elastic_bulk\"\nurl = \"https://es:9200\"\ndata_stream = \"Logs\"",
            "data_stream",
        ),
        (
            "type = \"http\"\npreset = \"elastic_bulk\"\nurl = \"https://es:9200\"",
            "needs data_stream",
        ),
        (
            "type = \"http\"\nurl = \"https://siem.example.com/\"\nchannel = \"00872DC6-AC83-4EDE-8AFE-8413C3825C4C\"",
            "preset splunk_hec only",
        ),
    ] {
        let error = parse_error(&format!("[[outputs]]\n{output}\n"));
        assert!(error.contains(why), "{output}: {error}");
    }
}

#[test]
fn a_stored_subscription_reaches_only_listed_destinations() {
    use wsman_collector::output_policy::OutputsPolicy;
    let file = Path::new("/etc/wsmand/subscriptions/sec.toml");
    let subscription = subscriptions::parse(
        file,
        &format!(
            "{}\n[[outputs]]\ntype = \"http\"\npreset = \"splunk_hec\"\nurl = \"https://splunk.example.com:8088\"\ntoken_secret = \"hec\"\n",
            common::QUERY
        ),
    )
    .expect("parses");
    let refused = OutputsPolicy::default()
        .admit(&subscription.outputs)
        .expect_err("nothing listed");
    assert!(
        refused.to_string().contains("splunk.example.com:8088"),
        "{refused}"
    );
    let listed = OutputsPolicy {
        destinations: vec!["splunk.example.com:8088".to_owned()],
        secrets: bound(&["hec"], "splunk.example.com:8088", true),
        ..OutputsPolicy::default()
    };
    listed.admit(&subscription.outputs).expect("listed");
}

/// OpenWEC's `RawJson` record as its `doc/formats.md` ("Json Raw format") states it: an object
/// of `meta` (OpenWEC's data about the event) and `data` (the raw XML event), `meta` holding
/// `IpAddress`, `TimeReceived`, `Principal`, `Node`, `Subscription` (`Name`, `Version`,
/// `Uuid`, `Uri`, `ServerRevision`, `ClientRevision`) and `Error`; and `Client`, which
/// OpenWEC's `CHANGELOG.md` says replaces `Principal` in `RawJson`, `Json` and `Nxlog`.
#[test]
fn openwec_raw_json_lines_have_openwecs_structure() {
    let (_dir, receiver, outputs) = http_output(&[], "/wec", "format = \"openwec_raw_json\"\n");
    let batch = events(7..=8);
    receiver.reply(200, "");
    // Written as the collector writes: from a blocking-pool thread of a tokio runtime.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let written = {
        let batch = batch.clone();
        runtime.block_on(async move {
            tokio::task::spawn_blocking(move || write(&outputs, CLIENT, &batch)).await
        })
    };
    written.expect("joined").expect("stored");
    let requests = receiver.requests();
    let text = std::str::from_utf8(&requests[0].body).expect("UTF-8");
    let keys = |v: &Value| -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        keys
    };
    let documented_meta = [
        "IpAddress",
        "TimeReceived",
        "Principal",
        "Client",
        "Node",
        "Subscription",
        "Error",
    ];
    let documented_subscription = [
        "Name",
        "Version",
        "Uuid",
        "Uri",
        "ServerRevision",
        "ClientRevision",
    ];
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), 2);
    for (record, event) in records.iter().zip(&batch) {
        assert_eq!(keys(record), ["data", "meta"]);
        assert_eq!(record["data"], event.xml.as_str(), "the XML as it came");
        let meta = &record["meta"];
        assert!(keys(meta)
            .iter()
            .all(|k| documented_meta.contains(&k.as_str())));
        assert!(keys(&meta["Subscription"])
            .iter()
            .all(|k| documented_subscription.contains(&k.as_str())));
        assert_eq!(meta["Principal"], CLIENT);
        assert_eq!(meta["Client"], CLIENT);
        assert_eq!(meta["TimeReceived"], "2026-11-24T00:00:00Z");
        assert_eq!(meta["Subscription"]["Name"], "sec");
    }
}

/// OpenWEC's `Nxlog` record of recorded Windows events (WinRM/Operational, from a capture of a
/// Windows forwarder) and of transcribed ones (System 7036 of a classic provider with
/// `Binary`, Security 4624), POSTed by the generic output, against the records we wrote from
/// NXLog's `im_msvistalog` field list and OpenWEC's `doc/formats.md`
/// (`fixtures/openwec-nxlog/`, README there): every field's name, type and value, and nothing
/// else.
#[test]
fn openwec_nxlog_records_have_nxlogs_fields() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openwec-nxlog");
    let read = |name: &str| std::fs::read_to_string(fixtures.join(name)).expect("fixture");
    let batch: Vec<ReceivedEvent> = read("events.xml")
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let computer = line
                .split("<Computer>")
                .nth(1)
                .and_then(|rest| rest.split('<').next())
                .expect("a Computer");
            common::received(line.to_owned(), computer, n as u64)
        })
        .collect();
    let expected: Vec<Value> = read("events.nxlog.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(batch.len(), expected.len());
    let (_dir, receiver, outputs) = http_output(&[], "/wec", "format = \"openwec_nxlog\"\n");
    receiver.reply(200, "");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let written = runtime.block_on(async move {
        tokio::task::spawn_blocking(move || write(&outputs, "WIN10$@WINDOMAIN.LOCAL", &batch)).await
    });
    written.expect("joined").expect("stored");
    let requests = receiver.requests();
    assert_eq!(requests[0].header("content-type"), "application/x-ndjson");
    let text = std::str::from_utf8(&requests[0].body).expect("UTF-8");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), expected.len());
    for (record, expected) in records.iter().zip(&expected) {
        assert_eq!(record, expected, "{}", expected["EventID"]);
    }
}
