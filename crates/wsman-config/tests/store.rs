//! The config directory: defaults, policy overlay, corrupted files, live reload.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use wsman_config::{ConfigStore, Container, SettingKey, Source, Value};
use wsman_proto::fault::{code, Fault};

#[test]
fn absent_dir_means_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let s = ConfigStore::open(dir.path().join("not-yet")).unwrap();
    assert_eq!(s.config(), &wsman_config::Config::default());
}

#[test]
fn policy_overlay_wins_shows_gpo_and_refuses_changes() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "config.toml",
        "[Config.Service]\nAllowUnencrypted = true\nMaxConnections = 50\n",
    );
    write(
        dir.path(),
        "policy.d/10-a.toml",
        "[Config.Service]\nAllowUnencrypted = false\nMaxConnections = 10\n",
    );
    write(
        dir.path(),
        "policy.d/20-b.toml",
        "[Config.Service]\nMaxConnections = 20\n[Identify]\nProductVendor = \"Acme\"\n",
    );
    write(dir.path(), "policy.d/README", "not toml, ignored");
    let mut s = ConfigStore::open(dir.path()).unwrap();
    assert!(!s.config().service.allow_unencrypted);
    assert_eq!(s.config().service.max_connections, 20);
    assert_eq!(s.config().identify.product_vendor, "Acme");
    let key = SettingKey {
        container: Container::Service,
        name: "MaxConnections",
    };
    assert_eq!(s.value(key), Some((Value::Number(20), Source::Policy)));
    let got = s.get(SERVICE, &none()).unwrap();
    assert!(
        got.contains("<cfg:AllowUnencrypted Source=\"GPO\">false</cfg:AllowUnencrypted>"),
        "{got}"
    );
    assert!(
        got.contains("<cfg:MaxConnections Source=\"GPO\">20</cfg:MaxConnections>"),
        "{got}"
    );
    assert!(
        got.contains("<cfg:MaxConcurrentOperationsPerUser>1500<"),
        "{got}"
    );
    // The same value is fine (whole-container Puts send it back), a change is not.
    s.put(SERVICE, &none(), Some(&parse(&got))).unwrap();
    let f = put_leaves(&mut s, SERVICE, "Service", "<p:EnumerationTimeoutms>1000</p:EnumerationTimeoutms><p:AllowUnencrypted>true</p:AllowUnencrypted>")
        .unwrap_err();
    assert_eq!(f.wsman_code, code::CONFIG_GPO_CONTROLLED);
    assert!(f.message.contains("AllowUnencrypted"));
    assert_eq!(s.config().service.enumeration_timeout_ms, 240000);
    // The stored value underneath is kept.
    assert!(read(dir.path(), "config.toml")
        .unwrap()
        .contains("AllowUnencrypted = true"));
}

/// A config file setting MaxBatchItems alone.
fn batch_items(items: u32) -> String {
    format!("[Config]\nMaxBatchItems = {items}\n")
}

/// A Put of MaxBatchItems alone, as the local winrm CLI sends one.
fn put_batch_items(s: &mut ConfigStore, items: u32) {
    let inner = format!("<p:MaxBatchItems>{items}</p:MaxBatchItems>");
    put_leaves(s, CONFIG, "Config", &inner).unwrap();
}

/// A Put of the Service container's MaxConnections alone.
fn put_max_connections(s: &mut ConfigStore, connections: u32) -> Result<String, Fault> {
    let inner = format!("<p:MaxConnections>{connections}</p:MaxConnections>");
    put_leaves(s, SERVICE, "Service", &inner)
}

/// Why the store does not open once `file` holds `text`.
fn open_error(dir: &Path, file: &str, text: &str) -> String {
    write(dir, file, text);
    ConfigStore::open(dir).unwrap_err().to_string()
}

#[test]
fn corrupted_files_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let e = open_error(
        dir.path(),
        "config.toml",
        "[Config]\nMaxTimeoutms = 60000\n[Config.Service\n",
    );
    assert!(e.contains("config.toml:3"), "{e}");
    write(dir.path(), "config.toml", "");
    let e = open_error(
        dir.path(),
        "policy.d/50.toml",
        "\n[Config.Winrs]\nIdleTimeout = true\n",
    );
    assert!(e.contains("policy.d/50.toml:3"), "{e}");
    assert!(e.contains("IdleTimeout"), "{e}");
}

#[test]
fn reload_notices_changes_and_keeps_old_config_on_error() {
    let (dir, mut s) = store();
    assert!(!s.reload_if_changed().unwrap());
    write(dir.path(), "config.toml", &batch_items(7));
    assert!(s.reload_if_changed().unwrap());
    assert_eq!(s.config().max_batch_items, 7);
    assert!(!s.reload_if_changed().unwrap());
    write(dir.path(), "policy.d/1.toml", &batch_items(9));
    assert!(s.reload_if_changed().unwrap());
    assert_eq!(s.config().max_batch_items, 9);
    write(dir.path(), "policy.d/1.toml", &batch_items(0));
    assert!(s.reload_if_changed().is_err());
    assert_eq!(s.config().max_batch_items, 9);
    // Reported once, then quiet until the next change.
    assert!(!s.reload_if_changed().unwrap());
    std::fs::remove_file(dir.path().join("policy.d/1.toml")).unwrap();
    assert!(s.reload_if_changed().unwrap());
    assert_eq!(s.config().max_batch_items, 7);
    // Our own writes are not changes.
    put_batch_items(&mut s, 11);
    assert!(!s.reload_if_changed().unwrap());
}

#[test]
fn writes_apply_on_top_of_changes_made_by_another_writer() {
    let (dir, mut s) = store();
    // Another process (the local winrm CLI) changes the file after we read it.
    write(dir.path(), "config.toml", &batch_items(7));
    put_max_connections(&mut s, 9).unwrap();
    let text = read(dir.path(), "config.toml").unwrap();
    assert!(
        text.contains("MaxBatchItems = 7") && text.contains("MaxConnections = 9"),
        "{text}"
    );
    assert_eq!(s.config().max_batch_items, 7);
    // A file broken meanwhile is not overwritten.
    write(dir.path(), "config.toml", "[Config\n");
    let f = put_max_connections(&mut s, 8).unwrap_err();
    assert!(f.message.contains("config.toml:1"), "{}", f.message);
    assert_eq!(read(dir.path(), "config.toml").unwrap(), "[Config\n");
    assert_eq!(s.config().service.max_connections, 9);
}

#[test]
fn reload_now_reports_a_broken_file_every_time_it_is_asked() {
    let (dir, mut s) = store();
    assert!(!s.reload_now().unwrap());
    write(dir.path(), "config.toml", &batch_items(0));
    assert!(s.reload_if_changed().is_err());
    // The periodic check stays quiet; someone waiting for the change hears why, each time.
    assert!(!s.reload_if_changed().unwrap());
    let e = s.reload_now().unwrap_err().to_string();
    assert!(e.contains("config.toml:2"), "{e}");
    assert!(s.reload_now().is_err());
    write(dir.path(), "config.toml", &batch_items(5));
    assert!(s.reload_now().unwrap());
    assert_eq!(s.config().max_batch_items, 5);
}

#[test]
fn a_refused_write_is_taken_back_unless_another_writer_came_after() {
    let (dir, mut s) = store();
    // No file before the write: taking it back removes it.
    assert!(!s.undo_last_commit().unwrap());
    put_batch_items(&mut s, 11);
    assert!(read(dir.path(), "config.toml").is_some());
    assert!(s.undo_last_commit().unwrap());
    assert_eq!(read(dir.path(), "config.toml"), None);
    assert_eq!(s.config().max_batch_items, 32000);
    // Taken back once only.
    assert!(!s.undo_last_commit().unwrap());
    write(dir.path(), "config.toml", &batch_items(7));
    put_batch_items(&mut s, 12);
    assert!(s.undo_last_commit().unwrap());
    assert_eq!(read(dir.path(), "config.toml"), Some(batch_items(7)));
    assert_eq!(s.config().max_batch_items, 7);
    // Another writer's change made after ours is kept.
    put_batch_items(&mut s, 13);
    write(dir.path(), "config.toml", &batch_items(14));
    assert!(!s.undo_last_commit().unwrap());
    assert_eq!(read(dir.path(), "config.toml"), Some(batch_items(14)));
}

#[test]
fn store_and_config_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<ConfigStore>();
    shareable::<wsman_config::Config>();
}
