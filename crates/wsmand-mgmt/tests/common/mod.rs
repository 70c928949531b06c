//! The harness the console's integration tests share: the real `wsmand-mgmt` on a loopback
//! port with its generated certificate, real `wsmand` daemons as its hosts, curl as the
//! client.
#![allow(dead_code)] // each test file uses a part

use std::fs::File;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) mod browser;
pub(crate) mod forwarded;
pub(crate) mod terminal;
pub(crate) mod upgrade;

use wsman_test::{free_port, ConfigDir, Daemon, ListenerSpec, SERVICE_ACCOUNT, SERVICE_PASSWORD};

pub(crate) const MANAGER: &str = "console-admin";
pub(crate) const MANAGER_PASSWORD: &str = "Mgr-Pass-4-Console!";

/// A running `wsmand-mgmt`, killed when dropped.
pub(crate) struct Service {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) daemons: Vec<(ConfigDir, Daemon, u16)>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn wsmand_cli(dir: &Path) -> Command {
    let mut command = Command::new(wsman_test::binaries::wsmand());
    command.env("WSMAND_CONFIG_DIR", dir);
    command
}

/// How a test's daemons are set up: a change to each config dir, and environment variables.
pub(crate) type DaemonSetup<'a> = (&'a dyn Fn(&mut ConfigDir), &'a [(&'a str, &'a str)]);

/// The role the harness gives its manager (and every OS user) unless a test brings its own:
/// everything on every host, as each host's own account.
pub(crate) const ALL_POWERFUL_ROLE: &str =
    "[[Role]]\nName = \"admins\"\nMembers = [\"console-admin\", \"os:*\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
    Actions = [\"read\", \"change\", \"shell\"]\n";

/// What a test's console looks like beyond the harness's defaults.
pub(crate) struct Layout<'a> {
    pub(crate) hosts: usize,
    /// Lines in mgmt.toml's top level.
    pub(crate) extra: &'a str,
    pub(crate) setup: DaemonSetup<'a>,
    /// The Linux user the hosts' account runs as.
    pub(crate) run_as: &'a str,
    /// Lines added to host N's `[[Host]]` table (given the directory holding `host-password`).
    pub(crate) host_lines: &'a dyn Fn(usize, &Path) -> String,
    /// The `[[Role]]` tables; `None`: [`ALL_POWERFUL_ROLE`].
    pub(crate) roles: Option<&'a str>,
    /// Further manager users (name, password).
    pub(crate) managers: &'a [(&'a str, &'a str)],
    /// Further accounts on every host (name, run-as user), with the hosts' password.
    pub(crate) accounts: &'a [(&'a str, &'a str)],
    /// The config directory and the hosts' password file given to the serving user, as the
    /// docs say to do for editing from the page (as root only).
    pub(crate) editable: bool,
    /// Further hosts, daemons the test started itself: (name, port, `Groups` list).
    pub(crate) more_hosts: &'a [(&'a str, u16, &'a str)],
    /// The config directory's mode (root's when the tests run as root): 0755 lets the serving
    /// user read it; 0700 keeps it root's alone, as a hardened host may.
    pub(crate) config_dir_mode: u32,
}

impl Default for Layout<'_> {
    fn default() -> Self {
        Self {
            hosts: 1,
            extra: "",
            setup: (&|_| {}, &[]),
            run_as: "root",
            host_lines: &|_, _| String::new(),
            roles: None,
            managers: &[],
            accounts: &[],
            editable: false,
            more_hosts: &[],
            config_dir_mode: 0o755,
        }
    }
}

pub(crate) fn start_daemon(
    setup: DaemonSetup<'_>,
    run_as: &str,
    accounts: &[(&str, &str)],
) -> (ConfigDir, Daemon, u16) {
    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    (setup.0)(&mut config);
    config.write();
    config.add_account(SERVICE_ACCOUNT, SERVICE_PASSWORD, Some(run_as));
    for (name, user) in accounts {
        config.add_account(name, SERVICE_PASSWORD, Some(user));
    }
    let daemon = Daemon::start_with_env(&config, &[port], setup.1);
    (config, daemon, port)
}

impl Service {
    /// The service with `hosts` wsmand daemons and `extra` lines in mgmt.toml.
    pub(crate) fn start(hosts: usize, extra: &str) -> Self {
        Self::start_with(hosts, extra, (&|_| {}, &[]))
    }

    /// The service with one host whose account runs as the PAM test user, for the terminal:
    /// its login shell reads that user's stock profile, not root's, which on a build machine
    /// may run tools (pyenv's rehash takes a lock file) that a test killing the shell early
    /// leaves behind, hanging every later root login shell.
    pub(crate) fn for_terminals(extra: &str) -> Self {
        let user = std::env::var("WSMAN_TEST_PAM_USER").unwrap_or_else(|_| "wsmantest".into());
        Self::start_as(1, extra, (&|_| {}, &[]), &user)
    }

    /// The service with one host reading its event logs from the journal in `directory`,
    /// whose Security log every user may read (as the events page's tests need).
    pub(crate) fn with_journal(directory: &str) -> Self {
        let env = [("WSMAND_JOURNAL_DIRECTORY", directory)];
        Self::start_with(
            1,
            "",
            (
                &|config: &mut ConfigDir| {
                    config.set(
                        "Security",
                        "EventLogSDDL",
                        "\"O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;BU)\"",
                    );
                },
                &env,
            ),
        )
    }

    /// The same, each daemon set up by `setup`.
    pub(crate) fn start_with(hosts: usize, extra: &str, setup: DaemonSetup<'_>) -> Self {
        Self::start_as(hosts, extra, setup, "root")
    }

    /// The same, the hosts' account run as `run_as`.
    pub(crate) fn start_as(
        hosts: usize,
        extra: &str,
        setup: DaemonSetup<'_>,
        run_as: &str,
    ) -> Self {
        Self::start_layout(&Layout {
            hosts,
            extra,
            setup,
            run_as,
            ..Layout::default()
        })
    }

    /// The service as `layout` describes it.
    pub(crate) fn start_layout(layout: &Layout<'_>) -> Self {
        let (hosts, extra, setup, run_as) =
            (layout.hosts, layout.extra, layout.setup, layout.run_as);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(
            dir.path(),
            std::fs::Permissions::from_mode(layout.config_dir_mode),
        )
        .expect("chmod");
        let port = free_port();
        let mut toml = format!(
            "EnableRemoteManagement = false\nPort = {port}\nBindAddresses = [\"*\"]\nCertificate = \"auto\"\n\
             AllowedClients = []\n\
             RequestLog = \"journal\"\nSessionLifetimeHours = 8\n{extra}\n"
        );
        if !extra.contains("UnspecifiedClients") {
            toml.push_str("UnspecifiedClients = \"Allow\"\n");
        }
        if !extra.contains("SessionIdleMinutes") {
            toml.push_str("SessionIdleMinutes = 15\n");
        }
        if !extra.contains("DeniedClients") {
            toml.push_str("DeniedClients = []\n");
        }
        if !extra.contains("Credentials") {
            toml.push_str("Credentials = \"os+manager\"\n");
        }
        let password_file = write_host_password(dir.path());
        let mut daemons = Vec::new();
        for index in 0..hosts {
            let (config, daemon, daemon_port) = start_daemon(setup, run_as, layout.accounts);
            toml.push_str(&format!(
                "\n[[Host]]\nName = \"host{index}\"\nUrl = \"http://127.0.0.1:{daemon_port}/wsman\"\n\
                 Username = \"{SERVICE_ACCOUNT}\"\nPasswordFile = \"{}\"\nAllowUnencrypted = true\n{}",
                password_file.display(),
                (layout.host_lines)(index, dir.path())
            ));
            daemons.push((config, daemon, daemon_port));
        }
        for (name, daemon_port, groups) in layout.more_hosts {
            toml.push_str(&format!(
                "\n[[Host]]\nName = \"{name}\"\nUrl = \"http://127.0.0.1:{daemon_port}/wsman\"\n\
                 Username = \"{SERVICE_ACCOUNT}\"\nPasswordFile = \"{}\"\nAllowUnencrypted = true\n\
                 Groups = [{groups}]\n",
                password_file.display(),
            ));
        }
        toml.push('\n');
        toml.push_str(layout.roles.unwrap_or(ALL_POWERFUL_ROLE));
        std::fs::write(dir.path().join("mgmt.toml"), toml).expect("write mgmt.toml");
        for (user, password) in [(MANAGER, MANAGER_PASSWORD)].iter().chain(layout.managers) {
            add_manager(dir.path(), user, password);
        }
        if layout.editable && nix_is_root() {
            give_to_serving_user(&[dir.path(), &password_file]);
        }
        let (child, port) = start_console(dir.path(), port);
        Self {
            child,
            port,
            dir,
            daemons,
        }
    }

    pub(crate) fn log(&self) -> String {
        console_log(self.dir.path())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// curl with `args`, returning the status, the headers (lower-case names) and the body.
    pub(crate) fn curl(&self, args: &[&str]) -> Reply {
        curl(args, &|| format!("service log:\n{}", self.log()))
    }

    /// Logs in as the manager through the JSON form flow; returns (session id, csrf).
    pub(crate) fn login(
        &self,
        user: &str,
        password: &str,
        previous: Option<&str>,
    ) -> (Reply, Option<String>) {
        self.login_from("127.0.0.1", user, password, previous)
    }

    /// The same, from the loopback address `source` (`127.0.0.N`).
    pub(crate) fn login_from(
        &self,
        source: &str,
        user: &str,
        password: &str,
        previous: Option<&str>,
    ) -> (Reply, Option<String>) {
        let form = self.curl(&[
            "--interface",
            source,
            "-H",
            "Accept: application/json",
            &self.url("/login"),
        ]);
        let login_token = form.cookie("__Host-wsmand-login").expect("login cookie");
        let mut cookie = format!("__Host-wsmand-login={login_token}");
        if let Some(previous) = previous {
            cookie.push_str(&format!("; __Host-wsmand-session={previous}"));
        }
        let reply = self.curl(&[
            "--interface",
            source,
            "-H",
            "Accept: application/json",
            "-H",
            &format!("Cookie: {cookie}"),
            "--data-urlencode",
            &format!("user={user}"),
            "--data-urlencode",
            &format!("password={password}"),
            "--data-urlencode",
            &format!("csrf={login_token}"),
            &self.url("/login"),
        ]);
        let session = reply
            .cookie("__Host-wsmand-session")
            .filter(|v| !v.is_empty());
        (reply, session)
    }

    pub(crate) fn manager_session(&self) -> (String, String) {
        self.session_of(MANAGER, MANAGER_PASSWORD)
    }

    /// (session id, csrf) of a login as `user`.
    pub(crate) fn session_of(&self, user: &str, password: &str) -> (String, String) {
        let (reply, session) = self.login(user, password, None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let csrf = reply.json()["csrf"].as_str().expect("csrf").to_owned();
        (session.expect("session cookie"), csrf)
    }

    /// A change (POST with the session's token and this service's Origin), as JSON.
    pub(crate) fn post_json(&self, session: (&str, &str), path: &str) -> Reply {
        self.post_form_json(session, path, &[])
    }

    /// [`Service::post_json`] with the form's other fields (`name=value`, each URL-encoded).
    pub(crate) fn post_form_json(
        &self,
        (session, csrf): (&str, &str),
        path: &str,
        fields: &[&str],
    ) -> Reply {
        let cookie = format!("Cookie: __Host-wsmand-session={session}");
        let origin = format!("Origin: https://127.0.0.1:{}", self.port);
        let token = format!("csrf={csrf}");
        let url = self.url(path);
        let mut args = vec![
            "-H",
            "Accept: application/json",
            "-H",
            &cookie,
            "-H",
            &origin,
        ];
        args.extend(["--data-urlencode", &token]);
        for field in fields {
            args.extend(["--data-urlencode", field]);
        }
        args.push(&url);
        self.curl(&args)
    }

    /// `POST /logout` as a script sends it (JSON answer, no Origin header).
    pub(crate) fn logout(&self, session: &str, csrf: &str) -> Reply {
        self.curl(&[
            "-H",
            "Accept: application/json",
            "-H",
            &format!("Cookie: __Host-wsmand-session={session}"),
            "--data",
            &format!("csrf={csrf}"),
            &self.url("/logout"),
        ])
    }

    /// The audit records `session` may read (`GET /audit`), newest first.
    pub(crate) fn audit(&self, session: &str) -> Vec<serde_json::Value> {
        let audit = self.get_json(session, "/audit");
        assert_eq!(audit.status, 200, "{}", audit.body);
        audit.json()["audit"].as_array().expect("audit").clone()
    }

    /// The audit records `session` may see of `event` whose detail starts with `detail`.
    pub(crate) fn audited(
        &self,
        session: &str,
        event: &str,
        detail: &str,
    ) -> Vec<serde_json::Value> {
        let of = |r: &serde_json::Value| {
            r["event"] == event && r["detail"].as_str().is_some_and(|d| d.starts_with(detail))
        };
        self.audit(session).into_iter().filter(of).collect()
    }

    /// The page at `path` as the browser of `session` loads it (HTML).
    pub(crate) fn page(&self, session: &str, path: &str) -> Reply {
        self.curl(&[
            "-H",
            &format!("Cookie: __Host-wsmand-session={session}"),
            &self.url(path),
        ])
    }

    /// `/fleet` as JSON once every host shown has had its first sample (the page is rendered
    /// from the sampler's data, which the first round fills right after start).
    pub(crate) fn fleet_sampled(&self, session: &str) -> Reply {
        let start = std::time::Instant::now();
        loop {
            let reply = self.get_json(session, "/fleet");
            let waiting = reply.status != 200
                || reply.json()["hosts"]
                    .as_array()
                    .is_none_or(|hosts| hosts.iter().any(|h| h["sampled"]["state"] == "waiting"));
            if !waiting || start.elapsed() > std::time::Duration::from_secs(60) {
                return reply;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    pub(crate) fn get_json(&self, session: &str, path: &str) -> Reply {
        self.curl(&[
            "-H",
            "Accept: application/json",
            "-H",
            &format!("Cookie: __Host-wsmand-session={session}"),
            &self.url(path),
        ])
    }
}

/// curl with `args` (certificate unchecked, the head included, at most 60 s): the status, the
/// headers (lower-case names) and the body. A failing curl fails the test, with `context()`.
pub(crate) fn curl(args: &[&str], context: &dyn Fn() -> String) -> Reply {
    let output = Command::new("curl")
        .args(["-sS", "-k", "-i", "--max-time", "60"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        output.status.success(),
        "curl {args:?}: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        context()
    );
    Reply::parse(&String::from_utf8_lossy(&output.stdout))
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn parse(text: &str) -> Self {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Self {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        let line = self.set_cookie(name)?;
        let value = line.split(';').next()?.split_once('=')?.1;
        Some(value.to_owned())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Panics, showing the body, unless the answer has `status` and its body holds each of
    /// `texts`.
    pub(crate) fn assert_shows(&self, status: u16, texts: &[&str]) {
        assert_eq!(self.status, status, "{}", self.body);
        for text in texts {
            assert!(self.body.contains(text), "{text:?} not in {}", self.body);
        }
    }
}

/// `text` without its ANSI colour sequences (the service colours its log even into a file).
pub(crate) fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether this process runs as root (from `/proc/self/status`).
pub(crate) fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// The groups `id -nG USER` names (the OS's answer, not the service's).
pub(crate) fn os_groups(user: &str) -> Vec<String> {
    let output = Command::new("id").args(["-nG", user]).output().expect("id");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The file the console reads its hosts' password from ([`SERVICE_PASSWORD`]), owner-only.
pub(crate) fn write_host_password(dir: &Path) -> std::path::PathBuf {
    let password_file = dir.join("host-password");
    std::fs::write(&password_file, SERVICE_PASSWORD).expect("write password");
    std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    password_file
}

/// The user the console serves as once it drops root (`--run-as`'s default).
pub(crate) const SERVING_USER: &str = "wsmand-mgmt";

/// `chown SERVING_USER` of each of `paths`.
pub(crate) fn give_to_serving_user(paths: &[&Path]) {
    let status = Command::new("chown")
        .arg(SERVING_USER)
        .args(paths)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown {SERVING_USER} {paths:?}");
}

/// `wsmand mgmt user add USER --password-stdin` in the console's config dir `dir`.
pub(crate) fn add_manager(dir: &Path, user: &str, password: &str) {
    let finished = wsman_test::process::run(
        wsmand_cli(dir).args(["mgmt", "user", "add", user, "--password-stdin"]),
        Some(&format!("{password}\n")),
        Duration::from_secs(60),
    );
    assert!(
        finished.status.success(),
        "mgmt user add: {}",
        finished.describe()
    );
}

/// The console binary on the config dir `dir`, its log in `dir/service.log`.
pub(crate) fn spawn_console(dir: &Path) -> Child {
    let log = File::create(dir.join("service.log")).expect("log");
    Command::new(env!("CARGO_BIN_EXE_wsmand-mgmt"))
        .arg("--config-dir")
        .arg(dir)
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn wsmand-mgmt")
}

/// What the console on the config dir `dir` has logged.
pub(crate) fn console_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("service.log")).unwrap_or_default()
}

/// Starts the console on the config dir `dir`, whose mgmt.toml says `Port = {port}`, and
/// waits until it listens there; returns it and the port it listens on. Why more than one try: `free_port` names a port that was free when asked, and
/// a test running beside this one may bind it before the console does. The console then
/// exits on its bind error, and the same settings are started again on another free port
/// (mgmt.toml's `Port` line rewritten), at most five times.
pub(crate) fn start_console(dir: &Path, mut port: u16) -> (Child, u16) {
    for _ in 0..5 {
        let mut child = spawn_console(dir);
        if listening_or_port_taken(&mut child, port, dir) {
            return (child, port);
        }
        let _ = child.wait();
        let path = dir.join("mgmt.toml");
        let toml = std::fs::read_to_string(&path).expect("read mgmt.toml");
        let line = format!("\nPort = {port}\n");
        assert!(toml.contains(&line), "mgmt.toml has no Port = {port} line");
        port = free_port();
        let toml = toml.replacen(&line, &format!("\nPort = {port}\n"), 1);
        std::fs::write(&path, toml).expect("write mgmt.toml");
    }
    panic!(
        "five free ports were taken before the console bound them: {}",
        console_log(dir)
    );
}

/// True once the console `child` says in its log (in its config dir `dir`) that it listens on
/// `port` and accepts there; false when it exited because another process had bound `port`;
/// panics with its log on any other exit or after 30 s. A connect alone is not enough: when
/// another process took the port, the connect reaches that process, and the test would talk
/// to it.
fn listening_or_port_taken(child: &mut Child, port: u16, dir: &Path) -> bool {
    let log = || console_log(dir);
    let address = format!(":{port}");
    let taken = format!(":{port}: Address already in use");
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            if log().contains(&taken) {
                return false;
            }
            panic!("wsmand-mgmt exited ({status}): {}", log());
        }
        let listening = log()
            .lines()
            .any(|line| line.contains("listening (HTTPS)") && line.contains(&address));
        if listening && TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no listener: {}",
            log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `/etc/os-release`'s PRETTY_NAME, as the OS names itself.
pub(crate) fn os_release_pretty_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release").expect("/etc/os-release");
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("PRETTY_NAME")
}

/// The second PAM test user, in no admin group, and its password
/// (`WSMAN_TEST_PAM_PLAIN_USER`, `WSMAN_TEST_PAM_PLAIN_PASSWORD`); `None`, with the reason
/// printed, when they are not set.
pub(crate) fn plain_pam_user() -> Option<(String, String)> {
    match (
        std::env::var("WSMAN_TEST_PAM_PLAIN_USER"),
        std::env::var("WSMAN_TEST_PAM_PLAIN_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) if !user.is_empty() => Some((user, password)),
        _ => {
            eprintln!("skipped: set WSMAN_TEST_PAM_PLAIN_USER and _PLAIN_PASSWORD");
            None
        }
    }
}

/// The PAM test user and password (`WSMAN_TEST_PAM_USER`, `WSMAN_TEST_PAM_PASSWORD`) when this
/// process is root, as the PAM helper keeps root only when the service starts as root; `None`,
/// with the reason printed, otherwise.
pub(crate) fn pam_user_as_root() -> Option<(String, String)> {
    let credentials = wsman_test::pam_credentials()?;
    if !nix_is_root() {
        eprintln!("skipped: the PAM helper keeps root only when the service starts as root");
        return None;
    }
    Some(credentials)
}
