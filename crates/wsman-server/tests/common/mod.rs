//! Test harness: a real service on 127.0.0.1 free ports with a temp config dir, driven with
//! raw HTTP/1.1 over TCP so that every byte on the wire is under the test's control.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsman_proto::ns;
use wsman_proto::shell::responses::{CommandStateValue, ReceiveResponse};
use wsman_proto::xml::{self, Element, Limits};
use wsman_server::engines::{shells::ShellEngine, transfer::config::ConfigEngine};
use wsman_server::{CredentialVerifier, LiveService};
pub use wsman_test::free_port;
/// The harness's own: a parsed response, `Basic` credentials, a free loopback port.
/// (A test binary that logs in only through a real client leaves `basic` unused.)
#[allow(unused_imports)]
pub use wsman_test::http::{basic_auth as basic, Response};

pub const USER: &str = "tester";
pub const PASSWORD: &str = "s3cret-pw";
/// A service account without run-as: authenticates, but is no administrator.
pub const PLAIN_USER: &str = "plain";

pub const SOAP: &str = "application/soap+xml;charset=UTF-8";

pub fn identify_body() -> String {
    wsman_proto::identify::request()
}

/// A request envelope with Action, MessageID, ResourceURI, extra headers and body.
pub fn envelope(action: &str, uri: &str, headers: &str, body: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
         xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"><s:Header>\
         <a:To>http://bogus:5985/wsman</a:To>\
         <a:ReplyTo><a:Address s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>\
         <a:Action s:mustUnderstand=\"true\">{action}</a:Action>\
         <a:MessageID>uuid:aBcD-0001</a:MessageID>\
         <w:ResourceURI s:mustUnderstand=\"true\">{uri}</w:ResourceURI>{headers}</s:Header>\
         <s:Body>{body}</s:Body></s:Envelope>"
    )
}

/// The actions and resource URIs the tests send (each test binary uses some).
#[allow(unused_imports)]
pub use wsman_proto::ns::action::{
    CREATE, DELETE, ENUMERATE, GET, PUT, SHELL_COMMAND as COMMAND, SHELL_RECEIVE as RECEIVE,
    SHELL_SEND as SEND, SHELL_SIGNAL as SIGNAL,
};
#[allow(unused_imports)]
pub use wsman_proto::{
    ns::{config::LISTENER as LISTENER_URI, CONFIG as CONFIG_URI},
    shell::uri::CMD,
};

pub struct TestService {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub service: Arc<LiveService>,
}

impl TestService {
    /// Start with an HTTP listener on 127.0.0.1, Basic + AllowUnencrypted, and `extra` TOML
    /// appended to the `[Config.Service]` table.
    pub async fn start(extra_service: &str) -> Self {
        let extra_service = extra_service.to_owned();
        Self::start_with(move |port, _dir| {
            format!(
                "[Config.Service]\nAllowUnencrypted = true\n{extra_service}\n\
                 [Config.Service.Auth]\nBasic = true\n\n\
                 [[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTP\"\nPort = {port}\n"
            )
        })
        .await
    }

    /// Start with the config.toml `make_config(free port, dir)` returns.
    pub async fn start_with(make_config: impl FnOnce(u16, &Path) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let config = make_config(port, dir.path());
        std::fs::write(dir.path().join("config.toml"), config).unwrap_or_else(|e| panic!("{e}"));
        add_account(dir.path(), USER, Some("root"));
        add_account(dir.path(), PLAIN_USER, None);
        let store = wsman_config::ConfigStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let verifier = CredentialVerifier::new(dir.path(), wsman_os::DEFAULT_PAM_SERVICE)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut starting = LiveService::prepare(
            store,
            "OS: test SP: 0.0 Stack: 3.0".to_owned(),
            "testhost".to_owned(),
        );
        // The configuration tree and the shells, as the daemon serves them.
        let services = starting.services();
        let mut catalog = wsman_server::catalog::Catalog::new();
        catalog.insert(ConfigEngine::new(starting.config_provider(), &services));
        if let Some(shells) = ShellEngine::new(&services) {
            catalog.insert(shells);
        }
        let service = starting.start(catalog, Arc::new(verifier)).await;
        Self {
            dir,
            port,
            service: Arc::new(service),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// [`TestService::start`] with `extra_service`, and a connection to it.
    pub async fn connected(extra_service: &str) -> (Self, Client) {
        let svc = Self::start(extra_service).await;
        let client = svc.connect().await;
        (svc, client)
    }

    pub async fn connect(&self) -> Client {
        Client::connect(self.port).await
    }
}

fn add_account(dir: &Path, name: &str, run_as: Option<&str>) {
    let mut store = wsman_config::accounts::load(dir).unwrap_or_else(|e| panic!("{e}"));
    store
        .add(name, PASSWORD, run_as.map(str::to_owned))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// One keep-alive HTTP/1.1 connection.
pub struct Client {
    pub stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    pub async fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("connect {port}: {e}"));
        Self {
            stream,
            buffer: Vec::new(),
        }
    }

    /// POST a SOAP body to /wsman with optional credentials and extra headers.
    pub async fn post(
        &mut self,
        auth: Option<&str>,
        extra: &[(&str, &str)],
        body: &str,
    ) -> Response {
        let mut headers: Vec<(&str, String)> = vec![("Content-Type", SOAP.to_owned())];
        if let Some(a) = auth {
            headers.push(("Authorization", a.to_owned()));
        }
        for (n, v) in extra {
            headers.push((n, (*v).to_owned()));
        }
        self.send("POST", "/wsman", &headers, body.as_bytes()).await;
        self.read_response().await
    }

    /// An unauthenticated Identify (the `WSMANIDENTIFY: unauthenticated` header).
    pub async fn identify_unauthenticated(&mut self) -> Response {
        self.post(
            None,
            &[("WSMANIDENTIFY", "unauthenticated")],
            &identify_body(),
        )
        .await
    }

    /// Write a request with Content-Length (unless a Transfer-Encoding header is given).
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: testhost:5985\r\n");
        let chunked = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Transfer-Encoding"));
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if !chunked {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        self.write_raw(head.as_bytes()).await;
        if !body.is_empty() {
            self.write_raw(body).await;
        }
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
    }

    /// Read one response (Content-Length framed; the server never sends chunked).
    pub async fn read_response(&mut self) -> Response {
        tokio::time::timeout(Duration::from_secs(30), self.read_response_inner())
            .await
            .unwrap_or_else(|_| panic!("no response within 30 s"))
    }

    async fn read_response_inner(&mut self) -> Response {
        let head_end = loop {
            if let Some(i) = find(&self.buffer, b"\r\n\r\n") {
                break i;
            }
            self.fill().await;
        };
        let head = String::from_utf8_lossy(&self.buffer[..head_end]).into_owned();
        self.buffer.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line in {head:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while self.buffer.len() < length {
            self.fill().await;
        }
        let body: Vec<u8> = self.buffer.drain(..length).collect();
        Response {
            status,
            headers,
            body,
        }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        assert!(n > 0, "connection closed by the server");
        self.buffer.extend_from_slice(&chunk[..n]);
    }

    /// True when the server closed the connection (EOF within `wait`).
    pub async fn is_closed(&mut self, wait: Duration) -> bool {
        let mut chunk = [0u8; 1024];
        matches!(
            tokio::time::timeout(wait, self.stream.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The selector of the shell `shell_id`.
pub fn selector(shell_id: &str) -> String {
    format!("<w:SelectorSet><w:Selector Name=\"ShellId\">{shell_id}</w:Selector></w:SelectorSet>")
}

/// The selector of the shell `shell_id` and an OperationTimeout of `seconds`.
pub fn selector_and_timeout(shell_id: &str, seconds: u32) -> String {
    format!(
        "{}<w:OperationTimeout>PT{seconds}S</w:OperationTimeout>",
        selector(shell_id)
    )
}

/// A connection of the test's administrator ([`USER`]) with a cmd shell of its own open.
pub struct Shell {
    pub conn: Client,
    pub auth: String,
    pub id: String,
}

impl Shell {
    pub async fn open(svc: &TestService) -> Self {
        let mut conn = svc.connect().await;
        let auth = basic(USER, PASSWORD);
        let body = wsman_proto::shell::requests::ShellCreate::default().to_xml();
        let r = conn
            .post(Some(&auth), &[], &envelope(CREATE, CMD, "", &body))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let created = wsman_proto::shell::CreateResponse::parse(&body_of(&r)).unwrap();
        Self {
            conn,
            auth,
            id: created.shell.shell_id,
        }
    }

    /// `action` on this shell with `body`, waiting up to `seconds`: the answer.
    pub async fn call(&mut self, action: &str, seconds: u32, body: &str) -> Response {
        let headers = selector_and_timeout(&self.id, seconds);
        let request = envelope(action, CMD, &headers, body);
        self.conn.post(Some(&self.auth), &[], &request).await
    }

    /// Starts `line` in this shell: its CommandId.
    pub async fn run(&mut self, line: &str) -> String {
        let body = wsman_proto::shell::requests::CommandLine::new(line, Vec::new()).to_xml();
        let r = self.call(COMMAND, 60, &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        wsman_proto::shell::CommandResponse::parse(&body_of(&r))
            .unwrap()
            .command_id
    }
}

/// The SOAP Body of a response.
pub fn body_of(r: &Response) -> Element {
    let doc =
        xml::parse(&r.text(), &Limits::default()).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    doc.child(ns::SOAP, "Body").unwrap().clone()
}

/// The WSManFault code of a fault response (HTTP 500).
pub fn fault_code(r: &Response) -> String {
    assert_eq!(r.status, 500, "{}", r.text());
    body_of(r)
        .child(ns::SOAP, "Fault")
        .and_then(|f| f.child(ns::SOAP, "Detail"))
        .and_then(|d| d.child(ns::WSMAN_FAULT, "WSManFault"))
        .and_then(|w| w.attr("Code").map(str::to_owned))
        .unwrap_or_else(|| panic!("no WSManFault: {}", r.text()))
}

/// Appends a Receive response's stdout and stderr to `out` and `err` (another stream fails
/// the test, as does one for a command other than `command_id` when that is given); the exit
/// code once the command is Done.
pub fn take_output(
    r: &Response,
    command_id: Option<&str>,
    out: &mut Vec<u8>,
    err: &mut Vec<u8>,
) -> Option<i64> {
    assert_eq!(r.status, 200, "{}", r.text());
    let parsed = ReceiveResponse::parse(&body_of(r)).unwrap();
    for s in parsed.streams {
        if let Some(command_id) = command_id {
            assert_eq!(s.command_id.as_deref(), Some(command_id));
        }
        match s.name.as_str() {
            "stdout" => out.extend(s.data),
            "stderr" => err.extend(s.data),
            other => panic!("unrequested stream {other}"),
        }
    }
    match parsed.state {
        Some((_, CommandStateValue::Done { exit_code })) => Some(exit_code.unwrap()),
        _ => None,
    }
}
