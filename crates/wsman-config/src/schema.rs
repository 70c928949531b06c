//! The winrm/config schema: every container and setting with Windows' exact name, type, range,
//! default and read-only flag, in Windows' element order (reference §6.2, §6.3).
//!
//! Why one table: rendering, parsing, validation, the TOML store and the typed view all walk
//! the same [`Container::layout`], so a setting is declared once and cannot drift between them.

use std::borrow::Cow;
use std::fmt;

use wsman_proto::ns;

/// A container of the tree (`cfg:Config`, `cfg:Client`, ...). Listeners are not containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Container {
    Config,
    Client,
    ClientAuth,
    ClientDefaultPorts,
    Service,
    ServiceAuth,
    ServiceDefaultPorts,
    Winrs,
}

/// One position in a container: a leaf setting or a nested container.
#[derive(Clone, Copy, Debug)]
pub enum Entry {
    Leaf(&'static Setting),
    Child(Container),
}

/// The type of a setting as the MS-WSMV schema names it, with the range we accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Bool,
    /// `xsd` is the schema type name (`unsignedInt`, ...), used in fault messages.
    Number {
        xsd: &'static str,
        min: u64,
        max: u64,
    },
    Text,
    /// `Service/IPv4Filter` / `IPv6Filter` syntax (see [`crate::IpFilter`]); stored as text.
    IpFilter {
        v6: bool,
    },
    /// `None` | `Relaxed` | `Strict`.
    CbtHardeningLevel,
    /// A security descriptor in SDDL (see [`crate::sddl`]); stored as written.
    Sddl,
}

/// A typed value. Text is `Cow` so that defaults can live in `static` tables.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Bool(bool),
    Number(u64),
    Text(Cow<'static, str>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

impl Value {
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<u64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// One leaf setting.
#[derive(Debug, PartialEq, Eq)]
pub struct Setting {
    /// Windows' element name, exact case.
    pub name: &'static str,
    pub ty: ValueType,
    pub default: Value,
    /// Deprecated since WinRM 2.0: a Put may repeat the current value but not change it.
    pub read_only: bool,
}

const U32: u64 = u32::MAX as u64;
const U16: u64 = u16::MAX as u64;

const fn uint(min: u64) -> ValueType {
    ValueType::Number {
        xsd: "unsignedInt",
        min,
        max: U32,
    }
}

const fn ulong() -> ValueType {
    ValueType::Number {
        xsd: "unsignedLong",
        min: 0,
        max: u64::MAX,
    }
}

/// Ports: a port of 0 cannot be listened on or connected to.
pub(crate) const PORT: ValueType = ValueType::Number {
    xsd: "unsignedShort",
    min: 1,
    max: U16,
};

const fn s(name: &'static str, ty: ValueType, default: Value) -> Setting {
    Setting {
        name,
        ty,
        default,
        read_only: false,
    }
}

const fn ro(name: &'static str, ty: ValueType, default: Value) -> Setting {
    Setting {
        name,
        ty,
        default,
        read_only: true,
    }
}

const fn b(v: bool) -> Value {
    Value::Bool(v)
}

const fn n(v: u64) -> Value {
    Value::Number(v)
}

const fn t(v: &'static str) -> Value {
    Value::Text(Cow::Borrowed(v))
}

/// Windows' RootSDDL as observed on WinRM 3.0 (reference §6.2).
pub const DEFAULT_ROOT_SDDL: &str =
    "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)";

static CONFIG_MAX_ENVELOPE: Setting = s("MaxEnvelopeSizekb", uint(32), n(500));
static CONFIG_MAX_TIMEOUT: Setting = s("MaxTimeoutms", uint(500), n(60000));
static CONFIG_MAX_BATCH: Setting = s("MaxBatchItems", uint(1), n(32000));
static CONFIG_MAX_PROVIDER: Setting = ro("MaxProviderRequests", uint(0), n(U32));

static CONFIG_LAYOUT: [Entry; 7] = [
    Entry::Leaf(&CONFIG_MAX_ENVELOPE),
    Entry::Leaf(&CONFIG_MAX_TIMEOUT),
    Entry::Leaf(&CONFIG_MAX_BATCH),
    Entry::Leaf(&CONFIG_MAX_PROVIDER),
    Entry::Child(Container::Client),
    Entry::Child(Container::Service),
    Entry::Child(Container::Winrs),
];

static CLIENT_NETWORK_DELAY: Setting = s("NetworkDelayms", uint(0), n(5000));
static CLIENT_URL_PREFIX: Setting = s("URLPrefix", ValueType::Text, t("wsman"));
static CLIENT_ALLOW_UNENCRYPTED: Setting = s("AllowUnencrypted", ValueType::Bool, b(false));
static CLIENT_TRUSTED_HOSTS: Setting = s("TrustedHosts", ValueType::Text, t(""));

static CLIENT_LAYOUT: [Entry; 6] = [
    Entry::Leaf(&CLIENT_NETWORK_DELAY),
    Entry::Leaf(&CLIENT_URL_PREFIX),
    Entry::Leaf(&CLIENT_ALLOW_UNENCRYPTED),
    Entry::Child(Container::ClientAuth),
    Entry::Child(Container::ClientDefaultPorts),
    Entry::Leaf(&CLIENT_TRUSTED_HOSTS),
];

static CLIENT_AUTH_BASIC: Setting = s("Basic", ValueType::Bool, b(true));
static CLIENT_AUTH_DIGEST: Setting = s("Digest", ValueType::Bool, b(true));
static CLIENT_AUTH_KERBEROS: Setting = s("Kerberos", ValueType::Bool, b(true));
static CLIENT_AUTH_NEGOTIATE: Setting = s("Negotiate", ValueType::Bool, b(true));
static CLIENT_AUTH_CERTIFICATE: Setting = s("Certificate", ValueType::Bool, b(true));
static CLIENT_AUTH_CREDSSP: Setting = s("CredSSP", ValueType::Bool, b(false));

static CLIENT_AUTH_LAYOUT: [Entry; 6] = [
    Entry::Leaf(&CLIENT_AUTH_BASIC),
    Entry::Leaf(&CLIENT_AUTH_DIGEST),
    Entry::Leaf(&CLIENT_AUTH_KERBEROS),
    Entry::Leaf(&CLIENT_AUTH_NEGOTIATE),
    Entry::Leaf(&CLIENT_AUTH_CERTIFICATE),
    Entry::Leaf(&CLIENT_AUTH_CREDSSP),
];

static PORT_HTTP: Setting = s("HTTP", PORT, n(5985));
static PORT_HTTPS: Setting = s("HTTPS", PORT, n(5986));

static DEFAULT_PORTS_LAYOUT: [Entry; 2] = [Entry::Leaf(&PORT_HTTP), Entry::Leaf(&PORT_HTTPS)];

static SERVICE_ROOT_SDDL: Setting = s("RootSDDL", ValueType::Sddl, t(DEFAULT_ROOT_SDDL));
static SERVICE_MAX_CONC_OPS: Setting = ro("MaxConcurrentOperations", uint(0), n(U32));
static SERVICE_MAX_CONC_OPS_USER: Setting = s("MaxConcurrentOperationsPerUser", uint(0), n(1500));
static SERVICE_ENUM_TIMEOUT: Setting = s("EnumerationTimeoutms", uint(0), n(240000));
static SERVICE_MAX_CONNECTIONS: Setting = s("MaxConnections", uint(1), n(300));
static SERVICE_MAX_PACKET_TIME: Setting = s("MaxPacketRetrievalTimeSeconds", uint(0), n(120));
static SERVICE_ALLOW_UNENCRYPTED: Setting = s("AllowUnencrypted", ValueType::Bool, b(false));
static SERVICE_IPV4_FILTER: Setting = s("IPv4Filter", ValueType::IpFilter { v6: false }, t("*"));
static SERVICE_IPV6_FILTER: Setting = s("IPv6Filter", ValueType::IpFilter { v6: true }, t("*"));
static SERVICE_COMPAT_HTTP: Setting =
    s("EnableCompatibilityHttpListener", ValueType::Bool, b(false));
static SERVICE_COMPAT_HTTPS: Setting = s(
    "EnableCompatibilityHttpsListener",
    ValueType::Bool,
    b(false),
);
static SERVICE_CERT_THUMBPRINT: Setting = s("CertificateThumbprint", ValueType::Text, t(""));
static SERVICE_ALLOW_REMOTE: Setting = s("AllowRemoteAccess", ValueType::Bool, b(true));
// Not in Windows' schema (Windows has no bound on event subscriptions): wsmand's bounds of the
// event source, named in Windows' style (docs/events.md).
static SERVICE_MAX_SUBSCRIPTIONS: Setting = s("MaxSubscriptions", uint(1), n(100));
static SERVICE_MAX_SUBSCRIPTIONS_USER: Setting = s("MaxSubscriptionsPerUser", uint(1), n(10));

static SERVICE_LAYOUT: [Entry; 17] = [
    Entry::Leaf(&SERVICE_ROOT_SDDL),
    Entry::Leaf(&SERVICE_MAX_CONC_OPS),
    Entry::Leaf(&SERVICE_MAX_CONC_OPS_USER),
    Entry::Leaf(&SERVICE_ENUM_TIMEOUT),
    Entry::Leaf(&SERVICE_MAX_CONNECTIONS),
    Entry::Leaf(&SERVICE_MAX_PACKET_TIME),
    Entry::Leaf(&SERVICE_ALLOW_UNENCRYPTED),
    Entry::Child(Container::ServiceAuth),
    Entry::Child(Container::ServiceDefaultPorts),
    Entry::Leaf(&SERVICE_IPV4_FILTER),
    Entry::Leaf(&SERVICE_IPV6_FILTER),
    Entry::Leaf(&SERVICE_COMPAT_HTTP),
    Entry::Leaf(&SERVICE_COMPAT_HTTPS),
    Entry::Leaf(&SERVICE_CERT_THUMBPRINT),
    Entry::Leaf(&SERVICE_ALLOW_REMOTE),
    Entry::Leaf(&SERVICE_MAX_SUBSCRIPTIONS),
    Entry::Leaf(&SERVICE_MAX_SUBSCRIPTIONS_USER),
];

static SERVICE_AUTH_BASIC: Setting = s("Basic", ValueType::Bool, b(false));
static SERVICE_AUTH_KERBEROS: Setting = s("Kerberos", ValueType::Bool, b(true));
static SERVICE_AUTH_NEGOTIATE: Setting = s("Negotiate", ValueType::Bool, b(true));
static SERVICE_AUTH_CERTIFICATE: Setting = s("Certificate", ValueType::Bool, b(false));
static SERVICE_AUTH_CREDSSP: Setting = s("CredSSP", ValueType::Bool, b(false));
static SERVICE_AUTH_CBT: Setting = s(
    "CbtHardeningLevel",
    ValueType::CbtHardeningLevel,
    t("Relaxed"),
);

static SERVICE_AUTH_LAYOUT: [Entry; 6] = [
    Entry::Leaf(&SERVICE_AUTH_BASIC),
    Entry::Leaf(&SERVICE_AUTH_KERBEROS),
    Entry::Leaf(&SERVICE_AUTH_NEGOTIATE),
    Entry::Leaf(&SERVICE_AUTH_CERTIFICATE),
    Entry::Leaf(&SERVICE_AUTH_CREDSSP),
    Entry::Leaf(&SERVICE_AUTH_CBT),
];

static WINRS_ALLOW: Setting = s("AllowRemoteShellAccess", ValueType::Bool, b(true));
static WINRS_IDLE: Setting = s("IdleTimeout", ulong(), n(180000));
// The schema says unsignedShort, but Windows itself stores and reports 2147483647 here
// (reference §6.2), so the range is that of an unsignedInt.
static WINRS_MAX_USERS: Setting = s("MaxConcurrentUsers", uint(0), n(10));
static WINRS_MAX_RUN_TIME: Setting = ro("MaxShellRunTime", ulong(), n(28800000));
static WINRS_MAX_PROCS: Setting = s("MaxProcessesPerShell", ulong(), n(25));
static WINRS_MAX_MEMORY: Setting = s("MaxMemoryPerShellMB", ulong(), n(1024));
static WINRS_MAX_SHELLS: Setting = s("MaxShellsPerUser", ulong(), n(30));
// Not in Windows' schema (Windows bounds memory per shell, MaxMemoryPerShellMB): wsmand's bound of
// the command output buffered and not yet received, across all the shells of one Linux user,
// named in Windows' style (docs/windows-quirks.md).
static WINRS_MAX_OUTPUT_USER: Setting = s("MaxBufferedOutputPerUserMB", uint(1), n(64));

static WINRS_LAYOUT: [Entry; 8] = [
    Entry::Leaf(&WINRS_ALLOW),
    Entry::Leaf(&WINRS_IDLE),
    Entry::Leaf(&WINRS_MAX_USERS),
    Entry::Leaf(&WINRS_MAX_RUN_TIME),
    Entry::Leaf(&WINRS_MAX_PROCS),
    Entry::Leaf(&WINRS_MAX_MEMORY),
    Entry::Leaf(&WINRS_MAX_SHELLS),
    Entry::Leaf(&WINRS_MAX_OUTPUT_USER),
];

impl Container {
    pub const ALL: [Container; 8] = [
        Container::Config,
        Container::Client,
        Container::ClientAuth,
        Container::ClientDefaultPorts,
        Container::Service,
        Container::ServiceAuth,
        Container::ServiceDefaultPorts,
        Container::Winrs,
    ];

    /// The XML element (and TOML table) name.
    pub fn element_name(self) -> &'static str {
        match self {
            Self::Config => "Config",
            Self::Client => "Client",
            Self::ClientAuth | Self::ServiceAuth => "Auth",
            Self::ClientDefaultPorts | Self::ServiceDefaultPorts => "DefaultPorts",
            Self::Service => "Service",
            Self::Winrs => "Winrs",
        }
    }

    /// The TOML table path, e.g. `Config.Service.Auth`.
    pub fn toml_path(self) -> &'static str {
        match self {
            Self::Config => "Config",
            Self::Client => "Config.Client",
            Self::ClientAuth => "Config.Client.Auth",
            Self::ClientDefaultPorts => "Config.Client.DefaultPorts",
            Self::Service => "Config.Service",
            Self::ServiceAuth => "Config.Service.Auth",
            Self::ServiceDefaultPorts => "Config.Service.DefaultPorts",
            Self::Winrs => "Config.Winrs",
        }
    }

    /// The canonical resource URI, which is also the element namespace of a Get on it.
    pub fn resource_uri(self) -> &'static str {
        match self {
            Self::Config => ns::CONFIG,
            Self::Client => ns::config::CLIENT,
            Self::ClientAuth => ns::config::CLIENT_AUTH,
            Self::ClientDefaultPorts => ns::config::CLIENT_DEFAULT_PORTS,
            Self::Service => ns::config::SERVICE,
            Self::ServiceAuth => ns::config::SERVICE_AUTH,
            Self::ServiceDefaultPorts => ns::config::SERVICE_DEFAULT_PORTS,
            Self::Winrs => ns::config::WINRS,
        }
    }

    /// Leaves and nested containers in Windows' element order.
    pub fn layout(self) -> &'static [Entry] {
        match self {
            Self::Config => &CONFIG_LAYOUT,
            Self::Client => &CLIENT_LAYOUT,
            Self::ClientAuth => &CLIENT_AUTH_LAYOUT,
            Self::ClientDefaultPorts | Self::ServiceDefaultPorts => &DEFAULT_PORTS_LAYOUT,
            Self::Service => &SERVICE_LAYOUT,
            Self::ServiceAuth => &SERVICE_AUTH_LAYOUT,
            Self::Winrs => &WINRS_LAYOUT,
        }
    }

    /// The leaf settings of this container (not of nested ones), in order.
    pub fn settings(self) -> impl Iterator<Item = &'static Setting> {
        self.layout().iter().filter_map(|e| match e {
            Entry::Leaf(s) => Some(*s),
            Entry::Child(_) => None,
        })
    }

    /// The nested containers, in order.
    pub fn children(self) -> impl Iterator<Item = Container> {
        self.layout().iter().filter_map(|e| match e {
            Entry::Child(c) => Some(*c),
            Entry::Leaf(_) => None,
        })
    }

    /// The leaf named `name` (exact case).
    pub fn setting(self, name: &str) -> Option<&'static Setting> {
        self.settings().find(|s| s.name == name)
    }

    /// The leaf named `name`, compared without case (XML bodies and CLI keys).
    pub fn setting_ignore_case(self, name: &str) -> Option<&'static Setting> {
        self.settings().find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The nested container named `name`, compared without case.
    pub fn child_ignore_case(self, name: &str) -> Option<Container> {
        self.children()
            .find(|c| c.element_name().eq_ignore_ascii_case(name))
    }
}

/// Identifies one leaf in the whole tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SettingKey {
    pub container: Container,
    pub name: &'static str,
}

impl SettingKey {
    /// The schema entry (always present for keys built by this crate).
    pub fn setting(self) -> Option<&'static Setting> {
        self.container.setting(self.name)
    }

    /// `Service/Auth/Basic`-style path, used in messages.
    pub fn display_path(self) -> String {
        format!(
            "{}/{}",
            self.container.toml_path().replace('.', "/"),
            self.name
        )
    }
}

/// Every leaf of the tree with its container, in document order.
pub fn all_settings() -> Vec<(Container, &'static Setting)> {
    fn walk(c: Container, out: &mut Vec<(Container, &'static Setting)>) {
        for e in c.layout() {
            match e {
                Entry::Leaf(s) => out.push((c, *s)),
                Entry::Child(child) => walk(*child, out),
            }
        }
    }
    let mut out = Vec::new();
    walk(Container::Config, &mut out);
    out
}

/// Why a value is not valid for its setting: a short reason, to which the caller adds the
/// setting's name and the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    #[error("expected true or false")]
    NotABoolean,
    #[error("expected an {xsd}")]
    NotANumber { xsd: &'static str },
    #[error("out of range for {xsd}")]
    OutOfRange { xsd: &'static str },
    #[error("must be an {xsd} between {min} and {max}")]
    NotBetween {
        xsd: &'static str,
        min: u64,
        max: u64,
    },
    #[error("must not be negative")]
    Negative,
    /// A range check asked of a setting that is not a number.
    #[error("not a number setting")]
    NotANumberSetting,
    #[error("expected None, Relaxed or Strict")]
    NotAHardeningLevel,
    /// A TOML value of another type than the setting's.
    #[error("expected a {expected}, found a {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error(transparent)]
    IpFilter(#[from] crate::ip_filter::IpFilterError),
    #[error(transparent)]
    Sddl(#[from] crate::sddl::SddlError),
}

impl ValueType {
    /// Parse text as a client writes it. Booleans in any case; numbers as decimal digits;
    /// `CbtHardeningLevel` in any case, stored in Windows' spelling. The error is a short
    /// reason, the caller adds the setting name and value.
    pub fn parse(self, text: &str) -> Result<Value, ValueError> {
        let trimmed = text.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'));
        match self {
            Self::Bool => {
                if trimmed.eq_ignore_ascii_case("true") {
                    Ok(Value::Bool(true))
                } else if trimmed.eq_ignore_ascii_case("false") {
                    Ok(Value::Bool(false))
                } else {
                    Err(ValueError::NotABoolean)
                }
            }
            Self::Number { xsd, .. } => {
                if trimmed.is_empty() || !trimmed.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(ValueError::NotANumber { xsd });
                }
                let v: u64 = trimmed
                    .parse()
                    .map_err(|_| ValueError::OutOfRange { xsd })?;
                self.check_number(v).map(Value::Number)
            }
            Self::Text => Ok(Value::Text(Cow::Owned(text.to_owned()))),
            Self::IpFilter { v6 } => Ok(crate::IpFilter::parse(trimmed, v6)
                .map(|_| Value::Text(Cow::Owned(trimmed.to_owned())))?),
            Self::Sddl => Ok(crate::sddl::validate(trimmed)
                .map(|()| Value::Text(Cow::Owned(trimmed.to_owned())))?),
            Self::CbtHardeningLevel => ["None", "Relaxed", "Strict"]
                .into_iter()
                .find(|l| l.eq_ignore_ascii_case(trimmed))
                .map(|l| Value::Text(Cow::Borrowed(l)))
                .ok_or(ValueError::NotAHardeningLevel),
        }
    }

    /// Range check for a number (also used for TOML integers).
    pub fn check_number(self, v: u64) -> Result<u64, ValueError> {
        match self {
            Self::Number { xsd, min, max } => {
                if v < min || v > max {
                    Err(ValueError::NotBetween { xsd, min, max })
                } else {
                    Ok(v)
                }
            }
            _ => Err(ValueError::NotANumberSetting),
        }
    }

    /// The schema type name.
    pub fn xsd_name(self) -> &'static str {
        match self {
            Self::Bool => "boolean",
            Self::Number { xsd, .. } => xsd,
            Self::Text | Self::IpFilter { .. } | Self::Sddl => "string",
            Self::CbtHardeningLevel => "CbtHardeningLevel",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_errors_keep_their_texts() {
        let number = ValueType::Number {
            xsd: "unsignedInt",
            min: 1,
            max: 10,
        };
        for (error, text) in [
            (ValueType::Bool.parse("x"), "expected true or false"),
            (number.parse("-1"), "expected an unsignedInt"),
            (
                number.parse("11"),
                "must be an unsignedInt between 1 and 10",
            ),
            (
                ValueType::CbtHardeningLevel.parse("x"),
                "expected None, Relaxed or Strict",
            ),
            (
                ValueType::IpFilter { v6: false }.parse("::1"),
                "\"::1\" is not an IPv4 address",
            ),
        ] {
            assert_eq!(error.map_err(|e| e.to_string()), Err(text.to_owned()));
        }
    }

    #[test]
    fn every_default_satisfies_its_own_type() {
        for (c, s) in all_settings() {
            let text = s.default.to_string();
            assert_eq!(
                s.ty.parse(&text),
                Ok(s.default.clone()),
                "{}/{}",
                c.toml_path(),
                s.name
            );
        }
    }

    #[test]
    fn setting_count_and_order_match_windows() {
        let names: Vec<&str> = all_settings().iter().map(|(_, s)| s.name).collect();
        // Windows' settings, plus Service's MaxSubscriptions and MaxSubscriptionsPerUser and
        // Winrs' MaxBufferedOutputPerUserMB (ours).
        assert_eq!(names.len(), 4 + 3 + 6 + 2 + 1 + 7 + 6 + 2 + 6 + 7 + 2 + 1);
        assert_eq!(
            &names[..5],
            &[
                "MaxEnvelopeSizekb",
                "MaxTimeoutms",
                "MaxBatchItems",
                "MaxProviderRequests",
                "NetworkDelayms"
            ]
        );
        assert_eq!(names.last(), Some(&"MaxBufferedOutputPerUserMB"));
    }

    #[test]
    fn booleans_accept_any_case_and_nothing_else() {
        assert_eq!(ValueType::Bool.parse("TRUE"), Ok(Value::Bool(true)));
        assert_eq!(ValueType::Bool.parse("False"), Ok(Value::Bool(false)));
        assert!(ValueType::Bool.parse("yes").is_err());
        assert!(ValueType::Bool.parse("1").is_err());
    }

    #[test]
    fn numbers_are_range_checked() {
        let t = CONFIG_MAX_TIMEOUT.ty;
        assert!(t.parse("499").is_err());
        assert_eq!(t.parse("500"), Ok(Value::Number(500)));
        assert!(t.parse("4294967296").is_err());
        assert!(t.parse("-1").is_err());
        assert!(t.parse("1e3").is_err());
        assert!(t.parse("").is_err());
        assert!(PORT.parse("0").is_err());
        assert!(PORT.parse("65536").is_err());
        assert!(CONFIG_MAX_ENVELOPE.ty.parse("31").is_err());
        assert!(CONFIG_MAX_BATCH.ty.parse("0").is_err());
        assert!(WINRS_IDLE.ty.parse("18446744073709551616").is_err());
    }

    #[test]
    fn cbt_level_is_canonicalised() {
        assert_eq!(
            ValueType::CbtHardeningLevel.parse("strict"),
            Ok(Value::Text(Cow::Borrowed("Strict")))
        );
        assert!(ValueType::CbtHardeningLevel.parse("Medium").is_err());
    }
}
