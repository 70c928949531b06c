//! Subscriptions stored in the PostgreSQL store, against a real server
//! (`wsman_test::postgres`): a database of schema version 1 (bookmarks only) is migrated to 2
//! with its bookmarks kept; each change (create, replace, enable, disable, delete) moves the
//! generation nodes poll and gives the subscription a new version; a text that is not a
//! subscription is refused and nothing is stored; a row that does not parse (written by hand)
//! costs only itself.

use wsman_collector::bookmarks::{self, Change, PostgresStore, PutError};
use wsman_events::{BookmarkList, Timestamp};
use wsman_test::postgres::Postgres;

const QUERY: &str = "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n";

fn open(server: &Postgres, dir: &std::path::Path) -> PostgresStore {
    server.write_collector_toml(dir, "pool_size = 2\n");
    let backend =
        bookmarks::config::load(dir, &dir.join("unused.sqlite")).expect("the backend settings");
    let bookmarks::Backend::Postgres(settings) = backend else {
        panic!("not the PostgreSQL backend");
    };
    PostgresStore::open(&settings).expect("the store")
}

#[test]
fn a_version_1_database_is_migrated_and_every_change_moves_the_version() {
    let Some(server) = Postgres::start() else {
        return;
    };
    // Schema 1 as its collectors created it, with a bookmark.
    server.psql(
        "CREATE TABLE wec_schema (version INTEGER NOT NULL); INSERT INTO wec_schema VALUES (1);
         CREATE TABLE wec_bookmark (client TEXT NOT NULL, subscription TEXT NOT NULL,
             channel TEXT NOT NULL, record_id BIGINT NOT NULL,
             PRIMARY KEY (client, subscription, channel));
         CREATE TABLE wec_client (client TEXT NOT NULL, subscription TEXT NOT NULL,
             last_event BIGINT, last_heartbeat BIGINT, PRIMARY KEY (client, subscription));
         INSERT INTO wec_bookmark VALUES ('web01', 'wef', 'Security', 41);",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&server, dir.path());
    assert_eq!(server.psql("SELECT max(version) FROM wec_schema"), "2");
    use wsman_collector::bookmarks::BookmarkStore as _;
    let mut expected = BookmarkList::new();
    expected.advance("Security", 41);
    assert_eq!(store.load("web01", "wef").expect("load"), Some(expected));
    assert_eq!(store.subscription_generation().expect("generation"), 0);
    let (_, empty) = store.subscription_set().expect("set");
    assert!(empty.subscriptions.is_empty() && empty.errors.is_empty());

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
