//! Command-line parsing in winrm.cmd's shape: `winrm OPERATION [RESOURCE] [@{...}] [-switch:value]`.
//!
//! Parsed by hand because `-r:VALUE` switches and `@{Key="value"}` tables do not fit an
//! argument-parser derive. Switch names are case-insensitive, as on Windows.

use wsman_cli::switches::find;
pub(crate) use wsman_cli::AuthChoice;

use crate::switches::SWITCHES;
pub(crate) use crate::switches::{Format, QuickTransport, ReturnType, Switches};

use crate::syntax::{self, parse_hash, parse_resource, usage, ResourceArg, UsageError};

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Help(Option<String>),
    /// `--generate man`: print winrm(1).
    Man,
    /// `--generate bash|zsh|fish`: print a completion script.
    Completion(wsman_cli::switches::CompletionShell),
    QuickConfig,
    Get(ResourceArg),
    Set(ResourceArg, Vec<(String, String)>),
    Enumerate(ResourceArg),
    Create(ResourceArg, Vec<(String, String)>),
    Delete(ResourceArg),
    Identify,
    Invoke(String, ResourceArg, Vec<(String, String)>),
    /// Show or edit a security descriptor: `default` (RootSDDL) or a WMI plug-in URI.
    ConfigSddl(String),
    /// Subscribe to a remote event log in Pull mode, pull, unsubscribe.
    Events(String),
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invocation {
    pub(crate) command: Command,
    pub(crate) switches: Switches,
}

/// Applies `-NAME[:VALUE]` through its row of [`crate::switches::SWITCHES`].
fn apply_switch(s: &mut Switches, name: &str, value: Option<&str>) -> Result<(), UsageError> {
    let switch = find(&[SWITCHES], name).ok_or_else(|| {
        usage(format!(
            "unknown switch -{name} (see `winrm help switches`)"
        ))
    })?;
    (switch.apply)(s, name, value).map_err(|e| usage(e.message))
}

/// `/?` is help as on Windows; the `-` forms are a row of the table.
fn is_slash_help(a: &str) -> bool {
    a == "/?"
}

/// Parse the arguments after the program name.
pub(crate) fn parse(args: Vec<String>) -> Result<Invocation, UsageError> {
    let args = syntax::join_split_hashes(args);
    let mut switches = Switches::default();
    let mut positional: Vec<String> = Vec::new();
    let mut help = false;
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        if is_slash_help(&arg) {
            help = true;
        } else if arg == "--generate" && iter.len() == 1 {
            let what = iter.next().unwrap_or_default();
            let command = match (
                what.as_str(),
                wsman_cli::switches::CompletionShell::parse(&what),
            ) {
                ("man", _) => Command::Man,
                (_, Some(shell)) => Command::Completion(shell),
                _ => {
                    return Err(usage(format!(
                        "--generate {what}: one of man, bash, zsh, fish"
                    )))
                }
            };
            return Ok(Invocation { command, switches });
        } else if let Some(rest) = arg.strip_prefix("--") {
            // GNU-style long options: --config-dir DIR, --config-dir=DIR.
            let (name, value) = match rest.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => {
                    let needs_value = rest.eq_ignore_ascii_case("config-dir");
                    (
                        rest.to_owned(),
                        if needs_value { iter.next() } else { None },
                    )
                }
            };
            apply_switch(&mut switches, &name, value.as_deref())?;
        } else if let Some(rest) = arg.strip_prefix('-') {
            if rest.is_empty() {
                return Err(usage("a lone '-' is not a switch"));
            }
            let (name, value) = match rest.split_once(':') {
                Some((n, v)) => (n, Some(v)),
                None => (rest, None),
            };
            apply_switch(&mut switches, name, value)?;
        } else {
            positional.push(arg);
        }
    }
    let command = build_command(positional, help || switches.help)?;
    check_switches(&command, &switches)?;
    Ok(Invocation { command, switches })
}

fn build_command(positional: Vec<String>, help: bool) -> Result<Command, UsageError> {
    let mut p = positional.into_iter();
    let Some(op) = p.next() else {
        return Ok(Command::Help(None));
    };
    let op_lower = op.to_ascii_lowercase();
    let canonical = match op_lower.as_str() {
        "help" | "?" => {
            let topic = p.next();
            if let Some(extra) = p.next() {
                return Err(usage(format!("unexpected argument {extra:?}")));
            }
            return Ok(Command::Help(topic));
        }
        "quickconfig" | "qc" => "quickconfig",
        "get" | "g" => "get",
        "set" | "s" => "set",
        "enumerate" | "e" => "enumerate",
        "create" | "c" => "create",
        "delete" | "d" => "delete",
        "identify" | "id" => "identify",
        "invoke" | "i" => "invoke",
        "events" => "events",
        "configsddl" => "configsddl",
        _ => {
            return Err(usage(format!(
                "unknown operation {op:?} (see `winrm help`)"
            )))
        }
    };
    if help {
        return Ok(Command::Help(Some(canonical.to_owned())));
    }
    let rest: Vec<String> = p.collect();
    let mut rest = rest.into_iter();
    let mut need_resource = || -> Result<ResourceArg, UsageError> {
        let r = rest
            .next()
            .ok_or_else(|| usage(format!("winrm {canonical} needs a resource URI")))?;
        parse_resource(&r)
    };
    let command = match canonical {
        "quickconfig" => Command::QuickConfig,
        "identify" => Command::Identify,
        "get" => Command::Get(need_resource()?),
        "enumerate" => Command::Enumerate(need_resource()?),
        "delete" => Command::Delete(need_resource()?),
        "configsddl" => Command::ConfigSddl(
            rest.next()
                .ok_or_else(|| usage("winrm configSDDL needs a resource URI or default"))?,
        ),
        "events" => Command::Events(
            rest.next()
                .ok_or_else(|| usage("winrm events needs a log name (Application, System, ...)"))?,
        ),
        "set" => {
            let r = need_resource()?;
            Command::Set(r, optional_hash(rest.next())?)
        }
        "create" => {
            let r = need_resource()?;
            Command::Create(r, optional_hash(rest.next())?)
        }
        "invoke" => {
            let method = rest
                .next()
                .ok_or_else(|| usage("winrm invoke needs a method name and a resource URI"))?;
            if !wsman_client::body::is_xml_name(&method) {
                return Err(usage(format!("{method:?} is not a valid method name")));
            }
            let r = rest
                .next()
                .ok_or_else(|| usage("winrm invoke needs a resource URI after the method"))?;
            let r = parse_resource(&r)?;
            Command::Invoke(method, r, optional_hash(rest.next())?)
        }
        _ => return Err(usage(format!("unknown operation {op:?}"))),
    };
    if let Some(extra) = rest.next() {
        return Err(usage(format!("unexpected argument {extra:?}")));
    }
    Ok(command)
}

fn optional_hash(arg: Option<String>) -> Result<Vec<(String, String)>, UsageError> {
    match arg {
        None => Ok(Vec::new()),
        Some(a) if a.starts_with("@{") => parse_hash(&a),
        Some(a) => Err(usage(format!(
            "expected a @{{Key=\"value\"}} table, got {a:?}"
        ))),
    }
}

fn check_switches(command: &Command, s: &Switches) -> Result<(), UsageError> {
    let has_hash = match command {
        Command::Set(_, h) | Command::Create(_, h) | Command::Invoke(_, _, h) => !h.is_empty(),
        _ => false,
    };
    if has_hash && s.file.is_some() {
        return Err(usage("give either a @{...} table or -file:, not both"));
    }
    if let Command::Set(_, h) = command {
        if h.is_empty() && s.file.is_none() {
            return Err(usage("winrm set needs a @{Key=\"value\"} table or -file:"));
        }
    }
    if s.connection.password.is_some() && s.connection.username.is_none() {
        return Err(usage("-p: needs -u:"));
    }
    if s.connection.auth == Some(AuthChoice::None) && s.connection.username.is_some() {
        return Err(usage("-a:None cannot be combined with -u:"));
    }
    if s.connection.remote.is_none()
        && (s.connection.username.is_some()
            || s.connection.use_ssl
            || s.connection.unencrypted
            || s.connection.certificate.is_some())
    {
        return Err(usage(
            "-u:, -usessl, -unencrypted and -certificate: need -r:",
        ));
    }
    if matches!(command, Command::QuickConfig) && s.connection.remote.is_some() {
        return Err(usage(
            "quickconfig configures this machine; it takes no -r:",
        ));
    }
    if matches!(command, Command::Events(_)) && s.connection.remote.is_none() {
        return Err(usage(
            "winrm events reads a remote host's event log: it needs -r:",
        ));
    }
    if !matches!(command, Command::Events(_))
        && (s.existing || s.batches.is_some() || s.max_elements.is_some())
    {
        return Err(usage(
            "-existing, -batches: and -maxElements: belong to winrm events",
        ));
    }
    if !s.sddl_edits.is_empty() && !matches!(command, Command::ConfigSddl(_)) {
        return Err(usage(
            "-add:, -remove: and -sddl: belong to winrm configSDDL",
        ));
    }
    if s.dialect.is_some() && s.filter.is_none() {
        return Err(usage("-dialect: needs -filter:"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn p(args: &[&str]) -> Result<Invocation, UsageError> {
        parse(args.iter().map(|s| (*s).to_owned()).collect())
    }

    fn ok(args: &[&str]) -> Invocation {
        p(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn operations_and_short_forms() {
        assert!(matches!(ok(&["qc", "-q"]).command, Command::QuickConfig));
        assert!(ok(&["qc", "-q"]).switches.quiet);
        assert!(matches!(
            ok(&["g", "winrm/config"]).command,
            Command::Get(_)
        ));
        assert!(matches!(ok(&["ID"]).command, Command::Identify));
        assert!(matches!(
            ok(&["e", "winrm/config/listener"]).command,
            Command::Enumerate(_)
        ));
        assert!(matches!(
            ok(&["delete", "winrm/config/listener?Address=*+Transport=HTTP"]).command,
            Command::Delete(_)
        ));
        assert_eq!(ok(&[]).command, Command::Help(None));
        assert_eq!(
            ok(&["help", "config"]).command,
            Command::Help(Some("config".to_owned()))
        );
        assert_eq!(ok(&["-?"]).command, Command::Help(None));
        assert_eq!(
            ok(&["get", "-?"]).command,
            Command::Help(Some("get".to_owned()))
        );
    }

    #[test]
    fn set_with_hash_and_switches() {
        let i = ok(&[
            "set",
            "winrm/config/service",
            "@{AllowUnencrypted=\"true\"}",
            "-r:https://h:5986",
            "-u:admin",
            "-p:pw",
            "-a:Basic",
            "-SKIPCACHECK",
            "-skipCNcheck",
            "-format:#pretty",
            "-timeout:3000",
        ]);
        let Command::Set(r, h) = &i.command else {
            panic!("not set")
        };
        assert_eq!(
            r.uri,
            "http://schemas.microsoft.com/wbem/wsman/1/config/service"
        );
        assert_eq!(h, &vec![("AllowUnencrypted".to_owned(), "true".to_owned())]);
        let s = &i.switches;
        assert_eq!(s.connection.remote.as_deref(), Some("https://h:5986"));
        assert_eq!(
            (
                s.connection.username.as_deref(),
                s.connection.password.as_deref()
            ),
            (Some("admin"), Some("pw"))
        );
        assert_eq!(s.connection.auth, Some(AuthChoice::Basic));
        assert!(s.connection.skip_ca_check && s.connection.skip_cn_check);
        assert_eq!(s.format, Format::PrettyXml);
        assert_eq!(s.connection.timeout_ms, Some(3000));
    }

    #[test]
    fn remote_values_keep_colons() {
        let i = ok(&["id", "-r:[::1]:5985", "-a:none"]);
        assert_eq!(i.switches.connection.remote.as_deref(), Some("[::1]:5985"));
        assert_eq!(i.switches.connection.auth, Some(AuthChoice::None));
        let i = ok(&["id", "-r:http://h:1/wsman"]);
        assert_eq!(
            i.switches.connection.remote.as_deref(),
            Some("http://h:1/wsman")
        );
    }

    #[test]
    fn create_and_invoke() {
        let i = ok(&[
            "create",
            "winrm/config/Listener?Address=*+Transport=HTTPS",
            "@{Hostname=\"h\";Port=\"5987\"}",
        ]);
        let Command::Create(r, h) = i.command else {
            panic!()
        };
        assert_eq!(r.selectors.len(), 2);
        assert_eq!(h.len(), 2);
        let i = ok(&[
            "invoke",
            "StartService",
            "wmicimv2/Win32_Service?Name=spooler",
            "@{}",
        ]);
        let Command::Invoke(m, r, h) = i.command else {
            panic!()
        };
        assert_eq!(
            (m.as_str(), r.selectors.len(), h.len()),
            ("StartService", 1, 0)
        );
    }

    #[test]
    fn events_and_its_switches() {
        let i = ok(&[
            "events",
            "Application",
            "-r:h",
            "-filter:*[System[Level=2]]",
            "-existing",
            "-batches:3",
            "-maxElements:10",
        ]);
        assert_eq!(i.command, Command::Events("Application".to_owned()));
        assert!(i.switches.existing);
        assert_eq!(
            (i.switches.batches, i.switches.max_elements),
            (Some(3), Some(10))
        );
        assert_eq!(i.switches.filter.as_deref(), Some("*[System[Level=2]]"));
    }

    #[test]
    fn config_dir_forms() {
        for args in [
            &["get", "winrm/config", "--config-dir", "/tmp/x"][..],
            &["get", "winrm/config", "--config-dir=/tmp/x"][..],
            &["get", "winrm/config", "-config-dir:/tmp/x"][..],
        ] {
            assert_eq!(ok(args).switches.config_dir, Some(PathBuf::from("/tmp/x")));
        }
    }

    #[test]
    fn usage_errors() {
        for args in [
            &["frobnicate"][..],
            &["get"][..],
            &["get", "winrm/config", "extra"][..],
            &["get", "winrm/config", "-bogus"][..],
            &["get", "winrm/config", "-r"][..],
            &["get", "winrm/config", "-format:json"][..],
            &["get", "winrm/config", "-timeout:abc"][..],
            &["get", "winrm/config", "-a:Digest", "-r:h"][..],
            &["set", "winrm/config"][..],
            &["set", "winrm/config", "notahash"][..],
            &["get", "winrm/config", "-u:x"][..],
            &["get", "winrm/config", "-r:h", "-p:x"][..],
            &["qc", "-r:h"][..],
            &["qc", "-transport:ftp"][..],
            &["e", "winrm/config/listener", "-dialect:wql"][..],
            &["invoke", "Bad<Name", "wmi/x"][..],
            &["get", "winrm/config", "-usessl:yes", "-r:h"][..],
            &["events", "Application"][..],
            &["events", "-r:h"][..],
            &["events", "System", "-r:h", "-batches:0"][..],
            &["get", "winrm/config", "-existing"][..],
        ] {
            assert!(p(args).is_err(), "{args:?} accepted");
        }
    }
}
