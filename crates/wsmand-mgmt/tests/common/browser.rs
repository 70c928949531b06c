//! What the browser tests share: the Node suite in `tests/browser/`, the tools it needs, the
//! host answering with recorded Windows responses, and one script's run under a deadline.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a whole browser run may take before the test fails.
const RUN_DEADLINE: Duration = Duration::from_secs(600);

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether the browser tests are to run here: `false` (printed why) without
/// `WSMAN_TEST_BROWSER=1`; with it, a panic when a tool they need is missing.
pub(crate) fn browser_wanted() -> bool {
    if std::env::var("WSMAN_TEST_BROWSER").as_deref() != Ok("1") {
        eprintln!("skipped: set WSMAN_TEST_BROWSER=1 (the browser stage of scripts/test.sh)");
        return false;
    }
    if let Some(reason) = missing_tools() {
        panic!("WSMAN_TEST_BROWSER=1 but {reason}");
    }
    true
}

/// Why this machine cannot run the browser tests, if it cannot.
fn missing_tools() -> Option<String> {
    let suite = repo_root().join("tests/browser");
    if !Path::new("/usr/bin/chromium").is_file() {
        return Some("no /usr/bin/chromium (apt-get install chromium)".to_owned());
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node (apt-get install nodejs)".to_owned());
    }
    for package in ["playwright-core", "axe-core"] {
        if !suite
            .join("node_modules")
            .join(package)
            .join("package.json")
            .is_file()
        {
            return Some(format!(
                "no {package}: run npm ci --ignore-scripts in {}",
                suite.display()
            ));
        }
    }
    None
}

/// A child process killed and reaped when dropped, so a failing test leaves none behind.
pub(crate) struct Reaped(pub(crate) Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tests/browser/windows-replay.mjs`: a host answering with the recorded Windows responses in
/// `fixtures`; its port. It ends when the returned child (its stdin) is dropped.
pub(crate) fn start_windows_replay(fixtures: &Path) -> (Reaped, u16) {
    start_windows_replay_with(fixtures, &[])
}

/// The same, with `windows-replay.mjs`'s further arguments (`--updates DIR`).
pub(crate) fn start_windows_replay_with(fixtures: &Path, args: &[&Path]) -> (Reaped, u16) {
    let mut child = Command::new("node")
        .arg(repo_root().join("tests/browser/windows-replay.mjs"))
        .arg(fixtures)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the Windows replay");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("read the replay's port");
    let port = first
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the replay printed {first:?}"));
    (Reaped(child), port)
}

/// Runs `tests/browser/SCRIPT` with `env`, giving each of its questions (a line after `ASK `)
/// to `answer` with its stdin, until it ends, killed at [`RUN_DEADLINE`]; how it ended.
pub(crate) fn run_script(
    script: &str,
    env: &[(&str, String)],
    mut answer: impl FnMut(&str, &mut ChildStdin),
) -> ExitStatus {
    let suite = repo_root().join("tests/browser");
    let mut node = Command::new("node")
        .arg(suite.join(script))
        .current_dir(&suite)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run node");
    let mut to_node = node.stdin.take().expect("stdin");
    let from_node = BufReader::new(node.stdout.take().expect("stdout"));
    let started = Instant::now();
    let watchdog_pid = node.id();
    // The script's own steps have deadlines; this one ends a hung browser run.
    let watchdog = std::thread::spawn(move || {
        while started.elapsed() < RUN_DEADLINE {
            std::thread::sleep(Duration::from_millis(200));
            if !Path::new(&format!("/proc/{watchdog_pid}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill")
            .args(["-KILL", &watchdog_pid.to_string()])
            .status();
    });
    for line in from_node.lines() {
        let line = line.expect("read the browser script's output");
        match line.strip_prefix("ASK ") {
            Some(question) => answer(question, &mut to_node),
            None => println!("{line}"),
        }
    }
    drop(to_node);
    let status = node.wait().expect("wait for node");
    let _ = watchdog.join();
    status
}

/// `target/browser-artifacts/NAME`, emptied: only this run's screenshots.
pub(crate) fn artifacts_dir(name: &str) -> PathBuf {
    let artifacts = repo_root().join("target/browser-artifacts").join(name);
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("create the artefacts directory");
    let artifacts = artifacts.canonicalize().expect("artefacts path");
    eprintln!("screenshots: {}", artifacts.display());
    artifacts
}

/// Where a run puts the screenshots the docs show: `docs/images/` with
/// `WSMAN_DOCS_SCREENSHOTS=1`, else beside its others in `artifacts`.
pub(crate) fn docs_images_dir(artifacts: &Path) -> PathBuf {
    let docs_images = if std::env::var("WSMAN_DOCS_SCREENSHOTS").as_deref() == Ok("1") {
        repo_root().join("docs/images")
    } else {
        artifacts.join("docs-images")
    };
    std::fs::create_dir_all(&docs_images).expect("create the docs' images directory");
    docs_images
}
