//! Every domain error's fault is decided in the errors table (`wsman-server`'s `error.rs`),
//! so a second mapping of the same error cannot drift from it. What counts, in product code
//! (`crates/*/src`; test files, `#[cfg(test)]` modules and comments left out): a function
//! named `…_fault` (`fn x_fault(` or `fn x_fault<`), the way every mapping of an error to
//! its fault has been named, and an `impl From<…> for Fault`. Not counted: `Fault`'s own
//! constructors in `wsman-proto` (they build a fault; they map no error), builders that take
//! a message (`invalid_value`), and a client's reader of a received fault, which is named
//! for what it makes (a `Failure`, a message), never `…_fault`.

use std::collections::BTreeMap;
use std::path::Path;

use super::primitives::{product_files, product_lines};

/// The files that may map an error to its fault, and why each is one.
const HOMES: &[(&str, &str)] = &[
    ("crates/wsman-server/src/error.rs", "the errors table"),
    (
        "crates/wsman-config/src/resource.rs",
        "the config store's errors: the local `winrm` drives the store without a server, and \
         wsman-config may not depend on wsman-server",
    ),
    (
        "crates/wsman-work/src/lib.rs",
        "`From<WorkError>`: `WorkPool::run`, below the server, answers with the fault",
    ),
    (
        "crates/wsman-proto/src/wql.rs",
        "`From<QueryError>`: the WQL parser's refusal, which the providers (below the server) \
         return with `?`",
    ),
];

/// The error-to-fault mappings `line` defines.
pub(crate) fn fault_makers(line: &str) -> Vec<String> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("fn ") {
        let starts_word = !rest[..at].chars().next_back().is_some_and(is_ident);
        let after = &rest[at + 3..];
        let name_len = after.find(|c: char| !is_ident(c)).unwrap_or(after.len());
        let (name, tail) = after.split_at(name_len);
        if starts_word && name.ends_with("_fault") && tail.starts_with(['(', '<']) {
            found.push(format!("fn {name}"));
        }
        rest = tail;
    }
    let trimmed = line.trim();
    if trimmed.starts_with("impl From<")
        && (trimmed.ends_with(" for Fault {") || trimmed.ends_with("::Fault {"))
    {
        found.push(trimmed.trim_end_matches(" {").to_owned());
    }
    found
}

/// Each product file (relative to `root`) and the mappings it defines.
fn mappings(root: &Path) -> BTreeMap<String, Vec<String>> {
    let mut found = BTreeMap::new();
    for path in &product_files(root) {
        let Ok(source) = std::fs::read_to_string(path) else {
            continue;
        };
        let makers: Vec<String> = product_lines(&source)
            .iter()
            .flat_map(|l| fault_makers(l))
            .collect();
        if !makers.is_empty() {
            let relative = path.strip_prefix(root).unwrap_or(path);
            found.insert(relative.display().to_string(), makers);
        }
    }
    found
}

#[test]
fn errors_map_to_faults_only_in_the_errors_table() {
    let found = mappings(&wsman_test::binaries::workspace_root());
    let strays: Vec<String> = found
        .iter()
        .filter(|(file, _)| !HOMES.iter().any(|(home, _)| home == file))
        .map(|(file, makers)| format!("{file}: {}", makers.join(", ")))
        .collect();
    assert!(
        strays.is_empty(),
        "an error's fault is decided in crates/wsman-server/src/error.rs (one function per \
         error type, with its rows in error/tests.rs); move these there:\n{}",
        strays.join("\n")
    );
    // A home that no longer maps anything leaves the list, so it cannot cover a new stray.
    for (home, why) in HOMES {
        assert!(
            found.contains_key(*home),
            "{home} ({why}) maps no error to a fault any more: take it off the list"
        );
    }
}

#[test]
fn the_fault_maker_detector_sees_definitions_only() {
    assert_eq!(
        fault_makers("pub fn shell_fault(error: ShellError) -> Fault {"),
        ["fn shell_fault"]
    );
    assert_eq!(
        fault_makers("fn quota_fault<T: Display>(limit: T) -> Fault {"),
        ["fn quota_fault"]
    );
    assert_eq!(
        fault_makers("impl From<WorkError> for Fault {"),
        ["impl From<WorkError> for Fault"]
    );
    assert_eq!(
        fault_makers("impl From<E> for wsman_proto::Fault {"),
        ["impl From<E> for wsman_proto::Fault"]
    );
    for line in [
        "    .map_err(shell_fault)?;",
        "let f = save_fault(e);",
        "fn local_failure(fault: Fault) -> Failure {",
        "fn fault(self) -> Fault {",
        "fn shell_faults_are_windows() {",
        "impl From<Fault> for ServiceError {",
        "impl std::error::Error for Fault {}",
    ] {
        assert!(fault_makers(line).is_empty(), "{line}");
    }
    let source =
        "fn a_fault() {}\n// fn b_fault() {}\n#[cfg(test)]\nmod tests {\n    fn c_fault() {}\n}\n";
    let makers: Vec<String> = product_lines(source)
        .iter()
        .flat_map(|l| fault_makers(l))
        .collect();
    assert_eq!(makers, ["fn a_fault"]);
}
