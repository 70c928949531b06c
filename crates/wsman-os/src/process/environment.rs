//! The environment a login gives a user, and the daemon's own account.

use std::fs;

use super::ProcessError;
use crate::users::{lookup_user, LinuxUser};

/// PATH for non-root users when `/etc/login.defs` has no `ENV_PATH`
/// (the value Debian's login uses).
const DEFAULT_USER_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games";
/// PATH for root when `/etc/login.defs` has no `ENV_SUPATH`.
const DEFAULT_ROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// PATH without a profile (WINRS_NOPROFILE): the system directories only.
const NO_PROFILE_PATH: &str = "/usr/bin:/bin";

/// The environment a login gives `user`: HOME, USER, LOGNAME, SHELL and the
/// PATH of `/etc/login.defs` (ENV_SUPATH for root, ENV_PATH otherwise).
/// and the system locale of `/etc/default/locale` (as pam_env sets it).
/// Without a profile (WINRS_NOPROFILE): HOME, USER, LOGNAME and a minimal
/// PATH only. Profile scripts are never sourced.
pub fn login_environment(user: &LinuxUser, no_profile: bool) -> Vec<(String, String)> {
    let home = user.home.to_string_lossy().into_owned();
    let mut environment = vec![
        ("HOME".to_owned(), home),
        ("USER".to_owned(), user.name.clone()),
        ("LOGNAME".to_owned(), user.name.clone()),
    ];
    if no_profile {
        environment.push(("PATH".to_owned(), NO_PROFILE_PATH.to_owned()));
        return environment;
    }
    environment.push((
        "SHELL".to_owned(),
        user.shell.to_string_lossy().into_owned(),
    ));
    environment.push(("PATH".to_owned(), login_path(user.uid == 0)));
    // What pam_env gives a login on Debian: the system locale.
    let locale = fs::read_to_string("/etc/default/locale").unwrap_or_default();
    for line in locale.lines() {
        let Some((name, value)) = line.trim().split_once('=') else {
            continue;
        };
        if (name == "LANG" || name == "LANGUAGE" || name.starts_with("LC_"))
            && !name.contains(char::is_whitespace)
        {
            let value = value.trim_matches('"').to_owned();
            environment.push((name.to_owned(), value));
        }
    }
    environment
}

fn login_path(root: bool) -> String {
    let key = if root { "ENV_SUPATH" } else { "ENV_PATH" };
    let from_file = fs::read_to_string("/etc/login.defs").ok().and_then(|text| {
        text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(key))
                .then(|| words.next())
                .flatten()
                .map(|value| value.strip_prefix("PATH=").unwrap_or(value).to_owned())
        })
    });
    from_file.unwrap_or_else(|| {
        if root {
            DEFAULT_ROOT_PATH
        } else {
            DEFAULT_USER_PATH
        }
        .to_owned()
    })
}

/// The account the daemon runs as (its effective uid).
pub fn daemon_user() -> Result<LinuxUser, ProcessError> {
    let uid = nix::unistd::geteuid();
    let no_user = || ProcessError::NoDaemonUser { uid: uid.as_raw() };
    let entry = nix::unistd::User::from_uid(uid)
        .map_err(|_| no_user())?
        .ok_or_else(no_user)?;
    lookup_user(&entry.name)
        .map_err(|_| no_user())?
        .ok_or_else(no_user)
}

/// The daemon's effective uid.
pub fn daemon_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Whether the daemon can switch users (runs with effective uid 0).
pub fn daemon_is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
