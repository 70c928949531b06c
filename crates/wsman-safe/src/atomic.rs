//! Atomic file replacement: temp file in the same directory, write, fsync, rename, fsync dir.
//! A reader (or a crash) sees the old file or the new one, never a half-written one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replace `path` with `data`, file mode `mode` (set explicitly, so the umask does not matter).
/// The temporary file is created anew (`O_EXCL`: never through a link someone left in its
/// place) in the same directory, and the directory is synced after the rename, so the new
/// name survives a crash.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        // A stale temp file from a crashed run with the same pid would make create_new fail.
        match fs::remove_file(&tmp) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        #[allow(clippy::disallowed_methods)] // The one atomic writer's rename.
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The existing file `path` opened for writing in place (a slot of a file of ours rewritten),
/// without following a link as its last component: a link put in its place is refused, as
/// [`write_atomic`]'s rename replaces it rather than follows it.
pub fn open_to_update(path: &Path) -> io::Result<File> {
    let flags = i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    #[allow(clippy::disallowed_methods)] // Opened without following a link, here alone.
    let opened = OpenOptions::new()
        .write(true)
        .custom_flags(flags)
        .open(path);
    opened
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn replaces_with_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("a.toml");
        fs::write(&p, "old").expect("write");
        write_atomic(&p, b"new", 0o600).expect("replace");
        assert_eq!(fs::read_to_string(&p).expect("read"), "new");
        assert_eq!(fs::metadata(&p).expect("stat").mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("a.toml");
        fs::write(&p, "old").expect("write");
        // The target is a directory: the rename fails after the temporary file was written.
        let target = dir.path().join("sub");
        fs::create_dir(&target).expect("mkdir");
        fs::write(target.join("x"), "x").expect("write");
        assert!(write_atomic(&target, b"new", 0o600).is_err());
        assert_eq!(fs::read_to_string(&p).expect("read"), "old");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 2);
    }
}
