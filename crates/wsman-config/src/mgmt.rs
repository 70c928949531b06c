//! The management service's settings (`DIR/mgmt.toml`) and its manager users
//! (`DIR/mgmt-users.toml`), with the meaning IIS' Web Management Service (WMSVC) gives them.
//!
//! Both the service (`wsmand-mgmt`) and `wsmand mgmt get|set` read this one definition, so the
//! names the help prints are the names the file holds. WMSVC is configured only while it is
//! stopped; [`is_running`] tells whether a service holds the directory's run lock
//! (`DIR/.mgmt.lock`), which `wsmand mgmt set` checks before it writes.

use std::fs::{File, OpenOptions};
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wsman_auth::{AccountError, AccountStore};

use crate::accounts::AccountsFile;
use crate::fsutil::write_atomic;

/// The settings file inside the config directory.
pub const SETTINGS_FILE_NAME: &str = "mgmt.toml";
/// The manager users' file (argon2id hashes, mode 0600).
pub const USERS_FILE_NAME: &str = "mgmt-users.toml";
/// Held (an exclusive `flock`) by a running service for its whole life.
pub const RUN_LOCK_FILE_NAME: &str = ".mgmt.lock";
/// WMSVC's port.
pub const DEFAULT_PORT: u16 = 8172;
/// Largest settings file read: it is small text; a bound keeps a mistaken path harmless.
const MAX_SETTINGS_FILE_LEN: u64 = 256 * 1024;
/// Most hosts the console manages from one file.
pub const MAX_HOSTS: usize = 1000;

/// Which credentials the login form accepts (WMSVC's "Identity Credentials").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Credentials {
    /// "Windows credentials only": Linux accounts through PAM.
    #[serde(rename = "os")]
    Os,
    /// "Windows credentials or IIS Manager credentials": PAM, or a manager user.
    #[serde(rename = "os+manager")]
    OsOrManager,
}

/// What happens to a client no restriction names (WMSVC's "Access for unspecified clients").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientAccess {
    /// Accepted.
    Allow,
    /// Refused when the TCP connection is accepted.
    Deny,
}

/// Where each request is logged (WMSVC's "Enable logging").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestLog {
    /// No request log (logins, denials and actions are still logged).
    #[serde(rename = "off")]
    Off,
    /// The service's log: the journal under systemd, else stderr.
    #[serde(rename = "journal")]
    Journal,
}

/// One managed host (only hosts named here are ever contacted: no server-side request forgery).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ManagedHost {
    /// The name the console shows and its URLs use (`/hosts/NAME`).
    pub name: String,
    /// The WinRM endpoint, e.g. `https://server:5986/wsman`.
    pub url: String,
    /// The account the console authenticates as on that host (Basic over HTTPS, or over HTTP
    /// with `AllowUnencrypted`).
    pub username: String,
    /// A file (mode 0600) holding that account's password.
    pub password_file: PathBuf,
    /// Basic over plain HTTP (Windows' Client/AllowUnencrypted).
    #[serde(default)]
    pub allow_unencrypted: bool,
    /// Skip the certificate's CA check (`-skipCAcheck`), for self-signed lab hosts.
    #[serde(default)]
    pub skip_ca_check: bool,
    /// The host groups this host belongs to (a role's rule names `group:NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Further accounts on this host that a role may run as (`Role.RunAs`), instead of
    /// `Username`: what the role's users do on the host is done, and audited there, as that
    /// account.
    #[serde(default, rename = "RunAs", skip_serializing_if = "Vec::is_empty")]
    pub run_as: Vec<RunAsAccount>,
}

/// An account on a managed host that a role may run as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RunAsAccount {
    /// The account's name on the host (what `Role.RunAs` names).
    pub username: String,
    /// A file (mode 0600) holding its password.
    pub password_file: PathBuf,
}

/// Whether a delegation rule grants or refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// Grants what it matches, unless a Deny rule of any of the user's roles matches too.
    Allow,
    /// Refuses what it matches, whatever any Allow rule says.
    Deny,
}

/// What a user does with a resource on a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Reading (pages, their JSON).
    Read,
    /// Changing (service actions, terminating a process).
    Change,
    /// Opening a terminal (a WinRS shell).
    Shell,
}

impl Action {
    /// The word used in the file and in log lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Change => "change",
            Self::Shell => "shell",
        }
    }
}

/// One delegation rule of a role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DelegationRule {
    /// Allow or Deny.
    pub effect: Effect,
    /// Host names, `group:NAME` or `*` (every host).
    pub hosts: Vec<String>,
    /// Resource URI prefixes (`http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service`)
    /// or `*` (every resource).
    pub resources: Vec<String>,
    /// The actions it covers.
    pub actions: Vec<Action>,
}

/// A role: who holds it, what its rules grant or refuse, and the account it runs as on the
/// hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Role {
    /// The name log lines use.
    pub name: String,
    /// Manager user names; `os:NAME` for an OS user, `os:*` for every OS user who may log in,
    /// `os-group:NAME` for every OS user in the Linux group NAME (primary or supplementary, as
    /// the OS reports the user's groups at login).
    pub members: Vec<String>,
    /// One of the hosts' `RunAs` accounts, used for everything this role allows; none: the
    /// host's `Username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<String>,
    /// The rules, in the order log lines number them (from 1).
    #[serde(default, rename = "Rule")]
    pub rules: Vec<DelegationRule>,
}

/// `DIR/mgmt.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MgmtSettings {
    /// WMSVC `EnableRemoteManagement`: off = the service listens on loopback only.
    pub enable_remote_management: bool,
    /// WMSVC `Port`.
    pub port: u16,
    /// WMSVC `IPAddress`: `*` (all unassigned) or addresses to bind.
    pub bind_addresses: Vec<String>,
    /// WMSVC `SslCertificateHash`: `auto` (self-signed, generated) or `FILE.pem` paths in
    /// `CertificateFile` and `KeyFile`.
    pub certificate: String,
    /// The PEM certificate chain when `Certificate` is `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_file: Option<PathBuf>,
    /// The PEM private key when `Certificate` is `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// WMSVC `RequiresWindowsCredentials`: `os` (1) or `os+manager` (0).
    pub credentials: Credentials,
    /// WMSVC `RemoteRestrictions`, "Access for unspecified clients".
    pub unspecified_clients: ClientAccess,
    /// WMSVC `RemoteRestrictions`, Allow entries: addresses or `ADDR/BITS`, IPv4 or IPv6.
    pub allowed_clients: Vec<String>,
    /// WMSVC `RemoteRestrictions`, Deny entries (a deny entry wins over an allow entry).
    pub denied_clients: Vec<String>,
    /// WMSVC `RemoteRestrictions`, Allow entries by domain name (`example.com` names it and
    /// every name below it), matched against the client's forward-confirmed reverse name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_domains: Vec<String>,
    /// WMSVC `RemoteRestrictions`, Deny entries by domain name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_domains: Vec<String>,
    /// WMSVC `EnableLogging`: requests to the journal, or not.
    pub request_log: RequestLog,
    /// WMSVC `LoggingDirectory`: requests also to one W3C extended log file a day in this
    /// directory (created at start, owned by the serving user); none: no files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_log_directory: Option<PathBuf>,
    /// Minutes without a request after which a console session ends.
    pub session_idle_minutes: u32,
    /// Hours after login after which a console session ends whatever its use.
    pub session_lifetime_hours: u32,
    /// The PAM service OS-credential logins are checked under (`/etc/pam.d/NAME`).
    #[serde(default = "default_pam_service")]
    pub pam_service: String,
    /// The Linux group whose members may log in with OS credentials; empty: no OS user may
    /// (deny by default: PAM accepting a password is not enough).
    #[serde(default = "default_os_login_group")]
    pub os_login_group: String,
    /// The hosts the console manages.
    #[serde(default, rename = "Host", skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<ManagedHost>,
    /// Who may do what on which hosts: nothing a role does not allow (deny by default).
    #[serde(default, rename = "Role", skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
}

impl Default for MgmtSettings {
    fn default() -> Self {
        Self {
            enable_remote_management: false,
            port: DEFAULT_PORT,
            bind_addresses: vec!["*".to_owned()],
            certificate: "auto".to_owned(),
            certificate_file: None,
            key_file: None,
            credentials: Credentials::Os,
            unspecified_clients: ClientAccess::Allow,
            allowed_clients: Vec::new(),
            denied_clients: Vec::new(),
            allowed_domains: Vec::new(),
            denied_domains: Vec::new(),
            request_log: RequestLog::Journal,
            request_log_directory: None,
            session_idle_minutes: 15,
            session_lifetime_hours: 8,
            pam_service: default_pam_service(),
            os_login_group: default_os_login_group(),
            hosts: Vec::new(),
            roles: Vec::new(),
        }
    }
}

fn default_pam_service() -> String {
    "wsmand".to_owned()
}

fn default_os_login_group() -> String {
    "wsmand-admins".to_owned()
}

/// A PAM service or group name: what `/etc/pam.d` and `/etc/group` can hold, nothing a path
/// or a shell could read otherwise.
fn is_plain_name(text: &str) -> bool {
    text.len() <= 64
        && !text.starts_with(['-', '.'])
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// One setting as `wsmand mgmt get|set` shows it: our name, WMSVC's name, what it means.
#[derive(Clone, Copy, Debug)]
pub struct SettingHelp {
    /// The key in `mgmt.toml` and on the command line.
    pub name: &'static str,
    /// Where WMSVC keeps the same setting (`HKLM\SOFTWARE\Microsoft\WebManagement\Server`).
    pub windows_name: &'static str,
    /// What it does here.
    pub meaning: &'static str,
}

/// Every scalar setting, in the order `get` prints them. Hosts are edited in the file.
pub const SETTINGS: &[SettingHelp] = &[
    SettingHelp {
        name: "EnableRemoteManagement",
        windows_name: "EnableRemoteManagement",
        meaning: "true: listen on BindAddresses; false: loopback only",
    },
    SettingHelp {
        name: "Port",
        windows_name: "Port",
        meaning: "TCP port (HTTPS only)",
    },
    SettingHelp {
        name: "BindAddresses",
        windows_name: "IPAddress",
        meaning: "comma list of addresses, * = all",
    },
    SettingHelp {
        name: "Certificate",
        windows_name: "SslCertificateHash",
        meaning: "auto (self-signed for host name and addresses) or file",
    },
    SettingHelp {
        name: "CertificateFile",
        windows_name: "SslCertificateHash",
        meaning: "PEM certificate chain when Certificate = file",
    },
    SettingHelp {
        name: "KeyFile",
        windows_name: "SslCertificateHash",
        meaning: "PEM private key (mode 0600) when Certificate = file",
    },
    SettingHelp {
        name: "Credentials",
        windows_name: "RequiresWindowsCredentials",
        meaning: "os (Windows credentials only) or os+manager (or manager users)",
    },
    SettingHelp {
        name: "UnspecifiedClients",
        windows_name: "RemoteRestrictions (access for unspecified clients)",
        meaning: "Allow or Deny, for clients no entry names",
    },
    SettingHelp {
        name: "AllowedClients",
        windows_name: "RemoteRestrictions (Allow entries)",
        meaning: "comma list of addresses or ADDR/BITS, IPv4 and IPv6",
    },
    SettingHelp {
        name: "DeniedClients",
        windows_name: "RemoteRestrictions (Deny entries)",
        meaning: "comma list of addresses or ADDR/BITS; Deny wins",
    },
    SettingHelp {
        name: "AllowedDomains",
        windows_name: "RemoteRestrictions (Allow entries, domain names)",
        meaning: "comma list of domains (forward-confirmed reverse DNS)",
    },
    SettingHelp {
        name: "DeniedDomains",
        windows_name: "RemoteRestrictions (Deny entries, domain names)",
        meaning: "comma list of domains; Deny wins",
    },
    SettingHelp {
        name: "RequestLog",
        windows_name: "EnableLogging",
        meaning: "journal or off",
    },
    SettingHelp {
        name: "RequestLogDirectory",
        windows_name: "LoggingDirectory",
        meaning: "absolute directory for one W3C log file a day; empty: none",
    },
    SettingHelp {
        name: "SessionIdleMinutes",
        windows_name: "-",
        meaning: "console session idle timeout",
    },
    SettingHelp {
        name: "SessionLifetimeHours",
        windows_name: "-",
        meaning: "console session absolute timeout",
    },
    SettingHelp {
        name: "PamService",
        windows_name: "-",
        meaning: "PAM service for OS-credential logins (/etc/pam.d/NAME)",
    },
    SettingHelp {
        name: "OsLoginGroup",
        windows_name: "-",
        meaning: "Linux group whose members may log in with OS credentials; empty: none",
    },
];

/// Why the settings could not be read, changed or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MgmtError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not the expected TOML.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A value is not valid for its setting.
    #[error("{name}: {message}")]
    Invalid {
        /// The setting.
        name: String,
        /// Why.
        message: String,
    },
}

fn invalid(name: &str, message: impl Into<String>) -> MgmtError {
    MgmtError::Invalid {
        name: name.to_owned(),
        message: message.into(),
    }
}

/// An address range of the client restrictions: `ADDR` or `ADDR/BITS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientNet {
    address: IpAddr,
    prefix: u8,
}

impl ClientNet {
    /// Parses `ADDR` or `ADDR/BITS`, IPv4 or IPv6.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an address or ADDR/BITS"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(bits) => bits
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0..={max}"))?,
        };
        Ok(Self { address, prefix })
    }

    /// True when `ip` is inside this range (IPv4-mapped IPv6 clients count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A domain entry: a DNS name, lower case, without a trailing dot.
fn domain(text: &str) -> Result<String, String> {
    let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then_some(name)
        .ok_or_else(|| format!("{text:?} is not a domain name"))
}

/// Whether `name` is `domain` or below it.
fn in_domain(name: &str, domain: &str) -> bool {
    name == domain
        || name
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

/// The client restrictions, parsed once: checked on every accepted TCP connection.
#[derive(Clone, Debug)]
pub struct ClientRules {
    allowed: Vec<ClientNet>,
    denied: Vec<ClientNet>,
    allowed_domains: Vec<String>,
    denied_domains: Vec<String>,
    unspecified: ClientAccess,
}

/// The answer for one client address, with the rule that decided (for the log line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientDecision {
    /// Accepted, by this rule.
    Allowed(String),
    /// Refused, by this rule.
    Denied(String),
}

impl ClientRules {
    /// The rules of `settings` (already validated by [`MgmtSettings::validate`]).
    pub fn from_settings(settings: &MgmtSettings) -> Result<Self, MgmtError> {
        let parse = |name: &str, list: &[String]| {
            list.iter()
                .map(|s| ClientNet::parse(s).map_err(|m| invalid(name, m)))
                .collect::<Result<Vec<_>, _>>()
        };
        let domains = |name: &str, list: &[String]| {
            list.iter()
                .map(|s| domain(s).map_err(|m| invalid(name, m)))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            allowed: parse("AllowedClients", &settings.allowed_clients)?,
            denied: parse("DeniedClients", &settings.denied_clients)?,
            allowed_domains: domains("AllowedDomains", &settings.allowed_domains)?,
            denied_domains: domains("DeniedDomains", &settings.denied_domains)?,
            unspecified: settings.unspecified_clients,
        })
    }

    /// Whether a decision needs the client's name (any domain entry): then the caller looks
    /// it up (forward-confirmed) and calls [`ClientRules::decide_named`].
    pub fn needs_name(&self) -> bool {
        !(self.allowed_domains.is_empty() && self.denied_domains.is_empty())
    }

    /// [`ClientRules::decide_named`] for a client without a (confirmed) name.
    pub fn decide(&self, ip: IpAddr) -> ClientDecision {
        self.decide_named(ip, None)
    }

    /// Deny entries first (a deny wins; addresses, then domains), then allow entries
    /// (addresses, then domains), then the unspecified-clients rule. `name` is the client's
    /// forward-confirmed reverse name; without one, no domain entry matches.
    pub fn decide_named(&self, ip: IpAddr, name: Option<&str>) -> ClientDecision {
        let domain_of = |list: &[String]| {
            name.and_then(|name| list.iter().find(|d| in_domain(name, d)).cloned())
        };
        if let Some(net) = self.denied.iter().find(|n| n.contains(ip)) {
            return ClientDecision::Denied(format!("DeniedClients {}/{}", net.address, net.prefix));
        }
        if let Some(domain) = domain_of(&self.denied_domains) {
            return ClientDecision::Denied(format!(
                "DeniedDomains {domain} ({})",
                name.unwrap_or_default()
            ));
        }
        if let Some(net) = self.allowed.iter().find(|n| n.contains(ip)) {
            return ClientDecision::Allowed(format!(
                "AllowedClients {}/{}",
                net.address, net.prefix
            ));
        }
        if let Some(domain) = domain_of(&self.allowed_domains) {
            return ClientDecision::Allowed(format!(
                "AllowedDomains {domain} ({})",
                name.unwrap_or_default()
            ));
        }
        match self.unspecified {
            ClientAccess::Allow => ClientDecision::Allowed("UnspecifiedClients Allow".to_owned()),
            ClientAccess::Deny => ClientDecision::Denied("UnspecifiedClients Deny".to_owned()),
        }
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_bool(name: &str, value: &str) -> Result<bool, MgmtError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(name, "expected true or false")),
    }
}

fn parse_positive(name: &str, value: &str) -> Result<u32, MgmtError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|v| (1..=10_000).contains(v))
        .ok_or_else(|| invalid(name, "expected a whole number from 1 to 10000"))
}

impl MgmtSettings {
    /// Path of the settings file in `config_dir`.
    pub fn path_in(config_dir: &Path) -> PathBuf {
        config_dir.join(SETTINGS_FILE_NAME)
    }

    /// Reads `DIR/mgmt.toml`; a missing file means the defaults (WMSVC as installed).
    pub fn load(config_dir: &Path) -> Result<Self, MgmtError> {
        let path = Self::path_in(config_dir);
        let text = match read_bounded(&path, MAX_SETTINGS_FILE_LEN) {
            Ok(Some(text)) => text,
            Ok(None) => return Ok(Self::default()),
            Err(source) => return Err(MgmtError::Io { path, source }),
        };
        Self::parse(&path, &text)
    }

    /// Parses and validates the file's text.
    pub fn parse(path: &Path, text: &str) -> Result<Self, MgmtError> {
        let settings: Self = toml::from_str(text).map_err(|e| MgmtError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every value (addresses, restrictions, certificate files, hosts).
    pub fn validate(&self) -> Result<(), MgmtError> {
        if self.port == 0 {
            return Err(invalid("Port", "must be 1..=65535"));
        }
        if self.bind_addresses.is_empty() {
            return Err(invalid("BindAddresses", "give * or at least one address"));
        }
        for address in &self.bind_addresses {
            if address != "*" && address.parse::<IpAddr>().is_err() {
                return Err(invalid(
                    "BindAddresses",
                    format!("{address:?} is not an address"),
                ));
            }
        }
        match self.certificate.as_str() {
            "auto" => {}
            "file" => {
                if self.certificate_file.is_none() || self.key_file.is_none() {
                    return Err(invalid(
                        "Certificate",
                        "file needs CertificateFile and KeyFile",
                    ));
                }
            }
            _ => return Err(invalid("Certificate", "expected auto or file")),
        }
        ClientRules::from_settings(self)?;
        if self
            .request_log_directory
            .as_ref()
            .is_some_and(|d| !d.is_absolute())
        {
            return Err(invalid("RequestLogDirectory", "expected an absolute path"));
        }
        if !(1..=10_000).contains(&self.session_idle_minutes) {
            return Err(invalid("SessionIdleMinutes", "expected 1..=10000"));
        }
        if !(1..=10_000).contains(&self.session_lifetime_hours) {
            return Err(invalid("SessionLifetimeHours", "expected 1..=10000"));
        }
        if self.pam_service.is_empty() || !is_plain_name(&self.pam_service) {
            return Err(invalid("PamService", "letters, digits, '-', '_' or '.'"));
        }
        if !is_plain_name(&self.os_login_group) {
            return Err(invalid("OsLoginGroup", "letters, digits, '-', '_' or '.'"));
        }
        if self.hosts.len() > MAX_HOSTS {
            return Err(invalid("Host", format!("at most {MAX_HOSTS} hosts")));
        }
        let mut names = std::collections::BTreeSet::new();
        for host in &self.hosts {
            let name_ok = !host.name.is_empty()
                && host.name.len() <= 64
                && host
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !name_ok {
                return Err(invalid(
                    "Host.Name",
                    format!("{:?}: 1 to 64 letters, digits, '-', '_' or '.'", host.name),
                ));
            }
            if !names.insert(host.name.as_str()) {
                return Err(invalid(
                    "Host.Name",
                    format!("{:?} appears twice", host.name),
                ));
            }
            if !(host.url.starts_with("http://") || host.url.starts_with("https://")) {
                return Err(invalid(
                    "Host.Url",
                    format!("{:?}: expected http:// or https://", host.url),
                ));
            }
            for group in &host.groups {
                if group.is_empty() || !is_plain_name(group) {
                    return Err(invalid(
                        "Host.Groups",
                        format!("{group:?}: letters, digits, '-', '_' or '.'"),
                    ));
                }
            }
        }
        self.validate_roles()
    }

    /// Roles name only hosts, groups and run-as accounts that exist (a typo would otherwise
    /// grant or refuse nothing, silently).
    fn validate_roles(&self) -> Result<(), MgmtError> {
        let mut names = std::collections::BTreeSet::new();
        for role in &self.roles {
            if role.name.is_empty() || !is_plain_name(&role.name) {
                return Err(invalid(
                    "Role.Name",
                    format!("{:?}: letters, digits, '-', '_' or '.'", role.name),
                ));
            }
            if !names.insert(role.name.as_str()) {
                return Err(invalid(
                    "Role.Name",
                    format!("{:?} appears twice", role.name),
                ));
            }
            for member in &role.members {
                let (name, wildcard) = match member.strip_prefix("os-group:") {
                    Some(group) => (group, false),
                    None => (member.strip_prefix("os:").unwrap_or(member), true),
                };
                if name.is_empty()
                    || !((wildcard && name == "*") || is_plain_name(name))
                    || name.len() > 64
                {
                    return Err(invalid(
                        "Role.Members",
                        format!("{member:?}: a manager user, os:NAME, os:* or os-group:NAME"),
                    ));
                }
            }
            if let Some(account) = &role.run_as {
                let known = self
                    .hosts
                    .iter()
                    .any(|h| h.run_as.iter().any(|a| &a.username == account));
                if !known {
                    return Err(invalid(
                        "Role.RunAs",
                        format!("{account:?} is no host's RunAs account"),
                    ));
                }
            }
            for rule in &role.rules {
                if rule.hosts.is_empty() || rule.resources.is_empty() || rule.actions.is_empty() {
                    return Err(invalid(
                        "Role.Rule",
                        format!(
                            "role {:?}: Hosts, Resources and Actions may not be empty",
                            role.name
                        ),
                    ));
                }
                for host in &rule.hosts {
                    let known = match host.strip_prefix("group:") {
                        _ if host == "*" => true,
                        Some(group) => self
                            .hosts
                            .iter()
                            .any(|h| h.groups.iter().any(|g| g == group)),
                        None => self.hosts.iter().any(|h| &h.name == host),
                    };
                    if !known {
                        return Err(invalid(
                            "Role.Rule.Hosts",
                            format!("{host:?}: no such host or group"),
                        ));
                    }
                }
                for resource in &rule.resources {
                    if resource != "*"
                        && !(resource.starts_with("http://") || resource.starts_with("https://"))
                    {
                        return Err(invalid(
                            "Role.Rule.Resources",
                            format!("{resource:?}: a resource URI prefix or *"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The value of one scalar setting as `get` prints it.
    pub fn get(&self, name: &str) -> Option<String> {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        };
        Some(match name {
            "EnableRemoteManagement" => self.enable_remote_management.to_string(),
            "Port" => self.port.to_string(),
            "BindAddresses" => self.bind_addresses.join(","),
            "Certificate" => self.certificate.clone(),
            "CertificateFile" => path(&self.certificate_file),
            "KeyFile" => path(&self.key_file),
            "Credentials" => match self.credentials {
                Credentials::Os => "os".to_owned(),
                Credentials::OsOrManager => "os+manager".to_owned(),
            },
            "UnspecifiedClients" => format!("{:?}", self.unspecified_clients),
            "AllowedClients" => self.allowed_clients.join(","),
            "DeniedClients" => self.denied_clients.join(","),
            "AllowedDomains" => self.allowed_domains.join(","),
            "DeniedDomains" => self.denied_domains.join(","),
            "RequestLog" => match self.request_log {
                RequestLog::Off => "off".to_owned(),
                RequestLog::Journal => "journal".to_owned(),
            },
            "RequestLogDirectory" => path(&self.request_log_directory),
            "SessionIdleMinutes" => self.session_idle_minutes.to_string(),
            "SessionLifetimeHours" => self.session_lifetime_hours.to_string(),
            "PamService" => self.pam_service.clone(),
            "OsLoginGroup" => self.os_login_group.clone(),
            _ => return None,
        })
    }

    /// Sets one scalar setting from its command-line text, then validates the whole.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), MgmtError> {
        let optional_path = |v: &str| (!v.is_empty()).then(|| PathBuf::from(v));
        match name {
            "EnableRemoteManagement" => self.enable_remote_management = parse_bool(name, value)?,
            "Port" => {
                self.port = value
                    .parse()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| invalid(name, "expected 1..=65535"))?;
            }
            "BindAddresses" => self.bind_addresses = split_list(value),
            "Certificate" => self.certificate = value.to_owned(),
            "CertificateFile" => self.certificate_file = optional_path(value),
            "KeyFile" => self.key_file = optional_path(value),
            "Credentials" => {
                self.credentials = match value {
                    "os" => Credentials::Os,
                    "os+manager" => Credentials::OsOrManager,
                    _ => return Err(invalid(name, "expected os or os+manager")),
                }
            }
            "UnspecifiedClients" => {
                self.unspecified_clients = match value.to_ascii_lowercase().as_str() {
                    "allow" => ClientAccess::Allow,
                    "deny" => ClientAccess::Deny,
                    _ => return Err(invalid(name, "expected Allow or Deny")),
                }
            }
            "AllowedClients" => self.allowed_clients = split_list(value),
            "DeniedClients" => self.denied_clients = split_list(value),
            "AllowedDomains" => self.allowed_domains = split_list(value),
            "DeniedDomains" => self.denied_domains = split_list(value),
            "RequestLog" => {
                self.request_log = match value {
                    "journal" => RequestLog::Journal,
                    "off" => RequestLog::Off,
                    _ => return Err(invalid(name, "expected journal or off")),
                }
            }
            "RequestLogDirectory" => self.request_log_directory = optional_path(value),
            "SessionIdleMinutes" => self.session_idle_minutes = parse_positive(name, value)?,
            "SessionLifetimeHours" => self.session_lifetime_hours = parse_positive(name, value)?,
            "PamService" if value.is_empty() || !is_plain_name(value) => {
                return Err(invalid(name, "letters, digits, '-', '_' or '.'"));
            }
            "PamService" => self.pam_service = value.to_owned(),
            "OsLoginGroup" if !is_plain_name(value) => {
                return Err(invalid(
                    name,
                    "letters, digits, '-', '_' or '.'; empty: nobody",
                ));
            }
            "OsLoginGroup" => self.os_login_group = value.to_owned(),
            _ => {
                let known: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
                return Err(invalid(
                    name,
                    format!("no such setting; known: {}", known.join(", ")),
                ));
            }
        }
        self.validate()
    }

    /// Writes `DIR/mgmt.toml` atomically (mode 0644: it holds no secret; host passwords live
    /// in their own 0600 files).
    pub fn save(&self, config_dir: &Path) -> Result<(), MgmtError> {
        self.validate()?;
        let path = Self::path_in(config_dir);
        let text = toml::to_string_pretty(self).map_err(|e| MgmtError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&path, text.as_bytes(), 0o644).map_err(|source| MgmtError::Io { path, source })
    }
}

/// The text of `path` when it exists, refused past `max` bytes.
fn read_bounded(path: &Path, max: u64) -> io::Result<Option<String>> {
    use std::io::Read as _;
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(Some(text))
}

/// The run lock of `config_dir`, taken by the service at start and held until it exits.
/// `Ok(None)`: another process holds it (a service already runs on this directory).
pub fn take_run_lock(config_dir: &Path) -> io::Result<Option<File>> {
    let path = config_dir.join(RUN_LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// True while a service runs on `config_dir` (holds its run lock).
pub fn is_running(config_dir: &Path) -> io::Result<bool> {
    let path = config_dir.join(RUN_LOCK_FILE_NAME);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(false),
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// The manager users of `config_dir` (`DIR/mgmt-users.toml`, mode 0600): the same argon2id
/// store and file handling as the service accounts, in a file of their own, since a manager
/// user is no WinRM account.
pub fn manager_users(config_dir: &Path) -> Result<AccountStore, AccountError> {
    AccountStore::open(Arc::new(AccountsFile::at(config_dir.join(USERS_FILE_NAME))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_wmsvc_as_installed() {
        let s = MgmtSettings::default();
        assert!(!s.enable_remote_management);
        assert_eq!(s.port, 8172);
        assert_eq!(s.credentials, Credentials::Os);
        s.validate().unwrap();
    }

    #[test]
    fn settings_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = MgmtSettings::default();
        s.set("Port", "9443").unwrap();
        s.set("DeniedClients", "10.0.0.0/8, ::1").unwrap();
        s.set("Credentials", "os+manager").unwrap();
        s.save(dir.path()).unwrap();
        assert_eq!(MgmtSettings::load(dir.path()).unwrap(), s);
        assert!(s.set("Port", "0").is_err());
        assert!(s.set("DeniedClients", "10.0.0.0/33").is_err());
        assert!(s.set("Nope", "1").is_err());
    }

    #[test]
    fn os_login_settings_default_to_the_admin_group_and_stay_plain_names() {
        let mut s = MgmtSettings::default();
        assert_eq!(s.get("PamService").as_deref(), Some("wsmand"));
        assert_eq!(s.get("OsLoginGroup").as_deref(), Some("wsmand-admins"));
        // A file from before these settings existed reads with the defaults.
        let old = "EnableRemoteManagement = false\nPort = 8172\nBindAddresses = [\"*\"]\n\
                   Certificate = \"auto\"\nCredentials = \"os\"\nUnspecifiedClients = \"Allow\"\n\
                   AllowedClients = []\nDeniedClients = []\nRequestLog = \"journal\"\n\
                   SessionIdleMinutes = 15\nSessionLifetimeHours = 8\n";
        let parsed = MgmtSettings::parse(Path::new("mgmt.toml"), old).unwrap();
        assert_eq!(parsed.os_login_group, "wsmand-admins");
        s.set("OsLoginGroup", "").unwrap();
        assert_eq!(s.get("OsLoginGroup").as_deref(), Some(""));
        for bad in ["../etc", "a b", "-x", "a/b"] {
            assert!(s.set("OsLoginGroup", bad).is_err(), "{bad}");
            assert!(s.set("PamService", bad).is_err(), "{bad}");
        }
        assert!(s.set("PamService", "").is_err());
        assert_eq!(
            s.get("OsLoginGroup").as_deref(),
            Some(""),
            "unchanged by refusals"
        );
        assert_eq!(s.get("PamService").as_deref(), Some("wsmand"));
    }

    #[test]
    fn deny_wins_then_allow_then_unspecified() {
        let mut s = MgmtSettings::default();
        s.set("AllowedClients", "10.0.0.0/8,fd00::/8").unwrap();
        s.set("DeniedClients", "10.1.0.0/16").unwrap();
        s.set("UnspecifiedClients", "Deny").unwrap();
        let rules = ClientRules::from_settings(&s).unwrap();
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        assert!(matches!(
            rules.decide(ip("10.2.3.4")),
            ClientDecision::Allowed(_)
        ));
        assert!(matches!(
            rules.decide(ip("10.1.3.4")),
            ClientDecision::Denied(_)
        ));
        assert!(matches!(
            rules.decide(ip("::ffff:10.1.3.4")),
            ClientDecision::Denied(_)
        ));
        assert!(matches!(
            rules.decide(ip("fd12::1")),
            ClientDecision::Allowed(_)
        ));
        assert!(matches!(
            rules.decide(ip("192.0.2.1")),
            ClientDecision::Denied(_)
        ));
        assert!(ClientNet::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("8.8.8.8")));
    }

    #[test]
    fn domains_match_confirmed_names_at_and_below_them() {
        let mut s = MgmtSettings::default();
        s.set("AllowedDomains", "Example.COM.").unwrap();
        s.set("DeniedDomains", "bad.example.com").unwrap();
        s.set("UnspecifiedClients", "Deny").unwrap();
        assert_eq!(s.get("AllowedDomains").as_deref(), Some("Example.COM."));
        let rules = ClientRules::from_settings(&s).unwrap();
        assert!(rules.needs_name());
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let decide = |name| rules.decide_named(ip, name);
        assert!(matches!(
            decide(Some("example.com")),
            ClientDecision::Allowed(_)
        ));
        assert!(matches!(
            decide(Some("www.example.com")),
            ClientDecision::Allowed(_)
        ));
        assert!(matches!(
            decide(Some("notexample.com")),
            ClientDecision::Denied(_)
        ));
        assert_eq!(
            decide(Some("x.bad.example.com")),
            ClientDecision::Denied("DeniedDomains bad.example.com (x.bad.example.com)".into())
        );
        assert!(
            matches!(decide(None), ClientDecision::Denied(r) if r == "UnspecifiedClients Deny")
        );
        for bad in ["a b", "-x.com", "a..b", "x/y"] {
            assert!(s.set("DeniedDomains", bad).is_err(), "{bad}");
        }
        assert!(!ClientRules::from_settings(&MgmtSettings::default())
            .unwrap()
            .needs_name());
    }

    #[test]
    fn the_run_lock_shows_a_running_service() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_running(dir.path()).unwrap());
        let lock = take_run_lock(dir.path()).unwrap().expect("free");
        assert!(is_running(dir.path()).unwrap());
        drop(lock);
        assert!(!is_running(dir.path()).unwrap());
    }
}
