//! Files and directories as private as what they hold: created with exactly the mode asked for
//! (set on the opened file after the create, so the umask neither widens nor narrows it) and
//! the group given, and files left more open by an earlier version or an operator tightened.
//! Why one place: the collector's outputs and its database hold the fleet's events (Security
//! included), and every such file must be made, and judged, the same way.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{
    fchown, DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::Path;

use rustix::fs::OFlags;

/// Permission bits (`rwx` of owner, group and others; setuid and the like kept out).
const PERMISSIONS: u32 = 0o777;

/// A file made no more open than `allowed` (e.g. 0o600): when its permissions grant anything
/// `allowed` does not, they are cut to the part of them `allowed` keeps. Returns the mode it
/// had when it was changed, `None` when it was private enough already.
pub fn tighten(file: &File, allowed: u32) -> io::Result<Option<u32>> {
    let mode = file.metadata()?.mode() & PERMISSIONS;
    if mode & !allowed == 0 {
        return Ok(None);
    }
    file.set_permissions(Permissions::from_mode(mode & allowed))?;
    Ok(Some(mode))
}

/// [`tighten`] of the file at `path`, opened without following a link as its last component
/// (a link is left alone: it names some other file, not one of ours). `Ok(None)` when there is
/// no such file.
pub fn tighten_path(path: &Path, allowed: u32) -> io::Result<Option<u32>> {
    let flags = i32::try_from((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    #[allow(clippy::disallowed_methods)] // A file of ours opened to tighten, never followed.
    let opened = OpenOptions::new().read(true).custom_flags(flags).open(path);
    let file = match opened {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Ok(None)
        }
        Err(error) => return Err(error),
    };
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    tighten(&file, allowed)
}

/// A new file at `path` (`AlreadyExists` when there is one: never through a link left in its
/// place), opened to append, with exactly `mode` and, when given, group `gid`.
pub fn create_new(path: &Path, mode: u32, gid: Option<u32>) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(mode & PERMISSIONS)
        .open(path)?;
    if let Some(gid) = gid {
        fchown(&file, None, Some(gid))?;
    }
    // After the chown: changing the group may clear bits, and the umask cut some at the open.
    file.set_permissions(Permissions::from_mode(mode & PERMISSIONS))?;
    Ok(file)
}

/// The missing directories of `dir` created, each with exactly `mode` and, when given, group
/// `gid`; directories that exist are left as they are (an operator's, such as `/var/log`).
pub fn create_dirs(dir: &Path, mode: u32, gid: Option<u32>) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut next = Some(dir);
    while let Some(path) = next.filter(|p| !p.as_os_str().is_empty()) {
        if path.exists() {
            break;
        }
        missing.push(path);
        next = path.parent();
    }
    for path in missing.into_iter().rev() {
        match DirBuilder::new().mode(mode & PERMISSIONS).create(path) {
            // Made meanwhile by another writer: theirs, as any directory that exists.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            other => other?,
        }
        if let Some(gid) = gid {
            std::os::unix::fs::chown(path, None, Some(gid))?;
        }
        std::fs::set_permissions(path, Permissions::from_mode(mode & PERMISSIONS))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").mode() & PERMISSIONS
    }

    /// The umask this test's child runs under (`files_and_directories_...`): the umask is the
    /// process's, so it is changed only in a process of its own, never beside other tests.
    const CHILD_UMASK: &str = "WSMAN_SAFE_TEST_UMASK";

    #[test]
    fn files_and_directories_get_exactly_their_mode_whatever_the_umask() {
        let Ok(umask) = std::env::var(CHILD_UMASK) else {
            for umask in ["077", "000", "022"] {
                let status = std::process::Command::new(std::env::current_exe().expect("exe"))
                    .args([
                        "--exact",
                        "file_modes::tests::files_and_directories_get_exactly_their_mode_whatever_the_umask",
                        "--test-threads=1",
                    ])
                    .env(CHILD_UMASK, umask)
                    .status()
                    .expect("the test as a child");
                assert!(status.success(), "under umask {umask}");
            }
            return;
        };
        let umask = u32::from_str_radix(&umask, 8).expect("octal");
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(umask));
        let dir = tempfile::tempdir().expect("tempdir");
        let nested = dir.path().join("a/b");
        create_dirs(&nested, 0o750, None).expect("dirs");
        let file = nested.join("f");
        create_new(&file, 0o640, None).expect("file");
        let private = dir.path().join("private");
        create_new(&private, 0o600, None).expect("file");
        assert_eq!(mode_of(&dir.path().join("a")), 0o750);
        assert_eq!(mode_of(&nested), 0o750);
        assert_eq!(mode_of(&file), 0o640);
        assert_eq!(mode_of(&private), 0o600);
        assert_eq!(
            create_new(&file, 0o600, None)
                .map(|_| ())
                .unwrap_err()
                .kind(),
            io::ErrorKind::AlreadyExists
        );
    }

    #[test]
    fn a_file_more_open_than_allowed_is_tightened_and_a_link_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, "x").expect("write");
        std::fs::set_permissions(&file, Permissions::from_mode(0o664)).expect("chmod");
        assert_eq!(tighten_path(&file, 0o640).expect("tighten"), Some(0o664));
        assert_eq!(mode_of(&file), 0o640);
        assert_eq!(tighten_path(&file, 0o640).expect("again"), None);
        assert_eq!(tighten_path(&file, 0o600).expect("tighter"), Some(0o640));
        assert_eq!(mode_of(&file), 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).expect("link");
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(tighten_path(&link, 0o600).expect("link"), None);
        assert_eq!(mode_of(&file), 0o644);
        assert_eq!(
            tighten_path(&dir.path().join("none"), 0o600).expect("absent"),
            None
        );
    }
}
