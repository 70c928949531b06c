//! A throwaway PostgreSQL server on 127.0.0.1 for the collector's shared bookmark store:
//! Debian's `initdb` and `pg_ctl` (package `postgresql`) into a temporary directory, a free
//! port, password (SCRAM) authentication, TLS with a throwaway self-signed certificate, and
//! the server stopped and its directory removed on drop.
//!
//! PostgreSQL refuses to run as root, so as root the cluster belongs to, and runs as, the
//! `postgres` user the package creates (`runuser`); otherwise as the caller. When the
//! programs are missing, [`Postgres::start`] prints why and returns `None`; set
//! `WSMAN_TEST_REQUIRE_POSTGRES=1` to make that a failure instead.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process;

/// The user the tests' collectors log in as, and its password.
pub const USER: &str = "wec";
pub const PASSWORD: &str = "Pg-Bookmarks-Secret-31";
pub const DATABASE: &str = "wec";

/// A running (or stopped, between [`Postgres::stop`] and [`Postgres::start_again`]) server.
#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres_user: bool,
}

fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

/// The last lines of the server's log on one line: a failure's summary shows only the first
/// lines of a panic, and the log's end says why the server stopped.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(4)..].join(" | ")
}

impl Postgres {
    /// Create and start a cluster, or `None` (reason printed) when PostgreSQL is not
    /// installed. Panics when it is installed but does not come up.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = bin_dir() else {
            let reason = "PostgreSQL's initdb not found under /usr/lib/postgresql: install postgresql (scripts/lib.sh)";
            crate::skipped("WSMAN_TEST_REQUIRE_POSTGRES", reason);
            return None;
        };
        let as_postgres_user = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(0)
            == 0;
        let dir = crate::scratch_dir("wsman-pg-", "the cluster");
        let mut server = Postgres {
            dir,
            bin,
            port: 0,
            as_postgres_user,
        };
        let data = server.data();
        std::fs::write(server.dir.path().join("pwfile"), format!("{PASSWORD}\n")).expect("pwfile");
        // A certificate for 127.0.0.1 so the TLS tests can verify the server.
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params.subject_alt_names.push(rcgen::SanType::IpAddress(
            std::net::Ipv4Addr::LOCALHOST.into(),
        ));
        let certificate = params.self_signed(&key).expect("self-signed certificate");
        std::fs::write(server.ca_file(), certificate.pem()).expect("server.crt");
        std::fs::write(server.dir.path().join("server.key"), key.serialize_pem())
            .expect("server.key");
        std::fs::set_permissions(
            server.dir.path().join("server.key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod server.key");
        if as_postgres_user {
            let chown = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(server.dir.path())
                .status()
                .expect("chown");
            assert!(
                chown.success(),
                "chown of the cluster directory to postgres"
            );
        }
        let initdb = server.run_tool(
            "initdb",
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-U",
                USER,
                "--auth=scram-sha-256",
                &format!("--pwfile={}", server.dir.path().join("pwfile").display()),
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        assert!(initdb.status.success(), "initdb: {}", initdb.describe());
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}'\nssl = on\nssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\nfsync = on\nmax_connections = 100\n",
            dir = server.dir.path().display()
        );
        let mut existing =
            std::fs::read_to_string(data.join("postgresql.conf")).expect("postgresql.conf");
        existing.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), existing).expect("postgresql.conf");
        server.start_on_a_free_port();
        let port = server.port;
        let created = server.run_tool(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                USER,
                "-d",
                "postgres",
                "-c",
                &format!("CREATE DATABASE {DATABASE}"),
            ],
        );
        assert!(
            created.status.success(),
            "CREATE DATABASE: {}",
            created.describe()
        );
        Some(server)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run_tool(&self, tool: &str, args: &[&str]) -> process::Finished {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command.args(args).env("PGPASSWORD", PASSWORD);
        process::run(&mut command, None, Duration::from_secs(120))
    }

    /// `pg_ctl stop` of the cluster in `data`, waiting up to `seconds`, in shutdown `mode`.
    fn pg_ctl_stop(&self, data: &str, seconds: &str, mode: &str) -> process::Finished {
        self.run_tool(
            "pg_ctl",
            &["-D", data, "-w", "-t", seconds, "-m", mode, "stop"],
        )
    }

    /// The first start, on a port that was free a moment before. Between `free_port` and the
    /// postmaster's bind another test's process may take that port (its own listener, or the
    /// local end of a connection: both come from the same ephemeral range), so a start that
    /// failed for that reason alone is tried again on another port, a few times.
    fn start_on_a_free_port(&mut self) {
        const ATTEMPTS: usize = 5;
        let conf = self.data().join("postgresql.conf");
        let base = std::fs::read_to_string(&conf).expect("postgresql.conf");
        for attempt in 1..=ATTEMPTS {
            self.port = crate::free_port();
            std::fs::write(&conf, format!("{base}port = {}\n", self.port)).expect("port");
            let started = self.pg_ctl_start();
            if started.status.success() {
                return;
            }
            let log = self.log();
            let taken = log.contains("Address already in use");
            assert!(
                taken && attempt < ATTEMPTS,
                "pg_ctl start (attempt {attempt}), server.log ends: {} -- {}",
                tail(&log),
                started.describe()
            );
            eprintln!(
                "port {} taken before PostgreSQL bound it; another",
                self.port
            );
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn pg_ctl_start(&self) -> process::Finished {
        let log = self.dir.path().join("server.log");
        self.run_tool(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().expect("utf-8"),
                "-l",
                log.to_str().expect("utf-8"),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    /// Start the server again, after [`Postgres::stop`], on its port, and wait until it accepts.
    pub fn start_again(&self) {
        let started = self.pg_ctl_start();
        assert!(
            started.status.success(),
            "pg_ctl start, server.log ends: {} -- {}",
            tail(&self.log()),
            started.describe()
        );
    }

    /// Stop the server (fast: open connections are cut, as when a database goes down).
    pub fn stop(&self) {
        let stopped = self.pg_ctl_stop(self.data().to_str().expect("utf-8"), "60", "fast");
        assert!(
            stopped.status.success(),
            "pg_ctl stop: {}",
            stopped.describe()
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The libpq connection string, without the password.
    pub fn connection(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={USER} dbname={DATABASE}",
            self.port
        )
    }

    /// `DIR/collector.toml` naming this server as the bookmark store, with the password in a
    /// file of its own beside it (mode 0600, as the collector requires) and `settings` (further
    /// `[bookmarks]` lines: pool size, timeouts) after the connection.
    pub fn write_collector_toml(&self, dir: &Path, settings: &str) {
        let password = dir.join("db.password");
        std::fs::write(&password, format!("{PASSWORD}\n")).expect("password file");
        std::fs::set_permissions(
            &password,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod the password file");
        std::fs::write(
            dir.join("collector.toml"),
            format!(
                "[bookmarks]\nbackend = \"postgres\"\nconnection = \"{}\"\npassword_file = \"{}\"\n{settings}",
                self.connection(),
                password.display()
            ),
        )
        .expect("collector.toml");
    }

    /// The server's self-signed certificate (PEM), the CA a TLS client trusts.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Run one SQL statement with `psql` and return its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        let finished = self.run_psql(sql);
        assert!(finished.status.success(), "psql: {}", finished.describe());
        finished.stdout.trim().to_owned()
    }

    /// [`Postgres::psql`], `None` when it fails (the server is stopped).
    pub fn try_psql(&self, sql: &str) -> Option<String> {
        let finished = self.run_psql(sql);
        finished
            .status
            .success()
            .then(|| finished.stdout.trim().to_owned())
    }

    fn run_psql(&self, sql: &str) -> process::Finished {
        self.run_tool(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                "-d",
                DATABASE,
                "-At",
                "-c",
                sql,
            ],
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self.pg_ctl_stop(self.data().to_str().unwrap_or(""), "30", "immediate");
        }
    }
}
