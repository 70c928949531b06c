//! Keeps docs/security.md true: every row of its table names at least one test, in the
//! convention the file states at its top, and every test it names exists.
//!
//! A row that names a test which was renamed or removed would say a bound is shown when
//! nothing shows it any more; this fails naming each such reference, so the row is mended in
//! the same change as the test. The forms (the file's convention):
//!
//! - `CRATE::module::…::function`: a `#[test]`/`#[tokio::test]` function of the crate in
//!   `crates/CRATE` (its unit tests or its `tests/` targets); each module named must be a file,
//!   a directory or a `mod` of that crate;
//! - `fuzz::TARGET`: the fuzz target `fuzz/fuzz_targets/TARGET.rs`;
//! - `tests/…/FILE.py::test_name`: a pytest function of that file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wsman_test::binaries::workspace_root;

/// Attributes that make the function after them a test.
const TEST_ATTRIBUTES: [&str; 4] = ["#[test]", "#[tokio::test", "#[test_case", "#[rstest"];

/// Why the table cannot be read.
#[derive(Debug, thiserror::Error)]
enum TableError {
    #[error("line {0}: the table has no Tests column")]
    NoTestsColumn(usize),
    #[error("line {line}: the row has {cells} cells, no Tests cell")]
    NoTestsCell { line: usize, cells: usize },
}

/// Why a reference names no test.
#[derive(Debug, thiserror::Error)]
enum Missing {
    #[error("not `CRATE::module::function`, `fuzz::TARGET` or `tests/FILE.py::test_name` (the convention at the top of docs/security.md)")]
    NotInConvention,
    #[error("no fuzz target {0}")]
    FuzzTarget(String),
    #[error("no Python test file {0}")]
    PythonFile(String),
    #[error("no `def {function}(` in {file}")]
    PythonTest { file: String, function: String },
    #[error("no crate crates/{0}")]
    Crate(String),
    #[error("crate {krate} has no module {module}")]
    Module { krate: String, module: String },
    #[error("crate {krate} has no test function {function}")]
    Function { krate: String, function: String },
}

/// The `.rs` files of one crate, with their text, read once.
#[derive(Default)]
struct Sources {
    crates: BTreeMap<String, Vec<(PathBuf, String)>>,
}

impl Sources {
    fn of(&mut self, root: &Path, krate: &str) -> Option<&[(PathBuf, String)]> {
        if !self.crates.contains_key(krate) {
            let dir = root.join("crates").join(krate);
            if !dir.join("Cargo.toml").is_file() {
                return None;
            }
            let mut files = Vec::new();
            collect_rs(&dir, &mut files);
            self.crates.insert(krate.to_owned(), files);
        }
        self.crates.get(krate).map(Vec::as_slice)
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Not followed: fixtures hold symbolic links (a sysfs tree links back up).
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if entry.file_name() != "target" && entry.file_name() != "fixtures" {
                collect_rs(&path, out);
            }
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "rs") {
            if let Ok(text) = std::fs::read_to_string(&path) {
                out.push((path, text));
            }
        }
    }
}

/// The table rows of `text`, one per line, each with its Tests cell (the column named
/// `Tests` in the header); the header and separator lines are not rows.
fn rows(text: &str) -> Result<Vec<(usize, String, String)>, TableError> {
    let mut tests_column = None;
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('|') {
            continue;
        }
        let cells = cells(line);
        if line.starts_with("|--") || line.starts_with("| --") || line.starts_with("|:-") {
            continue;
        }
        let Some(column) = tests_column else {
            tests_column = Some(
                cells
                    .iter()
                    .position(|c| c.trim() == "Tests")
                    .ok_or(TableError::NoTestsColumn(number + 1))?,
            );
            continue;
        };
        let input = cells.first().cloned().unwrap_or_default();
        let tests = cells.get(column).cloned().ok_or(TableError::NoTestsCell {
            line: number + 1,
            cells: cells.len(),
        })?;
        rows.push((number + 1, input.trim().to_owned(), tests));
    }
    Ok(rows)
}

/// The cells of a table line, split at `|` outside backticks.
fn cells(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut current = String::new();
    let mut in_code = false;
    for c in line
        .trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .chars()
    {
        match c {
            '`' => {
                in_code = !in_code;
                current.push(c);
            }
            '|' if !in_code => cells.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    cells.push(current);
    cells
}

/// The backticked spans of a cell.
fn references(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Why `reference` names no test, or `Ok` when it names one that exists.
fn check(root: &Path, sources: &mut Sources, reference: &str) -> Result<(), Missing> {
    if let Some(target) = reference.strip_prefix("fuzz::") {
        let file = root.join("fuzz/fuzz_targets").join(format!("{target}.rs"));
        return if file.is_file() {
            Ok(())
        } else {
            Err(Missing::FuzzTarget(file.display().to_string()))
        };
    }
    if let Some((file, function)) = reference.split_once(".py::") {
        let path = root.join(format!("{file}.py"));
        let text = std::fs::read_to_string(&path)
            .map_err(|_| Missing::PythonFile(path.display().to_string()))?;
        let defined = text.lines().any(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("async ").unwrap_or(l);
            l.strip_prefix("def ")
                .and_then(|rest| rest.strip_prefix(function))
                .is_some_and(|rest| rest.starts_with('('))
        });
        return if defined {
            Ok(())
        } else {
            Err(Missing::PythonTest {
                file: path.display().to_string(),
                function: function.to_owned(),
            })
        };
    }
    let mut segments: Vec<&str> = reference.split("::").collect();
    if segments.len() < 2 || segments.iter().any(|s| s.is_empty() || s.contains(' ')) {
        return Err(Missing::NotInConvention);
    }
    let function = segments.pop().unwrap_or_default();
    let krate = segments.remove(0);
    let files = sources
        .of(root, krate)
        .ok_or_else(|| Missing::Crate(krate.to_owned()))?;
    for module in &segments {
        let is_module = files.iter().any(|(path, text)| {
            path.file_stem().is_some_and(|s| s == *module)
                || path
                    .parent()
                    .and_then(Path::file_name)
                    .is_some_and(|d| d == *module)
                || text.contains(&format!("mod {module} {{"))
                || text.contains(&format!("mod {module};"))
        });
        if !is_module {
            return Err(Missing::Module {
                krate: krate.to_owned(),
                module: (*module).to_owned(),
            });
        }
    }
    if files.iter().any(|(_, text)| defines_test(text, function)) {
        Ok(())
    } else {
        Err(Missing::Function {
            krate: krate.to_owned(),
            function: function.to_owned(),
        })
    }
}

/// Whether `text` defines `fn function` with a test attribute among the lines just above it.
fn defines_test(text: &str, function: &str) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    lines.iter().enumerate().any(|(i, line)| {
        let declares = line.split("fn ").skip(1).any(|rest| {
            rest.strip_prefix(function)
                .is_some_and(|after| after.starts_with('(') || after.starts_with('<'))
        });
        declares
            && lines[i.saturating_sub(8)..i].iter().any(|l| {
                TEST_ATTRIBUTES
                    .iter()
                    .any(|a| l.trim_start().starts_with(a))
            })
    })
}

/// Every problem of the table in `text`: rows naming no test, references outside the
/// convention, tests that do not exist.
fn problems(root: &Path, text: &str) -> Vec<String> {
    let rows = match rows(text) {
        Ok(rows) => rows,
        Err(e) => return vec![e.to_string()],
    };
    let mut sources = Sources::default();
    let mut problems = Vec::new();
    if rows.is_empty() {
        problems.push("docs/security.md has no table rows".to_owned());
    }
    for (line, input, tests) in rows {
        let names = references(&tests);
        let short: String = input.chars().take(60).collect();
        if names.is_empty() {
            problems.push(format!("line {line} ({short}): names no test"));
        }
        for name in names {
            if let Err(why) = check(root, &mut sources, name) {
                problems.push(format!("line {line} ({short}): `{name}`: {why}"));
            }
        }
    }
    problems
}

#[test]
fn every_row_of_the_trust_map_names_tests_that_exist() {
    let root = workspace_root();
    let text = std::fs::read_to_string(root.join("docs/security.md")).expect("docs/security.md");
    let problems = problems(&root, &text);
    assert!(
        problems.is_empty(),
        "docs/security.md names tests that do not exist (or not in its convention):\n{}",
        problems.join("\n")
    );
}

/// The checker itself: a bogus test, crate, module, fuzz target or pytest function is named as
/// missing; a real one of each form passes.
#[test]
fn the_checker_names_a_test_that_does_not_exist() {
    let root = workspace_root();
    let table = "| Input | Who | What | Tests |\n|---|---|---|---|\n\
        | real | a | b | `wsman-test::trust_map::the_checker_names_a_test_that_does_not_exist`; `fuzz::ntlm`; `tests/interop/test_ntlm.py::test_pywinrm_wrong_password_refused` |\n\
        | bogus | a | b | `wsman-test::trust_map::no_such_test`, `no-such-crate::x::y`, `wsman-test::no_such_module::every_row_of_the_trust_map_names_tests_that_exist`, `fuzz::no_such_target`, `tests/interop/test_ntlm.py::test_no_such`, `not a test` |\n\
        | none | a | b | nothing named |\n";
    let problems = problems(&root, table);
    let expected = [
        "no test function no_such_test",
        "no crate crates/no-such-crate",
        "no module no_such_module",
        "no_such_target",
        "no `def test_no_such(`",
        "`not a test`: not `CRATE::module::function`",
        "(none): names no test",
    ];
    for e in expected {
        assert!(
            problems.iter().any(|p| p.contains(e)),
            "{e:?} not among {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
}
