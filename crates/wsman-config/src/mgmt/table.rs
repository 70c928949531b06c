//! The console's settings, one row each: `wsmand mgmt get` (name, WMSVC name, meaning),
//! `get` and `set` by name, and the checks of `validate` all read this table, as winrm's
//! switches do. A row's value is the field serde gives the same name, so the names the help
//! prints are the names the file holds; the defaults are [`MgmtSettings::default`]'s.

use std::net::IpAddr;
use std::path::Path;

use toml::{Table, Value};

use super::clients::{domain, ClientNet};
use super::{invalid, is_plain_name, MgmtError, MgmtSettings, SETTINGS_FILE_NAME};

/// One scalar setting: its name, its help, and the type and bounds of its value.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// The key in `mgmt.toml` and on the command line.
    pub name: &'static str,
    /// Where WMSVC keeps the same setting (`HKLM\SOFTWARE\Microsoft\WebManagement\Server`).
    pub windows_name: &'static str,
    /// What it does here.
    pub meaning: &'static str,
    /// How `set` reads the text and what `validate` accepts.
    kind: Kind,
}

/// A setting's type and bounds.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `true` or `false` (the command line also takes 1/0 and yes/no, any case).
    Flag,
    /// A whole number from the first bound to the second.
    Number(u32, u32),
    /// One of the words (on the command line in any case when the flag is set).
    Choice(&'static [&'static str], bool),
    /// `auto`, or `file` with the certificate and key files named.
    Certificate,
    /// A list (a comma list on the command line) of entries of one kind.
    List(Entry),
    /// A path; empty on the command line: none.
    Path { absolute: bool },
    /// A PAM service or group name ([`is_plain_name`]).
    Name { may_be_empty: bool },
}

/// What one entry of a list is.
#[derive(Clone, Copy, Debug)]
enum Entry {
    /// An address to bind, or `*`; at least one.
    BindAddress,
    /// A client address or `ADDR/BITS` ([`ClientNet`]).
    ClientNet,
    /// A client's domain name.
    Domain,
}

/// The certificate's sources ([`Kind::Certificate`]).
const CERTIFICATE_SOURCES: &[&str] = &["auto", "file"];

/// Every scalar setting, in the order `get` prints them. Hosts and roles are edited in the
/// file (or on the console's manager pages).
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "EnableRemoteManagement",
        windows_name: "EnableRemoteManagement",
        meaning: "true: listen on BindAddresses; false: loopback only",
        kind: Kind::Flag,
    },
    Setting {
        name: "Port",
        windows_name: "Port",
        meaning: "TCP port (HTTPS only)",
        kind: Kind::Number(1, 65535),
    },
    Setting {
        name: "BindAddresses",
        windows_name: "IPAddress",
        meaning: "comma list of addresses, * = all",
        kind: Kind::List(Entry::BindAddress),
    },
    Setting {
        name: "Certificate",
        windows_name: "SslCertificateHash",
        meaning: "auto (self-signed for host name and addresses) or file",
        kind: Kind::Certificate,
    },
    Setting {
        name: "CertificateFile",
        windows_name: "SslCertificateHash",
        meaning: "PEM certificate chain when Certificate = file",
        kind: Kind::Path { absolute: false },
    },
    Setting {
        name: "KeyFile",
        windows_name: "SslCertificateHash",
        meaning: "PEM private key (mode 0600) when Certificate = file",
        kind: Kind::Path { absolute: false },
    },
    Setting {
        name: "Credentials",
        windows_name: "RequiresWindowsCredentials",
        meaning: "os (Windows credentials only) or os+manager (or manager users)",
        kind: Kind::Choice(&["os", "os+manager"], false),
    },
    Setting {
        name: "UnspecifiedClients",
        windows_name: "RemoteRestrictions (access for unspecified clients)",
        meaning: "Allow or Deny, for clients no entry names",
        kind: Kind::Choice(&["Allow", "Deny"], true),
    },
    Setting {
        name: "AllowedClients",
        windows_name: "RemoteRestrictions (Allow entries)",
        meaning: "comma list of addresses or ADDR/BITS, IPv4 and IPv6",
        kind: Kind::List(Entry::ClientNet),
    },
    Setting {
        name: "DeniedClients",
        windows_name: "RemoteRestrictions (Deny entries)",
        meaning: "comma list of addresses or ADDR/BITS; Deny wins",
        kind: Kind::List(Entry::ClientNet),
    },
    Setting {
        name: "AllowedDomains",
        windows_name: "RemoteRestrictions (Allow entries, domain names)",
        meaning: "comma list of domains (forward-confirmed reverse DNS)",
        kind: Kind::List(Entry::Domain),
    },
    Setting {
        name: "DeniedDomains",
        windows_name: "RemoteRestrictions (Deny entries, domain names)",
        meaning: "comma list of domains; Deny wins",
        kind: Kind::List(Entry::Domain),
    },
    Setting {
        name: "RequestLog",
        windows_name: "EnableLogging",
        meaning: "journal or off",
        kind: Kind::Choice(&["journal", "off"], false),
    },
    Setting {
        name: "RequestLogDirectory",
        windows_name: "LoggingDirectory",
        meaning: "absolute directory for one W3C log file a day; empty: none",
        kind: Kind::Path { absolute: true },
    },
    Setting {
        name: "SessionIdleMinutes",
        windows_name: "-",
        meaning: "console session idle timeout",
        kind: Kind::Number(1, 10_000),
    },
    Setting {
        name: "SessionLifetimeHours",
        windows_name: "-",
        meaning: "console session absolute timeout",
        kind: Kind::Number(1, 10_000),
    },
    Setting {
        name: "SampleIntervalSeconds",
        windows_name: "-",
        meaning: "seconds between the console's samples of every host's figures",
        kind: Kind::Number(1, 3600),
    },
    Setting {
        name: "MaxHosts",
        windows_name: "-",
        meaning: "most hosts the console manages (mgmt.toml's and the inventory's together)",
        kind: Kind::Number(1, super::MAX_HOSTS_LIMIT),
    },
    Setting {
        name: "HostInventory",
        windows_name: "-",
        meaning: "absolute file, or directory of NAME.toml files (group NAME), of [[Host]] tables; empty: none",
        kind: Kind::Path { absolute: true },
    },
    Setting {
        name: "PamService",
        windows_name: "-",
        meaning: "PAM service for OS-credential logins (/etc/pam.d/NAME)",
        kind: Kind::Name {
            may_be_empty: false,
        },
    },
    Setting {
        name: "OsLoginGroup",
        windows_name: "-",
        meaning: "Linux group whose members may log in with OS credentials; empty: none",
        kind: Kind::Name { may_be_empty: true },
    },
];

impl Kind {
    /// The value `text` gives on the command line (`None`: unset), or why it is refused.
    fn read(self, name: &str, text: &str) -> Result<Option<Value>, MgmtError> {
        Ok(Some(match self {
            Self::Flag => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Value::Boolean(true),
                "false" | "0" | "no" => Value::Boolean(false),
                _ => return Err(self.refusal(name)),
            },
            Self::Number(..) => Value::Integer(text.parse().map_err(|_| self.refusal(name))?),
            Self::Choice(words, any_case) => {
                let same = |w: &&&str| **w == text || (any_case && w.eq_ignore_ascii_case(text));
                Value::String(words.iter().find(same).map_or(text, |w| *w).to_owned())
            }
            Self::Certificate => return Self::Choice(CERTIFICATE_SOURCES, false).read(name, text),
            Self::List(_) => Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            ),
            Self::Path { .. } if text.is_empty() => return Ok(None),
            Self::Path { .. } | Self::Name { .. } => Value::String(text.to_owned()),
        }))
    }

    /// Refuses `value` (`None`: unset) when it is outside this kind's bounds; `all` holds
    /// the other settings a value may need.
    fn check(self, name: &str, value: Option<&Value>, all: &MgmtSettings) -> Result<(), MgmtError> {
        let text = value.and_then(Value::as_str).unwrap_or_default();
        let ok = match self {
            Self::Flag => true,
            Self::Number(low, high) => value
                .and_then(Value::as_integer)
                .is_some_and(|n| (i64::from(low)..=i64::from(high)).contains(&n)),
            Self::Choice(words, _) => words.contains(&text),
            Self::Certificate
                if text == "file" && (all.certificate_file.is_none() || all.key_file.is_none()) =>
            {
                return Err(invalid(name, "file needs CertificateFile and KeyFile"));
            }
            Self::Certificate => CERTIFICATE_SOURCES.contains(&text),
            Self::List(entry) => {
                let entries = value
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                for text in entries.iter().filter_map(Value::as_str) {
                    entry.check(name, text)?;
                }
                !(entries.is_empty() && matches!(entry, Entry::BindAddress))
            }
            Self::Path { absolute } => {
                !absolute || value.is_none() || Path::new(text).is_absolute()
            }
            Self::Name { may_be_empty } => {
                (may_be_empty || !text.is_empty()) && is_plain_name(text)
            }
        };
        ok.then_some(()).ok_or_else(|| self.refusal(name))
    }

    /// What a value of this kind should have been.
    fn refusal(self, name: &str) -> MgmtError {
        let plain = "letters, digits, '-', '_' or '.'";
        match self {
            Self::Flag => invalid(name, "expected true or false"),
            Self::Number(low, high) => invalid(
                name,
                format!("expected a whole number from {low} to {high}"),
            ),
            Self::Choice(words, _) => invalid(name, format!("expected {}", words.join(" or "))),
            Self::Certificate => Self::Choice(CERTIFICATE_SOURCES, false).refusal(name),
            // Only the addresses to bind are refused as a list: when there is none.
            Self::List(_) => invalid(name, "give * or at least one address"),
            Self::Path { .. } => invalid(name, "expected an absolute path"),
            Self::Name { may_be_empty: true } => invalid(name, format!("{plain}; empty: nobody")),
            Self::Name { .. } => invalid(name, plain),
        }
    }
}

impl Entry {
    /// Refuses `text` when it is no entry of this kind.
    fn check(self, name: &str, text: &str) -> Result<(), MgmtError> {
        let refused = match self {
            Self::BindAddress => (text != "*" && text.parse::<IpAddr>().is_err())
                .then(|| format!("{text:?} is not an address")),
            Self::ClientNet => ClientNet::parse(text).err().map(|e| e.to_string()),
            Self::Domain => domain(text).err().map(|e| e.to_string()),
        };
        refused.map_or(Ok(()), |message| Err(invalid(name, message)))
    }
}

/// Every setting's name, in the table's order: `A, B, ...`.
pub fn setting_names() -> String {
    SETTINGS
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as `get` prints it: text bare, a list as a comma list.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(list) => list.iter().map(text_of).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

impl MgmtSettings {
    /// The settings as the file holds them: every row's value under its name.
    fn values(&self) -> Result<Table, MgmtError> {
        Table::try_from(self).map_err(|e| invalid(SETTINGS_FILE_NAME, e.to_string()))
    }

    /// The value of one scalar setting as `get` prints it.
    pub fn get(&self, name: &str) -> Option<String> {
        let row = SETTINGS.iter().find(|s| s.name == name)?;
        let values = self.values().ok()?;
        Some(values.get(row.name).map(text_of).unwrap_or_default())
    }

    /// Sets one scalar setting from its command-line text; refused (and nothing changed)
    /// when the value, or the whole with it, is not valid.
    pub fn set(&mut self, name: &str, text: &str) -> Result<(), MgmtError> {
        let Some(row) = SETTINGS.iter().find(|s| s.name == name) else {
            let known = format!("no such setting; known: {}", setting_names());
            return Err(invalid(name, known));
        };
        let value = row.kind.read(row.name, text)?;
        row.kind.check(row.name, value.as_ref(), self)?;
        let mut values = self.values()?;
        match value {
            Some(value) => values.insert(row.name.to_owned(), value),
            None => values.remove(row.name),
        };
        let mut changed: Self = values
            .try_into()
            .map_err(|e: toml::de::Error| invalid(row.name, e.message()))?;
        // The inventory's hosts are no value of the file: kept, or read anew when its path (or
        // the bound on its files) is what changes.
        changed.inventory = match &changed.host_inventory {
            Some(path)
                if changed.host_inventory != self.host_inventory
                    || changed.max_hosts != self.max_hosts =>
            {
                super::inventory::read(path, changed.max_hosts)?
            }
            Some(_) => self.inventory.clone(),
            None => Vec::new(),
        };
        changed.validate()?;
        *self = changed;
        Ok(())
    }

    /// Checks every row's value, in the table's order.
    pub(super) fn check_rows(&self) -> Result<(), MgmtError> {
        let values = self.values()?;
        SETTINGS
            .iter()
            .try_for_each(|row| row.kind.check(row.name, values.get(row.name), self))
    }
}
