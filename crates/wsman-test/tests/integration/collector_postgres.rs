//! Two collector daemons sharing their bookmarks in one real PostgreSQL server
//! (`wsman_test::postgres`), and a forwarder (raw HTTP, Basic, the deliveries Windows sends)
//! moving between them: each collector offers the bookmark the other stored, a batch one of
//! them stored is not written again by the other, and with the database stopped a batch is
//! answered 503 (nothing acknowledged) and lands once it is back. A collector frozen
//! (SIGSTOP) while its transaction holds a forwarder: the other collector keeps storing the
//! other forwarders' batches, refuses the held forwarder's resends (503) without writing them,
//! stores the batch once PostgreSQL has ended the frozen transaction (its idle timeout), and the
//! batch is stored at most twice in all.

use std::path::{Path, PathBuf};

use wsman_test::postgres::{self, Postgres};
use wsman_test::{wec_database_env, ConfigDir, Daemon, ListenerSpec, SERVICE_ACCOUNT};

use crate::collector::{
    acknowledged, batch, deliver, deliver_acknowledged, deliver_as, enumerate, enumerate_as, event,
    SECOND, SECOND_PASSWORD,
};

struct Collector {
    daemon: Daemon,
    _config: ConfigDir,
    port: u16,
    output: PathBuf,
}

fn collector(server: &Postgres, state: &Path, name: &str) -> Collector {
    let port = wsman_test::free_port();
    let output = state.join(name);
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    config.add_service_account();
    config.add_account(SECOND, SECOND_PASSWORD, Some("root"));
    config.write_raw(
        "subscriptions/wef.toml",
        &crate::collector_computer::with_own_computers(&format!(
            "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\nheartbeat_seconds = 60\n[[outputs]]\ntype = \"file\"\npath = \"{}/{{client}}.xml\"\nformat = \"raw\"\n",
            output.display()
        )),
    );
    use_postgres_store(&config, server, 4);
    // No SQLite file may appear: the database is the only store.
    let sqlite = state.join(format!("{name}.sqlite"));
    let daemon = Daemon::start_with_env(&config, &[port], &wec_database_env(&sqlite));
    assert!(!sqlite.exists());
    Collector {
        daemon,
        _config: config,
        port,
        output,
    }
}

fn written(collector: &Collector) -> Vec<String> {
    written_for(collector, SERVICE_ACCOUNT)
}

fn written_for(collector: &Collector, client: &str) -> Vec<String> {
    std::fs::read_to_string(collector.output.join(format!("{client}.xml")))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn two_collectors_share_bookmarks_and_a_stopped_database_acks_nothing() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let state = tempfile::tempdir().expect("tempdir");
    let mut a = collector(&server, state.path(), "a");
    let mut b = collector(&server, state.path(), "b");
    let events: Vec<String> = (1..=30)
        .map(|r| event(r, SERVICE_ACCOUNT, &format!("e{r}")))
        .collect();

    let offer = enumerate(a.port);
    assert_eq!(offer.bookmark, None);
    deliver_acknowledged(a.port, &offer, 1, &events[0..10]);

    // The forwarder moves to B: B offers the bookmark A stored, and takes the next batch.
    let offer = enumerate(b.port);
    assert_eq!(offer.bookmark, Some(10));
    deliver_acknowledged(b.port, &offer, 2, &events[10..20]);
    // A replay of what A stored is acknowledged by B and not written again.
    deliver_acknowledged(b.port, &offer, 1, &events[0..10]);
    assert_eq!(enumerate(a.port).bookmark, Some(20));

    // The database goes down: nothing is acknowledged, the collector keeps serving.
    let offer = enumerate(a.port);
    server.stop();
    // The Enumerate needs the bookmark: 503 too.
    let answer = crate::collector::post(
        a.port,
        "/wsman/SubscriptionManager/WEC",
        crate::collector::ENUMERATE.as_bytes(),
        &[],
    );
    assert_eq!(
        answer.status,
        503,
        "{}",
        crate::collector::text(&answer.body)
    );
    let refused = deliver(a.port, &offer, &batch(&offer, 3, &events[20..30], true));
    assert_eq!(refused.status, 503);
    assert!(a.daemon.is_running());
    // Back up: the forwarder's resend lands, and B sees where it got to.
    server.start_again();
    deliver_acknowledged(a.port, &offer, 3, &events[20..30]);
    assert_eq!(enumerate(b.port).bookmark, Some(30));
    assert_eq!(
        server.psql(&format!(
            "SELECT record_id FROM wec_bookmark WHERE client = '{SERVICE_ACCOUNT}' AND channel = 'Security'"
        )),
        "30"
    );

    // Every event exactly once across the two collectors, in order.
    let (from_a, from_b) = (written(&a), written(&b));
    assert_eq!(from_b, events[10..20]);
    let mut all = from_a.clone();
    all.splice(10..10, from_b);
    assert_eq!(all, events);
    for collector in [&a, &b] {
        let log = collector.daemon.stderr();
        assert!(
            !log.contains(postgres::PASSWORD),
            "the password is never logged"
        );
    }
    assert!(a.daemon.stderr().contains("batch not stored (503"));
    b.daemon.stop();
}

/// A `psql` session of the test's own, holding a forwarder's claim (the lock a collector's
/// delivery takes) in an open transaction until released.
struct Holder {
    child: std::process::Child,
}

impl Holder {
    fn hold(server: &Postgres, client: &str, subscription: &str) -> Holder {
        use std::io::Write;
        let mut child = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &server.port().to_string()])
            .args(["-U", postgres::USER, "-d", postgres::DATABASE, "-q"])
            .env("PGPASSWORD", postgres::PASSWORD)
            .env("PGAPPNAME", "test holder")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("psql");
        let stdin = child.stdin.as_mut().expect("stdin");
        writeln!(
            stdin,
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('{client}'), hashtext('{subscription}'));"
        )
        .expect("to psql");
        stdin.flush().expect("flush");
        let holder = Holder { child };
        eventually(|| granted_to(server, "test holder") == 1, "the test's hold");
        holder
    }

    fn release(mut self) {
        use std::io::Write;
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = writeln!(stdin, "ROLLBACK;");
        }
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Advisory locks granted to sessions of `application`.
fn granted_to(server: &Postgres, application: &str) -> u32 {
    server
        .psql(&format!(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
             WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = '{application}'"
        ))
        .parse()
        .expect("a count")
}

/// Wait (bounded) until `condition` holds.
fn eventually(mut condition: impl FnMut() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn signal(daemon: &wsman_test::Daemon, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(daemon.pid().to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

#[test]
fn a_frozen_collector_holds_no_other_forwarder_and_its_batch_is_stored_at_most_twice() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let state = tempfile::tempdir().expect("tempdir");
    let a = collector(&server, state.path(), "a");
    let b = collector(&server, state.path(), "b");
    let events: Vec<String> = (1..=20)
        .map(|r| event(r, SERVICE_ACCOUNT, &format!("e{r}")))
        .collect();
    let offer_a = enumerate(a.port);
    deliver_acknowledged(a.port, &offer_a, 1, &events[0..10]);

    // A's delivery of the next batch waits for the forwarder's claim, held by the test; A is
    // frozen while it waits, then the test lets go: PostgreSQL grants the claim to A's
    // session, whose transaction now holds the forwarder while A cannot move.
    let holder = Holder::hold(&server, SERVICE_ACCOUNT, "wef");
    let second_batch = batch(&offer_a, 2, &events[10..20], true);
    let port_a = a.port;
    let to_a = std::thread::spawn(move || deliver(port_a, &offer_a, &second_batch).status);
    let waiting = "application_name = 'wsmand collector' AND wait_event_type = 'Lock'";
    eventually(
        || {
            server.psql(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE {waiting}"
            )) == "1"
        },
        "A waiting for the claim",
    );
    signal(&a.daemon, "STOP");
    holder.release();
    eventually(
        || granted_to(&server, "wsmand collector") == 1,
        "the claim granted to frozen A",
    );

    // The forwarder resends to B: refused (503) while A's transaction holds it, writing
    // nothing; stored once PostgreSQL has ended A's idle transaction.
    let offer_b = enumerate(b.port);
    assert_eq!(offer_b.bookmark, Some(10));
    let mut refused = 0;
    loop {
        let answer = deliver(b.port, &offer_b, &batch(&offer_b, 2, &events[10..20], true));
        if answer.status == 200 {
            acknowledged(&answer, 2);
            break;
        }
        assert_eq!(
            answer.status,
            503,
            "{}",
            crate::collector::text(&answer.body)
        );
        assert!(written(&b).is_empty(), "a refused delivery writes nothing");
        refused += 1;
        assert!(refused < 20, "the held forwarder is never stored");
    }
    assert!(
        refused >= 1,
        "B was held by frozen A's transaction at first"
    );
    // Another forwarder is stored by B all along, A still frozen.
    let second = enumerate_as(b.port, SECOND, SECOND_PASSWORD);
    let others: Vec<String> = (1..=5)
        .map(|r| event(r, SECOND, &format!("o{r}")))
        .collect();
    acknowledged(
        &deliver_as(
            b.port,
            SECOND,
            SECOND_PASSWORD,
            &second,
            &batch(&second, 1, &others, true),
        ),
        1,
    );
    assert_eq!(written_for(&b, SECOND), others);

    // A goes on; whatever it answers, the batch is stored at most twice in all.
    signal(&a.daemon, "CONT");
    let answered_by_a = to_a.join().expect("the delivery to A");
    let (from_a, from_b) = (written(&a), written(&b));
    assert_eq!(from_a[..10], events[0..10]);
    assert_eq!(from_b, events[10..20]);
    for event in &events[10..20] {
        let copies = from_a.iter().chain(&from_b).filter(|e| *e == event).count();
        assert!(
            (1..=2).contains(&copies),
            "{copies} copies (A answered {answered_by_a}, B refused {refused} times)"
        );
    }
    assert_eq!(enumerate(b.port).bookmark, Some(20));
}

/// Point `config`'s collector at `server`'s database (its password in a 0600 file beside the
/// configuration) with a pool of `pool_size` connections.
pub(crate) fn use_postgres_store(config: &ConfigDir, server: &Postgres, pool_size: u32) {
    server.write_collector_toml(
        config.path(),
        &format!(
            "pool_size = {pool_size}\nconnect_timeout_seconds = 2\nstatement_timeout_seconds = 4\n"
        ),
    );
}

/// Rows written with psql, past `wsmand wec` and its checks (as the `wec` role, a DBA or, without
/// TLS, anyone on the path can): a running collector serves only the row its `[outputs]`
/// allows, logs each refused one with why, and loads, writes and sends nothing for them.
#[test]
fn a_collector_serves_a_row_only_within_its_outputs_policy() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let state = tempfile::tempdir().expect("tempdir");
    let allowed = state.path().join("allowed");
    let outside = state.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").expect("receiver");
    receiver.set_nonblocking(true).expect("nonblocking");
    let undeclared = receiver.local_addr().expect("address");
    // A HEC endpoint the node lists and binds its token to, over TLS only.
    let hec = std::net::TcpListener::bind("127.0.0.1:0").expect("hec");
    hec.set_nonblocking(true).expect("nonblocking");
    let hec_address = hec.local_addr().expect("address");
    let port = wsman_test::free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    config.add_service_account();
    std::fs::create_dir_all(config.path().join("subscriptions")).expect("subscriptions/");
    server.write_collector_toml(
        config.path(),
        &format!(
            "pool_size = 2\n[outputs]\nfile_directories = [\"{}\"]\ndestinations = [\"{hec_address}\"]\n[secrets.hec-prod]\ndestinations = [\"{hec_address}\"]\n",
            allowed.display()
        ),
    );
    let token = config.write_raw("secrets/hec-prod", "hec-token-value\n");
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod the token");
    let sqlite = state.path().join("unused.sqlite");
    let daemon = Daemon::start_with_env(&config, &[port], &wec_database_env(&sqlite));

    let query = "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n";
    let rows = [
        ("plugin", format!("{query}[[outputs]]\ntype = \"kafka\"\nbrokers = [\"{undeclared}\"]\ntopic = \"wec\"\n[outputs.properties]\n\"plugin.library.paths\" = \"{}/evil.so\"\n", state.path().display())),
        ("cron", format!("{query}[[outputs]]\ntype = \"file\"\npath = \"{}/{{client}}\"\nformat = \"raw\"\n", outside.display())),
        ("exfil", format!("{query}[[outputs]]\ntype = \"tcp\"\naddress = \"{undeclared}\"\n")),
        ("cleartoken", format!("{query}[[outputs]]\ntype = \"http\"\npreset = \"splunk_hec\"\nurl = \"http://{hec_address}\"\ntoken_secret = \"hec-prod\"\n")),
        ("good", crate::collector_computer::with_own_computers(&format!("{query}[[outputs]]\ntype = \"file\"\npath = \"{}/{{client}}.xml\"\nformat = \"raw\"\n", allowed.display()))),
    ];
    for (name, definition) in &rows {
        server.psql(&format!(
            "INSERT INTO wec_subscription (name, definition, revision) VALUES ('{name}', '{}', 1)",
            definition.replace('\'', "''")
        ));
    }
    server.psql("UPDATE wec_subscription_generation SET generation = generation + 1");
    let guard = std::time::Instant::now();
    // Read, then served: the refusals are logged between the two lines.
    while !daemon
        .stderr()
        .contains("collector subscriptions loaded subscriptions=1")
    {
        assert!(
            guard.elapsed() < std::time::Duration::from_secs(60),
            "never read: {}",
            daemon.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = daemon.stderr();
    assert!(log.contains("generation=1 stored=1"), "{log}");
    for reason in [
        "plugin.toml: kafka output: property \"plugin.library.paths\" is not one a subscription may set",
        "cron.toml: refused by this node's [outputs] policy: file output",
        "exfil.toml: refused by this node's [outputs] policy: tcp output",
        "cleartoken.toml: refused by this node's [outputs] policy: secret \"hec-prod\" may not be sent to 127.0.0.1",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("subscription not loaded") && l.contains(reason)),
            "{reason}: {log}"
        );
    }

    // The allowed row is served and written; the refused ones got nothing.
    let offer = enumerate(port);
    let events = [event(1, SERVICE_ACCOUNT, "e1")];
    acknowledged(&deliver(port, &offer, &batch(&offer, 1, &events, true)), 1);
    assert!(allowed.join(format!("{SERVICE_ACCOUNT}.xml")).is_file());
    assert_eq!(std::fs::read_dir(&outside).expect("outside").count(), 0);
    assert_eq!(
        receiver.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "nothing connected to the undeclared destination"
    );
    assert_eq!(
        hec.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "the token's row never reached its endpoint in clear"
    );
    assert!(!log.contains("hec-token-value"), "{log}");
    assert!(!log.contains("kafka producer started"), "{log}");
}
