//! Keeps ARCHITECTURE.md true and the dependency direction intact.
//!
//! Fails when a workspace member is missing from ARCHITECTURE.md's codemap, when the codemap
//! names a crate directory that no longer exists, when a forbidden dependency appears
//! (`architecture/dependencies.rs`), when `unsafe` code appears outside wsman-os and
//! wsman-gss's `ffi` module (`ffi.rs`, `ffi/`), when a member lacks a pinned rust-version, when
//! a `Result`'s error is a bare `String`, or when the modules of a crate import each other in
//! a circle, when a Rust file grows past 800 lines (`architecture/sizes.rs`); and
//! when its lists of fuzz targets, benchmark scripts, scripts and docs disagree with the tree,
//! or it grows past the length of a map; when scripts/test.sh's benchmark smoke stage leaves a
//! script of `benches/` out (`architecture/bench_smoke.rs`); and when the catalog of engines is built anywhere but
//! the daemon's one file, an engine adapter lives outside `engines/`, or the access check
//! decides by resource (`architecture/routing.rs`); when an engine's code stands at the top of
//! the server crate, a call's deadline is made twice, or a shell request's walk returns early
//! too often (`architecture/engines.rs`); and when a PSRP header's layout or a message
//! type's number is written outside the one PSRP codec (`architecture/psrp_codec.rs`); when a
//! fault is built from an error outside an errors table, whatever the code doing it is named
//! (`architecture/faults.rs`, which reads the sources as Rust syntax); when a
//! setting's name is written outside its row of its family's table
//! (`architecture/settings_tables.rs`); and when a schema namespace or URI is written outside
//! wsman-proto's `ns.rs` (`architecture/namespaces.rs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[path = "architecture/bench_smoke.rs"]
mod bench_smoke;
#[path = "architecture/dependencies.rs"]
mod dependencies;
#[path = "architecture/engines.rs"]
mod engines;
#[path = "architecture/faults.rs"]
mod faults;
#[path = "architecture/lists.rs"]
mod lists;
#[path = "architecture/module_graph.rs"]
mod module_graph;
#[path = "architecture/namespaces.rs"]
mod namespaces;
#[path = "architecture/primitives.rs"]
mod primitives;
#[path = "architecture/psrp_codec.rs"]
mod psrp_codec;
#[path = "architecture/routing.rs"]
mod routing;
#[path = "architecture/settings_tables.rs"]
mod settings_tables;
#[path = "architecture/sizes.rs"]
mod sizes;

use module_graph::{display, ModuleGraph};

use wsman_test::binaries::{assert_none, workspace_root};

fn cargo_metadata(with_deps: bool) -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .args(["metadata", "--format-version", "1", "--offline"])
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"));
    if !with_deps {
        command.arg("--no-deps");
    } else if let Some(host) = host_triple() {
        // The rules are about what is built here: a dependency that only another OS builds
        // (sspi's tokio, for its macOS DNS lookups) is not part of this build.
        command.args(["--filter-platform", &host]);
    }
    let output = command.output().expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

/// The host's target triple (`rustc -vV`), `None` when rustc cannot be asked.
fn host_triple() -> Option<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(rustc).arg("-vV").output().ok()?;
    String::from_utf8(output.stdout)
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
}

struct Member {
    name: String,
    /// Directory relative to the workspace root, e.g. `crates/wsman-proto`.
    dir: String,
    rust_version: Option<String>,
}

fn members(metadata: &Value) -> Vec<Member> {
    let root = workspace_root();
    let ids: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| ids.contains(id)))
        .map(|p| {
            let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest_path"));
            let dir = manifest
                .parent()
                .expect("manifest has a dir")
                .strip_prefix(&root)
                .expect("member lives under the root")
                .to_string_lossy()
                .into_owned();
            Member {
                name: p["name"].as_str().expect("name").to_owned(),
                dir,
                rust_version: p["rust_version"].as_str().map(str::to_owned),
            }
        })
        .collect()
}

fn architecture_md() -> String {
    std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md exists at the workspace root")
}

#[test]
fn every_member_is_in_the_codemap() {
    let text = architecture_md();
    let missing: Vec<String> = members(&cargo_metadata(false))
        .into_iter()
        .filter(|m| !text.contains(&format!("{}/", m.dir)))
        .map(|m| format!("{} ({}/)", m.name, m.dir))
        .collect();
    assert_none(
        "workspace members missing from ARCHITECTURE.md's codemap",
        &missing,
    );
}

#[test]
fn codemap_names_no_missing_directories() {
    let root = workspace_root();
    let text = architecture_md();
    let mut stale = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || "`|()[],".contains(c)) {
        let word = word.trim_end_matches(['.', ':', ';']);
        let is_path = [
            "crates/", "benches/", "tests/", "fuzz/", "scripts/", "docs/", "dist/",
        ]
        .iter()
        .any(|prefix| word.starts_with(prefix));
        if is_path && !word.contains('*') && !root.join(word).exists() {
            stale.push(word.to_owned());
        }
    }
    stale.sort();
    stale.dedup();
    assert_none("ARCHITECTURE.md names paths that do not exist", &stale);
}

#[test]
fn every_member_pins_rust_version() {
    let unpinned: Vec<String> = members(&cargo_metadata(false))
        .into_iter()
        .filter(|m| m.rust_version.is_none())
        .map(|m| m.name)
        .collect();
    assert_none("members without rust-version", &unpinned);
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines that use the unsafe keyword as code (comments skipped).
fn unsafe_uses(source: &str) -> Vec<(usize, String)> {
    let keyword = "unsafe";
    let patterns: Vec<String> = ["{", "fn ", "impl ", "trait ", "extern "]
        .iter()
        .map(|tail| format!("{keyword} {tail}"))
        .collect();
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or("");
            patterns.iter().any(|p| code.contains(p.as_str()))
        })
        .map(|(i, line)| (i + 1, line.trim().to_owned()))
        .collect()
}

/// The one module of wsman-gss allowed `unsafe`, the FFI to libgssapi: its file and its
/// directory of submodules.
const GSS_FFI_FILE: &str = "src/ffi.rs";
const GSS_FFI_DIR: &str = "src/ffi";

/// Every line `find` reports in the Rust files of the workspace's members, as `file:line: text`,
/// but for the files `exempt` (given the member and the file) leaves out.
fn offending_lines(
    exempt: impl Fn(&Member, &Path) -> bool,
    find: fn(&str) -> Vec<(usize, String)>,
) -> Vec<String> {
    let root = workspace_root();
    let mut offenders = Vec::new();
    for member in members(&cargo_metadata(false)) {
        let mut files = Vec::new();
        rust_files(&root.join(&member.dir), &mut files);
        for file in files {
            if exempt(&member, &file) {
                continue;
            }
            let source = std::fs::read_to_string(&file).unwrap_or_default();
            for (line, text) in find(&source) {
                offenders.push(format!("{}:{line}: {text}", file.display()));
            }
        }
    }
    offenders
}

#[test]
fn unsafe_code_only_in_wsman_os_and_the_gss_ffi() {
    let root = workspace_root();
    let offenders = offending_lines(
        |member, file| {
            let gss = root.join(&member.dir);
            member.name == "wsman-os"
                || (member.name == "wsman-gss"
                    && (file == gss.join(GSS_FFI_FILE) || file.starts_with(gss.join(GSS_FFI_DIR))))
        },
        unsafe_uses,
    );
    assert!(
        offenders.is_empty(),
        "unsafe code outside wsman-os and wsman-gss's ffi module (src/ffi.rs, src/ffi/):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_crate_root_outside_wsman_os_forbids_unsafe() {
    let root = workspace_root();
    let mut missing = Vec::new();
    for member in members(&cargo_metadata(false)) {
        // wsman-gss's root denies unsafe and lets its ffi module alone opt back in (checked
        // above).
        if member.name == "wsman-os" || member.name == "wsman-gss" {
            continue;
        }
        for crate_root in ["src/lib.rs", "src/main.rs"] {
            let path = root.join(&member.dir).join(crate_root);
            let Ok(source) = std::fs::read_to_string(&path) else {
                continue;
            };
            if !source.contains("#![forbid(unsafe_code)]") {
                missing.push(format!("{}/{crate_root}", member.dir));
            }
        }
    }
    assert_none("crate roots without #![forbid(unsafe_code)]", &missing);
}

#[test]
fn unsafe_detector_finds_unsafe_blocks() {
    // The detector must be able to fail: feed it code built at run time.
    let keyword = "unsafe";
    let sample = format!("fn f() {{ {keyword} {{ g() }} }}\n// {keyword} {{ in a comment }}\n");
    assert_eq!(unsafe_uses(&sample).len(), 1);
}

/// Lines naming a `Result` whose error is a bare `String` (comments skipped): the error
/// types are typed, so callers can tell the failures apart and the texts stay in one place.
fn string_error_results(source: &str) -> Vec<(usize, String)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or("");
            code.match_indices("Result<").any(|(at, open)| {
                let rest = &code[at + open.len()..];
                // The error is the argument after a top-level comma (`io::Result<T>` has none).
                let (mut depth, mut error_at) = (0usize, None);
                for (i, c) in rest.char_indices() {
                    match c {
                        '<' | '(' | '[' => depth += 1,
                        ',' if depth == 0 => error_at = Some(i + 1),
                        '>' | ')' | ']' if depth == 0 => {
                            return c == '>'
                                && error_at.is_some_and(|at| rest[at..i].trim() == "String");
                        }
                        '>' | ')' | ']' => depth -= 1,
                        _ => {}
                    }
                }
                false
            })
        })
        .map(|(i, line)| (i + 1, line.trim().to_owned()))
        .collect()
}

#[test]
fn no_result_has_a_string_error() {
    let offenders = offending_lines(|_, _| false, string_error_results);
    assert!(
        offenders.is_empty(),
        "Result with a String error (give it a thiserror enum):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn string_error_detector_tells_errors_from_values() {
    let error = "String";
    let sample = format!(
        "fn a() -> Result<(), {error}> {{}}\n\
         fn b() -> Result<Vec<(u8, String)>, {error}> {{}}\n\
         fn c() -> Result<BTreeMap<String, String>, E> {{}}\n\
         fn d() -> Result<String, E> {{}}\n\
         fn e() -> std::io::Result<String> {{}}\n\
         // Result<(), {error}> in a comment\n"
    );
    let found: Vec<usize> = string_error_results(&sample).iter().map(|f| f.0).collect();
    assert_eq!(found, [1, 2]);
}

/// Files a clean clone builds and tests from.
fn repository_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if [
                "target",
                ".git",
                ".venv",
                "corpus",
                "artifacts",
                "__pycache__",
                // npm packages installed from a lockfile (tests/browser, tests/node-winrm)
                "node_modules",
            ]
            .contains(&name.as_str())
            {
                continue;
            }
            repository_files(&path, out);
        } else if [".rs", ".py", ".sh", ".toml", ".md", ".lua", ".service"]
            .iter()
            .any(|ext| name.ends_with(ext))
            || name == "run"
        {
            out.push(path);
        }
    }
}

#[test]
fn nothing_reaches_outside_the_repository() {
    // CI builds a clean clone: a test or build step that reads a sibling directory of the
    // checkout (or a path of one particular machine) passes locally and fails there.
    let root = workspace_root();
    let sibling_shared = format!("../{}/", "shared");
    let machine_root = format!("/{}/", "work");
    let mut files = Vec::new();
    repository_files(&root, &mut files);
    let mut offenders = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (number, line) in text.lines().enumerate() {
            if line.contains(&sibling_shared) || line.contains(&machine_root) {
                offenders.push(format!(
                    "{}:{}: {}",
                    file.strip_prefix(&root).unwrap_or(&file).display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "paths outside the repository (use the in-repo copies, e.g. crates/wsman-proto/tests/fixtures/windows):\n{}",
        offenders.join("\n")
    );
}

/// Modules whose import circles are tolerated, per crate: none since wsman-server's schemes
/// share one handshake seam and `Principal` sits below both `auth` and `access`. Every path
/// into or out of a listed module would be left out of the check; never add to it.
const TOLERATED_CIRCLES: &[(&str, &[&str])] = &[];

#[test]
fn no_crate_imports_in_a_circle() {
    let root = workspace_root();
    let mut report = Vec::new();
    for member in members(&cargo_metadata(false)) {
        for crate_root in ["src/lib.rs", "src/main.rs"] {
            let path = root.join(&member.dir).join(crate_root);
            if !path.exists() {
                continue;
            }
            let mut graph = ModuleGraph::read(&path);
            for (name, modules) in TOLERATED_CIRCLES {
                if *name == member.name {
                    graph.leave_out(modules);
                }
            }
            for circle in graph.circles() {
                let names: Vec<String> = circle.iter().map(|m| display(m)).collect();
                report.push(format!(
                    "{} ({crate_root}): {}\n{}",
                    member.name,
                    names.join(", "),
                    graph.describe(&circle, &root)
                ));
            }
        }
    }
    assert!(
        report.is_empty(),
        "modules that import each other in a circle (move what both need into a module \
         below them):\n{}",
        report.join("\n")
    );
}

#[test]
fn module_graph_finds_circles() {
    // The check must be able to fail: a throwaway crate whose files import in a circle
    // (one through a re-export and a `use` group), beside a parent and child that only
    // reach each other through `super`, which is not a circle.
    let dir = tempfile::tempdir().expect("temporary directory");
    let src = dir.path();
    let write = |name: &str, text: &str| {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write(
        "lib.rs",
        "mod a;\nmod b;\nmod c;\nmod parent;\npub use c::Gamma;\n",
    );
    write("a.rs", "use crate::{b::Beta, parent};\npub struct Alpha;\n");
    write(
        "b.rs",
        "// crate::a::Alpha in a comment is no import\npub struct Beta(crate::Gamma);\nconst S: &str = \"crate::a\";\n",
    );
    write("c.rs", "pub struct Gamma(super::a::Alpha);\n");
    write(
        "parent.rs",
        "mod child;\npub use child::Thing;\nfn f() -> child::Thing { todo!() }\n",
    );
    write(
        "parent/child.rs",
        "pub struct Thing;\nfn g() { super::f(); }\n",
    );
    let graph = ModuleGraph::read(&src.join("lib.rs"));
    let circles: Vec<Vec<String>> = graph
        .circles()
        .iter()
        .map(|c| c.iter().map(|m| display(m)).collect())
        .collect();
    assert_eq!(
        circles,
        vec![vec!["crate::a", "crate::b", "crate::c"]],
        "{graph:#?}"
    );
    // A tolerated module takes its circles out of the check, and only those.
    let mut tolerant = ModuleGraph::read(&src.join("lib.rs"));
    tolerant.leave_out(&["b"]);
    assert!(tolerant.circles().is_empty());
    let mut unrelated = ModuleGraph::read(&src.join("lib.rs"));
    unrelated.leave_out(&["parent"]);
    assert_eq!(unrelated.circles().len(), 1);
}

/// A map, not an inventory: past this, detail belongs in crate docs and `docs/`.
const ARCHITECTURE_MD_MAX_LINES: usize = 300;

#[test]
fn architecture_md_stays_a_map() {
    let lines = architecture_md().lines().count();
    assert!(
        lines < ARCHITECTURE_MD_MAX_LINES,
        "ARCHITECTURE.md has {lines} lines; a map stays under {ARCHITECTURE_MD_MAX_LINES}"
    );
}

#[test]
fn architecture_md_lists_every_fuzz_target_bench_script_and_doc() {
    let root = workspace_root();
    let text = architecture_md();
    let fuzz_listed = lists::first_column(lists::section(&text, "Fuzz targets"));
    let fuzz_present = lists::file_stems(&root.join("fuzz/fuzz_targets"), ".rs");
    let benches_listed = lists::mentioned(lists::section(&text, "Benchmarks"), "benches/", ".sh");
    let benches_present = lists::file_stems(&root.join("benches"), ".sh");
    let other = lists::section(&text, "Other directories");
    let scripts_listed = lists::mentioned(other, "scripts/", ".sh");
    let scripts_present = lists::file_stems(&root.join("scripts"), ".sh");
    let docs_listed = lists::mentioned(lists::section(&text, "Docs"), "docs/", ".md");
    let docs_present = lists::file_stems(&root.join("docs"), ".md");
    let figures = std::fs::read_to_string(root.join("docs/benchmarks.md")).expect("benchmarks.md");
    let benches_with_figures = lists::mentioned(&figures, "benches/", ".sh");
    let problems: Vec<String> = [
        lists::disagreement("fuzz targets", &fuzz_listed, &fuzz_present),
        lists::disagreement(
            "benchmark scripts in docs/benchmarks.md's table (not ARCHITECTURE.md)",
            &benches_with_figures,
            &benches_present,
        ),
        lists::disagreement("benchmark scripts", &benches_listed, &benches_present),
        lists::disagreement("scripts", &scripts_listed, &scripts_present),
        lists::disagreement("docs", &docs_listed, &docs_present),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_fuzz_target_runs_in_the_smoke_run() {
    let root = workspace_root();
    let script = std::fs::read_to_string(root.join("scripts/test.sh")).expect("scripts/test.sh");
    let in_script = bench_smoke::bash_array(&script, "FUZZ_TARGETS")
        .expect("scripts/test.sh has the fuzz smoke's list FUZZ_TARGETS=( ... )");
    let present = lists::file_stems(&root.join("fuzz/fuzz_targets"), ".rs");
    let missing: Vec<_> = present.difference(&in_script).collect();
    assert_none(
        "fuzz targets the smoke run of scripts/test.sh leaves out",
        &missing,
    );
}

#[test]
fn no_rust_file_is_over_eight_hundred_lines() {
    let root = workspace_root();
    let over: Vec<String> = ["crates", "benches", "fuzz"]
        .iter()
        .flat_map(|dir| sizes::files_over(&root.join(dir), sizes::MAX_FILE_LINES))
        .map(|(path, lines)| {
            let shown = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            format!("{shown} ({lines} lines)")
        })
        .collect();
    assert!(over.is_empty(), "split these by concern: {over:#?}");
}

#[test]
fn the_size_check_finds_a_long_file() {
    let dir = std::env::temp_dir().join(format!("wsman-sizes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("long.rs"), "//\n".repeat(12)).unwrap();
    std::fs::write(dir.join("short.rs"), "//\n".repeat(3)).unwrap();
    let over = sizes::files_over(&dir, 10);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(over.len(), 1, "{over:?}");
    assert!(over[0].0.ends_with("long.rs") && over[0].1 == 12);
}
