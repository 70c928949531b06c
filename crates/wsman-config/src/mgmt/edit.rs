//! One scalar setting read or changed by name, as `wsmand mgmt get|set` does.

use std::path::PathBuf;

use super::{
    invalid, is_plain_name, ClientAccess, Credentials, MgmtError, MgmtSettings, RequestLog,
    SETTINGS,
};

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

/// The choice `value` names exactly, or the error `expected` for setting `name`.
fn one_of<T: Copy>(
    name: &str,
    value: &str,
    choices: &[(&str, T)],
    expected: &str,
) -> Result<T, MgmtError> {
    choices
        .iter()
        .find(|(word, _)| *word == value)
        .map(|(_, chosen)| *chosen)
        .ok_or_else(|| invalid(name, expected))
}

fn parse_positive(name: &str, value: &str) -> Result<u32, MgmtError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|v| (1..=10_000).contains(v))
        .ok_or_else(|| invalid(name, "expected a whole number from 1 to 10000"))
}

impl MgmtSettings {
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
            "SampleIntervalSeconds" => self.sample_interval_seconds.to_string(),
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
                let choices = [
                    ("os", Credentials::Os),
                    ("os+manager", Credentials::OsOrManager),
                ];
                self.credentials = one_of(name, value, &choices, "expected os or os+manager")?;
            }
            "UnspecifiedClients" => {
                let choices = [("allow", ClientAccess::Allow), ("deny", ClientAccess::Deny)];
                let lower = value.to_ascii_lowercase();
                self.unspecified_clients =
                    one_of(name, &lower, &choices, "expected Allow or Deny")?;
            }
            "AllowedClients" => self.allowed_clients = split_list(value),
            "DeniedClients" => self.denied_clients = split_list(value),
            "AllowedDomains" => self.allowed_domains = split_list(value),
            "DeniedDomains" => self.denied_domains = split_list(value),
            "RequestLog" => {
                let choices = [("journal", RequestLog::Journal), ("off", RequestLog::Off)];
                self.request_log = one_of(name, value, &choices, "expected journal or off")?;
            }
            "RequestLogDirectory" => self.request_log_directory = optional_path(value),
            "SessionIdleMinutes" => self.session_idle_minutes = parse_positive(name, value)?,
            "SessionLifetimeHours" => self.session_lifetime_hours = parse_positive(name, value)?,
            "SampleIntervalSeconds" => self.sample_interval_seconds = parse_positive(name, value)?,
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
}
