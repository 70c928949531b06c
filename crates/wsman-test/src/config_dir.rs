//! A temporary config dir in the shared layout wsmand reads:
//! `config.toml`, `accounts.toml` (through `wsmand account add`), `certs/THUMB.{crt,key}`,
//! `policy.d/*.toml`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha1::{Digest, Sha1};

use crate::process;

/// The service account every harness config dir gets (run-as root: an administrator).
pub const SERVICE_ACCOUNT: &str = "svc-test";
/// Its password. Tests also check it never shows up in the daemon's log.
pub const SERVICE_PASSWORD: &str = "S3rvice-Pass!word";

/// One `[[Listener]]` entry.
#[derive(Clone, Debug)]
pub struct ListenerSpec {
    pub address: String,
    pub transport: String,
    pub port: u16,
    pub certificate_thumbprint: Option<String>,
}

impl ListenerSpec {
    /// An HTTP listener on 127.0.0.1:`port`.
    pub fn http(port: u16) -> Self {
        Self {
            address: "IP:127.0.0.1".to_owned(),
            transport: "HTTP".to_owned(),
            port,
            certificate_thumbprint: None,
        }
    }

    /// An HTTPS listener on 127.0.0.1:`port` with the given certificate thumbprint.
    pub fn https(port: u16, thumbprint: &str) -> Self {
        Self {
            address: "IP:127.0.0.1".to_owned(),
            transport: "HTTPS".to_owned(),
            port,
            certificate_thumbprint: Some(thumbprint.to_owned()),
        }
    }
}

/// A config dir that is deleted when dropped.
pub struct ConfigDir {
    dir: tempfile::TempDir,
    /// Extra `Key = value` lines per table (`Config`, `Config.Service`, ...).
    tables: BTreeMap<String, Vec<String>>,
    listeners: Vec<ListenerSpec>,
}

impl ConfigDir {
    /// An empty dir with the test defaults: Basic on, AllowUnencrypted on (loopback HTTP
    /// tests need it), no listeners yet. The client side too: the `winrm`/`winrs` tools read
    /// `winrm/config/client` from the same directory, and like Windows they need
    /// Client/AllowUnencrypted and the host in Client/TrustedHosts for HTTP.
    pub fn new() -> Self {
        let dir = crate::scratch_dir("wsmand-test-", "a configuration");
        let mut this = Self {
            dir,
            tables: BTreeMap::new(),
            listeners: Vec::new(),
        };
        this.set("Config.Service", "AllowUnencrypted", "true");
        this.set("Config.Service.Auth", "Basic", "true");
        this.set("Config.Client", "AllowUnencrypted", "true");
        this.set("Config.Client", "TrustedHosts", "\"127.0.0.1,localhost\"");
        this
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Set `key = value` (value is written as TOML as given: quote strings yourself) in `table`.
    pub fn set(&mut self, table: &str, key: &str, value: &str) -> &mut Self {
        let lines = self.tables.entry(table.to_owned()).or_default();
        lines.retain(|line| !line.starts_with(&format!("{key} =")));
        lines.push(format!("{key} = {value}"));
        self
    }

    pub fn listener(&mut self, spec: ListenerSpec) -> &mut Self {
        self.listeners.push(spec);
        self
    }

    /// The config.toml text this dir will hold.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (table, lines) in &self.tables {
            let _ = writeln!(out, "[{table}]");
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
            out.push('\n');
        }
        for l in &self.listeners {
            let _ = writeln!(out, "[[Listener]]");
            let _ = writeln!(out, "Address = \"{}\"", l.address);
            let _ = writeln!(out, "Transport = \"{}\"", l.transport);
            let _ = writeln!(out, "Port = {}", l.port);
            if let Some(thumb) = &l.certificate_thumbprint {
                let _ = writeln!(out, "CertificateThumbprint = \"{thumb}\"");
            }
            out.push('\n');
        }
        out
    }

    /// Write config.toml.
    pub fn write(&self) -> &Self {
        self.write_raw("config.toml", &self.render());
        self
    }

    /// Write any file under the dir (creating parents), e.g. a corrupted config.toml.
    pub fn write_raw(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, contents).expect("write config file");
        path
    }

    /// Write `policy.d/NAME.toml`.
    pub fn write_policy(&self, name: &str, contents: &str) -> PathBuf {
        self.write_raw(&format!("policy.d/{name}.toml"), contents)
    }

    /// A `wsmand` command with this dir as its config dir (flag and environment both set).
    pub fn wsmand_command(&self) -> Command {
        let mut command = Command::new(crate::binaries::wsmand());
        command.env("WSMAND_CONFIG_DIR", self.path());
        command
    }

    /// `wsmand account add NAME --password-stdin [--run-as USER]`; panics when it fails.
    pub fn add_account(&self, name: &str, password: &str, run_as: Option<&str>) {
        let run_as: Vec<&str> = run_as
            .map(|user| vec!["--run-as", user])
            .unwrap_or_default();
        self.account_add(name, password, &run_as);
    }

    /// `wsmand account add NAME --password-stdin --ntlm --run-as USER`: an account that also
    /// keeps the NT hash NTLM (and so Negotiate and CredSSP) needs; panics when it fails.
    pub fn add_ntlm_account(&self, name: &str, password: &str, run_as: &str) {
        self.account_add(name, password, &["--ntlm", "--run-as", run_as]);
    }

    fn account_add(&self, name: &str, password: &str, options: &[&str]) {
        let mut command = self.wsmand_command();
        command.args(["account", "add", name, "--password-stdin"]);
        command.args(options);
        let finished = process::run(
            &mut command,
            Some(&format!("{password}\n")),
            Duration::from_secs(60),
        );
        assert!(
            finished.status.success(),
            "wsmand account add {name} failed: {}",
            finished.describe()
        );
    }

    /// The standard service account ([`SERVICE_ACCOUNT`], run-as root).
    pub fn add_service_account(&self) {
        self.add_account(SERVICE_ACCOUNT, SERVICE_PASSWORD, Some("root"));
    }

    /// A configuration for sealed or TLS-only traffic: `AllowUnencrypted` off, an HTTP and an
    /// HTTPS listener on free ports. Answers it with the HTTP port, the HTTPS port and the
    /// HTTPS certificate's thumbprint.
    pub fn encrypted_only() -> (Self, u16, u16, String) {
        let http_port = crate::free_port();
        let https_port = crate::free_port();
        let mut config = Self::new();
        config.set("Config.Service", "AllowUnencrypted", "false");
        config.listener(ListenerSpec::http(http_port));
        let thumbprint = config.add_https_listener(https_port);
        (config, http_port, https_port, thumbprint)
    }

    /// An HTTPS listener on `port` with a certificate generated for it
    /// ([`ConfigDir::add_certificate`]); the certificate's thumbprint.
    pub fn add_https_listener(&mut self, port: u16) -> String {
        let thumbprint = self.add_certificate();
        self.listener(ListenerSpec::https(port, &thumbprint));
        thumbprint
    }

    /// Generate a self-signed certificate for `localhost`/127.0.0.1 and store it as
    /// `certs/THUMB.crt` + `certs/THUMB.key`; returns THUMB (upper-case hex SHA-1 of the DER).
    pub fn add_certificate(&self) -> String {
        let generated = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("generate self-signed certificate");
        let digest = Sha1::digest(generated.cert.der());
        let thumbprint: String = digest.iter().map(|b| format!("{b:02X}")).collect();
        self.write_raw(&format!("certs/{thumbprint}.crt"), &generated.cert.pem());
        let key = self.write_raw(
            &format!("certs/{thumbprint}.key"),
            &generated.key_pair.serialize_pem(),
        );
        restrict_to_owner(&key);
        thumbprint
    }
}

impl Default for ConfigDir {
    fn default() -> Self {
        Self::new()
    }
}

fn restrict_to_owner(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}
