//! masterzen/winrm, the WinRM library of Packer and Terraform (NTLM by go-ntlmssp), as the
//! distribution packages it, against the real daemon: Basic over HTTPS, NTLM over HTTPS and
//! over HTTP with AllowUnencrypted. Each runs `id -un` (the account's run-as user), a command
//! exiting 7 with a line on stderr, and 300 kB of stdin through `sha256sum`. A wrong NTLM
//! password gets 401 and the daemon's log line.
//!
//! Our client program (tests/go/winrm-check) is built offline with the distribution's Go
//! (`golang-go`) against `golang-github-masterzen-winrm-dev` (GO111MODULE=off, GOPATH the
//! packaged sources). Without them the tests skip with the reason, unless
//! `WSMAN_TEST_REQUIRE_GO_WINRM=1` (scripts/test.sh as root) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use wsman_test::process::{self, Finished};
use wsman_test::Fixture;

const REQUIRE: &str = "WSMAN_TEST_REQUIRE_GO_WINRM";
/// Where Debian installs the packaged Go sources.
const GOPATH: &str = "/usr/share/gocode";
const USER: &str = "gowinrm";
const PASSWORD: &str = "Go-Winrm-Pass-7";

/// The built client, or `None` when Go or the library is not installed (each test then skips,
/// or fails under [`REQUIRE`]).
fn client() -> Option<&'static Path> {
    static BUILT: OnceLock<Result<PathBuf, Unavailable>> = OnceLock::new();
    match BUILT.get_or_init(build) {
        Ok(path) => Some(path),
        Err(reason) => {
            wsman_test::skipped(REQUIRE, reason);
            None
        }
    }
}

/// Why the client could not be built (the skip or failure message).
#[derive(Debug)]
struct Unavailable(String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn build() -> Result<PathBuf, Unavailable> {
    let library = Path::new(GOPATH).join("src/github.com/masterzen/winrm");
    if !library.is_dir() {
        return Err(Unavailable(format!(
            "{} missing (golang-github-masterzen-winrm-dev)",
            library.display()
        )));
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/go/winrm-check");
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-winrm-check");
    std::fs::create_dir_all(&work)
        .map_err(|e| Unavailable(format!("create {}: {e}", work.display())))?;
    let output = work.join("winrm-check");
    let mut command = Command::new("go");
    command
        .args(["build", "-o"])
        .arg(&output)
        .arg(".")
        .current_dir(&source)
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH)
        .env("GOCACHE", work.join("cache"))
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env("CGO_ENABLED", "0");
    match command.output() {
        Err(e) => Err(Unavailable(format!("go (golang-go) cannot run: {e}"))),
        // Go and the library are there: a build failure is a defect, never a skip.
        Ok(out) if !out.status.success() => panic!(
            "go build of tests/go/winrm-check failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => Ok(output),
    }
}

/// A daemon with an HTTP listener (AllowUnencrypted=true) and an HTTPS one, and the NTLM
/// account (which Basic accepts too) running as [`super::credssp_cli::run_as_user`].
fn fixture() -> (Fixture, u16) {
    let (fixture, https_port) = Fixture::http_and_https_with(|config| {
        config.set("Config.Service", "AllowUnencrypted", "true");
    });
    fixture
        .config
        .add_ntlm_account(USER, PASSWORD, super::credssp_cli::run_as_user());
    (fixture, https_port)
}

/// The Go client against `port`; its key=value report.
fn run(port: u16, https: bool, auth: &str, password: &str) -> Finished {
    let path = client().expect("checked by the caller");
    let mut command = Command::new(path);
    command.args([
        "-port",
        &port.to_string(),
        &format!("-https={https}"),
        "-auth",
        auth,
        "-user",
        USER,
        "-password",
        password,
    ]);
    process::run(&mut command, None, Duration::from_secs(300))
}

fn value<'a>(report: &'a Finished, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    report
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in the report: {}", report.describe()))
}

/// Every step of the Go client succeeded with the right answers.
fn assert_works(port: u16, https: bool, auth: &str) {
    let report = run(port, https, auth, PASSWORD);
    assert_eq!(
        report.code(),
        0,
        "{auth} https={https}: {}",
        report.describe()
    );
    assert_eq!(value(&report, "user"), super::credssp_cli::run_as_user());
    assert_eq!(value(&report, "user-exit"), "0");
    assert_eq!(value(&report, "exit"), "7", "{}", report.describe());
    assert_eq!(value(&report, "stderr"), "to-stderr");
    assert_eq!(value(&report, "stdin-exit"), "0");
    assert_eq!(
        value(&report, "stdin-remote"),
        value(&report, "stdin-local"),
        "stdin arrived altered"
    );
}

/// Basic and NTLM over HTTPS, and NTLM over HTTP (sealed, with AllowUnencrypted), one daemon
/// serving all three. NTLM was refused before go-ntlmssp was supported at the NEGOTIATE (it
/// sends neither REQUEST_TARGET nor NTLM), then for the missing MIC, then for the missing key
/// exchange.
#[test]
fn go_winrm_basic_and_ntlm_over_https_and_ntlm_over_http() {
    if client().is_none() {
        return;
    }
    let (fixture, https_port) = fixture();
    for (auth, https) in [("basic", true), ("ntlm", true), ("ntlm", false)] {
        let port = if https { https_port } else { fixture.port };
        assert_works(port, https, auth);
    }
}

#[test]
fn go_winrm_ntlm_wrong_password_is_401_and_logged() {
    if client().is_none() {
        return;
    }
    let (fixture, https_port) = fixture();
    for (port, https) in [(https_port, true), (fixture.port, false)] {
        let report = run(port, https, "ntlm", "Wrong-Pass-9");
        assert_eq!(report.code(), 2, "{}", report.describe());
        assert!(
            value(&report, "error").contains("401"),
            "{}",
            report.describe()
        );
    }
    let log = fixture.daemon.stderr();
    assert!(
        log.contains(&format!("wrong password for '{USER}'")),
        "{log}"
    );
    assert!(!log.contains("Wrong-Pass-9"), "the password was logged");
}
