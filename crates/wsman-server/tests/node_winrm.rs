//! npm's `winrm-client` (tests/node-winrm, at its lockfile's version) against a wsmand on
//! loopback: the real client, run by node, through its own API. Issue 47: it lost a short
//! command's output (it skips `End` elements, and wsmand put the data on one) and the tail of a
//! polled long output (its polled API stops at the first `End`, and wsmand sent stderr's before
//! stdout was drained); its NTLM NEGOTIATE (OEM, not UNICODE) was refused.
//!
//! The package is installed by `scripts/test.sh` (`npm ci --ignore-scripts`), or here when it is
//! missing.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;

/// An NTLM-enabled service account (NTLM checks the password's NT hash, which only such an
/// account keeps), run as root as [`USER`] is.
const NTLM_USER: &str = "ntlm-node";

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node-winrm")
}

/// `npm ci` once per test binary when the package is not installed yet.
fn install_client() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = client_dir();
        if !dir.join("node_modules/winrm-client/package.json").is_file() {
            let status = std::process::Command::new("npm")
                .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .unwrap_or_else(|e| panic!("npm: {e} (scripts/test.sh installs nodejs and npm)"));
            assert!(
                status.success(),
                "npm ci in {} failed: {status}",
                dir.display()
            );
        }
        dir
    })
}

/// Runs the driver (`drive.js MODE PORT USER PASSWORD COMMAND`); its JSON answer.
async fn drive(mode: &str, port: u16, user: &str, command: &str) -> serde_json::Value {
    let dir = install_client();
    let run = tokio::process::Command::new("node")
        .arg("drive.js")
        .args([mode, &port.to_string(), user, PASSWORD, command])
        .current_dir(dir)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("winrm-client did not finish in 120 s"))
        .unwrap_or_else(|e| panic!("node: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "winrm-client failed: {stderr}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&output.stdout)))
}

/// HTTP with Basic and Negotiate, AllowUnencrypted (the client seals nothing), and
/// [`NTLM_USER`].
async fn service() -> TestService {
    TestService::start_with(|port, dir| {
        let mut accounts = wsman_config::accounts::load(dir).unwrap();
        accounts
            .add(NTLM_USER, PASSWORD, Some("root".to_owned()))
            .unwrap();
        accounts.enable_ntlm(NTLM_USER, PASSWORD).unwrap();
        format!(
            "[Config.Service]\nAllowUnencrypted = true\n\n\
             [Config.Service.Auth]\nBasic = true\nNegotiate = true\n\n\
             [[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTP\"\nPort = {port}\n"
        )
    })
    .await
}

fn text<'a>(value: &'a serde_json::Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key}: {value}"))
}

/// runCommand sends one Receive right after the Command and keeps what is not on an End
/// element: stdout, or stderr when stdout is empty (trimmed). A short command has ended by
/// then. Before issue 47 it got "" for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_command_gets_a_short_commands_whole_stdout_and_stderr() {
    let svc = service().await;
    let got = drive("run", svc.port, USER, "printf 'alpha\\nbravo\\n'").await;
    assert_eq!(text(&got, "output"), "alpha\nbravo");
    let got = drive(
        "run",
        svc.port,
        USER,
        "printf 'oops\\nfailed\\n' >&2; exit 3",
    )
    .await;
    assert_eq!(text(&got, "output"), "oops\nfailed");
}

/// The polled API (Receive until the client says complete: at the first End) gets the whole
/// of a 225 KB stdout and the stderr line printed first. Before issue 47 stderr's End came in
/// a Running answer and the client stopped with stdout cut short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polled_api_gets_the_whole_of_a_225_kb_output() {
    let svc = service().await;
    let got = drive("poll", svc.port, USER, "echo warning >&2; seq -s, 1 40000").await;
    let want: Vec<String> = (1..=40000).map(|n| n.to_string()).collect();
    let want = want.join(",");
    assert!(want.len() > 225 * 1024 - 2048, "{} bytes", want.len());
    let stdout = text(&got, "stdout");
    assert_eq!(stdout.len(), want.len(), "bytes of stdout got");
    assert!(stdout == want);
    assert_eq!(text(&got, "stderr"), "warning");
    assert!(got["receives"].as_u64().unwrap() > 1, "{got}");
}

/// Its NTLM login (`DOMAIN\user`: NEGOTIATE flags 0x00088206, OEM and not UNICODE, then
/// plaintext bodies on the authenticated connection) runs a command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntlm_login_works() {
    let svc = service().await;
    let user = format!("WORKGROUP\\{NTLM_USER}");
    let got = drive("run", svc.port, &user, "printf 'over ntlm\\n'").await;
    assert_eq!(text(&got, "output"), "over ntlm");
}
