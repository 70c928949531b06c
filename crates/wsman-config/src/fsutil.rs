//! Files of the config dir: the atomic writer ([`write_atomic`], `wsman_safe`'s: the one writer
//! of this kind in the workspace, which the daemon's state files use too) and the writers'
//! lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

pub use wsman_safe::write_atomic;

/// Opens (creating, mode 0600) the lock file `path` and blocks until this process holds its
/// exclusive lock, released when the file is dropped: the writers' lock of a configuration file.
pub(crate) fn lock_exclusive(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    file.lock()?;
    Ok(file)
}
