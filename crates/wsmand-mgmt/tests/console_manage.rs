//! The console's changes beyond one host's page: the manager pages need a rule allowing
//! `manage` on every host (a role for some hosts, or without it, changes nothing), and a
//! multi-host job keeps each host's output within its bound.
//!
//! The real `wsmand-mgmt` and a real `wsmand` daemon as its host, curl as the client. What is
//! compared comes from the file on disk and the command the host ran, never from the console.

use std::time::{Duration, Instant};

mod common;
use common::*;

/// A POST of `fields` (with the session's token and this service's Origin), as JSON.
fn post_form(
    service: &Service,
    (session, csrf): &(String, String),
    path: &str,
    fields: &[&str],
) -> Reply {
    service.post_form_json((session, csrf), path, fields)
}

/// [`post_form`] answered `status`: the reply.
fn posted(
    service: &Service,
    session: &(String, String),
    path: &str,
    fields: &[&str],
    status: u16,
) -> Reply {
    let reply = post_form(service, session, path, fields);
    assert_eq!(reply.status, status, "{path}: {}", reply.body);
    reply
}

/// The second manager user of these tests.
const OTHER: (&str, &str) = ("console-other", "Other-Pass-4-Console!");

/// A console as `layout` says, with [`OTHER`] as a further manager user; and the sessions of
/// the first manager and of [`OTHER`], logged in in that order.
fn with_other(layout: Layout<'_>) -> (Service, (String, String), (String, String)) {
    let service = Service::start_layout(&Layout {
        managers: &[OTHER],
        ..layout
    });
    let first = service.manager_session();
    let other = service.session_of(OTHER.0, OTHER.1);
    (service, first, other)
}

#[test]
fn managing_needs_a_manage_rule_on_every_host() {
    // Everything on every host, and manage on one host only: not enough to edit the roles.
    let roles = "[[Role]]\nName = \"admins\"\nMembers = [\"console-admin\"]\n\
                 [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
                 Actions = [\"read\", \"change\", \"shell\"]\n\
                 [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"host0\"]\nResources = [\"*\"]\n\
                 Actions = [\"manage\"]\n";
    let service = Service::start_layout(&Layout {
        hosts: 1,
        roles: Some(roles),
        ..Layout::default()
    });
    let file = service.dir.path().join("mgmt.toml");
    let before = std::fs::read(&file).expect("mgmt.toml");
    let session = service.manager_session();
    let page = service.get_json(&session.0, "/manage");
    assert_eq!(page.status, 403, "{}", page.body);
    posted(&service, &session, "/manage/hosts/host0/remove", &[], 403);
    posted(
        &service,
        &session,
        "/manage/roles",
        &[
            "name=mine",
            "members=console-admin",
            "rules=Allow manage * *",
        ],
        403,
    );
    // Ending sessions is managing too: refused, and the asker's own session ends nothing.
    posted(
        &service,
        &session,
        "/manage/sessions/end",
        &["kind=manager", "user=console-admin"],
        403,
    );
    assert_eq!(service.get_json(&session.0, "/fleet").status, 200);
    assert_eq!(
        std::fs::read(&file).expect("mgmt.toml"),
        before,
        "the file is unchanged"
    );
    let denied = service.audited(&session.0, "denied", "manage ");
    assert_eq!(denied.len(), 4, "each refusal is audited");
}

#[test]
fn a_job_keeps_each_hosts_output_within_its_bound() {
    let service = Service::start(1, "");
    let session = service.manager_session();
    // 100,000 bytes asked of the host's shell; the job keeps 64 KiB and ends the command.
    let started = posted(
        &service,
        &session,
        "/bulk",
        &[
            "host.host0=1",
            "work=command",
            "command=head -c 100000 /dev/zero | tr '\\000' x",
        ],
        202,
    );
    let page = started.json()["page"].as_str().expect("page").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let host = loop {
        let job = service.get_json(&session.0, &page);
        assert_eq!(job.status, 200, "{}", job.body);
        let host = job.json()["hosts"][0].clone();
        if host["state"] == "done" || host["state"] == "failed" || Instant::now() > deadline {
            break host;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let summary = format!(
        "state {} truncated {} code {}",
        host["state"], host["truncated"], host["code"]
    );
    assert_eq!(host["state"], "done", "{summary}");
    assert_eq!(host["truncated"], true, "{summary}");
    let output = host["output"].as_str().expect("output");
    assert_eq!(output.len(), 64 * 1024);
    assert!(output.bytes().all(|b| b == b'x'));
    // Another user's job is not shown.
    assert_eq!(service.get_json(&session.0, "/bulk/999").status, 404);
}

/// A role allowing everything, `manage` too, on every host.
const MANAGING_ROLE: &str = "[[Role]]\nName = \"admins\"\nMembers = [\"console-admin\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
    Actions = [\"read\", \"change\", \"shell\", \"manage\"]\n";

/// The host form's fields for host `name` at `url` (the harness's account, unencrypted).
fn host_fields(name: &str, url: &str, password: &str) -> Vec<String> {
    vec![
        format!("name={name}"),
        format!("url={url}"),
        format!("username={}", wsman_test::SERVICE_ACCOUNT),
        "allow_unencrypted=on".into(),
        format!("password={password}"),
    ]
}

fn post_fields(
    service: &Service,
    session: &(String, String),
    path: &str,
    fields: &[String],
) -> Reply {
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    post_form(service, session, path, &fields)
}

#[test]
fn a_stored_password_goes_only_where_it_was_given_and_leaves_with_its_host() {
    if !nix_is_root() {
        eprintln!("skipped: the console writes mgmt.toml as its serving user (root needed)");
        return;
    }
    let service = Service::start_layout(&Layout {
        roles: Some(MANAGING_ROLE),
        editable: true,
        ..Layout::default()
    });
    let session = service.manager_session();
    // host0's form posted with these fields.
    let save_host0 = |name: &str, url: &str, password: &str| {
        let fields = host_fields(name, url, password);
        post_fields(&service, &session, "/manage/hosts/host0", &fields)
    };
    let file = service.dir.path().join("mgmt.toml");
    let before = std::fs::read(&file).expect("mgmt.toml");
    let daemon_url = format!("http://127.0.0.1:{}/wsman", service.daemons[0].2);
    // Whatever would reach the new Url reaches this listener first.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let elsewhere = format!(
        "http://127.0.0.1:{}/wsman",
        listener.local_addr().unwrap().port()
    );
    let moved = save_host0("host0", &elsewhere, "");
    assert_eq!(moved.status, 400, "{}", moved.body);
    assert!(
        moved.json()["error"].as_str().unwrap().contains("Password"),
        "{}",
        moved.body
    );
    // The change would have been sampled before the answer: nothing was even connected.
    match listener.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the new Url was contacted: {other:?}"),
    }
    assert_eq!(std::fs::read(&file).expect("mgmt.toml"), before);
    let refusal = service
        .audit(&session.0)
        .into_iter()
        .find(|r| r["event"] == "refused")
        .expect("the refusal is audited");
    assert!(
        refusal["detail"].as_str().unwrap().contains(&elsewhere),
        "{refusal}"
    );
    // Typed again, the change is made, and the audit names both Urls.
    let other_name = format!("http://localhost:{}/wsman", service.daemons[0].2);
    let typed = save_host0("host0", &other_name, wsman_test::SERVICE_PASSWORD);
    assert_eq!(typed.status, 200, "{}", typed.body);
    let changes = service.audited(&session.0, "manage", "change host host0");
    let change = changes.first().expect("the change is audited");
    let detail = change["detail"].as_str().unwrap();
    assert!(
        detail.contains(&daemon_url) && detail.contains(&other_name),
        "{detail}"
    );
    let stored = service.dir.path().join("mgmt-passwords");
    assert!(stored.join("host0").is_file());
    // Renamed: the password again, and the old name's file is gone.
    let renamed = save_host0("web", &other_name, "");
    assert_eq!(renamed.status, 400, "{}", renamed.body);
    let renamed = save_host0("web", &other_name, wsman_test::SERVICE_PASSWORD);
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert!(
        !stored.join("host0").exists(),
        "the renamed host's old password file stays"
    );
    assert!(stored.join("web").is_file());
    // Removed: its file is gone.
    let removed = post_fields(&service, &session, "/manage/hosts/web/remove", &[]);
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(
        !stored.join("web").exists(),
        "the removed host's password file stays"
    );
}

#[test]
fn a_user_has_a_bounded_number_of_sessions() {
    let service = Service::start(0, "");
    for _ in 0..16 {
        let (reply, session) = service.login(MANAGER, MANAGER_PASSWORD, None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(session.is_some());
    }
    let (refused, session) = service.login(MANAGER, MANAGER_PASSWORD, None);
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(session.is_none());
}

/// Polls `done` for up to `seconds`; whether it came true.
fn within(seconds: u64, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_users_running_jobs_are_bounded_and_a_dropped_job_is_cancelled() {
    // host0 runs commands; host1 refuses them, so a job there finishes at once.
    let roles = "[[Role]]\nName = \"admins\"\nMembers = [\"console-admin\", \"console-other\"]\n\
                 [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
                 Actions = [\"read\", \"change\", \"shell\"]\n\
                 [[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"host1\"]\nResources = [\"*\"]\n\
                 Actions = [\"shell\"]\n";
    let (service, session, other) = with_other(Layout {
        hosts: 2,
        roles: Some(roles),
        ..Layout::default()
    });
    let seconds = format!("9{}", std::process::id());
    let sleep = format!("sleep {seconds}");
    let command = format!("command={sleep}");
    let start = |session: &(String, String), host: &str| {
        post_form(
            &service,
            session,
            "/bulk",
            &[&format!("host.{host}=1"), "work=command", &command],
        )
    };
    for _ in 0..4 {
        let started = start(&session, "host0");
        assert_eq!(started.status, 202, "{}", started.body);
    }
    let refused = start(&session, "host0");
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(
        within(30, || terminal::pids_of(&sleep).len() == 4),
        "the four commands run on the host: {}",
        terminal::pids_of(&sleep).len()
    );
    // Another user's 32 jobs (refused on host1, so finished at once) push the four out of
    // the kept jobs: their commands end on the host, well before their own 60 s deadline.
    for _ in 0..32 {
        let started = start(&other, "host1");
        assert_eq!(started.status, 202, "{}", started.body);
    }
    assert!(
        within(30, || terminal::pids_of(&sleep).is_empty()),
        "dropped jobs still run: {}",
        terminal::pids_of(&sleep).len()
    );
    // The first user may start jobs again.
    let again = start(&session, "host1");
    assert_eq!(again.status, 202, "{}", again.body);
}

#[test]
fn a_policy_change_ends_what_it_no_longer_allows_and_a_manager_ends_sessions() {
    if !nix_is_root() {
        eprintln!("skipped: the console writes mgmt.toml as its serving user (root needed)");
        return;
    }
    let roles = format!(
        "{MANAGING_ROLE}[[Role]]\nName = \"ops\"\nMembers = [\"console-other\"]\n\
         [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
         Actions = [\"read\", \"shell\"]\n"
    );
    // The hosts' account runs as the PAM test user (see Service::for_terminals).
    let user = std::env::var("WSMAN_TEST_PAM_USER").unwrap_or_else(|_| "wsmantest".into());
    let (service, admin, other) = with_other(Layout {
        roles: Some(&roles),
        run_as: &user,
        editable: true,
        ..Layout::default()
    });
    let seconds = format!("9{}", std::process::id());
    let sleep = format!("sleep {seconds}");
    terminal::runtime().block_on(async {
        let mut ws = terminal::open_as(&service, "host0", &other.0, &other.1).await;
        posted(
            &service,
            &other,
            "/bulk",
            &["host.host0=1", "work=command", &format!("command={sleep}")],
            202,
        );
        terminal::wait_for_process(&sleep, true);
        // The role goes: its terminal and its job end.
        posted(&service, &admin, "/manage/roles/ops/remove", &[], 200);
        assert!(
            terminal::close_code(&mut ws, Duration::from_secs(30))
                .await
                .is_some(),
            "the terminal was closed"
        );
        terminal::wait_for_process(&sleep, false);
    });
    let changes = service.audited(&admin.0, "manage", "remove role ops");
    let change = changes.first().expect("audited");
    assert!(
        change["detail"].as_str().unwrap().contains("2 terminal(s)"),
        "{change}"
    );
    // A manager ends another user's sessions: the next request of one is refused.
    assert_eq!(service.get_json(&other.0, "/fleet").status, 200);
    let ended = posted(
        &service,
        &admin,
        "/manage/sessions/end",
        &["kind=manager", "user=console-other"],
        200,
    );
    assert_eq!(ended.json()["sessions"], 1, "{}", ended.body);
    assert_eq!(service.get_json(&other.0, "/fleet").status, 401);
    // The OS user of that name is another user: nothing of theirs to end.
    let none = post_form(
        &service,
        &admin,
        "/manage/sessions/end",
        &["kind=os", "user=console-admin"],
    );
    assert_eq!(none.json()["sessions"], 0, "{}", none.body);
    assert_eq!(service.get_json(&admin.0, "/fleet").status, 200);
}

#[test]
fn with_no_hosts_a_user_sees_only_their_own_console_records() {
    let roles = "[[Role]]\nName = \"readers\"\nMembers = [\"console-admin\"]\n\
                 [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
                 Actions = [\"read\"]\n";
    let (service, reader, other) = with_other(Layout {
        hosts: 0,
        roles: Some(roles),
        ..Layout::default()
    });
    let users = |session: &str| -> Vec<String> {
        service
            .audit(session)
            .iter()
            .map(|r| r["user"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    // The user without rules sees their own login only; the reader of every host sees both.
    let seen = users(&other.0);
    assert!(seen.iter().all(|u| u == "console-other"), "{seen:?}");
    assert!(users(&reader.0).iter().any(|u| u == "console-other"));
}

#[test]
fn a_manager_user_and_an_os_user_of_one_name_are_two_users() {
    let Some((name, os_password)) = pam_user_as_root() else {
        return;
    };
    // A manager user with the OS user's name, allowed to run commands; the OS user has no role.
    let roles = format!(
        "[[Role]]\nName = \"ops\"\nMembers = [\"{name}\"]\n[[Role.Rule]]\nEffect = \"Allow\"\n\
         Hosts = [\"host0\"]\nResources = [\"*\"]\nActions = [\"read\", \"shell\"]\n"
    );
    let service = Service::start_layout(&Layout {
        roles: Some(&roles),
        managers: &[(&name, "Same-Name-Pass-4-Console!")],
        ..Layout::default()
    });
    let manager = service.session_of(&name, "Same-Name-Pass-4-Console!");
    let os_user = service.session_of(&name, &os_password);
    let job = posted(
        &service,
        &manager,
        "/bulk",
        &["host.host0=1", "work=command", "command=true"],
        202,
    );
    let page = job.json()["page"].as_str().expect("page").to_owned();
    assert_eq!(service.get_json(&manager.0, &page).status, 200);
    let theirs = service.get_json(&os_user.0, &page);
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    // Each sees its own login, not the other's.
    let logins = |session: &str| -> Vec<String> {
        service
            .audit(session)
            .iter()
            .filter(|r| r["event"] == "login")
            .map(|r| r["user"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(logins(&os_user.0), [format!("os:{name}")]);
    assert_eq!(logins(&manager.0), vec![name.clone()]);
    // Each login's audit line names its principal's kind: a console account of the console's
    // store, a Linux user with the uid it runs as.
    let login_detail = |session: &str| -> String {
        let records = service.audit(session);
        let login = records.iter().find(|r| r["event"] == "login");
        login
            .and_then(|r| r["detail"].as_str())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(login_detail(&manager.0), format!("console:{name}@managers"));
    let os_detail = login_detail(&os_user.0);
    assert!(
        os_detail.starts_with(&format!("linux:{name} uid ")),
        "{os_detail}"
    );
}

#[test]
fn the_fleet_shows_no_figure_a_deny_rule_refuses() {
    let roles = "[[Role]]\nName = \"admins\"\nMembers = [\"console-admin\"]\n\
        [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\"]\n\
        [[Role]]\nName = \"watchers\"\nMembers = [\"console-other\"]\n\
        [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\"]\n\
        [[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"*\"]\n\
        Resources = [\"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_LogicalDisk\", \
        \"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Processor\"]\n\
        Actions = [\"read\"]\n";
    let (service, admin, other) = with_other(Layout {
        roles: Some(roles),
        ..Layout::default()
    });
    let all = service.fleet_sampled(&admin.0).json();
    // The host's fullest disk was read, and is shown to the reader of everything.
    assert!(all["latest"]["host0"]["disk_free"].is_number(), "{all}");
    let refused = service.fleet_sampled(&other.0).json();
    assert_eq!(refused["hosts"][0]["name"], "host0", "{refused}");
    assert!(
        refused["latest"]["host0"]["disk_free"].is_null(),
        "{refused}"
    );
    assert!(
        refused["latest"]["host0"]["memory"].is_number(),
        "{refused}"
    );
    // The load (Win32_Processor) likewise, on the fleet and on the host's overview.
    assert!(all["hosts"][0]["load_percentage"].is_number(), "{all}");
    assert!(
        refused["hosts"][0]["load_percentage"].is_null(),
        "{refused}"
    );
    let overview = service.get_json(&other.0, "/hosts/host0");
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(
        overview.json()["load_percentage"].is_null(),
        "{}",
        overview.body
    );
    assert!(overview.json()["os"].is_string(), "{}", overview.body);
}
