//! winrs's switches, one row each: the parser (`args`), `-?` and the man page (`help`) all
//! read these tables. The connection switches behave as in `winrm` (wsman-cli's
//! `ConnectionSwitches`); their descriptions here are winrs's.

use std::str::FromStr;

use wsman_cli::switches::Switch;
use wsman_cli::{choice, required_value, ConnectionSwitches, SwitchError};

/// The switches that shape the remote shell and command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ShellSwitches {
    /// `-d:` / `-directory:`.
    pub(crate) directory: Option<String>,
    /// `-env:KEY=VALUE`, in order.
    pub(crate) environment: Vec<(String, String)>,
    /// `-nop` / `-noprofile`.
    pub(crate) no_profile: bool,
    /// `-cp:` / `-codepage:`.
    pub(crate) codepage: Option<u32>,
    /// `-skipcmdshell`.
    pub(crate) skip_cmd_shell: bool,
    /// `-noe` / `-noecho`: stdin as a pipe rather than a console.
    pub(crate) no_echo: bool,
    /// `-pty`: run the command on a remote pseudo-terminal like this one (wsmand's extension).
    pub(crate) pty: bool,
    /// `-ps` / `-powershell`: the command line is a PowerShell script, run in a runspace pool
    /// of the host's PowerShell plug-in.
    pub(crate) powershell: bool,
}

/// How results are written when `-r:` names several hosts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum OutputForm {
    /// Each output line prefixed by its host's name.
    #[default]
    Text,
    /// One JSON object per host and line.
    Json,
}

/// The switches of a run on several hosts (`-r:` a list, a file or a group).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FanOutSwitches {
    /// `-parallel:N`.
    pub(crate) parallel: Option<usize>,
    /// `-output:text|json`; `Some` also asks for the fan-out form with one host.
    pub(crate) output: Option<OutputForm>,
    /// `-connecttimeout:MS`.
    pub(crate) connect_timeout_ms: Option<u64>,
    /// `-hosttimeout:MS`.
    pub(crate) host_timeout_ms: Option<u64>,
    /// `-rawoutput`: text output with the hosts' control characters as they sent them.
    pub(crate) raw_output: bool,
}

/// The switches of shells that outlive winrs (Disconnect / Connect).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DetachSwitches {
    /// `-detach`: start the command, print the ShellId, disconnect and exit.
    pub(crate) detach: bool,
    /// `-attach:SHELLID`: connect to a disconnected shell and stream its command.
    pub(crate) attach: Option<String>,
    /// `-list`: the caller's shells and their state.
    pub(crate) list: bool,
    /// `-idletimeout:MS`: how long the server keeps the detached shell.
    pub(crate) idle_timeout_ms: Option<u64>,
}

/// What the switches are parsed into.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Parsing {
    pub(crate) connection: ConnectionSwitches,
    pub(crate) shell: ShellSwitches,
    pub(crate) fan_out: FanOutSwitches,
    pub(crate) detached: DetachSwitches,
    /// `-?` was given.
    pub(crate) help: bool,
}

/// A shared connection switch, applied by wsman-cli.
fn connection(s: &mut Parsing, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    s.connection.apply_known(name, value, "winrs -?")
}

wsman_cli::value_switches!(Parsing: directory => shell.directory);

wsman_cli::flag_switches!(Parsing:
    no_profile => shell.no_profile,
    skip_cmd_shell => shell.skip_cmd_shell,
    no_echo => shell.no_echo,
    pty => shell.pty,
    powershell => shell.powershell,
    raw_output => fan_out.raw_output,
    help => help,
    detach => detached.detach,
    list => detached.list,
);

/// `-transport:http|https`: the same choice as `-usessl`.
fn transport(s: &mut Parsing, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    s.connection.use_ssl = choice(name, value, &[("https", true), ("http", false)], |t| {
        format!(
            "-transport:{} must be http or https",
            t.to_ascii_lowercase()
        )
    })?;
    Ok(())
}

fn environment(s: &mut Parsing, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    let v = required_value(name, value)?;
    let (key, val) = v
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| SwitchError::new(format!("-{name}:{v} must have the form KEY=VALUE")))?;
    s.shell.environment.push((key.to_owned(), val.to_owned()));
    Ok(())
}

fn codepage(s: &mut Parsing, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    s.shell.codepage = Some(positive(name, value, "is not a code page number")?);
    Ok(())
}

/// The number of `-NAME:N`, above zero; otherwise the error `-NAME:N` followed by `refusal`.
fn positive<N>(name: &str, value: Option<&str>, refusal: &str) -> Result<N, SwitchError>
where
    N: FromStr + PartialOrd + Default,
{
    let v = required_value(name, value)?;
    v.parse::<N>()
        .ok()
        .filter(|n| *n > N::default())
        .ok_or_else(|| SwitchError::new(format!("-{name}:{v} {refusal}")))
}

fn parallel(s: &mut Parsing, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    let n: u64 = positive(name, value, "is not a positive number of hosts")?;
    s.fan_out.parallel = Some(usize::try_from(n).unwrap_or(usize::MAX).min(1024));
    Ok(())
}

fn output(s: &mut Parsing, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    let forms = [("text", OutputForm::Text), ("json", OutputForm::Json)];
    s.fan_out.output = Some(choice(name, value, &forms, |v| {
        format!("-{name}:{} must be text or json", v.to_ascii_lowercase())
    })?);
    Ok(())
}

/// The value of `-NAME:MS`, a positive number of milliseconds.
fn milliseconds(name: &str, value: Option<&str>) -> Result<Option<u64>, SwitchError> {
    positive(name, value, "is not a positive number of milliseconds").map(Some)
}

fn connect_timeout(s: &mut Parsing, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    s.fan_out.connect_timeout_ms = milliseconds(name, value)?;
    Ok(())
}

fn host_timeout(s: &mut Parsing, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    s.fan_out.host_timeout_ms = milliseconds(name, value)?;
    Ok(())
}

fn not_supported(_: &mut Parsing, name: &str, _: Option<&str>) -> Result<(), SwitchError> {
    Err(SwitchError::new(format!(
        "-{name} is not supported by this winrs (no credential delegation, no compression)"
    )))
}

/// The CONNECTION section.
pub(crate) const CONNECTION: &[Switch<Parsing>] = &[
    Switch {
        names: &["r", "remote"],
        synopsis: r#"-r:HOST | -remote:HOST"#,
        doc: r#"The endpoint: HOST, HOST:PORT, [IPv6]:PORT, or http(s)://HOST[:PORT][/PATH].
Default port 5985 (HTTP) or 5986 (HTTPS), path /wsman. Default: localhost.
Several hosts (see MANY HOSTS): a comma list (-r:h1,h2), @FILE (one host or
URL per line, # comments and blank lines ignored), or a group of the
[groups] table in groups.toml of the configuration directory."#,
        apply: connection,
    },
    Switch {
        names: &["u", "username"],
        synopsis: r#"-u:USER | -username:USER"#,
        doc: r#"User name: USER, DOMAIN\USER or USER@DOMAIN."#,
        apply: connection,
    },
    Switch {
        names: &["p", "password"],
        synopsis: r#"-p:PASSWORD | -password:PASSWORD"#,
        doc: r#"Password. When -u: is given without -p:, winrs asks for it on the terminal
without echo; when stdin is not a terminal, -p: is required (stdin belongs to
the remote command)."#,
        apply: connection,
    },
    Switch {
        names: &["a", "auth", "authentication"],
        synopsis: r#"-a:Negotiate | -a:Kerberos | -a:CredSSP | -a:Basic | -a:Certificate | -a:None
| -auth:..."#,
        doc: r#"Authentication mechanism. Kerberos uses the caller's ticket cache (KRB5CCNAME;
kinit first), or gets a ticket with -u:/-p: (user or user@REALM), for the SPN
HTTP/HOST (-spn:WSMAN for WSMAN/HOST); it proves the server, so TrustedHosts is
not needed. Negotiate (NTLM, as Windows does without a domain)
is the default when -u: is given; -a:Default means the same. Over HTTP every
message is then encrypted with the session key, over HTTPS the login is bound
to the TLS channel. CredSSP logs in with NTLM inside TLS, then delegates the
-u:/-p: password to the server so the remote command can use it for a second
hop; over HTTP every message is encrypted with that TLS session (the server
needs Service/Auth/CredSSP=true). Basic sends the password with every request.
Certificate uses a TLS client certificate (HTTPS only, with -certificate:)."#,
        apply: connection,
    },
    Switch {
        names: &["spn"],
        synopsis: r#"-spn:HTTP | -spn:WSMAN"#,
        doc: r#"The service part of the server's Kerberos principal (-a:Kerberos; default HTTP)."#,
        apply: connection,
    },
    Switch {
        names: &["certificate"],
        synopsis: r#"-certificate:THUMBPRINT | -certificate:FILE"#,
        doc: r#"The client certificate for -a:Certificate: a thumbprint of a certificate in the
configuration directory's certs/ (THUMBPRINT.crt and .key), or a PEM file with
the certificate and its key (or the key next to it as FILE.key)."#,
        apply: connection,
    },
    Switch {
        names: &["un", "unencrypted"],
        synopsis: r#"-un | -unencrypted"#,
        doc: r#"Send messages unencrypted over plain HTTP (needed for Basic over HTTP; the
password then travels in clear text). Needs Client/AllowUnencrypted=true on
this machine and Service/AllowUnencrypted=true on the server."#,
        apply: connection,
    },
    Switch {
        names: &["ssl", "usessl"],
        synopsis: r#"-ssl | -usessl"#,
        doc: r#"Use HTTPS for a HOST given without a scheme."#,
        apply: connection,
    },
    Switch {
        names: &["transport"],
        synopsis: r#"-transport:http|https"#,
        doc: r#"The same choice as a switch: -transport:https equals -usessl."#,
        apply: transport,
    },
    Switch {
        names: &["skipcacheck"],
        synopsis: r#"-skipCAcheck"#,
        doc: r#"Accept a server certificate no trusted CA vouches for (test hosts only)."#,
        apply: connection,
    },
    Switch {
        names: &["skipcncheck"],
        synopsis: r#"-skipCNcheck"#,
        doc: r#"Accept a server certificate issued for another host name (test hosts only)."#,
        apply: connection,
    },
    Switch {
        names: &["cacert", "cafile"],
        synopsis: r#"-cacert:FILE"#,
        doc: r#"Trust the PEM certificates in FILE (e.g. the server's self-signed certificate)."#,
        apply: connection,
    },
    Switch {
        names: &["t", "timeout"],
        synopsis: r#"-t:MS | -timeout:MS"#,
        doc: r#"Operation timeout in milliseconds (default 60000): how long one Receive waits
for output before asking again. Not a limit on the command's run time."#,
        apply: connection,
    },
];

/// The MANY HOSTS section: switches of a run on several hosts.
pub(crate) const FAN_OUT: &[Switch<Parsing>] = &[
    Switch {
        names: &["parallel"],
        synopsis: r#"-parallel:N"#,
        doc: r#"Hosts worked on at once when -r: names several (default 16, at most 1024)."#,
        apply: parallel,
    },
    Switch {
        names: &["output"],
        synopsis: r#"-output:text | -output:json"#,
        doc: r#"How each host's result is written. text (the default): every line of the
host's stdout (stderr) on stdout (stderr), prefixed with "HOST: ". json: one
object per host per line on stdout, with host, exit_code, stdout, stderr, error,
duration_ms and truncated. Either is written when the host is done; with -r: of
one host, -output: gives the same form. In text, a host's control characters
other than newline and tab (and a carriage return before a newline) are written
escaped (\x1b, \u{9b}), so that no host can move the cursor, retitle the
terminal or overwrite another host's lines; json carries them as sent."#,
        apply: output,
    },
    Switch {
        names: &["rawoutput"],
        synopsis: r#"-rawoutput"#,
        doc: r#"With -output:text on several hosts: write each host's output as it sent it,
control characters included (for a host whose output is a terminal's, when
every host is trusted)."#,
        apply: raw_output,
    },
    Switch {
        names: &["connecttimeout"],
        synopsis: r#"-connecttimeout:MS"#,
        doc: r#"Per host: how long to wait for a connection (default 10000)."#,
        apply: connect_timeout,
    },
    Switch {
        names: &["hosttimeout"],
        synopsis: r#"-hosttimeout:MS"#,
        doc: r#"Per host: how long it may take from connecting to its result (default: no
limit but each request's own). A host out of time has its command terminated
and its shell deleted, and counts as failed."#,
        apply: host_timeout,
    },
];

/// The SHELL section.
pub(crate) const SHELL: &[Switch<Parsing>] = &[
    Switch {
        names: &["d", "dir", "directory"],
        synopsis: r#"-d:PATH | -directory:PATH"#,
        doc: r#"Working directory of the command (default: the user's home directory)."#,
        apply: directory,
    },
    Switch {
        names: &["env", "environment"],
        synopsis: r#"-env:KEY=VALUE | -environment:KEY=VALUE"#,
        doc: r#"Set an environment variable for the command; repeat for several."#,
        apply: environment,
    },
    Switch {
        names: &["nop", "noprofile"],
        synopsis: r#"-nop | -noprofile"#,
        doc: r#"Do not load the user's profile (WINRS_NOPROFILE)."#,
        apply: no_profile,
    },
    Switch {
        names: &["cp", "codepage"],
        synopsis: r#"-cp:N | -codepage:N"#,
        doc: r#"Code page of the stream bytes (WINRS_CODEPAGE). Default 65001 (UTF-8); winrs
never transcodes, bytes pass unchanged both ways."#,
        apply: codepage,
    },
    Switch {
        names: &["skipcmdshell"],
        synopsis: r#"-skipcmdshell"#,
        doc: r#"Run COMMAND directly instead of through the shell interpreter
(WINRS_SKIP_CMD_SHELL)."#,
        apply: skip_cmd_shell,
    },
    Switch {
        names: &["noe", "noecho"],
        synopsis: r#"-noe | -noecho"#,
        doc: r#"Send stdin as a pipe rather than a console (WINRS_CONSOLEMODE_STDIN=FALSE)."#,
        apply: no_echo,
    },
    Switch {
        names: &["pty"],
        synopsis: r#"-pty"#,
        doc: r#"Run COMMAND on a pseudo-terminal on the host (wsmand's extension; other hosts
give pipes), of this terminal's type ($TERM) and window size, for full-screen
programs and password prompts. This terminal is in raw mode meanwhile: keys go
to the remote terminal as typed (Ctrl+C interrupts the remote job), window
changes follow. Needs a terminal on stdin and stdout; output all arrives on
stdout."#,
        apply: pty,
    },
    Switch {
        names: &["ps", "powershell"],
        synopsis: r#"-ps | -powershell"#,
        doc: r#"COMMAND and ARGS, joined with spaces, are a PowerShell script: run it in a
runspace pool of the host's PowerShell plug-in (PowerShell remoting, as
Enter-PSSession and Invoke-Command use; wsmand runs pwsh). Each output object
is written to stdout as a line (its ToString), errors to stderr, warnings,
verbose and debug records to stderr with their prefix. Ctrl-C stops the
pipeline. Exit code 0, or 1 when the script failed or wrote errors. Not with
-pty, -skipcmdshell, -detach or several hosts; -d: and -env: do not apply."#,
        apply: powershell,
    },
    Switch {
        names: &["ad", "allowdelegate", "comp", "compression"],
        synopsis: r#"-ad | -allowdelegate | -comp | -compression"#,
        doc: r#"Refused: this winrs delegates no credentials and compresses nothing."#,
        apply: not_supported,
    },
    Switch {
        names: &["?", "h", "help", "-help"],
        synopsis: r#"-? | -h | --help"#,
        doc: r#"This help."#,
        apply: help,
    },
];

fn attach(s: &mut Parsing, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    let id = required_value(name, value)?;
    if id.len() != 36 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Err(SwitchError::new(format!(
            "-{name}:{id} is not a ShellId (a GUID, as -detach and -list print it)"
        )));
    }
    s.detached.attach = Some(id);
    Ok(())
}

fn idle_timeout(s: &mut Parsing, name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    s.detached.idle_timeout_ms = Some(positive(name, value, "is not a number of milliseconds")?);
    Ok(())
}

/// The DETACHED SHELLS section.
pub(crate) const DETACHED: &[Switch<Parsing>] = &[
    Switch {
        names: &["detach"],
        synopsis: r#"-detach"#,
        doc: r#"Start COMMAND with its stdin closed, print the shell's ShellId, disconnect
from the shell (WinRS Disconnect) and exit 0. The command runs on; its output is
kept on the server (when that buffer is full the command waits) until
-attach:SHELLID or the shell's idle timeout, which ends it."#,
        apply: detach,
    },
    Switch {
        names: &["idletimeout"],
        synopsis: r#"-idletimeout:MS"#,
        doc: r#"With -detach: how long the server keeps the disconnected shell, in
milliseconds (capped by the server's Winrs/IdleTimeout; default: that cap)."#,
        apply: idle_timeout,
    },
    Switch {
        names: &["attach"],
        synopsis: r#"-attach:SHELLID"#,
        doc: r#"Connect to a disconnected shell of yours (WinRS Connect, from any host), write
the output its command produced meanwhile and since, in order, then delete the
shell and exit with the command's exit code. No COMMAND is given. SIGTERM or
SIGHUP disconnect again instead of terminating the command."#,
        apply: attach,
    },
    Switch {
        names: &["list"],
        synopsis: r#"-list"#,
        doc: r#"List your shells on the host: ShellId, State (Connected or Disconnected),
run time, and each command's state and command line. No COMMAND is given."#,
        apply: list,
    },
];
