//! Reading a configuration file that is no secret but that decides what a service does (the
//! console's host inventory): opened without following a link and without blocking on a FIFO,
//! judged on the opened file (`fstat`) and read bounded, as [`crate::read_private`] does; the
//! rule differs: anyone may read it, but only root or the service's own account may own it and
//! no one else may write it (group and others without write permission). A directory of such
//! files is judged the same way, and each file is opened relative to the directory as opened
//! (`openat`), so that no one can swap the directory between the check and the reads.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use rustix::fs::{Mode, OFlags, CWD};

use crate::PrivateFileError;

/// The bytes of `path`: a regular file owned by root or the process's effective user, that
/// group and others may not write, at most `max` bytes. Blocking.
pub fn read_protected(path: &Path, max: u64) -> Result<Vec<u8>, PrivateFileError> {
    let fd = open(CWD, path, OFlags::empty())?;
    read_opened(fd, max)
}

/// The files of directory `dir` whose names end in `suffix`, in name order, each as
/// [`read_protected`] reads one (the directory judged the same way, owner and write
/// permission): at most `max_files` files, each at most `max_each` bytes. Names starting with
/// a dot are left out (an editor's or a tool's files being written).
pub fn read_protected_dir(
    dir: &Path,
    suffix: &str,
    max_files: usize,
    max_each: u64,
) -> Result<Vec<(String, Vec<u8>)>, PrivateFileError> {
    let dir_fd = open(CWD, dir, OFlags::DIRECTORY)?;
    judge(&File::from(dir_fd.try_clone()?).metadata()?, true)?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || !name.ends_with(suffix) {
            continue;
        }
        if names.len() == max_files {
            return Err(PrivateFileError::TooMany { max: max_files });
        }
        names.push(name.to_owned());
    }
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let fd = open(dir_fd.as_fd(), Path::new(&name), OFlags::empty())?;
        out.push((name, read_opened(fd, max_each)?));
    }
    Ok(out)
}

fn open<D: AsFd>(at: D, path: &Path, extra: OFlags) -> Result<OwnedFd, PrivateFileError> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | extra;
    rustix::fs::openat(at, path, flags, Mode::empty()).map_err(|errno| {
        if errno == rustix::io::Errno::LOOP {
            PrivateFileError::Link
        } else {
            PrivateFileError::Io(io::Error::from(errno))
        }
    })
}

/// Owned by root or the effective user, not writable by group or others, of the right type.
fn judge(metadata: &std::fs::Metadata, directory: bool) -> Result<(), PrivateFileError> {
    if metadata.is_dir() != directory || !(directory || metadata.is_file()) {
        return Err(PrivateFileError::NotAFile);
    }
    let expected = rustix::process::geteuid().as_raw();
    if metadata.uid() != expected && metadata.uid() != 0 {
        return Err(PrivateFileError::Owner {
            owner: metadata.uid(),
            expected,
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(PrivateFileError::Writable { mode });
    }
    Ok(())
}

fn read_opened(fd: OwnedFd, max: u64) -> Result<Vec<u8>, PrivateFileError> {
    use std::io::Read as _;
    let file = File::from(fd);
    let metadata = file.metadata()?;
    judge(&metadata, false)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len().min(max)).unwrap_or(0));
    (&file)
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(PrivateFileError::TooLarge { max });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn a_file_others_may_write_or_a_link_is_refused_and_a_protected_one_read() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("web.toml");
        std::fs::write(&path, b"[[Host]]").expect("write");
        mode(&path, 0o644);
        assert_eq!(read_protected(&path, 64).expect("read"), b"[[Host]]");
        assert!(matches!(
            read_protected(&path, 4),
            Err(PrivateFileError::TooLarge { max: 4 })
        ));
        mode(&path, 0o664);
        assert!(matches!(
            read_protected(&path, 64),
            Err(PrivateFileError::Writable { mode: 0o664 })
        ));
        mode(&path, 0o646);
        assert!(matches!(
            read_protected(&path, 64),
            Err(PrivateFileError::Writable { .. })
        ));
        mode(&path, 0o644);
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&path, &link).expect("link");
        assert!(matches!(
            read_protected(&link, 64),
            Err(PrivateFileError::Link)
        ));
    }

    #[test]
    fn a_directory_is_judged_and_its_files_read_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        mode(dir.path(), 0o755);
        for (name, text) in [
            ("b.toml", "b"),
            ("a.toml", "a"),
            (".c.toml", "c"),
            ("d.txt", "d"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            mode(&path, 0o644);
        }
        let files = read_protected_dir(dir.path(), ".toml", 10, 64).expect("read");
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a.toml", "b.toml"]);
        assert_eq!(files[0].1, b"a");
        assert!(matches!(
            read_protected_dir(dir.path(), ".toml", 1, 64),
            Err(PrivateFileError::TooMany { max: 1 })
        ));
        // A file in it that others may write refuses the whole directory.
        mode(&dir.path().join("b.toml"), 0o666);
        assert!(matches!(
            read_protected_dir(dir.path(), ".toml", 10, 64),
            Err(PrivateFileError::Writable { .. })
        ));
        mode(&dir.path().join("b.toml"), 0o644);
        mode(dir.path(), 0o777);
        assert!(matches!(
            read_protected_dir(dir.path(), ".toml", 10, 64),
            Err(PrivateFileError::Writable { .. })
        ));
        mode(dir.path(), 0o755);
        assert!(matches!(
            read_protected_dir(&dir.path().join("a.toml"), ".toml", 10, 64),
            Err(PrivateFileError::Io(_) | PrivateFileError::NotAFile)
        ));
    }
}
