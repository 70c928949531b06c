//! The environment a login gives a user, and the daemon's own account.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

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
    environment.extend(LOCALE.get("/etc/default/locale", parse_locale));
    environment
}

fn parse_locale(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.trim().split_once('=')?;
            ((name == "LANG" || name == "LANGUAGE" || name.starts_with("LC_"))
                && !name.contains(char::is_whitespace))
            .then(|| (name.to_owned(), value.trim_matches('"').to_owned()))
        })
        .collect()
}

/// `ENV_PATH` and `ENV_SUPATH` of `/etc/login.defs`.
#[derive(Debug, Clone, Default)]
struct LoginPaths {
    user: Option<String>,
    root: Option<String>,
}

fn parse_login_defs(text: &str) -> LoginPaths {
    let value = |key: &str| {
        text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(key))
                .then(|| words.next())
                .flatten()
                .map(|value| value.strip_prefix("PATH=").unwrap_or(value).to_owned())
        })
    };
    LoginPaths {
        user: value("ENV_PATH"),
        root: value("ENV_SUPATH"),
    }
}

fn login_path(root: bool) -> String {
    let paths = LOGIN_DEFS.get("/etc/login.defs", parse_login_defs);
    let (from_file, default) = if root {
        (paths.root, DEFAULT_ROOT_PATH)
    } else {
        (paths.user, DEFAULT_USER_PATH)
    };
    from_file.unwrap_or_else(|| default.to_owned())
}

static LOGIN_DEFS: FileCache<LoginPaths> = FileCache::new();
static LOCALE: FileCache<Vec<(String, String)>> = FileCache::new();

/// What was read from a system file, kept while the file stays the same: every Create would
/// otherwise open and parse `/etc/login.defs` (12 KB here) and `/etc/default/locale` again.
/// One `stat` per use checks device, inode, size, and change and modification times, so an
/// edit in place and a replaced file are both seen at the next Create. A file changed less
/// than [`SETTLE`] before it was read is not kept: two writes within one tick of the file
/// system's clock could leave the same times and size.
struct FileCache<T> {
    entry: Mutex<Option<(Stamp, T)>>,
}

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

/// How long a file must have been unchanged before what was read from it is kept.
const SETTLE: Duration = Duration::from_secs(2);

impl<T: Clone + Default> FileCache<T> {
    const fn new() -> Self {
        Self {
            entry: Mutex::new(None),
        }
    }

    /// `parse` of the file's text (of "" when it cannot be read), from the cache if the file
    /// has not changed since it was kept.
    fn get(&self, path: &str, parse: fn(&str) -> T) -> T {
        let stamp = fs::metadata(path).ok().map(|meta| Stamp {
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        });
        let mut entry = self.entry.lock().unwrap_or_else(PoisonError::into_inner);
        if let (Some(stamp), Some((kept, value))) = (stamp, entry.as_ref()) {
            if stamp == *kept {
                return value.clone();
            }
        }
        let value = match fs::read_to_string(path) {
            Ok(text) => parse(&text),
            Err(_) => parse(""),
        };
        *entry = stamp
            .filter(|stamp| settled(stamp.changed.0.max(stamp.modified.0)))
            .map(|stamp| (stamp, value.clone()));
        value
    }
}

/// Whether a time in seconds since the epoch lies more than [`SETTLE`] in the past.
fn settled(seconds: i64) -> bool {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        });
    now.saturating_sub(seconds) > i64::try_from(SETTLE.as_secs()).unwrap_or(i64::MAX)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse_lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    /// A kept value is used while the file is unchanged; an edit in place, a replaced file
    /// and a removed one are seen at the next read; a file changed just now is not kept.
    #[test]
    fn file_cache_sees_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("defs");
        let name = path.to_str().unwrap();
        let cache: FileCache<Vec<String>> = FileCache::new();
        fs::write(&path, "one\n").unwrap();
        // Just written: read, but not kept.
        assert_eq!(cache.get(name, parse_lines), ["one"]);
        assert!(cache.entry.lock().unwrap().is_none());
        // Kept under the file's stamp (ctime cannot be set back to make it old, so by hand):
        // served from the cache while the file is unchanged.
        let meta = fs::metadata(&path).unwrap();
        let stamp = Stamp {
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        };
        *cache.entry.lock().unwrap() = Some((stamp, vec!["kept".to_owned()]));
        assert_eq!(cache.get(name, parse_lines), ["kept"]);
        // Edited in place (same inode), replaced (new inode), removed: read again.
        fs::write(&path, "edited in place\n").unwrap();
        assert_eq!(cache.get(name, parse_lines), ["edited in place"]);
        wsman_safe::write_atomic(&path, b"replaced\n", 0o644).unwrap();
        assert_eq!(cache.get(name, parse_lines), ["replaced"]);
        fs::remove_file(&path).unwrap();
        assert!(cache.get(name, parse_lines).is_empty());
        assert!(cache.entry.lock().unwrap().is_none());
        // What is old enough to keep.
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let now = i64::try_from(now).unwrap();
        assert!(settled(now - 60));
        assert!(!settled(now));
        assert!(!settled(now + 60));
    }

    #[test]
    fn parses_login_defs_and_locale() {
        let paths = parse_login_defs(
            "# comment\nENV_SUPATH\tPATH=/sbin:/bin\nENV_PATH PATH=/bin\nUMASK 022\n",
        );
        assert_eq!(paths.root.as_deref(), Some("/sbin:/bin"));
        assert_eq!(paths.user.as_deref(), Some("/bin"));
        assert!(parse_login_defs("").user.is_none());
        let locale = parse_locale("LANG=\"en_US.UTF-8\"\n# x\nLC_TIME=C\nOTHER=1\n");
        assert_eq!(
            locale,
            [
                ("LANG".to_owned(), "en_US.UTF-8".to_owned()),
                ("LC_TIME".to_owned(), "C".to_owned())
            ]
        );
    }
}
