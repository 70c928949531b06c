//! What `wsmand mgmt get|set` prints about each setting.

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
        name: "SampleIntervalSeconds",
        windows_name: "-",
        meaning: "seconds between the console's samples of every host's figures",
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
