//! The output seam and the Kafka output with real parts: librdkafka's producer and its mock
//! cluster (in process, brokers on 127.0.0.1), read back with librdkafka's consumer; the
//! in-flight budget against a file output held up by a named pipe nobody reads yet.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{logon, refusal, set_named, write_to};
use proptest::prelude::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::subscription_outputs::Outputs;
use wsman_collector::subscriptions::{self, OutputConfig};
use wsman_outputs::kafka::expand_topic;
use wsman_outputs::{OutputError, MAX_IN_FLIGHT_BATCHES};

fn kafka_output(brokers: &str, topic: &str, more: &str) -> String {
    format!("[[outputs]]\ntype = \"kafka\"\nbrokers = [\"{brokers}\"]\ntopic = \"{topic}\"\n{more}")
}

#[test]
fn kafka_outputs_parse_with_their_defaults_and_bad_ones_are_refused() {
    let subscription = &set_named(
        "sec",
        &kafka_output(
            "k1.example.com:9092",
            "wec-{subscription}",
            "format = \"json\"\n[outputs.properties]\n\"sasl.password\" = \"hunter2\"\n",
        ),
    )
    .subscriptions[0];
    let OutputConfig::Kafka(kafka) = &subscription.outputs[0] else {
        panic!("not a kafka output: {:?}", subscription.outputs);
    };
    assert_eq!(kafka.brokers, ["k1.example.com:9092"]);
    assert_eq!(kafka.format, subscriptions::OutputFormat::Json);
    assert_eq!(kafka.message_timeout_ms, 30_000);
    // Secrets never reach a log line through Debug.
    let shown = format!("{subscription:?}");
    assert!(
        shown.contains("sasl.password") && !shown.contains("hunter2"),
        "{shown}"
    );

    for (output, reason) in [
        (
            kafka_output("", "t", "").replace("[\"\"]", "[]"),
            "no brokers",
        ),
        (kafka_output("k1", "t", ""), "not host:port"),
        (kafka_output("k1:0", "t", ""), "not host:port"),
        (kafka_output("k1:9092", "", ""), "1 to 249"),
        (kafka_output("k1:9092", "a b", ""), "not allowed"),
        (kafka_output("k1:9092", "wec-{host}", ""), "not allowed"),
        (kafka_output("k1:9092", &"t".repeat(250), ""), "1 to 249"),
        (
            kafka_output("k1:9092", "t", "message_timeout_ms = 10\n"),
            "message_timeout_ms",
        ),
        (
            kafka_output("k1:9092", "t", "queue_max_messages = 0\n"),
            "queue_max_messages",
        ),
        (
            kafka_output(
                "k1:9092",
                "t",
                "[outputs.properties]\n\"enable.idempotence\" = \"false\"\n",
            ),
            "set by the collector",
        ),
        (kafka_output("k1:9092", "t", "unknown = 1\n"), "unknown"),
    ] {
        let error = refusal(&output);
        assert!(error.contains(reason), "{output}: {error}");
    }
}

#[test]
fn a_property_librdkafka_refuses_answers_every_batch_with_the_reason() {
    let outputs = Outputs::new();
    let problems = outputs.configure(&set_named(
        "sec",
        &kafka_output(
            "127.0.0.1:9",
            "t",
            "[outputs.properties]\n\"linger.ms\" = \"not-a-number\"\n",
        ),
    ));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("linger.ms"), "{problems:?}");
    let error = write_to(&outputs, "sec", "web01", &[logon(1, "web01")]).unwrap_err();
    assert!(matches!(error, OutputError::NotStarted { .. }), "{error}");
}

#[test]
fn a_batch_larger_than_the_producer_queue_is_refused_at_once() {
    // Nothing listens on the discard port of the loopback address: nothing leaves the queue.
    let outputs = Outputs::new();
    let problems = outputs.configure(&set_named(
        "sec",
        &kafka_output("127.0.0.1:9", "t", "queue_max_messages = 5\n"),
    ));
    assert!(problems.is_empty(), "{problems:?}");
    let events: Vec<ReceivedEvent> = (1..=10).map(|r| logon(r, "web01")).collect();
    let started = std::time::Instant::now();
    let error = write_to(&outputs, "sec", "web01", &events)
        .unwrap_err()
        .to_string();
    assert!(error.contains("message 6 of 10 not queued"), "{error}");
    assert!(error.contains("Queue full"), "{error}");
    // Answered at once, not after the 30 s message timeout.
    assert!(started.elapsed() < Duration::from_secs(25));
}

fn read_topic(bootstrap: &str, topic: &str, count: usize) -> Vec<(i32, i64, String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let mut messages = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while messages.len() < count && std::time::Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            messages.push((
                message.partition(),
                message.offset(),
                String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned(),
            ));
        }
    }
    messages
}

#[test]
fn batches_reach_the_mock_cluster_keyed_by_host_and_a_broker_down_refuses_them() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("wec-sec", 4, 1).expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    assert!(bootstrap.starts_with("127.0.0.1:"), "{bootstrap}");
    let outputs = Outputs::new();
    let problems = outputs.configure(&set_named(
        "sec",
        &kafka_output(
            &bootstrap,
            "wec-{subscription}",
            "message_timeout_ms = 1500\n[outputs.properties]\n\"linger.ms\" = \"1\"\n",
        ),
    ));
    assert!(problems.is_empty(), "{problems:?}");
    let hosts = ["web01.example.com", "web02.example.com"];
    for round in 0..3u64 {
        for host in hosts {
            let events: Vec<ReceivedEvent> = (1..=5).map(|r| logon(round * 5 + r, host)).collect();
            write_to(&outputs, "sec", host, &events).expect("delivered");
        }
    }
    cluster.broker_down(1).expect("down");
    let error = write_to(&outputs, "sec", hosts[0], &[logon(16, hosts[0])]).unwrap_err();
    assert!(matches!(error, OutputError::Kafka { .. }), "{error}");
    cluster.broker_up(1).expect("up");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while write_to(&outputs, "sec", hosts[0], &[logon(16, hosts[0])]).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery after the broker came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let mut messages = read_topic(&bootstrap, "wec-sec", 31);
    messages.sort();
    for host in hosts {
        let mine: Vec<&(i32, i64, String, String)> =
            messages.iter().filter(|m| m.2 == host).collect();
        let partitions: std::collections::BTreeSet<i32> = mine.iter().map(|m| m.0).collect();
        assert_eq!(partitions.len(), 1, "{host}: one key, one partition");
        let mut records = Vec::new();
        for (_, _, _, value) in mine {
            assert!(
                value.contains(&format!("<Computer>{host}</Computer>")),
                "{value}"
            );
            let record: u64 = value
                .split("<EventRecordID>")
                .nth(1)
                .and_then(|r| r.split('<').next())
                .and_then(|r| r.parse().ok())
                .expect("record id");
            if !records.contains(&record) {
                records.push(record);
            }
        }
        let expected: Vec<u64> = (1..=if host == hosts[0] { 16 } else { 15 }).collect();
        assert_eq!(records, expected, "{host}: every event, in order");
    }
}

#[test]
fn a_full_in_flight_budget_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("held.xml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let outputs = Arc::new(Outputs::new());
    outputs.configure(&set_named(
        "sec",
        &format!(
            "[[outputs]]\ntype = \"file\"\npath = \"{}\"\nformat = \"raw\"\n",
            fifo.display()
        ),
    ));
    // Each write blocks opening the pipe for writing until a reader opens it.
    let (done, results) = std::sync::mpsc::channel();
    for _ in 0..=MAX_IN_FLIGHT_BATCHES {
        let outputs = Arc::clone(&outputs);
        let done = done.clone();
        std::thread::spawn(move || {
            let _ = done.send(write_to(&outputs, "sec", "web01", &[logon(1, "web01")]));
        });
    }
    let first = results
        .recv_timeout(Duration::from_secs(60))
        .expect("one write returns");
    assert!(matches!(first, Err(OutputError::Busy { .. })), "{first:?}");
    // A reader lets the others through (opened read-write, it never blocks, and the pipe's
    // buffer holds every batch).
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .expect("open the pipe");
    for _ in 0..MAX_IN_FLIGHT_BATCHES {
        let result = results
            .recv_timeout(Duration::from_secs(60))
            .expect("every write returns");
        assert!(
            !matches!(result, Err(OutputError::Busy { .. })),
            "{result:?}"
        );
    }
    drop(reader);
}

proptest! {
    /// Whatever the client's name, an accepted template expands to a topic Kafka accepts.
    #[test]
    fn accepted_topic_templates_expand_to_valid_topics(
        parts in proptest::collection::vec(prop_oneof![
            Just("{client}".to_owned()),
            Just("{subscription}".to_owned()),
            "[A-Za-z0-9._/ {}-]{0,40}",
        ], 1..6),
        client in any::<String>(),
        subscription in "[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}",
    ) {
        let template: String = parts.concat();
        if subscriptions::check_topic_template(&template).is_ok() {
            let topic = expand_topic(&template, &client, &subscription);
            prop_assert!((1..=249).contains(&topic.len()), "{template} -> {topic}");
            prop_assert!(topic != "." && topic != "..");
            prop_assert!(topic.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{template} -> {topic}");
        }
    }
}
