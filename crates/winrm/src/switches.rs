//! winrm's switches, one row each: the parser (`args`), `winrm help switches` and the man
//! page (`help`) all read this table. The connection switches behave as in `winrs`
//! (wsman-cli's `ConnectionSwitches`); their descriptions here are winrm's.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;

use wsman_cli::switches::Switch;
use wsman_cli::{choice, required_value, ConnectionSwitches, SwitchError};

/// Output format (`-format:`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Format {
    #[default]
    Text,
    Xml,
    PrettyXml,
}

/// `-returnType:` of enumerate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ReturnType {
    #[default]
    Object,
    Epr,
    ObjectEpr,
}

/// `-transport:` of quickconfig.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum QuickTransport {
    #[default]
    Http,
    Https,
}

/// Every switch, as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Switches {
    /// -r: -u: -p: -a: -unencrypted -usessl -skipCAcheck -skipCNcheck -cacert: -timeout:
    pub(crate) connection: ConnectionSwitches,
    pub(crate) format: Format,
    pub(crate) quiet: bool,
    pub(crate) force: bool,
    /// quickconfig: leave the host firewall alone (`-skipFirewall`).
    pub(crate) skip_firewall: bool,
    pub(crate) transport: QuickTransport,
    pub(crate) file: Option<PathBuf>,
    pub(crate) filter: Option<String>,
    pub(crate) dialect: Option<String>,
    pub(crate) return_type: ReturnType,
    pub(crate) config_dir: Option<PathBuf>,
    /// `events`: start with the events already in the log (`-existing`).
    pub(crate) existing: bool,
    /// `events`: how many pulls (`-batches:N`, default 1).
    pub(crate) batches: Option<u32>,
    /// `events`: most events per pull (`-maxElements:N`, default 50).
    pub(crate) max_elements: Option<u32>,
    /// `-parallel:N`: hosts at once when `-r:` names several.
    pub(crate) parallel: Option<usize>,
    /// `configSDDL`: `-add:`, `-remove:` and `-sddl:` edits, in the order given.
    pub(crate) sddl_edits: Vec<SddlSwitch>,
    /// `-?`, `-h`, `--help`.
    pub(crate) help: bool,
}

/// One edit of `winrm configSDDL` (there is no dialog on Linux).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SddlSwitch {
    /// `-add:ACCOUNT=RIGHT[,RIGHT]`.
    Add(String),
    /// `-remove:ACCOUNT=RIGHT[,RIGHT]`.
    Remove(String),
    /// `-sddl:TEXT`: the descriptor itself.
    Sddl(String),
}

fn sddl_edit(s: &mut Switches, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    let v = required_value(name, value)?;
    let edit = match name.to_ascii_lowercase().as_str() {
        "add" => SddlSwitch::Add(v),
        "remove" => SddlSwitch::Remove(v),
        _ => SddlSwitch::Sddl(v),
    };
    s.sddl_edits.push(edit);
    Ok(())
}

/// A shared connection switch, applied by wsman-cli.
fn connection(s: &mut Switches, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    s.connection.apply_known(name, value, "winrm help switches")
}

wsman_cli::value_switches!(Switches:
    file => file,
    filter => filter,
    dialect => dialect,
    config_dir => config_dir,
);

wsman_cli::flag_switches!(Switches:
    quiet => quiet,
    force => force,
    skip_firewall => skip_firewall,
    existing => existing,
    help => help,
);

fn format(s: &mut Switches, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    let formats = [
        ("text", Format::Text),
        ("xml", Format::Xml),
        ("#pretty", Format::PrettyXml),
        ("pretty", Format::PrettyXml),
    ];
    s.format = choice(name, value, &formats, |v| {
        format!("unknown format -format:{v} (text, xml, #pretty)")
    })?;
    Ok(())
}

fn transport(s: &mut Switches, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    let transports = [
        ("http", QuickTransport::Http),
        ("https", QuickTransport::Https),
    ];
    s.transport = choice(name, value, &transports, |v| {
        format!("-transport:{v} must be http or https")
    })?;
    Ok(())
}

fn return_type(s: &mut Switches, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    let types = [
        ("object", ReturnType::Object),
        ("epr", ReturnType::Epr),
        ("objectepr", ReturnType::ObjectEpr),
    ];
    s.return_type = choice(name, value, &types, |v| {
        format!("-returnType:{v} must be object, epr or objectepr")
    })?;
    Ok(())
}

/// The number of `-NAME:N`, which must lie in `range` (`-batches:`, `-maxElements:`,
/// `-parallel:`).
fn number_in<N>(name: &str, value: Option<&str>, range: RangeInclusive<N>) -> Result<N, SwitchError>
where
    N: FromStr + PartialOrd + Display,
{
    let v = required_value(name, value)?;
    v.parse::<N>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            SwitchError::new(format!(
                "-{name}:{v} must be a number from {} to {}",
                range.start(),
                range.end()
            ))
        })
}

fn batches(s: &mut Switches, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    s.batches = Some(number_in(name, value, 1..=10_000)?);
    Ok(())
}

fn max_elements(s: &mut Switches, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    s.max_elements = Some(number_in(name, value, 1..=10_000)?);
    Ok(())
}

fn parallel(s: &mut Switches, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    s.parallel = Some(number_in(name, value, 1..=1024)?);
    Ok(())
}

/// Every switch, in the order `winrm help switches` lists them.
pub(crate) const SWITCHES: &[Switch<Switches>] = &[
    Switch {
        names: &["add"],
        synopsis: r#"-add:ACCOUNT=RIGHT[,RIGHT]"#,
        doc: r#"configSDDL: allow a Linux user (or %group, or a SID)
Read, Write, Execute or Full."#,
        apply: sddl_edit,
    },
    Switch {
        names: &["remove"],
        synopsis: r#"-remove:ACCOUNT=RIGHT[,RIGHT]"#,
        doc: r#"configSDDL: no longer allow ACCOUNT these rights."#,
        apply: sddl_edit,
    },
    Switch {
        names: &["sddl"],
        synopsis: r#"-sddl:SDDL"#,
        doc: r#"configSDDL: replace the descriptor with SDDL."#,
        apply: sddl_edit,
    },
    Switch {
        names: &["r", "remote"],
        synopsis: r#"-r:REMOTE"#,
        doc: r#"Remote endpoint: HOST, HOST:PORT, [IPv6]:PORT, or a URL
http(s)://HOST[:PORT][/PATH]. Default ports 5985 (HTTP)
and 5986 (HTTPS), default path /wsman. identify, get,
enumerate and invoke also take several hosts: a comma
list, @FILE (one per line, # comments) or a group of
groups.toml in the configuration directory; each
output line is then prefixed with "HOST: "."#,
        apply: connection,
    },
    Switch {
        names: &["parallel"],
        synopsis: r#"-parallel:N"#,
        doc: r#"Hosts worked on at once when -r: names several
(default 16)."#,
        apply: parallel,
    },
    Switch {
        names: &["u", "username"],
        synopsis: r#"-u:USER"#,
        doc: r#"User name (USER, DOMAIN\USER or USER@DOMAIN). Without
-p: the password is asked for without echo on a
terminal, or read as one line from standard input."#,
        apply: connection,
    },
    Switch {
        names: &["p", "password"],
        synopsis: r#"-p:PASSWORD"#,
        doc: r#"Password (visible to other local users in the process
list: prefer the prompt or standard input)."#,
        apply: connection,
    },
    Switch {
        names: &["a", "auth", "authentication"],
        synopsis: r#"-a:Negotiate|Kerberos|CredSSP|Basic|Certificate|None"#,
        doc: r#"Authentication. Kerberos uses the caller's ticket cache
(KRB5CCNAME; kinit first), or gets a ticket with -u:/-p:
(user or user@REALM); the server's SPN is HTTP/HOST
(-spn:WSMAN for WSMAN/HOST); TrustedHosts is not needed.
Negotiate (NTLM; -a:Default is the
same) is the default with -u:: over HTTP every message
is encrypted with the session key, over HTTPS the login
is bound to the TLS channel. Basic sends the password
with every request. CredSSP logs in with NTLM inside
TLS, then delegates the -u:/-p: password to the server
(for a second hop); over HTTP every message is
encrypted with that TLS session; the server must have
Service/Auth/CredSSP=true. Certificate uses a TLS client
certificate (HTTPS, -certificate:). None sends no
credentials (only Identify works without)."#,
        apply: connection,
    },
    Switch {
        names: &["spn"],
        synopsis: r#"-spn:HTTP|WSMAN"#,
        doc: r#"Service part of the server's Kerberos principal
(-a:Kerberos; default HTTP)."#,
        apply: connection,
    },
    Switch {
        names: &["certificate"],
        synopsis: r#"-certificate:THUMBPRINT|FILE"#,
        doc: r#"Client certificate for -a:Certificate: a thumbprint in
the configuration directory's certs/ (THUMBPRINT.crt and
.key) or a PEM file with certificate and key (or the
key next to it as FILE.key)."#,
        apply: connection,
    },
    Switch {
        names: &["usessl", "ssl"],
        synopsis: r#"-usessl"#,
        doc: r#"Use HTTPS for a REMOTE without a scheme (for a remote
command, -transport:https does the same)."#,
        apply: connection,
    },
    Switch {
        names: &["unencrypted", "un"],
        synopsis: r#"-unencrypted"#,
        doc: r#"Send messages unencrypted over plain HTTP (needed for
Basic over HTTP: the password and all data travel in
clear text). Needs Client/AllowUnencrypted=true here and
Service/AllowUnencrypted=true on the server.
Remote commands obey this machine's client settings
(winrm/config/client in the configuration directory):
over plain HTTP the host must be in Client/TrustedHosts
(names, addresses, * wildcards, * for every host)."#,
        apply: connection,
    },
    Switch {
        names: &["skipcacheck"],
        synopsis: r#"-skipCAcheck"#,
        doc: r#"Do not check that a trusted CA issued the server
certificate. Dangerous: anyone in the path can pose as
the server. For test hosts only."#,
        apply: connection,
    },
    Switch {
        names: &["skipcncheck"],
        synopsis: r#"-skipCNcheck"#,
        doc: r#"Do not check that the certificate names the host.
Dangerous, as above."#,
        apply: connection,
    },
    Switch {
        names: &["cacert", "cafile"],
        synopsis: r#"-cacert:FILE"#,
        doc: r#"Trust the PEM certificates in FILE (a CA, or the
server's self-signed certificate) instead of the
system's roots."#,
        apply: connection,
    },
    Switch {
        names: &["format"],
        synopsis: r#"-format:text|xml|#pretty"#,
        doc: r#"Output format (default text)."#,
        apply: format,
    },
    Switch {
        names: &["timeout", "t"],
        synopsis: r#"-timeout:MS"#,
        doc: r#"Operation timeout in milliseconds (default 60000)."#,
        apply: connection,
    },
    Switch {
        names: &["file"],
        synopsis: r#"-file:FILE"#,
        doc: r#"Take the request body from FILE (set, create, invoke)."#,
        apply: file,
    },
    Switch {
        names: &["filter"],
        synopsis: r#"-filter:TEXT"#,
        doc: r#"Enumeration filter (winrm events: the event XPath).
-dialect: names its language:"#,
        apply: filter,
    },
    Switch {
        names: &["dialect"],
        synopsis: r#"-dialect:DIALECT"#,
        doc: r#"wql (default when -filter: is given), selector,
association, or a dialect URI. The selector filter
takes KEY=VALUE+KEY2=VALUE2."#,
        apply: dialect,
    },
    Switch {
        names: &["existing"],
        synopsis: r#"-existing"#,
        doc: r#"winrm events: read the events already in the log."#,
        apply: existing,
    },
    Switch {
        names: &["batches"],
        synopsis: r#"-batches:N"#,
        doc: r#"winrm events: how many pulls (default 1)."#,
        apply: batches,
    },
    Switch {
        names: &["maxelements"],
        synopsis: r#"-maxElements:N"#,
        doc: r#"winrm events: most events per pull (default 50)."#,
        apply: max_elements,
    },
    Switch {
        names: &["returntype"],
        synopsis: r#"-returnType:object|epr|objectepr"#,
        doc: r#"Enumerate objects, endpoint references, or both."#,
        apply: return_type,
    },
    Switch {
        names: &["q", "quiet"],
        synopsis: r#"-q"#,
        doc: r#"quickconfig: do not ask for confirmation."#,
        apply: quiet,
    },
    Switch {
        names: &["transport"],
        synopsis: r#"-transport:http|https"#,
        doc: r#"quickconfig: transport of the listener (default http)."#,
        apply: transport,
    },
    Switch {
        names: &["force"],
        synopsis: r#"-force"#,
        doc: r#"quickconfig: do not ask, same as -q."#,
        apply: force,
    },
    Switch {
        names: &["skipfirewall"],
        synopsis: r#"-skipFirewall"#,
        doc: r#"quickconfig: do not open the listener's port in the host firewall (by
default it is opened in firewalld, ufw or nftables, whichever is active). wsmand's
own switch: Windows' winrm always creates its firewall exception."#,
        apply: skip_firewall,
    },
    Switch {
        names: &["config-dir", "configdir"],
        synopsis: r#"--config-dir DIR"#,
        doc: r#"Local configuration directory."#,
        apply: config_dir,
    },
    Switch {
        names: &["?", "h", "help"],
        synopsis: r#"-?"#,
        doc: r#"Help."#,
        apply: help,
    },
];
