//! The usual test setup in one value: a config dir with the service account, an HTTP listener
//! on a free loopback port, and the daemon running on it.

use std::process::Command;
use std::time::Duration;

use crate::config_dir::{ConfigDir, ListenerSpec, SERVICE_ACCOUNT, SERVICE_PASSWORD};
use crate::daemon::Daemon;
use crate::http::{self, Connection, Response};
use crate::process::{self, Finished};
use crate::{binaries, free_port, soap};

/// A running daemon with its config dir. Field order matters: the daemon is dropped (killed)
/// before its config dir is deleted.
pub struct Fixture {
    pub daemon: Daemon,
    pub config: ConfigDir,
    /// The HTTP listener's port.
    pub port: u16,
}

impl Fixture {
    /// HTTP listener with AllowUnencrypted + Basic, the service account, daemon started.
    pub fn http() -> Self {
        Self::http_with(|_| {})
    }

    /// Like [`Fixture::http`], letting `adjust` change the config before it is written.
    pub fn http_with(adjust: impl FnOnce(&mut ConfigDir)) -> Self {
        Self::http_with_env(adjust, &[])
    }

    /// Like [`Fixture::http`], with the one setting `[section] key = value` (TOML).
    pub fn http_setting(section: &str, key: &str, value: &str) -> Self {
        Self::http_with(|config| {
            config.set(section, key, value);
        })
    }

    /// Like [`Fixture::http_with`], the daemon started with `env` set (`TZ`, ...).
    pub fn http_with_env(adjust: impl FnOnce(&mut ConfigDir), env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut config = ConfigDir::new();
        config.listener(ListenerSpec::http(port));
        adjust(&mut config);
        Self::start(config, port, env)
    }

    /// Like [`Fixture::http_with`], with an HTTPS listener too (a certificate generated for
    /// localhost and 127.0.0.1), on the port returned, served when this returns.
    pub fn http_and_https_with(adjust: impl FnOnce(&mut ConfigDir)) -> (Self, u16) {
        let https_port = free_port();
        let mut fixture = Self::http_with(|config| {
            adjust(config);
            config.add_https_listener(https_port);
        });
        fixture.daemon.wait_for_port(https_port);
        (fixture, https_port)
    }

    /// An HTTPS listener with a certificate generated for localhost and 127.0.0.1 instead of
    /// the HTTP one, `adjust` changing the config before it is written; with the certificate's
    /// thumbprint (its file is `certs/THUMBPRINT.crt` in the config dir).
    pub fn https_with(adjust: impl FnOnce(&mut ConfigDir)) -> (Self, String) {
        let port = free_port();
        let mut config = ConfigDir::new();
        adjust(&mut config);
        let thumbprint = config.add_https_listener(port);
        (Self::start(config, port, &[]), thumbprint)
    }

    /// Writes `config`, adds the service account and starts the daemon listening on `port`.
    fn start(config: ConfigDir, port: u16, env: &[(&str, &str)]) -> Self {
        config.write();
        config.add_service_account();
        let daemon = Daemon::start_with_env(&config, &[port], env);
        Self {
            daemon,
            config,
            port,
        }
    }

    /// `count` fixtures like [`Fixture::http`], started at once: one `wsmand account add` (an
    /// argon2id hash, the slow part of a start) whose `accounts.toml` every config dir gets a
    /// copy of, then every daemon spawned before any is waited for. For fan-out tests.
    pub fn fleet(count: usize) -> Vec<Self> {
        let template = ConfigDir::new();
        template.write();
        template.add_service_account();
        let accounts = std::fs::read_to_string(template.path().join("accounts.toml"))
            .expect("read the template accounts.toml");
        let mut started: Vec<Self> = Vec::with_capacity(count);
        for _ in 0..count {
            // The daemons bind later, all at once: a port the kernel hands out again before
            // an earlier daemon took it would put two fleet entries on one listener.
            let port = std::iter::repeat_with(free_port)
                .find(|port| started.iter().all(|fixture| fixture.port != *port))
                .expect("a free port");
            let mut config = ConfigDir::new();
            config.listener(ListenerSpec::http(port));
            config.write();
            let path = config.write_raw("accounts.toml", &accounts);
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("chmod 0600 accounts.toml");
            let daemon = Daemon::spawn(&config);
            started.push(Self {
                daemon,
                config,
                port,
            });
        }
        for fixture in &mut started {
            fixture.daemon.wait_for_port(fixture.port);
        }
        started
    }

    /// `http://127.0.0.1:PORT/wsman`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/wsman", self.port)
    }

    /// The service account's Authorization header value.
    pub fn service_auth(&self) -> String {
        http::basic_auth(SERVICE_ACCOUNT, SERVICE_PASSWORD)
    }

    /// POST `body` with the service account on a fresh connection.
    pub fn post(&self, body: &str) -> Response {
        http::post(self.port, Some(&self.service_auth()), body.as_bytes())
    }

    /// POST `body` as `user` with `password` on a fresh connection.
    pub fn post_as(&self, user: &str, password: &str, body: &str) -> Response {
        http::post_as(self.port, user, password, body)
    }

    /// An authenticated Identify on a fresh connection.
    pub fn identify(&self) -> Response {
        self.post(&soap::identify())
    }

    /// A fresh kept-alive connection to the HTTP listener.
    pub fn connect(&self) -> Connection {
        Connection::open(self.port).expect("connect to wsmand")
    }

    /// `winrm ARGS -r:URL -u:svc -p:... -a:Basic -unencrypted`, bounded, with this fixture's
    /// config dir as the client configuration (AllowUnencrypted, TrustedHosts).
    pub fn winrm_remote(&self, args: &[&str]) -> Finished {
        winrm_basic(self.port, self.config.path(), args)
    }

    /// `winrm create winrm/config/service/certmapping?Issuer=..+Subject=..+URI=..` with the
    /// `@{...}` `settings`, as an operator maps client certificates of the CA with thumbprint
    /// `issuer`; panics when it fails.
    pub fn map_certificates(&self, issuer: &str, subject: &str, uri: &str, settings: &str) {
        let created = self.winrm_remote(&[
            "create",
            &format!(
                "winrm/config/service/certmapping?Issuer={issuer}+Subject={subject}+URI={uri}"
            ),
            settings,
        ]);
        assert_eq!(created.code(), 0, "{}", created.describe());
    }

    /// Asserts the daemon still answers an authenticated Identify with 200.
    pub fn assert_still_serving(&mut self) {
        assert!(
            self.daemon.is_running(),
            "wsmand exited\n{}",
            self.daemon.stderr()
        );
        let response = self.identify();
        assert_eq!(response.status, 200, "{}", response.describe());
    }
}

/// `winrm ARGS -r:URL -u:svc -p:... -a:Basic -unencrypted` to the daemon on `port`, bounded,
/// with `config_dir` as the client configuration (AllowUnencrypted, TrustedHosts).
pub fn winrm_basic(port: u16, config_dir: &std::path::Path, args: &[&str]) -> Finished {
    winrm_basic_as(port, config_dir, SERVICE_ACCOUNT, SERVICE_PASSWORD, args)
}

/// [`winrm_basic`] as `user` with `password`.
pub fn winrm_basic_as(
    port: u16,
    config_dir: &std::path::Path,
    user: &str,
    password: &str,
    args: &[&str],
) -> Finished {
    let mut command = Command::new(binaries::winrm());
    command.args(args);
    run_basic(command, port, config_dir, (user, password), &[])
}

/// `winrs -r:URL -u:USER -p:PASSWORD -a:Basic -unencrypted COMMAND...` to the daemon on `port`
/// as `user`, bounded, with `config_dir` as the client configuration.
pub fn winrs_basic_as(
    port: u16,
    config_dir: &std::path::Path,
    user: &str,
    password: &str,
    command_line: &[&str],
) -> Finished {
    let command = Command::new(binaries::path("winrs"));
    run_basic(command, port, config_dir, (user, password), command_line)
}

/// `command` to the daemon on `port` over HTTP with Basic as `user` (`-r:URL -u:USER
/// -p:PASSWORD -a:Basic -unencrypted`), then `after`; bounded, with `config_dir` as the
/// client configuration.
fn run_basic(
    mut command: Command,
    port: u16,
    config_dir: &std::path::Path,
    (user, password): (&str, &str),
    after: &[&str],
) -> Finished {
    command
        .arg(format!("-r:http://127.0.0.1:{port}"))
        .arg(format!("-u:{user}"))
        .arg(format!("-p:{password}"))
        .args(["-a:Basic", "-unencrypted"])
        .args(after)
        .env("WSMAND_CONFIG_DIR", config_dir);
    process::run(&mut command, None, Duration::from_secs(60))
}
