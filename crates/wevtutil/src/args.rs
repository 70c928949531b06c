//! Command-line parsing in wevtutil.exe's shape: `wevtutil COMMAND [ARGUMENT] [/OPTION:VALUE]...`.
//!
//! Options are written `/name:value` or `-name:value`, names in short or long form and without
//! case, as on Windows. An argument that starts with `/` but does not name a known option is a
//! positional argument, so a journal directory (`/var/log/journal` with `/lf:true`) is taken as
//! the log it is.

/// Output formats of `qe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// The event XML (`/f:xml`, the default).
    Xml,
    /// The event XML with `RenderingInfo` (`/f:RenderedXml`).
    RenderedXml,
    /// The readable block Windows prints for `/f:text`.
    Text,
}

/// `qe`: query events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueryEvents {
    /// The log name, or with `log_file` a journal directory.
    pub(crate) log: String,
    pub(crate) log_file: bool,
    pub(crate) query: Option<String>,
    pub(crate) reverse: bool,
    pub(crate) format: Format,
    pub(crate) count: Option<u64>,
    pub(crate) element: Option<String>,
    /// `/j:DIR`: the journal directory to read instead of the host's.
    pub(crate) journal: Option<String>,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Help(Option<&'static str>),
    EnumLogs,
    GetLog(String),
    QueryEvents(QueryEvents),
    /// `--generate man`: print wevtutil(1) (packaging).
    Man,
    /// `--generate bash|zsh|fish`: print a completion script (packaging).
    Completion(wsman_cli::switches::CompletionShell),
}

/// What the user typed wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsageError(pub(crate) String);

fn usage<T>(message: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(message.into()))
}

/// The options of `qe`, short and long names.
pub(crate) const QE_OPTIONS: &[(&str, &str)] = &[
    ("lf", "logfile"),
    ("q", "query"),
    ("rd", "reversedirection"),
    ("f", "format"),
    ("c", "count"),
    ("e", "element"),
    ("l", "locale"),
    ("sq", "structuredquery"),
    ("bm", "bookmark"),
    ("sbm", "savebookmark"),
    // Linux extension: read the journal in this directory instead of the host's.
    ("j", "journal"),
];

/// Options of Windows' `qe` that are refused here (long names): completions leave them out.
pub(crate) const WINDOWS_ONLY: &[&str] = &["structuredquery", "bookmark", "savebookmark"];

/// `name:value` of an option argument, with the long name, when `arg` is one.
fn option(arg: &str) -> Option<(&'static str, &str)> {
    let rest = arg.strip_prefix('/').or_else(|| arg.strip_prefix('-'))?;
    let (name, value) = rest.split_once(':').unwrap_or((rest, ""));
    QE_OPTIONS
        .iter()
        .find(|(short, long)| name.eq_ignore_ascii_case(short) || name.eq_ignore_ascii_case(long))
        .map(|(_, long)| (*long, value))
}

fn is_help(arg: &str) -> bool {
    matches!(arg, "/?" | "-?" | "-h" | "--help" | "help")
}

fn boolean(name: &str, value: &str) -> Result<bool, UsageError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "" => Ok(true),
        "false" => Ok(false),
        _ => usage(format!("/{name} takes true or false, not {value:?}")),
    }
}

pub(crate) fn parse(args: &[String]) -> Result<Command, UsageError> {
    let Some(command) = args.first() else {
        return Ok(Command::Help(None));
    };
    let rest = &args[1..];
    if command == "--generate" {
        return match rest {
            [what] if what == "man" => Ok(Command::Man),
            [what] => wsman_cli::switches::CompletionShell::parse(what)
                .map(Command::Completion)
                .ok_or_else(|| {
                    UsageError(format!("--generate {what}: one of man, bash, zsh, fish"))
                }),
            _ => usage("--generate takes one of man, bash, zsh, fish"),
        };
    }
    if is_help(command) {
        return Ok(Command::Help(None));
    }
    match command.to_ascii_lowercase().as_str() {
        "el" | "enum-logs" => {
            if rest.iter().any(|a| is_help(a)) {
                return Ok(Command::Help(Some("el")));
            }
            if let Some(extra) = rest.first() {
                return usage(format!("el takes no arguments, not {extra:?}"));
            }
            Ok(Command::EnumLogs)
        }
        "gl" | "get-log" => {
            if rest.iter().any(|a| is_help(a)) {
                return Ok(Command::Help(Some("gl")));
            }
            match rest {
                [log] => Ok(Command::GetLog(log.clone())),
                [] => usage("gl needs a log name"),
                _ => usage("gl takes one log name"),
            }
        }
        "qe" | "query-events" => {
            if rest.iter().any(|a| is_help(a)) {
                return Ok(Command::Help(Some("qe")));
            }
            parse_query(rest).map(Command::QueryEvents)
        }
        other => usage(format!(
            "unknown command {other:?}: use el, gl or qe (wevtutil /? lists them)"
        )),
    }
}

fn parse_query(args: &[String]) -> Result<QueryEvents, UsageError> {
    let mut log = None;
    let mut query = QueryEvents {
        log: String::new(),
        log_file: false,
        query: None,
        reverse: false,
        format: Format::Xml,
        count: None,
        element: None,
        journal: None,
    };
    for arg in args {
        let Some((name, value)) = option(arg) else {
            if log.replace(arg.clone()).is_some() {
                return usage(format!("qe takes one log, and {arg:?} is a second"));
            }
            continue;
        };
        match name {
            "logfile" => query.log_file = boolean("lf", value)?,
            "query" => {
                if value.is_empty() {
                    return usage("/q needs an XPath query");
                }
                query.query = Some(value.to_owned());
            }
            "reversedirection" => query.reverse = boolean("rd", value)?,
            "format" => {
                query.format = match value.to_ascii_lowercase().as_str() {
                    "xml" => Format::Xml,
                    "renderedxml" => Format::RenderedXml,
                    "text" => Format::Text,
                    _ => return usage(format!("/f takes xml, RenderedXml or text, not {value:?}")),
                }
            }
            "count" => {
                query.count = Some(value.parse().map_err(|_| {
                    UsageError(format!("/c takes a number of events, not {value:?}"))
                })?)
            }
            "element" => {
                let valid = !value.is_empty()
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !valid {
                    return usage(format!("/e takes an element name, not {value:?}"));
                }
                query.element = Some(value.to_owned());
            }
            "locale" => {}
            "journal" => {
                if value.is_empty() {
                    return usage("/j needs a journal directory");
                }
                query.journal = Some(value.to_owned());
            }
            other => {
                return usage(format!(
                    "/{other} is not supported here: structured queries and bookmark files are Windows-only so far"
                ))
            }
        }
    }
    query.log =
        log.ok_or_else(|| UsageError("qe needs a log name (wevtutil el lists them)".to_owned()))?;
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Result<Command, UsageError> {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse(&args)
    }

    #[test]
    fn windows_forms_parse() {
        let Command::QueryEvents(q) =
            parsed("qe System /q:*[System[Level=2]] /c:5 /rd:true /f:text /e:root").unwrap()
        else {
            panic!("qe")
        };
        assert_eq!(q.log, "System");
        assert_eq!(q.query.as_deref(), Some("*[System[Level=2]]"));
        assert_eq!(q.count, Some(5));
        assert!(q.reverse);
        assert_eq!(q.format, Format::Text);
        assert_eq!(q.element.as_deref(), Some("root"));
        let Command::QueryEvents(q) =
            parsed("query-events /var/log/journal /LogFile:true -Format:RenderedXml").unwrap()
        else {
            panic!("qe")
        };
        assert_eq!(q.log, "/var/log/journal");
        assert!(q.log_file);
        assert_eq!(q.format, Format::RenderedXml);
        assert_eq!(parsed("EL").unwrap(), Command::EnumLogs);
        assert_eq!(
            parsed("gl Security").unwrap(),
            Command::GetLog("Security".to_owned())
        );
        assert_eq!(parsed("qe /?").unwrap(), Command::Help(Some("qe")));
        assert_eq!(parsed("").unwrap(), Command::Help(None));
        assert_eq!(parsed("--generate man").unwrap(), Command::Man);
        assert!(matches!(
            parsed("--generate zsh").unwrap(),
            Command::Completion(_)
        ));
    }

    #[test]
    fn mistakes_are_named() {
        for line in [
            "qe",
            "qe System /c:many",
            "qe System /f:json",
            "qe System /rd:maybe",
            "qe System Security",
            "qe System /bm:file.xml",
            "qe System /e:<x>",
            "gl",
            "el extra",
            "frobnicate",
            "--generate",
            "--generate pdf",
        ] {
            assert!(parsed(line).is_err(), "{line:?}");
        }
    }
}
