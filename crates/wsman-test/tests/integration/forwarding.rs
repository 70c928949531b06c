//! Windows Event Forwarding from a Linux host: a real wsmand as the forwarder, reading the
//! journal of a real systemd booted in its own namespaces, and a real wsmand as the collector
//! (a subscription file, the file output) on loopback, Basic with a service account.
//!
//! Entries logged in the namespace with `logger` (a unique tag) must reach the collector's file
//! in order, with the record ids journald gave them (read back with `journalctl -o export`),
//! gap-free, across a collector killed mid-stream and restarted, and a forwarder restarted
//! mid-stream, and a journal vacuumed past the forwarder's cursor while it was stopped (the
//! lost records are named by an event of their own). The first event is Windows' EventID 111,
//! sent once (the collector has a bookmark afterwards). A forwarder frozen with SIGSTOP past
//! its heartbeats is reported dead and resumes gap-free; what it puts on the wire is held to
//! the transcribed messages of a Windows forwarder (header set and order, SLDC, UTF-16).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wsman_test::systemd::BootedSystemd;
use wsman_test::{free_port, ConfigDir, Daemon, Fixture, ListenerSpec};
use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

/// What every forwarding test starts from: a booted systemd and its journal, a scratch
/// directory for the collector's output and bookmark database, and a tag of the test's own.
struct Scene {
    systemd: BootedSystemd,
    journal: PathBuf,
    state: tempfile::TempDir,
    output: PathBuf,
    database: PathBuf,
    tag: String,
}

impl Scene {
    /// `None` (reason printed) where systemd cannot boot here.
    fn boot(tag: &str) -> Option<Scene> {
        let systemd = BootedSystemd::boot()?;
        let journal = systemd.root().join("var/log/journal");
        let state = tempfile::tempdir().expect("tempdir");
        let output = state.path().join("out");
        let database = state.path().join("wec.sqlite");
        Some(Scene {
            systemd,
            journal,
            state,
            output,
            database,
            tag: format!("{tag}-{}", std::process::id()),
        })
    }
}

/// A collector subscription selecting the entries tagged `tag`, with `delivery` settings
/// (TOML lines), written as raw XML to `file` under `output`.
fn subscription(tag: &str, output: &Path, delivery: &str, file: &str) -> String {
    format!(
        "query = '<QueryList><Query Id=\"0\"><Select Path=\"Application\">*[System[Provider[@Name=\"{tag}\"]]]</Select></Query></QueryList>'\n{delivery}[[outputs]]\ntype = \"file\"\npath = \"{}/{file}\"\nformat = \"raw\"\n",
        output.display()
    )
}

/// The journal's sequence numbers of the entries tagged `tag`, in order: `__SEQNUM` where
/// journalctl prints it, else the `i=` (hex) part of the cursor, which is the same number.
fn journal_records(systemd: &BootedSystemd, tag: &str, count: usize) -> Vec<u64> {
    let export = systemd.journal_until(&["-t", tag, "-o", "export"], |out| {
        out.lines().filter(|l| l.starts_with("__CURSOR=")).count() >= count
    });
    seqnums(&export)
}

/// The sequence numbers of every entry `journalctl ARGS` prints.
fn journal_records_of(systemd: &BootedSystemd, args: &[&str]) -> Vec<u64> {
    let mut argv = vec!["-o", "export"];
    argv.extend_from_slice(args);
    seqnums(&systemd.journal_until(&argv, |out| out.contains("__CURSOR=")))
}

fn seqnums(export: &str) -> Vec<u64> {
    let seqnums: Vec<u64> = export
        .lines()
        .filter_map(|l| l.strip_prefix("__SEQNUM="))
        .map(|n| n.parse().expect("a sequence number"))
        .collect();
    if !seqnums.is_empty() {
        return seqnums;
    }
    export
        .lines()
        .filter_map(|l| l.strip_prefix("__CURSOR="))
        .filter_map(|c| c.split(';').find_map(|p| p.strip_prefix("i=")))
        .map(|hex| u64::from_str_radix(hex, 16).expect("a hex sequence number"))
        .collect()
}

/// EventRecordIDs of the events of `provider` in the collector's raw file, in file order.
fn collected(file: &Path, provider: &str) -> Vec<u64> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.contains(&format!("Name='{provider}'")) || l.contains(&format!("Name=\"{provider}\""))
        })
        .filter_map(|l| {
            l.split("<EventRecordID>")
                .nth(1)?
                .split('<')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn log_entries(systemd: &BootedSystemd, tag: &str, range: std::ops::Range<usize>) {
    for n in range {
        systemd.exec_ok(&[
            "logger",
            "-t",
            tag,
            "-p",
            "user.warning",
            &format!("forwarded entry {n}"),
        ]);
    }
}

#[test]
fn journal_events_reach_the_collector_in_order_across_restarts_of_either_side() {
    let Some(scene) = Scene::boot("wef") else {
        return;
    };
    let Scene {
        systemd,
        journal,
        state,
        output,
        database,
        tag,
    } = scene;

    // The collector: one subscription selecting the tag, delivered in batches of at most 4.
    let subscription = subscription(&tag, &output, "max_items = 4\nmax_latency_seconds = 1\nheartbeat_seconds = 60\nread_existing_events = true\n", "{client}.xml");
    let collector_env = [(
        "WSMAND_WEC_DATABASE",
        database.to_str().expect("utf-8 path"),
    )];
    let mut collector = Fixture::http_with_env(
        |config| {
            config.write_raw("subscriptions/linux.toml", &subscription);
        },
        &collector_env,
    );
    let file = output.join(format!("{SERVICE_ACCOUNT}.xml"));

    // Entries logged before the forwarder starts: the subscription reads existing events.
    log_entries(&systemd, &tag, 0..6);
    journal_records(&systemd, &tag, 6);

    // The forwarder.
    let forwarder_port = free_port();
    let mut forwarder_config = ConfigDir::new();
    forwarder_config.listener(ListenerSpec::http(forwarder_port));
    forwarder_config.write();
    let password = state.path().join("password");
    std::fs::write(&password, format!("{SERVICE_PASSWORD}\n")).expect("password file");
    forwarder_config.write_raw(
        "forwarding.toml",
        &format!(
            "computer = \"{SERVICE_ACCOUNT}.forwarder.test\"\nstate_directory = \"{}\"\nmax_retry_interval_seconds = 1\n\n[[collector]]\nserver = \"Server=http://127.0.0.1:{}/wsman/SubscriptionManager/WEC,Refresh=2\"\nauthentication = \"basic\"\nusername = \"{SERVICE_ACCOUNT}\"\npassword_file = \"{}\"\nallow_unencrypted = true\n",
            state.path().join("cursors").display(),
            collector.port,
            password.display()
        ),
    );
    let forwarder_env = [(
        "WSMAND_JOURNAL_DIRECTORY",
        journal.to_str().expect("utf-8 path"),
    )];
    let mut forwarder =
        Daemon::start_with_env(&forwarder_config, &[forwarder_port], &forwarder_env);
    let logs = |forwarder: &Daemon, collector: &Fixture| {
        format!(
            "file:\n{}\nforwarder:\n{}\ncollector:\n{}",
            std::fs::read_to_string(&file).unwrap_or_default(),
            forwarder.stderr(),
            collector.daemon.stderr()
        )
    };
    wait_for(
        "the existing entries at the collector",
        || collected(&file, &tag).len() >= 6,
        || logs(&forwarder, &collector),
    );

    // Fault 1: the collector is killed mid-stream and comes back. The log of each collector
    // instance is kept: it counts the events the forwarder sent again.
    log_entries(&systemd, &tag, 6..10);
    collector.daemon.stop();
    let mut earlier_collector_logs = collector.daemon.stderr();
    log_entries(&systemd, &tag, 10..16);
    collector.daemon = Daemon::start_with_env(&collector.config, &[collector.port], &collector_env);
    wait_for(
        "the entries logged while the collector was down",
        || collected(&file, &tag).len() >= 16,
        || logs(&forwarder, &collector),
    );

    // Fault 2: the forwarder is restarted mid-stream; it resumes from its cursor.
    log_entries(&systemd, &tag, 16..20);
    forwarder.stop();
    log_entries(&systemd, &tag, 20..26);
    forwarder = Daemon::start_with_env(&forwarder_config, &[forwarder_port], &forwarder_env);
    wait_for(
        "the entries logged while the forwarder was down",
        || collected(&file, &tag).len() >= 26,
        || logs(&forwarder, &collector),
    );

    let mut expected = journal_records(&systemd, &tag, 26);
    assert_eq!(expected.len(), 26, "journald kept every entry");

    // Fault 3: with the forwarder stopped, the journal is vacuumed past its cursor: every
    // entry it held goes. After the restart, the first event names the records lost.
    forwarder.stop();
    log_entries(&systemd, &tag, 26..28);
    std::thread::sleep(Duration::from_millis(1100));
    systemd.exec_ok(&["journalctl", "--rotate", "--vacuum-time=1s"]);
    log_entries(&systemd, &tag, 28..32);
    let after_vacuum = journal_records(&systemd, &tag, 4);
    assert_eq!(
        after_vacuum.len(),
        4,
        "the vacuum removed the earlier entries"
    );
    forwarder = Daemon::start_with_env(&forwarder_config, &[forwarder_port], &forwarder_env);
    wait_for(
        "the entries logged after the vacuum",
        || collected(&file, &tag).len() >= 30,
        || logs(&forwarder, &collector),
    );
    let oldest = journal_records_of(&systemd, &[])[0];
    let delivered_before = *expected.last().expect("entries");
    expected.extend(after_vacuum);

    // The collector writes each record once; what the forwarder sent again is what the
    // collector logged as already stored: at most one batch (4) per fault.
    let at_collector = collected(&file, &tag);
    let mut unique = at_collector.clone();
    unique.dedup();
    assert_eq!(unique, at_collector, "written once each");
    earlier_collector_logs.push_str(&collector.daemon.stderr());
    let sent_again: usize = earlier_collector_logs
        .lines()
        .filter(|l| l.contains("events already stored were not written again"))
        .filter_map(|l| {
            l.split("already_stored=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert!(sent_again <= 3 * 4, "{earlier_collector_logs}");
    assert_eq!(
        unique, expected,
        "in journal order, gap-free but for the vacuumed entries"
    );
    let written_now = std::fs::read_to_string(&file).expect("the output file");
    let lost: Vec<&str> = written_now
        .lines()
        .filter(|l| l.contains("wsmand-forwarder") && l.contains("<EventID>112</EventID>"))
        .collect();
    assert_eq!(lost.len(), 1, "{written_now}");
    assert!(
        lost[0].contains(&format!(
            "<Data Name='FirstLostRecordId'>{}</Data>",
            delivered_before + 1
        )) && lost[0].contains(&format!(
            "<Data Name='LastLostRecordId'>{}</Data>",
            oldest - 1
        )),
        "records {} to {}: {}",
        delivered_before + 1,
        oldest - 1,
        lost[0]
    );

    let written = std::fs::read_to_string(&file).expect("the output file");
    let bookmark_events = written
        .lines()
        .filter(|l| {
            l.contains("Microsoft-Windows-EventForwarder") && l.contains("<EventID>111</EventID>")
        })
        .count();
    assert_eq!(
        bookmark_events, 1,
        "EventID 111 once, before the first event:\n{written}"
    );
    assert!(
        written
            .lines()
            .next()
            .is_some_and(|l| l.contains("SubscriptionBookmarkEvent")),
        "{written}"
    );
    assert!(written.contains(&format!(
        "<Computer>{SERVICE_ACCOUNT}.forwarder.test</Computer>"
    )));
    let forwarder_log = forwarder.stderr();
    assert!(!forwarder_log.contains(SERVICE_PASSWORD));
    assert!(forwarder.is_running() && collector.daemon.is_running());
}

/// What the hostile collector saw.
#[derive(Default)]
struct Seen {
    enumerations: usize,
    /// Each delivery's body, decoded.
    deliveries: Vec<String>,
}

/// A collector that answers the forwarder's Enumerates, one after the other, with: not XML, an
/// answer whose items are all bad (no Version, Pull mode), an answer larger than the forwarder
/// reads (5 MiB), then a valid subscription with an option nobody knows; it takes deliveries
/// with an Ack.
fn hostile_collector(seen: std::sync::Arc<std::sync::Mutex<Seen>>) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("address").port();
    let item = |mode: &str, version: &str| {
        format!(
            "<m:Subscription xmlns:m=\"http://schemas.microsoft.com/wbem/wsman/1/subscription\">{version}<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe</a:Action><a:MessageID>uuid:00000000-0000-0000-0000-000000000009</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog</w:ResourceURI><w:OptionSet><w:Option Name=\"SubscriptionName\">hostile</w:Option><w:Option Name=\"Frobnicate\">yes</w:Option></w:OptionSet></s:Header><s:Body><e:Subscribe><e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/{mode}\"><w:Heartbeats>PT1.000S</w:Heartbeats><e:NotifyTo><a:Address>http://127.0.0.1:{port}/deliveries</a:Address><a:ReferenceProperties><e:Identifier>V1</e:Identifier></a:ReferenceProperties><c:Policy xmlns:c=\"http://schemas.xmlsoap.org/ws/2002/12/policy\" xmlns:auth=\"http://schemas.microsoft.com/wbem/wsman/1/authentication\"><c:ExactlyOne><c:All><auth:Authentication Profile=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic\"/></c:All></c:ExactlyOne></c:Policy></e:NotifyTo><w:MaxTime>PT1.000S</w:MaxTime></e:Delivery><w:Filter Dialect=\"http://schemas.microsoft.com/win/2004/08/events/eventquery\"><QueryList><Query Id=\"0\"><Select Path=\"Application\">*</Select></Query></QueryList></w:Filter></e:Subscribe></s:Body></s:Envelope></m:Subscription>"
        )
    };
    let good = item("Events", "<m:Version>uuid:V1</m:Version>");
    let bad = format!(
        "{}{}",
        item("Events", ""),
        item("Pull", "<m:Version>uuid:V2</m:Version>")
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = seen.clone();
            let (good, bad) = (good.clone(), bad.clone());
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let mut length = 0usize;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; length.min(1 << 20)];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let text = wsman_proto::charset::decode(&body, None)
                        .map(|(t, _)| t)
                        .unwrap_or_default();
                    let message_id = text
                        .split("MessageID>")
                        .nth(1)
                        .and_then(|r| r.split('<').next())
                        .unwrap_or("")
                        .to_owned();
                    let answer = if path.ends_with("/deliveries") {
                        seen.lock().expect("lock").deliveries.push(text);
                        wsman_events::delivery::ack_envelope(
                            &message_id,
                            "uuid:00000000-0000-0000-0000-00000000000a",
                        )
                    } else {
                        let n = {
                            let mut seen = seen.lock().expect("lock");
                            seen.enumerations += 1;
                            seen.enumerations
                        };
                        let items = match n {
                            1 => "not XML at all".to_owned(),
                            2 => bad.clone(),
                            3 => format!("<!--{}-->", "x".repeat(5 << 20)),
                            _ => good.clone(),
                        };
                        if n == 1 {
                            items
                        } else {
                            format!("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action><a:MessageID>uuid:00000000-0000-0000-0000-00000000000b</a:MessageID><a:RelatesTo>{message_id}</a:RelatesTo></s:Header><s:Body><n:EnumerateResponse><n:EnumerationContext/><w:Items>{items}</w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>")
                        }
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                        answer.len()
                    );
                    if writer.write_all(head.as_bytes()).is_err()
                        || writer.write_all(answer.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn bad_answers_from_a_collector_are_logged_and_the_forwarder_keeps_going() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
    let collector_port = hostile_collector(seen.clone());
    let state = tempfile::tempdir().expect("tempdir");
    let journal = state.path().join("journal");
    std::fs::create_dir(&journal).expect("an empty journal directory");
    let password = state.path().join("password");
    std::fs::write(&password, "secret-of-the-forwarder\n").expect("password file");
    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    config.write_raw(
        "forwarding.toml",
        &format!(
            "computer = \"linux01.example.test\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server=http://127.0.0.1:{collector_port}/wsman/SubscriptionManager/WEC,Refresh=1\"\nauthentication = \"basic\"\nusername = \"linux01\"\npassword_file = \"{}\"\nallow_unencrypted = true\n",
            state.path().join("cursors").display(),
            password.display()
        ),
    );
    let env = [("WSMAND_JOURNAL_DIRECTORY", journal.to_str().expect("utf-8"))];
    let mut forwarder = Daemon::start_with_env(&config, &[port], &env);
    wait_for(
        "a delivery of the valid subscription",
        || !seen.lock().expect("lock").deliveries.is_empty(),
        || forwarder.stderr(),
    );
    let first = seen.lock().expect("lock").deliveries[0].clone();
    assert!(first.contains("<EventID>111</EventID>"), "{first}");
    assert!(
        first.contains("<Computer>linux01.example.test</Computer>"),
        "{first}"
    );
    assert!(first.contains("V1"), "the Identifier echoed: {first}");
    let log = forwarder.stderr();
    assert!(log.contains("cannot be enumerated"), "{log}");
    assert!(log.contains("was refused"), "{log}");
    assert!(!log.contains("secret-of-the-forwarder"));
    assert!(forwarder.is_running());
    assert!(seen.lock().expect("lock").enumerations >= 4);
}

#[test]
fn basic_over_https_reaches_a_collector_and_follows_its_subscription_changes() {
    let Some(scene) = Scene::boot("wef-tls") else {
        return;
    };
    let Scene {
        systemd,
        journal,
        state,
        output,
        database,
        tag,
    } = scene;
    let subscription = subscription(
        &tag,
        &output,
        "max_latency_seconds = 1\nread_existing_events = true\n",
        "{client}.xml",
    );
    let https_port = free_port();
    let mut thumbprint = String::new();
    let collector_env = [(
        "WSMAND_WEC_DATABASE",
        database.to_str().expect("utf-8 path"),
    )];
    let mut collector = Fixture::http_with_env(
        |config| {
            thumbprint = config.add_certificate();
            config.listener(ListenerSpec::https(https_port, &thumbprint));
            config.write_raw("subscriptions/linux.toml", &subscription);
        },
        &collector_env,
    );
    collector.daemon.wait_for_port(https_port);
    let collector_certificate = collector
        .config
        .path()
        .join(format!("certs/{thumbprint}.crt"));
    log_entries(&systemd, &tag, 0..5);
    // A message journald stores zstd-compressed (over 512 bytes): the forwarder reads it through
    // the zstd contexts it keeps per thread instead of libzstd's one per value.
    let long_message: String = (0..400).map(|n| format!("{n:03}-")).collect();
    systemd.exec_ok(&[
        "logger",
        "--size",
        "4096",
        "-t",
        &tag,
        "-p",
        "user.warning",
        &long_message,
    ]);
    let expected = journal_records(&systemd, &tag, 6);
    let journal_text = systemd.journal_until(&["-t", &tag, "-o", "cat"], |out| {
        out.contains(&long_message)
    });
    assert!(journal_text.contains(&long_message));

    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    let password = state.path().join("password");
    std::fs::write(&password, format!("{SERVICE_PASSWORD}\n")).expect("password file");
    config.write_raw(
        "forwarding.toml",
        &format!(
            "computer = \"{SERVICE_ACCOUNT}.forwarder.test\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server=https://127.0.0.1:{https_port}/wsman/SubscriptionManager/WEC,Refresh=2\"\nauthentication = \"basic\"\nusername = \"{SERVICE_ACCOUNT}\"\npassword_file = \"{}\"\nca_file = \"{}\"\n",
            state.path().join("cursors").display(),
            password.display(),
            collector_certificate.display()
        ),
    );
    let env = [("WSMAND_JOURNAL_DIRECTORY", journal.to_str().expect("utf-8"))];
    let forwarder = Daemon::start_with_env(&config, &[port], &env);
    let file = output.join(format!("{SERVICE_ACCOUNT}.xml"));
    wait_for(
        "the entries at the collector over HTTPS",
        || collected(&file, &tag).len() >= 6,
        || format!("{}\n{}", forwarder.stderr(), collector.daemon.stderr()),
    );
    assert_eq!(collected(&file, &tag), expected);
    let delivered = std::fs::read_to_string(&file).expect("the collector's file");
    assert!(
        delivered.contains(&format!("<Data Name='MESSAGE'>{long_message}</Data>")),
        "the compressed message arrives whole"
    );

    // A changed subscription (new Version after the collector's reload) is restarted from the
    // collector's bookmark: nothing twice, nothing skipped.
    let started = |forwarder: &Daemon| {
        forwarder
            .stderr()
            .matches("forwarded subscription started")
            .count()
    };
    assert_eq!(started(&forwarder), 1);
    collector.config.write_raw(
        "subscriptions/linux.toml",
        &subscription.replace("max_latency_seconds = 1", "max_latency_seconds = 2"),
    );
    hang_up(&collector.daemon);
    wait_for(
        "the changed subscription restarted",
        || started(&forwarder) == 2,
        || forwarder.stderr(),
    );
    log_entries(&systemd, &tag, 5..8);
    let expected = journal_records(&systemd, &tag, 9);
    wait_for(
        "the entries after the change",
        || collected(&file, &tag).len() >= 9,
        || format!("{}\n{}", forwarder.stderr(), collector.daemon.stderr()),
    );
    assert_eq!(collected(&file, &tag), expected);

    // Withdrawn (disabled at the collector): stopped at the next refresh.
    collector.config.write_raw(
        "subscriptions/linux.toml",
        &format!("enabled = false\n{subscription}"),
    );
    hang_up(&collector.daemon);
    wait_for(
        "the withdrawn subscription stopped",
        || {
            forwarder
                .stderr()
                .contains("subscription withdrawn by the collector")
        },
        || forwarder.stderr(),
    );
    let offered = collector.daemon.stderr();
    assert!(!offered.contains(SERVICE_PASSWORD));
    assert!(!forwarder.stderr().contains(SERVICE_PASSWORD));
}

/// The daemon exports its stand-ins for libzstd's context functions, so that libsystemd's
/// journal reads bind to them (`wsman_os::zstd_contexts`); `readelf` reads the binary's
/// dynamic symbol table.
#[test]
fn the_daemon_exports_the_zstd_context_functions_libsystemd_binds_to() {
    let output = std::process::Command::new("readelf")
        .args(["--dyn-syms", "--wide"])
        .arg(wsman_test::binaries::wsmand())
        .output()
        .expect("readelf (binutils)");
    assert!(output.status.success());
    let table = String::from_utf8_lossy(&output.stdout);
    for symbol in ["ZSTD_createDCtx", "ZSTD_freeDCtx"] {
        let line = table
            .lines()
            .find(|l| l.split_whitespace().last() == Some(symbol))
            .unwrap_or_else(|| panic!("{symbol} not in the dynamic symbol table"));
        assert!(
            line.contains(" FUNC ") && line.contains(" GLOBAL ") && !line.contains(" UND "),
            "{symbol} is not defined by the daemon: {line}"
        );
    }
}

/// SIGHUP: the collector reads its subscriptions again.
fn hang_up(daemon: &Daemon) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

#[test]
fn a_client_certificate_from_the_issuer_the_collector_names_is_used_and_another_is_not() {
    use wsman_test::client_certs::{ClientSpec, TestCa};
    let Some(scene) = Scene::boot("wef-cert") else {
        return;
    };
    let Scene {
        systemd,
        journal,
        state,
        output,
        database,
        tag,
    } = scene;
    let host = "linux01.forwarder.test";
    let ca = TestCa::new("forwarders CA");
    let files = ca.issue(
        &ClientSpec::new(host),
        &state.path().join("client"),
        "linux01",
    );
    let subscription = subscription(
        &tag,
        &output,
        "max_latency_seconds = 1\nread_existing_events = true\n",
        "forwarded.xml",
    );
    let https_port = free_port();
    let mut thumbprint = String::new();
    let collector_env = [(
        "WSMAND_WEC_DATABASE",
        database.to_str().expect("utf-8 path"),
    )];
    let mut collector = Fixture::http_with_env(
        |config| {
            thumbprint = config.add_certificate();
            config.listener(ListenerSpec::https(https_port, &thumbprint));
            config.set("Config.Service.Auth", "Certificate", "true");
            ca.install(config);
            config.write_raw("subscriptions/linux.toml", &subscription);
        },
        &collector_env,
    );
    collector.daemon.wait_for_port(https_port);
    let mapped = collector.winrm_remote(&[
        "create",
        &format!(
            "winrm/config/service/certmapping?Issuer={}+Subject={host}+URI=*",
            ca.thumbprint
        ),
        "@{UserName=\"wsmanuser\";Enabled=\"true\"}",
    ]);
    assert_eq!(mapped.code(), 0, "{}", mapped.describe());
    let collector_certificate = collector
        .config
        .path()
        .join(format!("certs/{thumbprint}.crt"));
    log_entries(&systemd, &tag, 0..5);
    let expected = journal_records(&systemd, &tag, 5);

    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    let forwarding = |issuer: &str| {
        format!(
            "computer = \"{host}\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server=https://127.0.0.1:{https_port}/wsman/SubscriptionManager/WEC,Refresh=1,IssuerCA={issuer}\"\nauthentication = \"certificate\"\ncertificate = \"{}\"\nkey = \"{}\"\nca_file = \"{}\"\n",
            state.path().join("cursors").display(),
            files.certificate.display(),
            files.key.display(),
            collector_certificate.display()
        )
    };
    let env = [("WSMAND_JOURNAL_DIRECTORY", journal.to_str().expect("utf-8"))];

    // IssuerCA names a CA the collector does not list for our certificate: not delivered.
    config.write_raw("forwarding.toml", &forwarding(&"0".repeat(40)));
    let mut forwarder = Daemon::start_with_env(&config, &[port], &env);
    let log = forwarder.stderr_path();
    forwarder.wait_until("the policy refusal in the log", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("accepts none of our authentication")
    });
    forwarder.stop();
    let file = output.join("forwarded.xml");
    assert!(collected(&file, &tag).is_empty());

    // The CA that issued our certificate, as the collector's mapping names it.
    config.write_raw("forwarding.toml", &forwarding(&ca.thumbprint));
    let forwarder = Daemon::start_with_env(&config, &[port], &env);
    wait_for(
        "the entries at the collector with the client certificate",
        || collected(&file, &tag).len() >= 5,
        || format!("{}\n{}", forwarder.stderr(), collector.daemon.stderr()),
    );
    assert_eq!(collected(&file, &tag), expected);
}

#[test]
fn kerberos_from_the_credential_cache_reaches_a_collector_over_sealed_http() {
    let Some(kdc) = wsman_test::kdc::Kdc::start() else {
        return;
    };
    let Some(scene) = Scene::boot("wef-krb") else {
        return;
    };
    let Scene {
        systemd,
        journal,
        state,
        output,
        database,
        tag,
    } = scene;
    // The test principal's name is the Computer's first label (the collector's rule for a
    // principal that is neither a machine nor a service).
    let computer = format!("{}.forwarder.test", kdc.user());
    let subscription = subscription(
        &tag,
        &output,
        "max_latency_seconds = 1\nread_existing_events = true\n",
        "forwarded.xml",
    );
    let mut collector_env: Vec<(&str, &str)> = kdc
        .env()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    collector_env.push((
        "WSMAND_WEC_DATABASE",
        database.to_str().expect("utf-8 path"),
    ));
    let collector = Fixture::http_with_env(
        |config| {
            use std::os::unix::fs::PermissionsExt;
            config.set("Config.Service", "AllowUnencrypted", "false");
            let keytab = config.path().join("krb5.keytab");
            std::fs::copy(kdc.keytab(), &keytab).expect("the realm's keytab");
            std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600))
                .expect("keytab mode");
            config.write_raw("subscriptions/linux.toml", &subscription);
        },
        &collector_env,
    );
    log_entries(&systemd, &tag, 0..5);
    let expected = journal_records(&systemd, &tag, 5);

    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    config.write_raw(
        "forwarding.toml",
        &format!(
            "computer = \"{computer}\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server=http://{}:{}/wsman/SubscriptionManager/WEC,Refresh=1\"\nauthentication = \"kerberos\"\n",
            state.path().join("cursors").display(),
            kdc.host(),
            collector.port
        ),
    );
    let mut env = collector_env.clone();
    env.retain(|(k, _)| *k != "WSMAND_WEC_DATABASE");
    env.push(("WSMAND_JOURNAL_DIRECTORY", journal.to_str().expect("utf-8")));
    let forwarder = Daemon::start_with_env(&config, &[port], &env);
    let file = output.join("forwarded.xml");
    wait_for(
        "the entries at the collector with Kerberos",
        || collected(&file, &tag).len() >= 5,
        || format!("{}\n{}", forwarder.stderr(), collector.daemon.stderr()),
    );
    assert_eq!(collected(&file, &tag), expected);
    assert!(std::fs::read_to_string(&file)
        .unwrap_or_default()
        .contains(&format!("<Computer>{computer}</Computer>")));
}

/// SIGTERM: the daemon's orderly stop (Daemon::stop kills outright).
fn terminate(daemon: &mut Daemon) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &daemon.pid().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    while daemon.is_running() {
        assert!(Instant::now() < deadline, "wsmand did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sighup_rereads_forwarding_toml_and_collectors_dropped_or_stopped_get_subscription_end() {
    let Some(scene) = Scene::boot("wef-hup") else {
        return;
    };
    let Scene {
        systemd,
        journal,
        state,
        output,
        database,
        tag,
    } = scene;
    let subscription = subscription(
        &tag,
        &output,
        "max_latency_seconds = 1\nread_existing_events = true\n",
        "{client}.xml",
    );
    // Two collectors, each with its own bookmark database and output directory.
    let start_collector = |name: &str| {
        let database = database.with_file_name(format!("{name}.sqlite"));
        let subscription = subscription.replace(
            &format!("{}/", output.display()),
            &format!("{}/{name}/", output.display()),
        );
        Fixture::http_with_env(
            |config| {
                config.write_raw("subscriptions/linux.toml", &subscription);
            },
            &[(
                "WSMAND_WEC_DATABASE",
                database.to_str().expect("utf-8 path"),
            )],
        )
    };
    let first = start_collector("first");
    let second = start_collector("second");
    let first_file = output.join(format!("first/{SERVICE_ACCOUNT}.xml"));
    let second_file = output.join(format!("second/{SERVICE_ACCOUNT}.xml"));
    log_entries(&systemd, &tag, 0..3);
    journal_records(&systemd, &tag, 3);

    let password = state.path().join("password");
    std::fs::write(&password, format!("{SERVICE_PASSWORD}\n")).expect("password file");
    let forwarding = |ports: &[u16]| {
        let mut text = format!(
            "computer = \"{SERVICE_ACCOUNT}.forwarder.test\"\nstate_directory = \"{}\"\n",
            state.path().join("cursors").display()
        );
        for port in ports {
            text.push_str(&format!("[[collector]]\nserver = \"Server=http://127.0.0.1:{port}/wsman/SubscriptionManager/WEC,Refresh=1\"\nauthentication = \"basic\"\nusername = \"{SERVICE_ACCOUNT}\"\npassword_file = \"{}\"\nallow_unencrypted = true\n", password.display()));
        }
        text
    };
    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    config.write_raw("forwarding.toml", &forwarding(&[first.port]));
    let env = [("WSMAND_JOURNAL_DIRECTORY", journal.to_str().expect("utf-8"))];
    let mut forwarder = Daemon::start_with_env(&config, &[port], &env);
    let logs = |forwarder: &Daemon| {
        format!(
            "forwarder:\n{}\nfirst:\n{}\nsecond:\n{}",
            forwarder.stderr(),
            first.daemon.stderr(),
            second.daemon.stderr()
        )
    };
    wait_for(
        "the entries at the first collector",
        || collected(&first_file, &tag).len() >= 3,
        || logs(&forwarder),
    );

    // A file that does not check: logged, and the running configuration goes on.
    config.write_raw("forwarding.toml", "[[collector]]\nserver = 42\n");
    hang_up(&forwarder);
    wait_for(
        "the refused reload in the log",
        || forwarder.stderr().contains("forwarding.toml not reloaded"),
        || logs(&forwarder),
    );
    log_entries(&systemd, &tag, 3..5);
    wait_for(
        "entries at the first collector after the refused reload",
        || collected(&first_file, &tag).len() >= 5,
        || logs(&forwarder),
    );
    assert!(forwarder.is_running());

    // The first collector replaced by the second: the first is told (SubscriptionEnd), the
    // second gets every entry (its subscription reads existing events).
    let ended = |collector: &Fixture| {
        collector
            .daemon
            .stderr()
            .matches("the forwarder ended its subscription")
            .count()
    };
    assert_eq!(ended(&first), 0);
    config.write_raw("forwarding.toml", &forwarding(&[second.port]));
    hang_up(&forwarder);
    wait_for(
        "SubscriptionEnd at the first collector",
        || ended(&first) == 1,
        || logs(&forwarder),
    );
    let expected = journal_records(&systemd, &tag, 5);
    wait_for(
        "the entries at the second collector",
        || collected(&second_file, &tag).len() >= 5,
        || logs(&forwarder),
    );
    assert_eq!(collected(&second_file, &tag), expected);
    assert_eq!(collected(&first_file, &tag), expected);

    // Nothing changed: a reload keeps everything running, nothing is ended.
    hang_up(&forwarder);
    wait_for(
        "the unchanged reload in the log",
        || {
            forwarder
                .stderr()
                .contains("forwarding.toml reloaded: unchanged")
        },
        || logs(&forwarder),
    );
    assert_eq!(ended(&second), 0);

    // SIGTERM: the second collector is told before the daemon exits.
    terminate(&mut forwarder);
    wait_for(
        "SubscriptionEnd at the second collector",
        || ended(&second) == 1,
        || logs(&forwarder),
    );
    assert_eq!(ended(&first), 1, "the first collector was told once");
    assert!(forwarder.stderr().contains("SubscriptionEnd sent"));
}

/// `wsmand wec clients NAME` on the collector: each forwarder's state, by name.
fn client_states(collector: &Fixture, database: &Path, name: &str) -> Vec<(String, String)> {
    let cli = std::process::Command::new(wsman_test::binaries::wsmand())
        .arg("--config-dir")
        .arg(collector.config.path())
        .arg("--wec-database")
        .arg(database)
        .args(["wec", "clients", name])
        .output()
        .expect("wsmand wec clients");
    let out = String::from_utf8_lossy(&cli.stdout).into_owned();
    assert!(cli.status.success(), "{out}");
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_owned(), words.last()?.to_owned()))
        })
        .collect()
}

/// The fault "freeze the forwarder past Heartbeats": a real forwarding wsmand stopped with
/// SIGSTOP for longer than its subscription's heartbeat interval. The collector calls it dead
/// by the heartbeat rule (`wsmand wec clients`), not active as an event in the last 15
/// minutes would have; after SIGCONT it resumes, and the record ids at the collector are the
/// journal's, in order and gap-free, with at most one batch sent twice.
#[test]
fn a_forwarder_frozen_past_its_heartbeats_is_dead_and_resumes_gap_free() {
    let Some(scene) = Scene::boot("wef-freeze") else {
        return;
    };
    let Scene {
        systemd,
        journal,
        state,
        output,
        database,
        tag,
    } = scene;
    // Heartbeats every 3 s: alive within 4.5 s of the last message, dead after.
    let subscription = subscription(
        &tag,
        &output,
        "max_items = 4\nmax_latency_seconds = 1\nheartbeat_seconds = 3\nread_existing_events = true\n",
        "{client}.xml",
    );
    let collector_env = [(
        "WSMAND_WEC_DATABASE",
        database.to_str().expect("utf-8 path"),
    )];
    let collector = Fixture::http_with_env(
        |config| {
            config.write_raw("subscriptions/linux.toml", &subscription);
        },
        &collector_env,
    );
    let file = output.join(format!("{SERVICE_ACCOUNT}.xml"));
    log_entries(&systemd, &tag, 0..4);

    let forwarder_port = free_port();
    let mut forwarder_config = ConfigDir::new();
    forwarder_config.listener(ListenerSpec::http(forwarder_port));
    forwarder_config.write();
    let password = state.path().join("password");
    std::fs::write(&password, format!("{SERVICE_PASSWORD}\n")).expect("password file");
    forwarder_config.write_raw(
        "forwarding.toml",
        &format!(
            "computer = \"{SERVICE_ACCOUNT}.forwarder.test\"\nstate_directory = \"{}\"\nmax_retry_interval_seconds = 1\n\n[[collector]]\nserver = \"Server=http://127.0.0.1:{}/wsman/SubscriptionManager/WEC,Refresh=2\"\nauthentication = \"basic\"\nusername = \"{SERVICE_ACCOUNT}\"\npassword_file = \"{}\"\nallow_unencrypted = true\n",
            state.path().join("cursors").display(),
            collector.port,
            password.display()
        ),
    );
    let forwarder_env = [(
        "WSMAND_JOURNAL_DIRECTORY",
        journal.to_str().expect("utf-8 path"),
    )];
    let mut forwarder =
        Daemon::start_with_env(&forwarder_config, &[forwarder_port], &forwarder_env);
    let logs = |forwarder: &Daemon| {
        format!(
            "file:\n{}\nforwarder:\n{}\ncollector:\n{}",
            std::fs::read_to_string(&file).unwrap_or_default(),
            forwarder.stderr(),
            collector.daemon.stderr()
        )
    };
    wait_for(
        "the first entries at the collector",
        || collected(&file, &tag).len() >= 4,
        || logs(&forwarder),
    );
    let state_of = || {
        client_states(&collector, &database, "linux")
            .into_iter()
            .find(|(client, _)| client == SERVICE_ACCOUNT)
            .map(|(_, state)| state)
            .unwrap_or_default()
    };
    // Idle but heartbeating: alive once the events are older than one interval.
    wait_for(
        "the idle forwarder alive by its heartbeats",
        || state_of() == "alive",
        || logs(&forwarder),
    );

    // Frozen: no heartbeat comes; the collector calls it dead. Entries logged meanwhile wait.
    let pid = forwarder.pid().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {name} {pid}");
    };
    signal("-STOP");
    log_entries(&systemd, &tag, 4..10);
    let frozen_at = collected(&file, &tag).len();
    wait_for(
        "the frozen forwarder dead by the heartbeat rule",
        || state_of() == "dead",
        || logs(&forwarder),
    );
    assert_eq!(
        collected(&file, &tag).len(),
        frozen_at,
        "nothing delivered while frozen"
    );

    // Thawed: it resumes, and is active again with its next batch.
    signal("-CONT");
    wait_for(
        "the entries logged while the forwarder was frozen",
        || collected(&file, &tag).len() >= 10,
        || logs(&forwarder),
    );
    wait_for(
        "the thawed forwarder active",
        || state_of() == "active",
        || logs(&forwarder),
    );
    let expected = journal_records(&systemd, &tag, 10);
    let at_collector = collected(&file, &tag);
    assert_eq!(
        at_collector, expected,
        "in journal order, gap-free, once each"
    );
    let sent_again: usize = collector
        .daemon
        .stderr()
        .lines()
        .filter(|l| l.contains("events already stored were not written again"))
        .filter_map(|l| {
            l.split("already_stored=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert!(
        sent_again <= 4,
        "at most one batch twice: {}",
        logs(&forwarder)
    );
    assert!(forwarder.is_running());
}

/// A collector that offers one subscription as a Windows collector does (`Compression` SLDC,
/// UTF-16, CDATA, heartbeats every second) and records what the forwarder sends: the
/// Enumerate and each delivery with its `Content-Encoding`, decoded. It acknowledges every
/// delivery.
#[derive(Default)]
struct Recorded {
    /// (Content-Type, body decoded, whether it began with the UTF-16LE byte-order mark)
    enumerates: Vec<(String, String, bool)>,
    /// (Content-Encoding, Content-Type, body decompressed and decoded, whether the
    /// decompressed body began with the UTF-16LE byte-order mark, whether the compressed
    /// body ended as Windows ends one: an even length, then the uncompressed length as a
    /// little-endian u32)
    deliveries: Vec<(String, String, String, bool, bool)>,
}

fn recording_collector(recorded: std::sync::Arc<std::sync::Mutex<Recorded>>) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("address").port();
    let item = format!(
        "<m:Subscription xmlns:m=\"http://schemas.microsoft.com/wbem/wsman/1/subscription\"><m:Version>uuid:7D3C0B1A-6E2F-4A95-8C40-1B9E5D7F3A62</m:Version><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog</w:ResourceURI><a:Action>http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe</a:Action><a:MessageID>uuid:00000000-0000-0000-0000-000000000019</a:MessageID><w:OptionSet xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><w:Option Name=\"SubscriptionName\">shape</w:Option><w:Option Name=\"Compression\">SLDC</w:Option><w:Option Name=\"CDATA\" xsi:nil=\"true\"/><w:Option Name=\"ContentFormat\">RenderedText</w:Option><w:Option Name=\"IgnoreChannelError\" xsi:nil=\"true\"/></w:OptionSet></s:Header><s:Body><e:Subscribe><e:EndTo><a:Address>http://127.0.0.1:{port}/wsman/subscriptions/7D3C0B1A/1</a:Address><a:ReferenceProperties><e:Identifier>7D3C0B1A-6E2F-4A95-8C40-1B9E5D7F3A62</e:Identifier></a:ReferenceProperties></e:EndTo><e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\"><w:Heartbeats>PT1.000S</w:Heartbeats><e:NotifyTo><a:Address>http://127.0.0.1:{port}/wsman/subscriptions/7D3C0B1A/1</a:Address><a:ReferenceProperties><e:Identifier>7D3C0B1A-6E2F-4A95-8C40-1B9E5D7F3A62</e:Identifier></a:ReferenceProperties><c:Policy xmlns:c=\"http://schemas.xmlsoap.org/ws/2002/12/policy\" xmlns:auth=\"http://schemas.microsoft.com/wbem/wsman/1/authentication\"><c:ExactlyOne><c:All><auth:Authentication Profile=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic\"/></c:All></c:ExactlyOne></c:Policy></e:NotifyTo><w:ConnectionRetry Total=\"5\">PT60.0S</w:ConnectionRetry><w:MaxTime>PT1.000S</w:MaxTime><w:MaxEnvelopeSize Policy=\"Notify\">512000</w:MaxEnvelopeSize><w:ContentEncoding>UTF-16</w:ContentEncoding></e:Delivery><w:Filter Dialect=\"http://schemas.microsoft.com/win/2004/08/events/eventquery\"><QueryList><Query Id=\"0\"><Select Path=\"Application\">*</Select></Query></QueryList></w:Filter><w:SendBookmarks/></e:Subscribe></s:Body></s:Envelope></m:Subscription>"
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let recorded = recorded.clone();
            let item = item.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let (mut length, mut encoding, mut content_type) =
                        (0usize, String::new(), String::new());
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            let value = value.trim().to_owned();
                            match name.to_ascii_lowercase().as_str() {
                                "content-length" => length = value.parse().unwrap_or(0),
                                "content-encoding" => encoding = value,
                                "content-type" => content_type = value,
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0; length.min(1 << 20)];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let plain = if encoding.eq_ignore_ascii_case("SLDC") {
                        wsman_events::sldc::decompress(&body, 1 << 22).unwrap_or_default()
                    } else {
                        body.clone()
                    };
                    let framed = body.len() % 2 == 0
                        && body.len() >= 4
                        && body[body.len() - 4..] == (plain.len() as u32).to_le_bytes();
                    let bom = plain.starts_with(&[0xFF, 0xFE]);
                    let text = wsman_proto::charset::decode(&plain, None)
                        .map(|(t, _)| t)
                        .unwrap_or_default();
                    let message_id = text
                        .split("MessageID>")
                        .nth(1)
                        .and_then(|r| r.split('<').next())
                        .unwrap_or("")
                        .to_owned();
                    let answer = if path.contains("/subscriptions/") {
                        recorded.lock().expect("lock").deliveries.push((
                            encoding,
                            content_type,
                            text,
                            bom,
                            framed,
                        ));
                        wsman_events::delivery::ack_envelope(
                            &message_id,
                            "uuid:00000000-0000-0000-0000-00000000001a",
                        )
                    } else {
                        recorded
                            .lock()
                            .expect("lock")
                            .enumerates
                            .push((content_type, text, bom));
                        format!("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action><a:MessageID>uuid:00000000-0000-0000-0000-00000000001b</a:MessageID><a:RelatesTo>{message_id}</a:RelatesTo></s:Header><s:Body><n:EnumerateResponse><n:EnumerationContext/><w:Items>{item}</w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>")
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                        answer.len()
                    );
                    if writer.write_all(head.as_bytes()).is_err()
                        || writer.write_all(answer.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// The header of an envelope as (namespace, name) in order.
fn header_names(text: &str) -> Vec<(String, String)> {
    let root = wsman_proto::xml::parse(text, &wsman_proto::xml::Limits::default())
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    let names = root
        .elements()
        .find(|e| e.name == "Header")
        .map(|h| {
            h.elements()
                .map(|e| (e.ns.clone().unwrap_or_default(), e.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    names
}

/// A transcribed Windows forwarder message (the line after its provenance comment).
fn windows_message(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wsman-events/tests/fixtures/windows-forwarder")
        .join(name);
    let text = std::fs::read_to_string(path).expect("the fixture");
    text.split_once('\n').expect("provenance").1.to_owned()
}

/// What our real forwarder sends, against what a Windows forwarder sends: the Enumerate, the
/// first Events batch (EventID 111) and a Heartbeat have the Windows header set in the
/// Windows order, echo the NotifyTo reference parameter, and go UTF-16LE with a byte-order
/// mark and SLDC-compressed, because the Subscribe asked for both.
#[test]
fn our_forwarder_sends_what_a_windows_forwarder_sends() {
    let recorded = std::sync::Arc::new(std::sync::Mutex::new(Recorded::default()));
    let collector_port = recording_collector(recorded.clone());
    let state = tempfile::tempdir().expect("tempdir");
    let journal = state.path().join("journal");
    std::fs::create_dir(&journal).expect("an empty journal directory");
    let password = state.path().join("password");
    std::fs::write(&password, "secret-of-the-forwarder\n").expect("password file");
    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    config.write_raw(
        "forwarding.toml",
        &format!(
            "computer = \"linux01.example.test\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server=http://127.0.0.1:{collector_port}/wsman/SubscriptionManager/WEC,Refresh=60\"\nauthentication = \"basic\"\nusername = \"linux01\"\npassword_file = \"{}\"\nallow_unencrypted = true\n",
            state.path().join("cursors").display(),
            password.display()
        ),
    );
    let env = [("WSMAND_JOURNAL_DIRECTORY", journal.to_str().expect("utf-8"))];
    let forwarder = Daemon::start_with_env(&config, &[port], &env);
    let action = |text: &str| {
        text.split("Action s:mustUnderstand=\"true\">")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap_or("")
            .to_owned()
    };
    wait_for(
        "an Events batch and a Heartbeat",
        || {
            let recorded = recorded.lock().expect("lock");
            recorded
                .deliveries
                .iter()
                .any(|d| action(&d.2).ends_with("/Events"))
                && recorded
                    .deliveries
                    .iter()
                    .any(|d| action(&d.2).ends_with("/Heartbeat"))
        },
        || forwarder.stderr(),
    );
    let recorded = recorded.lock().expect("lock");
    let (content_type, enumerate, bom) = &recorded.enumerates[0];
    // UTF-16LE with a byte-order mark, as Windows sends it (and OpenWEC reads it, only so).
    assert!(bom, "the Enumerate in UTF-16LE with a byte-order mark");
    assert_eq!(content_type, "application/soap+xml;charset=UTF-16");
    assert_eq!(
        header_names(enumerate),
        header_names(&windows_message("enumerate.request.xml")),
        "{enumerate}"
    );
    for (encoding, content_type, text, bom, framed) in &recorded.deliveries {
        assert_eq!(encoding, "SLDC", "compressed, as the Subscribe asked");
        assert!(
            framed,
            "SLDC ends as the Windows capture: padding, then the length"
        );
        assert!(bom, "UTF-16LE with a byte-order mark");
        assert!(content_type.ends_with("charset=UTF-16"), "{content_type}");
        assert!(
            text.contains("<e:Identifier xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\">7D3C0B1A-6E2F-4A95-8C40-1B9E5D7F3A62</e:Identifier>")
                || text.contains(">7D3C0B1A-6E2F-4A95-8C40-1B9E5D7F3A62</"),
            "the reference parameter echoed: {text}"
        );
        let windows = if action(text).ends_with("/Heartbeat") {
            windows_message("heartbeat.request.xml")
        } else if text.contains("<w:Bookmark>") {
            windows_message("events-1.request.xml")
        } else {
            windows_message("events.bookmark-event.request.xml")
        };
        assert_eq!(header_names(text), header_names(&windows), "{text}");
    }
    let first = &recorded.deliveries[0].2;
    assert!(first.contains("<EventID>111</EventID>"), "{first}");
}
