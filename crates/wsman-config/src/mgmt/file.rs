//! `DIR/mgmt.toml` read and written, the run lock a running service holds, and the manager
//! users' file.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml_edit::{DocumentMut, Item, TomlError, Value};
use wsman_auth::{AccountError, AccountStore};

use super::{
    MgmtError, MgmtSettings, MAX_SETTINGS_FILE_LEN, RUN_LOCK_FILE_NAME, SETTINGS_FILE_NAME,
    USERS_FILE_NAME,
};
use crate::accounts::AccountsFile;
use crate::fsutil::write_atomic;

impl MgmtSettings {
    /// Path of the settings file in `config_dir`.
    pub fn path_in(config_dir: &Path) -> PathBuf {
        config_dir.join(SETTINGS_FILE_NAME)
    }

    /// Reads `DIR/mgmt.toml`; a missing file means the defaults (WMSVC as installed).
    pub fn load(config_dir: &Path) -> Result<Self, MgmtError> {
        let path = Self::path_in(config_dir);
        let text = match read_bounded(&path, MAX_SETTINGS_FILE_LEN) {
            Ok(Some(text)) => text,
            Ok(None) => return Ok(Self::default()),
            Err(source) => return Err(MgmtError::Io { path, source }),
        };
        Self::parse(&path, &text)
    }

    /// Parses the file's text, reads the hosts of its `HostInventory`, and validates them
    /// together.
    pub fn parse(path: &Path, text: &str) -> Result<Self, MgmtError> {
        let mut settings: Self = toml::from_str(text).map_err(|e| MgmtError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        // The settings' own values first: a bad HostInventory is refused as a bad value, not
        // read.
        settings.check_rows()?;
        if let Some(inventory) = &settings.host_inventory {
            settings.inventory = super::inventory::read(inventory, settings.max_hosts)?;
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Writes `DIR/mgmt.toml` atomically (mode 0644: it holds no secret; host passwords live
    /// in their own 0600 files), editing the file that is there rather than replacing it: the
    /// comments and layout of what a person wrote (the hosts and roles above all) are kept,
    /// and only the settings whose value changed are rewritten.
    pub fn save(&self, config_dir: &Path) -> Result<(), MgmtError> {
        self.validate()?;
        let path = Self::path_in(config_dir);
        let existing =
            read_bounded(&path, MAX_SETTINGS_FILE_LEN).map_err(|source| MgmtError::Io {
                path: path.clone(),
                source,
            })?;
        let text = self
            .edited_text(existing.as_deref())
            .map_err(|e| MgmtError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
        write_atomic(&path, text.as_bytes(), 0o644).map_err(|source| MgmtError::Io { path, source })
    }

    /// The file's text with these settings: `existing` edited in place, or a fresh file when
    /// there is none (or it does not parse).
    fn edited_text(&self, existing: Option<&str>) -> Result<String, RenderError> {
        let fresh_text = toml::to_string_pretty(self)?;
        let fresh: DocumentMut = fresh_text.parse()?;
        let Some((old_text, mut doc)) =
            existing.and_then(|text| Some((text, text.parse::<DocumentMut>().ok()?)))
        else {
            return Ok(fresh_text);
        };
        let old: Option<Self> = toml::from_str(old_text).ok();
        for (key, item) in fresh.iter() {
            let unchanged = match key {
                "Host" => old.as_ref().is_some_and(|o| o.hosts == self.hosts),
                "Role" => old.as_ref().is_some_and(|o| o.roles == self.roles),
                _ => doc
                    .get(key)
                    .and_then(Item::as_value)
                    .zip(item.as_value())
                    .is_some_and(|(was, now)| bare(was) == bare(now)),
            };
            if unchanged {
                continue;
            }
            let mut item = item.clone();
            if let (Some(new), Some(was)) =
                (item.as_value_mut(), doc.get(key).and_then(Item::as_value))
            {
                *new.decor_mut() = was.decor().clone();
            }
            doc[key] = item;
        }
        let gone: Vec<String> = doc
            .iter()
            .map(|(key, _)| key.to_owned())
            .filter(|key| !fresh.contains_key(key))
            .collect();
        for key in gone {
            doc.remove(&key);
        }
        Ok(doc.to_string())
    }
}

/// A value as text without its comments and spacing.
pub(super) fn bare(value: &Value) -> String {
    let mut value = value.clone();
    value.decor_mut().clear();
    value.to_string()
}

/// The text of `path` when it exists, refused past `max` bytes.
pub(super) fn read_bounded(path: &Path, max: u64) -> io::Result<Option<String>> {
    use std::io::Read as _;
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(Some(text))
}

/// The run lock of `config_dir` (in its runtime directory, [`crate::runtime::dir`]), taken by
/// the service at start and held until it exits.
/// `Ok(None)`: another process holds it (a service already runs on this directory).
pub fn take_run_lock(config_dir: &Path) -> io::Result<Option<File>> {
    let path = crate::runtime::ensure_dir(config_dir)?.join(RUN_LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// True while a service runs on `config_dir` (holds its run lock).
pub fn is_running(config_dir: &Path) -> io::Result<bool> {
    let path = crate::runtime::dir(config_dir).join(RUN_LOCK_FILE_NAME);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(false),
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// The manager users of `config_dir` (`DIR/mgmt-users.toml`, mode 0600): the same argon2id
/// store and file handling as the service accounts, in a file of their own, since a manager
/// user is no WinRM account.
pub fn manager_users(config_dir: &Path) -> Result<AccountStore, AccountError> {
    AccountStore::open(Arc::new(AccountsFile::at(config_dir.join(USERS_FILE_NAME))))
}

/// Why the settings could not be rendered as TOML (a bug: they are plain values).
#[derive(Debug, thiserror::Error)]
enum RenderError {
    #[error("{0}")]
    Serialize(#[from] toml::ser::Error),
    #[error("{0}")]
    Reparse(#[from] TomlError),
}
