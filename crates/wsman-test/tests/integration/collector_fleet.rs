//! The collector with a fleet of forwarders (issue 40), at a size CI can hold: `fleet-load`
//! (benches/fleet-load) runs [`FORWARDERS`] forwarders, each with its own client certificate
//! and kept-alive TLS connection, sending UTF-16, SLDC-compressed batches that each wait for
//! their Ack, as Windows forwarders do.
//!
//! - Through a restart: the collector is stopped (SIGTERM, as `systemctl restart` does) while
//!   the fleet delivers and started again on the same port and bookmark database; every
//!   forwarder reconnects, enumerates and finishes, and every acknowledged event is in the
//!   output exactly once (counted by forwarder and record id).
//! - Past the connection cap: with MaxConnections at a fifth of the fleet, the rest are answered
//!   503 with a Retry-After, come back, and all deliver; the refusals are logged once per
//!   interval, not once each.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha1::Digest;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wsman_test::{binaries, free_port, wec_database_env, ConfigDir, Daemon};

/// Forwarders of the test fleet (`WSMAN_TEST_FLEET_FORWARDERS` to change it).
const FORWARDERS: usize = 2000;
/// Batches each forwarder sends, of [`PER_BATCH`] events.
const BATCHES: u64 = 3;
const PER_BATCH: u64 = 5;
/// Hang guard for the fleet's run (its own deadlines are shorter).
const RUN_GUARD: Duration = Duration::from_secs(600);

fn forwarders() -> usize {
    std::env::var("WSMAN_TEST_FLEET_FORWARDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(FORWARDERS)
}

/// A collector for the fleet: HTTPS with certificate authentication, the fleet's CA mapped
/// (Subject=*), `max_connections`, a subscription with the file output under `out`.
fn collector(ca_dir: &Path, out: &Path, max_connections: usize) -> (ConfigDir, u16, PathBuf) {
    let port = free_port();
    let mut config = ConfigDir::new();
    config.set(
        "Config.Service",
        "MaxConnections",
        &max_connections.to_string(),
    );
    config.set("Config.Service.Auth", "Certificate", "true");
    let thumbprint = config.add_https_listener(port);
    map_fleet_ca(&mut config, ca_dir);
    config.write_raw(
        "subscriptions/fleet.toml",
        &format!(
            "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n\
             heartbeat_seconds = 30\n[[outputs]]\ntype = \"file\"\npath = \"{}/{{client}}.xml\"\nformat = \"raw\"\n",
            out.display()
        ),
    );
    let listener_certificate = config.path().join(format!("certs/{thumbprint}.crt"));
    (config, port, listener_certificate)
}

fn start(config: &ConfigDir, port: u16) -> Daemon {
    let database = config.path().join("wec.sqlite");
    Daemon::start_with_env(config, &[port], &wec_database_env(&database))
}

/// `fleet-load run` against `port`, in the background; its JSON line when it ends.
fn fleet(ca_dir: &Path, server_ca: &Path, port: u16, count: usize, acked: &Path) -> Child {
    fleet_load(ca_dir, server_ca, port, (count, BATCHES, PER_BATCH), acked)
        .args(["--seconds", "300", "--drain-seconds", "120"])
        .args(["--max-retry-seconds", "2"])
        .spawn()
        .expect("spawn fleet-load")
}

/// `fleet-load run` of `count` forwarders against `port`, each sending `batches` batches of
/// `per_batch` events, one batch per forwarder every 2 s or so across the fleet, the
/// acknowledgements written to `acked`, its output piped: the caller adds the run's own
/// arguments and spawns it.
pub(crate) fn fleet_load(
    ca_dir: &Path,
    server_ca: &Path,
    port: u16,
    (count, batches, per_batch): (usize, u64, u64),
    acked: &Path,
) -> Command {
    let mut command = Command::new(binaries::path("fleet-load"));
    command
        .arg("run")
        .arg("--ca-dir")
        .arg(ca_dir)
        .arg("--server-ca")
        .arg(server_ca)
        .args(["--port", &port.to_string()])
        .args(["--forwarders", &count.to_string()])
        .args(["--batches", &batches.to_string()])
        .args(["--per-batch", &per_batch.to_string()])
        .args(["--event-bytes", "200"])
        .args(["--rate", &(count as u64 * per_batch / 2).max(1).to_string()])
        .args(["--connect-concurrency", "32"])
        .arg("--acked")
        .arg(acked)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

pub(crate) fn finish(child: Child) -> String {
    let finished = wsman_test::process::collect(child, RUN_GUARD, "fleet-load");
    let stdout = String::from_utf8_lossy(&finished.stdout).into_owned();
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    stdout
}

/// fleet-load's JSON line when it ends, asserting that no forwarder failed and that `batches`
/// batches were acknowledged in all.
pub(crate) fn finish_all_acked(child: Child, batches: u64) -> String {
    let json = finish(child);
    assert_eq!(field(&json, "failed"), 0, "{json}");
    assert_eq!(field(&json, "batches_acked"), batches, "{json}");
    json
}

/// A number field of the fleet's JSON line.
pub(crate) fn field(json: &str, name: &str) -> u64 {
    let at = json
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("{name} in {json}"));
    json[at + name.len() + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("{name} in {json}"))
}

/// Every (Computer, record id) in the output files, with how often it appears.
pub(crate) fn stored(out: &Path) -> HashMap<(String, u64), u32> {
    let mut seen = HashMap::new();
    for entry in std::fs::read_dir(out).expect("output dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("output file");
        for line in text.lines() {
            let between = |open: &str, close: &str| {
                let start = line.find(open)? + open.len();
                Some(line[start..start + line[start..].find(close)?].to_owned())
            };
            let record = between("<EventRecordID>", "</EventRecordID>")
                .and_then(|r| r.parse().ok())
                .expect("a record id");
            let computer = between("<Computer>", "</Computer>").expect("a Computer");
            *seen.entry((computer, record)).or_insert(0) += 1;
        }
    }
    seen
}

/// How many forwarders fleet-load's acknowledgement file (`NAME LAST` lines) names, asserting
/// that each had `last` events acknowledged and that `seen` lacks none of them.
pub(crate) fn forwarders_losing_none(
    acked: &Path,
    seen: &HashMap<(String, u64), u32>,
    last: u64,
) -> usize {
    let acked = std::fs::read_to_string(acked).expect("acked file");
    let mut lost = Vec::new();
    let mut forwarders = 0;
    for line in acked.lines() {
        let (name, finished) = line.split_once(' ').expect("NAME LAST");
        let finished: u64 = finished.parse().expect("last record");
        assert_eq!(finished, last, "{name} finished");
        forwarders += 1;
        lost.extend(
            (1..=last)
                .filter(|r| !seen.contains_key(&(name.to_owned(), *r)))
                .map(|r| format!("{name} {r}")),
        );
    }
    assert!(
        lost.is_empty(),
        "{} lost, first {:?}",
        lost.len(),
        lost.first()
    );
    forwarders
}

/// Each forwarder's acknowledged events are stored once; none is stored twice.
fn assert_exactly_once(acked: &Path, out: &Path, count: usize) {
    let seen = stored(out);
    let forwarders = forwarders_losing_none(acked, &seen, BATCHES * PER_BATCH);
    assert_eq!(forwarders, count);
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "{} duplicated, first {:?}",
        duplicated.len(),
        duplicated.first()
    );
    assert_eq!(seen.len() as u64, count as u64 * BATCHES * PER_BATCH);
}

/// The fleet's CA (`fleet-load ca`), the output dir and the acknowledgement file.
pub(crate) fn scratch() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let dir = wsman_test::scratch_dir("fleet-", "the fleet's files");
    let ca_dir = dir.path().join("ca");
    let status = Command::new(binaries::path("fleet-load"))
        .arg("ca")
        .arg(&ca_dir)
        .status()
        .expect("fleet-load ca");
    assert!(status.success());
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("output dir");
    let acked = dir.path().join("acked");
    (dir, ca_dir, out, acked)
}

#[test]
fn a_fleet_delivers_through_a_collector_restart_with_nothing_lost_or_doubled() {
    let count = forwarders();
    let (_dir, ca_dir, out, acked) = scratch();
    let (config, port, server_ca) = collector(&ca_dir, &out, count + 100);
    let mut daemon = start(&config, port);
    let run = fleet(&ca_dir, &server_ca, port, count, &acked);
    // Restart once the fleet is delivering: the first batches of most forwarders are stored.
    let started = Instant::now();
    while stored(&out).len() < count / 2 * PER_BATCH as usize {
        assert!(started.elapsed() < RUN_GUARD, "the fleet never delivered");
        std::thread::sleep(Duration::from_millis(250));
    }
    let status = Command::new("kill")
        .args(["-TERM", &daemon.pid().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    while daemon.is_running() {
        assert!(started.elapsed() < RUN_GUARD, "the collector did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let daemon = start(&config, port);
    let json = finish_all_acked(run, count as u64 * BATCHES);
    assert!(
        field(&json, "reconnects") > 0,
        "the restart was seen: {json}"
    );
    assert_exactly_once(&acked, &out, count);
    drop(daemon);
}

#[test]
fn past_the_connection_cap_forwarders_are_refused_cleanly_and_come_back() {
    let count = forwarders() / 4;
    let (_dir, ca_dir, out, acked) = scratch();
    // A fifth of the fleet: each forwarder holds its connection for its three batches (4 s
    // and more), so many more than that are connecting at once, however slow the machine.
    let (config, port, server_ca) = collector(&ca_dir, &out, count / 5);
    let mut daemon = start(&config, port);
    let json = finish(fleet(&ca_dir, &server_ca, port, count, &acked));
    assert_eq!(field(&json, "failed"), 0, "{json}");
    assert!(
        field(&json, "refused_503") > 0,
        "the cap refused some: {json}"
    );
    assert_exactly_once(&acked, &out, count);
    let log = daemon.stderr();
    let lines = log
        .matches("connection refused (503): the connection cap is reached")
        .count();
    assert!(lines >= 1, "{log}");
    // Once per 10 s with a count, however many were refused (the run is far shorter than
    // the refusals would be lines).
    assert!(
        (lines as u64) < field(&json, "refused_503"),
        "{lines} lines for {} refusals",
        field(&json, "refused_503")
    );
    assert!(daemon.is_running());
}

/// The fleet's CA (`ca_dir/ca.crt`, fleet-load's) trusted in `config` and mapped by one
/// certificate mapping (`Subject=*`) to the service account, which is added: every forwarder
/// with a certificate of that CA logs in as it.
pub(crate) fn map_fleet_ca(config: &mut ConfigDir, ca_dir: &Path) {
    let ca = std::fs::read(ca_dir.join("ca.crt")).expect("ca.crt");
    let der = wsman_safe::pem::parse_certificates(&ca).expect("a certificate")[0].clone();
    let ca_thumbprint: String = sha1::Sha1::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    config.write_raw(
        &format!("certs/{ca_thumbprint}.crt"),
        &String::from_utf8_lossy(&ca),
    );
    config.write_raw(
        "config.toml",
        &format!(
            "{}[[CertMapping]]\nIssuer = \"{ca_thumbprint}\"\nSubject = \"*\"\nURI = \"*\"\nUserName = \"{}\"\nEnabled = true\n",
            config.render(),
            wsman_test::SERVICE_ACCOUNT
        ),
    );
    config.add_service_account();
}
