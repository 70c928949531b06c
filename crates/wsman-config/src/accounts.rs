//! `DIR/accounts.toml` on disk, for the service accounts of `wsman_auth::AccountStore`: the
//! file is read only when it is safe ([`wsman_safe::read_private_text`]: not a link, owned by
//! the reader or root, mode 0600 or stricter, at most [`MAX_ACCOUNTS_FILE_LEN`] bytes) into a
//! buffer that is wiped when dropped, and every change
//! is made under a writers' lock (`accounts.toml.lock` in the runtime directory,
//! [`crate::runtime::dir`]: a separate file because the data file is replaced by rename) with the same atomic write as `config.toml`.
//!
//! The accounts themselves (parsing, checks, hashing) are `wsman_auth`'s, which stays pure;
//! this module is only their file.

use std::fs::File;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wsman_auth::accounts::{AccountsChange, MAX_ACCOUNTS_FILE_LEN};
use wsman_auth::{AccountError, AccountFile, AccountStore};
use zeroize::Zeroizing;

use crate::fsutil::{lock_exclusive, write_atomic};

/// The service accounts of `config_dir` (`config_dir/accounts.toml`). A missing file is an
/// empty store; an unsafe or malformed one is an error.
pub fn load(config_dir: &Path) -> Result<AccountStore, AccountError> {
    AccountStore::open(Arc::new(AccountsFile::in_dir(config_dir)))
}

/// The writers' lock of a config directory's `accounts.toml`.
const LOCK_FILE_NAME: &str = "accounts.toml.lock";

/// `accounts.toml` of one config directory.
#[derive(Debug, Clone)]
pub struct AccountsFile {
    path: PathBuf,
    lock_path: PathBuf,
}

impl AccountsFile {
    /// The accounts file of `config_dir`; its lock in the runtime directory.
    pub fn in_dir(config_dir: &Path) -> Self {
        Self {
            path: AccountStore::path_in(config_dir),
            lock_path: crate::runtime::dir(config_dir).join(LOCK_FILE_NAME),
        }
    }

    /// An accounts file of the same form at another path (the management service's manager
    /// users), its lock beside it.
    pub fn at(path: PathBuf) -> Self {
        let lock_path = path.with_extension("toml.lock");
        Self { path, lock_path }
    }

    /// Takes the exclusive writers' lock, held until the returned file is dropped.
    fn lock(&self) -> Result<File, AccountError> {
        let lock_path = &self.lock_path;
        if let Some(parent) = lock_path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(io_error(parent))?;
        }
        lock_exclusive(lock_path).map_err(io_error(lock_path))
    }
}

impl AccountFile for AccountsFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Option<Zeroizing<String>>, AccountError> {
        let path = &self.path;
        // The file holds NT hashes: read through the opened file, wiped when dropped.
        match wsman_safe::read_private_text(path, MAX_ACCOUNTS_FILE_LEN) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(wsman_safe::PrivateFileError::Mode { mode }) => {
                Err(AccountError::InsecurePermissions {
                    path: path.to_owned(),
                    mode,
                })
            }
            Err(wsman_safe::PrivateFileError::TooLarge { max }) => Err(AccountError::TooLarge {
                path: path.to_owned(),
                max,
            }),
            Err(other) => Err(io_error(path)(other.into_io())),
        }
    }

    fn update(&self, change: AccountsChange<'_>) -> Result<(), AccountError> {
        let _lock = self.lock()?;
        let text = change(self.read()?)?;
        write_atomic(&self.path, text.as_bytes(), 0o600).map_err(io_error(&self.path))
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> AccountError + '_ {
    move |source| AccountError::Io {
        path: path.to_owned(),
        source,
    }
}
