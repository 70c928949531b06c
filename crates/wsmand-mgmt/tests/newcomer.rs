//! The newcomer's path, from a clean checkout to the fleet page: the command the README gives,
//! `scripts/start.sh --console`, run as root in a `git clone` of this repository, brings up
//! wsmand and the console; a login with the PAM test user (a member of `wsmand-admins`, as the
//! script tells a newcomer to make theirs) through the real HTTPS endpoint reaches the fleet
//! page, which shows this host reachable. Then the script is stopped and nothing it started
//! is left running.
//!
//! The script runs in a network namespace of its own (`unshare --net`, this test re-running
//! itself inside it): its fixed ports (5986, 8172) and anything `winrm quickconfig` would open
//! in a firewall stay there. It uses the binaries this build made (`WSMAND_BIN_DIR`, the
//! script's switch for binaries built already) instead of a release build of its own; the
//! settings go to a temporary `WSMAND_CONFIG_DIR`. Skipped (with the reason) without root,
//! the PAM test user, git, a git checkout or network namespaces.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::curl as curl_with;

/// Set (to the work directory) in the copy of this test that runs inside the namespace.
const INSIDE: &str = "WSMAN_NEWCOMER_WORK";
const TEST_NAME: &str = "a_clean_checkout_reaches_the_fleet_page_with_the_readme_command";
/// How long a Ctrl+C may take to end the script: wsmand drains its connections for up to 10 s
/// and then waits up to 5 s for blocking work; the rest is a loaded CI machine's margin.
const STOP_WITHIN: Duration = Duration::from_secs(60);
/// The command the README gives a newcomer.
const README_COMMAND: &str = "scripts/start.sh --console";
/// The console's URL as the script prints it (its default port, loopback only).
const CONSOLE_URL: &str = "https://127.0.0.1:8172";
const DEADLINE: Duration = Duration::from_secs(180);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory holding this build's binaries (wsmand-mgmt's, and wsmand's and winrm's
/// beside it after `cargo build --workspace --bins`).
fn bin_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_wsmand-mgmt"))
        .parent()
        .expect("the binaries' directory")
        .to_path_buf();
    for name in ["wsmand", "winrm"] {
        assert!(
            dir.join(name).is_file(),
            "{} is missing: run cargo build --workspace --bins first",
            dir.join(name).display()
        );
    }
    dir
}

/// Why this machine cannot run the test, if it cannot.
fn missing() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("the start script configures PAM and users: it needs root".to_owned());
    }
    if std::env::var("WSMAN_TEST_PAM_USER").is_err()
        || std::env::var("WSMAN_TEST_PAM_PASSWORD").is_err()
    {
        return Some("set WSMAN_TEST_PAM_USER and WSMAN_TEST_PAM_PASSWORD".to_owned());
    }
    if !repo_root().join(".git").exists() {
        return Some("not a git checkout: there is nothing to clone".to_owned());
    }
    let probe = Command::new("unshare")
        .args(["--net", "true"])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return Some("unshare --net is not allowed here".to_owned());
    }
    None
}

#[test]
fn a_clean_checkout_reaches_the_fleet_page_with_the_readme_command() {
    if let Ok(work) = std::env::var(INSIDE) {
        inside_the_namespace(Path::new(&work));
        return;
    }
    if let Some(reason) = missing() {
        eprintln!("skipped: {reason}");
        return;
    }
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    assert!(
        readme.contains(README_COMMAND),
        "the README no longer gives {README_COMMAND:?}: this test runs what it gives"
    );
    let work = tempfile::tempdir().expect("tempdir");
    // wsmand-mgmt drops to its own user: it must reach the settings below.
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let output = Command::new("unshare")
        .args(["--net", "--"])
        .arg(std::env::current_exe().expect("this test's binary"))
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(INSIDE, work.path())
        .stdin(Stdio::null())
        .output()
        .expect("run the test inside a network namespace");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{text}");
    let leaked = left_running(work.path());
    assert!(
        output.status.success() && text.contains("test result: ok. 1 passed"),
        "the newcomer path failed ({}):\n{text}",
        output.status
    );
    assert!(
        leaked.is_empty(),
        "still running after the script was stopped: {leaked:?}"
    );
}

/// Processes (pid, command line) whose command line names `work`; killed, so a failing run
/// leaves none either.
fn left_running(work: &Path) -> Vec<(i32, String)> {
    let needle = work.to_str().expect("UTF-8 path");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&raw).replace('\0', " ");
        if line.contains(needle) && pid != std::process::id() as i32 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            found.push((pid, line));
        }
    }
    found
}

/// The test proper, in the namespace: clone, run the README's command, log in, stop it.
fn inside_the_namespace(work: &Path) {
    run_ok(Command::new("ip").args(["link", "set", "lo", "up"]));
    let checkout = work.join("checkout");
    run_ok(
        Command::new("git")
            .args(["clone", "--quiet", "--no-hardlinks"])
            .arg(repo_root())
            .arg(&checkout),
    );
    let config = work.join("etc-wsmand");
    let log_path = work.join("start.log");
    let log = std::fs::File::create(&log_path).expect("create the script's log");
    // As from a terminal, where Ctrl+C's SIGINT is at its default: a test run started as a
    // background job inherits SIGINT ignored (POSIX shells ignore it in asynchronous commands),
    // and a shell started with a signal ignored can neither trap it nor give it back to its
    // children.
    let mut script = Command::new("env");
    script
        .arg("--default-signal=INT")
        .arg(checkout.join("scripts/start.sh"))
        .arg("--console")
        .current_dir(&checkout)
        .env("WSMAND_CONFIG_DIR", &config)
        .env("WSMAND_BIN_DIR", bin_dir())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        // Its own process group: stopped as a terminal's Ctrl+C stops it.
        .process_group(0);
    let mut child = script.spawn().expect("run scripts/start.sh --console");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for_console(&mut child, &log_path);
        log_in_and_see_the_fleet(&log_path);
    }));
    let stopped = stop(&mut child, work);
    let printed = std::fs::read_to_string(&log_path).unwrap_or_default();
    if let Err(still_running) = stopped {
        panic!(
            "scripts/start.sh --console did not stop on SIGINT within {STOP_WITHIN:?}; running then: \
             {still_running:?}\nthe script's output:\n{printed}"
        );
    }
    if let Err(panic) = outcome {
        eprintln!("the script's output:\n{printed}");
        std::panic::resume_unwind(panic);
    }
    // What the script told the newcomer: where the console is and which account to use.
    assert!(
        printed.contains("https://127.0.0.1:8172/")
            && printed.contains("usermod -aG wsmand-admins"),
        "{printed}"
    );
}

fn run_ok(command: &mut Command) {
    let output = command.output().expect("run a command");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Until the console's port opens; fails when the script exits first or at [`DEADLINE`].
fn wait_for_console(child: &mut Child, log: &Path) {
    let started = Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", 8172)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "scripts/start.sh --console exited ({status}) before the console listened:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the console did not listen on 8172 within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The login form as a browser sends it, then the fleet page with the session it gave.
fn log_in_and_see_the_fleet(log: &Path) {
    let printed = || {
        format!(
            "the script's output:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    };
    let curl = |args: &[&str]| curl_with(args, &printed);
    let user = std::env::var("WSMAN_TEST_PAM_USER").expect("PAM user");
    let password = std::env::var("WSMAN_TEST_PAM_PASSWORD").expect("PAM password");
    let form = curl(&[&format!("{CONSOLE_URL}/login")]);
    assert_eq!(form.status, 200, "{}", form.body);
    let token = form.cookie("__Host-wsmand-login").expect("login cookie");
    let answer = curl(&[
        "-H",
        &format!("Cookie: __Host-wsmand-login={token}"),
        "-H",
        &format!("Origin: {CONSOLE_URL}"),
        "--data-urlencode",
        &format!("user={user}"),
        "--data-urlencode",
        &format!("password={password}"),
        "--data-urlencode",
        &format!("csrf={token}"),
        &format!("{CONSOLE_URL}/login"),
    ]);
    let session = answer
        .cookie("__Host-wsmand-session")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "no session for {user} ({}): {}\n{}",
                answer.status,
                answer.body,
                printed()
            )
        });
    assert_eq!(answer.header("location"), Some("/fleet"), "{}", answer.body);
    let cookie = format!("Cookie: __Host-wsmand-session={session}");
    let fleet = curl(&["-H", &cookie, &format!("{CONSOLE_URL}/fleet")]);
    assert_eq!(fleet.status, 200, "{}", fleet.body);
    assert!(
        fleet.body.contains("<h1>Fleet</h1>") && fleet.body.contains(r#"href="/hosts/local""#),
        "the fleet page lists this host as local:\n{}",
        fleet.body
    );
    // Reached over HTTPS with the account the script made for the console, once the sampler
    // has reached it (the fleet shows the sampler's data; a sample taken while the daemon was
    // still starting says "not answering" until the next round, 10 s later).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let local = loop {
        let json = curl(&[
            "-H",
            &cookie,
            "-H",
            "Accept: application/json",
            &format!("{CONSOLE_URL}/fleet"),
        ]);
        let hosts = json.json();
        let local = hosts["hosts"]
            .as_array()
            .and_then(|hosts| hosts.iter().find(|h| h["name"] == "local"))
            .cloned()
            .unwrap_or_else(|| panic!("no local host in {}", json.body));
        if local["sampled"]["state"] == "answering" || std::time::Instant::now() >= deadline {
            break local;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(local["reachable"], true, "{local}");
}

/// Stops the script as Ctrl+C would (SIGINT to its process group), then SIGKILL after
/// [`STOP_WITHIN`]; on that timeout, the processes of the run that were still there (so the
/// failure says which one did not stop).
fn stop(child: &mut Child, work: &Path) -> Result<(), Vec<(i32, String)>> {
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT);
    if wsman_test::process::wait_until(child, STOP_WITHIN).is_none() {
        let still_running = left_running(work);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
        return Err(still_running);
    }
    Ok(())
}
