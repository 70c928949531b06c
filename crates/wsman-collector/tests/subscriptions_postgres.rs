//! Subscriptions stored in the PostgreSQL store, against a real server
//! (`wsman_test::postgres`): a database of schema version 1 (bookmarks only) is migrated to 2
//! with its bookmarks kept; each change (create, replace, enable, disable, delete) moves the
//! generation nodes poll and gives the subscription a new version; a text that is not a
//! subscription is refused and nothing is stored; a row that does not parse (written by hand)
//! costs only itself; a row written by hand is held to the node's `[outputs]` policy and the
//! Kafka property allow list: refused rows load, write and send nothing.

use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::store::{self, Change, PostgresStore, PutError, Store as _};
use wsman_collector::subscription_outputs::Outputs;
use wsman_collector::subscriptions::SubscriptionError;
use wsman_events::{BookmarkList, Timestamp};
use wsman_outputs::Batch;
use wsman_test::postgres::Postgres;

const QUERY: &str = "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n";

fn open(server: &Postgres, dir: &std::path::Path) -> PostgresStore {
    server.write_collector_toml(dir, "pool_size = 2\n");
    let backend =
        store::config::load(dir, &dir.join("unused.sqlite")).expect("the backend settings");
    let store::Backend::Postgres(settings) = backend else {
        panic!("not the PostgreSQL backend");
    };
    PostgresStore::open(&settings).expect("the store")
}

/// A database of schema 1 as its collectors created it, with a bookmark, opened: migrated to
/// 2, the bookmark kept, no subscription yet.
fn migrated_from_version_1(server: &Postgres, dir: &std::path::Path) -> PostgresStore {
    server.psql(
        "CREATE TABLE wec_schema (version INTEGER NOT NULL); INSERT INTO wec_schema VALUES (1);
         CREATE TABLE wec_bookmark (client TEXT NOT NULL, subscription TEXT NOT NULL,
             channel TEXT NOT NULL, record_id BIGINT NOT NULL,
             PRIMARY KEY (client, subscription, channel));
         CREATE TABLE wec_client (client TEXT NOT NULL, subscription TEXT NOT NULL,
             last_event BIGINT, last_heartbeat BIGINT, PRIMARY KEY (client, subscription));
         INSERT INTO wec_bookmark VALUES ('web01', 'wef', 'Security', 41);",
    );
    let store = open(server, dir);
    assert_eq!(server.psql("SELECT max(version) FROM wec_schema"), "2");
    let mut expected = BookmarkList::new();
    expected.advance("Security", 41);
    assert_eq!(store.load("web01", "wef").expect("load"), Some(expected));
    assert_eq!(store.subscription_generation().expect("generation"), 0);
    let (_, empty) = store.subscription_set().expect("set");
    assert!(empty.subscriptions.is_empty() && empty.errors.is_empty());
    store
}

#[test]
fn a_version_1_database_is_migrated_and_every_change_moves_the_version() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = migrated_from_version_1(&server, dir.path());

    // Create, then create again (refused), then replace.
    assert_eq!(
        store.put_subscription("wef", QUERY, false).expect("create"),
        Change::Done(1)
    );
    assert_eq!(
        store.put_subscription("wef", QUERY, false).expect("again"),
        Change::Exists
    );
    let (generation, set) = store.subscription_set().expect("set");
    assert_eq!(generation, 1, "a refused create changes nothing");
    let first = set.by_name("wef").expect("stored").clone();
    assert!(first.enabled);
    assert_eq!(
        first.identifier,
        wsman_collector::subscriptions::parse(std::path::Path::new("wef.toml"), QUERY)
            .expect("as a file")
            .identifier,
        "the identifier is the file's: forwarders keep their delivery address"
    );
    let replaced = format!("{QUERY}heartbeat_seconds = 60\n");
    assert!(matches!(
        store.put_subscription("wef", &replaced, true),
        Ok(Change::Done(2))
    ));
    let (_, set) = store.subscription_set().expect("set");
    let second = set.by_name("wef").expect("stored").clone();
    assert_ne!(second.version, first.version);

    // Disable, enable: each a new version; the same text as before is not the same version.
    assert!(matches!(
        store.set_subscription_enabled("wef", false),
        Ok(Change::Done(3))
    ));
    let (_, set) = store.subscription_set().expect("set");
    let disabled = set.by_name("wef").expect("stored").clone();
    assert!(!disabled.enabled);
    assert_ne!(disabled.version, second.version);
    assert!(matches!(
        store.set_subscription_enabled("wef", true),
        Ok(Change::Done(4))
    ));
    let (_, set) = store.subscription_set().expect("set");
    let enabled = set.by_name("wef").expect("stored");
    assert!(enabled.enabled);
    assert!(enabled.version != second.version && enabled.version != disabled.version);
    assert!(matches!(
        store.set_subscription_enabled("nothing", true),
        Ok(Change::Missing)
    ));

    // Not a subscription: refused before anything is written.
    let before = store.subscription_generation().expect("generation");
    assert!(matches!(
        store.put_subscription("bad", "query = 'not a QueryList'\n", true),
        Err(PutError::Invalid(_))
    ));
    assert!(matches!(
        store.put_subscription("../etc", QUERY, true),
        Err(PutError::Invalid(_))
    ));
    assert_eq!(store.subscription_generation().expect("generation"), before);

    // A row written by hand that does not parse: reported, the others served.
    server.psql(
        "INSERT INTO wec_subscription (name, definition, revision) VALUES ('broken', 'query = 7', 99)",
    );
    let (_, set) = store.subscription_set().expect("set");
    assert_eq!(set.subscriptions.len(), 1);
    assert_eq!(set.errors.len(), 1, "{:?}", set.errors);

    // Delete: gone, its forwarders' bookmarks kept.
    store
        .merge(
            "web02",
            "wef",
            &BookmarkList::new(),
            Timestamp::from_unix_micros(1),
        )
        .expect("merge");
    assert!(matches!(
        store.delete_subscription("wef"),
        Ok(Change::Done(_))
    ));
    assert!(matches!(
        store.delete_subscription("wef"),
        Ok(Change::Missing)
    ));
    let (_, set) = store.subscription_set().expect("set");
    assert!(set.by_name("wef").is_none());
    assert!(store.load("web01", "wef").expect("load").is_some());
}

/// Store `definition` as row `name` the way whoever holds the database role can: with psql,
/// past `wsmand wec` and its checks.
fn insert_row(server: &Postgres, name: &str, definition: &str) {
    server.psql(&format!(
        "INSERT INTO wec_subscription (name, definition, revision) VALUES ('{name}', '{}', 1)",
        definition.replace('\'', "''")
    ));
}

#[test]
fn a_row_does_only_what_the_nodes_outputs_policy_allows() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let allowed = dir.path().join("allowed");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").expect("receiver");
    receiver.set_nonblocking(true).expect("nonblocking");
    let undeclared = receiver.local_addr().expect("address");
    server.write_collector_toml(
        dir.path(),
        &format!(
            "pool_size = 2\n[outputs]\nfile_directories = [\"{}\"]\ndestinations = [\"kafka.example.invalid:9092\"]\n",
            allowed.display()
        ),
    );
    let backend =
        store::config::load(dir.path(), &dir.path().join("unused.sqlite")).expect("settings");
    let store::Backend::Postgres(settings) = backend else {
        panic!("not the PostgreSQL backend");
    };
    let store = PostgresStore::open(&settings).expect("the store");

    let plugin = format!(
        "{QUERY}[[outputs]]\ntype = \"kafka\"\nbrokers = [\"kafka.example.invalid:9092\"]\ntopic = \"wec\"\n[outputs.properties]\n\"plugin.library.paths\" = \"{}/evil.so\"\n",
        dir.path().display()
    );
    let cron = format!(
        "{QUERY}[[outputs]]\ntype = \"file\"\npath = \"{}/{{client}}\"\nformat = \"raw\"\n",
        outside.display()
    );
    let exfil = format!("{QUERY}[[outputs]]\ntype = \"tcp\"\naddress = \"{undeclared}\"\n");
    let good = format!(
        "{QUERY}[[outputs]]\ntype = \"file\"\npath = \"{}/{{client}}.xml\"\nformat = \"raw\"\n",
        allowed.display()
    );
    for (name, definition) in [
        ("plugin", &plugin),
        ("cron", &cron),
        ("exfil", &exfil),
        ("good", &good),
    ] {
        insert_row(&server, name, definition);
    }

    // Only the row the policy allows is served; each other one is refused with why.
    let (_, set) = store.subscription_set().expect("set");
    let served: Vec<&str> = set.subscriptions.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(served, ["good"], "{:?}", set.errors);
    let errors: Vec<String> = set.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors.iter().any(|e| e.starts_with("plugin.toml")
            && e.contains("\"plugin.library.paths\" is not one a subscription may set")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("cron.toml")
            && e.contains("[outputs] policy")
            && e.contains("file_directories")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("exfil.toml")
            && e.contains(&undeclared.to_string())
            && e.contains("destinations")),
        "{errors:?}"
    );

    // Nothing loaded (no producer was even tried), nothing written, nothing sent.
    let outputs = Outputs::new();
    assert!(outputs.configure(&set).is_empty());
    let events = [logon(1, "web01.example.com")];
    for subscription in ["plugin", "cron", "exfil", "good"] {
        let refs: Vec<&ReceivedEvent> = events.iter().collect();
        outputs
            .write(&Batch {
                subscription,
                client: "web01",
                events: &refs,
                received: "2026-11-26T00:00:00Z",
            })
            .expect("written");
    }
    assert!(
        allowed.join("web01.xml").is_file(),
        "the allowed row is served"
    );
    assert_eq!(std::fs::read_dir(&outside).expect("outside").count(), 0);
    assert_eq!(
        receiver.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "no connection to the undeclared destination"
    );

    // `wsmand wec create` of the same text is refused before anything is stored.
    let before = store.subscription_generation().expect("generation");
    assert!(matches!(
        store.put_subscription("cron2", &cron, false),
        Err(PutError::Invalid(SubscriptionError::Policy(..)))
    ));
    assert_eq!(store.subscription_generation().expect("generation"), before);
}

/// A logon event of the Security log, numbered `record`, from `computer`.
fn logon(record: u64, computer: &str) -> ReceivedEvent {
    let text = format!("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4624</EventID><EventRecordID>{record}</EventRecordID><Channel>Security</Channel><Computer>{computer}</Computer></System></Event>");
    ReceivedEvent {
        tree: None,
        xml: text,
        computer: computer.to_owned(),
        channel: "Security".to_owned(),
        record_id: Some(record),
    }
}
