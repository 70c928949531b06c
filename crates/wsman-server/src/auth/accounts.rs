//! The service accounts (`DIR/accounts.toml`) as every scheme reads them: parsed once and
//! kept while the file is unchanged, so a handshake leg or a Basic check costs one `stat`
//! rather than a read and a parse. `wsmand account ...` replaces the file (a new inode), and
//! the next check sees it: no reload signal is needed, as before.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use wsman_auth::{AccountError, AccountStore};

/// A file whose modification time is this close to the moment it was read may still change
/// within the same timestamp tick (the kernel's file times are coarse): it is read again next
/// time rather than trusted.
const SETTLED_AFTER: Duration = Duration::from_secs(2);

/// `accounts.toml`, parsed, and the file version it was parsed from.
pub struct AccountCache {
    config_dir: PathBuf,
    current: Mutex<Option<Cached>>,
}

struct Cached {
    stamp: Option<FileStamp>,
    store: Arc<AccountStore>,
}

/// What tells one version of the file from another without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
    changed_ns: i128,
}

impl FileStamp {
    fn of(metadata: &std::fs::Metadata) -> Self {
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified_ns: ns(metadata.mtime(), metadata.mtime_nsec()),
            changed_ns: ns(metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

impl std::fmt::Debug for AccountCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountCache")
            .field("config_dir", &self.config_dir)
            .finish_non_exhaustive()
    }
}

impl AccountCache {
    /// The accounts under `config_dir`, read on first use.
    pub fn new(config_dir: impl Into<PathBuf>) -> Self {
        Self {
            config_dir: config_dir.into(),
            current: Mutex::new(None),
        }
    }

    /// The store as the file is now. Blocking (a `stat`, and a read when it changed).
    pub fn current(&self) -> Result<Arc<AccountStore>, AccountError> {
        let path = AccountStore::path_in(&self.config_dir);
        let stamp = match std::fs::metadata(&path) {
            Ok(metadata) => Some((FileStamp::of(&metadata), metadata.modified().ok())),
            // A missing file is an empty store; anything else is for `load` to report.
            Err(_) => None,
        };
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = current.as_ref() {
            if cached.stamp.is_some() && cached.stamp == stamp.map(|(s, _)| s) {
                return Ok(Arc::clone(&cached.store));
            }
        }
        let store = Arc::new(wsman_config::accounts::load(&self.config_dir)?);
        let settled = stamp.and_then(|(stamp, modified)| {
            let age = modified.and_then(|m| SystemTime::now().duration_since(m).ok());
            age.is_some_and(|age| age >= SETTLED_AFTER).then_some(stamp)
        });
        *current = Some(Cached {
            stamp: settled,
            store: Arc::clone(&store),
        });
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_file_is_parsed_once_and_a_replaced_one_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = wsman_config::accounts::load(dir.path()).unwrap();
        store.add("svc-a", "pw", None).unwrap();
        let path = AccountStore::path_in(dir.path());
        let old = SystemTime::now() - Duration::from_secs(60);
        let set_old = || {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(old)
                .unwrap()
        };
        set_old();
        let cache = AccountCache::new(dir.path());
        let first = cache.current().unwrap();
        assert!(first.contains("svc-a"));
        assert!(
            Arc::ptr_eq(&first, &cache.current().unwrap()),
            "unchanged: the parsed store is reused"
        );

        // `wsmand account add` writes a new file: seen at once, without a signal.
        store.add("svc-b", "pw", None).unwrap();
        let second = cache.current().unwrap();
        assert!(second.contains("svc-b"));
        // Just written: not trusted yet, read again until it has settled.
        assert!(!Arc::ptr_eq(&second, &cache.current().unwrap()));
        set_old();
        let settled = cache.current().unwrap();
        assert!(Arc::ptr_eq(&settled, &cache.current().unwrap()));
    }

    #[test]
    fn no_file_is_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let cache = AccountCache::new(dir.path());
        assert!(cache.current().unwrap().list().is_empty());
    }
}
