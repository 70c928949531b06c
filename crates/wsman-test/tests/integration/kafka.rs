//! The collector's Kafka output against librdkafka's mock cluster, hosted by a separate
//! Python process (PyPI's confluent-kafka wheel, `tests/kafka/mock_cluster.py`, brokers on
//! 127.0.0.1 only), and read back with confluent-kafka's consumer (`tests/kafka/consume.py`):
//! clients independent of the producer inside wsmand.
//!
//! The forwarder is the raw-socket one of `collector.rs` (real HTTP, Basic, UTF-16 SLDC
//! batches built by the push side's message builder). Invariants: every event acknowledged is
//! in the topic, at least once, keyed by the sender's authenticated name and in order for that
//! key; while the broker process is stopped (SIGSTOP) longer than `message_timeout_ms`, a
//! batch is answered 503 and its bookmark is not stored; once it goes on (SIGCONT), the resent
//! batch arrives. A bad Kafka output is refused by `wsmand check-config` with its reason.
//!
//! Needs `.venv` with `tests/interop/requirements.txt` (confluent-kafka), which
//! `scripts/test.sh` sets up before the cargo tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use wsman_test::{Fixture, SERVICE_ACCOUNT};

use crate::collector::{
    batch, check_config_refuses, collector_with, deliver, deliver_acknowledged, enumerate,
    numbered_events, post, resend_until_acknowledged,
};

const TOPIC: &str = "wec-kafka";

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let python = repository().join(".venv/bin/python");
    let probe = Command::new(&python)
        .args(["-c", "import confluent_kafka"])
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "{} with confluent-kafka is needed: python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt",
        python.display()
    );
    python
}

/// The mock cluster's process; killed (and reaped) when dropped.
struct MockCluster {
    child: Child,
    bootstrap: String,
}

impl MockCluster {
    fn start() -> MockCluster {
        let mut child = Command::new(python())
            .arg(repository().join("tests/kafka/mock_cluster.py"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the mock cluster");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("bootstrap line");
        let bootstrap = line.trim().to_owned();
        assert!(
            bootstrap.starts_with("127.0.0.1:"),
            "mock cluster address {bootstrap:?}"
        );
        MockCluster { child, bootstrap }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Every message of the topic, to its end, read by an independent consumer.
    fn messages(&self) -> Vec<Value> {
        let output = Command::new(python())
            .arg(repository().join("tests/kafka/consume.py"))
            .args([&self.bootstrap, TOPIC, "60"])
            .output()
            .expect("consume");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn record_id(xml: &str) -> u64 {
    xml.split("<EventRecordID>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no EventRecordID in {xml}"))
}

/// A mock cluster, and a collector (its state in the directory returned) writing the `kafka`
/// subscription's events to the file returned and to the cluster's topic `wec-kafka`, a
/// message the cluster has not confirmed within `message_timeout_ms` failing its batch.
fn collector_and_cluster(
    message_timeout_ms: u64,
) -> (MockCluster, tempfile::TempDir, PathBuf, Fixture) {
    let cluster = MockCluster::start();
    let state = tempfile::tempdir().expect("tempdir");
    let file = state.path().join("out.xml");
    let database = state.path().join("wec.sqlite");
    let text = subscription(&cluster.bootstrap, &file, message_timeout_ms);
    // The subscription's name is the topic's {subscription}.
    let fixture = collector_with("kafka", &text, &database);
    (cluster, state, file, fixture)
}

fn subscription(bootstrap: &str, file: &Path, message_timeout_ms: u64) -> String {
    format!(
        "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n\
         heartbeat_seconds = 60\n\
         [[outputs]]\ntype = \"file\"\npath = \"{}\"\nformat = \"raw\"\n\
         [[outputs]]\ntype = \"kafka\"\nbrokers = [\"{bootstrap}\"]\ntopic = \"wec-{{subscription}}\"\n\
         format = \"raw\"\nmessage_timeout_ms = {message_timeout_ms}\n[outputs.properties]\n\"linger.ms\" = \"1\"\n",
        file.display()
    )
}

#[test]
fn acknowledged_events_are_in_the_topic_in_order_per_host_across_a_broker_outage() {
    let (cluster, _state, file, mut fixture) = collector_and_cluster(2000);
    let port = fixture.port;
    let offer = enumerate(port);
    let events = numbered_events(50);
    for (message, chunk) in (1..=3).zip(events[0..30].chunks(10)) {
        deliver_acknowledged(port, &offer, message, chunk);
    }

    // The broker stops answering for longer than message_timeout_ms: 503, nothing stored.
    cluster.signal("-STOP");
    let refused = deliver(port, &offer, &batch(&offer, 4, &events[30..40], true));
    assert_eq!(
        refused.status, 503,
        "a batch Kafka did not confirm is refused"
    );
    assert_eq!(
        enumerate(port).bookmark,
        Some(30),
        "the refused batch's bookmark must not be stored"
    );
    cluster.signal("-CONT");

    // The forwarder resends until it is acknowledged (the producer may still be reconnecting).
    resend_until_acknowledged(
        (port, &offer),
        4,
        &events[30..40],
        (Duration::from_secs(60), Duration::from_millis(500)),
        "broker",
    );
    deliver_acknowledged(port, &offer, 5, &events[40..50]);
    assert_eq!(enumerate(port).bookmark, Some(50));
    fixture.assert_still_serving();

    let messages = cluster.messages();
    let sent: Vec<u64> = events.iter().map(|e| record_id(e)).collect();
    // Keyed by who authenticated, all in the one partition of that key, in order there.
    assert!(
        messages.iter().all(|m| m["key"] == SERVICE_ACCOUNT),
        "{messages:?}"
    );
    let partitions: std::collections::BTreeSet<u64> = messages
        .iter()
        .map(|m| m["partition"].as_u64().expect("partition"))
        .collect();
    assert_eq!(
        partitions.len(),
        1,
        "one key, one partition: {partitions:?}"
    );
    let mut order: Vec<(u64, u64)> = messages
        .iter()
        .map(|m| {
            let value = m["value"].as_str().expect("value");
            (m["offset"].as_u64().expect("offset"), record_id(value))
        })
        .collect();
    order.sort();
    let mut first_seen = Vec::new();
    for (_, record) in &order {
        if !first_seen.contains(record) {
            first_seen.push(*record);
        }
    }
    assert_eq!(
        first_seen, sent,
        "every event at least once, in the order sent"
    );
    // Each message is the event as the forwarder sent it.
    for message in &messages {
        let value = message["value"].as_str().expect("value");
        let record = record_id(value);
        assert!(value.contains(&format!(">e{record}</Data>")), "{value}");
    }
    // The file output got every event too (at least once: it had taken the refused batch).
    let written = std::fs::read_to_string(&file).expect("file output");
    for record in &sent {
        assert!(written.contains(&format!("<EventRecordID>{record}</EventRecordID>")));
    }
    fixture.daemon.stop();
}

/// SIGTERM while a batch waits on a broker that does not answer (stopped): the producer hands
/// back what it holds, so the batch is answered 503 (not acknowledged: the forwarder resends it
/// to a collector that is up) and the daemon stops, rather than hold both until the message
/// timeout (here ten minutes) runs out.
#[test]
fn a_stop_hands_back_the_batch_a_silent_broker_holds() {
    let (cluster, _state, file, mut fixture) = collector_and_cluster(600_000);
    let port = fixture.port;
    let offer = enumerate(port);
    let events = numbered_events(20);
    // Connected: a batch is confirmed.
    deliver_acknowledged(port, &offer, 1, &events[0..10]);

    cluster.signal("-STOP");
    let (path, body) = (offer.path.clone(), batch(&offer, 2, &events[10..20], true));
    let pending = std::thread::spawn(move || {
        post(
            port,
            &path,
            &body,
            &[
                ("Content-Type", "application/soap+xml;charset=UTF-16"),
                ("Content-Encoding", "SLDC"),
            ],
        )
        .status
    });
    // The file output, written before the Kafka one, has the batch: it waits on the broker.
    fixture
        .daemon
        .wait_until("the batch at the Kafka output", || {
            std::fs::read_to_string(&file)
                .unwrap_or_default()
                .contains("<EventRecordID>11</EventRecordID>")
        });
    let pid = fixture.daemon.pid().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    // An answer that never came (the connection closed at exit) reads as 0.
    let status = pending.join().unwrap_or(0);
    assert_eq!(
        status, 503,
        "the held batch is handed back, not acknowledged"
    );
    // A hang guard, not a measure: without the hand-back the batch holds the stop ten minutes.
    let guard = std::time::Instant::now() + Duration::from_secs(120);
    while fixture.daemon.is_running() {
        assert!(std::time::Instant::now() < guard, "wsmand did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = fixture.daemon.stderr();
    assert!(
        log.contains("kafka producer stopping: queued and in-flight messages handed back"),
        "{log}"
    );
}

#[test]
fn a_bad_kafka_output_is_refused_with_its_reason() {
    for (output, reason) in [
        ("brokers = []\ntopic = \"wec\"", "no brokers"),
        ("brokers = [\"127.0.0.1\"]\ntopic = \"wec\"", "is not host:port"),
        ("brokers = [\"127.0.0.1:9092\"]\ntopic = \"wec/{subscription}\"", "not allowed in a Kafka topic"),
        ("brokers = [\"127.0.0.1:9092\"]\ntopic = \"wec\"\n[properties]\n\"acks\" = \"1\"", "set by the collector"),
        ("brokers = [\"127.0.0.1:9092\"]\ntopic = \"wec\"\n[properties]\n\"no.such.property\" = \"1\"", "no.such.property"),
    ] {
        let output = output.replace("[properties]", "[outputs.properties]");
        let stderr = check_config_refuses(&format!("query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n[[outputs]]\ntype = \"kafka\"\n{output}\n"));
        assert!(stderr.contains(reason), "{output}: {stderr}");
    }
}
