//! HTTP for tests: a raw HTTP/1.1 client over `TcpStream` (for what curl cannot send: a lying
//! Content-Length, stalled headers, many idle connections) and a curl wrapper (the issue's
//! "curl for the bad inputs").

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::process;

/// How long a test waits for any single response before calling it a hang.
pub const RESPONSE_DEADLINE: Duration = Duration::from_secs(30);

/// A parsed HTTP response.
#[derive(Clone, Debug, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header named `name`, in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Status, headers and body, for assertion messages.
    pub fn describe(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        format!(
            "HTTP {}\n{}\n\n{}",
            self.status,
            headers.join("\n"),
            self.text()
        )
    }
}

/// `Basic base64(user:password)`.
pub fn basic_auth(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// One kept-alive TCP connection to 127.0.0.1:`port`.
pub struct Connection {
    reader: BufReader<TcpStream>,
    port: u16,
}

impl Connection {
    /// Connect with the harness's read timeout.
    pub fn open(port: u16) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(5),
        )?;
        stream.set_read_timeout(Some(RESPONSE_DEADLINE))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream),
            port,
        })
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Write raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()
    }

    /// Write the head of a POST to /wsman with a Content-Length of `content_length` and the
    /// extra header lines given; the body is sent separately.
    pub fn send_head(
        &mut self,
        authorization: Option<&str>,
        content_length: usize,
        extra_headers: &[(&str, &str)],
    ) -> io::Result<()> {
        let mut head = format!(
            "POST /wsman HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {content_length}\r\n",
            self.port
        );
        if let Some(value) = authorization {
            head.push_str(&format!("Authorization: {value}\r\n"));
        }
        for (name, value) in extra_headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.send_raw(head.as_bytes())
    }

    /// POST `body` to /wsman and read the answer.
    pub fn post(&mut self, authorization: Option<&str>, body: &[u8]) -> io::Result<Response> {
        self.post_with(authorization, body, &[])
    }

    /// POST with extra headers.
    pub fn post_with(
        &mut self,
        authorization: Option<&str>,
        body: &[u8],
        extra_headers: &[(&str, &str)],
    ) -> io::Result<Response> {
        self.send_head(authorization, body.len(), extra_headers)?;
        self.send_raw(body)?;
        self.read_response()
    }

    /// Read one response (status line, headers, Content-Length or chunked body).
    pub fn read_response(&mut self) -> io::Result<Response> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
        let mut response = Response {
            status,
            ..Response::default()
        };
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(bad("connection closed inside the headers".to_owned()));
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((name, value)) = trimmed.split_once(':') {
                response
                    .headers
                    .push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        if chunked {
            response.body = self.read_chunked()?;
        } else if let Some(length) = response.header("content-length") {
            let length: usize = length
                .parse()
                .map_err(|_| bad(format!("bad Content-Length {length:?}")))?;
            let mut body = vec![0; length];
            self.reader.read_exact(&mut body)?;
            response.body = body;
        }
        Ok(response)
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let mut size_line = String::new();
            self.reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad(format!("bad chunk size {size_line:?}")))?;
            let mut chunk = vec![0; size + 2];
            self.reader.read_exact(&mut chunk)?;
            chunk.truncate(size);
            body.extend_from_slice(&chunk);
            if size == 0 {
                return Ok(body);
            }
        }
    }

    /// Wait (bounded by `deadline`) until the server closes the connection: a read returns EOF
    /// or a reset. Returns false if the connection is still open at the deadline. Any bytes the
    /// server sends first (e.g. a 408 response) are skipped.
    pub fn closed_by_peer_within(&mut self, deadline: Duration) -> bool {
        let start = Instant::now();
        let _ = self
            .reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(250)));
        let mut buffer = [0u8; 1024];
        loop {
            match self.reader.read(&mut buffer) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    if start.elapsed() > deadline {
                        return false;
                    }
                }
                Err(_) => return true,
            }
        }
    }
}

fn bad(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// POST once on a fresh connection.
pub fn post(port: u16, authorization: Option<&str>, body: &[u8]) -> Response {
    let mut connection = Connection::open(port).expect("connect to wsmand");
    connection
        .post(authorization, body)
        .expect("read a response from wsmand")
}

/// One POST of `body` to the daemon on `port` with Basic as `user`.
pub fn post_as(port: u16, user: &str, password: &str, body: &str) -> Response {
    post(port, Some(&basic_auth(user, password)), body.as_bytes())
}

/// What curl saw.
#[derive(Debug)]
pub struct CurlOutcome {
    pub response: Response,
    pub stderr: String,
    pub exit_code: i32,
}

/// An Identify with curl over HTTPS to 127.0.0.1:`port` as the service account, the server's
/// certificate unchecked (`-k`): what a client of a generated certificate sees.
pub fn curl_https_identify(port: u16) -> CurlOutcome {
    curl_post(
        &format!("https://127.0.0.1:{port}/wsman"),
        Some((crate::SERVICE_ACCOUNT, crate::SERVICE_PASSWORD)),
        "application/soap+xml;charset=UTF-8",
        crate::soap::identify().as_bytes(),
        &["-k"],
    )
}

/// `curl` POSTing `body` to `url` with `Content-Type: content_type`, Basic credentials when
/// given, and `extra` arguments (e.g. `-k`). The body goes through a file so that any bytes,
/// including invalid UTF-8, reach the server unchanged.
pub fn curl_post(
    url: &str,
    credentials: Option<(&str, &str)>,
    content_type: &str,
    body: &[u8],
    extra: &[&str],
) -> CurlOutcome {
    let dir = tempfile::tempdir().expect("curl temp dir");
    let body_file = dir.path().join("request");
    let headers_file = dir.path().join("headers");
    let response_file = dir.path().join("response");
    std::fs::write(&body_file, body).expect("write request body");
    let mut command = Command::new("curl");
    command
        .args(["-sS", "--max-time", "60", "-X", "POST"])
        .arg("-H")
        .arg(format!("Content-Type: {content_type}"))
        .arg("--data-binary")
        .arg(format!("@{}", body_file.display()))
        .arg("-D")
        .arg(&headers_file)
        .arg("-o")
        .arg(&response_file)
        .args(extra);
    if let Some((user, password)) = credentials {
        command
            .arg("--basic")
            .arg("-u")
            .arg(format!("{user}:{password}"));
    }
    command.arg(url);
    let finished = process::run(&mut command, None, Duration::from_secs(90));
    let mut response = Response::default();
    let headers = std::fs::read_to_string(&headers_file).unwrap_or_default();
    // With `100 Continue` there are several header blocks: the last one is the answer.
    for block in headers.split("\r\n\r\n").filter(|b| !b.trim().is_empty()) {
        let mut lines = block.lines();
        response.status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        response.headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
    }
    response.body = std::fs::read(&response_file).unwrap_or_default();
    CurlOutcome {
        response,
        exit_code: finished.code(),
        stderr: finished.stderr,
    }
}
