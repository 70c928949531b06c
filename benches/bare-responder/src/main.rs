//! Bench baseline: a bare hyper HTTP/1.1 server that answers every request with a fixed 200.
//!
//! `benches/identify.sh` runs wrk against this and against wsmand in the same run, so the
//! figures it prints are ratios against what hyper and tokio cost on this machine, not absolute
//! numbers that depend on the host. It does what wsmand's HTTP edge must do at a minimum (read
//! the whole request body, keep the connection alive, answer with a Content-Length) and nothing
//! else.
//!
//! `benches/cim-synthetic.sh` runs it with `--replay DIR`: it then answers an Enumerate with
//! the first recorded response of DIR and each later request with the next one (the Pull
//! responses wsmand gave for the same enumeration, recorded in the same run), the request's
//! MessageID put in as RelatesTo. The client loop then parses the very bytes it parses from
//! wsmand, and the ratio is wsmand's cost over pure transport.
//!
//! Usage: `bare-responder [PORT] [--replay DIR]` (default port 0: a free port). It binds
//! 127.0.0.1 only and prints `listening on 127.0.0.1:PORT` on stdout once it accepts
//! connections.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A response body about the size of an Identify response, so both sides write similar bytes.
const BODY: &[u8] = b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header/><s:Body>bare responder: fixed 200</s:Body></s:Envelope>";

async fn respond(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the body like a real service would; a failed read still gets the fixed answer.
    let _ = request.into_body().collect().await;
    Ok(soap(Bytes::from_static(BODY)))
}

fn soap(body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/soap+xml;charset=UTF-8"),
    );
    response
}

/// One recorded response, split around the text of its RelatesTo.
struct Recorded {
    before: Bytes,
    after: Bytes,
}

/// The recorded responses of one enumeration, served in order.
struct Replay {
    responses: Vec<Recorded>,
    next: AtomicUsize,
}

/// The text of the first `<...MessageID>` or `<...RelatesTo>` element: `(start, end)`.
fn element_text(xml: &[u8], local_name: &[u8]) -> Option<(usize, usize)> {
    let mut open = Vec::with_capacity(local_name.len() + 1);
    open.extend_from_slice(local_name);
    open.push(b'>');
    let start = xml.windows(open.len()).position(|w| w == open.as_slice())? + open.len();
    let end = start + xml[start..].iter().position(|b| *b == b'<')?;
    Some((start, end))
}

/// Why the responder cannot start: its message on stderr, exit code 2.
#[derive(Debug)]
enum StartError {
    Read(String, std::io::Error),
    NoRelatesTo(String),
    NoResponses(String),
    NoReplayDir,
    Port(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(path, e) => write!(f, "bare-responder: cannot read {path}: {e}"),
            Self::NoRelatesTo(path) => write!(f, "bare-responder: {path} has no RelatesTo"),
            Self::NoResponses(dir) => write!(f, "bare-responder: no *.xml responses in {dir}"),
            Self::NoReplayDir => write!(f, "bare-responder: --replay needs a directory"),
            Self::Port(arg) => write!(f, "bare-responder: invalid port {arg:?}"),
        }
    }
}

impl std::error::Error for StartError {}

impl Replay {
    fn load(dir: &str) -> Result<Self, StartError> {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| StartError::Read(dir.to_owned(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        paths.sort();
        let mut responses = Vec::new();
        for path in paths {
            let xml = std::fs::read(&path)
                .map_err(|e| StartError::Read(path.display().to_string(), e))?;
            let (start, end) = element_text(&xml, b"RelatesTo")
                .ok_or_else(|| StartError::NoRelatesTo(path.display().to_string()))?;
            let xml = Bytes::from(xml);
            responses.push(Recorded {
                before: xml.slice(..start),
                after: xml.slice(end..),
            });
        }
        if responses.is_empty() {
            return Err(StartError::NoResponses(dir.to_owned()));
        }
        Ok(Self {
            responses,
            next: AtomicUsize::new(0),
        })
    }

    async fn respond(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        // An Enumerate starts the sequence again; anything else takes the next response.
        let index = if body
            .windows(b"enumeration/Enumerate<".len())
            .any(|w| w == b"enumeration/Enumerate<")
        {
            self.next.store(1, Ordering::Relaxed);
            0
        } else {
            self.next.fetch_add(1, Ordering::Relaxed)
        };
        let recorded = &self.responses[index.min(self.responses.len() - 1)];
        let message_id = element_text(&body, b"MessageID").map_or(&[][..], |(s, e)| &body[s..e]);
        let mut out =
            Vec::with_capacity(recorded.before.len() + message_id.len() + recorded.after.len());
        out.extend_from_slice(&recorded.before);
        out.extend_from_slice(message_id);
        out.extend_from_slice(&recorded.after);
        Ok(soap(Bytes::from(out)))
    }
}

struct Args {
    port: u16,
    replay: Option<String>,
}

fn parse_args() -> Result<Args, StartError> {
    let mut args = Args {
        port: 0,
        replay: None,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        if arg == "--replay" {
            args.replay = Some(argv.next().ok_or(StartError::NoReplayDir)?);
        } else {
            args.port = arg.parse::<u16>().map_err(|_| StartError::Port(arg))?;
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (port, replay) = match parse_args().and_then(|a| {
        let replay = a.replay.as_deref().map(Replay::load).transpose()?;
        Ok((a.port, replay.map(Arc::new)))
    }) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("bare-responder: cannot bind 127.0.0.1:{port}: {error}");
            return std::process::ExitCode::from(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(error) => {
            eprintln!("bare-responder: {error}");
            return std::process::ExitCode::from(1);
        }
    }
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("bare-responder: accept failed: {error}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let replay = replay.clone();
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder.keep_alive(true);
            let io = TokioIo::new(stream);
            let _ = match replay {
                Some(replay) => {
                    builder
                        .serve_connection(
                            io,
                            service_fn(move |r| {
                                let replay = replay.clone();
                                async move { replay.respond(r).await }
                            }),
                        )
                        .await
                }
                None => builder.serve_connection(io, service_fn(respond)).await,
            };
        });
    }
}
