//! The Elasticsearch `_bulk` preset of the HTTP output against a real HTTPS receiver in this
//! process (`http/receiver.rs`), answering as Elastic's documentation publishes
//! (`tests/fixtures/http/`): create actions sent over TLS, an answer's failed items read, and a
//! resend carrying only the items Elasticsearch did not store.

mod common;
#[path = "http/receiver.rs"]
mod receiver;

use common::write;
use receiver::*;
use serde_json::Value;

#[test]
fn bulk_sends_create_actions_over_tls_and_reads_failed_items() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tls, ca_file) = tls_receiver_config(dir.path());
    let receiver = Receiver::start(Some(tls));
    let address = format!("127.0.0.1:{}", receiver.address.port());
    let outputs = outputs(
        secrets(dir.path(), &[("es", API_KEY)]),
        bound(&["es"], &address, true),
        &format!(
            r#"[[outputs]]
type = "http"
preset = "elastic_bulk"
url = "https://127.0.0.1:{}"
server_name = "elastic.test"
ca_file = "{ca_file}"
api_key_secret = "es"
data_stream = "logs-windows.forwarded-default"
"#,
            receiver.address.port()
        ),
    );
    let batch = events(1..=3);
    // The published answer with failed actions: two items 404, one created.
    receiver.reply(200, &fixture("bulk-failed-actions.json"));
    let failed = error_of(&outputs, &batch, "items failed");
    assert!(
        failed.contains("2 of 3 events not stored")
            && failed.contains("404 document_missing_exception: [_doc][5]: document missing"),
        "{failed}"
    );
    // The resend carries the two items not created; the whole request refused (429).
    receiver.reply(429, &fixture("bulk-rejected.json"));
    let rejected = error_of(&outputs, &batch, "429");
    assert!(
        rejected.contains("429") && rejected.contains("es_rejected_execution_exception"),
        "{rejected}"
    );
    // The next resend, the same two: one answered 409 (its _id exists: stored by an earlier
    // send), which is stored, and one created.
    receiver.reply(
        200,
        r#"{"took":3,"errors":true,"items":[{"create":{"_id":"a","status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}},{"create":{"_id":"b","status":201}}]}"#,
    );
    write(&outputs, CLIENT, &batch).expect("stored");
    assert!(!rejected.contains(API_KEY) && !failed.contains(API_KEY));

    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    let published = fixture("bulk-data-stream-request.ndjson");
    let published: Vec<Value> = published
        .lines()
        .map(|l| serde_json::from_str(l).expect("published line"))
        .collect();
    // The first request carries the three events; each resend the two not created.
    for (request, events) in requests.iter().zip([3, 2, 2]) {
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/logs-windows.forwarded-default/_bulk");
        assert_eq!(request.header("content-type"), "application/x-ndjson");
        assert_eq!(request.header("authorization"), format!("ApiKey {API_KEY}"));
        let text = std::str::from_utf8(&request.body).expect("UTF-8");
        assert!(text.ends_with('\n'), "NDJSON ends with a line feed");
        let sent: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(sent.len(), 2 * events, "an action and a document per event");
        for (pair, ours) in sent.chunks(2).enumerate() {
            let theirs = &published[2 * (pair % (published.len() / 2))..][..2];
            let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
            assert_eq!(keys(&ours[0]), keys(&theirs[0]), "a create action");
            assert!(ours[1]["@timestamp"].is_string() && theirs[1]["@timestamp"].is_string());
            assert_eq!(ours[1]["message"], batch[pair].xml.as_str());
            let id = ours[0]["create"]["_id"].as_str().expect("_id");
            assert_eq!(id.len(), 40, "SHA-1 of the XML: {id}");
        }
    }
}

/// The `_id` and message of each event of a `_bulk` request body, in order.
fn bulk_items(body: &[u8]) -> Vec<(String, String)> {
    let text = std::str::from_utf8(body).expect("UTF-8");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    lines
        .chunks(2)
        .map(|pair| {
            let id = pair[0]["create"]["_id"].as_str().expect("_id").to_owned();
            let message = pair[1]["message"].as_str().expect("message").to_owned();
            (id, message)
        })
        .collect()
}

/// Elastic's guidance for a bulk answer with items rejected for load: resend only those. A
/// batch of four whose answer creates two and rejects two (429) is not stored (the forwarder is
/// answered 503 and resends it whole); the resend reaches Elasticsearch as exactly the two
/// rejected items, so the two created are not sent again (after a data stream's rollover their
/// 409 would not come, and they would be stored twice). The resend stored, the batch is.
#[test]
fn bulk_resends_only_the_items_rejected() {
    let (_dir, receiver, outputs) = http_output(
        &[],
        "",
        "preset = \"elastic_bulk\"\ndata_stream = \"logs-windows.forwarded-default\"\n",
    );
    let created = r#"{"create":{"_index":".ds-logs-windows.forwarded-default-2099.03.08-000001","_id":"x","_version":1,"result":"created","status":201}}"#;
    let rejected = r#"{"create":{"_index":".ds-logs-windows.forwarded-default-2099.03.08-000001","_id":"x","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}}"#;
    receiver.reply(
        200,
        &format!(
            r#"{{"took":12,"errors":true,"items":[{created},{rejected},{created},{rejected}]}}"#
        ),
    );
    receiver.reply(
        200,
        &format!(r#"{{"took":5,"errors":false,"items":[{created},{created}]}}"#),
    );
    let batch = events(1..=4);
    let error = error_of(&outputs, &batch, "two items rejected");
    assert!(
        error.contains("2 of 4 events not stored") && error.contains("2 rejected for load"),
        "{error}"
    );
    write(&outputs, CLIENT, &batch).expect("the rejected items stored: the batch is");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "one request, one resend");
    let first = bulk_items(&requests[0].body);
    let messages: Vec<&str> = first.iter().map(|(_, m)| m.as_str()).collect();
    let xml: Vec<&str> = batch.iter().map(|e| e.xml.as_str()).collect();
    assert_eq!(messages, xml, "the first request carries the batch");
    assert_eq!(
        bulk_items(&requests[1].body),
        vec![first[1].clone(), first[3].clone()],
        "the resend carries exactly the items answered 429"
    );
}

/// A bulk answer whose failed items are of both kinds (`fixtures/http/bulk-item-failures.json`:
/// one created, one 429 `es_rejected_execution_exception`, one 400): the batch is not
/// stored, and the error tells the item Elasticsearch rejected for load (Elastic: retry
/// 429 with backoff) from the one it refused (resending refuses it again), each with its
/// status, type and reason.
#[test]
fn bulk_items_rejected_for_load_are_told_from_items_refused() {
    let (_dir, receiver, outputs) = http_output(
        &[],
        "",
        "preset = \"elastic_bulk\"\ndata_stream = \"logs-windows.forwarded-default\"\n",
    );
    receiver.reply(200, &fixture("bulk-item-failures.json"));
    let error = error_of(&outputs, &events(1..=3), "two items failed");
    assert!(
        error.contains("2 of 3 events not stored")
            && error.contains("1 rejected for load, resent later with backoff (the first: 429 es_rejected_execution_exception: rejected execution of coordinating operation)")
            && error.contains("1 refused; resending refuses them again (the first: 400 document_parsing_exception: "),
        "{error}"
    );
    // The bulk API's published answer with `"errors": false` (its delete item 404
    // `not_found` included): every item stored. Events of another batch: of the batch above,
    // the item created is not sent again.
    receiver.reply(200, &fixture("bulk-example-answer.json"));
    write(&outputs, CLIENT, &events(11..=14)).expect("errors false: stored");
}
