//! The Updates page in a real browser: Debian's `chromium`, driven by `playwright-core` from
//! `tests/browser/updates.mjs`, against the real `wsmand-mgmt` over a fleet of
//! [`HOSTS`] host entries, every one a real `wsmand` on a real PackageKit
//! (`wsman_test::packagekit`, the dummy backend: three updates, one of them security, a kernel
//! that needs a reboot) reached under its own name, as a large fleet of identical hosts is.
//! Beside them, [`WINDOWS_HOSTS`] Windows-shaped entries `winNNN` reach
//! `tests/browser/windows-replay.mjs --updates`: Windows' recorded Identify and
//! Win32_OperatingSystem (Server 2012 R2 and 2012), and answers of MSFT_WUOperations and
//! MSFT_WUSettings built from Microsoft's documentation of the classes, since no Windows
//! answer of them is recorded (`crates/wsman-proto/tests/fixtures/windows-documented/updates/`,
//! its README says from what, and docs/windows-quirks.md#updates what is unknown).
//! The administrator scans the hosts matching a search, sees the counts on the page and on the
//! fleet, scans the Windows hosts found by their operating system and sees their figures,
//! installs every update on three hosts ticked with a canary first, and a viewer is refused;
//! axe-core on each page; the screenshots the docs show.
//!
//! Runs only with `WSMAN_TEST_BROWSER=1`, as `tests/browser.rs` does.

use std::path::Path;

use wsman_test::packagekit::PackageKitBus;
use wsman_test::SERVICE_ACCOUNT;

mod common;
use common::browser::{
    artifacts_dir, browser_wanted, docs_images_dir, repo_root, run_script,
    start_windows_replay_with, Reaped,
};
use common::{add_manager, start_daemon};

const ADMIN: &str = "updates-admin";
const ADMIN_PASSWORD: &str = "Updates-Admin-4-Console!";
const VIEWER: &str = "updates-viewer";
const VIEWER_PASSWORD: &str = "Updates-Viewer-4-Console!";
/// Host entries in the console: more than one page of the table (50).
const HOSTS: usize = 60;
/// Windows-shaped host entries beside them.
const WINDOWS_HOSTS: usize = 6;

/// The console: [`HOSTS`] entries `linNNN` reaching the daemon on `port` and
/// [`WINDOWS_HOSTS`] entries `winNNN` reaching the Windows-shaped responder on `windows`; the
/// administrator may read, update and reboot, the viewer only read.
fn start_console(port: u16, windows: u16) -> (tempfile::TempDir, Reaped, u16) {
    let dir = tempfile::tempdir().expect("tempdir");
    let console_port = wsman_test::free_port();
    let password_file = common::write_host_password(dir.path());
    let mut toml = format!(
        "EnableRemoteManagement = false\nPort = {console_port}\nBindAddresses = [\"*\"]\n\
         Certificate = \"auto\"\nCredentials = \"os+manager\"\nUnspecifiedClients = \"Allow\"\n\
         AllowedClients = []\nDeniedClients = []\nRequestLog = \"journal\"\n\
         SessionIdleMinutes = 15\nSessionLifetimeHours = 8\nSampleIntervalSeconds = 30\n"
    );
    for index in 0..HOSTS {
        toml.push_str(&format!(
            "\n[[Host]]\nName = \"lin{index:03}\"\nUrl = \"http://127.0.0.1:{port}/wsman\"\n\
             Username = \"{SERVICE_ACCOUNT}\"\nPasswordFile = \"{}\"\nAllowUnencrypted = true\n",
            password_file.display()
        ));
    }
    for index in 0..WINDOWS_HOSTS {
        toml.push_str(&format!(
            "\n[[Host]]\nName = \"win{index:03}\"\nUrl = \"http://127.0.0.1:{windows}/wsman\"\n\
             Username = \"Administrator\"\nPasswordFile = \"{}\"\nAllowUnencrypted = true\n",
            password_file.display()
        ));
    }
    toml.push_str(&format!(
        "\n[[Role]]\nName = \"patchers\"\nMembers = [\"{ADMIN}\"]\n[[Role.Rule]]\n\
         Effect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
         Actions = [\"read\", \"update\", \"reboot\"]\n\
         \n[[Role]]\nName = \"viewers\"\nMembers = [\"{VIEWER}\"]\n[[Role.Rule]]\n\
         Effect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\"]\n"
    ));
    std::fs::write(dir.path().join("mgmt.toml"), toml).expect("mgmt.toml");
    add_manager(dir.path(), ADMIN, ADMIN_PASSWORD);
    add_manager(dir.path(), VIEWER, VIEWER_PASSWORD);
    let (child, console_port) = common::start_console(dir.path(), console_port);
    (dir, Reaped(child), console_port)
}

#[test]
fn the_updates_page_in_chromium_over_linux_and_windows_hosts_with_a_canary_and_a_viewer() {
    if !browser_wanted() {
        return;
    }
    let Some(packagekit) = PackageKitBus::start("dummy") else {
        return;
    };
    let bus = packagekit.address();
    let env = [("DBUS_SYSTEM_BUS_ADDRESS", bus.as_str())];
    let (_config, _daemon, port) = start_daemon((&|_| {}, &env), "root", &[]);
    let fixtures = repo_root().join("crates/wsman-proto/tests/fixtures");
    let documented = fixtures.join("windows-documented/updates");
    let updates_flag = Path::new("--updates");
    let (_windows, windows_port) =
        start_windows_replay_with(&fixtures.join("windows"), &[updates_flag, &documented]);
    let (dir, _console, console_port) = start_console(port, windows_port);
    let artifacts = artifacts_dir("updates");
    let docs_images = docs_images_dir(&artifacts);
    let status = run_script(
        "updates.mjs",
        &[
            ("CONSOLE_URL", format!("https://127.0.0.1:{console_port}")),
            ("ARTIFACTS", artifacts.display().to_string()),
            ("DOCS_IMAGES", docs_images.display().to_string()),
            ("ADMIN_USER", ADMIN.to_owned()),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
            ("VIEWER_USER", VIEWER.to_owned()),
            ("VIEWER_PASSWORD", VIEWER_PASSWORD.to_owned()),
            ("HOSTS", (HOSTS + WINDOWS_HOSTS).to_string()),
            ("WINDOWS_HOSTS", WINDOWS_HOSTS.to_string()),
        ],
        |question, _| panic!("updates.mjs asked {question:?}, which this harness does not answer"),
    );
    assert!(
        status.success(),
        "the Updates page's browser run failed ({status}); console log:\n{}",
        common::console_log(dir.path())
    );
}
