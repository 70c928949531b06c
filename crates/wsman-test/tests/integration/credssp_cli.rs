//! The real `winrm` and `winrs` CLIs with `-a:CredSSP` against the real wsmand: Identify and
//! a remote command as the delegating account's run-as user, over sealed HTTP and over HTTPS;
//! a wrong password refused (exit code 3 for winrm, as with the other schemes' refusals).

use std::process::Command;
use std::time::Duration;

use wsman_test::process::{self, Finished};
use wsman_test::{binaries, Fixture};

const USER: &str = "credsspcli";
const PASSWORD: &str = "CredSSP-Cli-Pass1";
/// The non-administrator test user (scripts/test.sh creates it).
const RUN_AS: &str = "wsmanuser";

fn credssp_fixture() -> (Fixture, u16) {
    let (fixture, https_port) = Fixture::http_and_https_with(|config| {
        config.set("Config.Service.Auth", "CredSSP", "true");
    });
    let run_as = run_as_user();
    fixture.config.add_ntlm_account(USER, PASSWORD, run_as);
    (fixture, https_port)
}

/// The test user when it exists and this runs as root (CI), else root as in the NTLM tests.
pub(crate) fn run_as_user() -> &'static str {
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

/// `winrm --config-dir DIR set ...` against the daemon serving DIR returns once the daemon has
/// applied the change (it asks on the control socket and waits): CredSSP switched on is
/// offered to the very next request and a CredSSP handshake succeeds, switched off it is
/// refused at once; 20 rounds, each a real change.
#[test]
fn a_local_set_of_credssp_holds_when_winrm_returns() {
    let fixture = Fixture::http();
    fixture
        .config
        .add_ntlm_account(USER, PASSWORD, run_as_user());
    let dir = fixture.config.path().to_string_lossy().into_owned();
    let url = format!("http://127.0.0.1:{}/wsman", fixture.port);
    let set = |on: bool| {
        let value = format!("@{{CredSSP=\"{on}\"}}");
        let mut command = Command::new(binaries::winrm());
        command
            .args([
                "set",
                "winrm/config/service/auth",
                &value,
                "--config-dir",
                &dir,
            ])
            .env_remove("WSMAND_CONFIG_DIR");
        process::run(&mut command, None, Duration::from_secs(60))
    };
    for round in 0..20 {
        for on in [true, false] {
            let finished = set(on);
            assert_eq!(finished.code(), 0, "{}", finished.describe());
            // Confirmed by the daemon: no note that it could not be reached.
            assert!(
                !finished.stderr.contains("wsmand"),
                "{}",
                finished.describe()
            );
            let identify = tool(&fixture, "winrm", &url, PASSWORD, &["identify"]);
            if on {
                assert_eq!(
                    identify.code(),
                    0,
                    "round {round}: CredSSP not in force when winrm set returned: {}",
                    identify.describe()
                );
                assert!(identify.stdout.contains("IdentifyResponse"));
            } else {
                assert_ne!(
                    identify.code(),
                    0,
                    "round {round}: CredSSP still offered after winrm set returned: {}",
                    identify.describe()
                );
            }
        }
    }
    let log = fixture.daemon.stderr();
    assert!(
        log.contains("authenticated (CredSSP, credentials delegated)"),
        "{log}"
    );
}
