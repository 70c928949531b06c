//! The collector's files are as private as what they hold (the fleet's events, Security
//! included): file outputs 0600 in directories 0700, or 0640 and 0750 of the output's
//! `group`; the SQLite database of the bookmarks and the event store, its `-wal` and `-shm`
//! 0600; whatever the umask. Existing files more open than that are tightened when opened.
//! Each test runs in child processes of this binary under umasks 000, 022 and 077 (the umask is
//! the process's: never changed beside other tests).

mod common;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use common::{logon, set, write};
use wsman_collector::store::events::StoreSettings;
use wsman_collector::store::SqliteStore;
use wsman_collector::subscription_outputs::Outputs;
use wsman_outputs::secrets::SecretBindings;

/// The variable that tells a child which umask to run under.
const UMASK: &str = "WSMAN_COLLECTOR_TEST_UMASK";

/// In a child (the variable set): set its umask and go on (`true`). Otherwise run the test
/// `name` in a child under each umask, and stop here (`false`).
fn under_each_umask(name: &str) -> bool {
    if let Ok(umask) = std::env::var(UMASK) {
        let umask = u32::from_str_radix(&umask, 8).expect("octal");
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(umask));
        return true;
    }
    for umask in ["000", "022", "077"] {
        let out = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args(["--exact", name, "--test-threads=1", "--nocapture"])
            .env(UMASK, umask)
            .output()
            .expect("the test as a child");
        assert!(
            out.status.success(),
            "under umask {umask}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    false
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").mode() & 0o777
}

/// The group a file output names in these tests: the process's own (a file's owner may give it
/// its own group without privileges).
fn own_group(_: &str) -> std::io::Result<Option<u32>> {
    Ok(Some(tempfile::tempfile()?.metadata()?.gid()))
}

/// Outputs of `sec` with the file output `path` (a template) and `settings` (TOML lines),
/// groups looked up by [`own_group`].
fn file_output(path: &Path, settings: &str) -> Outputs {
    let outputs = Outputs::with_secrets(
        std::env::temp_dir().join("no-secrets"),
        SecretBindings::default(),
    )
    .with_group_lookup(own_group);
    let problems = outputs.configure(&set(&format!(
        "[[outputs]]\ntype = \"file\"\nformat = \"raw\"\npath = \"{}\"\n{settings}",
        path.display()
    )));
    assert!(problems.is_empty(), "{problems:?}");
    outputs
}

#[test]
fn file_outputs_and_their_directories_are_private_or_their_groups() {
    if !under_each_umask("file_outputs_and_their_directories_are_private_or_their_groups") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let alone = file_output(&dir.path().join("alone/{client}/sec.xml"), "");
    write(&alone, "web01", &[logon(1, "web01")]).expect("written");
    assert_eq!(mode_of(&dir.path().join("alone")), 0o700);
    assert_eq!(mode_of(&dir.path().join("alone/web01")), 0o700);
    assert_eq!(mode_of(&dir.path().join("alone/web01/sec.xml")), 0o600);

    let shared = file_output(
        &dir.path().join("siem/{client}.xml"),
        "group = \"siem-readers\"",
    );
    write(&shared, "web01", &[logon(1, "web01")]).expect("written");
    let gid = own_group("siem-readers").expect("gid").expect("gid");
    for (path, mode) in [("siem", 0o750), ("siem/web01.xml", 0o640)] {
        let path = dir.path().join(path);
        assert_eq!(mode_of(&path), mode, "{}", path.display());
        assert_eq!(std::fs::metadata(&path).expect("stat").gid(), gid);
    }
}

#[test]
fn an_existing_output_file_readable_by_all_is_tightened_when_opened() {
    if !under_each_umask("an_existing_output_file_readable_by_all_is_tightened_when_opened") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("web01.xml");
    std::fs::write(&file, "an earlier line\n").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let outputs = file_output(&dir.path().join("{client}.xml"), "");
    write(&outputs, "web01", &[logon(1, "web01")]).expect("written");
    assert_eq!(mode_of(&file), 0o600);
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(text.starts_with("an earlier line\n<Event"), "{text}");
}

#[test]
fn the_database_and_its_wal_are_private_and_an_open_one_is_tightened() {
    if !under_each_umask("the_database_and_its_wal_are_private_and_an_open_one_is_tightened") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wec.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    let _events = store
        .events(&path, StoreSettings::default())
        .expect("event store");
    // A write through another connection: SQLite makes -wal and -shm as the database is.
    let connection = rusqlite::Connection::open(&path).expect("connection");
    connection
        .execute_batch("CREATE TABLE IF NOT EXISTS probe(x); INSERT INTO probe VALUES (1);")
        .expect("write");
    for name in ["wec.sqlite", "wec.sqlite-wal", "wec.sqlite-shm"] {
        assert_eq!(mode_of(&dir.path().join(name)), 0o600, "{name}");
    }
    drop((connection, _events, store));

    // Files an earlier version left readable by all are tightened at the next open.
    let old = tempfile::tempdir().expect("tempdir");
    let path = old.path().join("wec.sqlite");
    drop(SqliteStore::open(&path).expect("create"));
    for name in ["wec.sqlite", "wec.sqlite-wal", "wec.sqlite-shm"] {
        let file = old.path().join(name);
        if !file.exists() {
            std::fs::write(&file, "").expect("write");
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let _reopened = SqliteStore::open(&path).expect("reopen");
    for name in ["wec.sqlite", "wec.sqlite-wal", "wec.sqlite-shm"] {
        assert_eq!(mode_of(&old.path().join(name)), 0o600, "{name}");
    }
}
