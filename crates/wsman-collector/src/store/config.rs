//! Which bookmark store a collector uses: `[bookmarks]` of `DIR/collector.toml`.
//!
//! ```toml
//! [bookmarks]
//! backend = "postgres"          # or "sqlite" (the default; `path` then names the file)
//! connection = "host=db.example.com port=5432 user=wec dbname=wec"
//! password_file = "/etc/wsmand/wec-db.password"
//! tls = true                    # verify the server against ca_file (else the web PKI roots);
//!                               # the default unless every host is on loopback
//! ca_file = "/etc/wsmand/wec-db-ca.pem"
//! pool_size = 8
//! ```
//!
//! Why a file of its own: the bookmark store is the collector's, not part of `winrm/config`,
//! and it may hold a secret. A password, in the connection string or in `password_file`, is
//! read only from a file that no one but its owner may read, and it is never shown: the
//! settings' `Debug` and [`PostgresSettings::describe`] leave it out.
//!
//! Why TLS by default off loopback: whoever is on the path to the database could otherwise
//! read the bookmarks and rewrite the rows every node reads (subscriptions included). `tls =
//! false` for such a host is an explicit choice, logged as a warning each time the settings
//! are read. The same file's `[outputs]` is the node's outputs policy
//! ([`wsman_outputs::output_policy`]).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wsman_outputs::output_policy::{OutputsPolicy, PolicySettingError};
use wsman_outputs::secret_bindings::{SecretBindingError, SecretBindings};
use wsman_safe::PrivateFileError;
use zeroize::Zeroizing;

/// Heartbeat intervals a forwarder may stay silent before it counts as silent
/// (the `fleet` module), unless `[clients] silent_after_heartbeats` says otherwise.
pub const DEFAULT_SILENT_AFTER: u32 = 3;
/// The most intervals `silent_after_heartbeats` may be.
pub const MAX_SILENT_AFTER: u32 = 1000;

/// The most connections one collector keeps to PostgreSQL.
pub const MAX_POOL_SIZE: usize = 64;
/// Bound on `collector.toml` and on a password file (both small).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The store a collector opens.
#[derive(Clone, Debug)]
pub enum Backend {
    /// An SQLite file, created when missing.
    Sqlite { path: PathBuf },
    /// A PostgreSQL database shared with other collectors.
    Postgres(Box<PostgresSettings>),
}

/// How to reach PostgreSQL. `Debug` never shows the password (`tokio_postgres::Config`
/// redacts it).
#[derive(Clone, Debug)]
pub struct PostgresSettings {
    /// Parsed connection string, the password from `password_file` set in.
    pub connection: tokio_postgres::Config,
    /// TLS to the server, verified against `ca_file` or the web PKI roots.
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    /// At most this many connections at once; a call waits up to `acquire_timeout` for one.
    pub pool_size: usize,
    pub connect_timeout: Duration,
    /// A connection or statement that takes longer fails (503 to the forwarder), so a database
    /// that hangs never holds a delivery forever.
    pub statement_timeout: Duration,
    pub acquire_timeout: Duration,
    /// The node's `[outputs]`: what a subscription read from this database may do here.
    pub outputs: OutputsPolicy,
}

impl PostgresSettings {
    /// `user@host:port/dbname`, for log lines and errors (never the password).
    pub fn describe(&self) -> String {
        let host = self
            .connection
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect::<Vec<_>>()
            .join(",");
        let port = self
            .connection
            .get_ports()
            .first()
            .map_or("5432".to_owned(), u16::to_string);
        format!(
            "{}@{}:{}/{}{}",
            self.connection.get_user().unwrap_or("?"),
            host,
            port,
            self.connection.get_dbname().unwrap_or("?"),
            if self.tls { " (TLS)" } else { "" }
        )
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    bookmarks: Option<Section>,
    #[serde(default)]
    clients: Option<ClientsSection>,
    #[serde(default)]
    outputs: Option<OutputsPolicy>,
    #[serde(default)]
    store: Option<StoreSection>,
    /// `[secrets.NAME]`: where each secret may be sent ([`wsman_outputs::secrets`]).
    #[serde(default)]
    secrets: Option<SecretBindings>,
}

/// `[store]`: the event store's retention and who may search it ([`crate::store::events`]).
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    max_age_days: Option<i64>,
    max_size_mb: Option<u64>,
    partition_hours: Option<i64>,
    sddl: Option<String>,
    forwarder_events_per_second: Option<u32>,
    forwarder_share_percent: Option<u8>,
}

/// `[clients]`: how forwarders are judged (the `fleet` module).
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClientsSection {
    silent_after_heartbeats: Option<u32>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Section {
    backend: Option<String>,
    path: Option<PathBuf>,
    connection: Option<String>,
    password_file: Option<PathBuf>,
    tls: Option<bool>,
    ca_file: Option<PathBuf>,
    pool_size: Option<usize>,
    connect_timeout_seconds: Option<u64>,
    statement_timeout_seconds: Option<u64>,
}

/// Why the `[bookmarks]` settings cannot be used (in words, never the password).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{}: {source}", .file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", .file.display())]
    Toml {
        file: PathBuf,
        source: toml::de::Error,
    },
    #[error("{}: [bookmarks] backend = \"postgres\" needs connection = \"host=... user=... dbname=...\"", .file.display())]
    NoConnection { file: PathBuf },
    /// The parse error of a connection string never quotes the string back.
    #[error("{}: [bookmarks] connection: {source}", .file.display())]
    Connection {
        file: PathBuf,
        source: tokio_postgres::Error,
    },
    #[error("{}: [bookmarks] connection names no {what}", .file.display())]
    Missing { file: PathBuf, what: &'static str },
    #[error("{}: [bookmarks] pool_size must be 1 to {MAX_POOL_SIZE}", .file.display())]
    PoolSize { file: PathBuf },
    #[error("{}: [bookmarks] {name} must be at least 1", .file.display())]
    TooShort { file: PathBuf, name: &'static str },
    #[error("{}: [bookmarks] {name} must be at most 3600", .file.display())]
    TooLong { file: PathBuf, name: &'static str },
    #[error("{}: [bookmarks] ca_file is set but tls is not", .file.display())]
    CaWithoutTls { file: PathBuf },
    #[error("{}: [store] {name} must be {range}", .file.display())]
    Store {
        file: PathBuf,
        name: &'static str,
        range: &'static str,
    },
    #[error("{}: [clients] silent_after_heartbeats must be 1 to {}", .file.display(), MAX_SILENT_AFTER)]
    SilentAfter { file: PathBuf },
    #[error("{}: [bookmarks] backend {backend:?}: \"sqlite\" or \"postgres\"", .file.display())]
    Backend { file: PathBuf, backend: String },
    #[error("{}: {source}", .file.display())]
    Policy {
        file: PathBuf,
        source: PolicySettingError,
    },
    #[error("{}: {source}", .file.display())]
    Secrets {
        file: PathBuf,
        source: SecretBindingError,
    },
    #[error("{} holds the bookmark database's password and is readable by others (mode {mode:o}): chmod 600 it", .file.display())]
    Readable { file: PathBuf, mode: u32 },
    #[error("{} holds the bookmark database's password and {source}", .file.display())]
    NotPrivate {
        file: PathBuf,
        source: wsman_safe::PrivateFileError,
    },
}

/// The backend `DIR/collector.toml` names; SQLite at `default_sqlite` when the file or its
/// `[bookmarks]` is absent. The error says what is wrong in words (never the password).
pub fn load(config_dir: &Path, default_sqlite: &Path) -> Result<Backend, SettingsError> {
    let file = config_dir.join("collector.toml");
    let Some((parsed, refusal)) = read_file(&file)? else {
        return Ok(Backend::Sqlite {
            path: default_sqlite.to_owned(),
        });
    };
    silent_after_of(parsed.clients.as_ref(), &file)?;
    let mut policy = parsed.outputs.unwrap_or_default();
    policy.check().map_err(|source| SettingsError::Policy {
        file: file.clone(),
        source,
    })?;
    policy.secrets = parsed.secrets.unwrap_or_default();
    policy
        .secrets
        .check()
        .map_err(|source| SettingsError::Secrets {
            file: file.clone(),
            source,
        })?;
    let section = parsed.bookmarks.unwrap_or_default();
    let mut backend = parse_section(section, &file, refusal, default_sqlite)?;
    if let Backend::Postgres(settings) = &mut backend {
        settings.outputs = policy;
    }
    Ok(backend)
}

/// Where each secret may be sent: `[secrets.NAME]` of `DIR/collector.toml` (none without it:
/// then no output sends a secret). A binding that is not checked sound stops the start.
pub fn secret_bindings(config_dir: &Path) -> Result<SecretBindings, SettingsError> {
    let file = config_dir.join("collector.toml");
    let bindings = read_file(&file)?
        .and_then(|(parsed, _)| parsed.secrets)
        .unwrap_or_default();
    bindings
        .check()
        .map_err(|source| SettingsError::Secrets { file, source })?;
    Ok(bindings)
}

/// How many heartbeat intervals a forwarder may stay silent before it counts as silent:
/// `[clients] silent_after_heartbeats` of `DIR/collector.toml` (read by the `fleet` module).
pub fn silent_after(config_dir: &Path) -> Result<u32, SettingsError> {
    let file = config_dir.join("collector.toml");
    let parsed = read_file(&file)?.map(|(parsed, _)| parsed);
    silent_after_of(parsed.as_ref().and_then(|p| p.clients.as_ref()), &file)
}

/// The event store's settings: `[store]` of `DIR/collector.toml`, the defaults without it.
pub fn store_settings(
    config_dir: &Path,
) -> Result<crate::store::events::StoreSettings, SettingsError> {
    let file = config_dir.join("collector.toml");
    let section = read_file(&file)?.and_then(|(parsed, _)| parsed.store);
    let mut settings = crate::store::events::StoreSettings::default();
    let Some(section) = section else {
        return Ok(settings);
    };
    let refuse = |name, range| SettingsError::Store {
        file: file.clone(),
        name,
        range,
    };
    if let Some(days) = section.max_age_days {
        if !(1..=3650).contains(&days) {
            return Err(refuse("max_age_days", "1 to 3650"));
        }
        settings.max_age_seconds = days * 86_400;
    }
    if let Some(mb) = section.max_size_mb {
        if mb == 0 || mb > 1 << 30 {
            return Err(refuse("max_size_mb", "1 to 1073741824"));
        }
        settings.max_bytes = Some(mb << 20);
    }
    if let Some(hours) = section.partition_hours {
        if !(1..=168).contains(&hours) {
            return Err(refuse("partition_hours", "1 to 168"));
        }
        settings.partition_seconds = hours * 3600;
    }
    if let Some(rate) = section.forwarder_events_per_second {
        if !(1..=1_000_000).contains(&rate) {
            return Err(refuse("forwarder_events_per_second", "1 to 1000000"));
        }
        settings.forwarder_events_per_second = rate;
    }
    if let Some(percent) = section.forwarder_share_percent {
        if !(1..=100).contains(&percent) {
            return Err(refuse("forwarder_share_percent", "1 to 100"));
        }
        settings.forwarder_share_percent = Some(percent);
    }
    settings.sddl = section.sddl;
    Ok(settings)
}

fn silent_after_of(clients: Option<&ClientsSection>, file: &Path) -> Result<u32, SettingsError> {
    match clients.and_then(|c| c.silent_after_heartbeats) {
        None => Ok(DEFAULT_SILENT_AFTER),
        Some(n) if (1..=MAX_SILENT_AFTER).contains(&n) => Ok(n),
        Some(_) => Err(SettingsError::SilentAfter {
            file: file.to_owned(),
        }),
    }
}

/// `DIR/collector.toml` parsed, with why it is not a private file (`None` when it is, as
/// [`wsman_safe::read_private`] judges the opened file whose text is parsed: a password may be
/// in it only then); `None` when there is no file.
#[allow(clippy::type_complexity)]
fn read_file(file: &Path) -> Result<Option<(File, Option<PrivateFileError>)>, SettingsError> {
    let read_error = |source| SettingsError::Read {
        file: file.to_owned(),
        source,
    };
    let (text, refusal) = match wsman_safe::read_private_text(file, MAX_FILE_BYTES) {
        Ok(text) => (text, None),
        Err(e) if e.is_not_found() => return Ok(None),
        Err(
            e @ (PrivateFileError::Link
            | PrivateFileError::NotAFile
            | PrivateFileError::Owner { .. }
            | PrivateFileError::Mode { .. }),
        ) => {
            // Not a private file: read as any config file, and no password may be in it.
            let text = read_bounded(file).map_err(read_error)?;
            (Zeroizing::new(text), Some(e))
        }
        Err(other) => return Err(read_error(other.into_io())),
    };
    toml::from_str(&text)
        .map(|parsed| Some((parsed, refusal)))
        .map_err(|source| SettingsError::Toml {
            file: file.to_owned(),
            source,
        })
}

fn parse_section(
    section: Section,
    file: &Path,
    refusal: Option<PrivateFileError>,
    default_sqlite: &Path,
) -> Result<Backend, SettingsError> {
    let file_ = || file.to_owned();
    match section.backend.as_deref().unwrap_or("sqlite") {
        "sqlite" => Ok(Backend::Sqlite {
            path: section.path.unwrap_or_else(|| default_sqlite.to_owned()),
        }),
        "postgres" | "postgresql" => {
            let text = section
                .connection
                .ok_or_else(|| SettingsError::NoConnection { file: file_() })?;
            let mut connection: tokio_postgres::Config =
                text.parse().map_err(|source| SettingsError::Connection {
                    file: file_(),
                    source,
                })?;
            if let (Some(_), Some(refusal)) = (connection.get_password(), refusal) {
                return Err(not_private(file, refusal));
            }
            if let Some(password_file) = &section.password_file {
                let password = wsman_safe::read_private_text(password_file, MAX_FILE_BYTES)
                    .map_err(|error| not_private(password_file, error))?;
                connection.password(password.trim_end_matches(['\n', '\r']));
            }
            if connection.get_user().is_none() {
                return Err(SettingsError::Missing {
                    file: file_(),
                    what: "user",
                });
            }
            if connection.get_dbname().is_none() {
                return Err(SettingsError::Missing {
                    file: file_(),
                    what: "dbname",
                });
            }
            let pool_size = section.pool_size.unwrap_or(8);
            if pool_size == 0 || pool_size > MAX_POOL_SIZE {
                return Err(SettingsError::PoolSize { file: file_() });
            }
            let seconds = |value: Option<u64>, default: u64, name: &'static str| match value
                .unwrap_or(default)
            {
                0 => Err(SettingsError::TooShort {
                    file: file_(),
                    name,
                }),
                s if s > 3600 => Err(SettingsError::TooLong {
                    file: file_(),
                    name,
                }),
                s => Ok(Duration::from_secs(s)),
            };
            let connect_timeout = seconds(
                section.connect_timeout_seconds,
                5,
                "connect_timeout_seconds",
            )?;
            let statement_timeout = seconds(
                section.statement_timeout_seconds,
                10,
                "statement_timeout_seconds",
            )?;
            connection.connect_timeout(connect_timeout);
            connection.application_name("wsmand collector");
            let loopback = on_loopback(&connection);
            let tls = section.tls.unwrap_or(!loopback);
            if section.ca_file.is_some() && !tls {
                return Err(SettingsError::CaWithoutTls { file: file_() });
            }
            let settings = PostgresSettings {
                connection,
                tls,
                ca_file: section.ca_file,
                pool_size,
                connect_timeout,
                statement_timeout,
                acquire_timeout: statement_timeout,
                outputs: OutputsPolicy::default(),
            };
            if !tls && !loopback {
                tracing::warn!(file = %file.display(), database = %settings.describe(), "[bookmarks] tls = false: the connection to a database that is not on loopback is neither encrypted nor verified; whoever is on the path can read and rewrite the shared rows");
            }
            Ok(Backend::Postgres(Box::new(settings)))
        }
        other => Err(SettingsError::Backend {
            file: file_(),
            backend: other.to_owned(),
        }),
    }
}

/// Whether every host of `connection` is this machine (a loopback name or address, or a Unix
/// socket): the one case where no TLS is the default.
pub fn on_loopback(connection: &tokio_postgres::Config) -> bool {
    let addresses_loopback = connection.get_hostaddrs().iter().all(|a| a.is_loopback());
    let hosts_loopback = connection.get_hosts().iter().all(|host| match host {
        tokio_postgres::config::Host::Unix(_) => true,
        tokio_postgres::config::Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    });
    addresses_loopback && hosts_loopback
}

/// The text of a file that holds a secret: refused unless the opened file is private
/// ([`wsman_safe::read_private_text`]).
pub fn read_private(path: &Path) -> Result<Zeroizing<String>, SettingsError> {
    wsman_safe::read_private_text(path, MAX_FILE_BYTES).map_err(|error| not_private(path, error))
}

/// [`read_private`] as the outputs read a named secret
/// ([`wsman_outputs::secrets::ReadPrivate`]).
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, Box<dyn Error + Send + Sync>> {
    Ok(read_private(path)?)
}

/// The error of a file that holds a secret and is not private (or could not be read).
fn not_private(path: &Path, error: PrivateFileError) -> SettingsError {
    let file = path.to_owned();
    match error {
        PrivateFileError::Mode { mode } => SettingsError::Readable { file, mode },
        PrivateFileError::Io(source) => SettingsError::Read { file, source },
        source => SettingsError::NotPrivate { file, source },
    }
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[store]`: the defaults without it, its values read, each bound refused by name.
    #[test]
    fn store_settings_are_read_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let defaults = store_settings(dir.path()).expect("no file");
        assert_eq!(defaults, crate::store::events::StoreSettings::default());
        let write =
            |text: &str| std::fs::write(dir.path().join("collector.toml"), text).expect("write");
        write("[store]\nmax_age_days = 7\nmax_size_mb = 100\npartition_hours = 6\nsddl = \"O:NSG:BAD:P\"\nforwarder_events_per_second = 50\nforwarder_share_percent = 10\n");
        let read = store_settings(dir.path()).expect("settings");
        assert_eq!(read.forwarder_events_per_second, 50);
        assert_eq!(read.share().bytes_per_period, Some((10u64 << 20) as f64));
        assert_eq!(read.max_age_seconds, 7 * 86_400);
        assert_eq!(read.max_bytes, Some(100 << 20));
        assert_eq!(read.partition_seconds, 6 * 3600);
        assert_eq!(read.sddl.as_deref(), Some("O:NSG:BAD:P"));
        for (line, name) in [
            ("max_age_days = 0", "max_age_days"),
            ("max_size_mb = 0", "max_size_mb"),
            ("partition_hours = 169", "partition_hours"),
            (
                "forwarder_events_per_second = 0",
                "forwarder_events_per_second",
            ),
            ("forwarder_share_percent = 101", "forwarder_share_percent"),
        ] {
            write(&format!("[store]\n{line}\n"));
            let error = store_settings(dir.path()).expect_err(line).to_string();
            assert!(error.contains(name), "{error}");
        }
    }

    /// What `load` logs, and its answer, for a `collector.toml` whose `[bookmarks]` connects
    /// with `connection` and has `more` lines.
    fn load_logged(connection: &str, more: &str) -> (Backend, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("collector.toml"),
            format!("[bookmarks]\nbackend = \"postgres\"\nconnection = \"{connection}\"\n{more}"),
        )
        .expect("collector.toml");
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        let backend = tracing::subscriber::with_default(subscriber, || {
            load(dir.path(), Path::new("/unused.sqlite"))
        })
        .expect("settings");
        let text = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
        (backend, text)
    }

    /// The formatted log lines written while a test's subscriber is the default.
    #[derive(Clone, Default)]
    struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("logs").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
        type Writer = Logs;
        fn make_writer(&'a self) -> Logs {
            self.clone()
        }
    }

    fn tls_of(backend: &Backend) -> bool {
        match backend {
            Backend::Postgres(settings) => settings.tls,
            Backend::Sqlite { .. } => panic!("not PostgreSQL"),
        }
    }

    #[test]
    fn off_loopback_tls_is_the_default_and_the_opt_out_is_logged() {
        let remote = "host=db.example.com user=wec dbname=wec";
        let (backend, logs) = load_logged(remote, "");
        assert!(tls_of(&backend), "a remote database is verified by default");
        assert!(!logs.contains("tls = false"), "{logs}");
        let (backend, _) = load_logged("host=127.0.0.1,db.example.com user=wec dbname=wec", "");
        assert!(tls_of(&backend), "one remote host is enough");
        for local in [
            "host=127.0.0.1 user=wec dbname=wec",
            "host=localhost user=wec dbname=wec",
            "host=::1 user=wec dbname=wec",
            "host=/run/postgresql user=wec dbname=wec",
        ] {
            let (backend, logs) = load_logged(local, "");
            assert!(!tls_of(&backend), "{local}: loopback keeps the old default");
            assert!(!logs.contains("tls = false"), "{logs}");
        }
        // The opt-out is explicit, and said at every start.
        let (backend, logs) = load_logged(remote, "tls = false\n");
        assert!(!tls_of(&backend));
        assert!(
            logs.contains("WARN")
                && logs.contains("tls = false")
                && logs.contains("db.example.com"),
            "{logs}"
        );
    }

    use std::os::unix::fs::{symlink, PermissionsExt as _};

    const CONNECTION: &str = "host=127.0.0.1 user=wec dbname=wec";

    fn private_file(path: &Path, text: &str) {
        std::fs::write(path, text).expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    /// A password is read only from a file judged private on the opened file: a link to a
    /// private file is not one (whoever may replace the link chooses what is read).
    #[test]
    fn a_password_behind_a_link_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let real = dir.path().join("real.password");
        private_file(&real, "secret\n");
        let link = dir.path().join("wec-db.password");
        symlink(&real, &link).expect("symlink");
        let toml = |password_file: &Path| {
            format!(
                "[bookmarks]\nbackend = \"postgres\"\nconnection = \"{CONNECTION}\"\npassword_file = \"{}\"\n",
                password_file.display()
            )
        };
        private_file(&dir.path().join("collector.toml"), &toml(&real));
        assert!(load(dir.path(), Path::new("/x")).is_ok());
        private_file(&dir.path().join("collector.toml"), &toml(&link));
        let refused = load(dir.path(), Path::new("/x")).expect_err("a link");
        assert!(
            matches!(refused, SettingsError::NotPrivate { .. }),
            "{refused}"
        );

        // collector.toml itself, with the password in its connection string, behind a link.
        let other = tempfile::tempdir().expect("dir");
        let real = other.path().join("real.toml");
        private_file(
            &real,
            &format!("[bookmarks]\nbackend = \"postgres\"\nconnection = \"{CONNECTION} password=secret\"\n"),
        );
        let config = tempfile::tempdir().expect("dir");
        symlink(&real, config.path().join("collector.toml")).expect("symlink");
        let refused = load(config.path(), Path::new("/x")).expect_err("a link");
        assert!(
            matches!(refused, SettingsError::NotPrivate { .. }),
            "{refused}"
        );
        // Without a password the same link is an ordinary config file.
        private_file(
            &real,
            &format!("[bookmarks]\nbackend = \"postgres\"\nconnection = \"{CONNECTION}\"\n"),
        );
        assert!(load(config.path(), Path::new("/x")).is_ok());
    }
}
