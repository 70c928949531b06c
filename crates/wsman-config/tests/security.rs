//! The `[Security]` extension table and RootSDDL through the store: defaults, stored values,
//! policy overlay, refusals with file and line, and survival of a Put of other settings.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wsman_config::{ConfigError, ConfigStore, SecurityDescriptor, DEFAULT_SHELL_SDDL};

#[test]
fn defaults_stored_values_and_policy() {
    let (dir, store) = store();
    let security = &store.config().security;
    assert_eq!(security.shell_sddl, DEFAULT_SHELL_SDDL);
    assert!(security.failed_login_delay);
    assert_eq!(security.failed_login_max_delay_ms, 8000);
    SecurityDescriptor::parse(&store.config().service.root_sddl).unwrap();

    write(
        dir.path(),
        "config.toml",
        "[Security]\nShellSDDL = \"O:NSG:BAD:P(A;;GA;;;BA)\"\nFailedLoginMaxDelayms = 1000\n",
    );
    write(
        dir.path(),
        "policy.d/10.toml",
        "[Security]\nFailedLoginDelay = false\n",
    );
    let mut store = ConfigStore::open(dir.path()).unwrap();
    let security = store.config().security.clone();
    assert_eq!(security.shell_sddl, "O:NSG:BAD:P(A;;GA;;;BA)");
    assert_eq!(security.failed_login_max_delay_ms, 1000);
    assert!(!security.failed_login_delay, "the policy file wins");

    // A Put of another setting keeps the [Security] table in the stored file.
    put_leaves(
        &mut store,
        SERVICE,
        "Service",
        "<p:MaxConnections>42</p:MaxConnections>",
    )
    .unwrap();
    let stored = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    assert!(stored.contains("[Security]"), "{stored}");
    assert!(stored.contains("FailedLoginMaxDelayms = 1000"), "{stored}");
    assert!(
        !stored.contains("FailedLoginDelay = false"),
        "policy values are not stored"
    );
    let reopened = ConfigStore::open(dir.path()).unwrap();
    assert_eq!(reopened.config().security.failed_login_max_delay_ms, 1000);
}

#[test]
fn bad_values_are_refused_with_their_line() {
    for (text, line) in [
        ("[Security]\nShellSDDL = \"garbage\"\n", 2),
        (
            "[Config]\n[Config.Service]\nRootSDDL = \"D:NO_ACCESS_CONTROL\"\n",
            3,
        ),
        ("[Security]\nFailedLoginDelay = \"yes\"\n", 2),
        ("[Security]\nNoSuchKey = 1\n", 2),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "config.toml", text);
        match ConfigStore::open(dir.path()) {
            Err(ConfigError::Parse { line: l, .. }) if l == line => {}
            other => panic!("{text:?}: {other:?}"),
        }
    }
}
