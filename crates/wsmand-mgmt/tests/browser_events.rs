//! The Events page in a real browser: Debian's `chromium`, driven by `playwright-core` from
//! `tests/browser/events.mjs`, against the real `wsmand-mgmt` whose event store is a real
//! `wsmand` collector node (a subscription with the store output), filled by real forwarded
//! events: a real `wsmand` forwarding the journal of a real systemd booted in its own
//! namespaces as `linux01.example.test`, and the transcribed messages of a Windows 10
//! forwarder (`crates/wsman-events/tests/fixtures/windows-forwarder/`) posted to the collector
//! as `win10.example.test`, UTF-16 and SLDC as Windows posts them.
//!
//! The browser logs in as an administrator (every host) and as a viewer whose role allows one
//! host (`linux01.example.test`) and the collector's store: filters, paging, the histogram,
//! one event's full XML, a view saved by the administrator and opened by the viewer, the live
//! tail showing an entry `logger` writes after the page opened, and axe-core on every page.
//! The script asks this harness for the journal entry (`ASK log-entry`).
//!
//! Runs only with `WSMAN_TEST_BROWSER=1` (the browser stage of `scripts/test.sh`), as
//! `tests/browser.rs` does.

use std::io::Write as _;
use std::path::Path;
use std::process::ChildStdin;

use wsman_test::systemd::BootedSystemd;
use wsman_test::{ConfigDir, Daemon, SERVICE_ACCOUNT, SERVICE_PASSWORD};

mod common;
use common::browser::{
    artifacts_dir, browser_wanted, docs_images_dir, repo_root, run_script, start_windows_replay,
    Reaped,
};
use common::forwarded::{replay_windows, wait_for_stored, WINDOWS_COMPUTER};
use common::{add_manager, console_log, start_daemon};

const ADMIN: &str = "events-admin";
const ADMIN_PASSWORD: &str = "Events-Admin-4-Console!";
const VIEWER: &str = "events-viewer";
const VIEWER_PASSWORD: &str = "Events-Viewer-4-Console!";
/// The Linux forwarder's Computer, and its host's name in the console.
const LINUX: &str = "linux01.example.test";
/// The Windows forwarder's Computer in every fixture, and its host's name in the console.
const WINDOWS: &str = WINDOWS_COMPUTER;
/// The collector's account the Windows forwarder posts as (the Linux one posts as the
/// service account): the collector keeps a forwarder's bookmark by its account, so each
/// forwarder has its own.
const WINDOWS_ACCOUNT: &str = "wec-win10";
/// How many entries of the test's tag are in the journal before the forwarder starts: more
/// than one page (50).
const TAGGED: usize = 60;
/// The events of the Windows fixtures' batches (EventID 111, then five).
const WINDOWS_EVENTS: usize = 6;

/// The collector's subscription: the test's tag in Application (the Linux forwarder) and the
/// Windows logs of the fixtures, into the event store; each forwarder's account speaks for its
/// own Computer.
fn subscription(tag: &str) -> String {
    format!(
        "query = '<QueryList><Query Id=\"0\"><Select Path=\"Application\">*[System[Provider[@Name=\"{tag}\"]]]</Select>\
         <Select Path=\"Security\">*</Select><Select Path=\"System\">*</Select>\
         <Select Path=\"Microsoft-Windows-WinRM/Operational\">*</Select></Query></QueryList>'\n\
         max_latency_seconds = 1\nread_existing_events = true\nheartbeat_seconds = 60\n\
         content_format = \"RenderedText\"\n[[outputs]]\ntype = \"store\"\n\
         [computers]\n\"{SERVICE_ACCOUNT}\" = [\"{LINUX}\"]\n\"{WINDOWS_ACCOUNT}\" = [\"{WINDOWS}\"]\n"
    )
}

/// The console: the collector (the event store), the Linux forwarder and the Windows replay
/// as hosts; the administrator's role allows everything, the viewer's reading the Linux host
/// and the collector's store only.
fn start_console(collector: u16, linux: u16, windows: u16) -> (tempfile::TempDir, Reaped, u16) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = wsman_test::free_port();
    let password_file = common::write_host_password(dir.path());
    let host = |name: &str, port: u16, groups: &str| {
        format!(
            "\n[[Host]]\nName = \"{name}\"\nUrl = \"http://127.0.0.1:{port}/wsman\"\n\
             Username = \"{SERVICE_ACCOUNT}\"\nPasswordFile = \"{}\"\nAllowUnencrypted = true\n\
             Groups = [{groups}]\n",
            password_file.display()
        )
    };
    let mut toml = format!(
        "EnableRemoteManagement = false\nPort = {port}\nBindAddresses = [\"*\"]\n\
         Certificate = \"auto\"\nCredentials = \"os+manager\"\nUnspecifiedClients = \"Allow\"\n\
         AllowedClients = []\nDeniedClients = []\nRequestLog = \"journal\"\n\
         SessionIdleMinutes = 15\nSessionLifetimeHours = 8\nSampleIntervalSeconds = 30\n"
    );
    toml.push_str(&host("collector", collector, "\"event-store\""));
    toml.push_str(&host(LINUX, linux, "\"linux\""));
    toml.push_str(&host(WINDOWS, windows, "\"windows\""));
    toml.push_str(&format!(
        "\n[[Role]]\nName = \"admins\"\nMembers = [\"{ADMIN}\"]\n[[Role.Rule]]\n\
         Effect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
         Actions = [\"read\", \"change\", \"shell\", \"manage\"]\n\
         \n[[Role]]\nName = \"linux-viewers\"\nMembers = [\"{VIEWER}\"]\n[[Role.Rule]]\n\
         Effect = \"Allow\"\nHosts = [\"{LINUX}\"]\nResources = [\"*\"]\nActions = [\"read\"]\n\
         [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"collector\"]\n\
         Resources = [\"urn:wsmand:event-store\"]\nActions = [\"read\"]\n"
    ));
    std::fs::write(dir.path().join("mgmt.toml"), toml).expect("mgmt.toml");
    if common::nix_is_root() {
        // The saved views are written beside mgmt.toml by the serving user.
        common::give_to_serving_user(&[dir.path(), &password_file]);
    }
    add_manager(dir.path(), ADMIN, ADMIN_PASSWORD);
    add_manager(dir.path(), VIEWER, VIEWER_PASSWORD);
    let (child, port) = common::start_console(dir.path(), port);
    (dir, Reaped(child), port)
}

/// The forwarder: a wsmand forwarding the booted system's journal as [`LINUX`] to the
/// collector on `collector`, enumerating its subscriptions every 2 s.
fn start_forwarder(
    systemd: &BootedSystemd,
    state: &Path,
    collector: u16,
) -> (ConfigDir, Daemon, u16) {
    let password_file = state.join("password");
    std::fs::write(&password_file, format!("{SERVICE_PASSWORD}\n")).expect("password file");
    let forwarding = format!(
        "computer = \"{LINUX}\"\nstate_directory = \"{}\"\n[[collector]]\n\
         server = \"Server=http://127.0.0.1:{collector}/wsman/SubscriptionManager/WEC,Refresh=2\"\n\
         authentication = \"basic\"\nusername = \"{SERVICE_ACCOUNT}\"\npassword_file = \"{}\"\n\
         allow_unencrypted = true\n",
        state.join("cursors").display(),
        password_file.display()
    );
    let journal = systemd.root().join("var/log/journal");
    let journal = journal.to_str().expect("UTF-8").to_owned();
    start_daemon(
        (
            &move |config: &mut ConfigDir| {
                config.write_raw("forwarding.toml", &forwarding);
            },
            &[("WSMAND_JOURNAL_DIRECTORY", journal.as_str())],
        ),
        "root",
        &[],
    )
}

/// `ASK log-entry` of `tests/browser/events.mjs` answered with an entry `logger` writes in the
/// booted system's journal (markup in it, shown as text).
fn answer(question: &str, systemd: &BootedSystemd, tag: &str, to_node: &mut ChildStdin) {
    let reply = if question == "log-entry" {
        let message = format!("live tail <b>{}</b> entry", std::process::id());
        systemd.exec_ok(&["logger", "-t", tag, "-p", "user.warning", &message]);
        message
    } else {
        format!("unknown question {question:?}")
    };
    writeln!(to_node, "{reply}").expect("answer");
    to_node.flush().expect("flush");
}

#[test]
fn the_events_page_in_chromium_as_an_administrator_and_a_one_host_viewer() {
    if !browser_wanted() {
        return;
    }
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let tag = format!("events-page-{}", std::process::id());
    for n in 0..TAGGED {
        let priority = if n % 3 == 0 { "user.err" } else { "user.info" };
        systemd.exec_ok(&[
            "logger",
            "-t",
            &tag,
            "-p",
            priority,
            &format!("stored entry k{n}z"),
        ]);
    }
    let state = tempfile::tempdir().expect("tempdir");
    let database = state.path().join("wec.sqlite");
    let database = database.to_str().expect("UTF-8").to_owned();
    let subscription = subscription(&tag);
    let (_collector_config, collector, collector_port) = start_daemon(
        (
            &|config: &mut ConfigDir| {
                config.write_raw("subscriptions/fleet.toml", &subscription);
            },
            &[("WSMAND_WEC_DATABASE", database.as_str())],
        ),
        "root",
        &[(WINDOWS_ACCOUNT, "root")],
    );
    let windows_record = replay_windows(collector_port, WINDOWS_ACCOUNT, WINDOWS);
    let (_forwarder_config, forwarder, linux_port) =
        start_forwarder(&systemd, state.path(), collector_port);
    let logs = || {
        format!(
            "collector:\n{}\nforwarder:\n{}",
            collector.stderr(),
            forwarder.stderr()
        )
    };
    let linux = format!("<q:Computer>{LINUX}</q:Computer><q:Provider>{tag}</q:Provider>");
    wait_for_stored(collector_port, &linux, TAGGED, &logs);
    let windows = format!("<q:Computer>{WINDOWS}</q:Computer>");
    wait_for_stored(collector_port, &windows, WINDOWS_EVENTS, &logs);
    let fixtures = repo_root().join("crates/wsman-proto/tests/fixtures/windows");
    let (_windows_host, windows_port) = start_windows_replay(&fixtures);
    let (console_dir, _console, console_port) =
        start_console(collector_port, linux_port, windows_port);
    let artifacts = artifacts_dir("events");
    let docs_images = docs_images_dir(&artifacts);
    let env = [
        ("CONSOLE_URL", format!("https://127.0.0.1:{console_port}")),
        ("ADMIN_USER", ADMIN.to_owned()),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("VIEWER_USER", VIEWER.to_owned()),
        ("VIEWER_PASSWORD", VIEWER_PASSWORD.to_owned()),
        ("LINUX_HOST", LINUX.to_owned()),
        ("WINDOWS_HOST", WINDOWS.to_owned()),
        ("TAG", tag.clone()),
        ("TAGGED", TAGGED.to_string()),
        ("WINDOWS_RECORD", windows_record),
        ("ARTIFACTS", artifacts.display().to_string()),
        ("DOCS_IMAGES", docs_images.display().to_string()),
    ];
    let status = run_script("events.mjs", &env, |question, to| {
        answer(question, &systemd, &tag, to);
    });
    assert!(
        status.success(),
        "the browser run failed ({status}); console log:\n{}\ncollector log:\n{}\nforwarder log:\n{}",
        console_log(console_dir.path()),
        collector.stderr(),
        forwarder.stderr()
    );
}
