//! Keeps the README's presentation of what a user can reach in step with the programs: every
//! workspace program is named, every subcommand of `wsmand` and every operation of `winrm`
//! appears as a command a reader could type, and every doc the README links to exists.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use wsman_test::binaries::{self, assert_none, workspace_root};

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md")
}

/// What `program args` prints on stdout and stderr together.
fn help_text(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

/// The subcommands a clap `--help` lists under "Commands:" (`help` left out).
fn clap_subcommands(help: &str) -> BTreeSet<String> {
    help.split_once("Commands:\n")
        .map(|(_, rest)| rest.split("\n\n").next().unwrap_or(rest))
        .into_iter()
        .flat_map(str::lines)
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The operations `winrm -?` lists under OPERATIONS: the first word of each line indented by
/// exactly four spaces.
fn winrm_operations(help: &str) -> BTreeSet<String> {
    help.split_once("OPERATIONS\n")
        .map(|(_, rest)| rest.split("\n\n").next().unwrap_or(rest))
        .into_iter()
        .flat_map(str::lines)
        .filter(|line| line.starts_with("    ") && !line.starts_with("     "))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The words the README writes after `program ` (a `a|b|c` list counts for each of them).
fn typed_after(readme: &str, program: &str) -> BTreeSet<String> {
    let marker = format!("{program} ");
    readme
        .match_indices(&marker)
        .filter(|(at, _)| {
            // `program` must start a word (not the tail of `wsmand-mgmt`'s `mgmt`, say).
            readme[..*at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-')
        })
        .flat_map(|(at, _)| {
            let tail = &readme[at + marker.len()..];
            let word: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '|')
                .collect();
            word.split('|').map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

/// Checks that `program`'s help (`help_args`) lists at least `at_least` commands, as `parse`
/// reads them, and that the README shows every one of them typed after the program's name.
fn assert_readme_shows_every_command(
    program: &Path,
    help_args: &[&str],
    parse: fn(&str) -> BTreeSet<String>,
    at_least: usize,
) {
    let name = program.file_name().expect("a binary").to_string_lossy();
    let listed = parse(&help_text(program, help_args));
    assert!(
        listed.len() >= at_least,
        "{name} {} lists {listed:?}",
        help_args.join(" ")
    );
    let typed = typed_after(&readme(), &name);
    let missing: Vec<_> = listed.difference(&typed).collect();
    assert_none(
        &format!("README never shows these `{name}` words"),
        &missing,
    );
}

#[test]
fn readme_names_every_wsmand_subcommand() {
    assert_readme_shows_every_command(&binaries::wsmand(), &["--help"], clap_subcommands, 4);
}

#[test]
fn readme_names_every_winrm_operation() {
    assert_readme_shows_every_command(&binaries::winrm(), &["-?"], winrm_operations, 8);
}

#[test]
fn readme_names_every_program() {
    let text = readme();
    let programs = [
        "wsmand",
        "wsmand-mgmt",
        "wsmand-session",
        "winrm",
        "winrs",
        "wevtutil",
    ];
    for program in programs {
        assert!(
            binaries::profile_dir().join(program).is_file(),
            "{program} is not built: run `cargo build --workspace --bins`"
        );
        assert!(
            text.contains(&format!("`{program}`")),
            "README never names `{program}`"
        );
    }
    // Every binary the workspace builds outside the benchmarks is one of those.
    let src_bins = workspace_root().join("crates");
    let mut declared = BTreeSet::new();
    for entry in std::fs::read_dir(&src_bins).expect("crates/").flatten() {
        let main = entry.path().join("src/main.rs");
        if main.is_file() {
            declared.insert(entry.file_name().to_string_lossy().into_owned());
        }
        if let Ok(bins) = std::fs::read_dir(entry.path().join("src/bin")) {
            for bin in bins.flatten() {
                let name = bin.file_name().to_string_lossy().into_owned();
                declared.insert(name.trim_end_matches(".rs").to_owned());
            }
        }
    }
    let named: BTreeSet<String> = programs.iter().map(|p| (*p).to_owned()).collect();
    let unnamed: Vec<_> = declared.difference(&named).collect();
    assert_none("programs the README does not present", &unnamed);
}

#[test]
fn every_doc_the_readme_links_exists() {
    let root = workspace_root();
    let text = readme();
    let mut broken = Vec::new();
    for (at, _) in text.match_indices("](") {
        let target: String = text[at + 2..].chars().take_while(|c| *c != ')').collect();
        let path = target.split('#').next().unwrap_or("");
        if path.is_empty() || path.contains("://") {
            continue;
        }
        if !root.join(path).exists() {
            broken.push(target);
        }
    }
    assert_none("README links to missing files", &broken);
}

#[test]
fn the_readers_find_commands_and_lists() {
    let help =
        "Usage: x\n\nCommands:\n  account  A\n  wec      B\n  help     C\n\nOptions:\n  -h\n";
    assert_eq!(
        clap_subcommands(help),
        ["account", "wec"].map(str::to_owned).into_iter().collect()
    );
    let ops = "OPERATIONS\n    get | g URI\n        Show.\n    set URI\n\nSWITCHES\n    -r:\n";
    assert_eq!(
        winrm_operations(ops),
        ["get", "set"].map(str::to_owned).into_iter().collect()
    );
    let text = "run `winrm identify|get -r:x` or winrm set; not xwinrm delete, wsmand-mgmt start";
    assert_eq!(
        typed_after(text, "winrm"),
        ["identify", "get", "set"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    assert!(typed_after(text, "mgmt").is_empty());
}
