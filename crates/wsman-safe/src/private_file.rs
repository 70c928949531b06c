//! Reading a secret file: opened once, without following a link and without blocking on a
//! FIFO; its type, owner and mode judged on the opened file (`fstat`), so that no one can
//! swap the path between a check and the open; read bounded, into a buffer that is wiped when
//! dropped (and whenever it grows).
//!
//! Why owner and mode: a file that its owner may chmod, or that group or others may read, is
//! not the operator's secret alone. Root may own any secret file; otherwise it must be the
//! account expected to own it (the process's effective user unless the caller names another).
//! `O_NOFOLLOW` refuses a link as the last component only: the directories above are the
//! operator's to choose.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

use rustix::fs::OFlags;
use zeroize::{Zeroize as _, Zeroizing};

/// Why a secret file was refused or could not be read (the caller adds its path).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivateFileError {
    /// Opening or reading failed (`NotFound` among them: see [`PrivateFileError::is_not_found`]).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The path names a symbolic link: a secret file is opened without following one.
    #[error("is a symbolic link (a secret file is opened without following links)")]
    Link,
    /// A directory, FIFO, device or socket.
    #[error("is not a regular file")]
    NotAFile,
    /// Owned by another account than the expected one or root.
    #[error("is owned by uid {owner}, not by uid {expected} or root")]
    Owner {
        /// The file's owner.
        owner: u32,
        /// The account expected to own it.
        expected: u32,
    },
    /// Group or others have a permission on it.
    #[error("mode {mode:04o} lets group or others in: a secret file must be 0600 or stricter (chmod 600)")]
    Mode {
        /// Its permission bits.
        mode: u32,
    },
    /// Larger than the caller's bound.
    #[error("larger than {max} bytes")]
    TooLarge {
        /// The bound.
        max: u64,
    },
    /// A file that must be protected from writes ([`crate::read_protected`]) is writable by
    /// group or others.
    #[error("mode {mode:04o} lets group or others write it: only its owner (root or the service's account) may (chmod go-w)")]
    Writable {
        /// Its permission bits.
        mode: u32,
    },
    /// A directory holds more files than the caller's bound.
    #[error("holds more than {max} files")]
    TooMany {
        /// The bound.
        max: usize,
    },
    /// [`read_private_text`] of bytes that are not UTF-8.
    #[error("is not UTF-8 text")]
    NotText,
}

impl PrivateFileError {
    /// True when the file does not exist (callers for which a missing file is no error).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io(error) if error.kind() == io::ErrorKind::NotFound)
    }

    /// As an I/O error, for a caller whose error type has no place for the refusal: the I/O
    /// error itself, or the refusal as `PermissionDenied` (link, type, owner, mode) or
    /// `InvalidData` (size, text).
    pub fn into_io(self) -> io::Error {
        let kind = match &self {
            Self::Io(_) => io::ErrorKind::Other,
            Self::Link
            | Self::NotAFile
            | Self::Owner { .. }
            | Self::Mode { .. }
            | Self::Writable { .. } => io::ErrorKind::PermissionDenied,
            Self::TooLarge { .. } | Self::TooMany { .. } | Self::NotText => {
                io::ErrorKind::InvalidData
            }
        };
        match self {
            Self::Io(error) => error,
            refusal => io::Error::new(kind, refusal),
        }
    }
}

/// The bytes of the secret file `path`: a regular file owned by the process's effective user or
/// root, mode 0600 or stricter, at most `max` bytes, all judged on the opened file. Blocking.
pub fn read_private(path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, PrivateFileError> {
    read_private_owned_by(path, max, rustix::process::geteuid().as_raw())
}

/// [`read_private`] with the owner named: `owner` or root (a file root reads at start on behalf
/// of the account that will serve, or that account's keytab).
pub fn read_private_owned_by(
    path: &Path,
    max: u64,
    owner: u32,
) -> Result<Zeroizing<Vec<u8>>, PrivateFileError> {
    let file = open_no_follow(path)?;
    read_opened(&file, max, owner)
}

/// [`read_private`] as text (a password file, a TOML file with a password in it).
pub fn read_private_text(path: &Path, max: u64) -> Result<Zeroizing<String>, PrivateFileError> {
    let mut bytes = read_private(path, max)?;
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(error) => {
            error.into_bytes().zeroize();
            Err(PrivateFileError::NotText)
        }
    }
}

/// `path` opened for reading without following a link as its last component and without
/// blocking (a FIFO opens, and is then refused as not a file).
fn open_no_follow(path: &Path) -> Result<File, PrivateFileError> {
    let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK;
    let flags = i32::try_from(flags.bits()).map_err(|_| PrivateFileError::NotAFile)?;
    #[allow(clippy::disallowed_methods)] // The one secret-file open.
    let opened = OpenOptions::new().read(true).custom_flags(flags).open(path);
    opened.map_err(|error| match error.raw_os_error() {
        Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => PrivateFileError::Link,
        _ => PrivateFileError::Io(error),
    })
}

/// The checks and the bounded read, on the file as opened (whatever its path names by now).
fn read_opened(file: &File, max: u64, owner: u32) -> Result<Zeroizing<Vec<u8>>, PrivateFileError> {
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(PrivateFileError::NotAFile);
    }
    if metadata.uid() != owner && metadata.uid() != 0 {
        return Err(PrivateFileError::Owner {
            owner: metadata.uid(),
            expected: owner,
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PrivateFileError::Mode { mode });
    }
    let bytes = read_bounded(file, metadata.len(), max)?;
    if bytes.len() as u64 > max {
        return Err(PrivateFileError::TooLarge { max });
    }
    Ok(bytes)
}

/// Up to `max + 1` bytes of `file` (one over tells it is too large), in a buffer sized from the
/// file's length; when the file grew since, the buffer grows by copying into a new one and
/// wiping the old, so no unwiped copy is left in freed memory.
fn read_bounded(mut file: &File, length: u64, max: u64) -> io::Result<Zeroizing<Vec<u8>>> {
    let limit = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
    let initial = usize::try_from(length.saturating_add(1)).unwrap_or(usize::MAX);
    let mut buffer = Zeroizing::new(vec![0u8; initial.clamp(1, limit)]);
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            if buffer.len() >= limit {
                break;
            }
            let mut grown = Zeroizing::new(vec![0u8; buffer.len().saturating_mul(2).min(limit)]);
            grown[..filled].copy_from_slice(&buffer[..filled]);
            buffer = grown;
        }
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    // Truncating keeps the capacity, which the drop wipes whole.
    buffer.truncate(filled);
    Ok(buffer)
}

#[cfg(test)]
#[path = "private_file_tests.rs"]
mod tests;
