//! Three collector nodes behind Debian's haproxy (TCP mode, TLS passed through to wsmand,
//! `send-proxy-v2`) sharing a real PostgreSQL (`wsman_test::postgres`), as a fleet runs them
//! (issue 40):
//!
//! - a subscription created with `wsmand wec create` on one node is read from the database by
//!   all three (none has a subscription file), and forwarders through haproxy enumerate it on
//!   each;
//! - a fleet (`benches/fleet-load`, each forwarder its own client certificate) delivers through
//!   haproxy from 127.0.0.2 while one node is SIGKILLed and started again: every forwarder
//!   finishes, and every acknowledged event is in the outputs, counted by forwarder and record
//!   id. What is asserted of doubles: a node killed after its output's fsync and before its
//!   bookmark commit leaves that batch written but not acknowledged, and the forwarder's resend
//!   is written again by another node (the documented window, docs/collector.md). So a
//!   forwarder may have at most one batch twice, and only when a node was killed under it;
//!   nothing else appears twice;
//! - the subscription allows 127.0.0.2 only (`allowed_addresses`): the nodes see the
//!   forwarders' own address from haproxy's header (their logs name 127.0.0.2, never haproxy's
//!   127.0.0.1), and a forwarder from 127.0.0.3 through the same haproxy is not offered the
//!   subscription, its delivery stored nowhere, and the refusal logged with 127.0.0.3.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use wsman_test::postgres::{self, Postgres};
use wsman_test::{free_port, wec_database_env, ConfigDir, Daemon};

use crate::collector::wec_cli;
use crate::collector_fleet::{
    field, finish_all_acked, fleet_load, forwarders_losing_none, scratch, stored,
};

const NODES: usize = 3;
const FORWARDERS: usize = 300;
const BATCHES: u64 = 4;
const PER_BATCH: u64 = 5;
/// Hang guard for every wait of the test.
const GUARD: Duration = Duration::from_secs(180);

/// One node's configuration: HTTPS with certificate authentication (the fleet's CA mapped),
/// haproxy (127.0.0.1) trusted to send PROXY headers that claim loopback clients, the bookmarks (and so the
/// subscriptions) in `server`, and an empty `subscriptions/` (the collector on, no file).
fn node(server: &Postgres, ca_dir: &Path) -> (ConfigDir, u16, PathBuf) {
    let port = free_port();
    let mut config = ConfigDir::new();
    config.set("Config.Service.Auth", "Certificate", "true");
    config.set("HTTP", "ProxyProtocolFrom", "\"127.0.0.1\"");
    // haproxy on this host relays clients of 127.0.0.2 and 127.0.0.3: loopback claims.
    config.set("HTTP", "ProxyProtocolAllowLoopback", "true");
    let thumbprint = config.add_https_listener(port);
    crate::collector_fleet::map_fleet_ca(&mut config, ca_dir);
    std::fs::create_dir_all(config.path().join("subscriptions")).expect("subscriptions/");
    crate::collector_postgres::use_postgres_store(&config, server, 8);
    let certificate = config.path().join(format!("certs/{thumbprint}.crt"));
    (config, port, certificate)
}

/// Add `[outputs] file_directories = [dir]` to `config`'s `collector.toml`.
fn allow_file_outputs(config: &ConfigDir, dir: &Path) {
    let file = config.path().join("collector.toml");
    let mut text = std::fs::read_to_string(&file).expect("collector.toml");
    text.push_str(&format!(
        "[outputs]\nfile_directories = [\"{}\"]\n",
        dir.display()
    ));
    std::fs::write(&file, text).expect("collector.toml");
}

fn start(config: &ConfigDir, port: u16) -> Daemon {
    let unused = config.path().join("unused.sqlite");
    let [database] = wec_database_env(&unused);
    // The enumerations' lines (debug) name each forwarder's address.
    let log = (
        "RUST_LOG",
        "info,wsman_server::engines::collector::service=debug",
    );
    let daemon = Daemon::start_with_env(config, &[port], &[database, log]);
    assert!(!unused.exists(), "the database is the only store");
    daemon
}

/// `fleet-load run` through haproxy at `front` from `source`.
fn fleet(
    ca_dir: &Path,
    server_ca: &Path,
    front: u16,
    (source, domain, count): (&str, &str, usize),
    (seconds, drain): (u64, u64),
    acked: &Path,
) -> Child {
    fleet_load(ca_dir, server_ca, front, (count, BATCHES, PER_BATCH), acked)
        .args(["--source", source, "--domain", domain])
        .args(["--seconds", &seconds.to_string()])
        .args(["--drain-seconds", &drain.to_string()])
        .args(["--max-retry-seconds", "1"])
        .spawn()
        .expect("spawn fleet-load")
}

fn wait(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < GUARD, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn three_nodes_behind_haproxy_share_subscriptions_and_lose_nothing_through_a_kill() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let (dir, ca_dir, out, acked) = scratch();
    let configs: Vec<_> = (0..NODES).map(|_| node(&server, &ca_dir)).collect();
    // Each node's outputs policy lets a stored subscription write under `out`.
    for (config, _, _) in &configs {
        allow_file_outputs(config, &out);
    }
    let mut daemons: Vec<Daemon> = configs.iter().map(|(c, p, _)| start(c, *p)).collect();
    let server_ca = dir.path().join("nodes.crt");
    let bundle: String = configs
        .iter()
        .map(|(_, _, c)| std::fs::read_to_string(c).expect("listener certificate"))
        .collect();
    std::fs::write(&server_ca, bundle).expect("nodes.crt");
    let front = free_port();
    let ports: Vec<u16> = configs.iter().map(|(_, p, _)| *p).collect();
    let Some(_haproxy) = crate::proxy_protocol::haproxy_to(front, &ports) else {
        return;
    };

    create_shared_subscription(dir.path(), &configs, &daemons, &out);

    // The fleet through haproxy, from 127.0.0.2; node 1 killed once half is stored, then
    // started again on its port.
    let run = fleet(
        &ca_dir,
        &server_ca,
        front,
        ("127.0.0.2", "fleet.test", FORWARDERS),
        (60, 60),
        &acked,
    );
    wait("half of the fleet's first batches stored", || {
        stored(&out).len() >= FORWARDERS / 2 * PER_BATCH as usize
    });
    daemons[1].stop();
    let killed_log = daemons[1].stderr();
    let (config, port, _) = &configs[1];
    daemons[1] = start(config, *port);
    // Back, it serves the stored subscription from its start.
    wait("the restarted node reads the subscription", || {
        daemons[1]
            .stderr()
            .contains("subscriptions read from the shared store generation=1 stored=1")
    });
    let json = finish_all_acked(run, FORWARDERS as u64 * BATCHES);
    let kills_seen = field(&json, "reconnects");

    // Forwarders from 127.0.0.3 through the same haproxy: not offered the subscription, and
    // nothing of theirs stored.
    let refused_acked = dir.path().join("refused-acked");
    let refused = finish_allowing_failure(fleet(
        &ca_dir,
        &server_ca,
        front,
        ("127.0.0.3", "refused.test", 3),
        // Each has its first batch due before the end, and tries until the drain is over.
        (3, 3),
        &refused_acked,
    ));
    assert_eq!(field(&refused, "batches_acked"), 0, "{refused}");
    assert_eq!(field(&refused, "failed"), 3, "{refused}");

    assert_addresses_from_haproxy(&daemons, killed_log);
    assert_delivered(&acked, &out, kills_seen);
    assert!(
        !stored(&out)
            .keys()
            .any(|(computer, _)| computer.ends_with("refused.test")),
        "nothing of a refused forwarder is stored"
    );
    for daemon in &mut daemons {
        assert!(daemon.is_running());
        assert!(!daemon.stderr().contains(postgres::PASSWORD));
    }
}

/// The subscription created once, on node 0, from a file in the subscriptions' format: every
/// node reads it from the database (none has a file), and lists it from there.
fn create_shared_subscription(
    dir: &Path,
    configs: &[(ConfigDir, u16, PathBuf)],
    daemons: &[Daemon],
    out: &Path,
) {
    let definition = dir.join("fleet.toml");
    std::fs::write(
        &definition,
        format!(
            "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n\
             heartbeat_seconds = 30\nallowed_addresses = [\"127.0.0.2\"]\n\
             [[outputs]]\ntype = \"file\"\npath = \"{}/{{client}}.xml\"\nformat = \"raw\"\n",
            out.display()
        ),
    )
    .expect("fleet.toml");
    let created = wec_cli(
        configs[0].0.path(),
        None,
        &["create", definition.to_str().expect("UTF-8")],
    );
    assert!(created.contains("fleet: created"), "{created}");
    for daemon in daemons {
        wait("every node reads the created subscription", || {
            daemon
                .stderr()
                .contains("subscriptions read from the shared store generation=1 stored=1")
        });
    }
    let listed = wec_cli(configs[2].0.path(), None, &["list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("fleet") && l.ends_with("database")),
        "{listed}"
    );
}

/// Each node served the subscription to forwarders it saw at 127.0.0.2, haproxy's header's
/// address; and 127.0.0.3 was refused by the allow list, logged with its address. The killed
/// node's log is the one before its kill (`killed_log`): the restarted one may get no new
/// connection.
fn assert_addresses_from_haproxy(daemons: &[Daemon], killed_log: String) {
    for (i, daemon) in daemons.iter().enumerate() {
        let log = if i == 1 {
            killed_log.clone()
        } else {
            daemon.stderr()
        };
        let enumerated: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("subscriptions enumerated"))
            .collect();
        assert!(
            enumerated
                .iter()
                .any(|l| l.contains("remote=127.0.0.2") && l.contains("subscriptions=1")),
            "node {i} served the subscription to 127.0.0.2: {enumerated:?}"
        );
        assert!(
            !enumerated.iter().any(|l| l.contains("remote=127.0.0.1")),
            "node {i} saw haproxy's address"
        );
    }
    let refusals: Vec<String> = daemons
        .iter()
        .map(Daemon::stderr)
        .chain([killed_log])
        .flat_map(|log| {
            log.lines()
                .filter(|l| l.contains("not in the subscription's allowed_addresses"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        !refusals.is_empty() && refusals.iter().all(|l| l.contains("remote=127.0.0.3")),
        "{refusals:?}"
    );
}

/// fleet-load's JSON line, whatever its exit status (a refused fleet fails).
fn finish_allowing_failure(child: Child) -> String {
    let finished = wsman_test::process::collect(child, GUARD, "fleet-load");
    String::from_utf8_lossy(&finished.stdout).into_owned()
}

/// Every acknowledged event is stored; a forwarder has at most one batch twice (the kill's
/// window), and only when the fleet saw a connection broken.
fn assert_delivered(acked: &Path, out: &Path, reconnects: u64) {
    let seen = stored(out);
    let forwarders = forwarders_losing_none(acked, &seen, BATCHES * PER_BATCH);
    let mut doubled: HashMap<String, Vec<u64>> = HashMap::new();
    for ((name, record), _) in seen.iter().filter(|(_, n)| **n > 1) {
        doubled.entry(name.clone()).or_default().push(*record);
    }
    for records in doubled.values_mut() {
        records.sort_unstable();
    }
    assert_eq!(forwarders, FORWARDERS);
    assert!(
        seen.values().all(|n| *n <= 2),
        "an event stored more than twice"
    );
    for (name, records) in &doubled {
        let batch = (records[0] - 1) / PER_BATCH;
        assert!(
            records.len() as u64 <= PER_BATCH
                && records.iter().all(|r| (r - 1) / PER_BATCH == batch),
            "{name}: more than one batch twice: {records:?}"
        );
    }
    assert!(
        doubled.is_empty() || reconnects > 0,
        "doubles without a kill: {doubled:?}"
    );
    eprintln!(
        "{} forwarders, {} events, {} forwarders with a batch twice (the kill's window)",
        forwarders,
        seen.len(),
        doubled.len()
    );
}
