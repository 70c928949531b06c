//! The configuration directory: `config.toml` (stored values), `policy.d/*.toml` (read-only
//! overlay that wins, shown as `Source="GPO"`), `certs/`. Effective value of a setting =
//! policy, else stored, else Windows' default.

use std::fs;
use std::hash::{Hash as _, Hasher as _};
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::effective::{Config, IdentifyConfig, DEFAULT_PRODUCT_VENDOR};
use crate::fsutil::{lock_exclusive, write_atomic};
use crate::schema::{SettingKey, Value};
use crate::toml_file::{self, FileContent, FileKind, Layer};
use crate::ConfigError;

/// Where an effective value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Windows' default (nothing set).
    Default,
    /// Set in `config.toml`.
    Stored,
    /// Pinned by a file in `policy.d` (`Source="GPO"`).
    Policy,
}

/// What a file looked like when read: enough to notice any edit, rename or removal. The
/// content hash is there because file times are only as fine as the kernel's clock tick, so
/// two same-size writes within one tick would otherwise look identical; the files are small.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    path: PathBuf,
    len: u64,
    mtime: (i64, i64),
    ino: u64,
    content: u64,
}

type Fingerprint = Vec<Option<FileStamp>>;

/// The configuration directory, loaded. Not internally synchronised: the server wraps it in a
/// lock and hands out [`ConfigStore::snapshot`]s.
#[derive(Debug)]
pub struct ConfigStore {
    dir: PathBuf,
    pub(crate) stored: FileContent,
    pub(crate) policy: Layer,
    effective: Arc<Config>,
    fingerprint: Fingerprint,
    failed_fingerprint: Option<Fingerprint>,
    /// The gid of the WMI users group, which the WMI plug-in's default descriptor admits
    /// (this crate does no account lookups: the opener resolves it, see
    /// [`Self::set_wmi_users_gid`]).
    wmi_users_gid: Option<u32>,
    /// The gid of the remote users group ([`Self::set_remote_users_gid`]).
    remote_users_gid: Option<u32>,
    /// The gid of the event readers group ([`Self::set_event_readers_gid`]).
    event_readers_gid: Option<u32>,
    /// This store's last write, so that one the daemon refuses can be taken back.
    last_commit: Option<LastCommit>,
}

/// `config.toml` before and after a write (`None`: there was no file).
#[derive(Debug)]
struct LastCommit {
    previous: Option<Vec<u8>>,
    written: Vec<u8>,
}

const CONFIG_FILE: &str = "config.toml";
const POLICY_DIR: &str = "policy.d";
const CERTS_DIR: &str = "certs";

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ConfigError + '_ {
    move |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    }
}

fn stamp(path: &Path) -> Result<Option<FileStamp>, ConfigError> {
    match fs::metadata(path) {
        Ok(m) => {
            let content = match fs::read(path) {
                Ok(bytes) => {
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    bytes.hash(&mut h);
                    h.finish()
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(path)(e)),
            };
            Ok(Some(FileStamp {
                path: path.to_owned(),
                len: m.len(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ino: m.ino(),
                content,
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The policy files, sorted by name (later files win).
fn policy_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let pdir = dir.join(POLICY_DIR);
    let entries = match fs::read_dir(&pdir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&pdir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(&pdir))?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn fingerprint(dir: &Path) -> Result<Fingerprint, ConfigError> {
    let mut out = vec![stamp(&dir.join(CONFIG_FILE))?];
    for p in policy_files(dir)? {
        out.push(stamp(&p)?);
    }
    Ok(out)
}

fn read_optional(path: &Path) -> Result<Option<String>, ConfigError> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn read_optional_bytes(path: &Path) -> Result<Option<Vec<u8>>, ConfigError> {
    match fs::read(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn load(dir: &Path) -> Result<(FileContent, Layer), ConfigError> {
    let config_path = dir.join(CONFIG_FILE);
    let stored = match read_optional(&config_path)? {
        Some(text) => toml_file::parse(&config_path, &text, FileKind::Stored)?,
        None => FileContent::default(),
    };
    let mut policy = Layer::default();
    for p in policy_files(dir)? {
        if let Some(text) = read_optional(&p)? {
            policy.overlay(toml_file::parse(&p, &text, FileKind::Policy)?.layer);
        }
    }
    Ok((stored, policy))
}

pub(crate) fn build_effective(stored: &FileContent, policy: &Layer) -> Config {
    let resolve = |key: SettingKey| -> Value {
        policy
            .values
            .get(&key)
            .or_else(|| stored.layer.values.get(&key))
            .cloned()
            .or_else(|| key.setting().map(|s| s.default.clone()))
            .unwrap_or(Value::Number(0))
    };
    let mut config = Config::from_resolver(&resolve);
    let ports = config.service.default_ports;
    config.listeners = stored
        .listeners
        .iter()
        .map(|l| l.resolve(ports.http, ports.https))
        .collect();
    config.cert_mappings = stored.cert_mappings.clone();
    // An extension table: the stored one, the policy's keys over it, resolved.
    macro_rules! overlaid {
        ($table:ident) => {{
            let mut layer = stored.layer.$table.clone();
            layer.overlay(&policy.$table);
            layer.resolve()
        }};
    }
    config.security = overlaid!(security);
    config.metrics = overlaid!(metrics);
    config.http = overlaid!(http);
    config.powershell = overlaid!(powershell);
    config.identify = IdentifyConfig {
        product_vendor: policy
            .product_vendor
            .clone()
            .or_else(|| stored.layer.product_vendor.clone())
            .unwrap_or_else(|| DEFAULT_PRODUCT_VENDOR.to_owned()),
        product_version: policy
            .product_version
            .clone()
            .or_else(|| stored.layer.product_version.clone()),
    };
    config
}

/// The lock every writer of the configuration directory holds from reading the current files
/// to renaming the new `config.toml` into place: the daemon (remote `winrm set`) and every
/// local `winrm --config-dir` alike. Without it, two writers each read the same file, each
/// add their change, and the second rename drops the first change. An advisory `flock` on
/// `.config.lock` in DIR's runtime directory ([`crate::runtime::dir`]; never deleted: a lock file that is replaced is no lock), released when
/// dropped or when the process dies.
#[derive(Debug)]
pub(crate) struct WriteLock {
    _file: fs::File,
}

/// The writers' lock file, inside the runtime directory.
pub(crate) const WRITE_LOCK_FILE: &str = ".config.lock";

impl WriteLock {
    /// Block until this process is the only writer of `dir` (created if missing).
    pub(crate) fn acquire(dir: &Path) -> Result<Self, ConfigError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let runtime = crate::runtime::ensure_dir(dir).map_err(io_err(dir))?;
        let path = runtime.join(WRITE_LOCK_FILE);
        let file = lock_exclusive(&path).map_err(io_err(&path))?;
        Ok(Self { _file: file })
    }
}

impl ConfigStore {
    /// Read `dir/config.toml` (absent: defaults) and `dir/policy.d/*.toml`. The directory
    /// need not exist yet; it is created on the first write.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let dir = dir.into();
        let fingerprint = fingerprint(&dir)?;
        let (stored, policy) = load(&dir)?;
        let effective = Arc::new(build_effective(&stored, &policy));
        Ok(Self {
            dir,
            stored,
            policy,
            effective,
            fingerprint,
            failed_fingerprint: None,
            wmi_users_gid: None,
            remote_users_gid: None,
            event_readers_gid: None,
            last_commit: None,
        })
    }

    /// The gid of [`crate::WMI_USERS_GROUP`] on this host (`None`: the group does not exist),
    /// as the opener looked it up; kept in the effective configuration's
    /// [`crate::SecurityConfig::wmi_users_gid`].
    pub fn set_wmi_users_gid(&mut self, gid: Option<u32>) {
        self.wmi_users_gid = gid;
        self.refresh();
    }

    /// The gid of [`crate::REMOTE_USERS_GROUP`] on this host (`None`: the group does not
    /// exist), kept in [`crate::SecurityConfig::remote_users_gid`]: the PowerShell plug-in's
    /// default descriptor admits it.
    pub fn set_remote_users_gid(&mut self, gid: Option<u32>) {
        self.remote_users_gid = gid;
        self.refresh();
    }

    /// The gid of [`crate::EVENT_READERS_GROUP`] on this host (`None`: the group does not
    /// exist), kept in [`crate::SecurityConfig::event_readers_gid`]: the event store's default
    /// descriptor admits it.
    pub fn set_event_readers_gid(&mut self, gid: Option<u32>) {
        self.event_readers_gid = gid;
        self.refresh();
    }

    /// Re-read the files if any of them changed (content, size, time, inode, or the set of
    /// policy files). Cheap when nothing changed: a `stat` and a read of each small file. On an error the current
    /// configuration stays in force and the same broken state is reported only once.
    pub fn reload_if_changed(&mut self) -> Result<bool, ConfigError> {
        self.reload(false)
    }

    /// Like [`Self::reload_if_changed`], but files that failed before are read and reported
    /// again: someone asked for them to apply (a local `winrm` waiting for the daemon) and
    /// must hear why they do not.
    pub fn reload_now(&mut self) -> Result<bool, ConfigError> {
        self.reload(true)
    }

    fn reload(&mut self, again: bool) -> Result<bool, ConfigError> {
        let now = fingerprint(&self.dir)?;
        if now == self.fingerprint || (!again && self.failed_fingerprint.as_ref() == Some(&now)) {
            return Ok(false);
        }
        match load(&self.dir) {
            Ok((stored, policy)) => {
                self.adopt(stored, policy, now);
                Ok(true)
            }
            Err(e) => {
                self.failed_fingerprint = Some(now);
                Err(e)
            }
        }
    }

    /// The configuration directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `DIR/certs`, where listener certificates live.
    pub fn certs_dir(&self) -> PathBuf {
        self.dir.join(CERTS_DIR)
    }

    /// `DIR/config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.effective
    }

    /// The effective configuration, shareable across threads without holding the store.
    pub fn snapshot(&self) -> Arc<Config> {
        Arc::clone(&self.effective)
    }

    /// Effective value of one setting and where it comes from.
    pub fn value(&self, key: SettingKey) -> Option<(Value, Source)> {
        if let Some(v) = self.policy.values.get(&key) {
            return Some((v.clone(), Source::Policy));
        }
        if let Some(v) = self.stored.layer.values.get(&key) {
            return Some((v.clone(), Source::Stored));
        }
        key.setting().map(|s| (s.default.clone(), Source::Default))
    }

    /// Before a write: take the writers' lock ([`WriteLock`]), then adopt what another writer
    /// (the local `winrm` CLI, the daemon, an editor) put on disk since we read it, so our
    /// write applies on top of it instead of undoing it. A file that no longer parses is not
    /// overwritten: the write is refused and names the problem. The caller holds the returned
    /// lock until its [`Self::commit`] is done.
    #[must_use = "the lock must be held until the write is committed"]
    pub(crate) fn sync_before_write(&mut self) -> Result<WriteLock, ConfigError> {
        let lock = WriteLock::acquire(&self.dir)?;
        let now = fingerprint(&self.dir)?;
        if now == self.fingerprint {
            return Ok(lock);
        }
        let (stored, policy) = load(&self.dir)?;
        self.adopt(stored, policy, now);
        Ok(lock)
    }

    /// Takes the files as loaded at `now` for the configuration served from here on.
    fn adopt(&mut self, stored: FileContent, policy: Layer, now: Fingerprint) {
        self.stored = stored;
        self.policy = policy;
        self.fingerprint = now;
        self.failed_fingerprint = None;
        self.refresh();
    }

    fn refresh(&mut self) {
        let mut config = build_effective(&self.stored, &self.policy);
        config.security.wmi_users_gid = self.wmi_users_gid;
        config.security.remote_users_gid = self.remote_users_gid;
        config.security.event_readers_gid = self.event_readers_gid;
        self.effective = Arc::new(config);
    }

    /// Write `next` to `config.toml` atomically, then adopt it. On error nothing changes.
    pub(crate) fn commit(&mut self, mut next: FileContent) -> Result<(), ConfigError> {
        // Keep only values that differ from the defaults, so that a whole-container Put (as
        // winrm.vbs and PowerShell send) does not pin every default.
        next.layer
            .values
            .retain(|k, v| k.setting().is_none_or(|s| s.default != *v));
        let path = self.config_path();
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let previous = read_optional_bytes(&path)?;
        let written = toml_file::render(&next).into_bytes();
        write_atomic(&path, &written, 0o644).map_err(io_err(&path))?;
        self.last_commit = Some(LastCommit { previous, written });
        self.stored = next;
        self.refresh();
        // Our own write is not a change to reload; a failure to stat only costs a reload.
        if let Ok(f) = fingerprint(&self.dir) {
            self.fingerprint = f;
        }
        Ok(())
    }

    /// Put `config.toml` back as it was before this store's last write (which the daemon
    /// refused), under the writers' lock. `Ok(false)`: nothing to take back, or another
    /// writer changed the file since, whose change is kept.
    pub fn undo_last_commit(&mut self) -> Result<bool, ConfigError> {
        let Some(last) = self.last_commit.take() else {
            return Ok(false);
        };
        let _lock = WriteLock::acquire(&self.dir)?;
        let path = self.config_path();
        if read_optional_bytes(&path)?.as_deref() != Some(last.written.as_slice()) {
            return Ok(false);
        }
        match &last.previous {
            Some(bytes) => write_atomic(&path, bytes, 0o644).map_err(io_err(&path))?,
            None => fs::remove_file(&path).map_err(io_err(&path))?,
        }
        let now = fingerprint(&self.dir)?;
        let (stored, policy) = load(&self.dir)?;
        self.adopt(stored, policy, now);
        Ok(true)
    }
}
