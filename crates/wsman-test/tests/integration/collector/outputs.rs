//! What the collector's outputs report and refuse, through the real daemon and forwarders of
//! the parent module: each output's latency histogram and error counter (`output` label)
//! while a forger is refused, a full disk answered 503 until space is freed (SIGHUP starts a
//! new file), a TCP receiver killed and started again, a RELP receiver (rsyslog) that stalls
//! answered 503 until it goes again, and `wsmand check-config` refusing
//! bad TCP, Redis and journal outputs with their reason, and a secret sent where its
//! `[secrets.NAME]` binding does not allow. Apart from the parent so the
//! delivery invariants and the forwarder's client read on their own.

use std::time::Duration;

use wsman_events::sldc;
use wsman_test::line_receiver::LineReceiver;
use wsman_test::syslog_receivers::rsyslog_relp;
use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

use super::{
    acknowledged, batch, check_config_refuses, deliver, deliver_acknowledged, deliver_as,
    enumerate, enumerate_as, event, lines, numbered_events, resend_until_acknowledged, text,
    Collector, SECOND, SECOND_PASSWORD,
};
use crate::tmpfs::Tmpfs;

fn metric(samples: &[crate::metrics::Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    crate::metrics::value(samples, name, labels)
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

#[test]
fn collector_metrics_count_what_the_forwarders_sent_while_a_forger_is_refused() {
    let state = tempfile::tempdir().expect("tempdir");
    let (collector, offer, output) = Collector::start_offering(state.path());
    let port = collector.port;
    let forger_offer = enumerate_as(port, SECOND, SECOND_PASSWORD);

    // A second forwarder keeps sending batches claiming the first one's Computer while the
    // first delivers: every forged batch is refused, every good one stored.
    let forged_batches = 8;
    let forger = std::thread::spawn(move || {
        let mut sent_bytes = 0;
        for n in 0..forged_batches {
            let forged = vec![
                event(1000 + 2 * n, SECOND, "mine"),
                event(1001 + 2 * n, SERVICE_ACCOUNT, "forged"),
            ];
            let body = batch(&forger_offer, 100 + n, &forged, true);
            sent_bytes += body.len();
            let answer = deliver_as(port, SECOND, SECOND_PASSWORD, &forger_offer, &body);
            assert_eq!(answer.status, 400, "{}", text(&answer.body));
        }
        sent_bytes
    });
    let events = numbered_events(30);
    let mut sent_bytes = 0;
    let mut sent_events = 0;
    let mut acks = 0;
    for (message, range) in [(1, 0..10), (2, 10..20), (2, 10..20), (3, 20..30)] {
        let body = batch(&offer, message, &events[range.clone()], true);
        sent_bytes += body.len();
        sent_events += range.len();
        let answer = deliver(port, &offer, &body);
        acknowledged(&answer, message);
        acks += 1;
    }
    let forged_bytes = forger.join().expect("the forger thread");

    // Refused before a subscription is known (bad SLDC, not XML) and after (no Identifier).
    assert_eq!(deliver(port, &offer, &[0xFF, 0xF0, 0x12, 0x34]).status, 400);
    assert_eq!(
        deliver(port, &offer, &sldc::compress(b"<s:Envelope><s:Body>")).status,
        400
    );
    assert_eq!(
        deliver(port, &offer, &batch(&offer, 9, &events[0..1], false)).status,
        400
    );

    let samples = collector.scrape();
    let wef = [("subscription", "wef")];
    let file = output.join("wef").join(format!("{SERVICE_ACCOUNT}.xml"));
    let stored = lines(&file);
    assert_eq!(stored, events);
    assert_eq!(
        metric(&samples, "wsman_wec_events_stored_total", &wef),
        stored.len() as f64
    );
    assert_eq!(
        metric(&samples, "wsman_wec_events_received_total", &wef),
        (sent_events + 2 * forged_batches as usize) as f64
    );
    assert_eq!(
        metric(&samples, "wsman_wec_received_bytes_total", &wef),
        (sent_bytes + forged_bytes) as f64
    );
    assert_eq!(
        metric(&samples, "wsman_wec_batches_acked_total", &wef),
        acks as f64
    );
    assert_eq!(
        metric(
            &samples,
            "wsman_wec_batches_refused_total",
            &[("subscription", "wef"), ("reason", "forged_computer")]
        ),
        forged_batches as f64
    );
    for (subscription, reason) in [("", "bad_sldc"), ("", "malformed"), ("wef", "malformed")] {
        assert_eq!(
            metric(
                &samples,
                "wsman_wec_batches_refused_total",
                &[("subscription", subscription), ("reason", reason)]
            ),
            1.0,
            "{subscription} {reason}"
        );
    }
    // Three batches carried new events; each went through the outputs once.
    assert_file_output_timed(&samples, 3.0);
    assert_clients_by_state(&collector, &samples);
    let log = collector.daemon.stderr();
    assert!(
        log.contains("claims Computer"),
        "the forged batches are logged"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("body refused (400)") && l.contains("SLDC")),
        "the bad SLDC body is logged with its reason"
    );
    assert!(!log.contains(SECOND_PASSWORD) && !log.contains(SERVICE_PASSWORD));
}

/// The subscription's one file output (`output="file"`) without errors, written once per
/// batch that carried new events (`batches`), its latency histogram cumulative.
fn assert_file_output_timed(samples: &[crate::metrics::Sample], batches: f64) {
    let wef_file = [("subscription", "wef"), ("output", "file")];
    assert_eq!(
        metric(samples, "wsman_wec_output_errors_total", &wef_file),
        0.0
    );
    let writes = metric(samples, "wsman_wec_output_write_seconds_count", &wef_file);
    assert_eq!(writes, batches);
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == "wsman_wec_output_write_seconds_bucket"
                && l["subscription"] == "wef"
                && l["output"] == "file"
        })
        .map(|(_, _, v)| *v)
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(buckets.last(), Some(&writes));
}

/// Forwarders by state in the metrics: what `wsmand wec clients` computes (one active).
fn assert_clients_by_state(collector: &Collector, samples: &[crate::metrics::Sample]) {
    let by_state = collector.clients_by_state();
    assert_eq!(by_state.get("active"), Some(&1.0), "{by_state:?}");
    for state in ["active", "alive", "dead"] {
        assert_eq!(
            metric(
                samples,
                "wsman_wec_clients",
                &[("subscription", "wef"), ("state", state)]
            ),
            by_state.get(state).copied().unwrap_or(0.0),
            "{state}"
        );
    }
}

#[test]
fn a_full_disk_answers_503_until_space_is_freed_and_sighup_starts_a_new_file() {
    let state = tempfile::tempdir().expect("tempdir");
    let Some(disk) = Tmpfs::mount(&state.path().join("disk"), "256k") else {
        return;
    };
    let mut collector = Collector::start(
        state.path(),
        &format!("{}/{{subscription}}/{{client}}.xml", disk.0.display()),
    );
    let port = collector.port;
    let offer = enumerate(port);
    let events = numbered_events(30);
    let file = disk.0.join("wef").join(format!("{SERVICE_ACCOUNT}.xml"));
    deliver_acknowledged(port, &offer, 1, &events[0..10]);
    let size_before = std::fs::metadata(&file).expect("the output file").len();

    // The disk fills: the batch is not acknowledged, the file keeps no part of it, the
    // bookmark stays.
    let filler = disk.fill("filler");
    let full = deliver(port, &offer, &batch(&offer, 2, &events[10..20], true));
    assert_eq!(full.status, 503, "{}", text(&full.body));
    // The forwarder resends while the disk stays full: each resend is refused and counted,
    // one line is logged (rate-limited), not one per refusal.
    const RESENDS: usize = 9;
    for _ in 0..RESENDS {
        let again = deliver(port, &offer, &batch(&offer, 2, &events[10..20], true));
        assert_eq!(again.status, 503, "{}", text(&again.body));
    }
    assert_eq!(
        std::fs::metadata(&file).expect("the output file").len(),
        size_before,
        "no torn batch left in the file"
    );
    assert_eq!(lines(&file), events[0..10]);
    assert_eq!(enumerate(port).bookmark, Some(10));
    let not_stored = collector
        .daemon
        .stderr()
        .lines()
        .filter(|l| l.contains("batch not stored"))
        .count();
    assert_eq!(not_stored, 1, "one line for {} refusals", RESENDS + 1);
    let samples = collector.scrape();
    let wef_file = [("subscription", "wef"), ("output", "file")];
    assert_eq!(
        metric(&samples, "wsman_wec_output_errors_total", &wef_file),
        (RESENDS + 1) as f64
    );
    assert_eq!(
        metric(
            &samples,
            "wsman_wec_batches_refused_total",
            &[("subscription", "wef"), ("reason", "output_error")]
        ),
        (RESENDS + 1) as f64
    );

    // Space is freed; the forwarder's resend of the same batch lands once.
    std::fs::remove_file(&filler).expect("free the space");
    deliver_acknowledged(port, &offer, 2, &events[10..20]);
    assert_eq!(lines(&file), events[0..20], "every event exactly once");
    assert_eq!(enumerate(port).bookmark, Some(20));

    // Rotation: the file is renamed, SIGHUP, and the next batch creates a new one.
    let rotated = file.with_extension("xml.1");
    #[allow(
        clippy::disallowed_methods,
        reason = "a log rotation moves the file, as logrotate does"
    )]
    std::fs::rename(&file, &rotated).expect("rotate");
    collector
        .daemon
        .reload_until("collector subscriptions loaded");
    deliver_acknowledged(port, &offer, 3, &events[20..30]);
    assert_eq!(lines(&rotated), events[0..20]);
    assert_eq!(lines(&file), events[20..30]);
    drop(collector);
    drop(disk);
}

#[test]
fn each_output_has_its_own_latency_and_errors_and_a_tcp_outage_is_answered_503() {
    let state = tempfile::tempdir().expect("tempdir");
    let output = state.path().join("out");
    let mut receiver = LineReceiver::start(0);
    let collector = Collector::start_with_outputs(
        state.path(),
        &format!("{}/{{subscription}}/{{client}}.xml", output.display()),
        &format!(
            "[[outputs]]\ntype = \"tcp\"\naddress = \"127.0.0.1:{}\"\nmax_backoff_ms = 200\n",
            receiver.port()
        ),
    );
    let port = collector.port;
    let offer = enumerate(port);
    let events = numbered_events(30);
    deliver_acknowledged(port, &offer, 1, &events[0..10]);
    deliver_acknowledged(port, &offer, 2, &events[10..20]);
    assert_eq!(receiver.wait_for(20), events[0..20]);

    let file = [("subscription", "wef"), ("output", "file")];
    let tcp = [("subscription", "wef"), ("output", "tcp")];
    let samples = collector.scrape();
    for labels in [&file, &tcp] {
        assert_eq!(
            metric(&samples, "wsman_wec_output_write_seconds_count", labels),
            2.0
        );
        assert_eq!(
            metric(&samples, "wsman_wec_output_errors_total", labels),
            0.0
        );
    }

    // The receiver dies: the batch is answered 503, counted against the TCP output only, and
    // the bookmark stays.
    receiver.stop();
    let refused = deliver(port, &offer, &batch(&offer, 3, &events[20..30], true));
    assert_eq!(refused.status, 503, "{}", text(&refused.body));
    assert_eq!(enumerate(port).bookmark, Some(20));
    let samples = collector.scrape();
    assert_eq!(metric(&samples, "wsman_wec_output_errors_total", &tcp), 1.0);
    assert_eq!(
        metric(&samples, "wsman_wec_output_errors_total", &file),
        0.0
    );
    assert_eq!(
        metric(&samples, "wsman_wec_output_write_seconds_count", &file),
        3.0
    );
    assert_eq!(
        metric(&samples, "wsman_wec_output_write_seconds_count", &tcp),
        3.0
    );

    // Back on its port: the forwarder's resend is acknowledged and lands.
    let restarted = LineReceiver::start(receiver.port());
    resend_until_acknowledged(
        (port, &offer),
        3,
        &events[20..30],
        (Duration::from_secs(20), Duration::from_millis(100)),
        "receiver",
    );
    assert_eq!(restarted.wait_for(10), events[20..30]);
    assert_eq!(enumerate(port).bookmark, Some(30));
    // The file had taken the refused batch before the TCP output failed: the resend is
    // written to it again (at least once, as docs/collector.md says).
    let stored = lines(&output.join("wef").join(format!("{SERVICE_ACCOUNT}.xml")));
    assert_eq!(stored[..20], events[..20]);
    assert!(
        stored[20..]
            .chunks(10)
            .all(|chunk| chunk == &events[20..30]),
        "{stored:?}"
    );
}

#[test]
fn a_stalled_relp_receiver_is_answered_503_and_the_resend_lands() {
    let state = tempfile::tempdir().expect("tempdir");
    let output = state.path().join("out");
    let relp_port = wsman_test::free_port();
    let receiver = rsyslog_relp(state.path(), "relp", relp_port, None);
    let collector = Collector::start_with_outputs(
        state.path(),
        &format!("{}/{{subscription}}/{{client}}.xml", output.display()),
        &format!(
            "[[outputs]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{relp_port}\"\ntransport = \"relp\"\ntimeout_ms = 500\nmax_backoff_ms = 200\n"
        ),
    );
    let port = collector.port;
    let offer = enumerate(port);
    let events = numbered_events(20);
    deliver_acknowledged(port, &offer, 1, &events[0..10]);
    // Answered over RELP means written by rsyslog (its Direct queue): there at the Ack.
    let msgs = |records: Vec<serde_json::Value>| -> Vec<String> {
        records
            .iter()
            .map(|r| r["msg"].as_str().expect("msg").to_owned())
            .collect()
    };
    assert_eq!(msgs(receiver.records()), events[0..10]);

    // Stalled (SIGSTOP): no answer within timeout_ms, the batch is answered 503, the bookmark
    // stays.
    receiver.signal("-STOP");
    let refused = deliver(port, &offer, &batch(&offer, 2, &events[10..20], true));
    assert_eq!(refused.status, 503, "{}", text(&refused.body));
    assert_eq!(enumerate(port).bookmark, Some(10));
    let samples = collector.scrape();
    assert_eq!(
        metric(
            &samples,
            "wsman_wec_output_errors_total",
            &[("subscription", "wef"), ("output", "syslog")]
        ),
        1.0
    );

    // Going again: the forwarder's resend is acknowledged, and every event is there (the
    // stalled receiver may have read the first attempt too: at least once).
    receiver.signal("-CONT");
    resend_until_acknowledged(
        (port, &offer),
        2,
        &events[10..20],
        (Duration::from_secs(20), Duration::from_millis(100)),
        "RELP receiver",
    );
    assert_eq!(enumerate(port).bookmark, Some(20));
    let received = msgs(receiver.records());
    assert!(events.iter().all(|e| received.contains(e)), "{received:?}");
    assert!(received.len() <= 30, "at most the stalled batch twice");
}

#[test]
fn check_config_refuses_bad_tcp_redis_journal_and_syslog_outputs_with_their_reason() {
    let key_dir = tempfile::tempdir().expect("tempdir");
    let not_pem = key_dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").expect("write");
    for (output, reason) in [
        (
            "type = \"tcp\"\naddress = \"127.0.0.1\"".to_owned(),
            "is not host:port".to_owned(),
        ),
        (
            "type = \"tcp\"\naddress = \"127.0.0.1:6514\"\ntls = true\nca_file = \"/nonexistent/ca.pem\"".to_owned(),
            "/nonexistent/ca.pem".to_owned(),
        ),
        (
            format!(
                "type = \"tcp\"\naddress = \"127.0.0.1:6514\"\ntls = true\nca_file = \"{}\"",
                not_pem.display()
            ),
            "no PEM certificate".to_owned(),
        ),
        (
            "type = \"redis\"\nurl = \"rediss://:hunter2@127.0.0.1:6379\"\nkey = \"wec\"".to_owned(),
            "rediss:// is not supported".to_owned(),
        ),
        (
            "type = \"journal\"\nsocket = \"journal.socket\"".to_owned(),
            "not an absolute path".to_owned(),
        ),
        (
            "type = \"syslog\"\naddress = \"127.0.0.1:6514\"\nsd_id = \"wec\"".to_owned(),
            "sd_id".to_owned(),
        ),
        (
            "type = \"syslog\"\naddress = \"127.0.0.1:6514\"\ntransport = \"relp\"\ntls = true\nca_file = \"/nonexistent/relp-ca.pem\"".to_owned(),
            "/nonexistent/relp-ca.pem".to_owned(),
        ),
    ] {
        let stderr = check_config_refuses(&format!("query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n[[outputs]]\n{output}\n"));
        assert!(stderr.contains(&reason), "{output}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

/// `wsmand check-config` on a node whose `collector.toml` binds the HEC token `hec-prod` to
/// `hec.example.com:8088` (over TLS, the default), with the subscription file of the one
/// `[[outputs]]` table `output`: whether it passed, and what it printed.
fn check_config_with_bound_token(output: &str) -> (bool, String) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut config = wsman_test::ConfigDir::new();
    config.listener(wsman_test::ListenerSpec::http(wsman_test::free_port()));
    config.write();
    config.write_raw(
        "collector.toml",
        "[secrets.hec-prod]\ndestinations = [\"hec.example.com:8088\"]\n",
    );
    let secret = config.write_raw("secrets/hec-prod", "hec-token-value\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    config.write_raw(
        "subscriptions/sec.toml",
        &format!("query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n[[outputs]]\n{output}\n"),
    );
    let result = config
        .wsmand_command()
        .arg("check-config")
        .output()
        .expect("check-config");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(!printed.contains("hec-token-value"), "{printed}");
    (result.status.success(), printed)
}

#[test]
fn check_config_refuses_a_secret_sent_where_its_binding_does_not_allow() {
    let hec = |url: &str| {
        format!("type = \"http\"\npreset = \"splunk_hec\"\nurl = \"{url}\"\ntoken_secret = \"hec-prod\"")
    };
    let (passed, printed) = check_config_with_bound_token(&hec("http://hec.example.com:8088"));
    assert!(
        !passed && printed.contains("may not be sent to hec.example.com:8088 in clear"),
        "{printed}"
    );
    let (passed, printed) = check_config_with_bound_token(&hec("https://attacker.example:8088"));
    assert!(
        !passed && printed.contains("not in [secrets.hec-prod] destinations"),
        "{printed}"
    );
    let (passed, printed) = check_config_with_bound_token(&hec("https://hec.example.com:8088"));
    assert!(passed, "the bound destination over TLS: {printed}");
}
