//! The management service's settings (`DIR/mgmt.toml`) and its manager users
//! (`DIR/mgmt-users.toml`), with the meaning IIS' Web Management Service (WMSVC) gives them.
//!
//! Both the service (`wsmand-mgmt`) and `wsmand mgmt get|set` read this one definition, so the
//! names the help prints are the names the file holds. WMSVC is configured only while it is
//! stopped; [`is_running`] tells whether a service holds the directory's run lock
//! (`.mgmt.lock` in DIR's runtime directory, [`crate::runtime`]), which `wsmand mgmt set` checks before it writes.
//!
//! One concern a file: the settings' types here; the scalar settings' table in `table` (their
//! help, `get`/`set` and checks); the client restrictions in `clients`; the hosts' and roles'
//! checks in `validate`; the file, its run lock and the manager users in `file`; one host or
//! role changed in place (the console's manager pages) in `entries`.

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod clients;
mod entries;
mod file;
mod inventory;
mod table;
#[cfg(test)]
mod tests;
mod validate;

pub use clients::{ClientDecision, ClientNet, ClientRuleError, ClientRules};
pub use entries::{edit_entries, EntryChange};
pub use file::{is_running, manager_users, take_run_lock};
pub use table::{setting_names, Setting, SETTINGS};

/// The settings file inside the config directory.
pub const SETTINGS_FILE_NAME: &str = "mgmt.toml";
/// The manager users' file (argon2id hashes, mode 0600).
pub const USERS_FILE_NAME: &str = "mgmt-users.toml";
/// Held (an exclusive `flock`) by a running service for its whole life.
pub const RUN_LOCK_FILE_NAME: &str = ".mgmt.lock";
/// WMSVC's port.
pub const DEFAULT_PORT: u16 = 8172;
/// Largest settings file (and inventory file) read: a bound keeps a mistaken path harmless,
/// and is far above what `MaxHosts` entries take (a realistic `[[Host]]` table is about 250
/// bytes: 100,000 of them are 25 MB).
pub const MAX_SETTINGS_FILE_LEN: u64 = 32 * 1024 * 1024;
/// The default of `MaxHosts`: most hosts the console manages, from `mgmt.toml` and the
/// inventory together.
pub const DEFAULT_MAX_HOSTS: u32 = 10_000;
/// The highest `MaxHosts` accepted.
pub const MAX_HOSTS_LIMIT: u32 = 100_000;

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
    /// Adding, changing and removing the console's hosts and roles (granted only by a rule
    /// whose `Hosts` holds `*`: whoever edits the roles can grant themselves any host).
    Manage,
    /// Scanning for and installing updates (`MSFT_WUOperations`): apart from `change`, so a
    /// patching role need not be able to stop services, nor a service operator install.
    Update,
    /// Rebooting the host (`Win32_OperatingSystem.Reboot`): apart from `update`, so whoever
    /// installs need not be the one who decides when the host goes down.
    Reboot,
}

impl Action {
    /// The word used in the file and in log lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Change => "change",
            Self::Shell => "shell",
            Self::Manage => "manage",
            Self::Update => "update",
            Self::Reboot => "reboot",
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

/// `DIR/mgmt.toml`. Every setting may be left out: it then has its default (WMSVC as
/// installed), so a file holding only `[[Host]]` tables is a whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_file: Option<PathBuf>,
    /// The PEM private key when `Certificate` is `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_domains: Vec<String>,
    /// WMSVC `RemoteRestrictions`, Deny entries by domain name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied_domains: Vec<String>,
    /// WMSVC `EnableLogging`: requests to the journal, or not.
    pub request_log: RequestLog,
    /// WMSVC `LoggingDirectory`: requests also to one W3C extended log file a day in this
    /// directory (created at start, owned by the serving user); none: no files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_log_directory: Option<PathBuf>,
    /// Minutes without a request after which a console session ends.
    pub session_idle_minutes: u32,
    /// Hours after login after which a console session ends whatever its use.
    pub session_lifetime_hours: u32,
    /// The PAM service OS-credential logins are checked under (`/etc/pam.d/NAME`).
    pub pam_service: String,
    /// The Linux group whose members may log in with OS credentials; empty: no OS user may
    /// (deny by default: PAM accepting a password is not enough).
    pub os_login_group: String,
    /// Seconds between the console's samples of every host's performance figures (the
    /// graphs and the fleet's health); at least 1.
    pub sample_interval_seconds: u32,
    /// Most hosts the console manages, `mgmt.toml`'s and the inventory's together (a stated
    /// bound: memory, descriptors and a round of samples grow with the hosts).
    pub max_hosts: u32,
    /// A file, or a directory of `*.toml` files (one per group, the file's name the group),
    /// holding `[[Host]]` tables as this file does: the hosts an inventory tool writes. Read
    /// with this file; never written by the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_inventory: Option<PathBuf>,
    /// The hosts the console manages (those of this file; see [`MgmtSettings::all_hosts`]).
    #[serde(rename = "Host", skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<ManagedHost>,
    /// The hosts read from `HostInventory` when the file was loaded (never written here).
    #[serde(skip)]
    pub inventory: Vec<ManagedHost>,
    /// Who may do what on which hosts: nothing a role does not allow (deny by default).
    #[serde(rename = "Role", skip_serializing_if = "Vec::is_empty")]
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
            pam_service: "wsmand".to_owned(),
            os_login_group: "wsmand-admins".to_owned(),
            sample_interval_seconds: 10,
            max_hosts: DEFAULT_MAX_HOSTS,
            host_inventory: None,
            hosts: Vec::new(),
            inventory: Vec::new(),
            roles: Vec::new(),
        }
    }
}

impl MgmtSettings {
    /// Every host the console manages: this file's, then the inventory's.
    pub fn all_hosts(&self) -> impl Iterator<Item = &ManagedHost> {
        self.hosts.iter().chain(&self.inventory)
    }
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
