//! The real `winrm` and `winrs` CLIs with `-a:CredSSP` against the real wsmand: Identify and
//! a remote command as the delegating account's run-as user, over sealed HTTP and over HTTPS;
//! a wrong password refused (exit code 3 for winrm, as with the other schemes' refusals).

use std::process::Command;
use std::time::Duration;

use wsman_test::process::{self, Finished};
use wsman_test::{binaries, free_port, Fixture};

const USER: &str = "credsspcli";
const PASSWORD: &str = "CredSSP-Cli-Pass1";
/// The non-administrator test user (scripts/test.sh creates it).
const RUN_AS: &str = "wsmanuser";

fn credssp_fixture() -> (Fixture, u16) {
    let https_port = free_port();
    let mut fixture = Fixture::http_with(|config| {
        config.set("Config.Service.Auth", "CredSSP", "true");
        config.add_https_listener(https_port);
    });
    fixture.daemon.wait_for_port(https_port);
    let run_as = run_as_user();
    fixture.config.add_ntlm_account(USER, PASSWORD, run_as);
    (fixture, https_port)
}

/// The test user when it exists and this runs as root (CI), else root as in the NTLM tests.
fn run_as_user() -> &'static str {
    let output = |args: &[&str]| {
        Command::new("id")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    if output(&["-u"]).as_deref() == Some("0") && output(&["-u", RUN_AS]).is_some() {
        RUN_AS
    } else {
        "root"
    }
}

fn tool(fixture: &Fixture, program: &str, url: &str, password: &str, args: &[&str]) -> Finished {
    let mut command = Command::new(binaries::path(program));
    if program == "winrm" {
        command.args(args).arg(format!("-r:{url}"));
    } else {
        command.arg(format!("-r:{url}"));
    }
    command
        .args([
            "-a:CredSSP",
            &format!("-u:{USER}"),
            &format!("-p:{password}"),
        ])
        .args(["-skipCAcheck", "-skipCNcheck"])
        .env("WSMAND_CONFIG_DIR", fixture.config.path());
    if program != "winrm" {
        command.args(args);
    }
    process::run(&mut command, None, Duration::from_secs(60))
}

#[test]
fn winrm_identify_and_winrs_with_credssp() {
    let (fixture, https_port) = credssp_fixture();
    let expected_user = run_as_user();
    for url in [
        format!("http://127.0.0.1:{}/wsman", fixture.port),
        format!("https://127.0.0.1:{https_port}/wsman"),
    ] {
        let finished = tool(&fixture, "winrm", &url, PASSWORD, &["identify"]);
        assert_eq!(finished.code(), 0, "{url}: {}", finished.describe());
        assert!(
            finished.stdout.contains("IdentifyResponse"),
            "{}",
            finished.describe()
        );
        let finished = tool(&fixture, "winrs", &url, PASSWORD, &["id -un"]);
        finished.assert_output(expected_user, &url);
    }
    let log = fixture.daemon.stderr();
    assert!(
        log.contains("authenticated (CredSSP, credentials delegated)"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD));
}

#[test]
fn wrong_credssp_password_is_refused_by_both_tools() {
    let (fixture, _) = credssp_fixture();
    let url = format!("http://127.0.0.1:{}/wsman", fixture.port);
    let finished = tool(&fixture, "winrm", &url, "Wrong-Pass-3", &["identify"]);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
    assert!(!finished.stdout.contains("IdentifyResponse"));
    let finished = tool(&fixture, "winrs", &url, "Wrong-Pass-3", &["id -un"]);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
    let log = fixture.daemon.stderr();
    assert!(log.contains("wrong password for 'credsspcli'"), "{log}");
    assert!(!log.contains("Wrong-Pass-3"));
}
