//! The management service as a browser or script meets it: the real `wsmand-mgmt` on a
//! loopback port with its generated certificate, two real `wsmand` daemons as its hosts,
//! curl as the client (tokio-tungstenite for the terminal's WebSocket). Every value checked
//! comes from the OS (`uname`, `/etc/os-release`, `/proc`) or from a process the test started,
//! never from the service itself.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wsman_test::{ConfigDir, Daemon, SERVICE_ACCOUNT, SERVICE_PASSWORD};

mod common;
use common::*;

fn assert_cookie_flags(line: &str) {
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            line.split("; ").any(|f| f == flag),
            "{flag} missing: {line}"
        );
    }
    assert!(
        !line.contains("Domain"),
        "a __Host- cookie has no Domain: {line}"
    );
}

fn os_release_pretty_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release").expect("/etc/os-release");
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("PRETTY_NAME")
}

#[test]
fn fleet_json_matches_what_the_os_reports() {
    let service = Service::start(2, "");
    let (session, _) = service.manager_session();
    let reply = service.get_json(&session, "/fleet");
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
    let page = service.curl(&[
        "-H",
        &format!("Cookie: __Host-wsmand-session={session}"),
        &service.url("/fleet"),
    ]);
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

#[test]
fn security_headers_and_cookie_flags() {
    let service = Service::start(0, "");
    let form = service.curl(&[&service.url("/login")]);
    assert_eq!(form.status, 200);
    assert_cookie_flags(
        form.set_cookie("__Host-wsmand-login")
            .expect("login cookie"),
    );
    let csp = form.header("content-security-policy").expect("CSP");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(form
        .header("strict-transport-security")
        .is_some_and(|v| v.contains("max-age=")));
    assert_eq!(form.header("x-frame-options"), Some("DENY"));
    assert_eq!(form.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(form.header("referrer-policy"), Some("no-referrer"));
    assert!(!form.body.contains("<script"), "no script at all");
    let (reply, session) = service.login(MANAGER, MANAGER_PASSWORD, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_cookie_flags(
        reply
            .set_cookie("__Host-wsmand-session")
            .expect("session cookie"),
    );
    let session = session.expect("session");
    assert_eq!(session.len(), 64, "256 bits as hex");
    let page = service.get_json(&session, "/fleet");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // No HTTP authentication scheme is offered or accepted on this port.
    let basic = service.curl(&[
        "-u",
        &format!("{MANAGER}:{MANAGER_PASSWORD}"),
        &service.url("/fleet"),
    ]);
    assert_eq!(basic.status, 400);
    assert!(basic.header("www-authenticate").is_none());
    assert!(form.header("www-authenticate").is_none());
    // Plain HTTP is not spoken.
    let plain = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            &format!("http://127.0.0.1:{}/login", service.port),
        ])
        .output()
        .expect("curl");
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("<form"));
    // Limits: a long path, a large body.
    let long = service.curl(&[&service.url(&format!("/{}", "a".repeat(2000)))]);
    assert_eq!(long.status, 414);
    let big = "x".repeat(10_000);
    let large = service.curl(&["--data", &format!("user={big}"), &service.url("/login")]);
    assert_eq!(large.status, 413);
}

#[test]
fn csrf_and_origin_are_checked_on_every_change() {
    let service = Service::start(1, "");
    let (session, csrf) = service.manager_session();
    let mut sleeper = Command::new("sleep").arg("300").spawn().expect("sleep");
    let path = format!("/hosts/host0/processes/{}/terminate", sleeper.id());
    let cookie = format!("Cookie: __Host-wsmand-session={session}");
    let origin = format!("Origin: https://127.0.0.1:{}", service.port);
    let post = |extra: &[&str]| {
        let mut args = vec![
            "-H",
            "Accept: application/json",
            "-H",
            &cookie,
            "-X",
            "POST",
        ];
        args.extend_from_slice(extra);
        let url = service.url(&path);
        args.push(&url);
        service.curl(&args)
    };
    assert_eq!(post(&["-H", &origin]).status, 403, "no CSRF token");
    assert_eq!(
        post(&["-H", &origin, "--data", "csrf=00"]).status,
        403,
        "wrong CSRF token"
    );
    let token = format!("csrf={csrf}");
    assert_eq!(
        post(&["-H", "Origin: https://evil.example", "--data", &token]).status,
        403,
        "foreign Origin"
    );
    // `Origin: null` (what browsers send under Referrer-Policy: no-referrer) only with the
    // browser's own Sec-Fetch-Site saying the post is same-origin.
    assert_eq!(
        post(&["-H", "Origin: null", "--data", &token]).status,
        403,
        "Origin null alone"
    );
    assert_eq!(
        post(&[
            "-H",
            "Origin: null",
            "-H",
            "Sec-Fetch-Site: cross-site",
            "--data",
            &token
        ])
        .status,
        403,
        "Origin null from another site"
    );
    assert!(
        sleeper.try_wait().expect("try_wait").is_none(),
        "refused changes changed nothing"
    );
    // The other actions' tests post with this service's Origin; this one as chromium does.
    let done = post(&[
        "-H",
        "Origin: null",
        "-H",
        "Sec-Fetch-Site: same-origin",
        "--data",
        &token,
    ]);
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.json()["return_value"], 0);
    assert!(done.json()["command"]
        .as_str()
        .is_some_and(|c| c.starts_with("winrm invoke Terminate")));
    let status = sleeper.wait().expect("wait");
    assert!(
        status.code().is_none() || status.code() != Some(0),
        "terminated: {status}"
    );
    let log = service.log();
    assert!(
        log.contains("missing or wrong CSRF token") && log.contains("cross-origin"),
        "{log}"
    );
}

#[test]
fn a_denied_address_is_refused_before_tls() {
    let service = Service::start(0, "DeniedClients = [\"127.0.0.2\"]");
    // A TLS record (the start of a ClientHello): a TLS server answers it with an alert.
    let hello = [0x16u8, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00];
    let exchange = |source: &str| -> usize {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        let from: SocketAddr = format!("{source}:0").parse().expect("addr");
        socket.bind(&from.into()).expect("bind source");
        let to: SocketAddr = format!("127.0.0.1:{}", service.port).parse().expect("addr");
        socket.connect(&to.into()).expect("connect");
        let mut stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let _ = stream.write_all(&hello);
        let mut buffer = [0u8; 64];
        stream.read(&mut buffer).unwrap_or(0)
    };
    assert!(exchange("127.0.0.1") > 0, "an allowed client reaches TLS");
    assert_eq!(exchange("127.0.0.2"), 0, "a denied client gets no TLS byte");
    let curl = Command::new("curl")
        .args([
            "-sS",
            "-k",
            "--interface",
            "127.0.0.2",
            "--max-time",
            "20",
            &service.url("/login"),
        ])
        .output()
        .expect("curl");
    assert!(!curl.status.success());
    let log = service.log();
    assert!(
        log.contains("connection refused before TLS") && log.contains("127.0.0.2"),
        "{log}"
    );
}

#[test]
fn unknown_user_and_wrong_password_get_the_same_answer() {
    let service = Service::start(0, "");
    let (wrong, s1) = service.login(MANAGER, "not-the-password", None);
    let (unknown, s2) = service.login("nobody-such-user", "not-the-password", None);
    assert_eq!((s1, s2), (None, None));
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, wrong.status);
    let without_token = |r: &Reply| {
        let mut v = r.json();
        v["login_token"] = serde_json::Value::Null;
        v
    };
    assert_eq!(without_token(&wrong), without_token(&unknown));
    let log = service.log();
    assert!(log.contains("login failed"), "{log}");
    assert!(
        !log.contains("not-the-password"),
        "a password reached the log"
    );
}

#[test]
fn login_rotates_the_session_and_logout_ends_it() {
    let service = Service::start(0, "");
    let (first, _) = service.manager_session();
    let (reply, second) = service.login(MANAGER, MANAGER_PASSWORD, Some(&first));
    assert_eq!(reply.status, 200);
    let second = second.expect("second session");
    assert_ne!(first, second, "a login gives a new id");
    assert_eq!(
        service.get_json(&first, "/fleet").status,
        401,
        "the old id is dead"
    );
    assert_eq!(service.get_json(&second, "/fleet").status, 200);
    // An id the client made up is never adopted.
    let forged = "ab".repeat(32);
    let (_, third) = service.login(MANAGER, MANAGER_PASSWORD, Some(&forged));
    assert_ne!(third.as_deref(), Some(forged.as_str()));
    assert_eq!(service.get_json(&forged, "/fleet").status, 401);
    let csrf = service.get_json(&second, "/fleet");
    assert_eq!(csrf.status, 200);
    let (session, token) = service.manager_session();
    let out = service.curl(&[
        "-H",
        "Accept: application/json",
        "-H",
        &format!("Cookie: __Host-wsmand-session={session}"),
        "--data",
        &format!("csrf={token}"),
        &service.url("/logout"),
    ]);
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(
        service.get_json(&session, "/fleet").status,
        401,
        "logged out"
    );
}

#[test]
fn failed_logins_back_off_per_user() {
    let service = Service::start(0, "");
    // Three failures are free; the fourth starts a wait, during which even the right
    // password is not checked.
    for _ in 0..4 {
        let (reply, _) = service.login(MANAGER, "wrong", None);
        assert_eq!(reply.status, 401);
    }
    let (reply, session) = service.login(MANAGER, MANAGER_PASSWORD, None);
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(reply.header("retry-after").is_some());
    assert!(session.is_none());
}

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

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
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

/// The groups `id -nG USER` names (the OS's answer, not the service's).
fn os_groups(user: &str) -> Vec<String> {
    let output = Command::new("id").args(["-nG", user]).output().expect("id");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn os_logins_go_through_the_privileged_pam_helper() {
    let (Ok(admin), Ok(admin_password), Ok(plain), Ok(plain_password)) = (
        std::env::var("WSMAN_TEST_PAM_USER"),
        std::env::var("WSMAN_TEST_PAM_PASSWORD"),
        std::env::var("WSMAN_TEST_PAM_PLAIN_USER"),
        std::env::var("WSMAN_TEST_PAM_PLAIN_PASSWORD"),
    ) else {
        eprintln!("skipped: set WSMAN_TEST_PAM_USER/_PASSWORD and _PLAIN_USER/_PASSWORD");
        return;
    };
    if !nix_is_root() {
        eprintln!("skipped: the PAM helper keeps root only when the service starts as root");
        return;
    }
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

/// Our `winrm` CLI against daemon `index` of `service`, as the console reaches it.
fn winrm_cli(service: &Service, index: usize, args: &[&str]) -> wsman_test::process::Finished {
    let client = ConfigDir::new();
    client.write();
    let port = service.daemons[index].2;
    let mut command = Command::new(wsman_test::binaries::winrm());
    command
        .args(args)
        .args([
            &format!("-r:http://127.0.0.1:{port}/wsman"),
            &format!("-u:{SERVICE_ACCOUNT}"),
            &format!("-p:{SERVICE_PASSWORD}"),
            "-a:Basic",
            "-unencrypted",
        ])
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
    let page = service.curl(&[
        "-H",
        &format!("Cookie: __Host-wsmand-session={session}"),
        &service.url("/hosts/host0/config"),
    ]);
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
    let page = service.curl(&[
        "-H",
        &format!("Cookie: __Host-wsmand-session={session}"),
        &service.url("/hosts/host0/events"),
    ]);
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
    let cookie = format!("Cookie: __Host-wsmand-session={session}");
    let origin = format!("Origin: https://127.0.0.1:{}", service.port);
    let token = format!("csrf={csrf}");
    let unit = "wsmand-console-no-such.service";
    for (action, method, parameters) in [
        ("restart", "StopService", "@{}"),
        ("disable", "ChangeStartMode", "@{StartMode=\"Disabled\"}"),
        ("enable", "ChangeStartMode", "@{StartMode=\"Automatic\"}"),
    ] {
        let reply = service.curl(&[
            "-H",
            "Accept: application/json",
            "-H",
            &cookie,
            "-H",
            &origin,
            "--data",
            &token,
            &service.url(&format!("/hosts/host0/services/{unit}/{action}")),
        ]);
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

/// `text` without the terminal colour sequences (`ESC [ ... m`) of the log.
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
    let (Ok(admin), Ok(admin_password)) = (
        std::env::var("WSMAN_TEST_PAM_USER"),
        std::env::var("WSMAN_TEST_PAM_PASSWORD"),
    ) else {
        eprintln!("skipped: set WSMAN_TEST_PAM_USER and WSMAN_TEST_PAM_PASSWORD");
        return;
    };
    if !nix_is_root() {
        eprintln!("skipped: only root's helper can check another user's password");
        return;
    }
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

/// How long a terminal's socket may take to be closed by the service.
const WAIT_CLOSE: Duration = Duration::from_secs(30);

/// The terminal page's WebSocket, from a real WebSocket client (tokio-tungstenite) over TLS
/// that trusts the service's generated certificate.
mod terminal {
    use super::*;
    use futures_util::{SinkExt as _, StreamExt as _};
    use std::sync::Arc;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::{Error as WsError, Message};

    pub(crate) type Ws =
        tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

    /// How long output or a process's end may take to show (a busy test machine).
    const WAIT: Duration = Duration::from_secs(30);

    pub(crate) fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// Opens `/hosts/HOST/terminal/ws?QUERY` with the given cookie and Origin; the refusal's
    /// HTTP status as the error.
    pub(crate) async fn connect(
        service: &Service,
        host: &str,
        session: Option<&str>,
        origin: Option<&str>,
        query: &str,
    ) -> Result<Ws, u16> {
        connect_path(
            service,
            &format!("/hosts/{host}/terminal/ws{query}"),
            session,
            origin,
        )
        .await
    }

    /// Opens the WebSocket at `path` (with its query) with the given cookie and Origin; the
    /// refusal's HTTP status as the error.
    pub(crate) async fn connect_path(
        service: &Service,
        path: &str,
        session: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Ws, u16> {
        let url = format!("wss://127.0.0.1:{}{path}", service.port);
        let mut request = url.into_client_request().expect("request");
        if let Some(session) = session {
            request.headers_mut().insert(
                "cookie",
                format!("__Host-wsmand-session={session}")
                    .parse()
                    .expect("cookie header"),
            );
        }
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().expect("origin header"));
        }
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(service.dir.path().join("mgmt-certs/auto.crt")).expect("cert");
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots
                .add(cert.expect("PEM"))
                .expect("trust the service's certificate");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", service.port))
            .await
            .expect("connect");
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("TLS");
        match tokio_tungstenite::client_async(request, tls).await {
            Ok((ws, response)) => {
                assert_eq!(response.status().as_u16(), 101);
                Ok(ws)
            }
            Err(WsError::Http(response)) => Err(response.status().as_u16()),
            Err(error) => panic!("upgrade failed: {error}"),
        }
    }

    /// A logged-in terminal on `host`: (socket, session, csrf).
    pub(crate) async fn open(service: &Service, host: &str) -> (Ws, String, String) {
        let (session, csrf) = service.manager_session();
        let ws = open_as(service, host, &session, &csrf).await;
        (ws, session, csrf)
    }

    /// A terminal on `host` for an existing session.
    pub(crate) async fn open_as(service: &Service, host: &str, session: &str, csrf: &str) -> Ws {
        let origin = format!("https://127.0.0.1:{}", service.port);
        connect(
            service,
            host,
            Some(session),
            Some(&origin),
            &format!("?csrf={csrf}&rows=24&cols=80"),
        )
        .await
        .unwrap_or_else(|status| panic!("refused with {status}: {}", service.log()))
    }

    /// Types `text` (one binary frame).
    pub(crate) async fn type_text(ws: &mut Ws, text: &str) {
        ws.send(Message::Binary(text.as_bytes().to_vec().into()))
            .await
            .expect("send");
    }

    /// Reads output until a line satisfies `wanted`; returns that line. `seen` keeps the
    /// unfinished last line between calls (each line is looked at once: output can be large).
    pub(crate) async fn read_line_until(
        ws: &mut Ws,
        seen: &mut String,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + WAIT;
        let mut lines_seen = 0usize;
        loop {
            // Complete lines (and the unfinished one: a prompt has no line end).
            let end = seen.rfind(['\r', '\n']).map_or(0, |at| at + 1);
            if let Some(line) = seen.split(['\r', '\n']).map(str::trim).find(|l| wanted(l)) {
                let line = line.to_owned();
                seen.clear();
                return line;
            }
            lines_seen += seen[..end].matches(['\r', '\n']).count();
            seen.drain(..end);
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, ws.next()).await {
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    seen.push_str(&String::from_utf8_lossy(&bytes))
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("no such line in {lines_seen} lines and {seen:?}: {other:?}"),
            }
        }
    }

    /// The pids of processes whose command line is exactly `command` (pgrep, from /proc).
    pub(crate) fn pids_of(command: &str) -> Vec<u32> {
        let output = Command::new("pgrep")
            .args(["-f", "-x", command])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Waits until `pids_of(command)` is non-empty (`true`) or empty (`false`).
    pub(crate) fn wait_for_process(command: &str, present: bool) -> Vec<u32> {
        let deadline = Instant::now() + WAIT;
        loop {
            let pids = pids_of(command);
            if pids.is_empty() != present {
                return pids;
            }
            assert!(
                Instant::now() < deadline,
                "{command}: still {}",
                if present { "absent" } else { "running" }
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The close frame's code, after any output or text frames.
    pub(crate) async fn close_code(ws: &mut Ws, within: Duration) -> Option<CloseCode> {
        loop {
            match tokio::time::timeout(within, ws.next())
                .await
                .expect("closed in time")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The audit records whose event is `event`, as `detail` strings.
    pub(crate) fn audited(service: &Service, session: &str, event: &str) -> Vec<String> {
        let audit = service.get_json(session, "/audit");
        assert_eq!(audit.status, 200, "{}", audit.body);
        audit.json()["audit"]
            .as_array()
            .expect("audit")
            .iter()
            .filter(|r| r["event"] == event)
            .map(|r| r["detail"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

#[test]
fn the_terminal_runs_a_login_shell_on_a_pseudo_terminal() {
    use futures_util::SinkExt as _;
    let service = Service::for_terminals("");
    let marker = format!("sleep 7{}1", service.port);
    terminal::runtime().block_on(async {
        let (mut ws, session, csrf) = terminal::open(&service, "host0").await;
        // The upgrade is in the request log, without its query (the CSRF token).
        let log = without_colours(&service.log());
        assert!(log.contains("path=/hosts/host0/terminal/ws "), "{log}");
        assert!(!log.contains(&csrf), "{log}");
        let mut seen = String::new();
        // The shell computes what was typed: 42 is in no byte sent.
        terminal::type_text(&mut ws, "echo $((6*7))\r").await;
        terminal::read_line_until(&mut ws, &mut seen, |l| l == "42").await;
        terminal::type_text(&mut ws, "tty\r").await;
        let tty = terminal::read_line_until(&mut ws, &mut seen, |l| {
            l.strip_prefix("/dev/pts/")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .await;
        // The OS agrees: a command started at that prompt has the terminal as its stdin.
        terminal::type_text(&mut ws, &format!("{marker}\r")).await;
        let pids = terminal::wait_for_process(&marker, true);
        let stdin = std::fs::read_link(format!("/proc/{}/fd/0", pids[0])).expect("fd 0");
        assert_eq!(stdin, std::path::PathBuf::from(&tty));
        // Ctrl+C reaches the foreground job through the terminal's line discipline.
        terminal::type_text(&mut ws, "\u{3}").await;
        terminal::wait_for_process(&marker, false);
        // A resize is what the terminal reports afterwards.
        ws.send(tokio_tungstenite::tungstenite::Message::Text(
            r#"{"resize":[33,101]}"#.into(),
        ))
        .await
        .expect("resize");
        terminal::type_text(&mut ws, "stty size\r").await;
        terminal::read_line_until(&mut ws, &mut seen, |l| l == "33 101").await;
        let opened = terminal::audited(&service, &session, "terminal opened");
        assert!(
            opened
                .iter()
                .any(|d| d.starts_with("host0: pseudo-terminal")),
            "{opened:?}"
        );
    });
}

/// One of the console's WebSockets, for the checks every upgrade passes.
struct SocketEndpoint {
    /// How its refusals are audited (`terminal host0: ...`).
    name: &'static str,
    /// Its path below `/hosts/HOST/`.
    path: &'static str,
    /// Query parameters after the CSRF token that its own parser refuses (400).
    bad_query: &'static str,
    /// The audit event of an opened one.
    opened: &'static str,
    /// What the host logs once per shell or subscription the console opens there.
    host_logs: &'static str,
    /// How the reader's refusal names the rule that decided it.
    denied_by: &'static str,
}

const TERMINAL_SOCKET: SocketEndpoint = SocketEndpoint {
    name: "terminal",
    path: "terminal/ws",
    bad_query: "&rows=0&cols=80",
    opened: "terminal opened",
    host_logs: "shell created",
    denied_by: "by default (no rule allows it)",
};

const EVENTS_SOCKET: SocketEndpoint = SocketEndpoint {
    name: "event stream",
    path: "events/ws",
    bad_query: "&logs=Setup",
    opened: "event stream opened",
    host_logs: "event subscription created",
    denied_by: "by role readers rule 2 (Deny read",
};

/// The reader's role: every page, but neither a shell (no rule allows it) nor the EventLog
/// resource (denied by its rule 2).
const READER_ROLE: &str = "[[Role]]\nName = \"readers\"\nMembers = [\"reader\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
    Actions = [\"read\"]\n\
    [[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"*\"]\n\
    Resources = [\"http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog\"]\n\
    Actions = [\"read\"]\n";
const READER_PASSWORD: &str = "Reader-Pass-4-Console!";

/// A console with one more host than a session may hold sockets of, a manager who may do
/// everything and a reader who may open neither socket; the hosts' account runs as the PAM
/// test user (see [`Service::for_terminals`]).
fn upgrade_checks_service() -> Service {
    let user = std::env::var("WSMAN_TEST_PAM_USER").unwrap_or_else(|_| "wsmantest".into());
    let roles = format!("{ALL_POWERFUL_ROLE}\n{READER_ROLE}");
    Service::start_layout(&Layout {
        hosts: wsmand_mgmt::terminal::MAX_TERMINALS_PER_SESSION + 1,
        run_as: &user,
        roles: Some(&roles),
        managers: &[("reader", READER_PASSWORD)],
        ..Layout::default()
    })
}

/// Every refusal of `endpoint`'s upgrade, each answered with its status, audited, and none
/// opening anything on a host: no session (401), a foreign or missing Origin, a missing or
/// wrong CSRF token (403), a query its parser refuses (400), no WebSocket handshake (400),
/// another WebSocket version (426, naming 13), a role that may not (403, audited `denied`
/// with the rule), a host not configured (404), a second socket on one host (409) and one
/// more host than a session may hold (429). Returns the manager's session.
fn assert_every_upgrade_check(service: &Service, endpoint: &SocketEndpoint) -> String {
    let (session, csrf) = service.manager_session();
    let (reader, reader_csrf) = service.session_of("reader", READER_PASSWORD);
    let origin = format!("https://127.0.0.1:{}", service.port);
    let path = |host: &str, query: &str| format!("/hosts/{host}/{}{query}", endpoint.path);
    let good = format!("?csrf={csrf}");
    let bad_query = format!("{good}{}", endpoint.bad_query);
    let reader_query = format!("?csrf={reader_csrf}");
    let hosts = service.daemons.len();
    terminal::runtime().block_on(async {
        let attempts: [(Option<&str>, Option<&str>, String, u16); 8] = [
            (None, Some(&origin), path("host0", &good), 401),
            (
                Some(&session),
                Some("https://evil.example"),
                path("host0", &good),
                403,
            ),
            (Some(&session), None, path("host0", &good), 403),
            (Some(&session), Some(&origin), path("host0", ""), 403),
            (
                Some(&session),
                Some(&origin),
                path("host0", "?csrf=00ff"),
                403,
            ),
            (
                Some(&session),
                Some(&origin),
                path("host0", &bad_query),
                400,
            ),
            (
                Some(&reader),
                Some(&origin),
                path("host0", &reader_query),
                403,
            ),
            (Some(&session), Some(&origin), path("nohost", &good), 404),
        ];
        for (cookie, origin, path, status) in attempts {
            let result = terminal::connect_path(service, &path, cookie, origin).await;
            assert_eq!(
                result.err(),
                Some(status),
                "cookie {cookie:?} origin {origin:?} path {path:?}"
            );
        }
    });
    // Requests that are no WebSocket handshake, or another version of it, as curl sends them.
    let session_headers = [
        format!("Cookie: __Host-wsmand-session={session}"),
        format!("Origin: {origin}"),
    ];
    let plain = service.curl(&[
        "--http1.1",
        "-H",
        &session_headers[0],
        "-H",
        &session_headers[1],
        &service.url(&path("host0", &good)),
    ]);
    assert_eq!(plain.status, 400, "{}", plain.body);
    let version_8 = service.curl(&[
        "--http1.1",
        "-H",
        &session_headers[0],
        "-H",
        &session_headers[1],
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "-H",
        "Sec-WebSocket-Version: 8",
        &service.url(&path("host0", &good)),
    ]);
    assert_eq!(version_8.status, 426, "{}", version_8.body);
    assert_eq!(version_8.header("sec-websocket-version"), Some("13"));
    // The slots: one per host, and no more hosts than a session may hold.
    terminal::runtime().block_on(async {
        let mut open = Vec::new();
        for index in 0..hosts - 1 {
            let ws = terminal::connect_path(
                service,
                &path(&format!("host{index}"), &good),
                Some(&session),
                Some(&origin),
            )
            .await
            .unwrap_or_else(|status| panic!("host{index}: refused with {status}"));
            open.push(ws);
        }
        for (host, status) in [
            ("host0".to_owned(), 409),
            (format!("host{}", hosts - 1), 429),
        ] {
            let result =
                terminal::connect_path(service, &path(&host, &good), Some(&session), Some(&origin))
                    .await;
            assert_eq!(result.err(), Some(status), "{host}");
        }
        drop(open);
    });
    let refused = terminal::audited(service, &session, "refused");
    let own: Vec<&String> = refused
        .iter()
        .filter(|d| d.starts_with(endpoint.name))
        .collect();
    // All but the reader's and the unknown host's; those two are `denied` and unaudited.
    assert_eq!(own.len(), 10, "{refused:?}");
    for why in [
        "no session",
        "cross-origin or missing Origin",
        "missing or wrong CSRF token",
        "query: ",
        "not a WebSocket upgrade",
        "WebSocket version 13 only",
        "already has",
        "too many",
    ] {
        assert!(own.iter().any(|d| d.contains(why)), "{why}: {refused:?}");
    }
    let denied = terminal::audited(service, &session, "denied");
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert!(
        denied[0].starts_with("host0: ") && denied[0].contains(endpoint.denied_by),
        "{denied:?}"
    );
    // Opened only the allowed ones: the console says so, and so does each host.
    assert_eq!(
        terminal::audited(service, &session, endpoint.opened).len(),
        hosts - 1
    );
    for (index, (_, daemon, _)) in service.daemons.iter().enumerate() {
        let made = daemon.stderr().matches(endpoint.host_logs).count();
        assert_eq!(made, usize::from(index + 1 < hosts), "host{index}");
    }
    session
}

#[test]
fn terminal_upgrades_are_refused_by_every_check_and_audited() {
    let service = upgrade_checks_service();
    let session = assert_every_upgrade_check(&service, &TERMINAL_SOCKET);
    // The page loads its script and stylesheet from the service, as built into the binary
    // from the files in the source tree.
    let page = service.curl(&[
        "-H",
        &format!("Cookie: __Host-wsmand-session={session}"),
        &service.url("/hosts/host0/terminal"),
    ]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"<script src="/assets/terminal.js">"#));
    let policy = page.header("content-security-policy").expect("CSP");
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    for (name, content_type) in [
        ("terminal.js", "text/javascript; charset=utf-8"),
        ("terminal.css", "text/css; charset=utf-8"),
    ] {
        let file = std::fs::read_to_string(assets.join(name)).expect("asset");
        let reply = service.curl(&[&service.url(&format!("/assets/{name}"))]);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some(content_type));
        assert_eq!(reply.header("cache-control"), Some("public, max-age=3600"));
        assert_eq!(reply.body, file, "{name}");
    }
}

#[test]
fn closing_the_socket_or_logging_out_ends_the_shell() {
    let service = Service::for_terminals("");
    let first = format!("sleep 7{}2", service.port);
    let second = format!("sleep 7{}3", service.port);
    terminal::runtime().block_on(async {
        // The browser closes the socket: the shell and its processes end.
        let (mut ws, session, csrf) = terminal::open(&service, "host0").await;
        terminal::type_text(&mut ws, &format!("{first}\r")).await;
        terminal::wait_for_process(&first, true);
        ws.close(None).await.expect("close");
        drop(ws);
        terminal::wait_for_process(&first, false);
        // Logout: the session's shell ends and its socket is closed as a policy end.
        let origin = format!("https://127.0.0.1:{}", service.port);
        let mut ws = loop {
            match terminal::connect(
                &service,
                "host0",
                Some(&session),
                Some(&origin),
                &format!("?csrf={csrf}"),
            )
            .await
            {
                Ok(ws) => break ws,
                // The closed terminal's slot is freed once its shell is deleted.
                Err(409) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(status) => panic!("refused with {status}"),
            }
        };
        terminal::type_text(&mut ws, &format!("{second}\r")).await;
        terminal::wait_for_process(&second, true);
        let out = service.curl(&[
            "-H",
            "Accept: application/json",
            "-H",
            &format!("Cookie: __Host-wsmand-session={session}"),
            "--data",
            &format!("csrf={csrf}"),
            &service.url("/logout"),
        ]);
        assert_eq!(out.status, 200, "{}", out.body);
        assert_eq!(
            terminal::close_code(&mut ws, WAIT_CLOSE).await,
            Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Policy)
        );
        terminal::wait_for_process(&second, false);
    });
    let (admin, _) = service.manager_session();
    let closed = terminal::audited(&service, &admin, "terminal closed");
    assert!(
        closed
            .iter()
            .any(|d| d.contains("the browser closed the socket")),
        "{closed:?}"
    );
    assert!(closed.iter().any(|d| d.contains("logout")), "{closed:?}");
}

#[test]
fn an_oversized_frame_closes_the_terminal_with_1009_and_a_log_line() {
    use futures_util::SinkExt as _;
    let service = Service::for_terminals("");
    terminal::runtime().block_on(async {
        let (mut ws, _, _) = terminal::open(&service, "host0").await;
        let frame = vec![b'x'; wsmand_mgmt::terminal_proto::MAX_INPUT_FRAME + 1];
        ws.send(tokio_tungstenite::tungstenite::Message::Binary(
            frame.into(),
        ))
        .await
        .expect("send");
        // RFC 6455's 1009: "a message that is too big for it to process".
        assert_eq!(
            terminal::close_code(&mut ws, WAIT_CLOSE).await,
            Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::from(1009))
        );
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !service.log().contains("terminal socket closed with 1009") {
        assert!(Instant::now() < deadline, "{}", service.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The console process's resident set in KiB, from the OS (`/proc/PID/status`).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// The benchmark of `benches/console-terminal.sh` (ignored: figures, no assertion on time):
/// (a) the console's RSS idle and with 20 open terminals; (b) the time to print
/// BENCH_TERMINAL_MB MiB through the console's terminal against the same command on the same
/// kind of pseudo-terminal read directly with wsman-client (the baseline, same run).
#[test]
#[ignore = "benchmark: run by benches/console-terminal.sh"]
fn bench_console_terminal() {
    let megabytes: usize = std::env::var("BENCH_TERMINAL_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let service = Service::start(1, "");
    let pid = service.child.id();
    let daemon_port = service.daemons[0].2;
    // Settle, then the idle figure.
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss_kib(pid);
    let command = format!(
        "head -c {} /dev/zero | base64 -w 76; echo END$((40+2))",
        megabytes << 20
    );
    // 20 sessions (a terminal per session and host), logged in before any terminal opens so
    // that what the logins cost (argon2id) and what the terminals cost are told apart.
    let sessions: Vec<(String, String)> = (0..20).map(|_| service.manager_session()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let logged_in = rss_kib(pid);
    terminal::runtime().block_on(async {
        let mut terminals = Vec::new();
        for (session, csrf) in &sessions {
            let mut ws = terminal::open_as(&service, "host0", session, csrf).await;
            let mut seen = String::new();
            terminal::type_text(&mut ws, "echo READY$((1+1))\r").await;
            terminal::read_line_until(&mut ws, &mut seen, |l| l == "READY2").await;
            terminals.push(ws);
        }
        let open20 = rss_kib(pid);
        println!(
            "BENCH rss_idle_kib={idle} rss_20_sessions_kib={logged_in} rss_20_terminals_kib={open20} \
             ratio={:.2} per_login_kib={} per_terminal_kib={}",
            open20 as f64 / idle as f64,
            logged_in.saturating_sub(idle) / 20,
            open20.saturating_sub(logged_in) / 20
        );
        for mut ws in terminals.drain(..) {
            let _ = ws.close(None).await;
        }
        // (b) through the console.
        let (mut ws, _, _) = terminal::open(&service, "host0").await;
        let mut seen = String::new();
        let started = Instant::now();
        terminal::type_text(&mut ws, &format!("{command}\r")).await;
        terminal::read_line_until(&mut ws, &mut seen, |l| l == "END42").await;
        let console = started.elapsed();
        // The baseline: the same command on a pseudo-terminal, read with wsman-client.
        let mut options = wsman_client::ClientOptions::default();
        options.auth = wsman_client::Auth::Basic(wsman_client::Credentials::new(
            SERVICE_ACCOUNT,
            SERVICE_PASSWORD,
        ));
        options.allow_unencrypted = true;
        let endpoint = wsman_client::Endpoint::parse(
            &format!("http://127.0.0.1:{daemon_port}/wsman"),
            false,
        )
        .expect("endpoint");
        let client = wsman_client::Client::new(endpoint, options).expect("client");
        let mut shell_options = wsman_client::shell::ShellOptions::default();
        shell_options.terminal = Some(wsman_client::shell::Terminal::new(
            "xterm-256color",
            24,
            80,
        ));
        let shell = wsman_client::shell::Shell::open(&client, &shell_options)
            .await
            .expect("shell");
        let started = Instant::now();
        let run = shell
            .run(
                &command,
                &[],
                &wsman_client::shell::CommandOptions::default(),
            )
            .await
            .expect("command");
        let output = run.collect().await.expect("output");
        let direct = started.elapsed();
        assert!(String::from_utf8_lossy(&output.stdout).contains("END42"));
        let _ = shell.close().await;
        println!(
            "BENCH output_mib={megabytes} console_s={:.3} direct_s={:.3} ratio={:.2}",
            console.as_secs_f64(),
            direct.as_secs_f64(),
            console.as_secs_f64() / direct.as_secs_f64()
        );
    });
}

#[test]
fn an_idle_session_expiring_ends_its_terminal() {
    // The shortest idle timeout the settings allow; the terminal is opened and then left alone.
    let service = Service::for_terminals("SessionIdleMinutes = 1");
    let marker = format!("sleep 7{}4", service.port);
    terminal::runtime().block_on(async {
        let (mut ws, session, _) = terminal::open(&service, "host0").await;
        terminal::type_text(&mut ws, &format!("{marker}\r")).await;
        terminal::wait_for_process(&marker, true);
        // The socket is closed as a policy end once the session has expired ...
        let code = terminal::close_code(&mut ws, Duration::from_secs(150)).await;
        assert_eq!(
            code,
            Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Policy)
        );
        // ... and the shell's processes are gone.
        terminal::wait_for_process(&marker, false);
        assert_eq!(service.get_json(&session, "/fleet").status, 401);
    });
    let (admin, _) = service.manager_session();
    let closed = terminal::audited(&service, &admin, "terminal closed");
    assert!(
        closed.iter().any(|d| d.contains("the session expired")),
        "{closed:?}"
    );
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
fn a_role_sees_only_its_group_and_runs_as_its_account_on_the_host() {
    let (Ok(admin), Ok(plain)) = (
        std::env::var("WSMAN_TEST_PAM_USER"),
        std::env::var("WSMAN_TEST_PAM_PLAIN_USER"),
    ) else {
        eprintln!("skipped: set WSMAN_TEST_PAM_USER and WSMAN_TEST_PAM_PLAIN_USER");
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
        let fleet = service.get_json(session, "/fleet");
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
fn requests_are_logged_to_a_daily_w3c_file_without_queries_or_secrets() {
    // Created by the service; its parent must let the serving user through.
    let parent = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let logs = parent.path().join("request-logs");
    let service = Service::start(1, &format!("RequestLogDirectory = \"{}\"", logs.display()));
    let (session, csrf) = service.manager_session();
    assert_eq!(service.get_json(&session, "/fleet").status, 200);
    // A query with a secret-looking value, and a refused terminal upgrade with its token.
    let with_query = service.curl(&[
        "-H",
        &format!("Cookie: __Host-wsmand-session={session}"),
        "-A",
        "probe agent/1.0",
        &service.url(&format!("/audit?token={csrf}")),
    ]);
    assert_eq!(with_query.status, 200);
    // The day comes from the OS's clock, in UTC as the file names are.
    let day = Command::new("date")
        .args(["-u", "+%Y%m%d"])
        .output()
        .expect("date");
    let day = String::from_utf8_lossy(&day.stdout).trim().to_owned();
    let file = logs.join(format!("wsmand-mgmt-{day}.log"));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}; {}", file.display(), service.log()));
    assert!(text.starts_with("#Software: wsmand-mgmt "), "{text}");
    assert!(
        text.contains("\n#Fields: date time c-ip cs-username"),
        "{text}"
    );
    let lines: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(' ').collect())
        .collect();
    assert!(lines.iter().all(|f| f.len() == 9), "{text}");
    // The login (POST /login, no user yet), the fleet and the audit page as this user.
    assert!(lines
        .iter()
        .any(|f| f[2] == "127.0.0.1" && f[4] == "POST" && f[5] == "/login" && f[6] == "200"));
    assert!(lines
        .iter()
        .any(|f| f[3] == MANAGER && f[4] == "GET" && f[5] == "/fleet" && f[6] == "200"));
    assert!(lines
        .iter()
        .any(|f| f[5] == "/audit" && f[8] == "probe+agent/1.0"));
    assert!(!text.contains(&csrf), "a token reached the request log");
    assert!(
        !text.contains(&session),
        "a session id reached the request log"
    );
    assert!(
        !text.contains(MANAGER_PASSWORD),
        "a password reached the request log"
    );
    assert!(!text.contains('?'), "a query reached the request log");
    // The serving user owns the directory it writes to.
    use std::os::unix::fs::MetadataExt as _;
    let owner = std::fs::metadata(&logs).expect("log dir").uid();
    let service_uid = std::fs::read_to_string(format!("/proc/{}/status", service.child.id()))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .expect("Uid");
    assert_eq!(owner.to_string(), service_uid);
}

/// Lines this test adds to `/etc/hosts`, removed (only these) when dropped.
struct HostsEntries(String);

impl HostsEntries {
    fn add(lines: &str) -> Self {
        let marker = format!("# wsmand-mgmt domain test {}", std::process::id());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open("/etc/hosts")
            .expect("open /etc/hosts");
        for line in lines.lines() {
            writeln!(file, "{line} {marker}").expect("append to /etc/hosts");
        }
        Self(marker)
    }
}

impl Drop for HostsEntries {
    fn drop(&mut self) {
        if let Ok(text) = std::fs::read_to_string("/etc/hosts") {
            let kept: String = text
                .lines()
                .filter(|l| !l.ends_with(&self.0))
                .map(|l| format!("{l}\n"))
                .collect();
            let _ = std::fs::write("/etc/hosts", kept);
        }
    }
}

/// Whether a TLS handshake from `source` to the service completes (curl bound to `source`).
fn tls_from(service: &Service, source: &str) -> bool {
    Command::new("curl")
        .args([
            "-sS",
            "-k",
            "-o",
            "/dev/null",
            "--max-time",
            "20",
            "--interface",
            source,
        ])
        .arg(service.url("/login"))
        .status()
        .expect("curl")
        .success()
}

#[test]
fn domain_restrictions_use_forward_confirmed_names_before_tls() {
    if !nix_is_root() {
        eprintln!("skipped: adding /etc/hosts entries needs root");
        return;
    }
    let tag = std::process::id();
    let allowed = format!("c5.allowed-{tag}.test");
    let denied = format!("c6.denied-{tag}.test");
    let _entries = HostsEntries::add(&format!("127.0.0.5 {allowed}\n127.0.0.6 {denied}"));
    // The names as the system's resolver has them (an independent check of the set-up).
    for (ip, name) in [("127.0.0.5", &allowed), ("127.0.0.6", &denied)] {
        let out = Command::new("getent")
            .args(["hosts", ip])
            .output()
            .expect("getent");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(name.as_str()),
            "{ip}"
        );
    }
    let service = Service::start(
        1,
        &format!(
            "UnspecifiedClients = \"Deny\"\nAllowedDomains = [\"allowed-{tag}.test\"]\n\
             DeniedDomains = [\"denied-{tag}.test\"]"
        ),
    );
    assert!(tls_from(&service, "127.0.0.5"), "{}", service.log());
    assert!(
        !tls_from(&service, "127.0.0.6"),
        "the denied domain got through"
    );
    assert!(
        !tls_from(&service, "127.0.0.7"),
        "a client without a name got through"
    );
    let log = without_colours(&service.log());
    assert!(
        log.contains(&format!(
            "client=127.0.0.5 name=\"{allowed}\" rule=\"AllowedDomains allowed-{tag}.test ({allowed})\""
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "by rule DeniedDomains denied-{tag}.test ({denied})"
        )),
        "{log}"
    );
    assert!(
        log.contains("by rule UnspecifiedClients Deny (no forward-confirmed name)"),
        "{log}"
    );
}

/// The events page's live stream, from a real WebSocket client.
mod live_events {
    use super::*;
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;

    /// How long an entry may take to arrive (journald, the host's pull, the relay).
    pub(crate) const WAIT: Duration = Duration::from_secs(30);

    /// Opens the stream of `host` for a session (`query` after `csrf=`).
    pub(crate) async fn open(
        service: &Service,
        host: &str,
        session: &str,
        csrf: &str,
        logs: &str,
    ) -> Result<terminal::Ws, u16> {
        let origin = format!("https://127.0.0.1:{}", service.port);
        terminal::connect_path(
            service,
            &format!("/hosts/{host}/events/ws?csrf={csrf}{logs}"),
            Some(session),
            Some(&origin),
        )
        .await
    }

    /// Reads event frames until one's message is `message`; returns that event.
    pub(crate) async fn event_with_message(
        ws: &mut terminal::Ws,
        message: &str,
    ) -> serde_json::Value {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let frame: serde_json::Value =
                        serde_json::from_str(text.as_str()).expect("a JSON frame");
                    if frame["event"]["message"] == message {
                        return frame["event"].clone();
                    }
                    seen.push(frame);
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("{message:?} never came; saw {seen:?}, then {other:?}"),
            }
        }
    }

    /// The journal's record number of the entry whose message is `message`, as journalctl
    /// of the booted system reads it: `__SEQNUM`, else the cursor's `i=` (hex).
    pub(crate) fn record_number(
        systemd: &wsman_test::systemd::BootedSystemd,
        message: &str,
    ) -> u64 {
        let output = systemd.journal_until(&["-o", "json", &format!("MESSAGE={message}")], |o| {
            o.contains(message)
        });
        let entry: serde_json::Value = serde_json::from_str(
            output
                .lines()
                .find(|l| l.contains(message))
                .expect("the entry"),
        )
        .expect("journalctl's JSON");
        if let Some(seqnum) = entry["__SEQNUM"].as_str() {
            return seqnum.parse().expect("a number");
        }
        let cursor = entry["__CURSOR"].as_str().expect("a cursor");
        let index = cursor
            .split(';')
            .find_map(|part| part.strip_prefix("i="))
            .expect("i= in the cursor");
        u64::from_str_radix(index, 16).expect("hex")
    }

    /// The id of the newest subscription the daemon logged as created.
    pub(crate) fn newest_subscription(daemon: &Daemon) -> Option<String> {
        daemon
            .stderr()
            .lines()
            .rev()
            .filter(|l| l.contains("event subscription created"))
            .find_map(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("subscription="))
                    .map(str::to_owned)
            })
    }

    /// Waits until the daemon logs that subscription `id` ended (an Unsubscribe).
    pub(crate) fn wait_for_unsubscribe(daemon: &Daemon, id: &str) {
        let deadline = Instant::now() + WAIT;
        while !daemon.stderr().lines().any(|l| {
            l.contains("event subscription ended") && l.contains(&format!("subscription={id}"))
        }) {
            assert!(
                Instant::now() < deadline,
                "subscription {id} never ended: {}",
                daemon.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn the_events_page_streams_new_journal_entries_and_unsubscribes_when_closed() {
    let Some(systemd) = wsman_test::systemd::BootedSystemd::boot() else {
        return;
    };
    let directory = systemd
        .root()
        .join("var/log/journal")
        .to_str()
        .expect("UTF-8")
        .to_owned();
    let env = [("WSMAND_JOURNAL_DIRECTORY", directory.as_str())];
    let service = Service::start_with(1, "", (&|_| {}, &env));
    let daemon = &service.daemons[0].1;
    let (session, csrf) = service.manager_session();
    // The JSON page names the stream; the HTML page loads its script and may connect.
    let page = service.get_json(&session, "/hosts/host0/events");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json()["stream"], "/hosts/host0/events/ws");
    let html = service.curl(&[
        "-H",
        &format!("Cookie: __Host-wsmand-session={session}"),
        &service.url("/hosts/host0/events"),
    ]);
    assert!(html
        .body
        .contains(r#"<script src="/assets/events.js" defer>"#));
    let policy = html.header("content-security-policy").expect("CSP");
    assert!(policy.contains("script-src 'self';") && policy.contains("connect-src 'self';"));
    let script =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/events.js"))
            .expect("asset");
    assert_eq!(
        service.curl(&[&service.url("/assets/events.js")]).body,
        script
    );

    let marker = format!(
        "console live <i>{}</i> {}",
        service.port,
        std::process::id()
    );
    let second = format!("{marker} again");
    // One runtime for the socket's whole life.
    let runtime = terminal::runtime();
    let mut ws = runtime.block_on(async {
        let mut ws = live_events::open(&service, "host0", &session, &csrf, "")
            .await
            .unwrap_or_else(|status| panic!("refused with {status}: {}", service.log()));
        // Logged after the subscription: the stream carries it, as the host read it.
        systemd.exec_ok(&[
            "logger",
            "-t",
            "console-live",
            "-p",
            "user.warning",
            &marker,
        ]);
        let event = live_events::event_with_message(&mut ws, &marker).await;
        assert_eq!(event["provider"], "console-live");
        assert_eq!(event["level_name"], "Warning");
        assert_eq!(
            event["record_id"].as_u64(),
            Some(live_events::record_number(&systemd, &marker))
        );
        systemd.exec_ok(&["logger", "-t", "console-live", "-p", "user.err", &second]);
        let event = live_events::event_with_message(&mut ws, &second).await;
        assert_eq!(event["level_name"], "Error");
        ws
    });
    let subscription =
        live_events::newest_subscription(daemon).expect("the host logged the subscription");
    // The browser closes the socket: the console unsubscribes at the host.
    runtime.block_on(async {
        ws.close(None).await.expect("close");
        drop(ws);
    });
    live_events::wait_for_unsubscribe(daemon, &subscription);
    let deadline = Instant::now() + live_events::WAIT;
    let closed = loop {
        let closed = terminal::audited(&service, &session, "event stream closed");
        if !closed.is_empty() || Instant::now() > deadline {
            break closed;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // At least the two entries the test logged (the booted system logs on its own too).
    let carried = |detail: &str| -> u64 {
        detail
            .split(", ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        closed.iter().any(|d| d.starts_with("host0: ")
            && carried(d) >= 2
            && d.ends_with("the browser closed the socket; unsubscribed")),
        "{closed:?}"
    );
    assert_eq!(
        terminal::audited(&service, &session, "event stream opened"),
        ["host0: Application,System"]
    );

    // Logout: the stream is closed as a policy end and its subscription ended too.
    runtime.block_on(async {
        let mut ws = loop {
            match live_events::open(
                &service,
                "host0",
                &session,
                &csrf,
                "&logs=System,Application",
            )
            .await
            {
                Ok(ws) => break ws,
                // The closed stream's slot is freed once it has unsubscribed.
                Err(409) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(status) => panic!("refused with {status}"),
            }
        };
        let subscription = live_events::newest_subscription(daemon).expect("subscription");
        let out = service.curl(&[
            "-H",
            "Accept: application/json",
            "-H",
            &format!("Cookie: __Host-wsmand-session={session}"),
            "--data",
            &format!("csrf={csrf}"),
            &service.url("/logout"),
        ]);
        assert_eq!(out.status, 200, "{}", out.body);
        assert_eq!(
            terminal::close_code(&mut ws, live_events::WAIT).await,
            Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Policy)
        );
        live_events::wait_for_unsubscribe(daemon, &subscription);
    });
}

#[test]
fn event_stream_upgrades_are_checked_as_the_terminals_are() {
    let service = upgrade_checks_service();
    assert_every_upgrade_check(&service, &EVENTS_SOCKET);
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
    let seen_by_alice = summary(&records(&alice.0));
    let seen_by_bob = summary(&records(&bob.0));
    let (manager, _) = service.manager_session();
    let seen_by_manager = summary(&records(&manager));

    // alice: her login, her action and bob's refusal on host0; nothing about host1, nobody
    // else's login, no failed login.
    assert!(seen_by_alice.contains(&entry("alice", "action", "host0")));
    assert!(seen_by_alice.contains(&entry("bob", "denied", "host0")));
    assert!(seen_by_alice.contains(&entry("alice", "login", "-")));
    assert!(
        seen_by_alice
            .iter()
            .all(|(user, _, host)| host == "host0" || (host == "-" && user == "alice")),
        "{seen_by_alice:?}"
    );
    // bob: alice's refusal on host1 and his own login only.
    assert!(seen_by_bob.contains(&entry("alice", "denied", "host1")));
    assert!(
        seen_by_bob
            .iter()
            .all(|(user, _, host)| host == "host1" || (host == "-" && user == "bob")),
        "{seen_by_bob:?}"
    );
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
    let page = service.curl(&[
        "-H",
        &format!("Cookie: __Host-wsmand-session={}", bob.0),
        &service.url("/audit"),
    ]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("host1") && !page.body.contains("Terminate"));
}

#[test]
fn roles_by_linux_group_follow_the_groups_the_os_reports_at_login() {
    let (Ok(user), Ok(password)) = (
        std::env::var("WSMAN_TEST_PAM_USER"),
        std::env::var("WSMAN_TEST_PAM_PASSWORD"),
    ) else {
        eprintln!("skipped: set WSMAN_TEST_PAM_USER and WSMAN_TEST_PAM_PASSWORD");
        return;
    };
    if !nix_is_root() {
        eprintln!("skipped: the PAM helper keeps root only when the service starts as root");
        return;
    }
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
fn an_empty_fleet_says_what_to_add() {
    let service = Service::start(0, "");
    let (session, _) = service.manager_session();
    let page = service.curl(&[
        "-H",
        &format!("Cookie: __Host-wsmand-session={session}"),
        &service.url("/fleet"),
    ]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("No host is configured yet"),
        "{}",
        page.body
    );
    assert!(page.body.contains("[[Host]]") && page.body.contains("[[Role]]"));
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
    let fleet = service.get_json(&session, "/fleet");
    assert_eq!(fleet.status, 200, "{}", fleet.body);
    let host = &fleet.json()["hosts"][0];
    assert_eq!(host["access_denied"], true, "{host}");
    assert!(host["error"]
        .as_str()
        .is_some_and(|e| e.contains("AccessDenied")));
    let page = service.curl(&[
        "-H",
        &format!("Cookie: __Host-wsmand-session={session}"),
        &service.url("/fleet"),
    ]);
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
