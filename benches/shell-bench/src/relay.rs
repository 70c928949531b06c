//! A timing relay between a client and wsmand on loopback: every downstream connection gets
//! an upstream connection of its own (connection-bound authentication, NTLM here, stays
//! bound), every request is forwarded whole and its answer read whole, and each exchange is
//! recorded: which connection, what it was (an authentication leg, or the WS-Management
//! action read from the plaintext envelope), when the relay had the request's head and when
//! it had the whole answer.
//!
//! It only sees what is not encrypted, so the client must send plaintext (`winrs -un` with
//! Negotiate: NTLM legs, then unsealed envelopes). The relay adds a hop to every exchange,
//! so its runs give where the time goes, not the headline figure (measured without it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1 as server;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// What one exchange was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// An empty request carrying an `Authorization` token (a handshake leg).
    AuthLeg,
    /// WS-Transfer Create (the shell).
    Create,
    /// `rsp:CommandLine`.
    Command,
    /// `rsp:Send` (winrs sends the end of its stdin).
    Send,
    /// `rsp:Receive`.
    Receive,
    /// `rsp:Signal`.
    Signal,
    /// WS-Transfer Delete (the shell).
    Delete,
    /// Anything else.
    Other,
}

/// One request and its answer, as the relay saw them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exchange {
    /// The downstream connection, numbered in the order they were accepted.
    pub(crate) connection: usize,
    /// What it was.
    pub(crate) kind: Kind,
    /// The relay had the request's head.
    pub(crate) start: Instant,
    /// The relay had the whole answer (and then wrote it downstream).
    pub(crate) end: Instant,
    /// The answer's status.
    pub(crate) status: u16,
}

/// The relay: its address, and what it recorded so far.
pub(crate) struct Relay {
    /// Where clients connect.
    pub(crate) address: SocketAddr,
    log: Arc<Mutex<Vec<Exchange>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Listens on a free loopback port and relays to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let log = log.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let connection = connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(relay_connection(stream, upstream, connection, log.clone()));
                }
            }
        });
        Ok(Self { address, log, task })
    }

    /// Everything recorded since the last call, in the order the answers completed.
    pub(crate) fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One downstream connection and its own upstream connection, until either side closes.
async fn relay_connection(
    downstream: TcpStream,
    upstream: SocketAddr,
    connection: usize,
    log: Arc<Mutex<Vec<Exchange>>>,
) {
    let _ = downstream.set_nodelay(true);
    let Ok(up) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = up.set_nodelay(true);
    let Ok((sender, driver)) = hyper::client::conn::http1::handshake(TokioIo::new(up)).await else {
        return;
    };
    let driver = tokio::spawn(driver);
    let sender = Arc::new(tokio::sync::Mutex::new(sender));
    let service = service_fn(move |request: Request<Incoming>| {
        let sender = sender.clone();
        let log = log.clone();
        async move {
            let start = Instant::now();
            let (response, kind) = forward(&sender, request).await?;
            let end = Instant::now();
            let status = response.status().as_u16();
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Exchange {
                    connection,
                    kind,
                    start,
                    end,
                    status,
                });
            Ok::<_, anyhow::Error>(response)
        }
    });
    let _ = server::Builder::new()
        .serve_connection(TokioIo::new(downstream), service)
        .await;
    driver.abort();
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Sends `request` upstream whole and reads the answer whole.
async fn forward(
    sender: &tokio::sync::Mutex<Sender>,
    request: Request<Incoming>,
) -> anyhow::Result<(Response<Full<Bytes>>, Kind)> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let kind = if body.is_empty() && parts.headers.contains_key(hyper::header::AUTHORIZATION) {
        Kind::AuthLeg
    } else {
        kind_of(&body)
    };
    let mut sender = sender.lock().await;
    sender.ready().await?;
    let answer = sender
        .send_request(Request::from_parts(parts, Full::new(body)))
        .await
        .context("relaying the request")?;
    let (mut parts, body) = answer.into_parts();
    let body = body.collect().await?.to_bytes();
    // The body is sent whole, with its length: not as the chunks it may have come in.
    parts.headers.remove(hyper::header::TRANSFER_ENCODING);
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    Ok((Response::from_parts(parts, Full::new(body)), kind))
}

/// The action of a plaintext envelope, from its `Action` header element.
fn kind_of(body: &[u8]) -> Kind {
    let text = String::from_utf8_lossy(body);
    let Some(action) = action_uri(&text) else {
        return Kind::Other;
    };
    match action.rsplit('/').next().unwrap_or("") {
        "Create" => Kind::Create,
        "Command" => Kind::Command,
        "Send" => Kind::Send,
        "Receive" => Kind::Receive,
        "Signal" => Kind::Signal,
        "Delete" => Kind::Delete,
        _ => Kind::Other,
    }
}

/// The text of the first element whose local name is `Action`.
fn action_uri(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(at) = rest.find("Action") {
        let before = &rest[..at];
        let after = &rest[at + "Action".len()..];
        // `<a:Action ...>` or `<Action ...>`, not `</a:Action>` or an attribute value.
        let opening = before.ends_with('<')
            || (before.ends_with(':') && {
                let tag = before.rfind('<').map_or("", |lt| &before[lt..]);
                !tag.starts_with("</") && !tag.contains(char::is_whitespace)
            });
        if opening && after.starts_with([' ', '>', '\t', '\n', '\r']) {
            let content = &after[after.find('>')? + 1..];
            return Some(content[..content.find('<')?].trim());
        }
        rest = after;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_action_of_an_envelope() {
        let envelope = r#"<s:Envelope xmlns:s="x" xmlns:a="y"><s:Header><a:To>t</a:To><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI><a:Action s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive</a:Action></s:Header></s:Envelope>"#;
        assert_eq!(kind_of(envelope.as_bytes()), Kind::Receive);
        let create = "<Envelope><Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</Action></Envelope>";
        assert_eq!(kind_of(create.as_bytes()), Kind::Create);
        assert_eq!(kind_of(b"<Envelope/>"), Kind::Other);
    }
}
