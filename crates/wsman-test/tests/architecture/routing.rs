//! One authorization per request, decided by the engine that serves it: the catalog is built
//! in one file of the daemon, every engine adapter is in `wsman-server/src/engines/`, and the
//! access check (`access.rs`) knows no resource.

use std::path::{Path, PathBuf};

use wsman_test::binaries::{assert_none, workspace_root};

/// The production part of a Rust source: a trailing `#[cfg(test)]` module is cut off, and
/// test files (`tests.rs`, `*_tests.rs`, `tests/`) have none.
fn production(path: &Path, source: &str) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let in_tests = path.components().any(|c| c.as_os_str() == "tests");
    if in_tests || name == "tests.rs" || name.ends_with("_tests.rs") {
        return String::new();
    }
    match source.find("#[cfg(test)]\nmod ") {
        Some(at) => source[..at].to_owned(),
        None => source.to_owned(),
    }
}

/// The workspace's production files (under `crates/*/src`) whose code contains `needle`.
pub(super) fn files_with(needle: &str) -> Vec<String> {
    let root = workspace_root();
    let mut files = Vec::new();
    super::rust_files(&root.join("crates"), &mut files);
    let mut found: Vec<String> = files
        .into_iter()
        .filter(|path: &PathBuf| path.components().any(|c| c.as_os_str() == "src"))
        .filter(|path| {
            let source = std::fs::read_to_string(path).unwrap_or_default();
            production(path, &source).contains(needle)
        })
        .map(|path| {
            path.strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string()
        })
        .collect();
    found.sort();
    found
}

#[test]
fn the_access_check_matches_no_resource() {
    let path = workspace_root().join("crates/wsman-server/src/access.rs");
    let source = std::fs::read_to_string(path).expect("access.rs");
    assert!(
        !source.contains("Resource::"),
        "access.rs decides by resource: each engine states its access (engines/)"
    );
}

#[test]
fn the_catalog_is_built_in_one_file_of_the_daemon() {
    assert_eq!(
        files_with("Catalog::new()"),
        ["crates/wsmand/src/catalog.rs"],
        "engines are put in the catalog by the daemon's catalog::build only"
    );
    assert_eq!(files_with("Catalog::default()"), Vec::<String>::new());
}

#[test]
fn every_engine_adapter_is_in_the_engines_folder() {
    let outside: Vec<String> = files_with("impl Engine for ")
        .into_iter()
        .chain(files_with("impl crate::engine::Engine for "))
        .filter(|file| !file.starts_with("crates/wsman-server/src/engines/"))
        .collect();
    assert_none("move these adapters to engines/", &outside);
}

#[test]
fn test_code_is_told_from_production_code() {
    let source = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn b() { Catalog::new(); }\n}\n";
    assert!(!production(Path::new("crates/x/src/lib.rs"), source).contains("Catalog::new()"));
    assert!(production(Path::new("crates/x/src/tests.rs"), "Catalog::new()").is_empty());
    assert!(production(Path::new("crates/x/src/lib.rs"), "Catalog::new()").contains("Catalog"));
}
