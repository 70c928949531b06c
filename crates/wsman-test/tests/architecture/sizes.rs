//! The size rule of CONTRIBUTING.md: no Rust file of the workspace over 800 lines. (Functions
//! over 100 lines are clippy's `too_many_lines`, set in clippy.toml and the workspace lints.)

use std::path::{Path, PathBuf};

/// The longest a Rust file may be.
pub(crate) const MAX_FILE_LINES: usize = 800;

/// The Rust files under `dir` longer than `limit` lines, with their length, longest first.
pub(crate) fn files_over(dir: &Path, limit: usize) -> Vec<(PathBuf, usize)> {
    let mut files = Vec::new();
    super::rust_files(dir, &mut files);
    let mut over: Vec<(PathBuf, usize)> = files
        .into_iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(&path).ok()?.lines().count();
            (lines > limit).then_some((path, lines))
        })
        .collect();
    over.sort_by_key(|(_, lines)| std::cmp::Reverse(*lines));
    over
}
