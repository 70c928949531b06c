//! A throwaway MIT Kerberos realm (WSMAN.TEST on 127.0.0.1) for the Kerberos tests, started by
//! `scripts/kdc.sh start DIR` in a temporary directory and stopped when dropped.
//!
//! Nothing of the machine's own Kerberos setup is read: the realm's `krb5.conf`, credential
//! cache, replay cache and keytabs all live in the temporary directory, and tests point libkrb5
//! at them through the variables of `DIR/env` ([`Kdc::env`]).
//!
//! When the KDC tools are not installed, [`Kdc::start`] prints why and returns `None` so the
//! caller can skip; set `WSMAN_TEST_REQUIRE_KDC=1` to make that a failure instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::process;

/// Programs `scripts/kdc.sh` needs.
const TOOLS: [&str; 5] = ["krb5kdc", "kdb5_util", "kadmin.local", "kinit", "python3"];
/// Where Debian installs the KDC programs, which a non-root PATH often lacks.
const SBIN_DIRS: [&str; 2] = ["/usr/sbin", "/sbin"];

/// A running test realm; stopped and its directory deleted on drop.
#[derive(Debug)]
pub struct Kdc {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Kdc {
    /// The realm the tests of one test binary share while any of them holds it: started by
    /// the first (`prepare` runs then, before any test gets it), stopped once the last lets
    /// go. libkrb5 reads its configuration from the process environment, so that is set only
    /// here, under the lock, while no other test holds the realm (and so makes no Kerberos
    /// call). `None` when the KDC tools are missing.
    pub fn shared_realm(prepare: impl FnOnce(&Kdc)) -> Option<Arc<Kdc>> {
        static REALM: Mutex<Weak<Kdc>> = Mutex::new(Weak::new());
        let mut slot = REALM.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(kdc) = slot.upgrade() {
            return Some(kdc);
        }
        let kdc = Arc::new(Kdc::start()?);
        kdc.export_to_process();
        prepare(&kdc);
        *slot = Arc::downgrade(&kdc);
        Some(kdc)
    }

    /// Start a realm, or `None` (with the reason printed) when the KDC tools are missing.
    /// Panics when the tools are there but the realm does not come up: that is a real failure.
    pub fn start() -> Option<Kdc> {
        let path = search_path();
        if let Some(missing) = TOOLS.iter().find(|tool| find_in(&path, tool).is_none()) {
            let reason = format!(
                "{missing} not found: install krb5-kdc krb5-admin-server krb5-user (scripts/lib.sh)"
            );
            crate::skipped("WSMAN_TEST_REQUIRE_KDC", &reason);
            return None;
        }
        let dir = crate::scratch_dir("wsman-kdc-", "the realm");
        process::run_ok(
            script_command(&path).arg("start").arg(dir.path()),
            Duration::from_secs(60),
            "scripts/kdc.sh start",
        );
        let text = std::fs::read_to_string(dir.path().join("env")).expect("kdc.sh wrote DIR/env");
        let env = parse_env(&text);
        assert!(
            env.contains_key("KRB5_CONFIG") && env.contains_key("WSMAN_KRB5_KEYTAB"),
            "DIR/env lacks the expected variables: {text}"
        );
        Some(Kdc { dir, env })
    }

    /// Every variable of `DIR/env` (`KRB5_CONFIG`, `KRB5CCNAME`, `KRB5RCACHEDIR`,
    /// `WSMAN_KRB5_*`).
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// One variable of `DIR/env`; panics when it is missing.
    pub fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the realm's env file"))
    }

    /// The realm's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The realm name (`WSMAN.TEST`).
    pub fn realm(&self) -> &str {
        self.var("WSMAN_KRB5_REALM")
    }

    /// The host part of the service principals (`localhost`).
    pub fn host(&self) -> &str {
        self.var("WSMAN_KRB5_HOST")
    }

    /// The keytab with `HTTP/<host>` and `WSMAN/<host>`.
    pub fn keytab(&self) -> PathBuf {
        PathBuf::from(self.var("WSMAN_KRB5_KEYTAB"))
    }

    /// The keytab with `FOO/<host>` only (a service wsmand does not serve).
    pub fn other_keytab(&self) -> PathBuf {
        PathBuf::from(self.var("WSMAN_KRB5_OTHER_KEYTAB"))
    }

    /// The test user's principal name without the realm (`wsmankrb`).
    pub fn user(&self) -> &str {
        self.var("WSMAN_KRB5_USER")
    }

    /// The test user's password.
    pub fn password(&self) -> &str {
        self.var("WSMAN_KRB5_PASSWORD")
    }

    /// Set every variable of `DIR/env` in this process, for libkrb5 to read. libkrb5 reads
    /// the environment from C, so call this before any thread makes a Kerberos call (for
    /// example inside the `OnceLock` that every Kerberos test goes through first).
    pub fn export_to_process(&self) {
        for (name, value) in &self.env {
            std::env::set_var(name, value);
        }
    }

    /// Apply `DIR/env` to a command (e.g. `kinit`, `klist`, a client under test).
    pub fn apply(&self, command: &mut Command) {
        command.envs(&self.env);
        command.env("PATH", search_path());
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let path = search_path();
        let stopped = script_command(&path)
            .arg("stop")
            .arg(self.dir.path())
            .status();
        if !stopped.is_ok_and(|s| s.success()) {
            eprintln!("kdc.sh stop {} failed", self.dir.path().display());
        }
    }
}

fn script_command(path: &str) -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kdc.sh");
    let mut command = Command::new("bash");
    command.arg(script).env("PATH", path);
    command
}

/// PATH with the sbin directories appended when missing.
fn search_path() -> String {
    let mut path = std::env::var("PATH").unwrap_or_default();
    for dir in SBIN_DIRS {
        if !path.split(':').any(|p| p == dir) {
            if !path.is_empty() {
                path.push(':');
            }
            path.push_str(dir);
        }
    }
    path
}

fn find_in(path: &str, tool: &str) -> Option<PathBuf> {
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(tool))
        .find(|candidate| candidate.is_file())
}

/// `export NAME='value'` lines (what kdc.sh writes; values never contain a quote).
fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(name, value)| {
            let value = value.trim();
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(value);
            (name.trim().to_owned(), value.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_env_file() {
        let env = parse_env(
            "export KRB5_CONFIG='/tmp/x/krb5.conf'\nexport WSMAN_KRB5_USER='wsmankrb'\n\n# c\n",
        );
        assert_eq!(env["KRB5_CONFIG"], "/tmp/x/krb5.conf");
        assert_eq!(env["WSMAN_KRB5_USER"], "wsmankrb");
        assert_eq!(env.len(), 2);
    }

    #[test]
    fn search_path_has_sbin() {
        assert!(search_path().split(':').any(|p| p == "/usr/sbin"));
    }
}
