//! The console's privileges: it serves unprivileged, OS logins go through its root PAM helper
//! (which answers only its protocol), roles by Linux group, and a role's run-as account.
//!
//! The real `wsmand-mgmt` on a loopback port with its generated certificate, real `wsmand`
//! daemons as its hosts, curl as the client (tokio-tungstenite for the WebSockets). Every
//! value checked comes from the OS or from a process the test started, never from the
//! service itself.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

#[test]
fn the_service_serves_unprivileged_and_is_configured_only_while_stopped() {
    let mut service = Service::start(0, "");
    if nix_is_root() {
        let status = std::fs::read_to_string(format!("/proc/{}/status", service.child.id()))
            .expect("status");
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid");
        // By default it serves as its own system user, whose uid the OS reports.
        let own = Command::new("id")
            .args(["-u", "wsmand-mgmt"])
            .output()
            .expect("id");
        assert!(
            own.status.success(),
            "no wsmand-mgmt user (scripts/test.sh creates it)"
        );
        let own = String::from_utf8_lossy(&own.stdout).trim().to_owned();
        assert_ne!(own, "0");
        assert!(
            uid_line.split_whitespace().skip(1).all(|uid| uid == own),
            "{uid_line} (wsmand-mgmt is {own})"
        );
    }
    let refused = wsman_test::process::run(
        wsmand_cli(service.dir.path()).args(["mgmt", "set", "Port", "9443"]),
        None,
        Duration::from_secs(30),
    );
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("--restart"),
        "{}",
        refused.describe()
    );
    let _ = service.child.kill();
    let _ = service.child.wait();
    let set = wsman_test::process::run(
        wsmand_cli(service.dir.path()).args(["mgmt", "set", "Port", "9443"]),
        None,
        Duration::from_secs(30),
    );
    assert!(set.status.success(), "{}", set.describe());
    let get = wsman_test::process::run(
        wsmand_cli(service.dir.path()).args(["mgmt", "get", "Port"]),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(get.stdout.trim(), "9443");
    let mode = std::fs::metadata(service.dir.path().join("mgmt-users.toml"))
        .expect("users")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// The pid, the uids of `/proc/PID/status` and the command line of every child of `parent`.
fn children_of(parent: u32) -> Vec<(u32, Vec<String>, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        if field("PPid:").first().map(String::as_str) == Some(&parent.to_string()) {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            out.push((pid, field("Uid:"), cmdline));
        }
    }
    out
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn os_logins_go_through_the_privileged_pam_helper() {
    let (Some((admin, admin_password)), Some((plain, plain_password))) =
        (pam_user_as_root(), plain_pam_user())
    else {
        return;
    };
    assert!(os_groups(&admin).iter().any(|g| g == "wsmand-admins"));
    assert!(!os_groups(&plain).iter().any(|g| g == "wsmand-admins"));
    let mut service = Service::start(1, "Credentials = \"os\"\nOsLoginGroup = \"wsmand-admins\"");
    // A member of the login group logs in with the password PAM knows, and may use the console.
    let (reply, session) = service.login(&admin, &admin_password, None);
    assert_eq!(reply.status, 200, "{} {}", reply.body, service.log());
    let session = session.expect("session");
    assert_eq!(service.get_json(&session, "/fleet").status, 200);
    // A wrong password, an account outside the group and an unknown user: one answer.
    let (wrong, s1) = service.login(&admin, &format!("{admin_password}-wrong"), None);
    let (outsider, s2) = service.login(&plain, &plain_password, None);
    let (unknown, s3) = service.login("wsmand-no-such-user-x7", &admin_password, None);
    assert_eq!((s1, s2, s3), (None, None, None));
    let without_token = |r: &Reply| {
        let mut v = r.json();
        v["login_token"] = serde_json::Value::Null;
        (r.status, v)
    };
    assert_eq!(without_token(&wrong).0, 401);
    assert_eq!(without_token(&wrong), without_token(&outsider));
    assert_eq!(without_token(&wrong), without_token(&unknown));
    // Manager users are not accepted with Credentials = os.
    let (manager, _) = service.login(MANAGER, MANAGER_PASSWORD, None);
    assert_eq!(manager.status, 401);
    // The serving process is unprivileged; its one child, the helper, is root.
    let service_pid = service.child.id();
    let status = std::fs::read_to_string(format!("/proc/{service_pid}/status")).expect("status");
    let uids = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid");
    assert!(uids.split_whitespace().skip(1).all(|u| u != "0"), "{uids}");
    let children = children_of(service_pid);
    assert_eq!(children.len(), 1, "{children:?}");
    let (helper, helper_uids, cmdline) = &children[0];
    assert!(cmdline.contains("pam-helper"), "{cmdline}");
    assert!(helper_uids.iter().all(|u| u == "0"), "{helper_uids:?}");
    let log = service.log();
    for secret in [&admin_password, &plain_password] {
        assert!(!log.contains(secret.as_str()), "a password reached the log");
    }
    assert!(log.contains("not in the login group"), "{log}");
    // Killing the serving process ends the helper.
    let _ = service.child.kill();
    let _ = service.child.wait();
    let start = Instant::now();
    while alive(*helper) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the PAM helper {helper} outlived the service"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The helper process alone, its stdin one end of a socket pair this test holds.
fn helper_process() -> (Child, std::os::unix::net::UnixStream) {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let child = Command::new(env!("CARGO_BIN_EXE_wsmand-mgmt"))
        .args([
            "pam-helper",
            "--pam-service",
            "wsmand",
            "--login-group",
            "wsmand-admins",
        ])
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the helper");
    ours.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    (child, ours)
}

#[test]
fn the_pam_helper_answers_only_its_protocol() {
    // Only root's helper can check another user's password.
    let Some((admin, admin_password)) = pam_user_as_root() else {
        return;
    };
    let uid: u32 = {
        let out = Command::new("id")
            .args(["-u", &admin])
            .output()
            .expect("id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("uid")
    };
    let request = |user: &str, password: &str| {
        let mut frame = vec![user.len() as u8];
        frame.extend_from_slice(&(password.len() as u16).to_be_bytes());
        frame.extend_from_slice(user.as_bytes());
        frame.extend_from_slice(password.as_bytes());
        frame
    };
    // Accepted: 1, then the uid the OS gives the user.
    let (mut child, mut socket) = helper_process();
    socket
        .write_all(&request(&admin, &admin_password))
        .expect("write");
    let mut answer = [0u8; 5];
    socket.read_exact(&mut answer).expect("answer");
    assert_eq!(answer[0], 1);
    assert_eq!(
        u32::from_be_bytes([answer[1], answer[2], answer[3], answer[4]]),
        uid
    );
    let mut count = [0u8; 1];
    socket.read_exact(&mut count).expect("count");
    let mut groups = vec![0u8; usize::from(count[0]) * 4];
    socket.read_exact(&mut groups).expect("groups");
    // Refused: one byte 0, for a wrong password and an unknown user alike.
    for (user, password) in [
        (admin.as_str(), "not-the-password"),
        ("wsmand-no-such-user-x7", admin_password.as_str()),
    ] {
        socket.write_all(&request(user, password)).expect("write");
        let mut refused = [9u8; 1];
        socket.read_exact(&mut refused).expect("answer");
        assert_eq!(refused, [0]);
    }
    // The socket closing ends it cleanly.
    drop(socket);
    assert!(child.wait().expect("wait").success());
    // A frame outside the protocol (an empty user name) ends it without an answer.
    let (mut child, mut socket) = helper_process();
    socket.write_all(&[0, 0, 1, b'x']).expect("write");
    let mut rest = Vec::new();
    let _ = socket.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{rest:?}");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(stderr.contains("bad request"), "{stderr}");
    assert!(
        !stderr.contains(&admin_password),
        "a password reached the log"
    );
}

#[test]
fn a_role_sees_only_its_group_and_runs_as_its_account_on_the_host() {
    let (Some((admin, _)), Some((plain, _))) = (wsman_test::pam_credentials(), plain_pam_user())
    else {
        return;
    };
    // host0 is in group web and has a second account, svc-ops, run as the plain test user.
    let host_lines = |index: usize, dir: &Path| {
        if index == 0 {
            format!(
                "Groups = [\"web\"]\nRunAs = [{{ Username = \"svc-ops\", PasswordFile = \"{}\" }}]\n",
                dir.join("host-password").display()
            )
        } else {
            String::new()
        }
    };
    let roles = format!(
        "{ALL_POWERFUL_ROLE}\n[[Role]]\nName = \"web-ops\"\nMembers = [\"webop\"]\nRunAs = \"svc-ops\"\n\
         [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"group:web\"]\nResources = [\"*\"]\n\
         Actions = [\"read\", \"change\", \"shell\"]\n"
    );
    let service = Service::start_layout(&Layout {
        hosts: 2,
        run_as: &admin,
        host_lines: &host_lines,
        roles: Some(&roles),
        managers: &[("webop", "Webop-Pass-4-Console!")],
        accounts: &[("svc-ops", &plain)],
        ..Layout::default()
    });
    let webop = service.session_of("webop", "Webop-Pass-4-Console!");
    let names = |session: &str| -> Vec<String> {
        let fleet = service.fleet_sampled(session);
        assert_eq!(fleet.status, 200, "{}", fleet.body);
        fleet.json()["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .filter(|h| h["reachable"] == true)
            .map(|h| h["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(names(&webop.0), ["host0"]);
    let manager = service.manager_session();
    assert_eq!(names(&manager.0), ["host0", "host1"]);
    let other = service.get_json(&webop.0, "/hosts/host1/services");
    assert_eq!(other.status, 403, "{}", other.body);
    // Audited on host1: the manager, who reads host1, sees it; webop, who does not, does not.
    assert!(terminal::audited(&service, &manager.0, "denied")
        .iter()
        .any(|d| d.starts_with("host1: read ") && d.contains("no rule allows it")));
    assert!(!terminal::audited(&service, &webop.0, "denied")
        .iter()
        .any(|d| d.starts_with("host1: ")));
    // The host sees the run-as account: it refuses that plain account the winrm/config tree
    // it shows the console's own (administrator) account; and the shell runs as its Linux user.
    let as_webop = service.get_json(&webop.0, "/hosts/host0/config");
    assert_eq!(as_webop.status, 502, "{}", as_webop.body);
    assert!(as_webop.body.contains("AccessDenied"), "{}", as_webop.body);
    let as_manager = service.get_json(&manager.0, "/hosts/host0/config");
    assert_eq!(as_manager.status, 200, "{}", as_manager.body);
    terminal::runtime().block_on(async {
        for ((session, csrf), expected) in [(&webop, &plain), (&manager, &admin)] {
            let mut ws = terminal::open_as(&service, "host0", session, csrf).await;
            let mut seen = String::new();
            terminal::type_text(&mut ws, "echo \"user=$(id -un)\"\r").await;
            let line = terminal::read_line_until(&mut ws, &mut seen, |l| {
                l.starts_with("user=") && !l.contains('$')
            })
            .await;
            assert_eq!(line, format!("user={expected}"));
        }
    });
    assert!(terminal::audited(&service, &webop.0, "terminal opened")
        .iter()
        .any(|d| d.starts_with("host0: pseudo-terminal") && d.contains("-u:svc-ops")));
    // And a terminal on a host outside the group is refused before any shell is opened.
    terminal::runtime().block_on(async {
        let origin = format!("https://127.0.0.1:{}", service.port);
        let refused = terminal::connect(
            &service,
            "host1",
            Some(&webop.0),
            Some(&origin),
            &format!("?csrf={}&rows=24&cols=80", webop.1),
        )
        .await
        .err();
        assert_eq!(refused, Some(403));
    });
}

#[test]
fn roles_by_linux_group_follow_the_groups_the_os_reports_at_login() {
    let Some((user, password)) = pam_user_as_root() else {
        return;
    };
    // The user's groups as the OS lists them: its primary group (`id -gn`), a supplementary
    // one, and a group it is not in (from the group database).
    let primary = String::from_utf8_lossy(
        &Command::new("id")
            .args(["-gn", &user])
            .output()
            .expect("id")
            .stdout,
    )
    .trim()
    .to_owned();
    let groups = os_groups(&user);
    let supplementary = groups
        .iter()
        .find(|g| **g != primary)
        .expect("the PAM test user has a supplementary group")
        .clone();
    let all_groups = String::from_utf8_lossy(
        &Command::new("getent")
            .arg("group")
            .output()
            .expect("getent")
            .stdout,
    )
    .to_string();
    let outside = all_groups
        .lines()
        .filter_map(|l| l.split(':').next())
        .find(|g| !groups.iter().any(|mine| mine == g))
        .expect("a group the user is not in")
        .to_owned();
    let role = |name: &str, group: &str, host: &str| {
        format!(
            "[[Role]]\nName = \"{name}\"\nMembers = [\"os-group:{group}\"]\n\
             [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"{host}\"]\nResources = [\"*\"]\n\
             Actions = [\"read\"]\n"
        )
    };
    let roles = format!(
        "{}{}{}",
        role("by-supplementary", &supplementary, "host0"),
        role("by-outside", &outside, "host1"),
        role("by-primary", &primary, "host2"),
    );
    let login_group = format!("Credentials = \"os\"\nOsLoginGroup = \"{supplementary}\"");
    let service = Service::start_layout(&Layout {
        hosts: 3,
        extra: &login_group,
        roles: Some(&roles),
        ..Layout::default()
    });
    let (reply, session) = service.login(&user, &password, None);
    assert_eq!(reply.status, 200, "{} {}", reply.body, service.log());
    let session = session.expect("session");
    let fleet = service.get_json(&session, "/fleet");
    assert_eq!(fleet.status, 200, "{}", fleet.body);
    let shown: Vec<String> = fleet.json()["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(shown, ["host0", "host2"], "{}", fleet.body);
    let refused = service.get_json(&session, "/hosts/host1");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("no rule allows it") || refused.body.contains("no role names"),
        "{}",
        refused.body
    );
}

#[test]
fn a_linked_password_file_is_neither_read_by_root_nor_sent() {
    if !nix_is_root() {
        eprintln!("skipped: the root start phase needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // A small root file of mode 0600, and a link to it where the serving user keeps the
    // passwords typed into the page (its own directory, as the service creates it).
    let secret = dir.path().join("root-secret");
    std::fs::write(&secret, "root-only-secret").expect("write");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let own = dir.path().join("mgmt-passwords");
    std::fs::create_dir(&own).expect("mkdir");
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    give_to_serving_user(&[&own]);
    std::os::unix::fs::symlink(&secret, own.join("host0")).expect("symlink");
    // The host's Url: a listener recording whatever reaches it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = wsman_test::free_port();
    let toml = format!(
        "EnableRemoteManagement = false\nPort = {port}\nBindAddresses = [\"*\"]\n\
         Certificate = \"auto\"\nCredentials = \"os\"\nUnspecifiedClients = \"Allow\"\n\
         AllowedClients = []\nDeniedClients = []\nRequestLog = \"journal\"\n\
         SessionIdleMinutes = 15\nSessionLifetimeHours = 8\n\n[[Host]]\nName = \"host0\"\n\
         Url = \"http://127.0.0.1:{}/wsman\"\nUsername = \"someone\"\nPasswordFile = \"{}\"\n\
         AllowUnencrypted = true\n",
        listener.local_addr().expect("addr").port(),
        own.join("host0").display()
    );
    std::fs::write(dir.path().join("mgmt.toml"), toml).expect("write mgmt.toml");
    let mut child = spawn_console(dir.path());
    let start = Instant::now();
    let exited = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = vec![0; 4096];
                let n = stream.read(&mut head).unwrap_or(0);
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the host's Url was contacted with the linked file:\n{}",
                    String::from_utf8_lossy(&head[..n])
                );
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => panic!("accept: {error}"),
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("neither refused nor connected: {}", console_log(dir.path()));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = console_log(dir.path());
    assert!(!exited.success(), "{log}");
    assert!(log.contains("not a regular file"), "{log}");
    assert!(!log.contains("root-only-secret"), "{log}");
}
