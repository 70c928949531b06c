//! The Redis output against a real `redis-server` (Debian's package) started by the test on
//! a free 127.0.0.1 port without persistence or a Unix socket, read back with `redis-cli`:
//! lists and streams hold exactly the acknowledged events in order, a server killed
//! mid-stream answers the batch with an error (503 to the forwarder) and the resend lands
//! once it is back, a wrong password and too few replicas for `WAIT` are refused, and the
//! password never shows in what is logged. The reply reader gets property tests here and a
//! fuzz target (`fuzz/fuzz_targets/resp.rs`).

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{refusal, set, write};
use proptest::prelude::*;
use serde_json::Value;
use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::subscription_outputs::Outputs;
use wsman_outputs::resp::{self, Reply, ReplyLimits};
use wsman_outputs::OutputError;

const CLIENT: &str = "web01.example.com";

fn event(record: u64) -> ReceivedEvent {
    common::logon(record, "web01")
}

/// A `redis-server` child on 127.0.0.1; killed and reaped when dropped.
struct Redis {
    child: Child,
    port: u16,
    password: Option<String>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Redis {
    fn start(port: u16, password: Option<&str>) -> Redis {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        let child = command
            .spawn()
            .expect("redis-server (Debian package redis-server, in REQUIRED_PACKAGES)");
        let redis = Redis {
            child,
            port,
            password: password.map(str::to_owned),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.cli(&["PING"]).trim() != "\"PONG\"" {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// `redis-cli` with RESP2 JSON output (`--json -2`): one JSON value.
    fn cli(&self, arguments: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "--json",
            "-2",
        ]);
        if let Some(password) = &self.password {
            command.env("REDISCLI_AUTH", password);
        }
        let output = command.args(arguments).output().expect("redis-cli");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn json(&self, arguments: &[&str]) -> Value {
        serde_json::from_str(&self.cli(arguments)).expect("redis-cli JSON")
    }

    fn list(&self, key: &str) -> Vec<String> {
        match self.json(&["LRANGE", key, "0", "-1"]) {
            Value::Array(items) => items
                .into_iter()
                .map(|v| v.as_str().expect("a string").to_owned())
                .collect(),
            other => panic!("LRANGE: {other}"),
        }
    }

    fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_output(url: &str, more: &str) -> String {
    format!("[[outputs]]\ntype = \"redis\"\nurl = \"{url}\"\nkey = \"wec:{{subscription}}:{{client}}\"\nmax_backoff_ms = 200\nreply_timeout_ms = 2000\n{more}")
}

const KEY: &str = "wec:sec:web01.example.com";

/// The JSON records of the list at [`KEY`].
fn json_records(redis: &Redis) -> Vec<Value> {
    let lines = redis.list(KEY);
    let parse = |line: &String| serde_json::from_str(line).expect("a JSON record");
    lines.iter().map(parse).collect()
}

#[test]
fn a_list_holds_every_acknowledged_event_across_a_killed_server() {
    let port = free_port();
    let redis = Redis::start(port, Some("s3cret-pass"));
    let outputs = Outputs::new();
    let problems = outputs.configure(&set(&redis_output(&redis.url(), "format = \"json\"\n")));
    assert!(problems.is_empty(), "{problems:?}");
    let batches: Vec<Vec<ReceivedEvent>> = (0..6)
        .map(|b| (1..=4).map(|i| event(b * 4 + i)).collect())
        .collect();
    for batch in &batches[..3] {
        write(&outputs, CLIENT, batch).expect("stored");
    }
    let records: Vec<u64> = json_records(&redis)
        .iter()
        .map(|record| {
            assert_eq!(record["client"], CLIENT);
            record["record_id"].as_u64().expect("record_id")
        })
        .collect();
    assert_eq!(records, (1..=12).collect::<Vec<u64>>());

    // Killed: refused, and refused again during the backoff.
    redis.stop();
    let error = write(&outputs, CLIENT, &batches[3]).expect_err("the server is gone");
    assert!(matches!(error, OutputError::Failed { .. }), "{error}");
    assert!(!error.to_string().contains("s3cret-pass"), "{error}");
    assert!(write(&outputs, CLIENT, &batches[3]).is_err());

    // Back (empty: it keeps nothing on disk): the resend lands, then the rest, in order.
    let redis = Redis::start(port, Some("s3cret-pass"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = write(&outputs, CLIENT, &batches[3]) {
        assert!(Instant::now() < deadline, "the resend did not land: {e}");
        std::thread::sleep(Duration::from_millis(50));
    }
    for batch in &batches[4..] {
        write(&outputs, CLIENT, batch).expect("stored after the restart");
    }
    let stored: Vec<String> = json_records(&redis)
        .iter()
        .map(|record| {
            // JSON records carry the tree; the raw XML is compared through raw+json below.
            record["event"]["System"]["EventRecordID"]
                .as_str()
                .expect("EventRecordID")
                .to_owned()
        })
        .collect();
    let expected_ids: Vec<String> = batches[3..]
        .iter()
        .flatten()
        .map(|e| e.record_id.expect("record id").to_string())
        .collect();
    assert_eq!(stored, expected_ids);
    assert_eq!(stored.len(), 12);
}

#[test]
fn a_stream_gets_one_entry_per_event_in_order() {
    let redis = Redis::start(free_port(), None);
    let outputs = Outputs::new();
    let problems = outputs.configure(&set(&redis_output(
        &redis.url(),
        "mode = \"stream\"\nformat = \"raw+json\"\n",
    )));
    assert!(problems.is_empty(), "{problems:?}");
    let events: Vec<ReceivedEvent> = (1..=5).map(event).collect();
    write(&outputs, CLIENT, &events[..2]).expect("stored");
    write(&outputs, CLIENT, &events[2..]).expect("stored");
    let Value::Array(entries) = redis.json(&["XRANGE", KEY, "-", "+"]) else {
        panic!("XRANGE");
    };
    assert_eq!(entries.len(), 5);
    for (entry, event) in entries.iter().zip(&events) {
        // [id, [field, value, field, value]]
        let fields = entry[1].as_array().expect("fields");
        assert_eq!(fields[0], "client");
        assert_eq!(fields[1], CLIENT);
        assert_eq!(fields[2], "event");
        let record: Value = serde_json::from_str(fields[3].as_str().expect("event")).expect("JSON");
        assert_eq!(record["xml"], event.xml.as_str());
        assert_eq!(record["record_id"], event.record_id.expect("record id"));
    }
}

#[test]
fn a_wrong_password_and_missing_replicas_are_refused() {
    let redis = Redis::start(free_port(), Some("right-password"));
    let outputs = Outputs::new();
    let wrong = format!("redis://:wrong-password@127.0.0.1:{}", redis.port);
    assert!(outputs
        .configure(&set(&redis_output(&wrong, "")))
        .is_empty());
    let error = write(&outputs, CLIENT, &[event(1)]).expect_err("wrong password");
    let text = error.to_string();
    assert!(text.contains("AUTH"), "{text}");
    assert!(!text.contains("wrong-password"), "{text}");

    // No replica exists: WAIT answers 0 after its timeout, and the batch is refused.
    let outputs = Outputs::new();
    assert!(outputs
        .configure(&set(&redis_output(
            &redis.url(),
            "wait_replicas = 1\nwait_timeout_ms = 200\n"
        )))
        .is_empty());
    let error = write(&outputs, CLIENT, &[event(1)]).expect_err("no replica");
    assert!(error.to_string().contains("0 of 1 replicas"), "{error}");
    // The primary has it (at least once: the resend after a replica appears adds it again).
    assert_eq!(redis.list(KEY).len(), 1);
}

#[test]
fn redis_settings_are_checked_and_the_password_never_shows() {
    let subscription = &set(&redis_output(
        "redis://wec:hunter2@redis.example.com:6380/2",
        "",
    ))
    .subscriptions[0];
    let shown = format!("{subscription:?}");
    assert!(
        shown.contains("redis://wec:***@redis.example.com:6380/2"),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    for (url, more, reason) in [
        ("rediss://h:6379", "", "redis://"),
        ("redis://h:port", "", "port is not a number"),
        ("redis://h:6379/x", "", "database is not a number"),
        ("redis://:@h", "", "password is empty"),
        ("redis://h", "mode = \"set\"\n", "unknown variant"),
        (
            "redis://h",
            "wait_replicas = 1\nwait_timeout_ms = 5000\n",
            "longer than wait_timeout_ms",
        ),
    ] {
        let error = refusal(&redis_output(url, more));
        assert!(error.contains(reason), "{url} {more}: {error}");
        assert!(!error.contains("hunter2"));
    }
}

/// RESP2 text of `reply`, written independently of the reader.
fn encode(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Simple(text) => out.extend_from_slice(format!("+{text}\r\n").as_bytes()),
        Reply::Error(text) => out.extend_from_slice(format!("-{text}\r\n").as_bytes()),
        Reply::Integer(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        Reply::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
        Reply::Bulk(Some(bytes)) => {
            out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        Reply::Array(None) => out.extend_from_slice(b"*-1\r\n"),
        Reply::Array(Some(items)) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            for item in items {
                encode(item, out);
            }
        }
    }
}

fn reply_strategy() -> impl Strategy<Value = Reply> {
    let line = "[a-zA-Z0-9 ._:-]{0,40}";
    let leaf = prop_oneof![
        line.prop_map(Reply::Simple),
        line.prop_map(Reply::Error),
        any::<i64>().prop_map(Reply::Integer),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)).prop_map(Reply::Bulk),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        proptest::option::of(proptest::collection::vec(inner, 0..6)).prop_map(Reply::Array)
    })
}

proptest! {
    /// Every reply reads back as itself from its complete text, and every strict prefix is
    /// "need more", never an error or a wrong reply.
    #[test]
    fn replies_read_back_and_prefixes_wait_for_more(reply in reply_strategy()) {
        let mut text = Vec::new();
        encode(&reply, &mut text);
        let limits = ReplyLimits::default();
        prop_assert_eq!(resp::parse(&text, &limits), Ok(Some((reply.clone(), text.len()))));
        for cut in 0..text.len() {
            prop_assert_eq!(resp::parse(&text[..cut], &limits), Ok(None));
        }
    }

    /// Arbitrary bytes never panic, and what is read never claims more bytes than given.
    #[test]
    fn arbitrary_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(Some((_, used))) = resp::parse(&bytes, &ReplyLimits::default()) {
            prop_assert!(used <= bytes.len());
        }
    }
}

#[test]
fn replies_beyond_the_limits_are_refused_before_they_arrive() {
    let limits = ReplyLimits::default();
    let huge_bulk = format!("${}\r\n", limits.max_bulk + 1);
    assert!(resp::parse(huge_bulk.as_bytes(), &limits).is_err());
    let huge_array = format!("*{}\r\n", limits.max_elements + 1);
    assert!(resp::parse(huge_array.as_bytes(), &limits).is_err());
    let deep = "*1\r\n".repeat(limits.max_depth + 1) + ":1\r\n";
    assert!(resp::parse(deep.as_bytes(), &limits).is_err());
    let long_line = format!("+{}", "a".repeat(limits.max_line + 8));
    assert!(resp::parse(long_line.as_bytes(), &limits).is_err());
    assert!(resp::parse(b"$3\r\nabcXY", &limits).is_err());
    assert!(resp::parse(b"%1\r\n", &limits).is_err());
    assert!(resp::parse(b":12x\r\n", &limits).is_err());
}
