#![allow(clippy::unwrap_used)]
//! CredSSP from the client library against the real wsmand (spawned by the wsman-test harness
//! on free loopback ports; needs `target/debug/wsmand`): a service account with an NT hash
//! delegates its password over HTTPS and over HTTP, where every body is sealed by the CredSSP
//! TLS session, a request over 16 KiB going out as `multipart/x-multi-encrypted` (a recording
//! proxy checks the wire); a wrong password, a client that skips the public-key binding and a
//! truncated TSRequest are each refused with a 401 and a log line, the daemon still serving.

mod common;
use common::{run_to_end, spy_proxy};

use std::time::Duration;

use base64::Engine as _;
use wsman_auth::credssp::CredSspInitiator;
use wsman_auth::initiator::ClientCredentials;
use wsman_client::tls::TlsOptions;
use wsman_client::{Auth, BlockingClient, ClientError, ClientOptions, CredSspAuth, Endpoint};
use wsman_test::{free_port, Fixture};

mod streaming;

const USER: &str = "credsspuser";
const PASSWORD: &str = "CredSSP-Test-Pass1";

struct Service {
    fixture: Fixture,
    https_port: u16,
}

/// wsmand with CredSSP on, HTTP (AllowUnencrypted false) and HTTPS listeners, and an
/// NTLM-enabled service account running as root.
fn service() -> Service {
    let https_port = free_port();
    let mut fixture = Fixture::http_with(|c| {
        c.set("Config.Service.Auth", "CredSSP", "true");
        c.set("Config.Service", "AllowUnencrypted", "false");
        c.add_https_listener(https_port);
    });
    fixture.daemon.wait_for_port(https_port);
    fixture.config.add_ntlm_account(USER, PASSWORD, "root");
    Service {
        fixture,
        https_port,
    }
}

fn options(auth: CredSspAuth) -> ClientOptions {
    let mut o = ClientOptions::default();
    o.auth = Auth::CredSsp(auth);
    o.operation_timeout = Duration::from_secs(20);
    let mut tls = TlsOptions::default();
    tls.skip_ca_check = true;
    tls.skip_cn_check = true;
    o.tls = tls;
    o
}

/// The daemon still runs and answers a CredSSP Identify.
fn assert_still_serving(service: &mut Service) {
    assert!(
        service.fixture.daemon.is_running(),
        "{}",
        service.fixture.daemon.stderr()
    );
    let endpoint = Endpoint::parse(&service.fixture.url(), false).unwrap();
    let client = BlockingClient::new(endpoint, options(CredSspAuth::new(USER, PASSWORD))).unwrap();
    assert_eq!(client.identify().unwrap().name, "IdentifyResponse");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn run(client: &BlockingClient, command: &str) -> (String, i64) {
    let out = run_to_end(client, command, b"");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.exit_code,
    )
}

/// Asserts that the server refuses `client`'s Identify as unauthenticated.
fn assert_refused(client: &BlockingClient) {
    let err = client.identify().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Authentication { .. } | ClientError::Unauthorized { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn https_and_sealed_http_with_a_multi_chunk_request() {
    let service = service();
    // HTTPS: plain SOAP inside the outer TLS.
    let endpoint = Endpoint::parse(
        &format!("https://127.0.0.1:{}/wsman", service.https_port),
        false,
    )
    .unwrap();
    let client = BlockingClient::new(endpoint, options(CredSspAuth::new(USER, PASSWORD))).unwrap();
    assert_eq!(client.identify().unwrap().name, "IdentifyResponse");
    let (stdout, code) = run(&client, "id -un");
    assert_eq!((stdout.trim(), code), ("root", 0));

    // HTTP through a recording proxy: everything sealed, a 40 KB command line as 3 chunks.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (proxy_port, recorded, sent) = runtime.block_on(spy_proxy(service.fixture.port));
    let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{proxy_port}/wsman"), false).unwrap();
    let client = BlockingClient::new(endpoint, options(CredSspAuth::new(USER, PASSWORD))).unwrap();
    assert_eq!(client.identify().unwrap().name, "IdentifyResponse");
    let marker = "m".repeat(40_000);
    let (stdout, code) = run(&client, &format!("echo {marker}"));
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), marker);
    let multi =
        b"multipart/x-multi-encrypted;protocol=\"application/HTTP-CredSSP-session-encrypted\"";
    let single = b"multipart/encrypted;protocol=\"application/HTTP-CredSSP-session-encrypted\"";
    let sent = sent.lock().unwrap();
    assert!(
        contains(&sent, multi),
        "the 40 KB request was not sent in 16 KiB groups"
    );
    assert!(contains(&sent, single));
    let wire = recorded.lock().unwrap();
    assert!(contains(&wire, single));
    for plain in [
        &b"IdentifyResponse"[..],
        b"mmmmmmmmmmmmmmmm",
        b"CommandLine",
    ] {
        assert!(!contains(&wire, plain), "plaintext on the wire");
        assert!(!contains(&sent, plain), "plaintext on the wire");
    }
    let log = service.fixture.daemon.stderr();
    assert!(
        log.contains("authenticated (CredSSP, credentials delegated)"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD));
}

#[test]
fn wrong_password_and_skipped_binding_are_refused() {
    let mut service = service();
    for scheme in ["http", "https"] {
        let port = if scheme == "http" {
            service.fixture.port
        } else {
            service.https_port
        };
        let endpoint =
            Endpoint::parse(&format!("{scheme}://127.0.0.1:{port}/wsman"), false).unwrap();
        let client = BlockingClient::new(
            endpoint.clone(),
            options(CredSspAuth::new(USER, "Wrong-Pass-7")),
        )
        .unwrap();
        assert_refused(&client);
        let client = BlockingClient::new(
            endpoint,
            options(CredSspAuth::new(USER, PASSWORD).without_public_key_binding()),
        )
        .unwrap();
        assert_refused(&client);
    }
    let log = service.fixture.daemon.stderr();
    assert!(log.contains("wrong password for 'credsspuser'"), "{log}");
    assert!(log.contains("skipped the public-key binding"), "{log}");
    assert!(!log.contains("Wrong-Pass-7"));
    assert_still_serving(&mut service);
}

#[test]
fn truncated_ts_request_is_refused_with_401_and_a_log_line() {
    let mut service = service();
    let mut initiator = CredSspInitiator::new(&ClientCredentials::new(USER, PASSWORD), "127.0.0.1")
        .unwrap()
        .with_request_tamper(|encoded| {
            let half = encoded.len() / 2;
            encoded.truncate(half);
        });
    let mut connection = service.fixture.connect();
    let mut token = initiator.initial_token().unwrap();
    let mut last = None;
    for _ in 0..6 {
        let authorization = format!(
            "CredSSP {}",
            base64::engine::general_purpose::STANDARD.encode(&token)
        );
        let response = connection.post(Some(&authorization), b"").unwrap();
        assert_eq!(response.status, 401, "{}", response.describe());
        let challenges = response.headers_named("WWW-Authenticate");
        let single = challenges.len() == 1
            && challenges[0].starts_with("CredSSP ")
            && challenges[0].len() > "CredSSP ".len();
        if !single {
            last = Some(response);
            break;
        }
        let server = base64::engine::general_purpose::STANDARD
            .decode(challenges[0]["CredSSP ".len()..].trim())
            .unwrap();
        token = match initiator.step(&server) {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    let refused = last.expect("the truncated TSRequest was refused with the plain challenges");
    assert!(refused
        .headers_named("WWW-Authenticate")
        .contains(&"CredSSP"));
    let log = service.fixture.daemon.stderr();
    assert!(log.contains("TSRequest: malformed"), "{log}");
    assert_still_serving(&mut service);
}

/// Output streamed over CredSSP-sealed HTTP is what `sh` prints here (see `streaming`).
#[test]
fn streamed_output_over_sealed_http_is_the_commands_output() {
    let service = service();
    let endpoint = Endpoint::parse(
        &format!("http://127.0.0.1:{}/wsman", service.fixture.port),
        false,
    )
    .unwrap();
    streaming::check(
        "CredSSP sealed over HTTP",
        endpoint,
        options(CredSspAuth::new(USER, PASSWORD)),
    );
}
