//! Where the built executables are: the cargo target profile dir that holds the test binary.

use std::path::PathBuf;

/// The root of the checkout (the workspace), two levels above this crate: what the tests of
/// the repository's own files (ARCHITECTURE.md, README.md) read.
pub fn workspace_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/wsman-test is two levels below the root")
        .to_path_buf()
}

/// Asserts that a check of the repository's own files found nothing: otherwise the panic
/// says `problem` and names every finding.
pub fn assert_none<T: std::fmt::Debug>(problem: &str, found: &[T]) {
    assert!(found.is_empty(), "{problem}: {found:?}");
}

/// The profile directory (`target/debug`): a test executable lives in `target/debug/deps/`, so
/// it is the parent of the executable's parent.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a parent dir");
    match deps.parent() {
        Some(profile) if deps.file_name().is_some_and(|n| n == "deps") => profile.to_path_buf(),
        _ => deps.to_path_buf(),
    }
}

/// The path of a workspace binary, with a message that says how to build it when absent.
pub fn path(name: &str) -> PathBuf {
    let candidate = profile_dir().join(name);
    assert!(
        candidate.is_file(),
        "{} not found: run `cargo build --workspace --bins` first",
        candidate.display()
    );
    candidate
}

/// `target/debug/wsmand`.
pub fn wsmand() -> PathBuf {
    path("wsmand")
}

/// `target/debug/winrm`.
pub fn winrm() -> PathBuf {
    path("winrm")
}
