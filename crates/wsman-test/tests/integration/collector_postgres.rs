//! Two collector daemons sharing their bookmarks in one real PostgreSQL server
//! (`wsman_test::postgres`), and a forwarder (raw HTTP, Basic, the deliveries Windows sends)
//! moving between them: each collector offers the bookmark the other stored, a batch one of
//! them stored is not written again by the other, and with the database stopped a batch is
//! answered 503 (nothing acknowledged) and lands once it is back.

use std::path::{Path, PathBuf};

use wsman_test::postgres::{self, Postgres};
use wsman_test::{ConfigDir, Daemon, ListenerSpec, SERVICE_ACCOUNT};

use crate::collector::{acknowledged, batch, deliver, enumerate, event};

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
    config.write_raw(
        "subscriptions/wef.toml",
        &format!(
            "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\nheartbeat_seconds = 60\n[[outputs]]\ntype = \"file\"\npath = \"{}/{{client}}.xml\"\nformat = \"raw\"\n",
            output.display()
        ),
    );
    let password_file = config.write_raw("wec-db.password", postgres::PASSWORD);
    std::fs::set_permissions(
        &password_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    config.write_raw(
        "collector.toml",
        &format!(
            "[bookmarks]\nbackend = \"postgres\"\nconnection = \"{}\"\npassword_file = \"{}\"\npool_size = 4\nconnect_timeout_seconds = 2\nstatement_timeout_seconds = 4\n",
            server.connection(),
            password_file.display()
        ),
    );
    // No SQLite file may appear: the database is the only store.
    let sqlite = state.join(format!("{name}.sqlite"));
    let daemon = Daemon::start_with_env(
        &config,
        &[port],
        &[("WSMAND_WEC_DATABASE", sqlite.to_str().expect("utf-8"))],
    );
    assert!(!sqlite.exists());
    Collector {
        daemon,
        _config: config,
        port,
        output,
    }
}

fn written(collector: &Collector) -> Vec<String> {
    std::fs::read_to_string(collector.output.join(format!("{SERVICE_ACCOUNT}.xml")))
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
    acknowledged(
        &deliver(a.port, &offer, &batch(&offer, 1, &events[0..10], true)),
        1,
    );

    // The forwarder moves to B: B offers the bookmark A stored, and takes the next batch.
    let offer = enumerate(b.port);
    assert_eq!(offer.bookmark, Some(10));
    acknowledged(
        &deliver(b.port, &offer, &batch(&offer, 2, &events[10..20], true)),
        2,
    );
    // A replay of what A stored is acknowledged by B and not written again.
    acknowledged(
        &deliver(b.port, &offer, &batch(&offer, 1, &events[0..10], true)),
        1,
    );
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
    acknowledged(
        &deliver(a.port, &offer, &batch(&offer, 3, &events[20..30], true)),
        3,
    );
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
