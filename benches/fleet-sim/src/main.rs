//! Bench: a simulated Windows fleet for the console (`benches/fleet.sh` with `FLEET_SIM=1`).
//!
//! One light process answers the console sampler's requests for any number of hosts: host `N`
//! is the path `/hN/wsman` on one port, so each host entry of the console is its own client
//! with its own connections, while the fleet costs one process. Every answer is a recorded
//! Windows Server 2012 answer (`crates/wsman-proto/tests/fixtures/windows/health/`, the
//! provenance in that README; Identify is the recorded Server 2012 R2 one): an Enumerate gets
//! the recording of the class its ResourceURI names, a Pull the recording that followed the
//! enumeration context it carries (the service list: 150 services in one Enumerate and three
//! Pulls, about 195 KB), any other class Windows' recorded fault for a class it does not serve
//! (HTTP 500, which the sampler's processor read falls back from). Each answer waits
//! `--latency-ms` first, as a host across a network would. The one change to the recorded
//! bytes is `RelatesTo`, set to the request's MessageID. Credentials are not checked.
//!
//! `GET /stats` answers one line of figures over the hosts: how many were sampled (an Enumerate
//! of Win32_OperatingSystem, once per sample), the spread of their latest samples (a round's
//! length, while rounds are shorter than the interval) and the longest time any host went
//! between two samples since the last `GET /stats?reset`.
//!
//! Usage: `fleet-sim FIXTURES_DIR [--latency-ms N] [--tls]`; binds 127.0.0.1 on a free port
//! and prints `listening PORT` once it accepts connections.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Largest request body read (the sampler's requests are a few KB).
const MAX_REQUEST: usize = 512 * 1024;

/// Every recorded answer, by what asks for it.
struct Recordings {
    identify: String,
    enumerate: HashMap<&'static str, String>,
    pull: HashMap<String, String>,
    not_served: String,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of the first `NAME` element (any prefix) of `xml` that has text.
fn element_text(xml: &str, name: &str) -> Option<String> {
    let mut rest = xml;
    while let Some(at) = rest.find(name) {
        let before = &rest[..at];
        let after = &rest[at + name.len()..];
        rest = after;
        let tag = before.rsplit('<').next().unwrap_or_default();
        let opening = before.contains('<')
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == ':')
            && !tag.starts_with('/');
        if !opening || !matches!(after.chars().next(), Some('>' | ' ')) {
            continue;
        }
        let Some(close) = after.find('>') else {
            continue;
        };
        if after[..close].ends_with('/') {
            continue;
        }
        let text = after[close + 1..].split('<').next().unwrap_or_default();
        if !text.is_empty() {
            return Some(text.to_owned());
        }
    }
    None
}

impl Recordings {
    fn load(fixtures: &Path) -> Self {
        let health = fixtures.join("health/server_2012");
        let recorded = |name: &str| read(&health.join(format!("{name}.xml")));
        let nic = "Win32_PerfRawData_Tcpip_NetworkInterface";
        let mut enumerate = HashMap::new();
        for class in [
            "Win32_Processor",
            "Win32_OperatingSystem",
            "Win32_LogicalDisk",
            "Win32_Service",
            nic,
        ] {
            enumerate.insert(class, recorded(&format!("{class}_star_000")));
        }
        let mut pull = HashMap::new();
        let chains: [Vec<String>; 2] = [
            vec![format!("{nic}_star_000"), format!("{nic}_star_001")],
            (0..4)
                .map(|n| format!("Win32_Service_star_00{n}"))
                .collect(),
        ];
        for chain in chains {
            for pair in chain.windows(2) {
                let context = element_text(&recorded(&pair[0]), "EnumerationContext")
                    .unwrap_or_else(|| panic!("{} hands out a context", pair[0]));
                pull.insert(context, recorded(&pair[1]));
            }
        }
        Self {
            identify: read(&fixtures.join("identify/identify.response.anonymous.server2012r2.xml")),
            enumerate,
            pull,
            not_served: read(&fixtures.join("faults/fault.enumerate-class-not-found.xml")),
        }
    }

    /// The status and recorded answer for `body`, and whether it is a sample's Enumerate of
    /// Win32_OperatingSystem.
    fn choose(&self, body: &str) -> (StatusCode, &str, bool) {
        let not_served = (
            StatusCode::INTERNAL_SERVER_ERROR,
            self.not_served.as_str(),
            false,
        );
        if body.contains("wsmanidentity.xsd") && body.contains(":Identify") {
            return (StatusCode::OK, &self.identify, false);
        }
        if body.contains("enumeration/Pull<") {
            let context = element_text(body, "EnumerationContext").unwrap_or_default();
            return match self.pull.get(&context) {
                Some(answer) => (StatusCode::OK, answer, false),
                None => not_served,
            };
        }
        if body.contains("enumeration/Enumerate<") {
            let uri = element_text(body, "ResourceURI").unwrap_or_default();
            let class = uri.rsplit('/').next().unwrap_or_default();
            return match self.enumerate.get(class) {
                Some(answer) => (StatusCode::OK, answer, class == "Win32_OperatingSystem"),
                None => not_served,
            };
        }
        not_served
    }
}

/// `xml` with its RelatesTo set to the MessageID of `request`.
fn with_relates_to(xml: &str, request: &str) -> String {
    let id = element_text(request, "MessageID").unwrap_or_default();
    let Some(start) = xml.find("RelatesTo>").map(|i| i + "RelatesTo>".len()) else {
        return xml.to_owned();
    };
    let end = start + xml[start..].find('<').unwrap_or(0);
    format!("{}{id}{}", &xml[..start], &xml[end..])
}

/// When each host was last sampled, and the longest gap between two of its samples.
#[derive(Default)]
struct Stats {
    hosts: HashMap<u32, (Instant, Duration)>,
    requests: u64,
}

impl Stats {
    fn sampled(&mut self, host: u32) {
        let now = Instant::now();
        self.hosts
            .entry(host)
            .and_modify(|(last, gap)| {
                *gap = (*gap).max(now - *last);
                *last = now;
            })
            .or_insert((now, Duration::ZERO));
    }

    fn line(&mut self, reset: bool) -> String {
        let lasts = self.hosts.values().map(|(last, _)| *last);
        let spread = match (lasts.clone().min(), lasts.max()) {
            (Some(first), Some(last)) => last - first,
            _ => Duration::ZERO,
        };
        let gap = self.hosts.values().map(|(_, gap)| *gap).max();
        let line = format!(
            "hosts_sampled={} round_spread_ms={} max_gap_ms={} requests={}\n",
            self.hosts.len(),
            spread.as_millis(),
            gap.unwrap_or_default().as_millis(),
            self.requests
        );
        if reset {
            for (_, gap) in self.hosts.values_mut() {
                *gap = Duration::ZERO;
            }
        }
        line
    }
}

struct Sim {
    recordings: Recordings,
    latency: Duration,
    stats: Mutex<Stats>,
}

fn answer(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/soap+xml;charset=UTF-8"),
    );
    response
}

async fn respond(
    sim: Arc<Sim>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if path == "/stats" {
        let reset = request.uri().query() == Some("reset");
        let line = sim
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .line(reset);
        return Ok(answer(StatusCode::OK, line));
    }
    let host = path
        .strip_prefix("/h")
        .and_then(|rest| rest.strip_suffix("/wsman"))
        .and_then(|n| n.parse::<u32>().ok());
    let body = Limited::new(request.into_body(), MAX_REQUEST)
        .collect()
        .await;
    let (Some(host), Ok(body)) = (host, body) else {
        return Ok(answer(StatusCode::NOT_FOUND, String::new()));
    };
    let body = String::from_utf8_lossy(&body.to_bytes()).into_owned();
    tokio::time::sleep(sim.latency).await;
    let (status, xml, sample) = sim.recordings.choose(&body);
    {
        let mut stats = sim
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        stats.requests += 1;
        if sample {
            stats.sampled(host);
        }
    }
    Ok(answer(status, with_relates_to(xml, &body)))
}

/// A TLS acceptor with a self-signed certificate for 127.0.0.1 (the console skips the CA
/// check for these hosts, as for a lab's self-signed hosts).
fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("a self-signed certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        cert.key_pair.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("the certificate");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut fixtures = None;
    let mut latency = Duration::ZERO;
    let mut tls = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--latency-ms" => {
                let ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--latency-ms N");
                latency = Duration::from_millis(ms);
            }
            "--tls" => tls = true,
            _ => fixtures = Some(PathBuf::from(arg)),
        }
    }
    let fixtures = fixtures.expect("usage: fleet-sim FIXTURES_DIR [--latency-ms N] [--tls]");
    let sim = Arc::new(Sim {
        recordings: Recordings::load(&fixtures),
        latency,
        stats: Mutex::default(),
    });
    // One worker: the simulated fleet is meant to cost the machine little beside the console.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(serve(sim, tls.then(tls_acceptor)));
}

async fn serve(sim: Arc<Sim>, tls: Option<tokio_rustls::TlsAcceptor>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    println!("listening {port}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (sim, tls) = (Arc::clone(&sim), tls.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| respond(Arc::clone(&sim), request));
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let io = TokioIo::new(stream);
                        let _ = http1::Builder::new().serve_connection(io, service).await;
                    }
                }
                None => {
                    let io = TokioIo::new(stream);
                    let _ = http1::Builder::new().serve_connection(io, service).await;
                }
            }
        });
    }
}
