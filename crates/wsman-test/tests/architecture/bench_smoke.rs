//! Every benchmark runs in the test command: scripts/test.sh's smoke stage lists every script in
//! `benches/`, and every helper there (a Python driver, wrk's Lua script, a Rust bench crate) is
//! used by a listed script. Why: no benchmark runs in CI otherwise, so one that breaks (a rule
//! of the daemon it no longer meets, a flag renamed) goes unnoticed until someone measures.

use std::collections::BTreeSet;
use std::path::Path;

/// The words of the bash array `name=( ... )` in `script` (comments and line breaks allowed).
pub(crate) fn bash_array(script: &str, name: &str) -> Option<BTreeSet<String>> {
    let start = script.find(&format!("\n{name}=("))? + name.len() + 3;
    let body = &script[start..];
    let body = &body[..body.find(')')?];
    Some(
        body.lines()
            .map(|line| line.split('#').next().unwrap_or(""))
            .flat_map(str::split_whitespace)
            .map(str::to_owned)
            .collect(),
    )
}

/// The entries of `benches/`: scripts (`*.sh`), and helpers (everything else) by file name.
fn bench_entries(dir: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut scripts = BTreeSet::new();
    let mut helpers = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("UTF-8");
        if name.ends_with(".sh") {
            scripts.insert(name);
        } else {
            helpers.insert(name);
        }
    }
    (scripts, helpers)
}

/// What is wrong with the smoke stage of `test_sh` for the `benches/` directory `dir`, whose
/// scripts' texts `read` gives: scripts missing from the list or listed but absent, helpers no
/// listed script names, the stage not run.
fn smoke_stage_problems(test_sh: &str, dir: &Path, read: impl Fn(&str) -> String) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(listed) = bash_array(test_sh, "BENCH_SMOKE_SCRIPTS") else {
        return vec!["scripts/test.sh has no BENCH_SMOKE_SCRIPTS=( ... ) list".to_owned()];
    };
    if !test_sh
        .lines()
        .any(|line| line.starts_with("stage ") && line.contains("run_bench_smoke"))
    {
        problems.push("scripts/test.sh runs no stage with run_bench_smoke".to_owned());
    }
    let (scripts, helpers) = bench_entries(dir);
    let missing: Vec<_> = scripts.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&scripts).collect();
    if !missing.is_empty() || !stale.is_empty() {
        problems.push(format!(
            "benchmark smoke list: benches/ scripts not listed in BENCH_SMOKE_SCRIPTS: \
             {missing:?}; listed but absent: {stale:?}"
        ));
    }
    let texts: Vec<String> = listed
        .iter()
        .filter(|s| scripts.contains(*s))
        .map(|s| read(s))
        .collect();
    for helper in helpers {
        if !texts.iter().any(|text| text.contains(&helper)) {
            problems.push(format!(
                "benches/{helper} is used by no script of the smoke stage: add the script that \
                 runs it to BENCH_SMOKE_SCRIPTS"
            ));
        }
    }
    problems
}

#[test]
fn the_test_command_runs_every_benchmark_in_smoke_mode() {
    let root = wsman_test::binaries::workspace_root();
    let test_sh = std::fs::read_to_string(root.join("scripts/test.sh")).expect("scripts/test.sh");
    let benches = root.join("benches");
    let problems = smoke_stage_problems(&test_sh, &benches, |script| {
        std::fs::read_to_string(benches.join(script)).expect("script")
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_smoke_list_check_finds_what_is_left_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["a.sh", "b.sh", "driver.py"] {
        std::fs::write(dir.path().join(name), "").expect("write");
    }
    std::fs::create_dir(dir.path().join("load-crate")).expect("mkdir");
    let scripts = |name: &str| match name {
        "a.sh" => "python3 benches/driver.py; $BIN/load-crate".to_owned(),
        _ => String::new(),
    };
    let good =
        "x\nBENCH_SMOKE_SCRIPTS=(a.sh # first\n    b.sh)\nstage \"s\" continue run_bench_smoke\n";
    assert_eq!(
        smoke_stage_problems(good, dir.path(), scripts),
        Vec::<String>::new()
    );
    let one_left_out =
        "x\nBENCH_SMOKE_SCRIPTS=(b.sh gone.sh)\nstage \"s\" continue run_bench_smoke\n";
    let problems = smoke_stage_problems(one_left_out, dir.path(), scripts).join("\n");
    for expected in [
        "\"a.sh\"",
        "\"gone.sh\"",
        "benches/driver.py",
        "benches/load-crate",
    ] {
        assert!(problems.contains(expected), "{expected} in {problems}");
    }
    let not_run = "x\nBENCH_SMOKE_SCRIPTS=(a.sh b.sh)\n";
    assert_eq!(
        smoke_stage_problems(not_run, dir.path(), scripts),
        vec!["scripts/test.sh runs no stage with run_bench_smoke".to_owned()]
    );
    assert_eq!(smoke_stage_problems("", dir.path(), scripts).len(), 1);
}
