//! The PROXY protocol v2 behind a real load balancer: Debian's haproxy in TCP mode with
//! `send-proxy-v2` in front of an HTTPS listener (TLS passes through; the handshake and Basic
//! authentication end at wsmand). The client connects from 127.0.0.2, haproxy from 127.0.0.1:
//! the daemon's log must name 127.0.0.2, an address only haproxy's header carried. And the
//! refusals: a header from an address not in `[HTTP] ProxyProtocolFrom`, and a trusted
//! address that sends none, are closed and logged, and the daemon keeps serving.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use wsman_test::http::curl_post;
use wsman_test::{
    free_port, scratch_dir, skipped, soap, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD,
};

/// A haproxy process, killed when dropped.
pub(crate) struct Haproxy {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// haproxy in TCP mode on `front`, relaying to 127.0.0.1:`back` with a PROXY v2 header; `None`
/// (the test skipped) when haproxy is not installed.
fn haproxy(front: u16, back: u16) -> Option<Haproxy> {
    haproxy_to(front, &[back])
}

/// haproxy in TCP mode on `front`, balancing connections over 127.0.0.1:`backs` (round robin),
/// each with a PROXY v2 header, a node that does not answer its health check (every 300 ms,
/// itself with a header) taken out and a connection it refused sent to another; `None` (the
/// test skipped) when haproxy is not installed.
pub(crate) fn haproxy_to(front: u16, backs: &[u16]) -> Option<Haproxy> {
    if Command::new("haproxy").arg("-v").output().is_err() {
        skipped("WSMAN_TEST_REQUIRE_HAPROXY", "haproxy is not installed");
        return None;
    }
    let dir = scratch_dir("haproxy-", "haproxy's configuration");
    let config = dir.path().join("haproxy.cfg");
    let servers: String = backs
        .iter()
        .enumerate()
        .map(|(i, back)| {
            let check = if backs.len() > 1 {
                " check check-send-proxy inter 300 fall 1 rise 1"
            } else {
                ""
            };
            format!("    server node{i} 127.0.0.1:{back} send-proxy-v2{check}\n")
        })
        .collect();
    std::fs::write(
        &config,
        format!(
            "global\n    maxconn 2000\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n    retries 3\n    option redispatch\n\
             frontend collectors\n    bind 127.0.0.1:{front}\n    default_backend wsmand\n\
             backend wsmand\n    balance roundrobin\n{servers}"
        ),
    )
    .expect("write haproxy.cfg");
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn haproxy");
    let haproxy = Haproxy { child, _dir: dir };
    for _ in 0..400 {
        if TcpStream::connect(("127.0.0.1", front)).is_ok() {
            return Some(haproxy);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("haproxy did not listen on {front}");
}

/// A daemon with an HTTPS listener that trusts 127.0.0.1 (haproxy) to send PROXY headers, and
/// lets them claim loopback clients (haproxy relays the tests' clients on 127.0.0.x).
fn daemon() -> Fixture {
    Fixture::https_with(|config| {
        config.set("HTTP", "ProxyProtocolFrom", "\"127.0.0.1\"");
        config.set("HTTP", "ProxyProtocolAllowLoopback", "true");
    })
    .0
}

/// An Identify as the service account over HTTPS to 127.0.0.1:`port`, from `source`.
fn identify_from(source: &str, port: u16) -> wsman_test::http::CurlOutcome {
    curl_post(
        &format!("https://127.0.0.1:{port}/wsman"),
        Some((SERVICE_ACCOUNT, SERVICE_PASSWORD)),
        "application/soap+xml;charset=UTF-8",
        soap::identify().as_bytes(),
        &["-k", "--interface", source],
    )
}

/// Whether the peer closes a connection from `source` to `port` after `bytes`, without
/// answering anything.
fn closed_without_answer(source: &str, port: u16, bytes: &[u8]) -> bool {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let source: SocketAddr = format!("{source}:0").parse().expect("source");
    socket
        .bind(&source.into())
        .expect("bind the source address");
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().expect("target");
    socket.connect(&target.into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.write_all(bytes).expect("send");
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => answer.is_empty(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => answer.is_empty(),
        // Timed out: left open, not refused.
        Err(_) => false,
    }
}

#[test]
fn haproxy_relays_the_client_address_through_tls_passthrough() {
    let mut fixture = daemon();
    let front = free_port();
    let Some(_haproxy) = haproxy(front, fixture.port) else {
        return;
    };
    let outcome = identify_from("127.0.0.2", front);
    assert_eq!(outcome.response.status, 200, "{}", outcome.stderr);
    fixture.daemon.wait_for_log("authenticated (Basic)");
    let log = fixture.daemon.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("authenticated (Basic)"))
        .expect("the login line");
    assert!(
        line.contains("remote=127.0.0.2:"),
        "the client's address, from haproxy's header: {line}"
    );
}

#[test]
fn a_header_from_an_untrusted_address_and_a_trusted_one_without_are_closed() {
    let mut fixture = daemon();
    let header = wsman_proto::proxy_protocol::encode(
        "192.0.2.7:4000".parse().expect("address"),
        format!("127.0.0.1:{}", fixture.port)
            .parse()
            .expect("address"),
    );
    assert!(
        closed_without_answer("127.0.0.3", fixture.port, &header),
        "a header from 127.0.0.3 (not trusted) must be refused"
    );
    fixture
        .daemon
        .wait_for_log("a PROXY protocol header from an address not in [HTTP] ProxyProtocolFrom");
    // From the trusted address, a TLS client that sends no header: closed, logged.
    let outcome = identify_from("127.0.0.1", fixture.port);
    assert_ne!(outcome.response.status, 200, "served without a header");
    fixture
        .daemon
        .wait_for_log("PROXY protocol header refused: not a PROXY protocol v2 signature");
    // Others are still served: an untrusted client without a header is a plain client.
    let outcome = identify_from("127.0.0.4", fixture.port);
    assert_eq!(outcome.response.status, 200, "{}", outcome.stderr);
    assert!(fixture.daemon.is_running());
}

/// A Get of `winrm/config` from 127.0.0.1 (trusted) with a PROXY header claiming `client`,
/// over plain HTTP: the answer, empty when the connection was closed without one.
fn get_config_claiming(fixture: &Fixture, client: &str) -> String {
    let header = wsman_proto::proxy_protocol::encode(
        format!("{client}:40000").parse().expect("address"),
        format!("127.0.0.1:{}", fixture.port)
            .parse()
            .expect("address"),
    );
    let body = soap::get(soap::CONFIG_URI, &[]);
    let request = format!(
        "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nAuthorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        fixture.service_auth(),
        body.len()
    );
    let mut stream = TcpStream::connect(("127.0.0.1", fixture.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.write_all(&header).expect("header");
    let _ = stream.write_all(request.as_bytes());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_claimed_client_meets_allow_remote_access_and_a_loopback_claim_is_refused() {
    let mut fixture = Fixture::http_with(|config| {
        config.set("HTTP", "ProxyProtocolFrom", "\"127.0.0.1\"");
        config.set("Config.Service", "AllowRemoteAccess", "false");
    });
    // A remote claim is remote: refused by AllowRemoteAccess = false.
    let remote = get_config_claiming(&fixture, "192.0.2.7");
    assert!(remote.starts_with("HTTP/1.1 500"), "{remote}");
    assert!(remote.contains("2150859229"), "{remote}");
    // A loopback claim would pass it: the connection is closed unanswered, and logged.
    for loopback in ["127.0.0.1", "127.0.0.9"] {
        let answer = get_config_claiming(&fixture, loopback);
        assert!(answer.is_empty(), "{loopback} claimed and served: {answer}");
    }
    fixture
        .daemon
        .wait_for_log("a PROXY protocol header claims the loopback client");
    assert!(fixture.daemon.is_running());
}
