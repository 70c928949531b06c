//! The Updates page against real `wsmand` hosts on a real PackageKit
//! (`wsman_test::packagekit`: the dummy backend's three updates, gtkhtml2 as security, a
//! kernel whose restart flag is `system`): a viewer refused each action (403, audited), a
//! scan showing the counts on the page and in the fleet's attention count, an install of
//! every update on three host entries with a canary first, of the security update alone on a
//! host of a second PackageKit, a second scan with fewer updates and the reboot flag, a canary
//! that does not come back stopping the rest, a canary group (two hosts run first) of which
//! one host does not come back stopping the rest, a reboot asked
//! (refused by the host: the test's bus has no systemd), a reboot at a time on the host's own
//! clock (the host in UTC+05:30), and each action audited per host.

mod common;

use std::time::{Duration, Instant};

use common::{Layout, Service};
use wsman_test::packagekit::PackageKitBus;

const VIEWER: &str = "m-viewer";
const PASSWORD: &str = "Updates-Pass-4-Console!";

/// The patchers may scan, install and reboot; the viewers only read.
const ROLES: &str = "[[Role]]\nName = \"patchers\"\nMembers = [\"console-admin\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
    Actions = [\"read\", \"update\", \"reboot\"]\n\
    [[Role]]\nName = \"viewers\"\nMembers = [\"m-viewer\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\"]\n";

type Session = (String, String);

fn post(service: &Service, session: &Session, fields: &[&str]) -> common::Reply {
    service.post_form_json((&session.0, &session.1), "/updates", fields)
}

/// Starts a job with `fields` and waits until every host has finished; the job's JSON.
fn job(service: &Service, session: &Session, fields: &[&str]) -> serde_json::Value {
    let started = post(service, session, fields);
    assert_eq!(started.status, 202, "{}", started.body);
    let page = started.json()["page"].as_str().expect("page").to_owned();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let reply = service.get_json(&session.0, &page);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let job = reply.json();
        let hosts = job["hosts"].as_array().expect("hosts").clone();
        if hosts
            .iter()
            .all(|h| h["state"] == "done" || h["state"] == "failed")
        {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job not finished: {job}\n{}",
            service.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn host_of<'a>(job: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    job["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["host"] == name))
        .unwrap_or_else(|| panic!("{name} in {job}"))
}

/// The Updates page's row of `name`, as JSON.
fn row(service: &Service, session: &Session, name: &str) -> serde_json::Value {
    let page = service.get_json(&session.0, &format!("/updates?q={name}"));
    assert_eq!(page.status, 200, "{}", page.body);
    let json = page.json();
    json["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["name"] == name).cloned())
        .unwrap_or_else(|| panic!("{name} on the page: {json}"))
}

#[test]
fn scan_install_with_a_canary_rescan_reboot_and_refusals() {
    let Some(packagekit) = PackageKitBus::start("dummy") else {
        return;
    };
    let bus = packagekit.address();
    // The host's clock in India's time zone (UTC+05:30), the console's in UTC.
    let env = [
        ("DBUS_SYSTEM_BUS_ADDRESS", bus.as_str()),
        ("TZ", "Asia/Kolkata"),
    ];
    // One daemon on PackageKit's bus, under three names (a fleet of one PackageKit), and a
    // port nothing listens on: the canary that never answers.
    let (_config, _daemon, port) = common::start_daemon((&|_| {}, &env), "root", &[]);
    let Some(second) = PackageKitBus::start("dummy") else {
        return;
    };
    let second_bus = second.address();
    let second_env = [("DBUS_SYSTEM_BUS_ADDRESS", second_bus.as_str())];
    let (_second_config, _second_daemon, second_port) =
        common::start_daemon((&|_| {}, &second_env), "root", &[]);
    let dead = wsman_test::free_port();
    let mut service = Service::start_layout(&Layout {
        hosts: 0,
        roles: Some(ROLES),
        managers: &[(VIEWER, PASSWORD)],
        // The directory the serving user's, as for saved views: the page's figures are kept
        // there across a restart.
        editable: true,
        more_hosts: &[
            ("host0", port, "\"canaries\""),
            ("web2", port, ""),
            ("web3", port, ""),
            ("dead", dead, "\"canaries\""),
            ("sec0", second_port, ""),
        ],
        ..Layout::default()
    });
    let admin = service.manager_session();
    let viewer = service.session_of(VIEWER, PASSWORD);
    assert_eq!(
        row(&service, &admin, "host0")["updates"]["pending"],
        serde_json::Value::Null
    );

    viewer_is_refused(&service, &admin, &viewer);

    scan_shows_the_counts(&service, &admin);
    canary_stops_and_security_alone(&service, &admin);

    // Install all on three entries, host0 the canary: it installs, comes back, the others
    // follow (finding nothing left).
    let installed = job(
        &service,
        &admin,
        &["work=install-all", "hosts=host0,web2,web3", "canary=host0"],
    );
    assert_eq!(installed["canary"], "host0", "{installed}");
    assert_eq!(installed["stopped"], serde_json::Value::Null, "{installed}");
    for name in ["host0", "web2", "web3"] {
        assert_eq!(
            host_of(&installed, name)["state"],
            "done",
            "{name}: {installed}\n{}",
            service.log()
        );
    }
    // Each result carries the command of what was done on that host.
    let said = |name: &str| {
        host_of(&installed, name)["output"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        said("host0").contains("winrm invoke InstallUpdates"),
        "{}",
        said("host0")
    );
    assert!(
        said("web2").contains("nothing to install") && !said("web2").contains("InstallUpdates"),
        "{}",
        said("web2")
    );
    let host0 = row(&service, &admin, "host0");
    let pending = host0["updates"]["pending"].as_u64().expect("pending");
    assert!(pending < 3, "a second scan finds fewer: {host0}");
    assert_eq!(host0["updates"]["reboot_needed"], true, "{host0}");
    assert!(host0["updates"]["last_install"].is_i64(), "{host0}");

    canary_group_with_a_failing_host_stops_the_rest(&service, &admin);

    // A reboot is asked of the host (which cannot: no systemd on the test's bus).
    let rebooted = job(&service, &admin, &["work=reboot", "hosts=host0"]);
    let state = &host_of(&rebooted, "host0")["state"];
    assert!(state == "done" || state == "failed", "{rebooted}");

    reboot_at_the_hosts_time(&service, &admin);
    each_action_is_audited(&service, &admin);
    figures_survive_a_restart(&mut service);
}

/// The page's figures survive a restart of the console (kept beside its `mgmt.toml`); what a
/// host was doing does not (the jobs end with the console).
fn figures_survive_a_restart(service: &mut Service) {
    let admin = service.manager_session();
    let before = row(service, &admin, "host0")["updates"].clone();
    assert!(before["last_scan"].is_i64(), "{before}");
    let _ = service.child.kill();
    let _ = service.child.wait();
    let (child, port) = common::start_console(service.dir.path(), service.port);
    (service.child, service.port) = (child, port);
    let admin = service.manager_session();
    let after = row(service, &admin, "host0")["updates"].clone();
    for figure in [
        "pending",
        "security",
        "reboot_needed",
        "last_scan",
        "last_install",
    ] {
        assert_eq!(
            after[figure], before[figure],
            "{figure}: {before} then {after}"
        );
    }
    assert_eq!(after["activity"]["state"], "idle", "{after}");
    // A host never scanned (it never answered) is still unknown.
    assert_eq!(
        row(service, &admin, "dead")["updates"]["pending"],
        serde_json::Value::Null
    );
}

/// A canary group: every chosen host of the group runs first, together; one of them that does
/// not come back healthy (`dead`) stops the rest, though the other canary (host0) did.
fn canary_group_with_a_failing_host_stops_the_rest(service: &Service, admin: &Session) {
    let stopped = job(
        service,
        admin,
        &[
            "work=install-all",
            "hosts=host0,dead,web2",
            "canary=canaries",
        ],
    );
    assert_eq!(stopped["canary"], "group canaries", "{stopped}");
    // Both chosen hosts of the group, in the job's order (the hosts' order, not the form's).
    assert_eq!(
        stopped["canary_hosts"],
        serde_json::json!(["dead", "host0"]),
        "{stopped}"
    );
    // host0 ran as a canary (nothing left to install there by now) and came back healthy.
    assert_eq!(host_of(&stopped, "host0")["state"], "done", "{stopped}");
    assert_eq!(host_of(&stopped, "dead")["state"], "failed", "{stopped}");
    let why = stopped["stopped"].as_str().unwrap_or("");
    assert!(
        why.contains("canary dead") && !why.contains("canary host0"),
        "{stopped}"
    );
    let web2 = host_of(&stopped, "web2");
    assert_eq!(web2["state"], "failed", "{stopped}");
    assert!(
        web2["error"]
            .as_str()
            .is_some_and(|e| e.contains("canary dead")),
        "{stopped}"
    );
    // A name that is neither a chosen host nor a group of one is refused before anything runs.
    let refused = post(
        service,
        admin,
        &["work=install-all", "hosts=host0,web2", "canary=nobody"],
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
}

/// A viewer may see the page but not act: each action refused, each refusal audited.
fn viewer_is_refused(service: &Service, admin: &Session, viewer: &Session) {
    assert_eq!(service.get_json(&viewer.0, "/updates").status, 200);
    for work in ["scan", "install-security", "install-all", "reboot"] {
        let refused = post(service, viewer, &[&format!("work={work}"), "hosts=host0"]);
        assert_eq!(refused.status, 403, "{work}: {}", refused.body);
        assert!(refused.body.contains("not allowed"), "{}", refused.body);
    }
    let denied = service.audited(&admin.0, "denied", "host0: ");
    assert!(denied.len() >= 4, "{denied:?}");
}

/// A reboot at a time on the host's own clock, two minutes ahead of it: it waits until the
/// host's clock shows it, not the console's (five and a half hours apart).
fn reboot_at_the_hosts_time(service: &Service, admin: &Session) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let host_time = (now + 330 * 60 + 120).rem_euclid(86_400);
    let at = format!("at={:02}:{:02}", host_time / 3600, host_time % 3600 / 60);
    let refused = post(service, admin, &["work=scan", "hosts=web2", &at]);
    assert_eq!(
        refused.status, 400,
        "a time is for a reboot only: {}",
        refused.body
    );
    let scheduled = post(service, admin, &["work=reboot", "hosts=web2", &at]);
    assert_eq!(scheduled.status, 202, "{}", scheduled.body);
    let deadline = Instant::now() + Duration::from_secs(60);
    let activity = loop {
        let activity = row(service, admin, "web2")["updates"]["activity"].clone();
        if activity["state"] == "reboot-scheduled" || Instant::now() > deadline {
            break activity;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(activity["state"], "reboot-scheduled", "{activity}");
    assert!(
        activity["at"]
            .as_str()
            .is_some_and(|a| a.ends_with("UTC+05:30")),
        "{activity}"
    );
    let due = activity["due"].as_i64().expect("due") - now;
    assert!(
        (60..=180).contains(&due),
        "due in {due} s, not at the host's {at}: {activity}"
    );
}

/// Each action on each host is audited.
fn each_action_is_audited(service: &Service, admin: &Session) {
    for what in ["updates: scan", "updates: install-all", "updates: reboot"] {
        let records = service.audited(&admin.0, "action", &format!("host0: {what}"));
        assert!(
            !records.is_empty(),
            "{what} audited: {:?}",
            service.audit(&admin.0)
        );
    }
    assert!(!service
        .audited(&admin.0, "action", "web2: updates: install-all: done")
        .is_empty());
    assert!(!service
        .audited(&admin.0, "action", "host0: updates: install-all: not run")
        .is_empty());
}

/// A canary that does not answer stops an install; security updates alone are sent alone.
fn canary_stops_and_security_alone(service: &Service, admin: &Session) {
    // A canary that does not answer: nothing else is installed, and the job says why.
    let stopped = job(
        service,
        admin,
        &["work=install-all", "hosts=dead,host0", "canary=dead"],
    );
    assert_eq!(stopped["canary"], "dead", "{stopped}");
    assert!(
        stopped["stopped"]
            .as_str()
            .is_some_and(|s| s.contains("canary dead")),
        "{stopped}"
    );
    assert_eq!(host_of(&stopped, "host0")["state"], "failed", "{stopped}");
    assert_eq!(row(service, admin, "host0")["updates"]["pending"], 3);

    // Security updates only, on the host of a PackageKit of its own (one host: no canary):
    // the one security update is sent, not the other two. (The dummy backend then lists no
    // update at all: it marks every update done on any install, so its count after says
    // nothing of what was sent; hence its own PackageKit, apart from the install of all.)
    let secured = job(service, admin, &["work=install-security", "hosts=sec0"]);
    assert_eq!(secured["canary"], serde_json::Value::Null, "{secured}");
    let output = host_of(&secured, "sec0")["output"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(output.starts_with("installed 1;"), "{secured}");
    assert_eq!(row(service, admin, "sec0")["updates"]["security"], 0);
}

/// A scan: the dummy backend's three updates, one of them security, on the page, in the
/// result's `winrm` command and in the fleet's count.
fn scan_shows_the_counts(service: &Service, admin: &Session) {
    let scanned = job(service, admin, &["work=scan", "hosts=host0"]);
    assert_eq!(
        host_of(&scanned, "host0")["state"],
        "done",
        "{scanned}\n{}",
        service.log()
    );
    let host0 = row(service, admin, "host0");
    assert_eq!(host0["updates"]["pending"], 3, "{host0}");
    assert_eq!(host0["updates"]["security"], 1, "{host0}");
    assert!(host0["updates"]["last_scan"].is_i64(), "{host0}");
    let output = host_of(&scanned, "host0")["output"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        output.contains("winrm invoke ScanForUpdates wmi/root/Microsoft/Windows/WindowsUpdate/MSFT_WUOperations @{SearchCriteria=\"IsInstalled=0\"} -r:http://127.0.0.1:"),
        "{output}"
    );
    // The fleet counts it as needing attention.
    let fleet = service.get_json(&admin.0, "/fleet");
    assert_eq!(fleet.json()["counts"]["updates"], 1, "{}", fleet.body);
    let page = service.page(&admin.0, "/updates");
    page.assert_shows(
        200,
        &[
            "with security updates pending",
            "winrm invoke InstallUpdates",
        ],
    );
}
