//! The Basic verifier over the real `accounts.toml`: service accounts checked only there,
//! everyone else handed to the system checker.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use wsman_auth::{
    AccountStore, AuthError, Authenticator, Credentials, Identity, IdentityKind, PasswordChecker,
};
use wsman_config::accounts::{load, AccountsFile};

/// A fake system: `alice` / `alice-pw` is the only valid Linux login.
struct FakeSystem {
    calls: Arc<AtomicUsize>,
}

impl PasswordChecker for FakeSystem {
    fn check(&self, user: &str, password: &str) -> Result<(), AuthError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if user == "alice" && password == "alice-pw" {
            Ok(())
        } else {
            Err(AuthError::Rejected {
                reason: "PAM_AUTH_ERR".to_owned(),
            })
        }
    }
}

fn authenticator(dir: &std::path::Path) -> (Authenticator, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let system = FakeSystem {
        calls: Arc::clone(&calls),
    };
    (
        Authenticator::new(Arc::new(AccountsFile::in_dir(dir)), Box::new(system)),
        calls,
    )
}

/// A config directory holding `accounts` (name, password, run-as), the authenticator over it
/// and the count of checks that reached the system checker.
fn with_accounts(
    accounts: &[(&str, &str, Option<&str>)],
) -> (tempfile::TempDir, Authenticator, Arc<AtomicUsize>) {
    let dir = tempfile::tempdir().unwrap();
    if !accounts.is_empty() {
        let mut store = load(dir.path()).unwrap();
        for (name, password, run_as) in accounts {
            store
                .add(name, password, run_as.map(str::to_owned))
                .unwrap();
        }
    }
    let (auth, calls) = authenticator(dir.path());
    (dir, auth, calls)
}

fn login(auth: &Authenticator, user: &str, password: &str) -> Result<Identity, AuthError> {
    auth.authenticate(&Credentials::new(user, password))
}

/// Refused as a wrong password (not as an unusable accounts file).
fn rejected(auth: &Authenticator, user: &str, password: &str) -> bool {
    matches!(login(auth, user, password), Err(AuthError::Rejected { .. }))
}

#[test]
fn linux_user_goes_to_system_checker() {
    let (_dir, auth, calls) = with_accounts(&[]);
    let identity = login(&auth, r"HOST\alice", "alice-pw").unwrap();
    assert_eq!(identity, Identity::linux_user("alice"));
    assert_eq!(identity.linux_user.as_deref(), Some("alice"));
    assert!(rejected(&auth, "alice", "nope"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn service_account_is_checked_only_in_store() {
    let (_dir, auth, calls) = with_accounts(&[
        ("alice", "store-pw", Some("bob")),
        ("bare", "bare-pw", None),
    ]);

    let identity = login(&auth, "alice", "store-pw").unwrap();
    assert_eq!(identity.kind, IdentityKind::ServiceAccount);
    assert_eq!(identity.linux_user.as_deref(), Some("bob"));

    // The Linux password of a name that is a service account does not work.
    assert!(rejected(&auth, "alice", "alice-pw"));

    let identity = login(&auth, "bare@REALM", "bare-pw").unwrap();
    assert_eq!(
        identity,
        Identity::service_account("bare", None),
        "no run_as: no Linux user"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn accounts_added_later_are_seen_without_restart() {
    let (dir, auth, _) = with_accounts(&[]);
    assert!(login(&auth, "svc", "pw").is_err());
    load(dir.path()).unwrap().add("svc", "pw", None).unwrap();
    assert!(login(&auth, "svc", "pw").is_ok());
}

#[test]
fn empty_password_never_reaches_system() {
    let (_dir, auth, calls) = with_accounts(&[]);
    assert!(rejected(&auth, "alice", ""));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn unusable_accounts_file_fails_closed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = AccountStore::path_in(dir.path());
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (auth, calls) = authenticator(dir.path());
    assert!(matches!(
        login(&auth, "alice", "alice-pw"),
        Err(AuthError::Accounts { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn service_account_names_match_case_insensitively_as_under_ntlm() {
    let (_dir, auth, calls) = with_accounts(&[("svc", "svc-pw", Some("bob"))]);
    for user in ["SVC", r"HOST\Svc", "sVc@EXAMPLE.COM"] {
        let identity = login(&auth, user, "svc-pw").unwrap_or_else(|e| panic!("{user}: {e}"));
        assert_eq!(identity.name, "svc", "{user}");
        assert_eq!(identity.kind, IdentityKind::ServiceAccount);
    }
    // Never handed to PAM, right or wrong password.
    assert!(login(&auth, "SVC", "wrong").is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
