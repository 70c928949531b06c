//! `Win32_Process.Create` over the wire: the program runs as the caller's Linux user (ids
//! checked in `/proc` against `id`), in its CurrentDirectory, detached (stdio on `/dev/null`,
//! alive after the answer), is reaped by the daemon when it ends, and leaves audit records;
//! a bad directory is ReturnValue 9, a missing CommandLine `w:InvalidParameter`, and nothing
//! runs for a request that is not authenticated. Its ProcessId is the program's own, and
//! Terminate of it ends everything it started (see the second half).

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use wsman_proto::xml::{self, Element, Limits};
use wsman_test::http::{self, Response};
use wsman_test::process::Finished;
use wsman_test::{soap, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

use super::expect_fault;

const PROCESS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process";
const PLAIN: &str = "plaincreate";
const PLAIN_PASSWORD: &str = "Plain-Create-Pass1";

fn create_body(command_line: Option<&str>, directory: Option<&str>) -> String {
    let parameter = |name: &str, value: Option<&str>| {
        value.map_or(String::new(), |v| {
            format!("<p:{name}>{}</p:{name}>", xml::escape_text(v))
        })
    };
    format!(
        "<p:Create_INPUT xmlns:p=\"{PROCESS}\">{}{}</p:Create_INPUT>",
        parameter("CommandLine", command_line),
        parameter("CurrentDirectory", directory)
    )
}

fn create(
    f: &Fixture,
    auth: Option<(&str, &str)>,
    command_line: Option<&str>,
    directory: Option<&str>,
) -> Response {
    let request = soap::request(
        &format!("{PROCESS}/Create"),
        PROCESS,
        &[],
        &create_body(command_line, directory),
    );
    let header = auth.map(|(user, password)| http::basic_auth(user, password));
    http::post(f.port, header.as_deref(), request.as_bytes())
}

fn text_of(e: &Element, name: &str) -> Option<String> {
    e.elements().find_map(|c| {
        if c.name == name {
            Some(c.trimmed_text())
        } else {
            text_of(c, name)
        }
    })
}

/// (ReturnValue, ProcessId) of a Create_OUTPUT.
fn output(r: &Response) -> (String, Option<u32>) {
    assert_eq!(r.status, 200, "{}", r.describe());
    let text = r.text();
    assert!(
        text.contains(&format!("<a:Action>{PROCESS}/CreateResponse</a:Action>")),
        "{text}"
    );
    let body = xml::parse(&text, &Limits::default()).expect("XML");
    let code = text_of(&body, "ReturnValue").expect("ReturnValue");
    let pid = text_of(&body, "ProcessId").and_then(|p| p.trim().parse().ok());
    (code, pid)
}

/// `id OPTION USER` from the system's own tool.
fn id(option: &str, user: &str) -> u32 {
    let out = Command::new("id")
        .args([option, user])
        .output()
        .expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number from id")
}

/// The real uid and gid of `pid` (the first fields of Uid: and Gid:).
fn ids_of(pid: u32) -> (u32, u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let first = |key: &str| -> u32 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("id field")
    };
    (first("Uid:"), first("Gid:"))
}

fn field(pid: u32, key: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_owned())
}

/// Waits (bounded) until `condition` holds; panics naming `what` otherwise.
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A directory anyone may write to, removed on drop.
struct SharedDir(PathBuf);

impl SharedDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wsman-create-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        Self(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn text(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for SharedDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks a created process: it runs `sleep SECONDS` as `user` in `dir` with its stdio on
/// `/dev/null`, a child of the daemon, and the file its shell wrote there is the user's. Then
/// ends it and checks that the daemon reaps it.
fn check_created(f: &Fixture, pid: u32, user: &str, dir: &SharedDir, seconds: &str) {
    wait_for("the shell to exec sleep", || {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c == format!("sleep\0{seconds}\0").as_bytes())
    });
    assert_eq!(ids_of(pid), (id("-u", user), id("-g", user)), "pid {pid}");
    assert_eq!(
        field(pid, "PPid:").as_deref(),
        Some(f.daemon.pid().to_string().as_str())
    );
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd");
    assert_eq!(cwd, dir.path());
    for fd in 0..3 {
        let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).expect("fd");
        assert_eq!(target, Path::new("/dev/null"), "fd {fd}");
    }
    let written = dir.path().join("written");
    wait_for("the file the command writes", || written.exists());
    let meta = std::fs::metadata(&written).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (id("-u", user), id("-g", user)));
    // The shell wrote its own pid: the process Create answered.
    wait_for("the pid in the file", || {
        std::fs::read_to_string(&written).is_ok_and(|t| t.ends_with('\n'))
    });
    assert_eq!(
        std::fs::read_to_string(&written).expect("read").trim(),
        pid.to_string()
    );
    // Ended from outside, the daemon (its parent) reaps it: no zombie stays.
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait_for("the daemon to reap the process", || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
}

/// The `ProcessId = N` that `winrm invoke Create` printed.
fn created_pid(out: &Finished) -> u32 {
    out.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("ProcessId = "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ProcessId\n{}", out.describe()))
}

#[test]
fn create_runs_the_command_as_the_caller_detached_and_reaped() {
    let audit = tempfile::NamedTempFile::new().expect("audit file");
    let audit_path = audit.path().display().to_string();
    let f = Fixture::http_with_env(
        |c| {
            // Every user passes RootSDDL: what a plain user gets is the method's own answer.
            c.set(
                "Config.Service",
                "RootSDDL",
                "\"O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;BU)\"",
            );
        },
        &[("WSMAND_AUDIT_FILE", &audit_path)],
    );
    f.config.add_account(PLAIN, PLAIN_PASSWORD, Some("nobody"));
    let admin = Some((SERVICE_ACCOUNT, SERVICE_PASSWORD));

    // The administrator's account runs as root.
    let dir = SharedDir::new("root");
    let line = "echo $$ > written; exec sleep 301";
    let (code, pid) = output(&create(&f, admin, Some(line), Some(&dir.text())));
    assert_eq!(code, "0");
    let pid = pid.expect("ProcessId");
    check_created(&f, pid, "root", &dir, "301");

    // A plain account runs as its own Linux user.
    let dir = SharedDir::new("nobody");
    let line = "echo $$ > written; exec sleep 302";
    let plain = Some((PLAIN, PLAIN_PASSWORD));
    let (code, pid) = output(&create(&f, plain, Some(line), Some(&dir.text())));
    assert_eq!(code, "0");
    check_created(&f, pid.expect("ProcessId"), "nobody", &dir, "302");

    // A command that ends by itself is reaped too, and both ends are audited.
    let dir = SharedDir::new("short");
    let (code, pid) = output(&create(
        &f,
        admin,
        Some("echo $$ > written; exit 3"),
        Some(&dir.text()),
    ));
    assert_eq!(code, "0");
    let pid = pid.expect("ProcessId");
    wait_for("the short command to be reaped", || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    let read = || std::fs::read_to_string(audit.path()).unwrap_or_default();
    wait_for("the process_ended record", || {
        read()
            .lines()
            .any(|l| l.contains("process_ended") && l.contains(&format!("\"pid\":{pid}")))
    });
    let ended: serde_json::Value = read()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["event"] == "process_ended" && r["pid"] == pid)
        .expect("process_ended record");
    assert_eq!(ended["exit_code"], 3);
    assert_eq!(ended["user"], SERVICE_ACCOUNT);
    assert_eq!(ended["command_line"], "echo $$ > written; exit 3");
    let launched = read()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["event"] == "process_launched")
        .count();
    assert_eq!(launched, 3, "{}", read());
}

#[test]
fn create_answers_bad_directories_and_parameters_and_runs_nothing_unauthenticated() {
    let f = Fixture::http();
    let admin = Some((SERVICE_ACCOUNT, SERVICE_PASSWORD));
    let dir = SharedDir::new("refusals");
    let marker = |name: &str| format!("touch {}", dir.path().join(name).display());

    // A directory that does not exist, or a relative one: 9 (path not found), nothing runs.
    let missing = dir.path().join("no-such-directory").display().to_string();
    for directory in [missing.as_str(), "relative/dir"] {
        let (code, pid) = output(&create(
            &f,
            admin,
            Some(&marker("never-bad-dir")),
            Some(directory),
        ));
        assert_eq!((code.as_str(), pid), ("9", None), "{directory}");
    }
    // No CommandLine: the fault, not a ReturnValue.
    let r = create(&f, admin, None, Some(&dir.text()));
    expect_fault(&r, "InvalidParameter");
    // An empty one: 21 (invalid parameter).
    let (code, pid) = output(&create(&f, admin, Some("  "), None));
    assert_eq!((code.as_str(), pid), ("21", None));
    // Without credentials, or with wrong ones: 401 and nothing runs.
    let r = create(&f, None, Some(&marker("never-anonymous")), None);
    assert_eq!(r.status, 401, "{}", r.describe());
    let r = create(
        &f,
        Some((SERVICE_ACCOUNT, "wrong-password")),
        Some(&marker("never-wrong-password")),
        None,
    );
    assert_eq!(r.status, 401, "{}", r.describe());
    // A Create after them runs; once its file exists, the refused ones would have too.
    let (code, _) = output(&create(&f, admin, Some(&marker("ran")), None));
    assert_eq!(code, "0");
    wait_for("the accepted command's file", || {
        dir.path().join("ran").exists()
    });
    for never in ["never-bad-dir", "never-anonymous", "never-wrong-password"] {
        assert!(!dir.path().join(never).exists(), "{never} ran");
    }
}

#[test]
fn winrm_cli_invokes_create() {
    let f = Fixture::http();
    let dir = SharedDir::new("cli");
    let line = "echo $$ > written; exec sleep 303";
    let out = f.winrm_remote(&[
        "invoke",
        "Create",
        "wmicimv2/Win32_Process",
        &format!(
            "@{{CommandLine=\"{line}\";CurrentDirectory=\"{}\"}}",
            dir.text()
        ),
    ]);
    out.assert_printed("ReturnValue = 0");
    let pid = created_pid(&out);
    check_created(&f, pid, "root", &dir, "303");
}

// What follows: Create answers the command's own process, and Terminate of it ends everything
// it started, what left its session with `setsid` included; bad input (a command line longer
// than Windows takes, PID 1, the daemon) gets Windows' ReturnValue and a log line, and nothing
// starts or ends that should not. Each test's processes carry their own `sleep 600.5xx`
// marker, so concurrent tests never see each other's.

const ADMIN: Option<(&str, &str)> = Some((SERVICE_ACCOUNT, SERVICE_PASSWORD));

/// Win32_Process.Terminate of `pid` by the administrator.
fn terminate(f: &Fixture, pid: u32) -> Response {
    let body = format!(
        "<p:Terminate_INPUT xmlns:p=\"{PROCESS}\"><p:Reason>0</p:Reason></p:Terminate_INPUT>"
    );
    let request = soap::request(
        &format!("{PROCESS}/Terminate"),
        PROCESS,
        &[("Handle", &pid.to_string())],
        &body,
    );
    let auth = http::basic_auth(SERVICE_ACCOUNT, SERVICE_PASSWORD);
    http::post(f.port, Some(&auth), request.as_bytes())
}

/// The ReturnValue of a method's output.
fn returned(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = xml::parse(&r.text(), &Limits::default()).expect("XML");
    text_of(&body, "ReturnValue").expect("ReturnValue")
}

/// Live processes whose command line is exactly `sleep SECONDS`.
fn sleeping(seconds: &str) -> Vec<u32> {
    let wanted = format!("sleep\0{seconds}\0");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted.as_bytes())
        })
        .collect()
}

/// Kills what a failed test left (each marker is this file's own).
struct Cleanup(&'static [&'static str]);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for seconds in self.0 {
            for pid in sleeping(seconds) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

#[test]
fn create_answers_the_command_s_own_process_and_terminate_ends_all_it_started() {
    let _cleanup = Cleanup(&["600.501", "600.502", "600.503", "600.504"]);
    let f = Fixture::http();
    // Microsoft's own example, through the winrm CLI.
    let out = f.winrm_remote(&[
        "invoke",
        "Create",
        "wmicimv2/Win32_Process",
        "@{CommandLine=\"sleep 600.501\"}",
    ]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    let pid = created_pid(&out);
    // The answer comes once the shell has exec'd; it execs sleep in the same process next.
    wait_for("the process to be sleep 600.501", || {
        sleeping("600.501").contains(&pid)
    });
    assert_eq!(sleeping("600.501"), vec![pid]);
    assert_eq!(returned(&terminate(&f, pid)), "0");
    wait_for("sleep 600.501 to end", || sleeping("600.501").is_empty());

    // A command that starts others, two of them in sessions of their own: the answer is
    // the shell's process (the line is a list), and Terminate of it ends all three.
    let line = "setsid -f sleep 600.502; (setsid sleep 600.503 &); sleep 600.504";
    let (code, pid) = output(&create(&f, ADMIN, Some(line), None));
    assert_eq!(code, "0");
    let pid = pid.expect("ProcessId");
    wait_for("the three sleeps", || {
        ["600.502", "600.503", "600.504"]
            .iter()
            .all(|seconds| !sleeping(seconds).is_empty())
    });
    assert_eq!(returned(&terminate(&f, pid)), "0");
    // Terminate answers once the tree is gone.
    for seconds in ["600.502", "600.503", "600.504"] {
        assert!(sleeping(seconds).is_empty(), "sleep {seconds} survived");
    }
    // It is gone: a second Terminate finds no instance.
    let r = terminate(&f, pid);
    assert_eq!(r.status, 500, "{}", r.describe());
}

#[test]
fn create_and_terminate_refuse_bad_input_with_windows_return_values() {
    let _cleanup = Cleanup(&["600.505"]);
    let f = Fixture::http();
    // 64 KiB of command line: past Windows' 32,767 characters, 21 (invalid parameter).
    let long = format!("sleep 600.505 {}", "a".repeat(64 * 1024));
    let (code, pid) = output(&create(&f, ADMIN, Some(&long), None));
    assert_eq!((code.as_str(), pid), ("21", None));
    // Empty: 21 as well.
    let (code, pid) = output(&create(&f, ADMIN, Some(""), None));
    assert_eq!((code.as_str(), pid), ("21", None));
    // A Create after them runs; once it does, the refused one would have too.
    let (code, pid) = output(&create(&f, ADMIN, Some("sleep 600.505"), None));
    assert_eq!(code, "0");
    let pid = pid.expect("ProcessId");
    wait_for("the process to be sleep 600.505", || {
        sleeping("600.505").contains(&pid)
    });
    assert_eq!(sleeping("600.505"), vec![pid]);
    // Not even the administrator ends PID 1 or the daemon: 2 (access denied), and both run on.
    for protected in [1, f.daemon.pid()] {
        assert_eq!(returned(&terminate(&f, protected)), "2", "pid {protected}");
        assert!(Path::new(&format!("/proc/{protected}")).exists());
    }
    assert_eq!(returned(&terminate(&f, pid)), "0");
    assert!(sleeping("600.505").is_empty());
    let log = f.daemon.stderr();
    assert!(
        log.contains("Win32_Process.Create: refused or failed"),
        "{log}"
    );
    assert_eq!(
        log.matches("Win32_Process.Terminate: refused").count(),
        2,
        "{log}"
    );
}

// A method that starts a process is a shell by another name (docs/access-control.md): with
// AllowRemoteShellAccess=false even an administrator's Create is refused with w:AccessDenied,
// and the processes Create started count in the user's MaxShellsPerUser until they end.

#[test]
fn create_is_refused_when_remote_shell_access_is_off_even_for_an_administrator() {
    let f = Fixture::http_setting("Config.Winrs", "AllowRemoteShellAccess", "false");
    let dir = SharedDir::new("no-shell-access");
    let marker = format!("touch {}", dir.path().join("never").display());
    let r = create(&f, ADMIN, Some(&marker), None);
    let fault = expect_fault(&r, "AccessDenied");
    assert_eq!(fault.wsman_code.as_deref(), Some("5"), "{}", r.describe());
    // The same through the winrm CLI, which prints Windows' access-denied error.
    let out = f.winrm_remote(&[
        "invoke",
        "Create",
        "wmicimv2/Win32_Process",
        &format!("@{{CommandLine=\"{marker}\"}}"),
    ]);
    assert_ne!(out.code(), 0, "{}", out.describe());
    // Methods that start nothing still answer.
    let owner = f.winrm_remote(&[
        "invoke",
        "GetOwner",
        &format!("wmicimv2/Win32_Process?Handle={}", f.daemon.pid()),
    ]);
    assert!(
        owner.stdout.contains("ReturnValue = 0"),
        "{}",
        owner.describe()
    );
    // Nothing ran: a process that had started would have written its file by the time the
    // daemon answered the next request and a further second.
    std::thread::sleep(Duration::from_secs(1));
    assert!(!dir.path().join("never").exists());
    let log = f.daemon.stderr();
    assert!(log.contains("access denied"), "{log}");
    assert!(log.contains("RemoteShellAccessDisabled"), "{log}");
}

#[test]
fn created_processes_count_in_the_users_shell_quota() {
    let _cleanup = Cleanup(&["600.511", "600.512", "600.513"]);
    let f = Fixture::http_setting("Config.Winrs", "MaxShellsPerUser", "2");
    let mut pids = Vec::new();
    for seconds in ["600.511", "600.512"] {
        let (code, pid) = output(&create(&f, ADMIN, Some(&format!("sleep {seconds}")), None));
        assert_eq!(code, "0", "{seconds}");
        pids.push(pid.expect("ProcessId"));
    }
    // The third: Windows' shell quota fault, and nothing starts.
    let r = create(&f, ADMIN, Some("sleep 600.513"), None);
    let fault = expect_fault(&r, "QuotaLimit");
    assert_eq!(
        fault.wsman_code.as_deref(),
        Some("2150859173"),
        "{}",
        r.describe()
    );
    // A shell is refused too: the two processes are the user's two shells.
    let shell = wsman_test::winrs_basic_as(
        f.port,
        f.config.path(),
        SERVICE_ACCOUNT,
        SERVICE_PASSWORD,
        &["echo", "over-quota"],
    );
    assert!(
        shell.code() != 0 && !shell.stdout.contains("over-quota"),
        "{}",
        shell.describe()
    );
    // Once one has ended, its place is free again.
    assert_eq!(returned(&terminate(&f, pids[0])), "0");
    let (code, pid) = output(&create(&f, ADMIN, Some("sleep 600.513"), None));
    assert_eq!(code, "0");
    pids.push(pid.expect("ProcessId"));
    wait_for("sleep 600.513", || !sleeping("600.513").is_empty());
    assert!(sleeping("600.511").is_empty());
    for pid in &pids[1..] {
        assert_eq!(returned(&terminate(&f, *pid)), "0");
    }
}
