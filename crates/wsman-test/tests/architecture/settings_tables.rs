//! A family of settings is written once, in its table (one row a setting: name, type and
//! bounds, help), from which its help, `get`/`set` and its checks all come, as winrm's
//! switches do: each name of the table is a string literal once in the product code that
//! reads the family (its module, its service's crate, every file naming its settings type),
//! in its row. A second `"Name"` there is a copy of the row (a `match` arm, a check's error)
//! that a new or renamed setting would miss.

use std::path::{Path, PathBuf};

use wsman_test::binaries::workspace_root;

use super::primitives::{product_files, product_lines};

/// A family: its module (a directory, and the `.rs` file beside it; the table is the file of
/// the directory holding its declaration), the table's declaration, its service's sources, and
/// what marks any other file as reading it.
struct Family {
    module: &'static str,
    declaration: &'static str,
    service: &'static str,
    readers: &'static [&'static str],
}

/// The console's settings (`mgmt.toml`): `wsman-config`'s `mgmt` module, the console
/// (`wsmand-mgmt`), and `wsmand mgmt get|set`.
const FAMILIES: &[Family] = &[Family {
    module: "crates/wsman-config/src/mgmt",
    declaration: "pub const SETTINGS: &[",
    service: "crates/wsmand-mgmt/src",
    readers: &["MgmtSettings", "wsman_config::mgmt"],
}];

/// The names of a table: its rows' `name: "..."` fields.
fn table_names(table: &str) -> Vec<String> {
    table
        .lines()
        .filter_map(|line| line.trim().strip_prefix("name: \""))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// How often `"name"` is written in `lines`; in the table, its rows' Windows names (which
/// may be the same word) left out.
fn literal_count(lines: &[&str], name: &str, is_table: bool) -> usize {
    let literal = format!("\"{name}\"");
    lines
        .iter()
        .filter(|line| !(is_table && line.trim().starts_with("windows_name:")))
        .map(|line| line.matches(&literal).count())
        .sum()
}

/// The product files of the workspace that read `family`, with their text.
fn readers(root: &Path, family: &Family) -> Vec<(PathBuf, String)> {
    product_files(root)
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let relative = path.strip_prefix(root).unwrap_or(&path).to_owned();
            let in_module = relative.starts_with(family.module)
                || relative == Path::new(&format!("{}.rs", family.module))
                || relative.starts_with(family.service);
            let names_it = family.readers.iter().any(|r| text.contains(r));
            (in_module || names_it).then_some((relative, text))
        })
        .collect()
}

#[test]
fn each_setting_name_is_written_once_in_its_table() {
    let root = workspace_root();
    for family in FAMILIES {
        let files = readers(&root, family);
        let table = files
            .iter()
            .find(|(path, text)| {
                path.starts_with(family.module) && text.contains(family.declaration)
            })
            .unwrap_or_else(|| panic!("no {} in {}", family.declaration, family.module));
        let names = table_names(&table.1);
        assert!(names.len() > 10, "{}: {names:?}", table.0.display());
        let mut copies = Vec::new();
        for name in &names {
            let places: Vec<(String, usize)> = files
                .iter()
                .map(|(path, text)| {
                    let count = literal_count(&product_lines(text), name, path == &table.0);
                    (path.display().to_string(), count)
                })
                .filter(|(_, count)| *count > 0)
                .collect();
            if places != [(table.0.display().to_string(), 1)] {
                copies.push(format!("{name}: {places:?}"));
            }
        }
        assert!(
            copies.is_empty(),
            "setting names written outside their row of {} (read the row instead):\n{}",
            table.0.display(),
            copies.join("\n")
        );
    }
}

#[test]
fn the_name_check_reads_rows_and_counts_only_exact_literals() {
    let table =
        "pub const SETTINGS: &[Setting] = &[\n    Setting {\n        name: \"Port\",\n        \
                 windows_name: \"Port\",\n    },\n];\nfn f() { g(\"Ports\", \"Port = 1\"); }\n";
    assert_eq!(table_names(table), ["Port"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(literal_count(&lines, "Port", true), 1);
    assert_eq!(literal_count(&lines, "Port", false), 2);
    let copy = ["    \"Port\" => self.port.to_string(),"];
    assert_eq!(literal_count(&copy, "Port", false), 1);
}
