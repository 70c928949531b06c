//! Every namespace and URI of the protocol is written once, in wsman-proto's `ns.rs`: a copy
//! elsewhere in product code (`crates/*/src`, test modules and test files left out) is one a
//! correction would miss, and the seed of a hand transcription of a message. The test support
//! crate (`wsman-test`) is no product: it describes what it checks in its own words.

use std::path::{Path, PathBuf};

use super::primitives::{product_files, product_lines};

/// Where the namespaces and URIs are written.
const HOME: &str = "crates/wsman-proto/src/ns.rs";
/// What every schema namespace and URI of WS-Management starts with.
const SCHEMA: &str = "http://schemas.";
/// Crates whose sources are not product code.
const NOT_PRODUCT: &[&str] = &["crates/wsman-test"];

/// `file:line: text` of every schema literal in the product code under `root`, but in [`HOME`].
fn literals_outside_ns(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for path in &product_files(root) {
        let relative: PathBuf = path.strip_prefix(root).unwrap_or(path).to_owned();
        let name = relative.display().to_string();
        if name == HOME
            || NOT_PRODUCT
                .iter()
                .any(|c| name.starts_with(&format!("{c}/")))
        {
            continue;
        }
        let Ok(source) = std::fs::read_to_string(path) else {
            continue;
        };
        for line in product_lines(&source) {
            if line.contains(SCHEMA) {
                found.push(format!("{name}: {}", line.trim()));
            }
        }
    }
    found
}

#[test]
fn every_schema_uri_is_written_in_ns_rs_alone() {
    let found = literals_outside_ns(&wsman_test::binaries::workspace_root());
    assert!(
        found.is_empty(),
        "namespaces and URIs are written in {HOME} (use wsman_proto::ns): {} outside it:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_schema_check_reads_product_code_only() {
    let root = std::env::temp_dir().join(format!("wsman-ns-check-{}", std::process::id()));
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let uri = "\"http://schemas.example/x\"";
    write(
        "crates/wsman-proto/src/ns.rs",
        &format!("pub const X: &str = {uri};\n"),
    );
    write("crates/a/src/lib.rs", &format!("const Y: &str = {uri};\n// {uri} in a comment\n#[cfg(test)]\nmod tests {{\n    const Z: &str = {uri};\n}}\n"));
    write(
        "crates/a/src/b_tests.rs",
        &format!("const T: &str = {uri};\n"),
    );
    write(
        "crates/wsman-test/src/lib.rs",
        &format!("const S: &str = {uri};\n"),
    );
    let found = literals_outside_ns(&root);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(
        found,
        [format!("crates/a/src/lib.rs: const Y: &str = {uri};")]
    );
}
