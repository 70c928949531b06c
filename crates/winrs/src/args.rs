//! Command-line parsing in winrs.exe's shape: `winrs [-SWITCH[:VALUE]]... COMMAND [ARGS]...`.
//!
//! Switches come first; the first argument that is not a switch starts the command, and
//! everything after it belongs to the command, even when it starts with `-`. `--` ends the
//! switches explicitly. Switch names are case-insensitive, as on Windows. Only the `-` form is
//! accepted (Windows also takes `/r:`), because on Linux `/bin/sh` is a command, not a switch.
//! The switches are the rows of [`crate::switches`]; the connection switches behave as in
//! `winrm` (wsman-cli).

use wsman_cli::switches::find;

pub(crate) use crate::switches::ShellSwitches;
use crate::switches::{Parsing, CONNECTION, DETACHED, FAN_OUT, SHELL};

/// What the user typed wrong (exit code 250): the one error both commands report.
pub(crate) use wsman_cli::SwitchError as UsageError;

pub(crate) fn usage(message: impl Into<String>) -> UsageError {
    UsageError::new(message)
}

/// A command line to run remotely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// The switches as parsed (`help` is false: `-?` is [`Parsed::Help`]).
    pub(crate) switches: Parsing,
    /// Empty with -attach and -list.
    pub(crate) command: String,
    pub(crate) arguments: Vec<String>,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    Help,
    /// `--generate man`: print winrs(1).
    Man,
    /// `--generate bash|zsh|fish`: print a completion script.
    Completion(wsman_cli::switches::CompletionShell),
    Run(Box<Invocation>),
}

/// `/?` is help as on Windows (the one `/` form: a lone `/?` is no Linux path); the `-`
/// forms are a row of the SHELL table.
fn is_slash_help(a: &str) -> bool {
    a == "/?"
}

/// Parse the arguments after the program name: `--generate man`, or switches (each a row of
/// [`crate::switches`]) and then the command.
pub(crate) fn parse(args: Vec<String>) -> Result<Parsed, UsageError> {
    if args.len() == 2 && args[0] == "--generate" {
        return match args[1].as_str() {
            "man" => Ok(Parsed::Man),
            other => match wsman_cli::switches::CompletionShell::parse(other) {
                Some(shell) => Ok(Parsed::Completion(shell)),
                None => Err(usage(format!(
                    "--generate {other}: one of man, bash, zsh, fish"
                ))),
            },
        };
    }
    let tables = [CONNECTION, FAN_OUT, SHELL, DETACHED];
    let mut state = Parsing::default();
    let mut iter = args.into_iter();
    let mut command = None;
    while let Some(arg) = iter.next() {
        if is_slash_help(&arg) {
            return Ok(Parsed::Help);
        }
        if arg == "--" {
            command = iter.next();
            break;
        }
        match arg.strip_prefix('-') {
            Some(rest) if !rest.is_empty() => {
                let (name, value) = match rest.split_once(':') {
                    Some((n, v)) => (n, Some(v)),
                    None => (rest, None),
                };
                let switch = find(&tables, name)
                    .ok_or_else(|| usage(format!("unknown switch -{name} (see `winrs -?`)")))?;
                (switch.apply)(&mut state, name, value)?;
                if state.help {
                    return Ok(Parsed::Help);
                }
            }
            Some(_) => return Err(usage("a lone '-' is neither a switch nor a command")),
            None => {
                command = Some(arg);
                break;
            }
        }
    }
    let d = &state.detached;
    let without_command = d.attach.is_some() || d.list;
    if usize::from(d.detach) + usize::from(d.attach.is_some()) + usize::from(d.list) > 1 {
        return Err(usage("-detach, -attach: and -list exclude each other"));
    }
    let sh = &state.shell;
    if sh.powershell && (sh.pty || sh.skip_cmd_shell || d.detach || d.attach.is_some() || d.list) {
        return Err(usage(
            "-ps excludes -pty, -skipcmdshell, -detach, -attach: and -list",
        ));
    }
    if d.idle_timeout_ms.is_some() && !d.detach {
        return Err(usage("-idletimeout: goes with -detach"));
    }
    let command = match command.filter(|c| !c.trim().is_empty()) {
        Some(c) if without_command => {
            return Err(usage(format!(
                "-attach: and -list take no command (got {c:?})"
            )))
        }
        Some(c) => c,
        None if without_command => String::new(),
        None => return Err(usage("no command given: winrs -r:HOST COMMAND [ARGS]")),
    };
    state.connection.check()?;
    Ok(Parsed::Run(Box::new(Invocation {
        switches: state,
        command,
        arguments: iter.collect(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_cli::AuthChoice;

    fn p(args: &[&str]) -> Result<Parsed, UsageError> {
        parse(args.iter().map(|s| (*s).to_owned()).collect())
    }

    fn run(args: &[&str]) -> Invocation {
        match p(args) {
            Ok(Parsed::Run(i)) => *i,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn full_command_line() {
        let i = run(&[
            "-r:https://h:5986/wsman",
            "-u:admin",
            "-p:pw",
            "-a:Basic",
            "-usessl",
            "-skipCAcheck",
            "-SKIPCNCHECK",
            "-directory:/tmp",
            "-env:A=1",
            "-environment:B=x=y",
            "-noprofile",
            "-codepage:65001",
            "-skipcmdshell",
            "-timeout:5000",
            "ls",
            "-l",
            "/",
        ]);
        let c = &i.switches.connection;
        assert_eq!(c.remote.as_deref(), Some("https://h:5986/wsman"));
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref()),
            (Some("admin"), Some("pw"))
        );
        assert_eq!(c.auth, Some(AuthChoice::Basic));
        assert!(c.use_ssl && c.skip_ca_check && c.skip_cn_check);
        assert_eq!(c.timeout_ms, Some(5000));
        let s = &i.switches.shell;
        assert_eq!(s.directory.as_deref(), Some("/tmp"));
        assert_eq!(
            s.environment,
            vec![
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "x=y".to_owned())
            ]
        );
        assert!(s.no_profile && s.skip_cmd_shell);
        assert_eq!(s.codepage, Some(65001));
        assert_eq!(i.command, "ls");
        assert_eq!(i.arguments, vec!["-l".to_owned(), "/".to_owned()]);
    }

    #[test]
    fn windows_short_aliases() {
        let i = run(&[
            "-R:host", "-un", "-d:/x", "-nop", "-cp:437", "-noe", "-ssl", "-t:100", "cmd",
        ]);
        assert_eq!(i.switches.connection.remote.as_deref(), Some("host"));
        assert!(i.switches.connection.unencrypted && i.switches.connection.use_ssl);
        assert_eq!(i.switches.connection.timeout_ms, Some(100));
        assert_eq!(i.switches.shell.directory.as_deref(), Some("/x"));
        assert!(i.switches.shell.no_profile && i.switches.shell.no_echo);
        assert_eq!(i.switches.shell.codepage, Some(437));
    }

    #[test]
    fn command_starts_at_first_non_switch_and_keeps_everything_after() {
        let i = run(&["-r:h", "/bin/sh", "-c", "echo -r:x -u:y"]);
        assert_eq!(i.command, "/bin/sh");
        assert_eq!(i.arguments, vec!["-c", "echo -r:x -u:y"]);
        assert_eq!(i.switches.connection.username, None);
        let i = run(&["-r:h", "--", "-weird-program", "-?"]);
        assert_eq!(i.command, "-weird-program");
        assert_eq!(i.arguments, vec!["-?"]);
        let i = run(&["-r:h", "echo hi; exit 3"]);
        assert_eq!(i.command, "echo hi; exit 3");
        assert!(i.arguments.is_empty());
    }

    #[test]
    fn remote_values_keep_colons() {
        assert_eq!(
            run(&["-r:[::1]:5985", "x"])
                .switches
                .connection
                .remote
                .as_deref(),
            Some("[::1]:5985")
        );
        assert_eq!(
            run(&["-r:http://h:1/wsman", "x"])
                .switches
                .connection
                .remote
                .as_deref(),
            Some("http://h:1/wsman")
        );
    }

    #[test]
    fn help_forms() {
        for h in ["-?", "/?", "-h", "--help", "-HELP"] {
            assert_eq!(p(&[h]), Ok(Parsed::Help), "{h}");
        }
        assert_eq!(p(&["-r:h", "-?"]), Ok(Parsed::Help));
    }

    #[test]
    fn empty_password_is_allowed() {
        let i = run(&["-r:h", "-u:x", "-p:", "true"]);
        assert_eq!(i.switches.connection.password.as_deref(), Some(""));
    }

    #[test]
    fn usage_errors() {
        for args in [
            &[][..],
            &["-r:h"][..],
            &["-r:h", "--"][..],
            &["-r:h", ""][..],
            &["-bogus", "x"][..],
            &["-r", "x"][..],
            &["-r:h", "-env:noequals", "x"][..],
            &["-r:h", "-env:=v", "x"][..],
            &["-r:h", "-codepage:utf8", "x"][..],
            &["-r:h", "-cp:0", "x"][..],
            &["-r:h", "-noprofile:yes", "x"][..],
            &["-r:h", "-d:", "x"][..],
            &["-r:h", "-p:x", "x"][..],
            &["-r:h", "-a:Digest", "-u:x", "x"][..],
            &["-r:h", "-a:Basic", "x"][..],
            &["-r:h", "-a:None", "-u:x", "x"][..],
            &["-r:h", "-allowdelegate", "x"][..],
            &["-r:h", "-timeout:soon", "x"][..],
            &["-r:h", "-", "x"][..],
            &["-r:h", "-transport:ftp", "x"][..],
            &["-r:h", "-a:Certificate", "x"][..],
            &["-r:h", "-a:Certificate", "-certificate:c.pem", "-u:x", "x"][..],
            &["-r:h", "-a:Negotiate", "x"][..],
        ] {
            assert!(p(args).is_err(), "{args:?} accepted");
        }
    }

    #[test]
    fn transport_and_certificate_switches() {
        let Parsed::Run(i) = p(&[
            "-r:h",
            "-transport:HTTPS",
            "-a:Certificate",
            "-certificate:c.pem",
            "x",
        ])
        .unwrap() else {
            panic!("not a run")
        };
        assert!(i.switches.connection.use_ssl);
        assert_eq!(i.switches.connection.certificate.as_deref(), Some("c.pem"));
        let Parsed::Run(i) = p(&["-r:h", "-usessl", "-transport:http", "-u:x", "x"]).unwrap()
        else {
            panic!("not a run")
        };
        assert!(!i.switches.connection.use_ssl);
        assert_eq!(
            i.switches.connection.effective_auth(),
            AuthChoice::Negotiate
        );
    }

    #[test]
    fn powershell_takes_the_command_line_as_its_script() {
        let i = run(&["-r:h", "-ps", "Get-Date;", "Write-Output", "-x"]);
        assert!(i.switches.shell.powershell);
        assert_eq!(i.command, "Get-Date;");
        assert_eq!(i.arguments, ["Write-Output", "-x"]);
        assert!(run(&["-POWERSHELL", "x"]).switches.shell.powershell);
        for bad in [
            &["-ps", "-pty", "x"][..],
            &["-ps", "-detach", "x"],
            &["-ps", "-list"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
