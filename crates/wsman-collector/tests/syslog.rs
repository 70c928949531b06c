//! The syslog output against real receivers started by the test as child processes on free
//! 127.0.0.1 ports, each with its own configuration in a temporary directory (never the
//! machine's syslog daemon, never /dev/log): Debian's rsyslog (`imtcp` with the gtls driver,
//! `imrelp` from rsyslog-relp, with TLS, `imudp`) and syslog-ng (`network()` and `syslog()` with
//! TLS; the package is unpacked by `scripts/syslog-ng.sh`, since it conflicts with rsyslog).
//! The receivers write what they parsed as JSON (rsyslog's `jsonmesg`, syslog-ng's
//! `format-json`): every event arrives, its XML as the MSG, its Computer as HOSTNAME, its
//! EventID as MSGID, its Level as the severity, and the subscription, forwarder and Computer in
//! the structured data, as the receivers read them. Over RELP an rsyslog killed (SIGKILL)
//! mid-stream and started again loses nothing, and what arrives twice is at most the window
//! in flight (counted and printed); a RELP receiver that is not there, or stalls (SIGSTOP),
//! fails the batch (503 to the forwarder) and the resend lands once it is back.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{parse_outputs, pki, received, refusal, set, write, Pki};
use serde_json::Value;
use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::subscription_outputs::Outputs;
use wsman_outputs::OutputError;
use wsman_test::syslog_receivers::{rsyslog, rsyslog_relp, syslog_ng, Receiver, ReceiverTls};

const CLIENT: &str = "web01.example.com";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Event `record` from `web01`: a 4625 with Level 2 (error), its time as Windows writes it.
fn event(record: u64) -> ReceivedEvent {
    let text = format!("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>4625</EventID><Level>2</Level><TimeCreated SystemTime='2026-11-24T10:00:{:02}.1234567Z'/><EventRecordID>{record}</EventRecordID><Channel>Security</Channel><Computer>web01</Computer></System><EventData><Data Name='TargetUserName'>user \"{record}\" ]</Data></EventData></Event>", record % 60);
    received(text, "web01", record)
}

fn events(range: std::ops::Range<u64>) -> Vec<ReceivedEvent> {
    range.map(event).collect()
}

/// The receiver's TLS files: our test CA and the certificate for `siem.test`.
fn receiver_tls(pki: &Pki) -> ReceiverTls<'_> {
    ReceiverTls {
        ca_file: &pki.ca_file,
        certificate: &pki.server_certificate,
        key: &pki.server_key,
    }
}

fn syslog_output(port: u16, more: &str) -> String {
    format!("[[outputs]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{port}\"\nmax_backoff_ms = 200\n{more}")
}

fn tls_settings(pki: &Pki) -> String {
    format!(
        "tls = true\nca_file = \"{}\"\nclient_certificate = \"{}\"\nclient_key = \"{}\"\nserver_name = \"siem.test\"\n",
        pki.ca_file, pki.client_certificate, pki.client_key
    )
}

fn configured(outputs_toml: &str) -> Outputs {
    let outputs = Outputs::new();
    let problems = outputs.configure(&set(outputs_toml));
    assert!(problems.is_empty(), "{problems:?}");
    outputs
}

/// Writes `batch` until it is stored, as a forwarder resends after a 503; how many attempts
/// were refused.
fn write_until_stored(outputs: &Outputs, batch: &[ReceivedEvent]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut refused = 0;
    loop {
        match write(outputs, CLIENT, batch) {
            Ok(()) => return refused,
            Err(error) => {
                assert!(matches!(error, OutputError::Failed { .. }), "{error}");
                assert!(Instant::now() < deadline, "never stored: {error}");
                refused += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// rsyslog's record of `event` is right: MSG, HOSTNAME, MSGID, severity, facility, time, APP-NAME
/// and the structured data as rsyslog parsed them.
fn assert_rsyslog_record(record: &Value, event: &ReceivedEvent) {
    let field = |name: &str| record[name].as_str().unwrap_or_default().to_owned();
    assert_eq!(field("msg"), event.xml);
    assert_eq!(field("hostname"), "web01");
    assert_eq!(field("msgid"), "4625");
    assert_eq!(field("app-name"), "wsmand-wec");
    assert_eq!(field("syslogseverity"), "3", "Level 2 is an error");
    assert_eq!(field("syslogfacility"), "16", "local0");
    assert_eq!(field("protocol-version"), "1");
    let record_id = event.record_id.expect("a record id");
    assert_eq!(
        field("timereported"),
        format!("2026-11-24T10:00:{:02}.123456Z", record_id % 60)
    );
    assert_eq!(
        field("structured-data"),
        format!("[wec@32473 subscription=\"sec\" client=\"{CLIENT}\" computer=\"web01\" channel=\"Security\" recordId=\"{record_id}\"]")
    );
}

/// The MSG of each record (rsyslog's `msg`), and how many times each came.
fn counted(records: &[Value], key: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for record in records {
        let msg = record[key].as_str().expect("a message").to_owned();
        *counts.entry(msg).or_insert(0) += 1;
    }
    counts
}

#[test]
fn rsyslog_imtcp_over_tls_receives_every_event_octet_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let port = free_port();
    let receiver = rsyslog(
        dir.path(),
        "imtcp",
        &format!(
            "global(DefaultNetstreamDriverCAFile=\"{}\" DefaultNetstreamDriverCertFile=\"{}\" DefaultNetstreamDriverKeyFile=\"{}\")\n\
             module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\")",
            pki.ca_file, pki.server_certificate, pki.server_key
        ),
        &format!("input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"events\")"),
        port,
    );
    let outputs = configured(&syslog_output(port, &tls_settings(&pki)));
    let sent = events(1..31);
    for batch in sent.chunks(10) {
        write(&outputs, CLIENT, batch).expect("stored");
    }
    let records = receiver.wait_for(30);
    assert_eq!(records.len(), 30);
    for (record, event) in records.iter().zip(&sent) {
        assert_rsyslog_record(record, event);
        assert_eq!(record["inputname"], "imtcp");
    }
}

#[test]
fn rsyslog_imrelp_over_tls_receives_every_event_and_the_json_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let port = free_port();
    let receiver = rsyslog_relp(dir.path(), "imrelp", port, Some(receiver_tls(&pki)));
    let outputs = configured(&syslog_output(
        port,
        &format!(
            "transport = \"relp\"\nformat = \"json\"\n{}",
            tls_settings(&pki)
        ),
    ));
    let sent = events(1..31);
    for batch in sent.chunks(10) {
        write(&outputs, CLIENT, batch).expect("stored: every message answered");
    }
    // Answered means written (the Direct queue): all are there at once.
    let records = receiver.records();
    assert_eq!(records.len(), 30);
    for (record, event) in records.iter().zip(&sent) {
        assert_eq!(record["inputname"], "imrelp");
        assert_eq!(
            record["structured-data"]
                .as_str()
                .map(|s| s.contains("subscription=\"sec\"")),
            Some(true)
        );
        let json: Value = serde_json::from_str(record["msg"].as_str().expect("msg"))
            .expect("the MSG is the JSON record");
        assert_eq!(json["client"], CLIENT);
        assert_eq!(json["subscription"], "sec");
        assert_eq!(json["computer"], "web01");
        assert_eq!(json["record_id"], event.record_id.expect("record"));
    }
}

#[test]
fn rsyslog_imudp_receives_every_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (udp, tcp) = (free_port(), free_port());
    // The TCP input only tells when rsyslog is up.
    let receiver = rsyslog(
        dir.path(),
        "imudp",
        "module(load=\"imudp\")\nmodule(load=\"imtcp\")",
        &format!("input(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp}\" ruleset=\"events\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{tcp}\" ruleset=\"events\")"),
        tcp,
    );
    let outputs = configured(&syslog_output(udp, "transport = \"udp\"\n"));
    let sent = events(1..11);
    write(&outputs, CLIENT, &sent).expect("sent");
    let records = receiver.wait_for(10);
    for (record, event) in records.iter().zip(&sent) {
        assert_rsyslog_record(record, event);
    }
}

#[test]
fn syslog_ng_network_and_syslog_sources_over_tls_receive_every_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let (lines_port, counted_port) = (free_port(), free_port());
    let d = dir.path().display();
    let tls = format!(
        "tls(key-file(\"{}\") cert-file(\"{}\") ca-file(\"{}\") peer-verify(required-trusted))",
        pki.server_key, pki.server_certificate, pki.ca_file
    );
    // Each source its own file; the record: the RFC 5424 fields and the SD as syslog-ng read them.
    let config = format!(
        "@version: 3.38\noptions {{ keep-hostname(yes); log-msg-size(262144); }};\n\
         source lines {{ network(ip(\"127.0.0.1\") port({lines_port}) transport(\"tls\") flags(syslog-protocol) {tls}); }};\n\
         source counted {{ syslog(ip(\"127.0.0.1\") port({counted_port}) transport(\"tls\") {tls}); }};\n\
         template t {{ template(\"$(format-json --scope rfc5424 --scope sdata)\\n\"); }};\n\
         destination lines_file {{ file(\"{d}/lines.jsonl\" template(t)); }};\n\
         destination counted_file {{ file(\"{d}/counted.jsonl\" template(t)); }};\n\
         log {{ source(lines); destination(lines_file); }};\n\
         log {{ source(counted); destination(counted_file); }};\n"
    );
    let lines = syslog_ng(
        dir.path(),
        &config,
        &[lines_port, counted_port],
        dir.path().join("lines.jsonl"),
    );
    let outputs = configured(&format!(
        "{}{}",
        syslog_output(
            lines_port,
            &format!("framing = \"lf\"\n{}", tls_settings(&pki))
        ),
        syslog_output(counted_port, &tls_settings(&pki)),
    ));
    let sent = events(1..21);
    for batch in sent.chunks(5) {
        write(&outputs, CLIENT, batch).expect("stored");
    }
    let counted_out = dir.path().join("counted.jsonl");
    for out in [lines.out.clone(), counted_out] {
        let receiver = Receiver {
            child: Command::new("true").spawn().expect("true"),
            out,
        };
        let records = receiver.wait_for(20);
        assert_eq!(records.len(), 20, "{}", receiver.out.display());
        for (record, event) in records.iter().zip(&sent) {
            let record_id = event.record_id.expect("record").to_string();
            assert_eq!(record["MESSAGE"], event.xml.as_str());
            assert_eq!(record["HOST"], "web01");
            assert_eq!(record["MSGID"], "4625");
            assert_eq!(record["PROGRAM"], "wsmand-wec");
            assert_eq!(record["PRIORITY"], "err");
            assert_eq!(record["FACILITY"], "local0");
            // format-json writes the leading dot of `.SDATA` as `_`.
            let sd = &record["_SDATA"]["wec@32473"];
            assert_eq!(sd["subscription"], "sec");
            assert_eq!(sd["client"], CLIENT);
            assert_eq!(sd["computer"], "web01");
            assert_eq!(sd["recordId"], record_id.as_str());
        }
    }
    drop(lines);
}

#[test]
fn a_relp_receiver_killed_mid_stream_loses_nothing() {
    const WINDOW: usize = 16;
    const BATCHES: u64 = 40;
    const PER_BATCH: u64 = 400;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut receiver = rsyslog_relp(dir.path(), "first", port, None);
    let outputs = Arc::new(configured(&syslog_output(
        port,
        &format!("transport = \"relp\"\nwindow = {WINDOW}\n"),
    )));
    let done = Arc::new(AtomicBool::new(false));
    // The forwarder: every batch resent until it is stored, as a 503 makes it. The batches
    // are made first, so that the receiver is busy most of the time.
    let batches: Vec<Vec<ReceivedEvent>> = (0..BATCHES)
        .map(|b| events(b * PER_BATCH + 1..(b + 1) * PER_BATCH + 1))
        .collect();
    let forwarder = {
        let (outputs, done) = (Arc::clone(&outputs), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut refused = 0;
            for batch in &batches {
                refused += write_until_stored(&outputs, batch);
            }
            done.store(true, Ordering::SeqCst);
            refused
        })
    };
    // Killed mid-batch while the forwarder is sending: stopped first (SIGSTOP) once it has
    // written part of a batch, so the count of what it wrote is known and not a batch's end,
    // then killed (SIGKILL) and started again on the same port.
    let mut threshold = PER_BATCH as usize * 2 + PER_BATCH as usize / 2;
    let killed_at = loop {
        while receiver.count() < threshold {
            assert!(!done.load(Ordering::SeqCst), "the forwarder finished first");
            std::thread::sleep(Duration::from_millis(2));
        }
        receiver.signal("-STOP");
        let written = receiver.count();
        eprintln!("stopped at {written}");
        if !written.is_multiple_of(PER_BATCH as usize) {
            break written;
        }
        receiver.signal("-CONT");
        threshold = written + PER_BATCH as usize / 2;
    };
    receiver.signal("-KILL");
    let _ = receiver.child.wait();
    assert!(!done.load(Ordering::SeqCst), "killed mid-stream");
    let second = rsyslog_relp(dir.path(), "second", port, None);
    let refused = forwarder.join().expect("the forwarder");
    assert!(refused > 0, "the kill failed a batch");

    let mut records = receiver.records();
    records.extend(second.records());
    let counts = counted(&records, "msg");
    let total = (BATCHES * PER_BATCH) as usize;
    for record in 1..=total as u64 {
        assert!(
            counts.contains_key(&event(record).xml),
            "event {record} lost"
        );
    }
    assert_eq!(counts.len(), total);
    let duplicates = records.len() - total;
    eprintln!(
        "RELP receiver killed after {killed_at} records: {total} events sent, all received, {duplicates} twice (window {WINDOW}), {refused} batch attempts refused"
    );
    assert!(
        duplicates <= WINDOW,
        "{duplicates} duplicates: more than the window in flight"
    );
}

/// Our established connections to `port` on 127.0.0.1 (`/proc/net/tcp`: the remote port, in
/// hex, and state 01).
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let remote = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(2) == Some(&remote.as_str()) && fields.get(3) == Some(&"01")
        })
        .count()
}

/// Batches of two forwarders at once on a RELP output with two connections: while the receiver
/// holds the first batch's answers (stopped), the second goes out on a connection of its own
/// rather than waiting behind it, so a receiver's round trip bounds each connection's batches,
/// not the output's (at one connection, the hour at load fell behind at 5,000 events/s).
#[test]
fn a_relp_output_carries_a_batch_on_each_of_its_connections_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let receiver = rsyslog_relp(dir.path(), "relp", port, None);
    let outputs = Arc::new(configured(&syslog_output(
        port,
        "transport = \"relp\"\nconnections = 2\ntimeout_ms = 60000\n",
    )));
    write_until_stored(&outputs, &events(1..2));
    assert_eq!(connections_to(port), 1, "one connection for one batch");
    receiver.signal("-STOP");
    let forwarders: Vec<_> = [("a.example.com", 2..12), ("b.example.com", 12..22)]
        .into_iter()
        .map(|(client, range)| {
            let outputs = Arc::clone(&outputs);
            std::thread::spawn(move || write(&outputs, client, &events(range)))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while connections_to(port) < 2 {
        assert!(
            Instant::now() < deadline,
            "the second batch never had a connection of its own"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    receiver.signal("-CONT");
    for forwarder in forwarders {
        forwarder.join().expect("a forwarder").expect("stored");
    }
    let records = receiver.wait_for(21);
    assert_eq!(counted(&records, "msg").len(), 21);
    assert_eq!(connections_to(port), 2, "connections kept, never more");
}

#[test]
fn a_relp_receiver_that_refuses_or_stalls_fails_the_batch_and_the_resend_lands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let outputs = configured(&syslog_output(
        port,
        "transport = \"relp\"\ntimeout_ms = 500\n",
    ));
    // Nothing listens: refused.
    let error = write(&outputs, CLIENT, &events(1..11)).expect_err("nothing listens");
    assert!(error.to_string().contains("connect"), "{error}");
    let receiver = rsyslog_relp(dir.path(), "relp", port, None);
    write_until_stored(&outputs, &events(1..11));
    assert_eq!(receiver.records().len(), 10);

    // Stalled (stopped): no answer within the timeout fails the batch; nothing is acknowledged.
    receiver.signal("-STOP");
    let error = write(&outputs, CLIENT, &events(11..21)).expect_err("no answer");
    assert!(error.to_string().contains("RELP"), "{error}");
    receiver.signal("-CONT");
    write_until_stored(&outputs, &events(11..21));
    let records = receiver.wait_for(20);
    let counts = counted(&records, "msg");
    for record in 1..21 {
        assert!(
            counts.contains_key(&event(record).xml),
            "event {record} lost"
        );
    }
    // The stalled receiver read the first attempt's messages after all: at most that batch twice.
    eprintln!("after the stall: {} records for 20 events", records.len());
    assert!(records.len() <= 30);
}

#[test]
fn bad_syslog_settings_are_refused_with_their_reason() {
    for (more, reason) in [
        ("transport = \"udp\"\ntls = true\n", "DTLS"),
        ("ca_file = \"/etc/ca.pem\"\n", "syslog output: ca_file"),
        ("tls = true\nca_file = \"ca.pem\"\n", "not an absolute path"),
        ("sd_id = \"wec\"\n", "sd_id"),
        ("sd_id = \"w c@1\"\n", "sd_id"),
        ("app_name = \"two words\"\n", "app_name"),
        ("transport = \"relp\"\nframing = \"lf\"\n", "framing"),
        ("window = 0\n", "window"),
        ("connections = 0\n", "connections"),
        ("connections = 65\n", "connections"),
        ("transport = \"tls\"\n", "unknown variant"),
        ("facility = \"local9\"\n", "unknown variant"),
    ] {
        let error = refusal(&syslog_output(514, more));
        assert!(error.contains(reason), "{more}: {error}");
    }
    parse_outputs(&syslog_output(
        514,
        "transport = \"relp\"\ntls = true\nwindow = 1024\nconnections = 64\n",
    ))
    .expect("good settings");
}
