//! Bench baseline: a bare hyper HTTP/1.1 server that answers every request with a fixed 200.
//!
//! `benches/identify.sh` runs wrk against this and against wsmand in the same run, so the
//! figures it prints are ratios against what hyper and tokio cost on this machine, not absolute
//! numbers that depend on the host. It does what wsmand's HTTP edge must do at a minimum (read
//! the whole request body, keep the connection alive, answer with a Content-Length) and nothing
//! else.
//!
//! Usage: `bare-responder [PORT]` (default 0: a free port). It binds 127.0.0.1 only and prints
//! `listening on 127.0.0.1:PORT` on stdout once it accepts connections.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::SocketAddr;

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
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/soap+xml;charset=UTF-8"),
    );
    Ok(response)
}

fn parse_port() -> Result<u16, String> {
    match std::env::args().nth(1) {
        None => Ok(0),
        Some(arg) => arg
            .parse::<u16>()
            .map_err(|_| format!("bare-responder: invalid port {arg:?}")),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let port = match parse_port() {
        Ok(port) => port,
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
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(respond))
                .await;
        });
    }
}
