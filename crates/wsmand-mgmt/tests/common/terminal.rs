//! The terminal page's WebSocket, from a real WebSocket client (tokio-tungstenite) over TLS
//! that trusts the service's generated certificate.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::Service;

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// How long output or a process's end may take to show (a busy test machine).
const WAIT: Duration = Duration::from_secs(30);

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Opens `/hosts/HOST/terminal/ws?QUERY` with the given cookie and Origin; the refusal's
/// HTTP status as the error.
pub(crate) async fn connect(
    service: &Service,
    host: &str,
    session: Option<&str>,
    origin: Option<&str>,
    query: &str,
) -> Result<Ws, u16> {
    connect_path(
        service,
        &format!("/hosts/{host}/terminal/ws{query}"),
        session,
        origin,
    )
    .await
}

/// Opens the WebSocket at `path` (with its query) with the given cookie and Origin; the
/// refusal's HTTP status as the error.
pub(crate) async fn connect_path(
    service: &Service,
    path: &str,
    session: Option<&str>,
    origin: Option<&str>,
) -> Result<Ws, u16> {
    let url = format!("wss://127.0.0.1:{}{path}", service.port);
    let mut request = url.into_client_request().expect("request");
    if let Some(session) = session {
        request.headers_mut().insert(
            "cookie",
            format!("__Host-wsmand-session={session}")
                .parse()
                .expect("cookie header"),
        );
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("origin header"));
    }
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(service.dir.path().join("mgmt-certs/auto.crt")).expect("cert");
    for cert in wsman_safe::pem::parse_certificates(&pem).expect("PEM") {
        roots.add(cert).expect("trust the service's certificate");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", service.port))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS");
    match tokio_tungstenite::client_async(request, tls).await {
        Ok((ws, response)) => {
            assert_eq!(response.status().as_u16(), 101);
            Ok(ws)
        }
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(error) => panic!("upgrade failed: {error}"),
    }
}

/// A logged-in terminal on `host`: (socket, session, csrf).
pub(crate) async fn open(service: &Service, host: &str) -> (Ws, String, String) {
    let (session, csrf) = service.manager_session();
    let ws = open_as(service, host, &session, &csrf).await;
    (ws, session, csrf)
}

/// A terminal on `host` for an existing session.
pub(crate) async fn open_as(service: &Service, host: &str, session: &str, csrf: &str) -> Ws {
    let origin = format!("https://127.0.0.1:{}", service.port);
    connect(
        service,
        host,
        Some(session),
        Some(&origin),
        &format!("?csrf={csrf}&rows=24&cols=80"),
    )
    .await
    .unwrap_or_else(|status| panic!("refused with {status}: {}", service.log()))
}

/// Types `text` (one binary frame).
pub(crate) async fn type_text(ws: &mut Ws, text: &str) {
    ws.send(Message::Binary(text.as_bytes().to_vec().into()))
        .await
        .expect("send");
}

/// Reads output until a line satisfies `wanted`; returns that line. `seen` keeps the
/// unfinished last line between calls (each line is looked at once: output can be large).
pub(crate) async fn read_line_until(
    ws: &mut Ws,
    seen: &mut String,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + WAIT;
    let mut lines_seen = 0usize;
    loop {
        // Complete lines (and the unfinished one: a prompt has no line end).
        let end = seen.rfind(['\r', '\n']).map_or(0, |at| at + 1);
        if let Some(line) = seen.split(['\r', '\n']).map(str::trim).find(|l| wanted(l)) {
            let line = line.to_owned();
            seen.clear();
            return line;
        }
        lines_seen += seen[..end].matches(['\r', '\n']).count();
        seen.drain(..end);
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Binary(bytes)))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Some(Ok(_))) => {}
            other => panic!("no such line in {lines_seen} lines and {seen:?}: {other:?}"),
        }
    }
}

/// The pids of processes whose command line is exactly `command` (pgrep, from /proc).
pub(crate) fn pids_of(command: &str) -> Vec<u32> {
    let output = Command::new("pgrep")
        .args(["-f", "-x", command])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Waits until `pids_of(command)` is non-empty (`true`) or empty (`false`).
pub(crate) fn wait_for_process(command: &str, present: bool) -> Vec<u32> {
    let deadline = Instant::now() + WAIT;
    loop {
        let pids = pids_of(command);
        if pids.is_empty() != present {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "{command}: still {}",
            if present { "absent" } else { "running" }
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The close frame's code, after any output or text frames.
pub(crate) async fn close_code(ws: &mut Ws, within: Duration) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(within, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

/// The audit records whose event is `event`, as `detail` strings.
pub(crate) fn audited(service: &Service, session: &str, event: &str) -> Vec<String> {
    service
        .audit(session)
        .iter()
        .filter(|r| r["event"] == event)
        .map(|r| r["detail"].as_str().unwrap_or("").to_owned())
        .collect()
}
