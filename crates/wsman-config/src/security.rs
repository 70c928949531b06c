//! The `[Security]` extension of `config.toml` (not part of winrm/config; `winrm` does not see
//! it): the security descriptors of the shell resources and of the event logs, and the
//! failed-login throttle.
//!
//! ```toml
//! [Security]
//! ShellSDDL = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;BU)"   # who may use WinRS / PowerShell shells
//! EventLogSDDL = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;BU)" # who may subscribe to the event logs
//! # The WMI plug-in: the whole plug-in (WmiNamespace) and single namespaces
//! PowerShellSDDL = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;RM)" # who may open PowerShell shells
//! WmiSDDL = { WmiNamespace = "O:NSG:BAD:P(A;;GA;;;BA)", "root/cimv2" = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;S-1-22-1-1001)" }
//! FailedLoginDelay = true                            # slow down password guessing
//! FailedLoginMaxDelayms = 8000                       # cap of the delay per attempt
//! ```
//!
//! Why a shell descriptor of its own: on Windows a plugin (PowerShell's `microsoft.powershell`)
//! carries an `Sddl` that replaces RootSDDL for its resources; wsmand's shell resources are its
//! plugin. The WMI plug-in's descriptors (`WmiSDDL`) are the same idea for the CIM classes:
//! what Windows keeps as the `Security` entries of `winrm/config/plugin?Name=WMI Provider`,
//! shown and edited through that resource ([`crate::plugin`]) and `winrm configSDDL`.
//! See `docs/access-control.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Default `ShellSDDL`: Windows' `microsoft.powershell` plugin descriptor (BA, IU, RM) plus
/// BUILTIN\Users, which every Linux user maps to: a Linux user may open a shell running as
/// itself, as with an SSH login. Operators narrow it (e.g. to a group `S-1-22-2-<gid>`).
pub const DEFAULT_SHELL_SDDL: &str =
    "O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;IU)(A;;GA;;;RM)(A;;GA;;;BU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)";
/// The Linux group standing for Windows' `WinRMRemoteWMIUsers__`: the WMI plug-in's default
/// descriptor admits its members (`S-1-22-2-<gid>`), and nothing else does.
pub const WMI_USERS_GROUP: &str = "wsmand-wmi-users";
/// The Linux group standing for Windows' `Remote Management Users`: the PowerShell plug-in's
/// default descriptor admits its members (`S-1-22-2-<gid>`), besides the administrators.
pub const REMOTE_USERS_GROUP: &str = "wsmand-remote-users";
/// The Linux group standing for Windows' `Event Log Readers` (S-1-5-32-573): the event store's
/// default descriptor admits its members (`S-1-22-2-<gid>`) to search the collected events,
/// besides the administrators.
pub const EVENT_READERS_GROUP: &str = "wsmand-event-readers";
/// The event store's descriptor without the event readers group: administrators only.
pub const EVENT_STORE_ADMINS_SDDL: &str = "O:NSG:BAD:P(A;;GA;;;BA)";
/// Windows' default descriptor of its `microsoft.powershell` plug-in: Administrators,
/// Interactive Users and Remote Management Users, with its audit entries.
pub const WINDOWS_POWERSHELL_SDDL: &str =
    "O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;IU)(A;;GA;;;RM)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)";
/// The `WmiSDDL` key of the whole plug-in: Windows' `winrm configSDDL` URI for it is
/// `http://schemas.microsoft.com/wbem/wsman/1/wmi/WmiNamespace`.
pub const WMI_PLUGIN_KEY: &str = "WmiNamespace";
/// Most `WmiSDDL` entries (one per namespace).
const MAX_WMI_ENTRIES: usize = 64;
/// Default cap of the failed-login delay.
pub const DEFAULT_FAILED_LOGIN_MAX_DELAY_MS: u64 = 8000;
/// Highest accepted cap (ten minutes).
const MAX_FAILED_LOGIN_MAX_DELAY_MS: u64 = 600_000;

/// The effective `[Security]` values.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecurityConfig {
    pub shell_sddl: String,
    /// Who may subscribe to the event logs; `None`: RootSDDL decides, as for other resources.
    pub event_log_sddl: Option<String>,
    /// The WMI plug-in's own descriptors, by [`WMI_PLUGIN_KEY`] or namespace (`root/cimv2`,
    /// lower case); see [`SecurityConfig::wmi_sddl`].
    pub wmi_sddl: BTreeMap<String, String>,
    /// The gid of [`WMI_USERS_GROUP`] on this host, looked up by whoever opened the store
    /// (`None`: no such group, or not looked up).
    pub wmi_users_gid: Option<u32>,
    /// `PowerShellSDDL`: the `microsoft.powershell` plug-in's own descriptor; `None`: the
    /// default, [`default_powershell_sddl`].
    pub powershell_sddl: Option<String>,
    /// The gid of [`REMOTE_USERS_GROUP`] on this host, looked up by whoever opened the store.
    pub remote_users_gid: Option<u32>,
    /// The gid of [`EVENT_READERS_GROUP`] on this host, looked up by whoever opened the store.
    pub event_readers_gid: Option<u32>,
    pub failed_login_delay: bool,
    pub failed_login_max_delay_ms: u64,
}

impl SecurityConfig {
    /// The descriptor that decides requests for the WMI `namespace` (`None`: the plug-in as a
    /// whole, e.g. a class-metadata request): the namespace's own, else the plug-in's, else the
    /// default, [`default_wmi_sddl`]. Like a plug-in's `Sddl` on Windows, it replaces RootSDDL.
    pub fn wmi_sddl(&self, namespace: Option<&str>, root_sddl: &str) -> String {
        namespace
            .map(normalize_namespace)
            .and_then(|ns| self.wmi_sddl.get(&ns))
            .or_else(|| self.wmi_sddl.get(WMI_PLUGIN_KEY))
            .cloned()
            .unwrap_or_else(|| default_wmi_sddl(root_sddl, self.wmi_users_gid))
    }
}

impl SecurityConfig {
    /// The descriptor PowerShell shells are checked against (instead of ShellSDDL, as the
    /// `microsoft.powershell` plug-in's `Sddl` is on Windows).
    pub fn powershell_sddl(&self) -> String {
        self.powershell_sddl
            .clone()
            .unwrap_or_else(|| default_powershell_sddl(self.remote_users_gid))
    }

    /// The event store's descriptor when `[store] sddl` of `collector.toml` is not set:
    /// [`default_event_store_sddl`], never EventLogSDDL nor RootSDDL.
    pub fn event_store_sddl(&self) -> String {
        default_event_store_sddl(self.event_readers_gid)
    }
}

/// The event store's descriptor when none is set: the administrators ([`EVENT_STORE_ADMINS_SDDL`])
/// plus Read for the event readers group ([`EVENT_READERS_GROUP`], when it exists), as Windows'
/// Event Log Readers read forwarded events. Never another setting's descriptor: EventLogSDDL
/// is widened to let users read this host's Application and System logs and RootSDDL to let
/// them read the configuration (its default already grants Interactive Users Read), while the
/// store holds every forwarder's events, Security included, which stay with these readers.
pub fn default_event_store_sddl(event_readers_gid: Option<u32>) -> String {
    let Some(gid) = event_readers_gid else {
        return EVENT_STORE_ADMINS_SDDL.to_owned();
    };
    let group = crate::Sid::unix_group(gid);
    let read = crate::sddl_edit::Edit::Grant(crate::sddl_edit::Right::Read);
    crate::sddl_edit::edit(EVENT_STORE_ADMINS_SDDL, &group, read)
        .unwrap_or_else(|_| EVENT_STORE_ADMINS_SDDL.to_owned())
}

/// The PowerShell plug-in's descriptor when none is set: Windows' own
/// ([`WINDOWS_POWERSHELL_SDDL`]: administrators, `wsmand-admins` being BUILTIN\Administrators
/// here) plus Full Control for the remote users group ([`REMOTE_USERS_GROUP`], when it exists),
/// which stands for Remote Management Users. Not every Linux user, as ShellSDDL's default
/// admits for WinRS: Windows admits only these to PowerShell remoting.
pub fn default_powershell_sddl(remote_users_gid: Option<u32>) -> String {
    let Some(gid) = remote_users_gid else {
        return WINDOWS_POWERSHELL_SDDL.to_owned();
    };
    let group = crate::Sid::unix_group(gid);
    let full = crate::sddl_edit::Edit::Grant(crate::sddl_edit::Right::Full);
    crate::sddl_edit::edit(WINDOWS_POWERSHELL_SDDL, &group, full)
        .unwrap_or_else(|_| WINDOWS_POWERSHELL_SDDL.to_owned())
}

/// The WMI plug-in's descriptor when none is set: RootSDDL (so that what an operator granted
/// there still reaches the CIM classes) plus Read and Execute for the WMI users group
/// ([`WMI_USERS_GROUP`], when it exists), as Windows' plug-in admits `WinRMRemoteWMIUsers__`.
/// Not Write: a method that starts a process (`Win32_Process.Create`) needs Write and Execute
/// here besides what a shell needs, so a monitoring account queries and calls the methods that
/// start nothing, and runs no command.
pub fn default_wmi_sddl(root_sddl: &str, wmi_users_gid: Option<u32>) -> String {
    let Some(gid) = wmi_users_gid else {
        return root_sddl.to_owned();
    };
    let group = crate::Sid::unix_group(gid);
    [
        crate::sddl_edit::Right::Read,
        crate::sddl_edit::Right::Execute,
    ]
    .into_iter()
    .try_fold(root_sddl.to_owned(), |text, right| {
        crate::sddl_edit::edit(&text, &group, crate::sddl_edit::Edit::Grant(right))
    })
    .unwrap_or_else(|_| root_sddl.to_owned())
}

/// A namespace as `WmiSDDL` keys it: lower case, `/` between parts (`root\cimv2` and
/// `ROOT/CIMV2` are the same namespace to WMI).
pub fn normalize_namespace(namespace: &str) -> String {
    namespace
        .trim()
        .trim_matches(['/', '\\'])
        .replace('\\', "/")
        .to_ascii_lowercase()
}

/// Why a `WmiSDDL` key or value is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WmiSddlError {
    #[error("{0:?} is not a WMI namespace (letters, digits, _ and / only) nor {WMI_PLUGIN_KEY}")]
    Namespace(String),
    #[error("more than {MAX_WMI_ENTRIES} WMI descriptors")]
    TooMany,
    #[error("the descriptor of {key}: {error}")]
    Sddl {
        key: String,
        error: crate::sddl::SddlError,
    },
}

/// The key of a `WmiSDDL` entry: [`WMI_PLUGIN_KEY`] (any case), or a namespace.
pub(crate) fn wmi_key(key: &str) -> Result<String, WmiSddlError> {
    if key.trim().eq_ignore_ascii_case(WMI_PLUGIN_KEY) {
        return Ok(WMI_PLUGIN_KEY.to_owned());
    }
    let ns = normalize_namespace(key);
    let valid = !ns.is_empty()
        && ns.len() <= 256
        && !ns.contains("//")
        && ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/');
    if valid {
        Ok(ns)
    } else {
        Err(WmiSddlError::Namespace(key.to_owned()))
    }
}

/// A checked set of WMI descriptors.
pub(crate) fn check_wmi_entries<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<BTreeMap<String, String>, WmiSddlError> {
    let mut out = BTreeMap::new();
    for (key, sddl) in entries {
        let key = wmi_key(key)?;
        crate::sddl::validate(sddl).map_err(|error| WmiSddlError::Sddl {
            key: key.clone(),
            error,
        })?;
        out.insert(key, sddl.trim().to_owned());
        if out.len() > MAX_WMI_ENTRIES {
            return Err(WmiSddlError::TooMany);
        }
    }
    Ok(out)
}

/// Why a `[Security]` key of config.toml is refused (the caller adds file and line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SecurityValueError {
    #[error("Security.ShellSDDL must be a string")]
    ShellSddlNotText,
    #[error("invalid Security.ShellSDDL: {0}")]
    ShellSddl(crate::sddl::SddlError),
    #[error("Security.EventLogSDDL must be a string")]
    EventLogSddlNotText,
    #[error("invalid Security.EventLogSDDL: {0}")]
    EventLogSddl(crate::sddl::SddlError),
    #[error("Security.PowerShellSDDL must be a string")]
    PowerShellSddlNotText,
    #[error("invalid Security.PowerShellSDDL: {0}")]
    PowerShellSddl(crate::sddl::SddlError),
    #[error("Security.WmiSDDL must be a table of namespace = descriptor")]
    WmiSddlNotTable,
    #[error("invalid Security.WmiSDDL: {0}")]
    WmiSddl(WmiSddlError),
    #[error("Security.FailedLoginDelay must be true or false")]
    FailedLoginDelayNotBoolean,
    #[error("Security.FailedLoginMaxDelayms must be an integer from 0 to {MAX_FAILED_LOGIN_MAX_DELAY_MS}")]
    FailedLoginMaxDelayOutOfRange,
    #[error("unknown key {key:?} in [Security] (expected ShellSDDL, EventLogSDDL, WmiSDDL, PowerShellSDDL, FailedLoginDelay, FailedLoginMaxDelayms)")]
    UnknownKey { key: String },
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            shell_sddl: DEFAULT_SHELL_SDDL.to_owned(),
            event_log_sddl: None,
            wmi_sddl: BTreeMap::new(),
            wmi_users_gid: None,
            powershell_sddl: None,
            remote_users_gid: None,
            event_readers_gid: None,
            failed_login_delay: true,
            failed_login_max_delay_ms: DEFAULT_FAILED_LOGIN_MAX_DELAY_MS,
        }
    }
}

/// `[Security]` as one file sets it (unset keys are `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SecurityLayer {
    pub(crate) shell_sddl: Option<String>,
    pub(crate) event_log_sddl: Option<String>,
    /// `WmiSDDL`: the whole table (a policy file's replaces the stored one).
    pub(crate) wmi_sddl: Option<BTreeMap<String, String>>,
    pub(crate) powershell_sddl: Option<String>,
    pub(crate) failed_login_delay: Option<bool>,
    pub(crate) failed_login_max_delay_ms: Option<u64>,
}

/// A descriptor setting's value: TOML text that parses as SDDL, kept trimmed; each setting
/// names its own errors.
fn sddl_text(
    value: &toml_edit::Value,
    not_text: SecurityValueError,
    invalid: fn(crate::sddl::SddlError) -> SecurityValueError,
) -> Result<String, SecurityValueError> {
    let text = value.as_str().ok_or(not_text)?;
    crate::sddl::validate(text).map_err(invalid)?;
    Ok(text.trim().to_owned())
}

impl SecurityLayer {
    /// Values of `other` win.
    pub(crate) fn overlay(&mut self, other: &SecurityLayer) {
        overlay_fields!(self, other: shell_sddl, event_log_sddl, wmi_sddl, powershell_sddl, failed_login_delay, failed_login_max_delay_ms);
    }

    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Set one key from its TOML value; the error is the reason (the caller adds file/line).
    pub(crate) fn set(
        &mut self,
        key: &str,
        value: &toml_edit::Value,
    ) -> Result<(), SecurityValueError> {
        match key {
            "ShellSDDL" => {
                self.shell_sddl = Some(sddl_text(
                    value,
                    SecurityValueError::ShellSddlNotText,
                    SecurityValueError::ShellSddl,
                )?);
            }
            "EventLogSDDL" => {
                self.event_log_sddl = Some(sddl_text(
                    value,
                    SecurityValueError::EventLogSddlNotText,
                    SecurityValueError::EventLogSddl,
                )?);
            }
            "PowerShellSDDL" => {
                self.powershell_sddl = Some(sddl_text(
                    value,
                    SecurityValueError::PowerShellSddlNotText,
                    SecurityValueError::PowerShellSddl,
                )?);
            }
            "WmiSDDL" => {
                let table = value
                    .as_inline_table()
                    .ok_or(SecurityValueError::WmiSddlNotTable)?;
                let mut entries = Vec::new();
                for (key, v) in table.iter() {
                    let text = v.as_str().ok_or(SecurityValueError::WmiSddlNotTable)?;
                    entries.push((key, text));
                }
                let checked = check_wmi_entries(entries).map_err(SecurityValueError::WmiSddl)?;
                self.wmi_sddl = Some(checked);
            }
            "FailedLoginDelay" => {
                self.failed_login_delay = Some(
                    value
                        .as_bool()
                        .ok_or(SecurityValueError::FailedLoginDelayNotBoolean)?,
                );
            }
            "FailedLoginMaxDelayms" => {
                let v = value
                    .as_integer()
                    .and_then(|i| u64::try_from(i).ok())
                    .filter(|v| *v <= MAX_FAILED_LOGIN_MAX_DELAY_MS)
                    .ok_or(SecurityValueError::FailedLoginMaxDelayOutOfRange)?;
                self.failed_login_max_delay_ms = Some(v);
            }
            other => {
                return Err(SecurityValueError::UnknownKey {
                    key: other.to_owned(),
                })
            }
        }
        Ok(())
    }

    /// The values over the defaults.
    pub(crate) fn resolve(&self) -> SecurityConfig {
        let d = SecurityConfig::default();
        SecurityConfig {
            shell_sddl: self.shell_sddl.clone().unwrap_or(d.shell_sddl),
            event_log_sddl: self.event_log_sddl.clone(),
            wmi_sddl: self.wmi_sddl.clone().unwrap_or_default(),
            wmi_users_gid: None,
            powershell_sddl: self.powershell_sddl.clone(),
            remote_users_gid: None,
            event_readers_gid: None,
            failed_login_delay: self.failed_login_delay.unwrap_or(d.failed_login_delay),
            failed_login_max_delay_ms: self
                .failed_login_max_delay_ms
                .unwrap_or(d.failed_login_max_delay_ms),
        }
    }

    /// The `[Security]` table as written back to `config.toml` (empty when nothing is set).
    pub(crate) fn render(&self, out: &mut String, quote: impl Fn(&str) -> String) {
        if self.is_empty() {
            return;
        }
        out.push_str("\n[Security]\n");
        if let Some(v) = &self.shell_sddl {
            let _ = writeln!(out, "ShellSDDL = {}", quote(v));
        }
        if let Some(v) = &self.event_log_sddl {
            let _ = writeln!(out, "EventLogSDDL = {}", quote(v));
        }
        if let Some(table) = &self.wmi_sddl {
            let entries: Vec<String> = table
                .iter()
                .map(|(k, v)| format!("{} = {}", quote(k), quote(v)))
                .collect();
            let _ = writeln!(out, "WmiSDDL = {{ {} }}", entries.join(", "));
        }
        if let Some(v) = &self.powershell_sddl {
            let _ = writeln!(out, "PowerShellSDDL = {}", quote(v));
        }
        if let Some(v) = self.failed_login_delay {
            let _ = writeln!(out, "FailedLoginDelay = {v}");
        }
        if let Some(v) = self.failed_login_max_delay_ms {
            let _ = writeln!(out, "FailedLoginMaxDelayms = {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::toml_value as value;

    #[test]
    fn keys_are_checked_and_resolved_over_defaults() {
        let mut l = SecurityLayer::default();
        assert_eq!(l.resolve(), SecurityConfig::default());
        crate::sddl::validate(DEFAULT_SHELL_SDDL).unwrap();
        l.set("FailedLoginDelay", &value("false")).unwrap();
        l.set("FailedLoginMaxDelayms", &value("100")).unwrap();
        l.set("ShellSDDL", &value("\"D:P(A;;GA;;;BA)\"")).unwrap();
        let r = l.resolve();
        assert!(!r.failed_login_delay);
        assert_eq!(r.failed_login_max_delay_ms, 100);
        assert_eq!(r.shell_sddl, "D:P(A;;GA;;;BA)");
        assert!(l.set("ShellSDDL", &value("\"garbage\"")).is_err());
        assert!(l.set("FailedLoginDelay", &value("1")).is_err());
        assert!(l.set("FailedLoginMaxDelayms", &value("-1")).is_err());
        assert!(l.set("FailedLoginMaxDelayms", &value("600001")).is_err());
        assert!(l.set("Other", &value("1")).is_err());
        let mut out = String::new();
        l.render(&mut out, |s| format!("{s:?}"));
        assert!(out.contains("[Security]\nShellSDDL = \"D:P(A;;GA;;;BA)\"\nFailedLoginDelay = false\nFailedLoginMaxDelayms = 100\n"), "{out}");
        let mut top = SecurityLayer::default();
        top.overlay(&l);
        assert_eq!(top, l);
    }

    #[test]
    fn the_event_store_is_administrators_and_the_event_readers_group_whatever_else_is_set() {
        let mut security = SecurityConfig {
            event_log_sddl: Some("O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;BU)".to_owned()),
            ..SecurityConfig::default()
        };
        assert_eq!(security.event_store_sddl(), "O:NSG:BAD:P(A;;GA;;;BA)");
        security.event_readers_gid = Some(4321);
        assert_eq!(
            security.event_store_sddl(),
            "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;S-1-22-2-4321)"
        );
    }

    #[test]
    fn the_powershell_plugin_has_windows_descriptor_and_the_remote_users_group() {
        crate::sddl::validate(WINDOWS_POWERSHELL_SDDL).unwrap();
        let mut security = SecurityConfig::default();
        assert_eq!(security.powershell_sddl(), WINDOWS_POWERSHELL_SDDL);
        security.remote_users_gid = Some(4321);
        let with_group = security.powershell_sddl();
        assert!(
            with_group.contains("(A;;GA;;;S-1-22-2-4321)"),
            "{with_group}"
        );
        assert!(
            with_group.starts_with("O:NSG:BAD:P(A;;GA;;;BA)"),
            "{with_group}"
        );
        let mut l = SecurityLayer::default();
        l.set("PowerShellSDDL", &value("\"O:NSG:BAD:P(A;;GA;;;BA)\""))
            .unwrap();
        assert!(l.set("PowerShellSDDL", &value("\"garbage\"")).is_err());
        let mut resolved = l.resolve();
        resolved.remote_users_gid = Some(4321);
        assert_eq!(resolved.powershell_sddl(), "O:NSG:BAD:P(A;;GA;;;BA)");
        let mut out = String::new();
        l.render(&mut out, |s| format!("{s:?}"));
        assert!(
            out.contains("PowerShellSDDL = \"O:NSG:BAD:P(A;;GA;;;BA)\"\n"),
            "{out}"
        );
    }
}
