//! The HTTP output against real HTTP and HTTPS receivers in this process on 127.0.0.1 (hyper's
//! server, rustls), serving the answers Splunk's and Elastic's documentation publish
//! (`tests/fixtures/http/`, with their sources): the requests the output sends are checked
//! against the published request examples, and each published answer (a refusal, a busy
//! server, an indexer acknowledgement not yet given, a bulk answer with failed items, a 429)
//! is read as those documents say. A receiver that never answers fails the batch at the
//! request timeout instead of holding it.

mod common;
#[path = "http/receiver.rs"]
mod receiver;

use std::path::Path;

use common::write;
use receiver::*;
use serde_json::Value;
use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::subscriptions;

#[test]
fn hec_sends_the_published_raw_request_and_waits_for_the_indexer_acknowledgement() {
    let (_dir, receiver, outputs) = hec(&format!(
        "channel = \"{HEC_CHANNEL}\"\nsourcetype = \"splunkd_access\"\nindex = \"main\"\n"
    ));
    // Splunk's success with ackId 7; Splunk's ack answer, which does not name 7 (not yet);
    // then 7 true, in that answer's shape.
    receiver.reply(200, &fixture("hec-ack-id.json"));
    receiver.reply(200, &fixture("hec-ack-answer.json"));
    receiver.reply(200, r#"{"acks":{"7":true}}"#);
    let batch = events(1..=3);
    write(&outputs, CLIENT, &batch).expect("stored once acknowledged");

    let requests = receiver.requests();
    assert_eq!(
        requests.len(),
        3,
        "the raw request, then the ack query until true"
    );
    let published = fixture("hec-raw-request.txt");
    let mut published = published.lines();
    let (method, target) = published
        .next()
        .and_then(|l| l.split_once(' '))
        .expect("request line");
    let (_, authorization) = published
        .next()
        .and_then(|l| l.split_once(": "))
        .expect("authorization");
    let raw = &requests[0];
    assert_eq!((raw.method.as_str(), raw.target.as_str()), (method, target));
    assert_eq!(raw.header("authorization"), authorization);
    assert_eq!(raw.header("x-splunk-request-channel"), HEC_CHANNEL);
    assert_eq!(
        raw.body,
        lines(&batch).as_bytes(),
        "each event's XML, one per line"
    );

    // The published query's bytes but for its ids (`{"acks":[` ids `]}`, no spaces).
    let published_query = fixture("hec-ack-request.json");
    let (open, rest) = published_query.split_at(published_query.find('[').expect("[") + 1);
    let close = &rest[rest.find(']').expect("]")..];
    for ack in &requests[1..] {
        assert_eq!(ack.method, "POST");
        assert_eq!(
            ack.target,
            format!("/services/collector/ack?channel={HEC_CHANNEL}")
        );
        assert_eq!(ack.header("authorization"), authorization);
        assert_eq!(
            std::str::from_utf8(&ack.body).expect("UTF-8"),
            format!("{open}7{close}"),
            "the ackId HEC gave, as the published query writes its ids"
        );
    }
}

/// Each row of HEC's status code table (`fixtures/http/hec-status-codes.tsv`) answered with
/// its HTTP status and status object: the batch is not stored, the error names Splunk's
/// code and text and says what the row means: the token (1 to 4), the index (7), the data
/// channel (10, 11), acknowledgement off (14), the data (5, 6, 12, 13), or Splunk busy or
/// failing (8, 9), the batch then resent. Code 14 also as the ack endpoint's answer.
#[test]
fn hec_answers_of_splunks_status_code_table_are_read_as_the_table_says() {
    let (_dir, receiver, outputs) = hec("max_backoff_ms = 100\n");
    let batch = events(1..=2);
    let table = fixture("hec-status-codes.tsv");
    let mut rows = 0;
    for row in table.lines().skip(2) {
        let columns: Vec<&str> = row.split('\t').collect();
        let [code, status, _, text] = columns[..] else {
            panic!("row {row:?}")
        };
        let code: u16 = code.parse().expect("code");
        let meaning = match code {
            1..=4 => "the token is refused",
            7 => "the index is refused",
            10 | 11 => "the data channel is refused",
            14 => "indexer acknowledgement is disabled for this token",
            5 | 6 | 12 | 13 => "Splunk refused the batch's data",
            8 | 9 => "Splunk is busy or failing: the batch is resent later",
            _ => panic!("a code the table did not have: {code}"),
        };
        let answer = format!(r#"{{"text":"{text}","code":{code}}}"#);
        // Past a wait for an earlier "busy", the request is made.
        let refused = loop {
            receiver.reply(status.parse().expect("status"), &answer);
            let error = error_of(&outputs, &batch, text);
            if !error.contains("next attempt in") {
                break error;
            }
            receiver.lock().replies.clear();
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(
            refused.contains(&format!("HEC answered {status}"))
                && refused.contains(&format!("{text} (code {code}): {meaning}")),
            "{row}: {refused}"
        );
        rows += 1;
    }
    assert_eq!(rows, 14, "codes 1 to 14");
    // ACK is disabled, as the ack endpoint's answer to the query.
    loop {
        receiver.lock().replies.clear();
        receiver.reply(200, &fixture("hec-ack-id.json"));
        receiver.reply(400, r#"{"text":"ACK is disabled","code":14}"#);
        let error = error_of(&outputs, &batch, "ack off");
        if !error.contains("next attempt in") {
            assert!(
                error.contains("enable it in Splunk, or set ack = false"),
                "{error}"
            );
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Splunk's "Server is busy" (503, code 9) answered again and again: each resend waits
/// longer (100 ms, doubling), and a batch that comes during the wait is answered 503 at once,
/// without a request to Splunk. (After six answers the wait is 1.6 s: the batch written right
/// after cannot come after it.)
#[test]
fn a_busy_hec_is_left_alone_for_a_while() {
    let (_dir, receiver, outputs) = hec("max_backoff_ms = 60000\n");
    let batch = events(1..=2);
    receiver.otherwise(Reply::Answer(503, fixture("hec-busy.json")));
    let mut answered = 0;
    while answered < 6 {
        let error = error_of(&outputs, &batch, "busy");
        if error.contains("Server is busy (code 9)") {
            answered += 1;
        } else {
            assert!(error.contains("next attempt in"), "{error}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    assert_eq!(receiver.requests().len(), 6);
    let waiting = error_of(&outputs, &batch, "in the wait");
    assert!(
        waiting.contains("asked to slow down; next attempt in"),
        "{waiting}"
    );
    assert!(receiver.requests().is_empty(), "no request during the wait");
}

#[test]
fn hec_refusals_and_a_missing_acknowledgement_are_answered_503() {
    let (_dir, receiver, outputs) = hec("ack_timeout_ms = 300\n");
    let batch = events(1..=2);
    let refused = |status: u16, answer: &str| {
        receiver.reply(status, answer);
        let error = error_of(&outputs, &batch, "refused");
        assert!(!error.contains(HEC_TOKEN), "{error}");
        error
    };
    let busy = refused(503, &fixture("hec-busy.json"));
    assert!(busy.contains("Server is busy (code 9)"), "{busy}");
    let token = refused(403, &fixture("hec-invalid-token.json"));
    assert!(token.contains("403") && token.contains("code 4"), "{token}");
    let no_ack = refused(200, &fixture("hec-success.json"));
    assert!(no_ack.contains("no ackId"), "{no_ack}");
    // Splunk's ack answer does not name 7: never acknowledged.
    receiver.otherwise(Reply::Answer(200, fixture("hec-ack-answer.json")));
    let unacknowledged = refused(200, &fixture("hec-ack-id.json"));
    assert!(
        unacknowledged.contains("not acknowledged ackId 7"),
        "{unacknowledged}"
    );
    // The resend once Splunk is well again is stored.
    receiver.reply(200, &fixture("hec-ack-id.json"));
    receiver.reply(200, r#"{"acks":{"7":true}}"#);
    receiver.requests();
    write(&outputs, CLIENT, &batch).expect("stored");
    let requests = receiver.requests();
    assert_eq!(requests[0].body, lines(&batch).as_bytes());
}

#[test]
fn a_receiver_that_never_answers_fails_the_batch_at_the_timeout() {
    let (_dir, receiver, outputs) = http_output(
        &[],
        "/ingest",
        "format = \"json\"\nrequest_timeout_ms = 300\n",
    );
    let batch = events(1..=2);
    receiver.otherwise(Reply::Stall);
    let stalled = error_of(&outputs, &batch, "no answer");
    assert!(
        stalled.contains("no complete answer within 300 ms"),
        "{stalled}"
    );
    receiver.lock().otherwise = None;
    // An answer past the 8 MiB bound is refused, not buffered.
    receiver.reply(200, &"x".repeat(8 * 1024 * 1024 + 1));
    let large = error_of(&outputs, &batch, "too large");
    assert!(large.contains("larger than 8388608 bytes"), "{large}");
    receiver.reply(500, "");
    write(&outputs, CLIENT, &batch).expect_err("500 is not stored");
    receiver.reply(204, "");
    write(&outputs, CLIENT, &batch).expect("2xx: stored");
    let requests = receiver.requests();
    let last = requests.last().expect("a request");
    assert_eq!(last.target, "/ingest");
    assert_eq!(last.header("content-type"), "application/x-ndjson");
    let records: Vec<Value> = std::str::from_utf8(&last.body)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["client"], CLIENT);
    assert_eq!(records[1]["record_id"], 2);
}

fn parse_error(output: &str) -> String {
    let file = Path::new("/etc/wsmand/subscriptions/sec.toml");
    match subscriptions::parse(file, &format!("{}\n{output}", common::QUERY)) {
        Ok(_) => panic!("accepted: {output}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn http_settings_are_checked() {
    let hec = "type = \"http\"\npreset = \"splunk_hec\"\nurl = \"https://splunk.example.com:8088\"";
    for (extra, why) in [
        (
            "token_secret = \"hec\"\nchannel = \"not-a-guid\"",
            "is not a GUID",
        ),
        ("", "needs token_secret"),
        (
            "token_secret = \"hec\"\napi_key_secret = \"es\"",
            "one credential",
        ),
        (
            "token_secret = \"hec\"\ndata_stream = \"logs\"",
            "preset elastic_bulk only",
        ),
        ("token_secret = \"/etc/shadow\"", "secret name"),
        (
            "token_secret = \"hec\"\nformat = \"json\"",
            "XML as it came",
        ),
    ] {
        let error = parse_error(&format!("[[outputs]]\n{hec}\n{extra}\n"));
        assert!(error.contains(why), "{extra}: {error}");
    }
    for (output, why) in [
        (
            "type = \"http\"\nurl = \"https://user:pw@siem.example.com/\"",
            "without user",
        ),
        ("type = \"http\"\nurl = \"ftp://siem.example.com/\"", "not http(s)"),
        (
            "type = \"http\"\nurl = \"http://siem.example.com/\"\nca_file = \"/etc/ca.pem\"",
            "https only",
        ),
        (
            "type = \"http\"\npreset = \"elastic_bulk\"\nurl = \"https://es:9200\"\ndata_stream = \"Logs\"",
            "data_stream",
        ),
        (
            "type = \"http\"\npreset = \"elastic_bulk\"\nurl = \"https://es:9200\"",
            "needs data_stream",
        ),
        (
            "type = \"http\"\nurl = \"https://siem.example.com/\"\nchannel = \"00872DC6-AC83-4EDE-8AFE-8413C3825C4C\"",
            "preset splunk_hec only",
        ),
    ] {
        let error = parse_error(&format!("[[outputs]]\n{output}\n"));
        assert!(error.contains(why), "{output}: {error}");
    }
}

#[test]
fn a_stored_subscription_reaches_only_listed_destinations() {
    use wsman_outputs::output_policy::OutputsPolicy;
    let file = Path::new("/etc/wsmand/subscriptions/sec.toml");
    let subscription = subscriptions::parse(
        file,
        &format!(
            "{}\n[[outputs]]\ntype = \"http\"\npreset = \"splunk_hec\"\nurl = \"https://splunk.example.com:8088\"\ntoken_secret = \"hec\"\n",
            common::QUERY
        ),
    )
    .expect("parses");
    let refused = OutputsPolicy::default()
        .admit(&subscription.outputs)
        .expect_err("nothing listed");
    assert!(
        refused.to_string().contains("splunk.example.com:8088"),
        "{refused}"
    );
    let listed = OutputsPolicy {
        destinations: vec!["splunk.example.com:8088".to_owned()],
        secrets: bound(&["hec"], "splunk.example.com:8088", true),
        ..OutputsPolicy::default()
    };
    listed.admit(&subscription.outputs).expect("listed");
}

/// OpenWEC's `RawJson` record as its `doc/formats.md` ("Json Raw format") states it: an object
/// of `meta` (OpenWEC's data about the event) and `data` (the raw XML event), `meta` holding
/// `IpAddress`, `TimeReceived`, `Principal`, `Node`, `Subscription` (`Name`, `Version`,
/// `Uuid`, `Uri`, `ServerRevision`, `ClientRevision`) and `Error`; and `Client`, which
/// OpenWEC's `CHANGELOG.md` says replaces `Principal` in `RawJson`, `Json` and `Nxlog`.
#[test]
fn openwec_raw_json_lines_have_openwecs_structure() {
    let (_dir, receiver, outputs) = http_output(&[], "/wec", "format = \"openwec_raw_json\"\n");
    let batch = events(7..=8);
    receiver.reply(200, "");
    // Written as the collector writes: from a blocking-pool thread of a tokio runtime.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let written = {
        let batch = batch.clone();
        runtime.block_on(async move {
            tokio::task::spawn_blocking(move || write(&outputs, CLIENT, &batch)).await
        })
    };
    written.expect("joined").expect("stored");
    let requests = receiver.requests();
    let text = std::str::from_utf8(&requests[0].body).expect("UTF-8");
    let keys = |v: &Value| -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        keys
    };
    let documented_meta = [
        "IpAddress",
        "TimeReceived",
        "Principal",
        "Client",
        "Node",
        "Subscription",
        "Error",
    ];
    let documented_subscription = [
        "Name",
        "Version",
        "Uuid",
        "Uri",
        "ServerRevision",
        "ClientRevision",
    ];
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), 2);
    for (record, event) in records.iter().zip(&batch) {
        assert_eq!(keys(record), ["data", "meta"]);
        assert_eq!(record["data"], event.xml.as_str(), "the XML as it came");
        let meta = &record["meta"];
        assert!(keys(meta)
            .iter()
            .all(|k| documented_meta.contains(&k.as_str())));
        assert!(keys(&meta["Subscription"])
            .iter()
            .all(|k| documented_subscription.contains(&k.as_str())));
        assert_eq!(meta["Principal"], CLIENT);
        assert_eq!(meta["Client"], CLIENT);
        assert_eq!(meta["TimeReceived"], "2026-11-24T00:00:00Z");
        assert_eq!(meta["Subscription"]["Name"], "sec");
    }
}

/// OpenWEC's `Nxlog` record of recorded Windows events (WinRM/Operational, from a capture of a
/// Windows forwarder) and of transcribed ones (System 7036 of a classic provider with
/// `Binary`, Security 4624), POSTed by the generic output, against the records we wrote from
/// NXLog's `im_msvistalog` field list and OpenWEC's `doc/formats.md`
/// (`fixtures/openwec-nxlog/`, README there): every field's name, type and value, and nothing
/// else.
#[test]
fn openwec_nxlog_records_have_nxlogs_fields() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openwec-nxlog");
    let read = |name: &str| std::fs::read_to_string(fixtures.join(name)).expect("fixture");
    let batch: Vec<ReceivedEvent> = read("events.xml")
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let computer = line
                .split("<Computer>")
                .nth(1)
                .and_then(|rest| rest.split('<').next())
                .expect("a Computer");
            common::received(line.to_owned(), computer, n as u64)
        })
        .collect();
    let expected: Vec<Value> = read("events.nxlog.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(batch.len(), expected.len());
    let (_dir, receiver, outputs) = http_output(&[], "/wec", "format = \"openwec_nxlog\"\n");
    receiver.reply(200, "");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let written = runtime.block_on(async move {
        tokio::task::spawn_blocking(move || write(&outputs, "WIN10$@WINDOMAIN.LOCAL", &batch)).await
    });
    written.expect("joined").expect("stored");
    let requests = receiver.requests();
    assert_eq!(requests[0].header("content-type"), "application/x-ndjson");
    let text = std::str::from_utf8(&requests[0].body).expect("UTF-8");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), expected.len());
    for (record, expected) in records.iter().zip(&expected) {
        assert_eq!(record, expected, "{}", expected["EventID"]);
    }
}
