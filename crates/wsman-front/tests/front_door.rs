//! The front door on real sockets (127.0.0.1, free ports): a small service served through
//! `accept`, `slots`, `over_cap`, `tls` and `http` as both services use them, and raw clients.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::Response;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use wsman_front::head::TooLarge;
use wsman_front::http::HeadLimits;
use wsman_front::slots::ConnectionSlots;
use wsman_front::tls::{KeyFile, TlsError};

const PAGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 9\r\nconnection: close\r\n\r\ntoo large";

fn limits(too_large: Option<TooLarge>) -> HeadLimits {
    HeadLimits {
        read_timeout: Duration::from_secs(30),
        max_bytes: 16 * 1024,
        max_headers: Some(64),
        too_large,
    }
}

fn busy(sequence: u64) -> Vec<u8> {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {sequence}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Serves "ok" through the front door: at most `max` connections, `over_cap` answering past
/// them (else closed).
async fn start(
    max: usize,
    over_cap: Option<fn(u64) -> Vec<u8>>,
    tls: Option<TlsAcceptor>,
    head: HeadLimits,
) -> (SocketAddr, Arc<ConnectionSlots>, watch::Sender<bool>) {
    let std_listener =
        wsman_front::accept::bind("127.0.0.1:0".parse().expect("addr"), 16).expect("bind");
    let listener = TcpListener::from_std(std_listener).expect("listener");
    let address = listener.local_addr().expect("address");
    let slots = Arc::new(ConnectionSlots::default());
    let (stopper, stop) = watch::channel(false);
    let served = Arc::clone(&slots);
    tokio::spawn(async move {
        loop {
            let (stream, remote) =
                wsman_front::accept::next(&listener, &served.accept_failed).await;
            let Ok(slot) = served.take(remote.ip(), max) else {
                if let Some(answer) = over_cap {
                    wsman_front::over_cap::refuse(stream, &served, tls.as_ref(), answer);
                }
                continue;
            };
            let (tls, stop) = (tls.clone(), stop.clone());
            tokio::spawn(async move {
                wsman_front::http::serve(stream, remote, tls.as_ref(), head, stop, |peer| {
                    let text = format!("ok, {} client certificates", peer.map_or(0, |c| c.len()));
                    service_fn(move |_request| {
                        let text = text.clone();
                        async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text)))) }
                    })
                })
                .await;
                drop(slot);
            });
        }
    });
    (address, slots, stopper)
}

/// Writes `request` and reads until the server closes.
async fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    // The server may stop reading early: the rest of the write may fail.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Waits (bounded) until `done` holds: the server's side of a connection is not the client's.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_too_large_gets_the_services_page_and_the_next_connection_is_served() {
    let guard = TooLarge {
        limit: 12 * 1024,
        answer: PAGE,
    };
    let (address, _slots, _stop) = start(8, None, None, limits(Some(guard))).await;
    let huge = format!(
        "GET /?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let answer = exchange(address, huge.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 431 "),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert!(answer.ends_with("too large"), "{answer}");
    // Under the guard's bound but with a body larger than a head may be: served.
    let body = "b".repeat(40 * 1024);
    let post = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(address, post.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    // Without a page, hyper's own bound answers (431, its bare answer).
    let (bare, _slots, _stop) = start(8, None, None, limits(None)).await;
    let answer = exchange(bare, huge.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    assert!(!answer.contains("too large"), "{answer}");
    // More header lines than allowed: 431 too.
    let many: String = (0..100).map(|n| format!("X-{n}: v\r\n")).collect();
    let answer = exchange(
        bare,
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_a_connection_is_answered_or_closed_and_a_freed_slot_serves() {
    let (address, slots, _stop) = start(1, Some(busy), None, limits(None)).await;
    let held = TcpStream::connect(address).await.expect("connect");
    until("the held connection has its slot", || {
        slots.open_connections() == 1
    })
    .await;
    let answer = exchange(address, GET).await;
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("Retry-After: 0"), "{answer}");
    drop(held);
    until("the slot is given back", || slots.open_connections() == 0).await;
    let answer = exchange(address, GET).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    // Closed, not answered, when the service says so.
    let (closing, slots, _stop) = start(1, None, None, limits(None)).await;
    let _held = TcpStream::connect(closing).await.expect("connect");
    until("the held connection has its slot", || {
        slots.open_connections() == 1
    })
    .await;
    assert_eq!(exchange(closing, GET).await, "");
}

/// A self-signed certificate for 127.0.0.1 in `dir`, its key with `mode`.
fn certificate_files(
    dir: &std::path::Path,
    mode: u32,
) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let key_pair = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    let cert = params.self_signed(&key_pair).expect("self-signed");
    let (cert_path, key_path) = (dir.join("front.crt"), dir.join("front.key"));
    std::fs::write(&cert_path, cert.pem()).expect("cert");
    std::fs::write(&key_path, key_pair.serialize_pem()).expect("key");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(mode)).expect("mode");
    (cert_path, key_path, cert.der().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_from_pem_files_serves_http_1_1_and_judges_a_secret_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, der) = certificate_files(dir.path(), 0o644);
    // A key anyone may read: refused as a secret, loaded as a readable file.
    assert!(matches!(
        wsman_front::tls::load(&cert, &key, KeyFile::Private, None),
        Err(TlsError::Read { .. })
    ));
    let served = wsman_front::tls::load(&cert, &key, KeyFile::Readable, None).expect("readable");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("mode");
    let private = wsman_front::tls::load(&cert, &key, KeyFile::Private, None).expect("private");
    assert_eq!(private.leaf.as_ref(), der.as_slice());
    // A certificate file that is not PEM, or holds none.
    std::fs::write(dir.path().join("empty.crt"), "nothing here\n").expect("write");
    assert!(matches!(
        wsman_front::tls::load(&dir.path().join("empty.crt"), &key, KeyFile::Private, None),
        Err(TlsError::Missing { .. })
    ));

    let (address, _slots, _stop) = start(8, None, Some(served.acceptor()), limits(None)).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der.into()).expect("root");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let tcp = TcpStream::connect(address).await.expect("connect");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    tls.write_all(GET).await.expect("write");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.ends_with("ok, 0 client certificates"), "{answer}");
}

/// Serves through [`wsman_front::http::serve_watched`] with a head-wait limit of `limit`: each
/// request is marked busy for `work` before its "ok".
async fn start_watched(limit: Duration, work: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (_stopper, stop) = watch::channel(false);
    tokio::spawn(async move {
        let _stopper = _stopper;
        loop {
            let Ok((stream, remote)) = listener.accept().await else {
                continue;
            };
            let head = HeadLimits {
                read_timeout: limit,
                ..limits(None)
            };
            let stop = stop.clone();
            tokio::spawn(async move {
                wsman_front::http::serve_watched(
                    stream,
                    remote,
                    None,
                    head,
                    stop,
                    |_, activity| {
                        let activity = Arc::clone(activity);
                        service_fn(move |_request| {
                            let activity = Arc::clone(&activity);
                            async move {
                                let busy = activity.begin();
                                tokio::time::sleep(work).await;
                                busy.end(std::time::Instant::now());
                                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
                            }
                        })
                    },
                )
                .await;
            });
        }
    });
    address
}

/// The watchdog of `serve_watched` closes a connection whose next head does not come within
/// the limit (none at all, or half of one), and never one whose request is being answered,
/// however long that takes: the answer comes, then the limit runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watched_head_wait_closes_idle_connections_and_spares_busy_ones() {
    let limit = Duration::from_millis(300);
    let address = start_watched(limit, limit * 4).await;
    // Hang guard only: the limit with a wide margin.
    let guard = Duration::from_secs(30);

    let mut silent = TcpStream::connect(address).await.expect("connect");
    let mut partial = TcpStream::connect(address).await.expect("connect");
    partial
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Half")
        .await
        .expect("half a head");
    for (name, stream) in [("silent", &mut silent), ("partial", &mut partial)] {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(guard, stream.read_to_end(&mut rest)).await;
        assert!(
            matches!(read, Ok(Ok(0))),
            "{name}: closed without an answer: {read:?} {rest:?}"
        );
    }

    // A request answered after four limits is answered on a kept-alive connection; then the
    // idle connection is closed.
    let mut busy = TcpStream::connect(address).await.expect("connect");
    busy.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(guard, busy.read_to_end(&mut answer)).await;
    assert!(matches!(read, Ok(Ok(_))), "{read:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200 ") && answer.ends_with("ok"),
        "{answer}"
    );
}
