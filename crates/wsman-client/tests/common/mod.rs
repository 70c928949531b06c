//! What the client's tests against the real daemon, and against in-test servers, share.
#![allow(dead_code)] // each test file uses a part

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsman_client::shell::{Command, CommandOptions, CommandOutput, Shell, ShellOptions};
use wsman_client::{
    Auth, BlockingClient, Client, ClientError, ClientOptions, Credentials, Endpoint, Resource,
};
use wsman_proto::xml::Element;
use wsman_test::Fixture;

/// Basic as `user` over plain HTTP (the test daemon's loopback listener), each operation
/// waiting at most `timeout`.
pub(crate) fn basic_options(user: &str, password: &str, timeout: Duration) -> ClientOptions {
    let mut o = ClientOptions::default();
    o.auth = Auth::Basic(Credentials::new(user, password));
    o.allow_unencrypted = true;
    o.operation_timeout = timeout;
    o
}

/// A client of `user` (Basic over HTTP, 5 s an operation) to the daemon of `fx`.
pub(crate) fn client_of(fx: &Fixture, user: &str, password: &str) -> Client {
    let options = basic_options(user, password, Duration::from_secs(5));
    let endpoint = Endpoint::parse(&fx.url(), false).expect("the daemon's URL");
    Client::new(endpoint, options).expect("a client")
}

/// `winrm/config` as the client at hand may read it: administrators only.
#[allow(clippy::result_large_err)] // the client's own error, as its `get` returns it
pub(crate) fn get_config(client: &BlockingClient) -> Result<Element, ClientError> {
    client.get(&Resource::new(
        "http://schemas.microsoft.com/wbem/wsman/1/config",
    ))
}

/// `command` run to its end in a new shell of `client` with default options, `stdin` its whole
/// input.
pub(crate) fn run_to_end(client: &BlockingClient, command: &str, stdin: &[u8]) -> CommandOutput {
    client
        .run_command(
            command,
            &[],
            stdin,
            &ShellOptions::default(),
            &CommandOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{command}: {e}"))
}

/// A shell of `client` with default options.
pub(crate) async fn default_shell(client: &Client) -> Shell {
    Shell::open(client, &ShellOptions::default())
        .await
        .unwrap_or_else(|e| panic!("open a shell: {e}"))
}

/// `command` started in `shell` with default options.
pub(crate) async fn start(shell: &Shell, command: &str) -> Command {
    shell
        .run(command, &[], &CommandOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"))
}

/// `command` run to its end in `shell`: its output and exit code.
pub(crate) async fn run_in(shell: &Shell, command: &str) -> CommandOutput {
    start(shell, command)
        .await
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"))
}

/// What a [`spy_proxy`] saw pass, one direction.
pub(crate) type Recording = Arc<Mutex<Vec<u8>>>;

/// A TCP proxy on 127.0.0.1 forwarding to `port`, recording what the server sent and what
/// the client sent.
pub(crate) async fn spy_proxy(port: u16) -> (u16, Recording, Recording) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let proxy_port = listener.local_addr().expect("its address").port();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = recorded.clone();
    let record_sent = sent.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect to the server");
            let record = record.clone();
            let up_record = record_sent.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upstream = tokio::spawn(async move {
                    let mut buffer = vec![0u8; 16 * 1024];
                    while let Ok(n) = client_read.read(&mut buffer).await {
                        if n == 0 || server_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                        up_record
                            .lock()
                            .expect("lock")
                            .extend_from_slice(&buffer[..n]);
                    }
                });
                let mut buffer = vec![0u8; 16 * 1024];
                while let Ok(n) = server_read.read(&mut buffer).await {
                    if n == 0 || client_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                    record.lock().expect("lock").extend_from_slice(&buffer[..n]);
                }
                upstream.abort();
            });
        }
    });
    (proxy_port, recorded, sent)
}

/// A listener on a free loopback port, and its address.
pub(crate) async fn loopback_listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    (listener, addr)
}

/// An in-test HTTP/1.1 server on a loopback port (over TLS with `tls`): for each accepted
/// connection `on_connection()` makes the handler of its requests, which gets each request's
/// head and whole body. A handler that panics drops its connection unanswered.
pub(crate) async fn http_server<C, H, F>(
    tls: Option<tokio_rustls::TlsAcceptor>,
    on_connection: C,
) -> SocketAddr
where
    C: Fn() -> H + Send + 'static,
    H: Fn(Parts, Bytes) -> F + Send + Sync + 'static,
    F: Future<Output = hyper::Response<Full<Bytes>>> + Send + 'static,
{
    let (listener, addr) = loopback_listener().await;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = Arc::new(on_connection());
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        Ok::<_, Infallible>(handler(parts, body).await)
                    }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            });
        }
    });
    addr
}

/// A SOAP answer of `status` with `body`, as the in-test servers send it.
pub(crate) fn soap_response(status: u16, body: String) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/soap+xml;charset=UTF-8")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The WS-Management request in `body`; a body that is not one fails the test.
pub(crate) fn parse_soap(body: &[u8]) -> wsman_proto::Request {
    let text = String::from_utf8_lossy(body).into_owned();
    wsman_proto::parse_request(&text, &wsman_proto::xml::Limits::default())
        .unwrap_or_else(|e| panic!("bad request {e:?}: {text}"))
}
