//! Service accounts through the real `accounts.toml`: `wsman_auth::AccountStore` over this
//! crate's file I/O (mode, size bound, writers' lock, atomic replacement).

#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use wsman_auth::accounts::{AccountError, AccountStore, MAX_ACCOUNTS_FILE_LEN, MAX_PASSWORD_LEN};
use wsman_auth::ntlm::NtHashLookup;
use wsman_config::accounts::load;

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A fresh directory and its store, holding `accounts` (name, password; no run-as user).
fn store_with(accounts: &[(&str, &str)]) -> (tempfile::TempDir, AccountStore) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = load(dir.path()).unwrap();
    for (name, password) in accounts {
        store.add(name, password, None).unwrap();
    }
    (dir, store)
}

#[test]
fn missing_file_is_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = load(dir.path()).unwrap();
    assert!(store.list().is_empty());
    assert!(store.verify("nobody", "pw").is_none());
}

#[test]
fn add_creates_0600_file_and_verifies() {
    let (dir, mut store) = store_with(&[]);
    let added = store
        .add("deploy", "correct horse", Some("deployer".into()))
        .unwrap();
    assert_eq!(added.run_as.as_deref(), Some("deployer"));
    let path = AccountStore::path_in(dir.path());
    assert_eq!(mode_of(&path), 0o600);

    let reloaded = load(dir.path()).unwrap();
    let account = reloaded.verify("deploy", "correct horse").unwrap();
    assert_eq!(account.name, "deploy");
    assert_eq!(account.run_as.as_deref(), Some("deployer"));
    assert!(reloaded.verify("deploy", "wrong").is_none());
    assert!(reloaded.verify("deploy", "").is_none());
    assert!(reloaded.verify("unknown", "correct horse").is_none());

    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(!text.contains("correct horse"));
}

#[test]
fn no_temp_files_left_behind() {
    let (dir, mut store) = store_with(&[("a", "pw-a"), ("b", "pw-b")]);
    store.remove("a").unwrap();
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["accounts.toml", "accounts.toml.lock"]);
}

#[test]
fn duplicate_add_and_missing_remove_are_refused() {
    let (_dir, mut store) = store_with(&[("svc", "pw")]);
    assert!(matches!(
        store.add("svc", "other", None),
        Err(AccountError::AlreadyExists { .. })
    ));
    assert!(matches!(
        store.remove("ghost"),
        Err(AccountError::NotFound { .. })
    ));
    assert!(matches!(
        store.passwd("ghost", "pw"),
        Err(AccountError::NotFound { .. })
    ));
    // The failed add did not change the password.
    assert!(store.verify("svc", "pw").is_some());
}

#[test]
fn remove_forgets_account() {
    let (dir, mut store) = store_with(&[("svc", "pw")]);
    store.remove("svc").unwrap();
    assert!(!store.contains("svc"));
    assert!(load(dir.path()).unwrap().list().is_empty());
}

#[test]
fn passwd_rehashes_with_new_salt() {
    let dir = tempfile::tempdir().unwrap();
    let path = AccountStore::path_in(dir.path());
    let mut store = load(dir.path()).unwrap();
    store.add("svc", "old", Some("root".into())).unwrap();
    let before = fs::read_to_string(&path).unwrap();
    store.passwd("svc", "old").unwrap();
    let after = fs::read_to_string(&path).unwrap();
    assert_ne!(before, after, "same password must still get a fresh salt");
    store.passwd("svc", "new").unwrap();
    let reloaded = load(dir.path()).unwrap();
    assert!(reloaded.verify("svc", "old").is_none());
    let account = reloaded.verify("svc", "new").unwrap();
    assert_eq!(
        account.run_as.as_deref(),
        Some("root"),
        "passwd keeps run_as"
    );
}

#[test]
fn changes_by_another_writer_are_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = load(dir.path()).unwrap();
    let mut second = load(dir.path()).unwrap();
    first.add("one", "pw", None).unwrap();
    second.add("two", "pw", None).unwrap();
    let names: Vec<String> = load(dir.path())
        .unwrap()
        .list()
        .into_iter()
        .map(|account| account.name)
        .collect();
    assert_eq!(names, ["one", "two"]);
}

#[test]
fn group_or_world_accessible_file_is_refused() {
    let (dir, _store) = store_with(&[("svc", "pw")]);
    let path = AccountStore::path_in(dir.path());
    for mode in [0o640, 0o604, 0o620, 0o602, 0o644] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let error = load(dir.path()).unwrap_err();
        assert!(
            matches!(error, AccountError::InsecurePermissions { mode: found, .. } if found == mode),
            "{mode:o}: {error}"
        );
        assert!(error.to_string().contains("chmod 600"));
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    assert!(load(dir.path()).is_ok());
}

/// A well-formed argon2id PHC string (of a password nobody knows).
const SOME_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$K9VSe0Vbp6NzzGRqOu5YFw$tTqkF2ALmjXNhV3HvdE3WOvYhZrkD4YqYlbEe5S8TSY";

fn write_raw(dir: &Path, text: &str) {
    let path = AccountStore::path_in(dir);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// The error loading an `accounts.toml` that holds `text`.
fn load_error(dir: &Path, text: &str) -> AccountError {
    write_raw(dir, text);
    load(dir).unwrap_err()
}

#[test]
fn malformed_files_are_refused_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let error = load_error(dir.path(), "[[account]]\nname = \"a\"\npassword_hash = \n");
    assert!(matches!(error, AccountError::Parse { .. }), "{error}");
    assert!(error.to_string().contains("line 3"), "{error}");

    let error = load_error(
        dir.path(),
        "[[account]]\nname = \"a\"\npassword_hash = \"x\"\n",
    );
    assert!(matches!(error, AccountError::InvalidHash { .. }), "{error}");

    let error = load_error(
        dir.path(),
        "[[account]]\nname = \"a\"\npassword_hash = \"x\"\nextra = 1\n",
    );
    assert!(matches!(error, AccountError::Parse { .. }), "{error}");

    let entry = format!("[[account]]\nname = \"a\"\npassword_hash = \"{SOME_PASSWORD_HASH}\"\n");
    let error = load_error(dir.path(), &entry.repeat(2));
    assert!(
        matches!(error, AccountError::InvalidEntry { .. }),
        "{error}"
    );

    let error = load_error(
        dir.path(),
        &format!("[[account]]\nname = \"a b\"\npassword_hash = \"{SOME_PASSWORD_HASH}\"\n"),
    );
    assert!(
        matches!(error, AccountError::InvalidEntry { .. }),
        "{error}"
    );
}

#[test]
fn oversized_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let comment = format!("# {}\n", "x".repeat(1000));
    let lines = usize::try_from(MAX_ACCOUNTS_FILE_LEN).unwrap() / comment.len() + 1;
    let error = load_error(dir.path(), &comment.repeat(lines));
    assert!(matches!(error, AccountError::TooLarge { .. }), "{error}");
}

#[test]
fn empty_and_overlong_passwords_are_refused() {
    let (dir, mut store) = store_with(&[]);
    assert!(matches!(
        store.add("svc", "", None),
        Err(AccountError::InvalidPassword { .. })
    ));
    let long = "x".repeat(MAX_PASSWORD_LEN + 1);
    assert!(matches!(
        store.add("svc", &long, None),
        Err(AccountError::InvalidPassword { .. })
    ));
    assert!(!AccountStore::path_in(dir.path()).exists());
}

#[test]
fn list_never_exposes_hashes() {
    let (_dir, store) = store_with(&[("svc", "pw")]);
    let printed = format!("{:?}", store.list());
    assert!(!printed.contains("argon2"));
    let printed = format!("{store:?}");
    assert!(printed.contains("svc"));
    assert!(!printed.contains("argon2"), "{printed}");
}

#[test]
fn ntlm_opt_in_is_kept_current_and_can_be_dropped() {
    use wsman_auth::ntlm::nt_hash_of_password;
    let (dir, mut store) = store_with(&[("svc", "First-Pass-1"), ("other", "Other-Pass-1")]);
    assert!(store.lookup("svc").is_none(), "no NT hash without --ntlm");
    assert!(!store.get("svc").unwrap().ntlm);
    store.enable_ntlm("svc", "First-Pass-1").unwrap();
    let reloaded = load(dir.path()).unwrap();
    assert!(reloaded.get("svc").unwrap().ntlm);
    let found = reloaded.lookup("SVC").unwrap();
    assert_eq!(found.name, "svc");
    assert_eq!(found.hash, nt_hash_of_password("First-Pass-1"));
    assert_eq!(reloaded.all().len(), 1);
    // passwd keeps the NT hash current; it never adds one to an account without.
    store.passwd("svc", "Second-Pass-2").unwrap();
    store.passwd("other", "Other-Pass-2").unwrap();
    let reloaded = load(dir.path()).unwrap();
    assert_eq!(
        reloaded.lookup("svc").unwrap().hash,
        nt_hash_of_password("Second-Pass-2")
    );
    assert!(reloaded.lookup("other").is_none());
    let text = fs::read_to_string(AccountStore::path_in(dir.path())).unwrap();
    assert!(text.contains("nt_hash"));
    assert_eq!(mode_of(&AccountStore::path_in(dir.path())), 0o600);
    assert!(!format!("{reloaded:?}").contains(&*nt_hash_of_password("Second-Pass-2").to_hex()));
    store.disable_ntlm("svc").unwrap();
    assert!(load(dir.path()).unwrap().lookup("svc").is_none());
    assert!(store.enable_ntlm("missing", "pw").is_err());
}

#[test]
fn malformed_nt_hash_is_refused() {
    let (dir, _store) = store_with(&[("svc", "pw")]);
    let path = AccountStore::path_in(dir.path());
    let text = fs::read_to_string(&path).unwrap();
    let error = load_error(dir.path(), &format!("{text}nt_hash = \"xyz\"\n")).to_string();
    assert!(error.contains("nt_hash"), "{error}");
}

#[test]
fn implausible_run_as_is_refused() {
    let (dir, mut store) = store_with(&[]);
    for bad in ["", "a b", "a\nb", "a:b", &"x".repeat(257)] {
        assert!(
            matches!(
                store.add("svc", "pw", Some(bad.to_owned())),
                Err(AccountError::InvalidRunAs { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(!AccountStore::path_in(dir.path()).exists());
    store
        .add("svc", "pw", Some("alice@example.com".to_owned()))
        .unwrap();
}
