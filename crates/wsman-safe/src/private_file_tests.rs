use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;

/// A file with `text` and permission bits `mode` in `dir`.
fn file(dir: &Path, name: &str, text: &str, mode: u32) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[test]
fn reads_a_private_file_whole() {
    let dir = tempfile::tempdir().expect("dir");
    let path = file(dir.path(), "secret", "hunter2\n", 0o600);
    assert_eq!(&**read_private(&path, 8).expect("read"), b"hunter2\n");
    assert_eq!(&**read_private_text(&path, 64).expect("read"), "hunter2\n");
    let empty = file(dir.path(), "empty", "", 0o400);
    assert!(read_private(&empty, 0).expect("read").is_empty());
}

#[test]
fn refuses_a_symbolic_link_to_a_private_file() {
    let dir = tempfile::tempdir().expect("dir");
    let target = file(dir.path(), "secret", "hunter2", 0o600);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    assert!(matches!(
        read_private(&link, 64),
        Err(PrivateFileError::Link)
    ));
}

#[test]
fn refuses_a_file_of_another_owner() {
    let dir = tempfile::tempdir().expect("dir");
    let path = file(dir.path(), "secret", "hunter2", 0o600);
    let result = if euid() == 0 {
        // Root: a file that another account owns (and so may chmod or rewrite).
        std::os::unix::fs::chown(&path, Some(65534), None).expect("chown");
        read_private(&path, 64)
    } else {
        // Not root: the file is ours, and another account is the one expected.
        read_private_owned_by(&path, 64, euid() + 1)
    };
    assert!(
        matches!(result, Err(PrivateFileError::Owner { .. })),
        "{result:?}"
    );
}

#[test]
fn refuses_group_or_world_permissions() {
    let dir = tempfile::tempdir().expect("dir");
    for mode in [0o640, 0o604, 0o620, 0o602, 0o610, 0o601, 0o644] {
        let path = file(dir.path(), &format!("secret-{mode:o}"), "hunter2", mode);
        assert!(
            matches!(
                read_private(&path, 64),
                Err(PrivateFileError::Mode { mode: m }) if m == mode
            ),
            "{mode:o}"
        );
    }
}

#[test]
fn refuses_a_file_over_the_bound() {
    let dir = tempfile::tempdir().expect("dir");
    let path = file(dir.path(), "secret", "123456789", 0o600);
    assert!(matches!(
        read_private(&path, 8),
        Err(PrivateFileError::TooLarge { max: 8 })
    ));
    assert_eq!(read_private(&path, 9).expect("read").len(), 9);
}

#[test]
fn refuses_what_is_not_a_regular_file() {
    let dir = tempfile::tempdir().expect("dir");
    let sub = dir.path().join("dir");
    fs::create_dir(&sub).expect("mkdir");
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o700)).expect("chmod");
    assert!(matches!(
        read_private(&sub, 64),
        Err(PrivateFileError::NotAFile)
    ));
    // A FIFO opens without blocking (no writer) and is then refused.
    let fifo = dir.path().join("fifo");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .expect("mkfifo");
    assert!(matches!(
        read_private(&fifo, 64),
        Err(PrivateFileError::NotAFile)
    ));
    assert!(read_private(&dir.path().join("missing"), 64)
        .expect_err("missing")
        .is_not_found());
    let binary = file(dir.path(), "binary", "", 0o600);
    fs::write(&binary, [0xff, 0xfe]).expect("write");
    assert!(matches!(
        read_private_text(&binary, 64),
        Err(PrivateFileError::NotText)
    ));
}

/// The proof that the checks are the opened file's: after the open, the path is made to name
/// another file. The answer is the opened file's in both directions: its content when it
/// passes (not the content of a world-readable file renamed over it), its refusal when it
/// does not (a private file renamed over it does not make it pass).
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the swap is the attacker's rename"
)]
fn judged_on_the_opened_file_not_on_the_path() {
    let dir = tempfile::tempdir().expect("dir");
    let path = file(dir.path(), "secret", "the opened one", 0o600);
    let opened = open_no_follow(&path).expect("open");
    let other = file(dir.path(), "other", "world readable", 0o644);
    fs::rename(&other, &path).expect("swap");
    let read = read_opened(&opened, 64, euid()).expect("the opened file passes");
    assert_eq!(&**read, b"the opened one");

    let path = file(dir.path(), "open", "world readable", 0o644);
    let opened = open_no_follow(&path).expect("open");
    let private = file(dir.path(), "private", "private", 0o600);
    fs::rename(&private, &path).expect("swap");
    assert!(matches!(
        read_opened(&opened, 64, euid()),
        Err(PrivateFileError::Mode { mode: 0o644 })
    ));
    // What the path names now passes: the refusal above was the opened file's.
    assert!(read_private(&path, 64).is_ok());
}

/// A file that grows between the length the buffer was sized from and the read: read whole up
/// to the bound, never past it.
#[test]
fn a_growing_file_is_still_bounded() {
    let dir = tempfile::tempdir().expect("dir");
    let path = file(dir.path(), "secret", "ab", 0o600);
    let opened = File::open(&path).expect("open");
    fs::write(&path, "a".repeat(100)).expect("grow");
    let read = read_bounded(&opened, 2, 1000).expect("read");
    assert_eq!(read.len(), 100);
    let read = read_bounded(&opened, 2, 10).expect("read");
    assert!(read.is_empty(), "the file's end was reached already");
    let opened = File::open(&path).expect("open");
    assert_eq!(read_bounded(&opened, 2, 10).expect("read").len(), 11);
}
