//! `winrm help [TOPIC]`, `winrm -?`, `winrm OPERATION -?`, and `winrm --generate man`.

use wsman_cli::switches::{docs, help_columns, ManPage, ManSection};

use crate::switches::SWITCHES;

const OVERVIEW: &str = r#"NAME
    winrm - Windows Remote Management command line for wsmand and Windows hosts

SYNOPSIS
    winrm OPERATION [RESOURCE_URI] [@{KEY="VALUE";...}] [-SWITCH:VALUE ...]

DESCRIPTION
    winrm reads and changes WS-Management resources, with the syntax of Windows'
    winrm.cmd. Without -r: it works on this machine: the winrm/config resources are
    read and written directly in the configuration directory of wsmand (see
    CONFIGURATION DIRECTORY), and a running wsmand picks the changes up without a
    restart. With -r: it talks WS-Management to a remote wsmand or Windows host.

OPERATIONS
    quickconfig | qc [-q] [-transport:http|https] [-force]
        Configure this machine for remote management (local only).
    get | g RESOURCE_URI
        Show a resource (WS-Transfer Get).
    set | s RESOURCE_URI @{KEY="VALUE";...} | -file:FILE
        Change settings of a resource (WS-Transfer Put). Only the given keys
        change; the updated resource is printed.
    enumerate | e RESOURCE_URI [-filter:TEXT] [-dialect:DIALECT]
                  [-returnType:object|epr|objectepr]
        List the instances of a resource (WS-Enumeration Enumerate and Pull).
    create | c RESOURCE_URI?KEY=VALUE+... [@{KEY="VALUE";...} | -file:FILE]
        Create an instance, e.g. a listener (WS-Transfer Create).
    delete | d RESOURCE_URI?KEY=VALUE+...
        Delete an instance (WS-Transfer Delete).
    invoke | i METHOD RESOURCE_URI [@{PARAMETER="VALUE";...} | -file:FILE]
        Call a method of a resource (action RESOURCE_URI/METHOD).
    configSDDL default|RESOURCE_URI [-add:ACCOUNT=RIGHT] [-remove:ACCOUNT=RIGHT] [-sddl:SDDL]
        Show a security descriptor as a table of who may Read, Write, Execute,
        Full (RootSDDL, the WMI plug-in's or a WMI namespace's), and edit it.
    events LOG -r:REMOTE [-filter:XPATH] [-existing] [-batches:N] [-maxElements:N]
        Subscribe to a remote event log (Application, System, Security, ...) in
        Pull mode (WS-Eventing), pull N batches, print the events and the
        bookmark, and unsubscribe.
    identify | id [-r:REMOTE] [-a:None]
        Ask a WS-Management service who it is (Identify). Without -r: the
        first enabled listener of this machine's configuration is asked.
    help [config|uris|aliases|switches|remoting|OPERATION]
        Show this text or a topic.

EXAMPLES
    winrm get winrm/config
    winrm set winrm/config/service @{AllowUnencrypted="true"}
    winrm enumerate winrm/config/listener
    winrm create winrm/config/Listener?Address=*+Transport=HTTPS @{Hostname="srv.example.com"}
    winrm delete winrm/config/Listener?Address=*+Transport=HTTP
    winrm identify -r:https://srv.example.com:5986 -a:None
    winrm get winrm/config -r:srv.example.com -usessl -u:admin
    winrm events System -r:srv.example.com -u:admin -filter:"*[System[(Level=1 or Level=2)]]" -existing

    In a Unix shell the double quotes of @{Key="value"} are removed by the shell;
    winrm accepts the unquoted form, and values with spaces or ';' need quoting
    for the shell: '@{Hostname="my host"}'.

CONFIGURATION DIRECTORY
    --config-dir DIR, or the environment variable WSMAND_CONFIG_DIR, or
    /etc/wsmand. Holds config.toml, policy.d/*.toml (read-only policy, shown
    as [Source="GPO"]), certs/ and accounts.toml.

EXIT STATUS
    0   success
    1   WS-Management fault or other operation error
    2   usage error (bad command line, contradictory or unsupported options)
    3   authentication failure (the server answered HTTP 401)
    4   connection, TLS or HTTP error
    5   the client configuration refuses the request (unencrypted traffic
        not allowed, host not in TrustedHosts, unreadable CA file)
    With -r: of several hosts (identify, get, enumerate, invoke): 0 when every
    host succeeded, 6 when some failed, 7 when all failed; each failure is
    printed as "HOST: error: ..." and a summary line ends stderr.

SEE ALSO
    winrm help switches, winrm help uris, winrm help config, wsmand(8)
"#;

/// `winrm help switches`: the table of [`crate::switches`] in two columns.
fn switches_help() -> String {
    format!(
        "SWITCHES\n    Switch names are case-insensitive; values follow a colon.\n\n{}",
        help_columns(&docs(SWITCHES), 26)
    )
}

/// The URIs topic; the full URI of its example is `winrm/config`'s.
fn uris() -> String {
    format!(
        r#"RESOURCE URIS
    A resource URI names a resource class; the instance is chosen by selectors
    given as a query string:

        winrm/config/Listener?Address=*+Transport=HTTPS

    The query string never becomes part of the URI: it is sent as a
    WS-Management SelectorSet (Address = *, Transport = HTTPS). A URI either
    is a full URI ({config}) or starts
    with an alias (see `winrm help aliases`).

    Configuration resources:
        winrm/config                       Config: the whole tree (get, set)
        winrm/config/client                Client settings
        winrm/config/client/auth           Client authentication
        winrm/config/client/defaultports   Client default ports
        winrm/config/service               Service settings
        winrm/config/service/auth          Service authentication
        winrm/config/service/defaultports  Ports quickconfig uses
        winrm/config/winrs                 Remote shell settings
        winrm/config/listener              Listeners (enumerate, get, set,
                                           create, delete; selectors Address
                                           and Transport)
"#,
        config = wsman_proto::ns::CONFIG
    )
}

/// The aliases topic, from the table the command line expands.
fn aliases() -> String {
    let mut out = String::from(
        "ALIASES\n    Short names for URI prefixes; they exist only on the command line.\n\n",
    );
    for (alias, uri) in crate::syntax::ALIASES {
        out.push_str(&format!("        {alias:<10}{uri}\n"));
    }
    out
}

const CONFIG: &str = r#"CONFIGURATION
    The configuration of the WS-Management service is the resource tree
    winrm/config. Show it with `winrm get winrm/config`; change a setting with
    `winrm set URI @{Name="value"}` on the container that holds it:

        winrm set winrm/config @{MaxEnvelopeSizekb="500"}
        winrm set winrm/config/service @{AllowUnencrypted="false"}
        winrm set winrm/config/service/auth @{Basic="true"}
        winrm set winrm/config/winrs @{MaxShellsPerUser="30"}

    Config (winrm/config)
        MaxEnvelopeSizekb      Largest SOAP message in KB (default 500).
        MaxTimeoutms           Cap for a request's OperationTimeout (60000).
        MaxBatchItems          Items per enumeration response (32000).
        MaxProviderRequests    Read-only.
    Client (winrm/config/client)
        NetworkDelayms, URLPrefix, AllowUnencrypted, Auth/*, DefaultPorts/*,
        TrustedHosts.
    Service (winrm/config/service)
        RootSDDL               Who may connect (administrators by default).
        MaxConcurrentOperationsPerUser, EnumerationTimeoutms, MaxConnections,
        MaxPacketRetrievalTimeSeconds.
        AllowUnencrypted       Accept unencrypted traffic over HTTP; Basic over
                               HTTP also needs it (default false).
        Auth/Basic             Accept Basic authentication (default false).
        Auth/Kerberos, Auth/Negotiate, Auth/Certificate, Auth/CredSSP,
        Auth/CbtHardeningLevel.
        DefaultPorts/HTTP, DefaultPorts/HTTPS   Ports of new listeners
                               (5985, 5986).
        IPv4Filter, IPv6Filter Addresses listeners may bind ("*").
        EnableCompatibilityHttpListener, EnableCompatibilityHttpsListener
                               Also listen on 80 / 443.
        AllowRemoteAccess      false: local requests only.
    Winrs (winrm/config/winrs)
        AllowRemoteShellAccess, IdleTimeout, MaxConcurrentUsers,
        MaxShellRunTime, MaxProcessesPerShell, MaxMemoryPerShellMB,
        MaxShellsPerUser. MaxShellsPerUser and MaxConcurrentUsers count
        Linux users: a service account run as a Linux user shares its
        quota.
    Listener (winrm/config/listener?Address=ADDRESS+Transport=TRANSPORT)
        Address                *, IP:a.b.c.d or IP:a.b.c.d-e.f.g.h
        Transport              HTTP or HTTPS
        Port                   Default from Service/DefaultPorts.
        Hostname               Name in the certificate (HTTPS).
        Enabled                true/false.
        URLPrefix              Path of the endpoint (wsman).
        CertificateThumbprint  SHA-1 thumbprint of a certificate in
                               CONFIG_DIR/certs; an HTTPS listener created
                               without one gets a new self-signed certificate.
        ListeningOn            Read-only: the addresses the running service
                               bound. Only the service knows them, so it is
                               shown by `winrm get/enumerate -r:...`, not by
                               the local (no -r:) form.

    A value set by a policy file in CONFIG_DIR/policy.d is shown with
    [Source="GPO"] and cannot be changed with winrm set.
"#;

const REMOTING: &str = r#"REMOTING
    To manage this machine from elsewhere:

      1. winrm quickconfig [-transport:https]
         creates a listener and enables Basic authentication.
      2. Create an account the service accepts:
         wsmand account add NAME --password-stdin [--run-as LINUXUSER]
         (or use a Linux account in the group wsmand-admins).
      3. From another machine:
         winrm identify -r:https://HOST:5986 -a:None
         winrm get winrm/config -r:https://HOST:5986 -u:NAME

    Negotiate (the default with -u:) needs an account with NTLM enabled
    (wsmand account add NAME --ntlm) and Service/Auth/Negotiate=true; over
    plain HTTP the client must list the server in Client/TrustedHosts:
         winrm set winrm/config/client @{TrustedHosts="HOST"}
    Basic authentication sends the password with every request: use HTTPS.
    Over plain HTTP it needs Service/AllowUnencrypted=true on the server, and
    Client/AllowUnencrypted=true, TrustedHosts and -unencrypted on the client.
"#;

fn operation_help(op: &str) -> Option<String> {
    let (synopsis, text) = match op {
        "get" | "g" => ("winrm get RESOURCE_URI [SWITCHES]", "Shows one resource instance. Example:\n    winrm get winrm/config/listener?Address=*+Transport=HTTP"),
        "set" | "s" => ("winrm set RESOURCE_URI @{KEY=\"VALUE\";...} | -file:FILE [SWITCHES]", "Changes the given settings and prints the updated resource. Example:\n    winrm set winrm/config/service/auth @{Basic=\"true\"}"),
        "enumerate" | "e" => ("winrm enumerate RESOURCE_URI [-filter:TEXT -dialect:DIALECT -returnType:object|epr|objectepr] [SWITCHES]", "Lists all instances. Example:\n    winrm enumerate winrm/config/listener"),
        "create" | "c" => ("winrm create RESOURCE_URI?KEY=VALUE+... [@{KEY=\"VALUE\";...} | -file:FILE] [SWITCHES]", "Creates an instance and prints its reference. Example:\n    winrm create winrm/config/Listener?Address=*+Transport=HTTPS @{Hostname=\"srv.example.com\"}"),
        "delete" | "d" => ("winrm delete RESOURCE_URI?KEY=VALUE+... [SWITCHES]", "Deletes an instance. Example:\n    winrm delete winrm/config/Listener?Address=*+Transport=HTTP"),
        "invoke" | "i" => ("winrm invoke METHOD RESOURCE_URI [@{PARAMETER=\"VALUE\";...} | -file:FILE] [SWITCHES]", "Calls METHOD with the action RESOURCE_URI/METHOD and a METHOD_INPUT body. Example:\n    winrm invoke StartService wmicimv2/Win32_Service?Name=spooler -r:srv -u:admin"),
        "events" => ("winrm events LOG -r:REMOTE [-filter:XPATH] [-existing] [-batches:N] [-maxElements:N] [SWITCHES]", "Subscribes to the event log LOG of REMOTE in Pull mode with the event query\nXPATH (`*`, all events, when absent), pulls up to N batches (1 by default; a\npull that finds nothing within 5 seconds ends early) of at most maxElements\nevents each (50 by default), prints the events (text: record id, time, level,\nprovider, message; -format:xml the Event XML) and, in text, the bookmark after\nthe last, then unsubscribes. -existing starts with the events already in the\nlog; else only events logged after the subscription come. Example:\n    winrm events Application -r:srv -u:admin -filter:\"*[System[Level=2]]\" -existing -batches:3"),
        "identify" | "id" => ("winrm identify [-r:REMOTE] [-a:None] [SWITCHES]", "Shows the service's protocol version, vendor and product version. With -a:None\n(or without -u:) the unauthenticated form is used."),
        "configsddl" => ("winrm configSDDL default|RESOURCE_URI [-add:ACCOUNT=RIGHT[,RIGHT]] [-remove:ACCOUNT=RIGHT[,RIGHT]] [-sddl:SDDL] [SWITCHES]", "Shows who may Read, Write, Execute or has Full control under a security\ndescriptor, and edits it (Windows opens a dialog; here -add:, -remove: and\n-sddl: do, in the order given). default is RootSDDL; the WMI plug-in's\ndescriptor is wmi/WmiNamespace (its full URI, aliased), one\nnamespace's wmi/root/cimv2 (it replaces the plug-in's for that namespace).\nACCOUNT is a Linux user, %group (or a group name), or a SID; names are looked\nup on this machine. Example:\n    winrm configSDDL wmi/root/cimv2 -add:monitor=Read -r:srv -u:admin"),
        "quickconfig" | "qc" => ("winrm quickconfig [-q] [-transport:http|https] [-force] [--config-dir DIR]", "Makes this machine ready for remote management:\n  - creates the configuration directory if needed,\n  - creates a listener on all addresses for the transport (HTTPS gets a new\n    self-signed certificate) on Service/DefaultPorts,\n  - enables Service/Auth/Basic (the authentication scheme wsmand offers),\n  - enables and starts the wsmand systemd unit when systemd runs.\nAsks before changing anything unless -q or -force. Running it again changes\nnothing."),
        _ => return None,
    };
    let description: Vec<String> = text.lines().map(|l| format!("    {l}")).collect();
    Some(format!(
        "SYNOPSIS\n    {synopsis}\n\nDESCRIPTION\n{}\n\n{}",
        description.join("\n"),
        switches_help()
    ))
}

/// The operations a completion offers first.
const OPERATIONS: &[&str] = &[
    "quickconfig",
    "get",
    "set",
    "enumerate",
    "create",
    "delete",
    "identify",
    "invoke",
    "configSDDL",
    "events",
    "help",
];

/// A completion script for `shell`: the operations and the switches of the same table as
/// `winrm help switches`.
pub(crate) fn completion(shell: wsman_cli::switches::CompletionShell) -> String {
    let words = wsman_cli::switches::completion_words(SWITCHES);
    wsman_cli::switches::completion_script(shell, "winrm", OPERATIONS, &words)
}

/// `winrm(1)` in roff: the overview's sections, then the switches from the same table as
/// `winrm help switches`, then the remoting notes.
pub(crate) fn man_page() -> String {
    let mut sections = Vec::new();
    let mut synopsis = "";
    for (title, body) in text_sections(OVERVIEW) {
        match title {
            "NAME" => {}
            "SYNOPSIS" => synopsis = body,
            _ => sections.push(ManSection::Text { title, body }),
        }
    }
    let see_also = sections.pop();
    sections.push(ManSection::Switches {
        title: "SWITCHES",
        rows: docs(SWITCHES),
    });
    for (title, body) in text_sections(REMOTING) {
        sections.push(ManSection::Text { title, body });
    }
    sections.extend(see_also);
    ManPage {
        name: "winrm",
        section: 1,
        summary: "Windows Remote Management command line for wsmand and Windows hosts",
        synopsis,
        sections,
    }
    .to_roff()
}

/// The sections of a help text: each title line (not indented) with the indented lines under
/// it, up to the next title.
fn text_sections(text: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut sections = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find('\n') {
        let title = &rest[..end];
        let body_start = end + 1;
        let body_end = rest[body_start..]
            .match_indices('\n')
            .map(|(i, _)| body_start + i + 1)
            .find(|&i| rest[i..].chars().next().is_some_and(|c| !c.is_whitespace()))
            .unwrap_or(rest.len());
        sections.push((title, rest[body_start..body_end].trim_end_matches('\n')));
        rest = &rest[body_end..];
    }
    sections
}

/// The help text for a topic (None: the overview); None when the topic is unknown.
pub(crate) fn topic(name: Option<&str>) -> Option<String> {
    let Some(name) = name else {
        return Some(OVERVIEW.to_owned());
    };
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "config" => Some(CONFIG.to_owned()),
        "uris" | "uri" => Some(uris()),
        "aliases" | "alias" => Some(aliases()),
        "switches" | "auth" | "input" => Some(switches_help()),
        "remoting" => Some(REMOTING.to_owned()),
        "exitcodes" => Some(OVERVIEW.to_owned()),
        other => operation_help(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_exists_and_exit_codes_are_documented() {
        for t in [
            "config",
            "uris",
            "aliases",
            "remoting",
            "switches",
            "get",
            "set",
            "enumerate",
            "events",
            "create",
            "delete",
            "invoke",
            "identify",
            "quickconfig",
            "qc",
            "configsddl",
        ] {
            assert!(topic(Some(t)).is_some(), "{t}");
        }
        assert!(topic(Some("nope")).is_none());
        let o = topic(None).unwrap_or_default();
        for code in [
            "0   success",
            "1   WS-Management fault",
            "2   usage error",
            "3   authentication failure",
            "4   connection",
            "5   the client configuration refuses",
        ] {
            assert!(o.contains(code), "{code}");
        }
    }

    #[test]
    fn man_page_and_help_list_the_same_switches() {
        let help = switches_help();
        // A heading is a line at four spaces starting with `-`, up to column 26 when its
        // description starts beside it.
        let in_help: Vec<String> = help
            .lines()
            .filter_map(|line| line.strip_prefix("    "))
            .filter(|rest| rest.starts_with('-'))
            .map(|rest| match rest.get(..22) {
                Some(head) if rest.len() > 22 && head.ends_with(' ') => head.trim_end().to_owned(),
                _ => rest.trim_end().to_owned(),
            })
            .collect();
        let page = man_page();
        assert_eq!(
            in_help,
            wsman_cli::switches::man_switch_headings(&page),
            "{page}"
        );
        let names = SWITCHES.iter().map(|row| row.names);
        let sections = [".SH SWITCHES"];
        let gaps = wsman_cli::switches::man_page_gaps(&help, &page, names, "WINRM 1", &sections);
        assert!(gaps.is_empty(), "{gaps:?}");
    }
}
