//! What collectors offer and answer: bad answers are logged and the forwarder keeps going,
//! subscription changes and withdrawals are followed, forwarding.toml is read again at SIGHUP
//! with SubscriptionEnd for the collectors dropped or stopped.

use super::*;

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
    scripted_collector(move |request, port| {
        let item = |mode: &str, version: &str| {
            format!(
                "<m:Subscription xmlns:m=\"http://schemas.microsoft.com/wbem/wsman/1/subscription\">{version}<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe</a:Action><a:MessageID>uuid:00000000-0000-0000-0000-000000000009</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog</w:ResourceURI><w:OptionSet><w:Option Name=\"SubscriptionName\">hostile</w:Option><w:Option Name=\"Frobnicate\">yes</w:Option></w:OptionSet></s:Header><s:Body><e:Subscribe><e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/{mode}\"><w:Heartbeats>PT1.000S</w:Heartbeats><e:NotifyTo><a:Address>http://127.0.0.1:{port}/deliveries</a:Address><a:ReferenceProperties><e:Identifier>V1</e:Identifier></a:ReferenceProperties><c:Policy xmlns:c=\"http://schemas.xmlsoap.org/ws/2002/12/policy\" xmlns:auth=\"http://schemas.microsoft.com/wbem/wsman/1/authentication\"><c:ExactlyOne><c:All><auth:Authentication Profile=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic\"/></c:All></c:ExactlyOne></c:Policy></e:NotifyTo><w:MaxTime>PT1.000S</w:MaxTime></e:Delivery><w:Filter Dialect=\"http://schemas.microsoft.com/win/2004/08/events/eventquery\"><QueryList><Query Id=\"0\"><Select Path=\"Application\">*</Select></Query></QueryList></w:Filter></e:Subscribe></s:Body></s:Envelope></m:Subscription>"
            )
        };
        let text = wsman_proto::charset::decode(&request.body, None)
            .map(|(t, _)| t)
            .unwrap_or_default();
        let message_id = message_id_of(&text);
        if request.path.ends_with("/deliveries") {
            seen.lock().expect("lock").deliveries.push(text);
            return wsman_events::delivery::ack_envelope(
                &message_id,
                "uuid:00000000-0000-0000-0000-00000000000a",
            );
        }
        let n = {
            let mut seen = seen.lock().expect("lock");
            seen.enumerations += 1;
            seen.enumerations
        };
        match n {
            1 => "not XML at all".to_owned(),
            2 => enumerate_response(
                "uuid:00000000-0000-0000-0000-00000000000b",
                &message_id,
                &format!(
                    "{}{}",
                    item("Events", ""),
                    item("Pull", "<m:Version>uuid:V2</m:Version>")
                ),
            ),
            3 => enumerate_response(
                "uuid:00000000-0000-0000-0000-00000000000b",
                &message_id,
                &format!("<!--{}-->", "x".repeat(5 << 20)),
            ),
            _ => enumerate_response(
                "uuid:00000000-0000-0000-0000-00000000000b",
                &message_id,
                &item("Events", "<m:Version>uuid:V1</m:Version>"),
            ),
        }
    })
}

#[test]
fn bad_answers_from_a_collector_are_logged_and_the_forwarder_keeps_going() {
    let (_state, seen, mut forwarder) = linux01_forwarding_to(hostile_collector, 1);
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
    let subscription = scene.prompt_subscription("{client}.xml");
    let (collector, https_port, collector_certificate) =
        scene.https_collector(&subscription, |_| {});
    log_entries(&scene.systemd, &scene.tag, 0..5);
    // A message journald stores zstd-compressed (over 512 bytes): the forwarder reads it through
    // the zstd contexts it keeps per thread instead of libzstd's one per value.
    let long_message: String = (0..400).map(|n| format!("{n:03}-")).collect();
    scene.systemd.exec_ok(&[
        "logger",
        "--size",
        "4096",
        "-t",
        &scene.tag,
        "-p",
        "user.warning",
        &long_message,
    ]);
    let expected = journal_records(&scene.systemd, &scene.tag, 6);
    let journal_text = scene
        .systemd
        .journal_until(&["-t", &scene.tag, "-o", "cat"], |out| {
            out.contains(&long_message)
        });
    assert!(journal_text.contains(&long_message));

    let (config, port) = forwarder_config(&format!(
        "computer = \"{SERVICE_ACCOUNT}.forwarder.test\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server=https://127.0.0.1:{https_port}/wsman/SubscriptionManager/WEC,Refresh=2\"\nauthentication = \"basic\"\nusername = \"{SERVICE_ACCOUNT}\"\npassword_file = \"{}\"\nca_file = \"{}\"\n",
        scene.cursors().display(),
        scene.password_file().display(),
        collector_certificate.display()
    ));
    let forwarder = Daemon::start_with_env(&config, &[port], &scene.forwarder_env());
    let file = scene.output.join(format!("{SERVICE_ACCOUNT}.xml"));
    wait_for(
        "the entries at the collector over HTTPS",
        || collected(&file, &scene.tag).len() >= 6,
        || format!("{}\n{}", forwarder.stderr(), collector.daemon.stderr()),
    );
    assert_eq!(collected(&file, &scene.tag), expected);
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
    collector.daemon.hang_up();
    wait_for(
        "the changed subscription restarted",
        || started(&forwarder) == 2,
        || forwarder.stderr(),
    );
    log_entries(&scene.systemd, &scene.tag, 5..8);
    let expected = journal_records(&scene.systemd, &scene.tag, 9);
    wait_for(
        "the entries after the change",
        || collected(&file, &scene.tag).len() >= 9,
        || format!("{}\n{}", forwarder.stderr(), collector.daemon.stderr()),
    );
    assert_eq!(collected(&file, &scene.tag), expected);

    // Withdrawn (disabled at the collector): stopped at the next refresh.
    collector.config.write_raw(
        "subscriptions/linux.toml",
        &format!("enabled = false\n{subscription}"),
    );
    collector.daemon.hang_up();
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

/// A collector of its own bookmark database and output directory (`name` under the scene's),
/// serving `subscription`.
fn collector_of(scene: &Scene, subscription: &str, name: &str) -> Fixture {
    let database = scene.database.with_file_name(format!("{name}.sqlite"));
    let subscription = subscription.replace(
        &format!("{}/", scene.output.display()),
        &format!("{}/{name}/", scene.output.display()),
    );
    Fixture::http_with_env(
        |config| {
            config.write_raw("subscriptions/linux.toml", &subscription);
        },
        &wec_database_env(&database),
    )
}

/// forwarding.toml naming the collectors on `ports`, with the scene's cursors and `password`.
fn forwarding_to(scene: &Scene, password: &Path, ports: &[u16]) -> String {
    let mut text = format!(
        "computer = \"{SERVICE_ACCOUNT}.forwarder.test\"\nstate_directory = \"{}\"\n",
        scene.cursors().display()
    );
    for port in ports {
        text.push_str(&format!("[[collector]]\nserver = \"Server=http://127.0.0.1:{port}/wsman/SubscriptionManager/WEC,Refresh=1\"\nauthentication = \"basic\"\nusername = \"{SERVICE_ACCOUNT}\"\npassword_file = \"{}\"\nallow_unencrypted = true\n", password.display()));
    }
    text
}

/// How many times `collector` logged a forwarder ending its subscription (SubscriptionEnd).
fn subscriptions_ended(collector: &Fixture) -> usize {
    collector
        .daemon
        .stderr()
        .matches("the forwarder ended its subscription")
        .count()
}

#[test]
fn sighup_rereads_forwarding_toml_and_collectors_dropped_or_stopped_get_subscription_end() {
    let Some(scene) = Scene::boot("wef-hup") else {
        return;
    };
    let subscription = scene.prompt_subscription("{client}.xml");
    let first = collector_of(&scene, &subscription, "first");
    let second = collector_of(&scene, &subscription, "second");
    let first_file = scene.output.join(format!("first/{SERVICE_ACCOUNT}.xml"));
    let second_file = scene.output.join(format!("second/{SERVICE_ACCOUNT}.xml"));
    log_entries(&scene.systemd, &scene.tag, 0..3);
    journal_records(&scene.systemd, &scene.tag, 3);

    let password = scene.password_file();
    let forwarding = |ports: &[u16]| forwarding_to(&scene, &password, ports);
    let (config, port) = forwarder_config(&forwarding(&[first.port]));
    let mut forwarder = Daemon::start_with_env(&config, &[port], &scene.forwarder_env());
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
        || collected(&first_file, &scene.tag).len() >= 3,
        || logs(&forwarder),
    );

    // A file that does not check: logged, and the running configuration goes on.
    config.write_raw("forwarding.toml", "[[collector]]\nserver = 42\n");
    forwarder.hang_up();
    wait_for(
        "the refused reload in the log",
        || forwarder.stderr().contains("forwarding.toml not reloaded"),
        || logs(&forwarder),
    );
    log_entries(&scene.systemd, &scene.tag, 3..5);
    wait_for(
        "entries at the first collector after the refused reload",
        || collected(&first_file, &scene.tag).len() >= 5,
        || logs(&forwarder),
    );
    assert!(forwarder.is_running());

    // The first collector replaced by the second: the first is told (SubscriptionEnd), the
    // second gets every entry (its subscription reads existing events).
    assert_eq!(subscriptions_ended(&first), 0);
    config.write_raw("forwarding.toml", &forwarding(&[second.port]));
    forwarder.hang_up();
    wait_for(
        "SubscriptionEnd at the first collector",
        || subscriptions_ended(&first) == 1,
        || logs(&forwarder),
    );
    let expected = journal_records(&scene.systemd, &scene.tag, 5);
    wait_for(
        "the entries at the second collector",
        || collected(&second_file, &scene.tag).len() >= 5,
        || logs(&forwarder),
    );
    assert_eq!(collected(&second_file, &scene.tag), expected);
    assert_eq!(collected(&first_file, &scene.tag), expected);

    // Nothing changed: a reload keeps everything running, nothing is ended.
    forwarder.hang_up();
    wait_for(
        "the unchanged reload in the log",
        || {
            forwarder
                .stderr()
                .contains("forwarding.toml reloaded: unchanged")
        },
        || logs(&forwarder),
    );
    assert_eq!(subscriptions_ended(&second), 0);

    // SIGTERM: the second collector is told before the daemon exits.
    terminate(&mut forwarder);
    wait_for(
        "SubscriptionEnd at the second collector",
        || subscriptions_ended(&second) == 1,
        || logs(&forwarder),
    );
    assert_eq!(
        subscriptions_ended(&first),
        1,
        "the first collector was told once"
    );
    assert!(forwarder.stderr().contains("SubscriptionEnd sent"));
}

/// A collector whose answer is larger than the forwarder's MaxEnvelopeSize (30 subscriptions of
/// about 25 KB) pages it; the forwarder Pulls every page and starts every subscription once.
#[test]
fn a_paged_answer_is_pulled_whole_and_every_subscription_started() {
    let state = tempfile::tempdir().expect("tempdir");
    let (collector, subscriptions) =
        crate::collector_paging::collector_of_large_subscriptions(state.path());
    let forwarder = forwarder_over_an_empty_journal(
        state.path(),
        &format!("{SERVICE_ACCOUNT}.forwarder.test"),
        &format!(
            "http://127.0.0.1:{}/wsman/SubscriptionManager/WEC,Refresh=60",
            collector.port
        ),
        SERVICE_ACCOUNT,
        SERVICE_PASSWORD,
    );
    let started = |log: &str| -> std::collections::BTreeSet<String> {
        log.lines()
            .filter(|l| l.contains("forwarded subscription started"))
            .filter_map(|l| l.split("subscription=").nth(1))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(|name| name.trim_matches('"').to_owned())
            .collect()
    };
    wait_for(
        "every subscription of the paged answer started",
        || started(&forwarder.stderr()).len() >= subscriptions.len(),
        || format!("{}\n{}", forwarder.stderr(), collector.daemon.stderr()),
    );
    assert_eq!(started(&forwarder.stderr()), subscriptions);
    let log = forwarder.stderr();
    assert_eq!(
        log.matches("forwarded subscription started").count(),
        subscriptions.len(),
        "each subscription started once"
    );
    assert!(!log.contains("cannot be enumerated"), "{log}");
}
