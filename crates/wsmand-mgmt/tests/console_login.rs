//! Who reaches the console and how: security headers and cookies, CSRF and Origin, logins,
//! sessions and their back-off, address and domain restrictions before TLS, the request log.
//!
//! The real `wsmand-mgmt` on a loopback port with its generated certificate, real `wsmand`
//! daemons as its hosts, curl as the client (tokio-tungstenite for the WebSockets). Every
//! value checked comes from the OS or from a process the test started, never from the
//! service itself.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::Duration;

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
    assert_logged(&service, &["missing or wrong CSRF token", "cross-origin"]);
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
    assert_logged(&service, &["connection refused before TLS", "127.0.0.2"]);
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
    let out = service.logout(&session, &token);
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
    // The login (POST /login, no user yet), the fleet and the audit page as this user, named
    // as a typed principal (a console account, not the Linux user of the same name).
    let manager = format!("console:{MANAGER}@managers");
    assert!(lines
        .iter()
        .any(|f| f[2] == "127.0.0.1" && f[4] == "POST" && f[5] == "/login" && f[6] == "200"));
    assert!(lines
        .iter()
        .any(|f| f[3] == manager && f[4] == "GET" && f[5] == "/fleet" && f[6] == "200"));
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

/// The service's log holds every one of `texts`.
fn assert_logged(service: &Service, texts: &[&str]) {
    let log = service.log();
    assert!(texts.iter().all(|text| log.contains(text)), "{log}");
}

/// A port taken between `free_port` and the console's bind (another test bound it): the
/// console exits on its bind error, and the harness starts it again on another free port,
/// its mgmt.toml rewritten (`common::start_console`), instead of failing the test.
#[test]
fn a_console_whose_port_is_taken_is_started_on_another() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(
        dir.path().join("mgmt.toml"),
        format!(
            "EnableRemoteManagement = false\nPort = {port}\nBindAddresses = [\"*\"]\n\
             Certificate = \"auto\"\nCredentials = \"os\"\nUnspecifiedClients = \"Allow\"\n\
             AllowedClients = []\nDeniedClients = []\nRequestLog = \"journal\"\n"
        ),
    )
    .expect("write mgmt.toml");
    let (mut child, listening) = start_console(dir.path(), port);
    let _ = child.kill();
    let _ = child.wait();
    assert_ne!(listening, port);
    let toml = std::fs::read_to_string(dir.path().join("mgmt.toml")).expect("mgmt.toml");
    assert!(toml.contains(&format!("\nPort = {listening}\n")), "{toml}");
    drop(taken);
}
