//! The console's pages as a browser or script reads them: the fleet, a host's
//! configuration, events, services and processes, the audit trail, and what each role sees.
//!
//! The real `wsmand-mgmt` on a loopback port with its generated certificate, real `wsmand`
//! daemons as its hosts, curl as the client (tokio-tungstenite for the WebSockets). Every
//! value checked comes from the OS or from a process the test started, never from the
//! service itself.

use std::process::Command;
use std::time::Duration;

use wsman_test::{ConfigDir, SERVICE_ACCOUNT};

mod common;
use common::*;

#[test]
fn fleet_json_matches_what_the_os_reports() {
    let service = Service::start(2, "");
    let (session, _) = service.manager_session();
    let reply = service.fleet_sampled(&session);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let hosts = reply.json()["hosts"].as_array().expect("hosts").clone();
    assert_eq!(hosts.len(), 2);
    let kernel = Command::new("uname").arg("-r").output().expect("uname");
    let kernel = String::from_utf8_lossy(&kernel.stdout).trim().to_owned();
    let uptime_now: f64 = std::fs::read_to_string("/proc/uptime")
        .expect("/proc/uptime")
        .split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .expect("uptime");
    for host in &hosts {
        assert_eq!(host["reachable"], true, "{host}");
        assert_eq!(
            host["os"].as_str(),
            Some(os_release_pretty_name().as_str()),
            "{host}"
        );
        assert_eq!(host["os_version"].as_str(), Some(kernel.as_str()), "{host}");
        let uptime = host["uptime_seconds"].as_u64().expect("uptime_seconds") as f64;
        assert!(
            (uptime - uptime_now).abs() < 300.0,
            "uptime {uptime} vs /proc/uptime {uptime_now}"
        );
    }
    // The same URL as HTML names both hosts, with the command that does the same.
    let page = service.page(&session, "/fleet");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert!(page.body.contains("host0") && page.body.contains("host1"));
    assert!(page.body.contains("winrm identify"));
    // A process this test started is in the host's process list, with its OS pid and name.
    let mut sleeper = Command::new("sleep").arg("300").spawn().expect("sleep");
    let reply = service.get_json(&session, "/hosts/host0/processes");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let listed = reply.json()["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .any(|p| p["pid"].as_u64() == Some(u64::from(sleeper.id())) && p["name"] == "sleep");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(listed, "pid {} not listed", sleeper.id());
    // A host not in the configuration is never contacted.
    assert_eq!(
        service
            .get_json(&session, "/hosts/127.0.0.1/processes")
            .status,
        404
    );
}

/// Our `winrm` CLI against daemon `index` of `service`, as the console reaches it.
fn winrm_cli(service: &Service, index: usize, args: &[&str]) -> wsman_test::process::Finished {
    let client = ConfigDir::new();
    client.write();
    let port = service.daemons[index].2;
    let mut command = Command::new(wsman_test::binaries::winrm());
    command
        .args(args)
        .args(wsman_test::basic_http_switches(port))
        .env("WSMAND_CONFIG_DIR", client.path());
    wsman_test::process::run(&mut command, None, Duration::from_secs(60))
}

/// `winrm get winrm/config` text as (path below Config, value, locked) per `Name = value` line.
fn parse_winrm_config(text: &str) -> Vec<(String, String, bool)> {
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let depth = (line.len() - line.trim_start().len()) / 4;
        let line = line.trim();
        stack.truncate(depth);
        match line.split_once(" = ") {
            Some((name, value)) => {
                let locked = value.ends_with("[Source=\"GPO\"]");
                let value = value.trim_end_matches("[Source=\"GPO\"]").trim_end();
                let path: Vec<&str> = stack
                    .iter()
                    .skip(1)
                    .map(String::as_str)
                    .chain([name])
                    .collect();
                out.push((path.join("/"), value.to_owned(), locked));
            }
            None => stack.push(line.to_owned()),
        }
    }
    out
}

#[test]
fn the_config_page_matches_the_winrm_cli_and_shows_policy_locks() {
    let service = Service::start_with(
        1,
        "",
        (
            &|config: &mut ConfigDir| {
                config.write_policy("50-console", "[Config]\nMaxTimeoutms = 120000\n");
            },
            &[],
        ),
    );
    let (session, _) = service.manager_session();
    let reply = service.get_json(&session, "/hosts/host0/config");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let rows = reply.json()["config"].as_array().expect("config").clone();
    let cli = winrm_cli(&service, 0, &["get", "winrm/config"]);
    assert_eq!(cli.code(), 0, "{}", cli.describe());
    let expected = parse_winrm_config(&cli.stdout);
    assert!(expected.len() >= 10, "{}", cli.stdout);
    let mut compared = 0;
    for (path, value, locked) in &expected {
        if value == "null" {
            continue;
        }
        let row = rows
            .iter()
            .find(|r| r["path"].as_str() == Some(path.as_str()))
            .unwrap_or_else(|| panic!("{path} missing from the page: {rows:?}"));
        assert_eq!(row["value"].as_str(), Some(value.as_str()), "{path}");
        assert_eq!(row["locked"].as_bool(), Some(*locked), "{path}");
        compared += 1;
    }
    assert!(compared >= 10);
    // The policy file's value is what the host reports, locked.
    let pinned = rows
        .iter()
        .find(|r| r["path"] == "MaxTimeoutms")
        .expect("MaxTimeoutms");
    assert_eq!(pinned["value"], "120000");
    assert_eq!(pinned["locked"], true);
    let page = service.page(&session, "/hosts/host0/config");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("winrm get winrm/config"));
    assert!(page.body.contains("locked by policy"));
}

#[test]
fn the_events_page_shows_the_newest_records_first_and_bounded() {
    let messages: Vec<String> = (0..130)
        .map(|n| format!("console event <b>{n}</b>"))
        .collect();
    let entries: Vec<Vec<(&str, &str)>> = messages
        .iter()
        .map(|m| {
            vec![
                ("SYSLOG_IDENTIFIER", "console-test"),
                ("PRIORITY", "4"),
                ("MESSAGE", m.as_str()),
                ("_PID", "4242"),
                ("_UID", "0"),
            ]
        })
        .collect();
    let refs: Vec<&[(&str, &str)]> = entries.iter().map(Vec::as_slice).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let Some(journal) = wsman_test::journal::JournalDir::from_entries(now - 60_000_000, &refs)
    else {
        return;
    };
    let directory = journal.path().to_str().expect("UTF-8").to_owned();
    let service = Service::with_journal(&directory);
    let (session, _) = service.manager_session();
    let reply = service.get_json(&session, "/hosts/host0/events");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let events = reply.json()["events"].as_array().expect("events").clone();
    let shown: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().expect("message"))
        .collect();
    // The newest 100 of what the test wrote, newest first.
    let newest: Vec<&str> = messages
        .iter()
        .rev()
        .take(100)
        .map(String::as_str)
        .collect();
    assert_eq!(shown, newest);
    assert_eq!(events[0]["source"], "console-test");
    assert_eq!(events[0]["event_type"], "Warning");
    // Host text is escaped in the page, never markup.
    let page = service.page(&session, "/hosts/host0/events");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("console event &lt;b&gt;129&lt;/b&gt;"));
    assert!(!page.body.contains("<b>129</b>"));
    assert!(page
        .body
        .contains("winrm enumerate wmicimv2/Win32_NTLogEvent"));
    drop(service);
    drop(journal);
}

#[test]
fn service_actions_answer_as_the_winrm_cli_does_and_are_audited() {
    let service = Service::start(1, "");
    let (session, csrf) = service.manager_session();
    let unit = "wsmand-console-no-such.service";
    for (action, method, parameters) in [
        ("restart", "StopService", "@{}"),
        ("disable", "ChangeStartMode", "@{StartMode=\"Disabled\"}"),
        ("enable", "ChangeStartMode", "@{StartMode=\"Automatic\"}"),
    ] {
        let reply = service.post_json(
            (&session, &csrf),
            &format!("/hosts/host0/services/{unit}/{action}"),
        );
        let answer = reply.json();
        let command = answer["command"].as_str().expect("command");
        assert!(
            command.starts_with(&format!(
                "winrm invoke {method} wmicimv2/Win32_Service?Name={unit}"
            )),
            "{command}"
        );
        assert!(command.ends_with(parameters), "{command}");
        // The CLI, given the same method, gets the same outcome from the same host.
        let cli = winrm_cli(
            &service,
            0,
            &[
                "invoke",
                method,
                &format!("wmicimv2/Win32_Service?Name={unit}"),
                parameters,
            ],
        );
        match answer["return_value"].as_u64() {
            Some(code) => {
                assert_eq!(reply.status, 200, "{}", reply.body);
                assert!(
                    cli.stdout.contains(&format!("ReturnValue = {code}")),
                    "{}",
                    cli.describe()
                );
            }
            None => {
                assert_eq!(reply.status, 502, "{}", reply.body);
                assert_ne!(cli.code(), 0, "{}", cli.describe());
            }
        }
    }
    // The audit trail shows this session's login and actions, newest first.
    let audit = service.get_json(&session, "/audit");
    assert_eq!(audit.status, 200, "{}", audit.body);
    let records = audit.json()["audit"].as_array().expect("audit").clone();
    let events: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap_or(""),
                r["user"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            ("action", MANAGER),
            ("action", MANAGER),
            ("action", MANAGER),
            ("login", MANAGER)
        ]
    );
    assert!(records[0]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("enable") && d.contains(unit)));
    assert!(records.iter().all(|r| r["client"] == "127.0.0.1"));
    let log = without_colours(&service.log());
    assert_eq!(log.matches("audit=1").count(), 4, "{log}");
}

/// The probe unit the delegation test tries to stop inside the booted systemd.
const PROBE_UNIT: &str = "wsman-console-probe.service";
/// Its Win32_Service name (a unit named as Windows names a service: no `.service`).
const PROBE_SERVICE: &str = "wsman-console-probe";

#[test]
fn a_read_only_role_sees_services_but_may_not_stop_one() {
    let Some(systemd) = wsman_test::systemd::BootedSystemd::boot() else {
        return;
    };
    systemd.write_file(
        &format!("/etc/systemd/system/{PROBE_UNIT}"),
        "[Unit]\nDescription=console delegation probe\n\n[Service]\nUser=nobody\n\
         ExecStart=/bin/sleep 100000\n",
    );
    systemd.exec_ok(&["systemctl", "daemon-reload"]);
    systemd.exec_ok(&["systemctl", "start", PROBE_UNIT]);
    let is_active = || {
        systemd
            .exec(&["systemctl", "is-active", PROBE_UNIT])
            .stdout
            .trim()
            .to_owned()
    };
    assert_eq!(is_active(), "active");
    let bus = systemd.bus_address();
    let env = [("DBUS_SYSTEM_BUS_ADDRESS", bus.as_str())];
    let roles = format!(
        "{ALL_POWERFUL_ROLE}\n[[Role]]\nName = \"readers\"\nMembers = [\"reader\"]\n\
         [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\"]\n\
         [[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"*\"]\n\
         Resources = [\"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service\"]\n\
         Actions = [\"change\"]\n"
    );
    let service = Service::start_layout(&Layout {
        setup: (&|_| {}, &env),
        roles: Some(&roles),
        managers: &[("reader", "Reader-Pass-4-Console!")],
        ..Layout::default()
    });
    let reader = service.session_of("reader", "Reader-Pass-4-Console!");
    // The reader sees the unit as systemd has it.
    let services = service.get_json(&reader.0, "/hosts/host0/services");
    assert_eq!(services.status, 200, "{}", services.body);
    let row = services.json()["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|r| r["name"] == PROBE_SERVICE)
        .cloned()
        .unwrap_or_else(|| panic!("{PROBE_UNIT} not listed: {}", services.body));
    assert_eq!(row["state"], "Running", "{row}");
    // Its stop is refused by the Deny rule, its terminate by the default; nothing changes.
    let stop = service.post_json(
        (&reader.0, &reader.1),
        &format!("/hosts/host0/services/{PROBE_SERVICE}/stop"),
    );
    assert_eq!(stop.status, 403, "{}", stop.body);
    let pid = std::process::id();
    let terminate = service.post_json(
        (&reader.0, &reader.1),
        &format!("/hosts/host0/processes/{pid}/terminate"),
    );
    assert_eq!(terminate.status, 403, "{}", terminate.body);
    assert_eq!(is_active(), "active", "the refused stop changed the unit");
    let denied = terminal::audited(&service, &reader.0, "denied");
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(
        denied[1].starts_with("host0: change http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service: by role readers rule 2 (Deny change"),
        "{denied:?}"
    );
    assert!(
        denied[0].ends_with("by default (no rule allows it)"),
        "{denied:?}"
    );
    let log = without_colours(&service.log());
    assert!(log.contains("role readers rule 2"), "{log}");
    // The manager's role may stop it: the refusal was the rule's, not the host's.
    let manager = service.manager_session();
    let stopped = service.post_json(
        (&manager.0, &manager.1),
        &format!("/hosts/host0/services/{PROBE_SERVICE}/stop"),
    );
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    assert_eq!(stopped.json()["return_value"], 0, "{}", stopped.body);
    assert_ne!(is_active(), "active");
}

#[test]
fn the_audit_page_shows_each_user_only_the_hosts_it_may_read() {
    // alice reads and changes host0 only, bob reads host1 only; the manager reads both.
    let roles = format!(
        "{ALL_POWERFUL_ROLE}\n[[Role]]\nName = \"zero\"\nMembers = [\"alice\"]\n\
         [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"host0\"]\nResources = [\"*\"]\n\
         Actions = [\"read\", \"change\"]\n\
         [[Role]]\nName = \"one\"\nMembers = [\"bob\"]\n\
         [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"host1\"]\nResources = [\"*\"]\n\
         Actions = [\"read\"]\n"
    );
    let service = Service::start_layout(&Layout {
        hosts: 2,
        roles: Some(&roles),
        managers: &[
            ("alice", "Alice-Pass-4-Console!"),
            ("bob", "Bob-Pass-4-Console!"),
        ],
        ..Layout::default()
    });
    let alice = service.session_of("alice", "Alice-Pass-4-Console!");
    let bob = service.session_of("bob", "Bob-Pass-4-Console!");
    // alice ends a process of the test's on host0 (the host reaps nothing of ours: we do).
    let mut victim = Command::new("sleep").arg("300").spawn().expect("sleep");
    let ended = service.post_json(
        (&alice.0, &alice.1),
        &format!("/hosts/host0/processes/{}/terminate", victim.id()),
    );
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert!(wsman_test::process::wait_until(&mut victim, Duration::from_secs(20)).is_some());
    // Each asks for a page of the other's host: refused, and audited on that host.
    assert_eq!(
        service.get_json(&alice.0, "/hosts/host1/services").status,
        403
    );
    assert_eq!(
        service.get_json(&bob.0, "/hosts/host0/processes").status,
        403
    );
    // A failed login (no host) from a name nobody has.
    let (failed, _) = service.login("mallory", "wrong", None);
    assert_eq!(failed.status, 401);

    let records = |session: &str| -> Vec<serde_json::Value> {
        let audit = service.get_json(session, "/audit");
        assert_eq!(audit.status, 200, "{}", audit.body);
        audit.json()["audit"].as_array().expect("audit").clone()
    };
    let summary = |records: &[serde_json::Value]| -> Vec<(String, String, String)> {
        records
            .iter()
            .map(|r| {
                (
                    r["user"].as_str().unwrap_or("").to_owned(),
                    r["event"].as_str().unwrap_or("").to_owned(),
                    r["host"].as_str().unwrap_or("-").to_owned(),
                )
            })
            .collect()
    };
    let entry = |user: &str, event: &str, host: &str| (user.into(), event.into(), host.into());
    // Every record `seen` is about `only_host`, or is `own`'s record of no host.
    let only_about = |seen: &[(String, String, String)], only_host: &str, own: &str| {
        assert!(
            seen.iter()
                .all(|(user, _, host)| host == only_host || (host == "-" && user == own)),
            "{seen:?}"
        );
    };
    let seen_by_alice = summary(&records(&alice.0));
    let seen_by_bob = summary(&records(&bob.0));
    let (manager, _) = service.manager_session();
    let seen_by_manager = summary(&records(&manager));

    // alice: her login, her action and bob's refusal on host0; nothing about host1, nobody
    // else's login, no failed login.
    assert!(seen_by_alice.contains(&entry("alice", "action", "host0")));
    assert!(seen_by_alice.contains(&entry("bob", "denied", "host0")));
    assert!(seen_by_alice.contains(&entry("alice", "login", "-")));
    only_about(&seen_by_alice, "host0", "alice");
    // bob: alice's refusal on host1 and his own login only.
    assert!(seen_by_bob.contains(&entry("alice", "denied", "host1")));
    only_about(&seen_by_bob, "host1", "bob");
    assert!(!seen_by_bob.iter().any(|(_, event, _)| event == "action"));
    // The manager reads every host: every record, the console's own included.
    for wanted in [
        entry("alice", "action", "host0"),
        entry("bob", "denied", "host0"),
        entry("alice", "denied", "host1"),
        entry("mallory", "login failed", "-"),
        entry("alice", "login", "-"),
        entry("bob", "login", "-"),
    ] {
        assert!(
            seen_by_manager.contains(&wanted),
            "{wanted:?}: {seen_by_manager:?}"
        );
    }
    // The page shows the same selection.
    let page = service.page(&bob.0, "/audit");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("host1") && !page.body.contains("Terminate"));
}

#[test]
fn an_empty_fleet_says_what_to_add() {
    let service = Service::start(0, "");
    let (session, _) = service.manager_session();
    let page = service.page(&session, "/fleet");
    // Hosts are added from the Manage page without a restart (README, docs): the page says so.
    let says = [
        "No host is configured yet",
        "[[Host]]",
        "[[Role]]",
        "href=\"/manage\"",
        "without a restart",
    ];
    page.assert_shows(200, &says);
    assert!(
        !page.body.contains("<table class=\"fleet\""),
        "{}",
        page.body
    );
}

#[test]
fn a_host_refusing_the_account_is_shown_as_access_denied_not_reachable() {
    // The host's RootSDDL grants nobody anything: it answers Identify, and refuses every read.
    let deny_all = |config: &mut ConfigDir| {
        config.set("Config.Service", "RootSDDL", "\"O:NSG:BAD:P\"");
    };
    let service = Service::start_with(1, "", (&deny_all, &[]));
    let (session, _) = service.manager_session();
    let fleet = service.fleet_sampled(&session);
    assert_eq!(fleet.status, 200, "{}", fleet.body);
    let host = &fleet.json()["hosts"][0];
    assert_eq!(host["access_denied"], true, "{host}");
    assert!(host["error"]
        .as_str()
        .is_some_and(|e| e.contains("AccessDenied")));
    let page = service.page(&session, "/fleet");
    assert!(page.body.contains("access denied"), "{}", page.body);
    assert!(page.body.contains(SERVICE_ACCOUNT), "{}", page.body);
}

#[test]
fn the_processes_table_searches_sorts_pages_and_cuts_long_command_lines() {
    let service = Service::start(1, "");
    let (session, _) = service.manager_session();
    // `sleep` adds its arguments: a command line of 201 words that still sleeps 300 s.
    let zeros = vec!["0"; 200];
    let mut sleeper = Command::new("sleep")
        .arg("300")
        .args(&zeros)
        .spawn()
        .expect("sleep");
    let cookie = format!("Cookie: __Host-wsmand-session={session}");
    let page = |query: &str| {
        let reply = service.curl(&[
            "-H",
            &cookie,
            &service.url(&format!("/hosts/host0/processes{query}")),
        ]);
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        reply.body
    };
    let pids = |body: &str| -> Vec<u32> {
        body.split("<tr><td>")
            .skip(1)
            .filter_map(|rest| rest.split('<').next()?.parse().ok())
            .collect()
    };
    // Searched by name, sorted by PID descending: the test's sleep is listed, its long
    // command line cut with the whole line one click away.
    let found = page("?q=sleep&sort=pid&dir=desc");
    let listed = pids(&found);
    assert!(listed.contains(&sleeper.id()), "{found}");
    let mut sorted = listed.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(listed, sorted);
    assert!(found.contains("<details><summary>"), "{found}");
    assert!(
        found.contains(&format!("300 {}", zeros.join(" "))),
        "{found}"
    );
    // The page counts the rows matching among all the host sent.
    assert!(found.contains(" processes matching of "), "{found}");
    // One page at a time, each a link; a page past the end says so and shows the last.
    let first = page("?sort=pid");
    assert!(pids(&first).len() <= wsmand_mgmt::table::PAGE_SIZE);
    let past = page("?page=99999");
    assert!(past.contains("There is no page 99999"), "{past}");
    // Markup in the search is text.
    let markup = page("?q=%3Cb%3Ex");
    assert!(!markup.contains("<b>x"), "{markup}");
    assert!(markup.contains("&lt;b&gt;x"), "{markup}");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}
