//! The host-facing security primitives are written once (`wsman-safe`, and the shell admission
//! check in `wsman-shell`): a second copy of one, in product code (`crates/*/src`, test modules
//! and test files left out), is a copy that a fix would miss.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each primitive's tell-tale text and the one file of product code that may hold it.
const WRITTEN_ONCE: &[(&str, &str)] = &[
    // The atomic writer's rename.
    ("fs::rename(", "crates/wsman-safe/src/atomic.rs"),
    // The secret file's mode check.
    ("0o077", "crates/wsman-safe/src/private_file.rs"),
    // The IPv4-mapped rule.
    ("to_ipv4_mapped", "crates/wsman-safe/src/net.rs"),
    // The shell admission refusals.
    (
        "Err(ShellError::RemoteShellAccessDisabled)",
        "crates/wsman-shell/src/manager.rs",
    ),
    (
        "Err(ShellError::RunAsNotPermitted",
        "crates/wsman-shell/src/manager.rs",
    ),
];

/// Whether `path` is a test file kept under `src/` (`tests.rs`, `*_tests.rs`, `test_*.rs`).
pub(crate) fn is_test_file(path: &Path) -> bool {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    stem == "tests" || stem.ends_with("_tests") || stem.starts_with("test_")
}

/// The product source files of the workspace under `root`: every `crates/*/src` file but the
/// test files kept there ([`is_test_file`]), sorted. Each rule that reads product code reads
/// these.
pub(crate) fn product_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(crates) = std::fs::read_dir(root.join("crates")) {
        for krate in crates.flatten() {
            super::rust_files(&krate.path().join("src"), &mut files);
        }
    }
    files.retain(|path| !is_test_file(path));
    files.sort();
    files
}

/// The lines of `source` that are product code: comments and inline `#[cfg(test)] mod` blocks
/// left out.
pub(crate) fn product_lines(source: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut lines = source.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed == "#[cfg(test)]" {
            // Skip attributes, then the module: one line (`mod x;`) or a braced block.
            while lines.peek().is_some_and(|l| l.trim().starts_with("#[")) {
                lines.next();
            }
            let Some(item) = lines.next() else { break };
            let mut depth = braces(item);
            while depth > 0 {
                let Some(inner) = lines.next() else { break };
                depth += braces(inner);
            }
            continue;
        }
        if !trimmed.starts_with("//") {
            out.push(line);
        }
    }
    out
}

fn braces(line: &str) -> i64 {
    let open = line.matches('{').count() as i64;
    let close = line.matches('}').count() as i64;
    open - close
}

/// For each text, the product files (relative to `root`) holding it and how often.
fn occurrences(root: &Path) -> BTreeMap<&'static str, Vec<(String, usize)>> {
    let mut found: BTreeMap<&'static str, Vec<(String, usize)>> = BTreeMap::new();
    for path in &product_files(root) {
        let Ok(source) = std::fs::read_to_string(path) else {
            continue;
        };
        let product = product_lines(&source);
        for (text, _) in WRITTEN_ONCE {
            let count: usize = product.iter().map(|l| l.matches(text).count()).sum();
            if count > 0 {
                let relative: PathBuf = path.strip_prefix(root).unwrap_or(path).to_owned();
                found
                    .entry(text)
                    .or_default()
                    .push((relative.display().to_string(), count));
            }
        }
    }
    found
}

#[test]
fn each_security_primitive_is_written_once_in_product_code() {
    let found = occurrences(&wsman_test::binaries::workspace_root());
    for (text, home) in WRITTEN_ONCE {
        let places = found.get(text).cloned().unwrap_or_default();
        assert_eq!(
            places,
            vec![((*home).to_owned(), 1)],
            "{text:?} must be written once, in {home}: call the primitive there"
        );
    }
}

#[test]
fn the_copy_detector_sees_product_code_and_skips_tests_and_comments() {
    let source = "fn a() { std::fs::rename(x, y); }\n\
                  // fs::rename( in a comment\n\
                  #[cfg(test)]\n\
                  mod tests {\n    fn b() { fs::rename(p, q); }\n    mod inner {\n    }\n}\n\
                  fn c() { fs::rename(r, s); }\n\
                  #[cfg(test)]\n\
                  #[path = \"x_tests.rs\"]\n\
                  mod x;\n\
                  fn d() {}\n";
    let product = product_lines(source);
    let count: usize = product
        .iter()
        .map(|l| l.matches("fs::rename(").count())
        .sum();
    assert_eq!(count, 2, "{product:?}");
    assert!(product.iter().any(|l| l.contains("fn d()")));
    assert!(is_test_file(Path::new("crates/x/src/keytab_tests.rs")));
    assert!(!is_test_file(Path::new("crates/x/src/keytab.rs")));
}
