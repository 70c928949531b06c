//! The hosts' password files: how one is read, and which of them the root start phase may
//! read. A password is sent to the host's Url, so a file root reads on the word of something
//! the serving user can change (a link it planted in `mgmt-passwords/`, a `PasswordFile` it
//! wrote into `mgmt.toml`) would send any small root file to wherever that user points it.
//! So a file is opened without following a link and must be a regular file of mode 0600, and
//! root reads at start only files named by a `mgmt.toml` the serving user cannot write, in
//! directories it cannot write; every other file is read after the privileges are dropped.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use wsman_config::mgmt::{ManagedHost, MgmtSettings};
use wsman_safe::PrivateFileError;

/// The directory, in the config directory, of the passwords typed into the host form.
pub const PASSWORDS_DIR: &str = "mgmt-passwords";

/// Largest password file read.
const MAX_PASSWORD_FILE: u64 = 1024;

/// Why a password file was not read.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    /// It could not be opened (missing, not readable by the reader).
    #[error("open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A symbolic link, a directory, a device or a FIFO: never read as a password.
    #[error("{path}: not a regular file (a link or a special file is never read as a password)")]
    NotRegular {
        /// The file.
        path: PathBuf,
    },
    /// Readable by others than its owner.
    #[error("{path}: mode {mode:04o}: a password file must be 0600")]
    Mode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Reading failed (or it is not UTF-8).
    #[error("read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The password in `path`, its line end dropped: a regular file of mode 0600 owned by the
/// reader or root, opened without following a link (and without blocking on a FIFO, which is
/// then refused), judged on the opened file ([`wsman_safe::read_private_text`]).
pub fn read(path: &Path) -> Result<String, PasswordFileError> {
    let path_ = || path.to_owned();
    let text =
        wsman_safe::read_private_text(path, MAX_PASSWORD_FILE).map_err(|error| match error {
            PrivateFileError::Link | PrivateFileError::NotAFile => {
                PasswordFileError::NotRegular { path: path_() }
            }
            PrivateFileError::Mode { mode } => PasswordFileError::Mode {
                path: path_(),
                mode,
            },
            PrivateFileError::Io(source) => PasswordFileError::Open {
                path: path_(),
                source,
            },
            refused => PasswordFileError::Read {
                path: path_(),
                source: refused.into_io(),
            },
        })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// Passwords read by root at start, by file; any other file is read when a host is connected.
#[derive(Debug, Default)]
pub struct Preloaded(BTreeMap<PathBuf, String>);

impl Preloaded {
    /// The password of `path`: the one root read at start, or else the file read now.
    pub fn password(&self, path: &Path) -> Result<String, PasswordFileError> {
        match self.0.get(path) {
            Some(password) => Ok(password.clone()),
            None => read(path),
        }
    }
}

/// The serving user, as the root start phase judges what it could have changed.
#[derive(Clone, Copy, Debug)]
pub struct ServingUser {
    /// Its user id.
    pub uid: u32,
    /// Its one group (the privileges are dropped to it alone).
    pub gid: u32,
}

impl ServingUser {
    /// Could this user change `path` (write it, or make it another file: a link, a file it
    /// owns and may chmod)? Also true when `path` cannot be inspected; false when it does not
    /// exist (whether it could be made is its directory's question: `could_replace`).
    pub fn could_change(self, path: &Path) -> bool {
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            Err(e) => return e.kind() != std::io::ErrorKind::NotFound,
        };
        let mode = metadata.mode();
        metadata.file_type().is_symlink()
            || metadata.uid() == self.uid
            || (metadata.gid() == self.gid && mode & 0o020 != 0)
            || mode & 0o002 != 0
    }

    /// Could this user change the file at `path` or its directory (replace it)?
    fn could_replace(self, path: &Path) -> bool {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        self.could_change(path) || self.could_change(parent)
    }
}

/// The passwords root may read at start for `hosts` (each host's and its run-as accounts'):
/// none when `config_dir`'s `mgmt.toml` (which names the files) could be changed by `serving`;
/// otherwise every file but those in `mgmt-passwords/` (the console's own, written by the
/// serving user) and those `serving` could replace. A file root may read but cannot is an
/// error, as it would be later.
pub fn read_as_root(
    config_dir: &Path,
    serving: ServingUser,
    hosts: &[ManagedHost],
) -> Result<Preloaded, PasswordFileError> {
    let mut preloaded = Preloaded::default();
    if hosts.is_empty() {
        // Nothing to read: hosts added later from the page are read as the serving user.
        return Ok(preloaded);
    }
    let settings = MgmtSettings::path_in(config_dir);
    if serving.could_replace(&settings) {
        tracing::info!(
            file = %settings.display(),
            "the serving user could change or replace the settings file, so every host password file is read as that user, not as root"
        );
        return Ok(preloaded);
    }
    let own = config_dir.join(PASSWORDS_DIR);
    let files = hosts.iter().flat_map(|host| {
        std::iter::once(&host.password_file).chain(host.run_as.iter().map(|a| &a.password_file))
    });
    for path in files {
        if path.starts_with(&own) || serving.could_replace(path) {
            continue;
        }
        preloaded.0.insert(path.clone(), read(path)?);
    }
    Ok(preloaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn secret_file(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn only_a_regular_owner_only_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let good = secret_file(dir.path(), "good", 0o600);
        assert_eq!(read(&good).unwrap(), "s3cret");
        let open = secret_file(dir.path(), "open", 0o644);
        assert!(matches!(read(&open), Err(PasswordFileError::Mode { .. })));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        assert!(matches!(
            read(&link),
            Err(PasswordFileError::NotRegular { .. })
        ));
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(
            read(&fifo),
            Err(PasswordFileError::NotRegular { .. })
        ));
        assert!(matches!(
            read(dir.path()),
            Err(PasswordFileError::NotRegular { .. })
        ));
    }

    #[test]
    fn what_the_serving_user_could_change_is_judged_from_the_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let file = secret_file(dir.path(), "f", 0o600);
        let me = std::fs::metadata(&file).unwrap();
        let owner = ServingUser {
            uid: me.uid(),
            gid: u32::MAX,
        };
        let stranger = ServingUser {
            uid: me.uid().wrapping_add(1),
            gid: me.gid().wrapping_add(1),
        };
        assert!(owner.could_change(&file));
        assert!(!stranger.could_change(&file));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o602)).unwrap();
        assert!(stranger.could_change(&file));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(stranger.could_change(&link));
        // A missing file is not changed; making it is a question of its directory.
        let missing = dir.path().join("missing");
        assert!(!stranger.could_change(&missing));
        assert!(owner.could_replace(&missing));
        assert!(!stranger.could_replace(&missing));
    }
}
