//! The TCP output against real receivers in this process on 127.0.0.1: a plain TCP listener
//! and a rustls TLS listener that requires a client certificate (a CA, server and client
//! certificates made by rcgen for this test). The receiver is killed mid-stream: the next
//! batch is answered with an error (503 to the forwarder), nothing that was acknowledged is
//! missing, and the resent batch lands once the receiver is back. A receiver that stops
//! reading fails the batch after the write timeout instead of hanging.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{logon, pki, refusal, set, write, Pki};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::subscription_outputs::Outputs;
use wsman_outputs::OutputError;
use wsman_test::line_receiver::LineReceiver;

const CLIENT: &str = "web01.example.com";

/// A TLS receiver on 127.0.0.1:`port` (0: a free one) with `config`; `peers` counts the
/// connections that showed a client certificate.
fn tls_receiver(port: u16, config: &Arc<ServerConfig>, peers: &Arc<AtomicUsize>) -> LineReceiver {
    let (config, peers) = (Arc::clone(config), Arc::clone(peers));
    LineReceiver::start_with(port, move |socket| {
        let connection = ServerConnection::new(Arc::clone(&config)).expect("server connection");
        let mut stream = StreamOwned::new(connection, socket);
        while stream.conn.is_handshaking() {
            let StreamOwned { conn, sock } = &mut stream;
            conn.complete_io(sock).ok()?;
        }
        if stream
            .conn
            .peer_certificates()
            .is_some_and(|c| !c.is_empty())
        {
            peers.fetch_add(1, Ordering::SeqCst);
        }
        Some(Box::new(stream))
    })
}

fn tcp_output(address: SocketAddr, more: &str) -> String {
    format!("[[outputs]]\ntype = \"tcp\"\naddress = \"{address}\"\nmax_backoff_ms = 200\n{more}")
}

/// The receiver killed mid-stream and started again on the same port.
fn outage_and_resend(tls: Option<&Pki>) {
    let peers = Arc::new(AtomicUsize::new(0));
    let start = |port| match tls {
        Some(pki) => tls_receiver(port, &pki.server, &peers),
        None => LineReceiver::start(port),
    };
    let mut receiver = start(0);
    let port = receiver.port();
    let more = match tls {
        Some(pki) => format!(
            "tls = true\nca_file = \"{}\"\nclient_certificate = \"{}\"\nclient_key = \"{}\"\nserver_name = \"siem.test\"\n",
            pki.ca_file, pki.client_certificate, pki.client_key
        ),
        None => String::new(),
    };
    let outputs = Outputs::new();
    let problems = outputs.configure(&set(&tcp_output(receiver.address(), &more)));
    assert!(problems.is_empty(), "{problems:?}");

    let batches: Vec<Vec<ReceivedEvent>> = (0..8)
        .map(|b| (1..=3).map(|i| logon(b * 3 + i, "web01")).collect())
        .collect();
    let mut acknowledged = Vec::new();
    for batch in &batches[..4] {
        write(&outputs, CLIENT, batch).expect("stored while the receiver runs");
        acknowledged.extend(batch.iter().map(|e| e.xml.clone()));
    }
    assert_eq!(receiver.wait_for(12), acknowledged);
    if tls.is_some() {
        assert_eq!(
            peers.load(Ordering::SeqCst),
            1,
            "one connection, with our certificate"
        );
    }

    // Killed: the next batch is refused, and so is its resend while nothing listens.
    receiver.stop();
    let first_lines = receiver.lines();
    let error = write(&outputs, CLIENT, &batches[4]).expect_err("nothing listens");
    assert!(matches!(error, OutputError::Failed { .. }), "{error}");
    let again = write(&outputs, CLIENT, &batches[4]).expect_err("nothing listens yet");
    assert!(matches!(again, OutputError::Failed { .. }), "{again}");

    // Back on the same port: the resend lands (after the bounded backoff), then the rest.
    let restarted = start(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match write(&outputs, CLIENT, &batches[4]) {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                assert!(
                    e.to_string().contains("next attempt") || e.to_string().contains("connect"),
                    "{e}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("the resend did not land: {e}"),
        }
    }
    acknowledged.extend(batches[4].iter().map(|e| e.xml.clone()));
    for batch in &batches[5..] {
        write(&outputs, CLIENT, batch).expect("stored after the restart");
        acknowledged.extend(batch.iter().map(|e| e.xml.clone()));
    }
    let second_lines = restarted.wait_for(12);
    // Every acknowledged event reached a receiver, in order, none twice.
    let mut received = first_lines.clone();
    received.extend(second_lines);
    assert_eq!(received, acknowledged);
    assert_eq!(first_lines.len(), 12);
}

#[test]
fn plain_tcp_survives_a_killed_receiver_with_nothing_lost() {
    outage_and_resend(None);
}

#[test]
fn tls_with_a_client_certificate_survives_a_killed_receiver_with_nothing_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    outage_and_resend(Some(&pki));
}

#[test]
fn a_receiver_with_another_ca_or_name_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let receiver = tls_receiver(0, &pki.server, &Arc::new(AtomicUsize::new(0)));
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = common::pki(other_dir.path());
    for (ca, name) in [(&other.ca_file, "siem.test"), (&pki.ca_file, "other.test")] {
        let outputs = Outputs::new();
        let problems = outputs.configure(&set(&tcp_output(
            receiver.address(),
            &format!(
                "tls = true\nca_file = \"{ca}\"\nclient_certificate = \"{}\"\nclient_key = \"{}\"\nserver_name = \"{name}\"\n",
                pki.client_certificate, pki.client_key
            ),
        )));
        assert!(problems.is_empty(), "{problems:?}");
        let error = write(&outputs, CLIENT, &[logon(1, "web01")]).expect_err("wrong CA or name");
        assert!(error.to_string().contains("TLS handshake"), "{error}");
    }
    assert!(receiver.lines().is_empty());
}

#[test]
fn unreadable_tls_files_are_named_when_the_outputs_start() {
    let outputs = Outputs::new();
    let problems = outputs.configure(&set(&tcp_output(
        "127.0.0.1:9".parse().expect("address"),
        "tls = true\nca_file = \"/nonexistent/ca.pem\"\n",
    )));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("/nonexistent/ca.pem"), "{problems:?}");
    let error = write(&outputs, CLIENT, &[logon(1, "web01")]).expect_err("not started");
    assert!(matches!(error, OutputError::NotStarted { .. }), "{error}");

    for (more, reason) in [
        ("ca_file = \"/etc/ca.pem\"\n", "need tls = true"),
        ("tls = true\nclient_key = \"/etc/k.pem\"\n", "go together"),
        ("tls = true\nca_file = \"ca.pem\"\n", "not an absolute path"),
        ("write_timeout_ms = 0\n", "write_timeout_ms"),
        // The TLS files are flattened in: a misspelt key is still refused.
        ("tls = true\nclient_kye = \"/etc/k.pem\"\n", "client_kye"),
    ] {
        let error = refusal(&tcp_output("127.0.0.1:9".parse().expect("address"), more));
        assert!(error.contains(reason), "{more}: {error}");
    }
    let error = refusal("[[outputs]]\ntype = \"tcp\"\naddress = \"siem\"\n");
    assert!(error.contains("not host:port"), "{error}");
}

#[test]
fn a_client_key_that_is_no_secret_file_is_refused_when_the_outputs_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let settings = format!(
        "tls = true\nca_file = \"{}\"\nclient_certificate = \"{}\"\nclient_key = \"{}\"\n",
        pki.ca_file, pki.client_certificate, pki.client_key
    );
    let configure = || {
        Outputs::new().configure(&set(&tcp_output(
            "127.0.0.1:9".parse().expect("address"),
            &settings,
        )))
    };
    assert!(configure().is_empty(), "{:?}", configure());
    // Group and others may read it: the key is read as a secret file, or not at all.
    let open = std::fs::Permissions::from_mode(0o644);
    std::fs::set_permissions(&pki.client_key, open).expect("chmod");
    let problems = configure();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(&pki.client_key), "{problems:?}");
    assert!(problems[0].contains("mode 0644"), "{problems:?}");
}

#[test]
fn a_receiver_that_stops_reading_fails_the_batch_after_the_write_timeout() {
    // Accepts and never reads.
    let receiver = LineReceiver::start_with(0, |_| None);
    let outputs = Outputs::new();
    let problems = outputs.configure(&set(&tcp_output(
        receiver.address(),
        "write_timeout_ms = 300\n",
    )));
    assert!(problems.is_empty(), "{problems:?}");
    // Batches of about 1 MiB fill the socket buffers of both ends; then a write waits, and
    // gives up after the timeout.
    let filler = "x".repeat(16 * 1024);
    let big: Vec<ReceivedEvent> = (1..=64)
        .map(|r| {
            let mut e = logon(r, "web01");
            e.xml = format!("{}<!-- {filler} -->", e.xml);
            e
        })
        .collect();
    let mut error = None;
    for _ in 0..64 {
        if let Err(e) = write(&outputs, CLIENT, &big) {
            error = Some(e);
            break;
        }
    }
    let error = error.expect("a receiver that never reads fails a batch");
    assert!(error.to_string().contains("write failed"), "{error}");
}
